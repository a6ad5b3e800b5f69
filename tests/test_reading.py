"""Reading every digit in a file: the finder on rendered numbers and pages (no model), the reader
with the shipped model, and the daemon's rows, digits.csv and its crash safety for real."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DaemonProc, rows, wait_rows, write_digits
from watcher import compose, cuts, formlines, negatives, normalise, reading, segment
from watcher.errors import NoDigitFound
from watcher.evaluate import edit_distance, text_labels
from watcher.model import SHIPPED_MODEL, load
from watcher.pipeline import classify, make_row, prepare
from watcher.reading import Digit, Reading, _off_cells, read
from watcher.results import HEADER, read_rows

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clf():
    return load(SHIPPED_MODEL, verify=False)


def digits_csv(outbox: Path) -> list[dict[str, str]]:
    return read_rows(outbox / "digits.csv")


def ok(r: Reading) -> bool:
    """The daemon's status rule (pipeline.make_row) at the default threshold."""
    return min(r.confidence, r.raw) >= 0.85 and not r.doubts


def silent(r: Reading, want: str) -> bool:
    """Status ok and the reading wrong: the failure that matters most."""
    return r.text.replace(" ", "") != want and ok(r)


def numbers_read(mnist: dict[str, np.ndarray], clf, seed: int, count: int, tiles: bool = False,
                 **kw: object) -> list[tuple[str, Reading]]:
    """`count` numbers rendered from the test split (compose.number with `kw`, or compose.tiles),
    each with the reader's reading of it: (the digits drawn, the reading)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        if tiles:
            d = compose.tiles(mnist["x_test"], mnist["y_test"], rng)
        else:
            d = compose.number(mnist["x_test"], mnist["y_test"], rng, **kw)  # type: ignore[arg-type]
        r = read([segment.find(d.image)], clf.predict, clf.calibration)[0]
        assert r is not None
        out.append((d.text, r))
    return out


def drawn_again(mnist: dict[str, np.ndarray], clf, seed: int, picks: set[int], kind: str = "number",
                **kw: object) -> list[tuple[str, Reading | None]]:
    """The numbers at these places of a `make_sets` set (`compose.write_set` with this seed, kind
    and `kw` draws them in turn), in order, each with its digits and the reader's reading of it."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(max(picks) + 1):
        if kind == "field":  # a form's short field: as `write_set` draws one
            d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=int(rng.integers(1, 3)),
                               field=str(rng.choice(["box", "underline", "comb"])), **kw)  # type: ignore[arg-type]
        else:
            d = compose.number(mnist["x_test"], mnist["y_test"], rng, **kw)  # type: ignore[arg-type]
        if k in picks:
            out.append((d.text, read([segment.find(d.image)], clf.predict, clf.calibration)[0]))
    return out


def test_the_finder_puts_a_spaced_number_in_reading_order(mnist: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(3)
    found = 0
    for _ in range(30):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, field="plain")
        lay = segment.find(d.image)
        xs = [m.pieces[0].box[0] for m in lay.marks]
        assert xs == sorted(xs)  # left to right
        assert not lay.single
        # touching digits are one mark, offered split: the most pieces a reading can have covers them
        for m in lay.marks:
            m.expand()  # what the reader does with a mark that does not read surely whole
        most = sum(m.ends for m in lay.marks)
        assert most >= len(d.text)
        found += len(lay.marks) == len(d.text)
    assert found >= 20  # a mark per digit where they do not touch (about a third touch)


def test_one_digit_is_found_as_before_and_a_blank_page_has_none(mnist: dict[str, np.ndarray]) -> None:
    lay = segment.find(255 - mnist["x_test"][0])
    assert lay.single and len(lay.marks) == 1 and lay.first().x.shape == (28, 28)
    with pytest.raises(NoDigitFound):
        segment.find(np.full((300, 400), 240, np.uint8))


def _tiles(mnist: dict[str, np.ndarray], picks: list[int], stride: int = 28, margin: int = 0) -> np.ndarray:
    """MNIST test digits side by side as another renderer makes a number: 28 px tiles, `stride`
    apart (under 28: they overlap), `margin` round them; MNIST's own white ink on black."""
    canvas = np.zeros((28 + 2 * margin, stride * (len(picks) - 1) + 28 + 2 * margin), np.uint8)
    for k, i in enumerate(picks):
        x = margin + k * stride
        np.maximum(canvas[margin:margin + 28, x:x + 28], mnist["x_test"][i], out=canvas[margin:margin + 28, x:x + 28])
    return canvas


def test_two_mnist_tiles_side_by_side_are_two_digits(mnist: dict[str, np.ndarray]) -> None:
    """A 28 x 56 picture is small enough to be taken for one digit, but it is two side by side."""
    y = mnist["y_test"]
    for a, b in [(1, 2), (7, 0), (4, 9), (5, 3)]:
        ia, ib = int(np.flatnonzero(y == a)[0]), int(np.flatnonzero(y == b)[0])
        lay = segment.find(255 - _tiles(mnist, [ia, ib]))
        assert not lay.single and len(lay.marks) == 2, (a, b)


def test_two_digits_cut_to_their_ink_in_a_strip_under_40_pixels_are_read_as_two(
        mnist: dict[str, np.ndarray], clf) -> None:
    """Two MNIST digits cut to their ink's width and set side by side are 28 pixels high and
    under 40 wide: small enough for the MNIST-sized shortcut, which read every such pair as one
    digit ("69" as "1"), to review. Now read as marks: never `ok` and wrong, and most pairs
    right (47 of these 100); a square tile of one digit stays one digit."""
    y = mnist["y_test"]
    right = 0
    for a in range(10):
        for b in range(10):
            parts = []
            for i in (int(np.flatnonzero(y == a)[1]), int(np.flatnonzero(y == b)[2])):
                cols = np.flatnonzero(mnist["x_test"][i].max(0) > 20)
                parts.append(mnist["x_test"][i][:, cols[0]:cols[-1] + 1])
            strip = 255 - np.hstack(parts)
            assert strip.shape[0] == 28 and strip.shape[1] <= 40, strip.shape
            r = read([segment.find(strip)], clf.predict, clf.calibration)[0]
            assert r is not None
            assert not silent(r, f"{a}{b}"), (a, b, r.text)
            right += r.text.replace(" ", "") == f"{a}{b}"
    assert right >= 35, right
    assert segment.find(255 - mnist["x_test"][0]).single


