"""Public self-checks of Lab 05, *Labels: annotators, agreement, weak supervision*.

Each check of a function runs the learner's answer on small cases worked out by hand
first (the ones the lab's instructions walk through, with the wrong results that
plausible slips give), then records what the answer gives on this run's data (for the
grader), then tests properties every correct answer has on this run's data. Decision
checks test that the value is consistent with the data and record it with the answers
the data support. Failures say what is wrong in plain words; they never print a value
computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    passed,
    record,
)

__all__ = ["annotators_per_item", "big_model_from", "dawid_skene", "fleiss_kappa",
           "ipw_preference", "labeling_function"]


def _as_array(value: Any) -> np.ndarray | None:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return arr


# ---------------------------------------------------------------- Fleiss' kappa

_FLEISS_SLIPS = {
    1 / 3: "that uses 1/(number of categories) as chance agreement; Fleiss' kappa takes "
           "chance from how often each category is used overall (the sum of the squared "
           "category shares).",
    (7 / 9 - 0.625) / 0.375: "the agreement of an item is the share of agreeing *pairs* "
                             "of raters: (sum of n_ij * (n_ij - 1)) / (n * (n - 1)), not "
                             "(sum of n_ij squared) / n squared.",
    2 / 3: "that is the observed agreement: correct it for chance, (P - P_e) / (1 - P_e).",
}
FLEISS_EXAMPLES = (
    Example(([[3, 0], [3, 0], [2, 1], [1, 2]],), 1 / 9,
            "counts=[[3, 0], [3, 0], [2, 1], [1, 2]] (4 items, 3 raters, 2 categories)",
            slips=_FLEISS_SLIPS),
    Example(([[4, 0, 0], [0, 4, 0], [2, 2, 0], [1, 1, 2], [0, 0, 4]],),
            (0.7 - 0.335) / 0.665,
            "counts=[[4, 0, 0], [0, 4, 0], [2, 2, 0], [1, 1, 2], [0, 0, 4]] (4 raters)",
            slips={0.55: "that uses 1/(number of categories) as chance agreement; use the "
                         "squared shares of each category among all labels."}),
    Example(([[2, 0], [0, 2], [2, 0]],), 1.0,
            "counts=[[2, 0], [0, 2], [2, 0]] (two raters who always agree)"),
)


def _counts(task: str, counts: Any) -> np.ndarray:
    arr = _as_array(counts)
    expect(arr is not None and arr.ndim == 2 and arr.shape[0] > 0 and arr.shape[1] >= 2,
           task, "give the check the item-by-category counts (one row per item, one "
                 "column per category), e.g. from labkit.labels.label_counts.")
    sums = arr.sum(axis=1)
    expect(np.all(sums == sums[0]) and sums[0] >= 2, task,
           "every item of the counts must have the same number of raters (at least 2).")
    return arr.astype(np.int64)


def fleiss_kappa(func: Callable[..., Any], counts: Any) -> None:
    """Check ``fleiss_kappa(counts)``.

    Runs the worked examples, records the answer on this run's counts, then checks
    that it agrees with :func:`labkit.labels.fleiss_kappa` and that reordering the
    items or the categories does not change it.

    Parameters
    ----------
    func : callable
        The learner's ``fleiss_kappa``.
    counts : array-like of shape (n_items, n_categories)
        This run's counts (every item rated by the same number of annotators).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from labkit.labels import fleiss_kappa as reference
    >>> fleiss_kappa(reference, [[2, 1, 0], [0, 3, 0], [1, 1, 1], [0, 0, 3]])
    [ok] fleiss_kappa: all checks passed
    """
    from ..labels import fleiss_kappa as reference

    task = "fleiss_kappa"
    arr = _counts(task, counts)

    check_examples(task, func, FLEISS_EXAMPLES, rtol=1e-9, atol=1e-12)
    got = as_number(call_answer(task, func, arr.copy()))
    record(task, rtol=1e-7, atol=1e-9, kappa=got)
    expect(not math.isnan(got), task, "on this run's counts the function did not return "
                                      "a single number.")
    expect(math.isclose(got, reference(arr), rel_tol=1e-7, abs_tol=1e-9), task,
           "on this run's counts your kappa differs from the reference implementation "
           "(labkit.labels.fleiss_kappa, checked against statsmodels).")
    rng = np.random.default_rng(0)
    shuffled = arr[rng.permutation(len(arr))][:, rng.permutation(arr.shape[1])]
    again = as_number(call_answer(task, func, shuffled))
    expect(math.isclose(again, got, rel_tol=1e-7, abs_tol=1e-9), task,
           "reordering the items or the categories changed your kappa; it should not.")
    passed(task)


# ---------------------------------------------------------------- Dawid-Skene

_DS_MISSING = ("a missing label (-1) seems to count as a vote for the last class: skip "
               "the -1 entries everywhere (they index the last column in numpy).")
_DS_E0 = [[0, -1, 2], [1, 1, -1], [2, 0, 2]]
_DS_E1 = [[0, 0, 1], [0, 0, 0], [1, 1, 1], [1, 1, 0]]
_DS_E3 = [[0, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]]
_DS_E4 = [[0, -1, 2], [1, 1, -1], [2, 0, 2], [0, 0, -1], [2, 2, 1], [-1, 1, 1]]
# Posteriors after 2 iterations (smoothing 0.01), from the reference; the slips' results
# come from the slipped variants (tests/test_checks_lab05.py recomputes all of them).
_DS_E4_WANT = (
    (0.909213353916, 7.7050415e-05, 0.090709595669),
    (4.8888336e-05, 0.999896986302, 5.4125362e-05),
    (0.581521454765, 2.2098936e-05, 0.418456446299),
    (0.911198848399, 4.3338599e-05, 0.088757813001),
    (7.0058348e-05, 0.145393714232, 0.85453622742),
    (6.5114587e-05, 0.99642628676, 0.003508598652),
)
_DS_E4_SLIPS = {
    ((0.890560879045, 7.54537e-05, 0.109363667255),
     (4.969643e-05, 0.999879142553, 7.1161017e-05),
     (0.529477222414, 1.7218507e-05, 0.470505559079),
     (0.892962719289, 4.1835025e-05, 0.106995445686),
     (5.4732158e-05, 0.078664622457, 0.921280645384),
     (6.8537777e-05, 0.99490020921, 0.005031253014)):
        "the class prior seems to be missing from the E-step: start each item's log "
        "score from log(prior), then add each annotator's log probability.",
    ((0.728965505412, 6.28862e-05, 0.270971608388),
     (3.9981045e-05, 0.999908295215, 5.172374e-05),
     (0.163208763897, 1.7770827e-05, 0.836773465276),
     (0.791988740863, 5.767718e-05, 0.207953581957),
     (2.6618384e-05, 0.098104689785, 0.90186869183),
     (3.2182547e-05, 0.996804655908, 0.003163161545)):
        "each annotator's confusion matrix must have rows that sum to 1 (row k: the "
        "labels they write for true class k); it looks normalised by column.",
    ((0.577032736838, 0.001407325078, 0.421559938085),
     (0.000208674584, 0.928285139362, 0.071506186054),
     (0.468521003148, 0.005453931809, 0.526025065043),
     (0.834011567397, 3.2931027e-05, 0.165955501576),
     (0.00217138617, 0.297617652826, 0.700210961005),
     (2.9139616e-05, 0.857081008083, 0.142889852301)): _DS_MISSING,
}
DS_EXAMPLES = (
    Example((_DS_E0, 3), ((0.5, 0.0, 0.5), (0.0, 1.0, 0.0), (1 / 3, 0.0, 2 / 3)),
            "labels=[[0, -1, 2], [1, 1, -1], [2, 0, 2]], n_classes=3, n_iter=0 (the start: "
            "vote shares)",
            kwargs={"n_iter": 0},
            slips={((1 / 3, 0.0, 2 / 3), (0.0, 2 / 3, 1 / 3), (1 / 3, 0.0, 2 / 3)):
                   _DS_MISSING}),
    Example((_DS_E1, 2), ((25 / 27, 2 / 27), (50 / 51, 1 / 51), (1 / 51, 50 / 51),
                          (2 / 27, 25 / 27)),
            "the lab's worked example, labels=[[0, 0, 1], [0, 0, 0], [1, 1, 1], [1, 1, 0]], "
            "n_classes=2, n_iter=1, smoothing=0",
            kwargs={"n_iter": 1, "smoothing": 0.0}),
    Example((_DS_E4, 3), _DS_E4_WANT,
            "labels=[[0, -1, 2], [1, 1, -1], [2, 0, 2], [0, 0, -1], [2, 2, 1], [-1, 1, 1]], "
            "n_classes=3, n_iter=2",
            kwargs={"n_iter": 2}, slips=_DS_E4_SLIPS),
    Example((_DS_E3, 2),
            ((0.999994416864, 5.583136e-06), (5.583136e-06, 0.999994416864),
             (0.999994416864, 5.583136e-06), (5.583136e-06, 0.999994416864),
             (0.99997788767, 2.211233e-05), (2.211233e-05, 0.99997788767)),
            "labels=[[0, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]] (the "
            "third annotator always writes the other class), n_classes=2, n_iter=50"),
)


def _posteriors(task: str, n_items: int, n_classes: int) -> Callable[[Any], np.ndarray]:
    def convert(result: Any) -> np.ndarray:
        arr = _as_array(result)
        expect(arr is not None and arr.shape == (n_items, n_classes), task,
               f"the function should return an array of shape (n_items, n_classes) = "
               f"({n_items}, {n_classes}): one row of class probabilities per item; got "
               f"{type(result).__name__} of shape {np.shape(result)}.")
        return arr
    return convert


def dawid_skene(func: Callable[..., Any], labels: Any, n_classes: int) -> None:
    """Check ``dawid_skene(labels, n_classes, n_iter=50, smoothing=0.01)``.

    Runs the worked examples, records the answer's posteriors on this run's labels,
    then checks that each row is a probability vector, that the answer agrees with the
    reference :func:`labkit.labels.dawid_skene`, and that an extra annotator who
    labelled nothing, or a reordering of the annotators, changes nothing.

    Parameters
    ----------
    func : callable
        The learner's ``dawid_skene``.
    labels : array-like of int, shape (n_items, n_annotators)
        This run's labels, -1 where missing.
    n_classes : int

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from labkit.labels import dawid_skene as reference
    >>> dawid_skene(reference, [[0, 0, 1], [1, 1, -1], [0, -1, 0], [1, 0, 1]], 2)
    [ok] dawid_skene: all checks passed
    """
    from ..labels import dawid_skene as reference

    task = "dawid_skene"
    arr = np.asarray(labels)
    expect(arr.ndim == 2 and np.issubdtype(arr.dtype, np.integer) and arr.size > 0, task,
           "give the check the label matrix: integers, one row per item, one column per "
           "annotator, -1 where missing.")
    expect(isinstance(n_classes, (int, np.integer)) and n_classes >= 2, task,
           "n_classes must be a whole number, at least 2.")
    expect(np.all((arr >= -1) & (arr < n_classes)) and np.all((arr >= 0).any(axis=1)), task,
           f"labels must lie in 0..{n_classes - 1} or be -1, and every item needs a label.")
    k = int(n_classes)

    for example in DS_EXAMPLES:
        n_items, n_cls = len(example.args[0]), example.args[1]
        check_examples(task, func, [example], result=_posteriors(task, n_items, n_cls),
                       rtol=1e-6, atol=1e-9)
    got = _posteriors(task, len(arr), k)(call_answer(task, func, arr.copy(), k))
    record(task, rtol=1e-4, atol=1e-6, posteriors=got)
    expect(np.all(np.isfinite(got)) and np.all(got >= 0)
           and np.allclose(got.sum(axis=1), 1.0, atol=1e-9), task,
           "on this run's labels some rows are not probabilities (non-negative, summing "
           "to 1); normalise each item's scores after exponentiating.")
    expect(np.allclose(got, reference(arr, k), rtol=1e-4, atol=1e-6), task,
           "on this run's labels your posteriors differ from the reference implementation "
           "(labkit.labels.dawid_skene, checked against crowd-kit), although the worked "
           "examples pass: check that you run n_iter iterations of an M-step then an "
           "E-step, starting from the vote shares.")
    rng = np.random.default_rng(0)
    order = rng.permutation(arr.shape[1])
    padded = np.column_stack([arr[:, order], np.full(len(arr), -1)])
    again = _posteriors(task, len(arr), k)(call_answer(task, func, padded, k))
    expect(np.allclose(again, got, rtol=1e-6, atol=1e-8), task,
           "reordering the annotators and adding one who labelled nothing changed your "
           "posteriors; annotators without a label for an item must not count for it.")
    passed(task)


# ---------------------------------------------------------------- the annotation budget


def annotators_per_item(value: Any, budget: pd.DataFrame, target: float,
                        column: str = "Dawid-Skene (pilot)") -> None:
    """Check the decision ``ANNOTATORS_PER_ITEM``.

    The decision must be the smallest number of annotators per item whose aggregated
    labels (``column`` of ``budget``, measured on the gold pilot items) reach
    ``target``.

    Parameters
    ----------
    value : int
        The learner's decision.
    budget : pandas.DataFrame
        Indexed by annotators per item, with the pilot accuracy of each aggregation.
    target : float
        The accuracy the labels must reach.
    column : str
        The column the decision is read from.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"Dawid-Skene (pilot)": [0.7, 0.86, 0.93, 0.95],
    ...                       "majority vote (pilot)": [0.7, 0.7, 0.8, 0.9]},
    ...                      index=pd.Index([1, 2, 3, 4], name="annotators per item"))
    >>> annotators_per_item(3, table, 0.9)
    [ok] annotators_per_item: 3 annotators per item reach the target on the pilot
    """
    task = "annotators_per_item"
    expect(isinstance(budget, pd.DataFrame) and column in budget.columns, task,
           f"give the check the budget table with a column {column!r}.")
    accuracy = budget[column]
    meets = [int(k) for k, acc in accuracy.items() if acc >= target]
    expect(bool(meets), task, "no number of annotators in the table reaches the target; "
                              "the check cannot judge the decision.")
    smallest = min(meets)
    number = as_number(value)
    chosen = int(number) if not math.isnan(number) and number == int(number) else None
    record(task, annotators=decision(chosen if chosen is not None else str(value),
                                     accepted=[smallest]))
    expect(chosen is not None and chosen in set(int(k) for k in accuracy.index), task,
           "set ANNOTATORS_PER_ITEM to one of the numbers of annotators in the table "
           "(a whole number).")
    expect(accuracy.loc[chosen] >= target, task,
           f"with {chosen} annotators per item the Dawid-Skene labels of the pilot items "
           "stay below the target accuracy; you need more annotators.")
    expect(chosen == smallest, task,
           f"{chosen} annotators per item reach the target, but fewer already do with "
           "Dawid-Skene on the pilot items: you would pay for labels you do not need. "
           "Read the Dawid-Skene pilot column, not the majority-vote one or the best "
           "accuracy.")
    passed(task, f"{chosen} annotators per item reach the target on the pilot")


# ---------------------------------------------------------------- labeling functions

#: What a labeling function must achieve in the lab.
MIN_COVERAGE = 0.10
MIN_ACCURACY = 0.80
MIN_DEV_VOTES = 5


def labeling_function(func: Callable[..., Any], X_pool: pd.DataFrame, X_dev: pd.DataFrame,
                      y_dev: Any, given_votes: pd.DataFrame) -> None:
    """Check the learner's labeling function ``my_labeling_function(X)``.

    It must return one vote per row (1, 0 or -1 to abstain), vote on at least
    :data:`MIN_COVERAGE` of the unlabelled pool, be right at least
    :data:`MIN_ACCURACY` of the time on the gold dev rows it votes on (at least
    :data:`MIN_DEV_VOTES` of them), and not duplicate a given function.

    Parameters
    ----------
    func : callable
        The learner's labeling function.
    X_pool : pandas.DataFrame
        This run's unlabelled pool.
    X_dev : pandas.DataFrame
        This run's small gold (dev) set, and ``y_dev`` its labels.
    y_dev : array-like of 0/1
    given_votes : pandas.DataFrame
        The given labeling functions' votes on the pool.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> X = pd.DataFrame({"size": np.linspace(0, 1, 40)})
    >>> y = (X["size"] > 0.5).astype(int)
    >>> given = pd.DataFrame({"tiny": np.where(X["size"] < 0.2, 0, -1)})
    >>> labeling_function(lambda X: np.where(X["size"] > 0.7, 1, -1), X, X, y, given)
    [ok] labeling_function: all checks passed
    """
    task = "labeling_function"
    expect(isinstance(X_pool, pd.DataFrame) and isinstance(X_dev, pd.DataFrame), task,
           "give the check the pool and the dev rows as DataFrames.")
    truth = np.asarray(y_dev)
    expect(truth.shape == (len(X_dev),), task, "give one dev label per dev row.")

    def votes_on(X: pd.DataFrame, where: str) -> np.ndarray:
        out = _as_array(call_answer(task, func, X.copy(), _case=where))
        expect(out is not None and np.all(np.isin(out, (-1, 0, 1))), task,
               f"on {where} the votes must be 1 (malignant), 0 (benign) or -1 (abstain), "
               "as numbers.")
        expect(out.shape == (len(X),), task,
               f"on {where} the function should return one vote per row ({len(X)}), got "
               f"shape {out.shape}.")
        return out.astype(int)

    votes_on(X_dev.head(3), "the first three dev rows")
    pool, dev = votes_on(X_pool, "the pool"), votes_on(X_dev, "the dev rows")
    voted = dev != -1
    given = given_votes.to_numpy()
    result = {
        "covers_enough": bool(np.mean(pool != -1) >= MIN_COVERAGE),
        "accurate_enough": bool(voted.sum() >= MIN_DEV_VOTES
                                and np.mean(dev[voted] == truth[voted]) >= MIN_ACCURACY),
        "new": not any(np.array_equal(pool, given[:, j]) for j in range(given.shape[1])),
    }
    record(task, **result)
    expect(result["covers_enough"], task,
           f"your function votes on less than {MIN_COVERAGE:.0%} of the pool; loosen its "
           "condition so that it labels more rows (it may abstain on the rest).")
    expect(result["accurate_enough"], task,
           f"on the gold dev rows it votes on, your function is right less than "
           f"{MIN_ACCURACY:.0%} of the time (or votes on fewer than {MIN_DEV_VOTES}): "
           "check which class the rule should vote for, and make the condition stricter.")
    expect(result["new"], task, "your function votes exactly like one of the given "
                                "functions; write a rule on another measurement.")
    passed(task)


# ---------------------------------------------------------------- learning curves


def big_model_from(value: Any, curves: pd.DataFrame, simple: str, big: str) -> None:
    """Check the decision ``BIG_MODEL_FROM``.

    It must be the smallest training size of ``curves`` from which the big model's
    validation accuracy is above the simple model's at that size and every larger one.

    Parameters
    ----------
    value : int
        The learner's decision.
    curves : pandas.DataFrame
        Validation accuracy indexed by training size, one column per model (from
        :func:`labkit.labels.learning_curves`).
    simple, big : str
        The columns of the simple and the big model.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> curves = pd.DataFrame({"simple": [0.6, 0.8, 0.85, 0.86], "big": [0.4, 0.7, 0.9, 0.95]},
    ...                       index=pd.Index([10, 20, 40, 80], name="size"))
    >>> big_model_from(40, curves, "simple", "big")
    [ok] big_model_from: the big model pays off from 40 examples
    """
    task = "big_model_from"
    expect(isinstance(curves, pd.DataFrame) and {simple, big} <= set(curves.columns), task,
           f"give the check the learning curves with columns {simple!r} and {big!r}.")
    sizes = [int(s) for s in curves.index]
    ahead = (curves[big] > curves[simple]).to_numpy()
    from_here = [s for i, s in enumerate(sizes) if ahead[i:].all()]
    expect(bool(from_here), task, "the big model is not ahead at the largest size, so it "
                                  "never pays off on these curves; the check cannot judge.")
    first = from_here[0]
    number = as_number(value)
    chosen = int(number) if not math.isnan(number) and number == int(number) else None
    record(task, size=decision(chosen if chosen is not None else str(value),
                               accepted=[first]))
    expect(chosen in sizes, task, "set BIG_MODEL_FROM to one of the training sizes of the "
                                  "learning curves (a whole number).")
    i = sizes.index(chosen)
    expect(ahead[i:].all(), task,
           f"at {chosen} examples or beyond, the big model is not ahead of the simple one "
           "on validation at every size: compare the two curves at each size (big above "
           "simple), from your size up to the largest.")
    expect(chosen == first, task,
           f"the big model is ahead from {chosen} examples on, but already from a smaller "
           "size: take the smallest size from which it stays ahead, not where its lead "
           "is largest.")
    passed(task, f"the big model pays off from {chosen} examples")


# ---------------------------------------------------------------- clicks

_IPW_RANKS = [[0, 1], [1, 2], [2, 3], [3, 0], [0, 2], [1, 3]]
_IPW_CLICKS = [1, -1, 1, -1, 0, -1]
IPW_EXAMPLES = (
    Example((_IPW_RANKS, _IPW_CLICKS, [1.0, 0.5], 4), (1 / 3, 2 / 3, 0.0, 2 / 3),
            "the lab's worked example (6 sessions, 2 slots, examine_prob=[1.0, 0.5], "
            "4 items)",
            slips={(1 / 3, 1 / 3, 0.0, 1 / 3): "that is the plain click-through rate: "
                   "weight each click by 1 / examine_prob of its slot.",
                   (1 / 6, 1 / 3, 0.0, 1 / 3): "divide by the number of times each item "
                   "was shown, not by the number of sessions.",
                   (1 / 3, 1 / 6, 0.0, 1 / 6): "a click in a rarely examined slot must "
                   "count more: weight by 1 / examine_prob, not examine_prob."}),
    Example(([[0, 1], [1, 0], [2, 1]], [0, -1, -1], [0.8, 0.4], 3), (1.25 / 2, 0.0, 0.0),
            "rankings=[[0, 1], [1, 0], [2, 1]], clicked_slot=[0, -1, -1], "
            "examine_prob=[0.8, 0.4], n_items=3 (the last item is never clicked)",
            slips={(0.5, 0.0, 0.0): "that is the plain click-through rate: weight each "
                   "click by 1 / examine_prob of its slot."}),
)


def ipw_preference(func: Callable[..., Any], rankings: Any, clicked_slot: Any,
                   examine_prob: Any, n_items: int) -> None:
    """Check ``ipw_preference(rankings, clicked_slot, examine_prob, n_items)``.

    Runs the worked examples, records the answer on this run's click log, then checks
    that it agrees with :func:`labkit.labels.inverse_propensity_rate`, that with every
    slot always examined it is the click-through rate, and that halving every
    examination probability doubles it.

    Parameters
    ----------
    func : callable
        The learner's ``ipw_preference``.
    rankings : array-like of int, shape (n_sessions, n_slots)
    clicked_slot : array-like of int, shape (n_sessions,)
    examine_prob : array-like of float, shape (n_slots,)
    n_items : int

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from labkit.labels import inverse_propensity_rate as reference
    >>> ipw_preference(reference, [[0, 1], [1, 0], [1, 0]], [0, 1, -1], [0.9, 0.3], 2)
    [ok] ipw_preference: all checks passed
    """
    from ..labels import click_through_rate, inverse_propensity_rate

    task = "ipw_preference"
    ranks, slot = np.asarray(rankings), np.asarray(clicked_slot)
    exam = np.asarray(examine_prob, dtype=float)
    expect(ranks.ndim == 2 and slot.shape == (len(ranks),) and exam.shape == (ranks.shape[1],)
           and isinstance(n_items, (int, np.integer)), task,
           "give the check the rankings (sessions x slots), the clicked slot of each "
           "session, one examination probability per slot and the number of items.")
    n = int(n_items)
    expect(np.all(np.isin(np.arange(n), ranks)), task,
           "every item must be shown at least once in the log the check is given.")

    def estimate(r: np.ndarray, s: np.ndarray, e: np.ndarray, where: str) -> np.ndarray:
        got = _as_array(call_answer(task, func, r.copy(), s.copy(), e.copy(), n))
        expect(got is not None and got.shape == (n,), task,
               f"{where} the function should return one number per item ({n}).")
        return got

    check_examples(task, func, IPW_EXAMPLES, rtol=1e-9, atol=1e-12)
    got = estimate(ranks, slot, exam, "on this run's log")
    record(task, rtol=1e-7, atol=1e-10, preference=got)
    expect(np.allclose(got, inverse_propensity_rate(ranks, slot, exam, n), rtol=1e-7,
                       atol=1e-10), task,
           "on this run's log your estimate differs from the reference "
           "(labkit.labels.inverse_propensity_rate).")
    ones = estimate(ranks, slot, np.ones_like(exam), "with every slot always examined,")
    expect(np.allclose(ones, click_through_rate(ranks, slot, n), rtol=1e-9, atol=1e-12),
           task, "when every slot is always examined (examine_prob all ones) the estimate "
                 "should be the plain click-through rate (clicks per showing), and it is not.")
    halved = estimate(ranks, slot, exam / 2, "with every examination probability halved,")
    expect(np.allclose(halved, 2 * got, rtol=1e-9, atol=1e-12), task,
           "halving every examination probability should double the estimate (each click "
           "then stands for twice as many users who wanted the item).")
    passed(task)
