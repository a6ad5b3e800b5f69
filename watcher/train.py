"""Train the shipped model from MNIST's train split, reproducibly.

Recipe: the last 5,000 train digits are held out for validation and calibration (the test split
is never seen). Each training digit is used twice: as MNIST gives it, and once more
rendered by `augment` as a scan, photo or paint drawing; all through the serving `normalise`. Geometric jitter
(rotation, shift, zoom) is added on the fly. After training, a temperature is fitted on the
validation set so that the softmax confidence is calibrated, and folded into the saved model.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from watcher.datasets import Mnist, load_mnist
from watcher.errors import NoDigitFound
from watcher.normalise import normalise

VAL_SIZE = 5000
#: Share of the training digits that are also rendered as a scan, photo or drawing.
RENDER_SHARE = 1.0


@dataclass
class TrainResult:
    model: str
    version: str
    seed: int
    epochs: int
    train_images: int
    mnist_test_accuracy: float
    val_accuracy: float
    temperature: float
    test_ece: float
    review_threshold: float  # suggested: see suggest_threshold
    seconds: float
    machine: str


def normalise_many(images: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise a stack of images; returns the 28x28 maps and a mask of the ones that had a digit."""
    out = np.zeros((len(images), 28, 28), np.float32)
    ok = np.zeros(len(images), bool)
    for i, im in enumerate(images):
        try:
            out[i] = normalise(im)
            ok[i] = True
        except NoDigitFound:
            pass
    return out, ok


def _render_chunk(args: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
    from watcher.augment import render

    digits, seed = args
    rng = np.random.default_rng(seed)
    return normalise_many([render(d, rng) for d in digits])


def rendered(digits: np.ndarray, seed: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Render every digit once as a real-world picture and normalise it, in parallel, with a seed
    per chunk so the result does not depend on the number of workers."""
    chunk = 1000
    jobs = [(digits[i:i + chunk], seed * 100_003 + i) for i in range(0, len(digits), chunk)]
    with ProcessPoolExecutor(max_workers=workers) as ex:
        parts = list(ex.map(_render_chunk, jobs))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: the gap between confidence and accuracy, averaged over bins."""
    conf = probs.max(1)
    right = probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(float(right[sel].mean()) - float(conf[sel].mean()))
    return float(total)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising validation negative log-likelihood (a 1-D grid search)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 200)):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        nll = -float(logp[np.arange(len(labels)), labels].mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def suggest_threshold(probs: np.ndarray, labels: np.ndarray, max_error: float = 0.002) -> float:
    """The lowest review threshold (in steps of 0.05) at which the rows that are not sent to
    review are wrong at most `max_error` of the time, on held-out data."""
    conf, right = probs.max(1), probs.argmax(1) == labels
    for t in np.arange(0.0, 1.0, 0.05):
        kept = conf >= t
        if kept.any() and 1.0 - float(right[kept].mean()) <= max_error:
            return round(float(t), 2)
    return 0.95


def prepare(data: Mnist, seed: int, workers: int, limit: int | None = None) -> dict[str, np.ndarray]:
    x, y = data.x_train, data.y_train.astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    n_val = min(VAL_SIZE, len(x) // 6)
    xtr, ytr, xva, yva = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
    pick = np.random.default_rng(seed).random(len(xtr)) < RENDER_SHARE
    m_tr, ok1 = normalise_many(xtr)
    r_tr, ok2 = rendered(xtr[pick], seed, workers)
    m_va, ok3 = normalise_many(xva)
    r_va, ok4 = rendered(xva, seed + 1, workers)
    return {
        "x": np.concatenate([m_tr[ok1], r_tr[ok2]]), "y": np.concatenate([ytr[ok1], ytr[pick][ok2]]),
        "xv": np.concatenate([m_va[ok3], r_va[ok4]]), "yv": np.concatenate([yva[ok3], yva[ok4]]),
    }


def train(data_path: Path | None, out: Path, epochs: int = 30, seed: int = 0, limit: int | None = None,
          workers: int | None = None, verbose: int = 1) -> TrainResult:
    """Train, calibrate, evaluate on the test split, save the model and `<model>.json` beside it."""
    import keras
    import tensorflow as tf

    from watcher import model as M

    t0 = time.time()
    workers = workers or os.cpu_count() or 1
    data = load_mnist(data_path)
    d = prepare(data, seed, workers, limit)
    if verbose:
        print(f"prepared {len(d['x'])} training and {len(d['xv'])} validation images in {time.time() - t0:.0f}s", flush=True)
    keras.utils.set_random_seed(seed)
    core = M.build(seed)
    aug = keras.Sequential([
        keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(0.06, 0.06, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomZoom((-0.08, 0.08), fill_mode="constant", seed=seed + 2),
    ], name="jitter")
    inp = keras.Input((28, 28, 1))
    trainer = keras.Model(inp, core(aug(inp)))
    batch = 128
    steps = int(np.ceil(len(d["x"]) / batch)) * epochs
    lr = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=3e-3, warmup_steps=min(500, steps // 10))
    trainer.compile(optimizer=keras.optimizers.AdamW(lr, weight_decay=1e-4),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    ds = (tf.data.Dataset.from_tensor_slices((d["x"][..., None], d["y"]))
          .shuffle(len(d["x"]), seed=seed, reshuffle_each_iteration=True).batch(batch).prefetch(2))
    trainer.fit(ds, epochs=epochs, verbose=verbose, validation_data=(d["xv"][..., None], d["yv"]))
    val_logits = np.asarray(core.predict(d["xv"][..., None], batch_size=1024, verbose=0))
    temperature = fit_temperature(val_logits, d["yv"])
    serving = M.with_temperature(core, temperature)
    z = val_logits / temperature
    val_probs = np.exp(z - z.max(1, keepdims=True))
    val_probs /= val_probs.sum(1, keepdims=True)
    xt, okt = normalise_many(data.x_test)
    probs = np.zeros((len(xt), 10), np.float32)
    probs[okt] = serving.predict(xt[okt][..., None], batch_size=1024, verbose=0)
    yt = data.y_test.astype(np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    serving.save(out)
    result = TrainResult(
        model=str(out), version=M.file_version(out), seed=seed, epochs=epochs, train_images=len(d["x"]),
        mnist_test_accuracy=float((probs.argmax(1) == yt).mean()),
        val_accuracy=float((val_logits.argmax(1) == d["yv"]).mean()),
        temperature=temperature, test_ece=ece(probs[okt], yt[okt]),
        review_threshold=suggest_threshold(val_probs, d["yv"]), seconds=round(time.time() - t0, 1),
        machine=f"{platform.machine()} {os.cpu_count()} cores, TF {tf.__version__}",
    )
    M.metrics_path(out).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result

