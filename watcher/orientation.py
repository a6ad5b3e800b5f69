"""A sheet fed into the scanner upside down, laid on it sideways or crooked: read it the way up,
and as level, as its digits read best.

A document feeder takes a stack whichever way up it was put in, and a landscape form or a page
laid across the glass comes out turned a quarter. With no EXIF orientation to undo, such a page
read as it lies gives hundreds of marks that are digits turned (a 7 upside down, a 4 on its side)
and few sure readings. Only a file of many marks that reads poorly is tried turned: a single
digit or a short number cannot tell which way up it is (an upside-down 6 is a 9, "1081" is
"1801"), and a file that reads well is never turned, so what it costs is paid by pages that read
badly every way (three more finds and reads).

A sheet laid crooked on the glass, further off level than `segment` levels lines (6 degrees),
has its rules and lines of digits run across each other: a ruled page 8 degrees off was one mark
(its rules join every digit), a plain one read in 35 lines for its 12. A page-sized picture is
measured for such a slope first (the sharpest row profile of its strokes on a small copy, as
`segment` measures smaller slopes, across it and down it), and read levelled, its lines brought
across, when the levelled page reads as surely or reads clearly better turned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from watcher import reading, segment, slope
from watcher.errors import NoDigitFound
from watcher.normalise import dark_paper, to_grey
from watcher.reading import UNCALIBRATED, Calibration, Reading
from watcher.segment import Box, Layout

Predict = Callable[[np.ndarray], np.ndarray]

#: Fewest marks found for the way up to be asked: a page or a long strip, not a number.
CHECK_MARKS = 12
#: A reading counts its digits read at least this surely ...
SURE = 0.9
#: ... and one with at least this share of its marks so read is read the way up it lies.
UPRIGHT_SHARE = 0.8
#: A turned reading is taken when at least this share of its marks are sure digits (and then no
#: other turn is tried), and it leaves at most this share as many marks unsure as the reading as
#: it lies: upside down, a page of digits still reads surely more than half of them (0, 1, 8, a 6
#: as a 9), and a page that reads badly every way (a sheet of letters, a blurred photo) is left as
#: it is. Both are strict because a page of one digit, badly read, must not become a page of
#: another: 6s read upside down are 9s. (A gain of 0.3 in the share was asked before: a page read
#: 70-80% surely upside down, as one of 32 digits was by the model of the 50th pass, could never
#: be turned. Up to 60% as it lies the two rules are the same.)
TURNED_SHARE = 0.9
TURNED_UNSURE = 0.25

#: Which turns are worth a find of the page turned is asked of its marks first, each turned alone
#: (its 28x28 map turned: its centre of mass and its box's long side, which the map is framed by,
#: stay as they were): up to this many of them ...
VOTERS = 256
#: ... and a turn is tried only when at least this share more of them read surely turned so than
#: as they lie. The surest first: a page laid sideways is found once more, not three times, and
#: a page of text, which reads no better any way up, is not found again at all.
VOTE_GAIN = 0.1
#: A page whose median mark is at least this many times as wide as tall lies on its side (digits
#: upright are 0.76-0.78 as wide as tall on rendered pages, on their side 1.26), and is asked
#: which way up it is before it is read as it lies; other pages are read as they lie first.
SIDEWAYS_WIDE = 1.1


#: A picture whose longer side is at least this many of the original's pixels, and its shorter
#: side `CROOKED_SHORT`, may be a page laid crooked: a number is smaller (the rendered numbers'
#: widest pictures are 1,000-1,800 px across and at most 600 tall), and `segment` levels its line
#: up to `slope.SKEW_STEPS`.
CROOKED_SIDE = 1000
CROOKED_SHORT = 700
#: Slopes measured (degrees), two apart, then the best `CROOKED_REFINED`'s neighbours a degree
#: either side (a page's lines 11 degrees off blur at 10 and 12, where a diagonal of its grid of
#: digits may line up exactly: 14 degrees was taken for -11, 12 for -9) ...
CROOKED_STEPS = np.arange(-20.0, 20.01, 2.0)
CROOKED_REFINED = 3
#: ... on a copy at most this many times smaller than the decoded picture (a 600-dpi page's pen
#: strokes must not blur into its paper: on a copy 300 px across they did, and the paper round a
#: page laid crooked was taken for ink), between these many pixels across
CROOKED_SHRINK = 6
CROOKED_PROBE = (300, 800)
#: ... taken when the sharpest row profile outside `segment`'s own range is this much sharper than
#: the sharpest inside it, and shows at least this many lines (rows of ink apart): one digit leaning,
#: or a photo's table edge, is no page of lines.
CROOKED_GAIN = 1.5
CROOKED_LINES = 3


def sure_digits(r: Reading) -> int:
    return sum(1 for d in r.digits if d.confidence >= SURE)


def may_be_turned(lay: Layout) -> bool:
    """Enough marks to tell which way up they are."""
    return not lay.single and len(lay.marks) >= CHECK_MARKS


def _votes(lay: Layout, predict: Predict) -> list[float]:
    """The share of the marks (up to `VOTERS`), each turned alone, read surely under each quarter turn."""
    step = max(1, len(lay.marks) // VOTERS)
    maps = [m.pieces[0].x.reshape(28, 28) for m in lay.marks[::step][:VOTERS]]
    return [float(np.mean(predict(np.stack([np.rot90(x, k) for x in maps]).astype(np.float32)).max(1) >= SURE))
            for k in range(4)]


def _gains(sure: list[float]) -> list[int]:
    """The quarter turns (counter-clockwise, `np.rot90`'s k) under which more of the marks, each
    turned alone, read surely than as they lie (`_votes`); the surest first."""
    return sorted((k for k in (1, 2, 3) if sure[k] >= sure[0] + VOTE_GAIN), key=lambda k: -sure[k])


def lie(img: np.ndarray, scale: float) -> tuple[float, int]:
    """The slope (degrees, `cv2.getRotationMatrix2D`'s sense) that levels a page laid further off
    level than `segment` levels it, its lines across or (a page laid sideways) down, 0 for
    anything else; and the quarter turns (counter-clockwise) that then bring its lines across: 1
    where they run down (`segment` is not asked to find a page of rules down and paper round it:
    a sideways ruled page so levelled was one mark)."""
    h, w = img.shape[:2]
    if not page_sized(img, scale):
        return 0.0, 0
    probe = int(np.clip(max(h, w) / CROOKED_SHRINK, *CROOKED_PROBE))
    f = probe / max(h, w)
    step = max(1, int(max(h, w) // (4 * probe)))  # every step-th pixel first: a third of the time
    small = cv2.resize(img[::step, ::step], (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    mask = _strokes(small)
    if mask is None:
        return 0.0, 0
    # a turn about the centre and a quarter turn commute: what levels the page's lines turned a
    # quarter levels them, running down, in the page as it lies. A grid of digits is lined both
    # ways (a ruled page laid sideways has its columns of digits across), and a hand's slant
    # lines its strokes up down a page: the way with the sharpest profile at any slope is the
    # page's lines, and it is levelled only when that slope is further off than `segment` levels.
    ways = [_measure(mask), _measure(np.ascontiguousarray(np.rot90(mask)))]
    k = max((0, 1), key=lambda k: max(ways[k][1], ways[k][2]))
    return ways[k][0], k if ways[k][0] else 0


#: Strokes are told from paper by how much darker they are than the paper a few pixels round
#: them (a black-hat this wide, on the copy): the paper's own shade, a white lid or a dark table
#: round a crooked sheet are no ink (the ink map took a grey sheet on a white lid, 18 degrees
#: off, for ink all round its edge, and no slope was found) ...
STROKES_OPEN = 7
#: ... and a copy with no stroke this much darker than its paper has no lines to measure.
STROKES_LEAST = 0.05


def _strokes(small: np.ndarray) -> np.ndarray | None:
    """The thin dark strokes of a small copy of a page (1 = stroke, float32), or None."""
    grey = to_grey(small)
    if dark_paper(grey):
        grey = 1.0 - grey
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (STROKES_OPEN, STROKES_OPEN))
    dark = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    top = float(dark.max(initial=0.0))
    if top < STROKES_LEAST:
        return None
    _t, u8 = cv2.threshold(np.round(dark * (255 / top)).astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return u8.astype(np.float32)


def _measure(mask: np.ndarray) -> tuple[float, float, float]:
    """`lie`'s slope for the lines across `mask`, or 0, with the best profile's sharpness
    outside `segment`'s range and inside it."""
    most = float(slope.SKEW_STEPS.max())
    measured: dict[float, tuple[float, np.ndarray]] = {}

    def measure(a: float) -> None:
        if -CROOKED_STEPS[-1] <= a <= CROOKED_STEPS[-1] and a not in measured:
            rows = slope.row_profile(mask, a)
            measured[a] = (slope.sharpness(rows), rows)

    for a in CROOKED_STEPS:
        measure(float(a))
    for top in sorted(measured, key=lambda a: -measured[a][0])[:CROOKED_REFINED]:
        measure(top - 1.0)
        measure(top + 1.0)
    inside = max(s for a, (s, _r) in measured.items() if abs(a) <= most)
    best = max((a for a in measured if abs(a) > most), key=lambda a: measured[a][0])
    score, rows = measured[best]
    if score < CROOKED_GAIN * inside or _lines(rows) < CROOKED_LINES:
        return 0.0, score, inside
    return best, score, inside


def _lines(rows: np.ndarray) -> int:
    """Runs of rows holding ink, apart: the lines of a levelled page."""
    inked = rows > 0.2 * float(rows.max(initial=0.0))
    return int(np.count_nonzero(inked[1:] & ~inked[:-1]) + int(inked[:1].sum()))


def level(img: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The picture turned by `angle` on a canvas holding all of it, and the affine map from the
    levelled picture's pixels back to the picture's. The corners take the colour along the
    picture's edges: a scan's paper, or what lies round a sheet (a table, a scanner's white lid),
    so that the sheet is still found within one surround (`sheet`)."""
    c = 1 if img.ndim == 2 else img.shape[2]
    edges = np.concatenate([a.reshape(-1, c) for a in (img[0], img[-1], img[:, 0], img[:, -1])])
    return slope.rotate(img, angle, [float(v) for v in np.median(edges, axis=0)])


def unlevel_box(box: Box, back: np.ndarray, scale: float) -> Box:
    """A box found in the levelled picture (original's pixels), in the picture as it lies: the
    box round its corners mapped back."""
    x, y, w, h = (v * scale for v in box)
    pts = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float64) @ back[:, :2].T + back[:, 2]
    (x0, y0), (x1, y1) = np.maximum(pts.min(0), 0) / scale, pts.max(0) / scale
    return (int(x0), int(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0)))


def unturn_box(box: Box, k: int, width: float, height: float) -> Box:
    """A box found in the picture turned `k` quarter turns counter-clockwise, in the pixels of the
    picture as it lies (`width` x `height`, in the original's pixels)."""
    x, y, w, h = box
    if k == 2:
        return (max(0, round(width - x - w)), max(0, round(height - y - h)), w, h)
    if k == 1:
        return (max(0, round(width - y - h)), x, h, w)
    if k == 3:
        return (y, max(0, round(height - x - w)), h, w)
    return box


def page_sized(img: np.ndarray, scale: float) -> bool:
    """Big enough to be a page that may lie crooked (`lie` is asked before it is found: a ruled
    page 9 degrees off, its rules joining every digit into one mark, took 10 s to find and 87 s to
    read at 600 dpi)."""
    h, w = img.shape[:2]
    return max(h, w) / scale >= CROOKED_SIDE and min(h, w) / scale >= CROOKED_SHORT


def read_page(img: np.ndarray, scale: float, predict: Predict,
              calibration: Calibration = UNCALIBRATED) -> Reading | None:
    """A page-sized picture's reading: levelled first where it lies crooked and levelled reads
    as many of its marks surely as a page read as it lies must (the slope's measure is the
    stronger evidence there), or reads clearly better turned (a crooked page fed upside down),
    else as it lies; turned where that reads clearly better. Boxes are in the picture as it
    lies. Raises NoDigitFound where it holds none."""
    angle, across = lie(img, scale)
    if angle:
        levelled, back = level(img, angle)
        height, width = levelled.shape[0] / scale, levelled.shape[1] / scale
        levelled = np.ascontiguousarray(np.rot90(levelled, across))
        try:
            flat = segment.find(levelled, scale)
        except NoDigitFound:
            flat = None
        if flat is not None and across and _on_their_side(flat):
            # its lines measured running down, but turned across its marks lie on their side: the
            # columns of a few lines of upright digits (a note photographed, its two rows of six
            # digits read down a 19-degree slope and out of order), not a page laid sideways
            flat = None
        f = reading.read([flat], predict, calibration)[0] if flat is not None and not flat.single else None
        if flat is not None and f is not None:
            # A crooked page fed upside down reads badly levelled, and worse as it lies
            t, k = _turned(levelled, scale, flat, f, predict, calibration)
            if t is not None and (k or sure_digits(f) >= UPRIGHT_SHARE * len(flat.marks)):
                return replace(t, digits=[replace(d, box=unlevel_box(unturn_box(d.box, across, width, height), back, scale))
                                          for d in t.digits])
    return read_upright(img, scale, segment.find(img, scale), predict, calibration)[0]


def read_upright(img: np.ndarray, scale: float, lay: Layout, predict: Predict,
                 calibration: Calibration = UNCALIBRATED) -> tuple[Reading | None, int]:
    """The file's reading, and the quarter turns (counter-clockwise) it was read at: 0 unless it
    reads poorly as it lies and clearly better turned. Boxes are in the picture as it lies. A
    page whose marks lie on their side is asked which way up it is before it is read as it lies:
    read so, its wide, unsure marks have their cuts read too (1.1-1.2 s of a 600-dpi page)."""
    votes, tried = None, set()
    if may_be_turned(lay) and _on_their_side(lay):
        votes = _votes(lay, predict)
        for k in _gains(votes):
            if k % 2:
                tried.add(k)
                t = _read_turned(img, scale, k, predict, calibration)
                if t is not None and _clearly_better(t[1], votes[0]):
                    return t[0], k
    return _turned(img, scale, lay, reading.read([lay], predict, calibration)[0], predict, calibration,
                   votes, tried)


def _on_their_side(lay: Layout) -> bool:
    """Most marks wider than tall (`SIDEWAYS_WIDE`): digits on their side."""
    return float(np.median([m.pieces[0].box[2] / max(1, m.pieces[0].box[3]) for m in lay.marks])) >= SIDEWAYS_WIDE


def _turned(img: np.ndarray, scale: float, lay: Layout, r: Reading | None, predict: Predict,
            calibration: Calibration, votes: list[float] | None = None,
            tried: set[int] | frozenset[int] = frozenset()) -> tuple[Reading | None, int]:
    """`r`, or the reading of the picture turned where that reads clearly better (`votes`: the
    marks' already asked; `tried`: turns already read and not taken)."""
    if r is None or not may_be_turned(lay):
        return r, 0
    share = sure_digits(r) / len(lay.marks)
    if share >= UPRIGHT_SHARE:
        return r, 0
    for k in _gains(votes if votes is not None else _votes(lay, predict)):
        if k in tried:
            continue
        t = _read_turned(img, scale, k, predict, calibration)
        if t is not None and _clearly_better(t[1], share):
            return t[0], k
    return r, 0


def _clearly_better(turned: float, as_lies: float) -> bool:
    """A turned reading is taken (`TURNED_SHARE`, `TURNED_UNSURE`): the shares of marks read as sure
    digits turned and as the page lies."""
    return turned >= TURNED_SHARE and 1 - turned <= TURNED_UNSURE * (1 - as_lies)


def _read_turned(img: np.ndarray, scale: float, k: int, predict: Predict,
                 calibration: Calibration) -> tuple[Reading, float] | None:
    """The picture turned `k` quarters found and read, its boxes put back where they lie, and the
    share of its marks read as sure digits; None where it is one digit or none."""
    try:
        turned = segment.find(np.ascontiguousarray(np.rot90(img, k)), scale)
    except NoDigitFound:
        return None
    t = reading.read([turned], predict, calibration)[0]
    if t is None or turned.single:
        return None
    height, width = img.shape[0] / scale, img.shape[1] / scale
    digits = [replace(d, box=unturn_box(d.box, k, width, height)) for d in t.digits]
    return replace(t, digits=digits), sure_digits(t) / len(turned.marks)
