"""The real daemon as a subprocess, real files, real watchdog events."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from conftest import EXE, REPO, DaemonProc, children, descendants, rows, wait_moved, wait_rows, write_digits


def test_run_once_processes_what_is_there_and_exits_0(tmp_path: Path, mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    names = write_digits(inbox, mnist["x_test"][:30])
    write_digits(inbox / "sub" / "deeper", mnist["x_test"][30:32], prefix="s", invert=False)
    (inbox / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (inbox / ".hidden.png").write_bytes((inbox / names[0]).read_bytes())
    (inbox / "upload.png.part").write_bytes((inbox / names[0]).read_bytes())
    r = subprocess.run([*EXE, "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)],
                       capture_output=True, text=True, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stderr
    got = {row["file"]: row for row in rows(outbox)}
    assert len(got) == 33
    right = sum(got[n]["digit"] == str(y) for n, y in zip(names, mnist["y_test"][:30], strict=True))
    assert right >= 29
    for i, y in enumerate(mnist["y_test"][30:32]):
        assert got[f"sub/deeper/s{i:05d}.png"]["digit"] == str(y)  # path relative to the inbox
        assert (outbox / "processed" / "sub" / "deeper" / f"s{i:05d}.png").is_file()
    bad = got["broken.png"]
    assert bad["status"] == "error" and bad["error"] and bad["digit"] == ""
    assert (outbox / "failed" / "broken.png").is_file()
    # hidden and partial files are left alone; everything else left the inbox
    assert sorted(p.name for p in inbox.rglob("*") if p.is_file()) == [".hidden.png", "upload.png.part"]
    for row in got.values():
        assert set(row) >= {"file", "digit", "confidence", "status", "error", "time", "sha256", "model_version"}
        if row["status"] != "error":
            assert 0.0 <= float(row["confidence"]) <= 1.0 and len(row["sha256"]) == 64 and row["model_version"]
    # the start-up line, a line per batch (counts), and one per failed file naming it and why
    # (how the 33 files fall into batches depends on when each settles, so no line is pinned to one)
    assert "ready:" in r.stderr and re.search(r"batch of \d+ in \d+ ms: \d+ ok, \d+ review, \d+ failed", r.stderr)
    assert re.search(r"stopped: processed=\d+ review=\d+ failed=1 ", r.stderr)
    assert "broken.png: error: corrupt" in r.stderr


def test_a_file_sent_to_review_says_why_in_its_row_and_the_log(
        tmp_path: Path, daemon_factory: type[DaemonProc]) -> None:
    """A letter dropped alone goes to review; its row's `error` column and the daemon's log line
    name the reason, so a person reading either knows what to look at."""
    import cv2

    from watcher import negatives

    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    big = np.zeros((112, 112), np.uint8)
    cv2.putText(big, "K", (20, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.6, 255, 8, cv2.LINE_AA)
    letter = 255 - cv2.resize(negatives.mnist_frame(big), (140, 140), interpolation=cv2.INTER_CUBIC)
    d = daemon_factory(inbox, outbox)
    d.wait_ready()
    cv2.imwrite(str(tmp_path / "letter.png"), letter)
    os.rename(tmp_path / "letter.png", inbox / "letter.png")
    (row,) = wait_rows(outbox, 1, 30)
    assert row["status"] == "review" and row["error"].startswith("review: "), row
    assert wait_moved(outbox, 1) == 1 and (outbox / "review" / "letter.png").exists()
    assert d.stop() == 0
    assert f"letter.png -> {row['text']} ({row['confidence']}) {row['error']}, " in d.output()


def test_running_daemon_sees_files_before_and_after_start_and_stops_on_sigterm(
        tmp_path: Path, mnist: dict[str, np.ndarray], daemon_factory: type[DaemonProc]) -> None:
    inbox, outbox, src = tmp_path / "in", tmp_path / "out", tmp_path / "src"
    inbox.mkdir()
    outbox.mkdir()
    before = write_digits(inbox, mnist["x_test"][:5], prefix="before")
    d = daemon_factory(inbox, outbox)
    d.wait_ready()
    assert len(wait_rows(outbox, 5, 30)) == 5
    assert wait_moved(outbox, 5) == 5
    # dropped while running: renamed in (as careful producers do), written in place, and a
    # folder moved in whole
    after = write_digits(src, mnist["x_test"][5:25], prefix="after")
    for n in after:
        os.rename(src / n, inbox / n)
    with open(inbox / "direct.png", "wb") as f:
        f.write((outbox / "processed" / before[0]).read_bytes())
    folder = tmp_path / "batch7"
    write_digits(folder, mnist["x_test"][25:28], prefix="f")
    os.rename(folder, inbox / "batch7")
    got = wait_rows(outbox, 5 + 20 + 1 + 3, 30)
    assert len(got) == 29, d.output()
    by = {r["file"]: r for r in got}
    labels = dict(zip(before + after, mnist["y_test"][:25], strict=True))
    assert sum(by[n]["digit"] == str(y) for n, y in labels.items()) >= 24
    assert by["direct.png"]["digit"] == by[before[0]]["digit"]
    assert {f"batch7/f{i:05d}.png" for i in range(3)} <= set(by)
    assert wait_moved(outbox, 29) == 29
    assert len(list((outbox / "processed").rglob("*.png"))) + len(list((outbox / "review").rglob("*.png"))) == 29
    assert d.stop() == 0
    assert "stopped:" in d.output()


def test_corrupt_file_while_running_gives_error_row_and_daemon_keeps_going(
        tmp_path: Path, mnist: dict[str, np.ndarray], daemon_factory: type[DaemonProc]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    d = daemon_factory(inbox, outbox)
    d.wait_ready()
    tmp = tmp_path / "x.tmp"
    tmp.write_bytes(b"GIF89a" + os.urandom(100))
    os.rename(tmp, inbox / "corrupt.gif")
    time.sleep(0.5)
    write_digits(tmp_path / "later", mnist["x_test"][:1])
    os.rename(tmp_path / "later" / "d00000.png", inbox / "later.png")
    got = {r["file"]: r for r in wait_rows(outbox, 2, 30)}
    assert got["corrupt.gif"]["status"] == "error" and got["corrupt.gif"]["error"]
    assert wait_moved(outbox, 2) == 2 and (outbox / "failed" / "corrupt.gif").exists()
    assert got["later.png"]["digit"] == str(mnist["y_test"][0])
    assert d.p.poll() is None
    assert d.stop() == 0


def test_same_name_twice_is_two_rows_and_two_files(tmp_path: Path, mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    for k in range(2):
        write_digits(inbox, mnist["x_test"][k:k + 1])
        r = subprocess.run([*EXE, "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
        assert r.returncode == 0, r.stderr
    got = rows(outbox)
    assert [g["file"] for g in got] == ["d00000.png", "d00000.png"]
    assert got[0]["claim"] != got[1]["claim"]
    assert sorted(p.name for p in (outbox / "processed").iterdir()) == ["d00000.png", "d00000~1.png"]


def test_a_decode_worker_killed_mid_burst_loses_and_doubles_nothing(
        tmp_path: Path, mnist: dict[str, np.ndarray], daemon_factory: type[DaemonProc]) -> None:
    """A decoder that dies (here: SIGKILL to a worker process, as a segfault on a poison file would
    end it) costs the daemon nothing: the pool is rebuilt and the broken chunk is redone."""
    inbox, outbox, src = tmp_path / "in", tmp_path / "out", tmp_path / "src"
    inbox.mkdir()
    names = write_digits(src, np.concatenate([mnist["x_test"][:1000]] * 4), prefix="k")
    d = daemon_factory(inbox, outbox)
    d.wait_ready()

    def workers() -> list[int]:  # children of the daemon's forkserver
        return [w for c in children(d.p.pid) for w in children(c)]

    assert len(workers()) >= 1  # started before READY
    for n in names:
        os.rename(src / n, inbox / n)
    killed = 0
    while len(rows(outbox)) < 1 and d.p.poll() is None:
        time.sleep(0.005)
    for w in workers():
        os.kill(w, signal.SIGKILL)
        killed += 1
    got = wait_rows(outbox, len(names), 120)
    assert killed >= 1 and d.p.poll() is None, d.output()
    assert sorted(r["file"] for r in got) == sorted(names)  # each file once
    blamed = [(r["file"], r["error"]) for r in got if r["status"] not in ("ok", "review")]
    assert blamed == [], (blamed[:5], d.output()[-3000:])  # the innocent files were not blamed
    assert wait_moved(outbox, len(names)) == len(names)
    assert len(list((outbox / "processed").glob("*.png"))) + len(list((outbox / "review").glob("*.png"))) == len(names)
    assert not list(inbox.iterdir())
    assert re.search(r"worker \d+ died \(signal SIGKILL\)", d.output())
    assert d.stop() == 0


def test_kill_9_of_the_daemon_leaves_no_decode_worker_behind(tmp_path: Path, daemon_factory: type[DaemonProc]) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    d = daemon_factory(inbox, outbox)
    d.wait_ready()
    family = descendants(d.p.pid)  # its forkserver and resource tracker, the workers
    assert len(family) >= 3
    d.kill()
    end = time.time() + 10

    def running(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    alive = family
    while alive and time.time() < end:
        time.sleep(0.1)
        alive = [p for p in alive if running(p)]
    assert not alive, f"left running after the daemon was killed: {alive}"
