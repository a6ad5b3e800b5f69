"""From a layout's pieces and the model's probabilities to a file's reading: its digits, in order,
and the calibrated probability that all of it is right.

For a mark wide enough to be several touching digits, the path of pieces between candidate cuts
whose product of confidences is highest is taken (dynamic programming over the cuts): two
touching digits read as one mark get a low confidence (the model was taught that such pairs are
no digit), the right cut a high one.

Two neighbouring marks that may be one digit's strokes apart (`Layout.joins`) are read as one
digit when the model is sure of them together and surer than of the two apart (to review).

A mark the model finds no likely digit in (`NOT_A_DIGIT_BELOW`) is a letter, an operator or a
scribble: it is left out of the text and the file goes to review. A file that is one digit is
read exactly as the single-digit reader always did, whatever its confidence.

A digit's confidence is calibrated; a file's is the probability that all of its reading is
right, fitted on rendered numbers from its digits' confidences (`Calibration.of_reading`: their
product alone is far below how often such readings are right).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise

import cv2
import numpy as np

from watcher.segment import Box, Layout, Mark, Piece

Predict = Callable[[np.ndarray], np.ndarray]

#: Below this confidence a mark in a file of several is taken for something that is not a digit.
NOT_A_DIGIT_BELOW = 0.3
#: Prior weight of each cut in a mark: a mark is read as two digits only when the pieces are
#: clearly surer than the whole (an 8's right half reads as a sure 3). 0.85 rather than 0.75:
#: touching numbers 74.0% -> 75.7%, multi-dev the same.
CUT_PRIOR = 0.85
#: A file of at least this many marks, 80% of them sure digits, is a page of digits: there a
#: mark is left out as no digit only below `PAGE_FLOOR`.
PAGE_MARKS = 12
#: A piece cut from a mark counts only when the model is at least this sure of it: cut pieces of
#: a letter or an operator often look like some digit, real touching digits read clearly.
SPLIT_PIECE_MIN = 0.6
PAGE_FLOOR = 0.1
#: In a line whose other marks are nearly all sure digits (this share of them, two at least), a
#: mark no wider than a digit and this tall against them is read down to `PAGE_FLOOR`
LINE_SURE = 0.8
LINE_DIGIT_HEIGHT = 0.75
#: On a page, a mark under this share of its sure digits' typical height is read down to
#: `NOT_A_DIGIT_BELOW` only, not `PAGE_FLOOR`: a flat piece of a faint grid's line, read as a 3 at
#: 0.15 (24 such on a squared page of 154 6s)
PAGE_DIGIT_HEIGHT = 0.3
#: ... and a mark wide enough to be cut is one digit there when no wider than this many digit
#: heights and in a form's cell, or one stroke: the long axis of its ink's spread at least
#: `LINE_ONE_STROKE` times the short one (variances: a 1 leaning far is, a "+" is not)
LINE_ONE_WIDE = 1.1
LINE_ONE_STROKE = 4.0
#: ... or, elsewhere, when its whole reads as another digit than 1 (a "+" reads as 1) and its
#: strokes are at least this share of the line's sure digits' (a bold 8 or a 2 drawn like a Z no
#: cut reads; a notebook's faint margin crossing a rule is a ninth as thick). Its chain of cuts is
#: first read as a doubtful pair or more at the usual floor: two touching digits ("31" reads
#: whole as a 4) are read so, as they were when left out
LINE_WIDE_PEN = 0.5
#: Two marks read as 1s are a pair of brackets round the digits between them ("(555) 123-4567")
#: when the first bows out to the left and the second to the right by at least `BRACKET_BOW` of
#: their height (the middle of the stroke against its ends), each is at least `BRACKET_TALL` of the
#: height of the digits between, and those are 1 to `BRACKET_MOST`. Brackets drawn by hand
#: (`compose.phone_number`) bow by 0.04-0.1 of their height; half of MNIST's test 1s bow by under
#: 0.016 and 10% by over 0.047, one way or the other: a pair bowing away from each other round
#: digits is a pair of brackets
BRACKET_BOW = 0.035
BRACKET_TALL = 1.0
BRACKET_MOST = 8
#: ... both marks one narrow stroke, at most this wide for their height (a wide mark read whole as
#: a 1 is touching digits whose cuts are read next: "685" bowed as a "(")
BRACKET_NARROW = 0.6
#: ... in a file of at most this many marks (`segment`'s page has more): among a page's hundreds
#: of 1s, pairs bow out away from each other (a page of 1s read 17 digits wrong instead of 1)
BRACKET_MARKS = 40
#: On a page, a line of at least `TEXT_MARKS` marks, under `TEXT_SURE` of them sure digits and the
#: geometric mean of their raw scores under `TEXT_MEAN`, is left out as printed words: a header's
#: lines read 0-41% sure and 0.17-0.42 in the mean on 600-dpi pages; the least sure line of digits
#: on rendered, dense and photographed pages and notes 57% and 0.65
TEXT_MARKS = 5
TEXT_SURE = 0.5
TEXT_MEAN = 0.5
#: A file that is one mark, read as one digit below this raw score, is read as touching digits
#: instead when each piece of its best cut reads at `SPLIT_SINGLE_SURE` or more ("10" in a box,
#: the 1 touching the 0, read as 8 before). It goes to review either way.
SPLIT_SINGLE_BELOW = 0.6
SPLIT_SINGLE_SURE = 0.9
#: A wide mark that no sure cut reads is still read through its best cuts when they give at
#: least `LOOSE_PIECES` pieces whose geometric mean score reaches `LOOSE_MEAN`: a chain of touching
#: digits with one bad piece. A pair only when it is the one mark of the file that does not read,
#: or nothing else reads (a letter touching a digit, "5x" in an equation, reads as a doubtful pair
#: as often as two touching digits do, but an equation has other letters that do not read either).
LOOSE_MEAN = 0.4
LOOSE_PIECES = 3
#: Two neighbouring marks (`Layout.joins`) are read as one digit only when it reads at least this
#: surely, and better than the two apart; the file goes to review.
JOIN_SURE = 0.9
#: Why a picture of at most `segment.TINY_SIDE` pixels read as several marks goes to review.
TINY_DOUBT = "a picture this small may hold one broken digit rather than several"
#: A mark more than this many times wider than tall, read as one digit, sends the file to review:
#: two touching digits may hide in it. Single digits come wide too (a 5's long flag, a 2's long
#: base, a round 0): at 1.15 it was the only doubt of 572 of the 7,000 rendered numbers, 571 of
#: them read right; a file with a mark wider than 1.5 read whole was read wrong in 6 of 14
#: touching numbers and 16 of 28 photographed ones.
WIDE_AS_TWO = 1.5


@dataclass(frozen=True)
class Digit:
    box: Box  # in the original picture's pixels
    line: int
    digit: int
    confidence: float


@dataclass
class Reading:
    digits: list[Digit]
    confidence: float
    doubts: list[str] = field(default_factory=list)  # reasons for review whatever the confidence
    marks: int = 1  # marks found, digits or not
    raw: float = 1.0  # the same product on the model's raw scores: how sure it is these are digits at all

    @property
    def text(self) -> str:
        """The digits in reading order, one space between lines."""
        out, line = [], None
        for d in self.digits:
            if line is not None and d.line != line:
                out.append(" ")
            out.append(str(d.digit))
            line = d.line
        return "".join(out)


@dataclass(frozen=True)
class Calibration:
    """How the model's scores become the reported probabilities, as training fitted them:
    `power` sharpens one mark's scores (`model` reads `confidence_power`); `reading` holds the
    logistic weights that turn a reading of several digits (its `features`) into the probability
    that all of it is right (`calibrate.fit_reading`). Without them, that is the product of the
    digits' confidences, which is far below how often such readings are right."""

    power: float = 1.0
    reading: tuple[float, ...] = ()

    def of_reading(self, confidences: Sequence[float]) -> float:
        """The probability that a reading of digits with these confidences is right: fitted for
        2 to `CALIBRATED_UP_TO` digits (the numbers it was fitted on); their product otherwise (a
        page of hundreds: nearly never all right, and the product says so where a fit on short
        numbers would not)."""
        product = float(np.prod(confidences))
        if len(self.reading) not in (READING_FEATURES, LEGACY_FEATURES) or not 2 <= len(confidences) <= CALIBRATED_UP_TO:
            return product
        f = features(confidences, len(self.reading))
        z = float(np.dot(self.reading, f))
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0))))


