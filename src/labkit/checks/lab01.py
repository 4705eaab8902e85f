"""Public self-checks of Lab 01, *Metrics that match the goal*.

Each check first records what the learner's function gives on this run's data (for
the grader), then tests it on small cases worked out by hand and on properties every
correct answer has. Failures say what is wrong in plain words and never print an
expected value computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import call_answer, expect, passed, record

__all__ = ["expected_cost", "highest_threshold_for_recall", "top_k_accuracy"]

#: Thresholds and (cost_fn, cost_fp) pairs at which the expected cost is recorded.
COST_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
COST_PAIRS = ((1.0, 1.0), (10.0, 1.0))
#: Recall targets at which the highest threshold is recorded.
RECALL_TARGETS = (0.5, 0.8, 0.9, 0.95, 0.98, 1.0)
#: The k values at which top-k accuracy is recorded.
TOP_KS = (1, 2, 3, 4, 5)


def _number(value: Any) -> float:
    """The answer as a float, NaN when it is not a single real number."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return math.nan
    return float(arr) if arr.ndim == 0 else math.nan


def _expect_number(task: str, value: Any, what: str) -> float:
    number = _number(value)
    expect(not math.isnan(number), task,
           f"{what} should return a single number (a float), got {type(value).__name__} "
           f"{value!r:.60}.")
    return number


def _binary_run_data(task: str, y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    expect(y.ndim == 1 and s.ndim == 1 and len(y) == len(s) and len(y) > 0, task,
           "pass the check the labels and the scores of the same cases "
           "(two one-dimensional arrays of equal length).")
    expect(set(np.unique(y).tolist()) <= {0, 1}, task, "the labels must be 0 and 1.")
    return y.astype(int), s


def expected_cost(func: Callable[..., Any], y_true: Any, scores: Any) -> None:
    """Check ``expected_cost(y_true, scores, threshold, cost_fn, cost_fp)``.

    Parameters
    ----------
    func : callable
        The learner's function.
    y_true, scores : array-like
        This run's validation labels (0/1) and model scores.

    Examples
    --------
    >>> def expected_cost(y_true, scores, threshold, cost_fn, cost_fp):
    ...     y, flagged = np.asarray(y_true), np.asarray(scores) >= threshold
    ...     return float(np.mean(cost_fn * (y == 1) * ~flagged + cost_fp * (y == 0) * flagged))
    >>> expected_cost_check = globals()["expected_cost"]  # doctest: +SKIP
    """
    task = "expected_cost"
    y, s = _binary_run_data(task, y_true, scores)
    on_run = {
        f"cost_fn{fn:g}_fp{fp:g}": [_number(call_answer(task, func, y, s, float(t), fn, fp))
                                    for t in COST_GRID]
        for fn, fp in COST_PAIRS
    }
    record(task, thresholds=COST_GRID, **on_run)

    y4 = np.array([1, 0, 1, 0])
    s4 = np.array([0.9, 0.8, 0.3, 0.1])
    example = "y_true=[1, 0, 1, 0], scores=[0.9, 0.8, 0.3, 0.1]"
    got = _expect_number(task, call_answer(task, func, y4, s4, 0.5, 5.0, 1.0),
                         "expected_cost")
    expect(abs(got - 1.5) > 1e-9 or True, task, "")
    if abs(got - 1.5) > 1e-9:
        if abs(got - 6.0) < 1e-9:
            why = "it looks like the total cost, not the mean cost per case."
        elif abs(got - 0.375 * 4 / 4 * 1.0 - 0.0) < 1e-9 or abs(got - 1.5 * 0 + 1.5) < 0:
            why = ""
        elif abs(got - 1.5) > 1e-9 and abs(got - (1 * 1.0 + 1 * 5.0) / 4) > 1e-9:
            why = ("count a missed positive (label 1, score below the threshold) at cost_fn "
                   "and a false alarm (label 0, score at or above it) at cost_fp, then divide "
                   "by the number of cases.")
        else:
            why = ""
        expect(False, task,
               f"for {example}, threshold=0.5, cost_fn=5, cost_fp=1 the expected cost is 1.5 "
               f"(one missed positive at 5 plus one false alarm at 1, over 4 cases); your "
               f"function returned {got:.4g}. {why}")
    passed(task)
