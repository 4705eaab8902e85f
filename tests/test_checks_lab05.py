"""Tests of labkit.checks.lab05: the checks pass correct answers and catch plausible slips.

The answers below are test oracles written independently of the solution notebook (the
slipped variants too); labkit itself ships only the reference implementations in
labkit.labels.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit import labels
from labkit.checks import RESULTS_ENV, lab05

# ---------------------------------------------------------------- oracles and slips


def ref_fleiss(counts):
    c = np.asarray(counts, dtype=float)
    n = c.sum(axis=1)[0]
    p_i = ((c ** 2).sum(axis=1) - n) / (n * (n - 1))
    p_j = c.sum(axis=0) / c.sum()
    return float((p_i.mean() - (p_j ** 2).sum()) / (1 - (p_j ** 2).sum()))


def fleiss_uniform(counts):
    c = np.asarray(counts, dtype=float)
    n = c.sum(axis=1)[0]
    p_bar = (((c ** 2).sum(axis=1) - n) / (n * (n - 1))).mean()
    chance = 1 / c.shape[1]
    return float((p_bar - chance) / (1 - chance))


def fleiss_squares(counts):
    c = np.asarray(counts, dtype=float)
    n = c.sum(axis=1)[0]
    p_bar = ((c ** 2).sum(axis=1) / n ** 2).mean()
    chance = ((c.sum(axis=0) / c.sum()) ** 2).sum()
    return float((p_bar - chance) / (1 - chance))


def fleiss_uncorrected(counts):
    c = np.asarray(counts, dtype=float)
    n = c.sum(axis=1)[0]
    return float((((c ** 2).sum(axis=1) - n) / (n * (n - 1))).mean())


def ds_variant(labels_, n_classes, n_iter=50, smoothing=0.01, *, prior=True, axis=1,
               missing_as_class=False):
    """Dawid-Skene written from the lab's description, with switches for the slips."""
    lab = np.asarray(labels_)
    n, n_annotators = lab.shape
    seen = lab >= (-1 if missing_as_class else 0)
    T = np.zeros((n, n_classes))
    for a in range(n_annotators):
        T[seen[:, a], lab[seen[:, a], a]] += 1
    T /= T.sum(axis=1, keepdims=True)
    for _ in range(n_iter):
        log_t = np.tile(np.log(T.mean(axis=0)), (n, 1)) if prior else np.zeros((n, n_classes))
        for a in range(n_annotators):
            rows = seen[:, a]
            counts = T[rows].T @ np.eye(n_classes)[lab[rows, a]] + smoothing
            pi = counts / counts.sum(axis=axis, keepdims=True)
            log_t[rows] += np.log(pi[:, lab[rows, a]]).T
        T = np.exp(log_t - log_t.max(axis=1, keepdims=True))
        T /= T.sum(axis=1, keepdims=True)
    return T


def ref_ds(labels_, n_classes, n_iter=50, smoothing=0.01):
    return ds_variant(labels_, n_classes, n_iter, smoothing)


def ds_no_prior(labels_, n_classes, n_iter=50, smoothing=0.01):
    return ds_variant(labels_, n_classes, n_iter, smoothing, prior=False)


def ds_by_column(labels_, n_classes, n_iter=50, smoothing=0.01):
    return ds_variant(labels_, n_classes, n_iter, smoothing, axis=0)


def ds_missing_as_class(labels_, n_classes, n_iter=50, smoothing=0.01):
    return ds_variant(labels_, n_classes, n_iter, smoothing, missing_as_class=True)


def ds_hard_labels(labels_, n_classes, n_iter=50, smoothing=0.01):
    """Returns one-hot argmax rows instead of probabilities."""
    return np.eye(n_classes)[ref_ds(labels_, n_classes, n_iter, smoothing).argmax(axis=1)]


def ref_ipw(rankings, clicked_slot, examine_prob, n_items):
    r, s = np.asarray(rankings), np.asarray(clicked_slot)
    e = np.asarray(examine_prob, dtype=float)
    out = np.zeros(n_items)
    for row, slot in zip(r, s, strict=True):
        if slot >= 0:
            out[row[slot]] += 1 / e[slot]
    return out / np.bincount(r.ravel(), minlength=n_items)


def ipw_naive(rankings, clicked_slot, examine_prob, n_items):
    return ref_ipw(rankings, clicked_slot, np.ones(len(examine_prob)), n_items)


def ipw_per_session(rankings, clicked_slot, examine_prob, n_items):
    shown = np.bincount(np.asarray(rankings).ravel(), minlength=n_items)
    return ref_ipw(rankings, clicked_slot, examine_prob, n_items) * shown / len(rankings)


def ipw_times_e(rankings, clicked_slot, examine_prob, n_items):
    return ref_ipw(rankings, clicked_slot, 1 / np.asarray(examine_prob, dtype=float), n_items)


