"""Keras -> LiteRT: the file the daemon serves, made from the file `train` writes.

The graph is unchanged; its weights are stored as int8 (dynamic-range quantisation: activations
are quantised per image at run time, so an image's answer does not depend on its batch-mates).
No calibration data is needed, so the export is a pure function of the .keras file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from watcher.errors import ModelError


def tflite_bytes(keras_path: Path, quantize: bool = True) -> bytes:
    import keras
    import tensorflow as tf

    try:
        m = keras.models.load_model(keras_path, safe_mode=True, compile=False)
    except Exception as exc:
        raise ModelError(f"cannot load model {keras_path}: {type(exc).__name__}: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="digit-watcher-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        m.export(str(saved), format="tf_saved_model", verbose=False,
                 input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32, name="digit")])
        conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if quantize:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        return bytes(conv.convert())


def export(keras_path: Path, out: Path | None = None, quantize: bool = True) -> Path:
    """Write `<keras stem>.tflite` beside the .keras file (or at `out`), atomically: a running
    daemon watching that path never sees half a file."""
    out = out or keras_path.with_suffix(".tflite")
    blob = tflite_bytes(keras_path, quantize)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.part"  # created with the umask's mode, unlike mkstemp
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
