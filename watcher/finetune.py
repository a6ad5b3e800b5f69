"""`digit-watcher train --corrections`: the people's review decisions teach the served model.

Each decided file (found in processed/ or failed/ by name and sha256, as the review desk finds
it) is read with the daemon's reading code (`pipeline.prepare`). A corrected digit is a labelled
example of exactly what this service meets; a file a person called "not a digit" is taught as
"no digit is likely" (a uniform target), so the model's confidence on such things falls below the
review threshold. A fifth of the corrections (chosen by claim, so reruns agree) is held back to
measure; the rest, repeated so they weigh against it, is mixed with MNIST's train split so the
model does not forget. The whole served ensemble is fine-tuned end to end with a small learning
rate (batch norm frozen), exported as the daemon serves it, calibrated as `train` calibrates, and
checked against the serving model on MNIST's test split: worse by more than `max_drop` and
nothing is written. Otherwise it is written as the next numbered version beside the model
(`DIR/<n>/`, moved into place in one rename), which a running daemon picks up without a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from watcher.corrections import NOT_A_DIGIT, Desk
from watcher.datasets import Mnist, load_mnist
from watcher.errors import DataError, ModelError
from watcher.pipeline import prepare

HOLD_OUT = 5  # one claim in five is held back


@dataclass
class Examples:
    x: np.ndarray  # (N, 28, 28) normalised, as the daemon reads them
    y: np.ndarray  # digit, or -1 for "not a digit"
    files: list[str]


@dataclass
class FineTuneReport:
    corrections: int  # decisions usable for training (single digits and "not a digit")
    trained_on: int
    held_out: int
    held_out_before: float  # share of held-out corrections the model now gets right
    held_out_after: float
    mnist_before: float  # the serving model on MNIST's test split
    mnist_after: float
    written: str | None  # the new version's .tflite, or None when refused
    refused: str | None
    seconds: float


def held_out(claim: str) -> bool:
    return int(hashlib.sha256(claim.encode()).hexdigest(), 16) % HOLD_OUT == 0


def examples(corrections: Path, max_bytes: int = 50_000_000, max_pixels: int = 64_000_000) -> tuple[Examples, Examples]:
    """(train, held out) from a corrections.csv beside its outbox's result folders."""
    outbox = corrections.parent
    desk = Desk(outbox)
    decided = {c: d for c, d in desk.decisions().items() if d.after == NOT_A_DIGIT or len(d.after) == 1}
    rows = [r for r in desk.review_rows() if r["claim"] in decided]
    if not rows:
        raise DataError(f"{corrections}: no decided single-digit or not-a-digit files to learn from")
    where = {**desk.locate([r for r in rows if decided[r["claim"]].after == NOT_A_DIGIT], outbox / "failed"),
             **desk.locate([r for r in rows if decided[r["claim"]].after != NOT_A_DIGIT], outbox / "processed")}
    parts: dict[bool, tuple[list[np.ndarray], list[int], list[str]]] = {True: ([], [], []), False: ([], [], [])}
    for r in rows:
        path = where.get(r["claim"])
        if path is None:
            continue  # moved away or deleted since
        p = prepare(path, max_bytes, max_pixels)
        if p.layout is None or not p.layout.single:
            continue  # nothing the reader can read as one digit: nothing to learn
        after = decided[r["claim"]].after
        xs, ys, fs = parts[held_out(r["claim"])]
        xs.append(p.layout.first().x)
        ys.append(-1 if after == NOT_A_DIGIT else int(after))
        fs.append(r["file"])

    def pack(k: bool) -> Examples:
        xs, ys, fs = parts[k]
        return Examples(np.stack(xs) if xs else np.zeros((0, 28, 28), np.float32), np.array(ys, np.int64), fs)

    return pack(False), pack(True)


def right_share(probs: np.ndarray, y: np.ndarray, review_below: float) -> float:
    """A digit is right when read as it; "not a digit" is right when it would go to review."""
    if len(y) == 0:
        return float("nan")
    digit = y >= 0
    ok = np.where(digit, probs.argmax(1) == np.maximum(y, 0), probs.max(1) < review_below)
    return float(ok.mean())


def targets(y: np.ndarray) -> np.ndarray:
    t = np.full((len(y), 10), 0.1, np.float32)
    digit = y >= 0
    t[digit] = 0.0
    t[np.flatnonzero(digit), y[digit]] = 1.0
    return t


def next_version(folder: Path) -> int:
    nums = [int(d.name) for d in folder.iterdir() if d.is_dir() and d.name.isdigit()] if folder.is_dir() else []
    return max(nums, default=1) + 1


