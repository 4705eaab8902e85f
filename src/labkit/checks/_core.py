"""The machinery every lab's checks share: verdicts, answer calls and recording."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Environment variable naming the folder where :func:`record` writes under grading.
RESULTS_ENV = "LABKIT_RESULTS_DIR"
_TASK = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def passed(task: str, message: str = "all checks passed") -> None:
    """Print the verdict of a check that passed."""
    print(f"[ok] {task}: {message}")


def expect(condition: Any, task: str, message: str) -> None:
    """Raise ``AssertionError`` with a learner-facing message when ``condition`` is false."""
    if not bool(condition):
        raise AssertionError(f"{task}: {message}")


def call_answer(task: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function, turning the usual slips into plain-words errors."""
    if not callable(func):
        raise AssertionError(f"{task}: expected a function, got {type(func).__name__}.")
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{task}: not implemented yet (replace the "
                             "`raise NotImplementedError` line with your code).") from None


def as_number(value: Any) -> float:
    """The answer as a float, or NaN when it is not a single real number.

    Checks record NaN for an answer of the wrong kind, so the grader marks it wrong
    instead of crashing on it.
    """
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return math.nan
    return float(arr) if arr.ndim == 0 else math.nan


def expect_number(task: str, value: Any) -> float:
    """The answer as a float; ``AssertionError`` when it is not a single number."""
    number = as_number(value)
    expect(not math.isnan(number), task,
           f"the function should return a single number (a float), got "
           f"{type(value).__name__} {str(value)[:60]}.")
    return number


def _plain(value: Any) -> Any:
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    arr = np.asarray(value)
    if arr.dtype.kind in "biuf":
        return {"array": arr.astype(float).tolist(), "shape": list(arr.shape)}
    return {"array": arr.astype(str).tolist(), "shape": list(arr.shape)}


def record(task: str, *, rtol: float = 1e-6, atol: float = 1e-9, **values: Any) -> None:
    """Save what the learner's answer gives on this run's data, for the grader.

    Does nothing unless the environment variable ``LABKIT_RESULTS_DIR`` names a folder
    (the grader sets it). Values must be numbers, arrays, strings or dicts of them;
    they are written as JSON, never pickled.

    Parameters
    ----------
    task : str
        The task name (as in the answer cell's ``labkit.task`` metadata).
    rtol, atol : float
        Tolerances the grader uses when the *reference* solution records them; a
        submission's own tolerances are ignored.
    **values
        Named results to compare.

    Examples
    --------
    >>> record("top_k_accuracy", accuracy=0.5)   # outside grading: no effect
    """
    if not _TASK.match(task):
        raise ValueError(f"task names are lower_snake_case, got {task!r}")
    folder = os.environ.get(RESULTS_ENV)
    if not folder:
        return
    payload = {"task": task, "rtol": float(rtol), "atol": float(atol),
               "values": {k: _plain(v) for k, v in values.items()}}
    path = Path(folder) / f"{task}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, allow_nan=True), encoding="utf-8")
    os.replace(tmp, path)
