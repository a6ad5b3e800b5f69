"""Keras -> LiteRT: the file the daemon serves, made from the file `train` writes.

The graph is unchanged; its weights are stored as int8 (dynamic-range quantisation: activations
are quantised per image at run time, so an image's answer does not depend on its batch-mates).
No calibration data is needed, so the export is a pure function of the .keras file.

An ensemble is exported with one signature per member beside the whole (`serving_default`), the
weights stored once: the engine can then run the first member alone and consult the others
only when it is unsure (see `model.LiteEngine`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from watcher.errors import ModelError


def tflite_bytes(keras_path: Path, quantize: bool = True) -> bytes:
    import keras
    import tensorflow as tf

    try:
        m = keras.models.load_model(keras_path, safe_mode=True, compile=False)
    except Exception as exc:
        raise ModelError(f"cannot load model {keras_path}: {type(exc).__name__}: {exc}") from exc
    spec = tf.TensorSpec((None, 28, 28, 1), tf.float32, name="digit")
    archive = keras.export.ExportArchive()
    archive.track(m)
    endpoints = {"serving_default": m}
    members = [layer for layer in m.layers if isinstance(layer, keras.Model)]
    if len(members) > 1:  # an ensemble: each member on its own too, for `model.LiteEngine`'s cascade
        endpoints |= {f"member{k}": net for k, net in enumerate(members)}
    for name, net in endpoints.items():
        archive.add_endpoint(name=name, fn=_call(net), input_signature=[spec])
    with tempfile.TemporaryDirectory(prefix="digit-watcher-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        archive.write_out(str(saved), verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=list(endpoints))
        if quantize:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        return bytes(conv.convert())


def _call(net: Any) -> Any:
    return lambda digit: net(digit, training=False)


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
