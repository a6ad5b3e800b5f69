"""`digit-watcher batch`: an archive read in place, with the daemon's readings, resumable after a
kill -9, and the same on a real two-node Ray cluster that loses a node mid-run."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from conftest import EXE, MAKE_SCANS, MNIST, REPO, need, rows, write_digits
from watcher import batch as B
from watcher.pipeline import Prepared
from watcher.reading import Digit, Reading
from watcher.settings import Settings

RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def readings(out: Path) -> dict[str, tuple[str, str, str]]:
    return {r["file"]: (r["digit"], r["confidence"], r["status"]) for r in rows(out)}


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def batch(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, "batch", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=dict(os.environ, **(env or {})))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, str, str]]]:
    """A mixed archive (MNIST PNGs, rendered scans in a dated subfolder, a broken file) and the
    readings `run --once` gives for a copy of it."""
    root = tmp_path_factory.mktemp("batch")
    src = root / "archive"
    with np.load(need(MNIST)) as d:
        x = d["x_test"]
    write_digits(src / "mnist", np.resize(x, (1500, 28, 28)))
    subprocess.run([sys.executable, str(need(MAKE_SCANS)), "--mnist", str(MNIST), "--split", "test", "--count", "500",
                    "--seed", "11", "--out", str(src / "scans" / "2019")], check=True, capture_output=True)
    (src / "scans" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    shutil.copytree(src, root / "in")
    r = subprocess.run([*EXE, "run", "--once", "--inbox", str(root / "in"), "--outbox", str(root / "ref")],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    return src, readings(root / "ref")


def test_batch_gives_the_daemons_readings_without_touching_the_archive_and_resumes_after_kill9(
        archive: tuple[Path, dict[str, tuple[str, str, str]]], tmp_path: Path) -> None:
    src, ref = archive
    before = digest(src)
    assert len(ref) == 1500 + 500 + 2  # + labels.csv and broken.png, error rows both
    r = batch(str(src), "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert readings(tmp_path / "a") == ref
    assert digest(src) == before
    assert "2002 file(s) found, 0 already recorded, 2002 read" in r.stderr
    assert readings(tmp_path / "a")["scans/broken.png"][2] == "error"

    # killed once its first rows are written, then the same command again
    out = tmp_path / "b"
    p = subprocess.Popen([*EXE, "batch", str(src), "--out", str(out)], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    end = time.time() + 120
    while time.time() < end and p.poll() is None and len(rows(out)) < 10:
        time.sleep(0.005)
    assert p.poll() is None, "finished before it could be killed"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    # the rows written in full: a kill in the middle of a write leaves a torn last line, which
    # the next run cuts off (and reads that file again)
    text = (out / "results.csv").read_text(encoding="utf-8")
    first = len(list(csv.DictReader(io.StringIO(text[:text.rfind("\n") + 1]))))
    assert 10 <= first < len(ref)
    r = batch(str(src), "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{first} already recorded" in r.stderr
    files = [row["file"] for row in rows(out)]
    assert len(files) == len(set(files)) == len(ref)
    assert readings(out) == ref
    assert "0 read" in batch(str(src), "--out", str(out)).stderr  # nothing left to do


def test_batch_refuses_a_second_run_on_the_same_out_and_a_missing_source(tmp_path: Path) -> None:
    from watcher.owner import OutboxLock

    (tmp_path / "src").mkdir()
    held = OutboxLock(tmp_path / "src")  # any folder will do as OUT here
    try:
        r = batch(str(tmp_path / "src"), "--out", str(tmp_path / "src"))
        assert r.returncode == 4 and "in use by another digit-watcher" in r.stderr
    finally:
        held.release()
    r = batch(str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert r.returncode == 5 and "batch source not found" in r.stderr


def test_progress_shows_rate_and_eta_and_a_retried_answer_is_recorded_once(tmp_path: Path) -> None:
    """The driver is the only writer: an answer that comes twice (a Ray task retried after its
    node went) is recorded once."""
    src = tmp_path / "src"
    src.mkdir()
    for n in ("a.png", "b.png", ".hidden.png", "c.png.part"):
        (src / n).write_bytes(b"x")

    def reader(items: Sequence[B.Item]) -> Iterator[list[B.Answer]]:
        seven = Reading([Digit((0, 0, 1, 1), 0, 7, 0.99)], 0.99)
        answers = [B.Answer(i.claim, Prepared("0" * 64, None, "", 0.0, seven)) for i in items]
        yield answers
        yield answers[:1]  # the same again

    clf = type("Clf", (), {"version": "test"})()
    err = io.StringIO()
    real, sys.stderr = sys.stderr, err
    try:
        summary = B.run([src], tmp_path / "out", Settings(), clf, reader, progress=True)
    finally:
        sys.stderr = real
    assert sorted(r["file"] for r in rows(tmp_path / "out")) == ["a.png", "b.png"]
    assert summary.counts["ok"] == 2 and summary.found == 2
    assert "files/s" in err.getvalue() and "2/2" in err.getvalue()


@pytest.mark.slow
def test_batch_on_a_two_node_ray_cluster_that_loses_a_node_mid_run(
        archive: tuple[Path, dict[str, tuple[str, str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    from ray.cluster_utils import Cluster

    # the archive twice over: the run lasts well past the worker's actor start (in a fresh clone's
    # venv it started so late, in three attempts, that its first rows came as the run ended)
    src = tmp_path / "twice"
    for half in ("1", "2"):
        shutil.copytree(archive[0], src / half)
    ref = {f"{half}/{k}": v for half in ("1", "2") for k, v in archive[1].items()}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    both = False  # a run that read on both nodes and lost one of them mid-run
    seen = []  # each attempt's rows when the node went, and whether the run had ended
    try:
        assert cluster.address.startswith("127.0.0.1:")
        for attempt in range(3):
            worker = cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            out, log_path = tmp_path / f"ray{attempt}", tmp_path / f"batch{attempt}.log"
            p = subprocess.Popen([*EXE, "batch", str(src), "--out", str(out), "--ray", cluster.address], cwd=REPO,
                                 stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=dict(os.environ, **RAY_ENV))
            end = time.time() + 300
            # the node goes once both nodes' actors have sent rows (the run says so as each node
            # joins); counting rows alone, the head could write them all while the worker's actor
            # was still starting (seen in fresh-clone CI runs)
            while time.time() < end and p.poll() is None and log_path.read_text().count(" so far)") < 2:
                time.sleep(0.02)
            done_before = len(rows(out))
            finished_first = p.poll() is not None
            seen.append((done_before, finished_first))
            cluster.remove_node(worker)  # its raylet and actors go; the run must finish on the head
            assert p.wait(600) == 0, log_path.read_text()[-3000:]
            # whatever the timing, every file is read exactly once, as `run --once` reads it
            files = [r["file"] for r in rows(out)]
            assert len(files) == len(set(files)) == len(ref)
            assert readings(out) == ref
            # the test proper needs the node gone mid-run, after it had read some files; the run
            # may have finished first (the worker's actor still starting): then again, on a fresh
            # worker node
            if not finished_first and done_before < len(ref) and "read on 2 Ray node(s)" in log_path.read_text():
                both = True
                break
    finally:
        cluster.shutdown()
    assert both, f"in three runs, the worker node never read files before it was removed mid-run: {seen}"


@pytest.mark.slow
def test_batch_joins_a_cluster_started_with_ray_start_and_its_token(tmp_path: Path) -> None:
    """`ray start --head` turns token authentication on when the user has a token (as after any
    local Ray run); `batch --ray ADDRESS` must then authenticate with it."""
    pytest.importorskip("ray")
    ray = str(Path(sys.executable).with_name("ray"))
    env = dict(os.environ, **RAY_ENV, HOME=str(tmp_path))  # a token of this test's own
    subprocess.run([ray, "get-auth-token", "--generate"], check=True, capture_output=True, env=env)
    src = tmp_path / "src"
    with np.load(need(MNIST)) as d:
        names = write_digits(src, d["x_test"][:60])
    port = "63797"
    st = subprocess.run([ray, "start", "--head", "--port", port, "--num-cpus", "1", "--disable-usage-stats"],
                        capture_output=True, text=True, env=env, timeout=180)
    assert st.returncode == 0, st.stderr[-2000:]
    try:
        assert "Token authentication is enabled" in st.stdout + st.stderr
        r = batch(str(src), "--out", str(tmp_path / "out"), "--ray", f"127.0.0.1:{port}", env=env, timeout=300)
    finally:
        subprocess.run([ray, "stop"], capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(readings(tmp_path / "out")) == sorted(names)
