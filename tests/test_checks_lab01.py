"""Tests of labkit.checks.lab01: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook; labkit itself never ships them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit.checks import RESULTS_ENV, lab01

# ---------------------------------------------------------------- reference answers


def ref_expected_cost(y_true, scores, threshold, cost_fn, cost_fp):
    y = np.asarray(y_true)
    flagged = np.asarray(scores) >= threshold
    fn = np.sum((y == 1) & ~flagged)
    fp = np.sum((y == 0) & flagged)
    return float((cost_fn * fn + cost_fp * fp) / len(y))


def ref_highest_threshold(y_true, scores, target_recall):
    pos = np.sort(np.asarray(scores)[np.asarray(y_true) == 1])[::-1]
    for i, score in enumerate(pos, start=1):
        if i / len(pos) >= target_recall:
            return float(score)
    raise AssertionError("unreachable for 0 < target_recall <= 1")


def ref_top_k(y_true, proba, k):
    ranked = np.argsort(-np.asarray(proba), axis=1)[:, :k]
    return float(np.mean(np.any(ranked == np.asarray(y_true)[:, None], axis=1)))


# ---------------------------------------------------------------- plausible slips


def cost_total(y, s, t, cfn, cfp):
    return ref_expected_cost(y, s, t, cfn, cfp) * len(y)


def cost_swapped(y, s, t, cfn, cfp):
    return ref_expected_cost(y, s, t, cfp, cfn)


def cost_strict(y, s, t, cfn, cfp):
    return ref_expected_cost(y, s, np.nextafter(t, np.inf), cfn, cfp)


def cost_reversed(y, s, t, cfn, cfp):
    return ref_expected_cost(y, -np.asarray(s, dtype=float), -t, cfn, cfp)


def cost_array(y, s, t, cfn, cfp):
    y = np.asarray(y)
    flagged = np.asarray(s) >= t
    return cfn * ((y == 1) & ~flagged) + cfp * ((y == 0) & flagged)


def cost_fp_rate(y, s, t, cfn, cfp):
    """Normalises each error by its class size instead of by all cases."""
    y = np.asarray(y)
    flagged = np.asarray(s) >= t
    return float(cfn * np.mean(~flagged[y == 1]) + cfp * np.mean(flagged[y == 0]))


def recall_one_lower(y, s, target):
    pos = np.sort(np.asarray(s)[np.asarray(y) == 1])[::-1]
    i = int(np.argmax(np.arange(1, len(pos) + 1) / len(pos) >= target))
    return float(pos[min(i + 1, len(pos) - 1)])


def recall_strict(y, s, target):
    """Highest score t with recall(scores > t) >= target: the '>' slip."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    for t in np.sort(np.unique(s))[::-1]:
        if np.mean(s[y == 1] > t) >= target:
            return float(t)
    return float(s.min())


def recall_lowest(y, s, target):
    return float(np.min(np.asarray(s)[np.asarray(y) == 1]))


def recall_midpoint(y, s, target):
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    t = ref_highest_threshold(y, s, target)
    below = s[s < t]
    return float((t + below.max()) / 2) if below.size else t


def topk_ascending(y, p, k):
    ranked = np.argsort(np.asarray(p), axis=1)[:, :k]
    return float(np.mean(np.any(ranked == np.asarray(y)[:, None], axis=1)))


def topk_k_minus_one(y, p, k):
    return ref_top_k(y, p, max(k - 1, 1)) if k > 1 else ref_top_k(y, p, k) / 2


def topk_count(y, p, k):
    return ref_top_k(y, p, k) * len(y)


def topk_axis0(y, p, k):
    p = np.asarray(p)
    ranked = np.argsort(-p, axis=0)[:k, :]
    return float(np.mean(np.isin(np.asarray(y), ranked)))


def not_implemented(*args):
    raise NotImplementedError("write it")


# ---------------------------------------------------------------- run data


@pytest.fixture
def binary_run():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 150)
    scores = np.clip(0.35 * y + 0.65 * rng.random(150), 0, 1)
    return y, scores


@pytest.fixture
def multiclass_run():
    rng = np.random.default_rng(11)
    proba = rng.dirichlet(np.ones(8), size=300)
    y = np.array([rng.choice(8, p=row) for row in proba])
    return y, proba


def hidden_values_binary(y, s):
    """What the reference gives on the run data: none of it may appear in a message."""
    values = [ref_expected_cost(y, s, t, fn, fp)
              for t in lab01.COST_GRID for fn, fp in lab01.COST_PAIRS]
    values += [ref_highest_threshold(y, s, r) for r in lab01.RECALL_TARGETS]
    return values


def assert_no_leak(message, values):
    for v in values:
        for text in (f"{v:.4g}", f"{v:.3f}", repr(v), str(round(v, 3))):
            if len(text.rstrip("0").rstrip(".")) > 3:  # "0.5"-like strings are not evidence
                assert text not in message, f"message reveals a hidden value {text}: {message}"