def test_two_digits_squeezed_into_one_28_pixel_tile_are_read_as_two(mnist: dict[str, np.ndarray], clf) -> None:
    """A "10" drawn in a 28 x 28 canvas, as some users save every drawing: a grey tile was read as
    one digit (0 of 500 such pairs right), its colour twin as marks. Both are read as marks now
    (378 of 500 right), to review; a plain MNIST tile stays one digit."""
    y = mnist["y_test"]
    right = 0
    for a, b in [(1, 0), (1, 1), (1, 2), (7, 3), (4, 5), (9, 6), (2, 8), (3, 0)]:
        parts = []
        for i in (int(np.flatnonzero(y == a)[3]), int(np.flatnonzero(y == b)[4])):
            ys, xs = np.nonzero(mnist["x_test"][i] > 25)
            parts.append(mnist["x_test"][i][ys.min():ys.max() + 1, xs.min():xs.max() + 1])
        hh = max(p.shape[0] for p in parts)
        pair = np.zeros((hh, parts[0].shape[1] + parts[1].shape[1] + 3), np.uint8)
        pair[:parts[0].shape[0], :parts[0].shape[1]] = parts[0]
        pair[:parts[1].shape[0], -parts[1].shape[1]:] = parts[1]
        f = 20 / max(pair.shape)
        small = cv2.resize(pair, (round(pair.shape[1] * f), round(pair.shape[0] * f)), interpolation=cv2.INTER_AREA)
        tile = np.zeros((28, 28), np.uint8)
        y0, x0 = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
        tile[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        grey = read([segment.find(255 - tile)], clf.predict, clf.calibration)[0]
        colour = read([segment.find(cv2.cvtColor(255 - tile, cv2.COLOR_GRAY2BGR))], clf.predict, clf.calibration)[0]
        assert grey is not None and colour is not None
        assert grey.text == colour.text and not ok(grey), (a, b, grey.text, colour.text)
        right += grey.text.replace(" ", "") == f"{a}{b}"
    assert right >= 5, right


def test_a_bold_digit_of_a_tight_strip_is_no_backdrop(mnist: dict[str, np.ndarray]) -> None:
    """Bold digits cropped tight fill a tenth of the picture each, as a shadow or a hand does:
    they are kept while no taller than their neighbours (the middle one was lost, status ok)."""
    kernel = np.ones((2, 2), np.uint8)
    bold = {k: cv2.dilate(v, kernel) for k, v in mnist.items() if k == "x_test"}
    for picks in ([18, 30, 61], [1, 2, 3], [7, 11, 13, 21]):
        img = 255 - _tiles(bold, picks, stride=21)
        lay = segment.find(img)
        centres = [(m.pieces[0].box[0] + m.pieces[0].box[2] / 2) for m in lay.marks]
        for k in range(len(picks)):  # every tile's digit is in some mark (touching ones may share one)
            x0 = k * 21
            assert any(x0 + 2 <= c <= x0 + 26 for c in centres) or any(
                m.pieces[0].box[0] <= x0 + 14 <= m.pieces[0].box[0] + m.pieces[0].box[2] for m in lay.marks), (picks, k)


def test_a_bold_digit_filling_its_box_is_no_backdrop_where_a_blob_is() -> None:
    """A bold 0 filling half its box and a tenth of a small picture, specks round it, looked like
    a shadow's blob to `_backdrop`, and was dropped once nothing broke it (a held-out font's open
    0 read "1" `ok` from a speck). With the labels, a mark drawn in strokes is writing."""
    for kind in ("ring", "open ring", "blob"):
        mask = np.zeros((124, 86), np.uint8)
        if kind == "blob":
            cv2.ellipse(mask, (33, 80), (20, 18), 0, 0, 360, 1, -1)
        else:  # a 0, its stroke 11 px; the open one with a gap at its top right
            cv2.ellipse(mask, (33, 80), (18, 18), 0, 0, 360 if kind == "ring" else 300, 1, 11)
        for x, y in ((3, 105), (70, 20), (75, 110)):
            mask[y:y + 18, x:x + 2] = 1  # specks as tall as a noisy edge leaves
        _n, lab, st = formlines.components(mask)
        st = st[1:]
        big = int(np.argmax(st[:, 4]))
        assert st[big, 4] / (st[big, 2] * st[big, 3]) > 0.5 and st[big, 4] > 0.1 * mask.size
        assert segment._backdrop(st, *mask.shape)[big]  # from its stats alone: a blob
        assert bool(segment._backdrop(st, *mask.shape, lab)[big]) is (kind == "blob"), kind


def test_a_blob_left_out_beside_a_line_sends_it_to_review_however_wide(mnist: dict[str, np.ndarray]) -> None:
    """Five bold digits touching on a comb cropped tight were one blob left out as background; the
    three digits after it read `ok` as the whole number ("20920006" read "006"). Such a blob on the
    line's middle was asked to have its centre within two digits of the line: a wide one reaching
    into the line sends the file to review too."""
    ink = np.zeros((60, 330), np.float32)
    for k, i in enumerate((3, 2, 1)):  # three MNIST test digits, right of where the blob was
        ink[16:44, 220 + 36 * k:248 + 36 * k] = mnist["x_test"][i] / 255.0
    groups, lab, _printed = segment._groups(ink, 0.3)
    assert len(groups) == 3
    blob = (0, 14, 200, 32)  # as wide as five digits, level with them
    out = segment._layout(ink, groups, lab, segment.ToOriginal(1.0), [blob])
    assert len(out.marks) == 3 and blob in out.rejected
    far = (0, 14, 60, 32)  # a blob further off than two digits is none of the line's
    assert far not in segment._layout(ink, groups, lab, segment.ToOriginal(1.0), [far]).rejected


def test_a_grid_of_tiles_whose_rows_touch_is_no_single_digit(mnist: dict[str, np.ndarray]) -> None:
    """A page another renderer makes: MNIST tiles in rows and columns, scaled up. Where a digit runs
    into the one below, that mark is twice a digit's height: it must not make the page "one digit"
    (the whole page was read as a 4)."""
    rows, cols = 6, 5
    grid = np.vstack([np.hstack([mnist["x_test"][r * cols + c] for c in range(cols)]) for r in range(rows)])
    # the first row's second digit runs into the one below it
    ys, xs = np.nonzero(grid[:28, 28:56] > 128)
    ys2, xs2 = np.nonzero(grid[28:56, 28:56] > 128)
    bottom, top = int(ys.argmax()), int(ys2.argmin())
    cv2.line(grid, (28 + int(xs[bottom]), int(ys[bottom])), (28 + int(xs2[top]), 28 + int(ys2[top])), 255, 2)
    img = cv2.resize(255 - grid, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    lay = segment.find(img)
    assert not lay.single
    assert len(lay.marks) >= rows * cols - 3


def test_a_stem_running_down_a_tight_crop_is_no_ruled_line() -> None:
    """In a number cropped tight (or blurred to its edge) a 1's stem runs down most of the picture,
    as a notebook's margin does: it is taken out only when longer than the digits (a blurred "47"
    was read "41", its 7's stem gone)."""
    img = np.full((90, 120), 255, np.uint8)
    cv2.line(img, (20, 22), (60, 22), 0, 6)  # a 7's bar
    cv2.line(img, (60, 22), (35, 89), 0, 6)  # and its stroke down to the picture's edge
    cv2.line(img, (90, 28), (90, 89), 0, 6)  # a 1, down to the edge too
    lay = segment.find(img)
    assert len(lay.marks) == 2
    one = lay.marks[1].pieces[0].box
    assert one[3] >= 58  # the 1 whole, not what is left beside a line taken out


def _field_round_tiles(mnist: dict[str, np.ndarray], picks: list[int], field: str, scale: int) -> np.ndarray:
    """MNIST tiles side by side with a field drawn tight round them, as another renderer might:
    "cells" (a box round each tile, the boxes sharing their sides) or "underline"; dark on white."""
    m, k = 6, len(picks)
    c = _tiles(mnist, picks, margin=m)
    if field == "cells":
        for j in range(k + 1):
            cv2.line(c, (m + 28 * j, m - 2), (m + 28 * j, m + 29), 255, 2)
        for y in (m - 2, m + 29):
            cv2.line(c, (m, y), (m + 28 * k, y), 255, 2)
    else:
        cv2.line(c, (m - 2, m + 27), (c.shape[1] - m + 2, m + 27), 255, 2)
    if scale != 1:
        c = cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return 255 - c


def test_the_sides_of_a_row_of_cells_drawn_tight_round_its_digits_are_taken_out(mnist: dict[str, np.ndarray]) -> None:
    """The sides, as tall as the cells, made the digits' height look like theirs, so they were
    not found as lines and were read as four sure 1s ("673" read "1617131", status ok)."""
    y = mnist["y_test"]
    for digits in ([6, 7, 3], [3, 2, 1], [8, 9, 6, 0]):
        picks = [int(np.flatnonzero(y == d)[2]) for d in digits]
        lay = segment.find(_field_round_tiles(mnist, picks, "cells", 3))
        assert len(lay.marks) == len(digits), digits
        assert all(m.pieces[0].box[2] > 20 or d == 1 for m, d in zip(lay.marks, digits, strict=True))


def test_a_straight_stem_inside_a_row_of_cells_is_no_side(mnist: dict[str, np.ndarray]) -> None:
    """A 1 (or a 4's stem) drawn straight from near its cell's top to near its bottom is as thin
    and as tall as the row's sides, and was taken out with them: the digit was lost. The row's
    sides stand a cell apart; a stem splits its cell in two."""
    x, y = mnist["x_test"], mnist["y_test"]

    def row(digits: list[int], stem_at: int) -> np.ndarray:
        w, h, top, left = 56, 72, 30, 20
        page = np.full((h + 60, 2 * left + w * len(digits)), 235, np.uint8)
        for k, d in enumerate(digits):
            cx = left + k * w
            if k == stem_at:
                cv2.line(page, (cx + w // 2, top + 3), (cx + w // 2 + 3, top + h - 3), 40, 5)
                continue
            ink = x[int(np.flatnonzero(y == d)[2])]
            ys, xs = np.nonzero(ink > 60)
            ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            ink = cv2.resize(ink, (max(1, ink.shape[1] * (h - 10) // ink.shape[0]), h - 10), interpolation=cv2.INTER_CUBIC)
            x0 = cx + (w - ink.shape[1]) // 2
            page[top + 5:top + 5 + ink.shape[0], x0:x0 + ink.shape[1]] = np.minimum(
                page[top + 5:top + 5 + ink.shape[0], x0:x0 + ink.shape[1]], 255 - ink)
        for k in range(len(digits) + 1):
            cv2.line(page, (left + k * w, top), (left + k * w, top + h), 90, 2)
        for yy in (top, top + h):
            cv2.line(page, (left, yy), (left + len(digits) * w, yy), 90, 2)
        return page

    for digits, at in (([6, 1, 3, 8], 1), ([4, 0, 1, 5, 9], 2), ([2, 7, 1], 2)):
        lay = segment.find(row(digits, at))
        assert len(lay.marks) == len(digits), digits
        sx = lay.marks[at].pieces[0].box[0]
        assert 20 + 56 * at + 20 <= sx <= 20 + 56 * at + 36  # the stem, in its cell's middle


def test_a_1_standing_on_an_underline_in_a_tight_crop_is_no_margins_line(mnist: dict[str, np.ndarray]) -> None:
    """A 1 on the underline runs, with it, down most of a picture cropped tight: it was taken for
    a notebook's margin and left out ("12261" read "2261", status ok)."""
    for picks in ([1254, 8693, 6391, 6630, 4687], [7739, 7494, 7942, 4005, 87, 8439, 3872]):  # 12261, 2491319
        lay = segment.find(_field_round_tiles(mnist, picks, "underline", 1))
        assert len(lay.marks) == len(picks), picks


def test_ruled_lines_boxes_and_comb_cells_are_not_read(mnist: dict[str, np.ndarray], clf) -> None:
    rng = np.random.default_rng(5)
    for field in ("box", "underline", "comb"):
        extra = 0
        for _ in range(12):
            d = compose.number(mnist["x_test"], mnist["y_test"], rng, field=field, touching=False)
            r = read([segment.find(d.image)], clf.predict, clf.calibration)[0]
            assert r is not None
            extra += len(r.digits) > len(d.text)  # a line or a tick read as a 1
        assert extra <= 2, field


def test_an_empty_form_is_no_digit_found(clf) -> None:
    """A scanned form with nothing written in it: an empty comb's ticks were read as a sure
    "111111111" `ok`, and an empty box, an underline or a blank 600-dpi table were read whole as
    one digit (to review). They are no digit; a row of 1s written on an underline still is."""
    def paper(h: int, w: int) -> np.ndarray:
        return np.full((h, w), 240, np.uint8)

    comb = paper(120, 400)
    cv2.line(comb, (20, 100), (380, 100), 60, 2)
    for x in range(20, 381, 45):
        cv2.line(comb, (x, 100), (x, 80), 60, 2)
    box = paper(120, 400)
    cv2.rectangle(box, (20, 20), (380, 100), 60, 2)
    underline = paper(120, 400)
    cv2.line(underline, (20, 100), (380, 100), 60, 2)
    table = paper(7016, 4960)
    for y in range(438, 6600, 219):
        cv2.line(table, (413, y), (4547, y), 90, 3)
    for x in range(413, 4548, 206):
        cv2.line(table, (x, 438), (x, 6570), 90, 3)
    for name, img in (("comb", comb), ("box", box), ("underline", underline), ("table", table)):
        with pytest.raises(NoDigitFound):
            segment.find(img)
        p = prepare_array(img, 0)
        row = make_row(f"{name}.png", "", p, classify([p], clf.predict, clf.calibration)[0], 0.85, clf.version)
        assert row.status == "error" and row.text == "", (name, row)
    ones = paper(120, 400)
    cv2.line(ones, (20, 100), (380, 100), 60, 2)
    for x in range(60, 340, 50):
        cv2.line(ones, (x, 99), (x + 6, 30), 60, 4)  # 1s on the line: taller than their steps, leaning
    r = read([segment.find(ones)], clf.predict, clf.calibration)[0]
    assert r is not None and r.text == "111111"


def test_a_box_round_two_digits_is_not_taken_for_the_digits_height(mnist: dict[str, np.ndarray]) -> None:
    """A box holding more ink than the digits in it once set the digit height (its own), so it
    was not taken out and swallowed both digits as one mark ("11" in a box read ok as 1)."""
    rng = np.random.default_rng(12)
    both = 0
    for _ in range(30):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=2, field="box", touching=False)
        lay = segment.find(d.image)
        both += not lay.single and len(lay.marks) == 2
    assert both >= 27


def test_the_sides_of_a_box_drawn_tight_with_the_pen_are_not_read_as_ones(
        mnist: dict[str, np.ndarray], clf) -> None:
    """A box drawn round a number as thick as the digits' strokes: its sides were too thick for a
    ruled line and were read as a 1 at each end (1 in 100 rendered numbers read ok and wrong)."""
    rng = np.random.default_rng(5)
    longer = exact = 0
    for _ in range(40):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, field="plain", touching=False)
        img = d.image.copy()
        ys, xs = np.nonzero(img < 128)
        h = int(ys.max() - ys.min())
        pad = h // 4
        cv2.rectangle(img, (int(xs.min()) - pad, int(ys.min()) - pad), (int(xs.max()) + pad, int(ys.max()) + pad),
                      30, max(2, int(0.18 * h)))
        r = read([segment.find(img)], clf.predict, clf.calibration)[0]
        assert r is not None
        got = r.text.replace(" ", "")
        longer += len(got) > len(d.text)
        exact += got == d.text
    assert longer <= 4  # measured 2; 21 when only sides thinner than the pen were taken out
    assert exact >= 32  # measured 36; 18 before


def test_a_digit_in_two_strokes_that_do_not_meet_is_read_as_one(mnist: dict[str, np.ndarray], clf) -> None:
    """A 4 whose bar stops short of its stem is two marks side by side, read as two digits or
    one of them left out; offered joined, it is read as the one digit the model is sure of (to
    review). Spaced numbers, whose digits are never joined, read as before."""
    rng = np.random.default_rng(23)
    fours = np.flatnonzero(mnist["y_test"] == 4)
    sevens = np.flatnonzero(mnist["y_test"] == 7)
    offered = joined = apart = 0
    for i in rng.choice(fours, 30, replace=False):
        d = mnist["x_test"][i].copy()
        cols = np.flatnonzero(d.max(0) > 60)
        stem = int(cols[0] + 0.62 * (cols[-1] - cols[0]))
        d[:, stem - 1:stem + 1] = 0  # the bar no longer meets the stem
        page = np.full((140, 280), 255, np.uint8)
        page[28:112, 30:114] = cv2.resize(255 - d, (84, 84), interpolation=cv2.INTER_CUBIC)
        seven = mnist["x_test"][int(rng.choice(sevens))]
        page[28:112, 170:254] = cv2.resize(255 - seven, (84, 84), interpolation=cv2.INTER_CUBIC)
        lay = segment.find(page)
        if not lay.joins:
            continue
        offered += 1
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None
        joined += r.text.replace(" ", "") == "47"
        assert not silent(r, "47")
        lay.joins = []
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None
        apart += r.text.replace(" ", "") == "47"
    assert offered >= 10  # measured 16 of 30 (the others' two strokes still touch or overlap)
    assert joined >= apart + 0.3 * offered  # measured 12 of 16 read right, none when never joined
    got = numbers_read(mnist, clf, 29, 30, n=4, field="plain", touching=False)
    assert not any(silent(r, want) for want, r in got)
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= 27  # measured 29


def test_a_flag_standing_off_its_5_does_not_start_a_line(mnist: dict[str, np.ndarray], clf) -> None:
    """The 5s of the test split drawn in two strokes, in numbers: a flag placed in a line before
    the digits could start a line of its own that the next digit continued, and the number was
    read in two lines, out of order. Marks under half a digit are placed after the lines form."""
    x, y = mnist["x_test"], mnist["y_test"]
    fives = []
    for k in np.flatnonzero(y == 5):
        _n, _lab, st, _ = cv2.connectedComponentsWithStats((x[k] > 100).astype(np.uint8), connectivity=8)
        if sum(1 for s in st[1:] if s[4] >= 8) == 2:
            fives.append(int(k))
    assert len(fives) >= 40
    rng = np.random.default_rng(43)
    right = one_line = 0
    for i in fives * 2:
        others = rng.choice(np.flatnonzero(y != 5), 4)
        idx = np.array([others[0], i, *others[1:]])
        d = compose.number(x[idx], y[idx], rng, n=5, field="plain", touching=False)
        r = read([segment.find(d.image)], clf.predict, clf.calibration)[0]
        assert r is not None
        right += r.text.replace(" ", "") == d.text
        one_line += " " not in r.text
    assert one_line >= 2 * len(fives) - 1  # measured all 100; 98 when a flag could start a line
    assert right >= 0.8 * 2 * len(fives)  # measured 87 of 100


def test_a_dash_below_a_number_does_not_start_a_line_of_its_own(mnist: dict[str, np.ndarray]) -> None:
    """Lines are followed from digit to digit: a speck or dash low between two digits once became
    the line's last mark, so the digits after it started a second line (read out of order)."""
    page = np.full((160, 420), 245, np.uint8)
    want = []
    for k, i in enumerate((0, 1, 2, 3)):
        digit = cv2.resize(mnist["x_test"][i], (84, 84), interpolation=cv2.INTER_CUBIC)
        page[30:114, 20 + 95 * k:104 + 95 * k] = np.minimum(page[30:114, 20 + 95 * k:104 + 95 * k], 255 - digit)
        want.append(int(mnist["y_test"][i]))
    cv2.rectangle(page, (92, 106), (122, 110), 20, -1)  # a dash low between the first two
    lay = segment.find(page)
    assert len(lay.marks) == 4
    assert {m.line for m in lay.marks} == {0}
    xs = [m.pieces[0].box[0] for m in lay.marks]
    assert xs == sorted(xs)


@pytest.mark.parametrize("tall", [0.5, 0.58])
def test_a_comma_between_digits_is_not_read_as_a_1(mnist: dict[str, np.ndarray], clf, tall: float) -> None:
    # "8,644": a comma half a digit tall hanging from the line's foot was read as a sure 1 (31 of
    # 100 such numbers ok and wrong), and one taller than half a digit started a line of its own
    page = np.full((170, 520), 240, np.uint8)
    want = ""
    for k, i in enumerate((0, 1, 2, 3)):
        digit = cv2.resize(mnist["x_test"][i], (84, 84), interpolation=cv2.INTER_CUBIC)
        x = 20 + 95 * k + (40 if k >= 2 else 0)
        page[30:114, x:x + 84] = np.minimum(page[30:114, x:x + 84], 255 - digit)
        want += str(int(mnist["y_test"][i]))
    long = int(tall * 60) - 6  # the digits' strokes stand about 60 pixels tall; the pen is 6 wide
    top = 104 - long // 2
    cv2.line(page, (222, top), (212, top + long), 30, 6, cv2.LINE_AA)
    lay = segment.find(page)
    assert [m.line for m in lay.marks] == [0, 0, 0, 0]
    assert len(lay.rejected) == 1 and 205 <= lay.rejected[0][0] <= 215  # the comma, not read
    r = read([lay], clf.predict, clf.calibration)[0]
    assert r is not None and r.text == want
    assert not ok(r)  # a mark that is no digit: the file goes to review


def test_a_faint_digit_kept_as_a_blob_or_as_specks_sends_the_file_to_review(mnist: dict[str, np.ndarray],
                                                                            clf) -> None:
    # a light pencil 3 among darker digits: the ink threshold kept a 19 x 18 blob of it in a line
    # 45 high, which was left out as a speck, and "25423" was read "2542" `ok`; a pale thin 3
    # fell apart into specks, and "33284" was read "3284" `ok`
    page = np.full((170, 560), 240, np.uint8)
    want = ""
    for k, i in enumerate((0, 1, 2, 3)):
        digit = cv2.resize(mnist["x_test"][i], (84, 84), interpolation=cv2.INTER_CUBIC)
        page[30:114, 20 + 95 * k:104 + 95 * k] = np.minimum(page[30:114, 20 + 95 * k:104 + 95 * k], 255 - digit)
        want += str(int(mnist["y_test"][i]))
    cv2.circle(page, (110, 108), 4, 30, -1)  # a dot at the line's foot: a speck
    cv2.line(page, (490, 62), (490, 80), 30, 3)  # a sliver of a stroke: a speck
    plain = segment.find(page)
    assert plain.rejected == []
    r = read([plain], clf.predict, clf.calibration)[0]
    assert r is not None and r.text == want and not any("not read as digits" in d for d in r.doubts)
    blob = page.copy()
    cv2.circle(blob, (420, 72), 10, 30, 3)  # what is left of a faint digit, on the line's middle
    broken = page.copy()  # a pale 0 whose darker bits alone pass the ink threshold: four specks
    cv2.ellipse(broken, (440, 72), (18, 26), 0, 0, 360, 195, 4)
    for a in (0, 90, 180, 270):
        cv2.ellipse(broken, (440, 72), (18, 26), 0, a - 15, a + 15, 120, 4)
    for img, left in ((blob, 405), (broken, 415)):
        lay = segment.find(img)
        assert len(lay.rejected) == 1 and left <= lay.rejected[0][0] <= left + 7
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None and r.text == want
        assert not ok(r)


def test_two_digits_in_a_picture_under_64_pixels_are_both_read_to_review(mnist: dict[str, np.ndarray], clf) -> None:
    # a 48 x 60 picture is too small for a number to be told from one broken digit by its marks,
    # and was read as one digit ("72" as "2"); a mark beside the digit as tall as it now has the
    # picture read as several, to review. A lone digit in such a picture stays one digit.
    for pair in ((0, 1), (4, 5)):
        img = np.full((48, 60), 245, np.uint8)
        for k, i in enumerate(pair):
            digit = cv2.resize(mnist["x_test"][i], (20, 20), interpolation=cv2.INTER_AREA)
            cell = (slice(14, 34), slice(10 + 19 * k, 30 + 19 * k))
            img[cell] = np.minimum(img[cell], 255 - digit)
        lay = segment.find(img)
        assert not lay.single and lay.tiny
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None and r.text == "".join(str(int(mnist["y_test"][i])) for i in pair)
        assert not ok(r)
    img = np.full((50, 50), 245, np.uint8)
    img[11:39, 11:39] = 255 - mnist["x_test"][0]
    lay = segment.find(img)
    assert lay.single
    r = read([lay], clf.predict, clf.calibration)[0]
    assert r is not None and r.text == str(int(mnist["y_test"][0])) and ok(r)


def test_a_thin_box_side_a_degree_aslant_is_taken_out_with_the_box(mnist: dict[str, np.ndarray]) -> None:
    """A box's side one pixel thin and a degree off upright is a staircase of short runs, none
    as long as a rule must be: it was left in and read as a 1 (or a 2) before and after the
    number."""
    for shift in (1, 2):  # over 132 pixels: 0.4 and 0.9 degrees
        page = np.full((240, 520), 235, np.uint8)
        for k in range(4):
            digit = cv2.resize(mnist["x_test"][k], (84, 84), interpolation=cv2.INTER_CUBIC)
            cell = (slice(70, 154), slice(60 + 95 * k, 144 + 95 * k))
            page[cell] = np.minimum(page[cell], 255 - digit)
        cv2.line(page, (40, 50), (470, 50), 110, 3)
        cv2.line(page, (40, 182), (470, 182), 110, 3)
        cv2.line(page, (40, 50), (40 + shift, 182), 110, 1)
        cv2.line(page, (470, 50), (470 + shift, 182), 110, 1)
        lay = segment.find(page)
        assert [m.pieces[0].box[0] // 95 for m in lay.marks] == [0, 1, 2, 3]  # the four digits, nothing more


def test_a_thin_faint_box_turned_under_a_degree_is_taken_out_whole(mnist: dict[str, np.ndarray]) -> None:
    """A whole box of one-pixel rules, printed lighter than the pen and turned less than the
    degree that deskewing corrects: each rule is a staircase whose steps fade below the ink
    threshold where one row hands over to the next. It fell apart into 15-19 marks (dashes read
    as 1s, sides as 1s); now only the four digits are marks."""
    for angle in (0.4, 0.6, 0.8, 0.9):
        page = np.full((240, 520), 235, np.uint8)
        for k in range(4):
            digit = cv2.resize(mnist["x_test"][k], (84, 84), interpolation=cv2.INTER_CUBIC)
            cell = (slice(70, 154), slice(60 + 95 * k, 144 + 95 * k))
            page[cell] = np.minimum(page[cell], 255 - digit)
        level = np.zeros_like(page)
        cv2.rectangle(level, (40, 55), (470, 178), 255, 1)
        box = cv2.warpAffine(level, cv2.getRotationMatrix2D((255, 116), angle, 1.0), (520, 240))
        faint = (255 - np.asarray(box, np.float32) * 0.55).astype(np.uint8)
        lay = segment.find(np.minimum(page, faint))
        assert [(m.pieces[0].box[0] - 40) // 95 for m in lay.marks] == [0, 1, 2, 3], angle


def _one_mark_keeps(page: np.ndarray, stroke: tuple[slice, slice]) -> float:
    """The share of the pen's pixels in `stroke` that the picture's one mark keeps (asserts one)."""
    ink = segment._page_ink(segment.to_grey(page))
    groups, lab, _printed = segment._groups(ink, segment._threshold(ink))
    assert len(groups) == 1
    return np.count_nonzero(np.isin(lab[stroke], groups[0].labels)) / np.count_nonzero(page[stroke] < 100)


def test_a_digit_sitting_on_a_faint_sloped_underline_keeps_its_bottom_stroke() -> None:
    """The slack that finds a sloped thin rule takes only what is one or two pixels across: a
    2's bottom stroke lying along the underline is thicker and stays with the 2."""
    page = np.full((200, 600), 235, np.uint8)
    cv2.line(page, (40, 151), (560, 145), 140, 1)  # 0.7 degrees, one pixel, lighter than the pen
    # a 2 drawn with a 5-pixel pen whose bottom stroke lies along the underline
    pts = np.array([[80, 80], [95, 66], [115, 66], [128, 80], [122, 100], [84, 146], [150, 146]], np.int32)
    cv2.polylines(page, [pts], False, 30, 5)
    assert _one_mark_keeps(page, (slice(143, 150), slice(95, 148))) >= 0.9  # the bottom stroke, off the diagonal


def test_two_digits_bottom_strokes_along_an_underline_are_not_taken_for_a_second_rule() -> None:
    """Two 2s in a row whose flat bottoms join run longer than a short underline (1.6 digits):
    lying along the longer underline just below them, they are the digits' strokes, not a second
    rule (taken out, they left two 7s: "5359722" read "5359772" in a comb)."""
    page = np.full((220, 640), 235, np.uint8)
    cv2.line(page, (40, 162), (600, 162), 60, 2)  # the underline, printed
    for x in (100, 172):  # two 2s, 5-pixel pen, their bottoms joined at y = 150
        pts = np.array([[x + 5, 90], [x + 20, 72], [x + 45, 72], [x + 60, 90], [x + 52, 112],
                        [x + 2, 150], [x + 72, 150]], np.int32)
        cv2.polylines(page, [pts], False, 30, 5)
    # one mark (the two 2s, joined by their bottoms; the underline taken out) with its bottoms
    assert _one_mark_keeps(page, (slice(148, 153), slice(110, 240))) >= 0.9


def _comb(mnist: dict[str, np.ndarray], shift: int | None, moved: tuple[int, ...] = (3,),
          picks: tuple[int, ...] = (0, 1, 2, 3, 4)) -> np.ndarray:
    """Five test digits (`picks`) in comb cells; those `moved` (the fourth) `shift` pixels right of
    their cell's left tick (None: centred in their cells)."""
    page = np.full((200, 560), 235, np.uint8)
    cell, base = 84, 150
    for k in range(6):
        cv2.line(page, (60 + k * cell, base), (60 + k * cell, base - 24), 60, 2)
    cv2.line(page, (60, base), (60 + 5 * cell, base), 60, 2)
    for k, pick in enumerate(picks):
        digit = cv2.resize(mnist["x_test"][pick], (70, 70), interpolation=cv2.INTER_CUBIC)
        ys, xs = np.nonzero(digit > 60)
        digit = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        h, w = digit.shape
        x0 = 60 + k * cell + ((cell - w) // 2 if shift is None or k not in moved else shift)
        cell_ink = (slice(base - 8 - h, base - 8), slice(x0, x0 + w))
        page[cell_ink] = np.minimum(page[cell_ink], 255 - digit)
    return page


def test_a_comb_tick_a_digit_touches_is_taken_out_with_the_comb(mnist: dict[str, np.ndarray]) -> None:
    """A comb's tick touching a digit beside it joined the digit, which then reached down to the
    line (read as no digit, or with a 1 in it). The free ticks give the comb's step; the hidden
    one is taken out where it stands: the digit's mark is the digit alone, as when it is centred."""
    centred = [m.pieces[0].box for m in segment.find(_comb(mnist, None)).marks]
    touching = [m.pieces[0].box for m in segment.find(_comb(mnist, 2)).marks]
    assert len(centred) == len(touching) == 5
    x, _y, _w, h = touching[3]
    assert x > 60 + 3 * 84 and h == centred[3][3]  # the tick (x 311-313) not in it, not reaching the line


def test_a_digit_drawn_over_a_comb_tick_is_set_free_of_the_stub_under_it(mnist: dict[str, np.ndarray], clf) -> None:
    """A digit whose bottom stroke covers a tick's top kept the whole tick (clearing the tick's
    place cut notches in 3s and 5s): its stub joined the digit to the line, and a 0 so joined to
    the 0 beside it read as no digit ("004" read "4"; `make_sets`' numbers, seed 1, drawn again).
    The stub under the stroke, as narrow as a tick, is cleared; the stroke is kept."""
    got = drawn_again(mnist, clf, 1, {235})
    assert [t for t, _ in got] == ["004"]
    assert got[0][1] is not None and got[0][1].text == "004"  # "4" before
    centred = [m.pieces[0].box for m in segment.find(_comb(mnist, None)).marks]
    over = [m.pieces[0].box for m in segment.find(_comb(mnist, -20)).marks]  # the 0 across its left tick (x 312)
    assert len(over) == 5
    x, _y, w, h = over[3]
    assert x < 312 < x + w and h == centred[3][3] and abs(w - centred[3][2]) <= 1  # off the line, its stroke whole


def test_a_digits_stem_run_down_into_a_comb_tick_is_no_upright_line(mnist: dict[str, np.ndarray], clf) -> None:
    """A 9's straight stem standing on a comb's tick runs, with the tick, from the comb's line
    longer than an upright line's least length: taken out as a box's side, the 9 was left a C
    and lost ("94765" read "4765"; in photos "57770" read "57970"). The run's top joined to ink
    reaching a little way sideways (a 9's loop) is a digit's stem; a box's side meets its top
    line, reaching a digit or more (`make_sets`' numbers, seed 1, and numbers-photo, seed 7)."""
    got = drawn_again(mnist, clf, 1, {713}) + drawn_again(mnist, clf, 7, {541}, photo="any")
    assert [t for t, _ in got] == ["94765", "57770"]
    assert all(r is not None and r.text == t for t, r in got)  # neither before
    m = np.zeros((120, 200), np.uint8)
    cv2.ellipse(m, (70, 40), (14, 14), 0, 0, 360, 1, 4)  # a 9's loop closed at its stem's top
    cv2.line(m, (60, 30), (84, 30), 1, 4)
    cv2.line(m, (84, 30), (84, 100), 1, 4)
    assert formlines._stem_of_a_digit(m, 82, 30, 5, 4.0, 45.0)
    m[:] = 0
    cv2.line(m, (20, 30), (180, 30), 1, 2)  # a row of boxes' top line, its side down from it
    cv2.line(m, (84, 30), (84, 100), 1, 2)
    assert not formlines._stem_of_a_digit(m, 83, 30, 3, 2.0, 45.0)


def test_a_comb_whose_digits_touch_all_ticks_but_one_is_still_taken_out(mnist: dict[str, np.ndarray]) -> None:
    """Digits wider than their cells touch most ticks, so fewer than three stand free to give the
    comb's step. The ticks the digits touch are looked for along the line: those at equal steps
    from the free one are a comb's, and come out as when the digits are centred."""
    twos = tuple(int(i) for i in np.flatnonzero(mnist["y_test"] == 2)[:5])  # a 2's bottom stroke meets the tick
    centred = [m.pieces[0].box for m in segment.find(_comb(mnist, None, picks=twos)).marks]
    # the 2s' left edges against ticks 0, 1, 3 and 4: only ticks 2 and 5 stand free
    touching = [m.pieces[0].box for m in segment.find(_comb(mnist, 1, moved=(0, 1, 3, 4), picks=twos)).marks]
    assert len(centred) == len(touching) == 5
    for k in (0, 4):  # the 2s beside their ticks (the others are drawn over theirs: they keep them)
        x, _y, _w, h = touching[k]
        assert x > 60 + k * 84 and h == centred[k][3]  # its left tick not in it, not reaching the line


def _cells(mnist: dict[str, np.ndarray], touch: bool) -> np.ndarray:
    """Four test digits (about 46 pixels high) in a form's row of printed boxes (56 x 60), apart;
    with `touch`, the third drawn against its box's left side."""
    page = np.full((160, 340), 235, np.uint8)
    for k in range(4):
        x = 30 + k * 70
        cv2.rectangle(page, (x, 46), (x + 56, 106), 70, 2)
        digit = cv2.resize(mnist["x_test"][k], (64, 64), interpolation=cv2.INTER_CUBIC)
        ys, xs = np.nonzero(digit > 60)
        digit = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        h, w = digit.shape
        x0 = x + 1 if touch and k == 2 else x + (56 - w) // 2
        cell_ink = (slice(76 - h // 2, 76 - h // 2 + h), slice(x0, x0 + w))
        page[cell_ink] = np.minimum(page[cell_ink], 255 - digit)
    return page


def test_the_boxes_of_a_forms_cells_are_taken_out_even_where_a_digit_touches_one(mnist: dict[str, np.ndarray]) -> None:
    """A printed box for each digit is shorter than the rules looked for, so its sides were read
    as 1s, and a digit touching its box was one mark with it. The boxes come out (their sides
    run straight all round them); a digit against its box keeps its own strokes."""
    apart = segment.find(_cells(mnist, touch=False))
    touching = segment.find(_cells(mnist, touch=True))
    assert len(apart.marks) == len(touching.marks) == 4
    for k, (a, t) in enumerate(zip(apart.marks, touching.marks, strict=True)):
        x, _y, w, h = t.pieces[0].box
        assert x > 30 + k * 70 and x + w < 30 + k * 70 + 56  # inside its box, no side in it
        assert abs(h - a.pieces[0].box[3]) <= 2  # the whole digit, not the box's height


def test_a_box_whose_digit_runs_out_over_a_side_is_taken_out_and_the_digit_kept_whole(
        mnist: dict[str, np.ndarray]) -> None:
    """A wide 0 running out over its box's side made the box's component wider than the box, so
    no box was found there: box and 0 were one mark (read as no digit, or a side as a 1). The
    box is found within its component; the side is kept where the 0 crosses it, so the 0 stays
    one mark, beyond the box included. A broad pen's 7 is no box within a mark."""
    page = np.full((150, 300), 235, np.uint8)
    for k in range(3):
        x = 30 + k * 80
        cv2.rectangle(page, (x, 40), (x + 56, 110), 60, 3)
        if k != 1:
            digit = cv2.resize(mnist["x_test"][k], (50, 50), interpolation=cv2.INTER_CUBIC)
            page[50:100, x + 3:x + 53] = np.minimum(page[50:100, x + 3:x + 53], 255 - digit)
    cv2.ellipse(page, (150, 75), (22, 28), 0, 0, 360, 30, 5)  # over the middle box's right side (x 166-168)
    lay = segment.find(page)
    assert len(lay.cells) == 3 and len(lay.marks) == 3
    x, y, w, h = lay.marks[1].pieces[0].box
    assert x >= 120 and x + w >= 172 and y > 42 and h < 66  # the whole 0, no side of its box
    seven = np.zeros((120, 100), np.uint8)
    cv2.rectangle(seven, (20, 20), (70, 34), 1, -1)
    cv2.line(seven, (66, 30), (40, 100), 1, 14)
    ys, xs = np.nonzero(seven)
    assert formlines._frame_within(seven[ys.min():ys.max() + 1, xs.min():xs.max() + 1]) is None


def test_a_box_with_a_broken_side_among_boxes_of_its_size_is_taken_out(mnist: dict[str, np.ndarray]) -> None:
    """A box whose top the scan broke for two fifths of its length, a 0 against its side: its
    sides' runs fall short of a box's, and box and 0 were one mark. Level with boxes of its size
    found whole, it is a cell's box too. Alone, it is not."""
    def boxes(n: int) -> np.ndarray:
        page = np.full((150, 60 + 80 * n), 235, np.uint8)
        for k in range(n):
            x = 30 + k * 80
            cv2.rectangle(page, (x, 40), (x + 56, 110), 60, 3)
            if k != n // 2:
                digit = cv2.resize(mnist["x_test"][k], (50, 50), interpolation=cv2.INTER_CUBIC)
                page[50:100, x + 3:x + 53] = np.minimum(page[50:100, x + 3:x + 53], 255 - digit)
        x = 30 + (n // 2) * 80
        page[37:44, x + 8:x + 32] = 235  # its top broken
        cv2.ellipse(page, (x + 33, 75), (20, 28), 0, 0, 360, 30, 4)  # a 0 against its right side
        return page
    lay = segment.find(boxes(3))
    assert len(lay.cells) == 3 and len(lay.marks) == 3
    _x, y, _w, h = lay.marks[1].pieces[0].box
    assert y > 42 and h < 66  # the 0 without its box
    for n, found in ((1, 0), (3, 3)):  # the boxes' own look, on the ink: alone, the broken box is none
        mask = (boxes(n) < 150).astype(np.uint8)
        _n, lab, st = formlines.components(mask)
        assert len(formlines.cells_out(mask, lab, st)[1]) == found


def test_boxes_whose_rules_were_partly_taken_for_lines_are_taken_out(mnist: dict[str, np.ndarray]) -> None:
    """Boxes printed two pixels apart, a little aslant: where two boxes' tops ran together they
    were long enough to be taken out as a line, the boxes fell apart, none was found, and four
    digits were read inside their boxes, the last four as one mark. The boxes are looked for in
    the ink as it was before the lines came out."""
    d = compose.number(mnist["x_test"], mnist["y_test"], np.random.default_rng(166), field="cells")
    lay = segment.find(d.image)
    assert len(lay.cells) == len(d.text) == len(lay.marks) == 8
    assert all(m.pieces[0].box[3] < 85 for m in lay.marks)  # the digits, not their boxes (94 and more)


def test_a_box_whose_digit_runs_out_past_a_side_but_not_its_corners_is_taken_out(mnist: dict[str, np.ndarray]) -> None:
    """A flat 0 running out of its box's side, whose corners it leaves alone: the component's own
    box has ink in each corner, but its top and bottom cover less than it is wide, so no box was
    found there, and the 0, its box and the next box were one mark. The box is found within it."""
    d = compose.number(mnist["x_test"], mnist["y_test"], np.random.default_rng(247), field="cells")
    lay = segment.find(d.image)
    assert len(lay.cells) == len(d.text) == 4
    assert all(m.pieces[0].box[2] < 110 and m.pieces[0].box[3] < 85 for m in lay.marks)  # no box read with its digit


def _boxes_side_by_side(mnist: dict[str, np.ndarray], picks: list[int], w: int, h: int, drop: int = 0) -> np.ndarray:
    """Test digits in a form's row of boxes (w x h, pen 3 px) each printed against the next, so
    that two boxes' sides run together as one twice as thick; dark on light. `drop`: the first
    box's top that many pixels lower (the row is no box: its top and bottom are rules)."""
    page = np.full((h + 60, 40 + len(picks) * w), 235, np.uint8)
    for k, i in enumerate(picks):
        x = 20 + k * w
        cv2.rectangle(page, (x + 1, 32 + (drop if k == 0 else 0)), (x + w - 2, 32 + h - 3), 60, 3)
        digit = cv2.resize(mnist["x_test"][i], (h - 14, h - 14), interpolation=cv2.INTER_CUBIC)
        ys, xs = np.nonzero(digit > 60)
        digit = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        dh, dw = digit.shape
        y0, x0 = 30 + (h - dh) // 2, x + (w - dw) // 2
        page[y0:y0 + dh, x0:x0 + dw] = np.minimum(page[y0:y0 + dh, x0:x0 + dw], 255 - digit)
    return page


def test_boxes_printed_against_each_other_are_taken_out_with_their_doubled_sides(mnist: dict[str, np.ndarray]) -> None:
    """Two boxes printed side by side make one side twice as thick as a printed line: once the
    row's top and bottom are out (it is longer than a rule) it was no side, and stood as a 1
    between the digits ("7684" read "7161814"). Two boxes a little taller than wide are no wider
    than a box drawn round a wide digit: their middle side stood as a 1 ("46" read "416")."""
    y = mnist["y_test"]
    for digits, w, h, drop in (([7, 6, 8, 4], 48, 56, 0), ([4, 6], 44, 56, 0), ([0, 7, 8, 3, 7, 7], 50, 50, 0),
                               ([7, 6, 8, 4], 48, 56, 6), ([0, 7, 8, 3, 7, 7], 50, 50, 6)):
        picks = [int(np.flatnonzero(y == d)[3]) for d in digits]
        page = _boxes_side_by_side(mnist, picks, w, h, drop)
        for angle in (0.0, 1.5):
            turned = page if angle == 0.0 else cv2.warpAffine(
                page, cv2.getRotationMatrix2D((page.shape[1] / 2, page.shape[0] / 2), angle, 1.0),
                page.shape[::-1], borderValue=235)
            marks = [m.pieces[0].box for m in segment.find(turned).marks]
            assert len(marks) == len(digits), (digits, angle, marks)
            assert all(bw >= 0.25 * bh or d == 1 for (_x, _y, bw, bh), d in zip(marks, digits, strict=True))


def test_a_reading_that_does_not_fit_its_forms_cells_goes_to_review() -> None:
    """A form's cells hold a digit each. Two digits in one cell (a side left standing, read as a
    1 beside a digit), a digit on the row's end side, or an empty cell between filled ones (a 1
    drawn from the top of its cell to the bottom, taken out as a side) are a wrong reading."""
    cells = [(100 + 50 * k, 20, 50, 60) for k in range(4)]

    def digits(*xs: int) -> list[Digit]:
        return [Digit((x - 10, 30, 20, 40), 0, 5, 0.99) for x in xs]

    assert not _off_cells(digits(125, 175, 225, 275), cells)
    assert not _off_cells(digits(225, 275), cells)  # written to the right of its field
    assert not _off_cells(digits(125, 175), cells)
    assert _off_cells(digits(125, 140, 225, 275), cells)  # two in the first cell
    assert _off_cells(digits(125, 225, 275), cells)  # the second cell empty
    assert _off_cells(digits(96, 125, 175, 225, 275), cells)  # on the row's left side
    assert not _off_cells(digits(40, 125), cells)  # well off the row: not the form's
    assert not _off_cells(digits(125, 140), cells[:1])  # one box: a field round a number
    two_rows = cells + [(100 + 50 * k, 120, 50, 60) for k in range(4)]
    assert not _off_cells(digits(125, 175, 225, 275), two_rows)
    # the first cell split in two by a 1 drawn as straight as a side, taken out as one: the
    # cells at the row's start are empty, as they may be, but are each too narrow
    split = [(100, 20, 24, 60), (124, 20, 26, 60), *cells[1:]]
    assert _off_cells(digits(175, 225, 275), split)
    assert not _off_cells(digits(175, 225, 275), [(100, 20, 30, 60), *cells[1:]])  # one narrow cell
    # a field of two cells, the second split so: its halves were the row's median width, and
    # "11" read as a sure 1 (a rendered field's cells and reading)
    assert _off_cells([Digit((44, 29, 7, 23), 0, 1, 0.99)], [(25, 29, 38, 27), (63, 29, 15, 27), (78, 29, 20, 27)])
    assert not _off_cells([Digit((44, 29, 7, 23), 0, 1, 0.99), Digit((70, 29, 7, 23), 0, 1, 0.99)],
                          [(25, 29, 38, 27), (63, 29, 35, 27)])


def test_a_side_is_taken_out_where_its_rule_came_out_in_pieces() -> None:
    """A thin rule a degree aslant comes out of the ink in pieces, each shorter than a line across,
    and a side meets one of them a pixel or two beside its end: it ends on its rule all the same
    ("4499" read "14499": the row's first side stood as a 1). A stroke between the rules is kept."""
    mask = np.zeros((100, 260), np.uint8)
    lines = np.zeros_like(mask)
    xs = [20, 70, 120, 170, 220]
    lines[16:19, 72:221] = 1  # the top rule, whole from the second box on
    lines[16:19, 22:45] = lines[16:19, 46:70] = 1  # ... and in pieces over the first, its corner lost
    lines[81:84, 20:221] = 1  # the bottom rule
    mask |= lines
    mask[16:19, 20:22] = 1  # the corner left in the ink
    for x in xs:
        mask[19:81, x] = 1
    mask[30:70, 45:48] = 1  # a digit's stroke, off the rules
    out = formlines._sides_between(mask, lines, 40.0)
    assert all(out[20:80, x].all() for x in xs), [int(out[:, x].sum()) for x in xs]
    assert not out[:, 40:50].any()


def test_a_1_as_thin_as_a_printed_line_is_no_sure_digit(mnist: dict[str, np.ndarray], clf) -> None:
    """One pen writes a number, a printer draws its form's lines: where printed lines were taken
    out, a mark read as a 1 under half as thick as the other digits is a line left standing (a
    side, a rule's end): it is left out of the reading, which is not `ok`. Without printed lines
    only a far thinner one is doubted (a faint margin's piece), and it is read: a 1 drawn thinner
    than the rest is a quick stroke, and real files have them."""
    y = mnist["y_test"]

    def page_with_line(digits: list[int], pen: int, underline: bool) -> segment.Layout:
        page = np.full((154, 60 + 78 * (len(digits) + 1)), 235, np.uint8)
        for k, d in enumerate(digits):
            ink = cv2.resize(mnist["x_test"][int(np.flatnonzero(y == d)[3])], (84, 84), interpolation=cv2.INTER_CUBIC)
            page[30:114, 20 + 78 * k:104 + 78 * k] = np.minimum(page[30:114, 20 + 78 * k:104 + 78 * k], 255 - ink)
        x = 62 + 78 * len(digits)
        cv2.line(page, (x, 38), (x, 108), 90, pen)  # a printed line, as tall as the digits
        if underline:
            cv2.line(page, (10, 118), (page.shape[1] - 10, 118), 90, 2)  # the field's
        return segment.find(page)

    def thin_doubted(lay: segment.Layout, digits: list[int]) -> bool:
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None
        assert r.text.replace(" ", "") == "".join(map(str, digits)) + ("" if lay.lined else "1"), r
        return any("thin as a printed line" in why for why in r.doubts) and not ok(r)

    for digits in ([4, 0, 7], [2, 5, 3, 8], [6, 9]):
        lined, plain = page_with_line(digits, 2, True), page_with_line(digits, 2, False)
        assert lined.lined and not plain.lined
        assert thin_doubted(lined, digits)
        assert not thin_doubted(plain, digits)
        assert thin_doubted(page_with_line(digits, 1, False), digits)


def test_on_a_page_of_sure_digits_a_line_a_fifth_of_the_pen_thick_is_left_out(mnist: dict[str, np.ndarray], clf) -> None:
    """A page of many sure digits on paper where no printed line was found: pieces of a faint grid
    no look took for one (squared paper photographed in shade) a fifth as thick as the pen are not
    read (three 1s under a page of 70 7s). They are doubted, so the page is not `ok`."""
    for seed in (1, 2):
        d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(seed), rows=4, cols=6, height=60,
                         size=(700, 700))
        page = np.vstack([d.image, np.full((150, d.image.shape[1]), int(np.median(d.image)), np.uint8)])
        for x in (200, 350, 500):
            cv2.line(page, (x, page.shape[0] - 120), (x, page.shape[0] - 70), 60, 1)  # a pixel thick
        lay = segment.find(page)
        assert len(lay.marks) == 27 and not lay.lined
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None
        assert r.text.replace(" ", "") == d.text.replace(" ", ""), (r.text, d.text)
        assert any("3 mark(s) as thin as a printed line left out" in why for why in r.doubts) and not ok(r), r.doubts


def read_as_filed(img: np.ndarray, path: Path, clf) -> Reading:
    """`img` written to `path` and read as the daemon reads a file (a page found and read whole)."""
    cv2.imwrite(str(path), img)
    r = classify([prepare(str(path), 10**8, 10**8, clf.predict, clf.calibration)], clf.predict, clf.calibration)[0]
    assert r is not None
    return r


def read_drawn(draw: Callable[[np.ndarray, np.ndarray, np.random.Generator], compose.Drawn],
               mnist: dict[str, np.ndarray], seed: int, n: int, clf, path: Path) -> list[tuple[str, str, Reading]]:
    """n pictures `draw` makes of test digits (drawn in turn from one generator seeded `seed`),
    each read as filed: the digits read and wanted (spaces left out), and the reading."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        d = draw(mnist["x_test"], mnist["y_test"], rng)
        r = read_as_filed(d.image, path, clf)
        out.append((r.text.replace(" ", ""), d.text.replace(" ", ""), r))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_words_printed_above_a_pages_grid_are_not_read_as_digits(mnist: dict[str, np.ndarray], clf,
                                                                      tmp_path: Path, seed: int) -> None:
    """A data-collection sheet prints a title, an instruction and a "Name: ____" line above its
    grid: their l, i and o read as sure 1s and 0s (4 to 9 digits more on these pages of 80, 80 to 90
    on a 600-dpi page of 600). Their lines are left out, and the page goes to review saying so."""
    for kind in ({}, {"ruled": True}, {"squared": True}):
        d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(seed), rows=8, cols=10, height=60,
                         size=(1654, 2339), header=True, **kind)  # type: ignore[arg-type]
        r = read_as_filed(d.image, tmp_path / "page.png", clf)
        got, want = r.text.replace(" ", ""), d.text.replace(" ", "")
        assert edit_distance(got, want) <= 2, (kind, got, want)
        assert any("line(s) that do not read as digits left out" in why for why in r.doubts), r.doubts


@pytest.mark.parametrize("seed", [2, 3])
def test_an_equations_exponents_are_read_after_their_bases(mnist: dict[str, np.ndarray], clf, tmp_path: Path,
                                                            seed: int) -> None:
    """Sums and equations written on one line (`compose.equation`: "7 = x² + 4", operators and a
    variable x between numbers of test digits): an exponent standing up out of the line was read
    as a line of its own, first, or dropped as a speck where it was small. Of these 60, 3 and 5
    were read with all their digits out of order on the code before (46 and 44 exact); now none
    (51 and 50 exact when this was written)."""
    read = read_drawn(compose.equation, mnist, seed, 60, clf, tmp_path / "equation.png")
    exact = sum(got == want for got, want, _r in read)
    out_of_order = sum(sorted(got) == sorted(want) and got != want for got, want, _r in read)
    assert out_of_order <= 1 and exact >= 48, (out_of_order, exact)


def test_a_bracket_bows_out_and_a_one_does_not() -> None:
    """`_bow` on 28x28 maps: a "(" bows out to the left (positive), a ")" to the right, a straight
    1 leaning as far as a 1 does not at all."""
    def drawn(points: list[tuple[int, int]]) -> np.ndarray:
        img = np.zeros((28, 28), np.float32)
        cv2.polylines(img, [np.array(points, np.int32)], False, 1.0, 2)
        return img

    arc = [(round(14 + 6 * (1 - float(np.cos(v)))), round(14 + 9 * float(np.sin(v)))) for v in np.linspace(-1.2, 1.2, 12)]
    opening = drawn(arc)  # its ends to the right of its middle
    closing = drawn([(28 - x, y) for x, y in arc])
    assert reading._bow(opening) >= 2 * reading.BRACKET_BOW
    assert reading._bow(closing) <= -2 * reading.BRACKET_BOW
    assert abs(reading._bow(drawn([(10, 4), (18, 24)]))) < reading.BRACKET_BOW / 2
    assert abs(reading._bow(np.zeros((28, 28), np.float32))) == 0.0


@pytest.mark.parametrize("seed", [1, 2])
def test_a_phone_numbers_brackets_are_not_read_as_ones(mnist: dict[str, np.ndarray], clf, tmp_path: Path,
                                                        seed: int) -> None:
    """"(555) 123-4567" (`compose.phone_number`): both brackets read as sure 1s, on the code before
    every one of these 30 numbers was read with two 1s too many (two of seed 2's `ok`). The two 1s
    that bow out away from each other round a few digits as tall as they are are brackets: left
    out, the file in review as any file with a mark that is no digit (29 and 28 of 30 exact for the
    seeds when this was written)."""
    read = read_drawn(compose.phone_number, mnist, seed, 30, clf, tmp_path / "phone.png")
    exact = sum(got == want for got, want, _r in read)
    sure_wrong = sum(got != want and not r.doubts and min(r.confidence, r.raw) >= 0.85 for got, want, r in read)
    assert exact >= 26 and sure_wrong == 0, (exact, sure_wrong)


def test_a_page_written_in_pencil_is_read_from_its_strokes_filled(mnist: dict[str, np.ndarray], clf,
                                                                   tmp_path: Path) -> None:
    """Pencil on paper's tooth, scanned at 600 dpi, leaves strokes of graphite grains, which the
    model read as no digit: on these six pages of 120 digits (plain and ruled) 40 digits were
    wrong or lost; read from the strokes with their holes filled, at most 20. A page in pen is
    read from its ink as it is (`_pencil_filled` leaves it)."""
    wrong = 0
    for seed in (1, 2, 3):
        for kind in ({}, {"ruled": True}):
            d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(seed), rows=10, cols=12,
                             height=110, size=(2480, 2600), pencil=True, **kind)  # type: ignore[arg-type]
            r = read_as_filed(d.image, tmp_path / "page.png", clf)
            wrong += edit_distance(r.text.replace(" ", ""), d.text.replace(" ", ""))
    assert wrong <= 20, wrong
    pen = normalise.ink_map(compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(1), rows=10, cols=12,
                                       height=110, size=(2480, 2600)).image.astype(np.float32) / 255.0)
    assert segment._pencil_filled(pen, 0.2) is pen


def test_a_line_of_marks_mostly_not_sure_digits_is_printed_words() -> None:
    """`_text_lines`: a line of five marks or more, under half of them sure digits and their scores
    low in the mean, is words; a line of digits with a few doubtful ones, or a short line, is not."""
    blank = np.zeros((28, 28), np.float32)
    lines = [6, 6, 4, 7]  # marks a line
    marks = [segment.Mark(ln, [segment.Piece((40 * k, 60 * ln, 20, 24), blank, 3.0)])
             for ln, n in enumerate(lines) for k in range(n)]
    conf = np.concatenate([[0.95, 0.3, 0.2, 0.4, 0.3, 0.99],  # words: "l" a sure 1, "o" a sure 0
                           [0.99, 0.6, 0.99, 0.7, 0.99, 0.5],  # digits, three of them doubtful
                           [0.2, 0.3, 0.2, 0.3],  # too short to tell
                           [0.95, 0.92, 0.3, 0.2, 0.35, 0.25, 0.3]])
    paths: list[reading.MarkPath] = [([i], [0], 1.0) for i in range(len(conf))]
    text = reading._text_lines(segment.Layout(marks), paths, conf, [bool(c >= 0.9) for c in conf])
    assert text == set(range(6)) | set(range(16, 23))


def test_on_a_page_a_flat_piece_of_a_line_is_read_down_to_the_usual_floor_only() -> None:
    """On a page of sure digits a mark of a digit's size is a digit however badly drawn, and is
    read down to the page's floor; a flat piece of a grid's line (a pixel tall) is not of a digit's
    size, and a small digit (half the height) still is."""
    blank = np.zeros((28, 28), np.float32)
    marks = [segment.Mark(k // 10, [segment.Piece((40 * (k % 10), 60 * (k // 10), 20, 24), blank, 3.0)])
             for k in range(20)]
    marks.append(segment.Mark(1, [segment.Piece((420, 70, 12, 1), blank, 1.0)]))  # a line's flat piece
    marks.append(segment.Mark(1, [segment.Piece((460, 66, 14, 12), blank, 3.0)]))  # a small 0
    floors, loose = reading._line_floors(segment.Layout(marks), [True] * 20 + [False, False], reading.PAGE_FLOOR,
                                         [0] * 22)
    assert floors == loose == [reading.PAGE_FLOOR] * 20 + [reading.NOT_A_DIGIT_BELOW, reading.PAGE_FLOOR]


def _box(x0: int, y0: int, x1: int, y1: int) -> segment.Group:
    return segment.Group(x0=x0, y0=y0, x1=x1, y1=y1, area=(x1 - x0) * (y1 - y0) // 3, labels=[1])


@pytest.mark.parametrize("name, marks", [
    # "7 = x² + 4": digits 60 high on a line at y = 100, a variable x half as high, a 2 over it
    # (nearly as tall as the x: the operators make the marks' median height small, so it is chained as a digit)
    ("7 = x² + 4", [(0, 40, 35, 100), (50, 60, 75, 80), (90, 70, 120, 100), (125, 30, 143, 56), (160, 58, 185, 83),
                    (200, 40, 235, 100)]),
    # "x² + 5x - 2 = 0": the exponent over the line's first mark, nearly as tall as the x
    ("x² + 5x - 2 = 0", [(0, 68, 32, 100), (37, 42, 59, 66), (70, 57, 95, 82), (110, 40, 145, 100),
                         (150, 68, 182, 100), (195, 67, 220, 73), (235, 40, 270, 100), (285, 62, 310, 78),
                         (325, 40, 360, 100)]),
    # "1x² - 0": the rest of the line is level with the exponent as much as with its base
    ("1x² - 0", [(43, 44, 55, 86), (63, 56, 83, 83), (89, 35, 109, 52), (133, 57, 164, 63), (187, 35, 227, 75)]),
])
def test_an_exponent_is_read_in_its_place_after_its_base(name: str, marks: list[tuple[int, int, int, int]]) -> None:
    """An exponent stands up out of its line, level with none of its marks, and was taken for a
    line of its own above and read first: "7 = x² + 4" read "2 74", and "1x² - 0" as "1"
    then "20" (the rest of the line continued the exponent's). It joins the line after its base."""
    groups = [_box(*m) for m in marks]
    lines = segment._lines(groups)
    assert len(lines) == 1, (name, [[(g.x0, g.y0) for g in ln] for ln in lines])
    assert [g.x0 for g in lines[0]] == sorted(m[0] for m in marks), name
    # the exponent is marked so: kept where it is as small as a speck, and no digit of the line's size
    assert [g.x0 for g in groups if g.raised] == [next(x0 for x0, y0, x1, y1 in marks if y0 < 45 and y1 < 70)], name


def test_a_line_above_another_is_no_exponent() -> None:
    """What makes an exponent: small beside its base, its foot in the top of the line. A second
    line of digits above the first, starting just after one of the first's digits, stays a line;
    so does a digit as tall as its neighbours written higher than them."""
    lower = [_box(40 * k, 100, 40 * k + 30, 140) for k in range(4)]
    upper = [_box(156 + 40 * k, 52, 186 + 40 * k, 92) for k in range(3)]  # 8 pixels above, just after the last
    lines = segment._lines(lower + upper)
    assert [[g.x0 for g in ln] for ln in lines] == [[156, 196, 236], [0, 40, 80, 120]]
    stepped = [_box(0, 100, 30, 160), _box(40, 100, 70, 160), _box(80, 52, 110, 112), _box(120, 52, 150, 112)]
    assert len(segment._lines(stepped)) == 2


def test_a_sheet_in_two_blobs_is_looked_at_with_its_shade_followed() -> None:
    """Marks that each hold a good share of the picture and nearly all its ink between them are
    blobs (a photographed sheet's lit corner joining its upper rows, its rules holding the lower
    ones together), two as much as one; a page of many small marks is not."""
    def group(x0: int, y0: int, x1: int, y1: int, area: int) -> segment.Group:
        return segment.Group(x0=x0, y0=y0, x1=x1, y1=y1, area=area, labels=[1])

    pixels = 512 * 391
    two = [group(60, 51, 329, 210, 17002), group(62, 217, 343, 436, 10621)]
    assert segment._blobs(two, pixels) and not segment._one_blob(two, pixels)
    many = [group(10 * k, 0, 10 * k + 8, 10, 40) for k in range(300)]
    assert not segment._blobs(many, pixels)


def test_a_shades_specks_are_cleared_by_the_paper_followed_into_it() -> None:
    """Where the max filter carries a sheet's lit paper into a soft shade, the shade is read as
    specks of ink; the paper followed into the shade clears them. Specks in both ink maps (a
    noisy scan's) are the writing's own, and a few specks are no shade."""
    marks = [segment.Group(x0=60 * k, y0=40, x1=60 * k + 30, y1=80, area=500, labels=[1]) for k in range(6)]
    writing = np.zeros((200, 400), np.uint8)
    for k in range(6):
        writing[40:80, 60 * k + 12:60 * k + 18] = 1  # six strokes a digit tall
    shade = writing.copy()
    shade[120:200:6, 0:400:6] = 1  # a band of specks, each a pixel
    assert segment._shade_specked(shade, writing, marks)
    assert not segment._shade_specked(shade, shade, marks)  # the same specks either way: the picture's own
    few = writing.copy()
    few[150, 0:60:6] = 1  # ten specks
    assert not segment._shade_specked(few, writing, marks)


def test_notes_photographed_in_a_soft_shade_have_every_digit_found(mnist: dict[str, np.ndarray]) -> None:
    """Notes (`compose.note`) photographed with the light falling off and a shadow over part of
    the sheet: as many marks as digits in 24 of 25 (21 before the shade's specks were cleared:
    digits joined to them, or lost with them as background)."""
    rng = np.random.default_rng(12)
    right = 0
    for _ in range(25):
        d = compose.note(mnist["x_test"], mnist["y_test"], rng)
        right += len(segment.find(d.image).marks) == len(d.text.replace(" ", ""))
    assert right >= 23  # measured 24


def test_a_soft_shadows_edge_over_thin_digits_is_no_background_that_takes_them() -> None:
    """Thin digits on paper with a shadow's soft edge across them, no table in the picture: the
    max filter's paper makes the edge a band of specks, which joined into a blob left out as
    background with two of the four digits inside ("7811" found as two marks). Where the paper
    followed into the shadow leaves no such blob, the picture is read with it."""
    rng = np.random.default_rng(17)
    h, w = 170, 240
    ink = np.zeros((h, w), np.uint8)
    text = "".join(str(d) for d in rng.integers(0, 10, 4))
    for k, ch in enumerate(text):
        cv2.putText(ink, ch, (15 + 55 * k, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 255, 2)
    paper = np.where(ink > 0, 60.0, 238.0).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    edge = (np.cos(a) * (xx - w / 2) + np.sin(a) * (yy - h / 2)) / w - rng.uniform(-0.2, 0.2)
    light = 1 - rng.uniform(0.3, 0.5) / (1 + np.exp(-edge * rng.uniform(8, 30)))
    photo = np.clip(paper * light + rng.normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    saved = np.asarray(cv2.imdecode(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 85])[1],
                                    cv2.IMREAD_GRAYSCALE))
    assert text == "7811"
    assert len(segment.find(saved).marks) == 4


def test_a_1_drawn_as_tall_as_its_cell_is_no_side_read_ok(mnist: dict[str, np.ndarray], clf) -> None:
    """A 1 drawn straight from the top of its cell to the bottom is taken out with the sides:
    the reading that lost it is not `ok`."""
    y = mnist["y_test"]
    page = _boxes_side_by_side(mnist, [int(np.flatnonzero(y == d)[3]) for d in (4, 0, 7)], 48, 56)
    page[36:84, 20 + 48 + 5:20 + 2 * 48 - 5] = 235  # the middle cell's 0 rubbed out
    cv2.line(page, (20 + 48 + 24, 33), (20 + 48 + 24, 84), 60, 3)  # a 1 as straight and tall as the sides
    r = read([segment.find(page)], clf.predict, clf.calibration)[0]
    assert r is not None
    assert r.text.replace(" ", "") == "417" or not ok(r), (r.text, r.doubts)


def test_boxes_printed_thin_and_light_are_taken_out_where_they_fall_apart(mnist: dict[str, np.ndarray]) -> None:
    """A form's boxes drawn a pixel or two thin and light break into dashes on the ink threshold
    once the picture is scaled down to be read; the pieces of their sides were marks, read as 1s
    ("3816209" read "31581516121091"). They hold together on the lower threshold, and are found there."""
    rng = np.random.default_rng(22)
    whole = dashes = 0
    for _ in range(150):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, field="cells")
        marks = [m.pieces[0].box for m in segment.find(d.image).marks]
        whole += len(marks) == len(d.text)
        dashes += sum(6 * w < h for _x, _y, w, h in marks)  # far thinner than any digit drawn here
    assert dashes <= 3  # measured 1; 22 before
    assert whole >= 144  # a mark for each digit: measured 146; 140 before


def _notebook(mnist: dict[str, np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Five test digits on a notebook's ruled paper (rules and a margin's line printed a third as
    dark as the pen, with a photo's speckle), hanging across a rule by half their height: the
    picture and where each digit was drawn (x, y, w, h)."""
    rng = np.random.default_rng(12)
    ink = np.zeros((300, 520), np.float32)
    rule, step = 190, 56
    drawn = []
    for k in range(5):
        digit = cv2.resize(mnist["x_test"][k], (64, 64), interpolation=cv2.INTER_CUBIC)
        ys, xs = np.nonzero(digit > 60)
        digit = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255
        h, w = digit.shape
        x0, y0 = 90 + 80 * k, rule - h // 2 - 3
        np.maximum(ink[y0:y0 + h, x0:x0 + w], digit, out=ink[y0:y0 + h, x0:x0 + w])
        drawn.append((x0, y0, w, h))
    for y in range(rule % step, 300, step):
        np.maximum(ink[y:y + 2], 0.3, out=ink[y:y + 2])
    np.maximum(ink[:, 40:42], 0.3, out=ink[:, 40:42])  # the margin
    grey = 0.92 - 0.85 * ink + rng.normal(0, 0.03, ink.shape)
    return (np.clip(grey, 0, 1) * 255).astype(np.uint8), drawn


def test_digits_written_across_a_notebooks_rules_keep_their_strokes(mnist: dict[str, np.ndarray]) -> None:
    # a digit crossing a rule was cut in two along it: squared paper's strokes were put back
    # across its lines, a ruled page's were not (11 marks for these 5 digits)
    page, drawn = _notebook(mnist)
    marks = [m.pieces[0].box for m in segment.find(page).marks]
    assert len(marks) == len(drawn)
    for (x, y, w, h), (dx, dy, dw, dh) in zip(marks, drawn, strict=True):
        assert abs(x - dx) <= 3 and w >= dw - 4  # the digit, not a piece of it or of the margin
        assert abs(y - dy) <= 3 and h >= dh - 4  # whole, top to bottom


def test_numbers_on_a_notebooks_ruled_paper_are_read_and_no_wrong_reading_is_ok(
        mnist: dict[str, np.ndarray], clf) -> None:
    # the margin's line, cut into pieces by the rules taken out across it, was read as 1s:
    # 34 of these 40 were read exactly, and one wrong reading was ok
    got = numbers_read(mnist, clf, 14, 40, field="plain", touching=False, paper="ruled")
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= 36  # measured 39
    assert not any(silent(r, want) for want, r in got)


def test_digits_touching_a_notebooks_rules_and_margin_are_read_as_digits(mnist: dict[str, np.ndarray], clf) -> None:
    # where the digits touch the rules and the rules the margin, the ink is one net as tall as
    # the picture: the digits' height was taken for the picture's, no rule was long enough to be
    # taken out, and the whole was read as one digit ("5979" read "2") or as none. `make_sets`'
    # numbers-ruled (seed 8): fifteen such numbers, drawn again here; the last seven on a sheet a
    # few degrees aslant, whose rules run level only once it is turned
    nets = {55, 331, 364, 666, 737, 759, 827, 988, 104, 472, 710, 750, 823, 867, 929}
    got = drawn_again(mnist, clf, 8, nets, field="plain", paper="ruled")
    assert all(r is not None and len(r.digits) >= 2 for _t, r in got)
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) == len(nets)  # none before


def test_a_notebooks_net_is_found_turned_level_or_under_a_degree_aslant(mnist: dict[str, np.ndarray], clf) -> None:
    # the same net of rules and margin holding the digits together (read as no digit at all):
    # on a sheet turned level, whose canvas has paper round the ink, so that the net looked less
    # tall than the picture, and with rules 1 px thin under a degree aslant, which have no
    # straight run across half the picture. `make_sets`' numbers-ruled (seed 8), drawn again
    nets = {412, 450, 480, 871}
    got = drawn_again(mnist, clf, 8, nets, field="plain", paper="ruled")
    assert all(r is not None and not silent(r, t.replace(" ", "")) for t, r in got)
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) == len(nets)  # none before


def test_digits_hanging_on_one_rule_are_measured_without_it(mnist: dict[str, np.ndarray], clf) -> None:
    # digits standing on one rule are one mark with it, left out of the digits' height as a line;
    # with the other rules apart, specks were measured (1-3 px), and every run across a digit's
    # width was taken out as a rule ("51330" read "513", "43" as no digit). Measured again without
    # that rule. `make_sets`' numbers-ruled (seed 8), drawn again
    hung = {306, 426, 583, 839}
    got = drawn_again(mnist, clf, 8, hung, field="plain", paper="ruled")
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) == len(hung)  # none before


def test_strokes_lying_along_a_notebooks_rules_are_put_back(mnist: dict[str, np.ndarray], clf) -> None:
    # a digit's stroke lying on a rule printed lighter than the pen made one run with it, too
    # thick to count among the thin lines whose darker ink is put back as writing: the stroke went
    # with the rule ("859862" read "85987", "4014777" as "4017777", "367" as "7 3").
    # `make_sets`' numbers-ruled (seed 8), drawn again
    along = {287, 333, 532, 559}
    got = drawn_again(mnist, clf, 8, along, field="plain", paper="ruled")
    assert all(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got)  # none before


def test_a_rule_whose_core_is_darker_than_its_edges_is_not_put_back_as_writing() -> None:
    """Ink on a notebook's rules is put back as writing where it is darker than the rules' own
    ink. Their level was the median over the line pixels, blurred edges included: a rule drawn
    dark at its middle (0.8 here, edges 0.35) then sat over the midpoint to the pen, and was put
    back whole, joining each row's digits into one mark (a 600-dpi ruled page decoded at half its
    size: 901 of 1,250 digits found). A stroke lying along the rule is still put back."""
    h, w, t = 300, 900, 0.24
    ink = np.zeros((h, w), np.float32)
    rules = range(40, h, 60)
    for y in rules:
        ink[y - 1, :] = ink[y + 1, :] = 0.35  # the blurred edges
        ink[y, :] = 0.8  # the rule's core
    for k, x in enumerate(range(60, w - 60, 80)):  # digit-like strokes standing on the rules
        y = rules[k % len(rules)]
        ink[y - 40:y + 1, x:x + 4] = 1.0
    ink[100 - 1:100 + 2, 400:440] = 1.0  # a stroke lying along the rule at y=100
    mask = (ink > t).astype(np.uint8)
    left, taken = formlines.lines_out(mask, 40.0)
    assert taken[1].any()  # the rules are thin lines across
    back = formlines.crossings_back(ink, mask, left, taken).view(bool)
    for y in rules:
        lone = back[y, :].copy()
        lone[400:440] = False
        assert np.count_nonzero(lone) < 0.1 * w, y  # the rule is not writing (the whole row before)
    assert np.count_nonzero(back[100, 400:440]) >= 30  # the stroke along it is


def test_a_7s_long_bar_is_no_printed_line(mnist: dict[str, np.ndarray], clf) -> None:
    # a 7 drawn with a bar 1.6 digit heights long had its bar taken out as a printed line and was
    # read as a 1 ("7076" read "1076", "30237" read "30231"). A short run across with no ink above
    # it and a stroke down from one end only is a digit's bar. `make_sets`' numbers-photo (seed 7)
    got = drawn_again(mnist, clf, 7, {115, 422}, photo="any")
    assert [t for t, _ in got] == ["7076", "30237"]
    assert all(r is not None and r.text == t for t, r in got)  # neither before
    # an underline, a box's top and a comb's base are still taken out (`segment.find` on drawn ones)
    assert _lined_marks("7345", 90, lambda img: cv2.rectangle(img, (25, 25), (300, 115), 0, 2)) == 4


def _lined_marks(text: str, base: int, draw: Callable[[np.ndarray], object]) -> int:
    """The marks `segment.find` leaves of `text` drawn at baseline `base` with `draw`'s lines,
    when it took lines out (-1 when it took none)."""
    img = np.full((140, 420), 255, np.uint8)
    cv2.putText(img, text, (40, base), cv2.FONT_HERSHEY_SIMPLEX, 2.4, 0, 5)
    draw(img)
    lay = segment.find(img)
    return len(lay.marks) if lay.lined else -1


def test_a_flag_run_into_the_next_digits_top_is_no_box(mnist: dict[str, np.ndarray], clf) -> None:
    # a 5's flag or a 7's bar run long into the next digit's top has a stroke down from both ends,
    # as a box's top has its sides: it was taken out as a printed line and the digit lost
    # ("52421709" read "5421709", "397057" as "397007"). A box's top has a straight side down
    # from one end at least; the pen's strokes curve. `make_sets`' numbers (seed 1) and
    # numbers-ruled (seed 8), drawn again
    got = drawn_again(mnist, clf, 1, {546}) + drawn_again(mnist, clf, 8, {447}, field="plain", paper="ruled")
    assert [t for t, _ in got] == ["52421709", "397057"]
    assert all(r is not None and r.text == t for t, r in got)  # neither before
    # a row of boxes drawn against each other, a digit touching a top (its run stops at the digit,
    # one end on a side), and a box round a number are still taken out
    img = np.full((160, 460), 255, np.uint8)
    for x in (40, 130, 220):
        cv2.rectangle(img, (x, 30), (x + 90, 130), 0, 2)
    for x, ch in ((55, "3"), (145, "1"), (235, "9")):
        cv2.putText(img, ch, (x, 118), cv2.FONT_HERSHEY_SIMPLEX, 2.8, 0, 6)
    cv2.line(img, (262, 31), (262, 50), 0, 6)  # the 9's stroke up into its box's top
    lay = segment.find(img)
    assert lay.lined and len(lay.marks) == 3
    box = np.zeros((140, 200), np.uint8)
    cv2.rectangle(box, (40, 40), (140, 110), 1, 2)
    assert not formlines._bar_of_a_digit(box, 40, 40, 101, 2, 50.0)
    # the same top with a pen's curves down from its ends is a digit's
    bar = np.zeros((140, 200), np.uint8)
    cv2.line(bar, (40, 40), (140, 40), 1, 2)
    cv2.ellipse(bar, (55, 60), (15, 20), 0, 180, 300, 1, 4)
    cv2.ellipse(bar, (125, 60), (15, 20), 0, 240, 360, 1, 4)
    assert formlines._bar_of_a_digit(bar, 40, 40, 101, 2, 50.0)


def test_a_bar_drawn_long_across_strokes_is_no_printed_line(mnist: dict[str, np.ndarray], clf) -> None:
    # a 4's bar or a 7's hooked bar drawn long into the next digit has ink above and below it: it
    # was taken out as an underline or a box's bottom, and the digit lost or misread ("42482"
    # read "72482", "454433" as "454533", "12127" as "1212"). `make_sets`' numbers-photo
    # (seed 7) and numbers (seed 1), drawn again
    got = drawn_again(mnist, clf, 7, {19}, photo="any") + drawn_again(mnist, clf, 1, {63, 272})
    assert [t for t, _ in got] == ["42482", "454433", "12127"]
    assert all(r is not None and r.text == t for t, r in got)  # none before
    # an underline under digits (ink above it, none below) is still taken out
    assert _lined_marks("3859", 95, lambda img: cv2.line(img, (30, 108), (300, 108), 0, 2)) == 4


def test_a_row_of_cells_a_few_degrees_aslant_is_read_as_its_digits(mnist: dict[str, np.ndarray], clf) -> None:
    # a row of cells three degrees aslant is a staircase of short runs, no line: with its digits
    # inside it was one mark round the single-digit reader's digit, and the file was read as that
    # digit ("101" read "0", to review). `make_sets`'
    # numbers-cells-touching (seed 10), drawn again
    got = drawn_again(mnist, clf, 10, {503, 871}, field="cells", cells_gap=(0.0, 0.15))
    assert [t for t, _ in got] == ["101", "102"]
    assert all(r is not None and r.text == t for t, r in got)  # neither before


def test_a_1_as_tall_as_its_cell_in_a_row_of_boxes_is_kept(mnist: dict[str, np.ndarray], clf) -> None:
    # in a row of boxes printed against each other, every upright run as tall as the row was
    # taken out as a side, and a 1 touching its cell's top and bottom is one: it was lost
    # ("71573174" read "7573174", "613111" as "6131"). Only runs near the sides found go now; the
    # second's boxes stand a few pixels apart, and the sides beside those found go too (had they
    # stayed, they would read as 1s). `make_sets`' numbers-cells-touching (seed 10), drawn again
    got = drawn_again(mnist, clf, 10, {315, 552}, field="cells", cells_gap=(0.0, 0.15))
    assert [t for t, _ in got] == ["71573174", "613111"]
    assert all(r is not None and r.text == t for t, r in got)  # neither before
    # the runs kept as sides: at the walls and just beside them, not halfway across a cell
    inner = np.zeros((60, 200), np.uint8)
    for x in (0, 98, 104, 150, 198):
        inner[:, x:x + 2] = 1
    sides = formlines._at_walls(inner, [0, 99, 199])
    assert [bool(sides[x]) for x in (0, 98, 104, 150, 198)] == [True, True, True, False, True]
    # the sides are those at one pitch: a 9's stem found between them is none, and the greedy
    # walk took it for one and left the next side standing ("7599" read "75919")
    assert formlines._walls(_runs_at(51, 188, [1, 44, 48, 91, 95, 120, 138, 142, 185]), 4) == [0, 48, 95, 142, 188]
    assert formlines._evenly([40, 150], 200, 50) is None  # boxes of different widths: no pitch


def _runs_at(ch: int, cw: int, cols: list[int]) -> np.ndarray:
    """Upright runs as tall as `ch`, two pixels wide, starting at `cols`."""
    inner = np.zeros((ch, cw), np.uint8)
    for x in cols:
        inner[:, x:x + 2] = 1
    return inner


def test_a_1_pressed_into_its_neighbour_in_a_narrow_mark_is_cut_off(mnist: dict[str, np.ndarray], clf) -> None:
    # a 1 drawn against a 6 or a 4 makes one mark narrower than a digit is tall, which was never
    # offered cuts: it was read as the other digit alone ("616523" read "66523", "94314541" read
    # "9431454"). A mark from `segment.CUT_OFFER` wide that reads badly is now cut. `make_sets`'
    # numbers (seed 1) and numbers-ruled (seed 8), drawn again
    got = drawn_again(mnist, clf, 1, {58, 715}) + drawn_again(mnist, clf, 8, {414, 566, 917}, field="plain",
                                                               paper="ruled")
    assert all(r is not None and not silent(r, t.replace(" ", "")) for t, r in got)
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) == 5  # none before


def test_a_leaning_stroke_broken_across_is_one_digit(mnist: dict[str, np.ndarray], clf) -> None:
    # a 1 or a 7 leaning far whose stroke breaks (a faint pen, a photo's light): its halves, one
    # just above the other, overlap by less than half their width and were read as marks of
    # their own ("18" read "1 18", "758771" read "758171"). `make_sets`' numbers (seed 1) and
    # numbers-photo (seed 7), drawn again
    got = drawn_again(mnist, clf, 1, {48}) + drawn_again(mnist, clf, 7, {73, 151, 177}, photo="any")
    assert all(r is not None and not silent(r, t.replace(" ", "")) for t, r in got)
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) == 4  # none before


def test_a_bent_cut_parts_two_digits_leaning_into_each_other() -> None:
    # two strokes leaning alike, the second's foot under the first's head: every straight column
    # between them crosses ink, a path down the gap crosses none
    sel = np.zeros((40, 40), bool)
    for y in range(40):
        sel[y, 20 - y // 4: 23 - y // 4] = True  # leans right: its top at column 20, its foot at 10
        sel[y, 28 - y // 4: 31 - y // 4] = True
    paths = cuts.paths(sel, [0, 20, 40], 40.0)
    assert sel[:, 20].sum() > 0  # the straight cut crosses a stroke
    assert [list(p) for p in paths[[0, -1]]] == [[0] * 40, [40] * 40]  # the mark's sides stay
    straight, bent = [p for p in paths[1:-1] if len(set(p)) == 1], [p for p in paths[1:-1] if len(set(p)) > 1]
    assert len(straight) == 1 and len(bent) == 1  # both offered
    assert sel[np.arange(40), bent[0]].sum() == 0  # the bent one crosses no ink
    left = np.arange(40)[None, :] < bent[0][:, None]
    assert (sel & left).sum() == (sel & ~left).sum() == 40 * 3  # one stroke each side
    assert len(cuts.paths(sel, [0, 20, 40], 40.0, bent=False)) == 3  # a page's: straight only
    # a candidate in a gap is not bent
    gap = np.zeros((40, 40), bool)
    gap[:, 5:10] = gap[:, 30:35] = True
    assert len(cuts.paths(gap, [0, 20, 40], 40.0)) == 3


def test_touching_digits_leaning_into_each_other_are_cut_along_their_gap(mnist: dict[str, np.ndarray],
                                                                          clf) -> None:
    # a straight cut took a stroke of each ("7744792" read "7744292", "6115059" read "415059"):
    # the bent cuts beside them read these right. `make_sets`' numbers-touching (seed 1), drawn again
    mended = {90, 158, 227, 238, 334, 365, 410, 618, 724}
    got = drawn_again(mnist, clf, 1, mended, touching=True)
    assert all(r is not None and not silent(r, t.replace(" ", "")) for t, r in got)
    # 9 of 9 with the model before the 50th pass; with its model "7744792" reads "7744292", in
    # review (the bent cut is taken, and its 9 piece read a doubtful 2)
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) >= len(mended) - 1


def test_a_bold_underline_touched_by_its_digits_is_taken_out(mnist: dict[str, np.ndarray], clf) -> None:
    # an underline with its ends turned up, drawn as thick as the pen and touched by the digits,
    # was kept with them as one mark: "282" read as no digit, "63485" as "6315". It is more than
    # twice as long as a digit is tall, and `formlines.LINE_ASPECT` times as long as it is thick.
    # `make_sets`' numbers (seed 1), drawn again
    got = drawn_again(mnist, clf, 1, {336, 875})
    assert [t for t, _ in got] == ["63485", "282"]
    assert all(r is not None and r.text.replace(" ", "") == t for t, r in got)  # neither before


def test_a_5_whose_flag_stands_apart_is_one_digit(mnist: dict[str, np.ndarray], clf) -> None:
    # a 5's flag drawn apart is short and flat: it was left out as a dash, and the 5's body read
    # as a 3 or a 7 ("87125" read "87123", "22553" read "22753"). A dash high beside the digit
    # before it is offered joined with it. `make_sets`' numbers-cells (seed 6) and
    # numbers-cells-touching (seed 10), drawn again
    got = drawn_again(mnist, clf, 6, {130}, field="cells") + drawn_again(mnist, clf, 10, {72}, field="cells",
                                                                          cells_gap=(0.0, 0.15))
    assert all(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got)  # neither before
    # a dash at the middle of its line (a minus) is still no digit, and no part of one
    img = np.full((120, 400), 255, np.uint8)
    cv2.putText(img, "5", (40, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.5, 0, 6)
    cv2.line(img, (120, 62), (170, 62), 0, 6)
    cv2.putText(img, "3", (200, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.5, 0, 6)
    lay = segment.find(img)
    assert not lay.flags and len(lay.rejected) == 1


def test_a_badly_drawn_digit_in_its_cell_or_a_leaning_1_is_read_among_sure_digits(mnist: dict[str, np.ndarray],
                                                                                   clf) -> None:
    # a digit that reads badly whole, wide enough to be offered cuts, was left out among a line of
    # sure digits ("691874" in boxes printed against each other read "69174"): when it stands in
    # one of the form's cells, it is read (to review). `make_sets`' numbers-cells-touching (seed
    # 10): nine such numbers, drawn again here
    lost = {202, 269, 279, 358, 417, 446, 722, 890, 973}
    got = drawn_again(mnist, clf, 10, lost, field="cells", cells_gap=(0.0, 0.15))
    assert all(r is not None and not ok(r) for _t, r in got)
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) >= 8  # measured 9, none before
    # one stroke leaning far is a 1's; a "+" of the same size, or a 7, is not one stroke
    lean, plus, seven = (np.zeros((28, 28), np.float32) for _ in range(3))
    cv2.line(lean, (8, 24), (20, 4), 1.0, 3)
    cv2.line(plus, (4, 14), (24, 14), 1.0, 3)
    cv2.line(plus, (14, 4), (14, 24), 1.0, 3)
    cv2.line(seven, (5, 5), (22, 5), 1.0, 3)
    cv2.line(seven, (22, 5), (11, 24), 1.0, 3)
    assert reading._one_stroke(lean, reading.LINE_ONE_STROKE)
    assert not reading._one_stroke(plus, reading.LINE_ONE_STROKE)
    assert not reading._one_stroke(seven, reading.LINE_ONE_STROKE)
    cells = [(0, 0, 50, 60), (50, 0, 50, 60)]
    assert reading._in_a_cell((60, 10, 35, 45), cells)
    assert not reading._in_a_cell((40, 10, 35, 45), cells[:1])  # one box round a number holds all its digits


def test_a_bold_or_z_shaped_digit_no_cut_reads_is_read_among_sure_digits(mnist: dict[str, np.ndarray],
                                                                         clf) -> None:
    # a digit as wide as the digits are tall that reads badly whole and through every cut (a bold
    # 8 or 2, a 2 drawn like a Z) was left out of a line of sure digits ("3386" read "336"). Read
    # whole as another digit than 1 and drawn with the line's pen, it is read now (to review); a
    # notebook's faint margin crossing a rule is not (`test_a_faint_margin_and_rules_...`).
    # `make_sets`' mixed numbers (seed 1): three such numbers, drawn again here
    got = drawn_again(mnist, clf, 1, {323, 503, 788}, touching=None)
    assert all(r is not None and not ok(r) and len(r.digits) == len(t.replace(" ", "")) for t, r in got)
    # "3386" and "6708" read right; the Z-shaped 2 of "2200" reads as a 7
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) >= 2  # none before


def test_a_faint_margin_and_rules_falling_apart_are_no_digits(mnist: dict[str, np.ndarray], clf) -> None:
    # a notebook's margin and rules printed too light to be taken out whole leave thin pieces on
    # the ink threshold: the margin's were read as 1s ("84478" read "1 184478 1"), and with the
    # rules' a line's digits were lost. `make_sets`' numbers-ruled (seed 8): eleven such numbers,
    # drawn again here
    faint = {95, 97, 202, 207, 428, 468, 484, 682, 767, 777, 970}
    got = drawn_again(mnist, clf, 8, faint, field="plain", paper="ruled")
    assert all(r is not None and not silent(r, t.replace(" ", "")) for t, r in got)
    # every digit found and no piece of a line read as one: all read right but 202, whose 4 a bent
    # cut (`cuts.paths`) reads as a 1, to review ("4810169")
    assert all(r is not None and len(r.digits) == len(t.replace(" ", "")) for t, r in got)
    assert sum(r is not None and r.text.replace(" ", "") == t.replace(" ", "") for t, r in got) >= len(faint) - 1  # none before


def test_pieces_of_a_faint_line_are_told_from_thin_strokes() -> None:
    """`formlines.dashed_lines`: thin pieces in a row down (or across) most of the picture are a
    printed line's; a thin stroke alone, or the strokes of a fine pen, are not."""
    img = np.zeros((300, 400), np.uint8)
    for x in (120, 200, 280):  # three digits drawn with a pen 7 px wide
        cv2.ellipse(img, (x, 150), (22, 34), 0, 0, 360, 1, 7)
    for y in range(10, 290, 40):  # a margin 1 px wide, broken every 40 px, a little aslant
        cv2.line(img, (40 + y // 60, y), (40 + y // 60, y + 22), 1, 1)
    cv2.line(img, (340, 130), (340, 170), 1, 1)  # one thin stroke alone
    n, _lab, st = formlines.components(img)
    st = st[1:]
    keep = np.arange(n - 1)
    gone = set(formlines.dashed_lines(st, keep, 68.0, img.shape).tolist())
    margin = {i for i in keep.tolist() if st[i, 0] < 60}
    assert margin and gone == margin
    fine = np.zeros_like(img)  # the same drawn with a fine pen: nothing is a line's
    for x in (120, 200, 280):
        cv2.ellipse(fine, (x, 150), (22, 34), 0, 0, 360, 1, 1)
    for y in range(10, 290, 40):
        cv2.line(fine, (40, y), (40, y + 22), 1, 1)
    n, _lab, st = formlines.components(fine)
    assert len(formlines.dashed_lines(st[1:], np.arange(n - 1), 68.0, fine.shape)) == 0


def test_a_digit_filling_its_picture_keeps_its_bar() -> None:
    # one straight bar across a digit as tall as its picture is no notebook's rule (a 4 read 0)
    img = np.full((88, 70), 255, np.uint8)
    cv2.line(img, (30, 4), (6, 50), 0, 8)
    cv2.line(img, (6, 50), (66, 40), 0, 8)
    cv2.line(img, (38, 4), (48, 84), 0, 8)
    assert segment._net_height((img < 128).view(np.uint8), 86.0) == 86.0


def test_what_is_left_of_a_rule_is_no_stroke_of_the_digits_above_it() -> None:
    """A long thin bar a little under a line of digits (a box's side drawn a degree aslant,
    part of it left when the rules came out) is not joined to the digits as one mark; a 5's
    flag just above its body, short and as thin, still is."""
    med = 48.0
    #            a 3's body          the remnant, 17 px under it   a 5's body   its flag, 6 px above
    x0 = np.array([100, 36, 300, 305])
    y0 = np.array([54, 115, 60, 44])
    x1 = np.array([135, 345, 335, 338])
    y1 = np.array([98, 117, 104, 50])
    pairs = {tuple(sorted(p)) for p in segment._stacked(x0, y0, x1, y1, med)}
    assert (2, 3) in pairs  # the flag joins its 5
    assert not any(1 in p for p in pairs)  # the remnant joins nothing


def test_a_flag_between_two_digits_joins_one_of_them_not_both() -> None:
    """A 5 whose flag stands apart from its body, just under the 0 of the line above (a grid of
    digits photographed a few degrees off): each pair of strokes is a digit high, but the three
    together are two digits high. The flag joins its nearer neighbour, its body, and the two
    lines read in their order ("01 56" had been read "5 6 1": one mark two digits high)."""
    img = np.full((260, 300), 255, np.uint8)
    cv2.ellipse(img, (70, 70), (18, 30), 0, 0, 360, 0, 4)  # 0
    cv2.line(img, (170, 40), (170, 100), 0, 4)  # 1
    cv2.line(img, (56, 112), (92, 110), 0, 4)  # the 5's flag, 8 px under the 0 and 4 px over its body
    cv2.line(img, (58, 120), (56, 140), 0, 4)  # the 5's body
    cv2.ellipse(img, (68, 155), (18, 16), 0, -150, 150, 0, 4)
    cv2.ellipse(img, (172, 155), (17, 17), 0, 0, 360, 0, 4)  # 6
    cv2.line(img, (156, 150), (176, 112), 0, 4)
    lay = segment.find(img)
    lines: dict[int, list[tuple[int, int, int, int]]] = {}
    for m in lay.marks:
        lines.setdefault(m.line, []).append(m.pieces[0].box)
    assert sorted(len(v) for v in lines.values()) == [2, 2]
    top, below = sorted(lines.values(), key=lambda v: v[0][1])
    assert [b[0] < 120 for b in top] == [True, False] and [b[0] < 120 for b in below] == [True, False]
    zero, five = top[0], below[0]
    assert zero[1] + zero[3] < 106  # the 0 alone
    assert five[1] <= 110 and five[1] + five[3] >= 165  # the 5 with its flag


def test_a_frame_round_marks_is_dropped_however_many_marks_the_page_holds() -> None:
    """A mark enclosing two others (a box round a field), or one other while three times wider
    than tall, is no digit; the marks it encloses are. Checked on a page of 600 marks, the
    frames among the last (the marks are compared a block of 256 at a time)."""
    grid = [segment.Group(60 * c, 80 * r, 60 * c + 40, 80 * r + 60, [1], 900) for r in range(30) for c in range(20)]
    a, b = grid[580], grid[581]  # side by side on the last row
    frame = segment.Group(a.x0 - 5, a.y0 - 5, b.x1 + 5, b.y1 + 5, [2], 400)
    speck = segment.Group(20, 2430, 30, 2440, [3], 50)  # below the last row
    bar = segment.Group(0, 2420, 200, 2450, [4], 300)  # round it, over three times wider than tall
    ring = segment.Group(2000, 0, 2040, 60, [5], 800)  # a bold 0 right of the grid ...
    dot = segment.Group(2015, 25, 2025, 35, [6], 60)  # ... round a speck
    box = segment.Group(grid[10].x0 - 4, grid[10].y0 - 4, grid[10].x1 + 4, grid[10].y1 + 4, [7], 230)
    kept, boxed = segment._drop_frames([*grid, speck, frame, bar, ring, dot, box])
    assert boxed
    assert frame not in kept  # two marks inside
    assert bar not in kept  # one inside, and wide
    assert ring in kept  # one inside and no wider than a digit: a 0 round a speck
    assert box not in kept  # one digit inside, drawn with a line a quarter as thick: a printed box
    assert kept == [*grid, speck, ring, dot]


def test_a_digit_in_a_box_too_small_for_lines_is_read_as_a_field(mnist: dict[str, np.ndarray], clf) -> None:
    # a field's box little bigger than its digits, its sides too short to be taken out as lines:
    # the box was read with the digits as one digit ("10" read "6", "47" read "4").
    # `make_sets`' fields-short (seed 11), two files
    boxed = {619: "10", 724: "47"}
    got = drawn_again(mnist, clf, 11, set(boxed), kind="field")
    assert [t for t, _r in got] == [boxed[k] for k in sorted(boxed)]
    assert all(r is not None and r.text == t for t, r in got)  # none before


def test_spaced_numbers_are_read_and_no_wrong_reading_is_ok(mnist: dict[str, np.ndarray], clf) -> None:
    got = numbers_read(mnist, clf, 7, 60, field="plain", touching=False)
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= 0.8 * len(got)
    assert not any(silent(r, want) for want, r in got)


def _with_a_wide_digit(mnist: dict[str, np.ndarray], i: int, stretch: float) -> np.ndarray:
    """A 4, test digit `i` drawn `stretch` times as wide, and a 1, spaced, as a scan (black on white)."""
    y = mnist["y_test"]
    parts = []
    for k in (int(np.flatnonzero(y == 4)[0]), i, int(np.flatnonzero(y == 1)[0])):
        d = mnist["x_test"][k]
        ys, xs = np.nonzero(d > 30)
        d = d[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        if k == i:
            d = cv2.resize(d, (round(d.shape[1] * stretch), d.shape[0]), interpolation=cv2.INTER_LINEAR)
        parts.append(d)
    canvas = np.zeros((max(p.shape[0] for p in parts) + 20, sum(p.shape[1] + 10 for p in parts) + 10), np.uint8)
    x = 10
    for p in parts:
        canvas[10:10 + p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + 10
    return 255 - cv2.resize(canvas, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)


def test_a_wide_digit_read_whole_is_ok_and_a_mark_as_wide_as_two_goes_to_review(
        mnist: dict[str, np.ndarray], clf) -> None:
    """A 0 or a 5 drawn wide (1.2-1.45 times as wide as tall) is one digit, as handwriting often
    has it: the file is ok (before the seventeenth pass it went to review). Drawn 1.75-1.85
    times as wide, a mark read as one digit may hide two: the file goes to review."""
    for i in (3, 10, 13, 15, 23, 45):  # test 0s and 5s
        r = read([segment.find(_with_a_wide_digit(mnist, i, 1.6))], clf.predict, clf.calibration)[0]
        want = f"4{mnist['y_test'][i]}1"
        assert r is not None and r.text == want and ok(r), (i, r)
    for i in (10, 13):
        r = read([segment.find(_with_a_wide_digit(mnist, i, 2.2))], clf.predict, clf.calibration)[0]
        assert r is not None and r.text == "401", (i, r)
        assert not ok(r) and any("as wide as two digits" in d for d in r.doubts), (i, r)


def test_marks_read_together_as_one_digit_as_wide_as_two_go_to_review() -> None:
    """Marks that are no digit alone, which the single-digit reader reads surely as one digit over
    them all, are that digit (a 2 drawn in two strokes); but when that reading is as wide as two
    digits it may be two: a 7 run into a 2 on an underline was one mark, no digit, and the whole
    picture (the line in it, 3.8 times as wide as tall) read as a sure 2, `ok`."""
    def piece(value: float, box: tuple[int, int, int, int]) -> segment.Piece:
        return segment.Piece(box, np.full((28, 28), value, np.float32), 3.0)

    def predict(x: np.ndarray) -> np.ndarray:
        p = np.full((len(x), 10), 0.1, np.float32)  # no digit likely
        whole = x.reshape(len(x), -1)[:, 0] == 1.0
        p[whole] = 0.001
        p[whole, 2] = 0.991
        return p

    for width, wide in ((70, False), (240, True)):
        lay = segment.Layout(marks=[segment.Mark(0, [piece(0.5, (10, 10, 60, 50))])], whole=piece(1.0, (10, 4, width, 64)))
        r = read([lay], predict)[0]
        assert r is not None and r.text == "2"
        assert ok(r) is not wide and any("as wide as two" in d for d in r.doubts) is wide


def test_numbers_in_a_row_of_printed_boxes_are_read_and_no_wrong_reading_is_ok(
        mnist: dict[str, np.ndarray], clf) -> None:
    got = numbers_read(mnist, clf, 9, 40, field="cells")
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= 30  # measured 34; 5 before the boxes came out
    assert sum(len(r.text.replace(" ", "")) > len(want) for want, r in got) <= 5  # a side read as a 1: 3; 11 before
    assert not any(silent(r, want) for want, r in got)


def test_numbers_drawn_as_mnist_tiles_side_by_side_are_read_and_no_wrong_reading_is_ok(
        mnist: dict[str, np.ndarray], clf) -> None:
    # another renderer's numbers: before, two tiles (28 x 56) were one digit, a bold digit of a
    # tight strip a backdrop and a 7's stem running to the edge a ruled line (87 of these 100
    # read exactly, one wrong reading ok)
    got = numbers_read(mnist, clf, 18, 200, tiles=True)
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= 180  # measured 187
    # the issue's bar, 0.5%: one, a 9 drawn like a 4 read as a sure 4 (until the seventeenth pass a
    # wide 5 elsewhere in its number sent it to review by chance; 1,000 of these: 2 either way)
    assert sum(silent(r, want) for want, r in got) <= 1


@pytest.mark.parametrize(("photo", "least", "measured"), [("table", 27, 29), ("shadow", 25, 27)])
def test_numbers_photographed_on_a_table_or_under_a_shadow_are_read_and_no_wrong_reading_is_ok(
        mnist: dict[str, np.ndarray], clf, photo: str, least: int, measured: int) -> None:
    # before the table was painted paper and a shadow taken for ink was followed: 25 (one wrong
    # reading ok) and 17 of 30
    got = numbers_read(mnist, clf, 31 if photo == "table" else 32, 30, field="plain", touching=False, photo=photo)
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= least, measured
    assert not any(silent(r, want) for want, r in got)


@pytest.mark.parametrize("n", [None, 1])
def test_a_number_or_a_digit_on_a_small_note_photographed_on_a_desk_is_read(
        mnist: dict[str, np.ndarray], clf, n: int | None) -> None:
    # a note 3-9% of the picture on a darker desk (`compose.on_desk`): a sheet that small was taken
    # for a label and the desk for the paper, a light region on a dark board; numbers read 1 of 30,
    # single digits 2 of 30, four of them `ok` and wrong (the note's sides read as 1s: "9" as "191")
    got = numbers_read(mnist, clf, 41 if n is None else 42, 30, n=n, field="plain" if n else None,
                       touching=False if n else None, photo="desk")
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= 27  # measured 30 and 30
    assert not any(silent(r, want) for want, r in got)


def test_a_number_under_a_sharp_shadow_edge_is_read(mnist: dict[str, np.ndarray], clf) -> None:
    # a shadow's sharp edge across the writing, aslant: the paper estimate carried the lit paper a
    # stroke's width into the shadow, and that band was read as a line of ink through the digits
    # (2 of these 30 read exactly before; "32768" read "327", "822" as no digit)
    rng = np.random.default_rng(40)
    exact = 0
    for _ in range(30):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=int(rng.integers(3, 8)), field="plain",
                           touching=False)
        g = d.image.astype(np.float32) / 255
        h, w = g.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        across = np.clip((yy - h / 2) - rng.uniform(-0.4, 0.4) * (xx - w / 2), -20, 20)
        g *= 1.0 - 0.5 / (1.0 + np.exp(-1.5 * across))  # below the edge, half the light
        img = (np.clip(g + rng.normal(0, 0.02, g.shape), 0, 1) * 255).astype(np.uint8)
        r = read([segment.find(img)], clf.predict, clf.calibration)[0]
        assert r is None or not silent(r, d.text.replace(" ", ""))
        exact += r is not None and r.text.replace(" ", "") == d.text.replace(" ", "")
    assert exact >= 17  # measured 20


def test_a_number_in_a_shadows_deep_half_is_looked_for_in_the_shadow(mnist: dict[str, np.ndarray], clf) -> None:
    # a shadow over most of the sheet, the number in it: the plain ink map takes the shadow for one
    # piece of ink and finds no mark, so the picture was read as one digit ("593419" read "2");
    # the paper is now followed into the shadow. `make_sets`' numbers-photo (seed 7), file 699
    [(text, r)] = drawn_again(mnist, clf, 7, {699}, photo="any")
    assert text == "593419"
    assert r is not None and r.text == "593419"
    assert not ok(r)  # its 4 reads doubtfully
    shade = np.zeros((100, 300), np.uint8)
    shade[:60] = 1  # a shadow's solid half, on the picture's edge
    blot = np.zeros_like(shade)
    blot[20:80, 50:250] = 1  # as big, but off the edges: a blot in the writing, no shadow
    assert segment._shadowed(shade) and not segment._shadowed(blot)


def test_a_shadows_soft_edge_across_a_number_is_no_ink(mnist: dict[str, np.ndarray], clf) -> None:
    # a shadow's soft edge across the digits: the plain ink map reads it as a band of specks that
    # joins them into one mark running off the picture, read as one digit ("37" read "3"); the
    # paper followed into the shadow parts them. `make_sets`' numbers-photo (seed 7), four files
    banded = {25: "69", 185: "94", 520: "71", 996: "37"}
    got = drawn_again(mnist, clf, 7, set(banded), photo="any")
    assert [t for t, _r in got] == [banded[k] for k in sorted(banded)]
    assert all(r is not None and r.text == t for t, r in got)  # none before


def test_a_sharp_shadow_edge_along_a_long_number_is_taken_back(mnist: dict[str, np.ndarray], clf) -> None:
    # a sharp shadow edge aslant along a long number: its digits' ink counts with the shadow's, the
    # shadow looked less deep (0.37) than `normalise.SHADOW_DEEP` was (0.35), its edge was not taken
    # back and was read as a band of ink through the digits ("29159285" read "29197 0").
    # `make_sets`' numbers-photo (seed 7), two files
    got = drawn_again(mnist, clf, 7, {82, 696}, photo="any")
    assert [t for t, _r in got] == ["29159285", "56027352"]
    assert all(r is not None and r.text == t for t, r in got)  # none before


def test_a_number_photographed_sideways_is_not_read_as_a_sure_1(mnist: dict[str, np.ndarray], clf) -> None:
    # turned a quarter (a phone photo with no EXIF orientation), a number's digits stand one above
    # another: the column was taken for one tall digit, or read whole as one, a sure "1"
    rng = np.random.default_rng(15)
    oks = 0
    for _ in range(30):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=8, touching=False)
        r = read([segment.find(cv2.rotate(d.image, cv2.ROTATE_90_CLOCKWISE))], clf.predict, clf.calibration)[0]
        oks += r is not None and ok(r)
    assert oks <= 5  # measured 3 (an underline turned upright joins the digits into one tall mark); 23 before


def test_touching_digits_are_split_by_the_model(mnist: dict[str, np.ndarray], clf) -> None:
    got = numbers_read(mnist, clf, 8, 30, n=2, field="plain", touching=True)
    assert sum(r.text == want for want, r in got) >= 10
    assert sum(silent(r, want) for want, r in got) <= 2  # measured: 2 of 30 (a 7 read as 2; "14" touching read as 4): see README


def test_a_chain_of_touching_digits_is_read_rather_than_left_out(mnist: dict[str, np.ndarray], clf) -> None:
    """Six digits touching in one mark: when no sure cut reads it, the best cuts are read (and the
    file goes to review) instead of the whole chain being left out as "not a digit"."""
    got = numbers_read(mnist, clf, 22, 40, n=6, field="plain", touching=True)
    assert not any(silent(r, want) for want, r in got)
    # measured 34; 30 with a chain's whole reading competing and one even cut per count
    assert sum(len(r.digits) >= 5 for _, r in got) >= 32


def test_a_reading_of_several_digits_reports_a_calibrated_confidence(mnist: dict[str, np.ndarray], clf) -> None:
    """The confidence of a number's reading is the probability that all of it is right: on
    numbers rendered from the test split, the fitted calibration (digits.json) is within a few
    points of how often the readings are right; the product of the digits' confidences was far
    below it, and the log product alone (the weights fitted before 2026-12-05) capped every
    reading at 0.93, where readings whose digits are all sure are nearly always right. The files
    sent to review are the same either way."""
    from watcher.reading import READING_FEATURES, Calibration
    from watcher.train import calibration_error

    assert len(clf.calibration.reading) == READING_FEATURES
    rng = np.random.default_rng(31)
    drawn = [compose.number(mnist["x_test"], mnist["y_test"], rng) for _ in range(200)]
    layouts = [segment.find(d.image) for d in drawn]
    fitted = [r for r in read(layouts, clf.predict, clf.calibration) if r is not None]
    product = [r for r in read(layouts, clf.predict, Calibration(clf.calibration.power)) if r is not None]
    assert len(fitted) == len(product) == len(drawn)
    right = np.array([r.text.replace(" ", "") == d.text for r, d in zip(fitted, drawn, strict=True)])
    several = np.array([len(r.digits) > 1 for r in fitted])
    conf = np.array([r.confidence for r in fitted])
    old = np.array([r.confidence for r in product])
    legacy = Calibration(clf.calibration.power, (0.3329, 2.57881))
    capped = np.array([r.confidence for r in read(layouts, clf.predict, legacy) if r is not None])
    assert calibration_error(conf[several], right[several]) < 0.07  # measured 0.048 (the old weights 0.047)
    assert calibration_error(old[several], right[several]) > 0.08  # measured 0.11
    # readings whose every digit is sure were all given 0.93 by the old weights
    sure = several & np.array([min(d.confidence for d in r.digits) >= 0.99 for r in fitted])
    assert sure.sum() >= 90 and right[sure].mean() >= 0.97  # measured 103, all right
    assert conf[sure].mean() > 0.98 and capped[sure].max() < 0.95
    assert [ok(a) for a in fitted] == [ok(b) for b in product]


def test_a_touching_pair_that_is_the_one_mark_not_read_is_read_doubtfully(mnist: dict[str, np.ndarray], clf) -> None:
    """Four touching digits: a pair no sure cut reads, when it is the only mark of the file that
    does not read, is read through its best cut (and the file goes to review) rather than left out.
    An equation, whose letters do not read either, keeps such pairs out (multi-dev)."""
    got = numbers_read(mnist, clf, 42, 60, n=4, field="plain", touching=True)
    assert not any(silent(r, want) for want, r in got)
    assert sum(r.text.replace(" ", "") == want for want, r in got) >= 48  # measured 49; 46 when such a pair was always left out


def test_two_touching_digits_found_as_one_are_read_as_two_when_the_one_reads_badly(
        mnist: dict[str, np.ndarray], clf) -> None:
    """A pair of touching digits the finder takes for one digit (no wider than a digit: "10" in a
    box) was read as one digit; when that digit reads badly and a cut reads surely, the file is
    read as the pair (to review)."""
    rng = np.random.default_rng(51)
    exact = single = 0
    for _ in range(80):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=2, touching=True)
        lay = segment.find(d.image)
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None
        single += lay.single
        exact += r.text == d.text
        assert not silent(r, d.text)
    assert single >= 5  # the case is there (11 of 80)
    assert exact >= 70  # measured 71; 65 when such a file was always read as one digit


def test_a_1_pressed_into_a_digit_in_a_file_of_its_own_is_read_as_both(mnist: dict[str, np.ndarray], clf) -> None:
    """A 1 pressed into a digit beside it ("41", "17") makes a mark narrower than tall, which the
    finder takes for one digit; it is offered cut from `CUT_WIDTH` on, like a mark in a line, and
    read as the pair when the one digit reads below 0.6 and both pieces surely."""
    ones, others = np.flatnonzero(mnist["y_test"] == 1), np.flatnonzero(mnist["y_test"] != 1)
    rng = np.random.default_rng(61)
    found = exact = 0
    for k in range(150):
        pair = [ones[k], others[k]] if k % 2 else [others[k], ones[k]]
        d = compose.number(mnist["x_test"][pair], mnist["y_test"][pair], rng, n=2, touching=True, field="plain")
        lay = segment.find(d.image)
        if lay.single:
            found += 1
            r = read([lay], clf.predict, clf.calibration)[0]
            assert r is not None
            exact += r.text == d.text
    assert found >= 40  # measured 53
    assert exact >= 24  # measured 28; 15 when only a mark as wide as tall was offered cut, below 0.5


def test_a_badly_read_digit_among_sure_digits_is_read_not_left_out(mnist: dict[str, np.ndarray], clf) -> None:
    """A mark no wider than a digit and as tall as the sure digits around it, that the model reads
    badly (a bold short 1, a 2 drawn like a Z), is a digit in a line of sure digits: read down to
    the page's floor, to review. In a line with fewer sure digits (an equation's letters and
    operators) it is still left out."""
    rng = np.random.default_rng(4)
    d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=5, field="plain", touching=False)
    lay = segment.find(d.image)
    assert len(lay.marks) == 5

    def doubting(marks: list[int]):
        doubted = np.stack([lay.marks[k].pieces[0].x for k in marks]).reshape(len(marks), -1)

        def predict(x: np.ndarray) -> np.ndarray:
            p = np.array(clf.predict(x), copy=True)
            hit = (x.reshape(len(x), 1, -1) == doubted[None]).all(axis=2).any(axis=1)
            best = p[hit].argmax(axis=1)
            p[hit] = 0.8 / 9
            p[np.flatnonzero(hit), best] = 0.2  # the same digit, read at 0.2
            return p
        return predict

    r = read([lay], doubting([2]), clf.calibration)[0]
    assert r is not None and r.text == d.text and not ok(r)
    r = read([lay], doubting([0, 2, 4]), clf.calibration)[0]
    assert r is not None and r.text == d.text[1] + d.text[3]  # two sure digits of five: the rest left out


def test_a_page_is_read_line_by_line(mnist: dict[str, np.ndarray], clf) -> None:
    rng = np.random.default_rng(9)
    d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=8, cols=10, ruled=True, height=60, size=(1400, 1000))
    lay = segment.find(d.image)
    r = read([lay], clf.predict, clf.calibration)[0]
    assert r is not None
    lines = r.text.split(" ")
    assert len(lines) == 8
    want = d.text.replace(" ", "")
    got = r.text.replace(" ", "")
    assert abs(len(got) - len(want)) <= 0.02 * len(want)  # found (a stray mark may add one)
    assert edit_distance(got, want) <= 0.03 * len(want)  # and read right, in order


def punched(img: np.ndarray, white: bool) -> np.ndarray:
    """The page with a binder's three holes down its left edge (150 dpi: 6 mm across, 12 mm in),
    scanned with a white lid (a ring: the rim's shadow) or a dark one (a disc)."""
    out = img.copy()
    for f in (0.25, 0.5, 0.75):
        centre = (71, int(f * out.shape[0]))
        cv2.circle(out, centre, 18, 255 if white else 25, -1)
        if white:
            cv2.circle(out, centre, 18, 110, 1)
    return out


@pytest.mark.parametrize("white", [True, False])
def test_a_binder_s_punched_holes_are_not_read_as_zeros(mnist: dict[str, np.ndarray], clf, white: bool) -> None:
    # a ring was three sure 0s added to the page, a disc three doubtful 0s or 4s
    x, y = mnist["x_test"], mnist["y_test"]
    d = compose.page(x, y, np.random.default_rng(2), rows=10, cols=8, height=55, size=(1240, 1754))
    plain = read([segment.find(d.image)], clf.predict, clf.calibration)[0]
    r = read([segment.find(punched(d.image, white))], clf.predict, clf.calibration)[0]
    assert plain is not None and r is not None
    assert r.text == plain.text and len(r.digits) == len(plain.digits)
    assert any("not read as digits" in doubt for doubt in r.doubts)
    # written 0s, the first and last of each line near the edge, are read all the same
    zeros = compose.page(x[y == 0], y[y == 0], np.random.default_rng(3), rows=10, cols=8, height=55, size=(1240, 1754))
    z = read([segment.find(punched(zeros.image, white))], clf.predict, clf.calibration)[0]
    assert z is not None and z.text.replace(" ", "") == zeros.text.replace(" ", "")


def test_a_thin_1_bowed_a_little_at_a_numbers_left_edge_is_no_punched_hole(mnist: dict[str, np.ndarray], clf) -> None:
    # a number's first digit stands as near the picture's edge as a binder's hole on a page, and
    # a thin 1 bowed a little lies on a circle: it was left out as a hole's arc ("12346" read
    # "2346", 9 of these 12). A hole is small beside the sheet it is punched in
    x, y = mnist["x_test"], mnist["y_test"]
    for bow in (5, 7):
        for k in range(6):
            img = np.full((64, 300), 235, np.uint8)
            pts = [(18 + 3 * k + round(bow * np.sin(np.pi * t / 37)) + t // 4, 13 + t) for t in range(38)]
            cv2.polylines(img, [np.array(pts, np.int32)], False, 60, 1, cv2.LINE_AA)
            for j, v in enumerate((2, 3, 4, 6)):
                digit = cv2.resize(x[np.flatnonzero(y == v)[k]], (48, 48)).astype(np.int32)
                cell = img[8:56, 50 + 58 * j:98 + 58 * j]
                np.minimum(cell, (235 - digit * 205 // 255).astype(np.uint8), out=cell)
            lay = segment.find(img)
            r = read([lay], clf.predict, clf.calibration)[0]
            assert r is not None and r.text == "12346" and not lay.rejected, (bow, k, r and r.text)


def test_a_small_digit_photographed_dim_is_read_dark_on_paper_and_one_on_a_board_light(
        mnist: dict[str, np.ndarray], clf) -> None:
    # a 28 x 28 picture had its polarity from its median alone: dark ink on paper at 0.3-0.45
    # grey was read inverted. Chalk on a board of the same grey still reads as chalk
    rng = np.random.default_rng(5)
    x, y = mnist["x_test"][:60], mnist["y_test"][:60]
    for light, board in ((0.35, False), (0.45, False), (0.8, True)):
        right = 0
        for digit, label in zip(x, y, strict=True):
            ink = digit.astype(np.float32) / 255
            grey = (0.2 + 0.6 * ink) if board else (1 - ink) * light + 0.03
            img = np.clip(grey * 255 + rng.normal(0, 2, grey.shape), 0, 255).astype(np.uint8)
            r = read([segment.find(img)], clf.predict, clf.calibration)[0]
            right += r is not None and r.text == str(label)
        assert right >= 57, (light, board, right)


def _photographed(img: np.ndarray, rng: np.random.Generator, light: np.ndarray, noise: float,
                  bar: bool = True) -> np.ndarray:
    """`img` photographed: lit by `light`, a little blurred, noisy, a JPEG, a window's dark title
    bar along its top (a screenshot of the camera's window)."""
    g = cv2.GaussianBlur(img.astype(np.float32) * light, (0, 0), 1.0) + rng.normal(0, noise, img.shape)
    out = np.clip(g, 0, 255).astype(np.uint8)
    if bar:
        out[:30, :300] = 28
    jpeg = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 70])[1], cv2.IMREAD_GRAYSCALE)
    assert jpeg is not None
    return np.asarray(jpeg)


def test_a_sheet_photographed_dim_and_half_in_shade_is_read(mnist: dict[str, np.ndarray], clf) -> None:
    # the paper 0.2-0.3 grey in a dim photo: every such picture was taken for light writing on
    # a board, its paper read as the ink (nothing read, or "more than 6000 marks")
    for seed in (1, 3):
        rng = np.random.default_rng(seed)
        d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=3, cols=8, height=48, size=(1280, 960))
        h, w = d.image.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        edge = (xx - w * (0.45 + 0.1 * rng.random()) - 0.3 * (yy - h / 2)) / (w * 0.05)
        img = _photographed(d.image, rng, 0.45 * (1 - 0.45 / (1 + np.exp(-edge))), 4)
        assert 0.1 < float(np.median(img)) / 255 <= 0.3
        r = read([segment.find(img)], clf.predict, clf.calibration)[0]
        assert r is not None and edit_distance(r.text.replace(" ", ""), d.text.replace(" ", "")) <= 2, (seed, r and r.text)


def test_a_bold_digit_photographed_dim_is_read_dark_on_its_paper(mnist: dict[str, np.ndarray], clf) -> None:
    """A bold digit photographed dim (its paper 0.45 grey, a little blurred and noisy, a JPEG):
    its strokes, a twentieth of the picture wide, were taken for the paper of a board and its
    paper for chalk, and the digit read as pieces of the paper round it (11 of these 30 right;
    wild-dev's bold crops so photographed read "11" for 0, "1111110" for 6). Asked of a wide
    median instead of the typical pixel, the inside of a big bold 0 still departed lighter: three
    0s of these 30 were read as boards (27 right)."""
    rng = np.random.default_rng(2)
    right = 0
    for k in range(30):
        big = cv2.resize(mnist["x_test"][k], (168, 168), interpolation=cv2.INTER_CUBIC)
        bold = cv2.dilate((big > 100).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
        sheet = np.full((200, 190), 255, np.uint8)
        sheet[16:184, 11:179][bold > 0] = 0
        g = cv2.GaussianBlur(sheet.astype(np.float32) * 0.45, (0, 0), 0.7) + rng.normal(0, 4, sheet.shape)
        jpeg = cv2.imencode(".jpg", np.clip(g, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 75])[1]
        photo = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
        assert photo is not None
        r = read([segment.find(photo)], clf.predict, clf.calibration)[0]
        want = str(mnist["y_test"][k])
        assert r is None or not silent(r, want), (k, r)
        right += r is not None and r.text == want
    assert right >= 29, right  # 30


def test_small_writing_beside_a_soft_shades_edge_is_read_with_the_paper_followed(clf) -> None:
    # the shade's soft edge read as a wide band of "ink", beside which three lines of small
    # printed digits measured as specks: no mark was kept, and the picture was read whole as one
    # digit. Where no mark is kept, the paper followed into the shade must part the picture
    rng = np.random.default_rng(1)
    img = np.full((960, 1280), 225, np.uint8)
    lines = ["".join(str(v) for v in rng.integers(0, 10, 7)) for _ in range(3)]
    for i, t in enumerate(lines):
        cv2.putText(img, "  ".join(t), (100, 250 + 250 * i), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, 70, 2, cv2.LINE_AA)
    yy, xx = np.mgrid[0:960, 0:1280].astype(np.float32)
    edge = (xx - 1280 * (0.4 + 0.1 * rng.random()) + 0.35 * (yy - 480) + 0.0006 * (yy - 480) ** 2) / (1280 * 0.02)
    img = _photographed(img, rng, (1 - 0.3 / (1 + np.exp(-edge))) * (1 - 0.35 * xx / 1280), 4)
    r = read([segment.find(img)], clf.predict, clf.calibration)[0]
    assert r is not None and edit_distance(r.text.replace(" ", ""), "".join(lines)) <= 2, r and r.text


def _grainy_numbers(clf, count: int, small: bool = False) -> tuple[int, int, int]:
    """`count` numbers of four thin faint digits under heavy grain, 300 px wide (150 `small`),
    read: (how many read, `ok` and wrong, right)."""
    read_ = bad = right = 0
    for seed in range(count):
        rng = np.random.default_rng(seed)
        img = np.full((121, 300), 200, np.uint8)
        text = "".join(str(v) for v in rng.integers(0, 10, 4))
        for i, ch in enumerate(text):
            cv2.putText(img, ch, (40 + 52 * i, 85 + int(rng.integers(-6, 7))), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
                        float(rng.uniform(1.4, 1.9)), int(rng.integers(60, 110)), int(rng.integers(1, 3)), cv2.LINE_AA)
        if small:
            img = np.asarray(cv2.resize(img, (150, 60), interpolation=cv2.INTER_AREA), np.uint8)
        grainy = np.clip(cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.7) + rng.normal(0, 14, img.shape), 0, 255)
        try:
            r = read([segment.find(grainy.astype(np.uint8))], clf.predict, clf.calibration)[0]
        except NoDigitFound:
            continue
        if r is not None and r.digits:
            read_ += 1
            bad += silent(r, text)
            right += r.text == text
    return read_, bad, right


def test_a_number_under_a_noisy_scans_grain_is_smoothed_and_read(clf) -> None:
    # thin faint digits under heavy grain: the specks were the marks (a thousand or more), the
    # digits measured as specks among them, and the single-digit reader's one digit, read surely,
    # was taken for the file, `ok` with no doubt (8 of 17 such numbers; 2 read right)
    read_, bad, right = _grainy_numbers(clf, 20)
    assert read_ >= 15 and bad == 0 and right >= 16, (read_, bad, right)
    # half as big, fewer specks: 2 of 20 right while grain was looked for only among 300 marks
    read_, bad, right = _grainy_numbers(clf, 20, small=True)
    assert read_ >= 15 and bad == 0 and right >= 7, (read_, bad, right)


def test_one_digit_read_for_a_picture_whose_marks_are_specks_is_doubted_where_others_were_left_out(
        clf, monkeypatch: pytest.MonkeyPatch) -> None:
    # grain the smoothing does not see: the picture is still read whole as its surest digit, but
    # the single-digit reader left marks beside it that may be digits, and it goes to review
    monkeypatch.setattr(segment, "GRAIN_MARKS", 10**9)
    read_, bad, right = _grainy_numbers(clf, 20)
    assert read_ >= 15 and bad == 0 and right <= 5, (read_, bad, right)


def test_a_photos_grain_that_shows_only_at_the_reading_scale_is_smoothed_there(mnist: dict[str, np.ndarray], clf) -> None:
    # a dim photo's noise, averaged away at the working scale, came back where the marks are
    # found again at more pixels: 12,000 specks, "not a page of digits", and the picture read whole
    rng = np.random.default_rng(1)
    d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=3, cols=8, height=40, size=(1280, 960))
    yy, xx = np.mgrid[0:960, 0:1280].astype(np.float32)
    edge = (xx - 1280 * (0.45 + 0.1 * rng.random()) - 0.3 * (yy - 480) - 0.0004 * (yy - 480) ** 2) / (1280 * 0.03)
    img = _photographed(d.image, rng, 0.65 * (1 - 0.6 / (1 + np.exp(-edge))), 8)
    r = read([segment.find(img)], clf.predict, clf.calibration)[0]
    assert r is not None and edit_distance(r.text.replace(" ", ""), d.text.replace(" ", "")) <= 2, r and r.text


def test_digits_in_the_shadow_over_a_corner_of_a_photo_are_read(mnist: dict[str, np.ndarray], clf) -> None:
    # a phone photo of a sheet: the corner under the hand is a third as bright as the rest, and
    # the digits in it are as clear against it as the others are against the lit paper
    rng = np.random.default_rng(21)
    d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=3, cols=8, height=40, size=(1000, 560))
    h, w = d.image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dim = 1.0 - 0.7 * np.clip((xx / w + yy / h - 1.0) / 0.4, 0, 1)  # the bottom right, darkening to 0.3
    dim *= 1.0 - 0.5 * np.clip((xx - 0.97 * w) / (0.03 * w), 0, 1)  # and the lens darkening its right edge
    img = (d.image.astype(np.float32) * dim).astype(np.uint8)
    assert float(dim[-60:, -260:].mean()) < 0.5  # some digits stand in the dark part
    r = read([segment.find(img)], clf.predict, clf.calibration)[0]
    assert r is not None
    assert r.text.split(" ")[-1] == d.text.split(" ")[-1]  # the last line, under the shadow, in full
    assert edit_distance(r.text.replace(" ", ""), d.text.replace(" ", "")) <= 1


def test_digits_written_over_squared_paper_are_read_whole(mnist: dict[str, np.ndarray], clf) -> None:
    # a maths exercise book: a printed grid, lighter than the pen, crosses every digit; taking
    # its lines out cut the digits in pieces or took a side off them
    rng = np.random.default_rng(4)
    want = got = ""
    for _ in range(2):
        d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=4, cols=8, height=48, size=(1000, 700))
        grid = np.ones(d.image.shape, np.float32)
        step = int(rng.integers(32, 42))
        grid[:, ::step] = grid[::step, :] = 0.55
        img = (d.image.astype(np.float32) * grid).astype(np.uint8)
        r = read([segment.find(img)], clf.predict, clf.calibration)[0]
        assert r is not None
        want += d.text.replace(" ", "")
        got += r.text.replace(" ", "")
    assert edit_distance(got, want) <= 0.05 * len(want)


def test_digits_crossed_by_upright_rules_alone_are_read_whole(mnist: dict[str, np.ndarray], clf) -> None:
    """Squared paper whose lines across are too faint to be found, its upright ones not (a scanner
    blurs one way more than the other; 1 in 31 rendered squared pages): the upright rules were
    taken out as lines, but the strokes crossing them were not put back, as on a grid. A 7 whose
    bar a rule crossed was read as its stem, a 1 (here 23 of 32 right, now 32; a rendered page of
    7s: 954 of 1,000, now 995)."""
    y = mnist["y_test"]
    sevens = mnist["x_test"][y == 7][:40]
    d = compose.page(sevens, y[y == 7][:40], np.random.default_rng(3), rows=4, cols=8, height=48, size=(1000, 700))
    img = d.image.astype(np.float32)
    img[:, 60::36] *= 0.55  # upright rules, as dark as on the squared paper above
    img[60::36, :] *= 0.97  # the rules across, below any ink threshold
    r = read([segment.find(img.astype(np.uint8))], clf.predict, clf.calibration)[0]
    assert r is not None
    got = r.text.replace(" ", "")
    assert got.count("7") >= 0.9 * len(d.text.replace(" ", "")), got


def _lit_unevenly(page: np.ndarray, rng: np.random.Generator, side: int) -> np.ndarray:
    """A sheet photographed on a darker table: darker towards the corners, half in a soft shadow,
    noisy, scaled to `side` pixels, a JPEG."""
    g = page.astype(np.float32) / 255
    h, w = g.shape
    pad = int(0.1 * max(h, w))
    big = np.full((h + 2 * pad, w + 2 * pad), 0.3, np.float32)
    big[pad:pad + h, pad:pad + w] = g
    rows, cols = big.shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    light = 1 - 0.15 * (((xx - cols / 2) / cols) ** 2 + ((yy - rows / 2) / rows) ** 2) * 4
    light *= 1 - 0.35 / (1 + np.exp(-(xx / cols - yy / rows) * 10))
    out = np.clip(big * light + rng.normal(0, 0.02, big.shape), 0, 1)
    f = side / max(rows, cols)
    out = cv2.resize(out, (round(cols * f), round(rows * f)), interpolation=cv2.INTER_AREA)
    _ok, buf = cv2.imencode(".jpg", (out * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85])
    photo = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    assert photo is not None
    return photo


def test_squared_paper_photographed_in_unequal_light_is_no_one_big_digit(mnist: dict[str, np.ndarray]) -> None:
    """At the first look's scale (512 pixels) the grid's lines are thinner than a pixel, and where
    the light is even they hold every digit in one net: it was taken for one big digit (this
    page: 1 mark for 162 digits). A mark with eight holes or more is a net; its cells, about a
    digit tall, set the scale the page is read at."""
    rng = np.random.default_rng(5)
    d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=18, cols=9, height=55, size=(1654, 2338),
                     squared=True)
    lay = segment.find(_lit_unevenly(d.image, rng, 4032))
    digits = len(d.text.replace(" ", ""))
    assert 0.95 * digits <= len(lay.marks) <= 1.1 * digits, (len(lay.marks), digits)  # 164 of 162


def test_a_photographed_page_whose_first_look_measured_its_rules_is_read_at_its_digits_size(
        mnist: dict[str, np.ndarray], clf) -> None:
    """A ruled page of 2s photographed from a little in front: at the first look's scale its rules,
    the digits on them and the sheet's slanted edge were one mark 305 pixels tall, taken for the
    digits' height, so the page was read at that scale, each digit 9 pixels tall and a blur (163
    of 198 read). Marks far smaller where the page is read than the first look promised are
    found again at the scale that makes them a digit's working height."""
    rng = np.random.default_rng()
    rng.bit_generator.state = {"bit_generator": "PCG64", "has_uint32": 1, "uinteger": 1578755633,
                               "state": {"state": 250608213697499706023221294315592495519,
                                         "inc": 194290289479364712180083596243593368443}}
    twos = mnist["y_test"] == 2
    d = compose.page(mnist["x_test"][twos], mnist["y_test"][twos], rng, rows=18, cols=11, height=76,
                     size=(2481, 3507), ruled=True)
    r = read([segment.find(compose.photographed_sheet(d.image, rng))], clf.predict, clf.calibration)[0]
    assert r is not None
    got = r.text.replace(" ", "")
    assert len(got) >= 0.97 * 198 and got.count("2") >= 0.95 * 198, (len(got), got.count("2"))  # 198, 197


#: Pages all of one digit photographed on a table (`compose.photographed_sheet`), as the sealed sets' pages of
#: a hand's own digits are: the generator's state before each page, the digit, rows, columns,
#: the digits' height and the sheet's size (200 or 300 dpi)
PHOTOGRAPHED_PAGES = [
    # a soft shadow over half the sheet ran its digits into one blob, taken for one big digit
    ((316001980403250790455949948863817031802, 278272906083703887290699702293328866393, 1362312575),
     6, 10, 8, 180, (2481, 3507)),
    # a corner in shade one blob, the 266 digits as small as its specks: taken for one digit
    ((220794495352712532138451784618413464752, 278272906083703887290699702293328866393, 1404728265),
     3, 19, 14, 43, (1654, 2338)),
    # the sheet in shade along its slanted edge, painted its median paper beside it: the step a blob
    ((296655615697536171052799631648116610516, 222003063171874261427395693950637096479, 181486893),
     2, 18, 12, 47, (1654, 2338)),
    # a sharp shadow band across a ruled sheet: the lit paper carried across its edge a band of ink
    ((159780121789106347956776626904722900793, 121863417007658695389390353187995180015, 2378966261),
     3, 18, 9, 49, (1654, 2338), "ruled"),
    # squared paper, a lit patch over a corner: the grid and the shade round the patch one blob
    ((166933633354054283080481165282601988832, 278272906083703887290699702293328866393, 4192934788, 1),
     7, 22, 11, 60, (2481, 3507), "squared"),
    # a corner of the sheet in shade, darker than Otsu's level: its digits were writing on the
    # table, so no sheet was found and the table was ink (336 digits, none found)
    ((252030056293403247191528958514341657510, 121863417007658695389390353187995180015, 2730471039),
     4, 24, 14, 77, (2481, 3507), "ruled"),
    # squared paper, its left third in shade: the lower threshold's paper there all ink, the grid's
    # lines a blob with it and none taken out, each row's digits joined into one mark
    ((2735673770944537525164444429582019759, 121863417007658695389390353187995180015, 4250645126),
     0, 16, 6, 56, (1654, 2338), "squared"),
    ((135231824098144105344476599869392923152, 278272906083703887290699702293328866393, 3949891705),
     7, 15, 11, 67, (1654, 2338), "squared"),
    # the lower half of a sheet in shade: its lit half alone was found for the sheet at Otsu's
    # level, the shaded half's digits too faint on the probe copy to stop it, and painted over
    ((304664094295408548937793138182084385167, 261136684632268670825940853076396136793, 3248146268),
     2, 24, 6, 59, (2481, 3507), "squared"),
    # 312 small digits: on the sheet finder's small copy they stood out less than it asked of
    # writing, the sheet was taken for a bold light stroke, the table left as ink and none read
    ((59626815638686913783678663767026480846, 47650611409575876553999889140290214363, 242411494, 1),
     7, 24, 13, 65, (2481, 3507), "ruled"),
    # the light falling off towards the sheet's side, or in a band across it: the max filter's
    # paper, carried from the brighter paper a window away, made a faint grid ink there
    ((117191092378008923824171906180164102160, 48033170148846378449264849981880743275, 1585131724, 1),
     4, 16, 9, 98, (2481, 3507), "squared"),
    ((286887962581542977138945921227266635239, 155168332176707774904512248224851075529, 3558143688, 1),
     7, 12, 8, 115, (2481, 3507), "squared"),
    # a ruled page whose rows each ran together along their rule at the first look, a shaded
    # corner's speckle the biggest mark: all within the single-digit reader's box, one digit of 216
    ((63130491421877425937942582040984224654, 7937318808080196428804369945471644491, 135164933, 1),
     3, 18, 12, 81, (2481, 3507), "ruled"),
    # squared paper photographed from in front, a lit patch over its right half: the grid's upright
    # lines there lean 4 degrees, were not taken out, and their pieces read as 1s (486 for 140)
    ((104409017164838688493272690419285577248, 141594020766391051164819261345714058667, 2839575220, 1),
     4, 10, 14, 72, (2481, 3507), "squared"),
    # a ruled sheet whose rules, held together by its margin, were 88% of the ink's height (the
    # table's edge above and below it): not taken for the net, and its height taken for the
    # digits', so no rule came out and whole rows were read as one mark (112 of 238 found)
    ((278809435896392081288985722996417861813, 160502278706357643194801498428059812275, 907634735, 1),
     3, 17, 14, 99, (2481, 3507), "ruled"),
    # a small sheet (1,222 x 1,600) whose grid, printed light, was found at the first look and
    # was ink at the reading scale only in patches: their pieces read as 1s and a 4
    ((69623244707921947468776363726942404426, 210602798688404222029095236965608334861, 4250755389),
     5, 9, 8, 128, (2481, 3507), "squared"),
    # a small ruled sheet, its corner in deep shade (paper 100 of 255 there, the table beside it
    # 40): under the sheet finder's lower level too, it was painted as table (129 of 147 found)
    ((273910205122681027072262610274101645539, 78856291631749604729656725519709880197, 3876647340, 1),
     1, 21, 7, 52, (1654, 2338), "ruled"),
    # a soft shadow's edge across a small ruled sheet: the max filter's lit paper carried over it
    # made a band of specks joining digits of two rows into marks read as one 8 (48 of 54 found)
    ((261723186112917696022861712606923941302, 61103650459218955061752147258824541677, 29048168, 1),
     8, 9, 6, 150, (1654, 2338), "ruled"),
    # squared paper under a band of shade: at the first look the grid and the shade joined the
    # sheet into two marks, so it was no page there, its light was not followed at the reading
    # scale either, and the shade's band of specks hid 60 of its 200 digits
    ((170590115444049196782673255867780380794, 14503878986101793044376121114264460843, 2468480137, 1),
     3, 20, 10, 56, (1654, 2338), "squared"),
    # a ruled sheet whose lit corner's specks joined its upper rows into one mark, its lower rows
    # held together by their rules in another: two blobs, not one, so the shade-following ink map
    # was not asked, and the page was read as one mark (0 of 312)
    ((320188067239434628296715119915528809846, 269188299403747573246441374543581625569, 2031884950, 1),
     9, 24, 13, 54, (1654, 2338), "ruled"),
    # squared paper whose faint grid left flat pieces of its lines, a pixel or two tall, read as
    # 3s at 0.15 down to the page's floor (178 read for 154, 86.5% its digit)
    ((327017482001179473423221124934697806561, 269188299403747573246441374543581625569, 3288693079, 1),
     6, 11, 14, 65, (2481, 3507), "squared"),
    # a small ruled sheet whose lower part lies in a soft shadow running into the table: no sheet
    # was found (the shaded part, lighter than the table, counted as writing round it), and the
    # page was read as one mark (0 of 190)
    ((215039828449404288669811191905960231963, 107090353359002252723118071224206516545, 2448879775),
     5, 19, 10, 82, (2481, 3507), "ruled"),
    # a ruled sheet whose shaded corner's specks joined it into nine blobs at the first look: no
    # page there, and the reading scale standing, it was not measured again, so its light was not
    # followed and the specks there read as digits (209 for 196, 93.8% its digit)
    ((327410469473537797601152367962216101887, 225529223415432992371172562274577616289, 1789894586, 1),
     8, 14, 14, 69, (1654, 2338), "ruled"),
]


@pytest.mark.parametrize(("state", "digit", "rows", "cols", "height", "size", "paper"),
                         [(*page, "plain")[:7] for page in PHOTOGRAPHED_PAGES])
def test_a_photographed_page_of_one_digit_is_read_digit_by_digit(
        mnist: dict[str, np.ndarray], clf, state: tuple[int, ...], digit: int, rows: int, cols: int,
        height: int, size: tuple[int, int], paper: str) -> None:
    """Each of these pages was read as one mark or none (1 of 80, 266, 216, 162 and 242 digits; 0
    of 336): the sealed sets' bar for such a page is 90% of its digits found and 95% of those its
    digit. `state`: the random stream's (state, inc, uinteger[, has_uint32]) as `bench/photo_pages.py`
    drew the page."""
    rng = np.random.default_rng()
    rng.bit_generator.state = {"bit_generator": "PCG64", "has_uint32": (*state, 0)[3], "uinteger": state[2],
                               "state": {"state": state[0], "inc": state[1]}}
    sel = mnist["y_test"] == digit
    d = compose.page(mnist["x_test"][sel], mnist["y_test"][sel], rng, rows=rows, cols=cols, height=height, size=size,
                     ruled=paper == "ruled", squared=paper == "squared")
    r = read([segment.find(compose.photographed_sheet(d.image, rng))], clf.predict, clf.calibration)[0]
    assert r is not None
    got = r.text.replace(" ", "")
    assert len(got) >= 0.9 * rows * cols and got.count(str(digit)) >= 0.95 * len(got), (len(got), got.count(str(digit)))


def test_a_grid_s_upright_lines_leaning_a_few_degrees_are_taken_out_and_a_leaning_1_is_not() -> None:
    """Squared paper photographed from a little in front: its upright lines fan out, leaning 4
    degrees near the sheet's sides, and a straight run (a pixel of slack at most) lost them: their
    pieces were read as 1s. Where lines across were found, upright ones are looked for leaning too;
    a 1 leaning as much, a digit tall, stays."""
    h, w, step, digit = 600, 800, 50, 40
    mask = np.zeros((h, w), np.uint8)
    for y in range(25, h, step):
        mask[y, :] = 1  # lines across
    lean = np.tan(np.radians(4.0))
    ys = np.arange(h)
    for x0 in range(40, w - 50, step):
        mask[ys, np.round(x0 + lean * ys).astype(int)] = 1  # upright lines, leaning
    one = np.zeros_like(mask)
    for y in range(330, 330 + digit):
        x = round(62 + lean * y)
        one[y, x:x + 3] = 1  # a 1 between two of them, leaning as much, a pen's stroke thick
    left, _taken = formlines.lines_out(mask | one, float(digit))
    assert np.count_nonzero(left & mask) <= 0.05 * np.count_nonzero(mask)  # the grid taken out, leaning lines too
    assert np.count_nonzero(left & one) >= 0.8 * np.count_nonzero(one)  # the 1 stays
    assert np.count_nonzero(formlines._runs(mask, int(1.25 * digit), False)) == 0  # a straight run finds none


def test_a_ruled_sheet_held_by_its_margin_is_the_net_though_the_table_s_edge_is_ink_too() -> None:
    """A photographed ruled sheet's rules, its margin and the digits on them are one mark, its
    height the digits' typical one; the table's edge above and below the sheet made the ink 12%
    taller than that mark, which was then not taken for the net: no rule came out, and whole rows
    were read as one mark (112 of 238 digits found). Measured without its rules, the digits are."""
    h, w, gap = 1000, 700, 60
    mask = np.zeros((h, w), np.uint8)
    top, bottom = 70, 70 + 14 * gap  # the sheet's rules: 85% of the ink's height
    for y in range(top, bottom + 1, gap):
        mask[y:y + 2, 40:w - 20] = 1
    mask[top:bottom + 2, 40:42] = 1  # the margin holding them together
    mask[:8, :] = 1  # the table's edge above and below the sheet
    mask[h - 8:, :] = 1
    for y in range(top, bottom - gap, gap):
        for x in range(90, w - 80, 70):
            cv2.ellipse(mask, (x, y + gap - 20), (14, 22), 0, 0, 360, 1, 4)  # a digit through its rule
    _n, lab, st = formlines.components(mask)
    height, share = segment._height_and_share(st, mask.shape, lab)
    assert height > 0.8 * h  # the net
    assert segment._net_height(mask, height, share) < 50  # the digits (44 tall, the rule through them out)


def test_specks_left_standing_upright_on_a_ruled_page_are_no_grid() -> None:
    """A ruled page's rules, and single pixels of a shadow's edge taken as upright lines: three
    of them counted as squared paper's upright lines (its crossings are put back, its faint lines
    looked for below the threshold)."""
    h, w = 400, 300
    across, upright = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    across[50:350:40, 20:280] = 1
    upright[[100, 180, 260], [40, 120, 200]] = 1  # specks
    assert formlines.is_grid((across | upright, across, np.zeros_like(upright)), upright=False)  # ruled
    assert not formlines.is_grid((across | upright, across, upright))
    upright[60:340, [40, 120, 200]] = 1  # squared paper's upright lines
    assert formlines.is_grid((across | upright, across, upright))


def test_a_grid_found_at_the_first_look_is_looked_for_below_the_threshold() -> None:
    """A small photographed sheet whose grid, printed light, was found at the first look but was
    ink at the reading scale only in patches round a few crossings: no line was found there, and
    the pieces were read as 1s and a 4. Told that the first look found a grid, its lines are
    looked for on the lower threshold, and the pieces go with them."""
    h, w, step = 900, 900, 60
    grid = np.zeros((h, w), np.uint8)
    for k in range(30, h, step):
        grid[k:k + 2, :] = 1
        grid[:, k:k + 2] = 1
    patch = np.zeros_like(grid)
    for py, px in ((270, 570), (390, 690), (510, 330), (630, 570), (150, 810)):
        patch[py - 25:py + 25, px - 25:px + 25] = 1
    ink = np.where(grid > 0, np.where(patch > 0, 0.45, 0.15), 0.0).astype(np.float32)  # over the threshold in patches
    digits = np.zeros_like(grid)
    for y in range(60, h - 60, 120):
        for x in range(60, w - 60, 120):
            cv2.ellipse(digits, (x + 30, y + 30), (14, 22), 0, 0, 360, 1, 5)
    ink[digits > 0] = 0.95
    t = segment._threshold(ink)
    assert len(segment._groups(ink, t)[0]) == 49 + 5  # the patches' pieces read as marks
    groups = segment._groups(ink, t, squared=True)[0]
    assert len(groups) == 49 and all(35 <= g.y1 - g.y0 <= 52 for g in groups)


def test_a_grid_s_pieces_outnumbering_the_digits_are_not_taken_for_the_pen() -> None:
    """A squared page's upright lines left in pieces where they lean (a photo from a little in
    front) were read as 1s, more of them than the digits: the pen measured over every mark was
    the grid's, and no piece was thin beside it (486 digits read for 140). The pen is measured on
    the marks not read as 1; a 1 the pen drew stays."""
    z = np.zeros((28, 28), np.float32)
    digits = [segment.Mark(0, [segment.Piece((100 * k, 0, 40, 60), z, 4.0)]) for k in range(6)]
    pieces = [segment.Mark(1, [segment.Piece((100 * k, 200, 4, 60), z, 1.5)]) for k in range(10)]
    pen_1 = segment.Mark(2, [segment.Piece((0, 400, 8, 60), z, 3.8)])
    lay = segment.Layout([*digits, *pieces, pen_1], lined=True)
    paths: list[reading.MarkPath] = [([k], [0], 1.0) for k in range(len(lay.marks))]
    best = np.array([4] * 6 + [1] * 11)
    assert reading._thin_ones(lay, paths, best) == set(range(6, 16))


def test_a_1_a_pixel_thick_where_lines_were_taken_out_is_a_line_s_edge_whatever_the_rest() -> None:
    """A tight crop of a bold 4 laid on a grey table: its crop's sides were taken for a box, the 4
    went with them, and three slivers of the crop's edge a pixel thick were all that was left,
    read "111" `ok` (no other mark to measure the pen by). Where printed lines were taken out, a
    1 a pixel thick among three marks or more is a line's edge; elsewhere, and alone in a field,
    it is a stroke the pen drew."""
    z = np.zeros((28, 28), np.float32)

    def slivers(n: int, stroke: float, lined: bool) -> set[int]:
        lay = segment.Layout([segment.Mark(k, [segment.Piece((21 + 70 * k, 28, 1, 40), z, stroke)]) for k in range(n)],
                             lined=lined)
        return reading._thin_ones(lay, [([k], [0], 1.0) for k in range(n)], np.ones(n, np.int64))

    for n in (3, 4):
        assert slivers(n, 1.03, lined=True) == set(range(n))
        assert slivers(n, 1.03, lined=False) == set()
        assert slivers(n, 2.5, lined=True) == set()  # a pen's 1s, all alike
    assert slivers(1, 1.03, lined=True) == set()


def test_rows_of_a_page_run_together_along_their_rules_are_not_one_digit() -> None:
    """A photographed ruled page whose rows each ran together along their rule at the first look,
    with a shaded corner's speckle the biggest mark: every mark lay within the single-digit
    reader's box, and the page (216 digits) was read as one digit. Marks lying flat across most
    of the box, three or more, are rows; a digit's own flat strokes (a 5's flag, a 7's bar) are
    one or two, and shorter."""
    box = (48, 74, 279, 381)
    rows = [segment.Group(75 - k, 74 + 19 * k, 327, 90 + 19 * k, [k + 1], 780) for k in range(12)]
    blob = segment.Group(48, 309, 323, 455, [13], 9809)
    assert not segment._one_digit([*rows, blob], box)
    assert segment._one_digit([*rows[:2], blob], box)  # two are no rows
    five = [segment.Group(10, 0, 40, 6, [1], 150), segment.Group(8, 5, 16, 30, [2], 120),  # a 5: flag, stem ...
            segment.Group(8, 28, 38, 60, [3], 420)]  # ... and bowl
    assert segment._one_digit(five, (8, 0, 32, 60))


def test_a_faint_grid_is_looked_for_above_paper_estimated_too_bright() -> None:
    """Where the ink map's paper sits over the lower threshold (lit paper carried into shade), that
    threshold marks all of it as ink and a faint grid's lines are lost in it: there they are looked
    for above the paper's own level. Elsewhere the lower threshold stands as it was."""
    rng = np.random.default_rng(5)
    ink = rng.normal(0.0, 0.02, (400, 600)).astype(np.float32)
    ink[:, :300] += 0.2  # the paper in shade, over the threshold
    for at in range(20, 400, 40):
        ink[at:at + 2, :] += 0.2  # the grid's lines across
    for at in range(20, 600, 40):
        ink[:, at:at + 2] += 0.2  # and down
    ink = np.clip(ink, 0.0, 1.0)  # an ink map's range
    t = 0.15
    low = ink > t
    level = segment._above_ground(ink, (ink > t).view(np.uint8), 40.0, t).view(bool)
    paper = np.ones_like(low)
    for at in range(20, 600, 40):
        paper[max(0, at - 1):at + 3, :] = paper[:, max(0, at - 1):at + 3] = False
    # two digits into the shade (where the window of four lies in it)
    assert low[:, :200][paper[:, :200]].mean() > 0.99  # the shade all ink on the lower threshold
    assert level[:, :200][paper[:, :200]].mean() < 0.01  # its paper left out
    assert level[:, :200][~paper[:, :200]].mean() > 0.45  # its lines kept (each 2 px of a 4 px band)
    assert np.array_equal(level[:, 340:], low[:, 340:])  # the lit side as it was


def test_a_dense_table_s_writing_is_not_taken_for_paper_raised(mnist: dict[str, np.ndarray],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A table's digits written large and bold cover over half of any four digits' width: the ink
    map's median there is over the lower threshold, but its paper between the digits is not, and
    the faint grid is looked for on the lower threshold as before (a digit more of 1,800 misread
    when half the page was taken for raised paper)."""
    changed: list[float] = []
    above = segment._above_ground

    def spy(ink: np.ndarray, low: np.ndarray, height: float, t: float) -> np.ndarray:
        out = above(ink, low, height, t)
        changed.append(float(np.mean(out.view(bool) != (ink > t))))
        return out

    monkeypatch.setattr(segment, "_above_ground", spy)
    d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(13), table=True)
    segment.find(d.image)
    assert changed and max(changed) < 0.001, changed


def test_a_lit_patch_of_the_table_beside_a_sheet_is_not_taken_for_its_shaded_paper(mnist: dict[str, np.ndarray],
                                                                                  clf) -> None:
    """The sheet is looked for at a level nearer the table's too, and taken there when it adds a
    shaded part of the sheet; here the table beside the sheet is lit as brightly as the shade on
    it, and the sheet so found took in a patch of the table (no digit of 96 was read). Nothing
    is written on that patch: the sheet found at Otsu's level stands."""
    rng = np.random.default_rng()
    rng.bit_generator.state = {"bit_generator": "PCG64", "has_uint32": 1, "uinteger": 2274291237,
                               "state": {"state": 5042529953839173519992261884592546618,
                                         "inc": 278272906083703887290699702293328866393}}
    d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=16, cols=6, height=79, size=(2481, 3507), ruled=True)
    r = read([segment.find(compose.photographed_sheet(d.image, rng))], clf.predict, clf.calibration)[0]
    assert r is not None
    got, want = r.text.replace(" ", ""), d.text.replace(" ", "")
    assert len(got) >= 0.95 * len(want) and edit_distance(got, want) <= 0.03 * len(want), (len(got), edit_distance(got, want))


def test_the_pieces_of_a_photographed_grid_fanning_out_are_no_1s(mnist: dict[str, np.ndarray], clf) -> None:
    """Squared paper photographed from a little in front: its upright lines fan out, and what is
    left of them near the sheet's slanted side, thinner than the pen, was read as 1s on a page of
    digits (155 digits read for 132, 81% of them right). Where a grid was taken out, such a mark
    is left out on a page too."""
    rng = np.random.default_rng()
    rng.bit_generator.state = {"bit_generator": "PCG64", "has_uint32": 0, "uinteger": 3908364352,
                               "state": {"state": 45596828037775528392409546946184154928,
                                         "inc": 194290289479364712180083596243593368443}}
    d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=22, cols=6, height=46, size=(1654, 2338),
                     squared=True)
    r = read([segment.find(compose.photographed_sheet(d.image, rng))], clf.predict, clf.calibration)[0]
    assert r is not None
    got, want = r.text.replace(" ", ""), d.text.replace(" ", "")
    assert len(got) <= len(want) + 2 and edit_distance(got, want) <= 0.03 * len(want), (len(got), edit_distance(got, want))
    assert not ok(r)  # a page goes to review


def test_thin_1s_end_to_end_are_a_line_s_pieces_and_a_column_of_1s_a_row_apart_is_not() -> None:
    """Where lines were taken out, thin 1s one under another end to end are what is left of one
    upright line (broken where the lines across it came out); 1s written in a column of the page
    stand a row apart, and a thin 1 alone is read as the pen drew it."""
    def lay(boxes: list[tuple[int, int, int, int]]) -> segment.Layout:
        marks = [segment.Mark(0, [segment.Piece(b, np.zeros((28, 28), np.float32), 2.0)]) for b in boxes]
        marks += [segment.Mark(0, [segment.Piece((600 + 60 * k, 100, 30, 50), np.zeros((28, 28), np.float32), 4.0)])
                  for k in range(5)]
        return segment.Layout(marks, lined=True)

    broken = [(360, 1940, 6, 46), (358, 1990, 6, 32), (357, 2024, 6, 72), (355, 2110, 5, 55)]
    assert reading._in_line(list(range(4)), lay(broken)) == {0, 1, 2, 3}
    column = [(360, 100 + 80 * k, 6, 50) for k in range(4)]  # a row's height apart: 30 pixels between
    assert reading._in_line(list(range(4)), lay(column)) == set()
    side_by_side = [(360, 1940, 6, 46), (420, 1990, 6, 46)]  # end to end, a digit's width across
    assert reading._in_line([0, 1], lay(side_by_side)) == set()


def test_a_page_whose_rows_touch_is_read_digit_by_digit(mnist: dict[str, np.ndarray], clf) -> None:
    """Rows written 1.07 digits apart: a digit's tail touches the digit under it, in the next
    row, and the two were one mark, read as one digit or none (165-169 marks for 192 digits here;
    a 600-dpi page of 50 x 25 digits: 1,158 marks for 1,250, 84.3% of its digits right, now
    97.6%). On a page such a mark is cut where it holds least ink about its middle."""
    found = errors = total = 0
    for seed in (1, 2, 3):
        d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(seed), rows=24, cols=8, height=48,
                         size=(700, 1400))
        lay = segment.find(d.image)
        r = read([lay], clf.predict, clf.calibration)[0]
        assert r is not None
        want = d.text.replace(" ", "")
        found += len(lay.marks)
        errors += edit_distance(r.text.replace(" ", ""), want)
        total += len(want)
    assert found >= 0.95 * total, (found, total)  # 562 of 576 (502 before)
    assert errors <= 0.2 * total, (errors, total)  # 75 of 576 (206 before)


def test_on_a_ruled_page_whose_rows_touch_no_mark_stays_two_digits_high(mnist: dict[str, np.ndarray]) -> None:
    """The same on ruled paper: marks joined through a rule are cut at it (`_split_across`), and
    what is still two digits high after that (a digit's tail reaching the digit below beside
    the rule's crossing) is cut as on a plain page (3 such marks on these two half-pages before;
    a 600-dpi ruled page of 50 x 25: 89.7% of its digits right, now 94.6%)."""
    for seed in (1, 2):
        d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(seed), rows=25, cols=12,
                         height=110, size=(2480, 3508), ruled=True)
        heights = np.array([m.pieces[0].box[3] for m in segment.find(d.image).marks])
        assert len(heights) >= 0.98 * len(d.text.replace(" ", ""))
        assert np.count_nonzero(heights >= segment.SPLIT_TALL * np.median(heights)) == 0, seed


def test_digits_stacked_through_two_rules_are_cut_at_each() -> None:
    """Three rows' digits joined through the two rules between them (a ruled page written 1.1
    digits apart): cut at the lower rule only, the upper rule's crossing stayed in the top part,
    which was then cut at its least ink, and a piece of the rule under a 7 read "1" (a 600-dpi
    ruled page of 50 x 25: 98.7% of its digits right, now 99.1%). Each part that tall is cut at
    its rule again; rows joined along their rules (a page at its first look's size) are not."""
    med, rule_rows = 40, (44, 90)
    lab = np.zeros((140, 400), np.int32)
    across = np.zeros((140, 400), np.uint8)
    for y in rule_rows:
        across[y - 1:y + 2, :] = 1
    lab[2:134, 20:26] = 1  # one stroke down through both rules: three digits joined
    lab[2:8, 20:50] = 1  # a 7's bar on top
    column = segment.Group(20, 2, 50, 134, [1], 1000)
    parts = segment._split_across([column], lab, across, med)
    assert len(parts) == 3, [(g.y0, g.y1) for g in parts]
    assert all(g.h < segment.SPLIT_TALL * med for g in parts)
    assert all(not across[g.y0:g.y1, 0].any() for g in parts)  # no part keeps a piece of a rule
    strip = np.zeros_like(lab)
    strip[2:134, 100:400:30] = 2  # a row of strokes down through the rules ...
    strip[rule_rows[0] - 1:rule_rows[0] + 2, 100:400] = 2  # ... joined along one of them
    wide = segment.Group(100, 2, 400, 134, [2], 3000)
    assert len(segment._split_across([wide], strip, across, med)) == 2  # cut once, as before


def test_digits_of_two_rows_touching_on_a_plain_page_are_cut_where_they_meet() -> None:
    """A 7 whose stem, as thin all down as where it meets the bold 4 under it (the next row of a
    page written 1.1 digits apart), is one mark two digits high. Its least ink about its middle
    runs the stem's length; cut at the first such row, the part above was too short to be a
    digit, and the two were read as one "7" (a plain page of 50 x 25: 98.9% right, now 99.6%).
    Of the rows of least ink, the one nearest the middle is cut."""
    med = 41
    lab = np.zeros((100, 60), np.int32)
    lab[0:8, 10:40] = 1  # the 7's bar
    lab[8:40, 30:36] = 1  # its stem, 6 px all down
    lab[40:81, 8:38] = 1  # the bold digit under it
    pair = segment.Group(8, 0, 40, 81, [1], int((lab == 1).sum()))
    parts = segment._split_stacked([pair], lab, med)
    assert len(parts) == 2, [(g.y0, g.y1) for g in parts]
    top, bottom = parts
    assert top.y0 == 0 and 36 <= top.y1 <= 41 and bottom.y1 == 81  # cut at the stem's foot
    single = segment.Group(8, 0, 40, 60, [1], 1000)  # one digit and a half high: no stack
    assert segment._split_stacked([single], lab, med) == [single]
    # a wedge (a table's corner, a shadow) widening down the picture, as wide all through the
    # band as where the band begins: no ink above the cut reaches the cut's, so no two marks meet
    wedge = np.zeros((100, 60), np.int32)
    for r in range(81):
        wedge[r, 0:min(4 + r, 20) if r < 60 else 4 + r - 40] = 2
    shade = segment.Group(0, 0, 60, 81, [2], int((wedge == 2).sum()))
    assert segment._split_stacked([shade], wedge, med) == [shade]


def test_digits_of_two_rows_touching_above_a_thin_tail_are_cut_where_they_meet() -> None:
    """A 6 whose foot touches the 7 under it, in the next row of a dense page, the 7's stem
    running on below the band about the middle as thin as the join: the stem's rows were as
    little ink as the join's, so no row of least ink had more ink below it, and the two were
    left one mark two digits high, read as one "4" (and a 3 over a 9's tail likewise). The join
    is a valley, the stem none: cut at the join."""
    med = 41
    lab = np.zeros((110, 60), np.int32)
    lab[0:38, 10:40] = 1  # the 6's body, bold
    lab[38:42, 22:27] = 1  # where it touches the 7 under it: 5 px
    lab[42:48, 8:40] = 1  # the 7's bar
    lab[48:100, 28:33] = 1  # its stem, 5 px all down, past the band's foot (row 70)
    pair = segment.Group(8, 0, 40, 100, [1], int((lab == 1).sum()))
    parts = segment._split_stacked([pair], lab, med)
    assert len(parts) == 2, [(g.y0, g.y1) for g in parts]
    top, bottom = parts
    assert top.y0 == 0 and 38 <= top.y1 <= 42  # the 6, whole
    assert 41 <= bottom.y0 <= 42 and bottom.y1 == 100  # the 7, its bar with it
    rows = (lab == 1).sum(axis=1)[:100]
    cut = segment._stack_cut(rows)
    assert cut is not None and 38 <= cut <= 41
    assert segment._stack_cut(np.arange(100)) is None  # ink growing all the way down: no valley


def _ring(lab: np.ndarray, label: int, y0: int, y1: int, x0: int, x1: int) -> None:
    """A loop drawn in `lab`: bars 4 px high top and bottom, sides 5 px wide."""
    lab[y0:y0 + 4, x0:x1] = lab[y1 - 4:y1, x0:x1] = label
    lab[y0:y1, x0:x0 + 5] = lab[y0:y1, x1 - 5:x1] = label


def test_a_stack_is_cut_where_its_rows_meet_not_at_a_thinner_waist_inside_a_digit() -> None:
    """A 0 whose foot touches the top of the 8 under it: about the mark's middle the 8's waist
    holds less ink than the join, and cut there, the 0 with the 8's upper loop read "8" and the
    rest of it nothing sure. The marks a digit high beside it, two in each row, put the rows'
    meeting at the join: the stack is cut there."""
    med = 41
    lab = np.zeros((100, 200), np.int32)
    _ring(lab, 1, 0, 34, 80, 105)  # the 0
    lab[34:36, 90:96] = 1  # where it touches the 8: 6 px
    _ring(lab, 1, 36, 60, 80, 105)  # the 8's upper loop ...
    lab[56:62, 80:105] = 0
    lab[56:62, 90:94] = 1  # ... its waist, 4 px ...
    _ring(lab, 1, 60, 84, 80, 105)  # ... and its lower loop
    stack = segment.Group(80, 0, 105, 84, [1], int((lab == 1).sum()))
    alone = segment._split_stacked([stack], lab, med)
    assert len(alone) == 2 and alone[0].y1 > 50  # no row beside it: cut at the waist, as before
    beside = []
    for label, (x0, y0, y1) in enumerate([(10, 0, 34), (150, 0, 34), (10, 36, 84), (150, 36, 84)], start=2):
        _ring(lab, label, y0, y1, x0, x0 + 25)  # two digits a row on either side
        beside.append(segment.Group(x0, y0, x0 + 25, y1, [label], int((lab == label).sum())))
    parts = segment._split_stacked([stack, *beside], lab, med)
    cut = [g for g in parts if g.x0 == 80]
    assert len(cut) == 2, [(g.y0, g.y1) for g in cut]
    top, bottom = cut
    assert top.y0 == 0 and 34 <= top.y1 <= 36  # the 0
    assert 34 <= bottom.y0 <= 36 and bottom.y1 == 84  # the 8, whole
    assert segment._rows_meet(stack, np.array([(g.x0, g.y0, g.x1, g.y1) for g in beside], np.float64), med) == 35
    assert segment._rows_meet(stack, np.array([(g.x0, g.y0, g.x1, g.y1) for g in beside[:3]], np.float64), med) is None


def _dense_page_from_jpeg(mnist: dict[str, np.ndarray], clf, tmp_path: Path, **kw: object) -> tuple[int, int]:
    """A 600-dpi page of 50 x 25 digits (seed 1) saved as JPEG and read as the daemon reads
    it (`prepare`, `classify`): (digits found, edit distance to its 1,250 digits)."""
    d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(1), rows=50, cols=25,
                     **kw)  # type: ignore[arg-type]
    path = tmp_path / "page.jpg"
    cv2.imwrite(str(path), d.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    r = classify([prepare(str(path), 200_000_000, 200_000_000)], clf.predict, clf.calibration)[0]
    assert r is not None
    return len(r.digits), edit_distance(r.text.replace(" ", ""), d.text.replace(" ", ""))


def test_a_dense_plain_page_whose_rows_touch_is_read_from_its_jpeg(mnist: dict[str, np.ndarray], clf,
                                                                  tmp_path: Path) -> None:
    """A plain page written 1.1 digits apart: a digit's tail touching the digit under it is cut
    there (`_split_stacked`), even where the tail is as thin as the join."""
    found, errors = _dense_page_from_jpeg(mnist, clf, tmp_path, ruled=False)
    assert found >= 0.998 * 1250, found  # 1,249 of 1,250 (1,247 before)
    # 9 of 1,250 since the 52nd pass cuts a stack where its rows meet; 11 with the model of the
    # 50th pass (more than before it: a 6 cut into three 1s, as on the ruled page, a 4 read where
    # none is, a 7 read 1, a 9 read 4), 5 with the model before it; 11 before thin tails were cut
    assert errors <= 0.009 * 1250


def _dense_ruled_page_from_jpeg(mnist: dict[str, np.ndarray], clf, tmp_path: Path,
                                rule: tuple[float, int]) -> tuple[int, int]:
    """`_dense_page_from_jpeg` on ruled paper, its rules of this ink and width."""
    return _dense_page_from_jpeg(mnist, clf, tmp_path, ruled=True, rule=rule)


def test_a_600_dpi_ruled_page_whose_rows_touch_is_read_from_its_jpeg_at_half_size(
        mnist: dict[str, np.ndarray], clf, tmp_path: Path) -> None:
    """The daemon's path: a 35-Mpx JPEG is decoded at half its size. There this page's rules came
    out a little darker at their middles than the midpoint from their (edge-blurred) median to
    the pen, were put back whole as writing and joined each row's digits into marks (901 of
    1,250 digits found, 70.2% right); then digits stacked through two rules kept a piece of the
    one between them (98.7% right)."""
    found, errors = _dense_ruled_page_from_jpeg(mnist, clf, tmp_path, (0.8, 3))
    assert found >= 0.99 * 1250, found  # 1,250 of 1,250
    assert errors <= 0.012 * 1250  # 11 of 1,250


def test_a_dense_ruled_page_whose_rules_and_digits_make_a_net_keeps_its_1s(mnist: dict[str, np.ndarray], clf,
                                                                            tmp_path: Path) -> None:
    """A dense ruled page (seed 6) whose rules and the digits touching them are, at the first look
    of the reading scale, one net under half the page's height: the net's holes (30 px, between
    the rules and the digits on them) were taken for the digits' height (40), so every 1 standing
    on a rule was longer than a box's side must be and was taken out with the rules (132 of its
    143 1s read, 1,239 of 1,250 digits, 32 wrong). The digits are measured without the rules."""
    d = compose.page(mnist["x_test"], mnist["y_test"], np.random.default_rng(6), rows=50, cols=25, ruled=True)
    path = tmp_path / "page.jpg"
    cv2.imwrite(str(path), d.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    r = classify([prepare(str(path), 200_000_000, 200_000_000)], clf.predict, clf.calibration)[0]
    assert r is not None
    got, want = r.text.replace(" ", ""), d.text.replace(" ", "")
    assert abs(got.count("1") - want.count("1")) <= 3, (got.count("1"), want.count("1"))  # 145 of 143
    assert len(got) >= 0.998 * len(want)  # 1,252
    assert edit_distance(got, want) <= 0.015 * len(want)  # 15


def test_a_net_of_rules_and_digits_is_measured_by_its_digits_and_a_grid_by_its_cells() -> None:
    """`_ruled_height`: rules found as lines across the page, digits touching them: the digits'
    height, measured without the rules; no rules (a faint grid's net): None, its cells' height
    stands; a measure no taller than the cells, or over `NET_TALL` of them: None too."""
    mask = np.zeros((400, 600), np.uint8)
    for y in range(50, 400, 60):
        mask[y:y + 2, :] = 1  # rules, 2 px thin, across the page
        for x in range(20, 580, 40):
            mask[y - 40:y, x:x + 12] = 1  # a digit standing on it, 40 px high ...
            mask[y - 30:y - 10, x + 4:x + 8] = 0  # ... with a hole in it
    assert segment._ruled_height(mask, 30.0) == pytest.approx(40, abs=2)
    assert segment._ruled_height(mask, 45.0) is None  # a measure no taller than the cells: theirs stands
    no_rules = mask.copy()
    no_rules[np.arange(400) % 60 >= 50] = 0
    assert segment._ruled_height(no_rules, 30.0) is None
    assert segment._ruled_height(mask, 10.0) is None  # marks over `NET_TALL` cells high: not the net's digits


def test_a_dense_page_whose_rules_are_as_dark_as_the_pen_is_read_at_its_digits_size(
        mnist: dict[str, np.ndarray], clf, tmp_path: Path) -> None:
    """Rules as dark as the pen on a page of 50 rows: at the first look (8 px digits) each digit
    touching a rule joins the rows, and the marks measured twice a digit's height. The page was
    read at half the target height, 20 px, exactly `RESCALE_BELOW` then (0.5), so not found
    again: 1,015 of 1,250 digits found, 77.1% right. Under 0.6 of the target it is found again at
    the digits' size."""
    found, errors = _dense_ruled_page_from_jpeg(mnist, clf, tmp_path, (1.0, 3))
    assert found >= 0.99 * 1250, found
    assert errors <= 0.04 * 1250


def test_marks_that_read_surely_whole_are_never_cut(mnist: dict[str, np.ndarray], clf) -> None:
    """No cut can beat a mark that reads surely whole (each cut costs CUT_PRIOR), so only the marks
    that do not are cut and their pieces classified: a page classifies about one piece a digit,
    and reads the same digits as when every wide mark's pieces are classified."""
    rng = np.random.default_rng(19)
    d = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=6, cols=8, height=60, size=(1000, 800))
    classified = []

    def counting(x: np.ndarray) -> np.ndarray:
        classified.append(len(x))
        return clf.predict(x)

    lazy = read([segment.find(d.image)], counting, clf.calibration)[0]
    eager_layout = segment.find(d.image)
    cut = sum(len(m.expand()) for m in eager_layout.marks)
    eager = read([eager_layout], clf.predict, clf.calibration)[0]
    assert lazy is not None and eager is not None
    assert cut > 0.5 * len(eager_layout.marks)  # pieces there were to classify (measured about 2 a mark)
    assert sum(classified) <= 1.2 * len(eager_layout.marks) + 1
    assert [(x.box, x.digit) for x in lazy.digits] == [(x.box, x.digit) for x in eager.digits]


def test_letters_drawn_here_are_never_ok(clf) -> None:
    import cv2 as cv

    for k, ch in enumerate("AEFHKMNRWXYkmnwx"):
        big = np.zeros((112, 112), np.uint8)
        cv.putText(big, ch, (20, 90), cv.FONT_HERSHEY_SIMPLEX, 2.6, 255, 8, cv.LINE_AA)
        img = 255 - cv.resize(negatives.mnist_frame(big), (140, 140), interpolation=cv.INTER_CUBIC)
        p = prepare_array(img, k)
        r = classify([p], clf.predict, clf.calibration)[0]
        row = make_row(f"letter{k}.png", "", p, r, 0.85, clf.version)
        assert row.status != "ok", (ch, row)
        assert row.error.startswith("review: " if row.status == "review" else "no digit found"), (ch, row)


def test_a_symbol_whose_parts_stand_over_or_in_a_mark_is_never_ok(mnist: dict[str, np.ndarray], clf) -> None:
    """A "%" was read "010" `ok` (its rings either side of the slash), a "?" read 7 and a "!" read
    1 (their dots left out as specks; a "?"'s solid dot taken for a form's box), alone on a canvas
    or among digits. A part right over or under a mark, or inside the box of a mark far taller
    than it, is no digit beside a digit: the file goes to review."""
    fonts = {"%": cv2.FONT_HERSHEY_SIMPLEX, "?": cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, "!": cv2.FONT_HERSHEY_SCRIPT_SIMPLEX}
    digits = [mnist["x_test"][i] for i in (0, 1, 2)]  # 7, 2, 1
    for k, (ch, font) in enumerate(fonts.items()):
        canvas = np.zeros((260, 260), np.uint8)
        cv2.putText(canvas, ch, (60, 190), font, 5, 255, 6, cv2.LINE_AA)
        p = prepare_array(255 - canvas, 200 + k)
        row = make_row(f"symbol{k}.png", "", p, classify([p], clf.predict, clf.calibration)[0], 0.85, clf.version)
        assert row.status != "ok", (ch, row)
        # between two digits of a number, drawn as large as they are
        ys, xs = np.nonzero(canvas)
        glyph = cv2.resize(canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1], None, fx=0.5, fy=0.5,
                           interpolation=cv2.INTER_AREA)
        big = [cv2.resize(d, (84, 84)) for d in digits]
        line = np.zeros((120, 84 * 3 + glyph.shape[1] + 40), np.uint8)
        line[18:102, :84] = big[0]
        line[18:102, 84:168] = big[1]
        gy = 18 + max(0, (84 - glyph.shape[0]) // 2)
        line[gy:gy + glyph.shape[0], 178:178 + glyph.shape[1]] = glyph[:102 - gy]
        line[18:102, 188 + glyph.shape[1]:272 + glyph.shape[1]] = big[2]
        p = prepare_array(255 - line, 210 + k)
        row = make_row(f"number{k}.png", "", p, classify([p], clf.predict, clf.calibration)[0], 0.85, clf.version)
        assert row.status != "ok", (ch, row)


def test_printed_letters_before_a_number_are_no_parts_of_its_whole_reading(mnist: dict[str, np.ndarray], clf) -> None:
    """"ID: 13" in print and pen: the single-digit reader framed the 1 and the 3 together and read
    them as one sure 3. Marks left unread may make a picture one digit in pieces, but only those
    within that digit's box: the printed I and D beside it counted too, and "13" was read "3" `ok`."""
    h = 69
    inks = _inks_of(mnist, [3761, 4758], h)  # a 1 and a 3
    c = np.zeros((2 * h, 260), np.float32)
    text = np.zeros(c.shape, np.uint8)
    cv2.putText(text, "ID:", (10, h + h // 2 - 2), cv2.FONT_HERSHEY_COMPLEX, 1.84, 255, 2, cv2.LINE_AA)
    c = np.maximum(c, text / 255.0).astype(np.float32)
    x = 128
    for ink in inks:
        c[h // 2:h // 2 + h, x:x + ink.shape[1]] = np.maximum(c[h // 2:h // 2 + h, x:x + ink.shape[1]], ink)
        x += ink.shape[1] + h // 4
    img = (245 - 215 * c + np.random.default_rng(0).normal(0, 3, c.shape)).clip(0, 255).astype(np.uint8)
    r = read([segment.find(img)], clf.predict, clf.calibration)[0]
    assert r is not None
    assert r.text.replace(" ", "") == "13" or not ok(r), r


def test_a_printed_separator_between_a_dates_fields_is_never_read_as_a_sure_1(mnist: dict[str, np.ndarray], clf) -> None:
    """A form's thin printed bars between the fields of a date ("12|05|26") stood alone, shorter
    than any line looked for, and were read as sure 1s (24 of 60 such numbers `ok` and wrong). A
    pen's 1 is never as straight and as even as a printer's line: such a mark read as 1 is doubted."""
    rng = np.random.default_rng(8)
    for _ in range(12):
        h = int(rng.integers(30, 50))
        idx = rng.integers(0, len(mnist["x_test"]), 6)
        inks = _inks_of(mnist, idx, h)
        gap = h // 3
        groups = [_in_a_row(inks[k:k + 2], gap) for k in (0, 2, 4)]
        bar = np.ones((h, int(rng.integers(1, 4))), np.float32)  # the printed separator
        space = np.zeros((h, gap), np.float32)
        row = np.hstack([groups[0][:h], space, bar, space, groups[1][:h], space, bar, space, groups[2][:h]])
        img = (235 - 205 * np.pad(row, h // 3)).clip(0, 255).astype(np.uint8)
        want = "".join(str(mnist["y_test"][i]) for i in idx)
        r = read([segment.find(img)], clf.predict, clf.calibration)[0]
        assert r is not None
        assert not silent(r, want), (want, r.text, r.doubts)


def test_two_digits_drawn_in_a_digit_sized_canvas_are_never_ok(mnist: dict[str, np.ndarray], clf) -> None:
    """A 28x28 picture is read as one digit, but people do draw "12" in one (wild-dev has "11"
    and "12"): the thin 1 was dropped as an edge band, or taken in with the 2 and read as a sure
    2. A mark beside the digit as tall as it now sends the file to review."""
    x, y = mnist["x_test"], mnist["y_test"]
    pairs = [(1, 2), (1, 1), (1, 7), (1, 5), (7, 1), (3, 1), (4, 1), (1, 0)]
    for k, (a, b) in enumerate(pairs):
        canvas = np.zeros((28, 28), np.uint8)
        for digit, x0 in ((a, 2), (b, 15)):
            d = x[np.flatnonzero(y == digit)[k]]
            ys, xs = np.nonzero(d > 40)
            crop = d[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            h, w = crop.shape
            s = min(20 / h, 11 / w)
            small = cv2.resize(crop, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            canvas[4:4 + small.shape[0], x0:x0 + small.shape[1]] = small
        p = prepare_array(255 - canvas, 100 + k)
        r = classify([p], clf.predict, clf.calibration)[0]
        row = make_row(f"pair{k}.png", "", p, r, 0.85, clf.version)
        assert row.status != "ok" or row.text == f"{a}{b}", (a, b, row)


def prepare_array(img: np.ndarray, k: int):
    path = Path(f"/tmp/dw-letter-{k}.png")
    cv2.imwrite(str(path), img)
    try:
        return prepare(str(path), 10_000_000, 10_000_000)
    finally:
        path.unlink()


def test_the_daemon_writes_text_count_and_digits_csv(tmp_path: Path, mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    rng = np.random.default_rng(13)
    texts = {}
    for k, field in enumerate(["plain", "plain", "box", "underline", "comb", "plain"]):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, field=field, touching=False)
        cv2.imwrite(str(inbox / f"n{k}.png"), d.image)
        texts[f"n{k}.png"] = d.text
    page = compose.page(mnist["x_test"], mnist["y_test"], rng, rows=6, cols=8, ruled=True, height=60, size=(1200, 900))
    cv2.imwrite(str(inbox / "page.jpg"), page.image)
    singles = write_digits(inbox, mnist["x_test"][:4], prefix="s")
    proc = DaemonProc(inbox, outbox, "--once")
    assert proc.p.wait(120) == 0, proc.output()
    got = {r["file"]: r for r in rows(outbox)}
    assert len(got) == 11
    r = got["page.jpg"]
    assert len(r["text"].split(" ")) == 6  # six lines
    assert edit_distance(r["text"].replace(" ", ""), page.text.replace(" ", "")) <= 2
    on_page = [x for x in digits_csv(outbox) if x["claim"] == r["claim"]]
    assert "".join(x["digit"] for x in on_page) == r["text"].replace(" ", "")
    assert sorted({int(x["line"]) for x in on_page}) == list(range(6))
    for name in singles:
        r = got[name]
        assert r["count"] == "1" and r["digit"] == r["text"] and len(r["digit"]) == 1
    per = digits_csv(outbox)
    for name in texts:
        r = got[name]
        assert r["status"] != "error", r
        assert r["count"] == str(len(r["text"].replace(" ", "")))
        assert r["digit"] == ("" if r["count"] != "1" else r["text"])
        mine = sorted((x for x in per if x["claim"] == r["claim"]), key=lambda x: int(x["index"]))
        assert "".join(x["digit"] for x in mine) == r["text"].replace(" ", "")
        assert all(int(x["w"]) > 0 and int(x["h"]) > 0 for x in mine)
    exact = sum(got[n]["text"].replace(" ", "") == t for n, t in texts.items())
    assert exact >= 4
    assert all(got[n]["status"] != "ok" or got[n]["text"].replace(" ", "") == t for n, t in texts.items())


def test_a_scanned_tiff_of_two_pages_is_read_page_after_page(tmp_path: Path, mnist: dict[str, np.ndarray]) -> None:
    """A scanner's document of two pages: one row with both pages' digits in order, digits.csv boxes
    on the pages stacked top to bottom (only the first page was read before, `ok`)."""
    from PIL import Image

    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    rng = np.random.default_rng(5)
    numbers = [compose.number(mnist["x_test"], mnist["y_test"], rng, field="plain", touching=False) for _ in range(2)]
    pages = []
    for d in numbers:
        sheet = np.full((700, 1000), 255, np.uint8)  # the number on a page, well inside its margins
        g = d.image if d.image.ndim == 2 else cv2.cvtColor(d.image, cv2.COLOR_BGR2GRAY)
        h, w = min(g.shape[0], 450), min(g.shape[1], 850)
        sheet[200:200 + h, 100:100 + w] = g[:h, :w]
        pages.append(Image.fromarray(sheet))
    pages[0].save(inbox / "scan.tif", format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    proc = DaemonProc(inbox, outbox, "--once")
    assert proc.p.wait(120) == 0, proc.output()
    (r,) = rows(outbox)
    assert r["status"] != "error", r
    assert r["text"].replace(" ", "") == numbers[0].text + numbers[1].text
    assert len(r["text"].split(" ")) == 2  # a line a page
    mine = [x for x in digits_csv(outbox) if x["claim"] == r["claim"]]
    first = [x for x in mine if x["line"] == "0"]
    second = [x for x in mine if x["line"] == "1"]
    assert all(200 <= int(x["y"]) < 700 for x in first)
    assert all(700 + 200 <= int(x["y"]) for x in second)  # under the first page (and the gap)


def test_files_as_scanners_and_phones_write_them_are_read(tmp_path: Path, mnist: dict[str, np.ndarray]) -> None:
    """SANE's `scanimage` writes Netpbm: a 12-bit greymap (samples up to 4095, stored in 16 bits)
    and an 8-bit one; an iPhone saves HEIC, stored sideways with the turn in EXIF; a fax machine
    a TIFF of pixels twice as tall as wide; an office scanner a PDF of two pages. Each is read like
    any scan (the fax was read squashed before, the others were "not an image"), the PDF's pages
    in order, its digits' boxes at 300 dpi on the pages stacked."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    rng = np.random.default_rng(8)

    def number() -> tuple[np.ndarray, str]:
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, field="plain", touching=False)
        return (d.image if d.image.ndim == 2 else cv2.cvtColor(d.image, cv2.COLOR_BGR2GRAY)), d.text

    want = {}
    for name, maxval in (("scan12.pnm", 4095), ("scan8.pgm", 255)):
        g, want[name] = number()
        samples = (g.astype(np.int64) * maxval + 127) // 255
        body = samples.astype(">u2" if maxval > 255 else np.uint8).tobytes()
        (inbox / name).write_bytes(f"P5\n# SANE data follows\n{g.shape[1]} {g.shape[0]}\n{maxval}\n".encode() + body)
    g, want["photo.heic"] = number()
    im = Image.fromarray(cv2.rotate(g, cv2.ROTATE_90_COUNTERCLOCKWISE)).convert("RGB")
    exif = im.getexif()
    exif[0x0112] = 6  # turn it a quarter clockwise to show it
    im.save(inbox / "photo.heic", "HEIF", exif=exif.tobytes(), quality=90)
    g, want["fax.tif"] = number()  # a standard fax: 204 x 98 dpi, half the rows, black and white
    fax = Image.fromarray(cv2.resize(g, (g.shape[1], g.shape[0] // 2), interpolation=cv2.INTER_AREA))
    fax.point(lambda v: 255 if v > 128 else 0).convert("1").save(inbox / "fax.tif", compression="group3", dpi=(204, 98))
    pages, texts = [], []
    for _ in range(2):
        g, text = number()
        sheet = np.full((700, 1000), 255, np.uint8)  # the number on a page, well inside its margins
        h, w = min(g.shape[0], 450), min(g.shape[1], 850)
        sheet[200:200 + h, 100:100 + w] = g[:h, :w]
        pages.append(Image.fromarray(sheet))
        texts.append(text)
    pages[0].save(inbox / "scan.pdf", "PDF", resolution=300, save_all=True, append_images=pages[1:])
    want["scan.pdf"] = "".join(texts)
    proc = DaemonProc(inbox, outbox, "--once")
    assert proc.p.wait(120) == 0, proc.output()
    got = {r["file"]: r for r in rows(outbox)}
    assert set(got) == set(want)
    for name, text in want.items():
        assert got[name]["status"] != "error", got[name]
        assert got[name]["text"].replace(" ", "") == text, (name, got[name])
    assert len(got["scan.pdf"]["text"].split(" ")) == 2  # a line a page
    mine = [x for x in digits_csv(outbox) if x["claim"] == got["scan.pdf"]["claim"]]
    assert all(200 <= int(x["y"]) < 700 for x in mine if x["line"] == "0")
    assert all(700 + 200 <= int(x["y"]) for x in mine if x["line"] == "1")  # under the first page


def test_kill9_between_digits_and_rows_leaves_no_duplicate_through_the_join(tmp_path: Path,
                                                                          mnist: dict[str, np.ndarray]) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc for the fault-injection shim")
    so = tmp_path / "crashpoint.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(so), str(REPO / "tests" / "native" / "crashpoint.c"),
                    "-ldl"], check=True)
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    rng = np.random.default_rng(17)
    for k in range(8):
        cv2.imwrite(str(inbox / f"n{k}.png"), compose.number(mnist["x_test"], mnist["y_test"], rng, field="plain",
                                                             touching=False).image)
    # the 2nd write to results.csv is the first batch's rows (the 1st is the header)
    d = DaemonProc(inbox, outbox, env={"LD_PRELOAD": str(so), "CRASHPOINT_WRITE": "results.csv", "CRASHPOINT_N": "2"})
    assert d.p.wait(120) == -signal.SIGKILL, d.output()
    assert rows(outbox) == []
    assert digits_csv(outbox)  # written, fsynced, and joined by no row
    d = DaemonProc(inbox, outbox)
    try:
        got = wait_rows(outbox, 8, 120)
        assert d.stop() == 0
    finally:
        d.kill()
    per = digits_csv(outbox)
    claims = {r["claim"] for r in got}
    assert {x["claim"] for x in per} <= claims  # the orphans were cut at start
    for r in got:
        mine = [x for x in per if x["claim"] == r["claim"]]
        assert [int(x["index"]) for x in mine] == list(range(len(mine)))  # no digit twice
        assert "".join(x["digit"] for x in mine) == r["text"].replace(" ", "")


def test_an_old_results_csv_is_set_aside_and_still_counts_for_recovery(tmp_path: Path,
                                                                      mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    old_header = b"file,digit,confidence,status,error,time,sha256,model_version,claim\r\n"
    (outbox / "results.csv").write_bytes(old_header + b"a.png,7,0.9999,ok,,2026-01-01T00:00:00.000Z,ab,v1,c1\r\n")
    write_digits(inbox, mnist["x_test"][:3], prefix="s")
    d = DaemonProc(inbox, outbox, "--once")
    assert d.p.wait(120) == 0, d.output()
    assert (outbox / "results.csv").read_bytes().startswith(HEADER)
    kept = list(outbox.glob("results-*.csv"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(old_header)
    assert "had other columns" in d.output()
    from watcher.results import claims_recorded

    recorded = claims_recorded(outbox / "results.csv")
    assert "c1" in recorded and len(recorded) == 4


def test_read_digit_sends_a_file_of_several_to_review(tmp_path: Path, mnist: dict[str, np.ndarray], clf) -> None:
    rng = np.random.default_rng(19)
    d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=3, field="plain", touching=False)
    path = tmp_path / "n.png"
    cv2.imwrite(str(path), d.image)
    p = prepare(str(path), 10_000_000, 10_000_000)
    r = classify([p], clf.predict, clf.calibration)[0]
    several = make_row("n.png", "", p, r, 0.0, clf.version, one_digit=True)
    assert several.status == "review" and several.error == "review: several marks in a file of one digit"
    plain = make_row("n.png", "", p, r, 0.0, clf.version, one_digit=False)
    assert plain.status == "ok" and plain.error == ""


def test_a_row_in_review_says_why_and_the_reason_follows_the_rule() -> None:
    """A file in review may show a high confidence (a mark left out as no digit, a wide mark read
    as one digit, a low raw score): its `error` column says why, and says something exactly when
    the row rule sends it to review."""
    from watcher.pipeline import needs_review, review_reason

    assert review_reason(0.99, 0.99, [], 0.85) == ""
    assert review_reason(0.60, 0.99, [], 0.85) == "review: confidence under 0.85"
    assert review_reason(0.99, 0.8499, [], 0.85) == "review: may not be digits (the model's raw score 0.849)"
    assert review_reason(0.99, 0.99, ["1 mark(s) not read as digits"], 0.85) == "review: 1 mark(s) not read as digits"
    assert review_reason(0.5, 0.4, ["a", "b"], 0.9) == (
        "review: confidence under 0.9; may not be digits (the model's raw score 0.400); a; b")
    grid = np.linspace(0, 1, 21)
    for c in grid:
        for raw in grid:
            for doubts in ([], ["x"]):
                assert bool(review_reason(float(c), float(raw), doubts, 0.85)) == needs_review(
                    float(c), float(raw), bool(doubts), 0.85)


def test_labels_for_evaluate_score_what_they_say(tmp_path: Path) -> None:
    # wild-dev marks a file it does not score with `x` (ambiguous, several digits, a letter): left
    # out, not counted as "not a digit"; a letter given as a label or a nondigit kind expects nothing
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "labels.csv").write_text("file,label\n1.png,7\n2.png,x\n3.png,S\n")
    assert [(p.name, w) for p, w in text_labels(tmp_path / "a" / "labels.csv")] == [("1.png", "7"), ("3.png", "")]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "labels.csv").write_text(
        "file,text,kind\n1.png,42 7,number\n2.png,,nondigit\n3.png,,page\n")
    assert [(p.name, w) for p, w in text_labels(tmp_path / "b" / "labels.csv")] == [("1.png", "427"), ("2.png", "")]


def test_a_box_round_a_field_is_taken_out_before_its_digits_are_read(mnist: dict[str, np.ndarray], clf) -> None:
    """A box round one digit, or round two touching digits no wider together than one wide digit,
    was read with the single-digit reader, box and all: the box swallowed into the digit, or cut
    with it ("10" in a box read as 1, in review). Where printed lines were taken out, or a frame
    holds ink wider than a digit, the file is read as a form's field: its lines out first.
    Before: 79 and 64 of 80 right, 22 single digits in review; after: 80, 73 and 10."""
    rng = np.random.default_rng(32)
    right, review = {1: 0, 2: 0}, 0
    for n in (1, 2):
        for _ in range(80):
            d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=n, field="box", touching=True)
            r = read([segment.find(d.image)], clf.predict, clf.calibration)[0]
            assert r is not None and not silent(r, d.text)
            right[n] += r.text == d.text
            review += n == 1 and not ok(r)
    assert right[1] >= 78 and right[2] >= 70 and review <= 15, (right, review)


def _tray_mask(shape: str) -> np.ndarray:
    """A 40 px digit's working mask: a comb of one cell under a digit-sized ring, or a digit's own
    strokes that look like one (an open 4 drawn as a cup with its stem below, a U)."""
    m = np.zeros((120, 120), np.uint8)
    if shape == "tray":
        cv2.ellipse(m, (60, 50), (12, 20), 0, 0, 360, 1, 3)  # the digit, standing free
        cv2.line(m, (38, 80), (82, 80), 1, 2)  # the base
        for x in (38, 82):
            cv2.line(m, (x, 80), (x, 68), 1, 2)  # its ticks
    elif shape == "bold tray, a digit along its base":  # the base as thick as the pen, a 0's bottom lying on it
        cv2.ellipse(m, (60, 56), (12, 20), 0, 0, 360, 1, 6)
        cv2.line(m, (38, 80), (82, 80), 1, 5)
        for x in (38, 82):
            cv2.line(m, (x, 80), (x, 68), 1, 5)
    elif shape == "tray, a digit over a tick":  # a 7's stem standing over the left tick
        cv2.line(m, (30, 24), (70, 24), 1, 3)
        cv2.line(m, (70, 24), (40, 62), 1, 3)
        cv2.line(m, (38, 80), (82, 80), 1, 2)
        for x in (38, 82):
            cv2.line(m, (x, 80), (x, 68), 1, 2)
    elif shape == "cup, strokes over both ends":  # broken arms: ink above both ticks
        cv2.line(m, (40, 66), (40, 80), 1, 3)
        cv2.line(m, (40, 80), (80, 80), 1, 3)
        cv2.line(m, (80, 80), (80, 66), 1, 3)
        cv2.line(m, (40, 30), (40, 60), 1, 3)
        cv2.line(m, (80, 30), (80, 60), 1, 3)
    elif shape == "open 4":
        cv2.line(m, (40, 30), (40, 70), 1, 3)
        cv2.line(m, (40, 70), (80, 70), 1, 3)
        cv2.line(m, (80, 58), (80, 100), 1, 3)  # the stem runs on below the bar
    elif shape == "U":
        cv2.line(m, (40, 30), (40, 80), 1, 3)
        cv2.line(m, (40, 80), (80, 80), 1, 3)
        cv2.line(m, (80, 80), (80, 30), 1, 3)
    return m


def test_a_comb_of_one_cell_is_taken_out_and_a_digits_cup_is_not() -> None:
    """A tray (a base about a digit wide, a short tick up at each end) under one digit is a comb
    of one cell: shorter than any line taken out, it was read with the digit. A digit's own cup
    (an open 4's bar with its stem below, a U's arms) is no tray."""
    out, tray = formlines.trays_out(_tray_mask("tray"), 40.0)
    assert tray[80, 60] and tray[72, 38] and tray[72, 82]  # the base and both ticks
    assert out[50, 48] and not out[80, 60]  # the ring stays, the base goes
    # printed as thick as the pen with a digit's bottom along it, or with the digit standing
    # over one tick: a tray still ("0" read "9", "7" read "2" with theirs)
    out, tray = formlines.trays_out(_tray_mask("bold tray, a digit along its base"), 40.0)
    assert tray[80, 45] and tray[72, 38] and tray[72, 82] and out[56, 48]
    out, tray = formlines.trays_out(_tray_mask("tray, a digit over a tick"), 40.0)
    assert tray[80, 60] and tray[72, 38] and tray[72, 82] and out[24, 50] and out[60, 41]
    for shape in ("open 4", "U", "cup, strokes over both ends"):
        m = _tray_mask(shape)
        out, tray = formlines.trays_out(m, 40.0)
        assert not tray.any() and (out == m).all(), shape


@pytest.mark.parametrize(("field", "seed", "least", "most_review"), [("comb", 33, 110, 50), ("underline", 34, 117, 20)])
def test_a_digit_in_a_comb_of_one_cell_or_on_a_short_underline_is_read_without_it(
        mnist: dict[str, np.ndarray], clf, field: str, seed: int, least: int, most_review: int) -> None:
    """Single digits rendered in a comb of one cell, or on an underline, read through the daemon's
    reader: the tray was read with the digit, doubtfully; where the digit stood on its underline,
    the two were one mark ("12", or no digit). Comb: before, 111 of 120 right, 63 in review; after
    112 and 42 (300 others, seed 7: 276 and 150 before, 289 and 94 after; 286 right before, 288
    after trays as thick as the pen or with the digit over a tick were taken out too). Underline: before 113
    and 36; after 119 and 8 (seed 35: 111 and 38 before, 115 and 16 after)."""
    rng = np.random.default_rng(seed)
    right = review = 0
    for _ in range(120):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, n=1, field=field)
        r = read([segment.find(d.image)], clf.predict, clf.calibration)[0]
        assert r is None or not silent(r, d.text)
        right += r is not None and r.text == d.text
        review += r is None or not ok(r)
    assert right >= least and review <= most_review, (right, review)


def test_the_rules_left_of_a_tall_box_do_not_set_the_digits_height() -> None:
    """A box taller than wide round one digit: its sides come out as lines, its top and bottom
    are too short to. Weighted by ink, those two solid bars outweighed the digit, the digit's
    height was taken as a rule's (8 px instead of 33: the components of a rendered field), and
    the digit was cut up as lines ("no digit found")."""
    st = np.array([[0, 0, 127, 105, 12552],  # the paper
                   [28, 21, 34, 7, 206],  # the box's top, its sides taken out
                   [34, 34, 21, 33, 369],  # the digit, an 8 drawn thin
                   [28, 78, 34, 8, 208]])  # the box's bottom
    assert segment._digit_height(st, (105, 127)) == 33.0


def _shelf_mask(shape: str) -> np.ndarray:
    """A 40 px digit's working mask on a short underline (shorter than any line taken out), or a
    digit's own flat stroke that looks like one (a 2's base, a 4's bar)."""
    m = np.zeros((120, 160), np.uint8)
    if shape == "ring on a line":
        cv2.ellipse(m, (80, 58), (13, 20), 0, 0, 360, 1, 3)  # the digit, standing on the line
        cv2.line(m, (52, 80), (112, 80), 1, 2)
    elif shape == "2":
        cv2.ellipse(m, (80, 48), (14, 12), 0, 180, 360, 1, 3)
        cv2.line(m, (94, 48), (64, 80), 1, 3)  # the slant meets the base at its left end
        cv2.line(m, (64, 80), (110, 80), 1, 3)
    elif shape == "4":
        cv2.line(m, (66, 40), (62, 70), 1, 3)
        cv2.line(m, (56, 70), (104, 70), 1, 3)  # the bar, wider than the rest
        cv2.line(m, (90, 40), (90, 100), 1, 3)  # the stem runs on below it
    elif shape == "2 in a number":
        cv2.ellipse(m, (80, 48), (12, 12), 0, 180, 360, 1, 3)
        cv2.line(m, (92, 48), (70, 80), 1, 3)  # the slant meets its base a little in from its end
        cv2.line(m, (62, 80), (104, 80), 1, 3)
        cv2.ellipse(m, (22, 60), (10, 20), 0, 0, 360, 1, 3)  # the digits beside it
        cv2.ellipse(m, (140, 60), (10, 20), 0, 0, 360, 1, 3)
    return m


def test_a_short_underline_under_a_digit_is_taken_out_and_a_digits_base_is_not() -> None:
    """A short underline under one digit (the digit standing on it) was read with the digit, as
    "12" or no digit. A run across as thin as a rule, nothing under it, reaching past what stands
    on it at both ends is taken out; a 2's base (its slant meets one end), a 4's bar (its stem
    below) and a 2's base reaching past its slant among the digits of a number (an underline runs
    under them all: a rendered number's 2 lost its base so, and "6621" read "6671") are not."""
    out, shelf = formlines.shelves_out(_shelf_mask("ring on a line"), 40.0)
    assert shelf[80, 55] and shelf[80, 110] and not out[80, 55:111].any()
    assert out[58, 67] and out[58, 93]  # the ring's sides stay
    for shape in ("2", "4", "2 in a number"):
        m = _shelf_mask(shape)
        out, shelf = formlines.shelves_out(m, 40.0)
        assert not shelf.any() and (out == m).all(), shape


def test_cuts_that_read_alike_are_one_reading_and_pieces_that_are_no_digit_no_rival() -> None:
    """A mark of two touching digits, "31", with cut columns 0..4: the whole reads no digit; cuts
    at 1 and at 2 both read 3 and 1 surely, and the pieces between other cuts read no digit
    (0.12). The share that the reading "31" is right counts both cuts, and no path of pieces
    that are no digit: the digits of a right cut are as sure as its pieces (they were given
    0.3-0.5 where such digits were right 97% of the time)."""
    spans = [(0, 4), (0, 1), (1, 4), (0, 2), (2, 4), (1, 2), (2, 3), (3, 4), (0, 3)]
    labels = np.array([8, 3, 1, 3, 1, 5, 7, 4, 0])
    conf = np.array([0.15, 0.95, 0.93, 0.9, 0.92, 0.12, 0.12, 0.12, 0.12])
    # boxes of a shape every digit is drawn in (wider pieces are weighed down: see the test below)
    m = segment.Mark(0, [segment.Piece((0, 0, 8, 10), np.zeros(784, np.float32)) for _ in spans], spans, ends=4)
    path, share = reading._best_path(m, conf, labels)
    assert [int(labels[k]) for k in path] == [3, 1]
    both = reading.CUT_PRIOR * (0.95 * 0.93 + 0.9 * 0.92)
    assert abs(share - both / (both + 0.15)) < 1e-9  # 0.91; the right cut alone over every path: 0.44
    r = reading._path_digits(m, path, path, share, labels, conf)
    assert [d.digit for d in r] == [3, 1] and min(d.confidence for d in r) > 0.85
    # a rival reading through likely pieces does count: the share falls with it
    rival = conf.copy()
    rival[[5, 6, 7]] = 0.9
    _, shared = reading._best_path(m, rival, labels)
    assert shared < share - 0.3


def test_a_piece_wider_than_its_digit_is_drawn_loses_to_the_cut_that_parts_the_1_in_it() -> None:
    """ "913", the 1 pressed against the 9: the piece holding both reads 9 (0.84) and beats the
    path that parts the 1 (0.93, paying for one more cut) while its width is a 9's. As wide as
    no 9 in MNIST is drawn (1.18 times its height, the widest 1% from 1.05), it holds more than a
    9, and the 1 is read."""
    spans = [(0, 3), (0, 1), (1, 2), (2, 3), (0, 2)]
    labels = np.array([3, 9, 1, 3, 9])
    conf = np.array([0.13, 1.0, 0.93, 1.0, 0.84])

    def read_as(nine_and_one_wide: int) -> str:
        boxes = [(0, 0, 186, 93), (0, 6, 70, 87), (70, 9, 31, 84), (91, 1, 95, 92), (0, 0, nine_and_one_wide, 93)]
        pieces = [segment.Piece(b, np.zeros(784, np.float32)) for b in boxes]
        path, _share = reading._best_path(segment.Mark(0, pieces, spans, ends=3), conf, labels)
        return "".join(str(int(labels[k])) for k in path)

    assert read_as(84) == "93"  # 0.9 times as wide as tall: a 9 may be, and the fewer cuts win
    assert read_as(110) == "913"


def test_how_wide_each_digit_is_drawn_is_measured_on_mnists_training_split() -> None:
    """`reading.WIDEST` is the 99th percentile of each digit's ink box, width over height, in the
    55,000 training digits `train` learns from (the test split never)."""
    from conftest import MNIST, need

    with np.load(need(MNIST)) as d:
        x, y = d["x_train"][:55_000] > 80, d["y_train"][:55_000]
    cols, rows = x.any(1), x.any(2)
    width = 28 - cols[:, ::-1].argmax(1) - cols.argmax(1)
    height = 28 - rows[:, ::-1].argmax(1) - rows.argmax(1)
    measured = [float(np.quantile((width / height)[y == c], 0.99)) for c in range(10)]
    assert np.allclose(reading.WIDEST, measured, atol=0.01), measured


def test_digits_of_a_table_that_touch_the_rule_between_their_rows_are_read_in_their_rows(
        mnist: dict[str, np.ndarray], clf) -> None:
    # a table written large: each digit in its cell, some of one row standing on the rule below
    # them and those under them in the next hanging from it. Putting back the strokes that cross the rules
    # joined the two digits into one mark two rows high, which sent a row's digits into another
    rng = np.random.default_rng(2)
    rows, cols, cell, height = 4, 8, 72, 62
    idx = rng.choice(len(mnist["x_test"]), rows * cols, replace=False)
    ink = np.zeros((rows * cell + 80, cols * cell + 80), np.float32)
    for k, i in enumerate(idx):
        row, c = divmod(k, cols)
        d = mnist["x_test"][i].astype(np.float32) / 255
        ys, xs = np.nonzero(d > 0.1)
        d = d[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        d = cv2.resize(d, (max(2, round(d.shape[1] * height / d.shape[0])), height))
        x = 40 + c * cell + (cell - d.shape[1]) // 2
        # in every other column: on the rule below, or hanging from the rule above
        y = 40 + row * cell + ((cell - height) // 2 if c % 2 else cell - height - 1 if row % 2 == 0 else 1)
        ink[y:y + height, x:x + d.shape[1]] = np.maximum(ink[y:y + height, x:x + d.shape[1]], d)
    grid = np.zeros_like(ink)
    for k in range(rows + 1):
        grid[40 + k * cell - 1:40 + k * cell + 2, 40:40 + cols * cell] = 1  # 3 pixels thick
    for k in range(cols + 1):
        grid[40:40 + rows * cell, 40 + k * cell - 1:40 + k * cell + 2] = 1
    img = (245 - 150 * grid * (1 - ink) - 215 * ink).clip(0, 255).astype(np.uint8)
    lay = segment.find(img)
    tall = [m.pieces[0].box for m in lay.marks if m.pieces[0].box[3] > 1.5 * height]
    assert not tall  # no mark two rows high
    r = read([lay], clf.predict, clf.calibration)[0]
    assert r is not None
    want = ["".join(str(mnist["y_test"][i]) for i in idx[k * cols:(k + 1) * cols]) for k in range(rows)]
    got = r.text.split(" ")
    assert len(got) == rows
    assert sum(edit_distance(g, w) for g, w in zip(got, want, strict=True)) <= 2


def test_a_table_row_whose_digits_stand_high_and_low_in_their_cells_is_one_line() -> None:
    # a table's cells 206 high (measured on a rendered 600-dpi page): in a row, a 1 hangs low in
    # its cell and the 3 after it is written high, level with the 6 before the 1 but not with the
    # 1; the row below is written the same way. The 3 started a line of its own ("3" and "361...")
    def g(x: int, y: int, w: int, h: int) -> segment.Group:
        return segment.Group(x, y, x + w, y + h, [1], w * h)

    def row(top: int) -> list[segment.Group]:
        return [g(430, top + 102, 123, 140), g(657, top + 74, 144, 156), g(949, top + 102, 29, 136),
                g(1040, top + 32, 90, 123), g(1270, top + 94, 99, 132)]

    one, three = row(0)[2], row(0)[3]
    assert abs(three.cy - one.cy) > 0.5 * max(three.h, one.h)  # not level with the 1 ...
    assert three.y1 - one.y0 < 0.6 * min(three.h, one.h)  # ... nor overlapping it enough
    lines = segment._lines(row(0) + row(206))
    assert [[m.x0 for m in ln] for ln in lines] == [[430, 657, 949, 1040, 1270]] * 2
    assert [m.y0 for m in lines[1]] == [308, 280, 308, 238, 300]


def test_two_lines_sloped_past_levelling_their_digits_wide_apart_stay_two_lines() -> None:
    # "12345" over "67890" photographed 8 degrees off (multi-dev's 0191.png turned: the boxes the
    # finder measured), too few marks for a page's slope to be measured and past the 6 degrees
    # `slope.skew` levels. The 9 stands 0.6 of a digit above the 8 before it and overlaps it too
    # little to be level with it; it started a line of its own, read before "678" ("12345 90 678",
    # `ok`). Followed along its slope, the line runs on to the 9 and the 0.
    def g(x: int, y: int, w: int, h: int) -> segment.Group:
        return segment.Group(x, y, x + w, y + h, [1], w * h)

    top = [g(228, 276, 8, 49), g(291, 265, 30, 43), g(373, 251, 26, 43), g(464, 234, 19, 40), g(553, 221, 22, 39)]
    low = [g(228, 369, 21, 38), g(301, 351, 19, 39), g(390, 337, 23, 31), g(481, 314, 22, 35), g(566, 301, 22, 28)]
    eight, nine = low[2], low[3]
    assert abs(nine.cy - eight.cy) > 0.5 * max(nine.h, eight.h)  # not level with the 8 ...
    assert min(nine.y1, eight.y1) - max(nine.y0, eight.y0) < 0.6 * min(nine.h, eight.h)  # ... nor overlapping it enough
    lines = segment._lines(top + low)
    assert [[m.x0 for m in ln] for ln in lines] == [[228, 291, 373, 464, 553], [228, 301, 390, 481, 566]]
    assert [m.y0 for m in lines[1]] == [369, 351, 337, 314, 301]


def test_a_stroke_down_the_picture_is_no_digit_and_no_line_runs_through_it() -> None:
    # a photographed note of three rows (the boxes the finder measured on a rendered one): the
    # sheet's edges, in shade, were left as two strokes six digits tall. Level with every digit
    # beside them, they chained the second and third rows into one line, read `ok` out of order
    # with the two strokes read as 1s ("461303 192735457421 71" for "461303 234742 975571")
    def g(x: int, y: int, w: int, h: int) -> segment.Group:
        return segment.Group(x, y, x + w, y + h, [1], w * h)

    one = [g(123, 92, 24, 32), g(175, 96, 30, 36), g(254, 109, 19, 31), g(294, 112, 29, 31), g(328, 112, 29, 33),
           g(393, 119, 38, 33)]
    two = [g(106, 163, 29, 38), g(173, 168, 29, 40), g(220, 175, 32, 40), g(266, 183, 36, 33), g(323, 185, 22, 37),
           g(389, 197, 35, 35)]
    three = [g(91, 245, 24, 35), g(148, 249, 25, 36), g(204, 256, 23, 37), g(251, 257, 59, 39), g(323, 270, 29, 37),
             g(376, 270, 26, 39)]
    edges = [g(57, 90, 22, 221), g(462, 85, 10, 231)]
    marks = one + two + three + edges
    rows = [[m.x0 for m in row] for row in (one, two, three)]
    assert [[m.x0 for m in ln if m not in edges] for ln in segment._lines(marks)] != rows  # through the edges, rows run together
    towers = segment._towers(marks)
    assert towers == edges
    lines = segment._lines([m for m in marks if m not in towers])
    assert [[m.x0 for m in ln] for ln in lines] == rows
    assert segment._towers(one[:2]) == [] and segment._towers(edges) == []


def _inks_of(mnist: dict[str, np.ndarray], idx: Sequence[int] | np.ndarray, h: int) -> list[np.ndarray]:
    """MNIST test digits' ink [0, 1], each cut to its own strokes and scaled to `h` pixels high."""
    inks = []
    for i in idx:
        d = mnist["x_test"][i].astype(np.float32) / 255
        ys, xs = np.nonzero(d > 0.1)
        d = d[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        inks.append(cv2.resize(d, (max(2, round(d.shape[1] * h / d.shape[0])), h)))
    return inks


def _in_a_row(inks: list[np.ndarray], gap: int, margin: int = 0, jitter: int = 0,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """Digits' ink side by side, `gap` apart and `margin` from the edges, each moved down by up to
    `jitter` pixels (drawn from `rng`)."""
    h = max(k.shape[0] for k in inks)
    ink = np.zeros((h + 2 * (jitter + margin), sum(k.shape[1] + gap for k in inks) + 2 * margin), np.float32)
    x = margin
    for k in inks:
        y = margin + (int(rng.integers(0, jitter + 1)) if rng is not None and jitter else 0)
        ink[y:y + k.shape[0], x:x + k.shape[1]] = np.maximum(ink[y:y + k.shape[0], x:x + k.shape[1]], k)
        x += k.shape[1] + gap
    return ink


def _to_its_ink(ink: np.ndarray) -> np.ndarray:
    """The picture cut out along its ink: no margin at all."""
    ys, xs = np.nonzero(ink > 0.2)
    return ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def test_a_number_cropped_tight_to_its_ink_keeps_the_digits_on_its_edges(mnist: dict[str, np.ndarray], clf) -> None:
    # a number cut out of a larger picture with no margin: the digits touch its edges. A 1 there
    # was an edge band, a bold digit a shadow, a 6's loop on the edge a rule (and every 1 and 7
    # then a ruled page's margin): 31 of these 60 were read exactly, 3 `ok` and wrong (56 and 0 now)
    rng = np.random.default_rng(10)
    exact = silent_ = 0
    count = 60
    for _ in range(count):
        h = int(rng.integers(28, 80))
        idx = rng.integers(0, len(mnist["x_test"]), int(rng.integers(2, 8)))
        inks = _inks_of(mnist, idx, h)
        gap = int(rng.integers(h // 8, h // 3))
        ink = _to_its_ink(_in_a_row(inks, gap, jitter=h // 10, rng=rng))  # no margin at all
        img = (240 - 210 * ink).clip(0, 255).astype(np.uint8)
        want = "".join(str(mnist["y_test"][i]) for i in idx)
        try:
            r = read([segment.find(img)], clf.predict, clf.calibration)[0]
        except NoDigitFound:
            continue  # digits so bold that they are half the picture: its ink cannot be told from its paper
        exact += r is not None and r.text.replace(" ", "") == want
        silent_ += r is not None and silent(r, want)
    assert exact >= 0.85 * count
    assert silent_ == 0



def _on_underline_cropped_tight(mnist: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A number written on a thin underline, its last digit a 1 at the line's end, cut out along
    its ink: the digits touch the top and sides of the picture and the line its bottom."""
    ones = np.flatnonzero(mnist["y_test"] == 1)
    h = int(rng.integers(26, 40))
    idx = [*rng.integers(0, len(mnist["x_test"]), int(rng.integers(2, 6))), int(rng.choice(ones))]
    inks = _inks_of(mnist, idx, h)
    gap = int(rng.integers(h // 3, h // 2))
    thick = int(rng.integers(max(1, int(0.04 * h)), int(0.15 * h) + 1))
    ink = np.zeros((h + thick, sum(k.shape[1] + gap for k in inks) - gap), np.float32)
    x = 0
    for k in inks:
        ink[:h, x:x + k.shape[1]] = np.maximum(ink[:h, x:x + k.shape[1]], k)
        x += k.shape[1] + gap
    ink[h:, :] = 1.0  # the underline, right under the digits and as long as the number
    ys, xs = np.nonzero(ink > 0.2)
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return (240 - 210 * ink).clip(0, 255).astype(np.uint8), "".join(str(mnist["y_test"][i]) for i in idx)


def test_a_number_cropped_tight_to_its_underline_keeps_its_1s_and_7s(mnist: dict[str, np.ndarray], clf) -> None:
    # the line across lies on the picture's edge, so it is no notebook's rule; the digits fill the
    # picture, so a stem no taller than they are is no margin's line; and a 1 standing on the line
    # is measured without the line's rows. 2 of these 30 were read exactly and 5 were `ok` and
    # wrong (a 7's stem, a 1 at the line's end taken out as lines)
    rng = np.random.default_rng(0)
    exact = silent_ = 0
    count = 30
    for _ in range(count):
        img, want = _on_underline_cropped_tight(mnist, rng)
        r = read([segment.find(img)], clf.predict, clf.calibration)[0]
        assert r is not None
        exact += r.text.replace(" ", "") == want
        silent_ += silent(r, want)
    assert exact >= 0.9 * count
    assert silent_ == 0


def test_a_number_in_a_markers_bold_strokes_cut_out_tight_is_read(mnist: dict[str, np.ndarray], clf) -> None:
    # strokes a fifth of the digits' height, cut out along the ink: about half the picture is
    # ink, on any paper estimate, and the picture was taken for a shadow with nothing written on
    # it ("no digit found" for 27 of these 30, none read exactly). Now every one is read, and
    # to review: a bold digit as tall as the picture still passes for a shadow's blob
    rng = np.random.default_rng(5)
    exact = found = silent_ = 0
    count = 30
    for _ in range(count):
        h = int(rng.integers(26, 60))
        idx = rng.integers(0, len(mnist["x_test"]), int(rng.integers(2, 7)))
        inks = _inks_of(mnist, idx, h)
        gap = int(rng.integers(h // 5, h // 2))
        ink = _in_a_row(inks, gap, margin=h // 4)
        r = max(1, int(0.1 * h))
        ink = _to_its_ink(cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))))
        img = np.clip(235 - 205 * ink + rng.normal(0, 4, ink.shape), 0, 255).astype(np.uint8)
        want = "".join(str(mnist["y_test"][i]) for i in idx)
        try:
            got = read([segment.find(img)], clf.predict, clf.calibration)[0]
        except NoDigitFound:
            continue
        assert got is not None
        found += 1
        exact += got.text.replace(" ", "") == want
        silent_ += silent(got, want)
    assert found >= 0.9 * count
    assert exact >= 0.1 * count
    assert silent_ == 0


def test_a_comb_field_cropped_tight_to_its_ink_is_not_read_short(mnist: dict[str, np.ndarray], clf) -> None:
    # a form's comb cut out along its ink: its ticks made "typical" marks small, so a digit as
    # tall as the picture, or two touching, passed for a shadow among many marks and was left
    # out: "054" read "4" `ok` (49 of these 60 exact and 4 `ok` and wrong before; 51 and none now)
    rng = np.random.default_rng(4)
    exact = silent_ = 0
    count = 60
    for _ in range(count):
        d = compose.number(mnist["x_test"], mnist["y_test"], rng, field="comb", tight=True)
        r = read([segment.find(d.image)], clf.predict, clf.calibration)[0]
        assert r is not None
        exact += r.text.replace(" ", "") == d.text
        silent_ += silent(r, d.text)
    assert exact >= 50
    assert silent_ == 0
