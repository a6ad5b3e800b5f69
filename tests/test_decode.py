"""Decoding untrusted files: formats read, limits checked before decoding, failures as data."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from watcher import decode
from watcher.errors import (
    CorruptImage,
    EmptyFile,
    FileFailure,
    NoDigitFound,
    NotAnImage,
    NotRegularFile,
    TooLarge,
)
from watcher.normalise import normalise

LIMIT_BYTES, LIMIT_PIXELS = 50_000_000, 64_000_000


def digit_image() -> np.ndarray:
    img = np.full((60, 50), 255, np.uint8)
    cv2.putText(img, "4", (8, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.8, 0, 5)
    return img


def pil_bytes(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def grey_pil() -> Image.Image:
    return Image.fromarray(digit_image())


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF"])
def test_common_formats_decode_to_the_same_digit(fmt: str) -> None:
    data = pil_bytes(grey_pil().convert("RGB"), fmt)
    img = decode.decode(data, LIMIT_PIXELS)
    assert img.shape[:2] == (60, 50)
    ref = normalise(digit_image())
    assert float(np.corrcoef(normalise(img).ravel(), ref.ravel())[0, 1]) > 0.95


@pytest.mark.parametrize(("orientation", "stored"), [(6, cv2.ROTATE_90_COUNTERCLOCKWISE),
                                                    (8, cv2.ROTATE_90_CLOCKWISE), (3, cv2.ROTATE_180)])
def test_a_phone_photo_turned_by_its_exif_orientation_is_read_as_shown(orientation: int, stored: int) -> None:
    # a phone held upright stores its pixels sideways and says so in EXIF; OpenCV turns them
    # back, and a quarter turn swaps width and height: the size check called such a file
    # "corrupt or truncated JPEG"
    im = Image.fromarray(cv2.rotate(digit_image(), stored))
    exif = im.getexif()
    exif[0x0112] = orientation
    data = pil_bytes(im, "JPEG", exif=exif.tobytes(), quality=95)
    assert decode.claimed_size(data, "jpeg") == (50, 60)  # as shown
    ref = normalise(digit_image())
    for img in (decode.decode(data, LIMIT_PIXELS), decode._pillow(data), decode.decode_scaled(data, LIMIT_PIXELS)[0]):
        assert img.shape[:2] == (60, 50)
        assert float(np.corrcoef(normalise(img).ravel(), ref.ravel())[0, 1]) > 0.95


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize(("orientation", "stored"), [(6, cv2.ROTATE_90_COUNTERCLOCKWISE), (3, cv2.ROTATE_180),
                                                    (2, None)])
def test_a_png_or_webp_turned_by_its_exif_orientation_is_read_as_shown(fmt: str, orientation: int,
                                                                       stored: int | None) -> None:
    """OpenCV follows a JPEG's EXIF orientation but not a PNG's or a WebP's: such a file was read
    as stored, a photo taken upright lying on its side ("7210" read "0", to review)."""
    shown = digit_image()
    raw = cv2.flip(shown, 1) if stored is None else cv2.rotate(shown, stored)  # None: mirrored
    im = Image.fromarray(raw)
    exif = im.getexif()
    exif[0x0112] = orientation
    data = pil_bytes(im, fmt, exif=exif.tobytes(), **({"lossless": True} if fmt == "WEBP" else {}))
    kind = decode.sniff(data)
    assert decode.claimed_size(data, kind) == (50, 60)  # as shown
    for img in (decode.decode(data, LIMIT_PIXELS), decode.decode_scaled(data, LIMIT_PIXELS)[0]):
        assert img.shape[:2] == (60, 50)
        assert np.abs(decode._grey8(img).astype(int) - shown).max() <= 2
    upright = pil_bytes(Image.fromarray(shown), fmt)  # no EXIF: as it was
    assert decode.decode(upright, LIMIT_PIXELS).shape[:2] == (60, 50)


def test_a_big_photo_turned_by_its_exif_orientation_is_decoded_reduced() -> None:
    big = cv2.resize(digit_image(), (3000, 3600), interpolation=cv2.INTER_NEAREST)  # 18 Mpx, shown upright
    big = np.tile(big, (1, 2))  # 6000 x 3600: reduced by 2 when decoded
    im = Image.fromarray(cv2.rotate(big, cv2.ROTATE_90_COUNTERCLOCKWISE))
    exif = im.getexif()
    exif[0x0112] = 6
    img, scale, _pages = decode.decode_scaled(pil_bytes(im, "JPEG", exif=exif.tobytes(), quality=80), LIMIT_PIXELS)
    assert scale == 0.5 and img.shape == (1800, 3000)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16"])
def test_unusual_modes_are_read(mode: str) -> None:
    base = grey_pil()
    if mode == "I;16":
        im = Image.fromarray(digit_image().astype(np.uint16) * 257)
        fmt = "PNG"
    else:
        im = base.convert(mode)
        fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "LA" else "PNG")
    img = decode.decode(pil_bytes(im, fmt), LIMIT_PIXELS)
    assert float(np.corrcoef(normalise(img).ravel(), normalise(digit_image()).ravel())[0, 1]) > 0.95


def test_animated_gif_uses_first_frame() -> None:
    frames = [grey_pil(), Image.new("L", (50, 60), 255)]
    data = pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    normalise(decode.decode(data, LIMIT_PIXELS))  # a digit, not the blank second frame


def _text_page(text: str, size: tuple[int, int] = (400, 200), mode: str = "L") -> Image.Image:
    im = np.full((size[1], size[0]), 255, np.uint8)
    cv2.putText(im, text, (20, size[1] * 3 // 4), cv2.FONT_HERSHEY_SIMPLEX, 3, 0, 6, cv2.LINE_AA)
    return Image.fromarray(im).convert(mode)


@pytest.mark.parametrize(("mode", "compression"), [("L", None), ("RGB", "tiff_lzw"), ("1", "group4")])
def test_a_tiff_of_several_pages_is_decoded_as_its_pages_stacked_in_order(mode: str, compression: str | None) -> None:
    """A scanner's document: every page is read, the first on top (one page only was read before)."""
    pages = [_text_page("12", mode=mode), _text_page("345", (300, 150), mode=mode), _text_page("6", mode=mode)]
    data = pil_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression=compression)
    a = decode.decode(data, LIMIT_PIXELS)
    gap = decode.page_gap([200, 150, 200])
    assert a.dtype == np.uint8 and a.shape == (200 + 150 + 200 + 2 * gap, 400)
    grey = [np.asarray(p.convert("L")) for p in pages]
    assert np.abs(a[:200].astype(int) - grey[0]).max() <= 1
    assert np.abs(a[200 + gap:350 + gap, :300].astype(int) - grey[1]).max() <= 1
    assert np.abs(a[350 + 2 * gap:].astype(int) - grey[2]).max() <= 1
    assert (a[200:200 + gap] == 255).all() and (a[200 + gap:350 + gap, 300:] == 255).all()  # paper between
    # where each page lies, for the reader to read them one by one
    d = decode.decode_scaled(data, LIMIT_PIXELS)
    assert d.pages == ((0, 200), (200 + gap, 350 + gap), (350 + 2 * gap, 550 + 2 * gap)) and d.scale == 1.0
    assert np.array_equal(d.pixels, a)
    # one page stays as it was
    one = pil_bytes(pages[0], "TIFF", compression=compression)
    assert decode.decode(one, LIMIT_PIXELS).shape[:2] == (200, 400)
    assert decode.decode_scaled(one, LIMIT_PIXELS).pages == ((0, 200),)


