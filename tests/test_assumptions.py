"""Tests of labkit.assumptions: generators, detectors and the noisy-OR inference.

Exact inference is checked against an independent brute-force sum written with
itertools; the normality detector against scipy; the report's verdicts across seeds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from labkit import assumptions as A

# ---------------------------------------------------------------- generators


@pytest.mark.parametrize("broken", [None, *A.DETECTABLE])
def test_classification_data_shapes_and_determinism(broken):
    one = A.make_classification_data(broken, n_samples=300, random_state=3)
    two = A.make_classification_data(broken, n_samples=300, random_state=3)
    assert one.X.shape == (300, 4) and one.y.shape == (300,) and one.time.shape == (300,)
    assert set(np.unique(one.y)) == {0, 1}
    assert np.all(np.diff(one.time) >= 0) and 0 <= one.time.min() and one.time.max() < 1
    assert one.broken == broken
    assert np.array_equal(one.X, two.X) and np.array_equal(one.y, two.y)


def test_classification_data_breaks_what_it_says():
    n = 4000
    intact = A.make_classification_data(n_samples=n, random_state=0)
    copies = A.make_classification_data("conditional independence", n_samples=n,
                                        random_state=0)
    within = [np.corrcoef(d.X[d.y == 1], rowvar=False)[0, 1] for d in (intact, copies)]
    assert abs(within[0]) < 0.1 and within[1] > 0.9
    skewed = A.make_classification_data("normality", n_samples=n, random_state=0)
    assert stats.skew(skewed.X[skewed.y == 0, 0]) > 1.5
    assert abs(stats.skew(intact.X[intact.y == 0, 0])) < 0.2
    drift = A.make_classification_data("iid", n_samples=n, random_state=0)
    late = drift.time > 0.5
    assert 0.4 < drift.X[late].mean() - drift.X[~late].mean() < 0.6   # half of t * 1
    sphere = A.make_classification_data("boundaries", n_samples=n, random_state=0)
    spread = [np.linalg.norm(sphere.X[sphere.y == c], axis=1).mean() for c in (0, 1)]
    assert spread[1] > 2 * spread[0]


def test_mystery_draws_each_assumption_over_seeds():
    drawn = {A.make_mystery(n_samples=100, random_state=seed).broken for seed in range(40)}
    assert drawn == set(A.DETECTABLE)


def test_smooth_data_is_a_function_of_x_plus_noise():
    X, y = A.make_smooth_data(True, n_samples=500, noise=0.0, random_state=0)
    assert np.allclose(y, np.sin(2 * np.pi * X[:, 0]))
    X, y = A.make_smooth_data(False, n_samples=500, frequency=50.0, noise=0.0, random_state=0)
    assert np.allclose(y, np.sin(2 * np.pi * 50.0 * X[:, 0]))


@pytest.mark.parametrize("noise, skewness, kurtosis", [
    ("normal", (-0.2, 0.2), (-0.4, 0.4)),
    ("heavy-tailed", (-1.0, 1.0), (5.0, 40.0)),
    ("skewed", (1.5, 2.5), (3.0, 9.0)),
])
def test_regression_noise_has_the_stated_shape(noise, skewness, kurtosis):
    X, y = A.make_regression_data(noise, n_samples=20000, random_state=0)
    errors = y - (1 + 0.5 * X[:, 0])
    assert abs(errors.mean()) < 0.1
    assert skewness[0] < stats.skew(errors) < skewness[1]
    assert kurtosis[0] < stats.kurtosis(errors) < kurtosis[1]


# ---------------------------------------------------------------- detectors


def test_normality_p_value_is_scipys_smallest():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=200), rng.exponential(size=200)])
    y = np.r_[np.zeros(100, int), np.ones(100, int)]
    by_hand = min(stats.normaltest(X[y == c, j]).pvalue for c in (0, 1) for j in (0, 1))
    assert math.isclose(A.normality_p_value(X, y), by_hand, rel_tol=1e-12)
    assert math.isclose(A.normality_p_value(X[:, 0]), stats.normaltest(X[:, 0]).pvalue,
                        rel_tol=1e-12)


def test_prediction_gain_and_boundary_gap_agree_with_their_definitions():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = A.make_classification_data("boundaries", n_samples=500, random_state=1)
    folds = StratifiedKFold(5, shuffle=True, random_state=4)
    linear = np.mean(cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression()),
                                       data.X, data.y, cv=folds) == data.y)
    knn = np.mean(cross_val_predict(make_pipeline(StandardScaler(), KNeighborsClassifier(25)),
                                    data.X, data.y, cv=folds) == data.y)
    majority = max(np.mean(data.y), 1 - np.mean(data.y))
    assert math.isclose(A.boundary_gap(data.X, data.y, random_state=4), knn - linear)
    assert math.isclose(A.prediction_gain(data.X, data.y, random_state=4),
                        max(knn, linear) - majority)


def test_naive_bayes_overconfidence_grows_with_copies():
    data = A.make_classification_data(n_samples=1500, random_state=2)
    values = [A.naive_bayes_overconfidence(np.column_stack([data.X] + [data.X[:, :1]] * c),
                                           data.y) for c in (0, 2, 6)]
    assert values[0] < 0.03 < values[1] < values[2]


def test_time_halves_auc_needs_two_halves():
    data = A.make_classification_data(n_samples=200, random_state=0)
    with pytest.raises(ValueError, match="single value"):
        A.time_halves_auc(data.X, data.y, np.zeros(200))
    with pytest.raises(ValueError, match="one per row"):
        A.time_halves_auc(data.X, data.y, np.zeros(10))


@pytest.mark.parametrize("seed", range(3))
def test_report_fires_on_the_broken_assumption_only(seed):
    for broken in (None, *A.DETECTABLE):
        data = A.make_classification_data(broken, n_samples=1500, random_state=seed)
        report = A.assumption_report(data.X, data.y, data.time, random_state=seed)
        assert list(report.index) == list(A.DETECTABLE)
        assert list(report.columns) == ["statistic", "value", "alarm", "alarm when"]
        fires = np.where(report["alarm when"] == "above", report["value"] > report["alarm"],
                         report["value"] < report["alarm"])
        assert list(report.index[fires]) == ([] if broken is None else [broken])


def test_report_is_deterministic():
    data = A.make_mystery(n_samples=400, random_state=5)
    one = A.assumption_report(data.X, data.y, data.time, random_state=1)
    two = A.assumption_report(data.X, data.y, data.time, random_state=1)
    assert one.equals(two)


# ---------------------------------------------------------------- bad input


@given(st.text(max_size=12).filter(lambda s: s not in A.DETECTABLE))
@settings(max_examples=25, deadline=None)
def test_classification_data_rejects_unknown_assumptions(name):
    with pytest.raises(ValueError, match="broken must be None or one of"):
        A.make_classification_data(name, n_samples=100)


@given(st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.booleans()))
@settings(max_examples=25, deadline=None)
def test_generators_reject_non_integer_sizes(size):
    with pytest.raises((TypeError, ValueError)):
        A.make_classification_data(n_samples=size)
    with pytest.raises((TypeError, ValueError)):
        A.make_smooth_data(n_samples=size)


@given(st.integers(max_value=99))
@settings(max_examples=25, deadline=None)
def test_classification_data_needs_enough_rows(n):
    with pytest.raises(ValueError, match="at least 100"):
        A.make_classification_data(n_samples=n)


def test_other_generators_validate():
    with pytest.raises(ValueError, match="noise must be one of"):
        A.make_regression_data("cauchy")
    with pytest.raises(TypeError, match="True or False"):
        A.make_smooth_data("yes")
    with pytest.raises(ValueError, match="frequency"):
        A.make_smooth_data(frequency=0.0)


@given(st.sampled_from(["shape", "nan", "labels", "classes", "small", "text"]))
@settings(max_examples=12, deadline=None)
def test_detectors_reject_bad_tables(kind):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)), np.r_[np.zeros(30, int), np.ones(30, int)]
    if kind == "shape":
        X = X[:, 0]
    elif kind == "nan":
        X = X.copy()
        X[3, 1] = np.nan
    elif kind == "labels":
        y = y[:-1]
    elif kind == "classes":
        y = np.zeros(60, int)
    elif kind == "small":
        y = np.r_[np.zeros(55, int), np.ones(5, int)]
    else:
        X = np.full((60, 2), "a")
    for detector in (A.prediction_gain, A.boundary_gap, A.naive_bayes_overconfidence):
        with pytest.raises(ValueError):
            detector(X, y)


def test_normality_needs_twenty_values():
    with pytest.raises(ValueError, match="at least 20"):
        A.normality_p_value(np.arange(10.0))
    with pytest.raises(ValueError, match="finite"):
        A.normality_p_value(np.array([1.0, np.nan] * 20))


def test_detectors_validate_their_options():
    data = A.make_classification_data(n_samples=200, random_state=0)
    with pytest.raises(ValueError, match="n_splits"):
        A.prediction_gain(data.X, data.y, n_splits=1)
    with pytest.raises(TypeError, match="random_state"):
        A.boundary_gap(data.X, data.y, random_state=0.5)
    with pytest.raises(ValueError, match="n_bins"):
        A.naive_bayes_overconfidence(data.X, data.y, n_bins=1)


# ---------------------------------------------------------------- tractability


def brute_force(model, findings):
    """P(findings) and P(cause j | findings) by an explicit loop over every state."""
    k, d = model.n_causes, model.n_findings
    total, per_cause = 0.0, np.zeros(k)
    for state in itertools.product((0, 1), repeat=k):
        p = 1.0
        for j in range(k):
            p *= model.prior[j] if state[j] else 1 - model.prior[j]
        for i in range(d):
            absent = 1 - model.leak[i]
            for j in range(k):
                if state[j]:
                    absent *= 1 - model.strength[j, i]
            p *= 1 - absent if findings[i] else absent
        total += p
        per_cause += p * np.array(state)
    return total, per_cause / total


@pytest.mark.parametrize("k, d, seed", [(1, 3, 0), (4, 6, 1), (7, 10, 2)])
def test_exact_posterior_matches_brute_force(k, d, seed):
    model = A.make_noisy_or(k, d, random_state=seed)
    _, findings = model.sample(random_state=seed)
    result = A.exact_posterior(model, findings, chunk=5)
    evidence, posterior = brute_force(model, findings)
    assert math.isclose(result.log_evidence, math.log(evidence), rel_tol=1e-9)
    assert np.allclose(result.posterior, posterior, rtol=1e-9, atol=1e-12)
    assert result.operations == A.exact_inference_cost(k, d) == 2 ** k * (k + d)


def test_sampled_posterior_converges_and_counts():
    model = A.make_noisy_or(6, 8, random_state=0)
    _, findings = model.sample(random_state=3)
    exact = A.exact_posterior(model, findings)
    errors = [np.abs(A.sampled_posterior(model, findings, n, random_state=0).posterior
                     - exact.posterior).max() for n in (100, 100000)]
    assert errors[1] < 0.02 and errors[1] < errors[0]
    approx = A.sampled_posterior(model, findings, 100000, random_state=0)
    assert abs(approx.log_evidence - exact.log_evidence) < 0.05
    assert approx.operations == 100000 * 14


def test_noisy_or_structure():
    model = A.make_noisy_or(10, 30, random_state=0)
    assert np.all((model.strength > 0).sum(axis=0) == 3)
    assert np.all((0.05 <= model.prior) & (model.prior <= 0.2))
    assert A.make_noisy_or(2, 5, random_state=0).strength.shape == (2, 5)
    causes, findings = model.sample(random_state=1)
    assert set(np.unique(causes)) <= {0, 1} and set(np.unique(findings)) <= {0, 1}


def test_inference_validates():
    model = A.make_noisy_or(3, 4, random_state=0)
    with pytest.raises(ValueError, match="4 values, each 0 or 1"):
        A.exact_posterior(model, [1, 0, 2, 0])
    with pytest.raises(ValueError, match="4 values"):
        A.sampled_posterior(model, [1, 0], 10)
    with pytest.raises(TypeError, match="NoisyOr"):
        A.exact_posterior("model", [1, 0, 0, 0])
    big = A.make_noisy_or(A.MAX_EXACT_CAUSES + 1, 2, random_state=0)
    with pytest.raises(ValueError, match="intractable"):
        A.exact_posterior(big, [0, 1])
    with pytest.raises(ValueError, match="links_per_finding"):
        A.make_noisy_or(3, 4, links_per_finding=5)
    with pytest.raises(ValueError, match="n_samples"):
        A.sampled_posterior(model, [0, 0, 0, 0], 0)


@given(st.integers(0, 400), st.integers(0, 5000))
@settings(max_examples=50, deadline=None)
def test_exact_cost_doubles_per_cause(k, d):
    assert A.exact_inference_cost(k + 1, d) >= 2 * A.exact_inference_cost(k, d)
