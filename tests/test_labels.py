"""Tests of labkit.labels: simulated annotators, agreement, aggregation, labeling
functions, learning curves and clicks.

The reference implementations that the lab teaches by hand are compared with
well-kept libraries: Fleiss' kappa with statsmodels, Dawid-Skene with crowd-kit, Cohen's
kappa with scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labkit import labels
from labkit.feedback import position_bias
from labkit.labels import (
    annotator_confusion,
    apply_labeling_functions,
    assign_annotators,
    click_through_rate,
    dawid_skene,
    estimate_confusions,
    fleiss_kappa,
    inverse_propensity_rate,
    label_counts,
    labeling_function_summary,
    learning_curves,
    majority_vote,
    pairwise_cohen_kappa,
    plackett_luce_rankings,
    simulate_annotators,
    simulate_clicks,
)

PARTNER = (6, 7, 3, 8, 9, 6, 5, 1, 3, 4)


def _pool(accuracies, n_classes=10, systematic=0.6):
    partner = PARTNER if n_classes == 10 else [(k + 1) % n_classes for k in range(n_classes)]
    return np.stack([annotator_confusion(a, n_classes, partner=partner, systematic=systematic)
                     for a in accuracies])


@pytest.fixture(scope="module")
def crowd():
    """Mixed-skill labels of 1,500 items, 9 annotators, 3 per item."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 10, 1500)
    conf = _pool([0.95, 0.9, 0.75, 0.65, 0.6, 0.55, 0.5, 0.45, 0.1], systematic=0.6)
    full = simulate_annotators(y, conf, random_state=4)
    return y, conf, full, assign_annotators(full, 3, random_state=5)


# ---------------------------------------------------------------- annotators


@given(acc=st.floats(0, 1), k=st.integers(2, 12), share=st.floats(0, 1))
def test_annotator_confusion_rows_are_distributions(acc, k, share):
    partner = [(c + 1) % k for c in range(k)]
    conf = annotator_confusion(acc, k, partner=partner, systematic=share)
    assert conf.shape == (k, k)
    assert np.allclose(conf.sum(axis=1), 1.0)
    assert np.allclose(np.diag(conf), acc)
    assert np.all(conf >= 0)
    errors = 1 - acc
    assert np.allclose(conf[np.arange(k), partner],
                       errors * share + errors * (1 - share) / (k - 1))


def test_a_spammer_is_uniform():
    assert np.allclose(annotator_confusion(0.25, 4), 0.25)


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"accuracy": 1.2, "n_classes": 3}, ValueError, "accuracy must be <="),
    ({"accuracy": 0.8, "n_classes": 1}, ValueError, "n_classes must be at least 2"),
    ({"accuracy": 0.8, "n_classes": 3, "systematic": 0.5}, ValueError, "needs partner"),
    ({"accuracy": 0.8, "n_classes": 3, "partner": [0, 2, 1], "systematic": 0.5}, ValueError,
     "another class"),
    ({"accuracy": 0.8, "n_classes": 3, "partner": [1, 2]}, ValueError, "one class index"),
    ({"accuracy": "high", "n_classes": 3}, TypeError, "accuracy must be a number"),
])
def test_annotator_confusion_rejects_bad_input(kwargs, error, words):
    with pytest.raises(error, match=words):
        annotator_confusion(**kwargs)


def test_simulated_labels_follow_the_confusion_matrices():
    conf = _pool([0.9, 0.6], n_classes=3, systematic=0.8)
    y = np.repeat([0, 1, 2], 20000)
    drawn = simulate_annotators(y, conf, random_state=0)
    for a in range(2):
        empirical = np.stack([np.bincount(drawn[y == k, a], minlength=3) / 20000
                              for k in range(3)])
        assert np.allclose(empirical, conf[a], atol=0.015)