#: Scores as the model gives them (a model trained without a calibration stage).
UNCALIBRATED = Calibration()
#: How many numbers `features` gives; `LEGACY_FEATURES` for a model fitted before 2026-12-05.
READING_FEATURES = 4
LEGACY_FEATURES = 2
#: The longest readings the fit covers (`calibrate` draws numbers of 2 to this many digits).
CALIBRATED_UP_TO = 16


def features(confidences: Sequence[float], width: int = READING_FEATURES) -> tuple[float, ...]:
    """What a reading of several digits is calibrated on: the log product of its digits'
    confidences, the log odds of the least of them, how many digits there are, and a constant.
    The log product alone (`LEGACY_FEATURES`, a model fitted before) capped every reading at
    0.93-0.95, while rendered numbers whose digits all read at 0.99 or more were right 98.8-99.4%
    of the time: one doubtful digit is what makes a reading wrong, and the log odds tell 0.9 from
    0.999 where the log does not (both fitted on the same numbers, ECE over ten rendered sets
    4.3% -> 1.2%). Measured and not kept: the log of the least confidence (3.4%), the raw scores'
    product (1.5%), the marks left out and the wide marks (a letter rightly left out of an
    equation is no doubt about its digits, and a difference of two products is nonsense on a
    page)."""
    c = np.asarray(confidences, np.float64)
    logs = np.log(np.maximum(c, 1e-6))
    if width == LEGACY_FEATURES:
        return (float(logs.sum()), 1.0)
    least = float(np.clip(c.min(), 1e-6, 1.0 - 1e-4))
    return (float(logs.sum()), float(np.log(least / (1.0 - least))), float(len(c)), 1.0)


def pages_read(pages: Sequence[tuple[Reading, float]]) -> Reading:
    """A document's reading from its pages' readings, each with the row its page starts at (in the
    document's pixels, its pages stacked): lines numbered on from page to page, boxes moved down to
    their page, a doubt of any page a doubt of the file. Each page is read on its own, so the
    probability that all of it is right is the product of theirs."""
    digits: list[Digit] = []
    doubts: list[str] = []
    line, confidence, raw = 0, 1.0, 1.0
    for n, (r, top) in enumerate(pages, 1):
        for d in r.digits:
            x, y, w, h = d.box
            digits.append(replace(d, line=line + d.line, box=(x, y + round(top), w, h)))
        if r.digits:
            line += max(d.line for d in r.digits) + 1
            confidence *= r.confidence
            raw *= r.raw
        doubts += [f"page {n}: {why}" for why in r.doubts]
    return Reading(digits, confidence, doubts, sum(r.marks for r, _top in pages), raw)


