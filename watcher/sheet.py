"""The sheet in a photo or a scan: a phone held over a form or a note often takes in the table
round it, and a scanner the white of its lid round a sheet smaller than its glass.

The table is darker than the paper, so the ink map takes it for ink (or, when it fills most of
the picture, for the paper, and the sheet for ink), and its edge along the sheet reads as a rule
or a row of 1s. When the picture holds one bright, solid, convex region with writing on it and
a darker surround that has nothing written on it, everything outside that region is painted the
paper grey of the sheet's nearest place, and the picture is read as a scan of the sheet. A note
on a desk may be a small part of the picture: a region under a tenth of it must be a rectangle.
A lid (or the white canvas an editor leaves round a picture it turned) is lighter than a grey or
coloured sheet: the ink map's paper, the brightest grey near each place, is the lid's along the
sheet's edges, so a band of the sheet inside them is ink, and it joined a page's digits into one
mark. Such a sheet, found the same way as the one darker region, is painted round the same way.

Pure: a grey picture in, the sheet (or None) out; the sheet paints any copy of the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Pixels of the copy the sheet is looked for on: a sheet is big, its edge is all that counts.
PROBE_PIXELS = 60_000
#: The sheet's share of the picture: a surround of less than a twentieth is a thin band that
#: the reader already leaves out. A note or a card photographed on a desk from arm's length is
#: 3-9% of the picture (a phone's view at 40 cm is about 40 x 30 cm): under `SMALL_SHEET` the
#: region must be a rectangle, `RECTANGULAR` of the smallest one round it (`_a_note`), and its
#: writing is looked for on the picture as it came where the probe copy has too little of it
#: (`_written_fine`). Below 2% a bright region is a label, a sticker or a glint.
SHEET_SHARE = (0.02, 0.95)
SMALL_SHEET = 0.1
RECTANGULAR = 0.85
#: The surround's median over the sheet's: darker than this, or it is paper in shade.
SURROUND_DARKER = 0.75
#: The sheet's area over its convex hull's: a sheet is a quadrilateral, seen in perspective.
CONVEX = 0.9
#: The share of the sheet's pixels that are bright: a solid region, not a big light stroke.
SOLID = 0.8
#: The surround's share of pixels that stand out from their neighbourhood by `MARK_STEP`: more
#: than this and something is written there (digits in a shadow), so nothing is painted.
SURROUND_MARKS = 0.004
#: The fewest pixels on the sheet darker than round them (ink; on the probe copy): a sheet is
#: photographed for what is written on it, and one small digit gives dozens.
SHEET_MARKS = 10
MARK_STEP = 0.3  # of the neighbourhood's grey: ink takes a share of the light, in shade too
MARK_WINDOWS = (9, 25)  # pixels: thin strokes, and bold ones (a marker's)
#: A sheet's edge is a step: across its first two pixels (on the probe copy) the grey changes
#: by at least this share of its change across seven. A shadow's edge is a slope.
SHARP = 0.7


@dataclass(frozen=True)
class Sheet:
    """A photographed sheet: where it is (on the probe copy) and its paper grey."""

    mask: np.ndarray  # uint8, 255 on the sheet
    paper: float  # its median paper grey
    # the sheet's paper grey carried out over the table (on the probe copy): a sheet in shade
    # along its edge meets the paint without a step, which the ink map took for a blob of ink
    fill: np.ndarray

    def paint(self, grey: np.ndarray) -> np.ndarray:
        """A copy of `grey` (uint8, or float in [0, 1]; any size) with all but the sheet painted
        its paper grey, as the paper near it is."""
        h, w = grey.shape[:2]
        off = cv2.resize(self.mask, (w, h), interpolation=cv2.INTER_LINEAR) < 128
        out = grey.copy()
        fill = cv2.resize(self.fill, (w, h), interpolation=cv2.INTER_LINEAR)
        out[off] = (fill[off] * 255).round().astype(np.uint8) if grey.dtype == np.uint8 else fill[off]
        return out


def find_sheet(grey: np.ndarray, fine: np.ndarray | None = None) -> Sheet | None:
    """The sheet on a table, or greyer than a lid round it, in `grey` (float in [0, 1]: a working
    copy is enough), or None. `fine`: the picture as it came (uint8 or float grey), where a small
    sheet's writing is looked for when the working copy has too little of it."""
    h, w = grey.shape[:2]
    f = min(1.0, (PROBE_PIXELS / (h * w)) ** 0.5)
    if min(h, w) * f < 24:
        return None  # small: a cropped digit, a strip
    sub, edges, paper = _edges(grey)
    dark, light = _dark_edges(edges, paper), min(h, w) >= LID_LEAST and _light_edges(sub, edges, paper)
    if not dark and not light:
        return None  # paper nearly all round: a scan
    small = grey if f == 1.0 else cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))),
                                             interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32, copy=False)
    # a sheet much greyer than its lid is "dark" round a lid too
    found = _sheet(small, grey if fine is None else fine) if dark else None
    return found if found is not None or not light else _on_lid(small)