def netpbm(grey: np.ndarray, magic: str, maxval: int = 255) -> bytes:
    """A Netpbm file of an 8-bit grey picture, written by hand: Pillow writes only maxval 255 and
    65535, and SANE's `scanimage` writes what the scanner gives (4095 for 12-bit samples)."""
    h, w = grey.shape
    head = f"{magic}\n# written by a test\n{w} {h}\n" + ("" if magic in ("P1", "P4") else f"{maxval}\n")
    ink = grey < 128
    values = (grey.astype(np.int64) * maxval + 127) // 255
    if magic == "P1":
        body = "\n".join(" ".join("1" if v else "0" for v in row) for row in ink).encode()
    elif magic == "P4":
        body = np.packbits(ink, axis=1).tobytes()
    elif magic in ("P2", "P3"):
        reps = 1 if magic == "P2" else 3
        body = "\n".join(" ".join(f"{v}" for v in np.repeat(row, reps)) for row in values).encode()
    else:
        reps = 1 if magic == "P5" else 3
        a = np.repeat(values, reps, axis=1)
        body = a.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    return head.encode() + body


@pytest.mark.parametrize(("magic", "maxval"), [("P1", 1), ("P4", 1), ("P2", 255), ("P3", 255), ("P5", 255),
                                               ("P6", 255), ("P5", 100), ("P5", 4095), ("P6", 65535)])