def test_simulation_is_seeded():
    conf = _pool([0.7, 0.7], n_classes=4)
    y = np.arange(100) % 4
    a = simulate_annotators(y, conf, random_state=1)
    assert np.array_equal(a, simulate_annotators(y, conf, random_state=1))
    assert not np.array_equal(a, simulate_annotators(y, conf, random_state=2))


@pytest.mark.parametrize(("y", "conf", "error", "words"), [
    ([0, 3], np.stack([np.eye(3)]), ValueError, "class indices"),
    ([0, 1], np.full((1, 2, 2), 0.7), ValueError, "sum to 1"),
    ([0, 1], np.eye(2), ValueError, "3-d array"),
    ([0, 1], [["a", "b"], ["c", "d"]], TypeError, "numbers"),
    ([[0, 1]], np.stack([np.eye(2)]), ValueError, "one-dimensional"),
])
def test_simulate_annotators_rejects_bad_input(y, conf, error, words):
    with pytest.raises(error, match=words):
        simulate_annotators(y, conf, random_state=0)


@given(k=st.integers(1, 6), seed=st.integers(0, 1000))
@settings(max_examples=30)
def test_assign_annotators_keeps_k_per_item_nested_in_k_plus_one(k, seed):
    full = np.random.default_rng(seed).integers(0, 4, (50, 6))
    kept = assign_annotators(full, k, random_state=seed)
    more = assign_annotators(full, k + 1, random_state=seed)
    assert np.all((kept >= 0).sum(axis=1) == k)
    assert np.all((kept >= 0) <= (more >= 0))           # the k kept are among the k + 1
    assert np.array_equal(kept[kept >= 0], full[kept >= 0])


def test_assign_annotators_never_invents_a_missing_label():
    full = np.array([[0, -1, -1], [1, 2, -1]])
    kept = assign_annotators(full, 2, random_state=0)
    assert np.array_equal(kept, full)


# ---------------------------------------------------------------- counts and votes


def test_label_counts_match_statsmodels(crowd):
    from statsmodels.stats.inter_rater import aggregate_raters

    _, _, full, _ = crowd
    table, categories = aggregate_raters(full, n_cat=10)
    assert np.array_equal(label_counts(full, 10), table)


def test_majority_vote_ties_and_empty_items():
    votes = [[0, 1, -1], [2, 2, 1], [-1, -1, -1]]
    assert majority_vote(votes, 3).tolist() == [0, 2, -1]     # tie goes to the lower class
    drawn = [majority_vote([[0, 1]], 2, random_state=s)[0] for s in range(400)]
    assert 0.4 < np.mean(drawn) < 0.6                          # seeded ties: either class


def test_majority_vote_never_overturns_a_majority():
    votes = np.array([[3, 3, 1], [0, 2, 2]])
    for seed in range(50):
        assert majority_vote(votes, 4, random_state=seed).tolist() == [3, 2]


@pytest.mark.parametrize(("votes", "error", "words"), [
    ([[0, 5]], ValueError, "n_classes is 3"),
    ([[0, -2]], ValueError, "-1 for a missing"),
    ([0, 1], ValueError, "2-d array"),
    ([["a", "b"]], TypeError, "integer class labels"),
    ([[0.5, 1]], TypeError, "integer class labels"),
])
def test_majority_vote_rejects_bad_labels(votes, error, words):
    with pytest.raises(error, match=words):
        majority_vote(votes, 3)


# ---------------------------------------------------------------- agreement


@given(hnp.arrays(np.int64, st.tuples(st.integers(2, 30), st.integers(2, 6)),
                  elements=st.integers(0, 5)), st.integers(2, 6))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_fleiss_kappa_matches_statsmodels(table, n_raters):
    from statsmodels.stats.inter_rater import fleiss_kappa as reference

    # Give every item exactly n_raters ratings: keep the pattern, rescale the counts.
    rng = np.random.default_rng(int(table.sum()))
    counts = np.stack([rng.multinomial(n_raters, (row + 1) / (row + 1).sum()) for row in table])
    shares = counts.sum(axis=0) / counts.sum()
    if (shares ** 2).sum() >= 1 - 1e-12:
        with pytest.raises(ValueError, match="undefined"):
            fleiss_kappa(counts)
        return
    assert fleiss_kappa(counts) == pytest.approx(reference(counts), rel=1e-9, abs=1e-12)


