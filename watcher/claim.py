"""Claiming files for work, and moving them out when their row is durable.

Invariant: a file is in exactly one place: the inbox, the work folder (claimed), or one result
folder (processed/, review/, failed/).

- claim: append `claim-id<TAB>relative path` to the work folder's journal, then rename the file
  into the work folder under its claim id. The rename is atomic; a file another process (or a
  second event) already claimed simply is not there any more.
- finish: after the row is fsynced, move the file to its result folder without overwriting
  (one atomic rename that refuses to replace an existing name).
- recover (start-up): every file left in the work folder is either finished (its claim has a
  row: just move it) or redone (no row yet). So a crash anywhere yields one row and one copy.

The work folder lives in the outbox when inbox and outbox share a filesystem (so claiming and
finishing are both renames), otherwise in the inbox, in `.digit-watcher-work/<owner>/`: one folder
per daemon (named after its outbox, `owner.owner_id`), so that several daemons can share an inbox
(an NFS/SMB mount fed by a fleet of scanners, one daemon per host with its own outbox) and each
finds only its own claims when it starts again.

Leases, for a daemon that never comes back: a work folder in the inbox holds a `.lease` file that
its daemon keeps flock(2)ed and touches every tenth of `claim_lease_s`. Another daemon takes the
folder over (one atomic rename of the folder into its own, so only one can) when the lease file is
neither locked nor touched for `claim_lease_s`. Claims whose row the dead daemon had recorded
(journaled as `+` lines after the row's fsync) only move to the taker's result folders; the rest
are claimed again and processed. A daemon that was merely paused past its lease finds its folder
gone before it records anything (`still_ours`), and stops without writing a row.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from watcher.errors import FolderError

STATUS_DIRS = {"ok": "processed", "review": "review", "error": "failed"}
JOURNAL = "claims.log"
WORK_ROOT = ".digit-watcher-work"  # in the inbox: one folder per daemon whose outbox is elsewhere
LEASE = ".lease"
ADOPTED = ".adopt-"  # a taken-over folder, inside the taker's own until its files are dealt with


@dataclass
class Claim:
    id: str
    rel: str  # path relative to the inbox, as it arrived (may hold surrogate-escaped bytes)
    path: str  # where the claimed file is now (in the work folder); str, not Path: made per file
    settled: bool = False  # taken as complete only because it had been still for `settle_s`


@dataclass
class Journal:
    """What a work folder's journal says: each claim's inbox path, the claims whose row was
    recorded (and their status), and where cross-filesystem copies were going."""

    names: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, str] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)


def _claimed_line(cid: str, rel: str) -> bytes:
    """A journal line: this claim id took the file that arrived as `rel` (hex: any bytes)."""
    return cid.encode() + b"\t" + os.fsencode(rel).hex().encode() + b"\n"


def _recorded_line(cid: str, status: str) -> bytes:
    """A journal line: this claim's row is recorded (fsynced), with this status."""
    return f"{cid}\t+\t{status}\n".encode()


def _copy_line(cid: str, dest: Path) -> bytes:
    """A journal line: this claim's cross-filesystem copy is going to `dest`."""
    return f"{cid}\t=\t".encode() + os.fsencode(str(dest)).hex().encode() + b"\n"


def read_journal(path: Path) -> Journal:
    j = Journal()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return j
    for line in data.split(b"\n"):
        cid, _, rest = line.partition(b"\t")
        try:
            if rest.startswith(b"=\t"):  # a cross-filesystem copy in progress
                j.copies[cid.decode()] = Path(os.fsdecode(bytes.fromhex(rest[2:].decode())))
            elif rest.startswith(b"+\t"):  # its row is recorded, with this status
                j.recorded[cid.decode()] = rest[2:].decode()
            else:
                j.names[cid.decode()] = os.fsdecode(bytes.fromhex(rest.decode()))
        except ValueError:
            continue  # a torn last line
    return j


@dataclass
class Adopted:
    """Files taken over from a daemon that did not come back."""

    finish: list[tuple[Claim, str]]  # recorded there: only to be moved out (no new row)
    redo: list[Claim]  # claimed again here, to be processed


