"""Normalise any decoded digit image to MNIST's framing: a 28x28 float32 ink map in [0, 1].

Pure functions, no TensorFlow: training, evaluation and the daemon all call `normalise`, so the
model always sees images framed exactly the way it was trained on.

The steps follow what MNIST itself did (digit fitted to a 20x20 box keeping its aspect ratio,
centred by centre of mass in 28x28), preceded by what a real scan or drawing needs first:
grey conversion with alpha flattened onto white, paper/ink polarity, flat-field correction of
uneven lighting, and picking the digit out of specks, scanner edge shadows and box frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from watcher.errors import NoDigitFound

#: Largest side the finder works at; bigger images are area-downscaled first (speed, and a
#: photo's fine texture is noise at digit scale anyway).
WORK_SIDE = 512
#: Images up to this side are "small": `ink_map` measures paper globally, not locally.
SMALL_SIDE = 40
#: Stroke width, in pixels of the 20x20 box, that MNIST digits have (median measured on the
#: train split with `stroke_width`: 2.82); strokes far thinner or bolder are brought towards it.
MNIST_STROKE = 2.8
#: Below this paper/ink contrast (0-1) there is nothing written.
MIN_CONTRAST = 0.10


_SQUARE3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class Found:
    """Where the digit is in the working-resolution ink map."""

    ink: np.ndarray  # float32 HxW, 1 = ink, only the digit's components kept
    box: tuple[int, int, int, int]  # x, y, w, h
    stroke: float  # estimated stroke width in working pixels
    left_out: int = 0  # marks beside the digit that may be digits too (`_left_out`): the file goes to review


def to_grey(img: np.ndarray) -> np.ndarray:
    """Any decoded image (grey, BGR, BGRA, grey+alpha; 8/16-bit or float) -> float32 grey in [0, 1].

    Transparent pixels become white paper. A drawing whose colour channels carry nothing and whose
    strokes live only in the alpha channel becomes dark ink on white.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype == np.uint8:
        f = a.astype(np.float32) * (1.0 / 255.0)
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) * (1.0 / 65535.0)
    elif a.dtype == np.bool_:
        f = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        hi = float(f.max()) if f.size else 1.0
        f = f / hi if hi > 1.0 else f
        f = np.clip(f, 0.0, 1.0)
    else:
        info = np.iinfo(a.dtype)
        f = (a.astype(np.float64) - info.min) / float(info.max - info.min)
        f = f.astype(np.float32)
    if f.ndim == 2:
        return f
    if f.ndim != 3 or f.shape[2] not in (2, 3, 4):
        raise ValueError(f"unsupported image shape {a.shape}")
    channels = f.shape[2]
    colour = f[:, :, :-1] if channels in (2, 4) else f
    grey = colour[:, :, 0] if colour.shape[2] == 1 else cv2.cvtColor(np.ascontiguousarray(colour), cv2.COLOR_BGR2GRAY)
    if channels in (2, 4):
        alpha = f[:, :, -1]
        flat = grey * alpha + (1.0 - alpha)
        if float(np.ptp(flat)) < MIN_CONTRAST and float(np.ptp(alpha)) >= MIN_CONTRAST:
            return np.ascontiguousarray(1.0 - alpha)  # strokes only in alpha
        return np.ascontiguousarray(flat)
    return grey


def _rank(n: int, q: float) -> int:
    return min(n - 1, int(q * (n - 1) + 0.5))


def _quantile(a: np.ndarray, q: float) -> float:
    """The q-quantile by rank (np.percentile without its interpolation, several times faster)."""
    flat = a.ravel()
    k = _rank(len(flat), q)
    return float(np.partition(flat, k)[k])


def _odd(n: float) -> int:
    k = max(3, int(n))
    return k if k % 2 else k + 1