def test_fleiss_kappa_of_the_labs_worked_example():
    assert fleiss_kappa([[3, 0], [3, 0], [2, 1], [1, 2]]) == pytest.approx(1 / 9)
    assert fleiss_kappa([[2, 0], [0, 2]]) == pytest.approx(1.0)


@pytest.mark.parametrize(("counts", "words"), [
    ([[2, 1], [1, 1]], "same number of raters"),
    ([[1, 0], [0, 1]], "at least 2 raters"),
    ([[3, 0], [3, 0]], "undefined"),
    ([[1.5, 0.5]], "whole numbers"),
    ([[-1, 3]], "non-negative"),
    ([3, 0], "2-d array"),
])
def test_fleiss_kappa_rejects_bad_tables(counts, words):
    with pytest.raises(ValueError, match=words):
        fleiss_kappa(counts)


def test_pairwise_cohen_kappa_matches_sklearn(crowd):
    from sklearn.metrics import cohen_kappa_score

    _, _, full, sparse_labels = crowd
    table = pairwise_cohen_kappa(full[:200, :4], names=list("abcd"))
    assert list(table.columns) == list("abcd")
    assert np.allclose(table.to_numpy(), table.to_numpy().T, equal_nan=True)
    assert table.loc["a", "c"] == pytest.approx(cohen_kappa_score(full[:200, 0], full[:200, 2]))
    # On sparse labels only the items both annotators labelled count.
    sparse = pairwise_cohen_kappa(sparse_labels)
    both = (sparse_labels[:, 0] >= 0) & (sparse_labels[:, 1] >= 0)
    assert sparse.iloc[0, 1] == pytest.approx(
        cohen_kappa_score(sparse_labels[both, 0], sparse_labels[both, 1]))


def test_pairwise_cohen_kappa_is_nan_without_shared_items():
    table = pairwise_cohen_kappa([[0, -1], [-1, 1], [1, -1]])
    assert np.isnan(table.iloc[0, 1])
    with pytest.raises(ValueError, match="one name per annotator"):
        pairwise_cohen_kappa([[0, 1]], names=["only one"])


def test_agreement_ranks_annotators_by_skill(crowd):
    _, conf, full, _ = crowd
    table = pairwise_cohen_kappa(full)
    mean_kappa = table.where(~np.eye(len(table), dtype=bool)).mean(axis=1).to_numpy()
    accuracy = conf.diagonal(axis1=1, axis2=2).mean(axis=1)
    assert np.corrcoef(np.argsort(np.argsort(mean_kappa)),
                       np.argsort(np.argsort(accuracy)))[0, 1] > 0.9


# ---------------------------------------------------------------- Dawid-Skene


def _crowdkit_posteriors(lab, n_classes, n_iter):
    import warnings

    from crowdkit.aggregation import DawidSkene

    items, annotators = np.nonzero(lab >= 0)
    frame = pd.DataFrame({"task": items, "worker": annotators, "label": lab[items, annotators]})
    with warnings.catch_warnings():  # crowd-kit's own pandas deprecation warnings
        warnings.simplefilter("ignore")
        model = DawidSkene(n_iter=n_iter, tol=0.0).fit(frame)
    probas = model.probas_.sort_index().reindex(columns=range(n_classes), fill_value=0.0)
    return probas.to_numpy(), model


