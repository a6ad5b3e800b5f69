"""Marks that are not digits, made on this machine, for teaching the model to say so.

Nothing can be downloaded here, so the negatives are drawn: letters in the system's fonts, in
handwriting fonts from Debian's packages (`HANDWRITING_FONTS`: fonts drawn from people's own
hands, the closest thing to handwritten letters a machine without a network has) and in OpenCV's
single-stroke Hershey fonts (close to handwriting once thickened and bent), operators
and symbols, scribbles and doodles, and two MNIST train digits squeezed into one digit's box (what
a reader sees when two touching digits are taken for one). Each comes out as MNIST does, a 28x28
uint8 mark, white on black, so `augment.render` can turn it into a scan, photo or drawing.

Letters a hand writes the same way as a digit are left out (O and o are a 0, l and a plain I a
1): teaching "not a digit" on them would teach the model to doubt good digits.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

#: Letters and marks taught as "not a digit". Missing on purpose: O and o (a 0), l, a plain I, |,
#: !, brackets and / (a 1, upright or slanted), g and q (a 9).
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefhijkmnprstuvwxyz"
SYMBOLS = "+=x*#%&@?<>$~^"
SERIF_I = "I"  # only from fonts that give it serifs

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
#: Handwriting fonts (font directories of Debian's `fonts-*` packages, which `.ci/run` installs and
#: the README lists for `train`): their letters are taught as no digit and their digits as digits
#: (`rejection`). The families in `HELD_OUT` are never trained on: `bench/make_sets.py`
#: (`fonts-held-out`) and `tests/test_accuracy.py` measure on them how a hand the model has not
#: seen is read.
HANDWRITING_FONTS = ("bwht", "comic-neue", "dancingscript", "kaushanscript", "fifthhorseman", "kiloji", "seto",
                     "breip", "humor-sans", "klee", "kristi", "femkeklaver", "rufscript")
HELD_OUT = ("breip", "humor-sans", "klee", "kristi")
_FONT_ROOTS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
            cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX, cv2.FONT_HERSHEY_PLAIN)
_SERIF_HERSHEY = (cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
BIG = 112  # drawn at this size, then reduced to 28 (anti-aliased like MNIST's strokes)


@functools.lru_cache(maxsize=1)
def system_fonts() -> tuple[str, ...]:
    """TrueType fonts from the system's packages (none is fine: Hershey fonts are built in)."""
    return tuple(sorted(str(p) for d in _FONT_DIRS if d.is_dir() for p in d.glob("*.ttf")))


@functools.lru_cache(maxsize=2)
def handwriting_fonts(held_out: bool = False) -> tuple[str, ...]:
    """The installed handwriting fonts taught on (or, `held_out`, those kept for measuring);
    none installed is fine: letters then come from the other fonts only."""
    names = HELD_OUT if held_out else tuple(n for n in HANDWRITING_FONTS if n not in HELD_OUT)
    # fifthhorseman is the dkg handwriting font's directory; setofont-ex has no Latin letters
    return tuple(sorted(str(p) for root in _FONT_ROOTS for n in names if (root / n).is_dir()
                        for p in (root / n).iterdir() if p.suffix in (".ttf", ".otf") and "-ex" not in p.stem))


def mnist_frame(big: np.ndarray) -> np.ndarray:
    """A white-on-black mark of any size -> 28x28 uint8 fitted in 20x20, centred by mass (MNIST's framing)."""
    ys, xs = np.nonzero(big > 40)
    if len(ys) == 0:
        return np.zeros((28, 28), np.uint8)
    crop = big[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32)
    h, w = crop.shape
    s = 20.0 / max(h, w)
    small = cv2.resize(crop, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.float32)
    sh, sw = small.shape
    m = cv2.moments(small)
    cy, cx = (m["m01"] / m["m00"], m["m10"] / m["m00"]) if m["m00"] > 0 else (sh / 2, sw / 2)
    oy, ox = min(max(round(14 - cy), 0), 28 - sh), min(max(round(14 - cx), 0), 28 - sw)
    out[oy:oy + sh, ox:ox + sw] = small
    return np.clip(out * (255.0 / max(1.0, float(out.max()))), 0, 255).astype(np.uint8)


