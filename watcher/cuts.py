"""Where a mark as wide as touching digits may be cut, and the pieces between the cuts.

Pure geometry (a mark's pixels in, columns and pixel masks out): `segment` frames each piece,
and which cuts are right is decided later by the classifier's confidence (`reading`): this
module offers choices and never guesses. Candidates are the valleys of the mark's column
profile and even places for the number of digits its width suggests; a cut that crosses ink is
also offered bent along the least ink down the mark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A piece cut from a mark is at least this share of the mark's height.
PIECE_HEIGHT = 0.6


@dataclass
class Part:
    """The ink between two cuts: `span` the cuts' numbers, columns `a`..`b` of the mark, `sel` its
    pixels there and `inside` the pixels between the two (bent) cuts."""

    span: tuple[int, int]
    a: int
    b: int
    sel: np.ndarray
    inside: np.ndarray


def parts(sel: np.ndarray, height: float, bent: bool = True) -> tuple[int, list[Part]]:
    """A wide mark's parts between candidate cuts (the whole left out): (the last cut's number,
    the parts). A part is a digit's width (0.12-1.3 digit heights between its cuts, on average),
    holds 3% of the mark's ink at least and stands `PIECE_HEIGHT` of the mark's height."""
    cut = paths(sel, candidates(sel, height), height, bent)
    ends = len(cut) - 1
    cols = np.arange(sel.shape[1])
    out = []
    total = np.count_nonzero(sel)
    for i in range(ends):
        for j in range(i + 1, ends + 1):
            if (i, j) == (0, ends) or not 0.12 * height <= float(np.mean(cut[j] - cut[i])) <= 1.3 * height:
                continue
            a, b = int(cut[i].min()), int(cut[j].max())
            inside = (cols[a:b] >= cut[i][:, None]) & (cols[a:b] < cut[j][:, None])
            part = sel[:, a:b] & inside
            if np.count_nonzero(part) < 0.03 * total:
                continue
            rows = np.flatnonzero(part.any(1))
            if rows[-1] - rows[0] + 1 < PIECE_HEIGHT * sel.shape[0]:
                continue  # the digits of a number are about as tall as each other: a low bit is no digit
            out.append(Part((i, j), a, b, part, inside))
    return ends, out


#: A cut that crosses ink is offered bent too: down the mark through as little ink as it can, at
#: most this many digit heights either side of its column, each step aside costing `CUT_STEP`
#: of an inked pixel; kept when it crosses at most `CUT_BENT` of the straight cut's ink
CUT_REACH = 0.16
CUT_STEP = 0.05
CUT_BENT = 1 / 3


def paths(sel: np.ndarray, cuts: list[int], height: float, bent: bool = True) -> np.ndarray:
    """The cuts as the column they pass at each row, (cuts, rows), in order of their mean column:
    each candidate straight, and where it crosses ink also bent along the path down the mark
    that crosses the least (one column aside at most per row). Two digits leaning into each
    other or overlapping a little part along the gap between them, where a straight cut takes a
    stroke of each (numbers-touching 87.8 -> 88.3%, numbers-photo 91.1 -> 91.5%); the reader
    picks between the two as between any cuts. Not `bent`: the straight cuts alone."""
    h, w = sel.shape
    straight = np.repeat(np.array(cuts, np.int64)[:, None], h, 1)
    crossed = sel[:, cuts[1:-1]].sum(0)
    inner = np.array(cuts[1:-1], np.int64)[crossed > 0]
    if not len(inner) or not bent:
        return straight
    reach = max(1, int(CUT_REACH * height))
    offs = np.arange(-reach, reach + 1)
    x = np.clip(inner[:, None] + offs[None, :], 1, w - 1)  # (cuts, band)
    cost = sel[:, x].astype(np.float32) + np.float32(0.1 * CUT_STEP) * np.abs(offs)  # drifting far costs a little
    acc = cost[0].copy()
    back = np.zeros((h, *x.shape), np.int8)  # 0: from straight above, 1: from the left, 2: from the right
    pad = np.full((x.shape[0], x.shape[1] + 2), np.float32(1e9))
    for y in range(1, h):
        pad[:, 1:-1] = acc
        left, right = pad[:, :-2] + CUT_STEP, pad[:, 2:] + CUT_STEP
        move = np.where(left < acc, 1, 0).astype(np.int8)
        acc = np.minimum(acc, left)
        move[right < acc] = 2
        acc = np.minimum(acc, right) + cost[y]
        back[y] = move
    rows, k = np.arange(len(inner)), np.argmin(acc, 1)
    paths = np.empty((len(inner), h), np.int64)
    for y in range(h - 1, -1, -1):
        paths[:, y] = x[rows, k]
        m = back[y, rows, k]
        k = k - (m == 1) + (m == 2)
    ink = sel[np.arange(h)[None, :], paths].sum(1)
    out = np.concatenate([straight, paths[ink <= CUT_BENT * crossed[crossed > 0]]])
    return out[np.argsort(out.mean(1), kind="stable")]


def candidates(sel: np.ndarray, height: float) -> list[int]:
    """Columns where touching digits may part: the valleys of the ink's column profile, and
    the even places for the number of digits the width suggests (digits that overlap leave
    no valley); at least 12% of a digit apart, with both ends."""
    w = sel.shape[1]
    col = np.convolve(sel.sum(0).astype(np.float64), [1, 2, 3, 2, 1], "same")
    gap = max(2, int(0.12 * height))
    inner = np.arange(1, w - 1)
    minima = inner[(col[inner] <= col[inner - 1]) & (col[inner] <= col[inner + 1])]
    k = max(2, round(w / (0.62 * height)))
    even = [round(i * w / n) for n in (k, k + 1, k - 1) if n >= 2 for i in range(1, n)]
    ranked = sorted(map(int, minima), key=lambda c: col[c])[: 3 * k] + even
    picked: list[int] = []
    for c in ranked:
        if gap <= c <= w - gap and all(abs(c - p) >= gap for p in picked):
            picked.append(c)
    return [0, *sorted(picked), w]