class WorkFolder:
    def __init__(self, inbox: Path, outbox: Path, owner: str = "local", lease_s: float = 300.0) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.cross_fs = os.stat(inbox).st_dev != os.stat(outbox).st_dev
        self.root = inbox / WORK_ROOT
        self.dir = self.root / owner if self.cross_fs else outbox / ".work"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lease_s = lease_s
        self._journal = open(self.dir / JOURNAL, "ab", buffering=0)
        self._ids = itertools.count()
        self._prefix = f"{time.time_ns():x}-{os.getpid():x}"
        self._copies: dict[str, Path] = {}
        self._result_dirs = {status: os.path.join(outbox, d) for status, d in STATUS_DIRS.items()}
        self._lease_fd = -1
        self._lease_ino = 0
        self._renewing = threading.Event()
        if self.cross_fs:
            self._take_lease()

    # ---- the lease (a work folder in a shared inbox) --------------------------------------------

    def _take_lease(self) -> None:
        path = self.dir / LEASE
        self._lease_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._lease_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lease_fd)
            raise FolderError(f"work folder {self.dir} is in use by another process: two outboxes carry the same "
                              f"daemon id (was one copied?); delete {self.outbox}/.digit-watcher-id in this one") from None
        os.utime(self._lease_fd)
        self._lease_ino = os.fstat(self._lease_fd).st_ino
        threading.Thread(target=self._renew, name="lease", daemon=True).start()

    def _renew(self) -> None:
        """Touch the lease every tenth of its length while this process lives (a thread, so a
        long batch does not let it lapse)."""
        while not self._renewing.wait(self.lease_s / 10):
            with contextlib.suppress(OSError):
                os.utime(self._lease_fd)

    def still_ours(self) -> bool:
        """False once another daemon has taken this folder over (this one was paused past its
        lease): nothing may be recorded for its claims then."""
        if not self.cross_fs:
            return True
        try:
            return os.stat(self.dir / LEASE).st_ino == self._lease_ino
        except FileNotFoundError:
            return False

    def _alive(self, folder: Path) -> bool:
        """Is the daemon that owns `folder` alive: its lease locked, or touched within lease_s?"""
        try:
            fd = os.open(folder / LEASE, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            try:
                return time.time() - folder.stat().st_mtime < self.lease_s
            except FileNotFoundError:
                return True  # gone: someone else took it
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
            return time.time() - os.fstat(fd).st_mtime < self.lease_s
        finally:
            os.close(fd)

    def take_over(self) -> list[str]:
        """Move the work folders of daemons whose lease ran out into this one (as `.adopt-*`), and
        the flat work folder of versions before per-daemon folders. Returns whose were taken."""
        taken: list[str] = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return taken
        legacy = [e for e in entries if e.is_file(follow_symlinks=False) and not e.name.startswith(".")
                  and e.name != JOURNAL]
        if legacy:
            dst = self.dir / f"{ADOPTED}legacy-{time.time_ns():x}"
            dst.mkdir()
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(self.root / JOURNAL, dst / JOURNAL)
            for e in legacy:
                with contextlib.suppress(FileNotFoundError):
                    rename(e.path, dst / e.name)
            if not any(e.is_file() and not e.name.startswith(".") and e.name != JOURNAL for e in os.scandir(self.root)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.root / JOURNAL)
            taken.append("an earlier version's work folder")
        for e in entries:
            if not e.is_dir(follow_symlinks=False) or e.name.startswith(".") or e.path == str(self.dir):
                continue
            if self._alive(Path(e.path)):
                continue
            try:
                rename(e.path, self.dir / f"{ADOPTED}{e.name}-{time.time_ns():x}")
            except FileNotFoundError:
                continue  # another daemon took it first
            except OSError as exc:
                logger.error("cannot take over {}: {}", e.path, exc.strerror)
                continue
            taken.append(e.name)
        return taken

    def adopted(self, recorded_here: Callable[[], dict[str, str]]) -> Adopted:
        """Deal with the `.adopt-*` folders in this one (taken just now, or before a crash):
        claims recorded by their daemon (or, for an earlier version's folder, in our own
        results: `recorded_here()`, read only then) are to be moved out; the others are claimed
        again here. Our journal learns of each file before it moves into our folder, so a crash
        in between neither loses it nor has it processed twice."""
        out = Adopted([], [])
        while True:
            folders = [Path(e.path) for e in os.scandir(self.dir) if e.name.startswith(ADOPTED) and e.is_dir()]
            if not folders:
                return out
            for folder in folders:
                j = read_journal(folder / JOURNAL)
                self._copies.update(j.copies)
                ours = recorded_here() if folder.name.startswith(f"{ADOPTED}legacy-") else {}
                lines: list[bytes] = []
                moves: list[tuple[str, Claim, str]] = []  # (from, claim here, status or "")
                for e in sorted(os.scandir(folder), key=lambda e: e.name):
                    if e.name.startswith(ADOPTED) and e.is_dir():  # it had taken over another: flatten
                        rename(e.path, self.dir / e.name)
                        continue
                    if e.name.startswith(".") or e.name == JOURNAL:
                        continue
                    rel = j.names.get(e.name, f"recovered/{e.name}")
                    status = j.recorded.get(e.name) or ours.get(e.name, "")
                    # recorded: kept under its id until it has moved out; else a new claim here
                    cid = e.name if status in STATUS_DIRS else f"{self._prefix}-{next(self._ids):x}"
                    lines.append(_claimed_line(cid, rel))
                    if status in STATUS_DIRS:
                        lines.append(_recorded_line(cid, status))
                    moves.append((e.path, Claim(cid, rel, str(self.dir / cid)), status))
                if lines:
                    self._journal.write(b"".join(lines))
                    os.fsync(self._journal.fileno())
                for src, claim, status in moves:
                    rename(src, claim.path)
                    if status in STATUS_DIRS:
                        out.finish.append((claim, status))
                    else:
                        out.redo.append(claim)
                for name in (JOURNAL, LEASE):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(folder / name)
                try:
                    folder.rmdir()
                except OSError as exc:
                    logger.error("cannot remove the taken-over folder {}: {}", folder, exc.strerror)
                    return out

    # ---- claiming ------------------------------------------------------------------------------

    def claim(self, rel: str) -> Claim | None:
        """Take one inbox file for work; None when it is gone (claimed already, or deleted)."""
        got = self.claim_many([rel])
        return got[0] if got else None

    def claim_many(self, rels: list[str], settled: Collection[str] = ()) -> list[Claim]:
        """Take inbox files for work: their journal lines in one write, then one rename each.
        Files that are gone (claimed already, or deleted) are left out. `settled`: the names
        taken as complete only by settling (see `Claim.settled`)."""
        ids = [f"{self._prefix}-{next(self._ids):x}" for _ in rels]
        self._journal.write(b"".join(_claimed_line(cid, rel) for cid, rel in zip(ids, rels, strict=True)))
        inbox, work = str(self.inbox), str(self.dir)
        out = []
        for cid, rel in zip(ids, rels, strict=True):
            dst = os.path.join(work, cid)
            try:
                rename(os.path.join(inbox, rel), dst)
            except FileNotFoundError:
                continue
            except OSError as exc:
                # this one file cannot be moved (its folder is read-only, say): it stays where it
                # is, and the next rescan tries again
                logger.error("{}: cannot claim: {}", rel, exc.strerror)
                continue
            out.append(Claim(cid, rel, dst, rel in settled))
        return out

    def sync(self) -> None:
        """Make this batch's claims durable (journal and folder) before any row refers to them."""
        os.fsync(self._journal.fileno())
        _fsync_dir(self.dir)

    # ---- finishing -----------------------------------------------------------------------------

    def finish(self, claim: Claim, status: str) -> str:
        """Move a claimed file to the result folder for `status`, keeping its subfolder and never
        overwriting an existing file (a numbered suffix is added instead). Returns where it went."""
        if not self.cross_fs:
            return move_no_clobber(claim.path, os.path.join(self._result_dirs[status], claim.rel))
        target = self.outbox / STATUS_DIRS[status] / claim.rel
        # Across filesystems the copy cannot be recognised by inode after a crash, so the
        # journal records where it is going before it gets there.
        done = self._copies.get(claim.id)
        if done is not None and os.path.lexists(done) and done.lstat().st_size == os.lstat(claim.path).st_size:
            os.unlink(claim.path)
            return str(done)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.partial")  # a crash's leftover is overwritten
        try:
            shutil.copyfile(claim.path, tmp, follow_symlinks=False)
            if not tmp.is_symlink():
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()  # disk full: leave no half copy behind
            raise
        for cand in _candidates(target):
            if cand.exists():
                continue
            self._journal.write(_copy_line(claim.id, cand))
            try:
                rename_noreplace(tmp, cand)
            except FileExistsError:
                continue
            os.unlink(claim.path)
            return str(cand)
        raise AssertionError("unreachable")

    # ---- recovery ------------------------------------------------------------------------------

    def leftovers(self) -> tuple[list[Claim], dict[str, str]]:
        """Files claimed by an earlier run that did not finish, with the path they arrived as;
        and the claims the journal says are recorded (taken-over files recorded elsewhere)."""
        j = read_journal(self.dir / JOURNAL)
        self._copies.update(j.copies)
        names = j.names
        found = []
        for entry in os.scandir(self.dir):
            if entry.name == JOURNAL or entry.name.startswith("."):
                continue
            rel = names.get(entry.name, f"recovered/{entry.name}")
            found.append(Claim(entry.name, rel, entry.path))
        return sorted(found, key=lambda c: c.id), j.recorded

    def compact(self) -> None:
        """Empty the journal when nothing is claimed (called between batches)."""
        if any(e.name != JOURNAL and not e.name.startswith(".") for e in os.scandir(self.dir)):
            return
        if os.fstat(self._journal.fileno()).st_size > 0:
            os.ftruncate(self._journal.fileno(), 0)

    def mark_recorded(self, claims: list[Claim], statuses: list[str]) -> None:
        """Journal that these claims' rows are recorded (called after the rows' fsync), so that a
        daemon taking this folder over never processes them again. Only a folder in a shared
        inbox can be taken over; a failure here costs only that guarantee, so it is logged."""
        if not self.cross_fs or not claims:
            return
        try:
            self._journal.write(b"".join(_recorded_line(c.id, st) for c, st in zip(claims, statuses, strict=True)))
            os.fsync(self._journal.fileno())
        except OSError as exc:
            logger.error("cannot journal recorded claims in {}: {}", self.dir, exc.strerror)

    def close(self) -> None:
        self._renewing.set()
        self._journal.close()
        if self._lease_fd >= 0:
            os.close(self._lease_fd)  # drops the flock; the lease then runs out after lease_s
            self._lease_fd = -1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _candidates(target: Path) -> itertools.chain[Path]:
    stem, suffix = target.stem, target.suffix
    numbered = (target.with_name(f"{stem}~{n}{suffix}") for n in itertools.count(1))
    return itertools.chain([target], numbered)


# Renames are called through ctypes.PyDLL, which keeps the GIL for the ~20 us of the syscall.
# os.rename (and a CDLL call) let it go, and getting it back waits for whichever thread holds it:
# in a burst watchdog's threads are busy, and a loop of renames that each give up the GIL ran at
# 4 ms a rename beside one busy thread instead of 21 us (measured; the "convoy" effect).
_LIBC = ctypes.PyDLL(None, use_errno=True)
_RENAME = _LIBC.rename
_RENAME.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_RENAMEAT2 = getattr(_LIBC, "renameat2", None)
if _RENAMEAT2 is not None:
    _RENAMEAT2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def _raise_errno(dst: str | bytes | Path) -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err), os.fsdecode(dst))  # FileNotFoundError etc. by errno


