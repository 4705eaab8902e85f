"""Tests of labkit.checks.lab13: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook (plain loops, no scikit-learn); labkit itself never ships them.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from labkit.assumptions import (
    assumption_report,
    make_classification_data,
    make_smooth_data,
)
from labkit.checks import RESULTS_ENV, lab13

# ---------------------------------------------------------------- reference answers


def ref_ratio(X, y):
    """Nearest other point by a double loop; the pairs' mean over i != j."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    n = len(y)
    gaps = []
    for i in range(n):
        best, nearest = math.inf, None
        for j in range(n):
            if j != i:
                d = float(np.sum((X[i] - X[j]) ** 2))
                if d < best:
                    best, nearest = d, j
        gaps.append(abs(y[i] - y[nearest]))
    pairs = [abs(y[i] - y[j]) for i in range(n) for j in range(n) if i != j]
    return sum(gaps) / n / (sum(pairs) / len(pairs))


def _pearson(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def ref_correlation(X, y):
    X, y = np.asarray(X, float), np.asarray(y)
    worst = 0.0
    for label in sorted(set(y.tolist())):
        rows = X[y == label]
        for i, j in itertools.combinations(range(X.shape[1]), 2):
            worst = max(worst, abs(_pearson(rows[:, i], rows[:, j])))
    return worst


# ---------------------------------------------------------------- this run's data


def _smooth_and_rough(seed=0, n=120):
    return (*make_smooth_data(True, n_samples=n, random_state=seed),
            *make_smooth_data(False, n_samples=n, random_state=seed))


def _intact(seed=0, n=400):
    data = make_classification_data(n_samples=n, random_state=seed)
    return data.X, data.y


# ---------------------------------------------------------------- neighbour_gap_ratio


def test_ratio_passes_the_reference(capsys):
    lab13.neighbour_gap_ratio(ref_ratio, *_smooth_and_rough())
    assert "[ok] neighbour_gap_ratio" in capsys.readouterr().out


def test_ratio_reference_agrees_with_the_worked_examples():
    for example in lab13._RATIO_EXAMPLES:
        assert math.isclose(ref_ratio(*example.args), example.want, rel_tol=1e-12)


def ratio_self(X, y):
    return 0.0 * ref_ratio(X, y)


def ratio_diagonal(X, y):
    n = len(y)
    return ref_ratio(X, y) * n / (n - 1)


def ratio_squared(X, y):
    X, y = np.asarray(X, float), np.asarray(y, float)
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    gaps = ((y - y[d.argmin(axis=1)]) ** 2).mean()
    n = len(y)
    return gaps / (((y[:, None] - y) ** 2).sum() / (n * (n - 1)))


def ratio_unscaled(X, y):
    X, y = np.asarray(X, float), np.asarray(y, float)
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    return float(np.abs(y - y[d.argmin(axis=1)]).mean())


def ratio_by_output(X, y):
    y = np.asarray(y, float)
    return ref_ratio(y[:, None], y)


def ratio_first_feature(X, y):
    return ref_ratio(np.asarray(X)[:, :1], y)


def ratio_deviation(X, y):
    y = np.asarray(y, float)
    n = len(y)
    pairs = np.abs(y[:, None] - y).sum() / (n * (n - 1))
    return ref_ratio(X, y) * pairs / np.abs(y - y.mean()).mean()


def ratio_array(X, y):
    return np.full(2, ref_ratio(X, y))


@pytest.mark.parametrize("wrong, words", [
    (ratio_self, "nearest neighbour is itself"),
    (ratio_diagonal, "n \\* \\(n - 1\\) ordered pairs"),
    (ratio_squared, "squares the differences"),
    (ratio_unscaled, "mean gap to the neighbour alone"),
    (ratio_by_output, "found among the \\*outputs\\*"),
    (ratio_first_feature, "first feature only"),
    (ratio_deviation, "mean absolute deviation"),
    (ratio_array, "single number"),
])
def test_ratio_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab13.neighbour_gap_ratio(wrong, *_smooth_and_rough())


def test_ratio_reports_an_unimplemented_answer():
    def stub(X, y):
        raise NotImplementedError("hint")

    with pytest.raises(AssertionError, match="not implemented"):
        lab13.neighbour_gap_ratio(stub, *_smooth_and_rough())


def test_ratio_catches_a_slip_only_visible_on_the_run_data():
    """Right on four points, wrong on more: the first 10 points only."""
    def first_ten(X, y):
        return ref_ratio(np.asarray(X)[:10], np.asarray(y)[:10])

    with pytest.raises(AssertionError, match="on this run's smooth data"):
        lab13.neighbour_gap_ratio(first_ten, *_smooth_and_rough())


def test_ratio_catches_an_order_dependent_answer():
    """Neighbours taken as the next row in the data's order, not by distance; on sorted
    data it agrees with the reference, so only the shuffled rows expose it."""
    def next_row(X, y):
        y = np.asarray(y, float)
        gaps = np.abs(np.diff(y))
        gaps = np.r_[gaps, gaps[-1]]
        n = len(y)
        return float(gaps.mean() / (np.abs(y[:, None] - y).sum() / (n * (n - 1))))

    X, y, Xr, yr = _smooth_and_rough()
    order, order_r = np.argsort(X[:, 0]), np.argsort(Xr[:, 0])
    with pytest.raises(AssertionError):
        lab13.neighbour_gap_ratio(next_row, X[order], y[order], Xr[order_r], yr[order_r])


@pytest.mark.parametrize("args, words", [
    ((np.zeros(5), np.zeros(5)), "2-d array"),
    ((np.zeros((5, 1)), np.zeros(4)), "one value per row"),
    ((np.zeros((2, 1)), np.zeros(2)), "at least 3 points"),
    ((np.full((5, 1), np.nan), np.zeros(5)), "NaN"),
])
def test_ratio_rejects_bad_input(args, words):
    _, _, Xr, yr = _smooth_and_rough()
    with pytest.raises(AssertionError, match=words):
        lab13.neighbour_gap_ratio(ref_ratio, *args, Xr, yr)


def test_ratio_records_both_data_sets(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    data = _smooth_and_rough()
    lab13.neighbour_gap_ratio(ref_ratio, *data)
    values = json.loads((tmp_path / "neighbour_gap_ratio.json").read_text())["values"]
    assert math.isclose(values["smooth"]["array"], ref_ratio(*data[:2]), rel_tol=1e-9)
    assert values["smooth"]["array"] < values["rough"]["array"]


# ---------------------------------------------------------------- within_class_correlation


def test_correlation_passes_the_reference(capsys):
    lab13.within_class_correlation(ref_correlation, *_intact())
    assert "[ok] within_class_correlation" in capsys.readouterr().out


def test_correlation_reference_agrees_with_the_worked_examples():
    for example in lab13._CORRELATION_EXAMPLES:
        assert math.isclose(ref_correlation(*example.args), example.want, abs_tol=1e-12)


def corr_marginal(X, y):
    return ref_correlation(X, np.zeros(len(y)))


def corr_diagonal(X, y):
    return 1.0


def corr_signed(X, y):
    X, y = np.asarray(X, float), np.asarray(y)
    out = -1.0
    for label in np.unique(y):
        r = np.corrcoef(X[y == label], rowvar=False)
        out = max(out, r[~np.eye(len(r), dtype=bool)].max())
    return out


def corr_mean_over_classes(X, y):
    X, y = np.asarray(X, float), np.asarray(y)
    return float(np.mean([ref_correlation(X[y == c], np.zeros(int(np.sum(y == c))))
                          for c in np.unique(y)]))


def corr_adjacent(X, y):
    X, y = np.asarray(X, float), np.asarray(y)
    worst = 0.0
    for label in np.unique(y):
        rows = X[y == label]
        for i in range(X.shape[1] - 1):
            worst = max(worst, abs(_pearson(rows[:, i], rows[:, i + 1])))
    return worst


def corr_covariance(X, y):
    X, y = np.asarray(X, float), np.asarray(y)
    worst = 0.0
    for label in np.unique(y):
        c = np.cov(X[y == label], rowvar=False)
        worst = max(worst, np.abs(c[~np.eye(len(c), dtype=bool)]).max())
    return worst


@pytest.mark.parametrize("wrong, words", [
    (corr_marginal, "over all rows together"),
    (corr_diagonal, "correlation with itself"),
    (corr_signed, "absolute value"),
    (corr_mean_over_classes, "averages the classes"),
    (corr_adjacent, "pair \\(x1, x3\\) was missed"),
    (corr_covariance, "the answer is"),
])
def test_correlation_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab13.within_class_correlation(wrong, *_intact())


def test_correlation_catches_a_slip_only_visible_on_the_run_data():
    """Right on the examples, wrong on the run: only the first two classes' first rows."""
    def first_rows(X, y):
        X, y = np.asarray(X), np.asarray(y)
        return ref_correlation(X[:50], y[:50]) if len(y) > 50 else ref_correlation(X, y)

    with pytest.raises(AssertionError, match="on this run's data"):
        lab13.within_class_correlation(first_rows, *_intact())


def test_correlation_catches_an_answer_tied_to_label_values():
    """Right when the classes are 0 and 1 in that order; uses class 0 only."""
    def class_zero(X, y):
        X, y = np.asarray(X, float), np.asarray(y)
        return ref_correlation(X[y == 0], np.zeros(int(np.sum(y == 0))))

    X, y = _intact()
    with pytest.raises(AssertionError):
        lab13.within_class_correlation(class_zero, X, y)


@pytest.mark.parametrize("args, words", [
    ((np.zeros((10, 1)), np.r_[np.zeros(5), np.ones(5)]), "at least two features"),
    ((np.zeros((10, 2)), np.zeros(9)), "one label per row"),
    ((np.random.default_rng(0).normal(size=(10, 2)), np.r_[np.zeros(9), 1]),
     "at least 3 rows each"),
])
def test_correlation_rejects_bad_input(args, words):
    with pytest.raises(AssertionError, match=words):
        lab13.within_class_correlation(ref_correlation, *args)


def test_correlation_records_the_answer_and_the_copy(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    X, y = _intact()
    lab13.within_class_correlation(ref_correlation, X, y)
    values = json.loads((tmp_path / "within_class_correlation.json").read_text())["values"]
    assert math.isclose(values["correlation"]["array"], ref_correlation(X, y), rel_tol=1e-9)
    assert math.isclose(values["with_copy"]["array"], 1.0, rel_tol=1e-9)


# ---------------------------------------------------------------- promised_accuracy


def _estimates(training=0.3, random=0.25, last=0.2):
    return pd.DataFrame({lab13.ESTIMATE: [training, random, last]},
                        index=[lab13.TRAINING, lab13.RANDOM, lab13.LAST_WEEK])


def test_promised_accepts_the_last_week(capsys):
    lab13.promised_accuracy(0.2, _estimates())
    assert "[ok] promised_accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    (0.25, "random held-out events"),
    (0.3, "trained on"),
    (20.0, "percentage"),
    (0.22, "trained on earlier days"),
    ("0.2", "single number"),
    (True, "single number"),
    ([0.2, 0.3], "single number"),
])
def test_promised_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab13.promised_accuracy(value, _estimates())


@pytest.mark.parametrize("table, words", [
    (pd.DataFrame({"accuracy": [0.2]}, index=[lab13.LAST_WEEK]), "table of estimates"),
    ([0.2, 0.3], "table of estimates"),
    (_estimates(last="x"), "must hold numbers"),
])
def test_promised_rejects_bad_tables(table, words):
    with pytest.raises(AssertionError, match=words):
        lab13.promised_accuracy(0.2, table)


def test_promised_records_an_interval_around_the_last_week(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab13.promised_accuracy(0.25, _estimates())
    recorded = json.loads((tmp_path / "promised_accuracy.json").read_text())["values"]
    assert recorded["accuracy"]["decision"]["array"] == 0.25
    low, high = recorded["accuracy"]["between"]["array"]
    assert low < 0.2 < high and high - low < 0.002


# ---------------------------------------------------------------- largest_exact_k


def _brute_force_k(d, budget):
    return max(k for k in range(0, 80) if 2 ** k * (k + d) <= budget)


@pytest.mark.parametrize("d, budget", [(20, 1e9), (5, 1e6), (100, 1e12), (1, 3)])
def test_largest_accepts_the_right_k(d, budget, capsys):
    lab13.largest_exact_k(_brute_force_k(d, budget), d, budget)
    assert "[ok] largest_exact_k" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    (16, "extrapolate"),
    (29, "multiply by \\(k \\+ n_findings\\)"),
    (40, "exceeds the budget"),
    (24.5, "whole number"),
    ("24", "whole number"),
    (True, "whole number"),
])
def test_largest_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab13.largest_exact_k(value, 20, 1e9)


