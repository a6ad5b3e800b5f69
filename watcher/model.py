"""The classifier: its architecture, loading and verifying a saved model, and batched inference.

A model maps a batch of normalised 28x28 ink maps to calibrated probabilities: small CNNs ending
in logits, divided by a temperature fitted on held-out data (`train`), then softmax, averaged.

Two files hold the same network. `digits.keras` is what `train` writes: stock Keras layers, so it
loads in safe mode (no pickled Python). `digits.tflite` is what the daemon serves: the same graph
converted by `export` with int8 weights, run by LiteRT (TensorFlow Lite's runtime, XNNPACK on the
CPU), about five times the Keras rate on 2 cores and importable without TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from watcher.errors import ModelError
from watcher.reading import LEGACY_FEATURES, READING_FEATURES, UNCALIBRATED, Calibration

#: The models shipped inside the package: a fresh install runs with no training step.
MODELS = Path(__file__).resolve().parent / "models"
SHIPPED_KERAS = MODELS / "digits.keras"  # the trained network, as `train` writes it
SHIPPED_MODEL = MODELS / "digits.tflite"  # the same, exported for serving: what the daemon runs
SUFFIXES = (".tflite", ".keras")
#: LiteEngine's cascade: an ensemble's further members are consulted below this confidence of its first
SECOND_BELOW = 0.95
#: Largest bucket a serving LiteEngine needs: per image, batches of 64 ran as fast as bigger ones
#: on one thread on an AMD EPYC (48 against 51 us for 256), and batches of 16-32 run faster than
#: 64 on an Intel Xeon whose core has 2 MB of L2 (the cascade 71 against 80 us an image: a batch's
#: activations stay in the cache), with half the activation memory. Answers do not depend on it.
SERVE_BATCH = 32


def build(seed: int = 0) -> Any:
    """Three conv stages (two 3x3 convs each, batch norm, ReLU), max-pooling between them, and a
    small dense head. Sized so that batched inference stays far above 5,000 images/s on 2 cores."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, 1), name="digit")
    x = inp
    for i, ch in enumerate((16, 32, 64)):
        for _ in range(2):
            x = layers.Conv2D(ch, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        if i < 2:
            x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.3)(x)
    logits = layers.Dense(10, name="logits")(x)
    return keras.Model(inp, logits, name="digits")


def with_temperature(core: Any, temperature: float) -> Any:
    """Serving model: logits / T, then softmax, so its outputs are calibrated probabilities."""
    import keras
    from keras import layers

    x = layers.Rescaling(1.0 / temperature, name="temperature")(core.output)
    probs = layers.Softmax(name="probs")(x)
    return keras.Model(core.input, probs, name="digits_calibrated")


