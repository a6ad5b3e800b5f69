"""The folder watcher: real inotify events through watchdog's observer, as the daemon builds it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from watchdog.events import FileSystemEvent, FileSystemEventHandler

from watcher.events import EVENTS, Intake, make_observer, watch


class Recorder(FileSystemEventHandler):
    def __init__(self) -> None:
        self.events: list[FileSystemEvent] = []
        self.lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        with self.lock:
            self.events.append(event)

    def wait_for(self, pred: Callable[[FileSystemEvent], bool], timeout: float = 5.0) -> list[FileSystemEvent]:
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                got = [e for e in self.events if pred(e)]
            if got:
                return got
            time.sleep(0.02)
        return []


@pytest.mark.parametrize("direct", [True, False], ids=["noted-by-the-reader-thread", "through-watchdogs-threads"])
def test_a_burst_of_moved_in_files_is_seen_whole_and_in_order(tmp_path: Path, direct: bool) -> None:
    inbox, src = tmp_path / "in", tmp_path / "src"
    inbox.mkdir()
    src.mkdir()
    intake = Intake(inbox, settle_s=60)
    obs = make_observer("native", 1.0, intake if direct else None)
    watch(obs, inbox, intake)
    obs.start()
    try:
        names = [f"f{i:05d}.png" for i in range(3000)]
        for n in names:
            (src / n).write_bytes(b"x")
        for n in names:
            os.rename(src / n, inbox / n)
        got: list[str] = []
        end = time.time() + 20
        while len(got) < len(names) and time.time() < end:
            ready, settled, _ = intake.take_ready(512)  # moved-in files are complete: ready at once, no settling
            assert not settled
            got += ready
            time.sleep(0.01)
        assert got == names
    finally:
        obs.stop()
        obs.join()


def test_a_rename_inside_the_inbox_names_its_destination_and_a_renamed_folder_stays_watched(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    (inbox / "batch.partial").mkdir(parents=True)
    rec = Recorder()
    obs = make_observer("native", 1.0)
    obs.schedule(rec, str(inbox), recursive=True, event_filter=EVENTS)
    obs.start()
    try:
        (inbox / "a.tmp").write_bytes(b"x")
        os.rename(inbox / "a.tmp", inbox / "a.png")
        moved = rec.wait_for(lambda e: e.event_type == "moved" and str(e.dest_path).endswith("a.png"))
        assert moved and moved[0].dest_path == str(inbox / "a.png")
        # a folder renamed inside the inbox: files written into it later are reported at its new path
        os.rename(inbox / "batch.partial", inbox / "batch")
        time.sleep(0.3)
        (inbox / "batch" / "b.png").write_bytes(b"y")
        closed = rec.wait_for(lambda e: e.event_type == "closed" and str(e.src_path).endswith("b.png"))
        assert closed and closed[0].src_path == str(inbox / "batch" / "b.png")
    finally:
        obs.stop()
        obs.join()
