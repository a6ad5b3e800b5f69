"""Normalisation on synthetic pictures; no TensorFlow involved."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from watcher.errors import NoDigitFound
from watcher.normalise import ink_map, normalise, to_grey


def seven(size: int = 200, thickness: float = 14) -> np.ndarray:
    """A '7' drawn dark on white paper, size x size."""
    img = np.full((size, size), 255, np.uint8)
    s = size / 200
    pts = np.array([[60, 50], [140, 50], [90, 160]], float) * s
    p = pts.astype(int)
    cv2.line(img, tuple(p[0]), tuple(p[1]), 0, max(1, int(thickness * s)), cv2.LINE_AA)
    cv2.line(img, tuple(p[1]), tuple(p[2]), 0, max(1, int(thickness * s)), cv2.LINE_AA)
    return img


def similar(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 maps, allowing the one-pixel shift that centring may round to."""
    best = -1.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            best = max(best, float(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())[0, 1]))
    return best


def framing_ok(x: np.ndarray) -> None:
    """MNIST framing: 28x28 in [0,1], the digit inside a 20x20 box, centre of mass near the middle."""
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    ys, xs = np.nonzero(x > 0.05)
    assert ys.max() - ys.min() <= 21 and xs.max() - xs.min() <= 21
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) >= 18  # fitted to the box, not left small
    cy, cx = (np.indices(x.shape) * x).reshape(2, -1).sum(1) / x.sum()
    assert abs(cy - 14) < 1.5 and abs(cx - 14) < 1.5


def test_dark_on_light_and_light_on_dark_give_the_same_result() -> None:
    img = seven()
    a, b = normalise(img), normalise(255 - img)
    framing_ok(a)
    assert np.abs(a - b).max() < 0.05


def test_mnist_digits_pass_through_nearly_unchanged(mnist: dict[str, np.ndarray]) -> None:
    x = mnist["x_test"][:200]
    out = np.stack([normalise(im) for im in x])
    corr = np.corrcoef(out.ravel(), (x / 255.0).ravel())[0, 1]
    assert corr > 0.98


def test_off_centre_digit_on_a_big_canvas_is_found_and_centred() -> None:
    canvas = np.full((1200, 1600), 250, np.uint8)
    canvas[900:1100, 1300:1500] = seven()[:, :]
    centred = normalise(seven())
    found = normalise(canvas)
    framing_ok(found)
    assert np.abs(found - centred).mean() < 0.03


def test_colour_and_uneven_lighting() -> None:
    ink = 1.0 - cv2.cvtColor(seven(400, 20), cv2.COLOR_GRAY2BGR).astype(np.float32) / 255
    img = ink * np.array([0.6, 0.3, 0.1]) + (1 - ink) * np.array([0.8, 0.93, 1.0])  # blue ink on cream (BGR)
    xx = np.mgrid[0:400, 0:400][1] / 400.0
    img = img * (1.0 - 0.45 * xx)[..., None]  # light falls off to the right
    x = normalise((img * 255).astype(np.uint8))
    framing_ok(x)
    assert similar(x, normalise(seven(400, 20))) > 0.95


def test_alpha_is_flattened_onto_white() -> None:
    ink = 255 - seven()
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., :3] = 0  # black everywhere: only alpha says where the strokes are
    rgba[..., 3] = ink
    framing_ok(normalise(rgba))
    rgba2 = np.zeros((200, 200, 4), np.uint8)
    rgba2[..., :3] = 30
    rgba2[..., 3] = 255
    rgba2[ink < 128, 3] = 0  # transparent paper, opaque dark strokes
    assert np.abs(normalise(rgba) - normalise(rgba2)).mean() < 0.05


def test_sixteen_bit_and_float_images() -> None:
    img = seven()
    framing_ok(normalise(img.astype(np.uint16) * 257))
    framing_ok(normalise(img.astype(np.float32) / 255))
    assert to_grey(img.astype(np.uint16) * 257).max() == pytest.approx(1.0)


def test_specks_and_scanner_edge_shadow_are_ignored() -> None:
    clean = seven(300)
    dirty = clean.copy()
    rng = np.random.default_rng(0)
    for _ in range(25):
        cv2.circle(dirty, (int(rng.integers(0, 300)), int(rng.integers(0, 300))), 2, 60, -1)
    dirty[:, :8] = 20  # dark band down the left edge
    a, b = normalise(clean), normalise(dirty)
    framing_ok(b)
    assert np.abs(a - b).mean() < 0.03


