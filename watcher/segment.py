"""Find every digit in a picture: marks, lines, reading order, and the ways a wide mark may split.

Pure functions (image in, arrays out), no model: which split of a wide mark is right is decided
later by the classifier's confidence (`reading`), so this module offers choices and never guesses.

The flow: the picture's ink map at a working scale (`normalise.ink_map`, the single-digit reader's
own) -> ruled lines, box sides, underlines, combs and cells taken out (`formlines`: long thin
straight runs) -> connected components -> specks dropped -> strokes of one digit joined (a 5's
flag, a 4 in two strokes: they overlap horizontally and almost touch vertically; neighbours that
may be one digit's strokes side by side are offered joined, for the model to decide) -> lines
(each mark joins the line whose last mark it continues, so a line may slope) -> reading order
(lines top to bottom, marks left to right). Writing a few degrees aslant is levelled first
(`slope`); a mark as wide as touching digits carries the ways it may be cut (`cuts`), made when
the reader asks for them.

A picture whose ink is one digit is read exactly as before (`normalise.find_digit`), so a
single-digit file keeps today's reading. A page's digits are small at the single-digit working
scale: the scale is raised until a typical digit is about `TARGET_HEIGHT` pixels high.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from watcher import cuts, formlines, slope
from watcher.errors import NoDigitFound
from watcher.normalise import (
    SMALL_SIDE,
    WORK_SIDE,
    Found,
    _odd,
    _small_ink_map,
    find_digit,
    frame28,
    ink_map,
    stroke_width,
    to_grey,
)
from watcher.sheet import find_sheet

Box = tuple[int, int, int, int]  # x, y, w, h

#: A digit is cut out at about this height (pixels of the working scale): MNIST's 20 px box, with room.
TARGET_HEIGHT = 40
#: Largest side of the working scale (a 600-dpi A4 page is read at about a third of its pixels).
MAX_WORK_SIDE = 2600
#: At most this many digits are read in one file (a page of 35 Mpx holds about a thousand).
MAX_MARKS = 6000
#: A mark at least this many digit heights wide may be touching digits (`Mark.wide`).
CUT_WIDTH = 0.75
#: A mark at least this many digit heights wide is offered cut when it reads badly whole: a 1
#: pressed into a 6 or a 4 makes a mark narrower than `CUT_WIDTH`. It is read through its cuts
#: only when they read surely, never loosely as a wide mark may be.
CUT_OFFER = 0.6
#: A dash standing this many digit heights above the middle of its line, beside the digit before
#: it, is a 5's flag drawn apart: offered joined with that digit, and left out otherwise
FLAG_HIGH = 0.25
#: Two neighbouring marks of a line are offered joined as one digit when they are at most
#: JOIN_GAP digit heights apart, one of them is under JOIN_SHORT of a digit high, and together
#: they are at most JOIN_WIDTH wide.
JOIN_GAP = 0.25
JOIN_SHORT = 0.75
JOIN_WIDTH = 1.1
#: A picture of more pixels than this is taken for a page: kept 8-bit until scaled down.
PAGE_PIXELS = 4_000_000
#: A picture this small (pixels, longest side) is one digit: nobody writes a number in it, and
#: its strokes are too few pixels to be told apart from one digit's broken ones. Unless a mark
#: beside the digit may be a digit too (`Found.left_out`): then it is read as several, to review.
TINY_SIDE = 64
#: ... unless it is this many times wider than tall: two MNIST-sized digits side by side (28 x 56)
#: are two digits (3 of the held-out fonts' 1,000 marks and none of wild-dev's is so wide).
TINY_WIDE = 1.3


@dataclass
class Piece:
    """One digit as cut out: its box in the original picture's pixels and its 28x28 map."""

    box: Box
    x: np.ndarray
    stroke: float = 0.0  # its strokes' width, working pixels (a printed line's is a pixel or two)


@dataclass
class Cuts:
    """What a wide mark's cut pieces are made of, kept until the reader asks for them: most marks
    read surely whole, and no cut can then beat the whole (`reading.CUT_PRIOR`), so their pieces
    are never normalised nor classified (a page of 600 digits: about 720 pieces instead of 2,270)."""

    crop: np.ndarray  # the mark's ink at the working scale
    sel: np.ndarray  # its pixels
    origin: tuple[int, int]
    up: ToOriginal
    height: float  # the digit height its cuts are spaced by


@dataclass
class Mark:
    """Ink that is one digit or several touching ones. A wide mark has candidate cut columns
    numbered 0..`ends`; `pieces[k]` is the ink between cuts `spans[k]`. `pieces[0]` is always
    the whole mark (span 0..ends); the reader picks the path of pieces from 0 to `ends` the
    classifier is surest of. Until `expand` is called, a wide mark holds only its whole and
    its `cuts`."""

    line: int
    pieces: list[Piece]
    spans: list[tuple[int, int]] = field(default_factory=lambda: [(0, 1)])
    ends: int = 1
    cuts: Cuts | None = None
    wide: bool = False  # wide enough to be touching digits (`CUT_WIDTH`)
    raised: bool = False  # an exponent ("x²"): not one of its line's digits for what they tell of the line

    def expand(self, bent: bool = True) -> list[Piece]:
        """Make the cut pieces (once) and return the new ones; `bent`: with bent cuts (`cuts.paths`)."""
        if self.cuts is None:
            return []
        self.ends, new, spans = _cut_pieces(self.cuts, bent)
        self.cuts = None
        self.pieces += new
        self.spans = [(0, self.ends), *spans]
        return new


@dataclass
class Layout:
    marks: list[Mark] = field(default_factory=list)  # reading order
    rejected: list[Box] = field(default_factory=list)  # marks that are not digits by their shape (dashes, bars)
    single: bool = False  # one digit, read as the single-digit reader always did
    whole: Piece | None = None  # the single-digit reader's digit: marks that may be one digit in pieces
    split: Mark | None = None  # a single digit as wide as two, with its cuts: two touching digits may be it
    joins: list[tuple[int, Piece]] = field(default_factory=list)  # marks k and k + 1 as one digit
    flags: list[int] = field(default_factory=list)  # marks read only joined with the one before (a 5's flag)
    left_out: int = 0  # a single digit's, or `whole`'s: marks beside it that may be digits too (normalise.Found.left_out)
    cells: list[Box] = field(default_factory=list)  # the cells of a form's boxes taken out: a digit in each
    lined: bool = False  # printed lines were taken out of it (a form's boxes, rules, an underline)
    tiny: bool = False  # several marks in a picture of at most TINY_SIDE pixels: two digits or one broken
    dense: bool = False  # about half the picture ink (`DENSE_PAPER`): bold strokes may hide a digit
    bars: list[int] = field(default_factory=list)  # marks as straight as a printed line (`_printed_bar`)
    stacked: list[Box] = field(default_factory=list)  # parts over or in a mark: a symbol's (`_stacked_parts`)

    def pieces(self) -> list[Piece]:
        return ([p for m in self.marks for p in m.pieces] + ([self.whole] if self.whole is not None else [])
                + (self.split.pieces if self.split is not None else []) + [p for _k, p in self.joins])

    def first(self) -> Piece:
        """The first mark, whole (the digit of a single-digit file)."""
        return self.marks[0].pieces[0]


class OnlyLines(NoDigitFound):
    """Printed lines were taken out and nothing was left: an empty form, a blank ruled or squared
    sheet. Not read as one digit whole, as a picture whose marks are all specks is."""


