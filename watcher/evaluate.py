"""Measure a model the way users meet it: accuracy, per-class accuracy, calibration, the share
sent to review, a confusion-matrix PNG and a contact sheet of the misread images; for labelled
files, the whole reading (exact, digit-level, silent errors, review share) and a sheet of the
worst files with their boxes and readings drawn on them.

Files go through the daemon's own reading code (`pipeline`); a file with no digit found counts
as wrong (unless its label is not a digit, which is not scored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from watcher import decode
from watcher.datasets import load_labels, load_mnist
from watcher.errors import FileFailure
from watcher.model import Classifier
from watcher.pipeline import REVIEW_PREFIX, Prepared, classify, make_row, needs_review, prepare_all
from watcher.reading import Reading, calibrated
from watcher.train import calibration_error, ece, normalise_many


@dataclass
class Report:
    name: str
    n: int
    accuracy: float
    per_class: dict[int, float]
    ece: float
    review_share: float
    review_threshold: float
    accuracy_outside_review: float
    no_digit: int
    unscored: int
    unscored_flagged: int  # of the unscored (label not a digit): not `ok` by the daemon's rule (review, no digit)
    confusion: np.ndarray = field(repr=False)

    def lines(self) -> list[str]:
        out = [
            f"{self.name}: {self.n} images scored",
            f"accuracy            {self.accuracy:.4f}",
            f"calibration (ECE)   {self.ece:.4f}",
            f"sent to review      {self.review_share:.4f} (the daemon's rule at {self.review_threshold})",
            f"accuracy of the rest {self.accuracy_outside_review:.4f}",
            f"no digit found      {self.no_digit}",
            "per class           " + " ".join(f"{d}:{a:.3f}" for d, a in sorted(self.per_class.items())),
        ]
        if self.unscored:
            out.append(f"not scored (label not a digit): {self.unscored}, of which not ok (review or "
                       f"no digit, the daemon's rule): {self.unscored_flagged}")
        return out


def report(name: str, probs: np.ndarray, labels: np.ndarray, found: np.ndarray, threshold: float,
           unscored_review: np.ndarray | None = None, review: np.ndarray | None = None) -> Report:
    """`review`: the files the daemon sends to review (its row rule); by default those whose
    calibrated confidence is under the threshold. `unscored_review`: the same for the files whose
    label is not a digit."""
    pred = np.where(found, probs.argmax(1), -1)
    conf = np.where(found, probs.max(1), 0.0)
    right = pred == labels
    cm = np.zeros((10, 11), np.int64)  # last column: no digit found
    for y, p in zip(labels, pred, strict=True):
        cm[y, p if p >= 0 else 10] += 1
    per = {d: float(right[labels == d].mean()) for d in range(10) if (labels == d).any()}
    rev = conf < threshold if review is None else review
    n_unscored = 0 if unscored_review is None else len(unscored_review)
    flagged = 0 if unscored_review is None else int(unscored_review.sum())
    return Report(
        name=name, n=len(labels), accuracy=float(right.mean()), per_class=per,
        ece=ece(probs[found], labels[found]) if found.any() else 0.0,
        review_share=float(rev.mean()), review_threshold=threshold,
        accuracy_outside_review=float(right[~rev].mean()) if (~rev).any() else 0.0,
        no_digit=int((~found).sum()), unscored=n_unscored, unscored_flagged=flagged, confusion=cm,
    )


def confusion_png(rep: Report, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    cm = rep.confusion
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 3 else "black")
    ax.set_xticks(range(11), [str(d) for d in range(10)] + ["none"])
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{rep.name}: accuracy {rep.accuracy:.4f}, n={rep.n}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def contact_sheet(images: list[np.ndarray], captions: list[str], out: Path, cols: int = 12) -> None:
    """Misread images (as the model saw them, 28x28, scaled up) with 'true->predicted' captions."""
    cell = 84
    n = max(1, len(images))
    rows = (n + cols - 1) // cols
    sheet = np.full((rows * (cell + 18), cols * cell), 255, np.uint8)
    for k, (im, cap) in enumerate(zip(images, captions, strict=True)):
        r, c = divmod(k, cols)
        tile = cv2.resize((255 - np.clip(im, 0, 1) * 255).astype(np.uint8), (cell - 4, cell - 4),
                          interpolation=cv2.INTER_NEAREST)
        y, x = r * (cell + 18), c * cell
        sheet[y + 2:y + cell - 2, x + 2:x + cell - 2] = tile
        cv2.putText(sheet, cap, (x + 4, y + cell + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1, cv2.LINE_AA)
    if not images:
        cv2.putText(sheet, "no misread images", (4, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1)
    cv2.imwrite(str(out), sheet)


def _predict(clf: Classifier, x: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities, as the rows report them, and the raw scores."""
    raw = np.zeros((len(x), 10), np.float32)
    if found.any():
        raw[found] = np.concatenate([clf.predict(x[found][i:i + 2048]) for i in range(0, int(found.sum()), 2048)])
    probs = np.zeros_like(raw)
    probs[found] = calibrated(raw[found], clf.calibration.power)
    return probs, raw