def rename(src: str | bytes | Path, dst: str | bytes | Path) -> None:
    """os.rename, without letting go of the GIL (see above)."""
    if _RENAME(os.fsencode(src), os.fsencode(dst)) != 0:
        _raise_errno(dst)


def rename_noreplace(src: str | bytes | Path, dst: str | bytes | Path) -> None:
    """rename(2) that fails with FileExistsError instead of replacing dst (Linux renameat2
    RENAME_NOREPLACE: atomic). Where the filesystem or kernel lacks it, check, then rename."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), os.fsdecode(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(dst))
    rename(src, dst)


def _names(target: str) -> Iterator[str]:
    """target, then target~1, target~2 ...: the numbered names made only when asked for."""
    yield target
    for cand in itertools.islice(_candidates(Path(target)), 1, None):
        yield str(cand)


def move_no_clobber(src: str | Path, target: str | Path) -> str:
    """Move src to target, or to target~N if that name is taken; one atomic rename, so a crash
    leaves the file either still at src or already in place. Both paths on one filesystem
    (WorkFolder.finish handles the other case). The folder is made only when the rename says it
    is missing: one syscall a file in the common case. Returns where the file went."""
    target = os.fspath(target)
    for cand in _names(target):
        try:
            rename_noreplace(src, cand)
        except FileExistsError:
            continue
        except FileNotFoundError:
            parent = os.path.dirname(target)
            if os.path.isdir(parent):
                raise  # it is src that is missing
            os.makedirs(parent, exist_ok=True)
            try:
                rename_noreplace(src, cand)
            except FileExistsError:
                continue
        return cand
    raise AssertionError("unreachable")
