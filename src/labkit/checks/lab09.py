"""Public self-checks of Lab 09, *Hyperparameter tuning*.

Three function checks and two decision checks. The function checks run the learner's
function on small cases first (worked out by hand, or built from a tiny data set whose
right answer the check computes with the lab's own model), then record what it gives on
this run's data for the grader and test properties every correct answer has. The
decision checks test that a decision is consistent with the lab's own tables and record
it *relative to them* (the rank of the chosen hyperparameter in the learner's importance
table, the gap between the chosen configuration's validation score and the best one),
so that a slip in an earlier task never costs a decision's points. Failures say what is
wrong in plain words; they never print a value computed from this run's data.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._core import (
    call_answer,
    decision,
    expect,
    passed,
    record,
)

__all__ = ["EXAMPLE_PARAMS", "best_so_far", "final_params", "grid_for_budget",
           "most_important", "validation_accuracy"]

#: The configuration the check of ``validation_accuracy`` trains on its small case and
#: on this run's data (a point of the lab's search space).
EXAMPLE_PARAMS = ({"eta0": 0.1, "alpha": 1e-6, "loss": "log_loss"},
                  {"eta0": 0.003, "alpha": 1e-4, "loss": "modified_huber"})


def _fmt(value: float) -> str:
    return f"{value:.6g}"


# ---------------------------------------------------------------- validation_accuracy
# A small case: one-hot rows of three categories. In training, category 0 always means
# app 0, category 1 app 1 and category 2 (seen 4 times) app 2, so a model trained on
# these rows predicts app c for category c. The 11 validation rows hold 3 rows of
# category 0 with app 0, 2 of category 1 (apps 1 and 0) and 6 of category 2 with app 0:
# such a model gets 4 of them right, 4/11 = 0.363636. Scoring the training rows gives 1;
# a model that also trained on the validation rows learns that category 2 now means
# app 0 and gets 10 of 11 right. The check computes the right answer with the lab's own
# make_model rather than trusting these numbers.

def _small_case() -> tuple[Any, np.ndarray, Any, np.ndarray]:
    from scipy import sparse

    def onehot(categories: Sequence[int]) -> Any:
        rows = np.zeros((len(categories), 3))
        rows[np.arange(len(categories)), categories] = 1.0
        return sparse.csr_matrix(rows)

    train_cats = [0] * 10 + [1] * 10 + [2] * 4
    train_apps = np.array(train_cats)
    valid_cats = [0, 0, 0, 1, 1] + [2] * 6
    valid_apps = np.array([0, 0, 0, 1, 0] + [0] * 6)
    return onehot(train_cats), train_apps, onehot(valid_cats), valid_apps


_SMALL_SHOWN = ("the small case (24 training rows, 11 validation rows of three one-hot "
                "categories; see the check's source)")


def _accuracy_of(task: str, make_model: Callable[..., Any], params: Mapping[str, Any],
                 X_fit: Any, y_fit: Any, X_eval: Any, y_eval: Any) -> float:
    model = call_answer(task, make_model, dict(params), _case=f"params={dict(params)}")
    model.fit(X_fit, y_fit)
    return float(model.score(X_eval, y_eval))


def _number(task: str, value: Any, where: str) -> float:
    expect(isinstance(value, (int, float, np.integer, np.floating))
           and not isinstance(value, (bool, np.bool_)), task,
           f"{where} your function returned {type(value).__name__} {str(value)[:60]}; "
           "return one number (a float).")
    return float(value)


def validation_accuracy(func: Callable[..., Any], make_model: Callable[..., Any],
                        X_train: Any, y_train: Any, X_valid: Any, y_valid: Any) -> None:
    """Check ``validation_accuracy(params, X_train, y_train, X_valid, y_valid)``.

    The right answer trains ``make_model(params)`` on the training rows only, scores it
    on the validation rows (accuracy) and rounds to 6 decimals. The check tries the
    function on a small case built so that the usual slips give different numbers:
    scoring the training rows, training on the validation rows too, or not rounding.
    Then it records the function's value on this run's data for two configurations
    (:data:`EXAMPLE_PARAMS`) and compares them with what the check computes itself.

    Parameters
    ----------
    func : callable
        The learner's ``validation_accuracy``.
    make_model : callable
        The lab's ``make_model(params)``, an unfitted classifier.
    X_train, y_train, X_valid, y_valid : array-like
        This run's training and validation rows.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> def make_model(params):
    ...     return SGDClassifier(learning_rate="constant", max_iter=10, tol=None,
    ...                          random_state=0, **params)
    >>> def accuracy(params, X_train, y_train, X_valid, y_valid):
    ...     model = make_model(params).fit(X_train, y_train)
    ...     return round(model.score(X_valid, y_valid), 6)
    >>> X, y, X_v, y_v = _small_case()
    >>> validation_accuracy(accuracy, make_model, X, y, X_v, y_v)
    [ok] validation_accuracy: all checks passed
    """
    task = "validation_accuracy"
    expect(callable(make_model), task, "give the check the lab's make_model function.")
    expect(len(y_train) > 0 and len(y_valid) > 0, task,
           "give the check this run's training and validation rows (non-empty).")

    # 1. The small case.
    X_a, y_a, X_b, y_b = _small_case()
    params = EXAMPLE_PARAMS[0]
    right = _accuracy_of(task, make_model, params, X_a, y_a, X_b, y_b)
    want = round(right, 6)
    got = _number(task, call_answer(task, func, copy.deepcopy(params), X_a.copy(),
                                    y_a.copy(), X_b.copy(), y_b.copy(),
                                    _case=_SMALL_SHOWN), f"for {_SMALL_SHOWN}")
    if not math.isclose(got, want, rel_tol=0, abs_tol=1e-12):
        from scipy import sparse

        slips = [
            (right, "that is the accuracy before rounding; round it to 6 decimals, so that "
                    "a last-bit difference between two machines cannot steer the search."),
            (_accuracy_of(task, make_model, params, X_a, y_a, X_a, y_a),
             "that is the accuracy on the training rows: a model is judged on rows it did "
             "not learn from, the validation rows."),
            (_accuracy_of(task, make_model, params, sparse.vstack([X_a, X_b]),
                          np.concatenate([y_a, y_b]), X_b, y_b),
             "the model also trained on the validation rows, so it has seen the answers "
             "it is judged on: train on the training rows only."),
        ]
        why = next((msg for wrong, msg in slips
                    if math.isclose(got, wrong, rel_tol=0, abs_tol=1e-12)
                    or math.isclose(got, round(wrong, 6), rel_tol=0, abs_tol=1e-12)), "")
        expect(False, task, f"for {_SMALL_SHOWN} the answer is {_fmt(want)}, your "
                            f"function returned {_fmt(got)}" + (f": {why}" if why else "."))

    # 2. This run's data.
    values = []
    for params in EXAMPLE_PARAMS:
        got = _number(task, call_answer(task, func, copy.deepcopy(params), X_train, y_train,
                                        X_valid, y_valid), "on this run's data")
        values.append(got)
    record(task, accuracy=values)

    # 3. Properties.
    for params, got in zip(EXAMPLE_PARAMS, values, strict=True):
        expect(0.0 <= got <= 1.0, task, "an accuracy lies between 0 and 1.")
        expect(got == round(got, 6), task, "on this run's data the value is not rounded to "
                                           "6 decimals.")
        right = round(_accuracy_of(task, make_model, params, X_train, y_train, X_valid,
                                   y_valid), 6)
        expect(math.isclose(got, right, rel_tol=0, abs_tol=1e-12), task,
               f"with params={params} your function's value on this run's data is not the "
               "validation accuracy of the model trained on the training rows. Does it "
               "use the arguments it is given (not the lab's other variables, such as "
               "the test rows)?")
    passed(task)


# ---------------------------------------------------------------- grid_for_budget
def _dists() -> tuple[type, type]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    return FloatDistribution, CategoricalDistribution


def _reference_grid(space: Mapping[str, Any], budget: int) -> dict[str, list[Any]]:
    """The grid the lab asks for (see :func:`grid_for_budget`)."""
    floats, categorical = _dists()
    combos = math.prod(len(d.choices) for d in space.values() if isinstance(d, categorical))
    numeric = [n for n, d in space.items() if isinstance(d, floats)]
    per_axis = 1
    while numeric and (per_axis + 1) ** len(numeric) * combos <= budget:
        per_axis += 1
    grid: dict[str, list[Any]] = {}
    for name, dist in space.items():
        if isinstance(dist, categorical):
            grid[name] = list(dist.choices)
        else:
            spread = np.geomspace if dist.log else np.linspace
            grid[name] = [float(v) for v in spread(dist.low, dist.high, per_axis)]
    return grid


def _grid_examples() -> list[tuple[dict[str, Any], int, str, list[tuple[Callable, str]]]]:
    floats, categorical = _dists()
    linear = (lambda d, n: np.linspace(d.low, d.high, n),
              "the values are evenly spaced on a linear scale, but this range is declared "
              "log=True: space them evenly in the exponent (each value a constant factor "
              "times the one before), or most of them land in the top decade.")
    raw_logspace = (lambda d, n: np.logspace(d.low, d.high, n),
                    "np.logspace takes exponents (10**low to 10**high), not the bounds "
                    "themselves.")
    return [
        ({"lr": floats(1e-4, 1.0, log=True), "loss": categorical(["hinge", "log_loss"])}, 10,
         "space={'lr': FloatDistribution(1e-4, 1, log=True), 'loss': "
         "CategoricalDistribution(['hinge', 'log_loss'])}, budget=10",
         [linear, raw_logspace]),
        ({"x": floats(0.0, 1.0), "y": floats(0.0, 1.0), "z": floats(0.0, 1.0)}, 64,
         "space={'x', 'y', 'z': FloatDistribution(0, 1) each}, budget=64", []),
        ({"a": floats(1.0, 100.0, log=True), "b": categorical([True, False, None])}, 20,
         "space={'a': FloatDistribution(1, 100, log=True), 'b': "
         "CategoricalDistribution([True, False, None])}, budget=20", [linear]),
        ({"c": categorical(["x", "y"]), "w": floats(-1.0, 1.0), "v": floats(0.5, 8.0, log=True)},
         25, "space={'c': CategoricalDistribution(['x', 'y']), 'w': FloatDistribution(-1, 1), "
             "'v': FloatDistribution(0.5, 8, log=True)}, budget=25", [linear]),
    ]


def _as_values(task: str, value: Any, name: str, where: str) -> list[Any]:
    expect(isinstance(value, (list, tuple, np.ndarray)), task,
           f"{where} grid[{name!r}] is a {type(value).__name__}; give each hyperparameter a "
           "list of values.")
    return list(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray) \
        else list(value)


def _same_values(got: list[Any], want: list[Any]) -> bool:
    if len(got) != len(want):
        return False
    if all(isinstance(w, (float, int)) and not isinstance(w, bool) for w in want):
        try:
            return bool(np.allclose(np.asarray(got, dtype=float), want, rtol=1e-9, atol=0))
        except (TypeError, ValueError):
            return False
    flags = (bool, np.bool_)
    return all((g is None) == (w is None) and isinstance(g, flags) == isinstance(w, flags)
               and g == w for g, w in zip(got, want, strict=True))


def _grid_problem(task: str, grid: Any, space: Mapping[str, Any], budget: int, where: str,
                  spreads: Sequence[tuple[Callable, str]] = ()) -> str:
    """What is wrong with ``grid`` for ``space`` and ``budget`` ("" when it is right)."""
    floats, categorical = _dists()
    expect(isinstance(grid, Mapping), task,
           f"{where} your function returned {type(grid).__name__}; return a dict from each "
           "hyperparameter's name to its list of values.")
    expect(set(grid) == set(space), task,
           f"{where} the grid's names are {sorted(map(str, grid))}; it needs exactly the "
           f"space's names, {sorted(space)}.")
    want = _reference_grid(space, budget)
    got = {name: _as_values(task, grid[name], name, where) for name in space}
    size = math.prod(len(v) for v in got.values())
    if size > budget:
        return (f"the grid has {size} points, more than the budget of {budget}: count the "
                "combinations of the categorical values too.")
    for name, dist in space.items():
        if isinstance(dist, categorical) and not _same_values(got[name], want[name]):
            return (f"grid[{name!r}] should hold every choice of the categorical "
                    f"hyperparameter, in the declared order: {want[name]}.")
    for name, dist in space.items():
        if not isinstance(dist, floats) or _same_values(got[name], want[name]):
            continue
        n = len(want[name])
        if len(got[name]) != n:
            return (f"grid[{name!r}] has {len(got[name])} values; the budget allows {n} per "
                    f"numeric hyperparameter (the largest number n with n ** (number of "
                    "numeric hyperparameters) times the categorical combinations within "
                    "the budget). Beware of a root computed in floating point: 64 ** (1/3) "
                    "is 3.9999999999999996.")
        for spread, message in spreads:
            if _same_values(got[name], [float(v) for v in spread(dist, n)]):
                return f"grid[{name!r}]: {message}"
        scale = "evenly in the exponent" if dist.log else "evenly"
        return (f"grid[{name!r}] should hold {n} values spaced {scale} from {dist.low:g} to "
                f"{dist.high:g}, both ends included.")
    return ""


def grid_for_budget(func: Callable[..., Any], space: Mapping[str, Any], budget: int) -> None:
    """Check ``grid_for_budget(space, budget)``.

    The right grid holds every choice of each categorical hyperparameter, and the same
    number ``n`` of values for each numeric one: the largest ``n`` with
    ``n ** (number of numeric hyperparameters) * (number of categorical combinations)``
    within the budget. The values run from the range's low end to its high end, evenly
    spaced, in the exponent when the range is declared ``log=True``.

    Parameters
    ----------
    func : callable
        The learner's ``grid_for_budget``.
    space : dict
        The lab's search space (name -> optuna distribution).
    budget : int
        The lab's budget of trials.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from optuna.distributions import CategoricalDistribution, FloatDistribution
    >>> space = {"eta0": FloatDistribution(1e-5, 10.0, log=True),
    ...          "loss": CategoricalDistribution(["log_loss", "hinge"])}
    >>> grid_for_budget(_reference_grid, space, 8)
    [ok] grid_for_budget: all checks passed
    """
    task = "grid_for_budget"
    floats, categorical = _dists()
    expect(isinstance(space, Mapping) and space and all(
        isinstance(d, (floats, categorical)) for d in space.values()), task,
        "give the check the lab's SPACE (names -> FloatDistribution or "
        "CategoricalDistribution).")
    expect(isinstance(budget, (int, np.integer)) and budget >= 1, task,
           "give the check the lab's BUDGET (a whole number of trials).")

    for ex_space, ex_budget, shown, spreads in _grid_examples():
        where = f"for {shown}"
        got = call_answer(task, func, copy.deepcopy(ex_space), ex_budget, _case=shown)
        why = _grid_problem(task, got, ex_space, ex_budget, where, spreads)
        expect(not why, task, f"{where}: {why}")

    grid = call_answer(task, func, copy.deepcopy(dict(space)), int(budget))
    where = "on the lab's SPACE and BUDGET"
    why = _grid_problem(task, grid, space, int(budget), where)
    values = {name: [v if isinstance(v, str) else float(v) if v is not None else "None"
                     for v in _as_values(task, grid[name], name, where)] for name in space}
    record(task, **values)
    expect(not why, task, f"{where}: {why}")
    passed(task)


# ---------------------------------------------------------------- best_so_far
_NAN = math.nan
_CURVE_EXAMPLES = (
    ([0.3, 0.5, 0.4], [0.3, 0.5, 0.5], "values=[0.3, 0.5, 0.4]"),
    ([0.3, _NAN, 0.5, 0.4], [0.3, 0.3, 0.5, 0.5], "values=[0.3, nan, 0.5, 0.4] (trial 2 failed)"),
    ([_NAN, 0.2, 0.1], [_NAN, 0.2, 0.2], "values=[nan, 0.2, 0.1] (trial 1 failed)"),
    ([0.7], [0.7], "values=[0.7]"),
)


def _curve(task: str, value: Any, n: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = None
    expect(arr is not None and arr.ndim == 1, task,
           f"{where} your function returned {type(value).__name__} {str(value)[:60]}; return "
           "a 1-d array of numbers.")
    expect(len(arr) == n, task,
           f"{where} your function returned {len(arr)} values; return one per trial ({n}), "
           "failed trials included, so that the curve lines up with the trial numbers.")
    return arr


def _same_curve(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-12, atol=0,
                                                        equal_nan=True))


def _curve_slip(values: np.ndarray, got: np.ndarray) -> str:
    with np.errstate(all="ignore"):
        running_mean = np.cumsum(values) / np.arange(1, len(values) + 1)
    candidates = [
        (np.maximum.accumulate(values), "once a failed trial's NaN enters, np.maximum keeps "
                                        "returning NaN: skip failed trials (NaN) instead."),
        (pd.Series(values).cummax().to_numpy(dtype=float),
         "pandas' cummax leaves a failed trial's NaN in its place: after a failed trial the "
         "curve keeps the best value so far, and is NaN only before the first finished "
         "trial."),
        (running_mean, "that is the running mean of the values, not the best so far."),
        (np.fmin.accumulate(values), "that is the lowest value so far; higher accuracy is "
                                     "better."),
        (values, "those are the values themselves, not the best so far."),
    ]
    return next((msg for wrong, msg in candidates if _same_curve(got, wrong)), "")


def _run_values(seed: int, n: int = 40) -> np.ndarray:
    """Validation accuracies of a made-up search drawn from the run's seed: they creep up
    with noise, and a few trials (the first among them, for some seeds) failed (NaN)."""
    rng = np.random.default_rng([9, int(seed)])
    values = np.round(0.25 + 0.15 * rng.random(n) ** 0.5 * np.linspace(0.6, 1.0, n), 6)
    values[rng.random(n) < 0.15] = np.nan
    if rng.random() < 0.5:
        values[0] = np.nan
    return values


def best_so_far(func: Callable[..., Any], seed: int) -> None:
    """Check ``best_so_far(values)``.

    The right curve holds, after each trial, the highest value so far, skipping failed
    trials (NaN); it is NaN until the first trial that finished. The check tries the
    worked examples, then a sequence of 40 trial values drawn from this run's seed (with
    failed trials among them), and records how far the function's curve is from the
    right one (0 when they match). It does not use the lab's own trials, so that the
    check (and the grade) of this task never depends on the earlier tasks.

    Parameters
    ----------
    func : callable
        The learner's ``best_so_far``.
    seed : int
        The lab's ``SEED``.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> best_so_far(lambda v: np.fmax.accumulate(np.asarray(v, float)), 0)
    [ok] best_so_far: all checks passed
    """
    task = "best_so_far"
    expect(isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0,
           task, "give the check the lab's SEED (a whole number).")
    for values, want, shown in _CURVE_EXAMPLES:
        where = f"for {shown}"
        got = _curve(task, call_answer(task, func, list(values), _case=shown), len(values),
                     where)
        want_arr = np.asarray(want, dtype=float)
        if not _same_curve(got, want_arr):
            why = _curve_slip(np.asarray(values, dtype=float), got)
            shown_want = np.array2string(want_arr, separator=", ")
            shown_got = np.array2string(got, precision=4, separator=", ")
            expect(False, task, f"{where} the answer is {shown_want}, your function returned "
                                f"{shown_got}" + (f": {why}" if why else "."))

    values = _run_values(int(seed))
    got = _curve(task, call_answer(task, func, values.copy()), len(values),
                 "for this run's sequence of trial values")
    want = np.fmax.accumulate(values)
    finite = ~np.isnan(want)
    same_nan = bool(np.array_equal(np.isnan(got), ~finite))
    deviation = float(np.max(np.abs(got - want)[finite], initial=0.0)) if same_nan else 1.0
    record(task, deviation=round(deviation, 9))
    expect(deviation <= 1e-12, task,
           "on this run's sequence of trial values your curve is not the highest value so "
           "far after each trial" + (" (failed trials, NaN, included)." if not same_nan
                                      else "."))
    passed(task)


# ---------------------------------------------------------------- most_important
def most_important(value: Any, importance: pd.DataFrame) -> None:
    """Check the decision ``MOST_IMPORTANT`` against the lab's importance table.

    The table has one row per search and one column per hyperparameter. The answer is
    the hyperparameter with the largest importance on average over the rows. The check
    records the rank of the chosen name in the learner's own table (0 for the right
    choice), so that the decision is graded on the table the learner actually had.

    Parameters
    ----------
    value : str
        The learner's ``MOST_IMPORTANT``.
    importance : pandas.DataFrame
        The lab's importance table (what ``labkit.tuning.importance_table`` returns).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"eta0": [0.9, 0.8], "alpha": [0.1, 0.2]},
    ...                      index=["grid", "random"])
    >>> most_important("eta0", table)
    [ok] most_important: the hyperparameter the best trials agree on most
    """
    task = "most_important"
    expect(isinstance(importance, pd.DataFrame) and importance.shape[1] >= 2, task,
           "give the check the lab's importance table (a row per search, a column per "
           "hyperparameter).")
    names = [str(c) for c in importance.columns]
    expect(isinstance(value, str), task,
           f"set MOST_IMPORTANT to a hyperparameter's name (a string, one of {names}), got "
           f"{type(value).__name__}.")
    expect(value in names, task,
           f"set MOST_IMPORTANT to one of the hyperparameters of the table, {names}; got "
           f"{value!r}.")
    mean = importance.astype(float).mean(axis=0).round(9)
    order = sorted(names, key=lambda n: (-mean[n], n))
    rank = order.index(value)
    record(task, most_important=decision(rank, accepted=[0]))
    expect(rank != len(order) - 1, task,
           f"{value!r} has the smallest importance of all: the best trials hardly care "
           "about it. Which one do they agree on most?")
    expect(rank == 0, task,
           f"another hyperparameter has a larger importance than {value!r} on average over "
           "the searches.")
    passed(task, "the hyperparameter the best trials agree on most")


# ---------------------------------------------------------------- final_params
def final_params(value: Any, trials: pd.DataFrame, space: Mapping[str, Any]) -> None:
    """Check the decision ``FINAL_PARAMS``: the configuration evaluated on the test set.

    It must be a configuration that one of the searches tried (a row of the trials
    table), with the highest validation score of all the searches' trials (any of them
    when several tie). The check records the gap between the best validation score and
    the chosen configuration's (0 for a right choice), so that the decision is graded on
    the trials the learner actually ran.

    Parameters
    ----------
    value : dict
        The learner's ``FINAL_PARAMS`` (hyperparameter name -> value).
    trials : pandas.DataFrame
        The lab's trials table (``value`` and one column per hyperparameter).
    space : dict
        The lab's search space, for the hyperparameters' names.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> trials = pd.DataFrame({"method": ["grid", "random"], "trial": [1, 1],
    ...                        "value": [0.31, 0.35], "eta0": [0.1, 0.02]})
    >>> final_params({"eta0": 0.02}, trials, {"eta0": None})
    [ok] final_params: the best validation score of all the searches
    """
    task = "final_params"
    names = list(space)
    expect(isinstance(trials, pd.DataFrame) and {"value", *names} <= set(trials.columns)
           and trials["value"].notna().any(), task,
           "give the check the lab's trials table and SPACE.")
    expect(isinstance(value, Mapping), task,
           f"set FINAL_PARAMS to a dict from each hyperparameter's name to its value, got "
           f"{type(value).__name__}.")
    expect(set(value) == set(names), task,
           f"FINAL_PARAMS should name exactly the hyperparameters of the space, {names}; "
           f"it names {sorted(map(str, value))}.")
    finished = trials[trials["value"].notna()]
    match = np.ones(len(finished), dtype=bool)
    for name in names:
        column, chosen = finished[name].to_numpy(dtype=object), value[name]
        if isinstance(chosen, (float, int, np.floating, np.integer)) and not isinstance(
                chosen, (bool, np.bool_)):
            column_f = pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(float)
            match &= np.isclose(column_f, float(chosen), rtol=1e-9, atol=0)
        else:
            match &= np.array([c == chosen for c in column], dtype=bool)
    expect(match.any(), task,
           "FINAL_PARAMS is not a configuration that any of the searches tried. Choose one "
           "of the trials: a configuration nobody validated has no score to stand on.")
    best = float(finished["value"].max())
    chosen_value = float(finished["value"].to_numpy(float)[match].max())
    gap = round(best - chosen_value, 6)
    record(task, gap=decision(gap, accepted=[0.0]))
    expect(gap <= 0, task,
           "another trial has a higher validation score than the configuration you chose. "
           "Choose on the validation score, among the trials of all three searches (the "
           "test rows stay untouched until the very end).")
    passed(task, "the best validation score of all the searches")
