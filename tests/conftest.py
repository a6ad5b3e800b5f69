"""Shared helpers: real files on disk, the real daemon as a subprocess, the shared data sets."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

# Every Ray connection in the tests stays on 127.0.0.1 (read when Ray is imported, so set here,
# before any test module imports it): Ray then takes the loopback address as the node's.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DIGIT_WATCHER_SHARED", REPO.parent / "shared"))
MNIST = SHARED / "data" / "mnist.npz"
WILD = SHARED / "data" / "wild-dev"
MAKE_SCANS = SHARED / "tools" / "make_scans.py"
EXE = [sys.executable, "-m", "watcher.cli"]


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path}")
    return path


@pytest.fixture(scope="session")
def mnist() -> dict[str, np.ndarray]:
    with np.load(need(MNIST)) as d:
        return {k: d[k] for k in ("x_test", "y_test")}


def write_digits(folder: Path, images: np.ndarray, prefix: str = "d", invert: bool = True) -> list[str]:
    """28x28 MNIST digits as PNG files (dark ink on white when invert). Returns the names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, im in enumerate(images):
        name = f"{prefix}{i:05d}.png"
        cv2.imwrite(str(folder / name), 255 - im if invert else im)
        names.append(name)
    return names


def rows(outbox: Path) -> list[dict[str, str]]:
    f = outbox / "results.csv"
    if not f.exists():
        return []
    with open(f, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def wait_rows(outbox: Path, n: int, timeout: float = 60) -> list[dict[str, str]]:
    end = time.time() + timeout
    r = rows(outbox)
    while len(r) < n and time.time() < end:
        time.sleep(0.05)
        r = rows(outbox)
    return r


def moved(outbox: Path) -> int:
    """Files in the result folders. A file moves there just after its row is written (the row
    first: that is the exactly-once contract), so right after a row appears it may still be
    on its way."""
    return sum(1 for d in ("processed", "review", "failed") for p in (outbox / d).rglob("*")
               if p.is_file() or p.is_symlink()) if outbox.exists() else 0


def wait_moved(outbox: Path, n: int, timeout: float = 30) -> int:
    end = time.time() + timeout
    while moved(outbox) < n and time.time() < end:
        time.sleep(0.02)
    return moved(outbox)


def children(pid: int) -> list[int]:
    """A process's children, from /proc (every thread's list: a child belongs to the thread that made it)."""
    try:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


class DaemonProc:
    def __init__(self, inbox: Path, outbox: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.log = outbox.parent / f"daemon-{time.time_ns()}.log"
        self.p = subprocess.Popen([*EXE, "run", "--inbox", str(inbox), "--outbox", str(outbox), *extra],
                                  stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
                                  env=dict(os.environ, **(env or {})), cwd=REPO)

    def wait_ready(self, timeout: float = 60) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.p.poll() is not None:
                raise AssertionError(f"daemon exited {self.p.returncode}: {self.output()}")
            if "ready:" in self.output():
                return
            time.sleep(0.1)
        raise AssertionError(f"daemon not ready after {timeout}s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[DaemonProc]]:
    started: list[DaemonProc] = []

    class Factory(DaemonProc):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, **k)  # type: ignore[arg-type]
            started.append(self)

    yield Factory
    for d in started:
        d.kill()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0
