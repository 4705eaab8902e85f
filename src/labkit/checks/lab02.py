"""Public self-checks of Lab 02, *Evaluation and personalization*.

Each check first records what the learner's function gives on this run's data (for
the grader), then tests it on small cases worked out by hand (the ones the lab's
instructions describe) and on properties every correct answer has. Failures say what
is wrong in plain words; they never print a value computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._core import (
    Example,
    as_number,
    call_answer,
    check_examples,
    expect,
    expect_number,
    passed,
    record,
)
from ._core import decision as _decision

__all__ = ["expected_acceptance", "fine_tune", "personalize_from", "sessions_per_arm",
           "softmax_cross_entropy"]

# Worked example of expected_acceptance: three sessions, three slots. The wanted app
# sits in slot 0, in slot 2 and nowhere, so the answer is (0.9 + 0.1 + 0) / 3.
_RANKS = np.array([[3, 1, 2], [1, 2, 3], [5, 6, 7]])
_WANTED = np.array([3, 3, 9])
_EXAM = np.array([0.9, 0.3, 0.1])
_EXAMPLE_EA = ("rankings=[[3, 1, 2], [1, 2, 3], [5, 6, 7]], true_apps=[3, 3, 9], "
               "examine_prob=[0.9, 0.3, 0.1]")
_EA_WANT = (0.9 + 0.1) / 3
_EA_SLIPS = {
    2 / 3: "that is the top-3 hit rate: weight each hit by the examination probability "
           "of the slot it sits in.",
    1.0: "that is the sum over sessions: divide by the number of sessions.",
    0.3 / 3: "the slot looks off by one: slot 0 (the first column) is examined with "
             "probability examine_prob[0].",
    0.9 / 3: "only the first slot seems to count: a hit in slot 2 is worth examine_prob[2].",
}

# Worked example of softmax_cross_entropy: logits [[2, 0], [0, 0]], labels [0, 1].
_LOGITS = np.array([[2.0, 0.0], [0.0, 0.0]])
_LABELS = np.array([0, 1])
_EXAMPLE_CE = "logits=[[2, 0], [0, 0]], labels=[0, 1]"
_CE_WANT = (math.log1p(math.exp(-2.0)) + math.log(2.0)) / 2
_CE_SLIPS = {
    2 * _CE_WANT: "that is the sum over rows: return the mean.",
    -_CE_WANT: "the sign is flipped: the loss is minus the log-probability of the label.",
    (math.log1p(math.exp(2.0)) + math.log(2.0)) / 2:
        "that looks like the log-probability of the wrong class: index each row's "
        "log-probabilities with that row's label.",
}

# Worked example of fine_tune: one event with features [1, 0] and label 1, two apps,
# start from zero weights, pull=1, lr=1, one step. The softmax is [0.5, 0.5], the
# gradient of the summed loss is [[0.5, 0], [-0.5, 0]] for W and [0.5, -0.5] for b,
# and the step size is lr / (n + pull) = 1/2.
_FT_X = np.array([[1.0, 0.0]])
_FT_Y = np.array([1])
_FT_W = np.array([[-0.25, 0.0], [0.25, 0.0]])
_FT_B = np.array([-0.25, 0.25])
_EXAMPLE_FT = ("X=[[1, 0]], y=[1], W_ref=zeros((2, 2)), b_ref=zeros(2), pull=1, lr=1, "
               "n_steps=1")


_EA_EXAMPLE = Example(
    (_RANKS, _WANTED, _EXAM), _EA_WANT, _EXAMPLE_EA, _EA_SLIPS,
    why="for each session find the slot holding the wanted app, take that slot's examination "
        "probability (0 when the app is not in the list), then average over sessions.")
_CE_EXAMPLE = Example(
    (_LOGITS, _LABELS), _CE_WANT, _EXAMPLE_CE, _CE_SLIPS,
    why="turn each row of logits into log-probabilities (log-softmax), take the one of the "
        "row's label, and average minus that over rows.")


def expected_acceptance(func: Callable[..., Any], rankings: Mapping[str, Any],
                        true_apps: Any, examine_prob: Any) -> None:
    """Check ``expected_acceptance(rankings, true_apps, examine_prob)``.

    Records the answer on this run's lists (one value per model), then tests the
    worked example and three properties: with every slot always examined the answer
    is the hit rate of the whole list, a list that never holds the wanted app scores
    zero, and moving the wanted app up a slot never lowers the score.

    Parameters
    ----------
    func : callable
        The learner's ``expected_acceptance``.
    rankings : mapping of str to array of shape (n_sessions, n_slots)
        This run's suggestion lists, one entry per model.
    true_apps : array-like of shape (n_sessions,)
        The apps the users wanted.
    examine_prob : array-like of shape (n_slots,)
        The examination probability of each slot.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def weighted(rankings, true_apps, examine_prob):
    ...     hits = np.asarray(rankings) == np.asarray(true_apps)[:, None]
    ...     return float((hits * np.asarray(examine_prob)).sum(axis=1).mean())
    >>> expected_acceptance(weighted, {"m": [[1, 2], [2, 1]]}, [1, 1], [0.8, 0.2])
    [ok] expected_acceptance: all checks passed
    """
    task = "expected_acceptance"
    expect(isinstance(rankings, Mapping) and len(rankings) > 0, task,
           "give the check a dict that maps each model's name to its suggestion lists.")
    truth = np.asarray(true_apps)
    exam = np.asarray(examine_prob, dtype=float)
    lists = {str(name): np.asarray(r) for name, r in rankings.items()}
    for name, r in lists.items():
        expect(r.ndim == 2 and r.shape == (len(truth), len(exam)), task,
               f"the lists of {name!r} should have one row per session and one column "
               "per slot (as many as examine_prob has entries).")
    check_examples(task, func, [_EA_EXAMPLE], result=lambda v: expect_number(task, v))
    on_run = {name: as_number(call_answer(task, func, r.copy(), truth.copy(), exam.copy()))
              for name, r in lists.items()}
    record(task, acceptance=on_run)

    for name, r in lists.items():
        value = on_run[name]
        expect(0.0 <= value <= 1.0, task,
               f"on this run's lists of {name!r} the answer is not a probability "
               "(it should lie between 0 and 1).")
        always = as_number(call_answer(task, func, r.copy(), truth.copy(), np.ones_like(exam)))
        hit_rate = float(np.mean((r == truth[:, None]).any(axis=1)))
        expect(math.isclose(always, hit_rate, rel_tol=1e-9, abs_tol=1e-12), task,
               f"on this run's lists of {name!r}, when every slot is always examined "
               "(examine_prob all ones) the expected acceptance should equal the share of "
               "sessions whose list holds the wanted app, and it does not.")
    never = as_number(call_answer(task, func, _RANKS.copy(), np.array([0, 0, 0]), _EXAM.copy()))
    expect(never == 0.0, task, "when no list holds the wanted app the expected acceptance "
                               "should be 0.")
    lower = as_number(call_answer(task, func, np.array([[1, 3, 2]]), np.array([3]), _EXAM.copy()))
    upper = as_number(call_answer(task, func, np.array([[3, 1, 2]]), np.array([3]), _EXAM.copy()))
    expect(upper >= lower and not math.isclose(upper, lower), task,
           "moving the wanted app from slot 1 to slot 0 should raise the expected "
           "acceptance (the first slot is examined more often), and it does not.")
    passed(task)


def softmax_cross_entropy(func: Callable[..., Any], logits: Any, labels: Any) -> None:
    """Check ``softmax_cross_entropy(logits, labels)``.

    Records the answer on this run's logits, then tests the worked example and four
    properties: equal logits over K classes give log K, adding a constant to a row
    changes nothing, huge logits give a finite answer, and the loss is never negative.

    Parameters
    ----------
    func : callable
        The learner's ``softmax_cross_entropy``.
    logits : array-like of shape (n, n_classes)
        This run's logits.
    labels : array-like of int, shape (n,)
        This run's labels.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def mean_ce(logits, labels):
    ...     z = np.asarray(logits, dtype=float)
    ...     z = z - z.max(axis=1, keepdims=True)
    ...     logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ...     return float(-logp[np.arange(len(z)), labels].mean())
    >>> softmax_cross_entropy(mean_ce, [[1.0, 2.0, 0.5]], [1])
    [ok] softmax_cross_entropy: all checks passed
    """
    task = "softmax_cross_entropy"
    z = np.asarray(logits, dtype=float)
    y = np.asarray(labels)
    expect(z.ndim == 2 and y.ndim == 1 and len(z) == len(y) and len(y) > 0, task,
           "give the check a 2-d array of logits (one row per case) and one label per row.")
    check_examples(task, func, [_CE_EXAMPLE], result=lambda v: expect_number(task, v))
    on_run = as_number(call_answer(task, func, z.copy(), y.copy()))
    record(task, loss=on_run)
    for k in (2, 5, 30):
        flat = as_number(call_answer(task, func, np.zeros((3, k)), np.array([0, 1, k - 1])))
        expect(math.isclose(flat, math.log(k), rel_tol=1e-9), task,
               f"with all logits equal over {k} classes every class has probability "
               f"1/{k}, so the loss should be log({k}); it is not.")
    shifted = as_number(call_answer(task, func, z + 7.5, y.copy()))
    expect(math.isclose(shifted, on_run, rel_tol=1e-7, abs_tol=1e-9), task,
           "adding the same constant to every logit of a row should not change the loss "
           "(the softmax does not change), and on this run's logits it does.")
    big = as_number(call_answer(task, func, np.array([[1000.0, 0.0], [0.0, 1000.0]]),
                              np.array([0, 0])))
    expect(math.isfinite(big) and math.isclose(big, 500.0, rel_tol=1e-6), task,
           "with logits of 1000 the loss overflows or is wrong: subtract each row's "
           "maximum before exponentiating (or use scipy.special.logsumexp).")
    expect(on_run >= 0.0, task, "a cross-entropy is never negative, and on this run's "
                                "logits your loss is.")
    passed(task)


def _objective_gradient(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray,
                        W_ref: np.ndarray, b_ref: np.ndarray,
                        pull: float) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of summed cross-entropy + pull/2 * squared distance to the reference."""
    z = X @ W.T + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p.T @ X + pull * (W - W_ref), p.sum(axis=0) + pull * (b - b_ref)


