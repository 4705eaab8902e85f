"""Tests of labkit.quality: PSI against a hand computation, adversarial validation, splits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import quality

# ------------------------------------------------------------------ an independent PSI


def psi_by_hand(reference, current, *, categorical, bins=10, eps=1e-4):
    """PSI written out with plain Python loops, independently of labkit.quality.

    Categorical: one bin per value seen in either sample, plus one for missing values.
    Numeric: edges are the reference values at the i/bins quantiles (the first value
    with at least that share of the reference at or below it), duplicates dropped, a
    value equal to an edge counted in the bin above it, plus one bin for missing values.
    """
    def is_missing(v):
        return v is None or (isinstance(v, float) and math.isnan(v))

    ref, cur = list(reference), list(current)
    if categorical:
        keys = sorted({v for v in ref + cur if not is_missing(v)}, key=str)

        def which(v):
            return "missing" if is_missing(v) else v
        keys.append("missing")
    else:
        finite = sorted(v for v in ref if not is_missing(v))
        edges = []
        for i in range(1, bins):
            # the first value with at least i/bins of the reference at or below it
            for k, value in enumerate(finite):
                if (k + 1) * bins >= i * len(finite):
                    edges.append(value)
                    break
        edges = sorted(set(edges))

        def which(v):
            if is_missing(v):
                return "missing"
            return sum(1 for e in edges if v >= e)
        keys = [*range(len(edges) + 1), "missing"]
    total = 0.0
    for key in keys:
        r = max(sum(1 for v in ref if which(v) == key) / len(ref), eps)
        c = max(sum(1 for v in cur if which(v) == key) / len(cur), eps)
        total += (c - r) * math.log(c / r)
    return total


def test_psi_of_a_sample_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=500)
    assert quality.psi(x, x) == 0.0
    assert quality.psi(["a", "b", "b"], ["a", "b", "b"]) == 0.0


def test_psi_categorical_worked_example():
    # r = (1/2, 1/2), c = (1/4, 3/4): (1/4 - 1/2) ln(1/2) + (3/4 - 1/2) ln(3/2)
    want = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert quality.psi(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(want)


def test_psi_counts_a_new_category_and_missing_values():
    # A category absent from the reference is floored at eps, not ignored.
    with_new = quality.psi(["a"] * 50 + ["b"] * 50, ["a"] * 50 + ["b"] * 40 + ["c"] * 10)
    without_new = quality.psi(["a"] * 50 + ["b"] * 50, ["a"] * 55 + ["b"] * 45)
    assert with_new > 0.5 > without_new
    # More missing values in the current sample are a shift too.
    ref = [1.0, 2.0, 3.0, 4.0] * 25
    assert quality.psi(ref, ref[:80] + [math.nan] * 20) > 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=40),
       st.lists(st.sampled_from(["a", "b", "d", None]), min_size=1, max_size=40))
def test_psi_categorical_matches_the_hand_computation(ref, cur):
    got = quality.psi(ref, cur, categorical=True)
    assert got == pytest.approx(psi_by_hand(ref, cur, categorical=True), rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=2, max_size=60),
       st.lists(st.integers(-5, 25), min_size=1, max_size=60),
       st.integers(2, 12))
def test_psi_numeric_matches_the_hand_computation(ref, cur, bins):
    ref_f = [float(v) for v in ref]
    cur_f = [float(v) for v in cur]
    got = quality.psi(ref_f, cur_f, bins=bins)
    want = psi_by_hand(ref_f, cur_f, categorical=False, bins=bins)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from("xyz"), min_size=1, max_size=30),
       st.lists(st.sampled_from("xyz"), min_size=1, max_size=30))
def test_psi_is_non_negative_and_symmetric_for_categories(ref, cur):
    forward, backward = quality.psi(ref, cur), quality.psi(cur, ref)
    assert forward >= 0 and forward == pytest.approx(backward, rel=1e-12, abs=1e-15)


def test_psi_grows_with_the_shift():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=4000)
    values = [quality.psi(ref, rng.normal(loc=m, size=4000)) for m in (0.0, 0.2, 0.5, 1.0)]
    assert values == sorted(values) and values[0] < 0.02 < values[-1]


def test_psi_integer_codes_are_binned_as_categories_when_asked():
    ref, cur = [0, 1, 2, 3] * 10, [0, 1, 2, 4] * 10
    as_category = quality.psi(ref, cur, categorical=True)
    assert as_category == pytest.approx(psi_by_hand(ref, cur, categorical=True))


@pytest.mark.parametrize("bad, error, words", [
    (dict(reference=[], current=[1.0]), ValueError, "empty"),
    (dict(reference=[[1.0, 2.0]], current=[1.0]), ValueError, "one-dimensional"),
    (dict(reference="abc", current=[1.0]), ValueError, "one-dimensional"),
    (dict(reference=pd.DataFrame({"a": [1]}), current=[1.0]), TypeError, "one column"),
    (dict(reference=[1.0, np.inf], current=[1.0]), ValueError, "infinite"),
    (dict(reference=[1.0, 2.0], current=[1.0], bins=1), ValueError, "bins"),
    (dict(reference=[1.0, 2.0], current=[1.0], bins=2.5), TypeError, "bins"),
    (dict(reference=[1.0], current=[1.0], eps=0.0), ValueError, "eps"),
    (dict(reference=[1.0], current=[1.0], eps=float("nan")), ValueError, "eps"),
    (dict(reference=["a"], current=["b"], categorical=False), TypeError, "categorical=True"),
    (dict(reference=[1.0], current=[1.0], categorical="yes"), TypeError, "categorical"),
])
def test_psi_rejects_bad_input_with_a_clear_message(bad, error, words):
    with pytest.raises(error, match=words):
        quality.psi(**bad)


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(),
                 st.lists(st.lists(st.integers(), min_size=2, max_size=2), min_size=1,
                          max_size=3)))
def test_psi_bad_input_never_escapes_as_a_numpy_error(bad):
    try:
        quality.psi(bad, [1.0, 2.0])
    except (TypeError, ValueError) as exc:
        assert str(exc)  # a message, not a bare error
    else:  # only a valid 1-d sample may get through
        assert np.ndim(bad) == 1


# ------------------------------------------------------------------ psi_by_period


def test_psi_by_period_agrees_with_psi():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"week": np.repeat([0, 1, 2], 200),
                          "app": rng.integers(0, 5, 600),
                          "battery": rng.normal(50, 10, 600)})
    table = quality.psi_by_period(frame, "week", ["app", "battery"], reference=0,
                                  categorical=["app"])
    assert list(table.index) == [1, 2]
    for week in (1, 2):
        assert table.loc[week, "app"] == pytest.approx(quality.psi(
            frame.app[frame.week == 0], frame.app[frame.week == week], categorical=True))
        assert table.loc[week, "battery"] == pytest.approx(quality.psi(
            frame.battery[frame.week == 0], frame.battery[frame.week == week]))


def test_psi_by_period_rejects_unknown_columns_and_periods():
    frame = pd.DataFrame({"week": [0, 1], "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="not columns"):
        quality.psi_by_period(frame, "week", ["y"], reference=0)
    with pytest.raises(ValueError, match="no row"):
        quality.psi_by_period(frame, "week", ["x"], reference=5)
    with pytest.raises(TypeError, match="list of column names"):
        quality.psi_by_period(frame, "week", "x", reference=0)
    with pytest.raises(TypeError, match="DataFrame"):
        quality.psi_by_period(frame.to_numpy(), "week", ["x"], reference=0)


# ------------------------------------------------------------------ adversarial validation


def _frames(shift, n=400, seed=0):
    rng = np.random.default_rng(seed)
    before = pd.DataFrame({"x": rng.normal(0, 1, n), "where": rng.choice(["a", "b"], n)})
    after = pd.DataFrame({"x": rng.normal(shift, 1, n),
                          "where": rng.choice(["a", "b"], n, p=[0.5, 0.5])})
    return before, after


def test_adversarial_auc_is_near_chance_without_a_shift_and_high_with_one():
    same = quality.adversarial_auc(*_frames(0.0), random_state=0)
    moved = quality.adversarial_auc(*_frames(1.5), random_state=0)
    assert 0.4 < same < 0.6
    assert moved > 0.8


def test_adversarial_auc_handles_missing_values_and_categories():
    before, after = _frames(0.0, seed=3)
    after.loc[::2, "x"] = np.nan  # half the current values go missing: a shift
    after.loc[::3, "where"] = None
    assert quality.adversarial_auc(before, after, random_state=0) > 0.7


def test_adversarial_auc_is_reproducible_with_a_seed():
    frames = _frames(0.3)
    assert quality.adversarial_auc(*frames, random_state=4) == \
        quality.adversarial_auc(*frames, random_state=4)


def test_adversarial_auc_accepts_another_model():
    from sklearn.ensemble import HistGradientBoostingClassifier

    before, after = _frames(1.5)
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features="from_dtype")
    auc = quality.adversarial_auc(before.astype({"where": "category"}),
                                  after.astype({"where": "category"}), model=model,
                                  random_state=0)
    assert auc > 0.8


@pytest.mark.parametrize("change, error, words", [
    (lambda b, a: (b.to_numpy(), a), TypeError, "DataFrame"),
    (lambda b, a: (b, a[["where", "x"]]), ValueError, "same columns"),
    (lambda b, a: (b[[]], a[[]]), ValueError, "no columns"),
    (lambda b, a: (b.head(2), a), ValueError, "at least n_splits"),
])
def test_adversarial_auc_rejects_bad_input(change, error, words):
    before, after = change(*_frames(0.0))
    with pytest.raises(error, match=words):
        quality.adversarial_auc(before, after)


def test_adversarial_auc_rejects_bad_folds():
    with pytest.raises(ValueError, match="n_splits"):
        quality.adversarial_auc(*_frames(0.0), n_splits=1)


# ------------------------------------------------------------------ splits


def test_time_split_puts_the_later_days_in_test():
    train, test = quality.time_split(np.array([3, 0, 5, 1, 4]), test_from=4)
    assert test.tolist() == [False, False, True, False, True]
    assert (train == ~test).all()


@pytest.mark.parametrize("day, test_from, error", [
    ([0, 1, 2], 0, ValueError),
    ([0, 1, 2], 3, ValueError),
    ([], 1, ValueError),
    ([0.5, 1.5], 1, TypeError),
    ([0, 1], 1.0, TypeError),
])
def test_time_split_rejects_bad_input(day, test_from, error):
    with pytest.raises(error):
        quality.time_split(day, test_from)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 200), st.floats(0.01, 0.99), st.integers(0, 10))
def test_random_split_has_the_asked_size_and_is_seeded(n, share, seed):
    train, test = quality.random_split(n, share, random_state=seed)
    assert (train ^ test).all() and 1 <= test.sum() <= n - 1
    assert abs(test.sum() - share * n) <= 1
    again = quality.random_split(n, share, random_state=seed)[1]
    assert (again == test).all()


def test_random_split_takes_a_count():
    assert quality.random_split(10, 4, random_state=0)[1].sum() == 4


@pytest.mark.parametrize("n, size, error", [
    (10, 0, ValueError), (10, 10, ValueError), (10, 1.0, ValueError), (10, 0.0, ValueError),
    (1, 0.5, ValueError), (10, "half", TypeError), (10, True, TypeError),
])
def test_random_split_rejects_bad_sizes(n, size, error):
    with pytest.raises(error):
        quality.random_split(n, size, random_state=0)


def test_psi_edges_are_reference_values_not_rounding_artefacts():
    # Linear interpolation would put an edge at about 9e-16 here and leave an empty
    # reference bin for the current value 1 to fall into.
    ref, cur = [0.0, 0, 0, 0, 2, 2], [1.0]
    r, c = np.array([4 / 6, 2 / 6]), np.array([1.0, 1e-4])
    want = float(np.sum((c - r) * np.log(c / r)))
    assert quality.psi(ref, cur, bins=5) == pytest.approx(want)