def not_implemented(*args, **kwargs):
    raise NotImplementedError("write it")


# ---------------------------------------------------------------- run data


@pytest.fixture(scope="module")
def crowd():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 400)
    conf = np.stack([labels.annotator_confusion(a, 4, partner=[1, 0, 3, 2], systematic=0.5)
                     for a in (0.9, 0.7, 0.55, 0.25)])
    full = labels.simulate_annotators(y, conf, random_state=rng)
    return full, labels.assign_annotators(full, 2, random_state=6)


@pytest.fixture(scope="module")
def clicks():
    rng = np.random.default_rng(8)
    exam = np.array([0.9, 0.4, 0.15])
    rows = labels.plackett_luce_rankings([1.0, 0.5, 0.0, -0.5, -1.0], 3000, 3,
                                         random_state=rng)
    log = labels.simulate_clicks(np.array([0.3, 0.25, 0.2, 0.15, 0.1]), rows, exam,
                                 random_state=rng)
    return rows, log["slot"].to_numpy(), exam, 5


def assert_no_leak(message, values):
    for v in np.ravel(values):
        for text in (f"{v:.4g}", f"{v:.3f}", repr(float(v))):
            if len(text.rstrip("0").rstrip(".")) > 3:
                assert text not in message, f"message reveals a hidden value {text}: {message}"


# ---------------------------------------------------------------- Fleiss' kappa


def test_fleiss_passes_the_oracle_and_the_reference(crowd, capsys):
    full, _ = crowd
    counts = labels.label_counts(full, 4)
    lab05.fleiss_kappa(ref_fleiss, counts)
    lab05.fleiss_kappa(labels.fleiss_kappa, counts)
    assert capsys.readouterr().out.count("[ok] fleiss_kappa") == 2


@pytest.mark.parametrize(("wrong", "words"), [
    (fleiss_uniform, "1/(number of categories)"),
    (fleiss_squares, "agreeing *pairs*"),
    (fleiss_uncorrected, "observed agreement"),
    (lambda c: [ref_fleiss(c)], "your function returned"),
])
def test_fleiss_catches_slips_on_the_worked_example(crowd, wrong, words):
    counts = labels.label_counts(crowd[0], 4)
    with pytest.raises(AssertionError) as info:
        lab05.fleiss_kappa(wrong, counts)
    message = str(info.value)
    assert message.startswith("fleiss_kappa: for counts=[[3, 0], [3, 0], [2, 1], [1, 2]]")
    assert words in message
    assert_no_leak(message, [ref_fleiss(counts)])


def test_fleiss_catches_a_slip_only_visible_on_run_data(crowd):
    counts = labels.label_counts(crowd[0], 4)

    def off_on_big_tables(c):
        return ref_fleiss(c) + (0.01 if len(c) > 10 else 0.0)

    with pytest.raises(AssertionError, match="on this run's counts") as info:
        lab05.fleiss_kappa(off_on_big_tables, counts)
    assert_no_leak(str(info.value), [ref_fleiss(counts)])


def test_fleiss_check_rejects_unequal_raters_and_stubs(crowd):
    with pytest.raises(AssertionError, match="same number of raters"):
        lab05.fleiss_kappa(ref_fleiss, [[2, 1], [1, 1]])
    with pytest.raises(AssertionError, match="item-by-category counts"):
        lab05.fleiss_kappa(ref_fleiss, [1, 2, 3])
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab05.fleiss_kappa(not_implemented, labels.label_counts(crowd[0], 4))


# ---------------------------------------------------------------- Dawid-Skene


def test_the_worked_examples_match_the_reference_and_the_slips_their_variants():
    """The numbers stored in the checks module are what the code gives."""
    for example in lab05.DS_EXAMPLES:
        got = labels.dawid_skene(*example.args, **example.kwargs)
        assert np.allclose(got, np.array(example.want, dtype=float), atol=1e-9), example.shown
        assert np.allclose(ref_ds(*example.args, **example.kwargs), got, atol=1e-12)
    e0, _, e4, _ = lab05.DS_EXAMPLES
    variants = {ds_no_prior: "prior", ds_by_column: "rows that sum to 1",
                ds_missing_as_class: "missing label"}
    for wrong, slip in zip(variants, e4.slips, strict=True):
        assert np.allclose(wrong(*e4.args, **e4.kwargs), np.array(slip), atol=1e-9)
        assert variants[wrong] in e4.slips[slip]
    (wrong0,) = e0.slips
    assert np.allclose(ds_missing_as_class(*e0.args, **e0.kwargs), np.array(wrong0))


def test_dawid_skene_passes_the_oracle_and_the_reference(crowd, capsys):
    _, lab = crowd
    lab05.dawid_skene(ref_ds, lab, 4)
    lab05.dawid_skene(labels.dawid_skene, lab, 4)
    assert capsys.readouterr().out.count("[ok] dawid_skene") == 2