def file_version(path: Path) -> str:
    """A model's version: its file name and the start of its sha256, so rows name the exact weights."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{path.stem}-{h.hexdigest()[:12]}"


class KerasEngine:
    """A Keras model behind one compiled function with a fixed input signature: no retracing."""

    def __init__(self, keras_model: Any) -> None:
        import tensorflow as tf

        self.keras_model = keras_model
        self._fn = tf.function(
            lambda x: keras_model(x, training=False),
            input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)],
            reduce_retracing=True,
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._fn(x))


class LiteEngine:
    """A LiteRT interpreter per batch-size bucket (1, 2, 4 ... max_batch), each planned and run once:
    a batch is padded up to its bucket, so no call re-plans the graph, and a lone file runs as a
    batch of one. Buckets stop at LARGEST (bigger batches run in slices of it: no faster, and
    each bucket holds its activations). An interpreter is not thread-safe: one thread at a time.

    An ensemble exported with a signature per member (`export`) runs as a cascade: the first
    member reads every image, and the others are consulted only for images it reads with less
    confidence than `second_below`; those get the members' average, exactly as the whole
    ensemble would give it. At 0.95 (of the model's raw scores, which the rejection stage made
    modest) the second member runs for about 1 image in 9 of MNIST's test split, with the same
    answers on MNIST (measured: README). `second_below` >= 1 runs every member for every image."""

    LARGEST = 512

    def __init__(self, content: bytes, threads: int, max_batch: int = 256, second_below: float = 1.0) -> None:
        from ai_edge_litert.interpreter import Interpreter

        probe = Interpreter(model_content=content, num_threads=1)
        signatures = probe.get_signature_list()
        members: list[str] = []
        while f"member{len(members)}" in signatures:
            members.append(f"member{len(members)}")
        self.members = members if len(members) > 1 else []
        self.second_below = second_below
        if self.members:
            ins = [probe.get_signature_runner(k).get_input_details() for k in self.members]
            outs = [probe.get_signature_runner(k).get_output_details() for k in self.members]
            if any(len(d) != 1 for d in ins + outs):
                raise ValueError("a member signature does not take one input and give one output")
            shape_in = tuple(int(v) for v in next(iter(ins[0].values()))["shape_signature"])
            shape_out = tuple(int(v) for v in next(iter(outs[0].values()))["shape_signature"])
        else:
            if len(probe.get_input_details()) != 1:
                raise ValueError("it takes more than one input")
            shape_in = tuple(int(v) for v in probe.get_input_details()[0]["shape_signature"])
            shape_out = tuple(int(v) for v in probe.get_output_details()[0]["shape_signature"])
        if shape_in[1:] != (28, 28, 1) or shape_in[0] not in (-1, 1):
            raise ValueError(f"it takes input {shape_in}, expected (N, 28, 28, 1)")
        if shape_out[1:] != (10,):
            raise ValueError(f"it gives output {shape_out}, expected (N, 10)")
        self.buckets: list[int] = []
        self._its: dict[int, Any] = {}
        self._runners: dict[int, list[Any]] = {}
        b = 1
        while True:
            it = Interpreter(model_content=content, num_threads=threads)
            zeros = np.zeros((b, 28, 28, 1), np.float32)
            if self.members:
                self._runners[b] = [it.get_signature_runner(k) for k in self.members]
                for run in self._runners[b]:
                    run(digit=zeros)  # sizes, plans and warms it, once
            else:
                inp = it.get_input_details()[0]
                it.resize_tensor_input(inp["index"], [b, 28, 28, 1], strict=True)
                it.allocate_tensors()
                self._its[b] = (it, inp["index"], it.get_output_details()[0]["index"])
                it.set_tensor(inp["index"], zeros)
                it.invoke()  # warms it, once
            self.buckets.append(b)
            if b >= min(max_batch, self.LARGEST):
                break
            b *= 2

    def __call__(self, x: np.ndarray) -> np.ndarray:
        top = self.buckets[-1]
        if len(x) > top:
            return np.concatenate([self(x[i:i + top]) for i in range(0, len(x), top)])
        if not self.members:
            return self._run(x, None)
        p = self._run(x, 0)
        unsure = np.arange(len(x)) if self.second_below >= 1 else np.flatnonzero(p.max(1) < self.second_below)
        if len(unsure):
            xs, total = x[unsure], p[unsure]
            for k in range(1, len(self.members)):
                total = total + self._run(xs, k)  # in member order, as Keras' Average adds them
            p[unsure] = total / len(self.members)
        return p

    def _run(self, x: np.ndarray, member: int | None) -> np.ndarray:
        """One graph (the whole model, or one member) on a batch padded to its bucket."""
        n = len(x)
        b = next(k for k in self.buckets if k >= n)
        if b > n:
            x = np.concatenate([x, np.zeros((b - n, 28, 28, 1), np.float32)])
        if member is not None:
            out = self._runners[b][member](digit=x)  # releases the GIL while it runs
            return np.array(next(iter(out.values()))[:n])
        it, i_in, i_out = self._its[b]
        it.set_tensor(i_in, x)
        it.invoke()  # releases the GIL
        return np.array(it.get_tensor(i_out)[:n])


@dataclass
class Classifier:
    """A loaded, verified model: its exact version, and one compiled inference path."""

    version: str
    path: Path
    engine: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    content: bytes | None = field(default=None, repr=False)  # a LiteRT file's bytes: workers can serve it
    second_below: float = 1.0  # LiteEngine's cascade setting, for workers serving the same file
    calibration: Calibration = field(default_factory=Calibration)  # its scores -> calibrated probabilities

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 in [0, 1] -> (N, 10) probabilities."""
        if len(batch) == 0:
            return np.zeros((0, 10), np.float32)
        x = np.ascontiguousarray(batch, dtype=np.float32).reshape(-1, 28, 28, 1)
        return self.engine(x)


