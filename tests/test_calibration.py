"""Calibration helpers on synthetic predictions with known answers (no TensorFlow)."""

from __future__ import annotations

import numpy as np

from watcher.train import ece, fit_temperature, suggest_threshold


def synthetic(n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits from a known calibrated model: the true class's logit is drawn so that the
    probabilities, at temperature 1, are exactly right on average."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (n, 10)) * 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=p) for p in probs])
    return logits, labels


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_ece_is_small_for_a_calibrated_model_and_large_for_an_overconfident_one() -> None:
    logits, labels = synthetic()
    assert ece(softmax(logits), labels) < 0.02
    assert ece(softmax(logits * 4), labels) > 0.1


def test_temperature_recovers_the_scale_of_an_overconfident_model() -> None:
    logits, labels = synthetic()
    t = fit_temperature(logits * 3.0, labels)
    assert 2.6 < t < 3.4
    assert ece(softmax(logits * 3.0 / t), labels) < 0.02


def test_suggested_threshold_keeps_the_error_of_accepted_rows_below_the_bound() -> None:
    logits, labels = synthetic()
    probs = softmax(logits)
    t = suggest_threshold(probs, labels, max_error=0.05)
    kept = probs.max(1) >= t
    assert 1 - (probs.argmax(1)[kept] == labels[kept]).mean() <= 0.05
    lower = probs.max(1) >= t - 0.05
    assert 1 - (probs.argmax(1)[lower] == labels[lower]).mean() > 0.05  # and it is the lowest such step


def test_logistic_fit_recovers_known_weights() -> None:
    from watcher.calibrate import logistic_fit

    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(0, 1, (20000, 2)), np.ones(20000)])
    w = np.array([1.5, -2.0, 0.5])
    y = (rng.random(20000) < 1 / (1 + np.exp(-x @ w))).astype(float)
    assert np.allclose(logistic_fit(x, y), w, atol=0.1)


def test_a_reading_without_fitted_weights_keeps_the_product() -> None:
    from watcher.reading import READING_FEATURES, Calibration, features

    assert abs(Calibration().of_reading([0.9, 0.8]) - 0.72) < 1e-9
    assert abs(Calibration(reading=(1.0, 2.0, 3.0)).of_reading([0.9, 0.8]) - 0.72) < 1e-9  # weights of another shape
    w = (0.5, 2.0, -0.1, 3.0)
    assert len(features([0.9, 0.8])) == len(w) == READING_FEATURES
    z = 0.5 * np.log(0.72) + 2.0 * np.log(0.8 / 0.2) - 0.1 * 2 + 3.0  # the least confidence as log odds
    assert abs(Calibration(reading=w).of_reading([0.9, 0.8]) - 1 / (1 + np.exp(-z))) < 1e-9
    page = [0.99] * 600
    assert abs(Calibration(reading=w).of_reading(page) - float(np.prod(page))) < 1e-12  # beyond what the fit covers


def test_a_model_fitted_on_the_log_product_alone_keeps_its_calibration() -> None:
    """A model trained before the least confidence and the count were features has two weights:
    they still apply to the log product, as they were fitted."""
    from watcher.reading import LEGACY_FEATURES, Calibration

    w = (0.5, 2.0)
    assert len(w) == LEGACY_FEATURES
    assert abs(Calibration(reading=w).of_reading([0.9, 0.8]) - 1 / (1 + np.exp(-(0.5 * np.log(0.72) + 2.0)))) < 1e-9


def test_the_least_confidence_lowers_a_reading_more_than_the_same_product_spread_evenly() -> None:
    """One doubtful digit is what makes a reading wrong: with the shipped weights, a reading of
    one 0.6 among sure digits is given less than one whose digits share the same product."""
    from watcher.model import SHIPPED_MODEL, calibration

    cal = calibration(SHIPPED_MODEL)
    one_doubt = [1.0, 1.0, 0.6, 1.0]
    even = [0.6 ** 0.25] * 4
    assert abs(float(np.prod(one_doubt)) - float(np.prod(even))) < 1e-9
    assert cal.of_reading(one_doubt) < cal.of_reading(even)
    assert cal.of_reading([1.0] * 3) > 0.95  # sure readings: right 98.4% of the time on the rendered sets
