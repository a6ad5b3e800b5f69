"""The one-shot commands: predict, train (a tiny slice), and their error messages."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import numpy as np

from conftest import EXE, MNIST, REPO, need, write_digits
from watcher.results import COLUMNS


def test_predict_prints_one_row_per_file(tmp_path: Path, mnist: dict[str, np.ndarray]) -> None:
    names = write_digits(tmp_path, mnist["x_test"][:8])
    (tmp_path / "junk.png").write_bytes(b"junk")
    files = [str(tmp_path / n) for n in names] + [str(tmp_path / "junk.png")]
    r = subprocess.run([*EXE, "predict", *files], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 1  # one file was an error
    got = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(got[0]) == COLUMNS and len(got) == 9
    assert [g["file"] for g in got] == files
    assert sum(g["digit"] == str(y) for g, y in zip(got, mnist["y_test"][:8], strict=False)) >= 7
    assert got[-1]["status"] == "error" and got[-1]["error"] == "not an image (unknown file format)"
    assert all(n in [str(tmp_path / n) for n in names] for n in [g["file"] for g in got[:8]])


def test_train_on_a_tiny_slice_saves_a_loadable_model_and_metrics(tmp_path: Path) -> None:
    out = tmp_path / "m" / "tiny.keras"
    cmd = [*EXE, "train", "--data", str(need(MNIST)), "--out", str(out), "--epochs", "2", "--limit", "4000"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "test accuracy" in r.stdout and out.is_file()
    metrics = json.loads(out.with_suffix(".json").read_text())
    assert metrics["epochs"] == 2 and metrics["seed"] == 1 and 0.0 <= metrics["mnist_test_accuracy"] <= 1.0
    # the recipe's two members, each saved with its own figures, averaged into the one model
    members = metrics["members"]
    assert [(m["seed"], m["render_share"], m["epochs"], m["limit"]) for m in members] == [(1, 0.4, 2, 4000), (2, 0.25, 2, 4000)]
    assert all(Path(m["model"]).is_file() and Path(m["model"]).parent == out.parent / "tiny.members" for m in members)
    assert members[0]["train_images"] > members[1]["train_images"]  # 40% of the digits rendered vs 25%
    assert all(m["temperature"] > 0 for m in members) and metrics["version"].startswith("tiny-")
    # ...and exported for serving, with its own figure on the test split (int8 weights: near the Keras one)
    served = out.with_suffix(".tflite")
    assert metrics["served"] == str(served) and served.is_file() and metrics["served_version"].startswith("tiny-")
    assert abs(metrics["served_mnist_test_accuracy"] - metrics["mnist_test_accuracy"]) < 0.02
    # it learned something from 3,000 digits in two epochs (chance is 0.10 +- 0.003 on 10,000 digits;
    # batch-norm statistics are still warming up, so a short run stays far below the real model)
    assert metrics["mnist_test_accuracy"] > 0.15
    # the saved file loads in safe mode and predicts
    img = tmp_path / "one.png"
    write_digits(tmp_path, np.load(MNIST)["x_test"][:1])
    (tmp_path / "d00000.png").rename(img)
    for model, version in ((out, metrics["version"]), (served, metrics["served_version"])):
        p = subprocess.run([*EXE, "predict", "--model", str(model), str(img)], capture_output=True, text=True, cwd=REPO)
        assert p.returncode == 0, p.stderr
        assert next(iter(csv.DictReader(io.StringIO(p.stdout))))["model_version"] == version
    # a second run finds both members finished and only rebuilds the ensemble
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (again.stdout + again.stderr).count("reusing") == 2
    assert json.loads(out.with_suffix(".json").read_text())["members"] == members


def test_train_with_a_missing_data_file_says_so(tmp_path: Path) -> None:
    r = subprocess.run([*EXE, "train", "--data", str(tmp_path / "no.npz"), "--out", str(tmp_path / "m.keras")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 5 and "MNIST file not found" in r.stderr
