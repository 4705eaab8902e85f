"""Tests of labkit.checks.lab02: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook; labkit itself never ships them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax, softmax

from labkit.checks import RESULTS_ENV, lab02

# ---------------------------------------------------------------- reference answers


def ref_expected_acceptance(rankings, true_apps, examine_prob):
    total = 0.0
    for row, wanted in zip(np.asarray(rankings), np.asarray(true_apps), strict=True):
        slots = np.flatnonzero(row == wanted)
        total += examine_prob[slots[0]] if slots.size else 0.0
    return total / len(rankings)


def ref_cross_entropy(logits, labels):
    logp = log_softmax(np.asarray(logits, dtype=float), axis=1)
    return float(-np.mean(logp[np.arange(len(logp)), labels]))


def ref_fine_tune(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    W, b = np.array(W_ref, dtype=float), np.array(b_ref, dtype=float)
    for _ in range(n_steps):
        g = softmax(X @ W.T + b, axis=1)
        g[np.arange(len(y)), y] -= 1.0
        step = lr / (len(y) + pull)
        W, b = (W - step * (g.T @ X + pull * (W - W_ref)),
                b - step * (g.sum(axis=0) + pull * (b - b_ref)))
    return W, b


# ---------------------------------------------------------------- this run's data


def _lab_lists(seed=0, n=400, n_apps=12, n_slots=4):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_apps, n)
    lists = {name: np.stack([rng.permutation(n_apps)[:n_slots] for _ in range(n)])
             for name in ("a", "b")}
    lists["a"][:, 0] = np.where(rng.random(n) < 0.4, truth, lists["a"][:, 0])
    return lists, truth, np.array([0.9, 0.4, 0.15, 0.05])


def _lab_user(seed=0, n=16, n_features=10, n_apps=6):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, n_features)) < 0.3).astype(float)
    y = rng.integers(0, n_apps, n)
    return X, y, rng.normal(0, 0.5, (n_apps, n_features)), rng.normal(0, 0.5, n_apps)


# ---------------------------------------------------------------- expected_acceptance


def test_expected_acceptance_passes_the_reference(capsys):
    lists, truth, exam = _lab_lists()
    lab02.expected_acceptance(ref_expected_acceptance, lists, truth, exam)
    assert "[ok] expected_acceptance" in capsys.readouterr().out


def ea_top_k(rankings, true_apps, examine_prob):
    return float(np.mean((np.asarray(rankings) == np.asarray(true_apps)[:, None]).any(1)))


def ea_sum(rankings, true_apps, examine_prob):
    return ref_expected_acceptance(rankings, true_apps, examine_prob) * len(rankings)


def ea_off_by_one(rankings, true_apps, examine_prob):
    shifted = np.append(np.asarray(examine_prob)[1:], 0.0)
    return ref_expected_acceptance(rankings, true_apps, shifted)


def ea_first_slot_only(rankings, true_apps, examine_prob):
    return float(examine_prob[0] * np.mean(np.asarray(rankings)[:, 0] == true_apps))


def ea_per_session(rankings, true_apps, examine_prob):
    hits = np.asarray(rankings) == np.asarray(true_apps)[:, None]
    return (hits * examine_prob).sum(axis=1)


def ea_reversed(rankings, true_apps, examine_prob):
    return ref_expected_acceptance(rankings, true_apps, np.asarray(examine_prob)[::-1])


@pytest.mark.parametrize("wrong, words", [
    (ea_top_k, "top-3 hit rate"),
    (ea_sum, "divide by the number of sessions"),
    (ea_off_by_one, "off by one"),
    (ea_first_slot_only, "only the first slot"),
    (ea_per_session, "single number"),
    (ea_reversed, "moving the wanted app"),
])
def test_expected_acceptance_catches_slips(wrong, words):
    lists, truth, exam = _lab_lists()
    with pytest.raises(AssertionError, match=words):
        lab02.expected_acceptance(wrong, lists, truth, exam)


def test_expected_acceptance_catches_a_slip_only_visible_on_the_run_data():
    """Right on the worked example, wrong once the rows hold more than three slots."""
    def three_slots(rankings, true_apps, examine_prob):
        r = np.asarray(rankings)[:, :3]
        return ref_expected_acceptance(r, true_apps, np.asarray(examine_prob)[:3])

    lists, truth, exam = _lab_lists()
    with pytest.raises(AssertionError, match="examine_prob all ones"):
        lab02.expected_acceptance(three_slots, lists, truth, exam)


def test_expected_acceptance_reports_an_unimplemented_answer():
    def stub(rankings, true_apps, examine_prob):
        raise NotImplementedError("hint")

    lists, truth, exam = _lab_lists()
    with pytest.raises(AssertionError, match="not implemented"):
        lab02.expected_acceptance(stub, lists, truth, exam)


def test_expected_acceptance_rejects_mismatched_inputs():
    lists, truth, exam = _lab_lists()
    with pytest.raises(AssertionError, match="one row per session"):
        lab02.expected_acceptance(ref_expected_acceptance, lists, truth[:-1], exam)
    with pytest.raises(AssertionError, match="dict"):
        lab02.expected_acceptance(ref_expected_acceptance, lists["a"], truth, exam)


# ---------------------------------------------------------------- softmax_cross_entropy


def _lab_logits(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3, (300, 8)), rng.integers(0, 8, 300)


def test_cross_entropy_passes_the_reference(capsys):
    lab02.softmax_cross_entropy(ref_cross_entropy, *_lab_logits())
    assert "[ok] softmax_cross_entropy" in capsys.readouterr().out


def ce_sum(logits, labels):
    return ref_cross_entropy(logits, labels) * len(labels)


def ce_negated(logits, labels):
    return -ref_cross_entropy(logits, labels)


def ce_other_class(logits, labels):
    return ref_cross_entropy(logits, 1 - np.asarray(labels)) if np.max(labels) <= 1 else \
        ref_cross_entropy(logits, (np.asarray(labels) + 1) % np.asarray(logits).shape[1])


def ce_unstable(logits, labels):
    z = np.asarray(logits, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(p[np.arange(len(z)), labels])))


def ce_wrong_axis(logits, labels):
    logp = log_softmax(np.asarray(logits, dtype=float), axis=0)
    return float(-np.mean(logp[np.arange(len(logp)), labels]))


def ce_per_row(logits, labels):
    logp = log_softmax(np.asarray(logits, dtype=float), axis=1)
    return -logp[np.arange(len(logp)), labels]


@pytest.mark.parametrize("wrong, words", [
    (ce_sum, "sum over rows"),
    (ce_negated, "sign is flipped"),
    (ce_other_class, "wrong class"),
    (ce_unstable, "overflows"),
    (ce_wrong_axis, "should be log\\("),
    (ce_per_row, "single number"),
])
def test_cross_entropy_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab02.softmax_cross_entropy(wrong, *_lab_logits())


# ---------------------------------------------------------------- fine_tune


def test_fine_tune_passes_the_reference(capsys):
    lab02.fine_tune(ref_fine_tune, *_lab_user())
    assert "[ok] fine_tune" in capsys.readouterr().out


def ft_mean_loss(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    """Divides by n only: the step is too large when pull is added."""
    return ref_fine_tune(X, y, W_ref, b_ref, pull=pull, lr=lr * (len(y) + pull) / len(y),
                         n_steps=n_steps)


def ft_uphill(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    return ref_fine_tune(X, y, W_ref, b_ref, pull=pull, lr=-lr, n_steps=n_steps)


def ft_towards_zero(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    W, b = np.array(W_ref, float), np.array(b_ref, float)
    for _ in range(n_steps):
        g = softmax(X @ W.T + b, axis=1)
        g[np.arange(len(y)), y] -= 1.0
        step = lr / (len(y) + pull)
        W, b = W - step * (g.T @ X + pull * W), b - step * (g.sum(axis=0) + pull * b)
    return W, b


def ft_in_place(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    W, b = ref_fine_tune(X, y, W_ref, b_ref, pull=pull, lr=lr, n_steps=n_steps)
    W_ref[...] = W
    b_ref[...] = b
    return W_ref, b_ref


def ft_no_pull(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    return ref_fine_tune(X, y, W_ref, b_ref, pull=0.0, lr=lr * len(y) / (len(y) + pull),
                         n_steps=n_steps)


def ft_returns_W_only(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    return ref_fine_tune(X, y, W_ref, b_ref, pull=pull, lr=lr, n_steps=n_steps)[0]


def ft_forgets_bias(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
    W, _ = ref_fine_tune(X, y, W_ref, b_ref, pull=pull, lr=lr, n_steps=n_steps)
    return W, np.array(b_ref, float)


@pytest.mark.parametrize("wrong, words", [
    (ft_mean_loss, "lr / \\(n \\+ pull\\), not lr / n"),
    (ft_uphill, "uphill"),
    (ft_towards_zero, "pull towards the reference"),
    (ft_in_place, "in place"),
    (ft_no_pull, "gradient of the objective"),
    (ft_returns_W_only, "pair \\(W, b\\)"),
    (ft_forgets_bias, "yours differ"),
])
def test_fine_tune_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab02.fine_tune(wrong, *_lab_user())


def test_fine_tune_catches_a_wrong_gradient_the_example_cannot_see():
    """Right for one step from zero weights, wrong once probabilities are not uniform."""
    def no_softmax(X, y, W_ref, b_ref, *, pull, lr=0.5, n_steps=100):
        W, b = np.array(W_ref, float), np.array(b_ref, float)
        for _ in range(n_steps):
            g = np.full((len(y), len(b)), 1.0 / len(b))  # the softmax at zero weights
            g[np.arange(len(y)), y] -= 1.0
            step = lr / (len(y) + pull)
            W, b = (W - step * (g.T @ X + pull * (W - W_ref)),
                    b - step * (g.sum(axis=0) + pull * (b - b_ref)))
        return W, b

    with pytest.raises(AssertionError, match="gradient of the objective"):
        lab02.fine_tune(no_softmax, *_lab_user())


# ---------------------------------------------------------------- recording and secrecy


def test_checks_record_plain_json(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lists, truth, exam = _lab_lists()
    lab02.expected_acceptance(ref_expected_acceptance, lists, truth, exam)
    lab02.softmax_cross_entropy(ref_cross_entropy, *_lab_logits())
    lab02.fine_tune(ref_fine_tune, *_lab_user())
    ea = json.loads((tmp_path / "expected_acceptance.json").read_text())
    assert ea["values"]["acceptance"]["a"]["array"] == pytest.approx(
        ref_expected_acceptance(lists["a"], truth, exam))
    ce = json.loads((tmp_path / "softmax_cross_entropy.json").read_text())
    assert ce["values"]["loss"]["array"] == pytest.approx(ref_cross_entropy(*_lab_logits()))
    ft = json.loads((tmp_path / "fine_tune.json").read_text())
    W, _ = ref_fine_tune(*_lab_user(), pull=10.0)
    assert ft["values"]["W"]["shape"] == list(W.shape)
    assert np.allclose(np.reshape(ft["values"]["W"]["array"], W.shape), W)


@pytest.mark.parametrize("check, wrong, data", [
    (lab02.expected_acceptance, ea_sum, _lab_lists),
    (lab02.expected_acceptance, ea_reversed, _lab_lists),
    (lab02.softmax_cross_entropy, ce_wrong_axis, _lab_logits),
    (lab02.softmax_cross_entropy, ce_sum, _lab_logits),
])
def test_messages_never_reveal_values_from_the_run_data(check, wrong, data):
    """Failures quote the hand-worked examples only, never a value from this run."""
    args = data()
    if check is lab02.expected_acceptance:
        lists, truth, exam = args
        secrets = [ref_expected_acceptance(r, truth, exam) for r in lists.values()]
    else:
        secrets = [ref_cross_entropy(*args)]
    with pytest.raises(AssertionError) as info:
        check(wrong, *args)
    message = str(info.value)
    for secret in secrets:
        for digits in (2, 3, 4):
            assert f"{secret:.{digits}f}" not in message
            assert f"{secret:.{digits}g}" not in message


def test_fine_tune_messages_never_reveal_run_weights():
    X, y, W_ref, b_ref = _lab_user()
    W, b = ref_fine_tune(X, y, W_ref, b_ref, pull=10.0)
    with pytest.raises(AssertionError) as info:
        lab02.fine_tune(ft_towards_zero, X, y, W_ref, b_ref)
    message = str(info.value)
    for value in np.concatenate([W.ravel()[:20], b]):
        assert f"{value:.3f}" not in message


# ---------------------------------------------------------------- decisions


def planned_sessions(p_a, p_b, alpha=0.05, power=0.8):
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return int(np.ceil(z**2 * (p_a * (1 - p_a) + p_b * (1 - p_b)) / (p_a - p_b) ** 2))


@pytest.mark.parametrize("p_a, p_b", [(0.2, 0.23), (0.21, 0.28), (0.5, 0.45)])
def test_sessions_per_arm_accepts_the_plan_and_cohens_h(p_a, p_b, capsys, tmp_path,
                                                       monkeypatch):
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab02.sessions_per_arm(planned_sessions(p_a, p_b), p_a, p_b)
    h = proportion_effectsize(p_b, p_a)
    lab02.sessions_per_arm(int(np.ceil(NormalIndPower().solve_power(h, alpha=0.05, power=0.8))),
                           p_a, p_b)
    assert capsys.readouterr().out.count("[ok]") == 2
    saved = json.loads((tmp_path / "sessions_per_arm.json").read_text())["values"]
    assert saved["share_of_plan"]["decision"]["array"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("wrong, words", [
    (lambda n: int(n * 0.79), "too few"),        # one-sided quantile
    (lambda n: 2 * n, "both arms together"),
    (lambda n: int(n * 1.2), "more than the plan needs"),
    (lambda n: "many", "single number"),
])
def test_sessions_per_arm_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab02.sessions_per_arm(wrong(planned_sessions(0.21, 0.28)), 0.21, 0.28)


@pytest.fixture
def curve():
    return pd.DataFrame({"global": [0.15] * 6,
                         "fine-tuned": [0.15, 0.16, 0.18, 0.16, 0.19, 0.22]},
                        index=[1, 2, 4, 8, 16, 32])


def test_personalize_from_wants_the_gain_to_hold_from_the_budget_on(curve, capsys):
    lab02.personalize_from(16, curve, min_gain=0.02)
    assert "[ok]" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="with 8 events the gain"):
        lab02.personalize_from(4, curve, min_gain=0.02)
    with pytest.raises(AssertionError, match="already holds from a smaller budget"):
        lab02.personalize_from(32, curve, min_gain=0.02)
    with pytest.raises(AssertionError, match="one of the budgets"):
        lab02.personalize_from(10, curve, min_gain=0.02)
