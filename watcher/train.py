"""Train the shipped model from MNIST's train split, reproducibly.

Recipe: the last 5,000 train digits are held out for validation and calibration (the test split
is never seen). Each training digit is used as MNIST gives it, and a share of them once more
rendered by `augment` as a scan, photo or paint drawing; all through the serving `normalise`.
Geometric jitter (rotation, shift, zoom) is added on the fly.

After training, a temperature is fitted on the validation set so that a network's softmax
confidence is calibrated, and folded into it.

The shipped model is a small deep ensemble: two member networks trained on different mixes and
seeds (40% and 25% of the digits also rendered), whose calibrated probabilities are averaged:
each alone reads about 99.5% of MNIST's test split, and they err on different digits. Last, the
ensemble is taught that marks which are not digits (letters, symbols, scribbles, two digits
squeezed into one box, all drawn here) have no likely digit (`rejection`).
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from watcher.datasets import Mnist, load_mnist
from watcher.errors import NoDigitFound
from watcher.export import export
from watcher.normalise import normalise

VAL_SIZE = 5000


@dataclass(frozen=True)
class Member:
    """One member network's recipe; its seed fixes data order, rendering and initial weights."""

    seed: int
    render_share: float  # share of the training digits also rendered as a scan, photo or drawing
    epochs: int


#: The shipped model's members (each takes 20-25 minutes on this 2-core machine). Two, not more:
#: inference cost grows with each, and the daemon's batched rate must stay far above 5,000/s.
MEMBERS = (Member(seed=1, render_share=0.4, epochs=36), Member(seed=2, render_share=0.25, epochs=36))


@dataclass
class TrainResult:
    model: str
    version: str
    seed: int
    epochs: int
    train_images: int
    mnist_test_accuracy: float
    val_accuracy: float
    temperature: float | None  # a member's; the ensemble averages calibrated members
    test_ece: float
    review_threshold: float  # suggested: see suggest_threshold
    seconds: float
    machine: str
    render_share: float | None = None  # a member's; None for the ensemble
    limit: int | None = None  # trained on only the first N train digits (quick checks)
    members: list[dict[str, Any]] | None = None  # the ensemble's members, as each was trained
    served: str | None = None  # the exported .tflite the daemon serves (the ensemble's only)
    served_version: str | None = None
    served_mnist_test_accuracy: float | None = None  # int8 weights: checked, not assumed, equal
    confidence_power: float | None = None  # calibration of the served scores (model.calibration)
    reading_calibration: list[float] | None = None  # of readings of several digits (calibrate.fit_reading)
    rejection: dict[str, Any] | None = None  # the rejection stage's recipe (rejection.Recipe)


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
    return calibration_error(probs.max(1), probs.argmax(1) == labels, bins)


def calibration_error(conf: np.ndarray, right: np.ndarray, bins: int = 15) -> float:
    """`ece` of answers given as their confidences and whether each was right."""
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