#: The share of a mid-grey picture's pixels whose departure from the wide blur, lightest and
#: darkest, `dark_paper` compares: not the one extreme pixel each way, which a photo's noise on
#: lit paper decides (a bold "44" half in shade read as light writing, its shadow as the ink).
DEPARTURE_RANK = 0.001
#: A picture whose typical pixel is at most this grey is dark paper, without asking; from there
#: to `DIM_PAPER` it may be a board or lit paper photographed dim (paper 0.2-0.3, the ink darker
#: still), and what stands out from its surroundings decides.
DARK_SURE = 0.1
DIM_PAPER = 0.3
#: ... measured there against the median of a window this share of the picture's longer side,
#: on a copy at most `DIM_SIDE` pixels long.
DIM_WINDOW = 0.5
DIM_SIDE = 512


def dark_paper(g: np.ndarray) -> bool:
    """Light writing on dark paper: the typical pixel (paper) is dark. When the typical pixel is
    mid-grey (a dim or unevenly lit photo), what stands out from its surroundings decides,
    darker on paper, lighter on a board. Where it is dim (`DIM_PAPER`), the strongest departure
    from a wide median: a dim photo of paper with its lit part beside a shade (the median pixel
    the shade's, the lit paper lighter than it by more than the ink is darker) and a small crop
    of a board's bold strokes (as wide as a blur's window) are both told right by it. Greyer, a
    wide blur and the typical pixel must agree: against the blur, the paper beside a bold digit's
    strokes departs lighter than they depart darker (wild-dev's bold crops photographed dim, their
    paper 0.4-0.5, were read as boards: a 6 as "1111110"); against the typical pixel, a lit patch
    beside a shade does, which the blur does not see. Against a wide median instead of the typical
    pixel, the inside of a big bold 0 (half ink round it) departs lighter too; asked alone, that
    median read two photographed numbers half in shade as boards ("306797" as "5")."""
    mid = _quantile(g, 0.5)
    if mid >= 0.6 or mid <= DARK_SURE:
        return mid < 0.5
    if mid <= DIM_PAPER:
        return _lighter_than_median(g)
    smooth = cv2.GaussianBlur(g, (3, 3), 0)
    k = _odd(max(g.shape) / 10)
    return (_departs_lighter((smooth - cv2.blur(g, (k, k))).ravel())  # from the blur; then, only
            and _departs_lighter((smooth - np.float32(mid)).ravel()))  # where it says board, the typical pixel


def _departs_lighter(r: np.ndarray) -> bool:
    """The lightest departures (`DEPARTURE_RANK`) outweigh the darkest."""
    n = r.size
    few = _rank(n, DEPARTURE_RANK)
    part = np.partition(r, [few, n - 1 - few])
    return bool(part[n - 1 - few] > -part[few])


def _lighter_than_median(g: np.ndarray) -> bool:
    """What departs most from the median of a window half the picture wide (`DIM_WINDOW`, on a
    copy at most `DIM_SIDE` long) is lighter than it."""
    h, w = g.shape
    f = min(1.0, DIM_SIDE / max(h, w))
    small = g if f == 1.0 else cv2.resize(g, (max(1, round(w * f)), max(1, round(h * f))),
                                           interpolation=cv2.INTER_AREA)
    u8 = np.round(np.clip(small, 0.0, 1.0) * 255).astype(np.uint8)
    k = _odd(DIM_WINDOW * max(u8.shape))
    return _departs_lighter((cv2.GaussianBlur(u8, (3, 3), 0).astype(np.float32) - cv2.medianBlur(u8, k)).ravel())


def _small_dark_paper(mid: float, lo: float, hi: float) -> bool:
    """`dark_paper` for a picture of at most `SMALL_SIDE` pixels, from its median and extremes:
    dark paper, unless it is paper photographed dim (0.1-0.5 grey), where the writing departs
    furthest from the typical pixel, lighter on a board, darker on paper (so small a picture has
    no shade beside lit paper). `ink_map` and `_small_ink_map` both ask it: they must agree."""
    return mid < 0.5 and (mid <= DARK_SURE or hi - mid > mid - lo)


def _small_window(k: int) -> int:
    """The side of `_shaded_paper`'s small max filter, for a wide one of side `k`: wider than a stroke."""
    return _odd(k / 8)


