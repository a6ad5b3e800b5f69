"""Reading the data sets `train` and `evaluate` use: an MNIST npz, or a folder with labels.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watcher.errors import DataError

MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_mnist(path: Path | str | None) -> Mnist:
    """MNIST in the Keras layout, from `path`; with no path, Keras' own download (needs a network)."""
    if path is None:
        try:
            import keras

            (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
        except Exception as exc:
            raise DataError(f"cannot download MNIST ({exc}); pass --data path/to/mnist.npz") from exc
        return Mnist(xtr, ytr, xte, yte)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"MNIST file not found: {p}")
    try:
        with np.load(p) as d:
            missing = [k for k in MNIST_KEYS if k not in d]
            if missing:
                raise DataError(f"{p} lacks arrays {missing}; expected the Keras layout {list(MNIST_KEYS)}")
            arrays = {k: np.asarray(d[k]) for k in MNIST_KEYS}
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {p} as an npz: {exc}") from exc
    return Mnist(**arrays)


def load_labels(labels_csv: Path) -> list[tuple[Path, str]]:
    """(image path, label) pairs from a `file,label` CSV; paths are relative to the CSV's folder.
    Labels that are not a single digit (such as `x`, not one readable digit) are kept as they are."""
    if not labels_csv.is_file():
        raise DataError(f"labels file not found: {labels_csv}")
    with open(labels_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0] or "label" not in rows[0]:
        raise DataError(f"{labels_csv} needs a header with columns file,label")
    return [(labels_csv.parent / r["file"], r["label"].strip()) for r in rows]


def read_header(labels_csv: Path) -> list[str]:
    """The column names of a labels CSV."""
    if not labels_csv.is_file():
        raise DataError(f"labels file not found: {labels_csv}")
    with open(labels_csv, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])