def _bend(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate, shear and elastically wobble a big mark, as a hand would."""
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-15, 15), rng.uniform(0.8, 1.0))
    m[0, 1] += rng.uniform(-0.3, 0.3)
    img = cv2.warpAffine(img, m, (w, h))
    field = rng.normal(0, 1, (2, 6, 6)).astype(np.float32) * rng.uniform(0, 3.5)
    dx = cv2.resize(field[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(field[1], (w, h), interpolation=cv2.INTER_CUBIC)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + dx, gy + dy, cv2.INTER_LINEAR)


def _hershey(ch: str, rng: np.random.Generator, serif_only: bool = False) -> np.ndarray:
    font = int(rng.choice(_SERIF_HERSHEY if serif_only else _HERSHEY))
    if rng.random() < 0.3:
        font |= cv2.FONT_ITALIC
    img = np.zeros((BIG, BIG), np.uint8)
    scale = 2.4
    thick = int(rng.integers(3, 12))
    (tw, th), _base = cv2.getTextSize(ch, font, scale, thick)
    cv2.putText(img, ch, ((BIG - tw) // 2, (BIG + th) // 2), font, scale, 255, thick, cv2.LINE_AA)
    return img


def _truetype(ch: str, rng: np.random.Generator, fonts: tuple[str, ...]) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], 80)
    im = Image.new("L", (BIG, BIG), 0)
    ImageDraw.Draw(im).text((BIG // 2, BIG // 2), ch, fill=255, font=font, anchor="mm")
    a = np.asarray(im)
    k = int(rng.integers(0, 5))
    if k:
        a = cv2.dilate(a, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return a


def font_mark(ch: str, rng: np.random.Generator, fonts: tuple[str, ...]) -> np.ndarray:
    """One character in one of `fonts`, bent as a hand would: a big white-on-black mark."""
    return _bend(_truetype(ch, rng, fonts), rng)


def font_digit(rng: np.random.Generator, fonts: tuple[str, ...]) -> tuple[np.ndarray, int]:
    """A digit in a handwriting font: (big white-on-black mark, digit)."""
    d = int(rng.integers(10))
    return font_mark(str(d), rng, fonts), d


def letter(rng: np.random.Generator) -> np.ndarray:
    hand = handwriting_fonts()
    fonts = system_fonts()
    if rng.random() < 0.04:
        serif = [f for f in fonts if "Serif" in f]
        if serif and rng.random() < 0.5:
            return _truetype(SERIF_I, rng, tuple(serif))
        return _hershey(SERIF_I, rng, serif_only=True)
    ch = LETTERS[int(rng.integers(len(LETTERS)))] if rng.random() < 0.85 else SYMBOLS[int(rng.integers(len(SYMBOLS)))]
    if hand and rng.random() < 0.5:
        return _truetype(ch, rng, hand)
    if fonts and rng.random() < 0.4:
        return _truetype(ch, rng, fonts)
    return _hershey(ch, rng)


def operator(rng: np.random.Generator) -> np.ndarray:
    """A handwritten + or x: two strokes crossing, arms of any length, a little off square."""
    img = np.zeros((BIG, BIG), np.uint8)
    thick = int(rng.integers(3, 11))
    c = BIG / 2 + rng.normal(0, 4, 2)
    tilt = rng.uniform(-12, 12) + (45 if rng.random() < 0.45 else 0)
    for k in range(2):
        a = np.radians(tilt + 90 * k + rng.uniform(-10, 10))
        d = np.array([np.cos(a), np.sin(a)])
        p0 = c - d * rng.uniform(18, 45) + rng.normal(0, 3, 2)
        p1 = c + d * rng.uniform(18, 45) + rng.normal(0, 3, 2)
        cv2.line(img, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), 255, thick, cv2.LINE_AA)
    return img


def scribble(rng: np.random.Generator) -> np.ndarray:
    """A random pen path with many turns, or a doodle of loops (a flower, a face)."""
    img = np.zeros((BIG, BIG), np.uint8)
    thick = int(rng.integers(3, 10))
    if rng.random() < 0.5:
        pts = rng.uniform(15, BIG - 15, (int(rng.integers(6, 14)), 2))
        t = np.linspace(0, 1, 200)
        idx = np.clip((t * (len(pts) - 1)).astype(int), 0, len(pts) - 2)
        f = (t * (len(pts) - 1) - idx)[:, None]
        path = pts[idx] * (1 - f) + pts[idx + 1] * f
        path = cv2.GaussianBlur(path.astype(np.float32).reshape(-1, 1, 2), (1, 15), 0).reshape(-1, 2)
        cv2.polylines(img, [path.astype(np.int32)], False, 255, thick, cv2.LINE_AA)
    else:
        c = np.array([BIG / 2, BIG / 2])
        n = int(rng.integers(4, 8))
        r = rng.uniform(12, 22)
        cv2.circle(img, tuple(int(v) for v in c), int(r * 0.6), 255, thick, cv2.LINE_AA)
        for k in range(n):
            a = 2 * np.pi * k / n + rng.uniform(-0.2, 0.2)
            p = c + (r + 10) * np.array([np.cos(a), np.sin(a)])
            cv2.ellipse(img, (int(p[0]), int(p[1])), (int(rng.uniform(6, 14)), int(rng.uniform(4, 9))),
                        float(np.degrees(a)), 0, 360, 255, max(2, thick // 2), cv2.LINE_AA)
    return img


def squeezed_pair(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two digits side by side, touching or overlapping a little, as one mark."""
    a, b = (digits[int(rng.integers(len(digits)))] for _ in range(2))
    gap = int(rng.integers(-6, 2))
    wa, wb = _cols(a), _cols(b)
    ca, cb = a[:, wa[0]:wa[1]], b[:, wb[0]:wb[1]]
    w = ca.shape[1] + cb.shape[1] + gap
    out = np.zeros((28, max(w, ca.shape[1], cb.shape[1])), np.uint8)
    out[:, :ca.shape[1]] = ca
    x = max(0, ca.shape[1] + gap)
    out[:, x:x + cb.shape[1]] = np.maximum(out[:, x:x + cb.shape[1]], cb)
    return cv2.resize(out, (out.shape[1] * 4, BIG), interpolation=cv2.INTER_CUBIC)


def wrong_cut(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A piece of two touching digits cut in the wrong place: one digit and a good part of the
    other, or parts of both. What a reader splitting touching digits must not take for a digit."""
    a, b = (digits[int(rng.integers(len(digits)))] for _ in range(2))
    wa, wb = _cols(a), _cols(b)
    ca, cb = a[:, wa[0]:wa[1]], b[:, wb[0]:wb[1]]
    gap = int(rng.integers(-5, 1))
    x = max(0, ca.shape[1] + gap)
    out = np.zeros((28, max(x + cb.shape[1], ca.shape[1])), np.uint8)
    out[:, :ca.shape[1]] = ca
    out[:, x:x + cb.shape[1]] = np.maximum(out[:, x:x + cb.shape[1]], cb)
    # one whole digit and at least 35% of its neighbour: never a clean digit, never half of one
    if rng.random() < 0.5:
        lo = x + max(3, int(0.35 * cb.shape[1]))
        piece = out[:, :int(rng.integers(min(lo, out.shape[1] - 1), out.shape[1]))]
    else:
        hi = ca.shape[1] - max(3, int(0.35 * ca.shape[1]))
        piece = out[:, int(rng.integers(0, max(1, hi))):]
    return cv2.resize(piece, (max(4, piece.shape[1] * 4), BIG), interpolation=cv2.INTER_CUBIC)


def _cols(d: np.ndarray) -> tuple[int, int]:
    xs = np.flatnonzero(d.max(0) > 30)
    return (int(xs[0]), int(xs[-1]) + 1) if len(xs) else (0, 28)


def make(n: int, digits: np.ndarray, seed: int) -> np.ndarray:
    """n non-digit marks (28x28 uint8, white on black): 45% letters and symbols, 10% handwritten
    + and x (the operators between numbers), 10% scribbles and doodles, 20% two digits from
    `digits` (MNIST's train split) squeezed into one mark, 15% pieces of two touching digits
    cut in the wrong place."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        r = rng.random()
        big = (letter(rng) if r < 0.45 else operator(rng) if r < 0.55 else scribble(rng) if r < 0.65
               else squeezed_pair(digits, rng) if r < 0.85 else wrong_cut(digits, rng))
        if r < 0.65:
            big = _bend(big, rng)
        out[i] = mnist_frame(big)
    return out
