"""Untrusted file -> pixel array, with every limit checked before a pixel is allocated.

The daemon reads the bytes itself (never `cv2.imread(path)`, which has crashed whole processes
on odd paths) through a descriptor opened with O_NOFOLLOW, so a symlink is an error and its
target is never touched. The header's claimed size is checked against `max_pixels` before
decoding (decompression bombs). OpenCV decodes (a Netpbm file's samples are then stretched by its
maximum value, which OpenCV ignores); Pillow is the fallback for what OpenCV refuses
(some palette, CMYK and animated files; the first frame is used), and decodes a phone's HEIC
(with pillow-heif) and AVIF. A PDF's pages are drawn by `pdf`. A TIFF or PDF of several pages (a
scanner's or a fax's document) is read whole: its pages stacked top to bottom, in order, as one
grey picture, so every page's digits are read and none is dropped unseen.
"""

from __future__ import annotations

import errno
import functools
import io
import math
import os
import re
import stat
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

from watcher import pdf
from watcher.errors import (
    CorruptImage,
    EmptyFile,
    FileFailure,
    FileVanished,
    NotAnImage,
    NotRegularFile,
    TooLarge,
    Unreadable,
)

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"BM", "bmp"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"RIFF", "webp"),
    (b"%PDF-", "pdf"),  # an office scanner's "scan to folder": its pages drawn by `pdf`
    # Netpbm (PBM, PGM, PPM; ASCII or binary): what SANE's `scanimage` writes unless told otherwise
    *((b"P%d" % k, "pnm") for k in range(1, 7)),
)
#: What may follow a Netpbm file's magic number
_PNM_SPACE = b" \t\r\n#"
_PNM_FIELD = rb"(?:\s|#[^\r\n]*[\r\n])+(\d+)"  # whitespace and comments, then a number
#: A greymap's or pixmap's header: width, height, the largest sample value
_PNM_HEADER = re.compile(rb"P[2356]" + _PNM_FIELD * 3)
#: ISO media files (an `ftyp` box first) by their brand: a phone's HEIC photo, an AVIF picture.
#: The generic brands (mif1, msf1) are HEIF's; Pillow's openers tell them apart when decoding.
FTYP_BRANDS = {b"heic": "heif", b"heix": "heif", b"heim": "heif", b"heis": "heif", b"hevc": "heif",
               b"hevx": "heif", b"hevm": "heif", b"hevs": "heif", b"mif1": "heif", b"mif2": "heif",
               b"msf1": "heif", b"avif": "avif", b"avis": "avif"}
#: Kinds only Pillow decodes here (through pillow-heif's opener and its own AVIF plugin), with
#: their EXIF orientation applied as a JPEG's is
PILLOW_ONLY = ("heif", "avif")


