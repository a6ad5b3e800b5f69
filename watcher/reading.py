"""From a layout's pieces and the model's probabilities to a file's reading: its digits, in order,
and the calibrated probability that all of it is right.

For a mark with several ways to split, the way whose pieces the model is surest of (geometric mean
of their confidences) is taken: two touching digits read as one mark get a low confidence (the
model was taught that such pairs are no digit), the right split a high one.

A mark the model finds no likely digit in (`NOT_A_DIGIT_BELOW`) is a letter, an operator or a
scribble: it is left out of the text and the file goes to review. A file that is one digit is
read exactly as the single-digit reader always did, whatever its confidence.

The file's confidence is the product of its digits' confidences: each is calibrated, and the
chance that all are right is their product when their errors are independent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from watcher.segment import Box, Layout

Predict = Callable[[np.ndarray], np.ndarray]

#: Below this confidence a mark in a file of several is taken for something that is not a digit.
NOT_A_DIGIT_BELOW = 0.5


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


def read(layouts: Sequence[Layout | None], predict: Predict) -> list[Reading | None]:
    """Read every layout with one model call."""
    pieces = [p for lay in layouts if lay is not None for p in lay.pieces()]
    if not pieces:
        return [None] * len(layouts)
    probs = predict(np.stack([p.x for p in pieces]))
    best, conf = probs.argmax(1), probs.max(1)
    out: list[Reading | None] = []
    k = 0
    for lay in layouts:
        if lay is None:
            out.append(None)
            continue
        n = sum(len(c) for m in lay.marks for c in m.choices)
        out.append(_assemble(lay, best[k:k + n], conf[k:k + n]))
        k += n
    return out


def _assemble(lay: Layout, best: np.ndarray, conf: np.ndarray) -> Reading:
    if lay.single:
        p = lay.marks[0].choices[0][0]
        return Reading([Digit(p.box, 0, int(best[0]), float(conf[0]))], float(conf[0]))
    digits: list[Digit] = []
    doubts: list[str] = []
    not_digits = len(lay.rejected)
    k = 0
    for m in lay.marks:
        spans = []
        for c in m.choices:
            spans.append((k, k + len(c)))
            k += len(c)
        logs = [np.log(np.maximum(conf[a:b], 1e-6)) for a, b in spans]
        # a split counts only when every piece is a likely digit
        valid = [k == 0 or bool((conf[a:b] >= NOT_A_DIGIT_BELOW).all()) for k, (a, b) in enumerate(spans)]
        pick = int(np.argmax([float(v.mean()) if ok else -np.inf for v, ok in zip(logs, valid, strict=True)]))
        (a, b), chosen = spans[pick], m.choices[pick]
        if len(chosen) == 1 and conf[a] < NOT_A_DIGIT_BELOW:
            not_digits += 1
            continue
        # how sure the split itself is: its pieces' joint confidence against every other way
        # to read the mark (a B cut into 1 and 3 is sure of each piece, not of being cut)
        joint = np.exp([float(v.sum()) for v in logs])
        share = float(joint[pick] / joint.sum()) if len(spans) > 1 else 1.0
        cs = conf[a:b] * share ** (1.0 / len(chosen))
        digits.extend(Digit(p.box, m.line, int(d), float(c))
                      for p, d, c in zip(chosen, best[a:b], cs, strict=True))
    if not_digits:
        doubts.append(f"{not_digits} mark(s) not read as digits")
    confidence = float(np.prod([d.confidence for d in digits])) if digits else 0.0
    return Reading(_renumber(digits), confidence, doubts, len(digits) + not_digits)


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
                       "why": r.doubts, "m": r.marks})


def loads(text: str) -> Reading | None:
    if not text:
        return None
    o = json.loads(text)
    digits = [Digit((int(x), int(y), int(w), int(h)), int(ln), int(dg), float(c)) for x, y, w, h, ln, dg, c in o["d"]]
    return Reading(digits, float(o["c"]), list(o["why"]), int(o["m"]))
