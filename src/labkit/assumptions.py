"""The assumptions models make: data that keep or break each one, and detectors.

Lab 13 uses these around the code the learner writes. Every model rests on assumptions
about its data; the functions here generate small data sets where one assumption holds
or fails, and measure what a practitioner would measure to find out which.

Data
    :func:`make_classification_data` draws a labelled, time-ordered table (two classes,
    four features) where every assumption of :data:`DETECTABLE` holds, or where exactly
    one of them is broken; :func:`make_mystery` breaks one chosen at random.
    :func:`make_smooth_data` draws a regression whose output varies slowly, or wildly,
    with its input; :func:`make_regression_data` a linear regression with normal, heavy-
    tailed or skewed noise.

Detectors
    :func:`prediction_gain` (does any model beat the majority class?),
    :func:`time_halves_auc` (can a classifier tell the early rows from the late ones?),
    :func:`boundary_gap` (does a flexible model beat the linear one?),
    :func:`naive_bayes_overconfidence` (is naive Bayes surer than it is right?) and
    :func:`normality_p_value` (a D'Agostino-Pearson test per class and feature), all in
    one table by :func:`assumption_report`.

Tractability
    A noisy-OR network (:class:`NoisyOr`, :func:`make_noisy_or`): ``k`` hidden binary
    causes and ``d`` observed binary findings, the structure of medical diagnosis
    networks such as QMR-DT. :func:`exact_posterior` sums over all ``2**k`` states of the
    causes; :func:`sampled_posterior` averages over samples from the prior (likelihood
    weighting). Both count the factors they multiply, so the cost is a number that does
    not depend on the machine; :func:`exact_inference_cost` gives it without running.

Nothing here is random unless a ``random_state`` is given; scikit-learn and scipy are
imported inside the functions that use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_float, check_int, check_rng

__all__ = [
    "ASSUMPTIONS",
    "DETECTABLE",
    "AssumptionData",
    "InferenceResult",
    "NoisyOr",
    "assumption_report",
    "boundary_gap",
    "exact_inference_cost",
    "exact_posterior",
    "make_classification_data",
    "make_mystery",
    "make_noisy_or",
    "make_regression_data",
    "make_smooth_data",
    "naive_bayes_overconfidence",
    "normality_p_value",
    "prediction_gain",
    "sampled_posterior",
    "time_halves_auc",
]

#: The common assumptions, in the order the course discusses them.
ASSUMPTIONS = ("prediction", "iid", "smoothness", "tractability", "boundaries",
               "conditional independence", "normality")

#: The assumptions :func:`assumption_report` checks on a labelled, time-ordered table.
DETECTABLE = ("prediction", "iid", "boundaries", "conditional independence", "normality")

#: Alarm levels of the report's detectors: (statistic, alarm, "above" or "below").
ALARMS = {
    "prediction": ("accuracy gain over the majority class", 0.06, "below"),
    "iid": ("AUC telling early rows from late ones", 0.6, "above"),
    "boundaries": ("flexible minus linear accuracy", 0.08, "above"),
    "conditional independence": ("naive Bayes confidence minus accuracy", 0.1, "above"),
    "normality": ("smallest normality-test p-value", 1e-4, "below"),
}

_N_FEATURES = 4


@dataclass(frozen=True)
class AssumptionData:
    """A generated, labelled table in time order, and which assumption it breaks.

    Attributes
    ----------
    X : numpy.ndarray of shape (n_samples, 4)
        Features.
    y : numpy.ndarray of int
        Class labels, 0 or 1.
    time : numpy.ndarray of float
        When each row was recorded, in [0, 1), increasing.
    broken : str or None
        The assumption the generator broke (one of :data:`DETECTABLE`), or ``None``.
    """

    X: np.ndarray
    y: np.ndarray
    time: np.ndarray
    broken: str | None


def _check_broken(broken: Any) -> str | None:
    if broken is None:
        return None
    if not isinstance(broken, str) or broken not in DETECTABLE:
        raise ValueError(f"broken must be None or one of {list(DETECTABLE)}, got {broken!r}.")
    return broken


def make_classification_data(broken: str | None = None, *, n_samples: int = 2000,
                             random_state: int | np.random.Generator | None = None
                             ) -> AssumptionData:
    """Draw a two-class table where every assumption holds, or exactly one is broken.

    The intact table: rows recorded one after another (``time`` increasing), a label
    that is 0 or 1 with equal chance, and four features that, given the label, are
    independent and normal with unit variance and a mean that moves with the label.
    The classes are then separated by a plane, naive Bayes is the right model, and the
    label can be predicted from the features. ``broken`` changes one thing:

    ``"prediction"``
        the labels are shuffled: the features say nothing about them;
    ``"iid"``
        the features drift over time (by two standard deviations from the first row to
        the last, along the diagonal), so early and late rows differ and so does the
        rule that links features to labels;
    ``"boundaries"``
        the two classes share one centre and differ in spread (standard deviation 0.5
        against 1.5): the boundary between them is a sphere, not a plane;
    ``"conditional independence"``
        the four features are near-copies of one (a shared value plus a little noise):
        given the label they are strongly correlated;
    ``"normality"``
        each feature is exponential (skewed, with a long right tail), with a scale that
        doubles for class 1; the classes are still separated by a plane.

    Parameters
    ----------
    broken : str or None
        One of :data:`DETECTABLE`, or ``None`` (default) for the intact table.
    n_samples : int
        Rows (at least 100).
    random_state : int, numpy.random.Generator or None
        Seed.

    Returns
    -------
    AssumptionData

    Examples
    --------
    >>> data = make_classification_data("boundaries", n_samples=400, random_state=0)
    >>> data.X.shape, data.broken
    ((400, 4), 'boundaries')
    >>> bool(np.all(np.diff(data.time) >= 0))
    True
    """
    broken = _check_broken(broken)
    n = check_int("n_samples", n_samples, minimum=100)
    rng = check_rng(random_state)
    time = np.sort(rng.random(n))
    y = (rng.random(n) < 0.5).astype(int)
    sign = (2 * y - 1)[:, None]
    noise = rng.standard_normal((n, _N_FEATURES))
    means = 0.5 * np.array([1.2, 1.0, 0.8, 0.6])
    if broken == "boundaries":
        X = noise * np.where(y == 1, 1.5, 0.5)[:, None]
    elif broken == "conditional independence":
        shared = 0.6 * sign + rng.standard_normal((n, 1))
        X = shared + 0.15 * noise
    elif broken == "normality":
        scale = np.where(y == 1, 2.0, 1.0)[:, None]
        X = scale * rng.exponential(1.0, (n, _N_FEATURES)) - 1.5
    else:
        X = sign * means + noise
    if broken == "iid":
        X = X + 2.0 * time[:, None] * np.full(_N_FEATURES, 0.5)
    if broken == "prediction":
        y = rng.permutation(y)
    return AssumptionData(X=X, y=y, time=time, broken=broken)


def make_mystery(*, n_samples: int = 2000,
                 random_state: int | np.random.Generator | None = None) -> AssumptionData:
    """A table from :func:`make_classification_data` with one assumption broken at random.

    Which one (of :data:`DETECTABLE`) is drawn from ``random_state``, so each seed
    gives its own mystery; the answer is in the result's ``broken``.

    Examples
    --------
    >>> make_mystery(n_samples=200, random_state=3).broken in DETECTABLE
    True
    """
    rng = check_rng(random_state)
    broken = DETECTABLE[int(rng.integers(len(DETECTABLE)))]
    return make_classification_data(broken, n_samples=n_samples, random_state=rng)


def make_smooth_data(smooth: bool = True, *, n_samples: int = 400, frequency: float = 997.0,
                     noise: float = 0.1,
                     random_state: int | np.random.Generator | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A one-feature regression whose output is a smooth or a rough function of the input.

    ``x`` is uniform on [0, 1). Smooth: ``y = sin(2 pi x)``; rough:
    ``y = sin(2 pi frequency x)``, a wave far too fast for ``n_samples`` points to follow
    (neighbouring inputs land on unrelated phases). Both add normal noise of standard
    deviation ``noise``. The rough output is still a deterministic function of ``x``:
    the feature ``frequency * x mod 1`` makes it smooth again.

    Returns
    -------
    X : numpy.ndarray of shape (n_samples, 1)
    y : numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> X, y = make_smooth_data(False, n_samples=50, random_state=0)
    >>> X.shape, y.shape
    ((50, 1), (50,))
    """
    if not isinstance(smooth, (bool, np.bool_)):
        raise TypeError(f"smooth must be True or False, got {type(smooth).__name__}.")
    n = check_int("n_samples", n_samples, minimum=2)
    frequency = check_float("frequency", frequency, low=0, low_inclusive=False)
    noise = check_float("noise", noise, low=0)
    rng = check_rng(random_state)
    x = rng.random(n)
    wave = np.sin(2 * np.pi * (x if smooth else frequency * x))
    return x[:, None], wave + noise * rng.standard_normal(n)


