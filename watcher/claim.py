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
finishing are both renames), otherwise in a hidden folder of the inbox.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

STATUS_DIRS = {"ok": "processed", "review": "review", "error": "failed"}
JOURNAL = "claims.log"


@dataclass
class Claim:
    id: str
    rel: str  # path relative to the inbox, as it arrived (may hold surrogate-escaped bytes)
    path: str  # where the claimed file is now (in the work folder); str, not Path: made per file


class WorkFolder:
    def __init__(self, inbox: Path, outbox: Path) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.cross_fs = os.stat(inbox).st_dev != os.stat(outbox).st_dev
        self.dir = inbox / ".digit-watcher-work" if self.cross_fs else outbox / ".work"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._journal = open(self.dir / JOURNAL, "ab", buffering=0)
        self._ids = itertools.count()
        self._prefix = f"{time.time_ns():x}-{os.getpid():x}"
        self._copies: dict[str, Path] = {}
        self._result_dirs = {status: os.path.join(outbox, d) for status, d in STATUS_DIRS.items()}

    # ---- claiming ------------------------------------------------------------------------------

    def claim(self, rel: str) -> Claim | None:
        """Take one inbox file for work; None when it is gone (claimed already, or deleted)."""
        got = self.claim_many([rel])
        return got[0] if got else None

    def claim_many(self, rels: list[str]) -> list[Claim]:
        """Take inbox files for work: their journal lines in one write, then one rename each.
        Files that are gone (claimed already, or deleted) are left out."""
        ids = [f"{self._prefix}-{next(self._ids):x}" for _ in rels]
        self._journal.write(b"".join(cid.encode() + b"\t" + os.fsencode(rel).hex().encode() + b"\n"
                                     for cid, rel in zip(ids, rels, strict=True)))
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
            out.append(Claim(cid, rel, dst))
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
            self._journal.write(f"{claim.id}\t=\t".encode() + os.fsencode(str(cand)).hex().encode() + b"\n")
            try:
                rename_noreplace(tmp, cand)
            except FileExistsError:
                continue
            os.unlink(claim.path)
            return str(cand)
        raise AssertionError("unreachable")

    # ---- recovery ------------------------------------------------------------------------------

    def journal(self) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            data = (self.dir / JOURNAL).read_bytes()
        except FileNotFoundError:
            return out
        for line in data.split(b"\n"):
            cid, _, hexrel = line.partition(b"\t")
            if hexrel.startswith(b"=\t"):  # a cross-filesystem copy in progress
                try:
                    self._copies[cid.decode()] = Path(os.fsdecode(bytes.fromhex(hexrel[2:].decode())))
                except ValueError:
                    pass
                continue
            try:
                out[cid.decode()] = os.fsdecode(bytes.fromhex(hexrel.decode()))
            except ValueError:
                continue  # a torn last line
        return out

    def leftovers(self) -> list[Claim]:
        """Files claimed by an earlier run that did not finish, with the path they arrived as."""
        names = self.journal()
        found = []
        for entry in os.scandir(self.dir):
            if entry.name == JOURNAL or entry.name.startswith("."):
                continue
            rel = names.get(entry.name, f"recovered/{entry.name}")
            found.append(Claim(entry.name, rel, entry.path))
        return sorted(found, key=lambda c: c.id)

    def compact(self) -> None:
        """Empty the journal when nothing is claimed (called between batches)."""
        if any(e.name != JOURNAL for e in os.scandir(self.dir)):
            return
        if os.fstat(self._journal.fileno()).st_size > 0:
            os.ftruncate(self._journal.fileno(), 0)

    def close(self) -> None:
        self._journal.close()


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
