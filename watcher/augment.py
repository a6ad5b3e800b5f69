"""Render MNIST training digits as the pictures users really drop, for training only.

Three looks, each random in every parameter that varies in the field:
- scan/photo: dark ink on off-white paper somewhere on a larger sheet, coloured pens, uneven
  light, sensor noise, blur, dust, a scanner's edge shadow, sometimes a box drawn round the
  digit, JPEG artefacts, sometimes light-on-dark;
- paint: the 1-3 pixel pencil lines of a paint program, any canvas size from tiny to large,
  sometimes with the strokes only in the alpha channel;
- brush/marker: bold strokes in any colour.
Every rendered picture then goes through the same `normalise` the daemon uses, so the model
learns on exactly what it will be served. Nothing here is used at serving time.
"""

from __future__ import annotations

import cv2
import numpy as np


def _glyph(digit: np.ndarray, size: int, rng: np.random.Generator, weight: float) -> np.ndarray:
    """Upscale a 28x28 MNIST digit (white on black) to `size` px and change its stroke weight
    (weight < 0 thins, > 0 thickens, in units of the upscaled stroke)."""
    g = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC)
    k = int(abs(weight) * size / 28)
    if k >= 1:
        se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
        g = cv2.dilate(g, se) if weight > 0 else cv2.erode(g, se)
    angle = rng.uniform(-15, 15)
    shear = rng.uniform(-0.15, 0.15)
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    m[0, 1] += shear
    m[0, 2] -= shear * size / 2
    return cv2.warpAffine(g, m, (size, size))