_NOISES = ("normal", "heavy-tailed", "skewed")


def make_regression_data(noise: str = "normal", *, n_samples: int = 500,
                         random_state: int | np.random.Generator | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """A straight line plus noise: ``y = 1 + 0.5 x + e`` with ``x`` uniform on [0, 10).

    ``noise`` sets the law of ``e``: ``"normal"`` (standard normal), ``"heavy-tailed"``
    (normal, but one draw in ten has a standard deviation of 5: rare, large errors)
    or ``"skewed"`` (exponential minus its mean of 1: a long right tail). The line is the
    right model in every case; only the normality of the errors changes.

    Returns
    -------
    X : numpy.ndarray of shape (n_samples, 1)
    y : numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> X, y = make_regression_data("skewed", n_samples=20, random_state=0)
    >>> X.shape
    (20, 1)
    """
    if noise not in _NOISES:
        raise ValueError(f"noise must be one of {list(_NOISES)}, got {noise!r}.")
    n = check_int("n_samples", n_samples, minimum=2)
    rng = check_rng(random_state)
    x = 10 * rng.random(n)
    if noise == "normal":
        e = rng.standard_normal(n)
    elif noise == "heavy-tailed":
        e = rng.standard_normal(n) * np.where(rng.random(n) < 0.1, 5.0, 1.0)
    else:
        e = rng.exponential(1.0, n) - 1.0
    return x[:, None], 1 + 0.5 * x + e


# ---------------------------------------------------------------- detectors


def _features_and_labels(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be a 2-d array (rows, features), got shape {X.shape}.")
    if X.dtype.kind not in "biuf" or not np.all(np.isfinite(X)):
        raise ValueError("X must hold finite numbers (impute or drop missing values first).")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be 1-d with one label per row of X ({len(X)}), got shape "
                         f"{y.shape}.")
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise ValueError("y has a single class; the detectors need at least two.")
    if counts.min() < 10:
        raise ValueError("every class needs at least 10 rows for the detectors' "
                         f"cross-validation; the smallest has {counts.min()}.")
    return X.astype(float), y


def _folds(n_splits: int, random_state: Any):
    from sklearn.model_selection import StratifiedKFold

    n_splits = check_int("n_splits", n_splits, minimum=2)
    if random_state is not None:
        random_state = check_int("random_state", random_state, minimum=0)
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)