def calibrated(probs: np.ndarray, power: float) -> np.ndarray:
    """The model's scores as calibrated probabilities: raised to the power its training fitted
    (`model.confidence_power`), renormalised. The order of the classes is unchanged."""
    if power == 1.0:
        return probs
    p = np.power(np.maximum(probs, 1e-12), power)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def read(layouts: Sequence[Layout | None], predict: Predict,
         calibration: Calibration = UNCALIBRATED) -> list[Reading | None]:
    """Read every layout with one model call, and one more for the marks that may be cut. The raw
    scores decide what is a digit (and how a mark splits); `calibration` makes the reported
    confidences calibrated probabilities."""
    lays = [lay for lay in layouts if lay is not None]
    first = [p for lay in lays for p in lay.pieces()]
    if not first:
        return [None] * len(layouts)
    raw = predict(np.stack([p.x for p in first]))
    # a mark read surely whole (CUT_PRIOR or more) is never read better through cuts: only the
    # others are cut, and their pieces classified in one more call. In a file of many marks (a
    # page of digits, set apart in rows) a mark narrower than `segment.CUT_WIDTH` is one digit
    # drawn badly and is not cut, and cuts stay straight: cut there, or bent, three of 5,400
    # rendered pages' digits were read as two
    uncut = [(m, page) for lay in lays if not lay.single for page in [len(lay.marks) >= PAGE_MARKS]
             for m in lay.marks if m.cuts is not None and (m.wide or not page)]
    if uncut:  # never for a batch of single digits
        scores = dict(zip(map(id, first), raw, strict=True))
        new = [p for m, page in uncut if scores[id(m.pieces[0])].max() < CUT_PRIOR for p in m.expand(bent=not page)]
        if new:
            scores.update(zip(map(id, new), predict(np.stack([p.x for p in new])), strict=True))
            raw = np.stack([scores[id(p)] for lay in lays for p in lay.pieces()])
    best, conf = raw.argmax(1), raw.max(1)
    sure = calibrated(raw, calibration.power).max(1)
    out: list[Reading | None] = []
    k = 0
    for lay in layouts:
        if lay is None:
            out.append(None)
            continue
        n = len(lay.pieces())
        out.append(_assemble(lay, best[k:k + n], conf[k:k + n], sure[k:k + n], calibration))
        k += n
    return out


MarkPath = tuple[list[int], list[int], float]  # a mark's reading: indices into the scores, into its pieces; share


