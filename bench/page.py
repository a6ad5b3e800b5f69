"""Pages per second: a 600-dpi A4 scan (about 35 Mpx JPEG, 30 rows x 20 columns of MNIST test
digits, ruled and plain) read by the daemon's reading code, against decoding the same JPEGs with
OpenCV alone, in the same run. Prints CPU seconds per page, the ratio, the share of digits found
and right, and the reader's peak memory. `--turn 2`: the pages fed upside down (1 or 3: laid
sideways), read the way up they were written (`orientation`); `--crooked 9`: laid 9 degrees off
level, read levelled.

    python bench/page.py [--pages 4] [--rounds 3] [--rows 30 --cols 20] [--turn 0] [--crooked 0] [--mnist ../shared/data/mnist.npz]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from watcher import compose, slope
from watcher.compose import Drawn
from watcher.datasets import load_mnist
from watcher.evaluate import edit_distance
from watcher.model import SHIPPED_MODEL, load
from watcher.pipeline import classify, prepare


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def daemon_peak(pages: list[Path]) -> float:
    """Peak resident memory of a real `run --once` (two workers) and its workers over the pages."""
    import shutil
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        inbox, outbox = Path(tmp) / "in", Path(tmp) / "out"
        inbox.mkdir()
        for p in pages:
            shutil.copyfile(p, inbox / p.name)
        exe = [sys.executable, "-m", "watcher.cli", "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)]
        env = {**__import__("os").environ, "DIGIT_WATCHER_DECODE_WORKERS": "2", "DIGIT_WATCHER_BATCH_MAX": "2"}
        proc = subprocess.Popen(exe, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, sum(_rss_mb(p) for p in _tree(proc.pid)))
            time.sleep(0.05)
        return peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="decode-only and read each timed this many times, the best kept")
    ap.add_argument("--rows", type=int, default=30, help="rows of digits a page (40 x 25: the issue's 1,000 digits)")
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--turn", type=int, default=0, choices=range(4), help="quarter turns counter-clockwise")
    ap.add_argument("--crooked", type=float, default=0.0, help="degrees off level (the canvas grows to hold it)")
    ap.add_argument("--mnist", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/mnist.npz")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    data = load_mnist(a.mnist if a.mnist.exists() else None)
    rng = np.random.default_rng(0)
    clf = load(SHIPPED_MODEL, verify=False, threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        paths, texts = [], []
        for k in range(a.pages):
            d = compose.page(data.x_test, data.y_test, rng, rows=a.rows, cols=a.cols, ruled=k % 2 == 0)
            d = Drawn(np.ascontiguousarray(np.rot90(d.image, a.turn)), d.text)
            if a.crooked:
                d = Drawn(slope.rotate(d.image, a.crooked, [255.0])[0], d.text)
            p = Path(tmp) / f"page{k}.jpg"
            cv2.imwrite(str(p), d.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            paths.append(p)
            texts.append(d.text.replace(" ", ""))
        mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
        h, w = np.asarray(cv2.imread(str(paths[0]), cv2.IMREAD_GRAYSCALE)).shape
        print(f"{a.pages} pages, {w}x{h} ({w * h / 1e6:.1f} Mpx), {mb:.1f} MB JPEG each, "
              f"{len(texts[0])} digits a page")
        for p in paths[:1]:
            classify([prepare(str(p), 200_000_000, 200_000_000, clf.predict, clf.calibration)], clf.predict,
                     clf.calibration)  # warm up
        decode_s = read_s = float("inf")
        for _round in range(a.rounds):  # the best round of each: this machine's other work only adds
            c0 = time.process_time()
            for p in paths:
                cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            decode_s = min(decode_s, (time.process_time() - c0) / len(paths))
            c0 = time.process_time()
            found = right = want = 0
            for p, text in zip(paths, texts, strict=True):
                r = classify([prepare(str(p), 200_000_000, 200_000_000, clf.predict, clf.calibration)], clf.predict,
                     clf.calibration)[0]
                got = r.text.replace(" ", "") if r else ""
                want += len(text)
                found += len(r.digits) if r else 0
                right += len(text) - edit_distance(got, text)  # digits read right, in order
            read_s = min(read_s, (time.process_time() - c0) / len(paths))
        tree_mb = daemon_peak(paths)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"the daemon (2 workers) reading these pages: peak memory of it and its workers together {tree_mb:.0f} MB")
    print(f"decode only (OpenCV, full size): {decode_s:.3f} CPU s a page, {1 / decode_s:.2f} pages/s")
    print(f"read (decode + find + classify): {read_s:.3f} CPU s a page, {1 / read_s:.2f} pages/s")
    print(f"ratio read / decode-only: {decode_s / read_s:.2f}")
    print(f"digits found {found}/{want} ({found / want:.4f}), right {right}/{want} ({right / want:.4f}, "
          f"1 - edit distance); peak memory of this process (rendering included) {peak:.0f} MB")


if __name__ == "__main__":
    main()
