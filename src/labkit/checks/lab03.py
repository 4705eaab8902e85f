"""Public self-checks of Lab 03, *Framing the problem*.

Each check tests the learner's answer on small cases worked out by hand first (the ones
the lab's instructions walk through, with the wrong results that plausible slips give),
then records what the answer gives on this run's data for the grader, then tests
properties every correct answer has on this run's data. Failures say what is wrong in
plain words; they never print a value computed from this run's data.

What is recorded never depends on an earlier task's answer: a slip in one task costs
that task's points only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ._core import (
    Example,
    call_answer,
    check_examples,
    expect,
    expect_choice,
    expect_number,
    passed,
    record,
)
from ._core import decision as _decision

__all__ = ["NEGATIVES_TOLERANCE", "BREAK_EVEN_TOLERANCE", "break_even_share", "make_pairs",
           "negatives_per_positive", "score_candidates"]

#: A choice of negatives per positive within this much top-k hit rate of the best one
#: on validation is as good as the best: smaller gaps are noise.
NEGATIVES_TOLERANCE = 0.01
#: How close (in share of opens) the break-even share must be to the one the check
#: computes from the same table.
BREAK_EVEN_TOLERANCE = 0.005
#: The seed the checks give the learner's sampler.
_CHECK_SEED = 20260303
_PAIR_COLUMNS = ("event", "app_id", "label")

# ----------------------------------------------------------------- make_pairs examples
# Example 1: one event; the user opened app 1 on day 0; three apps on the market; two
# negatives per positive. The only possible negatives are apps 0 and 2.
_EX1 = (np.array([1]), np.array([0]), np.array([-5, -5, -5]), 2)
_EX1_SHOWN = "positive_apps=[1], days=[0], release_day=[-5, -5, -5], n_negatives=2"
_EX1_WANT = np.array([[0, 0, 0], [0, 1, 1], [0, 2, 0]])
# Example 2: two events; app 2 is launched on day 3 and app 3 on day 7, so on day 3 the
# market holds apps 0, 1, 2 and 4. Three negatives per positive leave no choice.
_EX2 = (np.array([0, 2]), np.array([3, 5]), np.array([-2, -2, 3, 7, -2]), 3)
_EX2_SHOWN = ("positive_apps=[0, 2], days=[3, 5], release_day=[-2, -2, 3, 7, -2], "
              "n_negatives=3")
_EX2_WANT = np.array([[0, 0, 1], [0, 1, 0], [0, 2, 0], [0, 4, 0],
                      [1, 0, 0], [1, 1, 0], [1, 2, 1], [1, 4, 0]])
# Example 3: 300 events on day 0, all opening app 0; app 3 is launched on day 4. With two
# negatives per positive the only right draw is {1, 2} every time, so a sampler that
# may return the positive, a duplicate or app 3 shows it here.
_EX3 = (np.zeros(300, dtype=int), np.zeros(300, dtype=int), np.array([-1, -1, -1, 4]), 2)
_EX3_SHOWN = ("300 events on day 0 that all opened app 0, release_day=[-1, -1, -1, 4], "
              "n_negatives=2")
_EX3_WANT = np.column_stack([np.repeat(np.arange(300), 3), np.tile([0, 1, 2], 300),
                             np.tile([1, 0, 0], 300)])


def _as_pairs(task: str, result: Any, where: str) -> pd.DataFrame:
    expect(isinstance(result, pd.DataFrame), task,
           f"{where} the function should return a pandas DataFrame with columns "
           f"'event', 'app_id' and 'label', got {type(result).__name__}.")
    missing = [c for c in _PAIR_COLUMNS if c not in result.columns]
    expect(not missing, task, f"{where} the returned table lacks the column(s) {missing}; "
                              "it needs 'event', 'app_id' and 'label'.")
    for col in _PAIR_COLUMNS:
        values = result[col].to_numpy()
        expect(np.issubdtype(values.dtype, np.integer) or
               (np.issubdtype(values.dtype, np.bool_) and col == "label"), task,
               f"{where} the column {col!r} should hold integers, got dtype {values.dtype}.")
    return result


def _pair_problem(pairs: pd.DataFrame, positive: np.ndarray, days: np.ndarray,
                  release: np.ndarray, k: int) -> str:
    """What is wrong with a pairs table, in words; '' when nothing is."""
    n = len(positive)
    event = pairs["event"].to_numpy().astype(np.int64)
    app = pairs["app_id"].to_numpy().astype(np.int64)
    label = pairs["label"].to_numpy().astype(np.int64)
    if len(pairs) != n * (k + 1):
        return (f"there should be {k + 1} rows per event (the positive and {k} negatives), "
                f"and there are {'more' if len(pairs) > n * (k + 1) else 'fewer'}.")
    if event.min() < 0 or event.max() >= n:
        return "'event' should hold row positions of the events, from 0 to n_events - 1."
    if not np.array_equal(np.bincount(event, minlength=n), np.full(n, k + 1)):
        return f"some event does not have exactly {k + 1} rows."
    if not set(np.unique(label).tolist()) <= {0, 1}:
        return "labels should be 1 for the app the user opened and 0 for a negative."
    if not np.array_equal(np.bincount(event, weights=label, minlength=n), np.ones(n)):
        return "each event needs exactly one row with label 1: the app the user opened."
    if app.min() < 0 or app.max() >= len(release):
        return "'app_id' holds ids that are not apps."
    pos_rows = label == 1
    if not np.array_equal(app[pos_rows][np.argsort(event[pos_rows])], positive):
        return "the row with label 1 should hold the app the user opened at that event."
    neg = ~pos_rows
    if (app[neg] == positive[event[neg]]).any():
        return ("a negative is the app the user opened at that event: draw the negatives "
                "from the other apps, or the model learns that the right app is wrong.")
    if (release[app[neg]] > days[event[neg]]).any():
        return ("a negative is an app not yet launched on the event's day: only apps on "
                "the market that day (release_day <= day) are candidates. Training on "
                "them uses the future and teaches the model that a new app never matches.")
    key = event[neg] * len(release) + app[neg]
    if len(np.unique(key)) != len(key):
        return ("an event has the same negative twice: sample the negatives without "
                "replacement.")
    return ""


def _sorted_rows(pairs: pd.DataFrame) -> np.ndarray:
    rows = pairs[list(_PAIR_COLUMNS)].to_numpy().astype(np.int64)
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def make_pairs(func: Callable[..., Any], positive_apps: Any, days: Any, release_day: Any,
               n_negatives: int) -> None:
    """Check ``make_pairs(positive_apps, days, release_day, n_negatives, rng)``.

    Tests three worked examples (two where the negatives are forced, one that a
    sampler which may return the positive, a duplicate or an app not yet launched
    fails), then calls the function on this run's events with the check's own seed:
    the table must have the right shape and labels, valid negatives, and negatives
    spread evenly over the candidates (each app is drawn about as often as uniform
    sampling predicts).

    Parameters
    ----------
    func : callable
        The learner's ``make_pairs``.
    positive_apps, days : array-like of int
        The app opened at, and the day of, each of this run's training events.
    release_day : array-like of int
        Release day of each app.
    n_negatives : int
        Negatives per positive.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def pairs(positive_apps, days, release_day, n_negatives, rng):
    ...     keys = rng.random((len(positive_apps), len(release_day)))
    ...     keys[np.asarray(release_day)[None, :] > np.asarray(days)[:, None]] = np.inf
    ...     keys[np.arange(len(positive_apps)), positive_apps] = np.inf
    ...     negatives = np.argsort(keys, axis=1)[:, :n_negatives]
    ...     apps = np.column_stack([positive_apps, negatives])
    ...     return pd.DataFrame({
    ...         "event": np.repeat(np.arange(len(apps)), n_negatives + 1),
    ...         "app_id": apps.ravel(), "label": (apps == apps[:, :1]).ravel().astype(int)})
    >>> make_pairs(pairs, [0, 1, 2, 1], [0, 0, 1, 1], [-1, -1, -1, -1, 1], 2)
    [ok] make_pairs: all checks passed
    """
    task = "make_pairs"
    positive = np.asarray(positive_apps)
    day = np.asarray(days)
    release = np.asarray(release_day)
    expect(positive.ndim == 1 and day.shape == positive.shape and len(positive) > 0
           and release.ndim == 1, task,
           "give the check the opened app and the day of each event (two 1-d arrays of "
           "the same length) and the apps' release days.")
    k = int(n_negatives)
    on_market = release[None, :] <= day[:, None]
    n_candidates = on_market.sum(axis=1) - on_market[np.arange(len(day)), positive]
    expect(k >= 1 and n_candidates.min() >= k, task,
           "every event needs at least n_negatives other apps on the market.")

    for args, shown, want in ((_EX1, _EX1_SHOWN, _EX1_WANT), (_EX2, _EX2_SHOWN, _EX2_WANT),
                              (_EX3, _EX3_SHOWN, _EX3_WANT)):
        where = f"for {shown}"
        got = _as_pairs(task, call_answer(task, func, *[np.copy(a) for a in args[:3]], args[3],
                                          np.random.default_rng(_CHECK_SEED), _case=shown),
                        where)
        problem = _pair_problem(got, *args)
        expect(not problem, task, f"{where}: {problem}")
        expect(np.array_equal(_sorted_rows(got), want), task,
               f"{where} the pairs are not the expected ones: every event keeps its "
               "positive (label 1) and takes as negatives apps on the market that day.")

    rng = np.random.default_rng(_CHECK_SEED)
    got = _as_pairs(task, call_answer(task, func, positive.copy(), day.copy(), release.copy(),
                                      k, rng), "on this run's events")
    problem = _pair_problem(got, positive, day, release, k)
    expect(not problem, task, f"on this run's events: {problem}")
    rows = got.to_numpy()
    record(task, n_rows=len(rows), n_positive=int(got["label"].sum()),
           rows_per_event=float(len(rows) / len(positive)), valid=1.0)

    # Uniform sampling: app a is drawn for event i with probability k / n_candidates[i].
    eligible = on_market.copy()
    eligible[np.arange(len(day)), positive] = False
    expected = (eligible * (k / n_candidates)[:, None]).sum(axis=0)
    negatives = got["app_id"].to_numpy()[got["label"].to_numpy() == 0]
    observed = np.bincount(negatives, minlength=len(release)).astype(float)
    z = np.abs(observed - expected) / np.sqrt(np.maximum(expected, 1.0))
    expect(bool(np.all(z < 8)), task,
           "on this run's events some apps are drawn as negatives far more (or less) "
           "often than uniform sampling among the candidates would draw them: give every "
           "candidate the same chance.")
    passed(task)


# ----------------------------------------------------------- score_candidates examples
def _example_scorer(event_index: Any, app_index: Any) -> np.ndarray:
    """The worked example's scorer: 10 x event + app."""
    return 10.0 * np.asarray(event_index) + np.asarray(app_index)