def _assemble(lay: Layout, best: np.ndarray, conf: np.ndarray, sure: np.ndarray, calibration: Calibration,
              loose_pieces: int = LOOSE_PIECES, paths: list[MarkPath] | None = None) -> Reading:
    """`conf`: the raw scores (what is a digit, which split); `sure`: calibrated (reported).
    `loose_pieces`: the fewest pieces a mark no sure cut reads may be read in (see LOOSE_MEAN);
    `paths`: each mark's best reading, when a first pass already found them."""
    if lay.single:
        p = lay.first()
        if lay.split is not None and conf[0] < SPLIT_SINGLE_BELOW:
            split = _split_reading(lay.split, best[1:], conf[1:], sure[1:], calibration)
            if split is not None:
                return split
        why = [] if conf[0] >= NOT_A_DIGIT_BELOW else ["not sure it is a digit"]
        if lay.left_out:
            why.append(f"{lay.left_out} mark(s) beside the digit that may be digits too")
        return Reading([Digit(p.box, 0, int(best[0]), float(sure[0]))], float(sure[0]), why, 1, float(conf[0]))
    digits: list[Digit] = []
    doubts: list[str] = []
    not_digits = len(lay.rejected)
    raw = 1.0  # the read digits' raw scores together
    unread = 1.0  # how surely the marks left out are no digits
    wide = 0
    unsure = 0  # wide marks read with a badly read piece
    wide_out = 0  # wide marks left out as no digit
    unread_boxes: list[Box] = []  # the marks not read as digits
    k = sum(len(m.pieces) for m in lay.marks)  # the whole-file piece follows the marks' pieces
    if paths is None:
        paths, start = [], 0
        for m in lay.marks:
            path, share = _best_path(m, conf[start:start + len(m.pieces)], best[start:start + len(m.pieces)])
            paths.append(([start + i for i in path], path, share))
            start += len(m.pieces)
    # in a page of digits (many marks, nearly all surely digits) a mark of a digit's size is a
    # digit, however badly drawn: it is read (with its low confidence) rather than left out
    sure_marks = [bool(conf[idx].min() >= 0.9) for idx, _p, _s in paths]
    text = _text_lines(lay, paths, conf, sure_marks)
    rest = [s for mi, s in enumerate(sure_marks) if mi not in text]
    page = len(rest) >= PAGE_MARKS and sum(rest) >= 0.8 * len(rest)
    text = text if page else set()
    floor = PAGE_FLOOR if page else NOT_A_DIGIT_BELOW
    joined = _joined(lay, paths, conf, k)
    wholes = [int(best[idx[0] - path[0]]) for idx, path, _s in paths]  # each mark read whole
    floors, loose_below = _line_floors(lay, sure_marks, floor, wholes)
    thin = _thin_ones(lay, paths, best)
    brackets = _brackets(lay, paths, best) if len(lay.marks) <= BRACKET_MARKS else set()
    # a form's line left standing, or a grid's on a page (`_thin_ones`); on a page of sure digits
    # a piece of a faint grid that no look took for one, a fifth of the pen thick, too
    thin_out = lay.lined or page
    for mi, (m, (idx, path, share), below) in enumerate(zip(lay.marks, paths, floors, strict=True)):
        if mi - 1 in joined:
            continue  # read with the mark before it
        if mi in text:
            not_digits += 1  # printed words on a page of digits
            unread_boxes.append(m.pieces[0].box)
            continue
        if mi in lay.flags or mi in brackets:
            not_digits += 1  # a dash that did not read as part of the digit before it; a bracket
            unread_boxes.append(m.pieces[0].box)
            continue
        if thin_out and mi in thin:
            continue  # not read (the file goes to review)
        if mi in joined:
            ji, piece = joined[mi]
            raw *= float(conf[ji])
            digits.append(Digit(piece.box, m.line, int(best[ji]), float(sure[ji])))
            continue
        if path == [0] and conf[idx[0]] < loose_below[mi] and m.wide and m.ends > 1:
            # a chain of touching digits where one cut piece reads badly: read it all (doubtfully)
            # rather than leave out every digit of it; a pair too where the mark would be read
            # whole below the usual floor (`LINE_WIDE_PEN`)
            loose, loose_share = _best_path(m, conf[idx[0]:idx[0] + len(m.pieces)],
                                            best[idx[0]:idx[0] + len(m.pieces)], piece_min=0.0)
            picked = [idx[0] + i for i in loose]
            gm = _geometric_mean(conf[picked])
            if len(loose) >= (2 if below < loose_below[mi] else loose_pieces) and gm >= LOOSE_MEAN:
                idx, path, share = picked, loose, loose_share
                unsure += 1
        if path == [0] and conf[idx[0]] < below:
            not_digits += 1
            unread_boxes.append(m.pieces[0].box)
            wide_out += m.wide and m.ends > 1
            unread *= 1.0 - float(conf[idx[0]])
            continue
        raw *= float(np.prod(conf[idx])) * share
        _x, _y, bw, bh = m.pieces[0].box
        if path == [0] and m.wide and bw > WIDE_AS_TWO * bh:
            wide += 1  # as wide as two digits, read as one: two touching digits may hide in it
        digits.extend(_path_digits(m, path, idx, share, best, sure))
    if (lay.whole is not None and _covers(lay.whole.box, [m.pieces[0].box for m in lay.marks])
            and _lines_of_marks(lay, lay.whole.box) <= WHOLE_LINES
            and (_within(lay.whole.box, unread_boxes) if digits else len(unread_boxes)) >= max(1, len(digits))
            and conf[k] >= (0.9 if digits else NOT_A_DIGIT_BELOW) and conf[k] > raw * unread):
        # marks that are mostly no digit alone, which the model reads surely as one digit: a 6
        # or a 2 drawn in two strokes, a faint digit broken up by a noisy scan. Read so when it
        # is as wide as two digits, it may be two (a 7 run into a 2 on an underline read "2" `ok`).
        # Beside digits read, only the marks within its box count: printed letters before a
        # number ("ID: 13") are none of its parts, and "13" was read "3" `ok`. Where no mark
        # reads, the specks of a scan's dust may be all that was found of it
        _x, _y, ww, wh = lay.whole.box
        why = ["the marks read together as one digit are as wide as two"] if ww > WIDE_AS_TWO * wh else []
        why += [TINY_DOUBT] if lay.tiny else []
        if lay.left_out:
            # the single-digit reader left marks beside it that may be digits: a number under a
            # noisy scan's grain, its digits among hundreds of specks, read as its boldest digit
            why.append(f"{lay.left_out} mark(s) beside the digit that may be digits too")
        return Reading([Digit(lay.whole.box, 0, int(best[k]), float(sure[k]))], float(sure[k]), why, 1, float(conf[k]))
    if loose_pieces > 2 and wide_out and (not digits or (wide_out == 1 and not_digits == len(lay.rejected) + 1)):
        # nothing reads but wide marks, or the one mark of the file that does not read is wide:
        # two touching digits read doubtfully are worth a person's look, where an "x" beside a
        # "5" in an equation (whose other letters do not read either) is not
        return _assemble(lay, best, conf, sure, calibration, loose_pieces=2, paths=paths)
    if not_digits:
        doubts.append(f"{not_digits} mark(s) not read as digits")
    if text:
        doubts.append(f"{len({lay.marks[mi].line for mi in text})} line(s) that do not read as digits left out "
                      "(printed words?)")
    if lay.tiny:
        doubts.append(TINY_DOUBT)
    # a printer's line, not a pen's 1: thinner than the pen's strokes too (a 1 drawn with a paint
    # program's line tool is as straight, but as thick as its neighbours)
    pen = float(np.median([m.pieces[0].stroke for m in lay.marks])) if lay.bars else 0.0
    bars = [mi for mi in lay.bars if paths[mi][1] == [0] and int(best[paths[mi][0][0]]) == 1
            and lay.marks[mi].pieces[0].stroke < BAR_THIN * pen]
    if bars:
        doubts.append(f"{len(bars)} mark(s) as straight as a printed line read as 1")
    if lay.dense:
        # read where it was "no digit found", never `ok`: a bold digit filling the picture's
        # height passes for a shadow there, and was left out of a reading sure of the rest
        doubts.append("half the picture is ink: a bold digit may be left out")
    if thin:
        doubts.append(f"{len(thin)} mark(s) as thin as a printed line" + (" left out" if thin_out else " read as 1"))
    if _off_cells(digits, lay.cells):
        doubts.append("the digits do not fit the form's cells")
    if wide:
        doubts.append(f"{wide} mark(s) as wide as two digits read as one")
    if unsure:
        doubts.append(f"{unsure} mark(s) of touching digits read with a doubtful piece")
    if joined:
        doubts.append(f"{len(joined)} pair(s) of marks read as one digit")
    if lay.stacked:
        doubts.append(f"{len(lay.stacked)} part(s) over or inside another mark, as a symbol's are")
    if not digits and lay.tiny and lay.whole is not None:
        # a picture this small none of whose marks reads alone: read whole, as a single digit would be
        return Reading([Digit(lay.whole.box, 0, int(best[k]), float(sure[k]))], float(sure[k]), doubts, 1,
                       float(conf[k]))
    if not digits:
        return Reading([], 0.0, doubts, not_digits, raw)
    return Reading(_renumber(digits), calibration.of_reading([d.confidence for d in digits]), doubts,
                   len(digits) + not_digits, raw)


#: A mark as straight as a printed line (`segment._printed_bar`) read as 1 is doubted when its
#: stroke is thinner than this share of the file's marks' (median)
BAR_THIN = 0.7
#: A mark read whole as a 1 whose stroke is thinner than this share of the file's marks' (median),
#: where printed lines were taken out, is a line left standing (a box's side, a rule's end), not a
#: pen's stroke; without them, thinner than the second share (a faint margin's piece: multi-dev's
#: thinnest real 1 is 0.3 as thick as its neighbours, the next 0.67)
STROKE_THIN = 0.45
STROKE_THIN_PLAIN = 0.25
#: Where printed lines were taken out, two marks read whole as 1, each thinner than this share,
#: one under the other end to end (the gap between them under `LINE_GAP` of the marks' typical
#: height, their centres within `LINE_SHIFT` of it across) are pieces of one line left standing
STROKE_LINE = 0.6
LINE_GAP = 0.5
LINE_SHIFT = 0.2
#: Where printed lines were taken out, a mark read whole as 1 whose stroke is under this many
#: working pixels is a line's edge left standing, whatever the other marks (three at least)
HAIRLINE = 1.5
#: The pen's stroke is measured on the marks not read whole as 1 where there are this many
PEN_MARKS = 3


