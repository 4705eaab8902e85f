"""How sure is the model? Calibration, temperature scaling, and abstaining.

Lab 11 uses these around the code the learner writes:

* :func:`reliability_table` bins predictions by their confidence (the probability the
  model gave its top class) and compares, in each bin, the mean confidence with the
  share of predictions that were right: a **reliability diagram** in a table. A
  calibrated model's predictions made with confidence 0.7 are right 70% of the time.
* :func:`expected_calibration_error`, the reference the lab's checks compare the
  learner's with: the bins' gaps between accuracy and confidence, weighted by the share
  of predictions in each bin. The tests compare it with scikit-learn's
  :func:`~sklearn.calibration.calibration_curve`.
* :func:`softmax`, :func:`negative_log_likelihood` and :func:`fit_temperature`:
  **temperature scaling** divides a model's logits by one number ``T`` fitted on
  validation data by minimising the negative log-likelihood. ``T > 1`` softens an
  overconfident model; the ranking of the classes, and so the accuracy, never changes.
  The tests compare it with the same fit done by torch.
* :func:`coverage_risk`, the **coverage-risk curve** of a model that answers only when
  its confidence reaches a threshold: for each threshold, the share of cases answered
  (coverage) and the error rate among them (risk).

Logits here are any scores whose softmax is the model's predicted distribution; for a
classifier that only gives probabilities, their logarithms are its logits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_int

__all__ = ["coverage_risk", "expected_calibration_error", "fit_temperature",
           "negative_log_likelihood", "reliability_table", "softmax"]


def _confidence_and_correct(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence)
    if conf.ndim != 1 or conf.size == 0:
        raise ValueError("confidence must be a non-empty 1-d array (one value per "
                         f"prediction), got shape {conf.shape}.")
    if conf.dtype.kind not in "biuf":
        raise TypeError(f"confidence must hold numbers, got dtype {conf.dtype}.")
    conf = conf.astype(float)
    if not np.all(np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1:
        raise ValueError("confidence must hold probabilities in [0, 1] (no NaN).")
    right = np.asarray(correct)
    if right.shape != conf.shape:
        raise ValueError(f"correct must have one entry per prediction: confidence has "
                         f"shape {conf.shape}, correct {right.shape}.")
    if right.dtype != bool:
        if right.dtype.kind not in "biuf" or not np.isin(right, (0, 1)).all():
            raise ValueError("correct must hold True/False or 0/1 (was each prediction "
                             "right?).")
        right = right.astype(bool)
    return conf, right


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    # Bins [0, 1/n), [1/n, 2/n), ..., [(n-1)/n, 1]: bin k holds k/n <= c < (k+1)/n,
    # and a confidence of exactly 1 joins the last bin.
    return np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)


def reliability_table(confidence: Any, correct: Any, *, n_bins: int = 10) -> pd.DataFrame:
    """Predictions binned by confidence: how often each bin's predictions were right.

    Bins are ``n_bins`` equal-width intervals of [0, 1], closed on the left:
    ``[0, 0.1), [0.1, 0.2), ..., [0.9, 1]`` for ten bins (a confidence of exactly 1
    goes to the last bin), as in :func:`numpy.histogram`. The edges are those of
    scikit-learn's :func:`~sklearn.calibration.calibration_curve` with
    ``strategy="uniform"``, which puts a confidence that falls exactly on an inner edge
    in the bin below it (version 1.9); elsewhere the two agree.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        The probability the model gave its predicted class, in [0, 1].
    correct : array-like of shape (n,)
        Whether each prediction was right (bool or 0/1).
    n_bins : int
        Number of bins, at least 1.

    Returns
    -------
    pandas.DataFrame
        One row per bin, empty bins included: ``lower``, ``upper``, ``count``,
        ``share`` (of all predictions), ``confidence`` (mean, NaN when empty),
        ``accuracy`` (NaN when empty) and ``gap`` (accuracy minus confidence).

    Examples
    --------
    >>> table = reliability_table([0.95, 0.9, 0.35, 0.3], [True, False, True, False],
    ...                           n_bins=2)
    >>> table[["lower", "count", "confidence", "accuracy"]].round(3).to_dict("list")
    {'lower': [0.0, 0.5], 'count': [2, 2], 'confidence': [0.325, 0.925], 'accuracy': [0.5, 0.5]}
    """
    conf, right = _confidence_and_correct(confidence, correct)
    n_bins = check_int("n_bins", n_bins, minimum=1)
    index = _bin_index(conf, n_bins)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=right.astype(float), minlength=n_bins) / count
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": count,
                         "share": count / conf.size, "confidence": mean_conf,
                         "accuracy": accuracy, "gap": accuracy - mean_conf})


def expected_calibration_error(confidence: Any, correct: Any, *, n_bins: int = 10) -> float:
    """Expected calibration error: the bins' |accuracy - confidence|, weighted by size.

    ``ECE = sum over bins of (n_b / n) * |accuracy_b - confidence_b|``, with the bins of
    :func:`reliability_table`; empty bins add nothing.

    Examples
    --------
    >>> round(expected_calibration_error([0.95, 0.9, 0.35, 0.3],
    ...                                  [True, False, True, False], n_bins=2), 4)
    0.3
    """
    table = reliability_table(confidence, correct, n_bins=n_bins)
    full = table[table["count"] > 0]
    return float(np.sum(full["share"] * np.abs(full["gap"])))


def _logits(logits: Any) -> np.ndarray:
    z = np.asarray(logits)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise ValueError("logits must be a 2-d array, one row per case and one column per "
                         f"class (at least 2), got shape {z.shape}.")
    if z.dtype.kind not in "biuf":
        raise TypeError(f"logits must hold numbers, got dtype {z.dtype}.")
    z = z.astype(float)
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("logits contain NaN or +inf; a logit of -inf (a class given "
                         "probability 0) is the only infinity allowed.")
    if np.isneginf(z).all(axis=1).any():
        raise ValueError("a row of logits is -inf everywhere: no class has a probability.")
    return z


def _labels(labels: Any, n_rows: int, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n_rows,):
        raise ValueError(f"labels must have one entry per row of logits ({n_rows}), got "
                         f"shape {y.shape}.")
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError("labels must be integer column indices of the logits, from 0 to "
                         f"{n_classes - 1}.")
    return y.astype(np.int64)


def _temperature(temperature: Any) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}.")
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {t}.")
    return t


def _log_softmax(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    shifted = z - top
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Probabilities ``softmax(logits / temperature)``, row by row, without overflow.

    Examples
    --------
    >>> softmax([[0.0, np.log(3.0)]]).round(3)
    array([[0.25, 0.75]])
    >>> softmax([[0.0, np.log(3.0)]], temperature=1e6).round(3)
    array([[0.5, 0.5]])
    """
    z = _logits(logits)
    return np.exp(_log_softmax(z / _temperature(temperature)))


