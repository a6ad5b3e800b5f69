"""Regression bars for the shipped model, on data it never trained on: the MNIST test split,
scan-like renders of the test split, and digits real people drew (wild-dev)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import MAKE_SCANS, MNIST, SHARED, WILD, need
from watcher import evaluate as E
from watcher import model as M


@pytest.fixture(scope="module")
def clf() -> M.Classifier:
    return M.load(M.SHIPPED_MODEL)


def test_mnist_test_split(clf: M.Classifier) -> None:
    rep, *_ = E.evaluate_mnist(clf, need(MNIST), 0.9)
    # issue 3's bar; the shipped model measures 0.9964
    assert rep.accuracy >= 0.996, rep.lines()
    assert rep.ece < 0.02, rep.lines()


def test_rendered_scans_of_the_test_split(clf: M.Classifier, tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("scans")
    subprocess.run([sys.executable, str(need(MAKE_SCANS)), "--mnist", str(need(MNIST)), "--split", "test",
                    "--count", "2000", "--seed", "1", "--out", str(out)], check=True)
    rep, *_ = E.evaluate_folder(clf, out / "labels.csv", 0.9)
    assert rep.n == 2000
    assert rep.accuracy >= 0.99, rep.lines()


def test_wild_dev(clf: M.Classifier) -> None:
    rep, *_ = E.evaluate_folder(clf, need(WILD) / "labels.csv", 0.9)
    assert rep.n == 270
    assert rep.accuracy >= 0.97, rep.lines()


def test_files_not_scored_are_counted_not_ok_by_the_daemons_rule(clf: M.Classifier, tmp_path: Path) -> None:
    """A file whose label is not one digit is left out of the accuracy; the report says how
    many of them the daemon would not pass as `ok`, by its own row rule. A letter read as a digit
    with a high calibrated confidence but a low raw score goes to review, and counts."""
    import shutil

    import cv2

    data = np.load(need(MNIST))
    cv2.imwrite(str(tmp_path / "seven.png"), 255 - data["x_test"][0])  # a plain 7, labelled x: read ok
    cv2.imwrite(str(tmp_path / "two.png"), 255 - data["x_test"][1])
    # multi-dev's T: read 7 at a calibrated 0.96, raw 0.73, so in review
    shutil.copyfile(need(SHARED / "data" / "multi-dev" / "images" / "0109.png"), tmp_path / "t.png")
    (tmp_path / "labels.csv").write_text("file,label\nseven.png,x\nt.png,x\ntwo.png,2\n")
    rep, *_ = E.evaluate_folder(clf, tmp_path / "labels.csv", 0.85)
    assert (rep.n, rep.unscored) == (1, 2)
    assert rep.unscored_flagged == 1


def test_a_one_with_a_flag_is_read_as_one(clf: M.Classifier) -> None:
    """Many hands write 1 with a flag; MNIST's 1s are bare strokes, so the model read a quarter
    of them as something else (8% as 7) until the rejection stage learned them (augment.flag_one)."""
    from watcher.augment import flag_one
    from watcher.train import normalise_many

    data = np.load(need(MNIST))
    ones = data["x_test"][data["y_test"] == 1][:200]  # the test split: never trained on, flagged or not
    rng = np.random.default_rng(5)
    x, ok = normalise_many(np.stack([flag_one(d, rng) for d in ones]))
    pred = clf.predict(x[ok]).argmax(1)
    assert ok.all()
    assert (pred == 1).mean() >= 0.95  # measured 0.99 (0.985 with flags of 35-65 degrees only); the model before: 0.745


def test_a_one_whose_flag_is_nearly_flat_is_read_as_one_and_seldom_a_sure_7(clf: M.Classifier) -> None:
    """A flag 15-35 degrees below the horizontal (multi-dev's "1285" has one of about 35) is
    flatter than the rejection stage first taught: such 1s read as 1 only 66% of the time, and as a
    7 at a raw score of 0.85 or more 18%. Flags are now taught down to 22 degrees."""
    from watcher.augment import flag_one
    from watcher.train import normalise_many

    data = np.load(need(MNIST))
    ones = data["x_test"][data["y_test"] == 1][:300]
    rng = np.random.default_rng(3)
    x, ok = normalise_many(np.stack([flag_one(d, rng, angles=(15, 35)) for d in ones]))
    p = clf.predict(x[ok])
    assert ok.all()
    assert (p.argmax(1) == 1).mean() >= 0.85  # measured 0.93; the model before: 0.73
    assert ((p.argmax(1) == 7) & (p.max(1) >= 0.85)).mean() <= 0.06  # measured 0.017; before: 0.12


def test_evaluate_command_writes_pictures(tmp_path: Path) -> None:
    from conftest import EXE, REPO

    r = subprocess.run([*EXE, "evaluate", "--labels", str(need(WILD) / "labels.csv"), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    for word in ("accuracy", "calibration (ECE)", "sent to review", "per class", "not scored"):
        assert word in r.stdout
    import cv2

    for name in ("confusion.png", "misread.png"):
        img = cv2.imread(str(tmp_path / name))
        assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    assert np.isfinite(float(r.stdout.split("accuracy")[1].split()[0]))


def test_the_worst_sheet_puts_sure_misreadings_first_and_says_why_the_rest_went_to_review(
        clf: M.Classifier, tmp_path: Path) -> None:
    """`evaluate --labels`' sheet of the worst files: a file `ok` and wrong comes first (nobody
    would look at it), then files in review and failed ones, each captioned with its reason."""
    import cv2

    from watcher import compose, negatives
    from watcher.datasets import load_mnist

    data = load_mnist(need(MNIST))
    d = compose.number(data.x_test, data.y_test, np.random.default_rng(3), n=3, field="plain", touching=False)
    cv2.imwrite(str(tmp_path / "right.png"), d.image)
    cv2.imwrite(str(tmp_path / "mislabeled.png"), d.image)
    big = np.zeros((112, 112), np.uint8)
    cv2.putText(big, "K", (20, 90), cv2.FONT_HERSHEY_SIMPLEX, 2.6, 255, 8, cv2.LINE_AA)
    cv2.imwrite(str(tmp_path / "letter.png"), 255 - cv2.resize(negatives.mnist_frame(big), (140, 140)))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((140, 140), 245, np.uint8))
    wrong_text = "".join(str((int(c) + 1) % 10) for c in d.text)
    items = [(tmp_path / "right.png", d.text), (tmp_path / "mislabeled.png", wrong_text),
             (tmp_path / "letter.png", "5"), (tmp_path / "blank.png", "3")]
    rep = E.evaluate_readings(clf, items, 0.85, "worst")
    by = {x.path.name: x for x in rep.results}
    assert by["right.png"].right and by["mislabeled.png"].status == "ok"  # a sure reading, of other digits
    assert by["letter.png"].status == "review" and by["blank.png"].status == "error"
    assert [x.path.name for x in E.worst(rep)] == ["mislabeled.png", "letter.png", "blank.png"]
    assert [x.path.name for x in E.worst(rep, limit=1)] == ["mislabeled.png"]
    cell, cols = 200, 4
    drawn = cv2.imread(str(E.worst_sheet(rep, tmp_path / "worst.png", cols=cols, cell=cell)), cv2.IMREAD_GRAYSCALE)
    assert drawn is not None
    sheet = np.asarray(drawn)
    assert sheet.shape == (cell + E.CAPTION, cols * cell)
    reason_band = sheet[cell + 42:cell + E.CAPTION]  # the third caption line: why
    ink = [(reason_band[:, k * cell:(k + 1) * cell] < 160).sum() for k in range(cols)]
    assert ink[0] == 0 and ink[1] > 20 and ink[2] > 20 and ink[3] == 0  # an `ok` file has no reason; no fourth file
    tiles = [sheet[4:cell - 4, k * cell + 4:(k + 1) * cell - 4] for k in range(3)]
    assert all(t.std() > 5 for t in tiles[:2])  # the files as dropped, not blank tiles
    # a long reason is cut short to its own tile (it ran into the next file's caption)
    long = E._fit(by["letter.png"].error * 3, 0.38, cell - 8)
    assert long.endswith("...") and cv2.getTextSize(long, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)[0][0] <= cell - 8


def test_letters_and_digits_in_a_hand_no_stage_trained_on(clf: M.Classifier, tmp_path: Path) -> None:
    """The handwriting fonts held out of training (`negatives.HELD_OUT`) stand in for a hand the
    model never saw: through the daemon's reading code, its letters are seldom `ok` and its
    digits are read."""
    import cv2

    from watcher import negatives

    fonts = negatives.handwriting_fonts(held_out=True)
    if not fonts:
        pytest.skip("no held-out handwriting font installed (.ci/run installs them)")
    assert not set(fonts) & set(negatives.handwriting_fonts())  # never taught on
    rng = np.random.default_rng(11)
    items = []
    for k in range(400):
        ch = str(k // 2 % 10) if k % 2 else negatives.LETTERS[int(rng.integers(len(negatives.LETTERS)))]
        mark = negatives.mnist_frame(negatives.font_mark(ch, rng, fonts))
        path = tmp_path / f"mark{k}.png"
        cv2.imwrite(str(path), 255 - cv2.resize(mark, (112, 112), interpolation=cv2.INTER_CUBIC))
        items.append((path, ch if ch.isdigit() else ""))
    rep = E.evaluate_readings(clf, items, 0.85, "held-out fonts")
    assert rep.not_digits == 200 and rep.with_digits == 200
    # measured 16 of 200 (mostly S read 5 and b read 6: letters a hand also writes as digits) and
    # 0.975; the model before the fonts were taught: 15 and 0.965
    assert rep.not_digits_ok <= 24, rep.lines()
    assert rep.exact >= 0.95, rep.lines()
