"""Intake: which inbox files exist, and which are complete enough to read.

Events are hints; the folder is the truth. Three sources feed one `Intake`:
- watchdog events (the handler only records the path; it never blocks and never raises),
- a scan of the whole inbox at start-up,
- a periodic rescan, the safety net for missed events and inotify queue overflow.

A file is ready when it is complete: it was renamed into the inbox or closed after writing
(inotify tells us so), or, when no such event came (polling, scans, copies into a moved-in
folder), its size and mtime have been stable for `settle_s` seconds.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver

TEMP_SUFFIXES = (".tmp", ".part", ".crdownload", "~", ".partial", ".swp")


def ignored(rel: str) -> bool:
    """Hidden names (any part starting with '.') and names that say 'still downloading'."""
    parts = rel.split(os.sep)
    return any(p.startswith(".") for p in parts) or parts[-1].lower().endswith(TEMP_SUFFIXES)


@dataclass
class Pending:
    size: int = -1
    mtime_ns: int = -1
    changed: float = 0.0  # monotonic time the size/mtime last changed, or an event last came


class Intake:
    """Thread-safe set of candidate files, keyed by path relative to the inbox."""

    def __init__(self, inbox: Path, settle_s: float) -> None:
        self.inbox = inbox
        self.settle_s = settle_s
        self._pending: dict[str, Pending] = {}  # seen, not known to be complete: settle by size/mtime
        # an event said complete: ready now, oldest first (OrderedDict: popping the front is O(1))
        self._complete: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.wake = threading.Event()
        self._prefix = os.path.join(str(inbox), "")

    def note(self, path: str | bytes, complete: bool, event: bool = True) -> None:
        """Record that `path` (absolute) may be a new or changed file. Never raises.
        `event`: a filesystem event says it changed just now (a scan only says it exists)."""
        full = os.fsdecode(path)
        if full.startswith(self._prefix) and "/." not in full:
            rel = full[len(self._prefix):]  # watchdog's paths are the watch path + names: no need to normalise
        else:
            try:
                rel = os.path.relpath(full, self.inbox)
            except ValueError:
                return
        if rel.startswith("..") or rel == "." or ignored(rel):
            return
        with self._lock:
            if rel in self._complete:
                pass
            elif complete:
                self._pending.pop(rel, None)
                self._complete[rel] = None
            else:
                p = self._pending.get(rel)
                if p is None:
                    p = self._pending[rel] = Pending()
                if event:
                    p.changed = time.monotonic()
        self.wake.set()

    def forget(self, rel: str) -> None:
        with self._lock:
            self._pending.pop(rel, None)
            self._complete.pop(rel, None)

    def __len__(self) -> int:
        return len(self._pending) + len(self._complete)

    def take_ready(self, limit: int, now: float | None = None) -> tuple[list[str], set[str], float | None]:
        """Up to `limit` ready files (removed from the pending set); those of them taken as
        complete only because they were still for `settle_s` (no event said so); and when the
        earliest of the rest may become ready (None if nothing pending needs a timed re-check)."""
        now = time.monotonic() if now is None else now
        ready: list[str] = []
        settled: set[str] = set()
        next_check: float | None = None
        with self._lock:
            # complete files need no look: one that has gone since is simply not claimed
            while self._complete and len(ready) < limit:
                ready.append(self._complete.popitem(last=False)[0])
            if len(ready) >= limit:
                return ready, settled, now
            items = list(self._pending.items())
        for rel, p in items:
            if len(ready) >= limit:
                next_check = now
                break
            try:
                st = os.lstat(self.inbox / rel)
            except OSError:
                self.forget(rel)  # gone (deleted, or claimed by an earlier batch)
                continue
            if stat.S_ISDIR(st.st_mode):
                self.forget(rel)
                continue
            if not stat.S_ISREG(st.st_mode):
                # links, fifos, sockets: nothing to wait for; they become error rows in failed/
                ready.append(rel)
                continue
            if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
                with self._lock:
                    if p.size >= 0:
                        p.changed = now  # it changed since we last looked
                    p.size, p.mtime_ns = st.st_size, st.st_mtime_ns
            age = max(0.0, time.time() - st.st_mtime_ns / 1e9)
            quiet_since = max(p.changed, now - age)
            due = quiet_since + self.settle_s
            if due <= now:
                ready.append(rel)
                settled.add(rel)
            else:
                next_check = due if next_check is None else min(next_check, due)
        with self._lock:
            for rel in ready:
                self._pending.pop(rel, None)
        return ready, settled, next_check


def scan(root: Path, intake: Intake) -> int:
    """Note every visible file under `root` (not following links to folders). Returns the count."""
    n = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as exc:
            logger.warning("cannot list {}: {}", d, exc.strerror)
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                    continue
            except OSError:
                continue
            intake.note(e.path, complete=False, event=False)
            n += 1
    return n


class Handler(FileSystemEventHandler):
    """watchdog callback: record paths, nothing else. Runs on watchdog's single dispatcher thread."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            if isinstance(event, FileMovedEvent):
                if event.dest_path:  # empty when moved out of the tree (our own claims, too)
                    self.intake.note(event.dest_path, complete=True)
            elif isinstance(event, FileClosedEvent):
                self.intake.note(event.src_path, complete=True)
            elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
                self.intake.note(event.src_path, complete=False)
            elif isinstance(event, DirMovedEvent | DirCreatedEvent):
                d = event.dest_path if isinstance(event, DirMovedEvent) else event.src_path
                if d:
                    scan(Path(os.fsdecode(d)), self.intake)
        except Exception as exc:  # the dispatcher thread must never die
            logger.error("event handler error on {}: {}", getattr(event, "src_path", "?"), exc)