def fine_tune(corrections: Path, base: Path, serving: Path, out: Path, data_path: Path | None, review_below: float,
              epochs: int = 2, lr: float = 1e-4, mnist_share: int = 20000, repeat: int = 20, max_drop: float = 0.001,
              verbose: int = 1) -> FineTuneReport:
    """Fine-tune `base` (.keras) on the corrections; write `out/<n>/` unless MNIST test accuracy
    falls more than `max_drop` below the `serving` model's (.tflite)."""
    import keras
    import tensorflow as tf

    from watcher import model as M
    from watcher.export import export
    from watcher.train import normalise_many

    t0 = time.time()
    train_set, hold = examples(corrections)
    data = load_mnist(data_path)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(data.x_train) - 5000, size=min(mnist_share, len(data.x_train) - 5000), replace=False)
    xm, okm = normalise_many(data.x_train[pick])
    xt, okt = normalise_many(data.x_test)
    yt = data.y_test.astype(np.int64)
    try:
        model = keras.models.load_model(base, safe_mode=True, compile=False)
    except Exception as exc:
        raise ModelError(f"cannot load the base model {base}: {exc}") from exc
    served_before = M.load(serving, verify=False)

    def mnist_acc(predict: Any) -> float:
        probs = np.zeros((len(xt), 10), np.float32)
        probs[okt] = predict(xt[okt])
        return float((probs.argmax(1) == yt).mean())

    mnist_before = mnist_acc(served_before.predict)
    held_before = right_share(served_before.predict(hold.x), hold.y, review_below) if len(hold.y) else float("nan")

    def freeze_norms(layer: Any) -> None:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # running statistics stay MNIST's: the corrections' mix would shift them
        for sub in getattr(layer, "layers", []):
            freeze_norms(sub)

    freeze_norms(model)
    x = np.concatenate([xm[okm]] + [train_set.x] * repeat)[..., None]
    t = np.concatenate([targets(data.y_train[pick][okm].astype(np.int64))] + [targets(train_set.y)] * repeat)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.CategoricalCrossentropy())
    ds = tf.data.Dataset.from_tensor_slices((x, t)).shuffle(len(x), seed=0).batch(128)
    keras.utils.set_random_seed(0)
    model.fit(ds, epochs=epochs, verbose=verbose)

    stage = out / f".finetune-{os.getpid()}"
    stage.mkdir(parents=True, exist_ok=True)
    written = refused = None
    try:
        keras_out = stage / "digits.keras"
        model.save(keras_out)
        tflite = export(keras_out)
        served = M.load(tflite, verify=False)
        mnist_after = mnist_acc(served.predict)
        held_after = right_share(served.predict(hold.x), hold.y, review_below) if len(hold.y) else float("nan")
        if mnist_after < mnist_before - max_drop:
            refused = (f"MNIST test accuracy would fall from {mnist_before:.4f} to {mnist_after:.4f} (more than "
                       f"{max_drop * 100:.1f} point): not written")
        else:
            try:
                M.load(tflite, verify=True)  # the checks the daemon makes before it serves a version
            except ModelError as exc:
                refused = f"the fine-tuned model fails the daemon's checks ({exc}): not written"
        if refused is None:
            n = next_version(out)
            power, reading = _calibration(served, data, max(200, min(1500, mnist_share // 10)))
            (stage / "digits.json").write_text(json.dumps({
                "fine_tuned_from": str(base), "corrections": str(corrections), "mnist_test_accuracy": mnist_after,
                "held_out_corrections_right": held_after, "confidence_power": power,
                "reading_calibration": list(reading) or None}, indent=2) + "\n")
            os.rename(stage, out / str(n))  # whole, or not there: the daemon never sees half a version
            written = str(out / str(n) / "digits.tflite")
    finally:
        if written is None:
            shutil.rmtree(stage, ignore_errors=True)
    return FineTuneReport(len(train_set.y) + len(hold.y), len(train_set.y), len(hold.y), held_before, held_after,
                          mnist_before, mnist_after, written, refused, round(time.time() - t0, 1))


def _calibration(served: Any, data: Mnist, numbers: int) -> tuple[float, tuple[float, ...]]:
    """The new version's calibration, fitted as `train` fits its own on the train split's last
    5,000 digits (which fine-tuning never draws from): without it the version would be served
    with raw scores, less sure than it is right, and readings of several digits at the product
    of their digits' confidences. `numbers`: how many rendered numbers the reading fit reads."""
    from watcher.calibrate import fit_served
    from watcher.train import VAL_SIZE, validation

    xv, yv = validation(data, 0, os.cpu_count() or 1)  # the held-out digits, as MNIST gives them and rendered
    xh, yh = data.x_train[-VAL_SIZE:], data.y_train[-VAL_SIZE:].astype(np.int64)
    return fit_served(served.predict, xv, yv, xh, yh, numbers)


def report_lines(r: FineTuneReport) -> list[str]:
    d = asdict(r)
    return [f"corrections {d['corrections']}: trained on {d['trained_on']}, held back {d['held_out']}",
            f"held-back corrections right: before {r.held_out_before:.3f}, after {r.held_out_after:.3f}",
            f"MNIST test accuracy: serving {r.mnist_before:.4f}, fine-tuned {r.mnist_after:.4f}",
            (f"wrote {r.written} (a running daemon picks it up)" if r.written else f"refused: {r.refused}")
            + f" ({r.seconds:.0f}s)"]