def test_largest_accepts_a_float_that_is_whole(capsys):
    lab13.largest_exact_k(24.0, 20, 1e9)
    assert "[ok]" in capsys.readouterr().out


def test_largest_rejects_bad_parameters():
    with pytest.raises(AssertionError, match="positive"):
        lab13.largest_exact_k(3, 0, 1e9)


def test_largest_records_the_right_k(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab13.largest_exact_k(24, 20, 1e9)
    recorded = json.loads((tmp_path / "largest_exact_k.json").read_text())["values"]
    assert recorded["k"]["decision"]["array"] == 24
    assert recorded["k"]["accepted"]["array"] == [24]


# ---------------------------------------------------------------- broken_assumption


@pytest.fixture(scope="module")
def reports():
    """The report on one table per broken assumption (seed 0, 600 rows)."""
    out = {}
    for broken in ("prediction", "iid", "boundaries", "conditional independence",
                   "normality"):
        data = make_classification_data(broken, n_samples=600, random_state=0)
        out[broken] = assumption_report(data.X, data.y, data.time)
    return out


@pytest.mark.parametrize("broken", ["prediction", "iid", "boundaries",
                                    "conditional independence", "normality"])
def test_broken_accepts_the_firing_detector(reports, broken, capsys):
    lab13.broken_assumption(broken, reports[broken])
    assert "[ok] broken_assumption" in capsys.readouterr().out


@pytest.mark.parametrize("broken", ["iid", "boundaries", "conditional independence",
                                    "normality"])
def test_broken_explains_a_below_alarm_read_as_above(reports, broken):
    """Every alarm read as "above": the prediction detector seems to fire."""
    with pytest.raises(AssertionError, match="falls \\*below\\*"):
        lab13.broken_assumption("prediction", reports[broken])


def test_broken_explains_a_quiet_above_detector(reports):
    with pytest.raises(AssertionError, match="rises \\*above\\*"):
        lab13.broken_assumption("iid", reports["boundaries"])


def test_broken_accepts_any_case_and_spacing(reports, capsys):
    lab13.broken_assumption("  Boundaries ", reports["boundaries"])
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    ("smoothness", "answer with one of"),
    (3, "a string"),
])
def test_broken_rejects_answers_outside_the_report(reports, value, words):
    with pytest.raises(AssertionError, match=words):
        lab13.broken_assumption(value, reports["iid"])


@pytest.mark.parametrize("report, words", [
    (pd.DataFrame({"value": [0.1]}, index=["iid"]), "lab's report"),
    (pd.DataFrame({"value": [0.1], "alarm": [0.2], "alarm when": ["sideways"]},
                  index=["iid"]), "'above' or"),
    (pd.DataFrame({"value": [0.1], "alarm": [0.2], "alarm when": ["above"]},
                  index=["iid"]), "no detector"),
])
def test_broken_rejects_bad_reports(report, words):
    with pytest.raises(AssertionError, match=words):
        lab13.broken_assumption("iid", report)


def test_broken_records_the_firing_set(reports, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab13.broken_assumption("prediction", reports["normality"])
    recorded = json.loads((tmp_path / "broken_assumption.json").read_text())["values"]
    assert recorded["assumption"] == {"decision": "prediction", "accepted": ["normality"]}