Evaluation = tuple[Report, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def evaluate_mnist(clf: Classifier, npz: Path | None, threshold: float) -> Evaluation:
    """The test split: (report, normalised images, probabilities, digit-found mask, labels)."""
    data = load_mnist(npz)
    x, found = normalise_many(data.x_test)
    probs, raw = _predict(clf, x, found)
    y = data.y_test.astype(np.int64)
    review = ~found | np.array([needs_review(c, r, False, threshold) for c, r in zip(probs.max(1), raw.max(1), strict=True)])
    return report("MNIST test split", probs, y, found, threshold, review=review), x, probs, found, y


def evaluate_folder(clf: Classifier, labels_csv: Path, threshold: float,
                    max_bytes: int = 200_000_000, max_pixels: int = 200_000_000,
                    prepared: dict[str, Prepared] | None = None) -> Evaluation:
    """A folder with labels.csv, single digits, read by the daemon's reader (`pipeline`): a
    file read as one digit is scored on it (the model's full probabilities where the file is
    one digit as the single-digit reader sees it); a file read as several digits, or none,
    counts as no digit found. Labels that are not one digit are reported apart. `prepared`:
    files already prepared, by path (`evaluate --labels` prepares the scored ones first)."""
    items = load_labels(labels_csv)
    done = prepared or {}
    todo = [str(p) for p, _ in items if str(p) not in done]
    done = {**done, **dict(zip(todo, prepare_all(todo, max_bytes, max_pixels, clf.predict, clf.calibration),
                               strict=True))}
    prepared_list = [done[str(p)] for p, _ in items]
    readings = classify(prepared_list, clf.predict, clf.calibration)
    xs, found, labels, probs, review = [], [], [], [], []
    for (path, label), p, r in zip(items, prepared_list, readings, strict=True):
        review.append(make_row(path.name, "", p, r, threshold, clf.version).status != "ok")  # the daemon's row
        one = r is not None and len(r.digits) == 1
        x = p.layout.first().x if p.layout is not None and p.layout.single else (
            p.layout.whole.x if p.layout is not None and p.layout.whole is not None else np.zeros((28, 28), np.float32))
        xs.append(x)
        found.append(one)
        row = np.zeros(10, np.float32)
        if one and r is not None:
            d = r.digits[0]
            if p.layout is not None and p.layout.single:
                row = calibrated(clf.predict(x[None]), clf.calibration.power)[0]
            else:  # read through the marks: the reading's confidence, the rest spread evenly
                row[:] = (1.0 - d.confidence) / 9
                row[d.digit] = d.confidence
        probs.append(row)
        labels.append(int(label) if label.isdigit() and len(label) == 1 else -1)
    x, f, y, pr, rv = np.stack(xs), np.array(found), np.array(labels), np.stack(probs), np.array(review)
    scored = y >= 0
    rep = report(labels_csv.parent.name, pr[scored], y[scored], f[scored], threshold, rv[~scored], review=rv[scored])
    return rep, x[scored], pr[scored], f[scored], y[scored]


def write_pictures(rep: Report, x: np.ndarray, probs: np.ndarray, found: np.ndarray, labels: np.ndarray,
                   out_dir: Path, limit: int = 144) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    cm_path, sheet_path = out_dir / "confusion.png", out_dir / "misread.png"
    confusion_png(rep, cm_path)
    pred = np.where(found, probs.argmax(1), -1)
    wrong = np.flatnonzero(pred != labels)[:limit]
    caps = [f"{labels[i]}->{pred[i] if pred[i] >= 0 else '?'} {probs[i].max():.2f}" for i in wrong]
    contact_sheet([x[i] for i in wrong], caps, sheet_path)
    return cm_path, sheet_path


@dataclass
class FileResult:
    path: Path
    want: str  # the digits expected, in order; "" for a file that is not a digit
    got: str
    status: str
    confidence: float
    reading: Reading | None
    error: str

    @property
    def right(self) -> bool:
        return self.got == self.want and (self.want != "" or self.status == "error")


@dataclass
class ReadingReport:
    name: str
    files: int
    with_digits: int
    exact: float  # share of files with digits read exactly (the sequence of digits)
    digit_accuracy: float  # 1 - edit distance / digits expected, over files with digits
    silent: float  # share of all files with status ok and a wrong reading
    review: float  # share of all files sent to review
    errors: int
    not_digits: int
    not_digits_ok: int
    ece_single: float  # calibration on files of one digit read as one digit
    ece_several: float  # calibration on files of several digits read as several
    results: list[FileResult] = field(repr=False, default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"{self.name}: {self.files} files, {self.with_digits} with digits, {self.not_digits} not digits",
            f"exact reading       {self.exact:.4f}",
            f"digit accuracy      {self.digit_accuracy:.4f} (1 - edit distance / digits)",
            f"silent errors       {self.silent:.4f} (status ok, reading wrong)",
            f"sent to review      {self.review:.4f}",
            f"errors (no digit)   {self.errors}",
            f"not digits ok       {self.not_digits_ok} of {self.not_digits}",
            f"calibration (ECE) of single digits {self.ece_single:.4f}",
            f"calibration (ECE) of readings of several digits {self.ece_several:.4f}",
        ]


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def text_labels(labels_csv: Path) -> list[tuple[Path, str]]:
    """(file, expected digits) from a labels CSV with a `text` column (and `kind`: nondigit files
    expect nothing) or a `label` column (a digit, or anything else for "not a digit"). Files whose
    reading is marked doubtful (`doubt` = x), labelled `x` in a `label` column (wild-dev's mark for
    "ambiguous, several digits, a letter or not a digit: not scored") or not transcribed are left out."""
    import csv

    with open(labels_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        if "text" in r:
            if (r.get("doubt") or "").strip() == "x":
                continue
            want = "".join(ch for ch in r["text"] if ch.isdigit())
            if not want and r.get("kind", "") != "nondigit":
                continue  # too long to transcribe
        else:
            lab = r["label"].strip()
            if lab == "x":
                continue
            want = lab if lab.isdigit() else ""
        out.append((labels_csv.parent / r["file"], want))
    return out


def evaluate_readings(clf: Classifier, items: list[tuple[Path, str]], threshold: float, name: str,
                      max_bytes: int = 200_000_000, max_pixels: int = 200_000_000, one_digit: bool = False,
                      prepared: list[Prepared] | None = None) -> ReadingReport:
    """Every file through the daemon's reading code and row rules; scored on its whole reading."""
    prepared = prepared or prepare_all([str(p) for p, _ in items], max_bytes, max_pixels, clf.predict, clf.calibration)
    readings = classify(prepared, clf.predict, clf.calibration)
    results = []
    for (path, want), p, r in zip(items, prepared, readings, strict=True):
        row = make_row(path.name, "", p, r, threshold, clf.version, one_digit=one_digit)
        got = "".join(ch for ch in row.text if ch.isdigit()) if row.status != "error" else ""
        results.append(FileResult(path, want, got, row.status, float(row.confidence or 0), r, row.error))
    digits = [x for x in results if x.want]
    nd = [x for x in results if not x.want]
    single = [x for x in digits if len(x.want) == 1 and len(x.got) == 1]
    conf = np.array([x.confidence for x in single])
    right = np.array([x.got == x.want for x in single])
    ece_single = calibration_error(conf, right) if len(single) else float("nan")
    several = [x for x in digits if len(x.want) > 1 and len(x.got) > 1]
    ece_several = (calibration_error(np.array([x.confidence for x in several]), np.array([x.got == x.want for x in several]))
                   if several else float("nan"))
    n = max(1, len(results))
    return ReadingReport(
        name, len(results), len(digits),
        exact=float(np.mean([x.got == x.want for x in digits])) if digits else float("nan"),
        digit_accuracy=1.0 - sum(edit_distance(x.got, x.want) for x in digits) / max(1, sum(len(x.want) for x in digits)),
        silent=sum(1 for x in results if x.status == "ok" and not x.right) / n,
        review=sum(1 for x in results if x.status == "review") / n,
        errors=sum(1 for x in results if x.status == "error"),
        not_digits=len(nd), not_digits_ok=sum(1 for x in nd if x.status == "ok"),
        ece_single=ece_single, ece_several=ece_several, results=results)


def worst(rep: ReadingReport, limit: int = 24) -> list[FileResult]:
    """The files read wrong, worst first: `ok` and wrong (the surest first: what nobody would
    look at), then the rest, surest first."""
    wrong = [x for x in rep.results if not x.right]
    wrong.sort(key=lambda x: (x.status != "ok", -x.confidence))
    return wrong[:limit]


#: The captions under each file of the worst sheet: name, status and confidence; what was wanted
#: and read; why it went to review or failed
CAPTION = 64


def worst_sheet(rep: ReadingReport, out: Path, limit: int = 24, cols: int = 4, cell: int = 320) -> Path:
    """The worst files (`worst`) as they were dropped, with every digit's box and reading drawn on
    them, the expected reading below, and why each went to review or failed."""
    picked = worst(rep, limit)
    rows = max(1, (len(picked) + cols - 1) // cols)
    sheet = np.full((rows * (cell + CAPTION), cols * cell, 3), 255, np.uint8)
    for k, x in enumerate(picked):
        r, c = divmod(k, cols)
        y0, x0 = r * (cell + CAPTION), c * cell
        try:
            _, img = decode.load(str(x.path), 200_000_000, 200_000_000)
            tile = _draw(img, x.reading, cell - 8)
        except (FileFailure, ValueError, cv2.error):
            tile = np.full((cell - 8, cell - 8, 3), 200, np.uint8)
        sheet[y0 + 4:y0 + 4 + tile.shape[0], x0 + 4:x0 + 4 + tile.shape[1]] = tile
        captions = ((f"{x.path.name} {x.status} {x.confidence:.2f}", 0.42, (0, 0, 0)),
                    (f"want {x.want or '(none)'} got {x.got or '-'}", 0.42, (0, 0, 160)),
                    (x.error.removeprefix(REVIEW_PREFIX), 0.38, (90, 90, 90)))
        for line, (text, size, colour) in enumerate(captions):
            cv2.putText(sheet, _fit(text, size, cell - 8), (x0 + 4, y0 + cell + 14 + 20 * line),
                        cv2.FONT_HERSHEY_SIMPLEX, size, colour, 1, cv2.LINE_AA)
    if not picked:
        cv2.putText(sheet, "every file read right", (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet)
    return out


def _fit(text: str, size: float, width: int) -> str:
    """`text` cut short ("...") to fit `width` pixels in OpenCV's simplex font at `size`."""
    def wide(t: str) -> int:
        return int(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, size, 1)[0][0])

    if wide(text) <= width:
        return text
    while text and wide(text + "...") > width:
        text = text[:-1]
    return text + "..."


def _draw(img: np.ndarray, r: Reading | None, side: int) -> np.ndarray:
    """The picture scaled to fit `side`, with each digit's box and reading on it."""
    from watcher.normalise import to_grey

    g = (to_grey(img) * 255).astype(np.uint8)
    h, w = g.shape
    f = side / max(h, w)
    small = cv2.resize(g, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    out = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    for d in r.digits if r is not None else []:
        x, y, bw, bh = (round(v * f) for v in d.box)
        colour = (0, 150, 0) if d.confidence >= 0.9 else (0, 140, 255) if d.confidence >= 0.5 else (0, 0, 230)
        cv2.rectangle(out, (x, y), (x + bw, y + bh), colour, 1)
        cv2.putText(out, str(d.digit), (x, max(10, y - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out
