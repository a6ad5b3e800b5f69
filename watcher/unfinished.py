"""Files claimed before their writer was done: held, and read again once they are.

Where no event says that a file is complete (polling, network folders, the inbox scans), intake
takes a file as complete once its size and mtime have been still for `settle_s`. A writer that
stalls for longer than that (a scanner between pages, a copy over a busy link, fsync on a loaded
disk) has its file claimed unfinished. A claim is a rename, so the writer's handle still points
at the claimed file, and the file goes on growing in the work folder.

So a file taken by settling whose read fails as an unfinished file would (empty, truncated: see
`FileFailure.unfinished`) is not failed at once. It is held, unrecorded, in the work folder, and
read again once it has changed and then been still for `settle_s`. It becomes an error row only
when it has not changed for `HOLD_SETTLES` settle periods: a file that really is truncated. A
file that an event said was complete (closed after writing, renamed in) is never held.

Nothing here touches the exactly-once rules: a held file has no row and stays claimed, so a
crash leaves it to be read again at the next start, like any claimed file without a row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from watcher.claim import Claim

#: A held file that has not changed for this many settle periods is failed (its last read's error).
HOLD_SETTLES = 10


@dataclass
class Held:
    claim: Claim
    size: int
    mtime_ns: int
    grown: bool = False  # changed since its last read


class Unfinished:
    """Claims read as unfinished, waiting for their writer. Used by the daemon's loop only."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self.grace = HOLD_SETTLES * settle_s
        self._held: dict[str, Held] = {}  # claim id -> held file, waiting
        self._changed: dict[str, float] = {}  # claim id -> when it was first held or last changed

    def __len__(self) -> int:
        return len(self._held)

    @property
    def watching(self) -> bool:
        """Whether any claim is held or being read again after a hold."""
        return bool(self._changed)

    def hold(self, claim: Claim, now: float) -> bool:
        """Whether `claim`, just read as unfinished, is held instead of failed: it was taken by
        settling and has changed within the grace (or is held for the first time)."""
        if not claim.settled or self.grace <= 0:
            return False
        since = self._changed.setdefault(claim.id, now)
        if now - since >= self.grace:
            self._changed.pop(claim.id, None)
            return False
        try:
            st = os.stat(claim.path)
        except OSError:
            self._changed.pop(claim.id, None)
            return False  # gone from the work folder: its error row says what the read found
        self._held[claim.id] = Held(claim, st.st_size, st.st_mtime_ns)
        return True

    def forget(self, claim_id: str) -> None:
        """`claim_id` was recorded: it is no longer anyone's concern here."""
        self._changed.pop(claim_id, None)

    def due(self, now: float) -> tuple[list[Claim], float | None]:
        """Held claims to read again: those that changed and have since been still for
        `settle_s`, and those still unchanged after the grace (read once more, then failed if
        they still fail). Also when the earliest of the rest is due (None if none is held)."""
        out: list[Claim] = []
        next_check: float | None = None
        for cid, h in list(self._held.items()):
            try:
                st = os.stat(h.claim.path)
            except OSError:
                out.append(h.claim)  # gone: the read says so, in an error row
                del self._held[cid]
                continue
            if (st.st_size, st.st_mtime_ns) != (h.size, h.mtime_ns):
                h.size, h.mtime_ns, h.grown = st.st_size, st.st_mtime_ns, True
                self._changed[cid] = now
            since = self._changed[cid]
            due = since + self.settle_s if h.grown else since + self.grace
            if due <= now:
                out.append(h.claim)
                del self._held[cid]
            else:
                next_check = due if next_check is None else min(next_check, due)
        return out, next_check