def find(img: np.ndarray, scale: float = 1.0) -> Layout:
    """Every digit-like mark in a decoded picture, in reading order. `scale`: the picture's size
    over the original's (a reduced JPEG decode), so boxes come out in the original's pixels.
    Raises NoDigitFound when there is no ink at all."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if (a.dtype == np.uint8 and a.ndim == 2 and 0 < a.size and max(a.shape) <= SMALL_SIDE
            and a.shape[1] < TINY_WIDE * a.shape[0]):
        # an MNIST-sized file: one digit, unless a mark beside the digit may be a digit too ("10"
        # squeezed into a 28 x 28 tile, "69" in 28 x 30), or it is as wide as two (28 x 38): read
        # as marks then, as a colour file of that size and a grey one of 28 x 42 always were, and
        # to review either way (TINY_DOUBT)
        small = _small_ink_map(a)
        found_small = find_digit(small)
        if not found_small.left_out:
            return _single(small, 1.0 / scale, found_small)
    # a big 8-bit grey picture (a page) is scaled down before it becomes floats: a quarter of the memory
    grey = a if a.dtype == np.uint8 and a.ndim == 2 and a.size > PAGE_PIXELS else to_grey(a)
    if grey.size == 0:
        raise NoDigitFound("no digit found")
    h, w = grey.shape
    f1 = min(1.0, WORK_SIDE / max(h, w))
    work = _resize(grey, f1)
    sheet = find_sheet(work, grey)
    if sheet is not None:  # a photo of a sheet on a table: the table painted paper
        grey, work = sheet.paint(grey), sheet.paint(work)
    ink = ink_map(work)
    try:
        found = find_digit(ink)
    except NoDigitFound:
        found = None
    tiny = max(h, w) <= TINY_SIDE and w < TINY_WIDE * h
    if found is not None and tiny and not found.left_out:
        return _single(ink, 1.0 / (f1 * scale), found)
    whole = _single(ink, 1.0 / (f1 * scale), found) if found is not None else None
    try:
        out = _several(grey, work, ink, f1, scale, found, sheet is not None)
    except OnlyLines:
        raise  # an empty form: its lines are no digit, whole or not
    except NoDigitFound:
        if whole is None:
            raise
        return whole  # noise in thousands of specks, not a page: the one digit in it
    if out is None:
        assert whole is not None and found is not None
        whole.split = _split_single(ink, found, 1.0 / (f1 * scale))
        return whole
    out.whole = whole.first() if whole is not None else None
    out.left_out = whole.left_out if whole is not None else 0
    out.tiny = tiny
    return out


def _several(grey: np.ndarray, work: np.ndarray, ink: np.ndarray, f1: float, scale: float,
             found: Found | None, sheet: bool = False) -> Layout | None:
    """The marks at the working scale, in reading order; None when the picture is one digit.
    `work`: the picture at scale `f1`, `ink` its ink map; `sheet`: a photographed sheet, the table round
    it painted paper (where a shadow over part of it may be one blob with the digits under it)."""
    h, w = grey.shape
    t = _threshold(ink)
    groups, lab, _form = _groups(ink, t)
    if _grainy(groups):
        # a noisy photo or scan: its grain, a hundred specks or more, outweighed thin faint digits, which
        # were measured as specks too. Smoothed a little, the grain goes and the strokes stay
        work = cv2.GaussianBlur(work, (0, 0), GRAIN_BLUR)
        ink = ink_map(work)
        t = _threshold(ink)
        groups, lab, _form = _groups(ink, t)
    dense = shaded = False
    if not groups and _shadowed(ink > t):
        # a shadow or the table round a photographed sheet taken for ink: the paper followed into it
        ink = _page_ink(work)
        t = _threshold(ink)
        groups, lab, _form = _groups(ink, t)
        if not groups and _mostly_ink(ink > t):
            # no shadow either: a number in a marker's bold strokes cut out tight to them is about
            # half ink, on any paper estimate ("no digit found" for 50 of 60 such numbers)
            dense = True
            groups, lab, _form = _groups(ink, t, dense=True)
    elif (edge := _on_edge(groups, ink.shape)) or (sheet and _blobs(groups, ink.size)) or not groups:
        # a shadow's soft edge across the picture is read as a band of specks by the plain ink
        # map, joining the digits into one mark that runs off the picture: the paper followed
        # into the shadow parts them, where it finds more marks or one that stays on the picture.
        # On a photographed sheet (the table painted paper) the shadow's half of the sheet is one
        # blob of specks and digits (or two: `_blobs`), taken for one big digit (a page of 80 read
        # as one): there the paper followed into it must find several marks, none such a blob.
        # So too where no mark is kept at all: a soft shade's edge read as a wide band of "ink",
        # beside which small writing measured as specks (three lines of a photographed note read
        # as one digit, the picture whole)
        for shaded in (False, True) if sheet else (False,):
            # on a photographed sheet, the paper followed into its shade even where the max
            # filter's estimate finds as much ink: a sharp shadow (or a lit patch) over part of
            # the sheet sets the shade off by a step, and the lit paper carried across it made a
            # band of "ink" joining the page's digits into one blob (162 and 242 digits read as one)
            alt = _page_ink(work, shaded)
            t_alt = _threshold(alt)
            found_alt = _groups(alt, t_alt)
            parted = len(found_alt[0]) > ONE_DIGIT_PIECES and not _one_blob(found_alt[0], alt.size)
            if parted or (edge and found_alt[0] and not _on_edge(found_alt[0], alt.shape)):
                ink, t, (groups, lab, _form) = alt, t_alt, found_alt
                found = None  # the single-digit reader's one digit held the band: read as marks
                break
        else:
            shaded = False
    if not shaded and not dense and groups and (sheet or _blob_left_out(ink > t, groups)):
        # a soft shade over part of the picture: the max filter carries the lit paper into it, and
        # the shade is read as specks of ink, which join the digits in it into a blob or are left
        # out with them as background (a note's row read "69" for "969", `ok`). Followed into the
        # shade, the paper clears them. Taken on a photographed sheet where the specks go (22 of
        # 500 notes mended; on every sheet, it broke 10 of 1,000 numbers on strips of paper, their
        # bold strokes read as paper), and elsewhere where a blob left out as background goes
        # (multi-dev's "5 ÷ 3" with a soft shadow laid over it read "3", `ok`; taken there by the
        # specks too, it read multi-dev's own "1285", its 1 long-flagged, as "7285")
        alt = _page_ink(work, True)
        t_alt = _threshold(alt)
        if not sheet or _shade_specked(ink > t, alt > t_alt, groups):
            found_alt = _groups(alt, t_alt)
            if found_alt[0] and (sheet or not _blob_left_out(alt > t_alt, found_alt[0])):
                ink, t, (groups, lab, _form) = alt, t_alt, found_alt
                shaded, found = True, None  # the single-digit reader's digit may be the blob
    # where printed lines were taken out (a box, an underline, a comb of one cell) the file is a
    # form's field, read with its lines out even when one digit is left: the single-digit reader
    # would read them in
    trays = False
    cells = _net_cells(lab, groups)
    if found is not None and not _form.lined and cells is None and _one_digit(groups, found.box):
        # the look for a tray again from the start only where one may be (most files: none)
        trays = bool(groups) and _may_hold_tray(lab, groups) and _groups(ink, t, trays=True)[2].lined
        # a dot over or under it (a "?", a "!") is read as marks: the dot sends the file to review
        dotted = bool(groups) and bool(_dotted(groups, _form.dots, max(g.h for g in groups)))
        if not trays and not dotted and not _lined_level(ink, t, groups, found.box):
            return None
    if not groups:
        raise OnlyLines("no digit found: only printed lines") if _form.bare else NoDigitFound("no digit found")
    most = min(1.0, MAX_WORK_SIDE / max(h, w))
    f2 = _reading_scale(f1, cells or float(np.median([g.h for g in groups])), most, 0.7)
    page = _a_page(groups, ink.shape)
    for again in (False, True):
        # the ink again, its paper followed into shadows (one digit's ink map is kept as it was)
        ink, t, inverse, (groups, lab, form) = _marks_at(grey, f2, shaded, page, trays, dense, _form.grid)
        if _grainy(groups):
            # grain, at the first look or only here (the working scale's averaging took it out)
            ink, t, inverse, (groups, lab, form) = _marks_at(grey, f2, shaded, page, trays, dense, _form.grid,
                                                             GRAIN_BLUR)
        if not groups:
            raise OnlyLines("no digit found: only printed lines") if form.bare else NoDigitFound("no digit found")
        # the marks far smaller at this scale than the first look promised: that look measured a
        # net (squared paper lit unevenly in a photo holds together in pieces many digits tall,
        # and a page of 20-pixel digits was read at a third of its size, each digit a blur)
        f3 = _reading_scale(f2, float(np.median([g.h for g in groups])), most, RESCALE_BELOW)
        if again:
            break
        if not page and _a_page(groups, ink.shape, f1 / f2):
            # the first look saw a net, or the shade joining the sheet's digits, not a page: what
            # it promised measured again here (a squared sheet under a band of shade, its light
            # not followed there, lost the 60 digits under it), and the page looked at again with
            # its light followed, even where this scale stands (a sheet's shaded corner whose
            # specks joined it into nine blobs at the first look: they were read as digits, 209
            # for 196)
            page = True
        elif f3 == f2:
            break
        f2 = f3
    up = ToOriginal(1.0 / (f2 * scale), inverse)
    if page:
        ink = _pencil_filled(ink, t)
    out = _layout(ink, groups, lab, up, form.faint, form.dots)
    out.dense = dense
    out.cells = [up(c) for c in form.cells]
    out.lined = form.lined
    return out


def _marks_at(grey: np.ndarray, f: float, shaded: bool, page: bool, trays: bool, dense: bool, grid: bool,
              smooth: float = 0.0) -> tuple[np.ndarray, float, np.ndarray | None, tuple[list[Group], np.ndarray, Printed]]:
    """The ink at scale `f` (its paper followed into shadows; the picture first smoothed by a
    Gaussian of `smooth` pixels), levelled, its threshold, what undoes the levelling, and its
    marks: on the picture as it will be read, a grid the first look found looked for on the lower
    threshold too, where none of it is ink on the threshold."""
    picture = _resize(grey, f)
    ink = _page_ink(cv2.GaussianBlur(picture, (0, 0), smooth) if smooth else picture, shaded, page)
    t = _threshold(ink)
    inverse = None
    angle = slope.skew(ink > t)
    if angle != 0.0:
        ink, inverse = slope.rotate(ink, angle)
    return ink, t, inverse, _groups(ink, t, trays, dense, grid)


#: A mark with this many holes or more is a net (squared paper, a table, its lines holding the
#: digits together at the first look's scale), not digits: an 8 has two, and a long number of
#: touching digits a dozen at most. Holes smaller than `NET_HOLE` of the mark's longer side (and
#: `NET_HOLE_LEAST` pixels square) are a noisy stroke's pinholes.
NET_HOLES = 24
NET_HOLE = 0.01
NET_HOLE_LEAST = 3  # pixels: the least hole
NET_SQUARE = 2.5  # a cell is at most this many times as wide as tall, or as tall as wide


def _inked_height(groups: list[Group]) -> float:
    """The marks' typical height: their median weighted by ink (a photo's specks hold little)."""
    return _weighted_median(np.array([g.h for g in groups], np.float64), np.array([g.area for g in groups], np.float64))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half the weight lies."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][int(np.searchsorted(cum, 0.5 * cum[-1]))])


def _net_cells(lab: np.ndarray, groups: list[Group]) -> float | None:
    """The height of the cells of the biggest mark when it is a net (`_cells_height`)."""
    if not groups:
        return None
    g = max(groups, key=lambda g: g.area)
    return _cells_height(np.isin(lab[g.y0:g.y1, g.x0:g.x1], g.labels))


def _cells_height(sel: np.ndarray) -> float | None:
    """The height of a mark's cells when it is a net (`NET_HOLES`): about a digit's height (a
    grid's squares, a table's cells); None when it is not. A sheet of squared paper photographed
    in unequal light is one net at the first look's scale, its lines thinner than a pixel there:
    it was taken for one big digit (a page of 162 digits read as one); and where it is read, its
    lines too faint to be found as lines, the net's height was taken for the digits'."""
    rows, cols = sel.shape
    _n, _lab, st, _c = cv2.connectedComponentsWithStats((~sel).view(np.uint8), connectivity=4)
    x, y, w, h, area = (st[1:, k] for k in range(5))
    least = max(NET_HOLE_LEAST ** 2, (NET_HOLE * max(rows, cols)) ** 2)
    # a grid's squares, not the long gaps of a ladder (a ruled sheet's rules run into the table
    # round it where the table is taken for ink)
    inner = (x > 0) & (y > 0) & (x + w < cols) & (y + h < rows) & (area >= least) & (w <= NET_SQUARE * h) & (h <= NET_SQUARE * w)
    if np.count_nonzero(inner) < NET_HOLES:
        return None
    return float(np.median(h[inner]))


#: A digit height measured over this many times the cells' of a net among the marks is the net's
#: (`_groups`)
NET_TALL = 3.0


#: The marks found at the reading scale under this share of `TARGET_HEIGHT` (where the picture
#: could be read larger) are found again at the scale that makes them that tall. At half, a page
#: of 50 rows whose rules are as dark as the pen, its rows joined at the first look into marks
#: twice a digit's height, was read at digits 20 px high: 77% of its digits right, 97.5% at 40
RESCALE_BELOW = 0.6


def _reading_scale(f: float, height: float, most: float, below: float) -> float:
    """The scale to read a picture at, found at scale `f` with marks `height` tall: one that makes
    them `TARGET_HEIGHT` where they are under `below` of it (up to `most`); `f` where that is
    within 15% of it."""
    if height >= below * TARGET_HEIGHT or f >= most:
        return f
    g = min(most, f * TARGET_HEIGHT / max(height, 1.0))
    return g if g > f * 1.15 else f


@dataclass(frozen=True)
class ToOriginal:
    """Maps a box in working pixels back to the original picture: undoes the deskewing
    rotation (`inverse`, an affine map), then the working scale."""

    up: float
    inverse: np.ndarray | None = None

    def __call__(self, b: Box) -> Box:
        x, y, w, h = b
        if self.inverse is not None:
            pts = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float64)
            q = pts @ self.inverse[:, :2].T + self.inverse[:, 2]
            (x, y), (x1, y1) = np.maximum(q.min(0), 0), q.max(0)
            w, h = x1 - x, y1 - y
        u = self.up
        return (int(x * u), int(y * u), max(1, round(w * u)), max(1, round(h * u)))


#: A mark this many times as wide as the single-digit reader's digit may be a form's lines, a
#: few degrees aslant, round it and its neighbours (a row of cells): `_lined_level` looks.
ASLANT_WIDE = 2.0


def _lined_level(ink: np.ndarray, t: float, groups: list[Group], box: Box) -> bool:
    """Whether a mark much wider than the one digit found holds a form's lines that are found
    only once the picture is turned level: a row of cells three degrees aslant is a staircase of
    short runs, no line, and with its digits inside it was one mark, read as its middle digit
    ("101" read "0")."""
    if max((g.w for g in groups), default=0) < ASLANT_WIDE * box[2]:
        return False
    angle = slope.skew(ink > t)
    return angle != 0.0 and _groups(slope.rotate(ink, angle)[0], t)[2].lined


#: A page, whose paper at the reading scale follows the light's slopes across the sheet
#: (`ink_map`'s `follow_light`): at the working scale (or, where the first look promised marks far
#: bigger than the reading scale finds, there, the height counted at the working scale), this many
#: marks at least, their typical height (`_inked_height`) this many pixels at least, and the
#: picture's narrower side this many such heights at least. On a photographed number a sharp
#: shadow's edge became a blob of ink with it ("5882977" read "588"); some numbers give over 40
#: marks (specks, a comb's pieces), and a noisy photo's marks can be specks 2 pixels tall by their
#: ink
PAGE_LIGHT = (40, 4.0, 8.0)


def _a_page(groups: list[Group], shape: tuple[int, int], to_work: float = 1.0) -> bool:
    """The marks make a page (`PAGE_LIGHT`); `to_work`: the working scale over theirs."""
    tall = _inked_height(groups)
    return len(groups) >= PAGE_LIGHT[0] and tall * to_work >= PAGE_LIGHT[1] and min(shape) >= PAGE_LIGHT[2] * tall


def _page_ink(grey: np.ndarray, shaded: bool = False, page: bool = False) -> np.ndarray:
    """`ink_map` for a working picture of several digits, its paper followed into shadows (always,
    `shaded`); a big one has its paper estimated at a quarter of the size. `page`: the first look
    found a page (`PAGE_LIGHT`): its paper follows the light's slopes across the sheet
    (`follow_light`), on a small picture too (a page of big digits, read at under twice the working
    side: a soft shadow's edge there was a band of specks joining two rows' digits, 48 of 54 read)."""
    big = max(grey.shape) > 2 * WORK_SIDE
    return ink_map(grey, coarse=4 if big else 1, shadows=True, shaded=shaded, follow_light=page)


def _resize(grey: np.ndarray, f: float) -> np.ndarray:
    """The picture at scale f, as floats in [0, 1] (it may come as 8-bit grey). Averaged over each
    pixel's area: sampling between neighbours (INTER_LINEAR) is seven times cheaper on a page, but
    read 99.17% of the bench's page digits right instead of 99.46%."""
    h, w = grey.shape
    small = grey if f >= 1.0 else cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))),
                                             interpolation=cv2.INTER_AREA)
    return to_grey(small) if small.dtype == np.uint8 else small


