"""Public self-checks of Lab 12, *Deploy, explain, ablate*.

The two function checks run the learner's function on small cases worked out by hand
(the ones the lab's instructions walk through) before recording what it gives on this
run's data and testing properties every correct answer has. The two decision checks test
that a decision follows the stated rule on the lab's table, and record it for the
grader. Failures say what is wrong in plain words; they never print a value computed
from this run's data.

Measured latencies change from run to run, so :func:`latency_summary` records the
learner's summary of a request log simulated from the run's seed, not of the measured
one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._core import (
    as_number,
    call_answer,
    decision,
    expect,
    passed,
    record,
)

__all__ = ["LATENCY_KEYS", "device_model", "drop_group", "latency_summary", "occlusion",
           "simulated_requests"]

#: The keys of ``latency_summary``'s result, in order.
LATENCY_KEYS = ("p50 ms", "p95 ms", "p99 ms", "ms per item", "items per s")

# ---------------------------------------------------------------- latency_summary
# Worked example A: four requests of 4 items from two clients at once, listed out of
# time order. Latencies 10, 10, 12 and 18 ms; the first request starts at 0 and the last
# one ends at 30 ms, so 16 items took 30 ms of wall-clock time.
_A = ((np.array([0.010, 0.000, 0.000, 0.012]), np.array([0.020, 0.010, 0.012, 0.030]), 4),
      "starts=[0.010, 0, 0, 0.012], ends=[0.020, 0.010, 0.012, 0.030], batch_size=4",
      {"p50 ms": 11.0, "p95 ms": 17.1, "p99 ms": 17.82, "ms per item": 2.75,
       "items per s": 16 / 0.030})
# Worked example B: one request of one item that took 4 ms.
_B = ((np.array([0.5]), np.array([0.504]), 1), "starts=[0.5], ends=[0.504], batch_size=1",
      {"p50 ms": 4.0, "p95 ms": 4.0, "p99 ms": 4.0, "ms per item": 4.0,
       "items per s": 250.0})
# Worked example C: two requests of 8 items, one after the other with a pause between.
_C = ((np.array([0.0, 0.1]), np.array([0.002, 0.104]), 8),
      "starts=[0, 0.1], ends=[0.002, 0.104], batch_size=8",
      {"p50 ms": 3.0, "p95 ms": 3.9, "p99 ms": 3.98, "ms per item": 0.375,
       "items per s": 16 / 0.104})
_LATENCY_EXAMPLES = (_A, _B, _C)

_PERCENTILE_SLIPS = {
    "seconds": "that is in seconds; report milliseconds (multiply by 1000).",
    "fraction": "it looks like the percentile was given as a fraction (0.95): "
                "np.percentile takes percents (95), np.quantile takes fractions (0.95).",
    "mean": "that is the mean latency; p50 is the median.",
    "higher": "that is an observed latency (nearest rank); use numpy's default, linear "
              "interpolation between the two nearest observations.",
}
_THROUGHPUT_SLIPS = {
    "sum": "that divides by the sum of the latencies, as if requests ran one after "
           "another; with several clients they overlap in time. Divide by the wall-clock "
           "span, from the earliest start to the latest end.",
    "requests": "that counts requests; each request carries batch_size items.",
    "order": "the first and last rows are not necessarily the first and last requests: "
             "take the earliest start and the latest end.",
}


def _latency_slips(starts: np.ndarray, ends: np.ndarray, batch: int) -> dict[str, dict]:
    """Wrong values of each key that a plausible slip gives, with what to say."""
    lat = (ends - starts) * 1000
    n = len(lat)
    span = ends.max() - starts.min()
    out: dict[str, dict[float, str]] = {key: {} for key in LATENCY_KEYS}
    for key, q in (("p50 ms", 50), ("p95 ms", 95), ("p99 ms", 99)):
        out[key][float(np.percentile(lat, q)) / 1000] = _PERCENTILE_SLIPS["seconds"]
        out[key][float(np.percentile(lat, q / 100))] = _PERCENTILE_SLIPS["fraction"]
        out[key][float(np.percentile(lat, q, method="higher"))] = _PERCENTILE_SLIPS["higher"]
    out["p50 ms"][float(lat.mean())] = _PERCENTILE_SLIPS["mean"]
    median = float(np.median(lat))
    out["ms per item"][median] = "divide the median latency by batch_size."
    out["ms per item"][median * batch] = "divide the median latency by batch_size; do not " \
                                         "multiply."
    out["ms per item"][float(lat.mean()) / batch] = "use the median latency, not the mean."
    out["ms per item"][median / 1000 / batch] = _PERCENTILE_SLIPS["seconds"]
    out["items per s"][batch * n / (lat.sum() / 1000)] = _THROUGHPUT_SLIPS["sum"]
    out["items per s"][n / span] = _THROUGHPUT_SLIPS["requests"]
    out["items per s"][n / (lat.sum() / 1000)] = (_THROUGHPUT_SLIPS["requests"] + " And "
                                                  + _THROUGHPUT_SLIPS["sum"])
    if n > 1 and ends[-1] > starts[0]:
        out["items per s"].setdefault(batch * n / (ends[-1] - starts[0]),
                                      _THROUGHPUT_SLIPS["order"])
    out["items per s"][batch * n / span / 1000] = ("that is items per millisecond; report "
                                                   "items per second.")
    return out


def _summary_values(task: str, got: Any) -> np.ndarray:
    if isinstance(got, pd.Series):
        got = got.to_dict()
    expect(isinstance(got, Mapping), task,
           f"the function should return a dict with the keys {list(LATENCY_KEYS)}, got "
           f"{type(got).__name__}.")
    missing = [k for k in LATENCY_KEYS if k not in got]
    extra = [k for k in got if k not in LATENCY_KEYS]
    expect(not missing, task, f"the result lacks the keys {missing}; return a dict with the "
                              f"keys {list(LATENCY_KEYS)}.")
    expect(not extra, task, f"the result has unexpected keys {extra}; return exactly "
                            f"{list(LATENCY_KEYS)}.")
    values = np.array([as_number(got[k]) for k in LATENCY_KEYS])
    bad = [k for k, v in zip(LATENCY_KEYS, values, strict=True) if not math.isfinite(v)]
    expect(not bad, task, f"the values of {bad} should be single finite numbers.")
    return values


def simulated_requests(seed: int, *, n_requests: int = 120, concurrency: int = 3,
                       batch_size: int = 16) -> tuple[np.ndarray, np.ndarray, int]:
    """A request log as :func:`labkit.serving.benchmark` measures one, simulated from a seed.

    ``concurrency`` clients each send their next request as soon as the last one is
    answered; service times are log-normal (median 5 ms, a long tail). Rows come in the
    order requests were sent.

    Returns
    -------
    starts, ends : ndarray
        Seconds.
    batch_size : int

    Examples
    --------
    >>> starts, ends, batch = simulated_requests(0)
    >>> len(starts), bool((ends > starts).all()), batch
    (120, True, 16)
    """
    rng = np.random.default_rng(seed)
    service = 0.005 * rng.lognormal(0.0, 0.6, n_requests)
    free = np.zeros(concurrency)
    starts = np.empty(n_requests)
    ends = np.empty(n_requests)
    for i in range(n_requests):
        client = int(np.argmin(free))
        starts[i] = free[client] + 0.0002 * rng.random()
        ends[i] = starts[i] + service[i]
        free[client] = ends[i]
    return starts, ends, batch_size


def latency_summary(func: Callable[..., Any], seed: int) -> None:
    """Check ``latency_summary(starts, ends, batch_size)``.

    Runs the worked examples first, then records the summary of a request log simulated
    from ``seed`` (:func:`simulated_requests`; measured latencies change between runs, so
    they cannot be graded) and tests properties every correct summary has: percentiles in
    order, throughput at least what requests one after another would give, the order of
    the rows does not matter, and twice slower requests double every latency and halve
    the throughput.

    Parameters
    ----------
    func : callable
        The learner's ``latency_summary``.
    seed : int
        The lab's ``SEED``.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def summary(starts, ends, batch_size):
    ...     ms = (np.asarray(ends) - np.asarray(starts)) * 1000
    ...     p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    ...     span = np.max(ends) - np.min(starts)
    ...     return {"p50 ms": p50, "p95 ms": p95, "p99 ms": p99,
    ...             "ms per item": p50 / batch_size,
    ...             "items per s": batch_size * len(ms) / span}
    >>> latency_summary(summary, 0)
    [ok] latency_summary: all checks passed
    """
    task = "latency_summary"
    expect(isinstance(seed, (int, np.integer)) and not isinstance(seed, bool), task,
           "give the check the lab's SEED (an integer).")
    for (starts, ends, batch), shown, want in _LATENCY_EXAMPLES:
        got = _summary_values(task, call_answer(task, func, starts.copy(), ends.copy(), batch,
                                                _case=shown))
        slips = _latency_slips(starts, ends, batch)
        for key, value in zip(LATENCY_KEYS, got, strict=True):
            if math.isclose(value, want[key], rel_tol=1e-6, abs_tol=1e-9):
                continue
            why = next((msg for wrong, msg in slips[key].items()
                        if math.isclose(value, wrong, rel_tol=1e-6, abs_tol=1e-9)), "")
            expect(False, task, f"for {shown}, {key!r} is {want[key]:.6g}, your function "
                                f"returned {value:.6g}" + (f": {why}" if why else "."))

    starts, ends, batch = simulated_requests(int(seed))
    got = _summary_values(task, call_answer(task, func, starts.copy(), ends.copy(), batch))
    record(task, **dict(zip(LATENCY_KEYS, got, strict=True)), rtol=1e-9)
    p50, p95, p99, per_item, throughput = got
    lat = (ends - starts) * 1000
    expect(lat.min() - 1e-9 <= p50 <= p95 <= p99 <= lat.max() + 1e-9, task,
           "on the simulated log the percentiles are not in order (min <= p50 <= p95 <= "
           "p99 <= max).")
    expect(np.allclose([p50, p95, p99], np.percentile(lat, [50, 95, 99]), rtol=1e-9), task,
           "on the simulated log the percentiles are not those of the request latencies: "
           "each request's latency is its own end minus its own start (do not sort the "
           "starts and the ends separately).")
    expect(throughput >= batch * len(lat) / (lat.sum() / 1000) * (1 - 1e-9), task,
           "on the simulated log (three clients at once) the throughput is below what "
           "requests one after another would give; divide by the wall-clock span.")
    order = np.random.default_rng(0).permutation(len(starts))
    shuffled = _summary_values(task, call_answer(task, func, starts[order], ends[order], batch))
    expect(np.allclose(shuffled, got, rtol=1e-9), task,
           "shuffling the rows of the request log changed the summary; it should not "
           "depend on the order in which the requests are listed.")
    slower = _summary_values(task, call_answer(task, func, 2 * starts, 2 * ends, batch))
    expect(np.allclose(slower, got * np.array([2, 2, 2, 2, 0.5]), rtol=1e-9), task,
           "when every request takes twice as long, latencies should double and the "
           "throughput halve; they do not.")
    passed(task)


# ---------------------------------------------------------------- occlusion
# Worked example: a toy model over three inputs a, b, c. It gives app 0 the probability
# 0.1 + 0.45 [a known] + 0.25 [b known] + 0.1 [c known] and app 1 the rest; None means
# unknown. With every input known, app 0 gets 0.9. Occluding group A (column a) leaves
# 0.45, so A contributes 0.45; occluding group BC (b and c) leaves 0.55, so BC
# contributes 0.35.


def _toy_predict_proba(frame: Any) -> np.ndarray:
    """Probabilities of two apps from inputs a, b, c (None or NaN: unknown)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"predict_proba takes a DataFrame, got {type(frame).__name__}")
    missing = [c for c in ("a", "b", "c") if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} are missing from the frame given to predict_proba")
    known = frame[["a", "b", "c"]].notna().to_numpy().astype(float)
    p0 = 0.1 + known @ np.array([0.45, 0.25, 0.1])
    return np.column_stack([p0, 1 - p0])


