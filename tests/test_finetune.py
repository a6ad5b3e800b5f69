"""`train --corrections`: decisions made on the review queue fine-tune a copy of the served model,
the new version is picked up by a running daemon, and a model made worse is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import EXE, MNIST, REPO, DaemonProc, need, write_digits
from watcher import finetune as F
from watcher.corrections import Desk
from watcher.model import SHIPPED_MODEL, calibration
from watcher.reading import READING_FEATURES


def test_held_out_split_targets_and_scoring() -> None:
    claims = [f"c{i}" for i in range(1000)]
    share = sum(F.held_out(c) for c in claims) / len(claims)
    assert 0.15 < share < 0.25
    assert [F.held_out(c) for c in claims] == [F.held_out(c) for c in claims]
    t = F.targets(np.array([3, -1]))
    assert t[0].argmax() == 3 and t[0].sum() == 1 and np.allclose(t[1], 0.1)
    probs = np.array([[0.0] * 3 + [0.9] + [0.1 / 6] * 6, [0.5] + [0.5 / 9] * 9])
    assert F.right_share(probs, np.array([3, -1]), 0.85) == 1.0  # the non-digit goes to review
    assert F.right_share(probs, np.array([2, -1]), 0.4) == 0.0


@pytest.mark.slow
def test_corrections_fine_tune_a_version_a_running_daemon_picks_up_and_a_worse_one_is_refused(
        tmp_path: Path, mnist: dict[str, np.ndarray]) -> None:
    inbox, outbox, models = tmp_path / "in", tmp_path / "out", tmp_path / "models"
    models.mkdir()
    for f in SHIPPED_MODEL.parent.glob("digits.*"):
        shutil.copyfile(f, models / f.name)
    names = write_digits(inbox, mnist["x_test"][100:160], prefix="n")
    truth = {n: str(mnist["y_test"][100 + i]) for i, n in enumerate(names)}
    for k, letter in enumerate("ABEFHKMRWY"):  # not digits
        canvas = np.full((64, 48), 255, np.uint8)
        cv2.putText(canvas, letter, (4, 52), cv2.FONT_HERSHEY_SIMPLEX, 1.9, 0, 5, cv2.LINE_AA)
        cv2.imwrite(str(inbox / f"letter{k}.png"), canvas)
        truth[f"letter{k}.png"] = "x"
    env = {"DIGIT_WATCHER_REVIEW_THRESHOLD": "1", "DIGIT_WATCHER_MODEL": str(models / "digits.tflite"),
           "DIGIT_WATCHER_MODEL_POLL_S": "1"}
    r = subprocess.run([*EXE, "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, **env))
    assert r.returncode == 0, r.stderr[-2000:]
    desk = Desk(outbox)
    items = desk.queue()
    assert len(items) > 50  # all but the few read at a confidence of exactly 1
    for item in items:  # a person decides every file
        desk.decide(item.claim, truth[item.file], "test")
    train, hold = F.examples(outbox / "corrections.csv")
    assert len(train.y) + len(hold.y) == len(items) and len(hold.y) > 0
    assert (train.y == -1).sum() + (hold.y == -1).sum() == sum(truth[i.file] == "x" for i in items) > 0

    daemon = DaemonProc(tmp_path / "in2", tmp_path / "out2", env=env)
    try:
        daemon.wait_ready()
        common = ["train", "--corrections", str(outbox / "corrections.csv"), "--out", str(models),
                  "--data", str(need(MNIST)), "--limit", "3000", "--epochs", "1"]
        r = subprocess.run([*EXE, *common], cwd=REPO, capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, **env))
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"corrections {len(items)}: trained on {len(train.y)}, held back {len(hold.y)}" in r.stdout
        assert "held-back corrections right: before" in r.stdout and "MNIST test accuracy: serving 0.99" in r.stdout
        new = models / "2" / "digits.tflite"
        assert new.is_file() and f"wrote {new}" in r.stdout
        # served calibrated, as the shipped model is (raw scores are less sure than they are right)
        cal = calibration(new)
        assert 1.2 < cal.power < 3.0 and len(cal.reading) == READING_FEATURES
        end = time.time() + 30
        while "model swapped" not in daemon.output() and time.time() < end:
            time.sleep(0.2)
        assert "model swapped" in daemon.output()  # served without a restart
        # a fine-tune that wrecks the model is refused: nothing written, exit 6
        r = subprocess.run([*EXE, *common, "--lr", "0.05"], cwd=REPO, capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, **env))
        assert r.returncode == 6, r.stdout + r.stderr[-2000:]
        assert "refused: MNIST test accuracy would fall" in r.stdout
        assert sorted(p.name for p in models.iterdir() if p.is_dir()) == ["2"]
        assert daemon.p.poll() is None
    finally:
        daemon.stop()
