"""The machinery every lab's checks share: verdicts, answer calls, worked examples,
decisions and recording.

A lab's checks module is mostly data: the worked examples of each task (with the wrong
results that plausible slips give, and what to say about them) and the properties a
correct answer has on the run's data. Inside a check the order is always the same:

1. the worked examples (:func:`check_examples`), so that a slip in shape or sign gets a
   plain-words message about a case the learner can work out by hand;
2. the answer on this run's data, :func:`record`\\ ed for the grader;
3. properties on this run's data, then :func:`passed`.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import RESULTS_ENV

_TASK = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def passed(task: str, message: str = "all checks passed") -> None:
    """Print the verdict of a check that passed."""
    print(f"[ok] {task}: {message}")


def expect(condition: Any, task: str, message: str) -> None:
    """Raise ``AssertionError`` with a learner-facing message when ``condition`` is false."""
    if not bool(condition):
        raise AssertionError(f"{task}: {message}")


def call_answer(task: str, func: Callable[..., Any], *args: Any, _case: str = "",
                **kwargs: Any) -> Any:
    """Call the learner's function, turning the usual slips into plain-words errors.

    A stub's ``NotImplementedError`` becomes "not implemented yet". When ``_case``
    describes the input (a worked example), any other exception becomes an
    ``AssertionError`` naming the case and the error, instead of a traceback from deep
    inside numpy.

    Examples
    --------
    >>> call_answer("t", lambda v: v[5], [1, 2], _case="v=[1, 2]")
    Traceback (most recent call last):
    ...
    AssertionError: t: for v=[1, 2] your function raised IndexError: list index out of range
    """
    if not callable(func):
        raise AssertionError(f"{task}: expected a function, got {type(func).__name__}.")
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{task}: not implemented yet (replace the "
                             "`raise NotImplementedError` line with your code).") from None
    except Exception as exc:
        if not _case:
            raise
        raise AssertionError(f"{task}: for {_case} your function raised "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from exc


@dataclass(frozen=True)
class Example:
    """A small case worked out by hand, and the wrong results plausible slips give.

    Attributes
    ----------
    args : tuple
        Positional arguments of the learner's function (deep-copied for each call).
    want : number or array-like
        The right result.
    shown : str
        How messages describe the case, e.g. ``"y_true=[1, 0], scores=[0.9, 0.2]"``.
    slips : mapping
        Wrong result -> what probably went wrong (a sentence for the learner).
    kwargs : mapping
        Keyword arguments.
    why : str
        What to say when the result is wrong in a way no slip explains.
    """

    args: tuple[Any, ...]
    want: Any
    shown: str
    slips: Mapping[Any, str] = field(default_factory=dict)
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""


def _close(got: Any, want: Any, rtol: float, atol: float) -> bool:
    try:
        g, w = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    except (TypeError, ValueError):
        return False
    return g.shape == w.shape and bool(np.allclose(g, w, rtol=rtol, atol=atol))


def _shown(value: Any) -> str:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return f"{type(value).__name__} {str(value)[:60]}"
    if arr.ndim == 0:
        return f"{float(arr):.4g}"
    return np.array2string(arr, precision=4, separator=", ", threshold=12)


def check_examples(task: str, func: Callable[..., Any], examples: Sequence[Example], *,
                   result: Callable[[Any], Any] | None = None,
                   diagnose: Callable[[Example, Any], str] | None = None, rtol: float = 1e-9,
                   atol: float = 1e-12) -> None:
    """Run the learner's function on worked examples; fail on the first wrong one.

    The message names the case, the right result, what the function returned and,
    where the wrong result matches a known slip, what probably went wrong.

    Parameters
    ----------
    task : str
        The task name.
    func : callable
        The learner's function.
    examples : sequence of Example
    result : callable, optional
        Turns the function's return value into what is compared; it may raise
        ``AssertionError`` with a message (e.g. when a pair was expected).
    diagnose : callable, optional
        ``diagnose(example, got)`` says what went wrong when no listed slip matches
        (e.g. "the threshold is too high"); an empty string falls back to ``why``.
    rtol, atol : float
        Tolerances of the comparison.

    Examples
    --------
    >>> halve = Example((4.0,), 2.0, "x=4", slips={8.0: "that is 2x, not x/2."})
    >>> check_examples("half", lambda x: x / 2, [halve])
    >>> check_examples("half", lambda x: x * 2, [halve])
    Traceback (most recent call last):
    ...
    AssertionError: half: for x=4 the answer is 2, your function returned 8: that is 2x, not x/2.
    """
    for example in examples:
        got = call_answer(task, func, *copy.deepcopy(example.args), _case=example.shown,
                          **copy.deepcopy(dict(example.kwargs)))
        if result is not None:
            got = result(got)
        if _close(got, example.want, rtol, atol):
            continue
        why = next((msg for wrong, msg in example.slips.items()
                    if _close(got, wrong, 1e-6, 1e-9)), "")
        why = why or (diagnose(example, got) if diagnose else "") or example.why
        expect(False, task, f"for {example.shown} the answer is {_shown(example.want)}, "
                            f"your function returned {_shown(got)}"
                            + (f": {why}" if why else "."))


def decision(value: Any, *, accepted: Sequence[Any] | None = None,
             between: tuple[float, float] | None = None) -> dict[str, Any]:
    """Wrap a decision for :func:`record`, with the answers the grader accepts.

    The grader compares a submission's decision with the *reference solution's*
    ``accepted`` set or ``between`` interval (with neither, with its value under the
    reference's tolerances), all computed under the grading seed. What a submission
    records as accepted is ignored.

    Examples
    --------
    >>> decision("b", accepted=["b", "c"])
    {'decision': 'b', 'accepted': ['b', 'c']}
    >>> decision(0.3, between=(0.25, 0.4))
    {'decision': 0.3, 'between': [0.25, 0.4]}
    """
    if accepted is not None and between is not None:
        raise ValueError("give accepted or between, not both")
    out: dict[str, Any] = {"decision": value}
    if accepted is not None:
        out["accepted"] = list(accepted)
    if between is not None:
        low, high = (float(v) for v in between)
        if not low <= high:
            raise ValueError(f"between needs low <= high, got {between!r}")
        out["between"] = [low, high]
    return out


def expect_choice(task: str, value: Any, choices: Sequence[str]) -> str:
    """The learner's answer to a multiple-choice question, checked to be one of ``choices``.

    Examples
    --------
    >>> expect_choice("q", " B ", ["a", "b"])
    'b'
    """
    listed = ", ".join(map(repr, choices))
    expect(isinstance(value, str), task,
           f"answer with one of {listed} (a string), got {type(value).__name__}.")
    answer = value.strip().lower()
    expect(answer in choices, task, f"answer with one of {listed}, got {value!r}.")
    return answer


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
    if isinstance(value, (list, tuple)) and any(isinstance(v, (str, dict)) for v in value):
        return [_plain(v) for v in value]
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
