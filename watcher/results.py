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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
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
    text: str = ""  # every digit read, in reading order, one space between lines
    count: str = ""  # how many digits


@dataclass(frozen=True)
class DigitRow:
    """One digit of a file that holds several (`digits.csv`); its box in the original's pixels."""

    claim: str
    file: str
    index: int
    line: int
    x: int
    y: int
    w: int
    h: int
    digit: int
    confidence: str


COLUMNS = [f.name for f in fields(Row)]
HEADER = (",".join(COLUMNS) + "\r\n").encode()
DIGIT_COLUMNS = [f.name for f in fields(DigitRow)]
DIGIT_HEADER = (",".join(DIGIT_COLUMNS) + "\r\n").encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def display_name(rel: str) -> str:
    """A path as text for the CSV: bytes that are not UTF-8 are shown as \\xNN escapes."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def safe_cell(value: str) -> str:
    """Neutralise a cell that a spreadsheet would evaluate (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_START) else value


#: Each row kind's cells in column order (`dataclasses.astuple` copies every value deeply: 19 us
#: a row against 4, paid for every file in the daemon's one recording thread)
_CELLS = {Row: attrgetter(*COLUMNS), DigitRow: attrgetter(*DIGIT_COLUMNS)}


def encode_rows(rows: Iterable[Row | DigitRow]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    for r in rows:
        w.writerow([safe_cell(str(c)) for c in _CELLS[type(r)](r)])
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
    """Append-only results.csv (or digits.csv), owned by the one thread that records batches."""

    def __init__(self, path: Path, header: bytes = HEADER) -> None:
        self.path = path
        self.header = header
        self._repair()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        if os.fstat(self.fd).st_size == 0:
            self._write(header)

    def _repair(self) -> None:
        """Cut a torn last record, and start a fresh file if the columns changed since it was made
        (the old one is kept beside it, `<name>-<time>.csv`: `claims_recorded` still reads it)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            data = f.read()
        if data and not data.startswith(self.header):
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            old = self.path.with_name(f"{self.path.stem}-{stamp}.csv")
            os.rename(self.path, old)
            logger.warning("{} had other columns (an earlier version's); kept it as {} and started a new one",
                           self.path.name, old.name)
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

    def has_rows(self) -> bool:
        return os.fstat(self.fd).st_size > len(self.header)

    def keep_only(self, claims: set[str] | dict[str, str]) -> None:
        """Cut the rows at the end whose claim is not in `claims`: digits.csv is written before
        results.csv, so after a crash between the two its last rows belong to no recorded reading
        (and would be written again when the file is redone)."""
        with open(self.path, "rb") as f:
            data = f.read()
        keep = len(self.header)
        pos = keep
        for line in data[keep:].splitlines(keepends=True):
            pos += len(line)
            claim = line.split(b",", 1)[0].decode("utf-8", "replace")
            if claim in claims:
                keep = pos
        if keep < len(data):
            os.ftruncate(self.fd, keep)
            os.fsync(self.fd)
            logger.warning("{}: cut {} bytes of digits whose reading was never recorded", self.path.name,
                           len(data) - keep)

    def append(self, rows: Sequence[Row | DigitRow]) -> None:
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
    """claim id -> status, for every row already in the file and in the files an earlier version
    left beside it (`results-<time>.csv`): used to finish crashed work exactly once."""
    out: dict[str, str] = {}
    for p in [*sorted(path.parent.glob(f"{path.stem}-*.csv")), path]:
        out.update({r["claim"]: r["status"] for r in read_rows(p) if r.get("claim")})
    return out