def test_netpbm_files_as_scanimage_writes_them_are_decoded_at_full_scale(magic: str, maxval: int) -> None:
    """SANE's `scanimage` writes Netpbm unless told otherwise ("not an image" before). A 12-bit
    scan's samples go up to 4095, which OpenCV keeps as stored: its paper would read as near black."""
    grey = np.asarray(_text_page("42", (120, 60)))
    data = netpbm(grey, magic, maxval)
    assert decode.sniff(data) == "pnm" and decode.claimed_size(data, "pnm") == (120, 60)
    a = decode.decode(data, LIMIT_PIXELS)
    assert a.shape[:2] == (60, 120)
    g8 = decode._grey8(a).astype(int)
    want = np.where(grey < 128, 0, 255) if maxval == 1 else grey.astype(int)
    assert np.abs(g8 - want).max() <= (0 if maxval == 1 else 255 // maxval + 2)
    assert a.dtype == (np.uint16 if maxval > 255 else np.uint8)
    with pytest.raises(CorruptImage):
        decode.decode(data[: len(data) * 2 // 3], LIMIT_PIXELS)  # a scan still being written
    with pytest.raises(TooLarge):
        decode.decode(data, 120 * 60 - 1)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_phones_heic_or_avif_photo_is_read_as_shown(fmt: str) -> None:
    """An iPhone saves HEIC, some Android phones AVIF ("not an image" before); a photo taken upright
    is stored sideways with its orientation in EXIF, and is read as shown."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    shown = np.asarray(_text_page("42", (160, 80)))
    im = Image.fromarray(cv2.rotate(shown, cv2.ROTATE_90_COUNTERCLOCKWISE)).convert("RGB")
    exif = im.getexif()
    exif[0x0112] = 6
    data = pil_bytes(im, fmt, exif=exif.tobytes(), quality=90)
    kind = decode.sniff(data)
    assert kind == fmt.lower() and decode.claimed_size(data, kind) == (160, 80)
    for a in (decode.decode(data, LIMIT_PIXELS), decode.decode_scaled(data, LIMIT_PIXELS)[0]):
        assert a.shape[:2] == (80, 160)
        assert np.abs(decode._grey8(a).astype(int) - shown).mean() < 8
    with pytest.raises(CorruptImage):
        decode.decode(data[: len(data) // 2], LIMIT_PIXELS)
    with pytest.raises(TooLarge):
        decode.decode(data, 160 * 80 - 1)


def test_a_big_heic_photo_is_decoded_grey() -> None:
    """A 48-Mpx phone photo would take 145 MB of colour in a worker: decoded grey, as a big PNG is."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    shown = np.full((3000, 6000), 255, np.uint8)  # 18 Mpx: over decode.REDUCE_ABOVE
    shown[1000:2000, 1000:1100] = 0
    data = pil_bytes(Image.fromarray(shown).convert("RGB"), "HEIF", quality=50)
    a, scale, _pages = decode.decode_scaled(data, LIMIT_PIXELS)
    assert scale == 1.0 and a.shape == (3000, 6000) and a.dtype == np.uint8
    assert a[1500, 1050] < 60 and a[500, 500] > 200


def minimal_pdf(media_box: str = "0 0 200 100", encrypted: bool = False) -> bytes:
    """A PDF of one blank page written by hand: a page as big as the format allows, or one locked
    by a password (nothing on this machine writes those)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [" + media_box.encode() + b"] >>"]
    if encrypted:  # the standard security handler, with a user password that is not empty
        objs.append(b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objs) + 1)
    if encrypted:
        trailer += b" /Encrypt 4 0 R /ID [<" + b"ab" * 16 + b"> <" + b"ab" * 16 + b">]"
    return out + b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref


def test_a_scanners_pdf_is_read_page_after_page() -> None:
    """An office scanner's "scan to folder" writes PDF ("not an image" before): each page is drawn
    grey at 300 dpi and the pages are stacked in order, as a TIFF's are."""
    from watcher.errors import Encrypted

    pages = [_text_page("12", (600, 300)), _text_page("345", (450, 300)).convert("1")]  # grey, and G4 bilevel
    data = pil_bytes(pages[0], "PDF", resolution=300, save_all=True, append_images=pages[1:])
    a = decode.decode(data, LIMIT_PIXELS)
    gap = decode.page_gap([300, 300])
    assert a.dtype == np.uint8 and a.ndim == 2 and a.shape == (300 + gap + 300, 600)
    first, second = np.asarray(pages[0], int), np.asarray(pages[1].convert("L"), int)
    assert np.abs(a[:300].astype(int) - first).mean() < 3
    assert np.abs(a[300 + gap:, :450].astype(int) - second).mean() < 3
    assert (a[300:300 + gap] == 255).all() and (a[300 + gap:, 450:] == 255).all()
    assert decode.decode_scaled(data, LIMIT_PIXELS)[0].shape == a.shape
    assert decode.decode_scaled(data, LIMIT_PIXELS).pages == ((0, 300), (300 + gap, 600 + gap))
    with pytest.raises(CorruptImage):
        decode.decode(data[: len(data) * 3 // 4], LIMIT_PIXELS)  # still being written: no %%EOF yet
    with pytest.raises(TooLarge, match="2 pages stacked"):
        decode.decode(data, a.size - 1)
    with pytest.raises(TooLarge):  # 200 inches square: refused from the page tree, nothing drawn
        decode.decode(minimal_pdf("0 0 14400 14400"), LIMIT_PIXELS)
    # a picture of 9 Mpx on a page an inch square (300 x 300 drawn): PDFium would decode it whole
    bomb = pil_bytes(Image.new("L", (3000, 3000), 255), "PDF", resolution=3000)
    assert decode.decode(bomb, 9_000_000).shape == (300, 300)
    with pytest.raises(TooLarge, match="holds pictures"):
        decode.decode(bomb, 8_999_999)
    with pytest.raises(Encrypted):
        decode.decode(minimal_pdf(encrypted=True), LIMIT_PIXELS)
    blank = decode.decode(minimal_pdf(), LIMIT_PIXELS)
    assert blank.shape == (417, 834) and (blank == 255).all()


def test_text_that_starts_like_a_netpbm_magic_number_is_no_image() -> None:
    for data in (b"P5x is not a header", b"P7\nWIDTH 3\n", b"P9 1 1 255\n\x00"):
        with pytest.raises(NotAnImage):
            decode.decode(data, LIMIT_PIXELS)
    with pytest.raises(TooLarge):
        decode.decode(b"P5\n100000 100000\n255\n" + b"\x00" * 64, LIMIT_PIXELS)


def test_a_fax_of_standard_resolution_is_decoded_in_square_pixels() -> None:
    """A standard fax is 204 x 98 dpi: its pixels are twice as tall as wide. Shown as stored, its
    digits were squashed to half their height (25 of 60 numbers read right, against 53 from the
    same at 204 x 196 dpi); its rows are now stretched (53 of 60)."""
    page = _text_page("42", (400, 200))
    stored = page.resize((400, 96))  # what the fax machine sends: half the rows
    for pages in ([stored], [stored, stored]):
        data = pil_bytes(pages[0].convert("1"), "TIFF", compression="group3", dpi=(204, 98),
                         save_all=True, append_images=[p.convert("1") for p in pages[1:]])
        a = decode.decode(data, LIMIT_PIXELS)
        tall = round(96 * 204 / 98)  # 200
        gap = decode.page_gap([tall] * len(pages)) if len(pages) > 1 else 0
        assert a.dtype == np.uint8 and a.shape == (len(pages) * tall + gap * (len(pages) - 1), 400)
        assert np.abs(a[:tall].astype(int) - np.asarray(page, int)).mean() < 20
        with pytest.raises(TooLarge):  # the stretched size is held to the limit
            decode.decode(data, 400 * 96 * len(pages) + 1)
    assert decode.shown_size(400, 96, 204, 98) == (400, 200)
    assert decode.shown_size(200, 400, 98, 204) == (416, 400)
    for x, y in ((300, 300), (300, 290), (0, 98), (204, 0), (1000, 1), (float("nan"), 98)):
        assert decode.shown_size(400, 96, x, y) == (400, 96)  # square, missing or absurd: as stored


def test_a_tiff_whose_only_page_says_it_is_a_thumbnail_is_read_as_it_is() -> None:
    """No page but a reduced-resolution copy: nothing to stack, and no IndexError either (the
    fax change looked at the first page of an empty list)."""
    from PIL import TiffImagePlugin

    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[254] = 1  # NewSubfileType: a reduced-resolution copy
    data = pil_bytes(_text_page("7", (60, 50)), "TIFF", tiffinfo=tags)
    assert decode.tiff_pages(data) == []
    assert decode.decode(data, LIMIT_PIXELS).shape[:2] == (50, 60)


def test_a_tiff_whose_pages_stacked_pass_the_pixel_limit_is_refused_before_decoding() -> None:
    pages = [_text_page("1"), _text_page("2")]
    data = pil_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    with pytest.raises(TooLarge, match="2 pages stacked"):
        decode.decode(data, 400 * 300)  # each page (400x200) fits; the two do not
    cut = data[: len(data) - 200]  # the last page's pixels cut short
    with pytest.raises(CorruptImage):
        decode.decode(cut, LIMIT_PIXELS)


def png_claiming(width: int, height: int) -> bytes:
    def chunk(t: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(TooLarge, match="30000x30000"):
        decode.decode(png_claiming(30000, 30000), LIMIT_PIXELS)
    jpeg = pil_bytes(Image.new("L", (4000, 4000), 255), "JPEG")
    with pytest.raises(TooLarge):
        decode.decode(jpeg, 1_000_000)


@pytest.mark.parametrize(("data", "kind"), [
    (b"", EmptyFile),
    (b"hello, this is not an image\n" * 20, NotAnImage),
    (b"<!doctype html><html><body>not a jpeg</body></html>", NotAnImage),
    (b"\xff\xd8\xff\xe0" + os.urandom(300), CorruptImage),
    (b"\x89PNG\r\n\x1a\n" + os.urandom(200), CorruptImage),
])
def test_broken_inputs_raise_their_failure(data: bytes, kind: type[FileFailure]) -> None:
    with pytest.raises(kind):
        decode.decode(data, LIMIT_PIXELS)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_corrupt(fmt: str) -> None:
    data = pil_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)), fmt)
    with pytest.raises(CorruptImage):
        decode.decode(data[: len(data) // 2], LIMIT_PIXELS)


def test_read_bytes_refuses_links_and_limits_size(tmp_path: Path) -> None:
    target = tmp_path / "target.png"
    target.write_bytes(pil_bytes(grey_pil(), "PNG"))
    os.symlink(target, tmp_path / "link.png")
    with pytest.raises(NotRegularFile):
        decode.read_bytes(str(tmp_path / "link.png"), LIMIT_BYTES)
    with pytest.raises(TooLarge):
        decode.read_bytes(str(target), 10)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(EmptyFile):
        decode.read_bytes(str(tmp_path / "empty.png"), LIMIT_BYTES)
    os.mkfifo(tmp_path / "fifo.png")
    with pytest.raises(NotRegularFile):
        decode.read_bytes(str(tmp_path / "fifo.png"), LIMIT_BYTES)
    assert decode.read_bytes(str(target), LIMIT_BYTES) == target.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00",
                                                   b"P5\n", b"P4 ", b"P2\n4 4\n", b"\x00\x00\x00\x1cftypheic",
                                                   b"\x00\x00\x00\x1cftypavif", b"%PDF-1.4\n"]))
def test_fuzz_decoder_raises_only_file_failures(data: bytes, prefix: bytes) -> None:
    try:
        normalise(decode.decode(prefix + data, LIMIT_PIXELS))
    except FileFailure:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 80), st.integers(1, 80), st.sampled_from([1, 2, 3, 4]), st.sampled_from(["u8", "u16", "f32"]),
       st.integers(0, 2**32 - 1))
def test_fuzz_normaliser_on_random_arrays(h: int, w: int, c: int, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (h, w) if c == 1 else (h, w, c)
    arr: np.ndarray
    if dtype == "u8":
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
    elif dtype == "u16":
        arr = rng.integers(0, 65536, shape, dtype=np.uint16)
    else:
        arr = (rng.random(shape) * rng.choice([1.0, 255.0])).astype(np.float32)
    if rng.random() < 0.5:  # sparse strokes rather than pure noise
        arr = (arr * (rng.random(shape) < 0.05)).astype(arr.dtype)
    try:
        x = normalise(arr)
    except NoDigitFound:
        return
    assert x.shape == (28, 28) and np.isfinite(x).all() and 0 <= x.min() and x.max() <= 1
