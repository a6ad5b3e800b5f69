"""Trying hard to break exactly-once: kill -9 at random and at the worst moments, slow writers,
hostile and oddly named files, a burst of 50,000, a full outbox on another filesystem, polling mode."""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import EXE, REPO, DaemonProc, free_port, http_get, metric, rows, wait_moved, wait_rows, write_digits
from watcher.results import COLUMNS

RESULT_DIRS = ("processed", "review", "failed")


def copies(outbox: Path) -> list[str]:
    return sorted(str(p.relative_to(outbox / d)) for d in RESULT_DIRS if (outbox / d).exists()
                  for p in (outbox / d).rglob("*") if p.is_file() or p.is_symlink())


def assert_exactly_once(inbox: Path, outbox: Path, names: list[str]) -> None:
    got = rows(outbox)
    files = [r["file"] for r in got]
    assert len(files) == len(set(files)), "a file has two rows"
    assert sorted(files) == sorted(names), "a file has no row"
    assert copies(outbox) == sorted(names), "a file is missing or copied twice"
    assert [p for p in inbox.rglob("*") if p.is_file() and not p.name.startswith(".")] == []
    assert [p.name for p in (outbox / ".work").iterdir() if p.name != "claims.log"] == []
    with open(outbox / "results.csv", newline="", encoding="utf-8") as f:
        assert {len(r) for r in csv.reader(f)} == {len(COLUMNS)}


def drop(src: Path, inbox: Path, names: list[str]) -> None:
    for n in names:
        os.rename(src / n, inbox / n)


@pytest.fixture
def corpus(tmp_path: Path, mnist: dict[str, np.ndarray]) -> Iterator[tuple[Path, Path, Path]]:
    inbox, outbox, src = tmp_path / "in", tmp_path / "out", tmp_path / "src"
    inbox.mkdir()
    outbox.mkdir()
    yield inbox, outbox, src


def test_kill9_at_random_moments_never_loses_or_doubles_a_file(corpus: tuple[Path, Path, Path],
                                                               mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox, src = corpus
    names = write_digits(src, np.resize(mnist["x_test"], (1200, 28, 28)))
    rng = random.Random(7)
    chunks = [names[i:i + 100] for i in range(0, len(names), 100)]
    kills = 0
    d = DaemonProc(inbox, outbox)
    try:
        d.wait_ready()
        for chunk in chunks:
            drop(src, inbox, chunk)
            time.sleep(rng.uniform(0.02, 0.6))
            if kills < 10:
                os.kill(d.p.pid, signal.SIGKILL)
                d.p.wait()
                kills += 1
                d = DaemonProc(inbox, outbox)
                time.sleep(rng.uniform(0.0, 4.0))  # sometimes killed again while starting up
        wait_rows(outbox, len(names), 120)
        assert d.stop() == 0
    finally:
        d.kill()
    assert kills == 10
    assert_exactly_once(inbox, outbox, names)


def shim(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc for the fault-injection shim")
    so = tmp_path / "crashpoint.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(so), str(REPO / "tests" / "native" / "crashpoint.c"),
                    "-ldl"], check=True)
    return so