def _place(glyph: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    s = glyph.shape[0]
    hh, ww = (int(s * rng.uniform(1.0, spread)) for _ in range(2))
    canvas = np.zeros((hh, ww), np.float32)
    y, x = int(rng.integers(0, hh - s + 1)), int(rng.integers(0, ww - s + 1))
    canvas[y:y + s, x:x + s] = glyph.astype(np.float32) / 255.0
    return canvas


def render_scan(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(30, 240))
    ink = _place(_glyph(digit, size, rng, rng.uniform(-2.0, 3.0)), rng, 2.5)
    hh, ww = ink.shape
    if rng.random() < 0.2:  # a box drawn round the digit
        m = int(rng.integers(1, max(2, min(hh, ww) // 12)))
        t = int(rng.integers(1, 4))
        cv2.rectangle(ink, (m, m), (ww - 1 - m, hh - 1 - m), float(rng.uniform(0.5, 1.0)), t)
    paper = rng.uniform(0.75, 1.0) * np.array([rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.0), 1.0], np.float32)
    r = rng.random()
    if r < 0.25:
        pen = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.35), rng.uniform(0.0, 0.2)], np.float32)
    elif r < 0.35:
        pen = rng.uniform(0.0, 0.5, 3).astype(np.float32)  # red, green, any colour
    else:
        pen = np.full(3, rng.uniform(0.0, 0.45), np.float32)
    strength = rng.uniform(0.6, 1.0)
    img = paper * (1 - strength * ink[..., None]) + pen * strength * ink[..., None]
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
    light = 1.0 - rng.uniform(0, 0.3) * ((xx / ww) * rng.uniform(-1, 1) + (yy / hh) * rng.uniform(-1, 1))
    if rng.random() < 0.3:  # vignette of a phone photo
        d = ((xx / ww - 0.5) ** 2 + (yy / hh - 0.5) ** 2) * rng.uniform(0.3, 1.2)
        light = light - d
    img = img * light[..., None]
    if rng.random() < 0.15:  # scanner edge shadow
        band = int(rng.integers(1, max(2, min(hh, ww) // 15)))
        side = int(rng.integers(4))
        sl = [(slice(None), slice(0, band)), (slice(None), slice(ww - band, ww)),
              (slice(0, band), slice(None)), (slice(hh - band, hh), slice(None))][side]
        img[sl] *= rng.uniform(0.05, 0.4)
    img = img + rng.normal(0, rng.uniform(0.0, 0.05), (hh, ww, 1)).astype(np.float32)
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 15))):
            v = float(rng.uniform(0.1, 0.6))
            cv2.circle(img, (int(rng.integers(0, ww)), int(rng.integers(0, hh))), int(rng.integers(1, 3)), (v, v, v), -1)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    img = np.clip(img, 0, 1)
    if rng.random() < 0.5:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if rng.random() < 0.15:
        img = 1.0 - img
    out = (img * 255).astype(np.uint8)
    if rng.random() < 0.4:
        _ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def render_paint(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thin pencil or bold brush strokes, hard-edged, on a plain canvas of any size."""
    size = int(rng.choice([14, 20, 28, 40, 64, 100, 160, 280]) * rng.uniform(0.8, 1.3))
    size = max(12, size)
    bold = rng.random() < 0.4
    g = _glyph(digit, max(size, 56), rng, rng.uniform(0.5, 4.0) if bold else -0.5)
    if not bold:  # a 1-3 px pencil line along the stroke's centre
        thin: np.ndarray = (g > 100).astype(np.uint8)
        se = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
        for _ in range(int(g.shape[0] / 14)):
            eroded: np.ndarray = cv2.erode(thin, se)
            if eroded.sum() < 0.25 * thin.sum():
                break
            thin = eroded
        w = int(rng.integers(1, 4))
        if w > 1:
            thin = cv2.dilate(thin, np.ones((w, w), np.uint8))
        g = thin * 255
    if g.shape[0] != size:
        g = cv2.resize(g.astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA if size < g.shape[0] else cv2.INTER_NEAREST)
    ink = _place(g, rng, 1.6)
    hh, ww = ink.shape
    r = rng.random()
    if r < 0.15:  # strokes only in alpha
        out = np.zeros((hh, ww, 4), np.uint8)
        out[..., 3] = (ink * 255).astype(np.uint8)
        return out
    bg = np.full(3, rng.uniform(0.85, 1.0), np.float32)
    pen = rng.uniform(0.0, 0.6, 3).astype(np.float32) if rng.random() < 0.3 else np.full(3, rng.uniform(0.0, 0.55), np.float32)
    img = bg * (1 - ink[..., None]) + pen * ink[..., None]
    if rng.random() < 0.25:
        img = 1.0 - img
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def render(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return render_scan(digit, rng) if rng.random() < 0.6 else render_paint(digit, rng)


def flag_one(digit: np.ndarray, rng: np.random.Generator, angles: tuple[float, float] = (22, 65)) -> np.ndarray:
    """A 28x28 MNIST 1 (white on black) given the flag many hands write (a short stroke from the
    top down to the left, sometimes a foot too), reframed as MNIST frames a digit. MNIST's 1s are
    nearly all bare strokes, so without these a flagged 1 reads as a 7."""
    from watcher.negatives import BIG, mnist_frame

    big = cv2.resize(digit, (BIG, BIG), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.nonzero(big > 100)
    if len(ys) == 0:
        return digit
    h = ys.max() - ys.min() + 1
    top = ys.min()
    x_top = float(xs[ys <= top + 3].mean())
    thick = max(2, round(2 * float(cv2.distanceTransform((big > 100).astype(np.uint8), cv2.DIST_L2, 3).max())))
    canvas = np.zeros((BIG * 2, BIG * 2), np.uint8)  # room for the flag on the left
    off = BIG // 2
    canvas[off:off + BIG, off:off + BIG] = big
    length = rng.uniform(0.18, 0.36) * h
    # degrees below the horizontal; a 7's bar is flatter and longer. Down to 22: with 35-65 taught,
    # 1s flagged at 15-35 degrees read as 1 only 66% of the time, and as a sure 7 18%
    angle = np.radians(rng.uniform(*angles))
    p0 = (int(off + x_top), int(off + top + 1))
    p1 = (int(p0[0] - length * np.cos(angle)), int(p0[1] + length * np.sin(angle)))
    cv2.line(canvas, p0, p1, 255, thick, cv2.LINE_AA)
    if rng.random() < 0.3:  # a foot
        y_bot = off + ys.max()
        x_bot = float(xs[ys >= ys.max() - 3].mean()) + off
        half = rng.uniform(0.15, 0.3) * h
        cv2.line(canvas, (int(x_bot - half), int(y_bot)), (int(x_bot + half), int(y_bot)), 255, thick, cv2.LINE_AA)
    return mnist_frame(canvas)
