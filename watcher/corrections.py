"""The people's decisions on the review queue: `OUTBOX/corrections.csv`, and the moves they make.

A file whose row says `review` waits in `OUTBOX/review/`. A decision on it is recorded like the
daemon records a row, then the file moves, never the other way round:
1. under an exclusive flock on `OUTBOX/.corrections.lock` (two tabs, two review servers and the
   daemon's recovery take turns), check that the claim is undecided and its file still in review/;
2. append one row `claim,file,before,after,decided_by,time` to corrections.csv (one write, fsync);
3. move the file to processed/ (or failed/ when `after` is `x`, "not a digit") with one rename
   that never overwrites.
An undo appends a row with an empty `after` and moves the file back to review/. The last row of
a claim is its decision. A crash between 2 and 3 is finished by `finish_pending`, which both the
review server and the daemon run when they start: it moves every file to where its claim's last
row says it belongs. `results.csv` stays the daemon's append-only log; `final_table` applies the
decisions to it.

A claim's file is found by name (the results row's `file`, with the `~N` the daemon adds when a
name is taken) and recognised by its sha256, so two files of one name are never mixed up; a name
that is not valid UTF-8 (shown escaped in the CSV) is found by its sha256 alone.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from watcher.claim import move_no_clobber
from watcher.errors import AlreadyDecided, BadDecision, NotInReview
from watcher.results import COLUMNS as RESULT_COLUMNS
from watcher.results import FORMULA_START, complete_length, now_iso, safe_cell

NAME = "corrections.csv"
COLUMNS = ["claim", "file", "before", "after", "decided_by", "time"]
HEADER = (",".join(COLUMNS) + "\r\n").encode()
NOT_A_DIGIT = "x"
_NUMBERED = re.compile(r"~\d+(?=\.[^./]*$|$)")  # x~2.png -> x.png: the daemon's suffix for a taken name


@dataclass(frozen=True)
class Item:
    """A file waiting for a person: its results row, and where it is now."""

    claim: str
    file: str  # as in results.csv
    reading: str  # the digits the model read
    confidence: str
    time: str
    path: str  # in review/
    why: str = ""  # why it is in review (the row's `error` column; empty in rows of versions before it)


@dataclass(frozen=True)
class Decision:
    claim: str
    file: str
    before: str
    after: str  # digits, "x", or "" (undone)
    decided_by: str
    time: str


def valid_after(after: str) -> bool:
    return after == NOT_A_DIGIT or (after.isascii() and after.isdigit() and len(after) <= 64)


def _unquote(cell: str) -> str:
    """The name as the daemon saw it: results.csv guards formula-like cells with an apostrophe."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def shown_name(cell: str) -> str:
    """A results.csv `file` cell as a person should see it (without the spreadsheet guard)."""
    return _unquote(cell)


