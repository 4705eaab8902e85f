"""Tests of labkit.feedback: the position-biased user simulator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.feedback import position_bias, simulate_feedback

# ---------------------------------------------------------------- position_bias


@given(n=st.integers(1, 30), top=st.floats(0.01, 1.0), decay=st.floats(0.0, 1.0))
def test_position_bias_is_a_falling_sequence_of_probabilities(n, top, decay):
    exam = position_bias(n, top=top, decay=decay)
    assert exam.shape == (n,)
    assert exam[0] == pytest.approx(top)
    assert np.all(np.diff(exam) <= 1e-12)
    assert np.all((exam >= 0) & (exam <= 1))


def test_position_bias_multiplies_by_decay_per_slot():
    exam = position_bias(4, top=0.5, decay=0.2)
    assert exam[1:] / exam[:-1] == pytest.approx([0.2, 0.2, 0.2])


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n_slots": 0}, ValueError, "n_slots must be at least 1"),
    ({"n_slots": 2.5}, TypeError, "n_slots must be an integer"),
    ({"n_slots": 3, "top": 0.0}, ValueError, "top must be >"),
    ({"n_slots": 3, "top": 1.5}, ValueError, "top must be <="),
    ({"n_slots": 3, "decay": -0.1}, ValueError, "decay must be >="),
    ({"n_slots": 3, "decay": "fast"}, TypeError, "decay must be a number"),
])
def test_position_bias_rejects_bad_inputs(kwargs, error, words):
    with pytest.raises(error, match=words):
        position_bias(**kwargs)


# ---------------------------------------------------------------- simulate_feedback


def _sessions(n=20000, n_apps=10, n_slots=4, seed=0):
    rng = np.random.default_rng(seed)
    rankings = np.stack([rng.permutation(n_apps)[:n_slots] for _ in range(n)])
    return rankings, rng.integers(0, n_apps, n)


def test_same_seed_same_log_and_other_seed_other_log():
    rankings, truth = _sessions(n=500)
    exam = position_bias(4)
    a = simulate_feedback(rankings, truth, exam, random_state=3)
    b = simulate_feedback(rankings, truth, exam, random_state=3)
    c = simulate_feedback(rankings, truth, exam, random_state=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_acceptance_rate_matches_the_position_weighted_expectation():
    rankings, truth = _sessions()
    exam = np.array([0.9, 0.5, 0.2, 0.1])
    log = simulate_feedback(rankings, truth, exam, accept_prob=0.8, misclick_prob=0.0,
                            random_state=0)
    hits = rankings == truth[:, None]
    expected = 0.8 * float((hits * exam).sum(axis=1).mean())
    se = np.sqrt(expected * (1 - expected) / len(truth))
    assert abs(log["accepted"].mean() - expected) < 4 * se
    # Without misclicks every tap is the wanted app, in the slot where it sits.
    accepted = log[log["accepted"]]
    assert accepted["correct"].all()
    rows = accepted.index.to_numpy()
    assert np.all(rankings[rows, accepted["slot"].to_numpy()] == truth[rows])


def test_slot_acceptance_follows_the_examination_probabilities():
    rankings, truth = _sessions()
    rankings[:, 0] = truth  # the wanted app always sits in the first slot ...
    rankings[:, 1:] = (truth[:, None] + np.arange(1, 4)) % 10
    exam = np.array([0.3, 1.0, 1.0, 1.0])
    log = simulate_feedback(rankings, truth, exam, accept_prob=1.0, misclick_prob=0.0,
                            random_state=1)
    # ... so it is accepted exactly when the first slot is examined.
    assert log["accepted"].mean() == pytest.approx(0.3, abs=0.015)
    assert set(log["slot"].unique()) <= {-1, 0}


def test_misclicks_accept_wrong_suggestions_at_the_given_rate():
    rankings, truth = _sessions()
    truth = np.full_like(truth, 99)  # never in the lists
    exam = np.array([1.0, 0.5, 0.0, 0.0])
    log = simulate_feedback(rankings, truth, exam, accept_prob=1.0, misclick_prob=0.2,
                            random_state=2)
    expected = 1 - (1 - 0.2) * (1 - 0.5 * 0.2)
    assert log["accepted"].mean() == pytest.approx(expected, abs=0.015)
    assert not log["correct"].any()
    assert set(log["slot"].unique()) <= {-1, 0, 1}


def test_one_seed_gives_two_models_the_same_users():
    """Common random numbers: a model's gain is not drowned by different draws."""
    rankings, truth = _sessions(n=2000)
    exam = position_bias(4)
    better = rankings.copy()
    better[:, 0] = truth
    a = simulate_feedback(rankings, truth, exam, misclick_prob=0.0, random_state=5)
    b = simulate_feedback(better, truth, exam, misclick_prob=0.0, random_state=5)
    # Every session accepted by the weaker row with the wanted app in slot 0 stays accepted.
    both = a["slot"].to_numpy() == 0
    assert both.any() and b["accepted"].to_numpy()[both].all()


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 40), n_slots=st.integers(1, 6), seed=st.integers(0, 10_000),
       accept=st.floats(0, 1), misclick=st.floats(0, 1))
