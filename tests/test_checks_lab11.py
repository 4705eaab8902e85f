"""Tests of labkit.checks.lab11: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook and of labkit.confidence / labkit.monitoring.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from labkit.checks import RESULTS_ENV, lab11

# ---------------------------------------------------------------- reference answers


def ref_ece(confidence, correct, n_bins):
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=float)
    total = 0.0
    for k in range(n_bins):
        low, high = k / n_bins, (k + 1) / n_bins
        inside = (conf >= low) & ((conf < high) if k < n_bins - 1 else (conf <= high))
        if inside.any():
            total += inside.sum() / conf.size * abs(right[inside].mean() - conf[inside].mean())
    return total


def ref_temperature(logits, labels):
    z = np.asarray(logits, dtype=float)
    y = np.asarray(labels)

    def nll(t):
        scaled = z / t
        return -(scaled[np.arange(len(y)), y] - logsumexp(scaled, axis=1)).mean()

    return float(minimize_scalar(nll, bounds=(0.01, 100), method="bounded",
                                 options={"xatol": 1e-9}).x)


def ref_alarm(reference_correct, current_correct, z_alarm):
    r, c = np.asarray(reference_correct, float), np.asarray(current_correct, float)
    p = (r.sum() + c.sum()) / (r.size + c.size)
    if p in (0.0, 1.0):
        return False
    z = (c.mean() - r.mean()) / math.sqrt(p * (1 - p) * (1 / r.size + 1 / c.size))
    return bool(z < -z_alarm)


def ref_threshold(conf, correct, target):
    conf, correct = np.asarray(conf), np.asarray(correct, bool)
    candidates = sorted(set(conf.tolist()))
    for t in candidates:                                   # lowest first
        if np.mean(~correct[conf >= t]) <= target:
            return t
    raise AssertionError("no threshold meets the target")


# ---------------------------------------------------------------- plausible slips


def ece_unweighted(conf, correct, n_bins):
    conf, right = np.asarray(conf, float), np.asarray(correct, float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    gaps = [abs(right[bins == b].mean() - conf[bins == b].mean())
            for b in range(n_bins) if (bins == b).any()]
    return float(np.mean(gaps))


def ece_signed(conf, correct, n_bins):
    conf, right = np.asarray(conf, float), np.asarray(correct, float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return float(sum((bins == b).mean() * (right[bins == b].mean() - conf[bins == b].mean())
                     for b in range(n_bins) if (bins == b).any()))


def ece_drops_one(conf, correct, n_bins):
    conf, right = np.asarray(conf, float), np.asarray(correct, float)
    bins = (conf * n_bins).astype(int)                     # 1.0 lands in bin n_bins
    return float(sum((bins == b).mean() * abs(right[bins == b].mean() - conf[bins == b].mean())
                     for b in range(n_bins) if (bins == b).any()))


def ece_max(conf, correct, n_bins):
    conf, right = np.asarray(conf, float), np.asarray(correct, float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return float(max(abs(right[bins == b].mean() - conf[bins == b].mean())
                     for b in range(n_bins) if (bins == b).any()))


def temperature_multiplied(logits, labels):
    return 1 / ref_temperature(logits, labels)


def temperature_naive_softmax(logits, labels):
    z, y = np.asarray(logits, float), np.asarray(labels)

    def nll(log_t):
        with np.errstate(all="ignore"):
            e = np.exp(z / np.exp(log_t))
            p = e / e.sum(axis=1, keepdims=True)
            return -np.log(p[np.arange(len(y)), y]).mean()

    return float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x))


def temperature_at_most_one(logits, labels):
    return min(ref_temperature(logits, labels), 1.0)


def alarm_two_sided(ref, cur, z_alarm):
    r, c = np.asarray(ref, float), np.asarray(cur, float)
    p = (r.sum() + c.sum()) / (r.size + c.size)
    if p in (0.0, 1.0):
        return False
    return bool(abs((c.mean() - r.mean()) / math.sqrt(p * (1 - p) * (1 / r.size + 1 / c.size)))
                > z_alarm)


def alarm_current_only(ref, cur, z_alarm):
    r, c = np.asarray(ref, float), np.asarray(cur, float)
    p = (r.sum() + c.sum()) / (r.size + c.size)
    if p in (0.0, 1.0):
        return False
    return bool((c.mean() - r.mean()) / math.sqrt(p * (1 - p) / c.size) < -z_alarm)


def alarm_any_drop(ref, cur, z_alarm):
    return bool(np.mean(cur) < np.mean(ref))


def alarm_fixed_level(ref, cur, z_alarm):
    return ref_alarm(ref, cur, 3.0)


def not_implemented(*args):
    raise NotImplementedError("write it")


# ---------------------------------------------------------------- run data


@pytest.fixture
def predictions():
    """Overconfident predictions: confidence c is right with probability c**1.5."""
    rng = np.random.default_rng(11)
    conf = rng.uniform(0.05, 1.0, 2000)
    return conf, rng.random(conf.size) < conf ** 1.5


@pytest.fixture
def logits_run():
    rng = np.random.default_rng(12)
    true = rng.normal(size=(600, 6))
    y = np.array([rng.choice(6, p=np.exp(r) / np.exp(r).sum()) for r in true])
    return 1.8 * true, y


@pytest.fixture
def weeks():
    rng = np.random.default_rng(13)
    reference = rng.random(3000) < 0.32
    by_week = {3: rng.random(3000) < 0.33, 4: rng.random(3000) < 0.27,
               5: rng.random(3000) < 0.30, 6: rng.random(3000) < 0.22}
    return reference, by_week


def assert_no_leak(message, values):
    for v in values:
        for text in (f"{v:.4g}", f"{v:.3f}", repr(float(v))):
            if len(text.rstrip("0").rstrip(".")) > 3:
                assert text not in message, f"message reveals a hidden value {text}: {message}"


def recorded(tmp_path, task):
    return json.loads((tmp_path / f"{task}.json").read_text())["values"]


def decided(tmp_path, task, name):
    """The decision a check recorded, and the answers it accepts."""
    saved = recorded(tmp_path, task)[name]
    return saved["decision"]["array"], saved["accepted"]["array"]


# ---------------------------------------------------------------- expected calibration error


def test_ece_passes_the_reference(predictions, capsys):
    lab11.expected_calibration_error(ref_ece, *predictions)
    assert "[ok] expected_calibration_error" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (ece_unweighted, "plain mean of the non-empty bins"),
    (ece_signed, "must be absolute values"),
    (ece_drops_one, "confidence 1.0 were left out"),
    (ece_max, "largest gap"),
    (lambda c, r, n: [ref_ece(c, r, n)], "single number"),
    (not_implemented, "not implemented yet"),
])
def test_ece_catches_slips(predictions, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab11.expected_calibration_error(wrong, *predictions)
    message = str(info.value)
    assert message.startswith("expected_calibration_error:") and words in message
    assert_no_leak(message, [ref_ece(*predictions, n) for n in lab11.ECE_BINS])


def test_ece_catches_a_slip_only_visible_on_run_data(predictions):
    def off_on_big_inputs(c, r, n):
        return ref_ece(c, r, n) * (1.0 if len(c) < 10 else 1.05)

    with pytest.raises(AssertionError, match="on this run's data") as info:
        lab11.expected_calibration_error(off_on_big_inputs, *predictions)
    assert_no_leak(str(info.value), [ref_ece(*predictions, n) for n in lab11.ECE_BINS])


def test_ece_rejects_bad_run_data():
    with pytest.raises(AssertionError, match="between 0 and 1"):
        lab11.expected_calibration_error(ref_ece, [0.5, 1.5], [True, False])
    with pytest.raises(AssertionError, match="equal length"):
        lab11.expected_calibration_error(ref_ece, [0.5, 0.6], [True])
    with pytest.raises(AssertionError, match="True/False"):
        lab11.expected_calibration_error(ref_ece, [0.5, 0.6], [2, 0])


# ---------------------------------------------------------------- temperature


def test_temperature_passes_the_reference(logits_run, capsys):
    lab11.fit_temperature(ref_temperature, *logits_run)
    assert "[ok] fit_temperature" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (temperature_multiplied, "that is 1/T"),
    (temperature_naive_softmax, "log-sum-exp"),
    (temperature_at_most_one, "the answer is 2"),
    (lambda z, y: 1.0, "minimise the negative log-likelihood"),
    (lambda z, y: "warm", "single number"),
    (not_implemented, "not implemented yet"),
])
def test_temperature_catches_slips(logits_run, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab11.fit_temperature(wrong, *logits_run)
    message = str(info.value)
    assert message.startswith("fit_temperature:") and words in message
    assert_no_leak(message, [ref_temperature(*logits_run)])


def test_temperature_catches_a_minimum_missed_on_run_data(logits_run):
    def off_on_big_inputs(z, y):
        return ref_temperature(z, y) * (1.0 if len(y) < 20 else 1.1)

    with pytest.raises(AssertionError, match="1% away from yours") as info:
        lab11.fit_temperature(off_on_big_inputs, *logits_run)
    assert_no_leak(str(info.value), [ref_temperature(*logits_run)])


def test_temperature_rejects_bad_run_data():
    with pytest.raises(AssertionError, match="column indices"):
        lab11.fit_temperature(ref_temperature, np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(AssertionError, match="one row per case"):
        lab11.fit_temperature(ref_temperature, np.zeros(3), [0, 1, 1])


# ---------------------------------------------------------------- abstention threshold


def test_threshold_accepts_the_right_threshold_and_its_interval(predictions, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    conf, correct = predictions
    best = ref_threshold(conf, correct, 0.3)
    below = conf[conf < best].max()
    lab11.confidence_threshold(best, conf, correct, 0.3)
    lab11.confidence_threshold((best + below) / 2, conf, correct, 0.3)   # same cases
    assert capsys.readouterr().out.count("[ok] confidence_threshold") == 2
    assert decided(tmp_path, "confidence_threshold", "threshold_offset") == (0.0, [0.0])


@pytest.mark.parametrize("target", [0.2, 0.3, 0.45])
def test_threshold_catches_slips(predictions, target, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    conf, correct = predictions
    best = ref_threshold(conf, correct, target)
    rng = np.random.default_rng(3)
    other_conf = rng.uniform(0.05, 1.0, 2000)             # another week's data
    on_other_data = ref_threshold(other_conf, rng.random(2000) < other_conf ** 1.5, target)
    all_cases = min(t for t in np.unique(conf)
                    if np.sum(~correct[conf >= t]) / conf.size <= target)
    slips = {
        "a lower one would too": [conf.max(), 1 - target, best + 1e-6],
        "above the target": [conf[conf < best].max(), all_cases],
    }
    if not math.isclose(on_other_data, best):
        words = "above the target" if on_other_data < best else "a lower one would too"
        slips[words].append(on_other_data)
    for words, values in slips.items():
        for value in values:
            with pytest.raises(AssertionError, match=words):
                lab11.confidence_threshold(value, conf, correct, target)
            offset, _ = decided(tmp_path, "confidence_threshold", "threshold_offset")
            assert offset != 0.0


@pytest.mark.parametrize(("value", "words"), [
    ("high", "single number"), ([0.5], "single number"), (1.5, "between 0 and 1"),
    (1.01, "between 0 and 1"),
])
def test_threshold_rejects_bad_answers(predictions, value, words):
    with pytest.raises(AssertionError, match=words):
        lab11.confidence_threshold(value, *predictions, 0.3)


def test_threshold_says_when_nothing_is_answered():
    with pytest.raises(AssertionError, match="answers no validation case"):
        lab11.confidence_threshold(0.99, [0.2, 0.9], [False, True], 0.5)


# ---------------------------------------------------------------- accuracy alarm


def test_alarm_passes_the_reference(weeks, capsys):
    lab11.accuracy_alarm(ref_alarm, *weeks)
    assert "[ok] accuracy_alarm" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (alarm_two_sided, "because the model got better"),
    (alarm_current_only, "1/n_ref + 1/n_now"),
    (alarm_any_drop, "within the noise"),
    (alarm_fixed_level, "use the z_alarm you are given"),
    (lambda r, c, z: float(ref_alarm(r, c, z)), "True or False"),
    (not_implemented, "not implemented yet"),
])
def test_alarm_catches_slips(weeks, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab11.accuracy_alarm(wrong, *weeks)
    message = str(info.value)
    assert message.startswith("accuracy_alarm:") and words in message


def test_alarm_catches_a_slip_only_visible_on_run_data(weeks):
    def silent_on_big_inputs(r, c, z):
        return ref_alarm(r, c, z) if len(c) < 2000 else False

    with pytest.raises(AssertionError, match="on this run's data, period 4 .* stayed silent"):
        lab11.accuracy_alarm(silent_on_big_inputs, *weeks)


def test_alarm_records_each_period(weeks, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    reference, by_week = weeks
    lab11.accuracy_alarm(ref_alarm, reference, by_week)
    saved = recorded(tmp_path, "accuracy_alarm")
    assert saved["periods"]["array"] == ["3", "4", "5", "6"]
    assert saved["alarm_z3"]["array"] == [float(ref_alarm(reference, c, 3.0))
                                          for c in by_week.values()]
    assert saved["alarm_z3"]["array"] != [0.0] * 4 != saved["alarm_z2"]["array"]


def test_alarm_rejects_a_bad_mapping():
    with pytest.raises(AssertionError, match="mapping"):
        lab11.accuracy_alarm(ref_alarm, [True, False], [[True, False]])


# ---------------------------------------------------------------- retraining policy


def policy_table(triggered_after=0.271, periodic_after=0.275, online_after=0.262,
                 triggered_retrains=2, triggered_new=641):
    return pd.DataFrame({
        lab11.AFTER: [0.242, periodic_after, triggered_after, online_after],
        lab11.RETRAINS: [0, 5, triggered_retrains, 0],
        lab11.NEW_APP_HITS: [0, 760, triggered_new, 0]},
        index=["never", "periodic", "triggered", "online"])


def test_policy_accepts_the_right_policy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab11.retraining_policy("triggered", policy_table(), 0.01)
    lab11.retraining_policy(" Periodic ", policy_table(triggered_after=0.26), 0.01)
    assert capsys.readouterr().out.count("[ok] retraining_policy") == 2
    assert decided(tmp_path, "retraining_policy", "policy_is_right") == (1.0, [1.0])


@pytest.mark.parametrize(("value", "table", "words"), [
    ("online", policy_table(online_after=0.274), "never predicted a new app right"),
    ("never", policy_table(), "never predicted a new app right"),
    ("periodic", policy_table(), "fewer full retrains"),
    ("triggered", policy_table(triggered_after=0.26), "more than the tolerance below"),
    ("sometimes", policy_table(), "answer with one of"),
    (3, policy_table(), "answer with one of"),
])
def test_policy_catches_slips(value, table, words, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError, match=words):
        lab11.retraining_policy(value, table, 0.01)
    assert decided(tmp_path, "retraining_policy", "policy_is_right")[0] == 0.0


def test_policy_breaks_ties_on_retrains_by_accuracy(capsys):
    table = policy_table(triggered_retrains=5, triggered_after=0.274)
    lab11.retraining_policy("periodic", table, 0.01)
    with pytest.raises(AssertionError, match="as few, and more accurately"):
        lab11.retraining_policy("triggered", table, 0.01)


def test_policy_rejects_a_bad_table():
    with pytest.raises(AssertionError, match="policy table"):
        lab11.retraining_policy("never", pd.DataFrame({"x": [1]}), 0.01)
    with pytest.raises(AssertionError, match="no policy in the table"):
        lab11.retraining_policy("never", policy_table(triggered_new=0).assign(
            **{lab11.NEW_APP_HITS: 0}), 0.01)