_TOY_ROW = pd.DataFrame({"a": [1], "b": ["x"], "c": [True]})
_TOY_GROUPS = {"A": ["a"], "BC": ["b", "c"]}
_TOY_SHOWN = ("the lab's toy model, row a=1, b='x', c=True, groups {'A': ['a'], "
              "'BC': ['b', 'c']}")
_OCCLUSION_EXAMPLES = (
    (0, [0.45, 0.35], {
        (0.35, 0.45): "those are the contributions of the *other* groups: occlude the "
                      "group itself and keep the rest as it is.",
        (0.45, 0.8): "the occlusions add up: each group should be occluded on a fresh copy "
                     "of the row, with every other group at its real value (did you "
                     "modify the row in place?).",
        (-0.45, -0.35): "the sign is reversed: a contribution is the probability with "
                        "the group minus the probability without it.",
        (0.45, 0.55): "those are the probabilities after occlusion; return how much "
                      "each occlusion lowers the probability.",
        (0.35, 0.35): "after occlusion, read the probability of the same app, not of the "
                      "app that is now on top.",
        (0.5, 0.35 / 0.9): "that is a relative change; return the difference of the two "
                           "probabilities.",
        (0.0, 0.0): "nothing changed: set the group's columns to None (unknown).",
    }),
    (1, [-0.45, -0.35], {
        (0.45, 0.35): "that explains app 0, the app on top; explain the app you are given.",
        (0.45, 0.55): "read the probability of the app you are given (column `app` of "
                      "predict_proba's output).",
    }),
)