@pytest.mark.parametrize(("wrong", "words"), [
    (ds_no_prior, "prior seems to be missing"),
    (ds_by_column, "normalised by column"),
    (ds_missing_as_class, "skip the -1 entries"),
    (ds_hard_labels, "your function returned"),
    (lambda lab, k, n_iter=50, smoothing=0.01: ref_ds(lab, k, n_iter, smoothing)[:, :1],
     "shape (n_items, n_classes)"),
])
def test_dawid_skene_catches_slips(crowd, wrong, words):
    _, lab = crowd
    with pytest.raises(AssertionError) as info:
        lab05.dawid_skene(wrong, lab, 4)
    message = str(info.value)
    assert message.startswith("dawid_skene:")
    assert words in message


def test_dawid_skene_catches_a_fixed_iteration_count_on_run_data(crowd):
    _, lab = crowd

    def always_three_iterations(lab_, k, n_iter=50, smoothing=0.01):
        return ref_ds(lab_, k, n_iter if len(lab_) < 10 else 3, smoothing)

    with pytest.raises(AssertionError, match="differ from the reference"):
        lab05.dawid_skene(always_three_iterations, lab, 4)


def test_dawid_skene_catches_an_annotator_order_dependence(crowd):
    _, lab = crowd

    def first_column_counts_double(lab_, k, n_iter=50, smoothing=0.01):
        lab_ = np.asarray(lab_)
        return ref_ds(np.column_stack([lab_, lab_[:, :1]]) if len(lab_) > 10 else lab_, k,
                      n_iter, smoothing)

    with pytest.raises(AssertionError):
        lab05.dawid_skene(first_column_counts_double, lab, 4)


def test_dawid_skene_check_rejects_bad_run_data():
    with pytest.raises(AssertionError, match="every item needs a label"):
        lab05.dawid_skene(ref_ds, np.array([[0, 1], [-1, -1]]), 2)
    with pytest.raises(AssertionError, match="label matrix"):
        lab05.dawid_skene(ref_ds, np.array([0.5, 1.0]), 2)
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab05.dawid_skene(not_implemented, np.array([[0, 1], [1, 1]]), 2)


# ---------------------------------------------------------------- the annotation budget


@pytest.fixture
def budget():
    return pd.DataFrame({"majority vote (pilot)": [0.6, 0.7, 0.8, 0.86, 0.9],
                         "Dawid-Skene (pilot)": [0.6, 0.8, 0.87, 0.92, 0.95]},
                        index=pd.Index([1, 2, 3, 4, 5], name="annotators per item"))