def _weights(task: str, result: Any) -> tuple[np.ndarray, np.ndarray]:
    expect(isinstance(result, tuple) and len(result) == 2, task,
           f"the function should return a pair (W, b), got {type(result).__name__}.")
    return np.asarray(result[0], dtype=float), np.asarray(result[1], dtype=float)


def fine_tune(func: Callable[..., Any], X: Any, y: Any, W_ref: Any, b_ref: Any,
              pull: float = 10.0) -> None:
    """Check ``fine_tune(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100)``.

    Records the weights the answer gives on this run's user, then tests the worked
    one-step example and four properties: zero steps return a copy of the reference
    without touching it, a huge pull keeps the weights at the reference, the shapes
    are those of the reference, and after many steps the objective's gradient has
    shrunk (gradient descent converges).

    Parameters
    ----------
    func : callable
        The learner's ``fine_tune``.
    X : array-like of shape (n, n_features)
        One user's encoded events on this run's data.
    y : array-like of int, shape (n,)
        Their apps.
    W_ref, b_ref : array-like of shape (n_apps, n_features) and (n_apps,)
        The global model's weights.
    pull : float
        The pull to record the answer with.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def descend(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    ...     W, b = W_ref.copy(), b_ref.copy()
    ...     onehot = np.eye(len(b))[y]
    ...     for _ in range(n_steps):
    ...         z = X @ W.T + b
    ...         p = np.exp(z - z.max(axis=1, keepdims=True))
    ...         g = p / p.sum(axis=1, keepdims=True) - onehot
    ...         W = W - lr / (len(y) + pull) * (g.T @ X + pull * (W - W_ref))
    ...         b = b - lr / (len(y) + pull) * (g.sum(axis=0) + pull * (b - b_ref))
    ...     return W, b
    >>> rng = np.random.default_rng(0)
    >>> fine_tune(descend, rng.random((6, 3)), np.array([0, 1, 2, 0, 1, 2]),
    ...           np.zeros((3, 3)), np.zeros(3))
    [ok] fine_tune: all checks passed
    """
    task = "fine_tune"
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    # Copies: the answer is called on these, and the lab's own weights must stay intact.
    W_ref = np.array(W_ref, dtype=float)
    b_ref = np.array(b_ref, dtype=float)
    expect(X.ndim == 2 and y.shape == (len(X),) and W_ref.shape == (len(b_ref), X.shape[1]),
           task, "give the check one user's X (n, n_features), y (n,), and reference "
                 "weights W_ref (n_apps, n_features) and b_ref (n_apps,).")
    W1, b1 = _weights(task, call_answer(task, func, _FT_X.copy(), _FT_Y.copy(),
                                        np.zeros((2, 2)), np.zeros(2), pull=1.0, lr=1.0,
                                        n_steps=1, _case=_EXAMPLE_FT))
    if not (np.allclose(W1, _FT_W, atol=1e-9) and np.allclose(b1, _FT_B, atol=1e-9)):
        if np.allclose(W1, -_FT_W, atol=1e-9):
            why = "the step goes uphill: subtract the gradient."
        elif np.allclose(W1, 2 * _FT_W, atol=1e-9):
            why = "the step size should be lr / (n + pull), not lr / n."
        else:
            why = ("check the gradient of the objective (the collapsed hint has it) and "
                   "the step size lr / (n + pull).")
        expect(False, task, f"for {_EXAMPLE_FT} the weights after one step should be "
                            "W=[[-0.25, 0], [0.25, 0]] and b=[-0.25, 0.25] (worked out in "
                            f"the lab's instructions), and yours differ: {why}")

    W_arg, b_arg = W_ref.copy(), b_ref.copy()
    W, b = _weights(task, call_answer(task, func, X.copy(), y.copy(), W_arg, b_arg, pull=pull))
    expect(W.shape == W_ref.shape and b.shape == b_ref.shape, task,
           "the returned W and b should have the shapes of W_ref and b_ref.")
    record(task, rtol=1e-4, atol=1e-6, W=W, b=b)
    expect(np.array_equal(W_arg, W_ref) and np.array_equal(b_arg, b_ref), task,
           "your function changed W_ref or b_ref in place: work on copies, so that the "
           "global model stays the same for the next user.")

    W0, b0 = _weights(task, call_answer(task, func, X.copy(), y.copy(), W_ref, b_ref,
                                        pull=pull, n_steps=0))
    expect(np.allclose(W0, W_ref) and np.allclose(b0, b_ref), task,
           "with n_steps=0 the function should return the reference weights unchanged "
           "(training starts from them).")
    expect(W0 is not W_ref and not np.shares_memory(W0, W_ref), task,
           "return a copy of W_ref, not W_ref itself, so that later steps cannot change it.")

    Wp, bp = _weights(task, call_answer(task, func, X.copy(), y.copy(), W_ref.copy(),
                                        b_ref.copy(), pull=1e9))
    expect(np.allclose(Wp, W_ref, atol=1e-5) and np.allclose(bp, b_ref, atol=1e-5), task,
           "with a huge pull the weights should stay at W_ref and b_ref: pull towards "
           "the reference weights, not towards zero.")

    rng = np.random.default_rng(0)
    Xs = (rng.random((12, 4)) < 0.4).astype(float)
    ys = rng.integers(0, 3, 12)
    Wr, br = rng.normal(0, 0.5, (3, 4)), rng.normal(0, 0.5, 3)
    Wl, bl = _weights(task, call_answer(task, func, Xs, ys, Wr.copy(), br.copy(), pull=2.0,
                                        lr=0.5, n_steps=1000))
    g0 = np.hypot(*(np.linalg.norm(g) for g in _objective_gradient(Wr, br, Xs, ys, Wr, br,
                                                                     2.0)))
    g1 = np.hypot(*(np.linalg.norm(g) for g in _objective_gradient(Wl, bl, Xs, ys, Wr, br,
                                                                     2.0)))
    expect(g1 < 0.01 * g0, task,
           "after 1000 steps on a small problem the gradient of the objective (summed "
           "cross-entropy + pull/2 * squared distance to the reference) should be close "
           "to zero, and it is not: check the gradient formula and its sign.")
    passed(task)


