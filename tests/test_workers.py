"""The worker pool on its own: real processes, real files, the shipped model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import write_digits
from watcher import model as M
from watcher.normalise import normalise
from watcher.reading import calibrated
from watcher.workers import Model, WorkerPool


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    p = WorkerPool(2, 10_000_000, 10_000_000, batch_max=64)
    yield p
    p.shutdown()


def test_workers_classify_as_the_daemon_would(tmp_path: Path, mnist: dict[str, np.ndarray], pool: WorkerPool) -> None:
    names = write_digits(tmp_path, mnist["x_test"][:100])
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    paths = [str(tmp_path / n) for n in names] + [str(tmp_path / "junk.png")]
    clf = M.load(M.SHIPPED_MODEL)
    assert clf.content is not None
    pool.warm(Model.serving(clf))
    got = pool.collect(pool.submit(paths, Model.serving(clf)))
    assert len(got) == 101
    # only answers come back, and they are the in-process model's, calibrated as the reader reports
    # them (one thread there, two here)
    probs = calibrated(clf.predict(np.stack([normalise(255 - im) for im in mnist["x_test"][:100]])), clf.calibration.power)
    for p, pr in zip(got[:100], probs, strict=True):
        assert p.layout is None and p.error == "" and p.reading is not None
        d = p.reading.digits[0]
        assert d.digit == int(pr.argmax()) and abs(d.confidence - float(pr.max())) < 1e-6
    assert np.mean([p.reading.digits[0].digit for p in got[:100] if p.reading] == mnist["y_test"][:100]) >= 0.98
    assert got[100].reading is None and got[100].layout is None and "not an image" in got[100].error


def test_without_a_model_or_with_one_they_cannot_load_files_come_back_to_be_classified(
        tmp_path: Path, mnist: dict[str, np.ndarray], pool: WorkerPool) -> None:
    names = write_digits(tmp_path, mnist["x_test"][:20])
    paths = [str(tmp_path / n) for n in names]
    for model in (None, Model("broken-1", b"TFL3 this is no model", 1.0)):
        got = pool.collect(pool.submit(paths, model))
        assert all(p.reading is None and p.layout is not None for p in got)
        lay = got[3].layout
        assert lay is not None and lay.single
        assert np.array_equal(lay.first().x, normalise(255 - mnist["x_test"][3]))
