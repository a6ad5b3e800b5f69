"""Several daemons: two on one outbox (the second is refused), several on one inbox with their own
outboxes (each file exactly once across all of them, with kill -9s), and a daemon that never comes
back (its claims taken over after its lease)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_reliability import shim

from conftest import DaemonProc, rows, write_digits
from watcher.claim import WORK_ROOT, WorkFolder
from watcher.owner import OutboxLock, owner_id

RESULT_DIRS = ("processed", "review", "failed")


@pytest.fixture
def other_fs() -> Iterator[Path]:
    """A folder on another filesystem than the tests' tmp_path (tmpfs in /dev/shm)."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("needs /dev/shm")
    d = Path(tempfile.mkdtemp(prefix="dw-inbox-", dir="/dev/shm"))
    if os.stat(d).st_dev == os.stat(tempfile.gettempdir()).st_dev:
        shutil.rmtree(d)
        pytest.skip("/dev/shm is on the same filesystem as the temp folder")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def union_rows(outboxes: list[Path]) -> Counter[str]:
    return Counter(r["file"] for o in outboxes for r in rows(o))


def union_copies(outboxes: list[Path]) -> Counter[str]:
    """Files in the result folders (a crash's hidden `.partial` leftovers are not copies)."""
    return Counter(p.name for o in outboxes for d in RESULT_DIRS if (o / d).exists()
                   for p in (o / d).rglob("*") if p.is_file() and not p.name.startswith("."))


def left_in(inbox: Path) -> list[Path]:
    """Anything but a daemon's own journal and lease still under the inbox, work folders included."""
    return [p for p in inbox.rglob("*") if p.is_file() and p.name not in ("claims.log", ".lease")]


def assert_each_once(names: list[str], inbox: Path, outboxes: list[Path]) -> None:
    got, copies = union_rows(outboxes), union_copies(outboxes)
    assert {n: c for n, c in got.items() if c != 1} == {}, "a file has two rows"
    assert sorted(got) == sorted(names), "a file has no row"
    assert {n: c for n, c in copies.items() if c != 1} == {}, "a file was copied twice"
    assert sorted(copies) == sorted(names), "a file is in no result folder"
    assert left_in(inbox) == []


def wait_union(outboxes: list[Path], n: int, timeout: float) -> int:
    end = time.time() + timeout
    while sum(union_rows(outboxes).values()) < n and time.time() < end:
        time.sleep(0.2)
    return sum(union_rows(outboxes).values())


def test_a_second_daemon_on_the_same_outbox_is_refused_and_nothing_is_doubled(
        tmp_path: Path, mnist: dict[str, np.ndarray], daemon_factory: type[DaemonProc]) -> None:
    """The reported defect: a second `run` on the same folders 0.15 s after a burst took the
    first one's files in flight as an interrupted run's and recorded 599 of 600 twice."""
    inbox, outbox, src = tmp_path / "in", tmp_path / "out", tmp_path / "src"
    names = write_digits(src, np.resize(mnist["x_test"], (600, 28, 28)))
    first = daemon_factory(inbox, outbox)
    first.wait_ready()
    for n in names:
        os.rename(src / n, inbox / n)
    time.sleep(0.15)
    second = daemon_factory(inbox, outbox)
    assert second.p.wait(60) == 4
    out = second.output()
    assert f"outbox {outbox}" in out and f"pid {first.p.pid}" in out, out
    assert "recovered" not in out
    assert wait_union([outbox], 600, 120) == 600
    assert first.stop() == 0
    assert_each_once(names, inbox, [outbox])

    # the lock goes with its holder, kill -9 included: the next daemon on that outbox starts
    third = daemon_factory(inbox, outbox)
    third.wait_ready()
    os.kill(third.p.pid, signal.SIGKILL)
    third.p.wait()
    fourth = daemon_factory(inbox, outbox)
    fourth.wait_ready()
    assert fourth.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize("where", ["other-filesystem", "same-filesystem"])
def test_three_daemons_on_one_inbox_with_kill9s_process_each_file_once(
        tmp_path: Path, request: pytest.FixtureRequest, mnist: dict[str, np.ndarray], where: str) -> None:
    inbox = (request.getfixturevalue("other_fs") if where == "other-filesystem" else tmp_path) / "in"
    inbox.mkdir()
    src = tmp_path / "src"
    names = write_digits(src, np.resize(mnist["x_test"], (1500, 28, 28)))
    outs = [tmp_path / f"out{i}" for i in range(3)]
    procs = [DaemonProc(inbox, o) for o in outs]
    rng = random.Random(5)
    kills = 0
    try:
        for p in procs:
            p.wait_ready()
        for k, chunk in enumerate(names[i:i + 100] for i in range(0, len(names), 100)):
            for n in chunk:  # written in place, as a scanner on a network share does
                shutil.copyfile(src / n, inbox / n)
            time.sleep(rng.uniform(0.05, 0.3))
            if k in (2, 5, 8, 11):
                i = 1 + k % 2
                os.kill(procs[i].p.pid, signal.SIGKILL)
                procs[i].p.wait()
                kills += 1
                time.sleep(rng.uniform(0.2, 1.5))
                procs[i] = DaemonProc(inbox, outs[i])
        assert wait_union(outs, len(names), 180) == len(names)
        time.sleep(1)  # the last rows' files move out just after them
        for p in procs:
            assert p.stop() == 0
    finally:
        for p in procs:
            p.kill()
    assert kills == 4
    assert_each_once(names, inbox, outs)
    assert all(rows(o) for o in outs), "some daemon did no work"
    if where == "other-filesystem":  # each daemon's claims in a work folder of its own in the inbox
        assert sorted(p.name for p in (inbox / WORK_ROOT).iterdir()) == sorted(owner_id(o) for o in outs)