def smoke_batch() -> tuple[np.ndarray, np.ndarray]:
    """Ten synthetic digits with known answers, drawn with OpenCV's Hershey font and normalised:
    a loaded model that cannot read most of them is not a digit model."""
    import cv2

    from watcher.normalise import normalise

    xs = []
    for d in range(10):
        canvas = np.full((64, 48), 255, np.uint8)
        cv2.putText(canvas, str(d), (6, 52), cv2.FONT_HERSHEY_SIMPLEX, 1.9, 0, 5, cv2.LINE_AA)
        xs.append(normalise(canvas))
    return np.stack(xs), np.arange(10)


def _load_lite(p: Path, content: bytes, threads: int, max_batch: int, second_below: float) -> LiteEngine:
    try:
        return LiteEngine(content, threads, max_batch, second_below)
    except ValueError as exc:  # the shape checks, and LiteRT's own for a file that is no model
        raise ModelError(f"model {p}: {exc}") from exc
    except Exception as exc:  # any load failure is a bad model file
        raise ModelError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc


def _load_keras(p: Path) -> KerasEngine:
    import keras

    try:
        m = keras.models.load_model(p, safe_mode=True, compile=False)
    except Exception as exc:  # any load failure is a bad model file
        raise ModelError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc
    shape_in = tuple(m.input_shape[1:]) if not isinstance(m.input_shape, list) else None
    shape_out = tuple(m.output_shape[1:]) if not isinstance(m.output_shape, list) else None
    if shape_in not in ((28, 28, 1), (28, 28)):
        raise ModelError(f"model {p} takes input {m.input_shape}, expected (None, 28, 28, 1)")
    if shape_out != (10,):
        raise ModelError(f"model {p} gives output {m.output_shape}, expected (None, 10)")
    return KerasEngine(m)


def _exported(p: Path) -> bytes:
    """A .keras file as the LiteRT bytes `export` makes of it, converted in a child process so
    that the process serving it never imports TensorFlow (2 s and hundreds of MB)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from watcher.export import tflite_bytes

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as ex:
        try:
            return ex.submit(tflite_bytes, p).result()
        except ModelError:
            raise
        except Exception as exc:  # a file Keras loads but TFLite cannot convert, or a dead child
            raise ModelError(f"cannot export model {p} for serving: {type(exc).__name__}: {exc}") from exc


def load(path: Path | str, *, verify: bool = True, threads: int = 0, max_batch: int = SERVE_BATCH,
         second_below: float = SECOND_BELOW, keras_engine: bool = False) -> Classifier:
    """Load a saved model and check it before it serves anything. A .tflite file is served by
    LiteRT; a .keras file is exported to LiteRT first (as `digit-watcher export` does, int8
    weights) and served the same way, so every model takes one path through the daemon and its
    workers (`keras_engine`: run it in Keras instead, for comparisons). `threads` is the
    inference threads (0: one per core); `second_below` the cascade setting of an ensemble.

    Raises ModelError naming the file and what is wrong with it: missing, unreadable, wrong
    input or output shape, or failing the smoke batch.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(f"model file not found: {p}")
    if p.is_dir():
        raise ModelError(f"model path is a directory, expected a .tflite or .keras file: {p}")
    if p.suffix not in SUFFIXES:
        raise ModelError(f"model {p} is neither a .tflite nor a .keras file")
    engine: Callable[[np.ndarray], np.ndarray]
    content = None
    if p.suffix == ".tflite":
        try:
            content = p.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model {p}: {exc.strerror}") from exc
        engine = _load_lite(p, content, threads or os.cpu_count() or 1, max_batch, second_below)
        version = f"{p.stem}-{hashlib.sha256(content).hexdigest()[:12]}"  # of the very bytes served
    elif keras_engine:
        engine = _load_keras(p)
        version = file_version(p)
    else:
        content = _exported(p)
        engine = _load_lite(p, content, threads or os.cpu_count() or 1, max_batch, second_below)
        version = file_version(p)  # the file the user gave: rows name it
    clf = Classifier(version=version, path=p, engine=engine, content=content, second_below=second_below,
                     calibration=calibration(p))
    if verify:
        x, y = smoke_batch()
        probs = clf.predict(x)
        right = int((probs.argmax(1) == y).sum())
        if not np.allclose(probs.sum(1), 1.0, atol=1e-2):
            raise ModelError(f"model {p} does not output probabilities (rows do not sum to 1)")
        if right < 7:
            raise ModelError(f"model {p} failed its smoke test: read {right}/10 known digits")
    return clf