def test_dawid_skene_matches_crowdkit():
    """Without smoothing, on labels dense enough that no confusion probability is zero
    (crowd-kit clips those at 1e-10), the two implementations agree to rounding."""
    rng = np.random.default_rng(11)
    y = rng.integers(0, 4, 3000)
    lab = simulate_annotators(y, _pool([0.9, 0.75, 0.6, 0.5, 0.35], n_classes=4,
                                       systematic=0.5), random_state=rng)
    ours = dawid_skene(lab, 4, n_iter=40, smoothing=0.0)
    theirs, model = _crowdkit_posteriors(lab, 4, 40)
    assert len(model.loss_history_) == 40
    assert np.abs(ours - theirs).max() < 1e-6
    # The M-step agrees too: crowd-kit's errors_ is indexed (worker, label) x true label.
    _, confusions = estimate_confusions(lab, ours, smoothing=0.0)
    errors = model.errors_.sort_index()
    for worker in range(lab.shape[1]):
        theirs_conf = errors.loc[worker].reindex(index=range(4), columns=range(4)).to_numpy().T
        assert np.allclose(confusions[worker], theirs_conf, atol=1e-6)


def test_dawid_skene_with_smoothing_stays_close_to_crowdkit(crowd):
    _, _, _, lab = crowd
    ours = dawid_skene(lab, 10)                     # the lab's defaults: 50 steps, 0.01
    theirs, _ = _crowdkit_posteriors(lab, 10, 50)
    assert np.mean(ours.argmax(axis=1) == theirs.argmax(axis=1)) >= 0.98


def test_dawid_skene_beats_majority_vote_when_skill_differs(crowd):
    y, _, _, lab = crowd
    mv = majority_vote(lab, 10, random_state=0)
    ds = dawid_skene(lab, 10).argmax(axis=1)
    assert np.mean(ds == y) > np.mean(mv == y) + 0.05


def test_dawid_skene_estimates_each_annotators_skill(crowd):
    y, conf, _, lab = crowd
    posteriors = dawid_skene(lab, 10)
    prior, confusions = estimate_confusions(lab, posteriors)
    estimated = (confusions.diagonal(axis1=1, axis2=2) * prior).sum(axis=1)
    true = conf.diagonal(axis1=1, axis2=2).mean(axis=1)
    assert np.abs(estimated - true).max() < 0.1


def test_dawid_skene_starts_from_vote_shares_and_learns_a_contrarian():
    assert dawid_skene([[0, -1, 2], [1, 1, -1]], 3, n_iter=0).tolist() == [
        [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]
    contrarian = [[0, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0]]
    # Items 4 and 5 split the two good annotators; the contrarian decides them.
    assert dawid_skene(contrarian, 2)[4:].argmax(axis=1).tolist() == [0, 1]


def test_dawid_skene_ignores_an_annotator_without_labels(crowd):
    _, _, _, lab = crowd
    padded = np.column_stack([lab, np.full(len(lab), -1)])
    assert np.allclose(dawid_skene(padded, 10), dawid_skene(lab, 10))


@pytest.mark.parametrize(("lab", "kwargs", "error", "words"), [
    ([[0, 1], [-1, -1]], {}, ValueError, "no label at all"),
    ([[0, 1]], {"n_iter": -1}, ValueError, "n_iter must be at least 0"),
    ([[0, 1]], {"smoothing": -0.1}, ValueError, "smoothing must be >="),
    ([[0, 3]], {}, ValueError, "n_classes is 2"),
])
def test_dawid_skene_rejects_bad_input(lab, kwargs, error, words):
    with pytest.raises(error, match=words):
        dawid_skene(lab, 2, **kwargs)


def test_estimate_confusions_rejects_bad_posteriors():
    with pytest.raises(ValueError, match="summing to 1"):
        estimate_confusions([[0, 1]], [[0.5, 0.6]])
    with pytest.raises(ValueError, match="rows"):
        estimate_confusions([[0, 1], [1, 0]], [[0.5, 0.5]])


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 4)),
                  elements=st.one_of(st.floats(-3, 3), st.just(np.nan))))