def _shaded_paper(smooth: np.ndarray, k: int) -> np.ndarray:
    """Paper brightness that follows shadows: thin strokes taken out by a small max filter, then
    the median of a window half the max filter's size (less ink than paper in it)."""
    thin = _small_window(k)
    lit = cv2.dilate(smooth, cv2.getStructuringElement(cv2.MORPH_RECT, (thin, thin)))
    paper = cv2.medianBlur((lit * 255).astype(np.uint8), _odd(k / 2)).astype(np.float32) * np.float32(1 / 255)
    return cv2.blur(paper, (thin, thin))


#: A shadow is deep when the shaded paper finds less than this share of the ink the max filter
#: does (a sharp shadow across a photographed number: 0.18-0.21, and 0.37 where it crosses a
#: long row of digits, whose ink counts with the shadow's; a bold blurred glyph on dark paper,
#: where either estimate may be right: 0.46-0.5).
SHADOW_DEEP = 0.4


def _shadow_edge_back(shaded: np.ndarray, k: int) -> np.ndarray:
    """The shaded paper with a deep shadow's edge put back where it is. The small max filter and
    the smoothing of `_shaded_paper` carry the lit paper a stroke's width into the shadow, and
    that band along a sharp shadow edge is then read as a line of ink across the digits (a
    photographed "7690171" read "7"). A min filter of the same size takes it back."""
    thin = _small_window(k)
    return cv2.erode(shaded, cv2.getStructuringElement(cv2.MORPH_RECT, (thin, thin)))


def _ink_share(smooth: np.ndarray, paper: np.ndarray) -> float:
    """The share of the picture at least a fifth darker than its paper."""
    return float(np.count_nonzero(smooth < np.float32(0.8) * paper)) / smooth.size