def calibration(model_path: Path) -> Calibration:
    """The calibration a model's training fitted, from `<model>.json` (none: scores as they are).
    `confidence_power`: a model taught to find no digit in non-digits is less sure of real digits
    than it is right, so its scores are sharpened into calibrated probabilities, while the raw
    scores still tell a digit from a mark that is not one (`reading`). `reading_calibration`: the
    weights that make a reading of several digits' confidence a calibrated probability."""
    try:
        import json

        info = json.loads(metrics_path(model_path).read_text())
        power = float(info.get("confidence_power", 1.0))
        weights = tuple(float(v) for v in info.get("reading_calibration") or ())
    except (OSError, ValueError, TypeError, AttributeError):
        return UNCALIBRATED
    fitted = len(weights) in (READING_FEATURES, LEGACY_FEATURES)  # LEGACY: a model trained before 2026-12-05
    return Calibration(power if 0.2 <= power <= 10.0 else 1.0, weights if fitted else ())


def metrics_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def newest_version(path: Path) -> Path:
    """The model to serve for a configured path. TensorFlow Serving's layout is honoured: a
    numbered folder beside the model file (`2/`, `3/`...) holding a model file is a newer
    version, and the highest number wins (a .tflite before a .keras in the same folder); a
    configured folder is searched the same way."""
    base = path if path.is_dir() else path.parent
    best: tuple[int, Path] | None = None
    try:
        for d in base.iterdir():
            if d.is_dir() and d.name.isdigit():
                files = sorted(d.glob("*.tflite")) or sorted(d.glob("*.keras"))
                if files and (best is None or int(d.name) > best[0]):
                    best = (int(d.name), files[0])
    except OSError:
        pass
    if best is not None:
        return best[1]
    return path


def _stamp(p: Path) -> tuple[str, int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return (str(p), st.st_mtime_ns, st.st_size)


class Reloader:
    """Watches the model path in a background thread; a changed file or a new version folder is
    loaded and verified there, and handed over with `take()` for the loop to swap in between
    batches. A model that fails verification is logged and skipped until it changes again."""

    def __init__(self, configured: Path, current: Classifier, every_s: float,
                 on_result: Callable[[bool, str], None] | None = None, threads: int = 0, max_batch: int = SERVE_BATCH,
                 second_below: float = SECOND_BELOW) -> None:
        self.configured = configured
        self.threads, self.max_batch, self.second_below = threads, max_batch, second_below
        self.every_s = every_s
        self._seen = _stamp(current.path)
        self._ready: Classifier | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._on_result = on_result
        self.thread = threading.Thread(target=self._run, name="model-reload", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def take(self) -> Classifier | None:
        with self._lock:
            ready, self._ready = self._ready, None
        return ready

    def check(self) -> None:
        """One look: load and verify a changed model. Called by the thread; callable directly."""
        from loguru import logger

        cand = newest_version(self.configured)
        stamp = _stamp(cand)
        if stamp is None or stamp == self._seen:
            return
        time.sleep(min(1.0, self.every_s / 2))  # let a copy in progress finish
        if _stamp(cand) != stamp:
            return  # still changing: next look
        self._seen = stamp
        try:
            clf = load(cand, threads=self.threads, max_batch=self.max_batch, second_below=self.second_below)
        except ModelError as exc:
            logger.error("new model rejected, the current one keeps serving: {}", exc)
            if self._on_result:
                self._on_result(False, str(cand))
            return
        logger.info("new model {} verified; it serves from the next batch", clf.version)
        with self._lock:
            self._ready = clf
        if self._on_result:
            self._on_result(True, clf.version)

    def _run(self) -> None:
        from loguru import logger

        while not self._stop.wait(self.every_s):
            try:
                self.check()
            except Exception as exc:  # never let the reloader die silently
                logger.error("model reload check failed: {}", exc)


def member(serving: Any, name: str) -> Any:
    """A saved, calibrated network renamed for its place in an ensemble."""
    import keras

    return keras.Model(serving.input, serving.output, name=name)


def ensemble(members: list[Any]) -> Any:
    """One serving model: the average of the members' calibrated probabilities (a deep ensemble).
    Stock layers only, so it loads in safe mode like a single network."""
    import keras
    from keras import layers

    inp = keras.Input((28, 28, 1), name="digit")
    outs = [m(inp) for m in members]
    probs = layers.Average(name="probs")(outs) if len(outs) > 1 else outs[0]
    return keras.Model(inp, probs, name="digits_ensemble")