_SC_SHOWN = ("score_pairs(event, app) = 10 * event + app, days=[0, 1], "
             "release_day=[-1, 1, 3]")
_SC_EXAMPLE = Example(
    (_example_scorer, np.array([0, 1]), np.array([-1, 1, 3])),
    np.array([[0.0, -np.inf, -np.inf], [10.0, 11.0, -np.inf]]), _SC_SHOWN,
    slips={
        ((0.0, -np.inf, -np.inf), (11.0, 2.0, -np.inf)):
            "the scores landed in the wrong cells: the pairs were listed app by app but "
            "reshaped event by event (or the other way round). Row i must hold the "
            "scores of event i.",
        ((0.0, 1.0, 2.0), (10.0, 11.0, 12.0)):
            "apps not yet on the market got a score: set their score to -inf so that "
            "they are never suggested.",
        ((0.0, -np.inf, -np.inf), (10.0, -np.inf, -np.inf)):
            "an app released on the event's day is on the market that day (use "
            "release_day <= day).",
        ((0.0, 0.0, 0.0), (10.0, 11.0, 0.0)):
            "an app that cannot be suggested must get -inf, not 0: a score of 0 would "
            "rank it above apps with negative scores.",
    },
    why="build every (event, app) pair, score them all, put event i's scores in row i "
        "(app j in column j) and give -inf to the apps released after the event's day.")


