"""Decide each task from plain data, in the grader's own process.

A task passes only when the submission's recorded values match the reference
solution's, under the reference's tolerances (a submission's own ``rtol``/``atol`` are
ignored). A missing or malformed result is a failure with a reason, never a pass. The
messages name the values that differ but never show the expected ones.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..contract import answer_id, check_id
from .status import CellState, Outcome, TaskState

__all__ = ["Verdict", "compare", "load_result", "decide"]

#: Largest result file read from a submission (bytes); larger ones are malformed.
MAX_RESULT_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Verdict:
    """The grade of one task.

    Attributes
    ----------
    task : str
    points : int
        Points earned (all or nothing).
    max_points : int
    state : TaskState
        ``passed``, ``failed`` (values differ), ``not-implemented`` (or its answer cell
        was not found), ``error`` (its cell raised), ``timeout`` (one of its cells ran
        past the per-cell time limit), ``not-run`` (the notebook stopped first) or
        ``missing`` (no result recorded).
    message : str
        Plain-words reason for the student; never an expected value.
    """

    task: str
    points: int
    max_points: int
    state: TaskState
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for JSON)."""
        return asdict(self)


def load_result(path: Path, task: str) -> tuple[dict[str, Any] | None, str]:
    """Read one result file written under grading: ``(values, "")`` or ``(None, why)``.

    Examples
    --------
    >>> load_result(Path("/nonexistent.json"), "t")
    (None, 'no result recorded')
    """
    try:
        # The folder is the submission's: refuse links (they could point at the
        # instructor's files) and anything but a regular file (a FIFO would block).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "no result recorded"
    except OSError:
        return None, "its recorded result is not a regular file"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "its recorded result is not a regular file"
        if info.st_size > MAX_RESULT_BYTES:
            return None, "its recorded result is too large to read"
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            data = json.loads(handle.read(MAX_RESULT_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None, "its recorded result is not readable JSON"
    finally:
        if fd >= 0:
            os.close(fd)
    if not isinstance(data, dict) or data.get("task") != task \
            or not isinstance(data.get("values"), dict):
        return None, "its recorded result is malformed"
    return data, ""


def _accepts(ref: dict[str, Any], sub: Any, rtol: float, atol: float) -> bool:
    """Whether a submission's recorded decision is one the reference accepts."""
    if not (isinstance(sub, dict) and "decision" in sub):
        return False
    answer = sub["decision"]
    if "between" in ref:
        low, high = _number(ref["between"], 0), _number(ref["between"], 1)
        value = _scalar(answer)
        return value is not None and low is not None and high is not None \
            and low - atol <= value <= high + atol
    accepted = ref.get("accepted")
    if isinstance(accepted, dict) and set(accepted) == {"array", "shape"}:
        accepted = accepted["array"]
    if not isinstance(accepted, list):
        accepted = [ref["decision"]]
    return any(_same(option, answer, rtol, atol) for option in accepted)


def _scalar(value: Any) -> float | None:
    if isinstance(value, dict) and set(value) == {"array", "shape"} and value["shape"] == []:
        value = value["array"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _number(pair: Any, index: int) -> float | None:
    if isinstance(pair, dict) and set(pair) == {"array", "shape"}:
        pair = pair["array"]
    try:
        return _scalar(pair[index])
    except (TypeError, IndexError, KeyError):
        return None


def _same(ref: Any, sub: Any, rtol: float, atol: float) -> bool:
    import numpy as np

    if isinstance(ref, dict) and "decision" in ref:
        return _accepts(ref, sub, rtol, atol)
    if isinstance(ref, (int, float)) and not isinstance(ref, bool):
        value = _scalar(sub)
        return value is not None and (math.isclose(value, ref, rel_tol=rtol, abs_tol=atol)
                                      or (math.isnan(ref) and math.isnan(value)))
    if isinstance(ref, dict) and set(ref) == {"array", "shape"} and ref["shape"] == [] \
            and _scalar(ref) is not None:
        return _same(_scalar(ref), sub, rtol, atol)

    if isinstance(ref, dict) and set(ref) == {"array", "shape"}:
        if not (isinstance(sub, dict) and set(sub) == {"array", "shape"}):
            return False
        if sub["shape"] != ref["shape"]:
            return False
        try:
            ref_arr = np.asarray(ref["array"])
            if ref_arr.dtype.kind in "biuf":
                sub_arr = np.asarray(sub["array"], dtype=float)
                return sub_arr.shape == ref_arr.shape and bool(np.allclose(
                    sub_arr, ref_arr.astype(float), rtol=rtol, atol=atol, equal_nan=True))
            sub_arr = np.asarray(sub["array"], dtype=str)
            return sub_arr.shape == ref_arr.shape and bool(np.array_equal(
                sub_arr, ref_arr.astype(str)))
        except (TypeError, ValueError, OverflowError):
            return False
    if isinstance(ref, dict):
        return (isinstance(sub, dict) and set(sub) == set(ref)
                and all(_same(ref[k], sub[k], rtol, atol) for k in ref))
    return type(sub) is type(ref) and sub == ref


def compare(reference: dict[str, Any], submission: dict[str, Any]) -> list[str]:
    """Names of the values in which ``submission`` differs from ``reference``.

    Both are result records as :func:`labkit.checks.record` writes them; the tolerances
    are the reference's.

    Examples
    --------
    >>> ref = {"rtol": 1e-6, "atol": 0.0, "values": {"a": {"array": [1.0], "shape": [1]},
    ...                                               "b": "yes"}}
    >>> compare(ref, {"rtol": 1.0, "atol": 1.0,
    ...               "values": {"a": {"array": [1.5], "shape": [1]}, "b": "yes"}})
    ['a']
    """
    rtol, atol = float(reference.get("rtol", 1e-6)), float(reference.get("atol", 1e-9))
    wrong = []
    for name, ref_value in reference["values"].items():
        try:
            same = name in submission["values"] and _same(
                ref_value, submission["values"][name], rtol, atol)
        except RecursionError:
            same = False
        if not same:
            wrong.append(name)
    return wrong


def decide(task: str, points: int, reference: dict[str, Any],
           result: Path | tuple[dict[str, Any] | None, str],
           cells: dict[str, dict[str, Any]], run_outcome: str, *,
           span: Sequence[str] | None = None, cell_timeout: float | None = None,
           answer_found: bool = True) -> Verdict:
    """Grade one task from its recorded result and what happened to its cells.

    Parameters
    ----------
    task, points : str, int
        The task and its weight.
    reference : dict
        The reference solution's result record for this task (read only when the
        submission recorded a result).
    result : Path or tuple
        Where the submission's run would have written its result, or what
        :func:`load_result` made of it.
    cells : dict
        Cell id -> state record from the runner (``state``, ``ename``, ``evalue``).
    run_outcome : str
        How the run ended (an :class:`~labkit.grading.status.Outcome`).
    span : sequence of str, optional
        The task's code cells (:func:`labkit.grading.rebuild.task_spans`): if any ran
        past the per-cell time limit, the task earns nothing, whatever it recorded.
        Default: its answer and check cells.
    cell_timeout : float, optional
        The per-cell time limit in seconds, named in the message.
    answer_found : bool
        False when the submission had no answer cell for the task (the template's stub
        ran in its place).

    Examples
    --------
    >>> v = decide("t", 2, {"values": {"x": 1.0}}, Path("/nonexistent.json"),
    ...            {"task-t": {"state": "error", "ename": "NotImplementedError",
    ...                        "evalue": "Write it"}}, "completed")
    >>> str(v.state), v.points
    ('not-implemented', 0)
    >>> v = decide("t", 2, {"values": {"x": 1.0}}, Path("/nonexistent.json"),
    ...            {"task-t": {"state": "ok"}, "check-t": {"state": "timeout"}},
    ...            "completed", cell_timeout=120)
    >>> str(v.state), v.message
    ('timeout', 'its check cell ran past the per-cell time limit of 120 s')
    """
    answer, check = cells.get(answer_id(task), {}), cells.get(check_id(task), {})
    if not answer_found:
        return Verdict(task, 0, points, TaskState.NOT_IMPLEMENTED,
                       "answer cell not found in the submission (deleted, or its id and "
                       "task metadata changed), so there was nothing to grade")
    limit = f" of {cell_timeout:g} s" if cell_timeout is not None else ""
    for cell_id in span if span is not None else (answer_id(task), check_id(task)):
        cell = cells.get(cell_id, {})
        if cell.get("state") == CellState.TIMEOUT:
            where = {answer_id(task): "its answer cell", check_id(task): "its check cell"
                     }.get(cell_id, f"cell {cell_id} (after its answer cell)")
            if cell.get("limit") == "submission":
                return Verdict(task, 0, points, TaskState.TIMEOUT,
                               f"{where} was still running when the submission ran past "
                               "its time limit")
            return Verdict(task, 0, points, TaskState.TIMEOUT,
                           f"{where} ran past the per-cell time limit{limit}")
    result, why = load_result(result, task) if isinstance(result, Path) else result
    if result is not None:
        wrong = compare(reference, result)
        if wrong:
            return Verdict(task, 0, points, TaskState.FAILED,
                           "your answer gives different values than the reference solution "
                           f"on the grading data ({', '.join(wrong)})" + _cell_hint(task, cells))
        if check.get("state") == CellState.OK and answer.get("state") == CellState.OK:
            return Verdict(task, points, points, TaskState.PASSED, "passed")
        if check.get("state") == CellState.ERROR and check.get("ename") == "AssertionError":
            # The grader is never more lenient than the notebook: values that match on
            # the grading data do not outweigh a failed self-check.
            return Verdict(task, 0, points, TaskState.FAILED,
                           f"its self-check failed: {_error(check, name=False)}")
    for cell in (answer, check):
        text = f"{cell.get('ename', '')}: {cell.get('evalue', '')}"
        if cell.get("ename") == "NotImplementedError" or "not implemented" in text.lower():
            return Verdict(task, 0, points, TaskState.NOT_IMPLEMENTED,
                           "not implemented (the stub still raises NotImplementedError)")
    if check.get("state") == CellState.ERROR and check.get("ename") == "AssertionError":
        # The self-check stopped before recording: the answer is wrong on its own cases.
        return Verdict(task, 0, points, TaskState.FAILED,
                       f"its self-check failed: {_error(check, name=False)}")
    for label, cell in (("answer", answer), ("check", check)):
        state = cell.get("state")
        if state == CellState.DIED:
            return Verdict(task, 0, points, TaskState.ERROR,
                           f"the kernel stopped while running its {label} cell "
                           "(os._exit, a crash or a resource limit)")
        if state == CellState.ERROR:
            return Verdict(task, 0, points, TaskState.ERROR,
                           f"its {label} cell raised {_error(cell)}")
    if check.get("state", CellState.NOT_RUN) == CellState.NOT_RUN:
        stopped = {Outcome.TIMEOUT: "the submission ran past its time limit",
                   Outcome.KERNEL_DIED: "the kernel stopped",
                   Outcome.KILLED: "a resource limit was hit",
                   Outcome.STOPPED: "the notebook stopped early (sys.exit or similar)"}
        return Verdict(task, 0, points, TaskState.NOT_RUN,
                       f"not graded: {stopped.get(run_outcome, 'its check never ran')} "
                       "before this task's check cell")
    return Verdict(task, 0, points, TaskState.MISSING, f"failed: {why}")


def _error(cell: dict[str, Any], name: bool = True) -> str:
    evalue = " ".join(str(cell.get("evalue", "")).split())
    if len(evalue) > 300:
        evalue = evalue[:300] + "..."
    if not name:
        return evalue or "no message"
    return f"{cell.get('ename') or 'an error'}: {evalue}" if evalue else \
        (cell.get("ename") or "an error")


def _cell_hint(task: str, cells: dict[str, dict[str, Any]]) -> str:
    check = cells.get(check_id(task), {})
    if check.get("state") == CellState.ERROR:
        return f"; its self-check said {_error(check)}"
    return ""