def test_kill9_between_row_and_move_and_in_the_middle_of_claiming(corpus: tuple[Path, Path, Path], tmp_path: Path,
                                                                  mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox, src = corpus
    so = shim(tmp_path)
    names = write_digits(src, np.resize(mnist["x_test"][:500], (480, 28, 28)))
    rng = random.Random(11)
    killed = 0
    for k, chunk in enumerate([names[i:i + 60] for i in range(0, len(names), 60)]):
        drop(src, inbox, chunk)
        point = "/processed/" if k % 2 == 0 else "/.work/"
        d = DaemonProc(inbox, outbox, env={"LD_PRELOAD": str(so), "CRASHPOINT_AT": point,
                                           "CRASHPOINT_N": str(rng.randint(1, 40))})
        try:
            d.p.wait(60)
        except subprocess.TimeoutExpired:
            d.stop()
        killed += d.p.returncode == -signal.SIGKILL
    d = DaemonProc(inbox, outbox)
    try:
        wait_rows(outbox, len(names), 60)
        assert d.stop() == 0
    finally:
        d.kill()
    assert killed >= 6  # most runs really died at their crash point
    assert "recovered" in d.output() or killed == 0
    assert_exactly_once(inbox, outbox, names)


def slow_copy(data: bytes, dest: Path, chunks: int = 8, pause: float = 0.5) -> None:
    k = max(1, len(data) // chunks)
    with open(dest, "wb") as out:
        for i in range(0, len(data), k):
            out.write(data[i:i + k])
            out.flush()
            os.fsync(out.fileno())
            time.sleep(pause)


@pytest.mark.parametrize("mode", ["native", "polling"])
def test_slow_writer_is_read_once_and_whole(corpus: tuple[Path, Path, Path], mnist: dict[str, np.ndarray],
                                            daemon_factory: type[DaemonProc], mode: str) -> None:
    inbox, outbox, src = corpus
    names = write_digits(src, mnist["x_test"][:4])
    # the writer pauses 0.5 s between chunks; polling sees a file complete once it has been still
    # for `settle_s` (1 s). A loaded machine's fsync stalls can hold a writer still for longer: the
    # file is then read truncated, held, and read again when whole (the next test)
    d = daemon_factory(inbox, outbox, "--watch-mode", mode, env={"DIGIT_WATCHER_POLL_INTERVAL_S": "0.3"})
    d.wait_ready()
    ts = [threading.Thread(target=slow_copy, args=((src / n).read_bytes(), inbox / n)) for n in names]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    got = wait_rows(outbox, 4, 20)
    time.sleep(2)
    got = rows(outbox)
    assert len(got) == 4 and all(r["status"] != "error" for r in got), got
    assert {r["file"]: r["digit"] for r in got} == {n: str(y) for n, y in zip(names, mnist["y_test"][:4], strict=True)}
    assert d.stop() == 0


def test_a_writer_stalling_past_settle_s_gets_its_file_read_whole_and_a_truncated_file_still_fails(
        corpus: tuple[Path, Path, Path], mnist: dict[str, np.ndarray], daemon_factory: type[DaemonProc]) -> None:
    """Polling takes a file as complete once it has been still for `settle_s`. A writer stalled
    for longer has its file claimed half written: it is held and read again once it is whole. A
    file that stays truncated still becomes an error row in failed/, after the grace."""
    inbox, outbox, src = corpus
    names = write_digits(src, mnist["x_test"][:2])
    stalled, whole = (src / names[0]).read_bytes(), (src / names[1]).read_bytes()
    port = free_port()
    d = daemon_factory(inbox, outbox, "--watch-mode", "polling", "--metrics",
                       env={"DIGIT_WATCHER_POLL_INTERVAL_S": "0.1", "DIGIT_WATCHER_SETTLE_S": "0.3",
                            "DIGIT_WATCHER_METRICS_PORT": str(port)})
    d.wait_ready()
    (inbox / "broken.png").write_bytes(whole[: len(whole) // 2])
    held = []
    with open(inbox / names[0], "wb") as out:
        out.write(stalled[: len(stalled) // 2])
        out.flush()
        os.fsync(out.fileno())
        end = time.time() + 2.0  # still for over six settle periods: claimed, read truncated, held
        while time.time() < end:
            held.append(metric(http_get(f"http://127.0.0.1:{port}/metrics")[1], "digit_watcher_held_files"))
            time.sleep(0.1)
        out.write(stalled[len(stalled) // 2:])
    got = {r["file"]: r for r in wait_rows(outbox, 2, 30)}
    time.sleep(1)
    assert len(rows(outbox)) == 2
    assert got[names[0]]["status"] != "error" and got[names[0]]["digit"] == str(mnist["y_test"][0]), got
    assert got["broken.png"]["status"] == "error" and "truncated" in got["broken.png"]["error"], got
    assert (outbox / "failed" / "broken.png").read_bytes() == whole[: len(whole) // 2]
    assert any(p.name == names[0] for d_ in ("processed", "review") if (outbox / d_).exists() for p in (outbox / d_).iterdir())
    assert 2.0 in held, held  # both files, seen held by the gauge an operator watches
    assert metric(http_get(f"http://127.0.0.1:{port}/metrics")[1], "digit_watcher_held_files") == 0
    log = d.output()
    assert f"{names[0]}: corrupt or truncated PNG (no IEND chunk) after 0.3s still; held" in log, log
    assert d.stop() == 0
    assert [p.name for p in (outbox / ".work").iterdir() if p.name != "claims.log"] == []


def png_bomb(side: int = 30000) -> bytes:
    def chunk(t: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    raw = zlib.compress(b"\x00" * (side + 1) * 64, 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_hostile_and_oddly_named_files(corpus: tuple[Path, Path, Path], mnist: dict[str, np.ndarray],
                                       daemon_factory: type[DaemonProc], tmp_path: Path) -> None:
    inbox, outbox, src = corpus
    good = write_digits(tmp_path / "digits", mnist["x_test"][:14])
    png = (tmp_path / "digits" / good[0]).read_bytes()
    bad = {"empty.png": b"", "truncated.png": png[: len(png) // 2], "text.png": b"just text\n" * 30,
           "page.jpg": b"<!doctype html><html></html>", "random.bmp": os.urandom(4000), "bomb.png": png_bomb(),
           "huge.png": png[:16] + struct.pack(">II", 100000, 100000) + png[24:]}
    src.mkdir()
    for n, data in bad.items():
        (src / n).write_bytes(data)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not touch")
    os.symlink(secret, src / "link.png")
    os.mkfifo(src / "pipe.png")
    odd = ["a,b.png", 'quo"te.png', "new\nline.png", "=cmd.png", "+plus.png", "-minus.png", "@at.png", "ünïcødé.png",
           "x" * 200 + ".png", "semi;colon.png", "tab\there.png", "space name.png", "\tlead.png"]
    for n, g in zip(odd, good, strict=False):
        os.rename(tmp_path / "digits" / g, src / n)
    raw_name = os.fsencode(str(src)) + b"/bytes-\xff\xfe.png"
    os.rename(os.fsencode(str(tmp_path / "digits" / good[13])), raw_name)
    d = daemon_factory(inbox, outbox)
    d.wait_ready()
    for raw in sorted(os.listdir(os.fsencode(str(src)))):
        os.rename(os.fsencode(str(src)) + b"/" + raw, os.fsencode(str(inbox)) + b"/" + raw)
    total = len(bad) + 2 + len(odd) + 1
    got = wait_rows(outbox, total, 30)
    time.sleep(1)
    assert d.p.poll() is None  # alive
    got = rows(outbox)
    assert len(got) == total
    by = {(r["file"][1:] if r["file"][:1] == "'" else r["file"]): r for r in got}
    for n in [*bad, "link.png", "pipe.png"]:
        assert by[n]["status"] == "error" and by[n]["error"], n
        assert os.path.lexists(outbox / "failed" / n), n
    assert "too large" in by["bomb.png"]["error"] and "too large" in by["huge.png"]["error"]
    assert "link" in by["link.png"]["error"] and secret.read_text() == "do not touch"
    assert by["pipe.png"]["error"].startswith("not a regular file")
    assert by["empty.png"]["error"] == "empty file"
    for n, y in zip(odd, mnist["y_test"][:13], strict=True):
        assert by[n]["digit"] == str(y), n
    assert by["bytes-\\xff\\xfe.png"]["status"] == "ok"
    assert not any(c.startswith(("=", "+", "-", "@", "\t")) for r in got for c in r.values())
    with open(outbox / "results.csv", newline="", encoding="utf-8", errors="strict") as f:
        assert {len(r) for r in csv.reader(f)} == {len(COLUMNS)}
    assert d.stop() == 0


def test_burst_of_50000_files_with_inotify_overflow(corpus: tuple[Path, Path, Path], mnist: dict[str, np.ndarray],
                                                    daemon_factory: type[DaemonProc]) -> None:
    inbox, outbox, src = corpus
    n = 50_000
    names = write_digits(src, np.resize(mnist["x_test"], (n, 28, 28)))
    d = daemon_factory(inbox, outbox, env={"DIGIT_WATCHER_RESCAN_INTERVAL_S": "5"})
    d.wait_ready()
    drop(src, inbox, names)
    got = wait_rows(outbox, n, 300)
    assert len(got) == n, f"{len(got)} rows"
    assert d.stop() == 0
    assert_exactly_once(inbox, outbox, names)
    right = sum(r["digit"] == str(mnist["y_test"][i % 10000]) for i, r in enumerate(sorted(got, key=lambda r: r["file"])))
    assert right / n > 0.99


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_full_outbox_loses_nothing_and_recovers(tmp_path: Path, small_fs: Path, mnist: dict[str, np.ndarray],
                                                  daemon_factory: type[DaemonProc]) -> None:
    inbox, outbox, src = tmp_path / "in", small_fs / "out", tmp_path / "src"
    inbox.mkdir()
    outbox.mkdir()
    names = write_digits(src, mnist["x_test"][:40])
    d = daemon_factory(inbox, outbox)  # inbox and outbox on different filesystems
    d.wait_ready()
    drop(src, inbox, names[:10])
    wait_rows(outbox, 10, 30)
    # a batch's files move out just after its rows are written: wait for them before the disk fills
    # (filled at once, a loaded machine had moved none of the 10 yet, and they waited as claimed)
    assert wait_moved(outbox, 10) == 10
    filler = small_fs / "filler"
    with open(filler, "wb") as f:  # disk full
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    drop(src, inbox, names[10:25])
    time.sleep(3)
    assert d.p.poll() is None
    assert "retrying" in d.output()
    # rows may still fit in the CSV's last page, but no file could be stored: none moved out,
    # none lost (each is in the inbox or claimed)
    assert len(copies(outbox)) == 10
    filler.unlink()  # space again
    wait_rows(outbox, 25, 60)
    drop(src, inbox, names[25:])
    got = wait_rows(outbox, 40, 90)
    assert len(got) == 40, d.output()[-3000:]
    assert d.stop() == 0
    files = sorted(r["file"] for r in got)
    assert files == sorted(names)
    assert copies(outbox) == sorted(names)
    assert [p for p in inbox.iterdir() if not p.name.startswith(".")] == []


def test_sigterm_mid_burst_exits_0_quickly_and_loses_nothing(corpus: tuple[Path, Path, Path],
                                                             mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox, src = corpus
    # more files than a burst can finish between its first 200 rows and the SIGTERM (3,000 once did)
    names = write_digits(src, np.resize(mnist["x_test"], (10000, 28, 28)))
    d = DaemonProc(inbox, outbox)
    try:
        d.wait_ready()
        drop(src, inbox, names)
        wait_rows(outbox, 200, 60)
        t = time.time()
        assert d.stop() == 0
        assert time.time() - t < 5
        assert len(rows(outbox)) < len(names)  # it stopped mid-burst
    finally:
        d.kill()
    r = subprocess.run([*EXE, "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert_exactly_once(inbox, outbox, names)
