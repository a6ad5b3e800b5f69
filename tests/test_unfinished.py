"""Holding files claimed half written (`watcher.unfinished`), on real files and a given clock."""

from __future__ import annotations

import os
from pathlib import Path

from watcher.claim import Claim
from watcher.unfinished import HOLD_SETTLES, Unfinished


def claim(tmp_path: Path, name: str, data: bytes, settled: bool = True) -> Claim:
    p = tmp_path / name
    p.write_bytes(data)
    return Claim(name, name, str(p), settled)


def test_only_files_taken_by_settling_are_held(tmp_path: Path) -> None:
    u = Unfinished(settle_s=1.0)
    assert not u.hold(claim(tmp_path, "closed", b"half", settled=False), now=0.0)
    assert u.hold(claim(tmp_path, "settled", b"half"), now=0.0)
    assert len(u) == 1 and u.watching
    assert not Unfinished(settle_s=0.0).hold(claim(tmp_path, "no-settling", b"half"), now=0.0)


def test_a_held_file_is_read_again_once_it_has_grown_and_been_still_for_settle_s(tmp_path: Path) -> None:
    u = Unfinished(settle_s=1.0)
    c = claim(tmp_path, "f", b"half")
    assert u.hold(c, now=0.0)
    assert u.due(now=0.5) == ([], HOLD_SETTLES * 1.0)  # unchanged: waits for a change, or the grace
    with open(c.path, "ab") as f:
        f.write(b" and the rest")
    assert u.due(now=2.0) == ([], 3.0)  # grown: read again once still for settle_s
    assert u.due(now=2.9) == ([], 3.0)
    assert u.due(now=3.0) == ([c], None)
    assert len(u) == 0 and u.watching
    assert u.hold(c, now=3.1)  # still unfinished when read again (stalled again): held again
    assert u.due(now=3.2) == ([], 2.0 + HOLD_SETTLES)  # the grace counts from its last change
    with open(c.path, "ab") as f:
        f.write(b", the end")
    assert u.due(now=4.0) == ([], 5.0)
    assert u.due(now=5.0) == ([c], None)
    u.forget(c.id)  # read whole and recorded
    assert len(u) == 0 and not u.watching


def test_a_file_unchanged_for_the_grace_is_read_once_more_then_failed(tmp_path: Path) -> None:
    u = Unfinished(settle_s=1.0)
    c = claim(tmp_path, "f", b"truncated")
    assert u.hold(c, now=0.0)
    assert u.due(now=HOLD_SETTLES - 0.1) == ([], HOLD_SETTLES)
    assert u.due(now=HOLD_SETTLES) == ([c], None)
    assert not u.hold(c, now=HOLD_SETTLES + 0.05)  # the last read still fails: an error row
    assert len(u) == 0 and not u.watching


def test_a_held_file_that_vanished_is_read_again_and_so_fails(tmp_path: Path) -> None:
    u = Unfinished(settle_s=1.0)
    c = claim(tmp_path, "f", b"half")
    assert u.hold(c, now=0.0)
    os.unlink(c.path)
    assert u.due(now=0.1) == ([c], None)
    assert not u.hold(c, now=0.2)
