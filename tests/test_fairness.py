"""Unit tests of labkit.fairness against scikit-learn's metrics, computed group by group."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_score, recall_score

from labkit.fairness import REPORT_COLUMNS, group_report, recall_gap

cases = st.integers(2, 60).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.sampled_from(["north", "islands", "south"]), min_size=n, max_size=n)))


@settings(max_examples=60, deadline=None)
@given(data=cases)
def test_report_matches_sklearn_in_every_group(data):
    y, p, g = (np.asarray(v) for v in data)
    report = group_report(y, p, g)
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert list(report.index) == sorted(set(g.tolist())) + ["overall"]
    for group in report.index:
        mask = np.ones(len(y), bool) if group == "overall" else g == group
        row = report.loc[group]
        assert row["count"] == mask.sum() and row["positives"] == y[mask].sum()
        assert math.isclose(row["selection rate"], p[mask].mean())
        if y[mask].any():
            assert math.isclose(row["recall"], recall_score(y[mask], p[mask]))
        else:
            assert math.isnan(row["recall"])
        if p[mask].any():
            assert math.isclose(row["precision"], precision_score(y[mask], p[mask]))
        if (y[mask] == 0).any():
            fpr = np.mean(p[mask][y[mask] == 0])
            assert math.isclose(row["false positive rate"], fpr)


def test_gap_is_the_rest_minus_the_group():
    y = [1, 1, 1, 1, 1, 1, 0]
    p = [1, 0, 0, 1, 1, 1, 1]
    g = ["i", "i", "i", "n", "n", "s", "s"]
    assert math.isclose(recall_gap(y, p, g, group="i"), 1.0 - 1 / 3)
    assert math.isclose(recall_gap(y, p, g, group="n"), 2 / 4 - 1.0)


def test_perfect_parity_gives_no_gap():
    y = np.array([1, 1, 0, 1, 1, 0])
    p = np.array([1, 0, 1, 1, 0, 0])
    g = np.array(["a", "a", "a", "b", "b", "b"])
    assert recall_gap(y, p, g, group="a") == 0.0


@pytest.mark.parametrize("args, error, match", [
    (([1, 0], [1, 0], ["a"]), ValueError, "same length"),
    (([1, 2], [1, 0], ["a", "b"]), ValueError, "only 0 and 1"),
    (([1, 0], [1, 0], ["a", None]), ValueError, "missing"),
    (([[1, 0]], [1, 0], ["a", "b"]), ValueError, "one-dimensional"),
    (([], [], []), ValueError, "empty"),
])
def test_report_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        group_report(*args)


@pytest.mark.parametrize("y, group, match", [
    ([1, 0, 1, 0], "c", "no case belongs"),
    ([0, 0, 1, 1], "a", "no positive case"),
    ([1, 1, 0, 0], "a", "the rest has no positive"),
])
def test_gap_rejects_undefined_recalls(y, group, match):
    with pytest.raises(ValueError, match=match):
        recall_gap(y, [1, 0, 1, 0], ["a", "a", "b", "b"], group=group)


def test_gap_needs_a_group_name():
    with pytest.raises(TypeError, match="string"):
        recall_gap([1, 1], [1, 0], ["a", "b"], group=0)


@settings(max_examples=40, deadline=None)
@given(bad=st.one_of(st.integers(2, 9), st.integers(-9, -1), st.floats(0.1, 0.9)))
def test_report_names_labels_that_are_not_binary(bad):
    with pytest.raises(ValueError, match="only 0 and 1"):
        group_report([1, 0, bad], [1, 0, 1], ["a", "a", "b"])
    with pytest.raises(ValueError, match="only 0 and 1"):
        recall_gap([1, 0, 1], [1, bad, 1], ["a", "a", "b"], group="a")
