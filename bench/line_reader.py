"""Experiment, not shipped: a line reader that reads a number as a sequence (a CRNN with CTC).

The segmenting reader cuts touching digits with straight cuts and classifies the pieces; on
rendered touching numbers it reads 84% exactly. This trains a small convolutional + recurrent
network on numbers rendered by `watcher.compose` from MNIST's **train** split, with no cuts at all:
the whole line, cropped to its ink, 32 pixels high, read left to right with CTC. It then
reads the labelled sets that `bench/make_sets.py` renders from the **test** split. The figures
are in docs/reading.md ("A line read as a sequence").

    python bench/line_reader.py --sets /tmp/sets --numbers 40000 --epochs 6   # about 40 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import csv
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import cv2
import numpy as np

H, W = 32, 256  # the line as the network sees it: 32 high, up to 8 digits wide
BLANK = 10


def line_input(img: np.ndarray) -> np.ndarray:
    """A picture of one line of digits -> its ink, cropped, 32 high, left-aligned in 32 x 256."""
    from watcher.normalise import ink_map, to_grey

    ink = np.asarray(ink_map(to_grey(img)), np.float32)
    m = ink > 0.3
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    out = np.zeros((H, W), np.float32)
    if len(rows) == 0:
        return out
    c = ink[max(0, rows[0] - 2):rows[-1] + 3, max(0, cols[0] - 2):cols[-1] + 3]
    h, w = c.shape
    nw = max(1, min(W, round(w * H / h)))
    out[:, :nw] = cv2.resize(c, (nw, H), interpolation=cv2.INTER_AREA)
    return out


def _render(args: tuple[str, int, int]) -> tuple[np.ndarray, list[str]]:
    from watcher import compose
    from watcher.datasets import load_mnist
    from watcher.train import VAL_SIZE

    mnist, seed, n = args
    data = load_mnist(Path(mnist))
    x, y = data.x_train[:-VAL_SIZE], data.y_train[:-VAL_SIZE]  # held out in training: never taught on
    rng = np.random.default_rng(seed)
    xs, texts = np.zeros((n, H, W), np.float32), []
    for i in range(n):
        d = compose.number(x, y, rng)
        xs[i] = line_input(d.image)
        texts.append(d.text)
    return xs, texts


def decode(logits: np.ndarray) -> list[str]:
    """Greedy CTC decoding: the best class at each step, repeats merged, blanks dropped."""
    out = []
    for row in logits.argmax(-1):
        s, prev = [], -1
        for k in row.tolist():
            if k != prev and k != BLANK:
                s.append(str(k))
            prev = k
        out.append("".join(s))
    return out


def build() -> Any:
    import keras
    from keras import layers

    inp = keras.Input((H, W, 1))
    z = inp
    for filters, pool in [(32, (2, 2)), (64, (2, 2)), (128, (2, 1)), (128, (4, 1))]:
        z = layers.Conv2D(filters, 3, padding="same", use_bias=False)(z)
        z = layers.BatchNormalization()(z)
        z = layers.ReLU()(z)
        z = layers.MaxPooling2D(pool)(z)
    z = layers.Reshape((W // 4, 128))(z)
    z = layers.Bidirectional(layers.GRU(96, return_sequences=True))(z)
    return keras.Model(inp, layers.Dense(BLANK + 1)(z))


def train(x: np.ndarray, texts: list[str], epochs: int) -> Any:
    import keras
    import tensorflow as tf

    model = build()
    longest = max(len(t) for t in texts)
    labels = np.zeros((len(texts), longest), np.int32)
    lengths = np.array([len(t) for t in texts], np.int32)
    for i, t in enumerate(texts):
        labels[i, :len(t)] = [int(c) for c in t]
    opt = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(xb: Any, yb: Any, nb: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            sparse = tf.RaggedTensor.from_tensor(yb, lengths=nb).to_sparse()
            steps = tf.fill([tf.shape(xb)[0]], W // 4)
            loss = tf.reduce_mean(tf.nn.ctc_loss(sparse, logits, None, steps, logits_time_major=False,
                                                 blank_index=BLANK))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    rng = np.random.default_rng(0)
    order = np.arange(len(x))
    t0 = time.time()
    for epoch in range(epochs):
        rng.shuffle(order)
        if epoch == epochs - 1:
            opt.learning_rate.assign(3e-4)
        losses = [float(step(x[j][..., None], labels[j], lengths[j]))
                  for j in (order[b:b + 64] for b in range(0, len(order) - 63, 64))]
        print(f"epoch {epoch}: loss {np.mean(losses):.3f} ({time.time() - t0:.0f} s)", flush=True)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", default="../shared/data/mnist.npz")
    ap.add_argument("--sets", default="/tmp/sets", help="bench/make_sets.py's folder")
    ap.add_argument("--numbers", type=int, default=40000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--save", default="")
    a = ap.parse_args()
    t0 = time.time()
    with Pool(2) as pool:
        parts = pool.map(_render, [(a.mnist, 1000 + k, a.numbers // 20) for k in range(20)])
    x = np.concatenate([p[0] for p in parts])
    texts = [t for p in parts for t in p[1]]
    print(f"{len(x)} numbers rendered in {time.time() - t0:.0f} s", flush=True)
    model = train(x, texts, a.epochs)
    if a.save:
        model.save(a.save)
    for name in ("numbers", "numbers-spaced", "numbers-touching"):
        folder = Path(a.sets) / name
        if not (folder / "labels.csv").exists():
            continue
        rows = list(csv.DictReader(open(folder / "labels.csv", newline="")))
        pictures = [cv2.imread(str(folder / r["file"]), cv2.IMREAD_UNCHANGED) for r in rows]
        xs = np.stack([line_input(p) if p is not None else np.zeros((H, W), np.float32) for p in pictures])
        got = decode(model.predict(xs[..., None], verbose=0, batch_size=256))
        exact = np.mean([g == r["text"].replace(" ", "") for g, r in zip(got, rows, strict=True)])
        print(f"{name}: exact {exact:.4f} of {len(rows)}", flush=True)


if __name__ == "__main__":
    main()
