"""The sheet in a photo (watcher.sheet): the table round it is painted paper; a shadow over
writing, a board of light writing and a scan are left as they are. Pure: no model."""

from __future__ import annotations

import cv2
import numpy as np

from watcher.sheet import find_sheet

PAPER, TABLE = 0.9, 0.25


def _writing(h: int, w: int, paper: float = PAPER) -> np.ndarray:
    """Paper with a row of digit-like strokes across its middle (float grey in [0, 1])."""
    ink = np.zeros((h, w), np.uint8)
    for k, x in enumerate(range(w // 6, 5 * w // 6, w // 10)):
        cv2.putText(ink, str(k % 10), (x, h // 2 + h // 12), cv2.FONT_HERSHEY_SIMPLEX, h / 140, 255, max(2, h // 60))
    return np.where(ink > 0, np.float32(0.1), np.float32(paper)).astype(np.float32)


def _on_table(g: np.ndarray, top: int, left: int, bottom: int, right: int) -> np.ndarray:
    h, w = g.shape
    out = np.full((h + top + bottom, w + left + right), TABLE, np.float32)
    out[top:top + h, left:left + w] = g
    return out


def test_the_table_round_a_photographed_sheet_is_painted_its_paper_and_the_writing_kept() -> None:
    sheet_only = _writing(300, 600)
    photo = _on_table(sheet_only, 0, 40, 60, 90)  # the table on three sides, the sheet cut at the top
    found = find_sheet(photo)
    assert found is not None
    painted = found.paint(photo)
    assert abs(found.paper - PAPER) < 0.02
    # the paper next to it, carried out (here the sheet's paper is one grey)
    assert np.allclose(painted[:, :40], found.paper, atol=0.01) and np.allclose(painted[-60:, :], found.paper, atol=0.01)
    # the writing is where it was, untouched; only a rim of the sheet a few pixels wide is painted
    inner = (slice(10, 290), slice(50, 630))
    assert np.array_equal(painted[inner], photo[inner])
    # any copy of the picture is painted alike: the reader paints the original and its working copy
    half = found.paint(cv2.resize(photo, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
    assert half.shape == (photo.shape[0] // 2, photo.shape[1] // 2)
    assert np.allclose(half[:, :15], found.paper, atol=0.01)
    as_bytes = found.paint((photo * 255).astype(np.uint8))
    assert as_bytes.dtype == np.uint8 and abs(int(as_bytes[-1, 0]) - round(found.paper * 255)) <= 2


def test_a_sheet_in_shade_along_its_edge_meets_the_paint_without_a_step() -> None:
    """The table is painted the paper of the sheet's nearest place: a sheet darker along one side
    (in a shadow, or the light falling off) painted its median paper grey made a step there, a
    band the ink map took for ink (a photographed page of 216 digits was read as one blob)."""
    sheet_only = _writing(300, 600)
    sheet_only[:, :200] *= np.linspace(0.7, 1.0, 200, dtype=np.float32)  # darker towards its left edge
    photo = _on_table(sheet_only, 40, 40, 60, 90)
    found = find_sheet(photo)
    assert found is not None
    painted = found.paint(photo)
    left_paper = float(np.median(photo[60:320, 42:50]))  # the sheet just inside its left edge
    assert abs(float(np.median(painted[60:320, 5:30])) - left_paper) < 0.05  # the table beside it
    assert abs(float(np.median(painted[60:320, 5:30])) - found.paper) > 0.1  # not the sheet's median grey


def test_a_sheet_whose_far_side_is_in_shade_is_found_whole_with_the_writing_in_the_shade() -> None:
    """Half a sheet in shade is darker than Otsu's level between paper and table: the lit half
    alone was taken for the sheet, the digits in the shade for writing on the table, and no sheet
    was found at all (a photographed page of 336 digits read as none). Looked for again at a
    level nearer the table's, the whole sheet is found and its writing in the shade kept."""
    sheet_only = _writing(300, 600)
    fall = np.concatenate([np.linspace(1.0, 0.55, 60), np.full(240, 0.55)]).astype(np.float32)
    sheet_only[:, 300:] *= fall  # the right half in shade, its edge soft
    photo = _on_table(sheet_only, 40, 40, 60, 90)
    found = find_sheet(photo)
    assert found is not None
    painted = found.paint(photo)
    shaded_writing = (slice(60, 320), slice(400, 620))
    assert np.array_equal(painted[shaded_writing], photo[shaded_writing])
    assert np.allclose(painted[:, -60:], painted[200, -60], atol=0.05)  # the table beside the shade: paper


def test_a_shadow_a_sheet_filling_the_picture_and_light_writing_on_a_board_are_left_alone() -> None:
    g = _writing(300, 600)
    assert find_sheet(g) is None  # a scan: nothing round the sheet
    assert find_sheet(_on_table(g, 0, 0, 0, 50)) is None  # the table on one side only: its edge runs across
    # a shadow with a sharp edge over the right half of the writing: the digits in it are marks
    shaded = g.copy()
    shaded[:, 330:] *= 0.3
    shaded[200:, :] *= 0.3
    assert find_sheet(shaded) is None
    # the same sheet on a table, but the table holds writing too (a second sheet in shade)
    assert find_sheet(_on_table(g, 0, 0, 120, 120)) is not None
    crowded = _on_table(g, 0, 0, 120, 120)
    crowded[300:420, :600] = _writing(120, 600, TABLE)
    assert find_sheet(crowded) is None
    # chalk on a board: the light strokes are no sheet
    assert find_sheet(1.0 - _writing(300, 600)) is None


def test_a_bold_light_stroke_on_a_dark_canvas_is_the_writing_not_a_sheet() -> None:
    """A "1" drawn white on black with a paint program's wide brush is a bright, solid, convex
    region with a dark surround, as a sheet on a table is; but nothing is written on it. It was
    painted away as the table, and the file read "no digit found"."""
    from watcher import segment

    canvas = np.zeros((400, 400), np.uint8)
    cv2.line(canvas, (205, 40), (190, 330), 255, 48)
    assert find_sheet(canvas.astype(np.float32) / 255) is None
    lay = segment.find(canvas)
    assert len(lay.marks) == 1 and lay.first().box[3] > 250
    # the same sheet with a digit written on it is still a sheet
    paper = np.full((400, 400), 50, np.uint8)
    paper[40:360, 60:340] = 230
    cv2.putText(paper, "7", (150, 260), cv2.FONT_HERSHEY_SIMPLEX, 4, 25, 12)
    assert find_sheet(paper.astype(np.float32) / 255) is not None


def test_a_sheet_of_small_thin_writing_is_found() -> None:
    """A page of small digits in a thin pen: on the sheet finder's small copy they stand out from
    the paper by a fifth to a third of its grey, and a sheet with less than that on it was taken
    for a bold light stroke with nothing written on it (photographed pages of 312 and 210 digits
    read as none: the table round them left as ink)."""
    h, w = 1400, 1000
    ink = np.zeros((h, w), np.uint8)
    for row, y in enumerate(range(120, h - 80, 55)):
        for k, x in enumerate(range(90, w - 90, 60)):
            cv2.putText(ink, str((row + k) % 10), (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 255, 1)
    sheet_only = np.where(ink > 0, np.float32(0.5), np.float32(PAPER)).astype(np.float32)
    photo = _on_table(sheet_only, 150, 150, 150, 150)
    found = find_sheet(photo)
    assert found is not None
    painted = found.paint(photo)
    assert np.allclose(painted[:100, :], found.paper, atol=0.05)  # the table painted paper
    assert np.array_equal(painted[200:1500, 200:1100], photo[200:1500, 200:1100])  # the writing kept


def _on_lid(g: np.ndarray, top: int, left: int, bottom: int, right: int, lid: float = 1.0) -> np.ndarray:
    h, w = g.shape
    out = np.full((h + top + bottom, w + left + right), lid, np.float32)
    out[top:top + h, left:left + w] = g
    return out


def test_a_grey_sheet_on_a_scanners_white_lid_is_found_and_the_lid_painted_its_paper() -> None:
    """A sheet greyer than the lid round it (recycled or coloured paper on a flatbed, or a photo
    an editor turned on a white canvas): the ink map's paper along the sheet's edges was the lid's
    white, a band of the sheet inside them was ink, and it joined a page's digits into one mark."""
    sheet_only = _writing(300, 600, paper=0.8)
    scan = _on_lid(sheet_only, 0, 0, 80, 120)  # laid in the glass's corner: the lid on two sides
    found = find_sheet(scan)
    assert found is not None and abs(found.paper - 0.8) < 0.02
    painted = found.paint(scan)
    assert np.allclose(painted[-80:, :], 0.8, atol=0.02) and np.allclose(painted[:, -120:], 0.8, atol=0.02)
    inner = (slice(10, 290), slice(10, 590))
    assert np.array_equal(painted[inner], scan[inner])  # the writing untouched
    assert find_sheet(_on_lid(sheet_only, 0, 0, 0, 120)) is not None  # the lid on one side only
    assert find_sheet(_on_lid(sheet_only, 40, 40, 40, 40)) is not None  # all round: a white canvas


def test_a_sheet_near_the_lids_white_a_glare_and_a_lid_with_writing_are_left_alone() -> None:
    near = _on_lid(_writing(300, 600, paper=0.95), 0, 0, 80, 120)
    assert find_sheet(near) is None  # as white as the lid: it reads as it is
    # a glare: the paper brightens towards one side without a step
    glare = _writing(380, 720, paper=0.8)
    glare[:, 480:] = np.minimum(glare[:, 480:] * np.linspace(1.0, 1.25, 240, dtype=np.float32), 1.0)
    assert find_sheet(glare) is None
    # lit paper below a shadow that deepens upwards, a field's box along the shadow's edge (a
    # photo, numbers-photo's): the edge is straight and sharp, but the paper in the shadow is no
    # one grey as a scanned sheet's is
    shade = _on_lid(_writing(240, 700, paper=0.9), 0, 0, 60, 0, lid=0.98)
    shade[:240] *= np.linspace(0.65, 0.95, 240, dtype=np.float32)[:, None]
    cv2.rectangle(shade, (20, 20), (680, 239), 0.2, 2)
    assert find_sheet(shade) is None
    # writing on the white round the sheet: a form's grey field on a printed page, not a lid
    crowded = _on_lid(_writing(300, 600, paper=0.8), 0, 0, 120, 120)
    crowded[300:420, :600] = _writing(120, 600, 1.0)
    assert find_sheet(crowded) is None
    # the lid with nothing written on the sheet: a grey rectangle, no sheet to read
    assert find_sheet(_on_lid(np.full((300, 600), 0.8, np.float32), 0, 0, 80, 120)) is None


def test_a_shade_biting_into_the_sheets_edge_is_painted_as_sheet_with_the_digit_in_it() -> None:
    """A sheet is convex: a shade over its edge, darker than any level the sheet is found at,
    bites into the bright region found, and the digit in the bite was painted over as table (a
    note's last digit lost, its reading `ok`). Everything inside the region's convex hull is kept."""
    sheet_only = _writing(300, 600)
    yy, xx = np.mgrid[0:300, 0:600]
    rim = np.hypot(yy - 300, xx - 480)  # the shade's centre on the sheet's lower edge
    sheet_only *= (np.clip((rim - 40) / 30, 0, 1) * 0.65 + 0.35).astype(np.float32)
    nine = np.zeros((300, 600), np.uint8)
    cv2.putText(nine, "9", (462, 292), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 255, 4)
    sheet_only[nine > 0] = 0.02
    photo = _on_table(sheet_only, 40, 40, 60, 90)
    found = find_sheet(photo)
    assert found is not None
    painted = found.paint(photo)
    bite = (slice(40 + 250, 40 + 296), slice(40 + 460, 40 + 500))
    assert np.array_equal(painted[bite], photo[bite])  # the 9, as it was
    assert np.allclose(painted[-40:, :30], found.paper, atol=0.05)  # the table still painted


def test_a_sheet_crossed_by_a_sharp_shadow_and_a_little_blurred_is_found_whole() -> None:
    """A shadow's sharp edge across sheet and table: the whole sheet is found only at a level
    near the table's grey, where its outline takes in a pixel or two of the blurred edge, so the
    step at the outline was measured half on the slope and the sheet taken for a shadow (a note
    of 21 digits read "2"). The step a pixel further in counts too."""
    for blur in (1.5, 2.0):
        photo = _on_table(_writing(300, 600), 40, 40, 60, 90)
        h, w = photo.shape
        yy, xx = np.mgrid[0:h, 0:w]
        photo[xx > 0.5 * w + 0.6 * (yy - h / 2)] *= 0.45
        photo = cv2.GaussianBlur(photo, (0, 0), blur)
        found = find_sheet(photo)
        assert found is not None, blur
        painted = found.paint(photo)
        inside = (slice(50, 330), slice(50, 630))  # the sheet, in light and in shade
        assert np.array_equal(painted[inside], photo[inside]), blur
        assert np.allclose(painted[-30:, :30], PAPER, atol=0.05)  # the table's lit corner painted the paper by it


def _thin_note(h: int, w: int) -> np.ndarray:
    """A note of a few digits in a thin, light pen (float grey), its paper `PAPER`."""
    ink = np.zeros((h, w), np.uint8)
    for k, x in enumerate(range(w // 8, 6 * w // 8, w // 8)):
        cv2.putText(ink, str(k + 3), (x, h // 2 + h // 16), cv2.FONT_HERSHEY_SIMPLEX, h / 200, 255, 1)
    return np.where(ink > 0, np.float32(0.6), np.float32(PAPER)).astype(np.float32)


def test_a_small_note_on_a_desk_is_found_its_thin_writing_seen_on_the_picture_as_it_came() -> None:
    """A note photographed on a desk from arm's length is 3-9% of the picture: under the tenth a
    sheet had to be, the desk was taken for the paper. Its thin strokes fade into its paper on the
    sheet finder's small copy, so the writing is looked for on the picture as it came."""
    photo = np.full((1500, 2000), TABLE, np.float32)
    photo[600:840, 700:1200] = _thin_note(240, 500)  # 4% of the picture
    work = cv2.resize(photo, (512, 384), interpolation=cv2.INTER_AREA)
    assert find_sheet(work) is None  # on the working copy alone, nothing is written on it
    found = find_sheet(work, photo)
    assert found is not None
    painted = found.paint(photo)
    assert np.allclose(painted[:400, :], found.paper, atol=0.02)  # the desk painted paper
    assert np.array_equal(painted[640:800, 740:1160], photo[640:800, 740:1160])  # the writing kept
    # as big, but a bold light 0 drawn on a dark canvas: round, its hole no writing on a note
    canvas = np.full((1500, 2000), TABLE, np.float32)
    cv2.ellipse(canvas, (1000, 750), (180, 230), 0, 0, 360, PAPER, -1)
    cv2.ellipse(canvas, (1000, 750), (40, 90), 0, 0, 360, TABLE, -1)
    assert find_sheet(cv2.resize(canvas, (512, 384), interpolation=cv2.INTER_AREA), canvas) is None
    # a sliver of paper under 2% of the picture is a label or a glint, not a sheet
    tiny = np.full((1500, 2000), TABLE, np.float32)
    tiny[700:820, 900:1100] = _thin_note(120, 200)
    assert find_sheet(cv2.resize(tiny, (512, 384), interpolation=cv2.INTER_AREA), tiny) is None
