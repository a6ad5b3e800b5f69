"""Experiment, not shipped: a second network that reads a mark of two touching digits whole.

The cutting reader's largest error on touching numbers is a 1 pressed into its neighbour: the
whole mark reads as a sure neighbour, so it is never cut. This network reads a wide mark, framed
in 28 x 56, as one of 100 pairs ("00"-"99"), one digit, three or more, or no digits. It is taught
on marks rendered here from MNIST's **train** split (the held-out 5,000 left out): touching pairs
and triples, single digits (some stretched wide), a digit beside what a box's side leaves (a bar
taller than the digit, or a short stub: one digit), and letters or operators beside a digit
(no digits). At reading time, where it names a pair at `--bar` or more, the mark is read through
its best cut into two pieces with the pair's digits. The labelled sets are read through the
daemon's reading code otherwise unchanged. Figures: docs/reading.md ("Sixteenth pass").

    python bench/pair_reader.py --save /tmp/pair.keras --marks 160000 --epochs 5   # about 23 minutes on 2 cores
    python bench/pair_reader.py --load /tmp/pair.keras /tmp/sets/numbers-touching/labels.csv ...
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

H, W = 28, 56
ONE, MORE, NONE = 100, 101, 102  # classes after the 100 pairs
KINDS = ("pair", "one", "more", "remnant", "none")
SHARES = (0.62, 0.14, 0.08, 0.08, 0.08)


def frame_pair(crop: np.ndarray, stroke: float) -> np.ndarray:
    """A mark's ink -> 28 x 56: fitted in 20 x 48 keeping its aspect, strokes brought towards
    MNIST's width (as `normalise.frame28` does), centred."""
    from watcher.normalise import mnist_stroke

    def fit(h: int, w: int) -> float:
        return min(20.0 / h, 48.0 / w)

    c = mnist_stroke(crop, stroke, fit(*crop.shape))
    scale = fit(*c.shape)
    nw, nh = max(1, round(c.shape[1] * scale)), max(1, round(c.shape[0] * scale))
    small = cv2.resize(c, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    peak = float(small.max())
    out = np.zeros((H, W), np.float32)
    out[(H - nh) // 2:(H - nh) // 2 + nh, (W - nw) // 2:(W - nw) // 2 + nw] = small / peak if peak > 0 else small
    return out


def _not_digit(rng: np.random.Generator, height: int) -> np.ndarray:
    from watcher import compose, negatives

    while True:
        mark = negatives.mnist_frame(negatives.letter(rng) if rng.random() < 0.8 else negatives.operator(rng))
        if np.count_nonzero(mark > 30) >= 5:
            return compose._digit_ink(mark, height, rng)


def _bar(height: int, rng: np.random.Generator) -> np.ndarray:
    """What a box's side leaves beside a digit: taller than it, or a short stub (as tall as a
    digit, it is a 1)."""
    tall = rng.uniform(1.15, 1.5) if rng.random() < 0.6 else rng.uniform(0.3, 0.55)
    return np.full((max(3, int(height * tall)), int(rng.integers(1, 4))), rng.uniform(0.7, 1.0), np.float32)


def render(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator, kind: str) -> tuple[np.ndarray, int]:
    """One training mark of `kind` and its class."""
    from watcher import compose
    from watcher.normalise import stroke_width

    height = int(rng.integers(28, 70))
    pick = rng.integers(0, len(digits), {"pair": 2, "more": 3, "none": 2}.get(kind, 1))
    inks = [compose._digit_ink(digits[i], height, rng) for i in pick]
    if kind == "one" and rng.random() < 0.6:
        inks = [cv2.resize(inks[0], (max(2, int(inks[0].shape[1] * rng.uniform(1.0, 1.7))), inks[0].shape[0]))]
    elif kind == "remnant":
        inks = [_bar(height, rng), inks[0]][:: 1 if rng.random() < 0.5 else -1]
    elif kind == "none":
        inks[0] = _not_digit(rng, height)
        if rng.random() < 0.5:
            inks[1] = _not_digit(rng, height)
        inks = inks[:: 1 if rng.random() < 0.5 else -1]
    tall = max(i.shape[0] for i in inks)
    canvas = np.zeros((int(tall * 1.5) + 4, sum(i.shape[1] for i in inks) + 14), np.float32)
    x = 2
    for ink in inks:  # touching, overlapping by up to a sixth of a digit
        compose._paste(canvas, ink, x, int(tall * 0.25) + int(rng.integers(-tall // 10, tall // 10 + 1)))
        x += ink.shape[1] + int(rng.integers(-max(1, ink.shape[1] // 6), 1))
    if rng.random() < 0.4:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 1.0))
    sel = canvas > rng.uniform(0.3, 0.6)
    ys, xs = np.nonzero(sel)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    y = {"one": ONE, "remnant": ONE, "more": MORE, "none": NONE}.get(kind, 10 * int(labels[pick[0]]) + int(labels[pick[-1]]))
    return frame_pair((canvas * sel)[box], stroke_width(sel[box])), y


def make(n: int, digits: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = np.zeros((n, H, W), np.float32), np.zeros(n, np.int64)
    for i, kind in enumerate(rng.choice(KINDS, n, p=SHARES)):
        x[i], y[i] = render(digits, labels, rng, str(kind))
    return x, y


def train(mnist: Path, marks: int, epochs: int, save: Path) -> None:
    import tensorflow as tf

    from watcher.datasets import load_mnist
    from watcher.train import VAL_SIZE

    data = load_mnist(mnist)
    keep = len(data.x_train) - VAL_SIZE  # the held-out train digits stay unseen
    t = time.time()
    x, y = make(marks, data.x_train[:keep], data.y_train[:keep], seed=7)
    print(f"{marks} marks rendered in {time.time() - t:.0f} s", flush=True)
    k = tf.keras
    layers: list[Any] = [k.Input((H, W, 1))]
    for filters, pool in ((32, False), (32, True), (64, False), (64, True), (128, True)):
        layers.append(k.layers.Conv2D(filters, 3, padding="same", activation="relu"))
        if pool:
            layers.append(k.layers.MaxPool2D())
    layers += [k.layers.Flatten(), k.layers.Dropout(0.3), k.layers.Dense(256, activation="relu"),
               k.layers.Dropout(0.3), k.layers.Dense(NONE + 1, activation="softmax")]
    model = k.Sequential(layers)
    model.compile(k.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    v = marks // 20
    model.fit(x[v:, ..., None], y[v:], validation_data=(x[:v, ..., None], y[:v]), epochs=epochs, batch_size=128, verbose=2)
    model.save(save)
    print(f"saved {save} after {time.time() - t:.0f} s")


def _hook(model: Any, bar: float, counts: dict[str, int]) -> None:
    """Let the daemon's reader (`watcher.reading`) ask the pair network about every wide mark."""
    from watcher import reading
    from watcher.normalise import stroke_width

    read, best_path, path_digits = reading.read, reading._best_path, reading._path_digits

    def pair_read(layouts: Any, predict: Any, calibration: Any = reading.UNCALIBRATED) -> Any:
        marks = [m for lay in layouts if lay is not None and not lay.single for m in lay.marks if m.cuts is not None]
        if marks:
            xs = [frame_pair(np.where(m.cuts.sel, m.cuts.crop, 0).astype(np.float32), stroke_width(m.cuts.sel))
                  for m in marks]
            for m, p in zip(marks, model.predict(np.stack(xs)[..., None], verbose=0, batch_size=256), strict=True):
                k = int(p.argmax())
                m.pair = (k, float(p[k]))
                counts["wide marks"] += 1
                if k < ONE and p[k] >= bar:
                    counts["read as a pair"] += 1
                    m.expand()  # a mark read surely whole is otherwise never cut
        return read(layouts, predict, calibration)

    def pair_path(m: Any, conf: np.ndarray, labels: np.ndarray,
                  piece_min: float = reading.SPLIT_PIECE_MIN) -> tuple[list[int], float]:
        k, p = getattr(m, "pair", (NONE, 0.0))
        m.as_pair = None
        if k < ONE and p >= bar and m.ends > 1:
            two = [(float(conf[i] * conf[j]), [i, j]) for i, (a, b) in enumerate(m.spans) if i and a == 0
                   for j, (c, d) in enumerate(m.spans) if j and c == b and d == m.ends]
            if two:
                m.as_pair = (k // 10, k % 10, p)
                return max(two)[1], 1.0
        return best_path(m, conf, labels, piece_min)

    def pair_digits(m: Any, path: list[int], idx: list[int], share: float, best: np.ndarray,
                    sure: np.ndarray) -> list[reading.Digit]:
        o = getattr(m, "as_pair", None)
        if o is not None and len(path) == 2:
            return [reading.Digit(m.pieces[i].box, m.line, d, o[2]) for i, d in zip(path, o[:2], strict=True)]
        return path_digits(m, path, idx, share, best, sure)

    setattr(reading, "read", pair_read)  # noqa: B010 (an experiment's hook, not the shipped reader)
    setattr(reading, "_best_path", pair_path)  # noqa: B010
    setattr(reading, "_path_digits", pair_digits)  # noqa: B010


def evaluate(load: Path, sets: list[Path], bar: float) -> None:
    import tensorflow as tf

    from watcher import evaluate as ev
    from watcher.cli import _classifier
    from watcher.settings import load as load_settings

    counts = {"wide marks": 0, "read as a pair": 0}
    _hook(tf.keras.models.load_model(load), bar, counts)
    settings = load_settings(None)
    clf = _classifier(settings, verify=False)
    for labels in sets:
        counts.update(dict.fromkeys(counts, 0))  # each set's own marks
        rep = ev.evaluate_readings(clf, ev.text_labels(labels), settings.review_threshold, labels.parent.name)
        print(f"{labels.parent.name}: exact {rep.exact:.4f}, digits right {rep.digit_accuracy:.4f}, "
              f"silent {rep.silent:.4f}, review {rep.review:.4f}; {counts}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="*", type=Path, help="labels.csv files to read (bench/make_sets.py, multi-dev)")
    ap.add_argument("--mnist", type=Path, default=Path("../shared/data/mnist.npz"))
    ap.add_argument("--save", type=Path, help="train the pair network and save it here")
    ap.add_argument("--load", type=Path, help="a saved pair network to read the sets with")
    ap.add_argument("--marks", type=int, default=160_000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--bar", type=float, default=0.95, help="the pair's probability that reads a mark as it")
    a = ap.parse_args()
    if a.sets and not (a.load or a.save):
        ap.error("reading sets needs a pair network: --load PATH, or --save PATH to train one first")
    if a.save:
        train(a.mnist, a.marks, a.epochs, a.save)
    if a.sets:
        evaluate(a.load or a.save, a.sets, a.bar)


if __name__ == "__main__":
    main()