def test_a_box_drawn_round_the_digit_is_ignored() -> None:
    img = np.full((300, 300), 255, np.uint8)
    img[50:250, 50:250] = seven()
    boxed = img.copy()
    cv2.rectangle(boxed, (15, 15), (285, 285), 0, 3)
    framing_ok(normalise(boxed))
    assert np.abs(normalise(img) - normalise(boxed)).mean() < 0.02


@pytest.mark.parametrize("name", ["blank", "grey", "noise", "smudge", "dot"])
def test_no_digit_is_no_digit(name: str) -> None:
    rng = np.random.default_rng(1)
    img = {
        "blank": np.full((400, 300), 255, np.uint8),
        "grey": np.full((50, 50), 128, np.uint8),
        "noise": rng.integers(0, 256, (200, 200), dtype=np.uint8),
        "smudge": cv2.GaussianBlur(cv2.circle(np.full((300, 300), 255, np.uint8), (150, 150), 40, 90, -1), (0, 0), 6),
        "dot": cv2.circle(np.full((600, 600), 255, np.uint8), (300, 300), 4, 0, -1),
    }[name]
    with pytest.raises(NoDigitFound):
        normalise(img)


def test_thin_pencil_line_is_thickened_like_mnist() -> None:
    thin = seven(600, 2)  # a 1-2 px line on a large canvas
    x = normalise(thin)
    framing_ok(x)
    assert (x > 0.5).sum() > 40  # strokes survive downscaling with MNIST-like weight