def _thin_ones(lay: Layout, paths: list[MarkPath], best: np.ndarray) -> set[int]:
    """The marks (their numbers) read whole as a 1 that are drawn far thinner than the file's other
    marks: one pen wrote the number, a printer drew the form's lines, and a side or a rule's end
    left standing reads as a sure 1. Where printed lines were taken out, such a mark is not read
    (the end of a row of cells left standing was read "97381" for 9738: 20 readings of 7,000
    rendered numbers mended, 5 real thin 1s lost, all in review either way), on a page of digits
    too: squared paper photographed from a little in front has its upright lines fanning out, and
    what is left of them near the sheet's sides was read as 1s (413 digits read for 360; our scanned
    page sets read the same either way). Where none was, only a far thinner one counts, and it is
    read: a 1 drawn thinner than the rest is a quick stroke, and real files have them; on a page
    of sure digits (`PAGE_MARKS`) it is left out all the same (the caller's choice): a faint grid's
    pieces that no look took for a grid were read as 1s under a page of 7s. The pen is
    measured on the marks not read as 1 where there are `PEN_MARKS` of them: a photographed squared
    page's upright lines, left in pieces where they lean, outnumbered its digits and were taken
    for the pen (486 digits read for 140). Where printed lines were taken out, a 1 a pixel thick
    (`HAIRLINE`) is a line's edge whatever the other marks: a tight crop of a bold 4 laid on a
    grey table, its crop's sides taken for a box, left three such slivers and no other mark
    ("111", `ok`). Under three marks nothing is doubted here: a thin 1 alone in a field is read
    (taken as an edge there too, two thin 1s read right, in review, were lost)."""
    if len(lay.marks) < 3:
        return set()
    ones = [mi for mi, (idx, path, _s) in enumerate(paths) if path == [0] and int(best[idx[0]]) == 1]
    read_one = set(ones)
    others = [m.pieces[0].stroke for mi, m in enumerate(lay.marks) if mi not in read_one]
    pen = float(np.median(others if len(others) >= PEN_MARKS else [m.pieces[0].stroke for m in lay.marks]))
    bar = max(STROKE_THIN * pen, HAIRLINE) if lay.lined else STROKE_THIN_PLAIN * pen
    thin = {mi for mi in ones if lay.marks[mi].pieces[0].stroke < bar}
    if lay.lined:
        thin |= _in_line([mi for mi in ones if lay.marks[mi].pieces[0].stroke < STROKE_LINE * pen], lay)
    return thin


def _in_line(ones: list[int], lay: Layout) -> set[int]:
    """Of these marks (read as thin 1s), those one under another end to end: a line broken into
    pieces where the lines across it were taken out. A column of 1s written on the page stands a
    row apart; squared paper photographed from a little in front had what was left of its
    fanning upright lines there read as 1s."""
    if len(ones) < 2:
        return set()
    tall = float(np.median([m.pieces[0].box[3] for m in lay.marks]))
    box = np.array([lay.marks[mi].pieces[0].box for mi in ones], np.float64)
    top, bottom, mid = box[:, 1], box[:, 1] + box[:, 3], box[:, 0] + box[:, 2] / 2
    gap = np.maximum(top[:, None], top[None, :]) - np.minimum(bottom[:, None], bottom[None, :])
    near = (gap < LINE_GAP * tall) & (np.abs(mid[:, None] - mid[None, :]) < LINE_SHIFT * tall)
    np.fill_diagonal(near, False)
    return {ones[k] for k in np.flatnonzero(near.any(axis=1)).tolist()}


#: Two neighbouring cells narrower than this share of their row's (median) whose widths add up to
#: one cell's within this share are one cell split by a 1 taken for a side (`_split_cell`)
SPLIT_NARROW = 0.8
SPLIT_SUM = 0.3
#: More cells than this are a grid (squared paper), not a form's row of boxes.
CELLS_MOST = 40


def _off_cells(digits: list[Digit], cells: list[Box]) -> bool:
    """A form's cells hold a digit each: a cell holding two digits read (a side left standing
    read as a 1 beside one, a digit cut in two), or an empty cell between cells with digits in
    its row (a digit lost, a 1 taken for a side), says the reading went wrong. A row's first or
    last cells may be empty (a number written to the right of its field). A row's end cells
    reach a fifth of a cell beyond it: a side left standing there is no digit either."""
    if not 2 <= len(cells) <= CELLS_MOST:
        return False
    centres = [(x + w / 2, y + h / 2) for x, y, w, h in (d.box for d in digits)]
    rows: list[list[Box]] = []  # cells one beside another
    for c in sorted(cells, key=lambda c: c[1] + c[3] / 2):
        last = rows[-1][-1] if rows else None
        if last is not None and last[1] <= c[1] + c[3] / 2 < last[1] + last[3]:
            rows[-1].append(c)
        else:
            rows.append([c])
    for row in rows:
        row.sort()
        if _split_cell(row):
            return True
        held = []
        for k, (x, y, w, h) in enumerate(row):
            x0 = x - (0.2 * w if k == 0 else 0.0)
            x1 = x + w + (0.2 * w if k == len(row) - 1 else 0.0)
            held.append(sum(x0 <= cx < x1 and y <= cy < y + h for cx, cy in centres))
        if max(held) >= 2:
            return True
        filled = [n > 0 for n in held]
        if True in filled and False in filled[filled.index(True):len(filled) - filled[::-1].index(True)]:
            return True
    return False


