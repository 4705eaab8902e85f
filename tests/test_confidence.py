"""Tests of labkit.confidence: reliability table and ECE against scikit-learn, temperature
scaling against torch and closed forms, the coverage-risk curve against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import confidence


def random_predictions(seed, n=400, skew=1.5):
    """Confidences in [0, 1] and whether each prediction was right (overconfident)."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.0, 1.0, n)
    conf[:4] = [0.0, 1.0, 1.0, 0.95]               # the ends of [0, 1] included
    correct = rng.random(n) < conf ** skew
    return conf, correct


# ------------------------------------------------------------------ reliability and ECE


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_reliability_table_matches_sklearn_calibration_curve(seed, n_bins):
    from sklearn.calibration import calibration_curve

    conf, correct = random_predictions(seed)
    table = confidence.reliability_table(conf, correct, n_bins=n_bins)
    full = table[table["count"] > 0]
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=n_bins)
    np.testing.assert_allclose(full["accuracy"], prob_true, rtol=1e-12)
    np.testing.assert_allclose(full["confidence"], prob_pred, rtol=1e-12)
    counts, _ = np.histogram(conf, bins=np.linspace(0, 1, n_bins + 1))
    np.testing.assert_array_equal(table["count"], counts)
    assert table["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_ece_matches_an_independent_computation(seed):
    from sklearn.calibration import calibration_curve

    conf, correct = random_predictions(seed)
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=10)
    counts, _ = np.histogram(conf, bins=np.linspace(0, 1, 11))
    weights = counts[counts > 0] / len(conf)
    want = float(np.sum(weights * np.abs(prob_true - prob_pred)))
    assert confidence.expected_calibration_error(conf, correct, n_bins=10) == \
        pytest.approx(want, rel=1e-12)


def test_ece_worked_examples():
    conf = [0.95, 0.85, 0.65, 0.62, 0.25]
    right = [1, 1, 0, 1, 0]
    assert confidence.expected_calibration_error(conf, right, n_bins=5) == pytest.approx(0.144)
    # One bin: the gap between the mean confidence and the accuracy.
    assert confidence.expected_calibration_error(conf, right, n_bins=1) == pytest.approx(0.064)
    # A confidence of exactly 1 belongs to the last bin.
    assert confidence.expected_calibration_error([1.0, 1.0, 0.9, 0.45], [1, 0, 1, 1],
                                                 n_bins=5) == pytest.approx(0.3625)
    # Calibrated: said 0.75, right 3 times in 4.
    assert confidence.expected_calibration_error([0.75] * 4, [1, 1, 1, 0]) == 0.0


def test_ece_of_a_calibrated_model_is_small():
    rng = np.random.default_rng(3)
    conf = rng.uniform(0, 1, 200_000)
    correct = rng.random(conf.size) < conf
    assert confidence.expected_calibration_error(conf, correct) < 0.01
    overconfident = rng.random(conf.size) < conf ** 2
    assert confidence.expected_calibration_error(conf, overconfident) > 0.1


# ------------------------------------------------------------------ softmax and temperature


def test_softmax_rows_sum_to_one_and_survive_huge_logits():
    z = np.array([[1000.0, 999.0, -np.inf], [-1000.0, -1001.0, -1002.0]])
    p = confidence.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 2] == 0.0 and p[0, 0] == pytest.approx(1 / (1 + math.exp(-1)))
    np.testing.assert_allclose(confidence.softmax(z[1:], 2.0),
                               confidence.softmax(z[1:] / 2.0))


