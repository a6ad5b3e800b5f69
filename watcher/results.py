"""The results sink: `OUTBOX/results.csv`, one row per input file, appended a batch at a time.

A batch of rows is encoded first and written with one `write` on an O_APPEND descriptor, then
fsynced, so each row is whole and durable before its file leaves the work folder. At start-up a
torn last record (power cut mid-write) is cut off. Cells are RFC 4180-quoted and, as OWASP
recommends against CSV injection, any cell a spreadsheet would run as a formula (starting with
=, +, -, @, tab or carriage return) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Row:
    """One input file's outcome. `claim` identifies this processing of the file (names repeat)."""

    file: str
    digit: str
    confidence: str
    status: str  # ok | review | error
    error: str
    time: str
    sha256: str
    model_version: str
    claim: str


COLUMNS = [f.name for f in fields(Row)]
HEADER = (",".join(COLUMNS) + "\r\n").encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def display_name(rel: str) -> str:
    """A path as text for the CSV: bytes that are not UTF-8 are shown as \\xNN escapes."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def safe_cell(value: str) -> str:
    """Neutralise a cell that a spreadsheet would evaluate (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def encode_rows(rows: Iterable[Row]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    for r in rows:
        w.writerow([safe_cell(c) for c in (r.file, r.digit, r.confidence, r.status, r.error, r.time, r.sha256,
                                            r.model_version, r.claim)])
    return buf.getvalue().encode("utf-8")


def complete_length(data: bytes) -> int:
    """Length of the prefix of `data` that ends on a whole record (a newline outside quotes)."""
    inside = False
    end = 0
    for i, ch in enumerate(data):
        if ch == 0x22:
            inside = not inside
        elif ch == 0x0A and not inside:
            end = i + 1
    return end


class ResultsFile:
    """Append-only results.csv, owned by the one thread that records batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._repair()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        if os.fstat(self.fd).st_size == 0:
            self._write(HEADER)

    def _repair(self) -> None:
        """Cut a torn last record, and start a fresh file if the columns changed since it was made."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            data = f.read()
        if data and not data.startswith(HEADER):
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            old = self.path.with_name(f"results-{stamp}.csv")
            os.rename(self.path, old)
            logger.warning("results.csv had other columns; kept it as {} and started a new one", old.name)
            return
        if data and not data.endswith(b"\n"):
            keep = complete_length(data)
            os.truncate(self.path, keep)
            logger.warning("results.csv ended in a torn record; cut {} bytes", len(data) - keep)

    def _write(self, data: bytes) -> None:
        """All of `data` or none of it: a failed write (disk full) is cut back off."""
        before = os.fstat(self.fd).st_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
            os.fsync(self.fd)
        except OSError:
            try:
                os.ftruncate(self.fd, before)
            except OSError:
                pass
            raise

    def append(self, rows: list[Row]) -> None:
        """Write the rows whole, then fsync: when this returns they survive a crash."""
        if rows:
            self._write(encode_rows(rows))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def claims_recorded(path: Path) -> dict[str, str]:
    """claim id -> status, for every row already in the file (used to finish crashed work)."""
    return {r["claim"]: r["status"] for r in read_rows(path) if r.get("claim")}
