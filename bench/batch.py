"""`digit-watcher batch` on one archive, measured in one run: on this machine's worker pool, on
a Ray cluster started here (`ray start --head`, loopback only), and on a Ray started by the
command itself (`--ray`), against reading the same files' bytes (the I/O-only baseline).

    .venv/bin/python bench/batch.py [--files 20000]

Prints files/s for each (the whole command, start-up included, and the reading alone, from the
command's own summary) and the ratios: what Ray's overhead costs on one machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "watcher.cli"]
ENV = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")


def make_archive(root: Path, shared: Path, n: int) -> None:
    with np.load(shared / "data" / "mnist.npz") as d:
        x = d["x_test"]
    scans = n // 5
    for i in range(n - scans):
        folder = root / "mnist" / f"{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"d{i:06d}.png"), 255 - x[i % len(x)])
    subprocess.run([sys.executable, str(shared / "tools" / "make_scans.py"), "--mnist", str(shared / "data" / "mnist.npz"),
                    "--split", "test", "--count", str(scans), "--seed", "3", "--out", str(root / "scans")],
                   check=True, capture_output=True)


def io_only(root: Path) -> float:
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs]
    t = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            fh.read()
    return len(files) / (time.perf_counter() - t)


def batch(src: Path, out: Path, *extra: str) -> tuple[float, float, str]:
    """(files/s of the whole command, files/s of its reading as it reports it, its summary)."""
    t = time.perf_counter()
    r = subprocess.run([*EXE, "batch", str(src), "--out", str(out), *extra], capture_output=True, text=True, env=ENV,
                       cwd=REPO)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"batch {' '.join(extra)} failed: {r.stderr[-2000:]}")
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("batch:"))
    m = re.search(r"(\d+) read.* \((\d+) files/s\)", line)
    assert m is not None
    return int(m.group(1)) / wall, float(m.group(2)), line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--port", type=int, default=63795)
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        src = root / "archive"
        make_archive(src, a.shared, a.files)
        base = io_only(src)
        print(f"{a.files} files ({a.files - a.files // 5} 28x28 PNGs, {a.files // 5} rendered scans), "
              f"{os.cpu_count()} cores")
        print(f"I/O only (read every file's bytes, one thread): {base:.0f} files/s")
        local = batch(src, root / "local")
        print(f"batch, worker pool:      {local[0]:6.0f} files/s whole command, {local[1]:6.0f} reading  ({local[2]})")
        ray = str(Path(sys.executable).with_name("ray"))
        st = subprocess.run([ray, "start", "--head", "--port", str(a.port), "--num-cpus", str(os.cpu_count()),
                             "--disable-usage-stats"], capture_output=True, text=True, env=ENV)
        if st.returncode != 0:
            sys.exit(f"ray start failed: {st.stderr[-2000:]}")
        try:
            cluster = batch(src, root / "cluster", "--ray", f"127.0.0.1:{a.port}")
        finally:
            subprocess.run([ray, "stop"], capture_output=True, env=ENV)
        print(f"batch --ray ADDRESS:     {cluster[0]:6.0f} files/s whole command, {cluster[1]:6.0f} reading")
        own = batch(src, root / "own", "--ray")
        print(f"batch --ray (starts one): {own[0]:5.0f} files/s whole command, {own[1]:6.0f} reading")
        print(f"ratio Ray cluster / worker pool: {cluster[1] / local[1]:.2f} reading, {cluster[0] / local[0]:.2f} whole "
              f"command; worker pool / I/O only: {local[1] / base:.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