def _split(data: Mnist, limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = data.x_train, data.y_train.astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    n_val = min(VAL_SIZE, len(x) // 6)
    return x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]


def validation(data: Mnist, seed: int, workers: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits as MNIST gives them and once more rendered: for calibration."""
    _, _, xva, yva = _split(data, limit)
    m_va, ok3 = normalise_many(xva)
    r_va, ok4 = rendered(xva, seed + 1, workers)
    return np.concatenate([m_va[ok3], r_va[ok4]]), np.concatenate([yva[ok3], yva[ok4]])


def prepare(data: Mnist, seed: int, workers: int, limit: int | None, render_share: float) -> dict[str, np.ndarray]:
    xtr, ytr, _, _ = _split(data, limit)
    pick = np.random.default_rng(seed).random(len(xtr)) < render_share
    m_tr, ok1 = normalise_many(xtr)
    r_tr, ok2 = rendered(xtr[pick], seed, workers)
    xv, yv = validation(data, seed, workers, limit)
    return {
        "x": np.concatenate([m_tr[ok1], r_tr[ok2]]), "y": np.concatenate([ytr[ok1], ytr[pick][ok2]]),
        "xv": xv, "yv": yv,
    }


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def _machine() -> str:
    import tensorflow as tf

    return f"{platform.machine()} {os.cpu_count()} cores, TF {tf.__version__}"


def _test_probs(predict: Callable[[np.ndarray], np.ndarray], xt: np.ndarray, okt: np.ndarray) -> np.ndarray:
    """Probabilities on the normalised test split (zeros where no digit was found)."""
    probs = np.zeros((len(xt), 10), np.float32)
    probs[okt] = predict(xt[okt])
    return probs


def _keras_predict(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.asarray(model.predict(x[..., None], batch_size=1024, verbose=0))


def train_member(data: Mnist, member: Member, out: Path, workers: int, limit: int | None = None,
                 verbose: int = 1) -> TrainResult:
    """Train one member network, calibrate it, save it and `<model>.json` beside it."""
    import keras
    import tensorflow as tf

    from watcher import model as M

    t0 = time.time()
    seed, epochs = member.seed, member.epochs
    d = prepare(data, seed, workers, limit, member.render_share)
    if verbose:
        print(f"member {member}: prepared {len(d['x'])} training and {len(d['xv'])} validation images "
              f"in {time.time() - t0:.0f}s", flush=True)
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
    xt, okt = normalise_many(data.x_test)
    yt = data.y_test.astype(np.int64)
    probs = _test_probs(_keras_predict(serving), xt, okt)
    out.parent.mkdir(parents=True, exist_ok=True)
    serving.save(out)
    result = TrainResult(
        model=str(out), version=M.file_version(out), seed=seed, epochs=epochs, train_images=len(d["x"]),
        mnist_test_accuracy=float((probs.argmax(1) == yt).mean()),
        val_accuracy=float((val_logits.argmax(1) == d["yv"]).mean()),
        temperature=temperature, test_ece=ece(probs[okt], yt[okt]),
        review_threshold=suggest_threshold(_softmax(val_logits, temperature), d["yv"]),
        seconds=round(time.time() - t0, 1), machine=_machine(), render_share=member.render_share, limit=limit,
    )
    M.metrics_path(out).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def _reusable(path: Path, member: Member, limit: int | None) -> bool:
    """A member saved by an earlier run of the same recipe (a resumed training) is used as is."""
    from watcher import model as M

    try:
        info = json.loads(M.metrics_path(path).read_text())
    except (OSError, ValueError):
        return False
    return (path.exists() and info.get("version") == M.file_version(path) and info.get("limit") == limit
            and (info.get("seed"), info.get("epochs"), info.get("render_share"))
            == (member.seed, member.epochs, member.render_share))


def train(data_path: Path | None, out: Path, members: Sequence[Member] = MEMBERS, limit: int | None = None,
          workers: int | None = None, verbose: int = 1, members_dir: Path | None = None) -> TrainResult:
    """Train each member (or reuse it from `members_dir` when an earlier run finished it), then
    save their calibrated average as one model at `out`, with `<model>.json` beside it, and
    export it for serving as `<model>.tflite`."""
    import keras

    from watcher import model as M

    workers = workers or os.cpu_count() or 1
    data = load_mnist(data_path)
    members_dir = members_dir or out.parent / f"{out.stem}.members"
    paths, results = [], []
    for k, m in enumerate(members):
        path = members_dir / f"member{k}-seed{m.seed}-render{m.render_share:g}-epochs{m.epochs}.keras"
        if _reusable(path, m, limit):
            if verbose:
                print(f"member {k} ({m}): reusing {path}", flush=True)
            info = json.loads(M.metrics_path(path).read_text())
        else:
            info = asdict(train_member(data, m, path, workers, limit, verbose))
        paths.append(path)
        results.append(info)
    t_ens = time.time()
    serving = M.ensemble([M.member(keras.models.load_model(p, safe_mode=True, compile=False), f"member{k}")
                          for k, p in enumerate(paths)])
    out.parent.mkdir(parents=True, exist_ok=True)
    serving.save(out)
    trained = sum(float(r["seconds"]) for r in results)
    return last_stage(data, out, members, results, limit, workers, verbose, seconds_before=trained, t0=t_ens)


def last_stage(data: Mnist, out: Path, members: Sequence[Member], results: list[dict[str, Any]],
               limit: int | None, workers: int, verbose: int = 1, seconds_before: float = 0.0,
               t0: float | None = None) -> TrainResult:
    """The ensemble saved at `out` (the members averaged) is taught which marks are not digits
    (`rejection`), saved over itself, exported and calibrated; `<model>.json` is written beside it.
    Its own function so that a changed rejection recipe can be measured from a saved ensemble."""
    import keras

    from watcher import model as M
    from watcher.calibrate import fit_served
    from watcher.reading import calibrated
    from watcher.rejection import Recipe, teach

    t0 = t0 or time.time()
    recipe = Recipe() if not limit else Recipe(negatives=max(200, limit // 2), mnist=limit, epochs=1,
                                               font_digits=max(100, limit // 8), runs=2)
    teach(out, data, recipe, workers, verbose).save(out)
    serving = keras.models.load_model(out, safe_mode=True, compile=False)
    xv, yv = validation(data, members[0].seed, workers, limit)
    val_probs = np.asarray(serving.predict(xv[..., None], batch_size=1024, verbose=0))
    xt, okt = normalise_many(data.x_test)  # once, for the Keras model and for its export
    yt = data.y_test.astype(np.int64)
    probs = _test_probs(_keras_predict(serving), xt, okt)
    served = export(out)
    served_clf = M.load(served, verify=False)
    # calibrated on the held-out digits (what is a digit at all is the raw scores' job: `reading`)
    _, _, x_held, y_held = _split(data, limit)  # numbers drawn from digits no stage trained on
    power, weights = fit_served(served_clf.predict, xv, yv, x_held, y_held, n=1500 if not limit else 200)
    val_probs = calibrated(val_probs, power)
    probs[okt] = calibrated(probs[okt], power)
    served_probs = _test_probs(served_clf.predict, xt, okt)
    result = TrainResult(
        model=str(out), version=M.file_version(out), seed=members[0].seed, epochs=max(m.epochs for m in members),
        train_images=sum(int(r["train_images"]) for r in results),
        mnist_test_accuracy=float((probs.argmax(1) == yt).mean()),
        val_accuracy=float((val_probs.argmax(1) == yv).mean()), temperature=None,
        test_ece=ece(probs[okt], yt[okt]), review_threshold=suggest_threshold(val_probs, yv),
        seconds=round(seconds_before + time.time() - t0, 1),
        machine=_machine(), members=results, limit=limit, served=str(served), served_version=M.file_version(served),
        served_mnist_test_accuracy=float((served_probs.argmax(1) == yt).mean()), confidence_power=power,
        reading_calibration=list(weights) or None, rejection=asdict(recipe),
    )
    M.metrics_path(out).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result
