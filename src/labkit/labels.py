"""Where labels come from: annotators, labeling functions, and users' clicks.

A supervised model is only as good as its labels, and labels are made by people and
programs that make mistakes. This module simulates the three sources a lab compares,
with a ground truth the simulator knows and a real project never does:

* **Annotators.** Each simulated annotator has a *confusion matrix*: row ``k`` gives the
  probabilities of each label they write for an item whose true class is ``k``. A good
  annotator's matrix is nearly diagonal; a careless one spreads mass over the other
  classes, mostly onto a look-alike class (a handwritten 1 read as a 7); a spammer's
  rows are uniform. :func:`annotator_confusion` builds such matrices,
  :func:`simulate_annotators` draws labels from them and :func:`assign_annotators`
  keeps only a few annotators per item, as a labeling budget does.
* **Agreement and aggregation.** :func:`label_counts`, :func:`majority_vote`,
  :func:`pairwise_cohen_kappa` (scikit-learn's Cohen's kappa for each pair of
  annotators), and reference implementations of Fleiss' kappa (:func:`fleiss_kappa`)
  and of the Dawid-Skene EM algorithm (:func:`dawid_skene`) that the lab's checks use.
  The tests compare them with ``statsmodels`` and ``crowd-kit``.
* **Labeling functions** (weak supervision): small rules that vote for a class or
  abstain. :func:`apply_labeling_functions` runs them, and
  :func:`labeling_function_summary` reports their coverage, overlaps, conflicts and,
  where some true labels are known, their accuracy.
* **How much data**: :func:`learning_curves` wraps scikit-learn's
  :func:`~sklearn.model_selection.learning_curve` into a tidy table.
* **Clicks.** Clicks on a ranked row are labels too, biased by position. Built on
  :mod:`labkit.feedback` (the position-based click model of Lab 02):
  :func:`plackett_luce_rankings` is a logging policy that shows items in varied
  orders, :func:`simulate_clicks` draws what each simulated user wanted and what they
  clicked, :func:`click_through_rate` is the naive label (clicks per impression) and
  :func:`inverse_propensity_rate` the reference of the inverse-propensity-weighted
  estimate.

Missing labels are written ``-1`` throughout (an annotator who did not see the item, a
labeling function that abstains, a session without a click).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_1d, check_float, check_int, check_rng

__all__ = ["MISSING", "annotator_confusion", "apply_labeling_functions", "assign_annotators",
           "click_through_rate", "dawid_skene", "estimate_confusions", "fleiss_kappa",
           "inverse_propensity_rate", "label_counts", "labeling_function_summary",
           "learning_curves", "majority_vote", "pairwise_cohen_kappa",
           "plackett_luce_rankings", "simulate_annotators", "simulate_clicks"]

#: The code of a missing label: an annotator who did not label the item, a labeling
#: function that abstains, a session without a click.
MISSING = -1


# ---------------------------------------------------------------- validation helpers


def _check_n_classes(n_classes: Any) -> int:
    return check_int("n_classes", n_classes, minimum=2)


def _check_label_matrix(labels: Any, n_classes: int | None = None, *,
                        name: str = "labels") -> np.ndarray:
    """A 2-d integer array of labels in [-1, n_classes), -1 meaning missing."""
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-d array with one row per item and one column "
                         f"per annotator (or labeling function); got shape {arr.shape}.")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) \
                and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer class labels (-1 for a missing "
                            f"label), got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    if np.any(arr < MISSING):
        raise ValueError(f"{name} must hold class labels 0, 1, ... or -1 for a missing "
                         f"label; found {int(arr.min())}.")
    if n_classes is not None and np.any(arr >= n_classes):
        raise ValueError(f"{name} holds the label {int(arr.max())}, but n_classes is "
                         f"{n_classes}: labels must lie in 0..{n_classes - 1} (or be -1).")
    return arr


def _check_probability_rows(name: str, matrix: Any, ndim: int) -> np.ndarray:
    arr = np.asarray(matrix, dtype=float) if _is_numeric(matrix) else None
    if arr is None:
        raise TypeError(f"{name} must hold numbers (probabilities).")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {arr.shape}.")
    if arr.shape[-1] != arr.shape[-2] or arr.shape[-1] < 2:
        raise ValueError(f"each confusion matrix in {name} must be square (true class x "
                         f"label), with at least 2 classes; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must hold probabilities (finite, non-negative).")
    if not np.allclose(arr.sum(axis=-1), 1.0, atol=1e-8):
        raise ValueError(f"every row of {name} must sum to 1: row k holds the probabilities "
                         "of each label for an item of true class k.")
    return arr


def _is_numeric(values: Any) -> bool:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):
        return False
    return arr.dtype != bool and np.issubdtype(arr.dtype, np.number)


# ---------------------------------------------------------------- annotators


def annotator_confusion(accuracy: float, n_classes: int, *, partner: Any = None,
                        systematic: float = 0.0) -> np.ndarray:
    """The confusion matrix of a simulated annotator.

    Row ``k`` holds the probability of each label the annotator writes for an item of
    true class ``k``: ``accuracy`` on the diagonal; of the remaining ``1 - accuracy``,
    the share ``systematic`` goes to the look-alike class ``partner[k]`` and the rest
    is spread evenly over the ``n_classes - 1`` wrong classes.

    Parameters
    ----------
    accuracy : float
        Probability of writing the true class, in [0, 1]. ``1 / n_classes`` with
        ``systematic=0`` is a spammer who labels at random.
    n_classes : int
        Number of classes, at least 2.
    partner : array-like of int, shape (n_classes,), optional
        The class each class is most often mistaken for (``partner[k] != k``).
        Required when ``systematic > 0``.
    systematic : float
        Share of the errors that go to the partner class, in [0, 1].

    Returns
    -------
    numpy.ndarray of shape (n_classes, n_classes)
        Rows sum to 1.

    Examples
    --------
    >>> annotator_confusion(0.8, 3, partner=[1, 0, 0], systematic=0.5).round(2)
    array([[0.8 , 0.15, 0.05],
           [0.15, 0.8 , 0.05],
           [0.15, 0.05, 0.8 ]])
    """
    k = _check_n_classes(n_classes)
    acc = check_float("accuracy", accuracy, low=0, high=1)
    share = check_float("systematic", systematic, low=0, high=1)
    if partner is None:
        if share > 0:
            raise ValueError("systematic > 0 needs partner: the class each class is most "
                             "often mistaken for.")
        partner_arr = None
    else:
        partner_arr = check_1d("partner", partner)
        if len(partner_arr) != k or not np.issubdtype(partner_arr.dtype, np.integer):
            raise ValueError(f"partner must hold one class index per class ({k} integers).")
        if np.any((partner_arr < 0) | (partner_arr >= k)) or \
                np.any(partner_arr == np.arange(k)):
            raise ValueError("partner[k] must be another class than k, in 0..n_classes-1.")
    errors = 1.0 - acc
    matrix = np.full((k, k), errors * (1.0 - share) / (k - 1))
    np.fill_diagonal(matrix, acc)
    if partner_arr is not None:
        matrix[np.arange(k), partner_arr] += errors * share
    return matrix


def simulate_annotators(y_true: Any, confusions: Any, *,
                        random_state: int | np.random.Generator | None = None) -> np.ndarray:
    """Labels that simulated annotators give every item.

    Annotator ``a`` labels an item of true class ``k`` by drawing from row ``k`` of
    ``confusions[a]``, independently of the other annotators and items.

    Parameters
    ----------
    y_true : array-like of int, shape (n_items,)
        The true classes, in ``0..n_classes-1``.
    confusions : array-like of shape (n_annotators, n_classes, n_classes)
        One confusion matrix per annotator (rows sum to 1), e.g. from
        :func:`annotator_confusion`.
    random_state : int, numpy.random.Generator or None
        Seed.

    Returns
    -------
    numpy.ndarray of int, shape (n_items, n_annotators)
        Every annotator's label for every item; see :func:`assign_annotators` to keep
        only a few per item.

    Examples
    --------
    >>> perfect = annotator_confusion(1.0, 2)
    >>> simulate_annotators([0, 1, 1], [perfect, perfect], random_state=0).tolist()
    [[0, 0], [1, 1], [1, 1]]
    """
    conf = _check_probability_rows("confusions", confusions, 3)
    n_classes = conf.shape[1]
    y = check_1d("y_true", y_true)
    if not np.issubdtype(y.dtype, np.integer) or np.any((y < 0) | (y >= n_classes)):
        raise ValueError(f"y_true must hold class indices 0..{n_classes - 1} (the confusion "
                         f"matrices have {n_classes} classes).")
    rng = check_rng(random_state)
    u = rng.random((len(y), conf.shape[0]))
    cumulative = np.cumsum(conf[:, y, :], axis=-1)           # (annotators, items, classes)
    drawn = (u.T[:, :, None] >= cumulative).sum(axis=-1)      # first class whose cdf > u
    return np.minimum(drawn, n_classes - 1).T.astype(np.int64)


def assign_annotators(labels: Any, per_item: int, *,
                      random_state: int | np.random.Generator | None = None) -> np.ndarray:
    """Keep ``per_item`` randomly chosen annotators' labels per item; the rest become -1.

    With the same seed, the annotators kept for ``per_item = k`` are among those kept
    for ``k + 1`` (each item draws one random order of the annotators), so a sweep over
    the budget compares like with like.

    Parameters
    ----------
    labels : array-like of int, shape (n_items, n_annotators)
        Labels, -1 where missing (e.g. from :func:`simulate_annotators`).
    per_item : int
        How many labels to keep per item, at least 1. Items with fewer labels keep all.
    random_state : int, numpy.random.Generator or None
        Seed of the assignment.

    Returns
    -------
    numpy.ndarray of int, shape (n_items, n_annotators)

    Examples
    --------
    >>> kept = assign_annotators([[0, 1, 1], [2, 2, 0]], 2, random_state=0)
    >>> (kept >= 0).sum(axis=1).tolist()
    [2, 2]
    """
    arr = _check_label_matrix(labels)
    k = check_int("per_item", per_item, minimum=1)
    rng = check_rng(random_state)
    keys = rng.random(arr.shape)
    keys[arr == MISSING] = np.inf
    order = np.argsort(keys, axis=1, kind="stable")
    keep = np.zeros(arr.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :k], True, axis=1)
    return np.where(keep, arr, MISSING)


def label_counts(labels: Any, n_classes: int) -> np.ndarray:
    """How many labels each item received for each class (missing labels ignored).

    This is the item-by-category table that Fleiss' kappa takes, the one
    ``statsmodels.stats.inter_rater.aggregate_raters`` builds.

    Parameters
    ----------
    labels : array-like of int, shape (n_items, n_annotators)
        Labels, -1 where missing.
    n_classes : int

    Returns
    -------
    numpy.ndarray of int, shape (n_items, n_classes)

    Examples
    --------
    >>> label_counts([[0, 0, 1], [2, -1, 2]], 3).tolist()
    [[2, 1, 0], [0, 0, 2]]
    """
    k = _check_n_classes(n_classes)
    arr = _check_label_matrix(labels, k)
    counts = np.zeros((arr.shape[0], k), dtype=np.int64)
    rows, cols = np.nonzero(arr != MISSING)
    np.add.at(counts, (rows, arr[rows, cols]), 1)
    return counts


def majority_vote(labels: Any, n_classes: int, *,
                  random_state: int | np.random.Generator | None = None) -> np.ndarray:
    """The most frequent label of each item.

    Parameters
    ----------
    labels : array-like of int, shape (n_items, n_annotators)
        Labels, -1 where missing.
    n_classes : int
    random_state : int, numpy.random.Generator or None
        How ties are broken: with a seed (or Generator), uniformly at random among the
        tied classes; with ``None``, towards the lowest class.

    Returns
    -------
    numpy.ndarray of int, shape (n_items,)
        The winning class, or -1 for an item without any label.

    Examples
    --------
    >>> majority_vote([[0, 1, 1], [2, -1, -1], [-1, -1, -1], [0, 1, -1]], 3).tolist()
    [1, 2, -1, 0]
    """
    k = _check_n_classes(n_classes)
    counts = label_counts(labels, k).astype(float)
    if random_state is not None:
        # Jitter below 1 never overturns a real majority, only breaks ties.
        counts += 0.5 * check_rng(random_state).random(counts.shape)
    winner = np.argmax(counts, axis=1)
    return np.where(counts.max(axis=1) >= 1, winner, MISSING).astype(np.int64)


# ---------------------------------------------------------------- agreement


def fleiss_kappa(counts: Any) -> float:
    """Fleiss' kappa: agreement among several raters beyond what chance gives.

    Reference implementation used by the lab's checks (the tests compare it with
    ``statsmodels.stats.inter_rater.fleiss_kappa``). With ``n`` raters per item,
    ``P_i = (sum_j n_ij^2 - n) / (n (n - 1))`` is the share of agreeing rater pairs on
    item ``i``; ``p_j`` is the share of all labels that are ``j``; chance agreement
    is ``P_e = sum_j p_j^2`` and ``kappa = (mean P_i - P_e) / (1 - P_e)``.

    Parameters
    ----------
    counts : array-like of int, shape (n_items, n_categories)
        How many raters put each item in each category (see :func:`label_counts`);
        every item must have the same number of raters, at least 2.

    Returns
    -------
    float
        1 for perfect agreement, 0 for chance-level agreement, negative below chance.

    Raises
    ------
    ValueError
        When items have different numbers of raters, or when every label falls in one
        category (chance agreement is then 1 and kappa is undefined).

    Examples
    --------
    >>> round(fleiss_kappa([[3, 0], [3, 0], [2, 1], [1, 2]]), 4)
    0.1111
    """
    arr = np.asarray(counts)
    if not _is_numeric(arr) or arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise ValueError("counts must be a 2-d array of counts, one row per item and one "
                         f"column per category (at least 2); got shape {np.shape(arr)}.")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError("counts must hold non-negative whole numbers of raters.")
    arr = arr.astype(float)
    raters = arr.sum(axis=1)
    n = raters[0]
    if np.any(raters != n):
        raise ValueError("every item needs the same number of raters for Fleiss' kappa; "
                         f"the rows sum to between {raters.min():g} and {raters.max():g}.")
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least 2 raters per item.")
    agreement = ((arr * (arr - 1)).sum(axis=1) / (n * (n - 1))).mean()
    shares = arr.sum(axis=0) / arr.sum()
    chance = float((shares ** 2).sum())
    if chance >= 1.0:
        raise ValueError("every label falls in one category, so chance agreement is 1 and "
                         "kappa is undefined.")
    return float((agreement - chance) / (1.0 - chance))


def pairwise_cohen_kappa(labels: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Cohen's kappa of every pair of annotators, on the items both labelled.

    Uses scikit-learn's :func:`~sklearn.metrics.cohen_kappa_score`.

    Parameters
    ----------
    labels : array-like of int, shape (n_items, n_annotators)
        Labels, -1 where missing.
    names : sequence of str, optional
        One name per annotator (default ``"A0"``, ``"A1"``, ...).

    Returns
    -------
    pandas.DataFrame of shape (n_annotators, n_annotators)
        Symmetric, 1 on the diagonal; NaN for a pair with fewer than two shared items
        or for which kappa is undefined (both always wrote one same label).

    Examples
    --------
    >>> pairwise_cohen_kappa([[0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 1, 0]]).round(2)
         A0   A1   A2
    A0  1.0  0.5  0.0
    A1  0.5  1.0 -0.5
    A2  0.0 -0.5  1.0
    """
    import warnings

    from sklearn.metrics import cohen_kappa_score

    arr = _check_label_matrix(labels)
    n_annotators = arr.shape[1]
    if names is None:
        names = [f"A{a}" for a in range(n_annotators)]
    elif isinstance(names, str) or len(names) != n_annotators:
        raise ValueError(f"names must give one name per annotator ({n_annotators}).")
    table = np.eye(n_annotators)
    for a in range(n_annotators):
        for b in range(a + 1, n_annotators):
            both = (arr[:, a] != MISSING) & (arr[:, b] != MISSING)
            value = np.nan
            if both.sum() >= 2:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    value = float(cohen_kappa_score(arr[both, a], arr[both, b]))
            table[a, b] = table[b, a] = value
    return pd.DataFrame(table, index=list(names), columns=list(names))


