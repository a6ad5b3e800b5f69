"""Render numbers, form fields and whole pages out of MNIST digits, with their true readings.

For evaluation (from the test split) and tests; nothing here is used at serving time. A number
is 2-8 digits on one line, spaced apart or touching and overlapping a little, sloping a few
degrees, sometimes in a box, on an underline or in comb cells; a page is a grid of rows x columns
of digits, on plain or ruled paper, at scanning resolution. Both are then "scanned": paper tone,
uneven light, noise, blur and JPEG.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass
class Drawn:
    image: np.ndarray  # uint8 grey or BGR, as a file would hold it
    text: str  # the digits in reading order, one space between lines


def _digit_ink(d: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit (28x28 white on black) as ink [0, 1] cropped to its strokes, `height` high."""
    ys, xs = np.nonzero(d > 30)
    crop = d[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255.0
    h, w = crop.shape
    s = height / h * rng.uniform(0.9, 1.1)
    return cv2.resize(crop, (max(2, round(w * s)), max(2, round(h * s))), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _paste(canvas: np.ndarray, ink: np.ndarray, x: int, y: int) -> None:
    h, w = ink.shape
    ch, cw = canvas.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(cw, x + w), min(ch, y + h)
    if x1 > x0 and y1 > y0:
        region = canvas[y0:y1, x0:x1]
        np.maximum(region, ink[y0 - y:y1 - y, x0 - x:x1 - x], out=region)


def scan(ink: np.ndarray, rng: np.random.Generator, jpeg: bool = True) -> np.ndarray:
    """Ink [0, 1] -> a scanned or photographed page (uint8 grey)."""
    h, w = ink.shape
    paper = rng.uniform(0.8, 1.0)
    pen = rng.uniform(0.0, 0.35)
    img: np.ndarray = (paper - (paper - pen) * ink).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img *= 1.0 - rng.uniform(0, 0.2) * ((xx / w) * rng.uniform(-1, 1) + (yy / h) * rng.uniform(-1, 1))
    img += rng.normal(0, rng.uniform(0.0, 0.04), (h, w)).astype(np.float32)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    out: np.ndarray = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    if jpeg and rng.random() < 0.6:
        out = _jpeg(out, int(rng.integers(50, 95)))
    return out


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """`img` (uint8 grey) as it comes back from a JPEG saved at `quality`."""
    _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))