def _threshold(ink: np.ndarray) -> float:
    """The single-digit reader's ink threshold (Otsu, bounded)."""
    u8 = (ink * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return min(max(otsu / 255.0 * 0.6, 0.2), 0.5)


def _split_single(ink: np.ndarray, found: Found, up: float) -> Mark | None:
    """A one-digit file's mark cut in two, at each candidate cut, as two touching digits would be
    ("10" in a box, the 1 touching the 0): offered when it is as wide as a mark that is cut
    (`CUT_WIDTH`: a 1 pressed into a 4 makes a mark narrower than tall); None otherwise. Two
    pieces a cut, not every span between cuts: a wide single digit is common in scans, and this
    is only asked when it reads badly."""
    x, y, w, h = found.box
    if w < CUT_WIDTH * h:
        return None
    sel = found.ink > _threshold(ink)
    if not sel.any():
        return None
    cols = cuts.candidates(sel, float(h))
    ends = len(cols) - 1
    if ends < 2:
        return None
    up_ = ToOriginal(up)
    pieces, spans = [_piece(found.ink, sel, (x, y), up_)], [(0, ends)]
    for k in range(1, ends):
        for i, j in ((0, k), (k, ends)):
            a, b = cols[i], cols[j]
            if b - a >= 0.12 * h and sel[:, a:b].any():
                pieces.append(_piece(found.ink[:, a:b], sel[:, a:b], (x + a, y), up_))
                spans.append((i, j))
    return Mark(0, pieces, spans, ends, wide=True)


def _single(ink: np.ndarray, up: float, found: Found | None = None) -> Layout:
    f = found if found is not None else find_digit(ink)
    return Layout([Mark(0, [Piece(ToOriginal(up)(f.box), frame28(f.ink, f.stroke), f.stroke)])], [], single=True,
                  left_out=f.left_out)


@dataclass
class Group:
    """Joined components: one mark."""

    x0: int
    y0: int
    x1: int
    y1: int
    labels: list[int]
    area: int
    raised: bool = False  # an exponent, joined to the line of its base (`_raised`)

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def _backdrop(st: np.ndarray, h: int, w: int, lab: np.ndarray | None = None) -> np.ndarray:
    """Components that are background, not writing: a shadow, a table's edge, a hand. Big and
    solid (strokes leave most of their box empty), or spanning half the picture both ways (or
    most of it one way) while several other marks stand apart from it (a digit filling the
    picture has only specks beside it). `lab` (the components' labels, `st` without the
    background's row): a big solid mark drawn in strokes (`_stroked`) is a bold digit, not a blob,
    and so is one spanning half the picture both ways (a number cropped tight to its ink)."""
    fill = st[:, 4] / np.maximum(1, st[:, 2] * st[:, 3])
    big = np.maximum(st[:, 2], st[:, 3]) >= 0.03 * max(h, w)
    # the marks' typical size from those shaped like digits: among a comb's ticks (or a row of
    # 1s), the digits of a number cropped tight to its comb stood three times the typical height
    # and were taken for bands
    shaped = big & (st[:, 2] >= 0.4 * st[:, 3]) & (st[:, 3] >= 0.4 * st[:, 2])
    typical = shaped if shaped.any() else big
    mw, mh = (float(np.median(st[typical, 2])), float(np.median(st[typical, 3]))) if typical.any() else (w, h)
    spans = (((st[:, 2] > 0.5 * w) & (st[:, 3] > 0.5 * h))
             | ((st[:, 2] > 0.8 * w) & (st[:, 2] > 3 * mw)) | ((st[:, 3] > 0.8 * h) & (st[:, 3] > 3 * mh)))
    solid = (fill > 0.5) & (st[:, 4] > 0.1 * h * w) & _outsize(st, big) & ~spans
    among = spans & (int(np.count_nonzero(big)) >= 5)
    out = ((fill > 0.5) & spans) | solid | among
    if lab is not None:
        # a bold digit in a picture cropped tight to the number spans half of it both ways too
        for i in np.flatnonzero((solid | ((fill > 0.5) & spans)) & ~among).tolist():
            out[i] = not _stroked(lab, i + 1, st[i])
    return out


#: A component whose thickest stroke (twice its deepest point from the paper) is under this share
#: of its box's shorter side is drawn with strokes: a bold digit filling its box, ring closed or
#: not. A shadow's or a hand's blob is as thick as it is wide.
STROKED = 0.5


def _stroked(lab: np.ndarray, label: int, box: np.ndarray) -> bool:
    """Component `label` (its stats row `box`) is drawn with strokes thinner than `STROKED` of it."""
    x, y, cw, ch, _a = (int(v) for v in box)
    comp = np.pad((lab[y:y + ch, x:x + cw] == label).astype(np.uint8), 1)
    deepest = float(cv2.distanceTransform(comp, cv2.DIST_L2, 3).max())
    return 2 * deepest < STROKED * min(cw, ch)


def _outsize(st: np.ndarray, big: np.ndarray) -> np.ndarray:
    """Components over 1.5 times as tall as the other big marks typically are: a bold digit of a
    tightly cropped number, or two of them touching, fill a tenth of the picture too, but stand
    no taller than their neighbours. A component with no other big mark beside it is outsize."""
    others = st[big, 3]
    if len(others) < 2:
        return np.ones(len(st), bool)
    if len(others) == 2:  # each against the other
        typical = np.where(st[:, 3] == others[0], others[1], others[0])
    else:
        typical = np.full(len(st), float(np.median(others)))
    return st[:, 3] > 1.5 * typical


def _frames(s: np.ndarray, biggest: int = 64) -> np.ndarray:
    """Components that enclose another one holding a good share of their ink (a box drawn round
    a field): not digits, and their height is not a digit's. Only the biggest boxes are looked
    at (a frame is one of them), so a page of thousands of marks costs little."""
    out = np.zeros(len(s), bool)
    if len(s) < 2:
        return out
    x0, y0, x1, y1, area = s[:, 0], s[:, 1], s[:, 0] + s[:, 2], s[:, 1] + s[:, 3], s[:, 4]
    for i in np.argsort(-(s[:, 2] * s[:, 3]))[:biggest]:
        inside = (x0 > x0[i]) & (y0 > y0[i]) & (x1 < x1[i]) & (y1 < y1[i]) & (area >= 0.15 * area[i])
        out[i] = bool(inside.any())
    return out


def _digit_height(st: np.ndarray, shape: tuple[int, int], lab: np.ndarray | None = None) -> float:
    """Typical height of a digit (`_height_and_share`)."""
    return _height_and_share(st, shape, lab)[0]


def _height_and_share(st: np.ndarray, shape: tuple[int, int],
                      lab: np.ndarray | None = None) -> tuple[float, float]:
    """Typical height of a digit: the median component height weighted by ink, over components
    that are not lines (label 0 excluded) nor solid flat bars (a box taller than wide loses its
    sides as lines, and its top and bottom, too short for lines, held more ink than its digit).
    Weighted, because a noisy photo has hundreds of specks and a handful of digits, and the
    digits hold most of the ink. Also the share of the ink that the components measured hold."""
    s = st[1:]
    if len(s) == 0:
        return 0.0, 0.0
    w, h, area = s[:, 2].astype(np.float64), s[:, 3].astype(np.float64), s[:, 4].astype(np.float64)
    bar = (w >= 3 * h) & (area >= 0.7 * w * h)  # a solid flat bar: what is left of a box's rule
    ok = (w < 6 * h) & (h < 8 * w + 8) & ~bar & ~_backdrop(s, *shape, lab) & ~_frames(s)
    if not ok.any():
        ok[:] = True
    return _weighted_median(h[ok], area[ok]), float(area[ok].sum() / area.sum())


#: Rules across at least this share of the picture, two or more and as thin as a printed line,
#: are looked for first when the digits seem as tall as the picture (`_net_height`).
NET_RULE = 0.5
NET_RULE_THIN = 0.04
#: ... or when the marks measured hold less than `NET_SHARE` of the ink and are shorter than
#: `NET_SPECK` of its height: specks, measured because the digits hang on a rule (one mark with
#: it, left out as a line)
NET_SHARE = 0.15
NET_SPECK = 0.1
#: The typical mark is the net when it is over this share of the ink's height: the ink's extent
#: also holds what is round a photographed sheet (the table's edge, a shadow's), and a ruled
#: sheet's rules held together by its margin were 88% of it (a page of 238 digits read as 112);
#: no line of digits in a picture of two lines or more is half its height
NET_SPAN = 0.5


def _net_height(mask: np.ndarray, height: float, share: float = 1.0) -> float:
    """The digits' height where the ink is one net as tall as the picture: a notebook's rules and
    margin, touched by the digits, hold everything together, so the typical mark's height is the
    picture's, no rule is longer than 1.6 of it, and none was taken out (a ruled "5979" read as one
    "2"). Then the marks are measured without the rules: two or more thin runs across half the
    picture (a digit filling its picture has one bar at most, and as thick as the pen). The
    picture's height is its ink's: a picture turned level has paper round it.

    Also where digits hang on one rule: one mark with it, left out of `height` as a line, so that
    the marks measured (`share` of the ink) are specks. Then one rule taken out is enough, and the
    height is the larger of the two measures."""
    inked = np.flatnonzero(mask.any(axis=1))
    if len(inked) == 0:
        return height
    extent = inked[-1] - inked[0] + 1
    spans = height >= NET_SPAN * extent
    if not spans and (share >= NET_SHARE or height >= NET_SPECK * extent):
        return height
    least = 2 if spans else 1  # the one rule the digits hang on is enough
    left = _without_rules(mask, least)
    if left is None:
        # a sheet photographed a few degrees aslant: its rules run level once it is turned (here
        # only to measure: the picture is turned before it is read)
        angle = slope.skew(mask)
        if angle == 0.0:
            return height
        left = _without_rules((slope.rotate(mask.astype(np.float32), angle)[0] > 0.5).view(np.uint8), least)
        if left is None:
            return height
    measured = _marks_height(left, mask.shape)
    if measured is None:
        return height
    return min(height, measured) if spans else max(height, measured)


def _ruled_height(mask: np.ndarray, net: float) -> float | None:
    """The digits' height on a page whose ink is a net of cells `net` high, where the net is
    rules found as lines with digits touching them, not a grid: the marks measured without the
    rules (`_without_rules`), where that is taller than the cells and under `NET_TALL` of them;
    None otherwise (a faint grid's net, no rule found: its cells' height stands). The
    holes between a ruled page's rules and the digits standing on them are shorter than a digit:
    taken for the digits' height, every 1 standing on a rule was longer than a box's side must
    be and taken out with the rules (a dense ruled page: 10 to 18 of its 143 1s lost, at some
    scales only, where the net held less than half the page's height)."""
    left = _without_rules(mask)
    measured = None if left is None else _marks_height(left, mask.shape)
    return measured if measured is not None and net < measured <= NET_TALL * net else None


def _marks_height(left: np.ndarray, shape: tuple[int, ...]) -> float | None:
    """The digits' height (`_digit_height`, in a picture of `shape`) on a mask whose rules were
    taken out; None where no mark is left."""
    _n, lab, st = formlines.components(left)
    return None if len(st) <= 1 else _digit_height(st, (shape[0], shape[1]), lab)


def _without_rules(mask: np.ndarray, least: int = 2) -> np.ndarray | None:
    """`mask` without its rules: `least` or more thin straight runs across half the picture
    (`NET_RULE`); None where there are not. A rule 1 px thin and under a degree aslant (too little
    for the picture to be turned) has no straight run that long: it is looked for again with a
    pixel of slack up and down."""
    rows, cols = mask.shape
    for slack in (0, 1):
        src = mask if not slack else cv2.dilate(mask, np.ones((1 + 2 * slack, 1), np.uint8))
        left, across = formlines.rules_across(src, int(NET_RULE * cols))
        _n, _lab, st = formlines.components(across)
        # widened by a pixel each way, and by the slack
        thin = np.count_nonzero(st[1:, 3] <= max(3.0, NET_RULE_THIN * rows) + 2 + 2 * slack)
        if thin >= least:
            return left if not slack else mask & (1 - across)
    return None


#: One mark holding nearly all the marks' ink (`BLOB_MOST`) and this share of the picture's
#: pixels is a blob that may be a shadow's (`_one_blob`); the shadow-following ink map must part
#: it into more marks than one digit is ever in (`ONE_DIGIT_PIECES`) to be taken instead (a big
#: blurred digit with specks round it parts into a few)
BLOB_SHARE = 0.03
BLOB_MOST = 0.8


def _one_blob(groups: list[Group], pixels: int) -> bool:
    """One mark holds nearly all the ink, and a good share of the picture: a big bold digit, or
    a shadow's specks run together with the digits under it."""
    if not groups:
        return False
    top = max(g.area for g in groups)
    return top >= BLOB_SHARE * pixels and top >= BLOB_MOST * sum(g.area for g in groups)


def _blobs(groups: list[Group], pixels: int) -> bool:
    """The marks that each hold a good share of the picture (`BLOB_SHARE`) hold nearly all the ink
    between them (`BLOB_MOST`): one blob (`_one_blob`), or a few: a photographed ruled sheet whose
    lit corner's specks joined its upper rows into one mark, its lower rows held together by their
    rules in another (312 digits read as none)."""
    big = sum(g.area for g in groups if g.area >= BLOB_SHARE * pixels)
    return big > 0 and big >= BLOB_MOST * sum(g.area for g in groups)


#: A component under this share of the digits' height either way is a speck (a dot, noise, a
#: shade's grain), no mark (`_groups`, `_specks`, `_faint_digits`)
SPECK = 0.35
#: A shade read as ink leaves at least this many specks (`_specks`), where the paper followed
#: into it leaves at most this share of them. Measured with the paper followed on every sheet:
#: the 24 photographed notes (of 500) it mended held 25-931 specks, 0-13 left; the 10
#: photographed numbers (of 1,000) it broke, on strips of paper where the paper followed into
#: their bold strokes, held 0-16
SHADE_SPECKS = 20
SHADE_SPECKS_LEFT = 0.2


def _specks(mask: np.ndarray, med: float) -> int:
    """Components of `mask` that are specks (`SPECK`) for digits `med` high."""
    _n, _lab, st = formlines.components(mask.view(np.uint8))
    return int(np.count_nonzero(np.maximum(st[1:, 2], st[1:, 3]) < SPECK * med))


def _shade_specked(mask: np.ndarray, followed: np.ndarray, groups: list[Group]) -> bool:
    """The ink on the max filter's paper (`mask`, its marks `groups`) holds a shade's specks,
    which the ink on the paper followed into shadows (`followed`) has not: specks in both are the
    picture's own (a noisy photo's grain, a pencil's dots)."""
    med = float(np.median([g.h for g in groups]))
    many = _specks(mask, med)
    return many >= SHADE_SPECKS and _specks(followed, med) <= SHADE_SPECKS_LEFT * many


#: A blob left out as background fills at least this share of its box: a shadow's edge read as
#: specks fills 0.23-0.5 of it, a notebook's rules joined by the digits on them 0.04
BLOB_FILL = 0.15


def _blob_left_out(mask: np.ndarray, groups: list[Group]) -> bool:
    """A component of `mask` holding a good share of the picture (`BLOB_SHARE`) and of its box
    (`BLOB_FILL`: no printed lines) that no mark holds: left out as background (a shadow's edge
    read as a band of ink, a digit inside it)."""
    _n, _lab, st = formlines.components(mask.view(np.uint8))
    for x, y, w, h, area in st[1:].tolist():
        if area >= BLOB_SHARE * mask.size and area >= BLOB_FILL * w * h and not any(
                g.x0 <= x and g.y0 <= y and x + w <= g.x1 and y + h <= g.y1 for g in groups):
            return True
    return False


#: A picture is grainy when the plain map's marks are more than `GRAIN_MARKS`, and this share of
#: them are specks of at most `GRAIN_SPECK` pixels; it is then smoothed by a Gaussian of
#: `GRAIN_BLUR` working pixels. (A number 150 px wide under grain holds 130-250 marks, 80-90%
#: specks; no picture of the sets, pages included, is so grainy but three of the held-out fonts'.)
GRAIN_MARKS = 100
GRAIN_SHARE = 0.8
GRAIN_SPECK = 4
GRAIN_BLUR = 1.0


#: A page's strokes are grainy (`_pencil_filled`) when closing the ink map (3 x 3) raises the ink
#: over the threshold by this share of it on average: pages written in pencil 0.084-0.107, in pen
#: (scanned, photographed, dense, of one digit) 0.004-0.014
GRAINY_STROKES = 0.04
#: ... measured on the page's middle third where it holds this many ink pixels, else on all of it
GRAIN_LOOK_LEAST = 2000


def _pencil_filled(ink: np.ndarray, t: float) -> np.ndarray:
    """A page's ink map, its strokes' holes filled where they are grainy (`GRAINY_STROKES`): pencil
    on paper's tooth, scanned at 600 dpi, leaves strokes of graphite specks that the model read as
    no digit (a pencil page had 20 to 35 of its 600 digits wrong, most of them read under the
    page's floor and left out). The marks stay as found; only what each is read from is filled."""
    h = ink.shape[0]
    band = ink[h // 3:2 * h // 3]  # a third of the page tells (a pen is a pen all down it), in a third of the time
    if np.count_nonzero(band > t) < GRAIN_LOOK_LEAST:
        band = ink
    mask = band > t
    if not mask.any():
        return ink
    closed = cv2.morphologyEx(band, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    grain = float((closed[mask] - band[mask]).mean()) / float(band[mask].mean())
    if grain < GRAINY_STROKES:
        return ink
    # filled over a disc 5 pixels across: of nine pencil pages, 61 digits wrong against 77 with
    # the 3 x 3 square that measures the grain, and 69 closed so and smoothed (a Gaussian of 0.7)
    return cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


def _grainy(groups: list[Group]) -> bool:
    """Grain, not writing: a hundred marks or more, nearly all of a few pixels."""
    return len(groups) > GRAIN_MARKS and sum(g.area <= GRAIN_SPECK for g in groups) >= GRAIN_SHARE * len(groups)


def _on_edge(groups: list[Group], shape: tuple[int, int]) -> bool:
    """One mark alone, running off the picture's top or bottom."""
    return len(groups) == 1 and (groups[0].y0 == 0 or groups[0].y1 >= shape[0])


def _shadowed(mask: np.ndarray) -> bool:
    """Ink that hides the writing: more ink than paper, or one solid piece on the picture's edge
    over a fifth of it (a shadow's deep half over the digits: nothing else is left to read)."""
    if _mostly_ink(mask):
        return True
    n, _lab, st = formlines.components(mask.view(np.uint8))
    if n <= 1:
        return False
    s = st[1:]
    i = int(np.argmax(s[:, 4]))
    x, y, w, h, area = (int(v) for v in s[i])
    rows, cols = mask.shape
    edge = x == 0 or y == 0 or x + w == cols or y + h == rows
    return edge and area > 0.2 * mask.size


#: The share of a picture that must be left as paper for its ink to be told apart (`_mostly_ink`);
#: `DENSE_PAPER` where neither ink map leaves more (a marker's bold strokes cut out tight)
MOSTLY_PAPER = 0.55
DENSE_PAPER = 0.35
#: How far above the ground ink is looked for where the paper sits over the lower threshold, as a
#: share of that threshold (`_above_ground`; 0.4 or 0.8 of it: 47 or 46 of `bench/photo_pages.py`'s 48
#: pages, 96.8% or 98.1% of its mixed pages' digits right, against 48 and 98.8%)
GROUND_OVER = 0.6
#: ... where the clearest patch about it (a square of half a digit, averaged) is over this share of
#: that threshold too (0.5: one mixed page's digits 98.5% → 96.2% right)
GROUND_LEAST = 0.25


def _mostly_ink(mask: np.ndarray, paper: float = MOSTLY_PAPER) -> bool:
    """Too little of the picture left as paper (under `paper` of it) to tell its ink apart."""
    return mask.size - int(np.count_nonzero(mask)) < paper * mask.size


@dataclass
class Printed:
    """What was printed on the paper and taken out of the ink: a form's cells (working pixels),
    and whether any line was."""

    cells: list[Box]
    lined: bool
    # marks left out that may be digits, each sending the file to review: digits broken into specks
    # on the ink threshold (`_faint_digits`), blobs a digit's height left out as background (`BLOB_DIGIT`)
    faint: list[Box] = field(default_factory=list)
    bare: bool = False  # lines taken out and nothing written left: an empty form (`OnlyLines`)
    # specks left out that may be a symbol's dot (`_dotted`: a "?" or "!" beside digits)
    dots: list[Box] = field(default_factory=list)
    # squared paper's lines were among them (`formlines.is_grid`), its upright ones three or more
    # sheet-long lines (`formlines.upright_rules`: not a few pixels left standing upright)
    grid: bool = False


#: A mark left out as background (`_backdrop`) from this to this many times the kept marks'
#: height may be digits (`_groups`)
BLOB_DIGIT = (0.6, 1.6)
#: Lines taken out and under this share of the ink left, none of it a mark: an empty form
BARE_INK = 0.05


#: A box looked for in the ink before the lines came out is at most this many digits tall
ROW_TALL = 3.0


def _above_ground(ink: np.ndarray, low: np.ndarray, height: float, t: float) -> np.ndarray:
    """The lower threshold's ink (`low`, over t) where the paper sits under it; where it does not, ink
    `GROUND_OVER` t above the ground (the ink map's median over four digits' heights, taken where
    the clearest patch in that window is over `GROUND_LEAST` t too: the paper itself raised, not
    a dense page's writing). A photographed sheet's paper estimated too bright (lit paper carried
    into shade) is over the lower threshold in places, and a faint grid's lines there ran into one
    blob with it: none of them was taken out, and a row of digits they joined was read as one."""
    h, w = ink.shape
    f = max(1, int(height // 2))
    small = cv2.resize((ink * 255).astype(np.uint8), (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    k = _odd(4 * height / f)  # about 9: the window is four digits on the copy half a digit to a pixel
    if min(small.shape) < k:
        return low
    ground = cv2.medianBlur(small, k)
    if int(ground.max()) <= 255 * t:
        return low
    # only where the paper is raised all over the window, its clearest patch too: over a dense
    # page's bold writing the median is over t, with paper between the digits
    ground[cv2.erode(small, np.ones((k, k), np.uint8)) <= 255 * GROUND_LEAST * t] = 0
    up = cv2.resize(ground, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) * np.float32(1 / 255)
    return np.where(up > t, ink > up + np.float32(GROUND_OVER * t), low.view(bool)).view(np.uint8)


def _overlaps(a: Box, b: Box) -> bool:
    """Two boxes share more than half of the smaller one."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    return w > 0 and h > 0 and w * h > 0.5 * min(aw * ah, bw * bh)


def _groups(ink: np.ndarray, t: float, trays: bool = False, dense: bool = False,
            squared: bool = False) -> tuple[list[Group], np.ndarray, Printed]:
    """Marks (joined components) of the ink map, specks and long lines left out, the
    components' label image, and what printed lines were taken out. `trays`: a comb of one
    cell is taken out too (`formlines.trays_out`; asked only of a picture of one digit: in a
    number, a digit's own cup may look like one). `squared`: squared paper was found at another
    scale: its lines are looked for on the lower threshold even where none is found on the ink
    threshold (a faint grid on a photographed sheet, the paper followed into its light, is ink
    only at its crossings and in patches, and their pieces were read as 1s and 4s)."""
    mask = (ink > t).astype(np.uint8)
    if _mostly_ink(mask, DENSE_PAPER if dense else MOSTLY_PAPER):
        return [], mask, Printed([], False)  # nothing written on it can be told apart
    n, lab, st = formlines.components(mask)
    if n <= 1:
        return [], lab, Printed([], False)
    if n > 8 * MAX_MARKS:
        raise NoDigitFound(f"more than {MAX_MARKS} marks: not a page of digits")
    cells: list[Box] = []
    inked = mask
    first_h = digit_h = _net_height(mask, *_height_and_share(st, mask.shape, lab))
    if first_h > NET_TALL * NET_HOLE_LEAST:
        top = 1 + int(np.argmax(st[1:, 4]))
        tx, ty, tw, th = (int(v) for v in st[top, :4])
        net = _cells_height(lab[ty:ty + th, tx:tx + tw] == top)
        if net is not None and first_h > NET_TALL * net:
            # a net, its lines too faint to be found as lines: its cells' height; or a ruled page
            # whose digits touch its rules, their marks measured without the rules
            first_h = digit_h = _ruled_height(mask, net) or net
    low = (ink > 0.5 * t).view(np.uint8)  # where faint rules are looked for
    mask, taken = formlines.lines_out(inked, first_h, slope=low)
    if trays:
        mask, tray = formlines.trays_out(mask, first_h)
        if tray.any():
            taken = (taken[0] | tray, taken[1], taken[2])
    if np.count_nonzero(st[1:, 3] >= 0.5 * first_h) <= SHELF_MARKS:  # a digit or two on a short underline
        mask, shelf = formlines.shelves_out(mask, first_h)
        if shelf.any():
            taken = (taken[0] | shelf, taken[1], taken[2])
    faint = None
    if squared or (taken[2].any() and formlines.is_grid(taken, upright=False)):
        # squared paper: its lines fade in and out of the ink threshold in places (a grid printed
        # light, a blurred photo), and the pieces left read as 1s and 7s: they are looked for on
        # a lower threshold (above the paper's own level where the paper is over it). Only on a
        # grid (not a ruled page: it has no upright lines to find): elsewhere touching digits make
        # long runs there too
        grounded = _above_ground(ink, low, first_h, 0.5 * t)
        again = formlines.lines_out(inked, first_h, faint=grounded)
        if formlines.is_grid(again[1]):
            faint, (mask, taken) = grounded, again
    lines = taken[0]
    grid = False
    crossed: np.ndarray | None = None  # the rules across whose crossings were put back
    untouched = mask is inked  # nothing taken out: the labelling above stands
    if lines.any():
        # once a box's rules are out, the digits' height is measured without the box, and its
        # sides (shorter than the box, taller than the digits) come out too
        _n, lab, st = formlines.components(mask)
        digit_h = _digit_height(st, mask.shape, lab)
        mask, taken = formlines.lines_out(mask, digit_h, taken,
                                          faint=None if faint is None else faint & ~taken[0].view(bool),
                                          slope=low if faint is None else None)
        lines = taken[0]
        grid = formlines.is_grid(taken)
        # squared paper, a notebook's rules, or a sheet's upright rules alone (squared paper whose
        # lines across were too faint to find: a 7's bar cut where a rule crosses it read "1")
        if grid or formlines.is_grid(taken, upright=False) or formlines.upright_rules(taken, digit_h):
            mask = formlines.crossings_back(ink, inked, mask, taken)
            crossed = taken[1]
        elif n <= formlines.LIGHT_CELLS_MARKS:
            cells += formlines.row_cells(lines, digit_h)
    if not untouched:
        n, lab, st = formlines.components(mask)
    form = n <= formlines.LIGHT_CELLS_MARKS  # a form's fields, not a page of a thousand digits
    celled, more = formlines.cells_out(mask, lab, st, overhang=form)
    if celled is None and form:
        # boxes printed thin and light fall apart on the ink threshold (their pieces were read as
        # 1s): they are looked for again where they hold together, on the lower threshold
        light = formlines.components(low & (1 - lines))  # the lines as they were taken out (widened already)
        celled, more = formlines.cells_out(mask, light[1], light[2], overhang=True)
    else:
        light = None
    if form and not untouched and not cells:
        # a row of boxes part of whose rules was long enough to be taken out as a line falls
        # apart: the boxes are looked for in the ink as it was too, and the boxes found there
        # alone go with the lines (where the lines made a row of cells, it was found from them).
        # A mark far taller than a digit is no row of boxes: squared paper's grid, a frame
        _n0, lab0, st0 = formlines.components(inked)
        st0[st0[:, 3] > ROW_TALL * digit_h, 2:4] = 0
        whole, before = formlines.cells_out(inked, lab0, st0, overhang=True)
        new = [c for c in before if not any(_overlaps(c, k) for k in more)]
        if whole is not None and new:
            celled, more = (mask if celled is None else celled) & whole, more + new
    cells += more
    if celled is not None:
        mask = celled
        n, lab, st = formlines.components(mask)
    printed = Printed(cells, bool(lines.any()) or celled is not None,
                      grid=grid and formlines.upright_rules(taken, digit_h))
    if n <= 1:
        printed.bare = printed.lined
        return [], lab, printed
    med = _digit_height(st, mask.shape, lab)
    combed = formlines.comb_out(mask, lines, st[1:], med) if lines.any() and not grid else None  # squared paper: no comb
    if combed is not None:
        mask = combed
        n, lab, st = formlines.components(mask)
        med = _digit_height(st, mask.shape, lab)
    st = st[1:]
    area = st[:, 4].astype(np.float64)
    h, w = mask.shape
    small = np.maximum(st[:, 2], st[:, 3]) < SPECK * med  # specks, dots, noise
    backdrop = _backdrop(st, h, w, lab)
    keep = np.flatnonzero(~small & ~backdrop)
    s = st[keep]
    # only marks on the picture's edge or shaped like a tick can be either (the rest: thousands on a page)
    odd = ((s[:, 0] == 0) | (s[:, 1] == 0) | (s[:, 0] + s[:, 2] == w) | (s[:, 1] + s[:, 3] == h)
           | formlines.tick_shaped(s, med))
    filled = formlines.filled_height(s, h) if odd.any() else 0.0
    keep = np.array([i for i, o in zip(keep.tolist(), odd.tolist(), strict=True)
                     if not o or (not _edge_band(st[i], w, h, filled) and not formlines.is_tick(st[i], lines, med)
                                  and not _edge_shade(st[i], ink, lab, int(i) + 1, t))], np.int64)
    if len(keep):
        keep = keep[~np.isin(keep, formlines.dashed_lines(st, keep, med, mask.shape))]
    if len(keep) and lines.any() and formlines.empty_comb(st[keep], lines):
        printed.bare = True
        return [], lab, printed
    if len(keep) == 0:
        # nothing kept: an empty form when next to no ink was left once its lines were out (a
        # bold digit dropped as a blob leaves its ink, and is read whole)
        printed.bare = printed.lined and bool(np.count_nonzero(mask) < BARE_INK * np.count_nonzero(inked))
        return [], lab, printed
    if n <= formlines.LIGHT_CELLS_MARKS:
        printed.faint = _faint_digits(low, lines, lab, st, keep, med, light)
        # a blob left out as background but a digit's height, level with the digits: bold digits
        # touching, in a picture cropped tight to them, are as solid as a shadow (to review)
        tall = float(np.median(st[keep, 3]))
        printed.faint += [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in st[np.flatnonzero(backdrop & ~small)]
                          if BLOB_DIGIT[0] * tall <= b[3] <= BLOB_DIGIT[1] * tall]
        printed.dots = [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in st[np.flatnonzero(small)]
                        if _dot_shaped(b, med)]
    if len(keep) > 4 * MAX_MARKS:
        raise NoDigitFound(f"more than {MAX_MARKS} marks: not a page of digits")
    x0, y0 = st[keep, 0], st[keep, 1]
    x1, y1 = x0 + st[keep, 2], y0 + st[keep, 3]
    # join strokes of one digit: they overlap horizontally and almost touch vertically, and
    # together are not much taller than a digit
    parent = list(range(len(keep)))
    # each joined group's extent, at its root
    left, top, right, foot = x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist()

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # on a page of many marks, digits stacked into one group are split afterwards where they touch
    # (`_split_stacked`), and a group left taller than a digit is what that looks for
    capped = len(keep) < STACK_MARKS
    for i, j in _stacked(x0, y0, x1, y1, med):
        ri, rj = root(i), root(j)
        if ri == rj:
            continue
        lo, t, hi, f = min(left[ri], left[rj]), min(top[ri], top[rj]), max(right[ri], right[rj]), max(foot[ri], foot[rj])
        if capped and f - t > STACK_TALL * med and hi - lo <= STACK_TALL * med:
            # a 5's flag between its body and the 0 above it joins one of them, not both (a mark
            # many digits wide is no digit: a shaded sheet's rows of ink, whose blob is looked for)
            continue
        parent[rj], left[ri], top[ri], right[ri], foot[ri] = ri, lo, t, hi, f
    by_root: dict[int, list[int]] = {}
    for k in range(len(keep)):
        by_root.setdefault(root(k), []).append(k)
    groups = []
    for members in by_root.values():
        if len(members) == 1:  # most marks are one stroke
            k = members[0]
            groups.append(Group(int(x0[k]), int(y0[k]), int(x1[k]), int(y1[k]), [int(keep[k]) + 1], int(area[keep[k]])))
            continue
        m = np.array(members)
        groups.append(Group(int(x0[m].min()), int(y0[m].min()), int(x1[m].max()), int(y1[m].max()),
                            [int(keep[k]) + 1 for k in members], int(area[keep[m]].sum())))
    if crossed is not None:
        groups = _split_across(groups, lab, crossed, med)
    if len(groups) >= STACK_MARKS and med >= 0.25 * TARGET_HEIGHT:  # not a noisy scan's specks
        groups = _split_stacked(groups, lab, med)
    kept, boxed = _drop_frames(groups)
    printed.lined |= boxed  # a field's box, taken out: read as a field, not as one digit with its box
    return kept, lab, printed


#: A mark at least this many digits high that a rule crosses, with a digit's height of ink on
#: each side of it (`SPLIT_PART`), is two digits, one above the rule and one below: in a table
#: the digits of two rows touch the rule between them, and putting its crossings back joins them.
SPLIT_TALL = 1.6
SPLIT_PART = 0.6
#: A part of such a mark still that tall is split again where the mark is at most this many
#: digits wide: digits stacked through two rules, not rows joined along them.
STACK_WIDE = 2.0


def _split_across(groups: list[Group], lab: np.ndarray, across: np.ndarray, med: float) -> list[Group]:
    """Marks two digits high joined through a rule whose crossings were put back
    (`formlines.crossings_back`), split at the rule. A digit crossing a rule (squared paper, a
    notebook's lines) is one digit high, and stays whole; so does a digit with a short flourish
    beyond a rule (too little ink on its other side). A part still that tall is split again
    (three rows joined through two rules: cut at the lower, the upper rule's crossing left in
    the top part, cut at its least ink later, kept a piece of the rule under a 7, read "1")."""
    out: list[Group] = []
    todo = list(reversed(groups))
    while todo:
        g = todo.pop()
        if g.h < SPLIT_TALL * med:
            out.append(g)
            continue
        rows = np.flatnonzero(across[g.y0:g.y1, g.x0:g.x1].any(axis=1))
        parts = None
        mid = g.h / 2
        for r in sorted(rows.tolist(), key=lambda r: abs(r - mid)):
            parts = _halves(g, lab, g.y0 + r, med)
            if parts is not None:
                break
        if parts is None:
            out.append(g)
        elif g.w <= STACK_WIDE * med:
            todo += reversed(parts)
        else:  # a row's digits joined along its rule (a first look at a page's size): no stack of digits
            out += parts
    return out


#: A page of at least this many marks is a grid of digits, in rows: a mark two digits high there
#: is a digit touching the one above or below it, in the next row (rows written close).
STACK_MARKS = 50
#: Where such a mark is cut: the row of least ink within this share of its height round its middle ...
STACK_BAND = 0.2
#: ... or, first, within this share of its height round where its two rows meet, measured on the
#: marks a digit high within `STACK_NEAR` digits beside it, `STACK_ROW` of them in each row at least
STACK_MEET = 0.05
STACK_NEAR = 4.0
STACK_ROW = 2


def _split_stacked(groups: list[Group], lab: np.ndarray, med: float) -> list[Group]:
    """Marks two digits high on a page of rows, cut in two at a valley of their ink (`_stack_cut`)
    where the rows beside them meet (`_rows_meet`), or else about their middle: a digit's tail
    touching the digit below it, in the next row, made one mark of the two,
    read as one digit or none (a page with rows 1.1 digits apart: 1,158 marks for 1,250 digits).
    A part still two digits high is cut again (three rows touching); on ruled paper, what is still
    that high once cut at the rules (`_split_across`)."""
    out: list[Group] = []
    todo = list(reversed(groups))
    box = np.array([(g.x0, g.y0, g.x1, g.y1) for g in groups], np.float64).reshape(-1, 4)
    heights = box[:, 3] - box[:, 1]
    box = box[(heights >= 0.6 * med) & (heights < 1.4 * med)]  # the marks a digit high
    while todo:
        g = todo.pop()
        if g.h < SPLIT_TALL * med:
            out.append(g)
            continue
        parts = None
        y = _stack_cut(np.isin(lab[g.y0:g.y1, g.x0:g.x1], g.labels).sum(axis=1), _rows_meet(g, box, med))
        if y is not None:
            parts = _halves(g, lab, g.y0 + y, med, gap=0)
        if parts is None:
            out.append(g)
        else:
            todo += reversed(parts)
    return out


def _rows_meet(g: Group, box: np.ndarray, med: float) -> float | None:
    """Where the two rows that a mark two digits high stands in meet, by the marks a digit high
    beside it (`box`: x0, y0, x1, y1; within `STACK_NEAR` digits either way): half way from the
    upper row's feet to the lower row's heads (their medians), in the mark's own rows; None
    without `STACK_ROW` such marks in each row."""
    cx = (g.x0 + g.x1) / 2
    near = box[(np.abs((box[:, 0] + box[:, 2]) / 2 - cx) <= STACK_NEAR * med) & (box[:, 3] > g.y0) & (box[:, 1] < g.y1)]
    mid = (near[:, 1] + near[:, 3]) / 2
    upper, lower = near[mid < g.cy], near[mid >= g.cy]
    if len(upper) < STACK_ROW or len(lower) < STACK_ROW:
        return None
    return (float(np.median(upper[:, 3])) + float(np.median(lower[:, 1]))) / 2 - g.y0


def _stack_cut(rows: np.ndarray, meet: float | None = None) -> int | None:
    """Where a mark two digits high (`rows`: its ink along each row) is cut: of the rows about
    where its two rows meet (`meet`, from the marks beside it: `_rows_meet`; within `STACK_MEET`
    of its height) that hold less ink than some row above them and some row below (a valley: two
    marks meet there), one of least ink, the one nearest that point; where there is none, or no
    `meet`, the same about its middle (`STACK_BAND`: a 7's stem is as thin all down as where it
    meets the digit under it, and cut at the band's top it left too little above). None where
    neither has a valley: a wedge of a table's corner or a shadow widening down the picture.

    About the middle alone, a valley of less ink inside one of the two digits was cut instead of
    where they touch: an 8's waist, a 3's, or a 7's stem under its bar, the bar then read with
    the digit above it (a 0 over an 8 read "8", the 7 "1"): dense plain and squared pages, 9 of
    each, 98.6% -> 99.2% right. Before that, the band's least ink was taken, and no cut made
    unless more ink lay above and below all such rows: a thin tail below the join (a 9's stem)
    as thin as the join hid it, and the two digits were read as one."""
    h = len(rows)
    above = np.concatenate(([0], np.maximum.accumulate(rows)[:-1]))  # the most ink in any row above
    below = np.concatenate((np.maximum.accumulate(rows[::-1])[::-1][1:], [0]))  # ... and below
    bands = [] if meet is None else [(meet - STACK_MEET * h, meet + STACK_MEET * h, meet)]
    bands.append(((0.5 - STACK_BAND) * h, (0.5 + STACK_BAND) * h, h / 2))
    for a, b, centre in bands:
        band = np.arange(max(int(a), 0), min(int(b) + 1, h))
        valley = band[(rows[band] < above[band]) & (rows[band] < below[band])]
        if len(valley):
            least = valley[rows[valley] == rows[valley].min()]
            return int(least[np.argmin(np.abs(least - centre))])
    return None


def _halves(g: Group, lab: np.ndarray, y: int, med: float, gap: int = formlines.RULE_THICK) -> list[Group] | None:
    """`g` cut at row `y`, `gap` rows left out on each side (by default as wide as a rule is taken
    out: `_split_across`; none where no rule runs there: `_split_stacked`), each part boxed tight
    round its ink; None unless both are a digit high."""
    out = []
    for a, b in ((g.y0, y - gap), (y + gap + 1, g.y1)):
        if b - a < SPLIT_PART * med:
            return None
        mine = np.isin(lab[a:b, g.x0:g.x1], g.labels)
        ys, xs = np.nonzero(mine)
        if len(ys) == 0 or ys.max() - ys.min() + 1 < SPLIT_PART * med:
            return None
        out.append(Group(g.x0 + int(xs.min()), a + int(ys.min()), g.x0 + int(xs.max()) + 1, a + int(ys.max()) + 1,
                         list(g.labels), len(ys)))
    return out


def _faint_digits(low: np.ndarray, lines: np.ndarray, lab: np.ndarray, st: np.ndarray, keep: np.ndarray,
                  med: float, low_marks: tuple[int, np.ndarray, np.ndarray] | None = None) -> list[Box]:
    """Digits too faint to hold together on the ink threshold: specks (too small to be kept) that
    are one mark of a digit's height on the lower threshold `low`, printed `lines` out, holding no
    mark that was kept. A pale thin 3 fell apart into specks and "33284" was read "3284" `ok`.
    `low_marks`: those components when the look for light boxes labelled them already."""
    side = np.maximum(st[:, 2], st[:, 3])
    bits = np.flatnonzero((side < SPECK * med) & (side >= FAINT_BIT * med))
    if not 2 <= len(bits) <= FAINT_BITS_MOST:
        return []
    _n, low_lab, low_st = low_marks if low_marks is not None else formlines.components(low & (1 - lines))
    owners: dict[int, int] = {}
    for i in bits.tolist():
        x, y, cw, ch = (int(v) for v in st[i, :4])
        ys, xs = np.nonzero(lab[y:y + ch, x:x + cw] == i + 1)
        owner = int(low_lab[y + ys[0], x + xs[0]])
        owners[owner] = owners.get(owner, 0) + 1
    kept = set((keep + 1).tolist())
    out: list[Box] = []
    for owner, count in owners.items():
        x, y, cw, ch = (int(v) for v in low_st[owner, :4])
        if count < 2 or not FAINT_TALL * med <= ch <= 1.5 * med or cw > 1.5 * med:
            continue
        inside = lab[y:y + ch, x:x + cw][low_lab[y:y + ch, x:x + cw] == owner]
        if not kept & set(np.unique(inside).tolist()):
            out.append((x, y, cw, ch))
    return out


#: Two strokes one just above the other (their ends within this many digit heights) are one
#: digit when they overlap across by `STACK_LEAN` of the narrower one's width, not half: the
#: halves of a leaning 1 or 7 broken across ("18" read "1 18")
STACK_TOUCH = 0.1
STACK_LEAN = 0.3
#: Strokes joined as one digit are together at most this many digit heights tall (each pair, and
#: in a picture of fewer than `STACK_MARKS` marks the group they make where it is no wider: a 5's
#: flag just under a 0 had joined the 0 to the 5, a mark two digits high)
STACK_TALL = 1.5


def _stacked(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, med: float) -> list[tuple[int, int]]:
    """Pairs of components that are strokes of one digit: they overlap horizontally by half the
    narrower one's width (`STACK_LEAN` of it, one just above the other) and almost touch
    vertically, and together are not much taller than a digit (`STACK_TALL`); a long thin bar
    (what is left of a rule) is no stroke of a digit. Only pairs that overlap horizontally at
    all are looked at (components sorted by left edge: each against those that start before it
    ends), all at once: a page has thousands. The nearest pairs come first (the caller joins
    them while the group stays a digit high: a stroke between two digits goes with the nearer)."""
    order = np.argsort(x0, kind="stable")
    xs0, xs1 = x0[order], x1[order]
    ends = np.searchsorted(xs0, xs1, side="left")  # the first that starts where this one ends
    counts = np.maximum(ends - np.arange(len(order)) - 1, 0)
    a = np.repeat(np.arange(len(order)), counts)
    b = a + 1 + (np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts))
    i, j = order[a], order[b]
    ov = np.minimum(x1[i], x1[j]) - np.maximum(x0[i], x0[j])
    apart = np.maximum(y0[i], y0[j]) - np.minimum(y1[i], y1[j])  # under 0: they overlap up and down
    gap = np.maximum(apart, 0)
    tall = np.maximum(y1[i], y1[j]) - np.minimum(y0[i], y0[j])
    # what is left of a rule (a box's bottom drawn a little aslant, part of it kept) is no digit's stroke
    bar = ((x1 - x0) >= 1.5 * med) & ((y1 - y0) <= 0.25 * med)
    # the halves of a leaning stroke broken across overlap less, one just above the other
    meet = np.abs(apart) <= STACK_TOUCH * med
    share = np.where(meet, STACK_LEAN, 0.5)
    ok = ((ov >= share * np.minimum(x1[i] - x0[i], x1[j] - x0[j])) & (gap <= 0.3 * med) & (tall <= STACK_TALL * med)
          & ~bar[i] & ~bar[j])
    near = np.argsort(apart[ok], kind="stable")
    return [(int(p), int(q)) for p, q in zip(i[ok][near], j[ok][near], strict=True)]


def _edge_band(s: np.ndarray, w: int, h: int, filled: float = 0.0) -> bool:
    """A thin band along the picture's edge and nearly as long as it: a scanner shadow, a page
    edge. `filled`: the digits' height where they fill the picture (`formlines.filled_height`: a
    number cropped tight to its ink), where an upright run no taller than they are is a 1."""
    x, y, cw, ch = int(s[0]), int(s[1]), int(s[2]), int(s[3])
    at_edge = x == 0 or y == 0 or x + cw == w or y + ch == h
    upright = cw <= 0.1 * w and ch >= 0.8 * h and not (filled > 0 and ch <= formlines.FILLED_LINE * filled)
    return at_edge and (upright or (ch <= 0.1 * h and cw >= 0.8 * w))


def _edge_shade(s: np.ndarray, ink: np.ndarray, lab: np.ndarray, label: int, t: float) -> bool:
    """A faint mark on the picture's edge: a photo darkening towards its border, not writing
    (a stroke there is as dark as the others, at least twice the ink threshold somewhere)."""
    x, y, cw, ch = int(s[0]), int(s[1]), int(s[2]), int(s[3])
    h, w = ink.shape
    if not (x == 0 or y == 0 or x + cw == w or y + ch == h):
        return False
    mine = lab[y:y + ch, x:x + cw] == label
    return float(ink[y:y + ch, x:x + cw][mine].max()) < 2 * t


#: A box round one digit-sized mark is a printed one when its line is under this share of the
#: mark's stroke (both as ink over the outline of their box).
PRINTED_THIN = 0.5


def _drop_frames(groups: list[Group]) -> tuple[list[Group], bool]:
    """A mark that encloses other marks (a box round a field) is not a digit: the marks kept, and
    whether one dropped was a printed box round one digit (`_printed_box`)."""
    if len(groups) < 2:
        return groups, False
    b = np.array([(g.x0, g.y0, g.x1, g.y1) for g in groups])
    inside = np.zeros(len(groups), np.int64)
    for s in range(0, len(groups), 256):  # all pairs at once, a block of marks at a time (a page has thousands)
        a = b[s:s + 256, None, :]
        inside[s:s + 256] = np.count_nonzero((b[None, :, 0] > a[..., 0]) & (b[None, :, 1] > a[..., 1])
                                             & (b[None, :, 2] < a[..., 2]) & (b[None, :, 3] < a[..., 3]), axis=1)
    kept, boxed = [], False
    for g, k in zip(groups, inside.tolist(), strict=True):
        box = k == 1 and g.w <= 3 * g.h and _printed_box(g, groups)
        boxed |= box
        if not (k >= 2 or (k == 1 and g.w > 3 * g.h) or box):
            kept.append(g)
    return kept, boxed


def _printed_box(g: Group, groups: list[Group]) -> bool:
    """`g` encloses one mark of a digit's size, drawn with a far thinner line than it: a box
    printed round a field ("10" in a box whose sides were too short to be taken out as lines was
    read with them as one digit). A 0 round a speck encloses no mark that big, and is as bold."""
    inner = [o for o in groups if o.x0 > g.x0 and o.y0 > g.y0 and o.x1 < g.x1 and o.y1 < g.y1]
    if len(inner) != 1 or inner[0].h < 0.5 * g.h:
        return False
    return _outline_stroke(g) <= PRINTED_THIN * _outline_stroke(inner[0])


def _outline_stroke(m: Group) -> float:
    """A mark's ink over the length of its box's outline: a box's or a loop's line width."""
    return m.area / max(1.0, 2.0 * (m.w + m.h))


#: More marks of a digit's size than this are never one digit in pieces (2,000 scans, wild-dev,
#: multi-dev and the held-out fonts' marks read as one digit hold 6 at most, nearly all 1).
ONE_DIGIT_PIECES = 8
#: A short underline (`formlines.shelves_out`) is looked for only in a picture of at most this
#: many components half a digit tall or more: a field of a digit or two (in pieces, perhaps),
#: not a number, whose underline is long enough for `formlines.lines_out`.
SHELF_MARKS = 4


#: More than `ONE_DIGIT_PIECES` marks beside the digit or too small to be its parts, holding more
#: ink than this share of its parts': not one digit, whatever their sizes (`_one_digit`; a blurred
#: digit's specks of noise are a few)
ONE_DIGIT_BESIDE = 1.0


def _within_box(g: Group, box: Box) -> bool:
    """The mark's middle lies in the box (2 pixels of slack)."""
    bx, by, bw, bh = box
    cx, cy = (g.x0 + g.x1) / 2, (g.y0 + g.y1) / 2
    return bx - 2 <= cx <= bx + bw + 2 and by - 2 <= cy <= by + bh + 2


#: Marks this many times as wide as tall and this share of the single-digit reader's box wide at
#: least, `ROWS_LEAST` of them or more, are rows of writing, not one digit's pieces: a
#: photographed ruled page whose rows each ran together along their rule, with a shaded corner's
#: speckle the biggest mark, was one digit of 216
ROW_FLAT = (5.0, 0.6)
ROWS_LEAST = 3


def _one_digit(groups: list[Group], box: Box) -> bool:
    """The picture is one digit: every mark of a digit's size (near the biggest mark's ink and
    at least 40% of its height or width; specks and noise are not) lies within the
    single-digit reader's box, the marks beside it hold less ink than it, no two stand side by
    side as two digits would (a 5's flag sits above its body), the box is no wider than a digit,
    and no `ROWS_LEAST` marks lie flat across most of it (`ROW_FLAT`)."""
    _bx, _by, bw, bh = box
    top = max(groups, key=lambda g: g.area, default=None)
    if top is None:
        return True
    if sum(g.w >= ROW_FLAT[0] * g.h and g.w >= ROW_FLAT[1] * bw for g in groups) >= ROWS_LEAST:
        return False  # rows of a page, each run together along its rule
    if _many_alike(groups):
        return False  # a note's digits beside a blob of shade taller than they are
    big = [g for g in groups if g.area >= 0.08 * top.area and (g.h >= 0.4 * top.h or g.w >= 0.4 * top.w)]
    parts = {id(g) for g in big}
    out = [g for g in big if not _within_box(g, box)]
    beside = [g for g in groups if id(g) not in parts] + out
    if len(beside) > ONE_DIGIT_PIECES and sum(g.area for g in beside) > ONE_DIGIT_BESIDE * sum(g.area for g in big):
        return False  # more ink in many marks beside it or too small to be its parts: a page of small digits and a dark blob
    if out:
        return False
    if len(big) > ONE_DIGIT_PIECES:
        return False  # a grid of digits run together in places, not one digit in pieces
    tall = max((g.h for g in big), default=bh)
    if bw > 1.3 * bh:
        return False  # wider than a digit: may be several touching ones (the reader may still take one)
    if _framed_wide(big):
        return False
    for i, a in enumerate(big):
        for b in big[i + 1:]:
            overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
            if overlap < 0.3 * min(a.w, b.w) and min(a.h, b.h) >= 0.45 * tall:
                return False
    return not _column(big, bw, bh)


#: More than `ONE_DIGIT_PIECES` marks at least this many pixels tall (on the first look's copy),
#: their heights within `ALIKE` of their median, are digits, not one digit's pieces: a note's
#: 16 digits beside a band of shade's speckle three digits tall were read as one digit, the band
#: the biggest mark and the digits too small beside it to be counted
ALIKE_LEAST = 10
ALIKE = 1.5


def _many_alike(groups: list[Group]) -> bool:
    """More than `ONE_DIGIT_PIECES` marks of one size (`ALIKE`), each `ALIKE_LEAST` pixels tall."""
    hs = np.array([g.h for g in groups if g.h >= ALIKE_LEAST], np.float64)
    if len(hs) <= ONE_DIGIT_PIECES:
        return False
    m = float(np.median(hs))
    return int(np.count_nonzero((hs >= m / ALIKE) & (hs <= m * ALIKE))) > ONE_DIGIT_PIECES


def _bounds(groups: list[Group]) -> tuple[int, int, int, int]:
    """The box round marks: x0, y0, x1, y1."""
    return (min(g.x0 for g in groups), min(g.y0 for g in groups),
            max(g.x1 for g in groups), max(g.y1 for g in groups))


def _may_hold_tray(lab: np.ndarray, groups: list[Group]) -> bool:
    """A tray may stand under the marks (`formlines.trays_out` on them alone, the digit's height
    taken low: the tray may be joined to the digit): only then is the picture looked at again."""
    x0, y0, x1, y1 = _bounds(groups)
    crop = (lab[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] > 0).view(np.uint8)
    return bool(formlines.trays_out(crop, 0.75 * max(g.h for g in groups))[1].any())


def _framed_wide(big: list[Group]) -> bool:
    """A box drawn round what it holds, which is wider than a digit: the single-digit reader's box
    is the frame's, as tall as it is wide, but the ink inside may be several touching digits (a
    "23" in a box read as one 2). What a digit's own stroke holds (a 7's bar, an E's middle) is
    far shorter than the stroke round it."""
    for f in big:
        inner = [g for g in big if g is not f and f.x0 < g.x0 and f.y0 < g.y0 and g.x1 < f.x1 and g.y1 < f.y1]
        if inner:
            x0, y0, x1, y1 = _bounds(inner)
            if x1 - x0 > 1.3 * (y1 - y0) and y1 - y0 >= 0.4 * f.h:
                return True
    return False


def _column(big: list[Group], bw: int, bh: int) -> bool:
    """Three or more digit-sized marks one above another in a box over twice as tall as wide: a
    number photographed sideways (read whole, it was a sure 1), not a digit in pieces."""
    if bh < 2 * bw or len(big) < 3:
        return False
    most = max(g.area for g in big)
    apart = [g for g in big if g.w >= 0.5 * bw and g.area >= 0.3 * most]  # digits, not a noisy scan's specks
    apart.sort(key=lambda g: g.y0)
    stacked = sum(min(a.y1, b.y1) - max(a.y0, b.y0) < 0.3 * min(a.h, b.h) for a, b in itertools.pairwise(apart))
    return stacked >= 2


#: A mark shorter than this share of its line's digits, lying wholly below their middle, is a
#: comma (read as a 1, it was read surely), not a digit.
LOW_SHORT = 0.6
#: A mark under 0.45 of its line's digits high and wide is a speck and left out; but one at least
#: this share of them in both directions, centred within `FAINT_MID` of them of the line's
#: middle, is what the ink threshold kept of a faint digit (a light pencil 3 among darker digits
#: became a 19 x 18 blob in a line 45 high), and the file goes to review: it was read `ok` without
#: that digit. Slivers of a stroke beside a digit are thinner; a dot or a comma lies lower.
FAINT_PART = 0.3
FAINT_MID = 0.25
#: A faint digit broken into specks (`_faint_digits`): specks at least `FAINT_BIT` of the digits'
#: height across (noise is smaller) that make one mark at least `FAINT_TALL` of it high on the
#: lower threshold; looked for when there are at most `FAINT_BITS_MOST` such specks (a noisy
#: photo's hundreds are noise).
FAINT_BIT = 0.12
FAINT_TALL = 0.6
FAINT_BITS_MOST = 60


def _lines(groups: list[Group]) -> list[list[Group]]:
    """Group marks into lines: left to right, each mark joins the line whose last digit-sized
    mark it continues (vertical centres within half a digit), so a sloping line stays one line
    and a speck or a dash below it does not start another. Marks under 0.6 of a digit high (a
    5's flag standing off its body, a dot, a dash, a comma hanging from the line's foot) are
    placed after the digits' lines are formed, in the line beside them (within three digits
    across: a page's grid spaces its digits wide): one placed first could start a line of its
    own that the next digit continued, and the number was read in two lines, out of order."""
    if not groups:
        return []
    med = float(np.median([g.h for g in groups]))
    tall = [g for g in groups if g.h >= LOW_SHORT * med]
    lines = _chain(tall, med)
    rest = []
    for g in sorted((g for g in groups if g.h < LOW_SHORT * med), key=lambda g: g.x0):
        best, best_d = None, 0.75 * med
        for k, line in enumerate(lines):
            near = [abs(g.cy - m.cy) for m in line if abs((m.x0 + m.x1) - (g.x0 + g.x1)) <= 6 * med]
            if near and min(near) <= best_d:
                best, best_d = k, min(near)
        if best is None:
            best = next((k for k, line in enumerate(lines) if _raised(g, line)), None)
            g.raised = best is not None
        else:
            g.raised = _raised(g, lines[best])  # near enough, and standing up out of it
        if best is None:
            rest.append(g)
        else:
            lines[best].append(g)
    lines = [sorted(ln, key=lambda g: g.x0) for ln in lines] + _chain(rest, med)
    lines.sort(key=lambda ln: float(np.median([g.cy for g in ln])))
    return lines


#: An exponent ("x²"): a mark at most `RAISED_HIGH` of the height of the line's marks beside it,
#: standing up out of their top with its foot in the top `RAISED_FOOT` of them, at most
#: `RAISED_GAP` of a digit's height after the mark before it (its base)
RAISED_HIGH = 0.75
RAISED_FOOT = 0.6
RAISED_GAP = 0.35
#: an exponent as small as a speck is kept down to this share of its line's marks' height (a dot,
#: the top of a ÷, is smaller)
RAISED_LEAST = 0.3


def _raised(g: Group, line: list[Group]) -> bool:
    """`g` is an exponent of `line` (its marks in the order they joined it; the last few looked at):
    it follows one of them closely, stands up out of their top, and is smaller than they are. No
    mark of the line is level with it, so it would start a line of its own above, read before
    the line it belongs to (and continued by the rest of an equation: "1x² - 0" read "1 20")."""
    recent = line[-6:]
    base = [m for m in recent if m.x1 <= g.x0 + 0.2 * g.w and g.x0 - m.x1 <= RAISED_GAP * max(m.h, g.h)]
    if not base:
        return False
    b = max(base, key=lambda m: m.x1)
    tall = max(m.h for m in recent)
    top = min(m.y0 for m in recent if m.h >= RAISED_HIGH * tall)
    if g.h <= RAISED_HIGH * tall and g.y0 < min(b.y0, top) and top < g.y1 <= top + RAISED_FOOT * tall:
        return True
    # over a small base (an x at the start of the line, "x² + 5x"): smaller than it (a line of
    # digits above, starting just after one of the line's, is as tall as its digits), its foot above
    # the base's middle and less than half the base's height above its top
    return g.h <= 0.8 * b.h and g.y0 < b.y0 - 0.3 * b.h and b.y0 - 0.5 * b.h < g.y1 <= b.cy


#: A line of at least this many marks is followed along its slope too (a straight line through
#: their centres), up to `SLOPE_MOST` (rise over run): a number or a strip sloped past what
#: `slope.skew` levels, its digits written wide apart, had its second half taken for a line of its own
SLOPE_MARKS = 3
SLOPE_MOST = 0.27


def _chain(groups: list[Group], med: float) -> list[list[Group]]:
    """Marks chained into lines left to right, each continuing the line of the last mark of a
    digit's size it is level with, or with where that line runs on to along its slope (of those,
    the nearest in level, a little weight on the gap); level with none, the line of the mark
    before that (a table's digits stand anywhere in their cells: one hanging low between two
    written high is level with neither). The lines' last two marks and the sums for their slopes
    are held as arrays: a page has thousands of marks and dozens of lines."""
    lines: list[list[Group]] = []
    n = len(groups)
    # each line's last mark of a digit's size (row 0) and the one before it (row 1; none: as the last)
    ay0, ay1, ah = (np.zeros((2, n), np.int64) for _ in range(3))
    acy = np.zeros((2, n), np.float64)
    ax0, ax1 = np.zeros(n, np.int64), np.zeros(n, np.int64)  # the last mark's
    # the centres of each line's digit-sized marks, summed for a straight line through them: n,
    # x, y, x * x, x * y (x measured from the line's first mark); the last one's x, and the
    # line's slope once it has `SLOPE_MARKS`
    fit: list[list[float]] = []
    first_x: list[float] = []
    acx, lean = np.zeros(n, np.float64), np.zeros(n, np.float64)
    has_lean = np.zeros(n, bool)
    sloped = False  # any line has its slope yet
    for g in sorted(groups, key=lambda g: g.x0):
        k = len(lines)
        cx = (g.x0 + g.x1) / 2
        d = np.abs(g.cy - acy[:, :k])
        ov = np.minimum(g.y1, ay1[:, :k]) - np.maximum(g.y0, ay0[:, :k])
        after = g.x0 >= ax0[:k]
        near = 0.5 * np.maximum(g.h, ah[:, :k])
        level = after & ((d <= near) | (ov >= 0.6 * np.minimum(g.h, ah[:, :k])))
        if sloped:
            # level with where a line of `SLOPE_MARKS` or more runs on to (its slope carried from
            # its last mark): a line sloped past what is levelled, its digits spaced wide
            dp = np.abs(g.cy - acy[0, :k] - lean[:k] * (cx - acx[:k]))
            runs_on = (dp <= near[0]) & has_lean[:k] & after
            np.minimum(d[0], dp, out=d[0], where=runs_on)
            level[0] |= runs_on
        before = 0 if level[0].any() else 1  # the mark before the last only where no last one is level
        if level[before].any():
            # the line it continues, not one further back
            cost = np.where(level[before], d[before] + 0.3 * np.maximum(0, g.x0 - ax1[:k]), np.inf)
            best = int(np.argmin(cost))
            lines[best].append(g)
            if not (g.h >= 0.5 * med or ah[0, best] < 0.5 * med):
                continue
            ay0[1, best], ay1[1, best], ah[1, best], acy[1, best] = ay0[0, best], ay1[0, best], ah[0, best], acy[0, best]
        else:
            # an exponent joins the line of its base, which stays the mark the next is compared with
            up = np.flatnonzero((ax1[:k] <= g.x0 + 0.2 * g.w)
                                & (g.x0 - ax1[:k] <= RAISED_GAP * np.maximum(ah[0, :k], g.h)))
            home = next((int(j) for j in up if _raised(g, lines[j])), None)
            if home is not None:
                g.raised = True
                lines[home].append(g)
                continue
            best = k
            lines.append([g])
            ay0[1, best], ay1[1, best], ah[1, best], acy[1, best] = g.y0, g.y1, g.h, g.cy
            first_x.append(cx)
            fit.append([0.0] * 5)
        ax0[best], ax1[best] = g.x0, g.x1
        ay0[0, best], ay1[0, best], ah[0, best], acy[0, best] = g.y0, g.y1, g.h, g.cy
        acx[best] = cx
        x, y, f = cx - first_x[best], g.cy, fit[best]
        f[0] += 1.0
        f[1] += x
        f[2] += y
        f[3] += x * x
        f[4] += x * y
        sn, sx, sy, sxx, sxy = f
        if sn >= SLOPE_MARKS and sn * sxx > sx * sx:
            lean[best] = min(SLOPE_MOST, max(-SLOPE_MOST, (sn * sxy - sx * sy) / (sn * sxx - sx * sx)))
            has_lean[best] = sloped = True
    return lines


def _layout(ink: np.ndarray, groups: list[Group], lab: np.ndarray, up: ToOriginal,
            faint: Sequence[Box] = (), dots: Sequence[Box] = ()) -> Layout:
    """`faint`: digits broken into specks on the ink threshold (`Printed.faint`): one on a line's
    middle sends the file to review, as a faint digit's blob does (`FAINT_PART`). `dots`: specks
    left out that may be a symbol's dot (`Printed.dots`)."""
    out = Layout()
    heights = [g.h for g in groups]
    med_all = float(np.median(heights))
    # a stroke several digits tall is no digit (a sheet's edge in shade down the picture, left as a
    # mark): set aside to review, and no line is chained through it (level with every digit beside
    # it, it had joined two rows of a note into one line, read `ok` out of order)
    towers = _towers(groups)
    if towers:
        out.rejected += [up((g.x0, g.y0, g.w, g.h)) for g in towers]
        groups = [g for g in groups if not any(g is t for t in towers)]
    lines = _lines(groups)
    for li, line in enumerate(lines):
        med = float(np.median([g.h for g in line])) if len(line) >= 3 else max(med_all, max(g.h for g in line))
        centres = [g.cy for g in line if g.h >= 0.7 * med]
        mid = float(np.median(centres)) if centres else -1.0  # the middle of the line's digits
        prev: Group | None = None  # the line's last mark kept
        reach = (min(g.x0 for g in line) - 2 * med, max(g.x1 for g in line) + 2 * med)
        for fx, fy, fw, fh in faint:
            # on the line's middle, and reaching into its extent (a blob of several bold digits
            # touching, left out as background, may be wider than the line's other marks)
            if mid >= 0 and abs(fy + fh / 2 - mid) <= FAINT_MID * med and fx + fw >= reach[0] and fx <= reach[1]:
                out.rejected.append(up((fx, fy, fw, fh)))
        kept: list[Group] = []
        specks = list(dots)
        for g in line:
            box = up((g.x0, g.y0, g.w, g.h))
            if g.h < 0.45 * med and g.w < 0.45 * med and not (g.raised and g.h >= RAISED_LEAST * med):
                if min(g.h, g.w) >= FAINT_PART * med and mid >= 0 and abs(g.cy - mid) <= FAINT_MID * med:
                    out.rejected.append(box)  # what the ink threshold kept of a faint digit: to review
                if _dot_shaped((g.x0, g.y0, g.w, g.h), med):
                    specks.append((g.x0, g.y0, g.w, g.h))
                continue  # a dot, a speck, a stray bit of a stroke: not a digit, and no reason to doubt the rest
            flag = False
            if g.h < 0.45 * med and g.w >= 1.5 * g.h:
                flag = prev is not None and mid >= 0 and g.cy < mid - FLAG_HIGH * med and _fragments(prev, g, med)
                if not flag:
                    out.rejected.append(box)  # a dash, a bar, an equals sign
                    continue
                out.flags.append(len(out.marks))  # high beside the digit before it: a 5's flag drawn apart
            if g.h < LOW_SHORT * med and mid >= 0 and g.y0 > mid:
                out.rejected.append(box)  # a comma: short and all below the middle of the digits beside it
                continue
            crop, sel = _cut_out(ink, lab, g)
            if _punched(sel, g, ink.shape):
                out.rejected.append(box)  # a binder's hole: to review, whatever the rest reads
                continue
            if prev is not None and (flag or _fragments(prev, g, med)):
                both = Group(min(prev.x0, g.x0), min(prev.y0, g.y0), max(prev.x1, g.x1), max(prev.y1, g.y1),
                             prev.labels + g.labels, prev.area + g.area)
                out.joins.append((len(out.marks) - 1, _piece(*_cut_out(ink, lab, both), (both.x0, both.y0), up, tight=True)))
            if _printed_bar(sel):
                out.bars.append(len(out.marks))
            out.marks.append(_mark(li, crop, sel, (g.x0, g.y0), up, max(g.h, 0.8 * med)))
            out.marks[-1].raised = g.raised
            prev = g
            kept.append(g)
            if len(out.marks) > MAX_MARKS:
                raise NoDigitFound(f"more than {MAX_MARKS} marks: not a page of digits")
        out.stacked += [up(b) for b in _stacked_parts(kept, specks, med)]
    if not out.marks:
        raise NoDigitFound("no digit found")
    return out


#: A mark more than this many times as tall as the picture's median mark, and `TOWER_THIN` times
#: taller than wide, is a stroke down the picture (a sheet's edge), not a digit (`_layout`)
TOWER = 3.0
TOWER_THIN = 4.0


def _towers(groups: list[Group]) -> list[Group]:
    """The marks that are strokes down the picture, not digits (`TOWER`, `TOWER_THIN`): none
    where fewer than three marks are found, or where every mark is one."""
    if len(groups) < 3:
        return []
    med = float(np.median([g.h for g in groups]))
    towers = [g for g in groups if g.h > TOWER * med and g.h > TOWER_THIN * g.w]
    return towers if len(towers) < len(groups) else []


#: A dot over or under a mark (`_stacked_parts`): at least this many digit heights across, and
#: at most `DOT_GAP` of them from the mark
DOT_LEAST = 0.12
DOT_GAP = 0.6
#: ... and at least this far from it (nearer, and longer than wide: a piece of a broken stroke)
DOT_APART = 0.03
#: ... and the mark it stands over or under is at most this many digit heights (a "?"'s hook)
DOT_MARK = 0.85
#: A mark inside a neighbour's box (most of its area, `INSIDE_SHARE`) that is this many times taller
INSIDE_TALLER = 1.5
INSIDE_SHARE = 0.6


def _dot_shaped(b: Sequence[int], med: float) -> bool:
    """A speck (x, y, w, h) round and big enough to be a pen's dot beside digits `med` high (a
    broken stroke's piece is longer than wide)."""
    return max(b[2], b[3]) >= DOT_LEAST * med and 0.7 * b[3] <= b[2] <= 1.4 * b[3]


def _stacked_parts(kept: list[Group], dots: list[Box], med: float) -> list[Box]:
    """The parts of a line that stand over or in a mark, as no digits beside each other do: a
    dot right above or below a mark (`_dotted`), and a mark mostly inside the box of a neighbour
    far taller than it (a "%" sign's rings read 0 either side of its slash, a 1). They send the
    file to review."""
    out = _dotted(kept, dots, med)
    for a, b in itertools.pairwise(kept):
        small, tall = (a, b) if a.h <= b.h else (b, a)
        iw = min(a.x1, b.x1) - max(a.x0, b.x0)
        ih = min(a.y1, b.y1) - max(a.y0, b.y0)
        if tall.h >= INSIDE_TALLER * small.h and iw > 0 and ih > 0 and iw * ih >= INSIDE_SHARE * small.w * small.h:
            out.append((small.x0, small.y0, small.w, small.h))
    return out


def _dotted(kept: list[Group], dots: Sequence[Box], med: float) -> list[Box]:
    """The dots (specks left out) right above or below a mark: a "?" read 7 and a "!" read 1."""
    # among digits, the band they fill: a symbol's dot is inside it, under or over a mark shorter
    # than the digits (a speck beyond a whole digit is a stray touch of the pen, a line's remnant).
    # A mark alone has no band to measure it by: its dot must be the picture's only one (dust
    # on a scan comes as specks all round)
    lone = len(kept) < 2
    if not kept or (lone and len(dots) > 1):
        return []
    top = float(np.median([m.y0 for m in kept]))
    bottom = float(np.median([m.y1 for m in kept]))
    out: list[Box] = []
    for x, y, w, h in dots:
        cx, cy = x + w / 2, y + h / 2
        if not (lone or top <= cy <= bottom):
            continue
        for m in kept:
            gap = y - m.y1 if y >= m.y1 else m.y0 - (y + h)
            if ((lone or m.h <= DOT_MARK * med) and m.x0 + 0.15 * m.w <= cx <= m.x1 - 0.15 * m.w
                    and DOT_APART * med <= gap <= DOT_GAP * med):
                out.append((x, y, w, h))
                break
    return out


#: A printed upright line (`_printed_bar`): its rows' middles off a straight line by under this
#: many pixels (root mean square), their widths spread under `BAR_EVEN`, no more aslant than
#: `BAR_UPRIGHT` (pixels across a row down), and at least `BAR_ROWS` rows long
BAR_STRAIGHT = 0.1
BAR_EVEN = 0.1
BAR_UPRIGHT = 0.01
BAR_ROWS = 12


def _printed_bar(sel: np.ndarray) -> bool:
    """A mark drawn as a printer draws a line, not as a pen does: upright, thin for its length,
    its middle on a straight line and its width the same all down (its ends left out: a pen's are
    round). A printed separator between a date's fields read as a sure 1; pen strokes measured
    0.15-0.25 px off straight and 0.4-0.5 px uneven at the least (the tenth of them)."""
    h, w = sel.shape
    if h < max(BAR_ROWS, 2.5 * w):
        return False
    rows = np.flatnonzero(sel.any(axis=1))
    cut = max(1, len(rows) // 8)
    rows = rows[cut:-cut]
    if len(rows) < BAR_ROWS:
        return False
    cols = np.arange(w, dtype=np.float64)
    inked = sel[rows].astype(np.float64)
    widths = inked.sum(axis=1)
    middles = (inked @ cols) / widths
    lean, at = np.polyfit(rows, middles, 1)
    off = float(np.sqrt(np.mean((middles - (lean * rows + at)) ** 2)))
    return off < BAR_STRAIGHT and float(widths.std()) < BAR_EVEN and abs(float(lean)) < BAR_UPRIGHT


#: A hole punched for a binder (6 mm across, its centre 12 mm in from the sheet's edge) is a
#: digit's size, and scanned it is a ring (the lid seen through it, its rim's thin shadow round
#: it; the ink threshold may break it into arcs) or a solid disc (a dark lid): each read as a sure
#: 0 (three 0s at 1.0 were added to a page). It is told from a written 0 by all of: its centre
#: within this share of the picture's side of the edge ...
HOLE_EDGE = 0.12
#: ... its outline on a circle (fitted): off it by at most this share of the radius (root mean
#: square; a written 0 is an oval, and wavers), the circle as big as a whole ring's or an arc's ...
HOLE_ROUND = 0.06
HOLE_RADIUS = (0.45, 1.05)  # of the mark's longer side
#: ... and a ring at most this share of the circle's width thick (a pen's 0: 8-15%), or a disc
#: filling this share of its circle.
HOLE_RING = 0.06
HOLE_SOLID = 0.9
#: A hole is a small part of the sheet it is punched in (6 mm of a sheet 100 mm across or more):
#: its circle is at most this share of the picture's shorter side. In a picture of a number, the
#: first digit stands as near the edge as a hole, and a 1 bowed a little lies on a circle.
HOLE_SMALL = 0.08


def _punched(sel: np.ndarray, g: Group, shape: tuple[int, ...]) -> bool:
    """A mark that is a binder's punched hole, or an arc of one, by its shape, size and place."""
    ph, pw = shape[:2]
    cx, cy = (g.x0 + g.x1) / 2, (g.y0 + g.y1) / 2
    if not (min(cx, pw - cx) <= HOLE_EDGE * pw or min(cy, ph - cy) <= HOLE_EDGE * ph) or max(g.w, g.h) < 8:
        return False
    contours, _ = cv2.findContours(sel.view(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len).reshape(-1, 2).astype(np.float64)  # a ring's outer edge, an arc's all round
    x, y = outline.T
    # the circle a x + b y + c = -(x^2 + y^2) fits best (Kasa's fit)
    (a, b, c), *_ = np.linalg.lstsq(np.column_stack([x, y, np.ones_like(x)]), -(x * x + y * y), rcond=None)
    ox, oy = -a / 2, -b / 2
    r2 = ox * ox + oy * oy - c
    if r2 <= 0:
        return False
    radius = float(np.sqrt(r2))
    if 2 * radius > HOLE_SMALL * min(ph, pw):
        return False
    if not HOLE_RADIUS[0] * max(g.w, g.h) <= radius <= HOLE_RADIUS[1] * max(g.w, g.h):
        return False
    off = np.hypot(x - ox, y - oy) - radius
    if float(np.sqrt(np.mean(off * off))) > HOLE_ROUND * radius:
        return False
    area = float(np.count_nonzero(sel))
    if area >= HOLE_SOLID * np.pi * r2:
        return True
    edges = sum(len(contour) for contour in contours)  # all round a stroke: twice its length
    return 2 * area / edges <= HOLE_RING * 2 * radius


def _cut_out(ink: np.ndarray, lab: np.ndarray, g: Group) -> tuple[np.ndarray, np.ndarray]:
    """A mark's ink (its strokes' anti-aliased edges kept) and its pixels, in its box."""
    box = lab[g.y0:g.y1, g.x0:g.x1]
    sel = box == g.labels[0] if len(g.labels) == 1 else np.isin(box, g.labels)  # most marks are one stroke
    return ink[g.y0:g.y1, g.x0:g.x1] * cv2.dilate(sel.view(np.uint8), np.ones((3, 3), np.uint8)), sel


def _fragments(a: Group, b: Group, med: float) -> bool:
    """Two neighbouring marks that may be one digit's strokes apart (a 6 whose loop does not meet
    its stem, a 4 whose bar stops short): close, one of them short, together a digit's size."""
    w = max(a.x1, b.x1) - min(a.x0, b.x0)
    h = max(a.y1, b.y1) - min(a.y0, b.y0)
    return (b.x0 - a.x1 <= JOIN_GAP * med and min(a.h, b.h) < JOIN_SHORT * med
            and w <= JOIN_WIDTH * med and h <= 1.3 * med)


def _piece(crop: np.ndarray, sel: np.ndarray, origin: tuple[int, int], up: ToOriginal, tight: bool = False) -> Piece:
    """`tight`: `sel` touches all four sides of its box (a whole mark cut out by its box)."""
    if tight:
        y0, x0, (y1, x1) = 0, 0, sel.shape
    else:
        ys, xs = np.nonzero(sel)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    sub = crop[y0:y1, x0:x1]
    stroke = stroke_width(sel[y0:y1, x0:x1])
    return Piece(up((origin[0] + x0, origin[1] + y0, x1 - x0, y1 - y0)), frame28(sub, stroke), stroke)


def _mark(line: int, crop: np.ndarray, sel: np.ndarray, origin: tuple[int, int], up: ToOriginal, height: float) -> Mark:
    """A mark; when it is wide enough to be touching digits, with what its cut pieces are made of."""
    whole = _piece(crop, sel, origin, up, tight=True)
    if sel.shape[1] < CUT_OFFER * height:
        return Mark(line, [whole])
    return Mark(line, [whole], cuts=Cuts(crop, sel, origin, up, height), wide=sel.shape[1] >= CUT_WIDTH * height)


def _cut_pieces(c: Cuts, bent: bool = True) -> tuple[int, list[Piece], list[tuple[int, int]]]:
    """A wide mark's pieces between candidate cuts: (the last cut's number, the pieces, their spans)."""
    ends, parts = cuts.parts(c.sel, c.height, bent)
    pieces = [_piece(c.crop[:, p.a:p.b] * p.inside, p.sel, (c.origin[0] + p.a, c.origin[1]), c.up) for p in parts]
    return ends, pieces, [p.span for p in parts]