def _split_cell(row: list[Box]) -> bool:
    """Two neighbouring cells of a row, each narrower than the row's cells, that make one of them
    together: a 1 drawn as straight and tall as a side was taken out as one. Each pair is held
    against the row's other cells (in a field of two cells, one split, the two halves were the
    row's median themselves)."""
    if len(row) < 3:
        return False
    widths = [w for _x, _y, w, _h in row]
    for k, (a, b) in enumerate(pairwise(widths)):
        med = float(np.median(widths[:k] + widths[k + 2:]))
        if a < SPLIT_NARROW * med and b < SPLIT_NARROW * med and abs(a + b - med) <= SPLIT_SUM * med:
            return True
    return False


#: A digit in pieces lies on one or two lines of marks; a column of marks on more (a number
#: photographed sideways, its digits one above another) read whole is a tall thin "1".
WHOLE_LINES = 2


def _by_line(lay: Layout) -> dict[int, list[int]]:
    """The indices of the layout's marks, line by line."""
    lines: dict[int, list[int]] = {}
    for mi, m in enumerate(lay.marks):
        lines.setdefault(m.line, []).append(mi)
    return lines


def _geometric_mean(scores: np.ndarray) -> float:
    """How sure a set of scores is together: one near 0 pulls it down as a product would."""
    return float(np.exp(np.mean(np.log(np.maximum(scores, 1e-9)))))


def _text_lines(lay: Layout, paths: list[MarkPath], conf: np.ndarray, sure_marks: list[bool]) -> set[int]:
    """The marks of lines that read as no line of digits: `TEXT_MARKS` marks or more, under
    `TEXT_SURE` of them sure digits and their scores' geometric mean under `TEXT_MEAN`. On a page
    of digits such a line is printed words (a form's title, its instructions, "Name: ____"), whose
    l, i and o read as sure 1s and 0s among letters read as nothing sure (23 to 94 digits more on
    a 600-dpi page of 600). The caller leaves them out only on a page: in a number or an equation a line
    is a few marks, and its letters are read and doubted one by one."""
    out: set[int] = set()
    for marks in _by_line(lay).values():
        if len(marks) < TEXT_MARKS or sum(sure_marks[mi] for mi in marks) >= TEXT_SURE * len(marks):
            continue
        if _geometric_mean(np.array([conf[paths[mi][0]].min() for mi in marks])) < TEXT_MEAN:
            out.update(marks)
    return out


def _lines_of_marks(lay: Layout, whole: Box) -> int:
    """The lines that hold a mark as wide as a good part of the whole's box (a noisy scan's
    specks, each on a line of its own, do not count; a sideways number's digits do)."""
    _x, _y, ww, wh = whole
    return len({m.line for m in lay.marks if m.pieces[0].box[2] >= 0.4 * ww and m.pieces[0].box[3] >= 0.03 * wh})


def _line_floors(lay: Layout, sure_marks: list[bool], floor: float,
                 wholes: list[int]) -> tuple[list[float], list[float]]:
    """Each mark's score below which it is left out as no digit: `floor`, but the page's floor
    for a mark that is one digit and as tall as the sure digits of its line (`LINE_DIGIT_HEIGHT`),
    when nearly all its line's other marks are sure digits (`LINE_SURE`, two at least): a bold
    short 1 or a 2 drawn like a Z among them is a badly drawn digit, read (doubtfully, to review)
    rather than left out. An equation's letters stand among as many operators and letters: not
    there. One digit: a mark that cannot be cut (no wider than a digit), or one wide enough to be
    cut but no wider than the digits are tall (`LINE_ONE_WIDE`) that stands in one of a row of
    form cells or is one straight stroke (a 1 leaning far: a "+" is not). On a page (`floor` the
    page's), every mark is read down to it but those under `PAGE_DIGIT_HEIGHT` of its sure digits'
    typical height: they keep the usual floor. Also a wide mark read whole (`wholes`: each mark's
    digit so) as another digit than 1, drawn with the line's pen (`LINE_WIDE_PEN`). With the floors,
    the score below which each mark's chain of cuts is read loosely: the usual floor for the last
    kind."""
    floors = [floor] * len(lay.marks)
    loose = [floor] * len(lay.marks)
    if floor <= PAGE_FLOOR:
        # a page's floor is a digit-sized mark's: a flat piece of a grid's line is no digit
        sure = [m.pieces[0].box[3] for m, s in zip(lay.marks, sure_marks, strict=True) if s]
        if sure:
            low = PAGE_DIGIT_HEIGHT * float(np.median(sure))
            floors = [NOT_A_DIGIT_BELOW if m.pieces[0].box[3] < low else floor for m in lay.marks]
        return floors, floors
    for marks in _by_line(lay).values():
        # an exponent is no digit of the line's size: "x² - 5" has one sure digit beside its x
        sure = [mi for mi in marks if sure_marks[mi] and not lay.marks[mi].raised]
        if len(sure) < max(2, LINE_SURE * (len(marks) - 1)):
            continue
        tall = float(np.median([lay.marks[mi].pieces[0].box[3] for mi in sure]))
        pen = float(np.median([lay.marks[mi].pieces[0].stroke for mi in sure]))
        for mi in marks:
            m = lay.marks[mi]
            _x, _y, bw, bh = m.pieces[0].box
            if bh < LINE_DIGIT_HEIGHT * tall:
                continue
            if not m.wide or (bw <= LINE_ONE_WIDE * tall and (
                    _in_a_cell(m.pieces[0].box, lay.cells) or _one_stroke(m.pieces[0].x, LINE_ONE_STROKE))):
                floors[mi] = loose[mi] = PAGE_FLOOR
            elif bw <= LINE_ONE_WIDE * tall and wholes[mi] != 1 and m.pieces[0].stroke >= LINE_WIDE_PEN * pen:
                floors[mi] = PAGE_FLOOR
    return floors, loose


