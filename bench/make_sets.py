"""Write the rendered evaluation sets the README's figures come from, each a folder with a
labels.csv (`file,text`) for `digit-watcher evaluate --labels`: numbers of 2-8 digits (plain,
box, underline, comb cells; a third touching) and 600-dpi A4 pages (ruled, plain, squared), all from MNIST's **test**
split (never trained on).

    python bench/make_sets.py OUT [--numbers 1000] [--pages 3] [--mnist ../shared/data/mnist.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from watcher import compose
from watcher.datasets import load_mnist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--numbers", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--mnist", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/mnist.npz")
    a = ap.parse_args()
    data = load_mnist(a.mnist if a.mnist.exists() else None)
    for name, touching in (("numbers", None), ("numbers-spaced", False), ("numbers-touching", True)):
        print(compose.write_set(a.out / name, data.x_test, data.y_test, a.numbers, seed=1, touching=touching))
    print(compose.write_set(a.out / "pages", data.x_test, data.y_test, a.pages, seed=2, kind="page", ruled=True))
    print(compose.write_set(a.out / "pages-plain", data.x_test, data.y_test, a.pages, seed=3, kind="page"))
    print(compose.write_set(a.out / "pages-squared", data.x_test, data.y_test, a.pages, seed=4, kind="page",
                            squared=True))


if __name__ == "__main__":
    main()