@settings(max_examples=40)
def test_aggregators_reject_garbage_with_a_clear_error(garbage):
    for aggregate in (lambda v: dawid_skene(v, 3), lambda v: majority_vote(v, 3),
                      lambda v: label_counts(v, 3)):
        try:
            aggregate(garbage)
        except (TypeError, ValueError) as exc:
            assert str(exc)
        else:  # whole numbers in -1..2 are valid labels
            assert np.all(np.isin(garbage, (-1, 0, 1, 2)))


# ---------------------------------------------------------------- labeling functions


def test_labeling_functions_votes_and_summary():
    X = pd.DataFrame({"size": [0.1, 0.5, 0.9, 0.95]}, index=[10, 11, 12, 13])
    votes = apply_labeling_functions({
        "big": lambda X: np.where(X["size"] > 0.8, 1, -1),
        "small": lambda X: np.where(X["size"] < 0.6, 0, -1),
        "contrary": lambda X: np.where(X["size"] > 0.9, 0, -1)}, X)
    assert list(votes.index) == [10, 11, 12, 13]
    assert votes.to_numpy().tolist() == [[-1, 0, -1], [-1, 0, -1], [1, -1, -1], [1, -1, 0]]
    summary = labeling_function_summary(votes, y=[0, 0, 1, 1])
    assert summary.loc["big"].to_dict() == pytest.approx(
        {"coverage": 0.5, "overlap": 0.25, "conflict": 0.25, "votes": 2, "accuracy": 1.0})
    assert summary.loc["contrary", "accuracy"] == 0.0
    assert summary.loc["small", "overlap"] == 0.0


@pytest.mark.parametrize(("lfs", "error", "words"), [
    ({"short": lambda X: np.ones(2)}, ValueError, "one vote per row"),
    ({"odd": lambda X: np.full(len(X), 0.5)}, ValueError, "class numbers"),
    ({"text": lambda X: np.array(["yes"] * len(X))}, ValueError, "class numbers"),
    ({"not callable": 3}, TypeError, "not callable"),
    ({}, TypeError, "non-empty dict"),
])
def test_apply_labeling_functions_rejects_bad_functions(lfs, error, words):
    with pytest.raises(error, match=words):
        apply_labeling_functions(lfs, pd.DataFrame({"a": [1.0, 2.0, 3.0]}))


def test_apply_labeling_functions_needs_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        apply_labeling_functions({"a": lambda X: X}, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="DataFrame"):
        labeling_function_summary(np.zeros((3, 2)))


# ---------------------------------------------------------------- learning curves


def test_learning_curves_table_and_spread():
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    curves = learning_curves({"dummy": DummyClassifier(),
                              "logistic": LogisticRegression(max_iter=500)},
                             X, y, [10, 40, 100], n_repeats=3, val_size=30, random_state=0)
    assert list(curves.index) == [10, 40, 100] and list(curves.columns) == ["dummy", "logistic"]
    assert curves.attrs["std"].shape == curves.shape
    assert (curves["logistic"] > curves["dummy"]).all()
    again = learning_curves({"logistic": LogisticRegression(max_iter=500)}, X, y, [10, 40, 100],
                            n_repeats=3, val_size=30, random_state=0)
    assert np.allclose(again["logistic"], curves["logistic"])


@pytest.mark.parametrize(("sizes", "error", "words"), [
    ([40, 10], ValueError, "increasing"),
    ([1, 10], ValueError, "at least 2"),
    ([10, 500], ValueError, "rows left"),
    (["ten"], TypeError, "whole numbers"),
])
def test_learning_curves_reject_bad_sizes(sizes, error, words):
    from sklearn.dummy import DummyClassifier

    X, y = np.zeros((150, 2)), np.arange(150) % 3
    with pytest.raises(error, match=words):
        learning_curves({"d": DummyClassifier()}, X, y, sizes, val_size=30)


# ---------------------------------------------------------------- clicks


