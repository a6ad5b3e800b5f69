"""The calibration of readings of several digits (`train`'s last stage, after the rejection stage).

A file's confidence is the probability that its whole reading is right. For one digit that is the
digit's calibrated probability. For several, the product of their probabilities is far below
it (rendered numbers given 0.4 were right 92% of the time): pieces cut from a number look less
like training digits than whole digits do, and one doubtful digit among sure ones says more than
the product does. So a logistic regression on each reading's `reading.features` is fitted
on numbers rendered (`compose`) from the held-out train digits, never the test split. Status is
unchanged by it: `ok` also needs the raw scores at the threshold, which keep several-digit
readings in review as often as before (measured: the same files ok, the same silent errors).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from watcher import compose, segment
from watcher.errors import NoDigitFound
from watcher.reading import CALIBRATED_UP_TO, READING_FEATURES, Calibration, features, read


def logistic_fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Weights w minimising the log loss of sigmoid(x @ w) against y in {0, 1} (Newton's method,
    a little L2 so that separable data still gives finite weights)."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
        grad = x.T @ (p - y) + l2 * w
        hess = (x.T * (p * (1 - p))) @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def reading_examples(predict: Callable[[np.ndarray], np.ndarray], power: float, digits: np.ndarray,
                     labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, right) of the readings of several digits of n rendered numbers (2 to
    `CALIBRATED_UP_TO` digits, plain, boxed, underlined, comb cells, a third touching), read as
    the daemon reads them."""
    rng = np.random.default_rng(seed)
    layouts, wants = [], []
    for _ in range(n):
        d = compose.number(digits, labels, rng, n=int(rng.integers(2, CALIBRATED_UP_TO + 1)))
        try:
            layouts.append(segment.find(d.image))
        except NoDigitFound:
            continue
        wants.append(d.text)
    feats, right = [], []
    for r, want in zip(read(layouts, predict, Calibration(power)), wants, strict=True):
        if r is not None and 2 <= len(r.digits) <= CALIBRATED_UP_TO:
            feats.append(features([x.confidence for x in r.digits]))
            right.append(float("".join(str(x.digit) for x in r.digits) == want))
    return np.array(feats, np.float64).reshape(-1, READING_FEATURES), np.array(right)


def fit_reading(predict: Callable[[np.ndarray], np.ndarray], power: float, digits: np.ndarray, labels: np.ndarray,
                n: int = 1500, seed: int = 11) -> tuple[float, ...]:
    """The `Calibration.reading` weights for a served model (its `predict` and fitted `power`),
    from n numbers rendered from `digits` (held out from training). Empty when the examples
    are too few or all of one kind to fit on."""
    x, y = reading_examples(predict, power, digits, labels, n, seed)
    if len(y) < 50 or y.min() == y.max():
        return ()
    return tuple(round(float(v), 5) for v in logistic_fit(x, y))


def fit_served(predict: Callable[[np.ndarray], np.ndarray], xv: np.ndarray, yv: np.ndarray, x_held: np.ndarray,
               y_held: np.ndarray, n: int) -> tuple[float, tuple[float, ...]]:
    """A served model's whole calibration, as `train` and `train --corrections` fit it: the power
    that makes its scores probabilities, on held-out digits (`xv` normalised, `yv`), and the
    reading weights on n numbers rendered from held-out digits (`x_held` as MNIST gives them)."""
    from watcher.rejection import fit_power

    power = fit_power(predict(xv), yv)
    return power, fit_reading(predict, power, x_held, y_held, n=n)