# ---------------------------------------------------------------- Dawid-Skene


def _vote_shares(arr: np.ndarray, n_classes: int) -> np.ndarray:
    counts = label_counts(arr, n_classes).astype(float)
    totals = counts.sum(axis=1, keepdims=True)
    if np.any(totals == 0):
        empty = np.flatnonzero(totals[:, 0] == 0)
        raise ValueError(f"{len(empty)} item(s) have no label at all (first: row "
                         f"{int(empty[0])}); drop them before aggregating.")
    return counts / totals


def estimate_confusions(labels: Any, posteriors: Any, *,
                        smoothing: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """The M-step of Dawid-Skene: class priors and each annotator's confusion matrix.

    Given the current probabilities ``T[i, k]`` that item ``i`` is of class ``k``, the
    prior of class ``k`` is the mean of ``T[:, k]`` and annotator ``a``'s confusion
    matrix is ``pi[a, k, l] = (sum of T[i, k] over items a labelled l + smoothing)``,
    normalised so that each row ``k`` sums to 1. The smoothing keeps every
    probability positive, so that its logarithm is finite.

    Parameters
    ----------
    labels : array-like of int, shape (n_items, n_annotators)
        Labels, -1 where missing.
    posteriors : array-like of float, shape (n_items, n_classes)
        Rows sum to 1.
    smoothing : float
        Pseudo-count added to every cell of every confusion matrix, at least 0.

    Returns
    -------
    priors : numpy.ndarray of shape (n_classes,)
    confusions : numpy.ndarray of shape (n_annotators, n_classes, n_classes)

    Examples
    --------
    >>> priors, conf = estimate_confusions([[0, 1], [1, 1]], [[1.0, 0.0], [0.0, 1.0]],
    ...                                    smoothing=0.0)
    >>> priors.tolist(), conf[0].tolist()
    ([0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]])
    """
    post = np.asarray(posteriors, dtype=float) if _is_numeric(posteriors) else None
    if post is None or post.ndim != 2 or post.shape[1] < 2:
        raise ValueError("posteriors must be a 2-d array of probabilities, one row per item "
                         "and one column per class.")
    if not np.all(np.isfinite(post)) or np.any(post < 0) or \
            not np.allclose(post.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("every row of posteriors must hold probabilities summing to 1.")
    n_classes = post.shape[1]
    arr = _check_label_matrix(labels, n_classes)
    if len(arr) != len(post):
        raise ValueError(f"labels has {len(arr)} items but posteriors has {len(post)} rows.")
    alpha = check_float("smoothing", smoothing, low=0)
    return _m_step(_one_hot(arr, n_classes), post, alpha)


def _one_hot(arr: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_items, n_annotators, n_classes) indicators of each label; all zero where missing."""
    onehot = np.zeros((*arr.shape, n_classes))
    items, annotators = np.nonzero(arr != MISSING)
    onehot[items, annotators, arr[items, annotators]] = 1.0
    return onehot


def _m_step(onehot: np.ndarray, post: np.ndarray,
            alpha: float) -> tuple[np.ndarray, np.ndarray]:
    # counts[a, k, l] = sum over items i of post[i, k] * onehot[i, a, l]
    counts = np.matmul(post.T, onehot.transpose(1, 0, 2)) + alpha
    totals = counts.sum(axis=2, keepdims=True)
    n_classes = post.shape[1]
    confusions = np.divide(counts, totals, out=np.full_like(counts, 1.0 / n_classes),
                           where=totals > 0)
    return post.mean(axis=0), confusions


def dawid_skene(labels: Any, n_classes: int, *, n_iter: int = 50,
                smoothing: float = 0.01) -> np.ndarray:
    """Dawid-Skene EM: each item's class probabilities, learning each annotator's skill.

    Reference implementation used by the lab's checks (the tests compare it with
    ``crowdkit.aggregation.DawidSkene``). It starts from the vote shares and repeats
    ``n_iter`` times: the M-step (:func:`estimate_confusions`), then the E-step, where
    ``log T[i, k] = log prior[k] + sum over a of log pi[a, k, label of i by a]`` (missing
    labels skipped), normalised over ``k``.

    Parameters
    ----------
    labels : array-like of int, shape (n_items, n_annotators)
        Labels, -1 where missing; every item needs at least one label.
    n_classes : int
    n_iter : int
        Number of EM iterations; 0 returns the vote shares.
    smoothing : float
        Pseudo-count of the M-step.

    Returns
    -------
    numpy.ndarray of shape (n_items, n_classes)
        Each row: the probabilities of each class for that item.

    Examples
    --------
    Two careful annotators and one who always writes the opposite class: after EM,
    the third annotator's label counts as evidence *for* the other class.

    >>> labels = [[0, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]]
    >>> dawid_skene(labels, 2)[4:].round(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    k = _check_n_classes(n_classes)
    arr = _check_label_matrix(labels, k)
    steps = check_int("n_iter", n_iter, minimum=0)
    alpha = check_float("smoothing", smoothing, low=0)
    posteriors = _vote_shares(arr, k)
    onehot = _one_hot(arr, k)
    flat = onehot.reshape(len(arr), -1)            # (items, annotators * labels)
    for _ in range(steps):
        priors, confusions = _m_step(onehot, posteriors, alpha)
        # A probability of exactly 0 (possible without smoothing) becomes the smallest
        # positive float, so that a missing label (a 0 in onehot) times its log stays 0.
        log_pi = np.log(np.maximum(confusions, np.finfo(float).tiny))
        with np.errstate(divide="ignore"):
            log_t = np.log(priors) + flat @ log_pi.transpose(0, 2, 1).reshape(-1, k)
        log_t -= log_t.max(axis=1, keepdims=True)
        posteriors = np.exp(log_t)
        posteriors /= posteriors.sum(axis=1, keepdims=True)
    return posteriors


# ---------------------------------------------------------------- labeling functions


def apply_labeling_functions(lfs: Mapping[str, Callable[[Any], Any]],
                             X: pd.DataFrame) -> pd.DataFrame:
    """Run labeling functions over a table: one column of votes per function.

    A labeling function takes the whole table and returns one vote per row: a class
    (0, 1, ...) or -1 to abstain.

    Parameters
    ----------
    lfs : mapping of str to callable
        Name -> labeling function.
    X : pandas.DataFrame
        The rows to label.

    Returns
    -------
    pandas.DataFrame of int, shape (len(X), len(lfs))
        The votes, indexed like ``X``, one column per function.

    Examples
    --------
    >>> X = pd.DataFrame({"size": [1.0, 5.0, 9.0]})
    >>> apply_labeling_functions({"big": lambda X: np.where(X["size"] > 4, 1, -1)}, X)
       big
    0   -1
    1    1
    2    1
    """
    if not isinstance(lfs, Mapping) or not lfs:
        raise TypeError("lfs must be a non-empty dict mapping each labeling function's name "
                        "to the function.")
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}.")
    votes = {}
    for name, lf in lfs.items():
        if not callable(lf):
            raise TypeError(f"labeling function {name!r} is not callable.")
        out = np.asarray(lf(X))
        if out.shape != (len(X),):
            raise ValueError(f"labeling function {name!r} returned shape {out.shape}; it must "
                             f"return one vote per row ({len(X)}).")
        if not _is_numeric(out) or np.any(out != np.round(out)) or np.any(out < MISSING):
            raise ValueError(f"labeling function {name!r} must vote with class numbers "
                             "0, 1, ... or -1 to abstain.")
        votes[str(name)] = out.astype(np.int64)
    return pd.DataFrame(votes, index=X.index)


def labeling_function_summary(votes: pd.DataFrame, y: Any = None) -> pd.DataFrame:
    """Coverage, overlaps, conflicts and (given labels) accuracy of labeling functions.

    Parameters
    ----------
    votes : pandas.DataFrame of int
        One column per labeling function, -1 where it abstains (see
        :func:`apply_labeling_functions`).
    y : array-like of int, optional
        True labels of the rows, to measure each function's accuracy where it votes.

    Returns
    -------
    pandas.DataFrame
        One row per function: ``coverage`` (share of rows it votes on), ``overlap``
        (share of rows it votes on along with another function), ``conflict`` (share
        of rows where another function votes differently), and with ``y``, ``votes``
        (how many rows it votes on) and ``accuracy`` (share of those it gets right,
        NaN when it never votes).

    Examples
    --------
    >>> votes = pd.DataFrame({"a": [1, 1, -1, 0], "b": [1, 0, -1, -1]})
    >>> labeling_function_summary(votes, y=[1, 1, 0, 0])
       coverage  overlap  conflict  votes  accuracy
    a      0.75      0.5      0.25      3       1.0
    b      0.50      0.5      0.25      2       0.5
    """
    if not isinstance(votes, pd.DataFrame):
        raise TypeError("votes must be a DataFrame with one column per labeling function "
                        "(see apply_labeling_functions).")
    arr = _check_label_matrix(votes.to_numpy(), name="votes")
    voted = arr != MISSING
    rows = []
    for j in range(arr.shape[1]):
        others = np.delete(arr, j, axis=1)
        other_votes = others != MISSING
        overlap = voted[:, j] & other_votes.any(axis=1)
        conflict = voted[:, j] & (other_votes & (others != arr[:, [j]])).any(axis=1)
        rows.append({"coverage": voted[:, j].mean(), "overlap": overlap.mean(),
                     "conflict": conflict.mean()})
    table = pd.DataFrame(rows, index=votes.columns)
    if y is not None:
        truth = check_1d("y", y)
        if len(truth) != len(arr):
            raise ValueError(f"y has {len(truth)} labels but votes has {len(arr)} rows.")
        table["votes"] = voted.sum(axis=0)
        hits = (arr == truth[:, None]) & voted
        with np.errstate(invalid="ignore", divide="ignore"):
            table["accuracy"] = np.where(voted.sum(axis=0) > 0,
                                         hits.sum(axis=0) / voted.sum(axis=0), np.nan)
    return table


# ---------------------------------------------------------------- learning curves


def learning_curves(models: Mapping[str, Any], X: Any, y: Any, sizes: Sequence[int], *,
                    n_repeats: int = 5, val_size: int | float = 0.2,
                    random_state: int | None = None) -> pd.DataFrame:
    """Validation accuracy of each model against the number of training examples.

    A thin wrapper of scikit-learn's :func:`~sklearn.model_selection.learning_curve`:
    ``n_repeats`` random splits (:class:`~sklearn.model_selection.ShuffleSplit`) into
    a validation set of ``val_size`` and a training pool; for each size ``n`` every
    model is trained on the first ``n`` examples of the shuffled pool and scored on
    the validation set. Every model sees the same splits.

    Parameters
    ----------
    models : mapping of str to estimator
        Name -> scikit-learn classifier (cloned for each fit).
    X, y : array-like
        Features and labels.
    sizes : sequence of int
        Increasing training sizes.
    n_repeats : int
        Number of random splits averaged.
    val_size : int or float
        Size of the validation set (a count, or a share of the rows).
    random_state : int or None
        Seed of the splits.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``size``, with a column per model: the mean validation accuracy
        over the repeats; the standard deviation is in ``table.attrs["std"]`` (a
        DataFrame of the same shape).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> curves = learning_curves({"dummy": DummyClassifier(), "logistic":
    ...     LogisticRegression(max_iter=500)}, X, y, [30, 90], val_size=30, random_state=0)
    >>> bool((curves.loc[90, "logistic"] > curves.loc[90, "dummy"]))
    True
    """
    from sklearn.model_selection import ShuffleSplit, learning_curve

    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict mapping names to estimators.")
    repeats = check_int("n_repeats", n_repeats, minimum=1)
    if isinstance(sizes, (str, bytes)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes):
        raise TypeError("sizes must be a sequence of whole numbers of training examples.")
    grid = [int(s) for s in sizes]
    if not grid or grid[0] < 2 or any(b <= a for a, b in zip(grid, grid[1:], strict=False)):
        raise ValueError("sizes must be increasing whole numbers, the smallest at least 2.")
    X_arr, y_arr = np.asarray(X), np.asarray(y)
    if len(X_arr) != len(y_arr):
        raise ValueError(f"X has {len(X_arr)} rows but y has {len(y_arr)} labels.")
    n_val = val_size if isinstance(val_size, numbers.Integral) else \
        int(np.ceil(check_float("val_size", val_size, low=0, high=1, low_inclusive=False,
                                high_inclusive=False) * len(y_arr)))
    if grid[-1] > len(y_arr) - n_val:
        raise ValueError(f"the largest size ({grid[-1]}) is more than the rows left after "
                         f"the validation set ({len(y_arr) - n_val}).")
    means, stds = {}, {}
    for name, model in models.items():
        cv = ShuffleSplit(n_splits=repeats, test_size=val_size, random_state=random_state)
        _, _, scores = learning_curve(model, X_arr, y_arr, train_sizes=grid, cv=cv,
                                      shuffle=True, random_state=random_state)
        means[str(name)], stds[str(name)] = scores.mean(axis=1), scores.std(axis=1)
    index = pd.Index(grid, name="size")
    table = pd.DataFrame(means, index=index)
    table.attrs["std"] = pd.DataFrame(stds, index=index)
    return table


# ---------------------------------------------------------------- clicks


def plackett_luce_rankings(scores: Any, n_sessions: int, n_slots: int, *,
                           random_state: int | np.random.Generator | None = None
                           ) -> np.ndarray:
    """A logging policy that shows items in varied orders: Plackett-Luce sampling.

    Each session ranks the items by ``scores`` plus independent Gumbel noise (the
    Gumbel-top-k trick), which draws the row from the Plackett-Luce model with
    weights ``exp(scores)``: high-scoring items usually lead, and every item sometimes
    appears in every slot, so its clicks can be reweighted by where it was shown.

    Parameters
    ----------
    scores : array-like of float, shape (n_items,)
        The production ranker's log-weights; higher means shown earlier.
    n_sessions : int
    n_slots : int
        Length of the row shown, at most the number of items.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    numpy.ndarray of int, shape (n_sessions, n_slots)
        Item ids per session, best slot first.

    Examples
    --------
    >>> rows = plackett_luce_rankings([5.0, 0.0, -5.0], 1000, 2, random_state=0)
    >>> float((rows[:, 0] == 0).mean()) > 0.95
    True
    """
    s = check_1d("scores", scores).astype(float)
    sessions = check_int("n_sessions", n_sessions, minimum=1)
    slots = check_int("n_slots", n_slots, minimum=1, maximum=len(s))
    rng = check_rng(random_state)
    noisy = s[None, :] + rng.gumbel(size=(sessions, len(s)))
    return np.argsort(-noisy, axis=1, kind="stable")[:, :slots].astype(np.int64)


def simulate_clicks(preference: Any, rankings: Any, examine_prob: Any, *,
                    accept_prob: float = 0.9, misclick_prob: float = 0.01,
                    random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Users who each want one item, see a ranked row and click one item or none.

    Each session's wanted item is drawn from ``preference``; the reaction to the row
    follows the position-based click model of :func:`labkit.feedback.simulate_feedback`
    (Lab 02): slot ``i`` is examined with probability ``examine_prob[i]``, an examined
    wanted item is clicked with probability ``accept_prob``, an examined other item
    with probability ``misclick_prob``.

    Parameters
    ----------
    preference : array-like of float, shape (n_items,)
        The simulator's truth: the probability that a user wants each item.
    rankings : array-like of int, shape (n_sessions, n_slots)
        The row shown in each session, best first.
    examine_prob : array-like of float, shape (n_slots,)
        E.g. :func:`labkit.feedback.position_bias`.
    accept_prob, misclick_prob : float
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    pandas.DataFrame
        One row per session: ``wanted`` (the item the user wanted), ``slot`` (the
        clicked slot, -1 for none), ``item`` (the clicked item, -1 for none) and
        ``correct`` (the click was on the wanted item).

    Examples
    --------
    >>> log = simulate_clicks([0.0, 1.0], [[0, 1], [1, 0]], [1.0, 1.0], accept_prob=1.0,
    ...                       misclick_prob=0.0, random_state=0)
    >>> log["item"].tolist(), log["slot"].tolist()
    ([1, 1], [1, 0])
    """
    from .feedback import simulate_feedback

    pref = check_1d("preference", preference).astype(float)
    if np.any(pref < 0) or not np.isclose(pref.sum(), 1.0, atol=1e-8):
        raise ValueError("preference must hold probabilities (non-negative, summing to 1), "
                         "one per item.")
    ranks = np.asarray(rankings)
    if ranks.ndim != 2 or not np.issubdtype(ranks.dtype, np.integer) or \
            np.any((ranks < 0) | (ranks >= len(pref))):
        raise ValueError(f"rankings must be a 2-d array of item ids 0..{len(pref) - 1}, one "
                         "row per session.")
    rng = check_rng(random_state)
    wanted = rng.choice(len(pref), size=len(ranks), p=pref)
    log = simulate_feedback(ranks, wanted, examine_prob, accept_prob=accept_prob,
                            misclick_prob=misclick_prob, random_state=rng)
    slot = log["slot"].to_numpy()
    item = np.where(slot >= 0, ranks[np.arange(len(ranks)), np.maximum(slot, 0)], MISSING)
    return pd.DataFrame({"wanted": wanted, "slot": slot, "item": item,
                         "correct": log["correct"].to_numpy()})


def _check_click_log(rankings: Any, clicked_slot: Any, n_items: int
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    items = check_int("n_items", n_items, minimum=1)
    ranks = np.asarray(rankings)
    if ranks.ndim != 2 or ranks.shape[1] == 0 or not np.issubdtype(ranks.dtype, np.integer):
        raise ValueError("rankings must be a 2-d array of integer item ids, one row per "
                         f"session; got shape {ranks.shape} and dtype {ranks.dtype}.")
    if np.any((ranks < 0) | (ranks >= items)):
        raise ValueError(f"rankings must hold item ids 0..{items - 1}.")
    slot = check_1d("clicked_slot", clicked_slot)
    if len(slot) != len(ranks) or not np.issubdtype(slot.dtype, np.integer):
        raise ValueError("clicked_slot must hold one integer slot per session (-1: no "
                         "click).")
    if np.any((slot < MISSING) | (slot >= ranks.shape[1])):
        raise ValueError(f"clicked_slot must be -1 or a slot 0..{ranks.shape[1] - 1}.")
    return ranks, slot, items


def click_through_rate(rankings: Any, clicked_slot: Any, n_items: int) -> np.ndarray:
    """The naive click label: clicks on each item per time it was shown.

    Parameters
    ----------
    rankings : array-like of int, shape (n_sessions, n_slots)
    clicked_slot : array-like of int, shape (n_sessions,)
        The clicked slot of each session, -1 for none.
    n_items : int

    Returns
    -------
    numpy.ndarray of shape (n_items,)
        NaN for an item never shown.

    Examples
    --------
    >>> click_through_rate([[0, 1], [1, 2], [0, 2]], [0, 1, -1], 3).round(2).tolist()
    [0.5, 0.0, 0.5]
    """
    ranks, slot, items = _check_click_log(rankings, clicked_slot, n_items)
    shown = np.bincount(ranks.ravel(), minlength=items).astype(float)
    hit = slot >= 0
    clicks = np.bincount(ranks[np.flatnonzero(hit), slot[hit]], minlength=items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shown > 0, clicks / shown, np.nan)


def inverse_propensity_rate(rankings: Any, clicked_slot: Any, examine_prob: Any,
                            n_items: int) -> np.ndarray:
    """Clicks weighted by one over the examination probability of their slot, per showing.

    Reference of the lab's inverse-propensity-weighted (IPW) estimate: a click in a
    slot examined with probability ``e`` counts ``1 / e`` clicks, which undoes the
    position bias on average; the sum is divided by the number of times the item was
    shown. Under the position-based click model it estimates
    ``accept_prob * preference + misclick_prob``, whatever slots the item was shown in.

    Parameters
    ----------
    rankings : array-like of int, shape (n_sessions, n_slots)
    clicked_slot : array-like of int, shape (n_sessions,)
        The clicked slot of each session, -1 for none.
    examine_prob : array-like of float, shape (n_slots,)
        Examination probability of each slot (the propensity), all positive.
    n_items : int

    Returns
    -------
    numpy.ndarray of shape (n_items,)
        NaN for an item never shown.

    Examples
    --------
    >>> inverse_propensity_rate([[0, 1], [1, 2], [0, 2]], [0, 1, -1], [1.0, 0.5],
    ...                         3).round(2).tolist()
    [0.5, 0.0, 1.0]
    """
    ranks, slot, items = _check_click_log(rankings, clicked_slot, n_items)
    exam = check_1d("examine_prob", examine_prob).astype(float)
    if len(exam) != ranks.shape[1] or np.any(exam <= 0) or np.any(exam > 1):
        raise ValueError("examine_prob must give one probability in (0, 1] per slot.")
    shown = np.bincount(ranks.ravel(), minlength=items).astype(float)
    hit = slot >= 0
    clicked = ranks[np.flatnonzero(hit), slot[hit]]
    weighted = np.bincount(clicked, weights=1.0 / exam[slot[hit]], minlength=items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shown > 0, weighted / shown, np.nan)