def test_plackett_luce_first_slot_follows_the_softmax():
    scores = np.array([1.0, 0.0, -1.0, 0.5])
    rows = plackett_luce_rankings(scores, 40000, 3, random_state=0)
    assert rows.shape == (40000, 3)
    assert all(len(set(r)) == 3 for r in rows[:200])          # no item twice in a row
    first = np.bincount(rows[:, 0], minlength=4) / len(rows)
    assert np.allclose(first, np.exp(scores) / np.exp(scores).sum(), atol=0.01)


def test_plackett_luce_rejects_a_row_longer_than_the_items():
    with pytest.raises(ValueError, match="n_slots must be at most 3"):
        plackett_luce_rankings([0.0, 1.0, 2.0], 10, 4)


def test_simulated_users_want_items_by_preference_and_click_what_they_see():
    preference = np.array([0.5, 0.3, 0.2])
    rows = np.tile([0, 1, 2], (30000, 1))
    log = simulate_clicks(preference, rows, [1.0, 1.0, 1.0], accept_prob=1.0,
                          misclick_prob=0.0, random_state=0)
    assert np.allclose(np.bincount(log["wanted"], minlength=3) / len(log), preference,
                       atol=0.01)
    assert (log["item"] == log["wanted"]).all() and log["correct"].all()
    assert (log["slot"] == log["wanted"]).all()               # row [0, 1, 2]: slot = item


def test_ipw_undoes_the_position_bias_that_the_click_rate_keeps():
    rng = np.random.default_rng(0)
    preference = np.full(4, 0.25)
    exam = position_bias(4, top=0.9, decay=0.4)
    # Item 0 is mostly shown first and item 3 mostly last, although all are wanted alike.
    rows = plackett_luce_rankings([3.0, 2.0, 1.0, 0.0], 200000, 4, random_state=rng)
    log = simulate_clicks(preference, rows, exam, misclick_prob=0.0, random_state=rng)
    ctr = click_through_rate(rows, log["slot"], 4)
    ipw = inverse_propensity_rate(rows, log["slot"], exam, 4)
    assert ctr[0] > 2 * ctr[3]
    assert np.allclose(ipw, 0.9 * preference, rtol=0.08)


def test_click_estimates_of_an_item_never_shown_are_nan():
    rows, slots = [[0, 1], [1, 0]], [0, -1]
    assert np.isnan(click_through_rate(rows, slots, 3)[2])
    assert np.isnan(inverse_propensity_rate(rows, slots, [1.0, 0.5], 3)[2])
    assert inverse_propensity_rate(rows, slots, [1.0, 0.5], 3)[:2].tolist() == [0.5, 0.0]


@pytest.mark.parametrize(("rows", "slots", "exam", "words"), [
    ([[0, 1]], [2], [1.0, 0.5], "slot 0..1"),
    ([[0, 5]], [0], [1.0, 0.5], "item ids 0..2"),
    ([[0, 1]], [0, 1], [1.0, 0.5], "one integer slot per session"),
    ([[0, 1]], [0], [1.0, 0.0], "in \\(0, 1\\]"),
    ([[0.0, 1.0]], [0], [1.0, 0.5], "integer item ids"),
])
def test_click_estimates_reject_bad_logs(rows, slots, exam, words):
    with pytest.raises(ValueError, match=words):
        inverse_propensity_rate(rows, slots, exam, 3)


def test_simulate_clicks_rejects_bad_preferences():
    with pytest.raises(ValueError, match="summing to 1"):
        simulate_clicks([0.5, 0.6], [[0, 1]], [1.0, 1.0])
    with pytest.raises(ValueError, match="item ids"):
        simulate_clicks([0.5, 0.5], [[0, 2]], [1.0, 1.0])


def test_module_has_no_heavy_imports_at_import_time():
    import subprocess
    import sys

    code = ("import sys, labkit.labels; "
            "print(any(m in sys.modules for m in ('sklearn', 'torch', 'crowdkit')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    assert labels.MISSING == -1
