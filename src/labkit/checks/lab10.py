"""Public self-checks of Lab 10, *Scaling up*.

The function checks run the learner's function on small cases worked out by hand first
(the ones the lab's instructions walk through, with the wrong results that plausible
slips give), then record what it gives on this run's data (for the grader), then test
properties every correct answer has. The decision checks test that a decision is
consistent with the table or the curves the lab measured, and record it *relative to
those inputs* (how far it is from the right choice on the learner's own table), so that a
slip in an earlier task costs that task's points only. Failures say what is wrong in
plain words; they never print a value computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._core import (
    Example,
    as_number,
    call_answer,
    check_examples,
    decision,
    expect,
    expect_choice,
    passed,
    record,
)

__all__ = ["DDP_TOLERANCE", "buffer_rows", "max_batch", "scaled_lr", "segments",
           "shuffle_buffer", "single_process", "stale_sgd", "sync_or_async", "to_bfloat16"]

#: Largest absolute difference allowed between DDP's and single-process weights.
DDP_TOLERANCE = 1e-5


def _rows(n: int) -> list[np.ndarray]:
    """Rows as the stream gives them: small float32 arrays whose first value is the id."""
    return [np.full(3, i, dtype=np.float32) for i in range(n)]


class _Tracked:
    """An input stream that notes how many rows the shuffler holds when it reads more."""

    def __init__(self, n: int) -> None:
        self.rows = _rows(n)
        self.read = 0
        self.given = 0
        self.most_held = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for row in self.rows:
            self.most_held = max(self.most_held, self.read - self.given)
            self.read += 1
            yield row


def _run_shuffler(task: str, func: Callable[..., Any], n: int, size: int, seed: int,
                  case: str) -> tuple[list[int], int]:
    """The ids the shuffler gives out, in order, and the most rows it held at a read."""
    stream = _Tracked(n)
    out = call_answer(task, func, iter(stream), size, np.random.default_rng(seed),
                      _case=case)
    expect(out is not None and hasattr(out, "__iter__"), task,
           f"for {case} the function returned {type(out).__name__}; it should yield the "
           "rows (a generator) or return an iterable of them.")
    ids = []
    try:
        for row in out:
            stream.given += 1
            value = np.asarray(row).ravel()
            expect(value.size == 3, task, f"for {case} the function gave out something that "
                                          "is not one of the input rows; yield the rows "
                                          "themselves.")
            ids.append(int(value[0]))
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{task}: for {case} your function raised "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    return ids, stream.most_held


def _count_out(task: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def run(n: int, size: int, seed: int) -> int:
        case = f"rows 0..{n - 1}, buffer_size={size}"
        return len(_run_shuffler(task, func, n, size, seed, case)[0])
    return run


SHUFFLE_EXAMPLES = (
    Example((10, 3, 0), 10, "rows 0..9 and buffer_size=3: how many rows come out", slips={
        7: "the 3 rows still in the buffer when the input ran out never came out; after "
           "the loop, give out what is left in the buffer too (in a random order).",
        0: "nothing came out: the function must yield rows (or return an iterable of them).",
        1: "only one row came out; yield inside the loop, not once after it.",
    }),
    Example((4, 10, 0), 4, "rows 0..3 and buffer_size=10 (a buffer larger than the input)",
            slips={0: "when the input ends before the buffer is full, no row has come out "
                      "yet: the rows left in the buffer must still be given out."}),
    Example((1, 1, 0), 1, "a single row and buffer_size=1"),
)


def shuffle_buffer(func: Callable[..., Any], n_rows: int, buffer_sizes: Any,
                   seed: int) -> None:
    """Check ``shuffle_buffer(rows, buffer_size, rng)``.

    Runs the worked examples first (no row may be lost), then, for each buffer size on
    this run's stream length: every row comes out exactly once; the function never holds
    more than ``buffer_size`` rows when it reads the next one (so its memory is bounded
    by the buffer, not by the stream); the order is random, drawn from ``rng`` (a buffer
    as large as the stream can put any row first; the same ``rng`` seed gives the same
    order, and numpy's global random state plays no part).

    Parameters
    ----------
    func : callable
        The learner's ``shuffle_buffer``.
    n_rows : int
        Rows in this run's stream.
    buffer_sizes : sequence of int
        The buffer sizes the lab streams with.
    seed : int
        This run's seed.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def shuffler(rows, buffer_size, rng):
    ...     buffer = []
    ...     for row in rows:
    ...         buffer.append(row)
    ...         if len(buffer) > buffer_size:
    ...             yield buffer.pop(rng.integers(len(buffer)))
    ...     while buffer:
    ...         yield buffer.pop(rng.integers(len(buffer)))
    >>> shuffle_buffer(shuffler, 100, [4, 16], 0)
    [ok] shuffle_buffer: all checks passed
    """
    task = "shuffle_buffer"
    expect(isinstance(n_rows, (int, np.integer)) and 1 <= n_rows <= 200_000, task,
           "n_rows must be the number of rows in the stream (a positive integer).")
    sizes = [int(s) for s in np.atleast_1d(np.asarray(buffer_sizes))]
    expect(sizes and all(s >= 1 for s in sizes), task,
           "buffer_sizes must be a list of positive buffer sizes.")
    check_examples(task, _count_out(task, func), SHUFFLE_EXAMPLES)

    n = int(n_rows)
    summary = []
    for size in sizes:
        case = f"this run's {n} rows and buffer_size={size}"
        ids, held = _run_shuffler(task, func, n, size, seed, case)
        expect(len(ids) == n, task, f"for {case} {'fewer' if len(ids) < n else 'more'} rows "
                                    "came out than went in; every row must come out once.")
        expect(sorted(ids) == list(range(n)), task,
               f"for {case} some rows came out twice and others never; give out each row "
               "once (take it out of the buffer when you yield it).")
        expect(held <= size, task,
               f"for {case} the function held more rows than the buffer size when it read "
               "the next row (it reads ahead, or reads the whole stream first); its memory "
               "must be bounded by the buffer, whatever the stream's length.")
        summary.append([size, len(ids), int(held <= size)])
    record(task, rows_out_and_bounded=np.asarray(summary, dtype=float))

    small = 6
    firsts = [_run_shuffler(task, func, small, small, s, f"rows 0..5, buffer_size=6, "
                                                        f"rng seed {s}")[0][0]
              for s in range(300)]
    counts = np.bincount(firsts, minlength=small)
    expect(counts.min() >= 20, task,
           "with a buffer as large as the stream (6 rows, buffer_size=6), some rows never "
           "or hardly ever come out first over 300 seeds: the rows left at the end must "
           "come out in a random order drawn with rng.")
    firsts = [_run_shuffler(task, func, 12, 4, s, f"rows 0..11, buffer_size=4, "
                                                  f"rng seed {s}")[0][0]
              for s in range(300)]
    counts = np.bincount(firsts, minlength=12)[:4]
    expect(counts.min() >= 30, task,
           "with rows 0..11 and buffer_size=4, some of the rows 0..3 (the full buffer) "
           "never or hardly ever come out first over 300 seeds: each time a row comes "
           "out, draw it at random from the whole buffer with rng (not always the same "
           "slot, the oldest or the newest row).")
    case = "rows 0..49, buffer_size=8"
    one = _run_shuffler(task, func, 50, 8, 7, case)[0]
    again = _run_shuffler(task, func, 50, 8, 7, case)[0]
    expect(one == again, task, "the same rng seed gave two different orders: draw every "
                               "random choice from the rng argument, not from np.random or "
                               "the random module.")
    passed(task)


# ---------------------------------------------------------------- decisions on tables


def _table(task: str, table: Any, column: str, what: str) -> pd.Series:
    expect(isinstance(table, pd.DataFrame) and column in table.columns and len(table) > 0,
           task, f"give the check the lab's {what} (a DataFrame with a {column!r} column).")
    values = pd.to_numeric(table[column], errors="coerce")
    expect(bool(values.notna().all()), task, f"the {column!r} column must hold numbers.")
    return values.astype(float)


def _choice(task: str, value: Any, index: pd.Index, name: str) -> int | None:
    number = as_number(value)
    if isinstance(value, (bool, str)) or math.isnan(number) or number != int(number):
        return None
    return int(number) if int(number) in {int(v) for v in index} else None


def buffer_rows(value: Any, table: Any, budget_mb: float) -> None:
    """Check the decision ``BUFFER_ROWS``: the largest buffer that keeps the stream's peak
    memory within the budget.

    Parameters
    ----------
    value : int
        The learner's ``BUFFER_ROWS``.
    table : pandas.DataFrame
        One row per buffer size (the index), with the measured ``"peak MiB"`` of the
        streaming process above the interpreter's own memory.
    budget_mb : float
        The memory budget of the stream, in MiB.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"peak MiB": [4.0, 6.5, 12.0, 21.0], "val loss": [0.6, 0.55,
    ...                       0.52, 0.51]}, index=pd.Index([512, 2048, 8192, 16384]))
    >>> buffer_rows(8192, table, 16)
    [ok] buffer_rows: the largest buffer within the budget
    """
    task = "buffer_rows"
    peak = _table(task, table, "peak MiB", "streaming table")
    budget = as_number(budget_mb)
    expect(not math.isnan(budget) and budget > 0, task, "the budget must be a positive "
                                                       "number of MiB.")
    sizes = sorted(int(s) for s in peak.index)
    fits = [s for s in sizes if peak[s] <= budget]
    expect(bool(fits), task, "no buffer in the table stays within the budget; the check "
                             "cannot judge the decision.")
    right = max(fits)
    chosen = _choice(task, value, peak.index, "BUFFER_ROWS")
    distance = (sizes.index(right) - sizes.index(chosen)) if chosen is not None else math.nan
    record(task, steps_from_right=decision(distance, accepted=[0]))
    expect(chosen is not None, task, "set BUFFER_ROWS to one of the buffer sizes in the "
                                     "table (a whole number of rows).")
    expect(peak[chosen] <= budget, task,
           f"a buffer of {chosen} rows took the streaming process over the memory budget; "
           "a bigger buffer mixes better, but it must fit.")
    expect(chosen == right, task,
           f"a larger buffer than {chosen} rows also stays within the budget, and a larger "
           "buffer mixes the sources better: take the largest that fits.")
    passed(task, "the largest buffer within the budget")


def segments(value: Any, table: Any) -> None:
    """Check the decision ``SEGMENTS``: the number of checkpoint segments with the
    smallest peak activation memory.

    Parameters
    ----------
    value : int
        The learner's ``SEGMENTS``.
    table : pandas.DataFrame
        One row per number of segments (the index, 0 for no checkpointing) with the
        ``"peak MiB"`` held for the backward pass (recomputation included) and the
        ``"kept MiB"`` held when the forward pass ends.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"kept MiB": [9.0, 1.0, 2.0, 4.0], "peak MiB": [9.0, 9.0, 6.0,
    ...                       6.5]}, index=pd.Index([0, 1, 2, 4]))
    >>> segments(2, table)
    [ok] segments: the least activation memory
    """
    task = "segments"
    peak = _table(task, table, "peak MiB", "checkpointing table")
    lowest = float(peak.min())
    best = sorted(int(s) for s in peak.index if math.isclose(peak[s], lowest, rel_tol=1e-12))
    chosen = _choice(task, value, peak.index, "SEGMENTS")
    record(task, segments=decision(chosen if chosen is not None else str(value),
                                   accepted=best))
    expect(chosen is not None, task, "set SEGMENTS to one of the numbers of segments in the "
                                     "table (a whole number).")
    if chosen not in best:
        if "kept MiB" in table.columns:
            kept = _table(task, table, "kept MiB", "checkpointing table")
            if chosen == int(kept.idxmin()):
                expect(False, task, f"{chosen} segments keep the least after the forward "
                                    "pass, but the backward pass recomputes a whole segment "
                                    "at a time, and with long segments that peak is high: "
                                    "judge by the peak column.")
        if chosen == 0:
            expect(False, task, "without checkpointing every activation is kept; some "
                                "numbers of segments need far less memory.")
        expect(False, task, f"another number of segments needs less memory at peak than "
                            f"{chosen}.")
    passed(task, "the least activation memory")


# ---------------------------------------------------------------- bfloat16

_BF16_IN = np.array([1.0, 1.00390625, 1.01171875, -1.0039072036743164], dtype=np.float32)
_BF16_RANGE = np.array([70000.0, 1e-30, 3.0e38, 0.1], dtype=np.float32)
BF16_EXAMPLES = (
    Example((_BF16_IN,), [1.0, 1.0, 1.015625, -1.0078125],
            "x=[1, 1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8 + 2**-20)]", slips={
                (1.0, 1.0, 1.0078125, -1.0):
                    "that cuts the low 16 bits off (rounds towards zero); bfloat16 rounds to "
                    "the nearest value, and a tie goes to the value whose last kept bit is 0.",
                (1.0, 1.0078125, 1.015625, -1.0078125):
                    "1 + 2**-8 lies exactly half way between 1 and 1 + 2**-7: a tie goes to "
                    "the *even* neighbour (last kept bit 0), here 1, not always up.",
            }),
    Example((_BF16_RANGE,), [70144.0, 9.98402083170343e-31, 3.00405527047391e+38,
                             0.10009765625],
            "x=[70000, 1e-30, 3e38, 0.1] (float16 could hold none of the first three)",
            slips={(69632.0, 9.98402083170343e-31, 2.9907629905160607e+38, 0.099609375):
                   "that cuts the low 16 bits off; round to the nearest bfloat16 value."}),
)


def _bf16_exact(x: np.ndarray) -> np.ndarray:
    import torch

    return torch.from_numpy(np.ascontiguousarray(x)).to(torch.bfloat16).float().numpy()


def _float32_result(task: str, got: Any, shape: tuple[int, ...]) -> np.ndarray:
    expect(isinstance(got, np.ndarray), task,
           f"the function should return a numpy array, got {type(got).__name__}.")
    expect(got.dtype == np.float32, task, f"the function should return float32 values (the "
                                          f"bfloat16 values widened back), got {got.dtype}.")
    expect(got.shape == shape, task, f"the result should have the input's shape {shape}, "
                                     f"got {got.shape}.")
    return got


def to_bfloat16(func: Callable[..., Any], seed: int) -> None:
    """Check ``to_bfloat16(x)``: float32 values rounded to the nearest bfloat16 value.

    Runs the worked examples, then compares with torch's own conversion on this run's
    values (normal, tiny and huge magnitudes, exact ties), records the result, and tests
    that every value has the low 16 bits of its float32 pattern at zero and that the input
    array is left unchanged.

    Parameters
    ----------
    func : callable
        The learner's ``to_bfloat16``.
    seed : int
        This run's seed.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def to_bf16(x):
    ...     bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    ...     bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    ...     return bits.astype(np.uint32).view(np.float32)
    >>> to_bfloat16(to_bf16, 0)
    [ok] to_bfloat16: all checks passed
    """
    task = "to_bfloat16"

    def run(x: np.ndarray) -> np.ndarray:
        return _float32_result(task, func(x.copy()), x.shape)

    check_examples(task, run, BF16_EXAMPLES, rtol=0.0, atol=0.0)
    rng = np.random.default_rng([seed, 60])
    x = (rng.standard_normal(2000) * 10.0 ** rng.uniform(-30, 30, 2000)).astype(np.float32)
    # exact ties: the low 16 bits are 0x8000
    ties = (rng.integers(0x3F000000, 0x47000000, 200, dtype=np.uint32) & 0xFFFF0000) | 0x8000
    x = np.concatenate([x, ties.astype(np.uint32).view(np.float32)])
    before = x.copy()
    got = _float32_result(task, call_answer(task, func, x), x.shape)
    record(task, rounded=got, rtol=0.0, atol=0.0)
    expect(np.array_equal(x, before), task, "the function changed its input array in "
                                            "place; return a new array.")
    expect(bool(np.all(got.view(np.uint32) & 0xFFFF == 0)), task,
           "some results are not bfloat16 values: the low 16 bits of each float32 pattern "
           "must be zero.")
    right = _bf16_exact(x)
    wrong = got != right
    if wrong.any():
        tie = (x.view(np.uint32) & 0xFFFF) == 0x8000
        where = "at exact ties (a tie goes to the even neighbour)" if np.all(
            tie[wrong]) else "for some values of this run"
        expect(False, task, f"the rounding differs from torch's bfloat16 conversion {where}.")
    passed(task)


# ---------------------------------------------------------------- data parallelism


def single_process(value: Any, ddp_weights: Mapping[str, Any],
                   ddp_config: Mapping[str, Any]) -> None:
    """Check the decision ``SINGLE_PROCESS``: the single-process run that DDP reproduces.

    ``SINGLE_PROCESS`` is a dict with the ``"batch"`` (rows per step) and ``"lr"``
    (learning rate) of one process training the same model on the same data order as the
    DDP run described by ``ddp_config``. The check trains it
    (:func:`labkit.ddp_train.train_single`) and compares the final weights with the DDP
    run's, within :data:`DDP_TOLERANCE`.

    Parameters
    ----------
    value : dict
        The learner's ``SINGLE_PROCESS``.
    ddp_weights : dict
        The DDP run's final weights (name -> array).
    ddp_config : dict
        ``world_size``, ``batch`` (per worker), ``lr``, ``steps``, ``seed`` and the data
        sizes of the DDP run (``n_rows``, ``n_features``, ``hidden``, ``n_classes``).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.
    """
    from ..ddp_train import train_single

    task = "single_process"
    expect(isinstance(value, Mapping) and set(value) == {"batch", "lr"}, task,
           "set SINGLE_PROCESS to a dict with two keys, 'batch' and 'lr'.")
    batch, lr = as_number(value["batch"]), as_number(value["lr"])
    expect(not math.isnan(batch) and batch == int(batch) and batch >= 1, task,
           "SINGLE_PROCESS['batch'] must be a whole number of rows.")
    expect(not math.isnan(lr) and lr > 0, task, "SINGLE_PROCESS['lr'] must be a positive "
                                                "number.")
    config = dict(ddp_config)
    world, per_worker = int(config.pop("world_size")), int(config["batch"])
    ddp_lr = float(config["lr"])
    record(task, batch=decision(int(batch), accepted=[world * per_worker]),
           lr=decision(float(lr), between=(ddp_lr * (1 - 1e-9), ddp_lr * (1 + 1e-9))))
    if int(batch) > int(config["n_rows"]):
        expect(False, task, "that batch is larger than the data set.")
    keys = {"steps", "seed", "n_rows", "n_features", "hidden", "n_classes"}
    single = train_single(batch=int(batch), lr=float(lr), **{k: config[k] for k in keys})
    expect(set(single) == set(ddp_weights), task, "the DDP weights and the single-process "
                                                  "model have different parameters.")
    gap = max(float(np.max(np.abs(single[k] - np.asarray(ddp_weights[k])))) for k in single)
    if gap <= DDP_TOLERANCE:
        passed(task, "the single process ends with the DDP run's weights")
        return
    if int(batch) == per_worker:
        why = ("each worker trains on its own slice of the batch, but DDP averages the "
               "workers' gradients before every step: one step uses the rows of all the "
               "workers together.")
    elif math.isclose(lr, world * ddp_lr):
        why = ("DDP *averages* the gradients of the workers (it does not add them up), so "
               "the step has the size the learning rate gives it: no change of learning "
               "rate is needed to reproduce it.")
    elif int(batch) != world * per_worker:
        why = "the batch of one DDP step is not that size."
    else:
        why = "the learning rate of the DDP run is not that one."
    expect(False, task, f"training one process with these settings does not end with the "
                        f"DDP run's weights: {why}")


# ---------------------------------------------------------------- stale gradients


def _quadratic(w: Any, t: int) -> np.ndarray:
    return np.asarray(w, dtype=float).copy()


def _scaled_quadratic(w: Any, t: int) -> np.ndarray:
    return np.asarray(w, dtype=float) * (t + 1)


STALE_EXAMPLES = (
    Example((_quadratic, np.array([1.0]), 0.5, [0, 0, 0]), [[1.0], [0.5], [0.25], [0.125]],
            "grad(w, t) = w, w0=[1], lr=0.5, delays=[0, 0, 0] (fresh gradients: plain "
            "gradient descent)", slips={
                ((1.0,), (0.5,), (0.0,), (-0.25,)):
                    "the stale weights are one update too old: with delay 0 the gradient is "
                    "taken at the current weights w[t], with delay d at w[t - d].",
            }),
    Example((_quadratic, np.array([1.0]), 0.5, [0, 1, 1]), [[1.0], [0.5], [0.0], [-0.25]],
            "grad(w, t) = w, w0=[1], lr=0.5, delays=[0, 1, 1]", slips={
                ((1.0,), (0.5,), (0.25,), (0.125,)):
                    "the delays were ignored: update t must use the gradient at the "
                    "weights of t - delays[t] updates ago, not the current ones.",
                ((1.0,), (0.5,), (0.25,), (-0.25,)):
                    "the stale weights are one update too old or too new: update t uses the "
                    "weights after update t - delays[t] (delay 0: the current weights).",
                ((1.0,), (0.5,), (0.5,), (0.25,)):
                    "the step starts from the stale weights; only the gradient is stale, "
                    "the step is taken from the current weights.",
            }),
    Example((_scaled_quadratic, np.array([1.0, -2.0]), 0.5, [0, 0]),
            [[1.0, -2.0], [0.5, -1.0], [0.0, 0.0]],
            "grad(w, t) = w * (t + 1), w0=[1, -2], lr=0.5, delays=[0, 0]", slips={
                ((1.0, -2.0), (0.5, -1.0), (0.25, -0.5)):
                    "the gradient was not given the update's number t: call grad(w, t)."}),
)


def _history(task: str, got: Any, n: int, dim: int) -> np.ndarray:
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        expect(False, task, f"the function should return an array of weights, got "
                            f"{type(got).__name__}.")
    expect(arr.shape == (n + 1, dim), task,
           f"the function should return the weights before and after each update, shape "
           f"(len(delays) + 1, len(w0)) = ({n + 1}, {dim}); got shape {arr.shape}.")
    return arr


def stale_sgd(func: Callable[..., Any], problem: Any, lr: float, delays: Any, rows: int,
              stream: int = 0) -> None:
    """Check ``stale_sgd(grad, w0, lr, delays)``.

    Runs the worked examples first, then runs the function on this run's regression
    problem with this run's delays (those of an asynchronous schedule), records the
    trajectory, and tests on the learner's own trajectory that every update is
    ``w[t + 1] = w[t] - lr * grad(w[t - delays[t]], t)``.

    Parameters
    ----------
    func : callable
        The learner's ``stale_sgd``.
    problem : labkit.scaling.NoisyRegression
        This run's problem (its ``gradient(w, step, rows, stream)`` is the gradient).
    lr : float
    delays : array-like of int
        Staleness of each update.
    rows : int
        Minibatch rows of each gradient.
    stream : int
        Which minibatch stream of the problem to use.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.
    """
    task = "stale_sgd"

    def run(grad: Any, w0: Any, lr_: float, delays_: Any) -> np.ndarray:
        got = func(grad, w0.copy(), lr_, list(delays_))
        return _history(task, got, len(delays_), len(w0))

    check_examples(task, run, STALE_EXAMPLES)
    lr = float(lr)
    delays = np.asarray(delays, dtype=int)
    expect(delays.ndim == 1 and len(delays) > 0 and np.all(delays >= 0)
           and np.all(delays <= np.arange(len(delays))), task,
           "delays must be a 1-d array of whole numbers with 0 <= delays[t] <= t.")

    def grad(w: Any, t: int) -> np.ndarray:
        return problem.gradient(w, int(t), rows, stream)

    w0 = np.zeros(problem.n_features)
    got = _history(task, call_answer(task, func, grad, w0.copy(), lr, [int(d) for d in delays],
                                     _case="this run's problem and delays"),
                   len(delays), len(w0))
    record(task, risk=problem.risk(got[::10]))
    expect(np.array_equal(got[0], w0), task, "the first row should be w0, the weights "
                                             "before any update.")
    for t, d in enumerate(delays):
        want = got[t] - lr * problem.gradient(got[t - d], t, rows, stream)
        if not np.allclose(got[t + 1], want, rtol=1e-9, atol=1e-12, equal_nan=True):
            expect(False, task, f"on this run's problem, update {t} (delay {d}) is not "
                                "w[t] - lr * grad(w[t - delays[t]], t).")
    passed(task)


def _time_to_target(task: str, wall: Any, values: Any, target: float) -> float:
    from ..scaling import time_to_target

    try:
        return time_to_target(wall, values, target)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{task}: the curves are malformed ({exc}).") from None


def sync_or_async(value: Any, curves: Mapping[str, Mapping[str, Any]], target: float) -> None:
    """Check the decision ``SYNC_OR_ASYNC``: per straggler profile, the mode that reaches
    the target first in wall-clock time.

    Parameters
    ----------
    value : dict
        The learner's ``SYNC_OR_ASYNC``: profile name -> ``"sync"`` or ``"async"``.
    curves : dict
        Profile name -> {"sync": (wall, risk), "async": (wall, risk)}, where ``risk[0]``
        is the risk before the first update and ``risk[i]`` the risk after the update at
        ``wall[i - 1]`` (as :func:`labkit.scaling.time_to_target` reads them).
    target : float
        The risk to reach.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> curves = {"calm": {"sync": ([1.0, 2.0], [4.0, 2.0, 1.0]),
    ...                    "async": ([0.5, 1.0, 1.5, 2.0, 2.5], [4.0, 3.0, 2.5, 2.0, 1.5, 1.2])}}
    >>> sync_or_async({"calm": "sync"}, curves, 1.0)
    [ok] sync_or_async: consistent with the curves
    """
    task = "sync_or_async"
    expect(isinstance(curves, Mapping) and curves, task,
           "give the check the lab's curves (profile -> {'sync': ..., 'async': ...}).")
    expect(isinstance(value, Mapping) and set(value) == set(curves), task,
           f"set SYNC_OR_ASYNC to a dict with one entry per profile: {sorted(curves)}.")
    wrong_profiles = []
    by_updates = []
    for profile, runs in curves.items():
        choice = expect_choice(task, value[profile], ["sync", "async"])
        reach = {mode: _time_to_target(task, *runs[mode], target) for mode in ("sync", "async")}
        expect(min(reach.values()) < math.inf, task,
               f"in profile {profile!r} neither mode reaches the target; the check cannot "
               "judge the decision.")
        right = min(reach, key=lambda m: (reach[m], m != "sync"))
        if choice != right:
            wrong_profiles.append(profile)
            steps = {m: _time_to_target(task, np.arange(1, len(runs[m][0]) + 1), runs[m][1],
                                        target) for m in ("sync", "async")}
            by_updates.append(min(steps, key=lambda m: (steps[m], m != "sync")) == choice)
    record(task, profiles_wrong=decision(len(wrong_profiles), accepted=[0]))
    if not wrong_profiles:
        passed(task, "consistent with the curves")
        return
    if all(by_updates):
        why = ("that mode needs fewer updates, but the question is which reaches the target "
               "first in wall-clock time: an update that waits for the slowest worker takes "
               "longer.")
    else:
        why = "the other mode reaches the target sooner in wall-clock time."
    expect(False, task, f"for {', '.join(map(repr, wrong_profiles))}: {why}")


# ---------------------------------------------------------------- large batches

_LR_SHOWN = "base_lr=0.1, base_batch=32, batch=256, warmup_steps=4, steps 0..5"
LR_EXAMPLES = (
    Example((0.1, 32, 256, 4), [0.2, 0.4, 0.6, 0.8, 0.8, 0.8], _LR_SHOWN, slips={
        (0.8,) * 6: "no warm-up: the first warmup_steps steps must ramp up to the scaled "
                    "learning rate.",
        (0.0, 0.2, 0.4, 0.6, 0.8, 0.8): "the ramp is one step late: step 0 already gets "
                                        "1 / warmup_steps of the target (a step with "
                                        "learning rate 0 is wasted), and step "
                                        "warmup_steps - 1 reaches it.",
        (0.1, 0.275, 0.45, 0.625, 0.8, 0.8): "that ramp starts at base_lr; here it starts "
                                             "from (almost) zero: target * (step + 1) / "
                                             "warmup_steps.",
        tuple([0.1 * math.sqrt(8)] * 6): "that scales with the square root of the batch "
                                         "ratio and has no warm-up; the linear rule "
                                         "multiplies by batch / base_batch.",
    }),
    Example((0.1, 32, 256, 0), [0.8] * 6, "the same with warmup_steps=0 (no warm-up)"),
    Example((0.05, 64, 64, 2), [0.025, 0.05, 0.05, 0.05, 0.05, 0.05],
            "base_lr=0.05, base_batch=64, batch=64, warmup_steps=2 (nothing to scale)"),
)


def _schedule(task: str, func: Callable[..., Any]) -> Callable[..., list[float]]:
    def run(base_lr: float, base_batch: int, batch: int, warmup: int) -> list[float]:
        out = []
        for step in range(6):
            value = as_number(func(step, base_lr, base_batch, batch, warmup))
            expect(not math.isnan(value), task, "the function should return one number (a "
                                                "float) for each step.")
            out.append(value)
        return out
    return run


def scaled_lr(func: Callable[..., Any], base_lr: float, base_batch: int,
              batches: Any, warmup_share: float, epochs: int, n_rows: int) -> None:
    """Check ``scaled_lr(step, base_lr, base_batch, batch, warmup_steps)``.

    Runs the worked examples, then records the learner's schedule for each of this run's
    batch sizes at the steps where a ramp can go wrong, and tests that it never exceeds
    the scaled learning rate, ends the warm-up there, and stays there.

    Parameters
    ----------
    func : callable
        The learner's ``scaled_lr``.
    base_lr : float
        Learning rate known to work at ``base_batch``.
    base_batch : int
    batches : sequence of int
        The batch sizes the lab trains with.
    warmup_share : float
        Share of each run's steps spent warming up.
    epochs, n_rows : int
        Length of each run (steps = epochs * (n_rows // batch)).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def lr(step, base_lr, base_batch, batch, warmup_steps):
    ...     target = base_lr * batch / base_batch
    ...     if step < warmup_steps:
    ...         return target * (step + 1) / warmup_steps
    ...     return target
    >>> scaled_lr(lr, 0.05, 32, [32, 256], 0.1, 2, 1024)
    [ok] scaled_lr: all checks passed
    """
    task = "scaled_lr"
    check_examples(task, _schedule(task, func), LR_EXAMPLES)
    rows = []
    for batch in [int(b) for b in batches]:
        total = int(epochs) * (int(n_rows) // batch)
        warm = int(warmup_share * total)
        target = base_lr * batch / base_batch
        steps = sorted({0, 1, warm // 2, max(warm - 1, 0), warm, warm + 1, total - 1})
        values = [as_number(call_answer(task, func, s, base_lr, base_batch, batch, warm,
                                        _case=f"step={s}, batch={batch}")) for s in steps]
        expect(not any(math.isnan(v) for v in values), task,
               "the function should return one number (a float) for each step.")
        expect(all(v <= target * (1 + 1e-9) for v in values), task,
               f"with batch={batch} some step's learning rate exceeds base_lr * batch / "
               "base_batch.")
        expect(math.isclose(values[-1], target, rel_tol=1e-9), task,
               f"with batch={batch}, after the warm-up the learning rate should be "
               "base_lr * batch / base_batch.")
        rows.extend(values)
    record(task, learning_rates=np.asarray(rows))
    passed(task)


def max_batch(value: Any, table: Any, tolerance: float,
              column: str = "val loss (warm-up)") -> None:
    """Check the decision ``MAX_BATCH``: the largest batch whose validation loss, with
    linear scaling and warm-up, stays within ``tolerance`` of the smallest batch's.

    Parameters
    ----------
    value : int
        The learner's ``MAX_BATCH``.
    table : pandas.DataFrame
        One row per batch size (the index, ascending), with the validation loss of each
        run in ``column``.
    tolerance : float
        Allowed relative increase over the smallest batch's validation loss.
    column : str
        The column the decision is read from.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"val loss (warm-up)": [0.60, 0.60, 0.62, 0.70, 1.4]},
    ...                      index=pd.Index([32, 256, 1024, 2048, 4096], name="batch"))
    >>> max_batch(1024, table, 0.05)
    [ok] max_batch: consistent with the table
    """
    task = "max_batch"
    loss = _table(task, table, column, "batch-size table")
    tol = as_number(tolerance)
    expect(not math.isnan(tol) and tol >= 0, task, "the tolerance must be a non-negative "
                                                  "number.")
    sizes = sorted(int(s) for s in loss.index)
    base = loss[sizes[0]]
    expect(math.isfinite(base), task, "the smallest batch did not train; the check cannot "
                                      "judge the decision.")
    fine = [s for s in sizes if loss[s] <= base * (1 + tol)]
    right = max(fine)
    chosen = _choice(task, value, loss.index, "MAX_BATCH")
    distance = (sizes.index(right) - sizes.index(chosen)) if chosen is not None else math.nan
    record(task, steps_from_right=decision(distance, accepted=[0]))
    expect(chosen is not None, task, "set MAX_BATCH to one of the batch sizes in the table.")
    expect(loss[chosen] <= base * (1 + tol), task,
           f"with batch {chosen} the validation loss is more than the tolerance above the "
           "smallest batch's: that batch size does not keep the quality.")
    expect(chosen == right, task,
           f"a batch larger than {chosen} also stays within the tolerance: the question is "
           "the largest batch that keeps the quality, not the one with the lowest loss.")
    passed(task, "consistent with the table")