def _in_a_cell(box: Box, cells: list[Box]) -> bool:
    """The mark stands within one of a row of a form's cells (its middle in it, no wider than it):
    one digit. (A box round a whole number is one cell, holding them all.)"""
    if len(cells) < 2:
        return False
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    return any(c[0] <= cx < c[0] + c[2] and c[1] <= cy < c[1] + c[3] and w <= c[2] for c in cells)


def _brackets(lay: Layout, paths: list[MarkPath], best: np.ndarray) -> set[int]:
    """The marks read as 1s that are a pair of brackets round digits (`BRACKET_BOW`): a phone
    number's "(555)" was read "15551", and `ok` where the model was sure of both 1s."""
    out: set[int] = set()
    for marks in _by_line(lay).values():
        ones = [mi for mi in marks if paths[mi][1] == [0] and int(best[paths[mi][0][0]]) == 1
                and not lay.marks[mi].wide and lay.marks[mi].pieces[0].box[2] <= BRACKET_NARROW * lay.marks[mi].pieces[0].box[3]]
        bows = {mi: _bow(lay.marks[mi].pieces[0].x) for mi in ones}
        for a in ones:
            if a in out or bows[a] < BRACKET_BOW:
                continue
            for b in ones:
                if b <= a or b - a - 1 > BRACKET_MOST or bows[b] > -BRACKET_BOW:
                    continue
                inside = [lay.marks[mi].pieces[0].box[3] for mi in marks if a < mi < b]
                tall = float(np.median(inside)) if inside else 0.0
                if inside and min(lay.marks[a].pieces[0].box[3], lay.marks[b].pieces[0].box[3]) >= BRACKET_TALL * tall:
                    out |= {a, b}
                    break
    return out