def sessions_per_arm(value: Any, p_a: float, p_b: float, *, alpha: float = 0.05,
                     power: float = 0.8) -> None:
    """Check the decision ``SESSIONS_PER_ARM`` of an A/B test's plan.

    The reference is the normal-approximation size of a two-sided two-proportion test
    for the planning rates ``p_a`` and ``p_b``,
    :math:`(z_{1-\\alpha/2} + z_{power})^2 (p_A(1-p_A) + p_B(1-p_B)) / (p_A - p_B)^2`
    per arm. Answers within 8% of it are accepted (other standard formulas, such as
    Cohen's h, land within a few percent); the grader uses the same interval.

    Parameters
    ----------
    value : int
        The learner's ``SESSIONS_PER_ARM``.
    p_a, p_b : float
        The planned acceptance rates of the two arms.
    alpha, power : float
        Two-sided level and power.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> sessions_per_arm(2940, 0.20, 0.23)
    [ok] sessions_per_arm: all checks passed
    >>> sessions_per_arm(2316, 0.20, 0.23)
    Traceback (most recent call last):
    ...
    AssertionError: sessions_per_arm: 2316 sessions per arm is too few: the test would detect \
the lift less often than planned. Is the test two-sided (level alpha split over both tails)?
    """
    from scipy.stats import norm

    task = "sessions_per_arm"
    expect(0 < p_a < 1 and 0 < p_b < 1 and p_a != p_b, task,
           "give the check two different acceptance rates between 0 and 1.")
    n = expect_number(task, value)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    planned = z**2 * (p_a * (1 - p_a) + p_b * (1 - p_b)) / (p_a - p_b) ** 2
    low, high = 0.92 * planned, 1.08 * planned
    # Recorded relative to the rates this run planned with: a slip in an earlier task
    # changes those rates, and must not cost this task its points too.
    record(task, share_of_plan=_decision(n / planned, between=(0.92, 1.08)))
    expect(n == int(n) and n > 0, task, "give a whole, positive number of sessions.")
    expect(n < 1.9 * planned, task,
           f"{n:.0f} sessions per arm is far more than needed: is it the size of both arms "
           "together? The formula gives the size of each arm.")
    expect(n >= low, task,
           f"{n:.0f} sessions per arm is too few: the test would detect the lift less often "
           "than planned. Is the test two-sided (level alpha split over both tails)?")
    expect(n <= high, task,
           f"{n:.0f} sessions per arm is more than the plan needs: check the quantiles for "
           "the level and the power.")
    passed(task)


