"""What the review page's corrections teach, on real drawings, on a copy of the model.

wild-dev's images are split by source repository into two halves (so the halves are drawn by
different people). Everything goes through `run --once` with the default review threshold; a
"person" (the labels) decides the review files of half A on the desk the page uses; `train
--corrections` fine-tunes a copy of the shipped model on those decisions; then both models read
half B, which nothing was trained on. The shipped model is never touched, and wild-dev never
reaches it.

    .venv/bin/python bench/finetune_demo.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from watcher import model as M  # noqa: E402
from watcher.corrections import Desk  # noqa: E402
from watcher.pipeline import prepare  # noqa: E402

EXE = [sys.executable, "-m", "watcher.cli"]
THRESHOLD = 0.85


def half(repo: str) -> str:
    return "A" if int(hashlib.sha256(repo.encode()).hexdigest(), 16) % 2 == 0 else "B"


def scores(tflite: Path, files: list[tuple[Path, str]]) -> str:
    clf = M.load(tflite, verify=False)
    right = silent = review = n = 0
    for path, label in files:
        p = prepare(str(path), 10**9, 10**9)
        if p.layout is None or not p.layout.single:
            continue
        probs = clf.predict(p.layout.first().x[None])[0]
        d, c = int(probs.argmax()), float(probs.max())
        n += 1
        right += d == int(label)
        review += c < THRESHOLD
        silent += c >= THRESHOLD and d != int(label)
    return f"{right / n:.1%} right, {review / n:.1%} to review, {silent / n:.1%} silent errors ({n} files)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    wild = a.shared / "data" / "wild-dev"
    with open(wild / "labels.csv", newline="") as fh:
        labels = list(csv.DictReader(fh))
    root = Path(tempfile.mkdtemp(prefix="finetune-demo-"))
    try:
        models, inbox, outbox = root / "models", root / "in", root / "out"
        models.mkdir()
        for f in M.SHIPPED_MODEL.parent.glob("digits.*"):
            shutil.copyfile(f, models / f.name)
        inbox.mkdir()
        for lab in labels:
            shutil.copyfile(wild / lab["file"], inbox / lab["file"])
        env = dict(os.environ, DIGIT_WATCHER_MODEL=str(models / "digits.tflite"),
                   DIGIT_WATCHER_REVIEW_THRESHOLD=str(THRESHOLD))
        subprocess.run([*EXE, "run", "--once", "--inbox", str(inbox), "--outbox", str(outbox)], check=True,
                       capture_output=True, env=env, cwd=REPO)
        by_file = {r["file"]: r for r in labels}
        desk = Desk(outbox)
        items = desk.queue()
        decided = 0
        for item in items:
            lab = by_file[item.file]
            if half(lab["repo"]) == "A":
                desk.decide(item.claim, lab["label"], "demo")
                decided += 1
        in_b = [i for i in items if half(by_file[i.file]["repo"]) == "B"]
        print(f"{len(labels)} wild-dev files, {len(items)} went to review at {THRESHOLD}; "
              f"a person decided the {decided} of half A; half B has {len(in_b)} review files")
        r = subprocess.run([*EXE, "train", "--corrections", str(outbox / "corrections.csv"), "--out", str(models),
                            "--data", str(a.shared / "data" / "mnist.npz"), "--epochs", str(a.epochs)],
                           capture_output=True, text=True, env=env, cwd=REPO)
        print(r.stdout.strip())
        if r.returncode != 0:
            sys.exit(r.stderr[-3000:])
        new = M.newest_version(models / "digits.tflite")
        half_b = [(wild / x["file"], x["label"]) for x in labels if half(x["repo"]) == "B" and x["label"] != "x"]
        review_b = [(Path(i.path), by_file[i.file]["label"]) for i in in_b if by_file[i.file]["label"] != "x"]
        for name, files in (("half B, all digits", half_b), ("half B, its review files", review_b)):
            print(f"{name}: before {scores(models / 'digits.tflite', files)}")
            print(f"{' ' * len(name)}  after  {scores(new, files)}")
        xs = [(wild / x["file"]) for x in labels if half(x["repo"]) == "B" and x["label"] == "x"]
        for tag, model in (("before", models / "digits.tflite"), ("after", new)):
            clf = M.load(model, verify=False)
            confs = [float(clf.predict(p.layout.first().x[None]).max())
                     for p in (prepare(str(f), 10**9, 10**9) for f in xs) if p.layout is not None and p.layout.single]
            print(f"half B's {len(confs)} non-digit (x) files {tag}: {np.mean(np.array(confs) < THRESHOLD):.0%} "
                  "sent to review")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