def test_a_crop_bigger_than_a_digit_is_framed_small_before_its_strokes_are_thickened(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A page's rules can join all of its digits into one mark thousands of pixels across: its
    hair-thin strokes were thickened at full size by a kernel hundreds of pixels wide (0.7 s a
    piece, 66 s for one 600-dpi page's pieces). It is shrunk to `WORK_SIDE` first, as a one-digit
    file is, and a big thin digit still frames like the same digit drawn smaller."""
    from watcher import normalise as nm

    sizes: list[int] = []
    real = nm.mnist_stroke

    def spy(crop: np.ndarray, stroke: float, scale: float) -> np.ndarray:
        sizes.append(max(crop.shape))
        return real(crop, stroke, scale)

    monkeypatch.setattr(nm, "mnist_stroke", spy)
    def tight(img: np.ndarray) -> np.ndarray:
        ink = ink_map(to_grey(img))
        x, y, w, h = cv2.boundingRect((ink > 0.3).astype(np.uint8))
        return ink[y:y + h, x:x + w]

    big, small = tight(seven(3000, 0.25)), tight(seven(600, 0.25))  # strokes 3 px and 1 px wide
    x_big, x_small = nm.frame28(big, 3.0), nm.frame28(small, 1.0)
    assert max(big.shape) > 1000 and sizes == [nm.WORK_SIDE, max(small.shape)]
    framing_ok(x_big)
    assert similar(x_big, x_small) > 0.8


def test_the_small_image_shortcut_equals_the_general_path(mnist: dict[str, np.ndarray]) -> None:
    """Small 8-bit grey files take a table-lookup path; it must give exactly what the general one
    gives, for MNIST digits either way round, odd sizes and noise."""
    from watcher.normalise import _small_ink_map, ink_map

    rng = np.random.default_rng(5)
    images = [255 - im for im in mnist["x_test"][:300]] + list(mnist["x_test"][300:400])
    images += [rng.integers(0, 256, (h, w), dtype=np.uint8) for h, w in ((1, 1), (7, 40), (40, 33), (28, 28))]
    images += [np.where(rng.random((30, 30)) < 0.1, rng.integers(0, 90), rng.integers(150, 256)).astype(np.uint8)
               for _ in range(50)]
    compared = 0
    for im in images:
        try:
            want = ink_map(to_grey(im))
        except NoDigitFound:
            with pytest.raises(NoDigitFound):
                _small_ink_map(im)
            continue
        assert np.array_equal(_small_ink_map(im), want)
        compared += 1
    assert compared >= 400


def test_the_paper_followed_into_shade_on_request_leaves_no_band_round_a_lit_patch() -> None:
    """A page with a lit patch over part of it, its edge sharp: the max filter carries the lit
    paper past the edge, and the shaded paper beside it reads as ink that joins the digits into
    one blob. The shaded paper rule of `shadows` alone keeps that estimate (it finds more than half
    as much ink either way); `shaded` follows the paper into the shade, as the reader asks when
    that blob was all a photographed sheet gave."""
    from watcher.normalise import ink_map

    grey = np.full((600, 450), 0.62, np.float32)
    strokes = np.zeros(grey.shape, np.uint8)
    for r in range(12):
        for c in range(9):
            cv2.putText(strokes, str((r + c) % 10), (20 + 47 * c, 40 + 48 * r), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 2)
    paper = cv2.dilate(strokes, np.ones((5, 5), np.uint8)) == 0
    grey[strokes > 0] = 0.12
    grey[300:, 220:] = np.minimum(grey[300:, 220:] * 1.5, 1.0)  # the lit patch
    beside = np.zeros(grey.shape, bool)
    beside[240:, 160:] = True
    beside[300:, 220:] = False  # the unlit paper within 60 pixels of the patch
    carried = ink_map(grey, shadows=True)
    followed = ink_map(grey, shadows=True, shaded=True)
    assert np.mean(carried[beside & paper] > 0.25) > 0.5  # the band the blob was made of
    assert np.mean(followed[beside & paper] > 0.25) < 0.15
    assert np.all(followed[strokes > 0] > 0.25)  # every stroke still ink, in the light and out of it


def _half_lit(writing: float, board: float, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A bold "44" (grey `writing`) on mid-grey paper or a board (`board`), with a patch of paper
    lit brighter past a sharp edge aslant in a corner, noisy there as a phone's lit paper is."""
    rng = np.random.default_rng(seed)
    h, w = 222, 406
    grey = np.full((h, w), board, np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    lit = yy > 280 - 0.45 * xx
    grey[lit] = 0.9
    strokes = np.zeros((h, w), np.uint8)
    cv2.putText(strokes, "44", (70, 140), cv2.FONT_HERSHEY_SIMPLEX, 2.6, 255, 12)
    grey[strokes > 0] = writing
    noise = rng.normal(0, 1, grey.shape) * np.where(lit, 0.1, 0.03)
    return np.clip(cv2.GaussianBlur(grey, (9, 9), 0) + noise, 0, 1).astype(np.float32), strokes > 0


def test_polarity_of_a_mid_grey_photo_is_not_decided_by_the_noise_of_its_lit_patch() -> None:
    """A photo mostly in shade is mid-grey, and its polarity is decided by what departs most from
    a wide blur: the one lightest pixel against the one darkest, a lit patch's noise against the
    writing, took a bold "44" for light writing on dark paper (the shade its ink: read
    "33811312165"). The lightest and darkest thousandth decide; light writing on a mid-grey board
    still reads as such."""
    from watcher.normalise import dark_paper, ink_map

    dark_on_paper, strokes = _half_lit(0.15, 0.5)
    assert not dark_paper(dark_on_paper)
    ink = ink_map(dark_on_paper, shadows=True)
    paper = ~cv2.dilate(strokes.view(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.mean(ink[strokes] > 0.5) > 0.9 and np.mean(ink[paper] > 0.5) < 0.05
    chalk_on_board, _ = _half_lit(0.9, 0.4)
    assert dark_paper(chalk_on_board)


def _numbers_on(paper: float, ink: float, size: tuple[int, int], thick: int, seed: int) -> np.ndarray:
    """Three lines of digits drawn in `ink` on `paper` (0-255), grey, `thick` the pen."""
    w, h = size
    img = np.full((h, w), paper, np.uint8)
    rng = np.random.default_rng(seed)
    for i in range(3):
        text = " ".join(str(v) for v in rng.integers(0, 10, 6))
        cv2.putText(img, text, (w // 12, (i + 1) * h // 4), cv2.FONT_HERSHEY_SIMPLEX, h / 300, ink, thick, cv2.LINE_AA)
    return img


def test_a_dim_photo_of_paper_is_dark_writing_and_a_board_light_writing() -> None:
    """A photo of paper taken in dim light has its paper 0.2-0.3 grey, where every picture was
    taken for a board (light writing on dark paper): its ink was read as the paper, and the file
    was an error row. There the writing is what departs most from a wide median, darker on paper,
    lighter on a board, also on a small crop of a board's bold strokes and where the paper's lit
    part lies beside a shade darker than it (the median pixel then the shade's)."""
    from watcher.normalise import dark_paper

    rng = np.random.default_rng(3)

    def photo(img: np.ndarray, light: np.ndarray | float, noise: float) -> np.ndarray:
        g = img.astype(np.float32) / 255 * light + rng.normal(0, noise / 255, img.shape)
        return np.clip(g, 0, 1).astype(np.float32)

    paper = _numbers_on(220, 40, (640, 480), 3, 1)
    for dim in (0.3, 0.4, 0.55):  # evenly lit: paper at 0.26, 0.35 and 0.47
        assert not dark_paper(photo(paper, dim, 2))
    xx = np.mgrid[0:480, 0:640][1].astype(np.float32)
    shade = 0.8 * (1 - 0.65 / (1 + np.exp(-(xx - 220) / 20)))  # its right part in shade
    half = photo(paper, shade, 3)
    assert 0.1 < float(np.median(half)) <= 0.3
    assert not dark_paper(half)
    board = photo(_numbers_on(40, 215, (640, 480), 3, 2), 1.0, 3)
    assert dark_paper(board)
    for digit in "2357":  # a crop of one bold digit in chalk, its strokes a fifth of its width
        chalk = np.full((76, 44), 45, np.uint8)
        cv2.putText(chalk, digit, (2, 66), cv2.FONT_HERSHEY_SIMPLEX, 2.2, 225, 9, cv2.LINE_AA)
        crop = photo(chalk, 1.0, 2)
        assert 0.1 < float(np.median(crop)) <= 0.3
        assert dark_paper(crop)


def test_a_bold_digit_photographed_dim_is_dark_writing_and_a_mid_grey_board_light_writing() -> None:
    """A bold digit (a marker, a crop binarised by a scanner) photographed dim has its paper
    0.4-0.6 grey and strokes a twelfth of the picture wide. Against a blur a tenth of the picture
    wide, the paper beside such a stroke departed lighter than the stroke departed darker, and
    the picture was taken for light writing on a board: its paper read as the ink (wild-dev's
    bold 0 and 6 so photographed read "11" and "1111110"). The wide median, which the paper
    outnumbers, must say so too; a board as grey, thin chalk on it, is light writing still."""
    from watcher.normalise import dark_paper

    rng = np.random.default_rng(5)

    def photo(img: np.ndarray, light: float, noise: float) -> np.ndarray:
        g = img.astype(np.float32) / 255 * light + rng.normal(0, noise / 255, img.shape)
        return np.clip(g, 0, 1).astype(np.float32)

    for digit in "02689":
        crop = np.full((210, 180), 255, np.uint8)
        cv2.putText(crop, digit, (30, 175), cv2.FONT_HERSHEY_SIMPLEX, 5, 0, 16, cv2.LINE_AA)
        for dim in (0.4, 0.5, 0.58):  # 7 of these 15 were taken for a board
            g = photo(crop, dim, 4)
            assert 0.3 < float(np.median(g)) < 0.6
            assert not dark_paper(g), (digit, dim)
    ring = np.full((200, 190), 255, np.uint8)  # a big bold 0, its inside ringed by more ink than
    cv2.ellipse(ring, (95, 100), (50, 66), 0, 0, 360, 0, 36)  # paper: a wide median was ink there
    assert not dark_paper(photo(ring, 0.45, 4))
    for paper in (90, 120, 140):  # 0.35-0.55 grey
        assert dark_paper(photo(_numbers_on(paper, 235, (640, 480), 3, 4), 1.0, 3))


def test_a_page_s_paper_follows_the_light_falling_off_across_the_sheet() -> None:
    """The light falls off towards one side of a photographed sheet. The max filter's paper is
    carried from the brighter paper a window away onto the dimmer, and there the paper itself
    came out as ink (a faint grid's cells read as marks). On a page the paper follows the slope."""
    h, w = 600, 1000
    x = np.arange(w, dtype=np.float32)
    g = np.tile(0.9 * (1.0 - 0.5 * (x / w) ** 2), (h, 1)).astype(np.float32)
    lines = np.zeros((h, w), bool)
    lines[::50, :] = True
    lines[:, ::50] = True
    g[lines] *= 0.8  # a faint grid, a fifth darker than its paper
    g[280:320, 100:400] = 0.1  # a bold stroke
    paper = ~lines
    paper[270:330, 90:410] = False
    dim = (slice(None), slice(800, 950))
    assert float(ink_map(g)[dim][paper[dim]].mean()) > 0.1  # the max filter: the dim paper is ink
    ink = ink_map(g, follow_light=True)
    assert float(ink[dim][paper[dim]].mean()) < 0.05
    assert float(ink[dim][lines[dim]].mean()) - float(ink[dim][paper[dim]].mean()) > 0.2  # the grid stands out