def _edges(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Every fourth pixel of the picture, those of it along its edges (a twentieth of its side
    deep), and its brightest paper: what `_dark_edges` and `_light_edges` look at, cheaply."""
    sub = np.ascontiguousarray(grey[::4, ::4], np.float32)
    b = max(1, min(sub.shape) // 20)
    paper = float(cv2.blur(sub, (3, 3)).max())
    edges = np.concatenate([sub[:b].ravel(), sub[-b:].ravel(), sub[:, :b].ravel(), sub[:, -b:].ravel()])
    return sub, edges, paper


def _dark_edges(edges: np.ndarray, paper: float) -> bool:
    """A fifth or more of the picture's edges darker than `SURROUND_DARKER` of its brightest
    paper (`_edges`): a table showing on two sides or more takes far more."""
    return int(np.count_nonzero(edges < SURROUND_DARKER * paper)) >= 0.2 * edges.size


#: A lid round a sheet: a fifth or more of the picture's edges are this close to the brightest
#: paper (its grey over the lid's), and the paper of the picture's middle (`PAPER_RANK`, a
#: quantile: writing is darker) greyer than it by `LID_GREYER`, but not darker than `LID_DARKEST`
#: of it (dark paper is read the other way round). A sheet this close to the lid's white reads as
#: it is (a band of it as ink stays under the ink threshold). Only on pictures `LID_LEAST` pixels
#: across or more: a small one is a digit, its strokes filling the middle.
LID_EDGE = 0.97
LID_GREYER = 0.93
LID_DARKEST = 0.5
PAPER_RANK = 75
LID_LEAST = 64


def _light_edges(sub: np.ndarray, edges: np.ndarray, paper: float) -> bool:
    """A fifth or more of the picture's edges as bright as its brightest paper, and the paper of
    its middle (its inner half) greyer than that (`LID_GREYER`, `LID_DARKEST`); `_edges`' sample."""
    h, w = sub.shape
    if int(np.count_nonzero(edges >= LID_EDGE * paper)) < 0.2 * edges.size:
        return False
    return _greyer(float(np.percentile(sub[h // 4: h - h // 4, w // 4: w - w // 4], PAPER_RANK)), paper)


def _greyer(sheet: float, lid: float) -> bool:
    """A sheet's paper grey enough under a lid's to be read apart from it (`LID_GREYER`), and
    no dark canvas (`LID_DARKEST`)."""
    return LID_DARKEST * lid <= sheet < LID_GREYER * lid


def _on_lid(s: np.ndarray) -> Sheet | None:
    """A sheet greyer than a lid round it (the probe copy `s`), or None: the biggest region under
    the grey half way from the sheet's paper to the lid's, found and checked as a sheet on a
    table is, its edge a step down from the lid."""
    p = _probe(s)
    h, w = p.u8.shape
    lid = float(np.percentile(p.u8, 99))
    paper = float(np.percentile(p.u8[h // 4: h - h // 4, w // 4: w - w // 4], PAPER_RANK))
    under = cv2.threshold(p.u8, (lid + paper) / 2, 255, cv2.THRESH_BINARY_INV)[1]
    return _sheet_at(s, p, under, lighter=True)


#: Where the sheet is not found at Otsu's threshold, it is looked for again at these shares of the
#: way from the table's grey up to the paper's: a shadow over part of a sheet (or its corner
#: turned from the light) makes that part darker than Otsu's level, and its digits were then
#: writing on the table, so no sheet was found (a page of 336 digits read as none). The second,
#: lower level for a deeper shade: a sheet's corner in deep shade (paper 100 of 255 by a table of
#: 40 there, 76 over all) lay under the first, was painted as table, and its 18 digits were lost;
#: a sheet whose lower part lies in a soft shadow running into the table was found at neither
#: Otsu's level nor the first (its shaded part, lighter than the table, counted as writing round
#: it), and the page was read as one mark
SHADED_LEVELS = (0.3, 0.15)
#: Where the sheet is found at Otsu's level too, the one found at the lower level is taken when
#: it is at least this much bigger, holds the first, and what it adds has writing on it: a sheet
#: half in shade, its lit half alone over Otsu's level (and the shaded half's digits, too faint
#: on the probe copy to count as writing round a sheet, painted over: 63 of 144 digits read)
SHADE_ADDS = 1.1
#: Writing on a sheet: pixels darker than round them by this share, `SHEET_MARKS` of them at
#: least. On the small probe copy a digit in shade, or a page's small digits, stand out less
#: than `MARK_STEP` (pages of 312 and 210 digits were taken for a light stroke, nothing written
#: on them, and read as none); round the sheet, `MARK_STEP` stands
WRITING_STEP = 0.2


@dataclass(frozen=True)
class _Probe:
    """The probe copy, blurred a little (`u8`), and how far each pixel stands out from round it
    as a share of its grey (over `MARK_WINDOWS`): either way (`either`) and darker (`darker`)."""

    u8: np.ndarray
    either: np.ndarray
    darker: np.ndarray
    fine: np.ndarray | None = None  # the copy the probe was taken from, where a small sheet's writing is looked for


def _probe(s: np.ndarray, fine: np.ndarray | None = None) -> _Probe:
    """`_Probe` of the probe copy `s`: measured once, asked of each level the sheet is looked at."""
    u8 = (cv2.GaussianBlur(s, (3, 3), 0) * 255).astype(np.uint8)
    either = np.zeros(u8.shape, np.float32)
    darker = np.zeros(u8.shape, np.float32)
    for k in MARK_WINDOWS:
        d = _darker(u8, k)
        np.maximum(either, np.abs(d), out=either)
        np.maximum(darker, d, out=darker)
    return _Probe(u8, either, darker, fine)


def _darker(u8: np.ndarray, k: int) -> np.ndarray:
    """How much darker each pixel is than the median of the `k`-wide window round it, as a share of
    that median (lighter: negative), both lifted by 8 grey levels: in the dark, a few levels of noise are no writing."""
    grey = u8.astype(np.float32) + np.float32(8)
    near = cv2.medianBlur(u8, k).astype(np.float32) + np.float32(8)
    return (near - grey) / near


def _sheet(s: np.ndarray, fine: np.ndarray | None = None) -> Sheet | None:
    """The sheet on the probe copy `s` (float grey), or None: at Otsu's threshold, or at lower
    ones (`SHADED_LEVELS`) where none is found at Otsu's or a lower one adds a shaded part."""
    p = _probe(s, fine)
    otsu, bright = cv2.threshold(p.u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    found = _sheet_at(s, p, bright)
    above = bright > 0
    if above.all() or not above.any():
        return found
    table, paper = float(np.median(p.u8[~above])), float(np.median(p.u8[above]))
    for i, level in enumerate(SHADED_LEVELS):
        lower = table + level * (paper - table)
        if lower >= otsu - 8:
            continue  # (nearly) Otsu's level again
        # beside a sheet found, and at the deeper level, only darker marks round the wider one are
        # writing: its shaded corners can lie below the lower level too, lighter than the table
        # round them
        wider = _sheet_at(s, p, cv2.threshold(p.u8, lower, 255, cv2.THRESH_BINARY)[1],
                          dark_only=found is not None or i > 0)
        if wider is not None and (found is None or _adds_shade(p, found.mask, wider.mask)):
            found = wider
    return found


def _adds_shade(p: _Probe, first: np.ndarray, wider: np.ndarray) -> bool:
    """The sheet found at the lower level adds a shaded part with writing on it to the first."""
    on, more = first > 0, wider > 0
    if np.count_nonzero(more) < SHADE_ADDS * np.count_nonzero(on) or np.count_nonzero(on & more) < 0.95 * np.count_nonzero(on):
        return False
    added = (cv2.erode(wider, np.ones((7, 7), np.uint8)) > 0) & ~(cv2.dilate(first, np.ones((7, 7), np.uint8)) > 0)
    return int(np.count_nonzero((p.darker > WRITING_STEP) & added)) >= SHEET_MARKS


def _sheet_at(s: np.ndarray, p: _Probe, bright: np.ndarray, dark_only: bool = False,
              lighter: bool = False) -> Sheet | None:
    """The sheet as the biggest region of `bright` (the probe copy over some level), or None where
    any test above says no. `dark_only`: only darker marks round it count as writing there.
    `lighter`: the surround is a lid, lighter than the sheet (`bright` is the region under a
    level then), and may show on one side only: a straight, sharp step up from paper of one grey
    to one white with nothing written on it is a lid's edge, not a shadow's."""
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    mask = np.zeros_like(bright)
    cv2.drawContours(mask, [outline], -1, 255, cv2.FILLED)
    inside = mask > 0
    share = float(np.count_nonzero(inside)) / inside.size
    if not SHEET_SHARE[0] <= share <= SHEET_SHARE[1]:
        return None
    small = share < SMALL_SHEET  # a note on a desk, a small part of the picture
    if small and not _a_note(outline):
        return None
    if cv2.contourArea(outline) < CONVEX * cv2.contourArea(cv2.convexHull(outline)):
        return None
    if float(np.count_nonzero(bright[inside])) < SOLID * np.count_nonzero(inside):
        return None
    paper, table = float(np.median(s[inside])), float(np.median(s[~inside]))
    surround = ~(cv2.dilate(mask, np.ones((7, 7), np.uint8)) > 0)  # the sheet's own edge left out
    within = cv2.erode(mask, np.ones((7, 7), np.uint8)) > 0
    if lighter:
        own = float(np.percentile(s[inside], PAPER_RANK))  # its paper, its writing left out
        if (not _greyer(own, table) or _corners(outline) is None or not _flat(s, surround, within)
                or not _sharp(s, mask, -1.0, table - own)):
            return None  # a lid's edge is straight, a step up all the way, the lid one white; a shadow's is not
    elif table > SURROUND_DARKER * paper:
        return None
    elif not _cornered(outline, s.shape) or not _sharp(s, mask):
        return None  # a shadow's edge: soft, or one line across the picture
    # writing in the surround (a shadow over digits, not a table): marks that stand out there
    marks = (p.darker if dark_only else p.either) > MARK_STEP  # the sheet's own edge is no mark
    if surround.any() and np.count_nonzero(marks & surround) > SURROUND_MARKS * np.count_nonzero(surround):
        return None
    # nothing written on it: the bright region is the writing itself, a bold light stroke on a
    # dark canvas (a "1" drawn white on black was painted away as the table round a sheet)
    if np.count_nonzero((p.darker > WRITING_STEP) & within) < SHEET_MARKS and not (small and _written_fine(p, within)):
        return None
    # the sheet is convex: a bite out of the region is a shade over its edge (darker than the level
    # it was found at), not table, and the digit in it was painted over (a note's last digit lost,
    # its reading `ok`: 7 of 500 photographed notes mended, one of 1,000 numbers read otherwise)
    mask = np.zeros_like(bright)
    cv2.drawContours(mask, [cv2.convexHull(outline)], -1, 255, cv2.FILLED)
    # pulled in by three pixels, from the picture's border too: a sliver of table narrower than a
    # pixel here is averaged into the paper, and would be left dark along the border. A small
    # sheet by one: each of its pixels here is many in the picture, and three of them painted
    # over the tops of a note's first row (a canvas of 20 digits read "01154...": the 2 and 3 cut)
    pull = 3 if small else 7
    inner = cv2.erode(mask, np.ones((pull, pull), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return Sheet(inner, paper, _paper_out(s, inner, paper))


#: Pixels (on the probe copy): how far round a place outside the sheet its paper is averaged, and
#: the widest stroke or line closed over first (its ink is not paper)
FILL_WINDOW = 31
FILL_INK = 9


def _paper_out(s: np.ndarray, inner: np.ndarray, paper: float) -> np.ndarray:
    """The sheet's paper grey carried out over the table: each place outside takes the paper of
    the sheet's nearest place (the table kept out and the sheet's ink and printed lines closed
    over, then averaged over `FILL_WINDOW`), so that the paint meets the sheet without a step."""
    on = (inner > 0).astype(np.float32)
    if not on.any():
        return np.full(s.shape, paper, np.float32)
    own = np.where(inner > 0, s, np.float32(paper)).astype(np.float32)  # the table kept out of it
    bright = cv2.morphologyEx(own, cv2.MORPH_CLOSE, np.ones((FILL_INK, FILL_INK), np.uint8)) * on
    k = (FILL_WINDOW, FILL_WINDOW)
    near = cv2.blur(bright, k) / np.maximum(cv2.blur(on, k), 1e-6)
    # the nearest sheet pixel of every pixel (labels number the sheet's pixels in raster order)
    _d, nearest = cv2.distanceTransformWithLabels((inner == 0).astype(np.uint8), cv2.DIST_L2, 3,
                                                  labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(inner == 255)
    values = np.minimum(near[ys, xs], 1.0).astype(np.float32)
    return values[np.clip(nearest - 1, 0, len(values) - 1)]


def _written_fine(p: _Probe, within: np.ndarray) -> bool:
    """Writing on a small sheet, looked for on the finer copy the probe was taken from: a note's
    thin strokes, under a probe pixel wide, fade into its paper there."""
    if p.fine is None or p.fine.shape[0] <= within.shape[0] or not within.any():
        return False
    up = p.fine.shape[0] / within.shape[0]
    ys, xs = np.nonzero(within)
    top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    y0, y1 = int(top * up), min(p.fine.shape[0], int(bottom * up))
    x0, x1 = int(left * up), min(p.fine.shape[1], int(right * up))
    if y1 <= y0 or x1 <= x0:
        return False
    crop = p.fine[y0:y1, x0:x1]
    crop = crop if crop.dtype == np.uint8 else (np.clip(crop, 0, 1) * 255).astype(np.uint8)
    on = cv2.resize(within[top:bottom, left:right].astype(np.uint8), (x1 - x0, y1 - y0),
                    interpolation=cv2.INTER_NEAREST) > 0
    darker = _darker(cv2.GaussianBlur(crop, (3, 3), 0), MARK_WINDOWS[1])  # `_probe`'s wider window: thin strokes stand out in it
    return int(np.count_nonzero((darker > WRITING_STEP) & on)) >= SHEET_MARKS * up


def _a_note(outline: np.ndarray) -> bool:
    """A small bright region (under `SMALL_SHEET` of the picture) is a sheet only as a rectangle,
    `RECTANGULAR` of the smallest one round it: a bold light 0 on a dark canvas is a solid,
    convex region with "writing" (its hole) on it too, but round."""
    (_c, (w, h), _a) = cv2.minAreaRect(outline)
    return cv2.contourArea(outline) >= RECTANGULAR * w * h


def _corners(outline: np.ndarray) -> np.ndarray | None:
    """The outline's corners when it is a quadrilateral (cut by the picture's border or not: at
    most 8 of them), else None: ink bites into it, or it is a shadow's curve."""
    approx = cv2.approxPolyDP(outline, 0.02 * cv2.arcLength(outline, True), True).reshape(-1, 2)
    return approx if len(approx) <= 8 else None


def _cornered(outline: np.ndarray, shape: tuple[int, int]) -> bool:
    """The outline is a quadrilateral (`_corners`) that turns a corner inside the picture: the
    table shows on two sides or more. A shadow's edge, or a sheet's single side, runs across
    from border to border."""
    h, w = shape
    approx = _corners(outline)
    if approx is None:
        return False
    x, y = approx[:, 0], approx[:, 1]
    return bool(np.any((x >= 3) & (x <= w - 4) & (y >= 3) & (y <= h - 4)))


#: A sheet on a lid is scanned in even light: its paper (its writing closed over) is this close
#: to one grey (5th percentile over 95th), where paper in a shadow beside lit paper is not
SHEET_EVEN = 0.85


def _flat(s: np.ndarray, surround: np.ndarray, within: np.ndarray) -> bool:
    """The `surround` (the sheet's edge left out) is one grey, to `LID_EDGE`, a lid's white, and
    the sheet's paper `within` one grey too (`SHEET_EVEN`): not paper in light that grows
    brighter towards a side, nor lit paper beside a shadow."""
    if not surround.any() or not within.any():
        return False
    low, high = np.percentile(s[surround], [5, 95])
    paper = cv2.morphologyEx(s, cv2.MORPH_CLOSE, np.ones((FILL_INK, FILL_INK), np.uint8))[within]
    dim, lit = np.percentile(paper, [5, 95])
    return bool(low >= LID_EDGE * high and dim >= SHEET_EVEN * lit)


def _sharp(s: np.ndarray, mask: np.ndarray, down: float = 1.0, rise: float = 0.0) -> bool:
    """The step from sheet to table happens at the outline, not over a wide penumbra. `down`: 1
    where the table is darker than the sheet, -1 where the surround is lighter (a lid); `rise`:
    a step the one at the outline must nearly make too (a lid's, from the sheet's paper to its
    white: light brighter towards one side of a sheet crosses any level in a gentle slope)."""
    din = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    dout = cv2.distanceTransform(255 - mask, cv2.DIST_L2, 3)

    def step(a: float, b: float) -> float:
        i, o = s[(din >= a) & (din <= b)], s[(dout >= a) & (dout <= b)]
        return down * float(np.median(i) - np.median(o)) if i.size and o.size else 0.0

    far = max(step(5, 7), rise)
    # or a pixel further in: found at a level near the table's grey, the outline takes in a pixel
    # or two of a blurred edge, and the step there is half on the slope (a sheet crossed by a
    # sharp shadow, found whole only at that level, was taken for a shadow: 21 digits read "2")
    return far > 0 and max(step(1, 2), step(2, 3)) >= SHARP * far
