"""Pages per second: a 600-dpi A4 scan (about 35 Mpx JPEG, 30 rows x 20 columns of MNIST test
digits, ruled and plain) read by the daemon's reading code, against decoding the same JPEGs with
OpenCV alone, in the same run. Prints CPU seconds per page, the ratio, the share of digits found
and right, and the reader's peak memory.

    python bench/page.py [--pages 4] [--mnist ../shared/data/mnist.npz]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from watcher import compose
from watcher.datasets import load_mnist
from watcher.model import SHIPPED_MODEL, load
from watcher.pipeline import classify, prepare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=4)
    ap.add_argument("--mnist", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/mnist.npz")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    data = load_mnist(a.mnist if a.mnist.exists() else None)
    rng = np.random.default_rng(0)
    clf = load(SHIPPED_MODEL, verify=False, threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        paths, texts = [], []
        for k in range(a.pages):
            d = compose.page(data.x_test, data.y_test, rng, ruled=k % 2 == 0)
            p = Path(tmp) / f"page{k}.jpg"
            cv2.imwrite(str(p), d.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            paths.append(p)
            texts.append(d.text.replace(" ", ""))
        mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
        h, w = np.asarray(cv2.imread(str(paths[0]), cv2.IMREAD_GRAYSCALE)).shape
        print(f"{a.pages} pages, {w}x{h} ({w * h / 1e6:.1f} Mpx), {mb:.1f} MB JPEG each, "
              f"{len(texts[0])} digits a page")
        for p in paths[:1]:
            classify([prepare(str(p), 200_000_000, 200_000_000)], clf.predict, clf.power)  # warm up
        c0 = time.process_time()
        for p in paths:
            cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        decode_s = (time.process_time() - c0) / len(paths)
        c0 = time.process_time()
        found = right = want = 0
        for p, text in zip(paths, texts, strict=True):
            r = classify([prepare(str(p), 200_000_000, 200_000_000)], clf.predict, clf.power)[0]
            got = r.text.replace(" ", "") if r else ""
            want += len(text)
            found += len(r.digits) if r else 0
            right += sum(x == y for x, y in zip(got, text, strict=False)) if len(got) == len(text) else 0
        read_s = (time.process_time() - c0) / len(paths)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"decode only (OpenCV, full size): {decode_s:.3f} CPU s a page, {1 / decode_s:.2f} pages/s")
    print(f"read (decode + find + classify): {read_s:.3f} CPU s a page, {1 / read_s:.2f} pages/s")
    print(f"ratio read / decode-only: {decode_s / read_s:.2f}")
    print(f"digits found {found}/{want} ({found / want:.4f}), right where the count matched {right}/{want} "
          f"({right / want:.4f}); peak memory of this process {peak:.0f} MB")


if __name__ == "__main__":
    main()
