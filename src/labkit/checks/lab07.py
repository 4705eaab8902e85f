"""Public self-checks of Lab 07, *Baselines first*.

The two function checks run the learner's function on small cases worked out by hand
(the ones the lab's instructions walk through) before recording what it gives on this
run's data and testing properties every correct answer has. The three decision checks
test that a decision is consistent with the lab's table and the stated rule, and record
it for the grader. Failures say what is wrong in plain words; they never print a value
computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import stable_argsort
from ._core import (
    Example,
    as_number,
    call_answer,
    check_examples,
    decision,
    expect,
    expect_choice,
    expect_number,
    passed,
    record,
)

__all__ = ["FLOOR", "GLOBAL", "HEURISTIC", "expected_random_accuracy", "heuristic_share",
           "launch", "too_slow", "user_app_scores"]

#: Row names of the lab's table that the decisions refer to.
FLOOR = "random (uniform)"
GLOBAL = "global most frequent"
HEURISTIC = "per-user most frequent"
ACCURACY = "top-1 accuracy"
SINGLE = "single ms"
BATCH = "batch ms per request"
TRAIN = "train s"

# ---------------------------------------------------------------- expected_random_accuracy
# Worked example: four apps. Training labels [0, 0, 0, 1] (shares 0.75, 0.25, 0, 0),
# evaluation labels [1, 1, 2, 0] (shares 0.25, 0.5, 0.25, 0). App 3 appears in neither.
_TRAIN = np.array([0, 0, 0, 1])
_EVAL = np.array([1, 1, 2, 0])
_SHOWN = "train_apps=[0, 0, 0, 1], eval_apps=[1, 1, 2, 0], n_apps=4"
_RANDOM_EXAMPLES = (
    Example((_TRAIN, _EVAL, 4, "uniform"), 0.25, _SHOWN + ", strategy='uniform'", slips={
        1 / 3: "that is one over the number of apps seen in the evaluation data; a uniform "
               "guess picks among all n_apps apps, seen or not.",
        0.5: "that is one over the number of apps seen in training; a uniform guess picks "
             "among all n_apps apps.",
    }),
    Example((_TRAIN, _EVAL, 4, "prior"), 0.75 * 0.25 + 0.25 * 0.5,
            _SHOWN + ", strategy='prior'", slips={
        0.75 ** 2 + 0.25 ** 2: "that is the sum of the squared training shares, which "
                               "assumes the evaluation labels follow the training ones; "
                               "multiply each app's training share (how often it is "
                               "guessed) by its evaluation share (how often it is right).",
        0.25 ** 2 + 0.5 ** 2 + 0.25 ** 2: "that uses the evaluation labels' shares for the "
                                          "guesses too; a deployed random model only "
                                          "knows the training labels.",
        0.25: "that is the uniform guess; with strategy='prior' the guess follows the "
              "training labels' shares.",
    }),
    Example((np.array([2, 2]), np.array([2, 0, 1, 2]), 3, "prior"), 0.5,
            "train_apps=[2, 2], eval_apps=[2, 0, 1, 2], n_apps=3, strategy='prior'",
            why="the guess is always app 2 (the only training label), and app 2 is right in "
                "half of the evaluation events."),
)


def expected_random_accuracy(func: Callable[..., Any], train_apps: Any, eval_apps: Any,
                             n_apps: int) -> None:
    """Check ``expected_random_accuracy(train_apps, eval_apps, n_apps, strategy)``.

    Runs the worked examples first, then records the answer for both strategies on this
    run's data and tests three properties: the uniform guess is right one time in
    ``n_apps`` whatever the data, the prior guess equals the mean, over evaluation
    events, of the training share of the app actually opened, and evaluating on the
    training labels themselves gives the sum of squared shares, at least the uniform
    value.

    Parameters
    ----------
    func : callable
        The learner's ``expected_random_accuracy``.
    train_apps, eval_apps : array-like of int
        This run's training and validation labels (app ids from 0 to n_apps - 1).
    n_apps : int
        Number of apps.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def expected(train_apps, eval_apps, n_apps, strategy):
    ...     if strategy == "uniform":
    ...         return 1 / n_apps
    ...     p = np.bincount(train_apps, minlength=n_apps) / len(train_apps)
    ...     q = np.bincount(eval_apps, minlength=n_apps) / len(eval_apps)
    ...     return float(p @ q)
    >>> expected_random_accuracy(expected, [0, 1, 1, 2], [1, 2, 2, 0], 3)
    [ok] expected_random_accuracy: all checks passed
    """
    task = "expected_random_accuracy"
    train = np.asarray(train_apps)
    held = np.asarray(eval_apps)
    expect(isinstance(n_apps, (int, np.integer)) and n_apps >= 2, task,
           "n_apps must be the number of apps (an integer of at least 2).")
    for name, labels in (("train_apps", train), ("eval_apps", held)):
        expect(labels.ndim == 1 and len(labels) > 0 and labels.dtype.kind in "iu"
               and labels.min() >= 0 and labels.max() < n_apps, task,
               f"give the check {name} as a non-empty 1-d array of app ids from 0 to "
               "n_apps - 1.")
    check_examples(task, lambda *a: expect_number(task, func(*a)), _RANDOM_EXAMPLES)

    on_run = {s: expect_number(task, call_answer(task, func, train.copy(), held.copy(),
                                                 int(n_apps), s))
              for s in ("uniform", "prior")}
    record(task, **on_run)
    expect(math.isclose(on_run["uniform"], 1 / n_apps, rel_tol=1e-9), task,
           "on this run's data the uniform guess should be right one time in n_apps.")
    share = np.bincount(train, minlength=n_apps) / len(train)
    expect(math.isclose(on_run["prior"], float(np.mean(share[held])), rel_tol=1e-9,
                        abs_tol=1e-12), task,
           "on this run's data the prior guess should be right, on average over the "
           "evaluation events, as often as the training labels pick the app actually "
           "opened; it is not.")
    itself = expect_number(task, call_answer(task, func, train.copy(), train.copy(),
                                             int(n_apps), "prior"))
    expect(math.isclose(itself, float(share @ share), rel_tol=1e-9)
           and itself >= 1 / n_apps - 1e-12, task,
           "evaluated on the training labels themselves, the prior guess should be right "
           "with probability equal to the sum of the squared shares (never below the "
           "uniform guess); it is not.")
    passed(task)


# ---------------------------------------------------------------- user_app_scores
# Worked example: five users, four apps. User 0 opened [2, 2, 3], user 1 [0, 3] (a tie),
# user 3 [3, 3]; users 2 and 4 have no history. Global counts: app 0: 1, app 1: 0,
# app 2: 2, app 3: 4, so the global order is 3, 2, 0, 1.
_U = np.array([0, 0, 0, 1, 1, 3, 3])
_A = np.array([2, 2, 3, 0, 3, 3, 3])
_RANKING = np.array([[2, 3, 0, 1], [3, 0, 2, 1], [3, 2, 0, 1], [3, 2, 0, 1], [3, 2, 0, 1]])
_SHOWN_SCORES = ("train_users=[0, 0, 0, 1, 1, 3, 3], train_apps=[2, 2, 3, 0, 3, 3, 3], "
                 "n_users=5, n_apps=4")
_SCORE_SLIPS = {
    "plain": "users without history (rows 2 and 4) should rank apps by how often everyone "
             "opened them, and a tie inside a user's counts (user 1: apps 0 and 3) should go "
             "to the more popular app; with plain counts they go to the lowest app id.",
    "id": "ties between a user's apps (user 1: apps 0 and 3) should go to the app opened "
          "more often overall (app 3), not to the lower app id.",
    "swamped": "the global counts should only break ties: a user's own counts come first "
               "(user 0 opened app 2 twice and app 3 once, so app 2 ranks first for them, "
               "however popular app 3 is).",
    "ascending": "the global order looks reversed: break ties towards the *more* popular app.",
}


def _ranking(task: str, scores: Any, n_users: int, n_apps: int) -> np.ndarray:
    arr = np.asarray(scores)
    expect(arr.dtype.kind in "biuf", task,
           f"the function should return an array of numbers, got {type(scores).__name__}.")
    expect(arr.shape == (n_users, n_apps), task,
           f"the function should return one row per user and one column per app, shape "
           f"(n_users, n_apps) = ({n_users}, {n_apps}); got shape {arr.shape}.")
    expect(bool(np.all(np.isfinite(arr))), task, "the scores contain NaN or infinite values.")
    return stable_argsort(arr.astype(float))


def _score_slip(ranking: np.ndarray) -> str:
    if ranking[2].tolist() == [0, 1, 2, 3]:
        return _SCORE_SLIPS["plain"]
    if ranking[2].tolist() == [1, 0, 2, 3]:
        return _SCORE_SLIPS["ascending"]
    if ranking[0, 0] == 3:
        return _SCORE_SLIPS["swamped"]
    if ranking[1, 0] == 0:
        return _SCORE_SLIPS["id"]
    return ("rank each user's apps by how often that user opened them in training; break "
            "ties, and rank the apps of users without history, by how often everyone "
            "opened them.")


def user_app_scores(func: Callable[..., Any], train_users: Any, train_apps: Any,
                    n_users: int, n_apps: int) -> None:
    """Check ``user_app_scores(train_users, train_apps, n_users, n_apps)``.

    The scores are compared through the ranking they give each user (highest first,
    near-ties to the lower app id, as :func:`labkit.metrics.stable_argsort` does), so
    any scale works. Runs the worked example first, then records each user's three
    top-ranked apps on this run's data and tests: each user's top app is one they
    opened most often, ties go to the more popular app, a user without history gets the
    global order, and shuffling the training events changes nothing.

    Parameters
    ----------
    func : callable
        The learner's ``user_app_scores``.
    train_users, train_apps : array-like of int
        This run's training events: who opened which app.
    n_users, n_apps : int
        Numbers of users and apps.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def scores(train_users, train_apps, n_users, n_apps):
    ...     counts = np.zeros((n_users, n_apps))
    ...     np.add.at(counts, (train_users, train_apps), 1)
    ...     popular = np.bincount(train_apps, minlength=n_apps) / len(train_apps)
    ...     return counts + popular
    >>> user_app_scores(scores, [0, 0, 1, 1, 1], [2, 2, 0, 1, 1], 3, 3)
    [ok] user_app_scores: all checks passed
    """
    task = "user_app_scores"
    users = np.asarray(train_users)
    apps = np.asarray(train_apps)
    expect(isinstance(n_users, (int, np.integer)) and isinstance(n_apps, (int, np.integer))
           and n_users >= 1 and n_apps >= 2, task,
           "n_users and n_apps must be the numbers of users and apps (integers).")
    expect(users.ndim == 1 and users.shape == apps.shape and len(users) > 0
           and users.dtype.kind in "iu" and apps.dtype.kind in "iu", task,
           "give the check the training events as two 1-d integer arrays of equal length "
           "(user ids and app ids).")
    expect(users.min() >= 0 and users.max() < n_users and apps.min() >= 0
           and apps.max() < n_apps, task,
           "user ids must lie in 0..n_users-1 and app ids in 0..n_apps-1.")

    got = call_answer(task, func, _U.copy(), _A.copy(), 5, 4, _case=_SHOWN_SCORES)
    ranking = _ranking(task, got, 5, 4)
    if not np.array_equal(ranking, _RANKING):
        expect(False, task, f"for {_SHOWN_SCORES} the users' rankings (best first) should "
                            "be [[2, 3, 0, 1], [3, 0, 2, 1], [3, 2, 0, 1], [3, 2, 0, 1], "
                            f"[3, 2, 0, 1]]; yours are {ranking.tolist()}: "
                            f"{_score_slip(ranking)}")

    scores = call_answer(task, func, users.copy(), apps.copy(), int(n_users), int(n_apps))
    ranking = _ranking(task, scores, int(n_users), int(n_apps))
    record(task, top3=ranking[:, :3])

    counts = np.zeros((n_users, n_apps))
    np.add.at(counts, (users, apps), 1)
    popular = np.bincount(apps, minlength=n_apps)
    top = ranking[:, 0]
    seen = counts.sum(axis=1) > 0
    rows = np.arange(n_users)
    expect(bool(np.all(counts[rows, top][seen] == counts.max(axis=1)[seen])), task,
           "on this run's data some user's top app is not one they opened most often.")
    best = counts == counts.max(axis=1, keepdims=True)
    tied = seen & (best.sum(axis=1) > 1)
    expect(bool(np.all(popular[top[tied]] == np.where(best[tied], popular, -1).max(axis=1))),
           task, "on this run's data a tie between a user's most opened apps does not go "
                 "to the app opened most often overall.")
    global_order = stable_argsort(popular.astype(float))
    expect(bool(np.all(ranking[~seen] == global_order)), task,
           "on this run's data a user without history does not get the global order.")
    order = np.random.default_rng(0).permutation(len(users))
    shuffled = _ranking(task, call_answer(task, func, users[order], apps[order], int(n_users),
                                          int(n_apps)), int(n_users), int(n_apps))
    expect(np.array_equal(shuffled[:, :3], ranking[:, :3]), task,
           "shuffling the order of the training events changed the rankings; counts do "
           "not depend on the order of events.")
    passed(task)


# ---------------------------------------------------------------- decisions


def _column(task: str, table: Any, column: str) -> pd.Series:
    expect(isinstance(table, pd.DataFrame) and column in table.columns, task,
           f"give the check the lab's table (a DataFrame with a {column!r} column, one row "
           "per model).")
    values = pd.to_numeric(table[column], errors="coerce")
    expect(bool(values.notna().all()), task, f"the {column!r} column must hold numbers.")
    return values.astype(float)


def _gain_shares(task: str, accuracy: pd.Series) -> pd.Series:
    expect(FLOOR in accuracy.index, task, f"the table needs the row {FLOOR!r}.")
    floor, best = accuracy[FLOOR], accuracy.max()
    expect(best > floor, task, "no model beats random guessing in this table, so there is "
                               "no gain to share.")
    return (accuracy - floor) / (best - floor)


def heuristic_share(value: Any, table: Any) -> None:
    """Check the decision ``HEURISTIC_SHARE``: the heuristic's share of the best gain.

    The gain of a model is its validation top-1 accuracy minus that of the uniform
    random guess (row :data:`FLOOR`); the share is the heuristic's gain divided by the
    gain of the most accurate model in the table. Records the decision with an interval
    of +-0.01 around the share.

    Parameters
    ----------
    value : float
        The learner's ``HEURISTIC_SHARE``.
    table : pandas.DataFrame
        The lab's table, with a ``"top-1 accuracy"`` column measured on validation.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"top-1 accuracy": [0.1, 0.2, 0.3, 0.5]},
    ...                      index=[FLOOR, GLOBAL, HEURISTIC, "model"])
    >>> heuristic_share(0.5, table)
    [ok] heuristic_share: consistent with the table
    """
    task = "heuristic_share"
    accuracy = _column(task, table, ACCURACY)
    expect(HEURISTIC in accuracy.index, task, f"the table needs the row {HEURISTIC!r}.")
    share = float(_gain_shares(task, accuracy)[HEURISTIC])
    got = math.nan if isinstance(value, (str, bool)) else as_number(value)
    expect(not math.isnan(got), task, "set HEURISTIC_SHARE to a single number (a float), "
                                      f"got {type(value).__name__} {str(value)[:40]}.")
    record(task, share=decision(got, between=(share - 0.01, share + 0.01)))
    if math.isclose(got, share, rel_tol=1e-6, abs_tol=1e-6):
        passed(task, "consistent with the table")
        return
    best = accuracy.max()
    heuristic = accuracy[HEURISTIC]
    if math.isclose(got, 100 * share, rel_tol=1e-6):
        why = "it looks like a percentage; give the share as a fraction between 0 and 1."
    elif math.isclose(got, heuristic / best, rel_tol=1e-6):
        why = ("that is the ratio of the two accuracies; the gain starts from what random "
               "guessing already gets, so subtract the uniform random accuracy from both.")
    elif GLOBAL in accuracy.index and math.isclose(
            got, (heuristic - accuracy[GLOBAL]) / (best - accuracy[GLOBAL]), rel_tol=1e-6):
        why = ("that measures the gain from the global most-frequent baseline; the question "
               "measures it from uniform random guessing.")
    elif math.isclose(got, 1 - share, rel_tol=1e-6, abs_tol=1e-9):
        why = "that is the share of the gain the heuristic does *not* get."
    else:
        why = ("divide the heuristic's gain over uniform random guessing by the gain of the "
               "most accurate model in the table.")
    expect(False, task, f"HEURISTIC_SHARE does not match the table's validation accuracies: "
                        f"{why}")


def _model_names(task: str, value: Any, index: Sequence[str], what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    expect(isinstance(value, (list, tuple, set, frozenset, pd.Index, np.ndarray)), task,
           f"set {what} to a list of model names (row names of the table), got "
           f"{type(value).__name__}.")
    names = [str(v) for v in value]
    unknown = [n for n in names if n not in index]
    expect(not unknown, task, f"{unknown} are not rows of the table; use the table's model "
                              "names.")
    return sorted(set(names))


def too_slow(value: Any, table: Any, budget_ms: float) -> None:
    """Check the decision ``TOO_SLOW``: the models that miss the single-request budget.

    A model misses the budget when its median latency for one request at a time (the
    ``"single ms"`` column) exceeds ``budget_ms``. Records the names, sorted and joined
    with ``", "``.

    Parameters
    ----------
    value : list of str
        The learner's ``TOO_SLOW`` (an empty list when every model fits).
    table : pandas.DataFrame
        The lab's table, with ``"single ms"`` and ``"batch ms per request"`` columns.
    budget_ms : float
        The latency budget for one request, in milliseconds.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"single ms": [0.01, 5.0], "batch ms per request": [0.001, 0.1]},
    ...                      index=["lookup", "forest"])
    >>> too_slow(["forest"], table, 1.0)
    [ok] too_slow: consistent with the table
    """
    task = "too_slow"
    single = _column(task, table, SINGLE)
    budget = expect_number(task, budget_ms)
    names = _model_names(task, value, list(single.index), "TOO_SLOW")
    right = sorted(single.index[single > budget])
    record(task, models=decision(", ".join(names), accepted=[", ".join(right)]))
    if names == right:
        passed(task, "consistent with the table")
        return
    candidates = {SINGLE: right}
    for column in (BATCH, TRAIN):
        if column in table.columns:
            other = _column(task, table, column)
            candidates[column] = sorted(other.index[other > budget])
    if BATCH in candidates and names == candidates[BATCH] and names != right:
        why = ("that compares the batch latency per request; a user waiting at unlock sends "
               "one request, so compare the single-request latency.")
    elif TRAIN in candidates and names == candidates[TRAIN]:
        why = ("that compares training time; the budget is on predicting one request "
               "(single ms).")
    elif set(right) < set(names):
        why = "some of these models answer one request within the budget."
    else:
        why = "some model whose single-request latency exceeds the budget is missing."
    expect(False, task, f"TOO_SLOW does not match the table: {why}")


def launch(value: Any, table: Any, budget_ms: float, min_share: float) -> None:
    """Check the decision ``LAUNCH``: the simplest model that meets both requirements.

    A model qualifies when its single-request latency is within ``budget_ms`` and its
    gain over uniform random guessing is at least ``min_share`` of the best model's gain
    (validation top-1 accuracy). Among qualifying models, the first row of the table
    (the table lists models from the simplest to the most complex) is the one to launch.

    Parameters
    ----------
    value : str
        The learner's ``LAUNCH``, a row name of the table.
    table : pandas.DataFrame
        The lab's table.
    budget_ms : float
        The single-request latency budget in milliseconds.
    min_share : float
        The quality target, as a share of the best model's gain over random guessing.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"top-1 accuracy": [0.1, 0.3, 0.5, 0.45],
    ...                       "single ms": [0.001, 0.002, 30.0, 0.2]},
    ...                      index=[FLOOR, HEURISTIC, "boosting", "mlp"])
    >>> launch("mlp", table, 1.0, 0.8)
    [ok] launch: consistent with the table
    """
    task = "launch"
    accuracy = _column(task, table, ACCURACY)
    single = _column(task, table, SINGLE)
    budget = expect_number(task, budget_ms)
    target = expect_number(task, min_share)
    shares = _gain_shares(task, accuracy)
    name = expect_choice(task, value, [str(n).lower() for n in accuracy.index])
    name = next(str(n) for n in accuracy.index if str(n).lower() == name)
    fits = (single <= budget) & (shares >= target - 1e-12)
    qualifying = list(accuracy.index[fits])
    right = qualifying[0] if qualifying else ""
    record(task, model=decision(name, accepted=[right]))
    expect(qualifying, task, "no model in the table meets both requirements.")
    expect(single[name] <= budget, task,
           f"{name!r} answers one request slower than the budget allows.")
    expect(shares[name] >= target - 1e-12, task,
           f"{name!r} gets less than the required share of the best model's gain over "
           "random guessing.")
    expect(name == right, task,
           f"a simpler model than {name!r} (earlier in the table) already meets both "
           "requirements: launch the simplest model that does the job, and keep the "
           "complex one for when it is needed.")
    passed(task, "consistent with the table")

