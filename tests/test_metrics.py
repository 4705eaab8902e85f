"""Unit tests of labkit.metrics: confusion counts and operating-point tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from labkit.metrics import confusion_at_threshold, operating_points

labels_and_scores = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n),
    ))


@settings(max_examples=60, deadline=None)
@given(data=labels_and_scores, threshold=st.floats(-0.5, 1.5, allow_nan=False))
def test_confusion_matches_sklearn(data, threshold):
    y, s = data
    counts = confusion_at_threshold(y, s, threshold)
    predicted = (np.asarray(s) >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    assert counts == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert sum(counts.values()) == len(y)


def test_score_equal_to_threshold_is_flagged():
    assert confusion_at_threshold([1, 0], [0.4, 0.4], 0.4) == {"tp": 1, "fp": 1, "fn": 0,
                                                                "tn": 0}
    assert confusion_at_threshold([1, 0], [0.4, 0.4], 0.41) == {"tp": 0, "fp": 0, "fn": 1,
                                                                 "tn": 1}


def test_counts_are_python_ints():
    counts = confusion_at_threshold(np.array([1, 0, 1]), np.array([0.2, 0.9, 0.7]), 0.5)
    assert all(type(v) is int for v in counts.values())


def test_accepts_pandas_and_booleans():
    y = pd.Series([True, False, True])
    s = pd.Series([0.8, 0.1, 0.3])
    assert confusion_at_threshold(y, s, 0.5) == {"tp": 1, "fp": 0, "fn": 1, "tn": 1}


def test_operating_points_agree_with_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    thresholds = [0.2, 0.45, 0.7]
    table = operating_points(y, s, thresholds)
    assert list(table.columns) == ["threshold", "recall", "precision", "accuracy", "missed",
                                   "false_alarms", "flagged"]
    for t, (_, row) in zip(thresholds, table.iterrows(), strict=True):
        predicted = (s >= t).astype(int)
        assert row["threshold"] == t
        assert row["recall"] == pytest.approx(recall_score(y, predicted))
        assert row["precision"] == pytest.approx(precision_score(y, predicted))
        assert row["accuracy"] == pytest.approx(np.mean(predicted == y))
        assert row["missed"] == np.sum((predicted == 0) & (y == 1))
        assert row["false_alarms"] == np.sum((predicted == 1) & (y == 0))
        assert row["flagged"] == predicted.sum()


def test_operating_points_monotone_in_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = rng.random(300)
    table = operating_points(y, s, np.linspace(0, 1, 11))
    assert np.all(np.diff(table["recall"]) <= 0)
    assert np.all(np.diff(table["missed"]) >= 0)
    assert np.all(np.diff(table["false_alarms"]) <= 0)


def test_operating_points_names_and_scalar_threshold():
    table = operating_points([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], [0.5, 0.2],
                             names=["strict", "lenient"])
    assert list(table.index) == ["strict", "lenient"]
    assert table.loc["lenient", "missed"] == 0
    single = operating_points([1, 0], [0.7, 0.2], 0.5)
    assert len(single) == 1 and single["recall"].iloc[0] == 1.0


def test_undefined_rates_are_nan():
    table = operating_points([0, 0, 1], [0.1, 0.2, 0.3], [0.9])
    assert np.isnan(table["precision"].iloc[0])
    no_positive = operating_points([0, 0], [0.1, 0.8], [0.5])
    assert np.isnan(no_positive["recall"].iloc[0])


@pytest.mark.parametrize(("y", "s", "t", "error", "match"), [
    ([1, 0, 2], [0.1, 0.2, 0.3], 0.5, ValueError, "only 0 and 1"),
    ([1, 0], [0.1, 0.2, 0.3], 0.5, ValueError, "same length"),
    ([1, 0], [0.1, np.nan], 0.5, ValueError, "NaN"),
    ([1, 0], ["a", "b"], 0.5, TypeError, "numbers"),
    ([[1, 0]], [[0.1, 0.2]], 0.5, ValueError, "one-dimensional"),
    ([], [], 0.5, ValueError, "empty"),
    ([1, 0], [0.1, 0.2], "0.5", TypeError, "threshold must be a number"),
    ([1, 0], [0.1, 0.2], float("nan"), ValueError, "threshold must be finite"),
])
def test_confusion_rejects_bad_input(y, s, t, error, match):
    with pytest.raises(error, match=match):
        confusion_at_threshold(y, s, t)


def test_operating_points_rejects_bad_names_and_thresholds():
    with pytest.raises(ValueError, match="one label per threshold"):
        operating_points([1, 0], [0.1, 0.2], [0.1, 0.5], names=["only one"])
    with pytest.raises(TypeError, match="not a single string"):
        operating_points([1, 0], [0.1, 0.2], [0.1], names="a")
    with pytest.raises(TypeError, match="numbers"):
        operating_points([1, 0], [0.1, 0.2], ["high"])
    with pytest.raises(ValueError, match="NaN"):
        operating_points([1, 0], [0.1, 0.2], [np.nan])