def test_budget_decision_records_the_smallest_sufficient_number(budget, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab05.annotators_per_item(np.int64(3), budget, 0.85)
    assert "[ok] annotators_per_item" in capsys.readouterr().out
    saved = json.loads((tmp_path / "annotators_per_item.json").read_text())["values"]
    assert saved["annotators"]["decision"]["array"] == 3
    assert saved["annotators"]["accepted"]["array"] == [3]


@pytest.mark.parametrize(("value", "words"), [
    (4, "fewer already do"),                   # read from majority vote
    (5, "fewer already do"),                   # the most accurate
    (2, "stay below the target"),
    (2.5, "whole number"),
    (float("nan"), "whole number"),
    ("three", "whole number"),
])
def test_budget_decision_catches_slips(budget, value, words):
    with pytest.raises(AssertionError, match=words):
        lab05.annotators_per_item(value, budget, 0.85)


def test_budget_decision_needs_a_reachable_target(budget):
    with pytest.raises(AssertionError, match="no number of annotators"):
        lab05.annotators_per_item(5, budget, 0.99)
    with pytest.raises(AssertionError, match="budget table"):
        lab05.annotators_per_item(3, budget.rename(columns=str.upper), 0.85)


# ---------------------------------------------------------------- labeling function


@pytest.fixture(scope="module")
def tumours():
    from labkit.datasets import load_breast_cancer_frame

    X, y = load_breast_cancer_frame()
    X_pool, X_dev, y_dev = X.iloc[:400], X.iloc[400:460], y.to_numpy()[400:460]
    given = labels.apply_labeling_functions(
        {"large": lambda X: np.where(X["worst radius"] > 17, 1, -1)}, X_pool)
    return X_pool, X_dev, y_dev, given


def good_rule(X):
    return np.where(X["worst concavity"] < 0.15, 0, -1)


def test_labeling_function_passes_a_good_rule(tumours, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab05.labeling_function(good_rule, *tumours)
    assert "[ok] labeling_function" in capsys.readouterr().out
    saved = json.loads((tmp_path / "labeling_function.json").read_text())["values"]
    assert saved == {"covers_enough": True, "accurate_enough": True, "new": True}


@pytest.mark.parametrize(("rule", "words"), [
    (lambda X: np.where(X["worst concavity"] < 0.15, 1, -1), "which class the rule should"),
    (lambda X: np.where(X["worst concavity"] > 0.15, 0, -1), "which class the rule should"),
    (lambda X: np.where(X["worst concavity"] < 0.001, 0, -1), "less than 10%"),
    (lambda X: np.where(X["worst radius"] > 17, 1, -1), "exactly like one of the given"),
    (lambda X: np.where(X["worst concavity"] < 0.15, "benign", "none"), "votes must be"),
    (lambda X: np.zeros(3), "one vote per row"),
    (lambda X: X["no such column"], "raised KeyError"),
])
def test_labeling_function_catches_slips(tumours, rule, words):
    with pytest.raises(AssertionError, match=words):
        lab05.labeling_function(rule, *tumours)


# ---------------------------------------------------------------- learning-curve decision


@pytest.fixture
def curves():
    return pd.DataFrame({"simple": [0.53, 0.68, 0.83, 0.89, 0.92, 0.948, 0.955],
                         "big": [0.34, 0.52, 0.79, 0.91, 0.951, 0.976, 0.983]},
                        index=pd.Index([15, 30, 60, 120, 240, 480, 960], name="size"))


def test_big_model_decision_records_the_crossing(curves, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab05.big_model_from(120, curves, "simple", "big")
    assert "[ok] big_model_from" in capsys.readouterr().out
    saved = json.loads((tmp_path / "big_model_from.json").read_text())["values"]["size"]
    assert saved["decision"]["array"] == 120 and saved["accepted"]["array"] == [120]


def test_big_model_decision_needs_the_lead_to_last(curves):
    curves.loc[240, "big"] = 0.9      # ahead at 120, behind at 240, ahead again from 480
    lab05.big_model_from(480, curves, "simple", "big")
    with pytest.raises(AssertionError, match="not ahead of the simple one"):
        lab05.big_model_from(120, curves, "simple", "big")


@pytest.mark.parametrize(("value", "words"), [
    (960, "already from a smaller size"),      # the largest lead
    (480, "already from a smaller size"),
    (60, "not ahead of the simple one"),
    (15, "not ahead of the simple one"),       # reversed comparison
    (float("nan"), "one of the training sizes"),
    (100, "one of the training sizes"),
])
def test_big_model_decision_catches_slips(curves, value, words):
    with pytest.raises(AssertionError, match=words):
        lab05.big_model_from(value, curves, "simple", "big")


def test_big_model_decision_needs_a_big_model_that_wins(curves):
    with pytest.raises(AssertionError, match="never pays off"):
        lab05.big_model_from(120, curves.rename(columns={"simple": "big", "big": "simple"}),
                             "simple", "big")


# ---------------------------------------------------------------- IPW


def test_ipw_passes_the_oracle_and_the_reference(clicks, capsys):
    lab05.ipw_preference(ref_ipw, *clicks)
    lab05.ipw_preference(labels.inverse_propensity_rate, *clicks)
    assert capsys.readouterr().out.count("[ok] ipw_preference") == 2


@pytest.mark.parametrize(("wrong", "words"), [
    (ipw_naive, "plain click-through rate"),
    (ipw_per_session, "number of times each item"),
    (ipw_times_e, "not examine_prob"),
    (lambda r, s, e, n: ref_ipw(r, s, e, n)[:-1], "your function returned"),
])
def test_ipw_catches_slips(clicks, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab05.ipw_preference(wrong, *clicks)
    message = str(info.value)
    assert message.startswith("ipw_preference: for the lab's worked example")
    assert words in message
    assert_no_leak(message, ref_ipw(*clicks))


def test_ipw_catches_a_slip_only_visible_on_run_data(clicks):
    def clipped(r, s, e, n):
        out = ref_ipw(r, s, e, n)
        return np.minimum(out, 0.2) if len(r) > 10 else out

    with pytest.raises(AssertionError, match="on this run's log") as info:
        lab05.ipw_preference(clipped, *clicks)
    assert_no_leak(str(info.value), ref_ipw(*clicks))


def test_ipw_records_the_estimate(clicks, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab05.ipw_preference(ref_ipw, *clicks)
    saved = json.loads((tmp_path / "ipw_preference.json").read_text())["values"]
    assert saved["preference"]["array"] == pytest.approx(ref_ipw(*clicks).tolist())


def test_ipw_check_rejects_a_log_that_hides_an_item():
    with pytest.raises(AssertionError, match="shown at least once"):
        lab05.ipw_preference(ref_ipw, [[0, 1]], [0], [1.0, 0.5], 3)
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab05.ipw_preference(not_implemented, [[0, 1]], [0], [1.0, 0.5], 2)
