"""Pages all of one digit photographed by a phone (`compose.photographed_sheet`: a sheet on a
darker table, a little aslant and turned, unevenly lit, a shadow over part of it, 1600-4032 px,
JPEG), as the sealed sets' pages of a hand's own digits are: plain, ruled or squared, 200 or 300
dpi, 8-24 rows of 6-15 MNIST test digits of one class. Each page is read by the daemon's reading
code and held to the sealed sets' bar: 90% of its digits found, 95% of those its digit.
`--mixed`: pages of all ten digits instead, scored by their digits right (1 - edit distance).

    python bench/photo_pages.py [--seeds 1 2 3 4] [--pages 12] [--mixed] [--mnist ../shared/data/mnist.npz]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from watcher import compose, orientation
from watcher.datasets import load_mnist
from watcher.evaluate import edit_distance
from watcher.model import SHIPPED_MODEL, load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--pages", type=int, default=12, help="pages a seed")
    ap.add_argument("--mixed", action="store_true", help="pages of all ten digits, scored by digits right")
    ap.add_argument("--mnist", type=Path, default=Path("../shared/data/mnist.npz"))
    a = ap.parse_args()
    data = load_mnist(a.mnist if a.mnist.exists() else None)
    x, y = data.x_test, data.y_test
    clf = load(SHIPPED_MODEL, verify=False, threads=2)
    passed = total = found = wanted = same = right = 0
    t0 = time.process_time()
    for seed in a.seeds:
        rng = np.random.default_rng(seed)
        for j in range(a.pages):
            digit = int(rng.integers(10))
            dpi = float(rng.choice([200, 300]))
            size = (int(8.27 * dpi), int(11.69 * dpi))
            rows, cols = int(rng.integers(8, 25)), int(rng.integers(6, 16))
            style = str(rng.choice(["plain", "ruled", "squared"]))
            height = int(min(size[1] * 0.8 / rows, size[0] * 0.8 / cols) * rng.uniform(0.45, 0.75))
            sel = np.ones(len(y), bool) if a.mixed else y == digit
            d = compose.page(x[sel], y[sel], rng, rows=rows, cols=cols, height=height, size=size,
                             ruled=style == "ruled", squared=style == "squared")
            photo = compose.photographed_sheet(d.image, rng)
            r = orientation.read_page(photo, 1.0, clf.predict, clf.calibration)  # as level and way up as it reads best
            got = "" if r is None else r.text.replace(" ", "")
            n = rows * cols
            want = d.text.replace(" ", "")
            right += n - edit_distance(got, want)
            found += min(len(got), n)
            wanted += n
            if a.mixed:
                ok = n - edit_distance(got, want) >= 0.99 * n
                print(f"seed {seed} page {j:2d} {style:7s} {rows}x{cols}, {photo.shape[1]}x{photo.shape[0]}: found "
                      f"{len(got)}/{n}, right {1 - edit_distance(got, want) / n:.3f}", flush=True)
                passed += ok
                total += 1
                continue
            ok = len(got) >= 0.9 * n and got.count(str(digit)) >= 0.95 * max(1, len(got))
            passed += ok
            total += 1
            same += got.count(str(digit))
            print(f"seed {seed} page {j:2d} {style:7s} {rows}x{cols} of {digit}, {photo.shape[1]}x{photo.shape[0]}: "
                  f"found {len(got)}/{n}, {got.count(str(digit)) / max(1, len(got)):.3f} the digit "
                  f"{'PASS' if ok else 'FAIL'}", flush=True)
    cpu = (time.process_time() - t0) / total
    if a.mixed:
        print(f"pages with 99% of their digits right: {passed}/{total}; digits right {right / wanted:.3f}; "
              f"{cpu:.2f} CPU s a page")
        return
    print(f"pages passing the bar: {passed}/{total}; digits found {found / wanted:.3f}, "
          f"read as the page's digit {same / wanted:.3f}; {cpu:.2f} CPU s a page")


if __name__ == "__main__":
    main()