def _linear_model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression())


def _flexible_model():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=25))


def _cv_accuracy(model: Any, X: np.ndarray, y: np.ndarray, folds: Any) -> float:
    from sklearn.model_selection import cross_val_predict

    return float(np.mean(cross_val_predict(model, X, y, cv=folds) == y))


def prediction_gain(X: Any, y: Any, *, n_splits: int = 5, random_state: int | None = 0
                    ) -> float:
    """How much better than always answering the majority class the best of two models does.

    The models are a logistic regression and a 25-nearest-neighbour classifier (both on
    standardised features), scored by cross-validated accuracy. A gain near zero means
    neither finds anything in the features that predicts the label: the *prediction
    assumption* (the output can be predicted from the input) fails, at least for these
    features and models.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels.
    n_splits : int
        Folds of the stratified cross-validation.
    random_state : int or None
        Seed of the fold assignment.

    Returns
    -------
    float
        Best cross-validated accuracy minus the majority class's share.

    Examples
    --------
    >>> data = make_classification_data(n_samples=400, random_state=0)
    >>> prediction_gain(data.X, data.y) > 0.2
    True
    >>> noise = make_classification_data("prediction", n_samples=400, random_state=0)
    >>> prediction_gain(noise.X, noise.y) < 0.06
    True
    """
    X, y = _features_and_labels(X, y)
    folds = _folds(n_splits, random_state)
    best = max(_cv_accuracy(_linear_model(), X, y, folds),
               _cv_accuracy(_flexible_model(), X, y, folds))
    majority = np.unique(y, return_counts=True)[1].max() / len(y)
    return float(best - majority)


