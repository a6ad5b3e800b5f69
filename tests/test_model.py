"""The served model: the LiteRT engine against the Keras network it was exported from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from watcher import model as M
from watcher.errors import ModelError
from watcher.normalise import normalise


@pytest.fixture(scope="module")
def digits(mnist: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([normalise(255 - im) for im in mnist["x_test"][:600]])
    return x, mnist["y_test"][:600]


def test_an_answer_does_not_depend_on_batch_size_or_batch_mates(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    clf = M.load(M.SHIPPED_MODEL, max_batch=64)
    assert clf.engine.buckets == [1, 2, 4, 8, 16, 32, 64]  # type: ignore[attr-defined]
    whole = clf.predict(x)  # 600 > 64: run in chunks of 64, the last one padded
    assert whole.shape == (600, 10) and np.allclose(whole.sum(1), 1, atol=1e-3)
    one_by_one = np.concatenate([clf.predict(x[i:i + 1]) for i in range(0, 40)])
    odd = clf.predict(x[:37])  # padded up to 64 with blank digits
    shuffled = clf.predict(x[::-1][-40:][::-1])  # the same 40 again, after other work
    assert np.array_equal(whole[:40], one_by_one) and np.array_equal(odd, whole[:37])
    assert np.array_equal(shuffled, whole[:40])
    # a huge batch_max does not make huge interpreters: buckets stop at 512, bigger batches are sliced
    big = M.load(M.SHIPPED_MODEL, max_batch=4096)
    assert big.engine.buckets[-1] == 512  # type: ignore[attr-defined]
    assert np.array_equal(big.predict(np.concatenate([x, x])), np.concatenate([whole, whole]))


def test_served_file_reads_like_the_keras_network(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    lite, keras_ = M.load(M.SHIPPED_MODEL, second_below=1.0), M.load(M.SHIPPED_KERAS, keras_engine=True)
    p, q = lite.predict(x), keras_.predict(x)
    # int8 weights move a probability by a few hundredths at most, and almost never the answer
    assert np.abs(p - q).max() < 0.1
    assert (p.argmax(1) != q.argmax(1)).sum() <= 1
    assert (p.argmax(1) == y).mean() >= 0.99
    assert lite.version.startswith("digits-") and lite.version != keras_.version


def test_the_cascade_gives_the_ensembles_answer_and_skips_the_second_network_when_sure(
        digits: tuple[np.ndarray, np.ndarray]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    x, y = digits
    content = M.SHIPPED_MODEL.read_bytes()
    it = Interpreter(model_content=content)
    assert {"serving_default", "member0", "member1"} <= set(it.get_signature_list())

    def graph(key: str) -> np.ndarray:
        out = it.get_signature_runner(key)(digit=x[..., None])
        return np.asarray(next(iter(out.values())))

    whole, first = graph("serving_default"), graph("member0")
    both = M.LiteEngine(content, threads=1, max_batch=64, second_below=1.0)
    assert both.members == ["member0", "member1"]
    assert np.abs(both(x[..., None]) - whole).max() < 1e-6  # every member, every image: the exported ensemble
    cascade = M.LiteEngine(content, threads=1, max_batch=64, second_below=M.SECOND_BELOW)(x[..., None])
    sure = first.max(1) >= M.SECOND_BELOW
    assert 0.5 < sure.mean() < 1.0
    assert np.array_equal(cascade[sure], first[sure])  # the first network alone where it is sure
    assert np.abs(cascade[~sure] - whole[~sure]).max() < 1e-6  # the ensemble's answer elsewhere
    assert np.array_equal(cascade.argmax(1), whole.argmax(1))
    assert (cascade.argmax(1) == y).mean() >= 0.99


def test_a_bad_model_file_is_named_and_refused(tmp_path: Path) -> None:
    bad = tmp_path / "junk.tflite"
    bad.write_bytes(b"TFL3 not really" * 50)
    with pytest.raises(ModelError, match=r"junk\.tflite"):
        M.load(bad)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"neither a \.tflite nor a \.keras"):
        M.load(other)


def test_export_writes_a_file_that_loads_and_matches_the_shipped_one(tmp_path: Path,
                                                                    digits: tuple[np.ndarray, np.ndarray]) -> None:
    from watcher.export import export

    out = export(M.SHIPPED_KERAS, tmp_path / "again.tflite")
    x, _ = digits
    assert out.stat().st_mode & 0o044  # readable by the service user: not mkstemp's 0600
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    again, shipped = M.load(out).predict(x), M.load(M.SHIPPED_MODEL).predict(x)
    # the same graph and weights: the same digit everywhere, the scores within the rounding of the
    # constants the converter folds, which differs between CPUs (TensorFlow 2.21 both times: 428 of
    # 998,072 bytes differ on one machine, up to 3.7e-4 in a score; byte for byte on another)
    assert len(out.read_bytes()) == len(M.SHIPPED_MODEL.read_bytes())
    assert (again.argmax(axis=1) == shipped.argmax(axis=1)).all()
    assert np.allclose(again, shipped, atol=1e-3)