def _contributions(task: str, got: Any, names: Sequence[str]) -> np.ndarray:
    if isinstance(got, pd.DataFrame) and got.shape[1] == 1:
        got = got.iloc[:, 0]
    if isinstance(got, pd.Series):
        got = got.to_dict()
    expect(isinstance(got, Mapping), task,
           "the function should return a pandas Series indexed by the group names (or a "
           f"dict: group -> contribution), got {type(got).__name__}.")
    keys = [str(k) for k in got]
    expect(sorted(keys) == sorted(names), task,
           f"the result should have one entry per group, {list(names)}; got {keys}.")
    values = np.array([as_number(got[name]) for name in names])
    expect(bool(np.all(np.isfinite(values))), task,
           "every contribution should be a single finite number.")
    return values


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def occlusion(func: Callable[..., Any], model: Any, row: pd.DataFrame,
              groups: Mapping[str, Sequence[str]], app: int) -> None:
    """Check ``occlusion(predict_proba, row, groups, app)``.

    Runs the worked examples (a toy model whose occlusions are easy to work out) first.
    Then, on this run's request, it compares the learner's occlusion of the lab's linear
    model with what the model's own terms (:func:`labkit.explain.linear_terms`) say it
    must be: occluding a group removes exactly that group's term from every app's score.
    It also checks that the row passed in is left as it was, and records the
    contributions.

    Parameters
    ----------
    func : callable
        The learner's ``occlusion``.
    model : sklearn.pipeline.Pipeline
        The lab's fitted one-hot logistic regression.
    row : pandas.DataFrame
        One request (one row).
    groups : dict
        Group name -> columns.
    app : int
        The app explained (its column in ``predict_proba``'s output).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from sklearn.compose import ColumnTransformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import OneHotEncoder
    >>> X = pd.DataFrame({"hour": [7, 20, 7, 20] * 5, "place": ["home", "home", "work",
    ...                   "work"] * 5})
    >>> encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore"),
    ...                              ["hour", "place"])])
    >>> model = make_pipeline(encode, LogisticRegression()).fit(X, [0, 1, 0, 0] * 5)
    >>> def occlude(predict_proba, row, groups, app):
    ...     base = predict_proba(row)[0, app]
    ...     out = {}
    ...     for name, cols in groups.items():
    ...         hidden = row.copy()
    ...         hidden[cols] = None
    ...         out[name] = base - predict_proba(hidden)[0, app]
    ...     return pd.Series(out)
    >>> occlusion(occlude, model, X.iloc[[1]], {"time": ["hour"], "place": ["place"]}, 1)
    [ok] occlusion: all checks passed
    """
    from ..explain import check_groups, linear_terms

    task = "occlusion"
    expect(isinstance(row, pd.DataFrame) and len(row) == 1, task,
           "give the check one request as a one-row DataFrame (frame.iloc[[i]]).")
    groups = check_groups(groups, list(row.columns))
    n_classes = len(getattr(model, "classes_", []))
    expect(isinstance(app, (int, np.integer)) and 0 <= app < n_classes, task,
           "app must be an app id: a column of the model's predict_proba output.")
    for toy_app, want, slips in _OCCLUSION_EXAMPLES:
        shown = f"{_TOY_SHOWN}, app={toy_app}"
        got = call_answer(task, func, _toy_predict_proba, _TOY_ROW.copy(),
                          {k: list(v) for k, v in _TOY_GROUPS.items()}, toy_app, _case=shown)
        values = _contributions(task, got, list(_TOY_GROUPS))
        if np.allclose(values, want, atol=1e-9):
            continue
        why = next((msg for wrong, msg in slips.items()
                    if np.allclose(values, wrong, atol=1e-9)), "")
        expect(False, task, f"for {shown} the contributions of A and BC are "
                            f"{want[0]:g} and {want[1]:g}, your function returned "
                            f"{values[0]:.4g} and {values[1]:.4g}"
                            + (f": {why}" if why else "."))

    given = row.copy()
    got = call_answer(task, func, model.predict_proba, given, {k: list(v) for k, v in
                                                               groups.items()}, int(app))
    values = _contributions(task, got, list(groups))
    expect(given.equals(row), task, "your function changed the row it was given; occlude "
                                    "a copy, so that each group starts from the real row.")
    record(task, contributions=values, rtol=1e-6, atol=1e-9)
    terms = linear_terms(model, row, groups)
    score = terms.sum().to_numpy()
    full = _softmax(score)[app]
    want = np.array([full - _softmax(score - terms.loc[name].to_numpy())[app]
                     for name in groups])
    expect(np.allclose(values, want, rtol=1e-6, atol=1e-9), task,
           "on this run's request the contributions do not match what the model's own "
           "terms say: occluding a group should remove exactly that group's term from "
           "every app's score. Set the group's columns to None and compare the "
           "probability of the same app.")
    passed(task)


