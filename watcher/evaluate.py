"""Measure a model the way users meet it: accuracy, per-class accuracy, calibration, the share
sent to review, a confusion-matrix PNG and a contact sheet of the misread images.

Images go through the same `normalise` as in the daemon; a file with no digit found counts as
wrong (unless its label is not a digit, which is not scored).
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
from watcher.normalise import normalise
from watcher.train import ece, normalise_many


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
    unscored_flagged: int  # of the unscored (label not a digit): sent to review or "no digit"
    confusion: np.ndarray = field(repr=False)

    def lines(self) -> list[str]:
        out = [
            f"{self.name}: {self.n} images scored",
            f"accuracy            {self.accuracy:.4f}",
            f"calibration (ECE)   {self.ece:.4f}",
            f"sent to review      {self.review_share:.4f} (confidence < {self.review_threshold})",
            f"accuracy of the rest {self.accuracy_outside_review:.4f}",
            f"no digit found      {self.no_digit}",
            "per class           " + " ".join(f"{d}:{a:.3f}" for d, a in sorted(self.per_class.items())),
        ]
        if self.unscored:
            out.append(f"not scored (label not a digit): {self.unscored}, of which flagged for review "
                       f"or no digit: {self.unscored_flagged}")
        return out


def report(name: str, probs: np.ndarray, labels: np.ndarray, found: np.ndarray, threshold: float,
           unscored_probs: np.ndarray | None = None, unscored_found: np.ndarray | None = None) -> Report:
    pred = np.where(found, probs.argmax(1), -1)
    conf = np.where(found, probs.max(1), 0.0)
    right = pred == labels
    cm = np.zeros((10, 11), np.int64)  # last column: no digit found
    for y, p in zip(labels, pred, strict=True):
        cm[y, p if p >= 0 else 10] += 1
    per = {d: float(right[labels == d].mean()) for d in range(10) if (labels == d).any()}
    rev = conf < threshold
    flagged = 0
    n_unscored = 0
    if unscored_probs is not None and unscored_found is not None:
        n_unscored = len(unscored_found)
        flagged = int((~unscored_found | (unscored_probs.max(1) < threshold)).sum())
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


def _predict(clf: Classifier, x: np.ndarray, found: np.ndarray) -> np.ndarray:
    probs = np.zeros((len(x), 10), np.float32)
    if found.any():
        probs[found] = np.concatenate([clf.predict(x[found][i:i + 2048]) for i in range(0, int(found.sum()), 2048)])
    return probs


Evaluation = tuple[Report, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def evaluate_mnist(clf: Classifier, npz: Path | None, threshold: float) -> Evaluation:
    """The test split: (report, normalised images, probabilities, digit-found mask, labels)."""
    data = load_mnist(npz)
    x, found = normalise_many(data.x_test)
    probs = _predict(clf, x, found)
    y = data.y_test.astype(np.int64)
    return report("MNIST test split", probs, y, found, threshold), x, probs, found, y


def evaluate_folder(clf: Classifier, labels_csv: Path, threshold: float,
                    max_bytes: int = 200_000_000, max_pixels: int = 200_000_000) -> Evaluation:
    """A folder with labels.csv; labels that are not one digit are reported apart, not scored."""
    items = load_labels(labels_csv)
    xs, found, labels, unscored = [], [], [], []
    for path, label in items:
        try:
            _, img = decode.load(str(path), max_bytes, max_pixels)
            xs.append(normalise(img))
            found.append(True)
        except FileFailure:
            xs.append(np.zeros((28, 28), np.float32))
            found.append(False)
        is_digit = label.isdigit() and len(label) == 1
        labels.append(int(label) if is_digit else -1)
        if not is_digit:
            unscored.append(len(labels) - 1)
    x, f, y = np.stack(xs), np.array(found), np.array(labels)
    probs = _predict(clf, x, f)
    scored = y >= 0
    rep = report(labels_csv.parent.name, probs[scored], y[scored], f[scored], threshold,
                 probs[~scored], f[~scored])
    return rep, x[scored], probs[scored], f[scored], y[scored]


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