# ---------------------------------------------------------------- expected_cost


def test_expected_cost_passes_reference(binary_run, capsys):
    lab01.expected_cost(ref_expected_cost, *binary_run)
    assert "[ok] expected_cost" in capsys.readouterr().out


def test_expected_cost_accepts_pandas_run_data(binary_run, capsys):
    y, s = binary_run
    lab01.expected_cost(ref_expected_cost, pd.Series(y), pd.Series(s))
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (cost_total, "total cost"),
    (cost_swapped, "swapped"),
    (cost_strict, ">="),
    (cost_reversed, "reversed"),
    (cost_array, "single number"),
    (cost_fp_rate, "divide by the number of cases"),
])
def test_expected_cost_catches_slips(binary_run, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab01.expected_cost(wrong, *binary_run)
    message = str(info.value)
    assert message.startswith("expected_cost:")
    assert words in message
    assert_no_leak(message, hidden_values_binary(*binary_run))


def test_expected_cost_catches_a_slip_only_visible_on_run_data(binary_run):
    def ignores_cost_when_large_input(y, s, t, cfn, cfp):
        value = ref_expected_cost(y, s, t, cfn, cfp)
        return value if len(y) < 10 else value * 1.1

    with pytest.raises(AssertionError, match="on this run's data") as info:
        lab01.expected_cost(ignores_cost_when_large_input, *binary_run)
    assert_no_leak(str(info.value), hidden_values_binary(*binary_run))


def test_stub_says_not_implemented(binary_run, multiclass_run):
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab01.expected_cost(not_implemented, *binary_run)
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab01.highest_threshold_for_recall(not_implemented, *binary_run)
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab01.top_k_accuracy(not_implemented, *multiclass_run)


# ---------------------------------------------------------------- highest threshold


def test_recall_threshold_passes_reference(binary_run, capsys):
    lab01.highest_threshold_for_recall(ref_highest_threshold, *binary_run)
    assert "[ok] highest_threshold_for_recall" in capsys.readouterr().out


def test_recall_threshold_passes_with_tied_scores(capsys):
    y = np.array([1, 1, 1, 0, 0, 1, 0, 1])
    s = np.array([0.5, 0.5, 0.2, 0.5, 0.1, 0.9, 0.9, 0.2])
    lab01.highest_threshold_for_recall(ref_highest_threshold, y, s)
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (recall_one_lower, "higher threshold would still meet"),
    (recall_strict, "higher threshold would still meet"),
    (recall_lowest, "higher threshold would still meet"),
    (recall_midpoint, "higher threshold would still meet"),
    (lambda y, s, r: ref_highest_threshold(y, s, r) + 1e-3, "too high"),
    (lambda y, s, r: [ref_highest_threshold(y, s, r)], "single number"),
])
def test_recall_threshold_catches_slips(binary_run, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab01.highest_threshold_for_recall(wrong, *binary_run)
    message = str(info.value)
    assert message.startswith("highest_threshold_for_recall:")
    assert words in message
    assert_no_leak(message, hidden_values_binary(*binary_run))


def test_recall_threshold_run_data_failures_do_not_leak(binary_run):
    def wrong_on_big_inputs(y, s, r):
        return ref_highest_threshold(y, s, r) if len(y) < 10 else recall_one_lower(y, s, r)

    with pytest.raises(AssertionError, match="on this run's data") as info:
        lab01.highest_threshold_for_recall(wrong_on_big_inputs, *binary_run)
    assert_no_leak(str(info.value), hidden_values_binary(*binary_run))


# ---------------------------------------------------------------- top-k accuracy


def test_top_k_passes_reference(multiclass_run, capsys):
    lab01.top_k_accuracy(ref_top_k, *multiclass_run)
    assert "[ok] top_k_accuracy" in capsys.readouterr().out


def test_top_k_passes_sklearn_and_pandas_labels(multiclass_run, capsys):
    from sklearn.metrics import top_k_accuracy_score

    def via_sklearn(y, p, k):
        n_classes = np.shape(p)[1]
        if k >= n_classes:  # scikit-learn warns that this k is meaningless
            return 1.0
        return top_k_accuracy_score(y, p, k=k, labels=np.arange(n_classes))

    y, p = multiclass_run
    lab01.top_k_accuracy(via_sklearn, pd.Series(y), p)
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (topk_ascending, "most to the least probable"),
    (topk_k_minus_one, "the answer is"),
    (topk_count, "looks like a count"),
    (topk_axis0, "your function returned"),
])
def test_top_k_catches_slips(multiclass_run, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab01.top_k_accuracy(wrong, *multiclass_run)
    message = str(info.value)
    assert message.startswith("top_k_accuracy:")
    assert words in message
    y, p = multiclass_run
    assert_no_leak(message, [ref_top_k(y, p, k) for k in lab01.TOP_KS])


def test_top_k_run_data_failure_does_not_leak(multiclass_run):
    def off_on_big_inputs(y, p, k):
        value = ref_top_k(y, p, k)
        return value if len(y) < 10 else min(1.0, value + 0.01)

    with pytest.raises(AssertionError, match="scikit-learn") as info:
        lab01.top_k_accuracy(off_on_big_inputs, *multiclass_run)
    y, p = multiclass_run
    assert_no_leak(str(info.value), [ref_top_k(y, p, k) for k in lab01.TOP_KS])


def test_top_k_rejects_labels_that_are_not_columns():
    with pytest.raises(AssertionError, match="column indices"):
        lab01.top_k_accuracy(ref_top_k, np.array([0, 5]), np.full((2, 3), 1 / 3))


# ---------------------------------------------------------------- recording


def test_checks_record_run_outputs_for_the_grader(tmp_path, monkeypatch, binary_run,
                                                  multiclass_run, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    y, s = binary_run
    lab01.expected_cost(ref_expected_cost, y, s)
    lab01.highest_threshold_for_recall(ref_highest_threshold, y, s)
    lab01.top_k_accuracy(ref_top_k, *multiclass_run)

    cost = json.loads((tmp_path / "expected_cost.json").read_text())["values"]
    assert cost["cost_fn10_fp1"]["array"] == pytest.approx(
        [ref_expected_cost(y, s, t, 10.0, 1.0) for t in lab01.COST_GRID])
    recall = json.loads((tmp_path / "highest_threshold_for_recall.json").read_text())["values"]
    assert recall["thresholds"]["array"] == pytest.approx(
        [ref_highest_threshold(y, s, r) for r in lab01.RECALL_TARGETS])
    topk = json.loads((tmp_path / "top_k_accuracy.json").read_text())["values"]
    assert topk["accuracy"]["array"] == pytest.approx(
        [ref_top_k(*multiclass_run, k) for k in lab01.TOP_KS])


def test_a_slip_fails_on_the_worked_examples_before_anything_is_recorded(
        tmp_path, monkeypatch, binary_run):
    """Worked examples come first: a slip gets a message about a case the learner can
    work out by hand, and the grader sees a failed self-check."""
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError, match="for y_true=\\[1, 0, 1, 0, 1\\]"):
        lab01.expected_cost(cost_total, *binary_run)
    with pytest.raises(AssertionError, match="single number"):
        lab01.highest_threshold_for_recall(lambda y, s, r: "high", *binary_run)
    assert list(tmp_path.iterdir()) == []


def test_a_crash_on_a_worked_example_names_the_case(binary_run):
    def shape_slip(y, s, t, cfn, cfp):
        return float(np.mean(np.asarray(y) != (np.asarray(s) >= t)[:3]))

    with pytest.raises(AssertionError, match="for y_true=.* your function raised ValueError"):
        lab01.expected_cost(shape_slip, *binary_run)


# ---------------------------------------------------------------- biopsy_threshold


def capacity_threshold(scores, capacity):
    candidates = np.unique(scores)
    shares = np.array([np.mean(scores >= c) for c in candidates])
    return float(candidates[shares <= capacity].min())


@pytest.mark.parametrize("capacity", [0.1, 0.3, 0.55, 1.0])
def test_biopsy_threshold_accepts_every_threshold_that_flags_the_same_cases(
        binary_run, capacity, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    _, s = binary_run
    best = capacity_threshold(s, capacity)
    below = np.unique(s)[np.unique(s) < best]
    lab01.biopsy_threshold(best, s, capacity)
    if below.size:  # halfway to the next lower score flags the same cases
        lab01.biopsy_threshold((best + below.max()) / 2, s, capacity)
    assert capsys.readouterr().out.count("[ok]") == 1 + bool(below.size)
    saved = json.loads((tmp_path / "biopsy_threshold.json").read_text())["values"]["threshold"]
    assert saved["between"]["array"][1] == pytest.approx(best)


@pytest.mark.parametrize("capacity", [0.1, 0.3, 0.55])
def test_biopsy_threshold_catches_over_and_under_capacity(binary_run, capacity):
    _, s = binary_run
    best = capacity_threshold(s, capacity)
    lower = np.unique(s)[np.unique(s) < best].max()
    with pytest.raises(AssertionError, match="more than its capacity"):
        lab01.biopsy_threshold(lower, s, capacity)
    with pytest.raises(AssertionError, match="a lower one would still fit"):
        lab01.biopsy_threshold(best + 1e-3, s, capacity)
    with pytest.raises(AssertionError, match="single number"):
        lab01.biopsy_threshold("high", s, capacity)


def test_check_rejects_mismatched_run_data():
    with pytest.raises(AssertionError, match="equal length"):
        lab01.expected_cost(ref_expected_cost, [0, 1, 1], [0.1, 0.2])
    with pytest.raises(AssertionError, match="0 and 1"):
        lab01.highest_threshold_for_recall(ref_highest_threshold, [0, 2], [0.1, 0.2])
