"""A sheet fed into the scanner upside down or laid on it sideways: read it the way up its digits
read best.

A document feeder takes a stack whichever way up it was put in, and a landscape form or a page
laid across the glass comes out turned a quarter. With no EXIF orientation to undo, such a page
read as it lies gives hundreds of marks that are digits turned (a 7 upside down, a 4 on its side)
and few sure readings. Only a file of many marks that reads poorly is tried turned: a single
digit or a short number cannot tell which way up it is (an upside-down 6 is a 9, "1081" is
"1801"), and a file that reads well is never turned, so what it costs is paid by pages that read
badly every way (three more finds and reads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from watcher import reading, segment
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
#: other turn is tried), and this share of them more than the reading as it lies: upside down, a
#: page of digits still reads surely more than half of them (0, 1, 8, a 6 as a 9), and a page that
#: reads badly every way (a sheet of letters, a blurred photo) is left as it is. Both are high
#: because a page of one digit, badly read, must not become a page of another: 6s read upside
#: down are 9s.
TURNED_SHARE = 0.9
TURNED_GAIN = 0.3

#: Which turns are worth a find of the page turned is asked of its marks first, each turned alone
#: (its 28x28 map turned: its centre of mass and its box's long side, which the map is framed by,
#: stay as they were): up to this many of them ...
VOTERS = 256
#: ... and a turn is tried only when at least this share more of them read surely turned so than
#: as they lie. The surest first: a page laid sideways is found once more, not three times, and
#: a page of text, which reads no better any way up, is not found again at all.
VOTE_GAIN = 0.1


def sure_digits(r: Reading) -> int:
    return sum(1 for d in r.digits if d.confidence >= SURE)


def may_be_turned(lay: Layout) -> bool:
    """Enough marks to tell which way up they are."""
    return not lay.single and len(lay.marks) >= CHECK_MARKS


def turns_to_try(lay: Layout, predict: Predict) -> list[int]:
    """The quarter turns (counter-clockwise, `np.rot90`'s k) under which more of the marks, each
    turned alone, read surely than as they lie; the surest first."""
    step = max(1, len(lay.marks) // VOTERS)
    maps = [m.pieces[0].x.reshape(28, 28) for m in lay.marks[::step][:VOTERS]]
    sure = [float(np.mean(predict(np.stack([np.rot90(x, k) for x in maps]).astype(np.float32)).max(1) >= SURE))
            for k in range(4)]
    return sorted((k for k in (1, 2, 3) if sure[k] >= sure[0] + VOTE_GAIN), key=lambda k: -sure[k])


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


def read_upright(img: np.ndarray, scale: float, lay: Layout, predict: Predict,
                 calibration: Calibration = UNCALIBRATED) -> tuple[Reading | None, int]:
    """The file's reading, and the quarter turns (counter-clockwise) it was read at: 0 unless it
    reads poorly as it lies and clearly better turned. Boxes are in the picture as it lies."""
    r = reading.read([lay], predict, calibration)[0]
    if r is None or not may_be_turned(lay):
        return r, 0
    share = sure_digits(r) / len(lay.marks)
    if share >= UPRIGHT_SHARE:
        return r, 0
    for k in turns_to_try(lay, predict):
        try:
            turned = segment.find(np.ascontiguousarray(np.rot90(img, k)), scale)
        except segment.NoDigitFound:
            continue
        t = reading.read([turned], predict, calibration)[0]
        if t is None or turned.single:
            continue
        turned_share = sure_digits(t) / len(turned.marks)
        if turned_share >= TURNED_SHARE and turned_share >= share + TURNED_GAIN:
            height, width = img.shape[0] / scale, img.shape[1] / scale
            digits = [replace(d, box=unturn_box(d.box, k, width, height)) for d in t.digits]
            return replace(t, digits=digits), k
    return r, 0
