"""Pages written dense: 600-dpi A4 sheets of 50 rows of 25 MNIST test digits, rows 1.1 digits
apart (a digit's tail often touching the digit under it), plain, ruled and squared, saved as JPEG
and read as the daemon reads them (`prepare`, `classify`). Prints, for each kind, the digits found
and right (1 - edit distance over the digits written), page by page and in all, against the
issue's bar: 99% found, 99% right.

`--rows 30 --cols 20`: pages as `make_sets` draws them, rows 1.8 digits apart.

    python bench/dense_pages.py [--seeds 1 2 3 4 5 6 7 8 9] [--kinds plain ruled squared]
                                [--rows 50 --cols 25] [--mnist ../shared/data/mnist.npz]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from watcher import compose
from watcher.datasets import load_mnist
from watcher.evaluate import edit_distance
from watcher.model import SHIPPED_MODEL, load
from watcher.pipeline import classify, prepare

KINDS = {"plain": {}, "ruled": {"ruled": True}, "squared": {"squared": True}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 10)))
    ap.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    ap.add_argument("--rows", type=int, default=50, help="rows a page (30 x 20: make_sets' pages, 1.8 digits apart)")
    ap.add_argument("--cols", type=int, default=25)
    ap.add_argument("--mnist", type=Path, default=Path("../shared/data/mnist.npz"))
    a = ap.parse_args()
    data = load_mnist(a.mnist if a.mnist.exists() else None)
    clf = load(SHIPPED_MODEL, verify=False, threads=2)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in a.kinds:
            found = wrong = wanted = 0
            for seed in a.seeds:
                d = compose.page(data.x_test, data.y_test, np.random.default_rng(seed), rows=a.rows, cols=a.cols,
                                 **KINDS[kind])  # type: ignore[arg-type]
                path = Path(tmp) / f"{kind}{seed}.jpg"
                cv2.imwrite(str(path), d.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
                r = classify([prepare(str(path), 200_000_000, 200_000_000)], clf.predict, clf.calibration)[0]
                got = "" if r is None else r.text.replace(" ", "")
                want = d.text.replace(" ", "")
                e = edit_distance(got, want)
                print(f"{kind:7s} seed {seed}: found {len(got)}/{len(want)}, wrong {e}", flush=True)
                found += min(len(got), len(want))
                wrong += e
                wanted += len(want)
            print(f"{kind}: {len(a.seeds)} pages, found {found / wanted:.2%}, right {1 - wrong / wanted:.2%} "
                  f"({wrong} of {wanted} wrong)", flush=True)


if __name__ == "__main__":
    main()