def number(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int | None = None,
           field: str | None = None, touching: bool | None = None, photo: str | None = None,
           paper: str | None = None, cells_gap: tuple[float, float] = (0.1, 0.5), tight: bool = False) -> Drawn:
    """2-8 digits on one line. `field`: None (random among "plain", "box", "underline" and
    "comb"), one of those, or "cells" (a printed box for each digit, the boxes apart: asked for
    by name only, so the other fields' numbers stay as they were); `touching`: None (a third of
    the numbers), or always / never; `photo`: None (a scan), or the scan photographed (`photo`'s
    kinds); `paper`: None (plain), or "ruled" (a notebook's: `_ruled`). `photo` and `paper` are
    asked for by name only, like "cells". `cells_gap`: the range of the gap between the boxes of
    "cells", in digit heights (from 0: printed against each other). `tight`: cropped to its ink
    with 0-2 pixels to spare (a field cut out of a form, a canvas exported cropped): the digits,
    or the field's lines, touch the picture's edges."""
    n = n or int(rng.integers(2, 9))
    field = field or str(rng.choice(["plain", "plain", "box", "underline", "comb"]))
    height = int(rng.integers(28, 90))
    pick = rng.integers(0, len(digits), n)
    inks = [_digit_ink(digits[i], height, rng) for i in pick]
    cell = int(height * rng.uniform(0.85, 1.1))
    touch_draw = rng.random() < 0.35
    touching = field not in ("comb", "cells") and (touch_draw if touching is None else touching)
    if field == "cells":  # printed: one size and one gap for the whole row
        cell = int(height * rng.uniform(1.1, 1.4))
        gap_cells = int(height * rng.uniform(*cells_gap))
        tall = int(height * rng.uniform(1.2, 1.5))
    margin = height
    width = sum(i.shape[1] for i in inks) + n * cell + 2 * margin
    if field == "cells":
        width = n * (cell + gap_cells) + 2 * margin
    canvas = np.zeros((3 * height, width), np.float32)
    x = margin
    base = height
    xs = []
    for ink in inks:
        if field == "comb":
            x0 = x + (cell - ink.shape[1]) // 2
            x += cell
        elif field == "cells":
            x0 = x + (cell - ink.shape[1]) // 2 + int(rng.integers(-height // 10, height // 10 + 1))
            x += cell + gap_cells
        else:
            gap = int(rng.integers(-max(1, ink.shape[1] // 8), 1)) if touching else int(rng.integers(height // 8, height // 2))
            x0 = x
            x += ink.shape[1] + gap
        y0 = base + int(rng.integers(-height // 10, height // 10 + 1))
        _paste(canvas, ink, x0, y0)
        xs.append(x0)
    right = max(x, xs[-1] + inks[-1].shape[1]) + height // 3
    thick = int(rng.integers(1, 4))
    if field == "box":
        cv2.rectangle(canvas, (margin - height // 3, base - height // 3), (right, base + height + height // 3), 1.0, thick)
    elif field == "underline":
        y = base + height + int(rng.integers(2, max(3, height // 6)))
        cv2.line(canvas, (margin - height // 4, y), (right, y), 1.0, thick)
    elif field == "cells":
        top = base - (tall - height) // 2
        for x0 in range(margin, x, cell + gap_cells):
            cv2.rectangle(canvas, (x0, top), (x0 + cell, top + tall), 1.0, thick)
    elif field == "comb":
        y = base + height + height // 8
        cv2.line(canvas, (margin, y), (margin + n * cell, y), 1.0, thick)
        for k in range(n + 1):
            cv2.line(canvas, (margin + k * cell, y), (margin + k * cell, y - height // 3), 1.0, thick)
    if paper == "ruled":
        canvas = _ruled(canvas, rng, base, height)
    elif paper is not None:
        raise ValueError(f"no such paper: {paper}")
    canvas = _slope(canvas, rng.uniform(-4, 4))
    if tight:
        rows, cols = np.nonzero(canvas > 0.2)
        m = int(rng.integers(0, 3))
        canvas = canvas[max(0, rows.min() - m):rows.max() + 1 + m, max(0, cols.min() - m):cols.max() + 1 + m]
    out = scan(canvas, rng, jpeg=photo is None)
    return Drawn(out if photo is None else photographed(out, rng, photo), "".join(str(int(labels[i])) for i in pick))


def _ruled(canvas: np.ndarray, rng: np.random.Generator, base: int, height: int) -> np.ndarray:
    """The writing on a notebook's paper: rules printed lighter than the pen, 1.25-1.7 digits
    apart, the digits sitting on one or hanging across it by up to half their height; half the
    time a margin's line down the left. A rule's step is added above and below."""
    step = int(height * rng.uniform(1.25, 1.7))
    h, w = canvas.shape
    out = np.zeros((h + 2 * step, w), np.float32)
    out[step:step + h] = canvas
    shade, thick = float(rng.uniform(0.15, 0.45)), int(rng.integers(1, 3))
    on = step + base + height + int(rng.uniform(-0.5, 0.1) * height)  # the rule the writing sits on
    for y in range(on % step, out.shape[0], step):
        np.maximum(out[y:y + thick], shade, out=out[y:y + thick])
    if rng.random() < 0.5:
        x = int(rng.integers(height // 4, 3 * height // 4 + 1))
        np.maximum(out[:, x:x + thick], shade, out=out[:, x:x + thick])
    return out


def _shadow(xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator, depth: tuple[float, float],
            sharp: tuple[float, float]) -> np.ndarray:
    """The light a shadow leaves across a picture (`xx`, `yy`: its pixels' columns and rows): its
    edge at a random angle and place, taking a share in `depth` of the light, as sharp as a
    random slope in `sharp`."""
    rows, cols = xx.shape
    a = rng.uniform(0, 2 * np.pi)
    edge = np.cos(a) * xx / cols + np.sin(a) * yy / rows - rng.uniform(-0.3, 0.3) - 0.5 * (np.cos(a) + np.sin(a))
    return 1.0 - rng.uniform(*depth) / (1.0 + np.exp(-edge * rng.uniform(*sharp)))


def photographed(img: np.ndarray, rng: np.random.Generator, kind: str = "any") -> np.ndarray:
    """A scan (uint8 grey) as a phone takes it, then saved as a JPEG. "table": the sheet on a darker
    table that shows on two to four sides (a sliver of it on the others); "shadow": a shadow
    across the picture, its edge soft or sharp, the writing under it or not; "any": either of
    those two; "desk" (by name only): the scan a small note in the middle of a darker desk
    (`on_desk`)."""
    kind = str(rng.choice(["table", "shadow"])) if kind == "any" else kind
    if kind == "desk":
        return on_desk(img, rng)
    g = img.astype(np.float32) / 255.0
    h, w = g.shape
    if kind == "table":
        pad = int(max(8, 0.15 * min(h, w)) * rng.uniform(1.0, 3.0))
        big = np.full((h + 2 * pad, w + 2 * pad), rng.uniform(0.1, 0.5), np.float32)
        big[pad:pad + h, pad:pad + w] = g
        cut = [int(rng.integers(0, pad)) if rng.random() < 0.5 else pad - 2 for _side in range(4)]
        cut[2:] = [min(c, int(0.8 * pad)) for c in cut[2:]]  # the table shows at least right and below
        g = big[cut[0]:big.shape[0] - cut[2], cut[1]:big.shape[1] - cut[3]]
    elif kind == "shadow":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        g = g * _shadow(xx, yy, rng, (0.35, 0.6), (8, 40))
    else:
        raise ValueError(f"no such photo: {kind}")
    g = g + rng.normal(0, 0.02, g.shape).astype(np.float32)
    return _jpeg((np.clip(g, 0, 1) * 255).astype(np.uint8), int(rng.integers(60, 95)))


def on_desk(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scan (uint8 grey) as a note on a desk photographed from arm's length: the note 3-9% of
    the picture, turned up to 6 degrees, on a darker desk with a grain of its own, the light
    falling off towards one side, noisy, saved as a JPEG."""
    g = img.astype(np.float32) / 255.0
    h, w = g.shape
    k = (1.0 / rng.uniform(0.03, 0.09)) ** 0.5
    rows, cols = int(h * k), int(w * k)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (rows // 8 + 1, cols // 8 + 1)).astype(np.float32), (0, 0), 2)
    desk = rng.uniform(0.15, 0.5) * (1 + 0.08 * cv2.resize(grain, (cols, rows)))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-6, 6)), 1.0)
    m[:, 2] += [rng.uniform(0.2, 0.6) * (cols - w), rng.uniform(0.2, 0.6) * (rows - h)]
    note = cv2.warpAffine(g, m, (cols, rows), flags=cv2.INTER_LINEAR)
    on = cv2.warpAffine(np.ones_like(g), m, (cols, rows), flags=cv2.INTER_LINEAR)
    out = desk * (1 - on) + note
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    out *= 1 - 0.2 * ((np.cos(a) * xx / cols + np.sin(a) * yy / rows) + 1) / 2
    out += rng.normal(0, 0.01, out.shape).astype(np.float32)
    return _jpeg((np.clip(out, 0, 1) * 255).astype(np.uint8), int(rng.integers(60, 95)))


def photographed_sheet(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A whole sheet (uint8 grey, a `page`) as a phone photographs it: on a darker table, from a
    little in front (its far edge up to 16% shorter) and turned up to 4 degrees, darker towards
    the corners, a soft or sharp shadow over part of it, noisy, scaled to 4032, 3000 or 1600
    pixels, saved as a JPEG."""
    g = page.astype(np.float32) / 255
    h, w = g.shape
    pad = int(0.12 * max(h, w))
    big = np.full((h + 2 * pad, w + 2 * pad), rng.uniform(0.15, 0.45), np.float32)
    big[pad:pad + h, pad:pad + w] = g
    rows, cols = big.shape
    src = np.array([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]], np.float32)
    k = rng.uniform(0.0, 0.08) * w
    turn = np.radians(rng.uniform(-4, 4))
    dst = src + np.array([[k, 0], [-k, 0], [0, 0], [0, 0]], np.float32) + rng.uniform(-0.02, 0.02, (4, 2)).astype(np.float32) * w
    centre = np.array([cols / 2, rows / 2], np.float32)
    turned = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], np.float32)
    dst = (dst - centre) @ turned.T + centre
    out = cv2.warpPerspective(big, cv2.getPerspectiveTransform(src, dst.astype(np.float32)), (cols, rows),
                              borderValue=float(big[0, 0]))
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    light = 1 - rng.uniform(0.05, 0.2) * (((xx - cols / 2) / cols) ** 2 + ((yy - rows / 2) / rows) ** 2) * 4
    light = light * _shadow(xx, yy, rng, (0.0, 0.5), (5, 30))
    out = out * light + rng.normal(0, 0.02, out.shape)
    f = float(rng.choice([4032, 3000, 1600])) / max(rows, cols)
    out = cv2.resize(np.clip(out, 0, 1), (int(cols * f), int(rows * f)), interpolation=cv2.INTER_AREA)
    return _jpeg((out * 255).astype(np.uint8), int(rng.integers(70, 95)))


def note(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, slope: float = 8.0) -> Drawn:
    """A note: 1-4 lines of 3-8 digits (40-90 px high, 1.3-2.2 digits apart, a third on ruled
    paper) on a small sheet, the writing sloped up to `slope` degrees either way on its paper,
    photographed as a sheet is (`photographed_sheet`: on a table, a little from in front and
    turned, unevenly lit, a shadow over part). Few marks in a big picture: too few for a page's
    slope to be measured, more than a number's one line."""
    rows, cols = int(rng.integers(1, 5)), int(rng.integers(3, 9))
    height = int(rng.integers(40, 90))
    gap = float(rng.uniform(1.3, 2.2))
    size = (int(cols * height * gap * 1.2), int(rows * height * 1.9 / 0.88) + height)
    d = page(digits, labels, rng, rows=rows, cols=cols, height=height, size=size, ruled=bool(rng.random() < 0.3))
    h, w = d.image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-slope, slope)), 1.0)
    sloped = cv2.warpAffine(d.image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=float(np.median(d.image)))
    return Drawn(photographed_sheet(sloped, rng), d.text)


def _slope(canvas: np.ndarray, degrees: float) -> np.ndarray:
    h, w = canvas.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(canvas, m, (w, h))


#: What a data-collection sheet prints above its grid: words with no digit in them
TITLES = ("Handwritten Digits Collection", "Digit Recognition Survey", "Handwriting Sample Sheet", "Data Collection Form")
INSTRUCTIONS = ("Please write one digit in each space, using a black or blue pen.",
                "Write the digits clearly and do not let them touch the lines.",
                "Copy each row below carefully in your own handwriting.")
HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)


def _header(canvas: np.ndarray, rng: np.random.Generator, top: int, left: int) -> None:
    """Print a title, an instruction and a "Name: ____" line (ink 1) in the sheet's top margin
    (`top` pixels), in one of OpenCV's Hershey fonts: a data-collection sheet's printed words."""
    font = HERSHEY[int(rng.integers(len(HERSHEY)))]
    unit = cv2.getTextSize("H", font, 1.0, 1)[0][1]  # a capital's height at scale 1
    lines = (TITLES[int(rng.integers(len(TITLES)))], INSTRUCTIONS[int(rng.integers(len(INSTRUCTIONS)))],
             "Name: ____________________     Group: ________")
    band = np.zeros((top, canvas.shape[1]), np.uint8)  # OpenCV draws text on 8-bit pictures only
    for text, cap, base in zip(lines, (0.26, 0.16, 0.16), (0.36, 0.64, 0.9), strict=True):
        scale = cap * top / unit
        cv2.putText(band, text, (left, int(base * top)), font, scale, 255, max(1, round(cap * top / 12)), cv2.LINE_AA)
    np.maximum(canvas[:top], band.astype(np.float32) / 255.0, out=canvas[:top])


def _pencil(ink: np.ndarray, rng: np.random.Generator, dark: float) -> np.ndarray:
    """A digit's ink as pencil leaves it on paper's tooth: `dark` as dark as the pen, in grains
    (a field of noise smoothed over 1.5 pixels, each point 0.1-1.4 of that)."""
    g = np.asarray(cv2.GaussianBlur(rng.normal(0.0, 1.0, ink.shape).astype(np.float32), (0, 0), 1.5), np.float32)
    out: np.ndarray = ink * dark * np.clip(1.0 + 0.5 * g / max(float(g.std()), 1e-6), 0.1, 1.4)
    return out


def page(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, rows: int = 30, cols: int = 20,
         ruled: bool = False, height: int = 110, size: tuple[int, int] = (4960, 7016), squared: bool = False,
         table: bool = False, rule: tuple[float, int] = (0.8, 3), header: bool = False,
         pencil: bool = False) -> Drawn:
    """A sheet (600-dpi A4 by default) with a grid of rows x columns of digits, plain, ruled, or
    squared (an exercise book's grid, printed lighter than the pen, about a digit's height apart),
    or a table (`table`: a printed cell round each digit, written large). `rule`: a ruled sheet's
    lines, their ink (the pen's is 1) and thickness in pixels. `header`: words printed in the top
    margin (`_header`), which are no digits. `pencil`: the digits written in pencil (`_pencil`),
    a third to a half as dark as the pen and grainy."""
    if table:
        return _table(digits, labels, rng, rows, cols, size, header)
    width, height_px = size
    canvas = np.zeros((height_px, width), np.float32)
    if squared:
        step = int(height * rng.uniform(0.8, 1.2))
        shade, thick = float(rng.uniform(0.3, 0.6)), int(rng.integers(1, max(2, height // 40) + 1))
        for x in range(int(rng.integers(0, step)), width, step):
            canvas[:, x:x + thick] = shade
        for y in range(int(rng.integers(0, step)), height_px, step):
            canvas[y:y + thick, :] = shade
    top, left = int(0.06 * height_px), int(0.08 * width)
    if header:
        _header(canvas, rng, top, left)
    dy = (height_px - 2 * top) / rows
    dx = (width - 2 * left) / cols
    lines = []
    dark = float(rng.uniform(0.35, 0.55)) if pencil else 1.0
    for r in range(rows):
        pick = rng.integers(0, len(digits), cols)
        yline = int(top + r * dy)
        if ruled:
            cv2.line(canvas, (0, yline + int(0.8 * dy)), (width, yline + int(0.8 * dy)), rule[0], rule[1])
        for c, i in enumerate(pick):
            ink = _digit_ink(digits[i], height, rng)
            ink = _pencil(ink, rng, dark) if pencil else ink
            y0 = yline + int(0.8 * dy) - ink.shape[0] - int(rng.integers(2, 10))
            _paste(canvas, ink * 1.0, int(left + c * dx + rng.integers(0, max(1, int(dx - ink.shape[1])))), y0)
        lines.append("".join(str(int(labels[i])) for i in pick))
    return Drawn(scan(canvas, rng), " ".join(lines))


def _table(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, rows: int, cols: int,
           size: tuple[int, int], header: bool = False) -> Drawn:
    """A printed table, a digit in each cell written large (0.65-0.85 of its height, narrower than
    the cell): a quarter of them stand on the rule below, a quarter hang from the rule above, so
    that a digit and the one under it often both touch the rule between them; the rest sit
    anywhere in their cell."""
    width, height_px = size
    canvas = np.zeros((height_px, width), np.float32)
    top, left = int(0.06 * height_px), int(0.08 * width)
    if header:
        _header(canvas, rng, top, left)
    dy = (height_px - 2 * top) / rows
    dx = (width - 2 * left) / cols
    shade, thick = float(rng.uniform(0.5, 0.9)), max(1, round(dy / 70))
    for r in range(rows + 1):
        y = int(top + r * dy)
        canvas[y:y + thick, left:int(left + cols * dx) + thick] = shade
    for c in range(cols + 1):
        x = int(left + c * dx)
        canvas[top:int(top + rows * dy) + thick, x:x + thick] = shade
    lines = []
    for r in range(rows):
        pick = rng.integers(0, len(digits), cols)
        for c, i in enumerate(pick):
            ink = _digit_ink(digits[i], int(dy * rng.uniform(0.65, 0.85)), rng)
            if ink.shape[1] > dx - 2 * thick:  # a wide digit drawn smaller, to fit its cell
                f = (dx - 2 * thick) / ink.shape[1]
                ink = cv2.resize(ink, (int(dx - 2 * thick), max(2, round(ink.shape[0] * f))), interpolation=cv2.INTER_AREA)
            h, w = ink.shape
            y0, x0 = int(top + r * dy), int(left + c * dx)
            where = rng.random()
            y = (y0 + int(dy) - h + 1 if where < 0.25 else y0 + thick - 1 if where < 0.5
                 else y0 + thick + int(rng.integers(0, max(1, int(dy) - h - thick))))
            x = x0 + thick + int(rng.integers(0, max(1, int(dx) - w - thick)))
            _paste(canvas, ink, x, y)
        lines.append("".join(str(int(labels[i])) for i in pick))
    return Drawn(scan(canvas, rng), " ".join(lines))


def tiles(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Drawn:
    """2-8 digits as the simplest renderer draws a number: the 28x28 MNIST tiles themselves side
    by side, 20-34 pixels apart (under 28 they overlap, and their digits touch), each moved up
    or down by up to 4, with no margin round them or a few pixels; the strip kept at MNIST's size
    or scaled up to 3 times, sometimes blurred or drawn bolder, as dark ink on white or as MNIST's
    own white on black."""
    n = int(rng.integers(2, 9))
    pick = rng.integers(0, len(digits), n)
    strides = rng.integers(20, 35, n - 1)
    jitter = int(rng.integers(0, 5))
    margin = int(rng.choice([0, 0, 4, 12]))
    xs = np.concatenate([[0], np.cumsum(strides)]) + margin
    canvas: np.ndarray = np.zeros((28 + 2 * jitter + 2 * margin, int(xs[-1]) + 28 + margin), np.uint8)
    for x, i in zip(xs.tolist(), pick, strict=True):
        y = margin + jitter + int(rng.integers(-jitter, jitter + 1))
        np.maximum(canvas[y:y + 28, x:x + 28], digits[i], out=canvas[y:y + 28, x:x + 28])
    scale = float(rng.choice([1.0, 1.0, 2.0, 3.0]))
    if scale != 1.0:
        canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        look = rng.random()
        if look < 0.2:
            canvas = cv2.GaussianBlur(canvas, (0, 0), 0.8 * scale)
        elif look < 0.4:
            canvas = cv2.dilate(canvas, np.ones((int(scale) + 1, int(scale) + 1), np.uint8))
    image = canvas if rng.random() < 0.3 else 255 - canvas
    return Drawn(image, "".join(str(int(labels[i])) for i in pick))


#: `styled`'s looks, one per number.
STYLES = ("plain", "inverted", "coloured", "faint", "rotated", "blurred")


def styled(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Drawn:
    """2-8 digits drawn another way than `number` and `scan` draw them, to see how the reader
    holds up off its own renderer: no field, no slope, no uneven light; the digits 14-22, 30-60 or
    120-200 pixels high, up to a quarter of that apart (a pixel or two for the smallest, so some
    touch), on a flat paper with a little noise, in one of `STYLES`: dark on light, light on dark,
    blue ink on yellow paper, pale grey ink, the line turned up to 6 degrees, or blurred; PNG
    or a JPEG at quality 75 (decoded back)."""
    n = int(rng.integers(2, 9))
    height = int(rng.choice([rng.integers(14, 23), rng.integers(30, 61), rng.integers(120, 201)]))
    pick = rng.integers(0, len(digits), n)
    inks = [_digit_ink(digits[i], height, rng) for i in pick]
    gaps = rng.integers(max(1, height // 20), max(2, height // 4) + 1, n)
    canvas = np.zeros((3 * height, sum(i.shape[1] for i in inks) + int(gaps.sum()) + 2 * height), np.float32)
    x = height
    for ink, gap in zip(inks, gaps.tolist(), strict=True):
        _paste(canvas, ink, x, height + int(rng.integers(-height // 12, height // 12 + 1)))
        x += ink.shape[1] + gap
    style = str(rng.choice(STYLES))
    if style == "rotated":
        canvas = _slope(canvas, rng.uniform(-6, 6))
    elif style == "blurred":
        canvas = cv2.GaussianBlur(canvas, (0, 0), max(0.6, height / 150))
    paper, pen = np.array([245.0] * 3, np.float32), np.array([20.0] * 3, np.float32)
    if style == "coloured":
        paper, pen = np.array([200.0, 235.0, 245.0], np.float32), np.array([150.0, 40.0, 20.0], np.float32)
    elif style == "faint":
        pen = np.array([160.0] * 3, np.float32)
    img = paper * (1 - canvas[..., None]) + pen * canvas[..., None] + rng.normal(0, 4, (*canvas.shape, 3))
    out = np.clip(img, 0, 255).astype(np.uint8)
    out = out if style == "coloured" else out[..., 0]
    if style == "inverted":
        out = 255 - out
    if rng.random() < 0.5:
        _ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 75])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return Drawn(out, "".join(str(int(labels[i])) for i in pick))


#: `equation`'s operators between numbers; the last one before the last term is never a ÷
OPERATORS = ("+", "-", "x", "÷", "=")


def _stroke(points: Sequence[tuple[float, float]], size: tuple[int, int], thick: int,
            rng: np.random.Generator) -> np.ndarray:
    """A pen's path through `points` (in a box of `size` (h, w), 0-1 each way), each point moved a
    little as a hand would: ink [0, 1] with a margin of the pen's width round the box."""
    h, w = size
    img = np.zeros((h + 2 * thick, w + 2 * thick), np.float32)
    p = np.array(points, np.float32) * [w, h] + thick + rng.normal(0, 0.03 * min(h, w) + 0.3, (len(points), 2))
    cv2.polylines(img, [p.astype(np.int32)], False, 1.0, thick, cv2.LINE_AA)
    return img


def _operator(kind: str, height: int, thick: int, rng: np.random.Generator) -> np.ndarray:
    """A handwritten +, -, x (times), ÷ or =, 0.35-0.6 of a digit's height across; or "var": a
    variable x written as two arcs back to back, as algebra is written."""
    s = int(height * rng.uniform(0.35, 0.6))
    if kind == "+":
        return np.maximum(_stroke([(0.5, 0), (0.5, 1)], (s, s), thick, rng), _stroke([(0, 0.5), (1, 0.5)], (s, s), thick, rng))
    if kind == "-":
        return _stroke([(0, 0.5), (1, 0.5)], (max(2, s // 6), s), thick, rng)
    if kind == "=":
        return np.maximum(_stroke([(0, 0.15), (1, 0.15)], (s // 2, s), thick, rng),
                          _stroke([(0, 0.85), (1, 0.85)], (s // 2, s), thick, rng))
    if kind == "x":
        return np.maximum(_stroke([(0, 0), (1, 1)], (s, s), thick, rng), _stroke([(1, 0), (0, 1)], (s, s), thick, rng))
    if kind == "÷":
        img = _stroke([(0, 0.5), (1, 0.5)], (s, s), thick, rng)
        for y in (0.15, 0.85):
            cv2.circle(img, (int(s / 2 + thick), int(y * s + thick)), max(1, thick // 2 + 1), 1.0, -1)
        return img
    if kind == "var":
        s = int(height * rng.uniform(0.45, 0.65))
        t = np.linspace(-1, 1, 12)
        left = [(0.12 + 0.38 * float(np.cos(v * 1.3)), 0.5 + 0.5 * float(v)) for v in t]
        right = [(0.88 - 0.38 * float(np.cos(v * 1.3)), 0.5 + 0.5 * float(v)) for v in t]
        return np.maximum(_stroke(left, (s, s), thick, rng), _stroke(right, (s, s), thick, rng))
    raise ValueError(f"no such operator: {kind}")


def _write_digits(canvas: np.ndarray, digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int,
                  x: int, base: int, height: int, gap: float) -> tuple[int, str]:
    """n test digits written on `canvas` from `x` along a line whose foot is `base`, each moved up
    or down by up to a twelfth of their height, 0.05-`gap` of it apart: where the next begins, and
    the digits written."""
    text = ""
    for _ in range(n):
        i = int(rng.integers(len(digits)))
        ink = _digit_ink(digits[i], height, rng)
        _paste(canvas, ink, x, base - ink.shape[0] + int(rng.integers(-height // 12, height // 12 + 1)))
        x += ink.shape[1] + int(height * rng.uniform(0.05, gap))
        text += str(int(labels[i]))
    return x, text


def equation(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Drawn:
    """A sum or an equation written on one line ("7 + 91", "3x² - 12 = 45"): two to four terms
    between handwritten operators (`OPERATORS`); a term is a number of 1-3 digits or, one time in
    four, a variable x after a digit or alone, squared more often than not: its exponent a 2 of
    0.4-0.55 of a digit's height raised over it. The digits 28-70 pixels high, scanned
    (`scan`). `text`: the terms' digits, the exponent after its base ("3x² - 12 = 45" is "32 12 45"),
    as people transcribe an equation; the operators and the x are no digits."""
    height = int(rng.integers(28, 71))
    thick = max(1, round(height * rng.uniform(0.06, 0.11)))
    canvas = np.zeros((3 * height, 40 * height), np.float32)
    x, base = int(height * rng.uniform(0.5, 1.0)), int(1.8 * height)
    terms = []
    n = int(rng.integers(2, 5))
    for t in range(n):
        if t:
            kind = str(rng.choice(OPERATORS if t < n - 1 else OPERATORS[:3] + OPERATORS[4:]))
            ink = _operator(kind, height, thick, rng)
            x += int(height * rng.uniform(0.25, 0.6))
            _paste(canvas, ink, x, int(base - 0.5 * height - ink.shape[0] / 2))
            x += ink.shape[1] + int(height * rng.uniform(0.25, 0.6))
        term = ""
        if rng.random() < 0.25:
            if rng.random() < 0.6:
                i = int(rng.integers(len(digits)))
                ink = _digit_ink(digits[i], height, rng)
                _paste(canvas, ink, x, base - ink.shape[0])
                x += ink.shape[1] + int(height * rng.uniform(0.05, 0.2))
                term += str(int(labels[i]))
            ink = _operator("var", height, thick, rng)
            _paste(canvas, ink, x, base - ink.shape[0])
            x += ink.shape[1] + int(0.05 * height)
            if rng.random() < 0.6:
                i = int(rng.choice(np.flatnonzero(labels == 2)))
                ink = _digit_ink(digits[i], int(height * rng.uniform(0.4, 0.55)), rng)
                _paste(canvas, ink, x, int(base - height * rng.uniform(1.0, 1.25)))
                x += ink.shape[1]
                term += "2"
        else:
            x, term = _write_digits(canvas, digits, labels, rng, int(rng.integers(1, 4)), x, base, height, 0.35)
        terms.append(term)
    return Drawn(scan(canvas[:, :x + height], rng), " ".join(t for t in terms if t))


def phone_number(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Drawn:
    """A phone number written by hand as "(555) 123-4567": an area code of 2-4 digits in brackets
    (arcs 1-1.3 digits tall, bowing out by a fifth to a third of their height), then 3-4 digits,
    a dash and 4 digits; the digits 28-70 pixels high, scanned. `text`: the three groups' digits,
    a space between them; the brackets and the dash are no digits."""
    height = int(rng.integers(28, 71))
    thick = max(1, round(height * rng.uniform(0.06, 0.11)))
    canvas = np.zeros((3 * height, 30 * height), np.float32)
    x, base = height, int(1.8 * height)
    groups = []

    def write(n: int) -> None:
        nonlocal x
        x, group = _write_digits(canvas, digits, labels, rng, n, x, base, height, 0.3)
        groups.append(group)

    def mark(ink: np.ndarray, gap: float) -> None:
        nonlocal x
        _paste(canvas, ink, x, int(base - height / 2 - ink.shape[0] / 2))
        x += ink.shape[1] + int(gap * height)

    tall = int(height * rng.uniform(1.0, 1.3))
    wide = max(3, int(tall * rng.uniform(0.2, 0.35)))
    t = np.linspace(-1, 1, 10)
    mark(_stroke([(1 - 0.9 * float(np.cos(1.1 * v)), 0.5 + 0.5 * float(v)) for v in t], (tall, wide), thick, rng), 0.1)
    write(int(rng.integers(2, 5)))
    mark(_stroke([(0.9 * float(np.cos(1.1 * v)), 0.5 + 0.5 * float(v)) for v in t], (tall, wide), thick, rng),
         float(rng.uniform(0.3, 0.6)))
    write(int(rng.integers(3, 5)))
    x += int(0.15 * height)
    s = int(height * rng.uniform(0.3, 0.5))
    mark(_stroke([(0, 0.5), (1, 0.5)], (max(2, s // 6), s), thick, rng), 0.15)
    write(4)
    return Drawn(scan(canvas[:, :x + height], rng), " ".join(groups))


def write_set(folder: Path, digits: np.ndarray, labels: np.ndarray, n: int, seed: int, kind: str = "number",
              **kw: object) -> Path:
    """Render n files into `folder` with a labels.csv (`file,text`); returns the labels path.
    `kind`: "number", "page", "tiles", "styled", "equation", "phone", "note" (a few lines
    photographed) or "field" (a form's short field: one or two digits in a box, on an underline or
    in comb cells)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        if kind == "tiles":
            d = tiles(digits, labels, rng)
        elif kind == "styled":
            d = styled(digits, labels, rng)
        elif kind == "equation":
            d = equation(digits, labels, rng)
        elif kind == "phone":
            d = phone_number(digits, labels, rng)
        elif kind == "page":
            d = page(digits, labels, rng, **kw)  # type: ignore[arg-type]
        elif kind == "number":
            d = number(digits, labels, rng, **kw)  # type: ignore[arg-type]
        elif kind == "note":
            d = note(digits, labels, rng, **kw)  # type: ignore[arg-type]
        elif kind == "field":
            d = number(digits, labels, rng, n=int(rng.integers(1, 3)),
                       field=str(rng.choice(["box", "underline", "comb"])), **kw)  # type: ignore[arg-type]
        else:
            raise ValueError(f"no such kind: {kind}")
        name = f"{kind}-{k:04d}.{'jpg' if kind in ('page', 'note') else 'png'}"
        params = [cv2.IMWRITE_JPEG_QUALITY, 90] if name.endswith(".jpg") else []
        cv2.imwrite(str(folder / name), d.image, params)
        rows.append((name, d.text))
    return write_labels(folder, ("file", "text"), rows)


def write_labels(folder: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """`folder`/labels.csv as `evaluate --labels` reads it; returns its path."""
    path = folder / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path