@pytest.mark.parametrize("dies", ["after-its-rows", "while-claiming"])
def test_the_claims_of_a_daemon_that_does_not_come_back_are_taken_over_after_its_lease(
        tmp_path: Path, other_fs: Path, mnist: dict[str, np.ndarray], daemon_factory: type[DaemonProc], dies: str) -> None:
    """Daemon A dies (kill -9) after recording its rows and before moving the files out, or in the
    middle of claiming; it never starts again. B, on the same inbox, takes A's claims over once
    A's lease has run out: recorded files only move, the others get their rows from B."""
    inbox, out_a, out_b, src = other_fs / "in", tmp_path / "a", tmp_path / "b", tmp_path / "src"
    inbox.mkdir()
    names = write_digits(src, mnist["x_test"][:40])
    lease = {"DIGIT_WATCHER_CLAIM_LEASE_S": "10", "DIGIT_WATCHER_RESCAN_INTERVAL_S": "1"}
    for n in names:
        shutil.copyfile(src / n, inbox / n)
    at = "/processed/" if dies == "after-its-rows" else f"/{WORK_ROOT}/"
    # while claiming: batches of 8, so A is reading and recording while it claims
    small = {"DIGIT_WATCHER_BATCH_MAX": "8"} if dies == "while-claiming" else {}
    a = daemon_factory(inbox, out_a, env={**lease, **small, "LD_PRELOAD": str(shim(tmp_path)), "CRASHPOINT_AT": at,
                                          "CRASHPOINT_N": "20"})
    assert a.p.wait(60) == -signal.SIGKILL
    claimed = [p for p in (inbox / WORK_ROOT / owner_id(out_a)).iterdir() if p.name[0] != "." and p.name != "claims.log"]
    if dies == "after-its-rows":
        # the crash point counts moves into processed/ (a file read with less confidence goes to review/)
        assert len(rows(out_a)) >= 20 and len([p for p in (out_a / "processed").iterdir() if p.name[0] != "."]) == 19
        assert len(claimed) == 40 - union_copies([out_a]).total()  # the rest are still claimed
    else:
        # the 20th claim crashed: the 19 before it are still claimed or, where a first batch was
        # read while the rest were being claimed, recorded (and perhaps moved out) by A
        moved = union_copies([out_a]).total()
        assert len(claimed) + moved == 19 and len(rows(out_a)) >= moved
    t_dead = time.time()
    b = daemon_factory(inbox, out_b, env=lease)
    b.wait_ready()
    assert wait_union([out_a, out_b], 40, 60) == 40
    end = time.time() + 30
    while union_copies([out_a, out_b]).total() < 40 and time.time() < end:
        time.sleep(0.2)
    assert time.time() - t_dead >= 9, "taken over before the lease ran out"
    assert f"took over the claims of {owner_id(out_a)}" in b.output()
    assert b.stop() == 0
    assert len(rows(out_b)) == 40 - len(rows(out_a))
    assert_each_once(names, inbox, [out_a, out_b])


def test_take_over_moves_recorded_claims_and_reclaims_the_rest(tmp_path: Path, other_fs: Path) -> None:
    inbox, out_a, out_b = other_fs / "in", tmp_path / "a", tmp_path / "b"
    for d in (inbox, out_a, out_b):
        d.mkdir()
    for n in ("x.png", "y.png", "z.png"):
        (inbox / n).write_bytes(n.encode())
    a = WorkFolder(inbox, out_a, "host-a", lease_s=10)
    b = WorkFolder(inbox, out_b, "host-b", lease_s=10)
    claims = a.claim_many(["x.png", "y.png", "z.png"])
    a.sync()
    a.mark_recorded(claims[:1], ["review"])  # x's row is in a's results.csv
    assert b.take_over() == []  # a holds its lease
    a._renewing.set()
    os.close(a._lease_fd)  # a dies: its flock goes; its lease file is still fresh
    a._lease_fd = -1
    assert b.take_over() == []
    old = time.time() - 11
    os.utime(inbox / WORK_ROOT / "host-a" / ".lease", (old, old))
    assert b.take_over() == ["host-a"]
    assert not a.still_ours()
    assert b.still_ours()
    got = b.adopted(dict)
    assert [(c.rel, st) for c, st in got.finish] == [("x.png", "review")]
    assert sorted(c.rel for c in got.redo) == ["y.png", "z.png"]
    assert all(Path(c.path).parent == b.dir for c in got.redo)
    b.finish(got.finish[0][0], "review")
    assert (out_b / "review" / "x.png").read_bytes() == b"x.png"
    # b's own journal knows every adopted file: a crash now neither loses nor redoes one
    left, _ = b.leftovers()
    assert sorted(c.rel for c in left) == ["y.png", "z.png"]
    assert not (inbox / WORK_ROOT / "host-a").exists()
    b.close()
    a._journal.close()


def test_outbox_lock_names_its_holder(tmp_path: Path) -> None:
    first = OutboxLock(tmp_path)
    with pytest.raises(Exception, match=rf"outbox {tmp_path} is in use by another digit-watcher \(pid {os.getpid()}"):
        OutboxLock(tmp_path)
    first.release()
    OutboxLock(tmp_path).release()
    assert owner_id(tmp_path) == owner_id(tmp_path)