def test_nll_matches_sklearn_log_loss():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(5)
    z = rng.normal(size=(50, 4)) * 3
    y = rng.integers(0, 4, 50)
    for t in (0.5, 1.0, 2.5):
        want = log_loss(y, confidence.softmax(z, t), labels=[0, 1, 2, 3])
        assert confidence.negative_log_likelihood(z, y, t) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(("p", "n_first", "n_second", "scale", "want"), [
    (0.7, 7, 3, 1.0, 1.0),                                # calibrated
    (0.7, 7, 3, 2.0, 2.0),                                # logits doubled
    (0.9, 3, 1, 1.0, 2.0),                                # says 0.9, right 3 in 4
    (0.6, 9, 1, 1.0, math.log(1.5) / math.log(9.0)),      # underconfident: T < 1
])
def test_fit_temperature_closed_forms(p, n_first, n_second, scale, want):
    z = np.tile(scale * np.log([p, 1 - p]), (n_first + n_second, 1))
    y = np.array([0] * n_first + [1] * n_second)
    assert confidence.fit_temperature(z, y) == pytest.approx(want, rel=1e-5)
    # A constant added to each row changes nothing, not even for huge logits.
    assert confidence.fit_temperature(z + 1000.0, y) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_fit_temperature_agrees_with_torch(seed):
    torch = pytest.importorskip("torch")

    rng = np.random.default_rng(seed)
    true = rng.normal(size=(300, 5))
    y = np.array([rng.choice(5, p=np.exp(r) / np.exp(r).sum()) for r in true])
    z = true * (1.5 + seed)                                # overconfident by a known factor
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    logits, labels = torch.tensor(z), torch.tensor(y)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, tolerance_grad=1e-12,
                                  tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    want = float(log_t.detach().exp())
    assert confidence.fit_temperature(z, y) == pytest.approx(want, rel=1e-4)


def test_fit_temperature_scales_with_the_logits():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(200, 3))
    y = rng.integers(0, 3, 200)
    t = confidence.fit_temperature(z, y)
    assert confidence.fit_temperature(3 * z, y) == pytest.approx(3 * t, rel=1e-5)


# ------------------------------------------------------------------ coverage and risk


def coverage_risk_by_loop(conf, correct):
    rows = []
    for t in sorted(set(conf), reverse=True):
        answered = [c for s, c in zip(conf, correct, strict=True) if s >= t]
        rows.append((t, len(answered), len(answered) / len(conf),
                     sum(1 for c in answered if not c) / len(answered)))
    return pd.DataFrame(rows, columns=["threshold", "answered", "coverage", "risk"])


@pytest.mark.parametrize("seed", range(4))
def test_coverage_risk_matches_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    conf = np.round(rng.uniform(0, 1, 120), 1)            # many ties
    correct = rng.random(120) < conf
    got = confidence.coverage_risk(conf, correct)
    want = coverage_risk_by_loop(conf.tolist(), correct.tolist())
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["coverage"].iloc[-1] == 1.0 and got["coverage"].is_monotonic_increasing


# ------------------------------------------------------------------ bad input


def test_bad_inputs_say_what_to_do():
    with pytest.raises(ValueError, match="one entry per prediction"):
        confidence.reliability_table([0.5, 0.6], [True])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        confidence.expected_calibration_error([1.5], [True])
    with pytest.raises(ValueError, match="True/False or 0/1"):
        confidence.coverage_risk([0.5], [2])
    with pytest.raises(TypeError, match="n_bins must be an integer"):
        confidence.reliability_table([0.5], [True], n_bins=2.5)
    with pytest.raises(ValueError, match="2-d array"):
        confidence.fit_temperature([0.1, 0.2], [0])
    with pytest.raises(ValueError, match="column indices"):
        confidence.fit_temperature([[0.1, 0.2]], [2])
    with pytest.raises(ValueError, match="positive"):
        confidence.softmax([[0.0, 1.0]], temperature=0.0)
    with pytest.raises(ValueError, match="NaN"):
        confidence.negative_log_likelihood([[np.nan, 1.0]], [0])


_junk = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=4),
                  st.lists(st.one_of(st.floats(), st.text(max_size=2), st.none()), max_size=4),
                  st.lists(st.lists(st.floats(), max_size=3), max_size=3))


@settings(max_examples=80, deadline=None)
@given(_junk, _junk)
def test_junk_raises_a_clear_error(confidences, correct):
    for call in (lambda: confidence.expected_calibration_error(confidences, correct),
                 lambda: confidence.coverage_risk(confidences, correct)):
        try:
            call()
        except (TypeError, ValueError) as exc:
            assert str(exc)
        else:                                              # only valid input gets here
            assert np.asarray(confidences).ndim == 1


@settings(max_examples=80, deadline=None)
@given(_junk, _junk, st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.none()))
def test_junk_logits_raise_a_clear_error(logits, labels, temperature):
    for call in (lambda: confidence.fit_temperature(logits, labels),
                 lambda: confidence.negative_log_likelihood(logits, labels, temperature),
                 lambda: confidence.softmax(logits, temperature)):
        try:
            call()
        except (TypeError, ValueError) as exc:
            assert str(exc)