#: The events the handler uses; the rest (opens, reads, deletes, folder mtimes) are filtered
#: out before they reach Python's dispatcher thread.
EVENTS: list[type[FileSystemEvent]] = [FileMovedEvent, FileClosedEvent, FileCreatedEvent, FileModifiedEvent,
                                       DirCreatedEvent, DirMovedEvent]


def watch(observer: BaseObserver, inbox: Path, intake: Intake) -> None:
    observer.schedule(Handler(intake), str(inbox), recursive=True, event_filter=EVENTS)


def make_observer(mode: str, poll_interval_s: float, intake: Intake | None = None) -> BaseObserver:
    """The folder watcher for `mode`. With `intake`, inotify's word that a file is complete goes
    to it straight from the thread reading inotify (see `_linear_inotify_observer`)."""
    if mode == "polling":
        from watchdog.observers.polling import PollingObserver

        return PollingObserver(timeout=poll_interval_s)
    try:
        return _linear_inotify_observer(intake)
    except (ImportError, AttributeError, TypeError) as exc:  # watchdog's internals moved: stock observer
        logger.debug("stock inotify observer ({}): bursts are slower", exc)
    from watchdog.observers.inotify import InotifyObserver
    from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper

    InotifyMoveEventGrouper.delay = 0.0
    return InotifyObserver(generate_full_events=True)


def _linear_inotify_observer(intake: Intake | None = None) -> BaseObserver:
    """watchdog's inotify observer without IN_MOVED_FROM, and so without move pairing; and, with
    `intake`, without the trip through two more threads for the commonest events.

    Our own claims move every file out of the inbox, so IN_MOVED_FROM was half of all events,
    and we need none: the destination alone names a moved-in file. watchdog pairs moves through
    one FIFO of every event, searched from the front for each IN_MOVED_TO even when nothing can
    match, and holds each IN_MOVED_FROM there 0.5 s. In a burst the FIFO grew to thousands of
    events and the searches made the watcher thread quadratic (measured: three quarters of its
    time, 60 us of GIL per dropped file); the hold made a file dropped after one of our claims
    wait half a second (trickle p50 502 ms). Here events go through in order, at once.

    A folder renamed inside the inbox then arrives as an unpaired IN_MOVED_TO: watchdog re-adds
    its watches under the new path (same inodes, same watch descriptors, so its events are
    reported there; tested), warning that it overwrites them.

    A file renamed into the inbox or closed after writing (IN_MOVED_TO, IN_CLOSE_WRITE) is
    complete, and that is all the intake needs to know: it is noted from the reader thread.
    Everything else (creations, changes, folders) goes the usual way, through watchdog's emitter
    and dispatcher threads to `Handler`. The order of the two ways does not matter: a complete
    file stays complete whatever note comes after (measured: 15 us of watcher CPU a dropped
    file before, about 6 after).
    """
    import os
    import warnings

    from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT
    from watchdog.observers.inotify import InotifyFullEmitter, InotifyObserver, InotifyWatchGroup
    from watchdog.observers.inotify_c import InotifyConstants, Mask
    from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper, PathedInotifyEvent

    class InOrder(InotifyMoveEventGrouper):
        delay = 0.0

        def put_event(self, event: PathedInotifyEvent) -> None:
            ev = event.ev
            if intake is not None and (ev.is_moved_to or ev.is_close_write) and not ev.is_directory:
                intake.note(event.path, complete=True)  # never raises
                return
            self._queue.put(event)

        def get_queued_moved_from_event(self, cookie: int) -> PathedInotifyEvent | None:
            return None

    class Group(InotifyWatchGroup):
        def __post_init__(self) -> None:
            self._move_event_grouper = InOrder()  # before the watches exist: no event is lost
            super().__post_init__()

    warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)

    class Emitter(InotifyFullEmitter):
        def get_event_mask_from_filter(self) -> Mask:
            return Mask(super().get_event_mask_from_filter() & ~InotifyConstants.IN_MOVED_FROM)

        def on_thread_start(self) -> None:
            self._inotify = Group(self._inotify_fd, os.fsencode(self.watch.path), is_recursive=self.watch.is_recursive,
                                  event_mask=self.get_event_mask_from_filter(), follow_symlink=self.watch.follow_symlink)

    class Observer(InotifyObserver):
        def __init__(self) -> None:
            super().__init__(timeout=DEFAULT_OBSERVER_TIMEOUT, generate_full_events=True)
            self._emitter_class = Emitter

    return Observer()
