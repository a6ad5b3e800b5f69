"""One batch, start to finish: decode + find the digits (in parallel) -> classify (one call) -> rows.

Pure with respect to the filesystem outside the claimed files: it reads them and returns rows;
recording the rows and moving the files is the daemon's job, in that order.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from watcher import decode, orientation, reading, segment
from watcher.errors import FileFailure, NoDigitFound
from watcher.reading import UNCALIBRATED, Calibration, Reading
from watcher.results import DigitRow, Row, display_name, now_iso
from watcher.segment import Layout

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Prepared:
    sha256: str
    layout: Layout | None  # the digits found; None on failure, or once classified
    error: str  # empty unless it failed
    seconds: float
    reading: Reading | None = None  # once classified
    unfinished: bool = False  # failed as a file still being written would (empty, truncated)


def prepare(path: str | bytes, max_bytes: int, max_pixels: int, predict: Predict | None = None,
            calibration: Calibration = UNCALIBRATED) -> Prepared:
    """Read, hash, decode and find the digits of one file. Never raises: a failure becomes its reason.
    With `predict`, a page-sized picture or a file of many marks (a long strip) is read here too,
    while its picture is at hand, as level and the way up it reads best (`orientation`: a sheet
    laid crooked, fed upside down or laid sideways), and so is a document, page by page."""
    t = time.perf_counter()
    sha = ""
    try:
        data = decode.read_bytes(path, max_bytes)
        sha = hashlib.sha256(data).hexdigest()
        img, scale, pages = decode.decode_scaled(data, max_pixels)
        if predict is not None and (len(pages) > 1 or orientation.page_sized(img, scale)):
            return Prepared(sha, None, "", time.perf_counter() - t, reading=_read_pages(img, scale, pages, predict,
                                                                                          calibration))
        layout = segment.find(img, scale)
        if predict is not None and orientation.may_be_turned(layout):
            r, _turns = orientation.read_upright(img, scale, layout, predict, calibration)
            return Prepared(sha, None, "", time.perf_counter() - t, reading=r)
        return Prepared(sha, layout, "", time.perf_counter() - t)
    except FileFailure as exc:
        return Prepared(sha, None, str(exc), time.perf_counter() - t, unfinished=exc.unfinished)
    except MemoryError:
        return Prepared(sha, None, "image too large to decode in memory", time.perf_counter() - t)
    except Exception as exc:  # a poison file must never stop the service
        return Prepared(sha, None, f"unreadable image ({type(exc).__name__})", time.perf_counter() - t)


def _read_pages(img: np.ndarray, scale: float, pages: decode.Pages, predict: Predict,
                calibration: Calibration) -> Reading:
    """A page-sized picture, or a document's pages (a TIFF's, a PDF's), each found and read on its
    own, as level and the way up it reads best: read as one tall picture, seven A4 pages were
    scaled to the reader's working size together, their digits to 6 px. A page with no digit (a
    blank page between others) adds none."""
    read: list[tuple[Reading, float]] = []
    empty: NoDigitFound | None = None
    for y0, y1 in pages:
        try:
            r = orientation.read_page(img[y0:y1], scale, predict, calibration)
        except NoDigitFound as exc:
            empty = empty or exc
            continue
        if r is not None:
            read.append((r, y0 / scale))
    if not read:
        raise empty or NoDigitFound("no digit found")
    return read[0][0] if len(pages) == 1 else reading.pages_read(read)


def prepare_all(paths: Sequence[str | bytes], max_bytes: int, max_pixels: int, predict: Predict | None = None,
                calibration: Calibration = UNCALIBRATED) -> list[Prepared]:
    """Prepare several files in this thread (the daemon hands chunks of a batch to its pool)."""
    return [prepare(p, max_bytes, max_pixels, predict, calibration) for p in paths]


def read_all(paths: Sequence[str | bytes], max_bytes: int, max_pixels: int, predict: Predict,
             calibration: Calibration = UNCALIBRATED) -> list[Prepared]:
    """Prepare and classify several files: what a worker, a Ray actor, `predict` and `evaluate` do."""
    prepared = prepare_all(paths, max_bytes, max_pixels, predict, calibration)
    classify_in_place(prepared, predict, calibration)
    return prepared


def classify(prepared: Sequence[Prepared], predict: Predict,
             calibration: Calibration = UNCALIBRATED) -> list[Reading | None]:
    """Each file's reading, None for files that failed before classification. Files already
    classified (by a worker) keep their reading; the rest go through one model call."""
    idx = [i for i, p in enumerate(prepared) if p.reading is None and p.layout is not None]
    out = [p.reading for p in prepared]
    for i, r in zip(idx, reading.read([prepared[i].layout for i in idx], predict, calibration), strict=True):
        out[i] = r
    return out


def classify_in_place(prepared: Sequence[Prepared], predict: Predict, calibration: Calibration = UNCALIBRATED) -> None:
    """Classify, keeping only the readings: what a worker sends back is then a few bytes a digit."""
    for p, r in zip(prepared, classify(prepared, predict, calibration), strict=True):
        p.reading, p.layout = r, None


def needs_review(confidence: float, raw: float, doubts: bool, review_below: float) -> bool:
    """The row rule for a reading: `ok` needs the calibrated confidence and the raw score at the
    threshold, and no doubt. The model learned to score marks that are not digits low, and
    sharpening its scores into calibrated ones would lift them too."""
    return min(confidence, raw) < review_below or doubts


#: What a review row's `error` column starts with (the reason follows); shown without it elsewhere
REVIEW_PREFIX = "review: "


def review_reason(confidence: float, raw: float, doubts: Sequence[str], review_below: float) -> str:
    """Why a reading goes to review, for the row's `error` column and the review page (empty when
    it does not): a file in review may show a high confidence, and its row should say why."""
    if not needs_review(confidence, raw, bool(doubts), review_below):
        return ""
    why = []
    if confidence < review_below:
        why.append(f"confidence under {review_below:g}")
    if raw < review_below:
        why.append(f"may not be digits (the model's raw score {math.floor(raw * 1000) / 1000:.3f})")
    return REVIEW_PREFIX + "; ".join(why + list(doubts))


def make_row(rel: str, claim_id: str, p: Prepared, r: Reading | None, review_below: float,
             model_version: str, when: str | None = None, one_digit: bool = False) -> Row:
    """`when`: the batch's time (one clock read per batch); now if not given. `one_digit`: the
    `read = "digit"` setting (a file where several marks are found goes to review)."""
    name = display_name(rel)
    when = when or now_iso()
    if r is None:
        return Row(name, "", "", "error", p.error or "unreadable", when, p.sha256, model_version, claim_id)
    if not r.digits:
        return Row(name, "", "", "error", f"no digit found ({'; '.join(r.doubts)})", when, p.sha256,
                   model_version, claim_id, "", "0")
    doubts = r.doubts + (["several marks in a file of one digit"] if one_digit and r.marks > 1 else [])
    why = review_reason(r.confidence, r.raw, doubts, review_below)
    digit = str(r.digits[0].digit) if len(r.digits) == 1 else ""
    return Row(name, digit, f"{r.confidence:.4f}", "review" if why else "ok", why, when, p.sha256, model_version,
               claim_id, r.text, str(len(r.digits)))


def digit_rows(claim_id: str, rel: str, r: Reading | None) -> list[DigitRow]:
    """digits.csv's rows for a file of more than one digit (none for a single digit: its row says it all)."""
    if r is None or len(r.digits) < 2:
        return []
    name = display_name(rel)
    return [DigitRow(claim_id, name, i, d.line, *d.box, d.digit, f"{d.confidence:.4f}")
            for i, d in enumerate(r.digits)]
