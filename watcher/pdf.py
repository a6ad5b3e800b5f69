"""A PDF's pages as pictures: what an office scanner's "scan to folder" writes.

A scanned PDF holds a picture a page; PDFium (through pypdfium2, the renderer Chrome uses)
draws each page at `RENDER_DPI`, grey, one page at a time, and `decode` stacks them as it
stacks a TIFF's pages. Boxes in `digits.csv` are then in pixels of the pages so drawn: a
point of the PDF is RENDER_DPI / 72 pixels.

Page sizes come from the file's page tree without drawing anything, so the pages together are
held to `max_pixels` before a pixel is allocated; so are the pictures on each page, which PDFium
decodes whole whatever size they are drawn at. PDFium is not thread-safe: a document is opened,
measured, drawn and closed under one lock (the daemon's workers are processes; the lock is for
threads within one).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from watcher.errors import CorruptImage, Encrypted, TooLarge

#: A page is drawn at this resolution: an office scan's own (300 dpi), a digit 5 mm high
#: about 60 pixels, well above the 40 the reader cuts digits out at.
RENDER_DPI = 300
SCALE = RENDER_DPI / 72.0
#: The most pages a PDF may hold (as for a TIFF)
MAX_PAGES = 256

_LOCK = threading.Lock()


def is_complete(data: bytes) -> bool:
    """Whether the file ends as a PDF does (%%EOF in its last kilobyte). PDFium rebuilds a cut
    file and draws what it can, so a scan still being written would read as a shorter one."""
    return data.rfind(b"%%EOF", max(0, len(data) - 1024)) >= 0


@contextmanager
def opened(data: bytes) -> Iterator[Any]:
    """The PDF as a pypdfium2 document, closed afterwards; a failure to open as a FileFailure.
    The lock is held until it is closed: `page_sizes` and `render` are called within."""
    import pypdfium2 as pdfium

    with _LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise Encrypted() from exc
            raise CorruptImage("corrupt PDF") from exc
        try:
            yield doc
        finally:
            doc.close()


def page_sizes(doc: Any, max_pixels: int) -> list[tuple[int, int, int]]:
    """(index, width, height) in pixels at RENDER_DPI of each page, as drawn (turned as the page
    says), read from the page tree without drawing. A page whose pictures hold more than
    `max_pixels` is refused before any is decoded: PDFium decodes a picture whole, whatever the
    size it is drawn at (a 20,000 x 20,000 JPEG on a small page is a decompression bomb)."""
    import pypdfium2.raw as pdfium_c

    n = len(doc)
    if n > MAX_PAGES:
        raise TooLarge(f"PDF of more than {MAX_PAGES} pages ({n})")
    if n == 0:
        raise CorruptImage("corrupt PDF (no pages)")
    out = []
    for k in range(n):
        try:
            w, h = doc.get_page_size(k)
            page = doc[k]
        except Exception as exc:  # pypdfium2's PdfiumError: a page the tree cannot give
            raise CorruptImage(f"corrupt PDF (page {k + 1})") from exc
        try:
            held = 0
            for im in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                try:
                    iw, ih = im.get_px_size()
                except Exception:
                    continue  # a picture with no size is drawn as nothing
                held += max(0, iw) * max(0, ih)
                if held > max_pixels:
                    raise TooLarge(f"image too large (page {k + 1} of the PDF holds pictures of over "
                                   f"{max_pixels} pixels, the limit)")
        finally:
            page.close()
        if not (math.isfinite(w) and math.isfinite(h)) or w <= 0 or h <= 0:
            raise CorruptImage(f"corrupt PDF (page {k + 1} has no size)")
        out.append((k, math.ceil(w * SCALE), math.ceil(h * SCALE)))
    return out


def render(doc: Any, k: int) -> np.ndarray:
    """Page `k` drawn grey at RENDER_DPI on white (8 bits, its own array; `decode` makes grey
    whatever else a renderer gives)."""
    page = doc[k]
    try:
        bitmap = page.render(scale=SCALE, grayscale=True, may_draw_forms=False, limit_image_cache=True)
        a = np.array(bitmap.to_numpy(), copy=True)  # PDFium's buffer is freed with the bitmap
        bitmap.close()
    finally:
        page.close()
    return a