def test_log_is_consistent(n, n_slots, seed, accept, misclick):
    rng = np.random.default_rng(seed)
    rankings = rng.integers(0, 8, (n, n_slots))
    truth = rng.integers(0, 8, n)
    log = simulate_feedback(rankings, truth, rng.random(n_slots), accept_prob=accept,
                            misclick_prob=misclick, random_state=seed)
    assert list(log.columns) == ["accepted", "slot", "correct"] and len(log) == n
    slot = log["slot"].to_numpy()
    assert np.array_equal(log["accepted"].to_numpy(), slot >= 0)
    assert np.all((slot >= -1) & (slot < n_slots))
    tapped = np.flatnonzero(slot >= 0)
    assert np.array_equal(log["correct"].to_numpy()[tapped],
                          rankings[tapped, slot[tapped]] == truth[tapped])
    assert not log["correct"].to_numpy()[slot < 0].any()


def test_nobody_looking_means_nothing_accepted():
    rankings, truth = _sessions(n=100)
    log = simulate_feedback(rankings, truth, np.zeros(4), random_state=0)
    assert not log["accepted"].any()


@pytest.mark.parametrize("rankings, truth, exam, kwargs, error, words", [
    ([1, 2, 3], [1, 2, 3], [0.5], {}, ValueError, "2-d array"),
    ([[1.0, 2.0]], [1], [0.5, 0.5], {}, TypeError, "integer app ids"),
    ([[1, 2]], [1.5], [0.5, 0.5], {}, TypeError, "true_apps must hold integer"),
    ([[1, 2], [2, 1]], [1], [0.5, 0.5], {}, ValueError, "one wanted app per session"),
    ([[1, 2]], [1], [0.5], {}, ValueError, "one probability per slot"),
    ([[1, 2]], [1], [0.5, 1.5], {}, ValueError, r"probabilities in \[0, 1\]"),
    ([[1, 2]], [1], [0.5, np.nan], {}, ValueError, "NaN"),
    ([[1, 2]], [1], [0.5, 0.5], {"accept_prob": 2.0}, ValueError, "accept_prob"),
    ([[1, 2]], [1], [0.5, 0.5], {"misclick_prob": -0.1}, ValueError, "misclick_prob"),
    ([[1, 2]], [1], [0.5, 0.5], {"random_state": "seed"}, TypeError, "random_state"),
])
def test_simulate_feedback_rejects_bad_inputs(rankings, truth, exam, kwargs, error, words):
    with pytest.raises(error, match=words):
        simulate_feedback(rankings, truth, exam, **kwargs)