def boundary_gap(X: Any, y: Any, *, n_splits: int = 5, random_state: int | None = 0) -> float:
    """Cross-validated accuracy of a flexible model minus that of a linear one.

    The linear model is a logistic regression, the flexible one a 25-nearest-neighbour
    classifier (both on standardised features). When the classes are separated by a
    plane, the linear model is as good or better (it has less to estimate); a clearly
    positive gap says the boundary is curved, which a linear classifier cannot follow.

    Examples
    --------
    >>> flat = make_classification_data(n_samples=400, random_state=0)
    >>> round_ = make_classification_data("boundaries", n_samples=400, random_state=0)
    >>> boundary_gap(flat.X, flat.y) < 0.08 < boundary_gap(round_.X, round_.y)
    True
    """
    X, y = _features_and_labels(X, y)
    folds = _folds(n_splits, random_state)
    return float(_cv_accuracy(_flexible_model(), X, y, folds)
                 - _cv_accuracy(_linear_model(), X, y, folds))


def naive_bayes_overconfidence(X: Any, y: Any, *, n_bins: int = 5, n_splits: int = 5,
                               random_state: int | None = 0) -> float:
    """How much naive Bayes's mean confidence exceeds its accuracy, out of sample.

    Each feature is cut into ``n_bins`` bins of equal count and a categorical naive
    Bayes is fitted on the bins (so no normality is assumed), scored by cross-validated
    predictions. Naive Bayes multiplies the evidence of each feature as if the features
    were independent given the class; when they are not (copies, near-copies), the same
    evidence is counted several times and the probabilities become too extreme: the mean
    confidence (probability of the predicted class) climbs above the accuracy.

    Returns
    -------
    float
        Mean confidence minus accuracy; near 0 for a calibrated model, positive when it
        is overconfident.

    Examples
    --------
    >>> fine = make_classification_data(n_samples=1000, random_state=0)
    >>> copies = make_classification_data("conditional independence", n_samples=1000,
    ...                                   random_state=0)
    >>> naive_bayes_overconfidence(fine.X, fine.y) < 0.05
    True
    >>> naive_bayes_overconfidence(copies.X, copies.y) > 0.05
    True
    """
    from sklearn.model_selection import cross_val_predict
    from sklearn.naive_bayes import CategoricalNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer

    X, y = _features_and_labels(X, y)
    n_bins = check_int("n_bins", n_bins, minimum=2)
    folds = _folds(n_splits, random_state)
    options = {"n_bins": n_bins, "encode": "ordinal", "strategy": "quantile"}
    if "quantile_method" in KBinsDiscretizer().get_params():   # scikit-learn >= 1.7
        options["quantile_method"] = "averaged_inverted_cdf"
    model = make_pipeline(KBinsDiscretizer(**options), CategoricalNB(min_categories=n_bins))
    proba = cross_val_predict(model, X, y, cv=folds, method="predict_proba")
    classes = np.unique(y)
    predicted = classes[np.argmax(proba, axis=1)]
    return float(np.mean(proba.max(axis=1)) - np.mean(predicted == y))


def normality_p_value(X: Any, y: Any = None) -> float:
    """The smallest p-value of D'Agostino and Pearson's normality test over the columns.

    With ``y``, each column is tested within each class (models such as Gaussian naive
    Bayes or linear discriminant analysis assume normal features *given the class*);
    without, each column as a whole (for residuals, pass them as one column). A tiny
    value says at least one column is far from normal: skewed or heavy-tailed. The test
    (:func:`scipy.stats.normaltest`) combines skewness and kurtosis and needs at least 20
    values per group.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> normality_p_value(rng.normal(size=(300, 2))) > 1e-4
    True
    >>> normality_p_value(rng.exponential(size=(300, 1))) < 1e-4
    True
    """
    from scipy.stats import normaltest

    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if y is None:
        if X.ndim != 2 or X.dtype.kind not in "biuf" or not np.all(np.isfinite(X)):
            raise ValueError("X must be a 1-d or 2-d array of finite numbers.")
        groups = [X.astype(float)]
    else:
        X, y = _features_and_labels(X, y)
        groups = [X[y == label] for label in np.unique(y)]
    if min(len(g) for g in groups) < 20:
        raise ValueError("the normality test needs at least 20 values per column (and class).")
    return float(min(normaltest(g, axis=0).pvalue.min() for g in groups))