def ink_map(grey: np.ndarray, coarse: int = 1, shadows: bool = False, shaded: bool = False,
            follow_light: bool = False) -> np.ndarray:
    """Grey [0, 1] -> ink [0, 1] (1 = ink): polarity decided, lighting flattened, contrast stretched.

    Paper is whatever most of the picture is (the median), so light-on-dark screenshots and
    MNIST itself are inverted to dark-on-light first. Paper brightness is then estimated locally
    (a max filter wider than any stroke, smoothed) and each pixel's ink is its darkness below it.
    `coarse` > 1 (a page): polarity and paper are judged on a copy that many times smaller and the
    paper brought back up (it is smooth, so nothing of it is lost), several times cheaper.
    `shadows` (pictures of several digits): where the max filter's paper makes a shadow or a dark
    corner of a photo ink (it spreads the lit paper into it, and the shadow swallowed the digits
    in it), the paper is taken as the median of a wide window instead, strokes thinned away first.
    Only there: on evenly lit paper the max filter's estimate is kept, and a single digit never
    asks for it (its bold strokes may cover half of any window). `shaded`: the paper followed into
    shadows whatever the max filter finds (the caller saw it join a page's digits into one blob).
    `follow_light` (a page at its reading scale): the paper is the max filter's closing (a min
    filter of the same size after it), which follows a slope of light across a sheet, where the
    max filter alone carries the brighter paper a window away onto the dimmer, and a faint grid
    there was ink. Not on numbers: photographed numbers read worse with it.
    Raises NoDigitFound when the picture has no contrast at all.
    """
    g = grey
    h, w = g.shape
    side = max(h, w)
    probe = g if coarse == 1 or side <= SMALL_SIDE else cv2.resize(
        g, (max(1, w // coarse), max(1, h // coarse)), interpolation=cv2.INTER_AREA)
    if side <= SMALL_SIDE:
        # small: the median and the paper level from one partial sort. The 0.9 quantile of 1 - g
        # is 1 - the value of g at the mirrored rank (1 - x keeps the order, reversed)
        flat = g.ravel()
        n = len(flat)
        k50, k90 = _rank(n, 0.5), _rank(n, 0.9)
        part = np.partition(flat, [k50, k90, n - 1 - k90])
        if _small_dark_paper(float(part[k50]), float(g.min()), float(g.max())):
            g = 1.0 - g
            paper = float(np.float32(1.0) - part[n - 1 - k90])
        else:
            paper = float(part[k90])
        paper = max(paper, 0.05)
    elif dark_paper(probe):
        g, probe = (1.0 - g, 1.0 - probe) if probe is not g else (1.0 - g,) * 2
    # light multiplies reflectance, so ink is the share of the local paper brightness it absorbs
    if side <= SMALL_SIDE:
        dark = 1.0 - g / np.float32(paper)
    else:
        k = _odd(max(probe.shape) / 5)
        smooth = cv2.GaussianBlur(probe, (3, 3), 0)
        square = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        paper_map = cv2.dilate(smooth, square)
        if follow_light:
            paper_map = cv2.erode(paper_map, square)
        paper_map = cv2.blur(paper_map, (k, k))
        floor = None
        if shadows or shaded:
            followed = _shaded_paper(smooth, k)
            seen, seen_lit = _ink_share(smooth, followed), _ink_share(smooth, paper_map)
            if shaded or seen < 0.5 * seen_lit:
                # a shadow read as ink: paper far darker than the picture's own (the table round
                # a photographed sheet, a deep shadow) holds noise as strong as its writing, so
                # its contrast counts against the picture's typical paper, not its own
                floor = np.float32(max(0.05, 0.5 * float(np.median(followed))))
                paper_map = _shadow_edge_back(followed, k) if seen < SHADOW_DEEP * seen_lit else followed
        if paper_map.shape != g.shape:
            paper_map = cv2.resize(paper_map, (w, h), interpolation=cv2.INTER_LINEAR)
        if floor is None:
            # 1 - g / max(paper, 0.05), in the paper map's own memory: a page's temporaries cost
            # more than their arithmetic
            dark = np.maximum(paper_map, np.float32(0.05), out=paper_map)
            np.divide(g, dark, out=dark)
            np.subtract(np.float32(1.0), dark, out=dark)
        else:
            dark = (paper_map - g) / np.maximum(paper_map, floor)
    np.maximum(dark, np.float32(0.0), out=dark)  # np.clip, without its Python-level overhead
    np.minimum(dark, np.float32(1.0), out=dark)
    peak = cv2.GaussianBlur(dark, (3, 3), 0).max() if side > SMALL_SIDE else dark.max()
    if float(peak) < MIN_CONTRAST:
        raise NoDigitFound("no digit found")
    dark *= np.float32(1.0 / float(peak))
    return np.minimum(dark, np.float32(1.0), out=dark).astype(np.float32, copy=False)


def stroke_width(mask: np.ndarray, area: float | None = None) -> float:
    """Mean stroke width of a binary shape: for a stroke of length L and width w, area = L*w and
    the outline is about 2L long, so w = 2*area/perimeter. `area`: its pixel count, if known."""
    m = mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8)
    area = float(np.count_nonzero(m)) if area is None else area
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(len(c) for c in contours)
    return max(1.0, 2.0 * area / max(1.0, float(perimeter)))


def solidity(mask: np.ndarray) -> float:
    """Area of a shape over the area of its convex hull: near 1 for a blob, lower for strokes."""
    pts = cv2.findNonZero(mask.astype(np.uint8))
    if pts is None or len(pts) < 3:
        return 1.0
    hull = cv2.convexHull(pts)
    return float(np.count_nonzero(mask)) / max(1.0, float(cv2.contourArea(hull)) + len(hull) / 2)


def _is_frame(comp: np.ndarray) -> bool:
    """A component that runs along all four sides of its own bounding box: a box drawn round the digit."""
    h, w = comp.shape
    if h < 8 or w < 8:
        return False
    bh, bw = max(2, h // 12), max(2, w // 12)
    top = comp[:bh].any(axis=0).mean()
    bottom = comp[-bh:].any(axis=0).mean()
    left = comp[:, :bw].any(axis=1).mean()
    right = comp[:, -bw:].any(axis=1).mean()
    return bool(min(top, bottom, left, right) >= 0.75)


def _candidates(ink: np.ndarray, labels: np.ndarray, stats: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """The components that may be digit: not a band along the image edge, not a frame round
    other ink. All of them when every one looks like clutter."""
    h, w = ink.shape
    n = len(stats)
    keep = np.ones(n, bool)
    keep[0] = False
    for i in range(1, n):
        x, y, cw, ch, _area = stats[i]
        at_edge = x == 0 or y == 0 or x + cw == w or y + ch == h
        if at_edge and ((cw <= 0.1 * w and ch >= 0.4 * h) or (ch <= 0.1 * h and cw >= 0.4 * w)):
            keep[i] = False  # a band along the edge: scanner shadow or page edge
    for i in range(1, n):
        x, y, cw, ch, _area = stats[i]
        if not (keep[i] and cw >= 0.4 * w and ch >= 0.4 * h):
            continue
        # cheap test first: a frame only matters when it encloses ink (a lone digit never does)
        inside = [j for j in range(1, n) if j != i and keep[j]
                  and stats[j, 0] > x and stats[j, 1] > y
                  and stats[j, 0] + stats[j, 2] < x + cw and stats[j, 1] + stats[j, 3] < y + ch]
        if inside and mass[inside].max() >= 0.05 * mass[i] and _is_frame(labels[y:y + ch, x:x + cw] == i):
            keep[i] = False  # a frame drawn round the digit
    if not keep.any():
        keep[1:] = True  # everything looked like clutter: better to read it than to drop it
    return np.flatnonzero(keep)


def find_digit(ink: np.ndarray) -> Found:
    """Pick the digit's strokes out of an ink map; raise NoDigitFound when there is none.

    Components are found on a thresholded copy. Dropped: thin bands along the image edge (scanner
    shadows, page edges), box frames that enclose other ink, and specks (small and away from the
    digit). Kept: the component with most ink and every sizeable component near it, so a digit
    drawn in separate strokes stays whole.
    """
    h, w = ink.shape
    u8 = (ink * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = min(max(otsu / 255.0 * 0.6, 0.2), 0.5)
    mask = (ink > t).view(np.uint8)  # 0/1, without a copy
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if mask.size - int(stats[0, 4]) > 0.45 * mask.size:  # label 0 is every pixel below the threshold
        raise NoDigitFound("no digit found")
    if n <= 1:
        raise NoDigitFound("no digit found")
    if n == 2:
        # one component, the common case: it is the digit whatever `_candidates` would say
        # (dropped as clutter, it would be taken back), and needs no weighing
        mass, cand = np.array([0.0, 1.0]), np.array([1])
    else:
        mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n)
        cand = _candidates(ink, labels, stats, mass)
    main = 1 if n == 2 else int(cand[np.argmax(mass[cand])])
    x0, y0, mw, mh, _ = stats[main].tolist()
    x1, y1 = x0 + mw, y0 + mh
    chosen = {main}
    grew = True
    while grew:
        grew = False
        reach = 0.35 * max(x1 - x0, y1 - y0)
        for j in map(int, cand):
            if j in chosen or mass[j] < 0.03 * mass[main]:
                continue
            jx0, jy0 = int(stats[j, 0]), int(stats[j, 1])
            jx1, jy1 = jx0 + int(stats[j, 2]), jy0 + int(stats[j, 3])
            gap = max(jx0 - x1, x0 - jx1, jy0 - y1, y0 - jy1, 0)
            if gap <= reach:
                chosen.add(j)
                x0, y0, x1, y1 = min(x0, jx0), min(y0, jy0), max(x1, jx1), max(y1, jy1)
                grew = True
    bw, bh = x1 - x0, y1 - y0
    if max(bw, bh) < 3 or (max(bw, bh) < 0.04 * max(h, w) and max(h, w) > 100):
        raise NoDigitFound("no digit found")  # a dot, not a digit
    if n == 2:
        sel = labels[y0:y1, x0:x1] != 0
    else:
        lut = np.zeros(n, bool)
        lut[list(chosen)] = True
        sel = lut[labels[y0:y1, x0:x1]]
    stroke = stroke_width(sel, area=float(sum(int(stats[j, 4]) for j in chosen)))
    if (stroke > 0.3 * max(bw, bh) and 0.6 < bw / bh < 1.7 and max(bw, bh) > 6 and sel.mean() > 0.7
            and solidity(sel) > 0.93 and solidity(sel & (ink[y0:y1, x0:x1] > 0.75)) > 0.93):
        # strokes as wide as the shape is long, filling its box, with no hollow or bay: a solid
        # blob, a smudge or a stain (a bold 0, 6 or 8 keeps its holes and waists, a bold 1 is
        # long or leans and leaves its box half empty)
        raise NoDigitFound("no digit found")
    keepmask = cv2.dilate(sel.view(np.uint8), _SQUARE3)
    crop = ink[y0:y1, x0:x1] * keepmask
    left_out = _left_out(stats, mass, chosen, main, (x0, y0, x1, y1), (h, w)) if n > 2 else 0
    return Found(ink=crop.astype(np.float32, copy=False), box=(x0, y0, bw, bh), stroke=stroke, left_out=left_out)


def _left_out(stats: np.ndarray, mass: np.ndarray, chosen: set[int], main: int, box: tuple[int, int, int, int],
              shape: tuple[int, int]) -> int:
    """How many marks beside the digit may be digits too: components at least half its height
    and a tenth of its ink that were left out (not spanning the picture: an edge shadow, a rule;
    not round it: a frame), or that were taken in but stand wholly beside the main stroke as tall
    as it ("12" drawn in 28x28 pixels is read whole as a sure 2). The file then goes to review."""
    x0, y0, x1, y1 = box
    h, w = shape
    mx0, mx1, mh = int(stats[main, 0]), int(stats[main, 0] + stats[main, 2]), int(stats[main, 3])
    out = 0
    for j in range(1, len(stats)):
        if j == main or mass[j] < 0.1 * mass[main]:
            continue
        x, y, cw, ch = (int(v) for v in stats[j, :4])
        if j in chosen:
            out += int(ch >= 0.6 * mh and (x >= mx1 or x + cw <= mx0))
            continue
        if ch < 0.5 * (y1 - y0) or ch >= 0.9 * h or cw >= 0.9 * w:
            continue
        if x <= x0 and y <= y0 and x + cw >= x1 and y + ch >= y1:
            continue
        out += 1
    return out


@functools.lru_cache(maxsize=512)
def _grid(h: int, w: int) -> np.ndarray:
    """Row and column indices of an h x w image, flattened into the two rows of one float64
    array, made once per shape: one matrix product then gives both moments."""
    g = np.indices((h, w)).astype(np.float64).reshape(2, h * w)
    g.flags.writeable = False
    return g


def mnist_stroke(crop: np.ndarray, stroke: float, scale: float) -> np.ndarray:
    """`crop` with its strokes (`stroke` pixels wide) thickened or thinned so that, once scaled by
    `scale`, they are about as wide as MNIST's: a hair-thin pen or a marker reads like MNIST's ink."""
    s20 = stroke * scale
    if s20 < 0.55 * MNIST_STROKE:
        r = round((0.7 * MNIST_STROKE / scale - stroke) / 2)
        if r >= 1:
            c = cv2.copyMakeBorder(crop, r, r, r, r, cv2.BORDER_CONSTANT, value=0)
            return np.asarray(cv2.dilate(c, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))))
    elif s20 > 2.0 * MNIST_STROKE:
        r = int((stroke - 1.5 * MNIST_STROKE / scale) / 2)
        if r >= 1:
            return np.asarray(cv2.erode(crop, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))))
    return crop