def negative_log_likelihood(logits: Any, labels: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under ``softmax(logits / temperature)``.

    Examples
    --------
    >>> round(negative_log_likelihood([[0.0, 0.0]], [1]), 4)   # ln 2
    0.6931
    """
    z = _logits(logits)
    y = _labels(labels, z.shape[0], z.shape[1])
    log_p = _log_softmax(z / _temperature(temperature))
    return float(-log_p[np.arange(len(y)), y].mean())


def fit_temperature(logits: Any, labels: Any, *, bounds: tuple[float, float] = (0.01, 100.0)
                    ) -> float:
    """The temperature ``T`` that minimises the validation NLL of ``softmax(logits / T)``.

    One number for the whole model, fitted on held-out data (never the training data,
    where the model is overconfident by construction, nor the test data). The search
    runs over ``log T`` with :func:`scipy.optimize.minimize_scalar` (bounded).

    Parameters
    ----------
    logits : array-like of shape (n, n_classes)
        Validation logits (or log-probabilities).
    labels : array-like of shape (n,)
        Validation labels, as column indices of ``logits``.
    bounds : (float, float)
        The range searched for ``T``.

    Returns
    -------
    float

    Examples
    --------
    A model that reports 0.9 for cases it gets right 70% of the time is overconfident:
    the fitted temperature exceeds 1, and rescaled it reports about 0.7.

    >>> z = np.log([[0.9, 0.1]] * 10)
    >>> y = np.array([0] * 7 + [1] * 3)
    >>> t = fit_temperature(z, y)
    >>> round(t, 2), softmax(z, t)[0].round(2).tolist()
    (2.59, [0.7, 0.3])
    """
    from scipy.optimize import minimize_scalar

    z = _logits(logits)
    y = _labels(labels, z.shape[0], z.shape[1])
    low, high = (_temperature(b) for b in bounds)
    if not low < high:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}.")
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-_log_softmax(z / math.exp(log_t))[rows, y].mean())

    result = minimize_scalar(nll, bounds=(math.log(low), math.log(high)), method="bounded",
                             options={"xatol": 1e-7})
    return float(math.exp(result.x))


def coverage_risk(confidence: Any, correct: Any) -> pd.DataFrame:
    """Coverage and risk of answering only when the confidence reaches a threshold.

    For each distinct confidence ``t`` (highest first), a model that answers the cases
    with ``confidence >= t`` and abstains on the others answers a share ``coverage``
    of the cases and is wrong on a share ``risk`` of those it answers.

    Parameters
    ----------
    confidence : array-like of shape (n,)
        The confidence of each prediction, in [0, 1].
    correct : array-like of shape (n,)
        Whether each prediction was right.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``answered`` (a count), ``coverage`` and ``risk``, one row
        per distinct confidence, from the highest threshold to the lowest (where
        coverage is 1).

    Examples
    --------
    >>> coverage_risk([0.9, 0.8, 0.8, 0.4], [True, True, False, False]).round(3)
       threshold  answered  coverage   risk
    0        0.9         1      0.25  0.000
    1        0.8         3      0.75  0.333
    2        0.4         4      1.00  0.500
    """
    conf, right = _confidence_and_correct(confidence, correct)
    thresholds, inverse = np.unique(conf, return_inverse=True)
    # Counts per distinct confidence, accumulated from the highest down.
    n_at = np.bincount(inverse, minlength=thresholds.size)[::-1]
    wrong_at = np.bincount(inverse, weights=(~right).astype(float),
                           minlength=thresholds.size)[::-1]
    answered = np.cumsum(n_at)
    wrong = np.cumsum(wrong_at)
    return pd.DataFrame({"threshold": thresholds[::-1], "answered": answered,
                         "coverage": answered / conf.size, "risk": wrong / answered})
