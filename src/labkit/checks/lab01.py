"""Public self-checks of Lab 01, *Metrics that match the goal*.

Each check first records what the learner's function gives on this run's data (for
the grader), then tests it on small cases worked out by hand (the same ones the lab's
instructions walk through) and on properties every correct answer has on this run's
data. Failures say what is wrong in plain words; they never print an expected value
computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import (
    Example,
    as_number,
    call_answer,
    check_examples,
    expect,
    expect_number,
    passed,
    record,
)
from ._core import decision as _decision

__all__ = ["biopsy_threshold", "expected_cost", "highest_threshold_for_recall",
           "top_k_accuracy"]

#: Thresholds and (cost_fn, cost_fp) pairs at which the expected cost is recorded.
COST_GRID = tuple(round(0.05 * i, 2) for i in range(21))
COST_PAIRS = ((1.0, 1.0), (10.0, 1.0))
#: Recall targets at which the highest threshold is recorded.
RECALL_TARGETS = (0.5, 0.8, 0.9, 0.95, 0.98, 1.0)
#: The k values at which top-k accuracy is recorded.
TOP_KS = (1, 2, 3, 4, 5)

# Worked example of the cost and recall tasks: five cases, three of them positive.
_Y5 = np.array([1, 0, 1, 0, 1])
_S5 = np.array([0.9, 0.8, 0.3, 0.1, 0.2])
_SHOWN5 = "y_true=[1, 0, 1, 0, 1], scores=[0.9, 0.8, 0.3, 0.1, 0.2]"
_COST_WHY = ("count each missed positive (label 1, score below the threshold) at cost_fn and "
             "each false alarm (label 0, score at or above it) at cost_fp, then divide by the "
             "number of cases.")


def _cost(t: float, fn: float, fp: float, want: float,
          slips: dict[float, str] | None = None) -> Example:
    return Example((_Y5, _S5, t, fn, fp), want,
                   f"{_SHOWN5}, threshold={t:g}, cost_fn={fn:g}, cost_fp={fp:g}",
                   slips or {}, why=_COST_WHY)


_COST_EXAMPLES = (
    _cost(0.5, 5.0, 1.0, 2.2, {
        11.0: "that is the total cost; divide it by the number of cases.",
        1.4: "the two costs look swapped: a missed positive costs cost_fn, a false alarm "
             "costs cost_fp.",
        1.2: "the decision looks reversed: a case is predicted positive when its score "
             "is at least the threshold.",
    }),
    # A case scored exactly at the threshold: where '>' and '>=' part ways.
    _cost(0.3, 5.0, 1.0, 1.2, {
        2.2: "a score equal to the threshold must count as predicted positive "
             "(use >=, not >).",
    }),
    _cost(0.0, 5.0, 1.0, 0.4),
    _cost(1.0, 5.0, 1.0, 3.0),
    _cost(0.5, 0.0, 0.0, 0.0),
)
# Recall example: four positives scored 0.9, 0.7, 0.4, 0.2 and two negatives; a tie
# between a positive and a negative at 0.4 in the second example.
_SHOWN_R = "y_true=[1, 1, 1, 1, 0, 0], scores=[0.9, 0.7, 0.4, 0.2, 0.6, 0.1]"
_RECALL_EXAMPLES = tuple(
    Example((np.array([1, 1, 1, 1, 0, 0]), np.array([0.9, 0.7, 0.4, 0.2, 0.6, 0.1]), target),
            want, f"{_SHOWN_R} and target_recall={target:g}",
            why="flag the cases scored at or above the threshold; the answer is the highest "
                "threshold whose recall still meets the target, the score of a positive.")
    for target, want in ((0.25, 0.9), (0.5, 0.7), (0.6, 0.4), (0.75, 0.4), (1.0, 0.2))
) + (
    # A positive tied with a negative at the threshold: where '>' and '>=' part ways.
    Example((np.array([1, 0, 1, 1]), np.array([0.8, 0.5, 0.5, 0.3]), 2 / 3), 0.5,
            "y_true=[1, 0, 1, 1], scores=[0.8, 0.5, 0.5, 0.3] and target_recall=2/3",
            why="recall counts the positives scored at or above the threshold (>=)."),
)
# Top-k examples. The first is the lab's worked example; in the second (5 cases, 4
# classes) the true labels rank 2nd, 1st, 4th, 3rd and 1st in their rows.
_PK_SMALL = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
_PK = np.array([
    [0.05, 0.55, 0.30, 0.10],
    [0.50, 0.15, 0.10, 0.25],
    [0.30, 0.20, 0.40, 0.10],
    [0.20, 0.30, 0.15, 0.35],
    [0.10, 0.60, 0.05, 0.25],
])
_TOPK_WHY = ("rank each row's classes from the most to the least probable and check "
             "whether the true label is among the first k.")
_TOPK_EXAMPLES = tuple(
    Example((labels, proba, k), want, f"{shown} with k={k}",
            {want * len(labels): "it looks like a count; return the fraction of cases."}
            if want > 0 else {}, why=_TOPK_WHY)
    for labels, proba, shown, cases in (
        (np.array([2, 1]), _PK_SMALL, "proba=[[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]], y_true=[2, 1]",
         ((1, 0.0), (2, 0.5), (3, 1.0))),
        (np.array([2, 0, 3, 0, 1]), _PK, "a second example (5 cases, 4 classes, no ties)",
         ((1, 0.4), (2, 0.6), (3, 0.8), (4, 1.0))))
    for k, want in cases)


def _binary_data(task: str, y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    expect(y.ndim == 1 and s.ndim == 1 and len(y) == len(s) and len(y) > 0, task,
           "give the check the labels and the scores of the same cases "
           "(two one-dimensional arrays of equal length).")
    expect(set(np.unique(y).tolist()) <= {0, 1}, task, "the labels must be 0 and 1.")
    return y.astype(int), s


def expected_cost(func: Callable[..., Any], y_true: Any, scores: Any) -> None:
    """Check ``expected_cost(y_true, scores, threshold, cost_fn, cost_fp)``.

    Records the answer's cost on this run's data over a grid of thresholds for two
    cost ratios, then tests the worked example and two properties: with unit costs
    the expected cost is the error rate, and doubling both costs doubles it.

    Parameters
    ----------
    func : callable
        The learner's ``expected_cost``.
    y_true, scores : array-like
        This run's validation labels (0/1) and model scores.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def mean_cost(y_true, scores, threshold, cost_fn, cost_fp):
    ...     y, flagged = np.asarray(y_true), np.asarray(scores) >= threshold
    ...     return float(np.mean(cost_fn * ((y == 1) & ~flagged)
    ...                          + cost_fp * ((y == 0) & flagged)))
    >>> expected_cost(mean_cost, [0, 1, 1], [0.2, 0.4, 0.9])
    [ok] expected_cost: all checks passed
    """
    task = "expected_cost"
    y, s = _binary_data(task, y_true, scores)
    check_examples(task, func, _COST_EXAMPLES, result=lambda v: expect_number(task, v))
    on_run = {f"cost_fn{fn:g}_fp{fp:g}": [as_number(call_answer(task, func, y, s, t, fn, fp))
                                          for t in COST_GRID]
              for fn, fp in COST_PAIRS}
    record(task, thresholds=np.array(COST_GRID), **on_run)

    for i, t in enumerate(COST_GRID):
        got = on_run["cost_fn1_fp1"][i]
        error_rate = float(np.mean((s >= t) != (y == 1)))
        expect(math.isclose(got, error_rate, rel_tol=1e-9, abs_tol=1e-12), task,
               f"on this run's data with cost_fn = cost_fp = 1 and threshold {t:g}, the "
               "expected cost should be the error rate (the share of wrong predictions), "
               "and it is not.")
    for t in (0.25, 0.5, 0.75):
        once = as_number(call_answer(task, func, y, s, t, 3.0, 2.0))
        twice = as_number(call_answer(task, func, y, s, t, 6.0, 4.0))
        expect(math.isclose(twice, 2 * once, rel_tol=1e-9, abs_tol=1e-12), task,
               "doubling both costs should double the expected cost, and it does not on "
               "this run's data.")
    passed(task)


def _recall_at(y: np.ndarray, s: np.ndarray, threshold: float) -> float:
    return float(np.mean(s[y == 1] >= threshold))


def _diagnose_recall(example: Example, got: float) -> str:
    y, s, target = example.args
    if _recall_at(y, s, got) < target:
        return "at your threshold the recall is below the target, so it is too high."
    return ("the target is met, but a higher threshold would still meet it; the answer is "
            "the highest such threshold, the score of one of the positive cases.")


def _check_recall_threshold(task: str, y: np.ndarray, s: np.ndarray, target: float,
                            got: float, where: str) -> None:
    expect(_recall_at(y, s, got) >= target, task,
           f"{where}, target_recall={target:g}: the recall at your threshold (cases with "
           "score >= threshold are flagged) is below the target, so the threshold is "
           "too high.")
    higher = s[s > got]
    expect(higher.size == 0 or _recall_at(y, s, float(higher.min())) < target, task,
           f"{where}, target_recall={target:g}: the recall target is met, but a higher "
           "threshold would still meet it. Look for the highest threshold; it is always "
           "the score of one of the positive cases.")


def highest_threshold_for_recall(func: Callable[..., Any], y_true: Any, scores: Any) -> None:
    """Check ``highest_threshold_for_recall(y_true, scores, target_recall)``.

    Records the answer's threshold on this run's data for several recall targets,
    then tests the worked example and, on this run's data, that each threshold meets
    its target while the next higher score would not, and that a higher target never
    gives a higher threshold.

    Parameters
    ----------
    func : callable
        The learner's ``highest_threshold_for_recall``.
    y_true, scores : array-like
        This run's validation labels (0/1) and model scores.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def highest(y_true, scores, target_recall):
    ...     pos = np.sort(np.asarray(scores)[np.asarray(y_true) == 1])[::-1]
    ...     caught = np.arange(1, len(pos) + 1) / len(pos)
    ...     return float(pos[np.argmax(caught >= target_recall)])
    >>> highest_threshold_for_recall(highest, [0, 1, 1, 0], [0.1, 0.4, 0.8, 0.6])
    [ok] highest_threshold_for_recall: all checks passed
    """
    task = "highest_threshold_for_recall"
    y, s = _binary_data(task, y_true, scores)
    expect(y.sum() > 0, task, "the labels contain no positive case, so recall is undefined.")
    check_examples(task, func, _RECALL_EXAMPLES, result=lambda v: expect_number(task, v),
                   diagnose=_diagnose_recall)
    on_run = [as_number(call_answer(task, func, y, s, target)) for target in RECALL_TARGETS]
    record(task, targets=np.array(RECALL_TARGETS), thresholds=on_run)

    for target, got in zip(RECALL_TARGETS, on_run, strict=True):
        expect(not math.isnan(got), task, "the function should return a single number.")
        _check_recall_threshold(task, y, s, target, got, "on this run's data")
    expect(bool(np.all(np.diff(on_run) <= 0)), task,
           "on this run's data a higher recall target gave a higher threshold; demanding "
           "more recall can only lower the threshold.")
    passed(task)


def top_k_accuracy(func: Callable[..., Any], y_true: Any, proba: Any) -> None:
    """Check ``top_k_accuracy(y_true, proba, k)``.

    Records the answer for k = 1..5 on this run's data, then tests the worked
    example, agreement with scikit-learn's
    :func:`~sklearn.metrics.top_k_accuracy_score` on this run's data, that the
    accuracy never falls as k grows, and that it is 1 when k is the number of classes.

    Parameters
    ----------
    func : callable
        The learner's ``top_k_accuracy``.
    y_true : array-like of int
        This run's true labels, as column indices of ``proba``.
    proba : array-like of shape (n_cases, n_classes)
        This run's predicted class probabilities.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def top_k(y_true, proba, k):
    ...     best = np.argsort(-np.asarray(proba), axis=1)[:, :k]
    ...     return float(np.mean(np.any(best == np.asarray(y_true)[:, None], axis=1)))
    >>> top_k_accuracy(top_k, [0, 2, 1], [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    [ok] top_k_accuracy: all checks passed
    """
    from sklearn.metrics import top_k_accuracy_score

    task = "top_k_accuracy"
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=float)
    expect(p.ndim == 2 and y.ndim == 1 and len(y) == len(p) and len(y) > 0, task,
           "give the check the labels (one per case) and the probability matrix "
           "(one row per case, one column per class).")
    expect(np.issubdtype(y.dtype, np.integer) and y.min() >= 0 and y.max() < p.shape[1],
           task, "the labels must be integer column indices of the probability matrix.")
    check_examples(task, func, _TOPK_EXAMPLES, result=lambda v: expect_number(task, v))
    n_classes = p.shape[1]
    ks = [k for k in TOP_KS if k <= n_classes]
    on_run = [as_number(call_answer(task, func, y, p, k)) for k in ks]
    record(task, k=np.array(ks), accuracy=on_run)

    for k, got in zip(ks, on_run, strict=True):
        expect(0.0 <= got <= 1.0, task, f"on this run's data top-{k} accuracy is not a "
               "fraction between 0 and 1.")
        if 2 < n_classes and k < n_classes:
            reference = top_k_accuracy_score(y, p, k=k, labels=np.arange(n_classes))
            expect(math.isclose(got, reference, rel_tol=1e-9, abs_tol=1e-12), task,
                   f"on this run's data your top-{k} accuracy differs from scikit-learn's "
                   "top_k_accuracy_score.")
    expect(bool(np.all(np.diff(on_run) >= 0)), task,
           "on this run's data the accuracy fell as k grew; allowing more guesses can "
           "only help.")
    everything = as_number(call_answer(task, func, y, p, n_classes))
    expect(math.isclose(everything, 1.0), task,
           "with k equal to the number of classes every case is a hit, so the accuracy "
           "should be 1.")
    passed(task)


def biopsy_threshold(value: Any, scores: Any, capacity: float) -> None:
    """Check the decision ``BIOPSY_THRESHOLD`` against the clinic's capacity.

    The right threshold is the lowest of the validation scores whose flagged share
    (cases scored at or above it) stays within ``capacity``: any threshold that flags
    the same validation cases is accepted. The check says whether the decision is over
    capacity or leaves capacity unused, and records the interval of accepted thresholds
    for the grader.

    Parameters
    ----------
    value : float
        The learner's ``BIOPSY_THRESHOLD``.
    scores : array-like
        This run's *validation* scores.
    capacity : float
        The share of patients the clinic can biopsy, in (0, 1].

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> biopsy_threshold(0.7, [0.1, 0.4, 0.7, 0.9], 0.5)
    [ok] biopsy_threshold: all checks passed
    >>> biopsy_threshold(0.4, [0.1, 0.4, 0.7, 0.9], 0.5)
    Traceback (most recent call last):
    ...
    AssertionError: biopsy_threshold: at your threshold the clinic would flag 75% of the \
patients on the validation set, more than its capacity of 50%.
    """
    task = "biopsy_threshold"
    s = np.asarray(scores, dtype=float)
    expect(s.ndim == 1 and len(s) > 0 and 0 < capacity <= 1, task,
           "give the check the validation scores and the capacity as a share in (0, 1].")
    t = expect_number(task, value)
    candidates = np.unique(s)
    shares = np.array([np.mean(s >= c) for c in candidates])
    best = float(candidates[shares <= capacity].min())
    lower = candidates[candidates < best]
    low = float(lower.max()) if lower.size else -np.inf
    record(task, threshold=_decision(t, between=(np.nextafter(low, np.inf), best)))

    share = float(np.mean(s >= t))
    expect(share <= capacity, task,
           f"at your threshold the clinic would flag {share:.0%} of the patients on the "
           f"validation set, more than its capacity of {capacity:.0%}.")
    expect(t <= best, task,
           f"your threshold flags {share:.0%} of the validation patients, and a lower one "
           "would still fit in the capacity and catch more cancers. (Was it chosen on the "
           "validation scores? The check uses those.)")
    passed(task)
