"""How far off level the writing lies, and turning it level: a line written or scanned a few
degrees aslant has its rows of ink blurred together, and the slope that makes its row profile
sharpest is the writing's. Pure functions (image in, arrays out), used by `segment` (a number
or a form a few degrees off) and `orientation` (a page laid crooked, up to 20 degrees)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: Slopes tried when deskewing (degrees): a line written or scanned a few degrees off.
SKEW_STEPS = np.arange(-6.0, 6.01, 0.5)


def skew(mask: np.ndarray) -> float:
    """The rotation (degrees) that makes the writing's lines and the form's rules horizontal:
    the one whose row profile is sharpest (sum of squared steps between rows), on a copy at
    most 400 pixels wide; 0 when level within 1 degree."""
    h, w = mask.shape
    f = min(1.0, 400 / max(h, w))
    m = cv2.resize(mask.astype(np.float32), (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    best, best_score, level = 0.0, -1.0, 0.0
    for a in SKEW_STEPS:
        score = sharpness(row_profile(m, float(a)))
        if a == 0.0:
            level = score
        if score > best_score:
            best, best_score = float(a), score
    return best if abs(best) >= 1.0 and best_score > 1.05 * level else 0.0


def row_profile(mask: np.ndarray, angle: float) -> np.ndarray:
    """The ink in each row of a small mask turned by `angle` about its centre (on its own canvas)."""
    h, w = mask.shape
    return np.asarray(cv2.warpAffine(mask, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h)).sum(1))


def sharpness(rows: np.ndarray) -> float:
    """How sharply a row profile steps between lines and the paper between them (the sum of its
    squared steps): highest where the lines lie level."""
    return float(np.square(np.diff(rows)).sum())


def rotate(ink: np.ndarray, angle: float, border: Sequence[float] = (0.0,)) -> tuple[np.ndarray, np.ndarray]:
    """The ink map (or any picture, the corners `border`'s colour) rotated by `angle` on a canvas
    that keeps every corner, and the affine map from the rotated picture's pixels back to the
    original's."""
    h, w = ink.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c + 1), int(h * c + w * s + 1)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    value = tuple(border) + (0.0,) * (4 - len(border))
    out = cv2.warpAffine(ink, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=value)
    return out, cv2.invertAffineTransform(m)