def frame28(crop: np.ndarray, stroke: float) -> np.ndarray:
    """Fit the digit in a 20x20 box keeping its aspect ratio, bring its stroke width towards
    MNIST's, and centre it by centre of mass in 28x28. A crop over `WORK_SIDE` (no digit: a
    page's rules joining its digits into one mark) is shrunk to it first, as a one-digit file
    is, so that thickening its strokes costs milliseconds, not most of a second."""
    if max(crop.shape) > WORK_SIDE:
        f = WORK_SIDE / max(crop.shape)
        h, w = crop.shape
        crop = cv2.resize(crop, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        stroke *= f
    c = mnist_stroke(crop, stroke, 20.0 / max(crop.shape))
    h, w = c.shape
    scale = 20.0 / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(c, (nw, nh), interpolation=interp)
    peak = cv2.minMaxLoc(small)[1]
    if peak <= 0:
        raise NoDigitFound("no digit found")
    small = (small / peak).astype(np.float32, copy=False)
    tot = float(small.sum())
    my, mx = _grid(nh, nw) @ small.ravel().astype(np.float64)
    cy, cx = float(my / tot), float(mx / tot)
    oy = min(max(round(14 - cy), 0), 28 - nh)
    ox = min(max(round(14 - cx), 0), 28 - nw)
    out = np.zeros((28, 28), np.float32)
    out[oy:oy + nh, ox:ox + nw] = small
    return out


def normalise(img: np.ndarray) -> np.ndarray:
    """Decoded image of any kind -> 28x28 float32 in [0, 1], white ink on black, MNIST-framed.

    Raises NoDigitFound when there is no digit to read (blank page, noise, a smudge).
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype == np.uint8 and a.ndim == 2 and 0 < a.size and max(a.shape) <= SMALL_SIDE:
        ink = _small_ink_map(a)  # the common case (MNIST-sized grey files): same result, faster
    else:
        grey = to_grey(a)
        if grey.size == 0:
            raise NoDigitFound("no digit found")
        h, w = grey.shape
        if max(h, w) > WORK_SIDE:
            f = WORK_SIDE / max(h, w)
            grey = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        ink = ink_map(grey)
    found = find_digit(ink)
    return frame28(found.ink, found.stroke)


#: `to_grey` of each 8-bit value, and its inverse: the same float32 operations on a table
_GREY8 = np.arange(256, dtype=np.float32) * (1.0 / 255.0)
_GREY8_INVERTED = 1.0 - _GREY8


@functools.lru_cache(maxsize=512)
def _dark8(inverted: bool, paper: float) -> np.ndarray:
    """`ink_map`'s darkness, before peak scaling, of each 8-bit value (read only: it is shared)."""
    g = _GREY8_INVERTED if inverted else _GREY8
    dark = 1.0 - g / np.float32(paper)
    np.maximum(dark, np.float32(0.0), out=dark)
    np.minimum(dark, np.float32(1.0), out=dark)
    dark.flags.writeable = False
    return dark


def _small_ink_map(a: np.ndarray) -> np.ndarray:
    """`ink_map(to_grey(a))` for a small 8-bit grey image, computed on the 256 values a pixel can
    take and then looked up: every pixel goes through exactly the float32 operations it would
    there (elementwise operations do not depend on their neighbours), so the result is identical
    (also checked on 14,289 images). Ranks are taken on the 8-bit values: the map to grey keeps
    their order."""
    flat = a.ravel()
    n = len(flat)
    k50, k90 = _rank(n, 0.5), _rank(n, 0.9)
    part = np.partition(flat, [k50, k90, n - 1 - k90])
    inverted = _small_dark_paper(float(_GREY8[part[k50]]), float(_GREY8[a.min()]), float(_GREY8[a.max()]))
    paper = float(_GREY8_INVERTED[part[n - 1 - k90]]) if inverted else float(_GREY8[part[k90]])
    dark = _dark8(inverted, max(paper, 0.05))
    # darkness falls as grey rises, so the darkest pixel is the lowest value (highest, inverted)
    peak = float(dark[a.max() if inverted else a.min()])
    if peak < MIN_CONTRAST:
        raise NoDigitFound("no digit found")
    scaled = dark * np.float32(1.0 / peak)
    np.minimum(scaled, np.float32(1.0), out=scaled)
    return scaled[a]