# ---------------------------------------------------------------- decisions


def _real(value: Any) -> float:
    """A real number (not a string or a bool) as a float; NaN otherwise."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return math.nan
    return as_number(value)


def _table_column(task: str, table: Any, column: str, what: str) -> pd.Series:
    expect(isinstance(table, pd.DataFrame) and column in table.columns, task,
           f"give the check the lab's {what} table (a DataFrame with a {column!r} column).")
    values = pd.to_numeric(table[column], errors="coerce")
    expect(bool(values.notna().all()), task, f"the {column!r} column must hold numbers.")
    return values.astype(float)


def device_model(value: Any, table: Any, budget_kb: float) -> None:
    """Check the decision ``DEVICE_MODEL``: the best variant that fits the phone's budget.

    The right answer is the variant (row of ``table``) with the lowest validation log
    loss among those whose saved size (``"size KB"``) is at most ``budget_kb``; ties go
    to the row listed first. Records the decision.

    Parameters
    ----------
    value : str
        The learner's ``DEVICE_MODEL``, a row name of ``table``.
    table : pandas.DataFrame
        The lab's device table, with ``"size KB"`` and ``"log loss"`` columns.
    budget_kb : float
        The most kilobytes the model may take on the phone.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"size KB": [36.0, 12.0, 136.0, 37.0],
    ...                       "log loss": [2.67, 2.68, 2.62, 2.63]},
    ...                      index=["MLP-32 float32", "MLP-32 int8", "MLP-128 float32",
    ...                             "MLP-128 int8"])
    >>> device_model("MLP-128 int8", table, 40)
    [ok] device_model: consistent with the table
    """
    task = "device_model"
    size = _table_column(task, table, "size KB", "device")
    loss = _table_column(task, table, "log loss", "device")
    budget = _real(budget_kb)
    expect(math.isfinite(budget) and budget > 0, task, "budget_kb must be a positive number.")
    names = [str(n) for n in table.index]
    fits = size <= budget
    right = str(loss[fits].idxmin()) if fits.any() else None
    got = value.strip() if isinstance(value, str) else value
    record(task, model=decision(got if isinstance(got, str) or got is None else str(got),
                                accepted=[right]))
    if got == right:
        passed(task, "consistent with the table")
        return
    expect(right is not None, task, "no variant fits the budget, so the answer is None.")
    expect(isinstance(got, str), task,
           f"set DEVICE_MODEL to a row name of the table (a string), one of {names}; got "
           f"{type(value).__name__}.")
    expect(got in names, task, f"{got!r} is not a row of the table; answer with one of "
                               f"{names}.")
    if not fits[got]:
        why = ("its saved file is larger than the budget: only variants whose 'size KB' is "
               "at most the budget can ship on the phone.")
    elif size[got] == size[fits].min():
        why = ("that is the smallest variant; among those that fit, ship the one that "
               "predicts best (lowest validation log loss).")
    else:
        why = ("a variant that also fits predicts better (lower validation log loss); "
               "compare the variants within the budget on the validation column.")
    expect(False, task, f"DEVICE_MODEL = {got!r} does not follow the rule: {why}")


def drop_group(value: Any, table: Any, tolerance: float) -> None:
    """Check the decision ``DROP_GROUP``: which feature group to remove after the ablation.

    The rule: among the groups whose removal raises the validation log loss by at most
    ``tolerance`` (column ``"log loss cost"``), drop the one that removes the most
    one-hot columns (the drop in the ``"features"`` column from the ``"nothing"`` row);
    ties go to the group listed first; ``None`` when no group qualifies. Records the
    decision.

    Parameters
    ----------
    value : str or None
        The learner's ``DROP_GROUP``.
    table : pandas.DataFrame
        The lab's ablation table (:func:`labkit.explain.ablation`), indexed by what was
        removed (``"nothing"``, then each group), with ``"log loss cost"`` and
        ``"features"`` columns.
    tolerance : float
        The most validation log loss (nats per event) a removal may cost.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"features": [230, 80, 228, 214],
    ...                       "log loss cost": [0.0, 0.29, 0.005, 0.0004]},
    ...                      index=["nothing", "user", "battery", "profile"])
    >>> drop_group("profile", table, 0.005)
    [ok] drop_group: consistent with the ablation
    """
    task = "drop_group"
    cost = _table_column(task, table, "log loss cost", "ablation")
    features = _table_column(task, table, "features", "ablation")
    expect("nothing" in table.index and len(table) >= 2, task,
           "the ablation table needs the row 'nothing' (every group kept) and one row per "
           "group removed.")
    tol = _real(tolerance)
    expect(math.isfinite(tol) and tol >= 0, task, "tolerance must be a number of at least 0.")
    groups = [str(g) for g in table.index if g != "nothing"]
    saved = (features["nothing"] - features).drop("nothing")
    saved.index = groups
    cost = cost.drop("nothing")
    cost.index = groups
    cheap = [g for g in groups if cost[g] <= tol]
    right = max(cheap, key=lambda g: (saved[g], -groups.index(g))) if cheap else None
    got = value.strip() if isinstance(value, str) else value
    record(task, group=decision(got if isinstance(got, str) or got is None else str(got),
                                accepted=[right]))
    if got == right:
        passed(task, "consistent with the ablation")
        return
    expect(got is not None, task, "at least one group's removal costs no more than the "
                                  "tolerance; name the one to drop.")
    expect(isinstance(got, str), task, f"set DROP_GROUP to a group name (a string), one of "
                                       f"{groups}, or None; got {type(value).__name__}.")
    expect(got != "nothing", task, "'nothing' is the row with every group kept; answer with "
                                   "the name of the group to drop.")
    expect(got in groups, task, f"{got!r} is not a group of the ablation; answer with one of "
                                f"{groups}.")
    expect(right is not None, task, "no group's removal costs less than the tolerance, so "
                                    "the answer is None: keep every group.")
    if cost[got] > tol:
        why = ("removing it raises the validation log loss by more than the tolerance. "
               "Read the ablation's 'log loss cost' column: permutation importance measures "
               "how much this fitted model relies on a group, not what a model retrained "
               "without it loses, and accuracy differences this small are mostly noise.")
    else:
        why = ("another group within the tolerance removes more one-hot columns, which is "
               "the bigger simplification.")
    expect(False, task, f"DROP_GROUP = {got!r} does not follow the rule: {why}")
