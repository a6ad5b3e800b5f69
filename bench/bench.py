#!/usr/bin/env python3
"""digit-watcher benchmark: the real daemon against baselines measured in the same run.

    .venv/bin/python bench/bench.py [--shared ../shared] [--soak-seconds 600]

Prints, in one run:
- start-up to ready (READY=1 on a real NOTIFY_SOCKET) and what dominates it;
- burst throughput, first drop to last row: 5,000 MNIST test digits as 28x28 PNGs, then 1,000
  scan-like images from make_scans.py, dropped at once into the running daemon;
- the I/O-only baseline on the same files (stat, read + decode, rename, CSV row, fsync per 256
  rows; no model) and the ratio of the two;
- the origin tutorial's loop (one model.predict per image) on 200 images;
- trickle latency: one file every 50 ms, drop to row, p50 and p95;
- the CPU the burst used per file (daemon process, workers) and the ceiling that sets;
- the model alone: the origin-style loop, batched Keras, and the served file as the workers run
  it (one thread, batches of 64), with and without the cascade;
- the daemon's peak RSS, and its RSS (alone and with its workers) before and after a soak at 100 files/s.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree(pid: int) -> list[int]:
    """A process and all its descendants (the daemon, its forkserver and workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by one process (all its threads)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> float:
    return sum(rss_mb(p) for p in tree(pid) if Path(f"/proc/{p}").exists())


def count_rows(csv_path: Path) -> int:
    if not csv_path.exists():
        return 0
    with open(csv_path, newline="", encoding="utf-8") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def wait_rows(csv_path: Path, n: int, timeout: float) -> float:
    """Time the n-th row appears. Reads only what was appended since the last look: parsing the
    whole file every 10 ms took half a core from the daemon being measured. (The bench's file
    names hold no newline, so a row is a line.)"""
    end = time.time() + timeout
    seen, pos = -1, 0  # the header line is not a row
    while time.time() < end:
        try:
            with open(csv_path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        cut = chunk.rfind(b"\n") + 1
        seen += chunk.count(b"\n", 0, cut)
        pos += cut
        if seen >= n:
            return time.time()
        time.sleep(0.002)
    raise SystemExit(f"timed out waiting for {n} rows in {csv_path} (have {count_rows(csv_path)})")


def io_only(files: list[Path], work: Path) -> float:
    """The unavoidable per-file work with no model: files/s."""
    done = work / "done"
    done.mkdir(parents=True)
    t = time.perf_counter()
    with open(work / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        for k, p in enumerate(files):
            os.stat(p)
            img = cv2.imdecode(np.frombuffer(p.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
            assert img is not None
            os.rename(p, done / p.name)
            w.writerow([p.name, int(img.mean()), 0.99])
            if k % 256 == 255:
                f.flush()
                os.fsync(f.fileno())
        f.flush()
        os.fsync(f.fileno())
    return len(files) / (time.perf_counter() - t)


class Daemon:
    def __init__(self, inbox: Path, outbox: Path, log: Path) -> None:
        self.sock_path = str(log.parent / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.t0 = time.time()
        self.p = subprocess.Popen([sys.executable, "-m", "watcher.cli", "run", "--inbox", str(inbox), "--outbox",
                                   str(outbox), "--log-level", "WARNING"], cwd=REPO, stdout=subprocess.DEVNULL,
                                  stderr=open(log, "wb"), env=dict(os.environ, NOTIFY_SOCKET=self.sock_path))

    def wait_ready(self) -> float:
        self.sock.settimeout(120)
        while True:
            if b"READY=1" in self.sock.recv(4096):
                ready = time.time() - self.t0
                threading.Thread(target=self._drain, daemon=True).start()  # as systemd would
                return ready

    def _drain(self) -> None:
        self.sock.settimeout(None)
        while True:
            try:
                self.sock.recv(4096)
            except OSError:
                return

    def stop(self) -> None:
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(30)
        self.sock.close()


def write_pngs(folder: Path, images: np.ndarray, prefix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, im in enumerate(images):
        p = folder / f"{prefix}{i:06d}.png"
        cv2.imwrite(str(p), 255 - im)
        out.append(p)
    return out


def burst(files: list[Path], inbox: Path, csv_path: Path, already: int) -> float:
    t = time.time()
    for f in files:
        os.rename(f, inbox / f.name)
    end = wait_rows(csv_path, already + len(files), 600)
    return len(files) / (end - t)


def startup_profile() -> str:
    """What start-up time is made of, measured in a fresh interpreter."""
    code = (
        "import time; t=time.perf_counter()\n"
        "import watcher.daemon, watcher.model, ai_edge_litert.interpreter; a=time.perf_counter()\n"
        "from watcher import model as M; c=M.load(M.SHIPPED_MODEL); b=time.perf_counter()\n"
        "import tensorflow, keras; k=time.perf_counter()\n"
        "print(f'imports {a-t:.2f}s, load+verify+warm model {b-a:.2f}s; "
        "TensorFlow+Keras, not imported by the daemon, would add {k-b:.2f}s')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    return r.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--soak-seconds", type=float, default=600)
    ap.add_argument("--burst", type=int, default=5000)
    ap.add_argument("--scans", type=int, default=1000)
    a = ap.parse_args()
    mnist = np.load(a.shared / "data" / "mnist.npz")
    x = mnist["x_test"]
    root = Path(tempfile.mkdtemp(prefix="dw-bench-"))
    inbox, outbox = root / "in", root / "out"
    inbox.mkdir()
    outbox.mkdir()
    csv_path = outbox / "results.csv"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")

    # inputs: two identical copies of each set, one for the baseline and one for the daemon
    digits = write_pngs(root / "digits", x[: a.burst], "d")
    digits_io = write_pngs(root / "digits-io", x[: a.burst], "d")
    subprocess.run([sys.executable, str(a.shared / "tools" / "make_scans.py"), "--mnist", str(a.shared / "data" / "mnist.npz"),
                    "--split", "test", "--count", str(a.scans), "--seed", "3", "--out", str(root / "scans")], check=True)
    (root / "scans" / "labels.csv").unlink()
    shutil.copytree(root / "scans", root / "scans-io")
    scans = sorted((root / "scans").iterdir())
    scans_io = sorted((root / "scans-io").iterdir())

    d = Daemon(inbox, outbox, root / "daemon.log")
    ready = d.wait_ready()
    print(f"start-up to READY=1: {ready:.2f}s  ({startup_profile()})")
    warm = write_pngs(root / "warm", x[-1:], "w")
    burst(warm, inbox, csv_path, 0)

    procs = tree(d.p.pid)
    cpu0 = {p: cpu_s(p) for p in procs}
    rate_digits = burst(digits, inbox, csv_path, 1)
    cpu1 = {p: cpu_s(p) for p in procs}
    io_digits = io_only(digits_io, root / "io-digits")
    rate_scans = burst(scans, inbox, csv_path, 1 + len(digits))
    io_scans = io_only(scans_io, root / "io-scans")
    print(f"burst, {len(digits)} 28x28 PNGs:   {rate_digits:7.0f} files/s   I/O-only {io_digits:7.0f} files/s   "
          f"ratio {rate_digits / io_digits:.2f}")
    print(f"burst, {len(scans)} scan images: {rate_scans:7.0f} files/s   I/O-only {io_scans:7.0f} files/s   "
          f"ratio {rate_scans / io_scans:.2f}")
    # where the cores went in the 28x28 burst: it is CPU-bound, so this sets the ceiling
    main_us = (cpu1[d.p.pid] - cpu0[d.p.pid]) / len(digits) * 1e6
    total_us = sum(cpu1[p] - cpu0[p] for p in procs) / len(digits) * 1e6
    cores = os.cpu_count() or 1
    print(f"CPU per 28x28 file in that burst: {total_us:.0f} us (daemon process {main_us:.0f}: events, claims, "
          f"rows, moves; workers {total_us - main_us:.0f}: read, decode, normalise, classify); "
          f"I/O-only {1e6 / io_digits:.0f} us. "
          f"With all {cores} cores busy the burst cannot pass {cores * 1e6 / total_us:.0f} files/s "
          f"(ratio {cores * 1e6 / total_us / io_digits:.2f})")

    # trickle latency: drop-to-row as seen from outside
    trickle = write_pngs(root / "trickle", x[5000:5200], "t")
    lat = []
    for f in trickle:
        t0 = time.perf_counter()
        os.rename(f, inbox / f.name)
        name = f.name.encode()
        while time.perf_counter() - t0 < 2.0:
            with open(csv_path, "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - 4096))
                if name in fh.read():
                    break
            time.sleep(0.0005)
        lat.append((time.perf_counter() - t0) * 1000)
        time.sleep(max(0.0, 0.05 - (time.perf_counter() - t0)))
    lat.sort()
    print(f"trickle, one file per 50 ms: p50 {lat[len(lat) // 2]:.1f} ms  p95 {lat[int(len(lat) * 0.95)]:.1f} ms  "
          f"max {lat[-1]:.1f} ms")

    # soak: 100 files/s
    pool = write_pngs(root / "soak-src", x[:1000], "s")
    before, before_tree = rss_mb(d.p.pid), tree_rss_mb(d.p.pid)
    start, k = time.time(), 0
    samples, next_sample = [], start + 60
    while time.time() - start < a.soak_seconds:
        if time.time() >= next_sample:
            samples.append(tree_rss_mb(d.p.pid))
            next_sample += 60
        tick = time.time()
        for _ in range(10):
            data = pool[k % len(pool)].read_bytes()
            tmp = root / f"soak-{k}.tmp"
            tmp.write_bytes(data)
            os.rename(tmp, inbox / f"soak{k:07d}.png")
            k += 1
        time.sleep(max(0.0, 0.1 - (time.time() - tick)))
    total = 1 + len(digits) + len(scans) + len(trickle) + k
    wait_rows(csv_path, total, 120)
    after, after_tree = rss_mb(d.p.pid), tree_rss_mb(d.p.pid)
    peak = rss_mb(d.p.pid, "VmHWM")
    peak_tree = sum(rss_mb(p, "VmHWM") for p in tree(d.p.pid))
    print(f"RSS of the daemon process: before soak {before:.0f} MB, after {a.soak_seconds:.0f} s at 100 files/s "
          f"({k} files) {after:.0f} MB ({(after - before) / before:+.1%}), peak {peak:.0f} MB")
    print(f"RSS with its workers and forkserver: before {before_tree:.0f} MB, after {after_tree:.0f} MB "
          f"({(after_tree - before_tree) / before_tree:+.1%}), sum of peaks {peak_tree:.0f} MB")
    print("RSS with workers, each minute of the soak (MB): " + " ".join(f"{m:.0f}" for m in samples))
    d.stop()

    # the origin tutorial: one model.predict call per image
    from watcher import model as M
    from watcher.normalise import normalise

    keras_clf = M.load(M.SHIPPED_KERAS, keras_engine=True)
    km = keras_clf.engine.keras_model  # type: ignore[attr-defined]
    imgs = [normalise(255 - im)[None, ..., None] for im in x[:200]]
    km.predict(imgs[0], verbose=0)
    t = time.perf_counter()
    for im in imgs:
        km.predict(im, verbose=0)
    origin = len(imgs) / (time.perf_counter() - t)
    print(f"origin-style loop, one Keras predict() per image: {origin:.0f} images/s "
          f"(daemon burst is {rate_digits / origin:.0f}x that)")
    batch = np.concatenate([normalise(255 - im)[None] for im in x[:4096]])

    def batched(c: M.Classifier) -> float:
        c.predict(batch[:256])
        t = time.perf_counter()
        for _ in range(2):
            for i in range(0, len(batch), 256):
                c.predict(batch[i:i + 256])
        return (time.perf_counter() - t) / (2 * len(batch))

    keras_s = batched(keras_clf)
    print(f"batched Keras (batches of 256, all cores): {1 / keras_s:.0f} images/s")

    def one_thread(second_below: float) -> float:
        """CPU per image as a worker runs the served file: one thread, batches of 64."""
        eng = M.LiteEngine(M.SHIPPED_MODEL.read_bytes(), 1, M.SERVE_BATCH, second_below)
        x4 = batch[..., None]
        eng(x4[:64])
        c = time.process_time()
        for i in range(0, len(x4), 64):
            eng(x4[i:i + 64])
        return (time.process_time() - c) / len(x4)

    from ai_edge_litert.interpreter import Interpreter

    first = Interpreter(model_content=M.SHIPPED_MODEL.read_bytes()).get_signature_runner("member0")
    p0 = next(iter(first(digit=batch[..., None]).values()))
    unsure = float((p0.max(1) < M.SECOND_BELOW).mean())
    both_s, infer_s = one_thread(1.0), one_thread(M.SECOND_BELOW)
    print(f"served .tflite (LiteRT) as a worker runs it, one thread, batches of {M.SERVE_BATCH}: both networks "
          f"{both_s * 1e6:.0f} us/image; cascade {infer_s * 1e6:.0f} us/image (the second network reads the "
          f"{unsure:.0%} the first reads below {M.SECOND_BELOW}); {keras_s * cores / infer_s:.1f}x Keras's CPU per image")

    # what the model side alone costs per file, and the best ratio it would allow
    from watcher.pipeline import prepare

    pngs = write_pngs(root / "stage", x[:2000], "p")
    for f in pngs[:50]:
        prepare(str(f), 10**8, 10**8)
    t = time.perf_counter()
    for f in pngs:
        prepare(str(f), 10**8, 10**8)
    prep_s = (time.perf_counter() - t) / len(pngs)
    ceiling = cores / (prep_s + infer_s)
    print(f"per file, one thread: read + decode + normalise {prep_s * 1e6:.0f} us; inference {infer_s * 1e6:.0f} us")
    print(f"worker-side ceiling (those two only, on all {cores} cores, nothing else running): {ceiling:.0f} files/s, "
          f"ratio {ceiling / io_digits:.2f} of the I/O-only baseline")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