def _bow(x: np.ndarray) -> float:
    """How far a stroke bows out to the left (positive: a "(") or right (negative: a ")") in its
    28x28 map: the ink's mean column in the top and bottom fifths of its rows against the middle
    fifth, over its height."""
    weight = x.sum(axis=1)
    rows = np.flatnonzero(weight > 0.05 * weight.max()) if weight.max() > 0 else np.zeros(0, np.int64)
    if len(rows) < 5:
        return 0.0
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    q = max(1, (y1 - y0) // 5)
    cols = np.arange(x.shape[1], dtype=np.float64)

    def across(a: int, b: int) -> float:
        ink = x[a:b].sum(axis=0)
        return float((ink * cols).sum() / max(float(ink.sum()), 1e-9))

    return ((across(y0, y0 + q) + across(y1 - q, y1)) / 2 - across(y0 + 2 * q, y1 - 2 * q)) / (y1 - y0)


def _one_stroke(x: np.ndarray, ratio: float) -> bool:
    """The mark's ink lies along one straight line: the long axis of its spread (the second
    central moments of its 28x28 map) at least `ratio` times the short one (in variance)."""
    m = cv2.moments(x.astype(np.float32))
    if m["m00"] <= 0:
        return False
    half, dev = (m["mu20"] + m["mu02"]) / 2, (((m["mu20"] - m["mu02"]) / 2) ** 2 + m["mu11"] ** 2) ** 0.5
    return bool(half + dev >= ratio * max(half - dev, 1e-9))


def _joined(lay: Layout, paths: list[MarkPath], conf: np.ndarray, k: int) -> dict[int, tuple[int, Piece]]:
    """The neighbouring marks read as one digit (`Layout.joins`): the first mark's number -> the
    joined piece's score index and the piece. Two marks each read whole are one digit when the
    model is sure of them together (`JOIN_SURE`) and surer than of the two apart with a cut's prior
    between them (a 6 whose loop stands off its stem read "10")."""
    j0 = k + (lay.whole is not None) + (len(lay.split.pieces) if lay.split is not None else 0)
    out: dict[int, tuple[int, Piece]] = {}
    for n, (a, piece) in enumerate(lay.joins):
        ji = j0 + n
        (ia, pa, _sa), (ib, pb, _sb) = paths[a], paths[a + 1]
        if pa != [0] or pb != [0] or a - 1 in out:
            continue
        if conf[ji] >= JOIN_SURE and conf[ji] > conf[ia[0]] * conf[ib[0]] * CUT_PRIOR:
            out[a] = (ji, piece)
    return out


def _split_reading(m: Mark, best: np.ndarray, conf: np.ndarray, sure: np.ndarray,
                   calibration: Calibration) -> Reading | None:
    """A one-digit file whose digit reads badly, read as touching digits when every piece of the
    best cut reads surely (at least `SPLIT_SINGLE_SURE`); to review whatever its confidence."""
    path, share = _best_path(m, conf, best)
    if len(path) < 2 or float(conf[path].min()) < SPLIT_SINGLE_SURE:
        return None
    digits = _path_digits(m, path, path, share, best, sure)
    return Reading(digits, calibration.of_reading([d.confidence for d in digits]),
                   [f"one mark read as {len(digits)} touching digits"], len(digits), float(np.prod(conf[path])) * share)


def _path_digits(m: Mark, path: list[int], idx: list[int], share: float, best: np.ndarray,
                 sure: np.ndarray) -> list[Digit]:
    """The digits of a mark read through `path` (its pieces; `idx` their scores' indices): each
    piece's confidence lowered by how much other ways to read the mark compete (a B cut into 1
    and 3 is sure of each piece, not of being cut)."""
    scale = share ** (1.0 / len(path))
    return [Digit(m.pieces[i].box, m.line, int(best[j]), float(sure[j]) * scale) for i, j in zip(path, idx, strict=True)]


def _within(box: Box, boxes: list[Box]) -> int:
    """How many of `boxes` have their centre in `box`."""
    x, y, w, h = box
    return sum(x <= bx + bw / 2 <= x + w and y <= by + bh / 2 <= y + h for bx, by, bw, bh in boxes)


def _covers(box: Box, boxes: list[Box]) -> bool:
    """`box` holds the centre of every one of `boxes` of half its size or more: those marks are
    parts of what it frames (specks of a noisy scan do not count)."""
    size = max(box[2], box[3])
    big = [b for b in boxes if max(b[2], b[3]) >= 0.5 * size]
    return _within(box, big) == len(big)


#: How wide each digit is drawn: the 99th percentile of its ink box's width over height in MNIST's
#: training split (`tests/test_reading.py` measures it again). A piece read as a digit wider than
#: that holds more than the digit: a 1 pressed against a 9 read with it as one sure 9.
WIDEST = (1.43, 0.95, 1.67, 1.25, 1.25, 1.67, 1.18, 1.25, 1.25, 1.05)
#: ... and its score falls by e for each `WIDE_FALL` of width over height beyond it
WIDE_FALL = 0.2


def _plausible(m: Mark, conf: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The pieces' scores as readings of the mark: each lowered where the piece is wider than its
    digit is ever drawn (`WIDEST`). Only which cut wins uses them: how surely it wins counts
    every rival reading as the model scores it, and whether a mark is a digit at all is asked of
    its own score. (Counted lowered, rivals of a right cut weighed less and 54 of 1,000 touching
    numbers left review, all read right; but a number whose other mark was read wrong was then
    `ok`: a "61" read as one sure 6 beside a "69" that had kept the file in review.)"""
    aspect = np.array([p.box[2] / max(1, p.box[3]) for p in m.pieces])
    over = np.maximum(aspect - np.take(WIDEST, labels), 0.0)
    return conf * np.exp(-over / WIDE_FALL)


def _best_path(m: Mark, conf: np.ndarray, labels: np.ndarray,
               piece_min: float = SPLIT_PIECE_MIN) -> tuple[list[int], float]:
    """The pieces (indices into `m.pieces`) that read the mark: the whole mark, or the path of
    pieces from cut 0 to cut `ends` with the highest product of confidences (each lowered where
    its piece is wider than its digit is drawn: `_plausible`), every piece a likely digit
    (`piece_min`). With it, its share of the ways to read the mark: of the whole
    and every path of likely digits, those that give the same digits (`labels`: each piece's)
    count for it. Cuts a few pixels apart that read alike are one reading, not rivals, and a
    path through pieces that are no digit is no reading (counted, they had made a right cut's
    digits 0.3-0.5 sure where they were right 97% of the time)."""
    if len(m.pieces) == 1:
        return [0], 1.0
    fit = _plausible(m, conf, labels)  # which cut wins; the share below counts every rival as it reads
    logc = np.log(np.maximum(fit * CUT_PRIOR, 1e-9))  # every piece after the first pays for its cut (undone below)
    into: dict[int, list[int]] = {}
    for k, (_i, j) in enumerate(m.spans):
        if k:
            into.setdefault(j, []).append(k)
    best = np.full(m.ends + 1, -np.inf)
    back = [-1] * (m.ends + 1)
    best[0] = 0.0
    for j in range(1, m.ends + 1):
        for k in into.get(j, []):
            i = m.spans[k][0]
            if fit[k] >= piece_min and best[i] + logc[k] > best[j]:
                best[j], back[j] = best[i] + logc[k], k
    likely = np.where(conf >= piece_min, conf * CUT_PRIOR, 0.0)
    z = _paths_reading(m, likely, into) / CUT_PRIOR + conf[0]
    split = best[m.ends] - np.log(CUT_PRIOR)
    # a loose reading (piece_min 0) is asked for only when the whole mark is no digit
    whole = np.log(max(float(fit[0]), 1e-9)) if piece_min > 0 else -np.inf
    if back[m.ends] < 0 or split <= whole:
        return [0], float(conf[0] / z) if z > 0 else 1.0
    path, j = [], m.ends
    while j > 0:
        k = back[j]
        path.append(k)
        j = m.spans[k][0]
    path.reverse()
    same = _paths_reading(m, likely, into, labels, [int(labels[k]) for k in path])
    return path, min(1.0, same / CUT_PRIOR / z)


def _paths_reading(m: Mark, weights: np.ndarray, into: dict[int, list[int]], labels: np.ndarray | None = None,
                   want: Sequence[int] = ()) -> float:
    """The sum over the mark's cut paths (from cut 0 to its last) of the products of their pieces'
    `weights`: all paths, or with `labels` (each piece's digit) those that read the digits `want`
    (forward, over cuts and digits matched)."""
    n = len(want) if labels is not None else 0
    mass = np.zeros((m.ends + 1, n + 1))
    mass[0, 0] = 1.0
    for j in range(1, m.ends + 1):
        for k in into.get(j, []):
            i = m.spans[k][0]
            if labels is None:
                mass[j, 0] += mass[i, 0] * weights[k]
                continue
            for t in range(1, n + 1):
                if want[t - 1] == labels[k]:
                    mass[j, t] += mass[i, t - 1] * weights[k]
    return float(mass[m.ends, n])


def _renumber(digits: list[Digit]) -> list[Digit]:
    """Lines numbered 0, 1, ... in reading order, counting only lines that kept a digit."""
    out: list[Digit] = []
    seen: dict[int, int] = {}
    for d in digits:
        line = seen.setdefault(d.line, len(seen))
        out.append(Digit(d.box, line, d.digit, d.confidence))
    return out


def dumps(r: Reading | None) -> str:
    """A reading as JSON text (for carrying it through Ray Data's columns)."""
    if r is None:
        return ""
    return json.dumps({"c": r.confidence, "d": [[*d.box, d.line, d.digit, d.confidence] for d in r.digits],
                       "why": r.doubts, "m": r.marks, "r": r.raw})


def loads(text: str) -> Reading | None:
    if not text:
        return None
    o = json.loads(text)
    digits = [Digit((int(x), int(y), int(w), int(h)), int(ln), int(dg), float(c)) for x, y, w, h, ln, dg, c in o["d"]]
    return Reading(digits, float(o["c"]), list(o["why"]), int(o["m"]), float(o["r"]))