def time_halves_auc(X: Any, y: Any, time: Any, *, n_splits: int = 5,
                    random_state: int | None = 0) -> float:
    """Adversarial validation between the early and the late half of a time-ordered table.

    The rows are cut at the median ``time``; a logistic regression on the features and
    the label (:func:`labkit.quality.adversarial_auc`) tries to tell which half a row
    comes from. Independent, identically distributed rows make that impossible (AUC near
    0.5); an AUC well above 0.5 says the data changed over time.

    Examples
    --------
    >>> same = make_classification_data(n_samples=600, random_state=0)
    >>> drift = make_classification_data("iid", n_samples=600, random_state=0)
    >>> time_halves_auc(same.X, same.y, same.time) < 0.6 < time_halves_auc(
    ...     drift.X, drift.y, drift.time)
    True
    """
    from .quality import adversarial_auc

    X, y = _features_and_labels(X, y)
    time = np.asarray(time)
    if time.shape != (len(X),) or time.dtype.kind not in "biuf":
        raise ValueError(f"time must be 1-d numbers, one per row of X ({len(X)}).")
    late = time > np.median(time)
    if late.all() or not late.any():
        raise ValueError("time takes a single value; there are no early and late halves.")
    columns = [f"x{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns).assign(label=y.astype(float))
    return adversarial_auc(frame[~late].reset_index(drop=True),
                           frame[late].reset_index(drop=True),
                           n_splits=n_splits, random_state=random_state)


def assumption_report(X: Any, y: Any, time: Any, *, random_state: int | None = 0
                      ) -> pd.DataFrame:
    """Run every detector on one labelled, time-ordered table.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels.
    time : array-like of shape (n_samples,)
        When each row was recorded.
    random_state : int or None
        Seed of the detectors' cross-validation folds.

    Returns
    -------
    pandas.DataFrame
        One row per assumption of :data:`DETECTABLE`, with the columns ``statistic``
        (what the detector measures), ``value``, ``alarm`` (its alarm level) and
        ``alarm when`` (``"above"`` or ``"below"``: on which side of the alarm level the
        assumption is in doubt).

    Examples
    --------
    >>> data = make_classification_data("normality", n_samples=600, random_state=1)
    >>> report = assumption_report(data.X, data.y, data.time)
    >>> list(report.columns)
    ['statistic', 'value', 'alarm', 'alarm when']
    >>> bool(report.loc["normality", "value"] < report.loc["normality", "alarm"])
    True
    """
    X, y = _features_and_labels(X, y)
    folds = _folds(5, random_state)
    linear = _cv_accuracy(_linear_model(), X, y, folds)
    flexible = _cv_accuracy(_flexible_model(), X, y, folds)
    majority = np.unique(y, return_counts=True)[1].max() / len(y)
    values = {
        "prediction": max(linear, flexible) - majority,
        "iid": time_halves_auc(X, y, time, random_state=random_state),
        "boundaries": flexible - linear,
        "conditional independence": naive_bayes_overconfidence(
            X, y, random_state=random_state),
        "normality": normality_p_value(X, y),
    }
    rows = {name: {"statistic": ALARMS[name][0], "value": float(values[name]),
                   "alarm": ALARMS[name][1], "alarm when": ALARMS[name][2]}
            for name in DETECTABLE}
    return pd.DataFrame.from_dict(rows, orient="index")


# ---------------------------------------------------------------- tractability


@dataclass(frozen=True)
class NoisyOr:
    """A noisy-OR network: hidden binary causes, observed binary findings.

    Cause ``j`` is present with probability ``prior[j]``, independently of the others.
    Finding ``i`` stays absent only if its leak stays silent and every present cause
    ``j`` fails to switch it on:
    ``P(finding i absent | causes) = (1 - leak[i]) * prod_j (1 - strength[j, i]) ** z_j``.

    Attributes
    ----------
    prior : numpy.ndarray of shape (n_causes,)
    strength : numpy.ndarray of shape (n_causes, n_findings)
        Probability that a present cause switches a finding on (0: not connected).
    leak : numpy.ndarray of shape (n_findings,)
    """

    prior: np.ndarray
    strength: np.ndarray
    leak: np.ndarray

    @property
    def n_causes(self) -> int:
        return int(self.prior.shape[0])

    @property
    def n_findings(self) -> int:
        return int(self.leak.shape[0])

    def sample(self, random_state: int | np.random.Generator | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Draw one case: the causes present and the findings they produce.

        Examples
        --------
        >>> causes, findings = make_noisy_or(5, 8, random_state=0).sample(random_state=0)
        >>> causes.shape, findings.shape
        ((5,), (8,))
        """
        rng = check_rng(random_state)
        causes = (rng.random(self.n_causes) < self.prior).astype(int)
        absent = np.exp(self._log_absent(causes[None, :]))[0]
        findings = (rng.random(self.n_findings) >= absent).astype(int)
        return causes, findings

    def _log_absent(self, states: np.ndarray) -> np.ndarray:
        """log P(finding absent | state), one row per state."""
        return np.log1p(-self.leak)[None, :] + states @ np.log1p(-self.strength)

    def _log_likelihood(self, states: np.ndarray, findings: np.ndarray) -> np.ndarray:
        log_absent = self._log_absent(states)
        log_present = np.log(-np.expm1(np.minimum(log_absent, -1e-300)))
        return np.where(findings[None, :] == 1, log_present, log_absent).sum(axis=1)

    def _log_prior(self, states: np.ndarray) -> np.ndarray:
        return states @ np.log(self.prior) + (1 - states) @ np.log1p(-self.prior)


def make_noisy_or(n_causes: int, n_findings: int, *, links_per_finding: int | None = None,
                  random_state: int | np.random.Generator | None = None) -> NoisyOr:
    """A random noisy-OR network with rare causes and sparse links.

    Each cause has a prior between 0.05 and 0.2; each finding is linked to
    ``links_per_finding`` causes drawn at random (default: 3, or every cause when there
    are fewer), with strengths between 0.4 and 0.9, and has a leak between 0.01 and 0.05.

    Examples
    --------
    >>> model = make_noisy_or(6, 10, random_state=0)
    >>> model.n_causes, model.n_findings, int((model.strength > 0).sum())
    (6, 10, 30)
    """
    k = check_int("n_causes", n_causes, minimum=1)
    d = check_int("n_findings", n_findings, minimum=1)
    if links_per_finding is None:
        links_per_finding = min(3, k)
    links = check_int("links_per_finding", links_per_finding, minimum=1, maximum=k)
    rng = check_rng(random_state)
    prior = rng.uniform(0.05, 0.2, k)
    strength = np.zeros((k, d))
    for i in range(d):
        strength[rng.choice(k, size=links, replace=False), i] = rng.uniform(0.4, 0.9, links)
    return NoisyOr(prior=prior, strength=strength, leak=rng.uniform(0.01, 0.05, d))


@dataclass(frozen=True)
class InferenceResult:
    """What an inference computed, and what it cost.

    Attributes
    ----------
    log_evidence : float
        Natural log of P(findings), summed over the causes (or its estimate).
    posterior : numpy.ndarray of shape (n_causes,)
        P(cause j present | findings) (or its estimate).
    operations : int
        Factors multiplied: one per cause and one per finding, for every state summed
        over (exact) or drawn (sampled).
    """

    log_evidence: float
    posterior: np.ndarray
    operations: int


def exact_inference_cost(n_causes: int, n_findings: int) -> int:
    """Factors :func:`exact_posterior` multiplies: ``2**n_causes * (n_causes + n_findings)``.

    Every one of the ``2**n_causes`` states of the causes needs its prior (one factor
    per cause) and its likelihood (one factor per finding). Python integers do not
    overflow, so this answers for networks far too large to run.

    Examples
    --------
    >>> exact_inference_cost(10, 20)
    30720
    >>> exact_inference_cost(600, 4000) > 10 ** 180
    True
    """
    k = check_int("n_causes", n_causes, minimum=0)
    d = check_int("n_findings", n_findings, minimum=0)
    return 2 ** k * (k + d)


#: Largest number of causes :func:`exact_posterior` agrees to enumerate.
MAX_EXACT_CAUSES = 22


def _check_findings(model: Any, findings: Any) -> np.ndarray:
    if not isinstance(model, NoisyOr):
        raise TypeError(f"model must be a NoisyOr (see make_noisy_or), got "
                        f"{type(model).__name__}.")
    x = np.asarray(findings)
    if x.shape != (model.n_findings,) or not np.isin(x, [0, 1]).all():
        raise ValueError(f"findings must be {model.n_findings} values, each 0 or 1.")
    return x.astype(int)


def _states(k: int, start: int, stop: int) -> np.ndarray:
    codes = np.arange(start, stop, dtype=np.int64)
    return ((codes[:, None] >> np.arange(k)) & 1).astype(float)


def exact_posterior(model: NoisyOr, findings: Any, *, chunk: int = 2 ** 14) -> InferenceResult:
    """P(findings) and P(each cause | findings), by summing over every state of the causes.

    The sum has ``2**n_causes`` terms, so the cost doubles with every cause added:
    feasible for a dozen causes, hopeless for hundreds (refused above
    :data:`MAX_EXACT_CAUSES`). States are enumerated in chunks, so memory stays flat.

    Examples
    --------
    >>> model = make_noisy_or(3, 4, random_state=0)
    >>> result = exact_posterior(model, [1, 0, 0, 1])
    >>> result.operations == exact_inference_cost(3, 4)
    True
    >>> bool(np.all((0 <= result.posterior) & (result.posterior <= 1)))
    True
    """
    from scipy.special import logsumexp

    x = _check_findings(model, findings)
    k = model.n_causes
    if k > MAX_EXACT_CAUSES:
        raise ValueError(f"{k} causes means 2**{k} states to sum over; exact inference is "
                         "intractable here, use sampled_posterior.")
    chunk = check_int("chunk", chunk, minimum=1)
    log_total = -np.inf
    log_per_cause = np.full(k, -np.inf)
    for start in range(0, 2 ** k, chunk):
        states = _states(k, start, min(start + chunk, 2 ** k))
        log_joint = model._log_prior(states) + model._log_likelihood(states, x)
        log_total = np.logaddexp(log_total, logsumexp(log_joint))
        masked = np.where(states == 1, log_joint[:, None], -np.inf)
        log_per_cause = np.logaddexp(log_per_cause, logsumexp(masked, axis=0))
    return InferenceResult(log_evidence=float(log_total),
                           posterior=np.exp(log_per_cause - log_total),
                           operations=exact_inference_cost(k, model.n_findings))


def sampled_posterior(model: NoisyOr, findings: Any, n_samples: int, *,
                      random_state: int | np.random.Generator | None = None
                      ) -> InferenceResult:
    """Estimate what :func:`exact_posterior` computes from ``n_samples`` draws of the causes.

    Likelihood weighting: draw states of the causes from their prior and weight each by
    the probability of the findings given it. The mean weight estimates P(findings);
    the weighted share of draws with cause ``j`` estimates its posterior. The cost grows
    with ``n_samples``, not with ``2**n_causes``; the price is an error that shrinks
    like ``1 / sqrt(n_samples)`` and grows when the findings are improbable.

    Examples
    --------
    >>> model = make_noisy_or(8, 12, random_state=0)
    >>> _, findings = model.sample(random_state=1)
    >>> exact = exact_posterior(model, findings)
    >>> approx = sampled_posterior(model, findings, 20000, random_state=0)
    >>> bool(np.max(np.abs(approx.posterior - exact.posterior)) < 0.05)
    True
    >>> approx.operations
    400000
    """
    from scipy.special import logsumexp

    x = _check_findings(model, findings)
    n = check_int("n_samples", n_samples, minimum=1)
    rng = check_rng(random_state)
    states = (rng.random((n, model.n_causes)) < model.prior).astype(float)
    log_w = model._log_likelihood(states, x)
    log_total = logsumexp(log_w)
    weights = np.exp(log_w - log_total)
    return InferenceResult(log_evidence=float(log_total - math.log(n)),
                           posterior=weights @ states,
                           operations=n * (model.n_causes + model.n_findings))