class _Tail:
    """An append-only CSV read incrementally: each call parses only the records added since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.header: list[str] | None = None
        self.rows: list[dict[str, str]] = []
        self.restarts = 0  # times the file was found shorter (replaced, or cut back) and read again

    def read(self) -> list[dict[str, str]]:
        try:
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_size < self.offset:  # replaced (moved aside) or cut back: start again
                    self.offset, self.header, self.rows = 0, None, []
                    self.restarts += 1
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.rows
        data = data[:complete_length(data)]
        if not data:
            return self.rows
        self.offset += len(data)
        records = list(csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")))
        if self.header is None:
            self.header, records = records[0], records[1:]
        self.rows += [dict(zip(self.header, r, strict=False)) for r in records]
        return self.rows


class Desk:
    """The review queue of one outbox, and the decisions on it."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.review = outbox / "review"
        self.path = outbox / NAME
        self._results = _Tail(outbox / "results.csv")
        self._decisions = _Tail(self.path)
        self._digits = _Tail(outbox / "digits.csv")
        self._boxes: dict[str, list[dict[str, object]]] = {}
        self._boxes_from = (0, 0)  # (restarts, rows) of digits.csv already in _boxes
        self._sha: dict[tuple[str, int, int, int], str] = {}

    # ---- reading the state ---------------------------------------------------------------------

    def decisions(self) -> dict[str, Decision]:
        """Each claim's last decision."""
        out: dict[str, Decision] = {}
        for r in self._decisions.read():
            if r.get("claim"):
                out[r["claim"]] = Decision(r["claim"], r.get("file", ""), r.get("before", ""), r.get("after", ""),
                                           r.get("decided_by", ""), r.get("time", ""))
        return out

    def boxes(self, claim: str) -> list[dict[str, object]]:
        """Each digit's box and reading for a file of several digits (`digits.csv`, read
        incrementally), for the page to draw on the image."""
        rows = self._digits.read()
        restarts, seen = self._boxes_from
        if restarts != self._digits.restarts:
            self._boxes, seen = {}, 0
        for r in rows[seen:]:
            try:
                box: dict[str, object] = {k: int(r[k]) for k in ("x", "y", "w", "h", "line")}
                box.update(digit=r["digit"], confidence=float(r["confidence"]))
            except (KeyError, ValueError):
                continue
            self._boxes.setdefault(r["claim"], []).append(box)
        self._boxes_from = (self._digits.restarts, len(rows))
        return list(self._boxes.get(claim, []))

    def results_rows(self) -> list[dict[str, str]]:
        """results.csv's rows (read incrementally: only what was appended since the last call)."""
        return self._results.read()

    def review_rows(self) -> list[dict[str, str]]:
        return [r for r in self.results_rows() if r.get("status") == "review" and r.get("claim")]

    def sha256(self, path: str) -> str:
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return ""
        key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        if key not in self._sha:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            self._sha[key] = h.hexdigest()
        return self._sha[key]

    def _files(self, folder: Path) -> dict[str, list[str]]:
        """Regular files under `folder` by the name they arrived as (`~N` taken off)."""
        index: dict[str, list[str]] = {}
        for root, _, files in os.walk(folder):
            for name in sorted(files):
                full = os.path.join(root, name)
                if name.startswith(".") or not os.path.isfile(full) or os.path.islink(full):
                    continue
                index.setdefault(_NUMBERED.sub("", os.path.relpath(full, folder)), []).append(full)
        return index

    def _dir_index(self, folder: Path, sub: str) -> dict[str, list[str]]:
        """Regular files in one folder (`folder/sub`) by the name they arrived as (`~N` off)."""
        index: dict[str, list[str]] = {}
        try:
            entries = sorted(os.scandir(folder / sub), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return index
        for e in entries:
            if not e.name.startswith(".") and e.is_file(follow_symlinks=False):
                index.setdefault(os.path.join(sub, _NUMBERED.sub("", e.name)) if sub else _NUMBERED.sub("", e.name),
                                 []).append(e.path)
        return index

    def locate(self, rows: list[dict[str, str]], folder: Path) -> dict[str, str]:
        """claim -> its file in `folder`, for the rows given (each file given to one claim). Only
        the folders the names point into are listed, so one decision costs one listing."""
        index: dict[str, list[str]] = {}
        for sub in sorted({os.path.dirname(_unquote(r["file"])) for r in rows}):
            if ".." not in Path(sub).parts and not os.path.isabs(sub):
                index.update(self._dir_index(folder, sub))
        taken: set[str] = set()
        found: dict[str, str] = {}
        unplaced = []
        for r in rows:
            for cand in index.get(_unquote(r["file"]), []):
                if cand not in taken and self.sha256(cand) == r.get("sha256"):
                    found[r["claim"]] = cand
                    taken.add(cand)
                    break
            else:
                unplaced.append(r)
        unplaced = [r for r in unplaced if "\\x" in r["file"]]
        if unplaced:  # names that are not valid UTF-8 show escaped in the CSV: match those by content
            by_sha: dict[str, list[str]] = {}
            for paths in self._files(folder).values():
                for p in paths:
                    if p not in taken:
                        by_sha.setdefault(self.sha256(p), []).append(p)
            for r in unplaced:
                if by_sha.get(r.get("sha256", "")):
                    found[r["claim"]] = by_sha[r["sha256"]].pop(0)
        return found

    def queue(self) -> list[Item]:
        """The undecided review files still in review/, oldest first."""
        decided = {c for c, d in self.decisions().items() if d.after}
        rows = [r for r in self.review_rows() if r["claim"] not in decided]
        where = self.locate(rows, self.review)
        return [Item(r["claim"], r["file"], r.get("text") or r.get("digit", ""), r.get("confidence", ""), r.get("time", ""),
                     where[r["claim"]], r.get("error") or "") for r in rows if r["claim"] in where]

    # ---- deciding ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.outbox / ".corrections.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # drops the lock

    def _append(self, d: Decision) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerow(
            [safe_cell(v) if k == "file" else v for k, v in zip(COLUMNS, (d.claim, d.file, d.before, d.after,
                                                                          d.decided_by, d.time), strict=True)])
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            data = buf.getvalue().encode("utf-8")
            if os.fstat(fd).st_size == 0:
                data = HEADER + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _target(self, file: str, path: str, folder: Path) -> Path:
        rel = _unquote(file)
        if "\\x" in rel or rel.startswith("/") or ".." in Path(rel).parts:
            rel = os.path.relpath(path, self.review)  # not a name we can write back: keep the one it has
        return folder / rel

    def decide(self, claim: str, after: str, decided_by: str) -> Decision:
        """Record a person's reading of a review file (digits, or "x": not a digit), then move it."""
        if not valid_after(after):
            raise BadDecision(f"{after!r} is not a reading: type digits, or x for 'not a digit'")
        with self._locked():
            last = self.decisions().get(claim)
            if last is not None and last.after:
                raise AlreadyDecided(f"{last.file} was already decided ({last.after}) by {last.decided_by} at {last.time}")
            row = next((r for r in self.review_rows() if r["claim"] == claim), None)
            path = self.locate([row], self.review).get(claim) if row is not None else None
            if row is None or path is None:
                raise NotInReview("that file is no longer in review/ (moved or deleted); the queue has been reloaded")
            d = Decision(claim, row["file"], row.get("text") or row.get("digit", ""), after, decided_by, now_iso())
            self._append(d)
            dest = self.outbox / ("failed" if after == NOT_A_DIGIT else "processed")
            move_no_clobber(path, self._target(row["file"], path, dest))
            return d

    def undo(self, claim: str, decided_by: str) -> Decision:
        """Take a decision back: the file returns to review/."""
        with self._locked():
            last = self.decisions().get(claim)
            if last is None or not last.after:
                raise AlreadyDecided("there is no decision on that file to undo")
            d = Decision(claim, last.file, last.after, "", decided_by, now_iso())
            self._append(d)
            self._finish([claim])
            return d

    def finish_pending(self) -> int:
        """Move each decided file to where its claim's last row puts it (after a crash between a
        row and its move). Returns how many moved. Nothing to do (and results.csv not read)
        when review/ is empty and nothing was undone."""
        with self._locked():
            decisions = self.decisions().values()
            undone = any(not d.after for d in decisions)
            if not decisions or (not undone and not _has_files(self.review)):
                return 0
            return self._finish(None)

    def _finish(self, only: list[str] | None) -> int:
        decisions = self.decisions()
        rows = {r["claim"]: r for r in self.review_rows() if only is None or r["claim"] in only}
        moved = 0
        out = [rows[c] for c, d in decisions.items() if d.after and c in rows]
        for claim, path in self.locate(out, self.review).items():
            d = decisions[claim]
            dest = self.outbox / ("failed" if d.after == NOT_A_DIGIT else "processed")
            move_no_clobber(path, self._target(d.file, path, dest))
            moved += 1
        back = [rows[c] for c, d in decisions.items() if not d.after and c in rows]
        if back:
            in_review = self.locate(back, self.review)
            missing = [r for r in back if r["claim"] not in in_review]
            for folder in (self.outbox / "processed", self.outbox / "failed"):
                found = self.locate(missing, folder)
                for claim, path in found.items():
                    move_no_clobber(path, self._target(decisions[claim].file, path, self.review))
                    moved += 1
                missing = [r for r in missing if r["claim"] not in found]
        return moved


def _has_files(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except FileNotFoundError:
        return False


def final_table(outbox: Path) -> Iterator[list[str]]:
    """results.csv with the people's decisions applied, one row per file (claim), header first:
    a corrected file reads as the person read it (`ok`, confidence 1), a rejected one as an error
    ("not a digit"); `decided_by` says who."""
    desk = Desk(outbox)
    decisions = {c: d for c, d in desk.decisions().items() if d.after}
    yield [*RESULT_COLUMNS, "decided_by"]
    for r in desk.results_rows():
        d = decisions.get(r.get("claim", ""))
        row = dict(r)
        if d is not None:
            if d.after == NOT_A_DIGIT:
                row.update(digit="", confidence="", status="error", error="not a digit (decided by a person)")
            else:
                row.update(digit=d.after if len(d.after) == 1 else "", confidence="1.0000", status="ok", error="")
        yield [row.get(k, "") for k in RESULT_COLUMNS] + [d.decided_by if d else ""]


def write_final_table(outbox: Path, out: io.TextIOBase | io.StringIO) -> None:
    w = csv.writer(out, lineterminator="\r\n")
    for row in final_table(outbox):
        w.writerow(row)
