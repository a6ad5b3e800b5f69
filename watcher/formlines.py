"""A form's printed lines, found and taken out of the ink: they are not digits.

Ruled lines and a notebook's margin, underlines, box sides, squared paper's grid, comb ticks and
the boxes of a form's cells. Pure functions on the binary ink mask of `segment`'s working scale
(where a digit is about 40 pixels high): each returns the mask with its lines taken out, and
`segment` groups what is left into marks. Their lines are long, thin and straight, which no
digit's stroke is; the strokes that cross them or run along them are kept or put back.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

#: A ruled line at most this thick (working pixels, where a digit is about 40 high) may have
#: strokes across it or along it that its taking out cut (`crossings_back`).
RULE_THICK = 3


#: The lines taken out (widened), and those of them as thin as a printed rule, across and upright:
#: a stroke may cross them or run along them
Lines = tuple[np.ndarray, np.ndarray, np.ndarray]
#: A box in working pixels: x, y, w, h
Cell = tuple[int, int, int, int]


STAIR = np.ones((1, 3), np.uint8)
STAIR_LENGTH = 1.4  # digit heights: a box's side is longer, a digit's stem on an underline is not
SLOPE_LENGTH = 2.0  # digit heights: a thin rule aslant across, found with a pixel of slack (no digit's stroke is as long)
#: Pixels: a one-pixel rule less than a degree aslant runs level this far at least, so a
#: shorter one is found without slack (across; upright, half as far: a box's side is short). A
#: small picture's digit strokes are not taken for such rules
SLOPE_MIN = 60
SLOPE_BAND = 7  # pixels across: the band a thin rule's staircase makes with that slack, at most
#: The share of such a rule's length over the ink threshold, at least: across, and upright (a
#: box's side, printed light, is seen in places; a grid printed under the threshold only where
#: digits cross it, and it is not taken for a box's side: it must meet a rule taken out)
SLOPE_SEEN = (0.4, 0.25)
#: A comb: at least this many free ticks on one line, at steps equal within this share, its line
#: followed this many steps past the first and last of them for ticks hidden by a digit
COMB_TICKS = 3
COMB_STEP = 0.12
COMB_REACH = 2
#: A run across that lies along a longer rule, within this many digit heights of it (centre to
#: centre) and of its ends, is a digit's stroke on that rule (`_riding`)
RIDE_NEAR = 0.5
RIDE_SLACK = 0.3
#: A line across or upright is thin when it is this many times as long as it is thick (or at most
#: 0.15 digit heights or 3 pixels thick): a bold underline two or three digits long, or one
#: thickened by turning the picture level, is as thick as a digit's pen, but no digit's stroke is
#: that long
LINE_ASPECT = 15
#: An upright line taken out for running down most of the picture is this many digits long at
#: least where the digits' height is known (`_runs_down`)
TALL_LINE = 1.6


def lines_out(mask: np.ndarray, digit_h: float, before: Lines | None = None,
              faint: np.ndarray | None = None,
              slope: np.ndarray | None = None) -> tuple[np.ndarray, Lines]:
    """Take out long thin straight runs (ruled lines, underlines, box sides, grids): (what is
    left, what was taken). Horizontal: longer than 1.6 digits (2 when a pixel of slack across is
    needed: a thin rule a degree aslant, `_sloped`) and thin for its length. Upright: longer than
    1.25 digits (1.4 with the slack), thin, and either most of the picture's height (`_runs_down`;
    not a sloped one) or meeting a horizontal line taken out (a box side, a grid): a tall thin 1
    is neither; or as thick as the pen (up to 0.3 digits) and running from a line taken out to
    another (a box drawn tight round a number: its sides were read as 1s), or running down most of
    the picture once the lines across it are counted in (a notebook's margin, cut into pieces by
    its rules: read as 1s). On the second pass, a row of cells' sides shorter than that
    (`_sides_between`). `before`: what an earlier pass took out, to add to;
    with the lines, those thin enough for a stroke to cross (`crossings_back`). `faint`: the
    ink on a lower threshold, to look for the runs in (squared paper printed light). `slope`: the ink
    on a lower threshold, where a thin rule a degree aslant is looked for (`_sloped`)."""
    rows = mask.shape[0]
    filled: float | None = None  # `_filled_height`, asked once at most
    lines = np.zeros_like(mask) if before is None else before[0].copy()
    fine = [np.zeros_like(mask), np.zeros_like(mask)] if before is None else [before[1].copy(), before[2].copy()]
    for horizontal in (True, False):
        length = max(15, int((1.6 if horizontal else 1.25) * digit_h))
        src = mask if faint is None else faint
        runs = straight = _runs(src, length, horizontal)
        if not horizontal and before is None and is_grid((lines, fine[0], fine[1]), upright=False):
            # thin lines across found (a ruled or squared sheet): upright ones may lean
            runs = straight = cv2.bitwise_or(straight, _leaning_runs(src, max(length, int(LEAN_LENGTH * digit_h))))
        whole, bands = runs, None  # each run's extent; a sloped rule's band, faded steps included
        if slope is not None and horizontal == (before is None):
            # across on the first pass, upright on the second (a box's side, once its rules are out)
            ink, bands = _sloped(src, slope, straight, digit_h, horizontal)
            if bands.any():
                runs = cv2.bitwise_or(straight, ink)
                whole = cv2.bitwise_or(runs, bands)
            else:
                bands = None
        if not horizontal and before is not None:
            # a margin's line down the page, cut into pieces by the rules taken out across it
            through = _runs(cv2.bitwise_or(src if slope is None else slope, before[0]), length, horizontal)
            n, lab, st = components(through)
            # most of the picture's height, as thin as a rule, and off the picture's sides (a dark
            # corner's or a shadow's edge runs down them on the low threshold)
            x0, x1 = st[1:, 0], st[1:, 0] + st[1:, 2]
            margins = np.flatnonzero(_runs_down(st[1:, 3], rows, digit_h) & (st[1:, 4] <= st[1:, 3] * max(3.0, 0.15 * digit_h))
                                     & (x0 > 3) & (x1 < src.shape[1] - 3)) + 1
            if 0 < len(margins) <= 2:  # one or two; more are squared paper's grid, found apart
                margin = cv2.bitwise_and(np.isin(lab, margins).view(np.uint8), src)
                runs, whole, straight = (cv2.bitwise_or(a, margin) for a in (runs, whole, straight))
        if not runs.any():
            continue
        # a sloped rule loses its last few pixels to the opening: its end is looked for a little further
        near = None if horizontal else cv2.dilate(lines, np.ones((7, max(7, int(0.5 * digit_h) | 1)), np.uint8))
        # asked only of upright lines: lines across taken out that cover half the picture's width
        # (a notebook's rules; a digit's stroke on the edge of a number cropped tight to its ink
        # passes the opening through the picture's border, and is no rule), one of them off the
        # picture's top and bottom edges (`_rule_inside`: a number cropped tight to its underline
        # has one line across, on its edge, and its 1s and 7s reach most of its height)
        ruled = (not horizontal and np.count_nonzero(lines.max(axis=0)) >= 0.5 * lines.shape[1]
                 and _rule_inside(lines))
        n, lab, st = components(whole)
        riding: set[int] = set()
        if horizontal:
            rules = st[1:]
            if before is not None:
                rules = np.concatenate([rules, components(_runs(before[0], length, horizontal))[2][1:]])
            riding = _riding(st[1:], rules, digit_h)
        for i in range(1, n):
            if i in riding:
                continue
            x, y, cw, ch, area = (int(v) for v in st[i])
            if horizontal and cw < BAR_LONG * digit_h and _bar_of_a_digit(mask, x, y, cw, ch, digit_h):
                continue
            here = (lab[y:y + ch, x:x + cw] == i).view(np.uint8)
            sloped = False
            if bands is not None:
                sloped = bool((here & bands[y:y + ch, x:x + cw]).any())
                here &= runs[y:y + ch, x:x + cw]
                area = int(np.count_nonzero(here))
            long_side, thick = (cw, area / max(1, cw)) if horizontal else (ch, area / max(1, ch))
            thin = thick <= max(3.0, long_side / LINE_ASPECT, 0.15 * digit_h)
            if near is None:
                if not thin:
                    continue
            else:
                top, bottom = bool(near[y, x:x + cw].any()), bool(near[y + ch - 1, x:x + cw].any())
                # most of the picture's height (and longer than a digit, unless rules run across
                # it: a notebook's margin), on the straight runs alone (not a faint grid's band)
                # an upright meeting one line only is measured off it: a 1 standing on a bold
                # underline makes a run as long as a box's side with the line's rows counted in
                own = ch if top == bottom else _own_rows(here, lines[y:y + ch, x:x + cw])
                tall = bool(_runs_down(np.array([own]), rows, 0.0 if ruled else digit_h)[0])
                if tall and not (ruled or (top and bottom)) and digit_h >= 0.9 * rows:
                    # the digits' height not known (it is the picture's): where digits fill the
                    # picture (a number cropped tight, maybe to its underline), a run no taller
                    # than they are is a 1
                    if filled is None:
                        filled = _filled_height(mask)
                    tall = own > FILLED_LINE * filled
                if tall and sloped:
                    ys = np.flatnonzero((here & straight[y:y + ch, x:x + cw]).any(axis=1))
                    tall = len(ys) > 0 and ys[-1] - ys[0] >= 0.6 * rows
                if not ((thin and (tall or top or bottom)) or (top and bottom and thick <= 0.3 * digit_h)):
                    continue
                if top != bottom and not tall and own < length:
                    continue
                if bottom and not (top or tall) and _stem_of_a_digit(mask, x, y, cw, thick, digit_h):
                    continue
            lines[y:y + ch, x:x + cw] |= here
            if thick <= RULE_THICK and _crossed_share(mask, x, y, cw, ch, horizontal) <= 0.5:
                fine[0 if horizontal else 1][y:y + ch, x:x + cw] |= here
    if before is not None and lines.any():
        lines |= _sides_between(mask, lines, digit_h)
    left, lines = _taken_out(mask, lines)
    return left, (lines, fine[0], fine[1])


def _rule_inside(lines: np.ndarray) -> bool:
    """Whether some line across (rows a quarter of the width long) lies off the picture's top and
    bottom edges."""
    rows = lines.shape[0]
    wide = np.flatnonzero(np.count_nonzero(lines, axis=1) >= 0.25 * lines.shape[1])
    return any(a > 0 and b < rows - 1 for a, b in _col_runs(wide))


def _own_rows(here: np.ndarray, across: np.ndarray) -> int:
    """The rows of an upright run (`here`, 0/1) holding some of it outside the lines across
    already taken out (`across`: the same window of them, 0/1)."""
    return int(np.count_nonzero((here & (1 - across)).any(axis=1)))


#: A run across shorter than this many digit heights may be a digit's own bar (`_bar_of_a_digit`)
BAR_LONG = 2.2


def _bar_of_a_digit(mask: np.ndarray, x: int, y: int, cw: int, ch: int, digit_h: float) -> bool:
    """A short run across with no ink above it and a stroke running down from one end only: a 7's
    bar drawn long (read as a 1 once taken out: "7076" read "1076"), not a printed line; or from
    both ends, neither of them a straight side (`_straight_down`): a 5's flag run into the next
    digit's top ("52421709" read "5421709"). An underline has digits above it, a box's top its
    sides down from both ends. With ink both above and below it, the run crosses strokes: a 4's
    bar drawn long into the next digit ("42482" read "72482"). Not at the picture's edge, where
    a shadow's or a vignette's specks make such shapes too."""
    rows, cols = mask.shape
    pen = max(3, int(0.15 * digit_h))  # the stroke's own edge, above and below its run
    reach = max(pen + 3, int(0.5 * digit_h))
    if y < reach or x < pen or x + cw > cols - pen:
        return False
    above = mask[y - reach:y - pen, x:x + cw]
    below = mask[min(rows, y + ch + pen):min(rows, y + ch + reach)]
    if below.shape[0] == 0:
        return False
    if np.count_nonzero(above) > 0.05 * above.size:
        under = below[:, x:x + cw]  # ink above and below: it crosses strokes, as a 4's bar does
        return bool(np.count_nonzero(under) > 0.05 * under.size)
    end = max(3, int(0.2 * cw))
    left = np.count_nonzero(below[:, x:x + end]) > 0.1 * end * below.shape[0]
    right = np.count_nonzero(below[:, x + cw - end:x + cw]) > 0.1 * end * below.shape[0]
    if left != right:
        return True
    # strokes down from both ends: a box's top has a straight side at one end at least (the other
    # may end on a digit touching it), a 5's flag run into the next digit's top the pen's curves
    down = mask[y + ch:min(rows, y + ch + int(SIDE_DOWN * digit_h) + pen)]
    return left and right and not (_straight_down(down[:, x:x + end], pen, digit_h)
                                   or _straight_down(down[:, x + cw - end:x + cw], pen, digit_h))


#: A box's side runs down from its top at least this many digit heights in one column
SIDE_DOWN = 0.75


def _straight_down(band: np.ndarray, gap: int, digit_h: float) -> bool:
    """Some column of `band` has ink from within `gap` rows of its top down `SIDE_DOWN` digit
    heights without a break: a printed side (a pen's stroke curves off a column)."""
    need = int(SIDE_DOWN * digit_h)
    if band.shape[0] < gap + need or band.shape[1] == 0:
        return False
    ink = band[:gap + need] > 0
    first = np.where(ink.any(0), ink.argmax(0), ink.shape[0])
    return any(f <= gap and ink[f:f + need, c].all() for c, f in enumerate(first))


def _taken_out(mask: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(`mask` without `found`, `found` widened by a pixel across: a line's anti-aliased edge is
    not a stroke); `mask` itself when nothing was found (`segment` tells an untouched mask so)."""
    if not found.any():
        return mask, found
    found = cv2.dilate(found, np.ones((3, 3), np.uint8))
    return mask & (1 - found), found


#: A box's side shorter than the upright lines looked for (a row of cells drawn tight round its
#: digits, its sides as tall as they are) is taken out when it runs from a line taken out to
#: another and is at least this many digits long
SIDE_SHORT = 0.5
SIDES_LEAST = 3
#: Pixels: a side may end this far beside its rule's pixels (a thin box's corner lost to the ink
#: threshold)
SIDE_REACH = 2
#: How far (digit heights) the ink at an upright run's top may reach sideways for it to be a digit's stem
STEM_REACH = 0.8


def _stem_of_a_digit(mask: np.ndarray, x: int, y: int, cw: int, thick: float, digit_h: float) -> bool:
    """An upright run standing on a line taken out whose top is joined to ink reaching sideways
    past it, less than `STEM_REACH` digits (a 9's loop, a 4's bar): a digit's straight stem run
    down into a comb's tick, not a box's side (whose top meets the box's top line: taken out too,
    or reaching a digit or more sideways, in a row of boxes)."""
    reach = int(thick) + max(3, int(0.25 * digit_h))
    # the ink of the top rows joined to the run's columns, across
    mine = [(a, b) for a, b in _col_runs(np.flatnonzero(mask[y:y + 3].any(axis=0))) if a <= x + cw and b >= x]
    if not mine:
        return False
    side = max(x - mine[0][0], mine[-1][1] - (x + cw - 1))
    return reach <= side < STEM_REACH * digit_h  # further: a box's top line


def _sides_between(mask: np.ndarray, lines: np.ndarray, digit_h: float) -> np.ndarray:
    """The short upright runs of `mask`, as thin as a printed line, that end on the lines taken
    out both above and below: the sides of a row of cells drawn tight round its digits, whose
    height the sides themselves made look like the digits' (they were read as 1s, surely)."""
    out = np.zeros_like(mask)
    _across_lines, bands = _across(lines, digit_h)
    if len(bands) != 2:
        return out  # a row of cells has a line above and one below (ruled or squared paper has more)
    runs = _runs(mask & (1 - lines), max(15, int(SIDE_SHORT * digit_h)), False)
    if not runs.any():
        return out
    # the rules' pixels: a thin rule a degree aslant is taken out in pieces, too short to be
    # lines across by themselves where they meet a side
    rules = np.zeros_like(lines)
    for a, b in bands:
        rules[max(0, a - 1):b + 1] = lines[max(0, a - 1):b + 1]
    near = cv2.dilate(rules, np.ones((3, 2 * SIDE_REACH + 1), np.uint8))
    n, lab, st = components(runs)
    sides = []
    for i in range(1, n):
        x, y, cw, ch, area = (int(v) for v in st[i])
        thick = area / max(1, ch)
        ends = slice(max(0, y - 2), y + 1), slice(y + ch - 1, min(mask.shape[0], y + ch + 2))
        # two cells' sides drawn touching run as one, twice as thick
        if thick <= 2.5 * max(3.0, 0.15 * digit_h) and all(near[r, x:x + cw].any() for r in ends):
            sides.append(i)
    sides = _evenly_spaced(sides, st)
    tall = np.array([st[i, 3] for i in sides], np.float64)
    # a row of cells has a side more than it has cells, all as tall as each other (a 1 touching
    # a notebook's rules above and below, or a letter's stroke between its bars, stands alone)
    if len(sides) < SIDES_LEAST or np.abs(tall - np.median(tall)).max() > 0.2 * np.median(tall):
        return out
    for i in sides:
        x, y, cw, ch = (int(v) for v in st[i, :4])
        out[y:y + ch, x:x + cw] |= (lab[y:y + ch, x:x + cw] == i).view(np.uint8)
    return out


#: A side between two others, nearer than this share of the row's spacing to each (the median of
#: the gaps at least 0.75 of the widest), where the two gaps add up to one spacing within
#: SIDE_SUM of it, is a digit's stroke in a cell
SIDE_GAP = 0.8
SIDE_SUM = 0.25


def _evenly_spaced(sides: list[int], st: np.ndarray) -> list[int]:
    """`sides` (labels into `st`) less those standing inside a cell: a row's sides are about one
    cell apart, and a 4's long stem near its cell's top and bottom, as thin and as tall as a side,
    splits the cell in two (it was taken out with the sides: the 4 was lost)."""
    if len(sides) <= SIDES_LEAST:
        return sides
    order = sorted(sides, key=lambda i: float(st[i, 0] + st[i, 2] / 2))
    xs = np.array([st[i, 0] + st[i, 2] / 2 for i in order], np.float64)
    gaps = np.diff(xs)
    m = float(np.median(gaps[gaps >= 0.75 * gaps.max()]))  # a cell's width: a stem halves one gap into two
    inside = {order[k] for k in range(1, len(order) - 1)
              if gaps[k - 1] < SIDE_GAP * m and gaps[k] < SIDE_GAP * m
              and abs(gaps[k - 1] + gaps[k] - m) <= SIDE_SUM * m}
    return [i for i in sides if i not in inside]


def _across(lines: np.ndarray, digit_h: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The lines across among `lines` (runs a digit long at least, not a side taken out), and the
    bands of rows they lie in: (first row, the row after the last), top to bottom."""
    across = _runs(lines, max(15, int(digit_h)), True)
    level = np.r_[False, across.any(1), False]
    edges = np.flatnonzero(level[1:] != level[:-1])
    return across, [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def row_cells(lines: np.ndarray, digit_h: float) -> list[Cell]:
    """The cells of a row of boxes whose rules and sides `lines_out` took out (`lines`, what it
    took): between a line above and one below (no more lines across: not ruled paper), the
    upright lines from one to the other are their sides, and the row's ends close the first and
    the last. No cells unless three sides at least are found (a box round a number has two)."""
    across, bands = _across(lines, digit_h)
    if len(bands) != 2 or bands[0][0] == 0:
        return []
    top, bottom = bands[0][1], bands[1][0]  # the first row under the line above, the line below's first
    high = bottom - top
    if high < 0.5 * digit_h:
        return []
    mids = _middles(np.flatnonzero(_runs(lines[top:bottom], max(3, int(0.8 * high)), False).any(0)))
    ends = np.flatnonzero(across[:top].any(0) & across[bottom:].any(0))
    walls: list[int] = []
    for c in sorted({*mids, int(ends[0]), int(ends[-1])} if len(ends) else mids):
        if not walls or c - walls[-1] >= CELL_NARROWEST * high:  # two sides printed together are one
            walls.append(c)
    if len(mids) < SIDES_LEAST or len(walls) < 3:
        return []
    return [(a, top, b - a, high) for a, b in pairwise(walls)]


#: In a picture the digits fill (`_filled_height`), an upright run taller than this many of them
#: is a line; no taller, it is a 1 standing among them
FILLED_LINE = 1.15


def filled_height(st: np.ndarray, rows: int) -> float:
    """The height of the digits where they fill a picture of `rows` rows from top to bottom, as in
    a number cropped tight to its ink: the median height of the marks (stats rows) at least a third
    as wide as tall and 0.8 of the picture high (a shadow's edge or a margin's line is thinner than
    that); 0 when there are none."""
    mine = (st[:, 3] >= 0.8 * rows) & (st[:, 2] >= st[:, 3] / 3)
    return float(np.median(st[mine, 3])) if mine.any() else 0.0


def _filled_height(mask: np.ndarray) -> float:
    return filled_height(components(mask)[2][1:], mask.shape[0])


def _runs_down(heights: np.ndarray, rows: int, digit_h: float) -> np.ndarray:
    """Which upright runs of these heights run down most of a picture of `rows` rows, as a
    margin's line or a shadow's edge does: over 60% of it and, where the digits are clearly
    shorter than the picture, `TALL_LINE` digits long. In a number cropped tight a 1's stem, alone
    or standing on an underline, runs down most of the picture too. (Before the lines are out
    their grid or a shadow's edge may pass for the digits' height: then it is not known.)"""
    return (heights >= 0.6 * rows) & ((heights >= TALL_LINE * digit_h) | (digit_h >= 0.9 * rows))


def _riding(st: np.ndarray, rules: np.ndarray, digit_h: float) -> set[int]:
    """The runs across (stats rows; their labels are 1 more) that lie along a longer rule (stats
    rows), within half a digit of it and within its ends: a digit's bottom stroke on an underline
    or a comb's line (two 2s' bottoms in a row run as long as a short underline). A rule has no
    shorter twin that close; a double rule's two lines are as long as each other."""
    if len(st) == 0 or len(rules) == 0:
        return set()
    x0, w, cy = st[:, 0].astype(np.float64), st[:, 2].astype(np.float64), st[:, 1] + st[:, 3] / 2
    r0, rw, rcy = rules[:, 0].astype(np.float64), rules[:, 2].astype(np.float64), rules[:, 1] + rules[:, 3] / 2
    slack = RIDE_SLACK * digit_h
    under = ((np.abs(cy[:, None] - rcy[None, :]) <= RIDE_NEAR * digit_h) & (w[:, None] <= 0.8 * rw[None, :])
             & (x0[:, None] >= r0[None, :] - slack) & ((x0 + w)[:, None] <= (r0 + rw)[None, :] + slack))
    return {int(i) + 1 for i in np.flatnonzero(under.any(axis=1))}


def _sloped(src: np.ndarray, slope: np.ndarray, straight: np.ndarray, digit_h: float,
            horizontal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Thin rules a degree aslant: (their ink in `src`, the bands they run in). Such a rule is a
    staircase of short runs whose steps fade under the threshold where one row hands over to the
    next; on `slope` (the ink on a lower threshold) with a pixel of slack across, it runs whole.
    Upright when longer than a digit's stem reaching a line can be (a box's side); across when
    longer than two digits, and there only where the rule is all there is across it (a digit's
    bottom stroke lying on an underline stays whole). A band thicker than a staircase's is a smear
    of strokes, and one mostly under the threshold a faint grid that only the digits crossing it
    show: neither is taken. `straight`: the runs found without slack; when the bands hold no ink
    that those (widened) do not take, there is nothing to look at, and the bands are not labelled."""
    across = STAIR.T if horizontal else STAIR
    long = max(SLOPE_MIN, int(SLOPE_LENGTH * digit_h)) if horizontal else max(SLOPE_MIN // 2, int(STAIR_LENGTH * digit_h))
    band = cv2.dilate(_runs(cv2.dilate(slope, across), long, horizontal), across)
    ink = band & src
    ink_out, band_out = np.zeros_like(src), np.zeros_like(src)
    if not (ink & (1 - cv2.dilate(straight, np.ones((3, 3), np.uint8)))).any():
        return ink_out, band_out  # no ink there that the straight runs, widened, do not take
    if horizontal:
        ink &= 1 - cv2.morphologyEx(src, cv2.MORPH_OPEN, STAIR.T)
    n, lab, st = components(band)
    for i in range(1, n):
        x, y, cw, ch, area = (int(v) for v in st[i])
        length = cw if horizontal else ch
        if area > SLOPE_BAND * length:
            continue
        comp = (lab[y:y + ch, x:x + cw] == i).view(np.uint8)
        on = comp & ink[y:y + ch, x:x + cw]
        if np.count_nonzero(on.any(axis=0 if horizontal else 1)) < SLOPE_SEEN[0 if horizontal else 1] * length:
            continue
        ink_out[y:y + ch, x:x + cw] |= on
        band_out[y:y + ch, x:x + cw] |= comp
    return ink_out, band_out


def crossings_back(ink: np.ndarray, mask: np.ndarray, left: np.ndarray, taken: Lines) -> np.ndarray:
    """`left` (the ink `mask` with its lines taken out) with the strokes on squared paper's grid
    or a notebook's rules put back: its lines cross the digits, which fell apart in pieces or lost
    a side to them. A stroke crosses a line where there is ink on both sides of it, across; it
    lies along a line printed lighter than the pen where the ink is darker than the line's (along
    any line taken out: a stroke lying on a rule made one run with it, too thick to be a thin
    line). Crossings only for thin lines (not a band of shadow taken for one, whose ragged
    remains would join up), and only asked where three or more of them run across, or three or
    more upright ones `RULE_TALL` digits tall (not an underline, a comb or a box, where a digit
    dipping through the line would be joined to its neighbour or to a tick: measured, that lost
    more rendered numbers than it won)."""
    lines, across, upright = taken
    fine = cv2.bitwise_or(across, upright)
    gap = 2 * RULE_THICK + 5  # the line and what was taken on each side of it
    back = np.zeros_like(left)
    # bridged across each kind of line only (along a rule, two digits' strokes on it would join)
    for bridge, kind in (((gap, 1), across), ((1, gap), upright)):
        if kind.any():
            near = cv2.dilate(kind, np.ones((5, 5), np.uint8))  # as far as the lines were widened
            back |= cv2.bitwise_and(cv2.morphologyEx(left, cv2.MORPH_CLOSE, np.ones(bridge, np.uint8)), near)
    level = float(np.median(ink[fine.view(bool)]))  # the printed lines' own ink
    # anywhere a line was taken: where a stroke runs along a rule the two were taken as one run,
    # too thick to count among the thin lines ("859862" read "85987")
    near = cv2.dilate(cv2.bitwise_or(fine, lines), np.ones((5, 5), np.uint8))
    if level < 0.6:  # a grid printed lighter than the pen: the darker ink on it is writing
        # darker than the lines' cores too: the median above counts their blurred edges, and a
        # rule whose core is over the midpoint to the pen was put back whole, joining each row's
        # digits into one mark (a ruled page decoded at half its size: 901 of 1,250 found)
        back |= (ink > max(0.5 * (1.0 + level), _core(ink, across, upright) + CORE_ABOVE)).view(np.uint8)
    return cv2.bitwise_or(left, back & near & mask)


#: Ink on a line is writing only when it is this much darker than the line's core (`_core`).
CORE_ABOVE = 0.05


def _core(ink: np.ndarray, across: np.ndarray, upright: np.ndarray) -> float:
    """The thin lines' own ink at their middles: each line pixel's darkest neighbour across the
    line, the median over the lines (the digits' strokes crossing them are a minority)."""
    cores = [cv2.dilate(ink, np.ones(k, np.uint8))[m.view(bool)]
             for k, m in (((2 * RULE_THICK - 1, 1), across), ((1, 2 * RULE_THICK - 1), upright)) if m.any()]
    return float(np.median(np.concatenate(cores)))


#: Upright thin lines this many digits tall, three or more, are a sheet's printed rules (a
#: ledger's columns, or squared paper whose lines across were too faint to be found): a comb's
#: ticks and a row of boxes' sides are about a digit tall.
RULE_TALL = 4.0


def upright_rules(taken: Lines, digit_h: float) -> bool:
    """Three or more thin upright lines, each `RULE_TALL` digits tall, were taken out: the strokes
    they cross are to be put back (`crossings_back`), as on squared paper."""
    up = taken[2]
    if not up.any():
        return False
    _n, _lab, st, _c = cv2.connectedComponentsWithStats(up, connectivity=8)
    return int(np.count_nonzero(st[1:, 3] >= RULE_TALL * digit_h)) >= 3


#: A line counted by `is_grid` is at least this long (pixels): single pixels of a shadow's edge left
#: standing upright on a ruled page counted as a grid's three upright lines. Not longer: the short
#: pieces a form's box leaves count (15 sent three right readings of 3,000 numbers to review)
GRID_LINE_LEAST = 4


def is_grid(taken: Lines, upright: bool = True) -> bool:
    """The thin lines taken out are squared paper's: three or more each way (`upright` False:
    across, where its upright lines may not have been found yet), each `GRID_LINE_LEAST` long."""
    kinds = taken[1:] if upright else taken[1:2]
    # every kind present before any is counted: a ruled page has no upright lines, and a count
    # labels the whole picture
    if not all(lines.any() for lines in kinds):
        return False
    for k, lines in enumerate(kinds):
        st = cv2.connectedComponentsWithStats(lines, connectivity=8)[2]
        if np.count_nonzero(st[1:, 3 if k else 2] >= GRID_LINE_LEAST) < 3:
            return False
    return True


def _crossed_share(mask: np.ndarray, x: int, y: int, cw: int, ch: int, horizontal: bool) -> float:
    """The share of a thin run with ink on both sides of it, just beyond: a few strokes cross a
    ruled line; a run inside a solid band (a shadow) has ink all along both sides."""
    rows, cols = mask.shape
    if horizontal:
        if y < 2 or y + ch + 1 >= rows:
            return 0.0
        return float(np.count_nonzero(mask[y - 2, x:x + cw] & mask[y + ch + 1, x:x + cw])) / max(1, cw)
    if x < 2 or x + cw + 1 >= cols:
        return 0.0
    return float(np.count_nonzero(mask[y:y + ch, x - 2] & mask[y:y + ch, x + cw + 1])) / max(1, ch)


def components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components: (count with the background, labels, stats). Block-based
    labelling (BBDT): the same labels as OpenCV's default, a sixth faster on a page."""
    n, lab, st, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_BBDT)
    return n, lab, st


#: A cell's box: each side covered along this share of its length (a band of a twelfth of the
#: box), by a straight run at least `CELL_RUN` of it long.
CELL_SIDE = 0.9
CELL_RUN = 0.6
CELL_MIN = 12  # pixels: smaller boxes are not looked at
CELL_SOLID = 0.85  # a component with more of its box inked than this is a blob, no box
#: A box this many times wider than tall is a row of boxes drawn touching; upright runs over
#: `CELL_INNER` of its height are the sides between them. 1.25, not 1.6: two boxes a little
#: taller than wide are no wider than that, and their middle side was read as a 1 ("46" read "416").
CELL_ROW = 1.25
CELL_INNER = 0.95
#: A cell is at least this share of its row's height wide: two sides printed against each other
#: with a gap between are one side, and a digit's stem touching its box top and bottom is none.
CELL_NARROWEST = 0.5
#: A side runs deeper than its band while this share of a row (column) is its runs.
CELL_DEEP = 0.5
#: A box found on the lower threshold is taken out when at least this share of it is ink on the
#: threshold (what would be read of it). Boxes are looked for there only in a picture of at most
#: `LIGHT_CELLS_MARKS` components (a form's fields; on a page of a thousand digits the second
#: labelling and look at every mark cost a tenth of its reading).
CELL_SEEN = 0.1
LIGHT_CELLS_MARKS = 300


def cells_out(mask: np.ndarray, lab: np.ndarray, st: np.ndarray,
              overhang: bool = False) -> tuple[np.ndarray | None, list[Cell]]:
    """`mask` with the boxes of a form's cells taken out (one digit drawn in each box, the boxes
    apart or touching), or None when there are none; with the cells (each box, or the parts of a
    row of boxes between its sides). A cell's sides are shorter than the rules `lines_out` looks
    for, and a digit written in it often touches it: such a box is a
    component (`lab`, `st`: `mask`'s, or the components of the ink on a lower threshold, where a
    thin light box holds together) whose ink runs all along the four sides of its box, in
    straight runs (a digit's 0 does not). Only the runs along the sides are taken out, so a
    digit touching its box keeps its strokes. `overhang`: a box whose digit runs out over a side
    (a wide 0, a 2's tail) is looked for within its component too (`_frame_within`)."""
    w, h = st[1:, 2], st[1:, 3]
    # a solid blob (a pen's dot, a filled square) is no box: a box holds paper within its sides
    cand = np.flatnonzero((w >= CELL_MIN) & (h >= CELL_MIN) & (h <= 3 * w) & (st[1:, 4] < CELL_SOLID * w * h)) + 1
    out: np.ndarray | None = None
    cells: list[Cell] = []
    broken: list[_Box] = []  # boxes whose sides the runs cover less than CELL_SIDE
    for i in cand.tolist():
        x, y, cw, ch, _a = (int(v) for v in st[i])
        box = lab[y:y + ch, x:x + cw]
        # the corners first: the cheapest test, and most digits fail it
        cornered = _cornered(box, i)
        if not cornered and not overhang:
            continue
        b = _Box.of(lab, i, (x, y, cw, ch)) if cornered else None
        if overhang and (b is None or min(b.sides()) < CELL_SIDE):
            # the digit may run out over a side: past its corners, or past a side whose corners it
            # left alone (the box's top and bottom then cover less than the component is wide)
            whole = (box == i).view(np.uint8)
            within = _frame_within(whole)
            if within is not None and _cornered(lab[y + within[1]:y + within[1] + within[3],
                                                    x + within[0]:x + within[0] + within[2]], i):
                inner = _Box.of(lab, i, (x + within[0], y + within[1], within[2], within[3]), whole, within)
                if b is None or min(inner.sides()) >= CELL_SIDE:
                    b = inner
        if b is None:
            continue
        sides = b.sides()
        if min(sides) >= CELL_SIDE:
            out = _box_out(mask, out, cells, b)
        elif min(sides) >= ROW_SIDE_LEAST and float(np.mean(sides)) >= ROW_SIDE_MEAN and b.cw <= CELL_ROW * b.ch:
            broken.append(b)
    for b in broken:
        # a box among others of its size in its row, a side broken by the scan or bent under a
        # digit's stroke: a 0 filling its box was one mark with it
        if any(abs(b.cw - cw) <= ROW_LIKE * cw and abs(b.ch - ch) <= ROW_LIKE * ch and abs(b.y - y) <= ROW_LIKE * ch
               for _x, y, cw, ch in cells):
            out = _box_out(mask, out, cells, b)
    return out, cells


#: A box's sides covered less than CELL_SIDE (at least ROW_SIDE_LEAST each, ROW_SIDE_MEAN on the
#: whole) are a cell's still when it is as big as a cell found in the picture and level with it,
#: within ROW_LIKE of that cell's size
ROW_SIDE_LEAST = 0.3
ROW_SIDE_MEAN = 0.75
ROW_LIKE = 0.1


@dataclass
class _Box:
    """A component that may be a cell's box: where it lies (`x`, `y`, `cw`, `ch`), its pixels
    there (`comp`), their straight runs across and upright; `whole`, `within`: the component and
    the box in it, when its digit runs out over a side (`_frame_within`)."""

    x: int
    y: int
    cw: int
    ch: int
    comp: np.ndarray
    across: np.ndarray
    upright: np.ndarray
    whole: np.ndarray | None
    within: Cell | None

    @classmethod
    def of(cls, lab: np.ndarray, i: int, at: Cell, whole: np.ndarray | None = None,
           within: Cell | None = None) -> _Box:
        """Component `i`'s pixels in the box `at` (x, y, w, h), and their runs."""
        x, y, cw, ch = at
        comp = (lab[y:y + ch, x:x + cw] == i).view(np.uint8)
        cell = min(cw, ch)  # a row of cells touching each other is one component: each about as wide as tall
        return cls(x, y, cw, ch, comp, _runs(comp, int(CELL_RUN * cell), True), _runs(comp, int(CELL_RUN * ch), False),
                   whole, within)

    def sides(self) -> tuple[float, float, float, float]:
        """The share of each side (top, bottom, left, right) its runs cover."""
        bh, bw = _bands(self.cw, self.ch)
        a, u = self.across, self.upright
        return (float(a[:bh].any(0).mean()), float(a[-bh:].any(0).mean()),
                float(u[:, :bw].any(1).mean()), float(u[:, -bw:].any(1).mean()))


def _box_out(mask: np.ndarray, out: np.ndarray | None, cells: list[Cell], b: _Box) -> np.ndarray | None:
    """`out` (`mask` as far as boxes were taken out of it; None: none yet) with box `b` taken out,
    its cells added to `cells`; `out` as it was when `b` hardly shows on `mask`."""
    x, y, cw, ch, comp, across, upright = b.x, b.y, b.cw, b.ch, b.comp, b.across, b.upright
    bh, bw = _bands(cw, ch)
    # the sides as thick as they run (a box drawn with a broad pen is thicker than the band),
    # the thinnest side for all four: a 7's bar against the top runs deeper there
    rows, cols = across.mean(1), upright.mean(0)
    t = min(_depth(rows, bh), _depth(rows[::-1], bh), _depth(cols, bw), _depth(cols[::-1], bw))
    dy, dx = max(bh, t), max(bw, t)
    frame = np.zeros_like(comp)
    frame[:dy] |= across[:dy]
    frame[-dy:] |= across[-dy:]
    frame[:, :dx] |= upright[:, :dx]
    frame[:, -dx:] |= upright[:, -dx:]
    if np.count_nonzero(frame & mask[y:y + ch, x:x + cw]) < CELL_SEEN * np.count_nonzero(frame):
        return out  # found on the lower threshold, a box that hardly shows (squared paper printed light)
    if cw > CELL_ROW * ch:
        # a row of cells touching each other: the sides between them run from top to bottom
        inner = _runs(comp, int(CELL_INNER * ch), False)
        walls = _walls(inner, dx)
        # only the runs that are sides: a 1 as tall as its cell, touching its top and bottom, is
        # such a run too, and was taken out with them ("71573174" read "7573174")
        frame |= inner & _at_walls(inner, walls)[None, :]
    else:
        walls = [0, cw]
    cells.extend((x + a, y, c - a, ch) for a, c in pairwise(walls))
    if b.whole is not None and b.within is not None:
        frame = _crossings_kept(frame, b.whole, b.within, dx, dy)
    # widened by a pixel (the box's anti-aliased edge is not a stroke); the bits of a side a
    # little aslant that the runs missed go too: what is left within the sides' bands
    left = comp & (1 - cv2.dilate(frame, np.ones((3, 3), np.uint8)))
    k, parts, ps = components(left)
    for j in range(1, k):
        px, py, pw, ph, _pa = (int(v) for v in ps[j])
        along = (((px + pw <= 2 * bw or px >= cw - 2 * bw) and ph >= 2 * pw)
                 or ((py + ph <= 2 * bh or py >= ch - 2 * bh) and pw >= 2 * ph))
        if along:  # thin along a side: a digit's stroke cut off there is not
            left[parts == j] = 0
    if out is None:
        out = mask.copy()
    out[y:y + ch, x:x + cw] &= (1 - comp) | left
    return out


#: Pixels added round the box `_frame_within` finds from the sides' runs. The box is at least
#: `FRAME_MOST` of its component each way (the digit runs out over a side, it is not most of the
#: mark), and ink fills at most `FRAME_FILL` of what lies inside its sides.
FRAME_PAD = 2
FRAME_MOST = 0.75
FRAME_FILL = 0.6


def _bands(cw: int, ch: int) -> tuple[int, int]:
    """How deep a box's sides are looked for from each edge, down and across: a twelfth of the box
    (across, of its shorter side: a row of cells touching each other is one component)."""
    return max(2, ch // 12), max(2, min(cw, ch) // 12)


def _cornered(box: np.ndarray, i: int) -> bool:
    """Component `i` has ink in each corner of its box (`box`: the labels there), as a cell's frame does."""
    ch, cw = box.shape
    bh, bw = _bands(cw, ch)
    return bool((box[:bh, :bw] == i).any() and (box[:bh, -bw:] == i).any()
                and (box[-bh:, :bw] == i).any() and (box[-bh:, -bw:] == i).any())


def _frame_within(comp: np.ndarray) -> Cell | None:
    """The box a cell's frame makes inside its component (`comp`), where the digit drawn in it runs
    out over a side: from the first to the last row holding a run across, and the first to the
    last column holding a run upright, each at least `CELL_RUN` of the component's shorter side
    long. None when that is the component's own box or too small to be a cell; `cells_out` then
    tests its sides as it tests any box."""
    h, w = comp.shape
    n = int(CELL_RUN * min(h, w))
    rows = np.flatnonzero(_runs(comp, n, True).any(1))
    cols = np.flatnonzero(_runs(comp, n, False).any(0))
    if len(rows) < 2 or len(cols) < 2:
        return None
    # a pixel or two more each way: a side's outer rows are ragged (anti-aliased), too short for runs
    x0, y0 = max(0, int(cols[0]) - FRAME_PAD), max(0, int(rows[0]) - FRAME_PAD)
    x1, y1 = min(w, int(cols[-1]) + 1 + FRAME_PAD), min(h, int(rows[-1]) + 1 + FRAME_PAD)
    bw, bh = x1 - x0, y1 - y0
    if (x0, y0, x1, y1) == (0, 0, w, h) or min(bw, bh) < CELL_MIN or bw < FRAME_MOST * w or bh < FRAME_MOST * h:
        return None
    # a frame is hollow: a digit's bar and stem (a 7) make a solid block of runs
    inside = comp[y0 + bh // 6:y1 - bh // 6, x0 + bw // 6:x1 - bw // 6]
    if inside.size == 0 or np.count_nonzero(inside) > FRAME_FILL * inside.size:
        return None
    return x0, y0, bw, bh


def _crossings_kept(frame: np.ndarray, whole: np.ndarray, within: Cell, dx: int, dy: int) -> np.ndarray:
    """`frame` (the sides' pixels to take out, in the box `within` of the component `whole`) less
    where the digit's stroke crosses a side on its way out: rows (columns) with ink just outside
    the side and just inside its band. Taken out there, the part of the digit beyond the box was
    cut off and read as a 1."""
    x, y, w, h = within
    big_h, big_w = whole.shape
    keep = np.zeros_like(frame)
    if x > 0:
        keep[(whole[y:y + h, x - 1] & whole[y:y + h, min(big_w - 1, x + dx)]).astype(bool), :dx] = 1
    if x + w < big_w:
        keep[(whole[y:y + h, x + w] & whole[y:y + h, max(0, x + w - dx - 1)]).astype(bool), -dx:] = 1
    if y > 0:
        keep[:dy, (whole[y - 1, x:x + w] & whole[min(big_h - 1, y + dy), x:x + w]).astype(bool)] = 1
    if y + h < big_h:
        keep[-dy:, (whole[y + h, x:x + w] & whole[max(0, y + h - dy - 1), x:x + w]).astype(bool)] = 1
    return frame & (1 - keep)


def _walls(inner: np.ndarray, dx: int) -> list[int]:
    """A row of cells' sides (columns, from 0 to its width), among the middles of the runs of
    columns holding an upright run (`inner`) away from its ends (`dx`): those at one pitch
    (`_evenly`), or where there is none, each whose cell is at least `CELL_NARROWEST` of the
    row's height wide."""
    ch, cw = inner.shape
    found = _middles(dx + np.flatnonzero(inner[:, dx:cw - dx].any(0)))
    even = _evenly(found, cw, ch)
    if even is not None:
        return even
    walls = [0]
    for c in found:
        if c - walls[-1] >= CELL_NARROWEST * ch:
            walls.append(c)
    if len(walls) > 1 and cw - walls[-1] < CELL_NARROWEST * ch:
        walls.pop()
    return [*walls, cw]


#: A form's row of boxes is printed at one pitch: cells at least `CELL_EVEN` of the row's height
#: wide, each side found within `EVEN_SLACK` of a cell's width of where that pitch puts it
CELL_EVEN = 0.65
EVEN_SLACK = 0.12


def _evenly(found: list[int], cw: int, ch: int) -> list[int] | None:
    """The sides of a row `cw` wide cut into equal cells, each inner side one of `found` (the
    upright runs' middles): the most cells for which every side is found. A 1 as tall as its cell
    or a digit's stem found among them falls between the sides and is no side. None when no
    pitch fits (boxes of different widths)."""
    cand = np.array(found, np.float64)
    if len(cand) == 0:
        return None
    for n in range(int(cw / (CELL_EVEN * ch)), 1, -1):
        pitch = cw / n
        walls = [0]
        for i in range(1, n):
            near = int(np.argmin(np.abs(cand - i * pitch)))
            if abs(cand[near] - i * pitch) > EVEN_SLACK * pitch:
                break
            walls.append(int(cand[near]))
        else:
            return [*walls, cw]
    return None


def _at_walls(inner: np.ndarray, walls: list[int]) -> np.ndarray:
    """The columns (a mask over `inner`'s width) of the runs of columns holding an upright run
    that lie near a side (`walls`, `_walls`): within `WALL_NEAR` of the row's height. Further in,
    such a run is a 1 drawn in its cell."""
    ch, cw = inner.shape
    out = np.zeros(cw, bool)
    at = np.array(walls)
    for a, b in _col_runs(np.flatnonzero(inner.any(0))):
        if np.abs(at - (a + b) / 2).min() < WALL_NEAR * ch:
            out[a:b + 1] = True
    return out


#: An upright run in a row of cells further than this share of the row's height from every side
#: is a digit's stroke (a 1 touching its cell's top and bottom), not a side
WALL_NEAR = 0.25


def _col_runs(cols: np.ndarray) -> list[tuple[int, int]]:
    """Each run of consecutive columns in `cols` (sorted): its first and last column."""
    if len(cols) == 0:
        return []
    breaks = np.flatnonzero(np.diff(cols) > 1)
    return list(zip(cols[np.r_[0, breaks + 1]].tolist(), cols[np.r_[breaks, len(cols) - 1]].tolist(), strict=True))


def _middles(cols: np.ndarray) -> list[int]:
    """The middle of each run of consecutive columns in `cols` (sorted)."""
    return [(a + b) // 2 for a, b in _col_runs(cols)]


def _depth(cover: np.ndarray, band: int) -> int:
    """How deep a box's side runs in from its edge: `band`, or further while the rows (columns)
    are mostly covered by the side's runs (`cover`: each one's share), up to a third of the box."""
    d = band
    while d < len(cover) // 3 and cover[d] >= CELL_DEEP:
        d += 1
    return d


#: A component thinner than this share of the pen (the median thickness of the digit-sized marks
#: thicker than `DASH_THIN`) and than `DASH_THIN` pixels (working scale), in a row of such pieces
#: across or down at least `DASH_SPAN` of the picture, is what the ink threshold kept of a printed
#: line too faint to be taken out whole.
DASH_PEN = 0.35
DASH_THIN = 2.5
DASH_SPAN = 0.5
#: The pieces cover at least this share of the row's length (specks scattered by noise do not).
DASH_COVER = 0.15
#: How far from level (upright) a row of pieces may run: tan of about 2 degrees.
DASH_SLOPE = 0.035


def dashed_lines(st: np.ndarray, keep: np.ndarray, med: float, shape: tuple[int, int]) -> np.ndarray:
    """The components (indices into `st`) that are pieces of a faint printed line: a notebook's
    margin or rules light enough to fall apart on the ink threshold, whose pieces were read as 1s
    (a margin's) or left out as no digits (a rule's dashes), sending the file to review. Thin
    against the pen, long for their width, and in a row of such pieces, level or upright within
    `DASH_SLOPE`, that runs across or down at least `DASH_SPAN` of the picture."""
    x, y, w, h, area = (st[:, k].astype(np.float64) for k in range(5))
    thick = area / np.maximum(1.0, np.maximum(w, h))
    big = keep[(np.maximum(w[keep], h[keep]) >= 0.5 * med) & (thick[keep] > DASH_THIN)]
    if len(big) == 0:  # a fine pen: its strokes are as thin as any line's
        return np.zeros(0, np.int64)
    thin = np.flatnonzero(thick <= min(DASH_THIN, DASH_PEN * float(np.median(thick[big]))))
    out: list[np.ndarray] = []
    for upright in (True, False):
        long_, across = (h, w) if upright else (w, h)
        pieces = thin[long_[thin] >= 2 * across[thin]]
        if len(pieces) < 2:
            continue
        start = (y if upright else x)[pieces]
        end = start + long_[pieces]
        centre = ((x + w / 2) if upright else (y + h / 2))[pieces]
        size = shape[0] if upright else shape[1]
        order = np.argsort(centre)
        # rows of pieces: neighbours in `centre` at most 2 px apart (a line a little aslant spreads)
        breaks = np.flatnonzero(np.diff(centre[order]) > 2) + 1
        for run in np.split(order, breaks):
            span = end[run].max() - start[run].min()
            if (len(run) >= 2 and span >= DASH_SPAN * size and long_[pieces[run]].sum() >= DASH_COVER * span
                    and np.ptp(centre[run]) <= 2 + DASH_SLOPE * span):
                out.append(pieces[run])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def rules_across(mask: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(`mask` without its straight runs across at least `length` long, those runs widened), as
    `_taken_out` gives them."""
    return _taken_out(mask, _runs(mask, length, True))


#: On a ruled or squared sheet, upright lines are looked for leaning these many degrees either
#: way too: a sheet photographed from a little in front has them fanning out towards its sides,
#: and a straight run loses a thin line leaning past 2 degrees (a squared page's lines there were
#: left in pieces, 346 read as 1s). On the first pass, where three or more thin lines across
#: were found (`is_grid`), and `LEAN_LENGTH` digits long at least (a tall 1 leaning as much, on a
#: line, is shorter)
LEAN_DEGREES = (2.5, 5.0)
LEAN_LENGTH = 2.0


def _leaning_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """The runs of `mask` at least `length` long leaning about `LEAN_DEGREES` from upright: each
    found on a copy sheared to stand them up, with a pixel of slack across (what is left of the
    lean between two angles), and sheared back; those as thin as a printed line (`RULE_THICK`): a
    1 leaning as much is a pen's stroke. A shear moves each row along itself, so the slack is given
    (and taken back) once, before and after all of them."""
    h, w = mask.shape
    slack = cv2.dilate(mask, STAIR)
    out = np.zeros_like(mask)
    for degrees in LEAN_DEGREES:
        for sign in (-1.0, 1.0):
            k = sign * float(np.tan(np.radians(degrees)))
            shear = np.array([[1.0, k, -k * h / 2], [0.0, 1.0, 0.0]], np.float32)
            runs = _runs(cv2.warpAffine(slack, shear, (w, h), flags=cv2.INTER_NEAREST), length, False)
            out |= cv2.warpAffine(runs, shear, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    out = cv2.dilate(out, STAIR) & mask
    _n, lab, st = components(out)
    thin = (st[:, 4] <= RULE_THICK * st[:, 3]).view(np.uint8)  # thicker than a printed line: a pen's 1
    return out & thin[lab]


def _runs(mask: np.ndarray, length: int, horizontal: bool) -> np.ndarray:
    """The straight runs of `mask` at least `length` pixels long, across or upright."""
    n = max(3, length)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1) if horizontal else (1, n)))


#: A comb of one cell (a tray: a base about a digit wide with a tick up at each end) is shorter
#: than any line `lines_out` takes out, and a comb needs `COMB_TICKS`: it was read with the digit
#: it holds. Its base is at least `TRAY_BASE` digit heights long and as thin as a rule (in most
#: of its columns: a digit's stroke lying along part of it thickens it there; a small picture's
#: rule is `TRAY_THICK` digit heights thick), nothing lies under it (a 4's bar has its stem below),
#: and each end rises in a tick `TRAY_TICK` digit heights tall, one of them at least standing free:
#: nothing above it for a digit's height (a 2's base meets its slant there, a U's arms run on;
#: the digit in the tray may stand over the other).
TRAY_BASE = 0.6
TRAY_TICK = (0.15, 0.6)
TRAY_THICK = 0.2


def trays_out(mask: np.ndarray, digit_h: float) -> tuple[np.ndarray, np.ndarray]:
    """(`mask` without its trays, the trays' pixels, widened by a pixel as lines are)."""
    tray = np.zeros_like(mask)
    cols = mask.shape[1]
    base = _runs(mask, max(12, int(TRAY_BASE * digit_h)), True)
    n, lab, st = components(base)
    lo, hi = max(4, int(TRAY_TICK[0] * digit_h)), int(TRAY_TICK[1] * digit_h)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in st[i])
        thick = float(np.median(np.count_nonzero(lab[y:y + h, x:x + w] == i, axis=0)))
        if w >= 1.6 * digit_h or thick > max(3.0, TRAY_THICK * digit_h):
            continue  # a line (`lines_out` took it), or a stroke thicker than a rule
        if mask[y + h + 1:y + h + 1 + int(0.5 * digit_h), x:x + w].any():
            continue  # ink under it: part of a digit
        ticks = []
        reach = int(np.ceil(area / w)) + 2  # a tick is as thick as its base
        for end in (x, x + w - 1):
            w0 = max(0, end - reach)
            at = np.flatnonzero(mask[max(0, y - lo), w0:min(cols, end + reach + 1)]) + w0
            if len(at) == 0:
                break
            c0, c1 = int(at[0]), int(at[-1]) + 1  # the tick's columns, a little above the base
            col = np.asarray(mask[:y + 1, c0:c1].any(axis=1))[::-1]  # upward from the base's top row
            run = int(np.argmin(col)) if not col.all() else len(col)
            above = mask[max(0, y - run - int(digit_h)):max(0, y - run), c0:c1]
            if not lo <= run <= hi:
                break  # no tick: too short or too tall
            ticks.append((c0, c1, run, bool(above.any())))
        if len(ticks) < 2 or all(t[3] for t in ticks):
            continue  # a stroke running on above both ends
        inside = mask[:y, x + 4:x + w - 4].any(axis=1)
        if not inside.any() or np.argmax(inside) > y - max(t[2] for t in ticks) - 0.3 * digit_h:
            continue  # nothing between the ticks rises above them: no digit stands in it
        tray[lab == i] = 1
        for c0, c1, run, _above in ticks:
            tray[y - run + 1:y + 1, c0:c1] |= mask[y - run + 1:y + 1, c0:c1]
    return _taken_out(mask, tray)


#: An underline under one or two digits may be shorter than any line `lines_out` takes out (1.6
#: digit heights, and a digit standing on it makes the mark it joins taller still): the digit and
#: its line were read as one mark ("12", or no digit). Such a shelf is a run across at least
#: `SHELF_BASE` digit heights long, as thin as a rule, with nothing under it, and reaching at
#: least `SHELF_PAST` digit heights beyond what stands on it at both ends (a 2's base meets its
#: slant at one end, a 4's or 7's bar has its stem under it).
SHELF_BASE = 0.7
SHELF_PAST = 0.1
#: An underline runs under all that is written on its line: ink beside it (over this many square
#: digit heights; specks are less) is another digit, and the run is one digit's own base (a 2's
#: among the digits of a number)
SHELF_BESIDE = 0.03


def shelves_out(mask: np.ndarray, digit_h: float) -> tuple[np.ndarray, np.ndarray]:
    """(`mask` without its shelves, the shelves' pixels, widened by a pixel as lines are)."""
    shelf = np.zeros_like(mask)
    length = max(12, int(SHELF_BASE * digit_h))
    if np.count_nonzero(mask, axis=1).max(initial=0) < length:
        return mask, shelf  # no row holds that much ink (most single digits): no run can be that long
    base = _runs(mask, length, True)
    n, lab, st = components(base)
    past, reach = max(2, int(SHELF_PAST * digit_h)), int(0.5 * digit_h)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in st[i])
        if area / w > max(3.0, 0.2 * digit_h):
            continue  # a stroke thicker than a rule
        if mask[y + h + 1:y + h + 1 + reach, x:x + w].any():
            continue  # ink under it: part of a digit
        band = mask[max(0, y - int(1.2 * digit_h)):max(0, y - 2)]
        if np.count_nonzero(band[:, :x]) + np.count_nonzero(band[:, x + w:]) > SHELF_BESIDE * digit_h ** 2:
            continue  # ink beside it in the line: a digit's base among other digits, not their underline
        above = np.flatnonzero(band[:, x:x + w].any(axis=0)) + x
        if len(above) == 0 or above[0] < x + past or above[-1] > x + w - 1 - past:
            continue  # nothing stands on it, or it does not reach past what does at both ends
        tall = band[:, above[0]:above[-1] + 1].any(axis=1)
        if np.count_nonzero(tall) < 0.3 * digit_h:
            continue  # what stands on it is no digit's height (specks)
        shelf[lab == i] = 1
    return _taken_out(mask, shelf)


def comb_out(mask: np.ndarray, lines: np.ndarray, s: np.ndarray, med: float) -> np.ndarray | None:
    """`mask` with a comb's hidden ticks taken out, or None when it has none. A comb's ticks stand
    at equal steps along its line: those standing free (`is_tick`) give the tick's height and
    stroke, and the step; where one is missing a digit touches it or is drawn over it, so the
    tick, joined to the digit, was read as a 1 or made the digit no digit. There, the columns
    that look like a tick (`_tick_columns`) are cleared; a digit drawn over the tick keeps it
    (clearing the tick's whole place cut notches in 3s and 5s drawn over it: as many numbers lost
    as mended). With fewer free ticks than `COMB_TICKS` (digits wider than their cells touch most
    of them), the ticks the digits touch are looked for along the line too, and count when they
    stand at the free ones' equal steps."""
    x, y, cw, ch = (s[:, k] for k in range(4))
    shaped = tick_shaped(s, med) & (ch >= 0.15 * med)
    free = [int(i) for i in np.flatnonzero(shaped) if is_tick(s[i], lines, med)]
    if not free:
        return None
    out = None
    bottoms = (y + ch)[free]
    for row in _rows_of(np.array(free), bottoms, 0.3 * med):
        cx = (x[row] + cw[row] / 2.0).astype(np.float64)
        bottom = (y + ch)[row].astype(np.float64)
        tall, thick = int(np.median(ch[row])), int(np.median(cw[row]))
        seen = cx  # the ticks found: free, and (below) touched ones
        if len(row) < COMB_TICKS:
            b = int(np.median(bottom))
            if b < tall + 6 or b + 3 > mask.shape[0]:
                continue
            along = np.flatnonzero(lines[b:b + 3].any(axis=0))
            if len(along) == 0:
                continue
            c0, c1 = int(along[0]), int(along[-1]) + 1
            cols = np.array([j for j, _run in _tick_columns(mask[b - tall - 5:b + 1, c0:c1], tall, thick, 0)])
            touched = [float(np.mean(g)) + c0 for g in _rows_of(cols, cols, 2)] if len(cols) else []
            seen = _on_steps(cx, np.array([t for t in touched if np.abs(cx - t).min() >= 0.5 * med]), med)
            if len(seen) < COMB_TICKS:
                continue
        seen = np.sort(seen)
        gaps = np.diff(seen)
        step = float(gaps.min())
        if step < 0.5 * med or step > 2.0 * med:
            continue
        k = np.maximum(1, np.round(gaps / step))
        step = float(gaps.sum() / k.sum())
        if np.abs(gaps - k * step).max() > COMB_STEP * step:
            continue  # not equal steps: bars that happen to stand on a line
        order = np.argsort(cx)
        cx, bottom = cx[order], bottom[order]
        slope, level = np.polyfit(cx, bottom, 1) if len(set(cx.tolist())) > 1 else (0.0, float(bottom[0]))
        wide = thick // 2 + 2
        places = [seen[0] + j * step for j in range(-COMB_REACH, round(float(seen[-1] - seen[0]) / step) + COMB_REACH + 1)]
        for px in places:
            if np.abs(cx - px).min() < 0.25 * step:
                continue  # a free tick stands there
            b = round(float(slope * px + level))
            c0, c1 = int(px) - wide, int(px) + wide + 1
            pad = thick + 4
            if c0 < pad or c1 + pad > mask.shape[1] or b < tall + 6 or b + 3 > mask.shape[0]:
                continue
            if not lines[b:b + 3, c0:c1].any():
                continue  # past the comb's line
            window = mask[b - tall - 5:b + 1, c0 - pad:c1 + pad]
            for j, run in _tick_columns(window, tall, thick, pad) or _stub_columns(window, tall, thick, pad):
                if out is None:
                    out = mask.copy()
                out[b + 1 - run:b + 1, c0 - pad + j - 1:c0 - pad + j + 2] = 0
    return out


def empty_comb(s: np.ndarray, lines: np.ndarray) -> bool:
    """The marks (stats rows) are the ticks of a comb with nothing written in it: at least
    `COMB_TICKS`, every one a ruler-straight upright bar standing on a line taken out (`is_tick`
    with no digits to measure against), one height, at equal steps, under 0.6 of a step high.
    A row of 1s written on an underline leans or wavers, and stands taller than it is spaced."""
    if len(s) < COMB_TICKS or not all(is_tick(row, lines, float("inf")) for row in s):
        return False
    ch = s[:, 3].astype(np.float64)
    if ch.max() > 1.2 * ch.min():
        return False
    gaps = np.diff(np.sort(s[:, 0] + s[:, 2] / 2.0))
    step = float(np.median(gaps))
    return bool(step > 0 and np.abs(gaps - step).max() <= COMB_STEP * step and ch.max() <= 0.6 * step)


def _on_steps(free: np.ndarray, touched: np.ndarray, med: float) -> np.ndarray:
    """The free ticks and those of the touched ones (a digit's stroke standing on the line looks
    like one too) that stand at equal steps from the free ones: the step is each distance from a
    free tick to a touched one (or between two free ones), whichever puts the most ticks on it."""
    best = np.sort(free)
    gaps = np.abs(np.concatenate([touched[None, :] - free[:, None], np.diff(best)[None, :]], axis=None))
    pos = np.concatenate([free, touched])
    for step in gaps[(gaps >= 0.5 * med) & (gaps <= 2.0 * med)].tolist():
        off = (pos - free[0]) / step
        on = pos[np.abs(off - np.round(off)) * step <= COMB_STEP * step]
        if len(on) > len(best) and np.isin(free, on).all():
            best = np.sort(on)
    return best


def _tick_columns(window: np.ndarray, tall: int, thick: int, pad: int) -> list[tuple[int, int]]:
    """The columns of `window` (from above a tick's top down to the comb's line, `pad` columns
    each side of where a tick may stand) where ink rises from the line as high as a free tick,
    stops there, and stands as narrow as one a third of the way up: (column, height). A digit
    drawn over the tick covers its top, one dipping to the line is wider: both keep their
    strokes. The rise is measured in all columns at once (a comb's whole line may be searched)."""
    rows, cols = window.shape
    up = window[::-1] > 0  # from the line up
    start = np.argmax(up[:3], axis=0)
    past = ~up & (np.arange(rows)[:, None] >= start[None, :])
    run = np.where(past.any(axis=0), np.argmax(past, axis=0), rows) - start
    ok = up[:3].any(axis=0) & (np.abs(run - tall) <= 2)
    ok[:pad] = False
    ok[cols - pad:] = False
    out = []
    for j in np.flatnonzero(ok).tolist():
        across = window[rows - 1 - int(start[j]) - max(1, tall // 3)]
        gaps = np.flatnonzero(across == 0)
        left, right = gaps[gaps < j], gaps[gaps > j]
        if len(left) and len(right) and right[0] - left[-1] - 1 <= thick + 2:
            out.append((j, int(start[j] + run[j])))
    return out


def _stub_columns(window: np.ndarray, tall: int, thick: int, pad: int) -> list[tuple[int, int]]:
    """Where a digit's stroke stands on a tick (the tick's top inside the stroke), the columns of
    the tick's stub under it: ink rising from the line as narrow as a tick, into ink wider than
    one (the stroke) before a tick's height: (column, the stub's height). Only the stub is
    cleared, under the stroke: the digit is set free of the comb and keeps its strokes."""
    rows, cols = window.shape
    up = window[::-1] > 0  # from the line up
    out = []
    for j in range(pad, cols - pad):
        if not up[:3, j].any():
            continue
        i = int(np.argmax(up[:3, j]))
        start = i
        while i < rows and i - start <= tall + 2:
            if not up[i, j]:
                break  # the ink stops: a tick (or nothing), not a stub
            gaps = np.flatnonzero(~up[i])
            left, right = gaps[gaps < j], gaps[gaps > j]
            width = (int(right[0]) if len(right) else cols) - (int(left[-1]) if len(left) else -1) - 1
            if width > thick + 2:
                if i - start >= 2:
                    out.append((j, i))  # clear up to the stroke
                break
            i += 1
    return out


def _rows_of(items: np.ndarray, level: np.ndarray, within: float) -> list[np.ndarray]:
    """`items` split into rows: sorted by `level`, a new row where it steps by more than `within`."""
    order = np.argsort(level)
    breaks = np.flatnonzero(np.diff(level[order]) > within) + 1
    return [items[order[a:b]] for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(order)], strict=True)]


def tick_shaped(s: np.ndarray, med: float) -> np.ndarray:
    """Components (stats rows) shaped like a tick, at least twice as tall as wide and under 0.6
    digits: the only ones `is_tick` may take, tested all at once (a page has thousands)."""
    return (s[:, 3] >= 2 * s[:, 2]) & (s[:, 3] <= 0.6 * med)


def is_tick(s: np.ndarray, lines: np.ndarray, med: float) -> bool:
    """A comb cell's tick or what is left of a box side: a ruler-straight upright bar, no wider
    than its stroke, ending on a line that was taken out."""
    x, y, cw, ch, area = (int(v) for v in s)
    if ch < 2 * cw or cw > area / max(1, ch) + 2 or ch > 0.6 * med:
        return False
    rows = lines.shape[0]
    above = lines[max(0, y - 2):y + 1, x:x + cw].any()
    below = lines[y + ch - 1:min(rows, y + ch + 2), x:x + cw].any()
    return bool(above or below)