def read_bytes(path: str | bytes, max_bytes: int) -> bytes:
    """The file's bytes, refusing links, non-regular files and files over `max_bytes`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise FileVanished() from exc
    except PermissionError as exc:
        raise Unreadable() from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile("symbolic link (not followed)") from exc
        raise Unreadable(f"cannot open: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile()
        if st.st_size == 0:
            raise EmptyFile()
        if st.st_size > max_bytes:
            raise TooLarge(f"file too large ({st.st_size} bytes, limit {max_bytes})")
        # ask for one byte more than the size: getting exactly the size means the end of the
        # file (one read a file); anything else (a file still growing, a short read on a network
        # filesystem) is read on to its end, up to one byte past the limit
        data = os.read(fd, st.st_size + 1)
        if len(data) != st.st_size:
            chunks = [data]
            left = max_bytes + 1 - len(data)
            while left > 0:
                b = os.read(fd, min(left, 1 << 20))
                if not b:
                    break
                chunks.append(b)
                left -= len(b)
            data = b"".join(chunks)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if not data:
        raise EmptyFile()
    if len(data) > max_bytes:
        raise TooLarge(f"file too large (over {max_bytes} bytes)")
    return data


def sniff(data: bytes) -> str:
    for sig, kind in SIGNATURES:
        if data.startswith(sig):
            if kind == "webp" and data[8:12] != b"WEBP":
                continue
            if kind == "pnm" and data[2:3] not in _PNM_SPACE:
                continue
            return kind
    kind = _ftyp_kind(data)
    if kind:
        return kind
    raise NotAnImage("not an image (unknown file format)")


def _ftyp_kind(data: bytes) -> str:
    """The kind of an ISO media file of a brand read here ("heif" or "avif"), "" for anything else."""
    return FTYP_BRANDS.get(data[8:12], "") if data[4:8] == b"ftyp" else ""


@functools.cache
def _heif_opener() -> None:
    """Teach Pillow to open HEIF (an iPhone's HEIC photos), once a process, when first needed."""
    import pillow_heif

    pillow_heif.register_heif_opener()


#: EXIF orientations that turn a picture a quarter (a phone held upright): OpenCV's decoders
#: apply them, so its pixels come out with the header's width and height swapped.
QUARTER_TURNS = (5, 6, 7, 8)


def _exif_inside(data: bytes, kind: str) -> bool:
    """Whether a PNG or WebP holds EXIF (PNG's eXIf chunk comes before its pixels, WebP's EXIF
    chunk anywhere): OpenCV follows a JPEG's orientation but not theirs."""
    if kind == "png":
        end = data.find(b"IDAT")
        return data.find(b"eXIf", 8, end if end > 0 else len(data)) >= 0
    return kind == "webp" and data.find(b"EXIF", 12) >= 0


def claimed_size(data: bytes, kind: str) -> tuple[int, int]:
    """Width and height the header claims, as the picture is shown (its EXIF orientation
    applied), read without decoding pixels."""
    if kind == "png" and not _exif_inside(data, kind):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise CorruptImage("corrupt PNG header")
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, before decoding
    if kind == "heif":
        _heif_opener()
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = int(im.size[0]), int(im.size[1])
            # EXIF is parsed only where there is some (a scan has none; Pillow's parse costs tens of
            # us); pillow-heif has turned a HEIF photo already, and says orientation 1
            exif = (kind in PILLOW_ONLY or (kind == "jpeg" and data.find(b"Exif\x00\x00", 0, 65536) >= 0)
                    or _exif_inside(data, kind))
            turned = exif and _orientation(im) in QUARTER_TURNS
    except Exception as exc:
        raise CorruptImage(f"corrupt {kind.upper()} header") from exc
    return (h, w) if turned else (w, h)


def _orientation(im: PILImage) -> int:
    """A Pillow image's EXIF orientation (1, upright, when it has none or it cannot be read)."""
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1


def _pillow(data: bytes, frame: int = 0, grey: bool = False) -> np.ndarray:
    """Pillow's decoding, as OpenCV's would come out (BGR(A), EXIF orientation applied); `grey`:
    as 8-bit grey, for a big photo (a third of the memory)."""
    from PIL import Image, ImageOps

    if _ftyp_kind(data) == "heif":
        _heif_opener()
    with Image.open(io.BytesIO(data)) as src:
        src.seek(frame)
        turned = src.format in ("JPEG", "HEIF", "AVIF", "PNG", "WEBP")
        im: Image.Image = ImageOps.exif_transpose(src) if turned else src
        if grey:
            im = im.convert("L")
        elif im.mode in ("P", "PA"):
            im = im.convert("RGBA")
        elif im.mode == "1":
            im = im.convert("L")
        elif im.mode == "CMYK":
            im = im.convert("RGB")
        elif im.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I", "F"):
            im = im.convert("RGBA")
        a = np.asarray(im)
    if a.ndim == 3 and a.shape[2] >= 3:  # Pillow is RGB(A); the rest of the pipeline is OpenCV's BGR(A)
        a = a[:, :, [2, 1, 0] + ([3] if a.shape[2] == 4 else [])]
    if a.dtype == np.int32:
        a = np.clip(a, 0, 65535).astype(np.uint16)
    return np.ascontiguousarray(a)


#: Rows (first, end) of each page in a decoded picture: one span for a picture, one a page for a
#: document's pages stacked.
Pages = tuple[tuple[int, int], ...]


class Decoded(NamedTuple):
    pixels: np.ndarray
    scale: float  # the pixels' size over the original's (a reduced JPEG decode)
    pages: Pages  # in `pixels`' rows


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes -> array (grey, BGR or BGRA; uint8 or uint16). Raises a FileFailure."""
    return _decode(data, max_pixels)[0]


def _whole(img: np.ndarray) -> Pages:
    return ((0, img.shape[0]),)


def _decode(data: bytes, max_pixels: int) -> tuple[np.ndarray, Pages]:
    """`decode`, and where each page lies in it."""
    if not data:
        raise EmptyFile()
    kind = sniff(data)
    if kind == "pdf":
        return _pdf(data, max_pixels)
    w, h = claimed_size(data, kind)
    if w <= 0 or h <= 0:
        raise CorruptImage(f"corrupt {kind.upper()} header (size {w}x{h})")
    if w * h > max_pixels:
        raise TooLarge(f"image too large ({w}x{h} pixels, limit {max_pixels})")
    if kind == "jpeg" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise CorruptImage("corrupt or truncated JPEG (no end marker)")
    if kind == "png" and data.rfind(b"IEND") < 0:
        raise CorruptImage("corrupt or truncated PNG (no IEND chunk)")
    if kind == "tiff":
        pages = tiff_pages(data)
        if len(pages) > 1 or (pages and not pages[0].square):  # several pages, or a fax's oblong pixels
            by_frame = {p.frame: p for p in pages}
            return _stacked_pages(kind, [(p.frame, p.shown_width, p.shown_height) for p in pages],
                                  lambda k: _tiff_page(data, by_frame[k]), max_pixels)
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR if kind == "jpeg" else cv2.IMREAD_UNCHANGED
    img = None
    try:
        if kind not in PILLOW_ONLY and not _turned_by_exif(data, kind):
            img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        img = None
    if img is not None and kind == "pnm":
        img = _full_scale(img, _pnm_maxval(data))
    if img is None or img.size == 0:
        try:
            img = _pillow(data)
        except Exception as exc:
            raise CorruptImage(f"corrupt or truncated {kind.upper()}") from exc
    if img.shape[0] != h or img.shape[1] != w:
        # a decoder may return less than the header promised for a truncated file
        raise CorruptImage(f"corrupt or truncated {kind.upper()}")
    return img, _whole(img)


def _turned_by_exif(data: bytes, kind: str) -> bool:
    """A PNG or WebP whose EXIF says it is shown turned or mirrored: decoded by Pillow, which
    applies it (OpenCV would give it as stored, a phone's upright photo lying on its side)."""
    if not _exif_inside(data, kind):
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return _orientation(im) != 1
    except Exception:
        return False  # OpenCV then decodes it, or says what is wrong with it


def _pnm_maxval(data: bytes) -> int:
    """A Netpbm greymap's or pixmap's largest sample value, as its header says (0 for a bitmap
    or a header that says none)."""
    m = _PNM_HEADER.match(data, 0, 4096)
    return int(m.group(3)) if m else 0


def _full_scale(img: np.ndarray, maxval: int) -> np.ndarray:
    """Samples of a Netpbm file stretched to their type's full range, rounded (a sample over
    `maxval` counts as `maxval`). OpenCV keeps them as stored, so a 12-bit scan's paper (4095 of
    65535) would read as near black."""
    top = 255 if img.dtype == np.uint8 else 65535
    if not 0 < maxval < top:
        return img
    lut = np.minimum(np.rint(np.arange(top + 1) * (top / maxval)), top).astype(img.dtype)
    return np.asarray(lut[img])


#: The most pages a TIFF may hold (a hostile file's page chain is not followed further).
MAX_PAGES = 256


#: TIFF's NewSubfileType bit for a reduced-resolution copy of another page (a thumbnail)
_REDUCED_COPY = 1


class TiffPage(NamedTuple):
    """A page of a TIFF: its frame in the file (thumbnails counted), its stored size, and its size
    as shown, in square pixels."""

    frame: int
    width: int
    height: int
    shown_width: int
    shown_height: int

    @property
    def square(self) -> bool:
        return (self.width, self.height) == (self.shown_width, self.shown_height)


#: Resolutions further apart than this (as a ratio) are taken for pixels that are not square
_SQUARE_WITHIN = 0.05


def shown_size(width: int, height: int, x_dpi: float, y_dpi: float) -> tuple[int, int]:
    """A picture's size in square pixels, the axis stored at the lower resolution stretched: a
    standard-resolution fax is 204 x 98 dpi, its pixels twice as tall as wide, and its digits
    read squashed to half their height (25 of 60 faxed numbers right, against 53) unless stretched.
    Resolutions missing, equal or implausibly far apart (over 5 times) leave the size as stored."""
    if not (x_dpi > 0 and y_dpi > 0):
        return width, height
    r = x_dpi / y_dpi
    if abs(r - 1.0) <= _SQUARE_WITHIN or not 0.2 <= r <= 5.0:
        return width, height
    return (width, max(1, round(height * r))) if r > 1 else (max(1, round(width / r)), height)


def tiff_pages(data: bytes) -> list[TiffPage]:
    """The pages of a TIFF, read from its headers without decoding pixels. A reduced-resolution
    copy of a page (a thumbnail some writers add) is no page."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # our own limit applies, before decoding
    pages: list[TiffPage] = []
    seen = 0
    try:
        with Image.open(io.BytesIO(data)) as im:
            for k in range(MAX_PAGES + 1):
                try:
                    im.seek(k)
                except EOFError:
                    break  # the last page
                seen = k + 1
                tags = getattr(im, "tag_v2", {})
                if not int(tags.get(254, 0)) & _REDUCED_COPY:
                    w, h = int(im.size[0]), int(im.size[1])
                    pages.append(TiffPage(k, w, h, *shown_size(w, h, _dpi(tags.get(282)), _dpi(tags.get(283)))))
    except Exception as exc:
        # a page after the first that cannot be found is a damaged file, not a shorter one
        raise CorruptImage("corrupt TIFF header" if not seen else f"corrupt or truncated TIFF (page {seen + 1})") from exc
    if seen > MAX_PAGES:
        raise TooLarge(f"TIFF of more than {MAX_PAGES} pages")
    return pages


def _dpi(value: object) -> float:
    """A TIFF resolution tag's value as a number (0 when missing or not one)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def page_gap(heights: list[int]) -> int:
    """Rows of paper put between two stacked pages: enough that no stroke joins across."""
    return max(16, max(heights) // 50)


def _stacked_pages(kind: str, sizes: list[tuple[int, int, int]], page: Callable[[int], np.ndarray],
                   max_pixels: int) -> tuple[np.ndarray, Pages]:
    """A document's pages (a TIFF's, a PDF's) as one grey picture, top to bottom in order, each
    page's paper filling the gap below it and its right side up to the widest page, and each
    page's rows in it. Boxes found in it count from the top of the first page. `sizes`: (index,
    width, height) of each page;
    `page(index)` decodes one. The stacked picture is held to `max_pixels` before any page is
    decoded, and pages are decoded one at a time, so only one is held beside it."""
    name = kind.upper()
    if min(min(w, h) for _, w, h in sizes) <= 0:
        raise CorruptImage(f"corrupt {name} (a page of no pixels)")
    gap = page_gap([h for _, _, h in sizes]) if len(sizes) > 1 else 0
    width = max(w for _, w, _ in sizes)
    height = sum(h for _, _, h in sizes) + gap * (len(sizes) - 1)
    if width * height > max_pixels:
        pages = f"{len(sizes)} pages stacked: " if len(sizes) > 1 else ""
        raise TooLarge(f"image too large ({pages}{width}x{height} pixels, limit {max_pixels})")
    out = np.empty((height, width), np.uint8)
    y = 0
    spans = []
    for k, w, h in sizes:
        try:
            grey = _grey8(np.asarray(page(k)))
        except FileFailure:
            raise
        except Exception as exc:
            raise CorruptImage(f"corrupt or truncated {name} (page {k + 1})") from exc
        if grey.shape != (h, w):
            raise CorruptImage(f"corrupt or truncated {name} (a page not of the size its header says)")
        paper = int(np.median(grey[:: max(1, h // 256), :: max(1, w // 256)]))
        out[y:y + h, :w] = grey
        out[y:y + h, w:] = paper
        out[y + h:y + h + gap] = paper
        spans.append((y, y + h))
        y += h + gap
        del grey
    return out[:height], tuple(spans)


def _tiff_page(data: bytes, page: TiffPage) -> np.ndarray:
    """A TIFF's page (Pillow reads what OpenCV refuses), in square pixels."""
    k, w, h = page.frame, page.width, page.height
    try:
        ok, got = cv2.imdecodemulti(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED, range=(k, k + 1))
    except cv2.error:
        ok, got = False, []
    a = got[0] if ok and len(got) == 1 and got[0].shape[:2] == (h, w) else _pillow(data, k)
    if a.shape[:2] != (h, w):
        raise CorruptImage(f"corrupt or truncated TIFF (page {k + 1} smaller than its header)")
    if page.square:
        return a
    return np.asarray(cv2.resize(_grey8(a), (page.shown_width, page.shown_height), interpolation=cv2.INTER_LINEAR))


def _pdf(data: bytes, max_pixels: int) -> tuple[np.ndarray, Pages]:
    """A PDF's pages drawn grey at `pdf.RENDER_DPI` and stacked as a TIFF's are."""
    if not pdf.is_complete(data):
        raise CorruptImage("corrupt or truncated PDF (no %%EOF at its end)")
    with pdf.opened(data) as doc:
        return _stacked_pages("pdf", pdf.page_sizes(doc, max_pixels), lambda k: pdf.render(doc, k), max_pixels)


def _grey8(a: np.ndarray) -> np.ndarray:
    """One page as 8-bit grey (colour averaged as OpenCV does, alpha laid on white, 16 bits cut to 8)."""
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        f = a.astype(np.float32)
        top = float(f.max()) if f.size else 1.0
        a = np.clip(f * (255.0 / top if top > 1.0 else 255.0), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 3:
        return np.asarray(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY))
    if a.ndim == 3:
        return np.ascontiguousarray(a[:, :, 0])
    return a


#: A JPEG with more pixels than this is decoded at a reduced size (libjpeg's scaled IDCT: a
#: fraction of the time and memory). What is read from it stays sharp: its digits are cut out
#: at about 40 pixels high, and a 600-dpi page's are over 100 at half size.
REDUCE_ABOVE = 16_000_000
#: ... but never below this many pixels on the long side.
REDUCED_SIDE = 3000


def decode_scaled(data: bytes, max_pixels: int) -> Decoded:
    """`decode`, but a very large picture comes out grey (a third of the memory), and a JPEG
    also reduced by 2, 4 or 8; with their size over the original's, and where each page of a
    document lies in them (its pages are read one by one)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        w, h = claimed_size(data, "png")
        if REDUCE_ABOVE < w * h <= max_pixels and data.rfind(b"IEND") >= 0:
            try:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
            except cv2.error:
                img = None
            if img is not None and img.shape == (h, w):
                return Decoded(img, 1.0, _whole(img))
    if data[:3] == b"\xff\xd8\xff":
        w, h = claimed_size(data, "jpeg")
        if w * h > REDUCE_ABOVE and w * h <= max_pixels:
            f = max((d for d in (2, 4, 8) if max(w, h) / d >= REDUCED_SIDE), default=1)
            if f > 1:
                flag = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                        8: cv2.IMREAD_REDUCED_GRAYSCALE_8}[f]
                img = None
                if data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda"):
                    try:
                        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
                    except cv2.error:
                        img = None
                if img is not None and img.shape[0] == -(-h // f) and img.shape[1] == -(-w // f):
                    return Decoded(img, 1.0 / f, _whole(img))
    kind = _ftyp_kind(data)
    if kind:  # a big phone photo, HEIC or AVIF
        w, h = claimed_size(data, kind)
        if REDUCE_ABOVE < w * h <= max_pixels:
            try:
                img = _pillow(data, grey=True)
            except Exception as exc:
                raise CorruptImage(f"corrupt or truncated {kind.upper()}") from exc
            if img.shape != (h, w):
                raise CorruptImage(f"corrupt or truncated {kind.upper()}")
            return Decoded(img, 1.0, _whole(img))
    img, pages = _decode(data, max_pixels)
    return Decoded(img, 1.0, pages)


def load(path: str | bytes, max_bytes: int, max_pixels: int) -> tuple[bytes, np.ndarray]:
    """Read and decode one file: (its bytes, its pixels)."""
    data = read_bytes(path, max_bytes)
    return data, decode(data, max_pixels)


__all__ = ["FileFailure", "decode", "load", "read_bytes"]
