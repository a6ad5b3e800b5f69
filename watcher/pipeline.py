"""One batch, start to finish: decode + normalise (in parallel) -> classify (one call) -> rows.

Pure with respect to the filesystem outside the claimed files: it reads them and returns rows;
recording the rows and moving the files is the daemon's job, in that order.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from watcher import decode
from watcher.errors import FileFailure
from watcher.normalise import normalise
from watcher.results import Row, display_name, now_iso

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Prepared:
    sha256: str
    x: np.ndarray | None  # 28x28 ink map; None on failure, or once classified
    error: str  # empty unless it failed
    seconds: float
    answer: tuple[int, float] | None = None  # (digit, confidence), once classified


def prepare(path: str | bytes, max_bytes: int, max_pixels: int) -> Prepared:
    """Read, hash, decode and normalise one file. Never raises: a failure becomes its reason."""
    t = time.perf_counter()
    sha = ""
    try:
        data = decode.read_bytes(path, max_bytes)
        sha = hashlib.sha256(data).hexdigest()
        x = normalise(decode.decode(data, max_pixels))
        return Prepared(sha, x, "", time.perf_counter() - t)
    except FileFailure as exc:
        return Prepared(sha, None, str(exc), time.perf_counter() - t)
    except MemoryError:
        return Prepared(sha, None, "image too large to decode in memory", time.perf_counter() - t)
    except Exception as exc:  # a poison file must never stop the service
        return Prepared(sha, None, f"unreadable image ({type(exc).__name__})", time.perf_counter() - t)


def prepare_all(paths: Sequence[str | bytes], max_bytes: int, max_pixels: int) -> list[Prepared]:
    """Prepare several files in this thread (the daemon hands chunks of a batch to its pool)."""
    return [prepare(p, max_bytes, max_pixels) for p in paths]


def classify(prepared: Sequence[Prepared], predict: Predict) -> list[tuple[int, float] | None]:
    """(digit, confidence) for each file, None for files that failed before classification.
    Files already classified (by a worker) keep their answer; the rest go through one model call."""
    idx = [i for i, p in enumerate(prepared) if p.x is not None]
    out = [p.answer for p in prepared]
    if idx:
        probs = predict(np.stack([prepared[i].x for i in idx]))  # type: ignore[misc]
        digits = probs.argmax(1)
        for k, i in enumerate(idx):
            out[i] = (int(digits[k]), float(probs[k, digits[k]]))
    return out


def classify_in_place(prepared: Sequence[Prepared], predict: Predict) -> None:
    """Classify, keeping only the answers: what a worker sends back is then a few bytes a file."""
    for p, a in zip(prepared, classify(prepared, predict), strict=True):
        p.answer, p.x = a, None


def make_row(rel: str, claim_id: str, p: Prepared, answer: tuple[int, float] | None, review_below: float,
             model_version: str, when: str | None = None) -> Row:
    """`when`: the batch's time (one clock read per batch); now if not given."""
    name = display_name(rel)
    when = when or now_iso()
    if answer is None:
        return Row(name, "", "", "error", p.error or "unreadable", when, p.sha256, model_version, claim_id)
    digit, conf = answer
    status = "review" if conf < review_below else "ok"
    return Row(name, str(digit), f"{conf:.4f}", status, "", when, p.sha256, model_version, claim_id)
