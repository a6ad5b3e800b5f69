"""Who owns an outbox: one running daemon at a time, and a name that outlives its process.

- `OutboxLock`: an exclusive flock(2) on `OUTBOX/.digit-watcher.lock`, held for the daemon's life.
  A second daemon on the same outbox cannot take it and stops at once (FolderError, exit 4),
  naming the outbox and the process that holds it, before it has touched anything. The kernel
  drops the lock when the holder dies, kill -9 included, so there is nothing stale to clean up
  (on NFS, Linux clients take flock as a byte-range lock that the server arbitrates).
- `owner_id`: a name kept in `OUTBOX/.digit-watcher-id` (host + random), made once. A daemon's
  work folder in a shared inbox is named after it, so the next start on the same outbox finds
  its own claims and no other daemon's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path

from watcher.errors import FolderError

LOCK_NAME = ".digit-watcher.lock"
ID_NAME = ".digit-watcher-id"


class OutboxLock:
    """Held while this process may write the outbox. Raises FolderError if another holds it."""

    def __init__(self, outbox: Path) -> None:
        self.path = outbox / LOCK_NAME
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise FolderError(f"outbox {outbox}: cannot open its lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 512, 0).decode(errors="replace").strip() or "a process that did not say"
            os.close(self.fd)
            raise FolderError(
                f"outbox {outbox} is in use by another digit-watcher ({holder}); two daemons must not share "
                "an outbox: stop that one, or give this one its own --outbox (several daemons may share an inbox)"
            ) from None
        except OSError as exc:
            os.close(self.fd)
            raise FolderError(f"outbox {outbox}: cannot lock {self.path}: {exc.strerror}") from exc
        me = f"pid {os.getpid()} on {socket.gethostname()}, since {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, me.encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


def owner_id(outbox: Path) -> str:
    """This outbox's daemon's lasting name, made on first use (call with the OutboxLock held)."""
    path = outbox / ID_NAME
    with contextlib.suppress(FileNotFoundError):
        name = path.read_text().strip()
        if re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name):
            return name
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"
    name = f"{host}-{secrets.token_hex(4)}"
    tmp = outbox / f"{ID_NAME}.tmp"
    with open(tmp, "w") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return name