def _score_matrix(task: str, value: Any, shape: tuple[int, int], where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    expect(arr.shape == shape, task,
           f"{where} the function should return a float array of shape {shape} (one row "
           f"per event, one column per app), got {type(value).__name__} of shape "
           f"{getattr(arr, 'shape', '?')}.")
    expect(not np.isnan(arr).any(), task, f"{where} the scores contain NaN.")
    return arr


def score_candidates(func: Callable[..., Any], score_pairs: Callable[..., Any], days: Any,
                     release_day: Any, *, n_events: int = 400) -> None:
    """Check ``score_candidates(score_pairs, days, release_day)``.

    Tests the worked example, then compares the answer with a direct computation on
    ``n_events`` of this run's events spread over the period: the same scores in the
    same cells, ``-inf`` exactly where an app is not yet on the market.

    Parameters
    ----------
    func : callable
        The learner's ``score_candidates``.
    score_pairs : callable
        This run's pair scorer: ``score_pairs(event_index, app_index)`` returns one score
        per pair.
    days : array-like of int
        The day of each event ``score_pairs`` knows.
    release_day : array-like of int
        Release day of each app.
    n_events : int
        How many of this run's events the check scores.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def grid(score_pairs, days, release_day):
    ...     n, m = len(days), len(release_day)
    ...     s = score_pairs(np.repeat(np.arange(n), m), np.tile(np.arange(m), n))
    ...     s = np.asarray(s, dtype=float).reshape(n, m)
    ...     on_market = np.asarray(release_day)[None, :] <= np.asarray(days)[:, None]
    ...     return np.where(on_market, s, -np.inf)
    >>> score_candidates(grid, lambda e, a: np.sin(e + 2.0 * a), [0, 1, 4], [-3, 0, 2])
    [ok] score_candidates: all checks passed
    """
    task = "score_candidates"
    day = np.asarray(days)
    release = np.asarray(release_day)
    expect(callable(score_pairs) and day.ndim == 1 and len(day) > 0 and release.ndim == 1,
           task, "give the check the pair scorer, the events' days and the apps' release "
                 "days.")
    check_examples(task, func, [_SC_EXAMPLE],
                   result=lambda v: _score_matrix(task, v, (2, 3), f"for {_SC_SHOWN}"))

    pick = np.unique(np.linspace(0, len(day) - 1, min(n_events, len(day))).astype(np.int64))

    def some_pairs(event_index: Any, app_index: Any) -> np.ndarray:
        return np.asarray(score_pairs(pick[np.asarray(event_index)], app_index), dtype=float)

    where = "on this run's events"
    got = _score_matrix(task, call_answer(task, func, some_pairs, day[pick].copy(),
                                          release.copy()), (len(pick), len(release)), where)
    n, m = len(pick), len(release)
    want = some_pairs(np.repeat(np.arange(n), m), np.tile(np.arange(m), n)).reshape(n, m)
    on_market = release[None, :] <= day[pick][:, None]
    want = np.where(on_market, want, -np.inf)
    same_mask = bool(np.array_equal(np.isneginf(got), ~on_market))
    same_scores = bool(np.allclose(got[on_market], want[on_market], rtol=1e-9, atol=1e-12))
    record(task, candidates_per_event=float(np.isfinite(got).sum() / n),
           agrees=float(same_mask and same_scores))
    expect(same_mask, task, f"{where} -inf should mark exactly the apps not yet released "
                            "on the event's day.")
    expect(same_scores, task, f"{where} the scores of the apps on the market are not the "
                              "scorer's scores of those (event, app) pairs.")
    passed(task)


# ------------------------------------------------------------------------ decisions
def negatives_per_positive(value: Any, sweep: Any, *, column: str = "validation") -> None:
    """Check the decision ``NEGATIVES_PER_POSITIVE`` against the budget sweep.

    Any number of negatives whose validation top-k hit rate is within
    :data:`NEGATIVES_TOLERANCE` of the best one in the sweep is accepted.

    Parameters
    ----------
    value : int
        The learner's ``NEGATIVES_PER_POSITIVE``.
    sweep : pandas.DataFrame
        One row per number of negatives (the index), with the validation hit rate in
        ``column``.
    column : str
        The column holding the validation hit rate.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> sweep = pd.DataFrame({"validation": [0.50, 0.505, 0.49, 0.46]}, index=[1, 2, 4, 16])
    >>> negatives_per_positive(1, sweep)
    [ok] negatives_per_positive: all checks passed
    >>> negatives_per_positive(16, sweep)
    Traceback (most recent call last):
    ...
    AssertionError: negatives_per_positive: with 16 negatives per positive the validation \
hit rate is more than 0.01 below the best choice: under a fixed budget of pairs, more \
negatives per event leave fewer events to learn from.
    """
    task = "negatives_per_positive"
    expect(isinstance(sweep, pd.DataFrame) and column in sweep.columns and len(sweep) > 0,
           task, f"give the check the sweep table with a {column!r} column, one row per "
                 "number of negatives.")
    choices = [int(k) for k in sweep.index]
    rates = sweep[column].to_numpy(dtype=float)
    best = float(np.max(rates))
    valid = isinstance(value, (int, np.integer)) and int(value) in choices
    # Recorded as the shortfall from the best on this run's sweep, which the learner's
    # earlier answers drew: a slip there must not cost this decision too.
    shortfall = best - float(rates[choices.index(int(value))]) if valid else math.nan
    record(task, shortfall=_decision(shortfall, between=(0.0, NEGATIVES_TOLERANCE)))
    expect(valid, task, f"answer with one of the numbers of negatives in the sweep: "
                        f"{choices}.")
    expect(shortfall <= NEGATIVES_TOLERANCE, task,
           f"with {int(value)} negatives per positive the validation hit rate is more than "
           f"{NEGATIVES_TOLERANCE:g} below the best choice: under a fixed budget of pairs, "
           "more negatives per event leave fewer events to learn from.")
    passed(task)


def _break_even(rates: pd.DataFrame) -> float:
    gap_old = rates.loc["multiclass", "old apps"] - rates.loc["match", "old apps"]
    gain_new = rates.loc["match", "new apps"] - rates.loc["multiclass", "new apps"]
    if gap_old <= 0:
        return 0.0
    if gain_new <= 0:
        return 1.0
    return float(min(gap_old / (gap_old + gain_new), 1.0))


def break_even_share(value: Any, ship: Any, rates: Any, planned_share: float) -> None:
    """Check the decisions ``BREAK_EVEN_SHARE`` and ``SHIP``.

    With a share ``s`` of opens on apps launched after training, a framing's expected
    top-k hit rate is ``(1 - s) * old + s * new`` (its rates on old and new apps). The
    break-even share is the smallest ``s`` in [0, 1] at which the match model's
    expected rate reaches the multiclass model's; ``SHIP`` must be the framing that
    wins at ``planned_share``.

    Parameters
    ----------
    value : float
        The learner's ``BREAK_EVEN_SHARE``.
    ship : str
        The learner's ``SHIP``: ``"match"`` or ``"multiclass"``.
    rates : pandas.DataFrame
        Hit rates with rows ``"multiclass"`` and ``"match"`` and columns
        ``"old apps"`` and ``"new apps"``.
    planned_share : float
        The share of opens on new apps the product change is expected to bring.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> rates = pd.DataFrame({"old apps": [0.55, 0.52], "new apps": [0.0, 0.40]},
    ...                      index=["multiclass", "match"])
    >>> break_even_share(0.03 / 0.43, "match", rates, 0.10)
    [ok] break_even_share: all checks passed
    >>> break_even_share(0.03 / 0.43, "multiclass", rates, 0.10)
    Traceback (most recent call last):
    ...
    AssertionError: break_even_share: at the planned share of new-app opens the other \
framing has the higher expected hit rate: compare the planned share with your break-even \
share.
    """
    task = "break_even_share"
    expect(isinstance(rates, pd.DataFrame)
           and {"multiclass", "match"} <= set(rates.index)
           and {"old apps", "new apps"} <= set(rates.columns), task,
           "give the check the table of hit rates (rows 'multiclass' and 'match', columns "
           "'old apps' and 'new apps').")
    answer = expect_number(task, value)
    choice = expect_choice(task, ship, ["match", "multiclass"])
    right = _break_even(rates)
    winner = "match" if planned_share > right else "multiclass"
    # Recorded relative to this run's table: its rates come from earlier answers.
    record(task, error=_decision(answer - right, between=(-BREAK_EVEN_TOLERANCE,
                                                          BREAK_EVEN_TOLERANCE)),
           ship_agrees=_decision("yes" if choice == winner else "no", accepted=["yes"]))
    expect(0.0 <= answer <= 1.0, task, "the break-even share is a share of opens, between "
                                       "0 and 1.")
    if abs(answer - right) > BREAK_EVEN_TOLERANCE:
        above = answer > right
        expect(False, task,
               "at your break-even share the two framings' expected hit rates are not "
               f"equal: the {'match' if above else 'multiclass'} model is already ahead "
               f"there, so the break-even share is {'lower' if above else 'higher'}. Weigh "
               "each model's rate on old apps by 1 - s and on new apps by s; a multiclass "
               "model never suggests an app it was not trained on.")
    expect(choice == winner, task,
           "at the planned share of new-app opens the other framing has the higher expected "
           "hit rate: compare the planned share with your break-even share.")
    passed(task)