def personalize_from(value: Any, curve: Any, *, min_gain: float) -> None:
    """Check the decision ``PERSONALIZE_FROM`` against the strategy curve.

    The answer is the smallest budget (an index of ``curve``) from which the fine-tuned
    model's top-1 accuracy exceeds the global model's by at least ``min_gain`` at that
    budget and every larger one.

    Parameters
    ----------
    value : int
        The learner's ``PERSONALIZE_FROM``.
    curve : pandas.DataFrame
        Top-1 accuracy per budget (index) and strategy (columns ``global`` and
        ``fine-tuned``).
    min_gain : float
        The gain that pays for a model per user.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> import pandas as pd
    >>> curve = pd.DataFrame({"global": [0.30, 0.30, 0.30, 0.30],
    ...                       "fine-tuned": [0.29, 0.33, 0.31, 0.36]}, index=[1, 4, 16, 64])
    >>> personalize_from(64, curve, min_gain=0.02)
    [ok] personalize_from: all checks passed
    >>> personalize_from(4, curve, min_gain=0.02)
    Traceback (most recent call last):
    ...
    AssertionError: personalize_from: with 16 events the gain of the fine-tuned model falls \
below min_gain, so 4 is too early: the gain must hold from your budget on.
    """
    task = "personalize_from"
    expect(hasattr(curve, "index") and {"global", "fine-tuned"} <= set(curve.columns), task,
           "give the check the strategy curve (columns 'global' and 'fine-tuned').")
    budgets = [int(b) for b in curve.index]
    gain = (curve["fine-tuned"] - curve["global"]).to_numpy()
    holds = np.flip(np.minimum.accumulate(np.flip(gain >= min_gain)))
    right = [b for b, ok in zip(budgets, holds, strict=True) if ok]
    # Recorded as the distance (in budgets) from the right answer on this run's curve,
    # which the learner's fine_tune drew: a slip there must not cost this task too.
    valid = isinstance(value, (int, np.integer)) and int(value) in budgets and bool(right)
    offset = budgets.index(int(value)) - budgets.index(right[0]) if valid else np.nan
    record(task, budgets_from_answer=_decision(float(offset), accepted=[0.0]))
    expect(isinstance(value, (int, np.integer)) and int(value) in budgets, task,
           f"answer with one of the budgets {budgets}.")
    value = int(value)
    expect(bool(right), task, "the fine-tuned model never keeps the gain; no budget works. "
                              "(The check expects one to exist on this data.)")
    if value < right[0]:
        broken = next(b for b, g in zip(budgets, gain, strict=True)
                      if b >= value and g < min_gain)
        expect(False, task, f"with {broken} events the gain of the fine-tuned model falls "
                            f"below min_gain, so {value} is too early: the gain must hold "
                            "from your budget on.")
    expect(value == right[0], task,
           f"the gain already holds from a smaller budget than {value}: users with fewer "
           "events would also be better served by their own model.")
    passed(task)
