"""The NextApp generator and the bundled-data loaders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.datasets import (
    CATEGORIES,
    REGIONS,
    load_breast_cancer_frame,
    load_digits_arrays,
    make_nextapp,
)


@pytest.fixture(scope="module")
def log():
    return make_nextapp(n_users=120, n_days=20, random_state=3)


def test_same_seed_same_log_other_seed_other_log():
    a = make_nextapp(n_users=30, n_days=5, random_state=7)
    b = make_nextapp(n_users=30, n_days=5, random_state=7)
    c = make_nextapp(n_users=30, n_days=5, random_state=8)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.users, b.users)
    assert not a.events["app_id"].equals(c.events["app_id"])


def test_columns_types_and_ranges(log):
    ev = log.events
    assert list(ev.columns) == ["event_id", "user_id", "timestamp", "day", "hour", "weekday",
                                "location", "battery", "prev_app", "app_id"]
    assert ev["timestamp"].is_monotonic_increasing
    assert ev["hour"].between(0, 23).all() and ev["day"].between(0, 19).all()
    assert ev["battery"].dropna().between(1, 100).all()
    assert ev["app_id"].between(0, len(log.apps) - 1).all()
    assert set(log.apps["category"].astype(str)) == set(CATEGORIES)


def test_size_scales_with_knobs():
    small = make_nextapp(n_users=50, n_days=4, events_per_user_day=5, random_state=0)
    big = make_nextapp(n_users=50, n_days=4, events_per_user_day=20, random_state=0)
    assert 2.5 < len(big.events) / len(small.events) < 6


def test_prev_app_is_previous_event_of_same_user(log):
    ev = log.events.sort_values(["user_id", "timestamp"], kind="stable")
    expected = ev.groupby("user_id")["app_id"].shift(1).fillna(-1).astype(int)
    assert (ev["prev_app"].to_numpy() == expected.to_numpy()).all()


def test_new_apps_unused_before_launch_and_used_after():
    data = make_nextapp(n_users=150, n_days=20, n_new_apps=2, new_app_day=10,
                        label_noise=0.0, random_state=1)
    new = data.apps.loc[data.apps["release_day"] >= 0, "app_id"]
    assert len(new) == 2
    before = data.events[data.events["day"] < 10]
    after = data.events[data.events["day"] >= 10]
    assert not before["app_id"].isin(new).any()
    assert after["app_id"].isin(new).mean() > 0.01


def test_behaviour_shift_moves_category_shares():
    data = make_nextapp(n_users=150, n_days=20, shift_day=10, random_state=2)
    frame = data.joined()
    share = frame.groupby(frame["day"] >= 10)["category"].apply(
        lambda c: (c == "shopping").mean())
    assert share[True] > 1.5 * share[False]
    no_shift = make_nextapp(n_users=150, n_days=20, random_state=2).joined()
    flat = no_shift.groupby(no_shift["day"] >= 10)["category"].apply(
        lambda c: (c == "shopping").mean())
    assert flat[True] < 1.3 * flat[False]


def test_label_noise_and_missing_rates_follow_knobs():
    clean = make_nextapp(n_users=80, n_days=10, label_noise=0.0, missing_rate=0.0,
                         random_state=4)
    assert clean.events[["battery", "location"]].notna().all().all()
    assert not clean.label_noise_mask.any()
    noisy = make_nextapp(n_users=80, n_days=10, label_noise=0.3, missing_rate=0.2,
                         random_state=4)
    assert 0.25 < noisy.label_noise_mask.mean() < 0.35
    assert 0.1 < noisy.events["battery"].isna().mean() < 0.45
    assert noisy.users["age_band"].isna().any()


def test_minority_group_is_small_and_different(log):
    data = make_nextapp(n_users=400, n_days=10, minority_fraction=0.08, random_state=5)
    islands = data.users["region"] == "islands"
    assert 0.03 < islands.mean() < 0.15
    frame = data.joined()
    in_group = frame["region"] == "islands"
    fitness = frame.groupby(in_group)["category"].apply(lambda c: (c == "fitness").mean())
    assert fitness[True] > 1.5 * fitness[False]
    assert set(data.users["region"].cat.categories) == set(REGIONS)


def test_heuristic_and_context_carry_signal(log):
    """The per-user favourite beats the global favourite, which beats chance."""
    ev = log.events
    train, test = ev[ev["day"] < 15], ev[ev["day"] >= 15]
    favourite = train.groupby("user_id")["app_id"].agg(lambda s: s.value_counts().index[0])
    per_user = (test["user_id"].map(favourite) == test["app_id"]).mean()
    global_fav = (test["app_id"] == train["app_id"].value_counts().index[0]).mean()
    assert per_user > global_fav > 1.5 / len(log.apps)


def test_users_differ_a_lot_in_activity(log):
    counts = log.events.groupby("user_id").size()
    assert counts.max() > 8 * counts.min()


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n_users": 0}, ValueError, "n_users must be at least 1"),
    ({"n_users": 2.5}, TypeError, "n_users must be an integer"),
    ({"n_apps": 1}, ValueError, "n_apps"),
    ({"label_noise": 1.0}, ValueError, "label_noise"),
    ({"missing_rate": -0.1}, ValueError, "missing_rate"),
    ({"events_per_user_day": 0}, ValueError, "events_per_user_day"),
    ({"n_new_apps": 30, "n_apps": 30}, ValueError, "n_new_apps"),
    ({"shift_day": 99, "n_days": 10}, ValueError, "shift_day"),
    ({"random_state": "seed"}, TypeError, "random_state"),
    ({"random_state": -1}, ValueError, "random_state"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, error, words):
    with pytest.raises(error, match=words):
        make_nextapp(**{"n_users": 5, "n_days": 2, **kwargs})


@settings(max_examples=30, deadline=None)
@given(n_users=st.integers(1, 15), n_apps=st.integers(2, 15), n_days=st.integers(1, 4),
       rate=st.floats(0.1, 10), seed=st.integers(0, 2**32 - 1))
def test_any_valid_size_gives_a_consistent_log(n_users, n_apps, n_days, rate, seed):
    data = make_nextapp(n_users=n_users, n_apps=n_apps, n_days=n_days,
                        events_per_user_day=rate, n_new_apps=min(1, n_apps - 1),
                        random_state=seed)
    ev = data.events
    assert len(data.users) == n_users and len(data.apps) == n_apps
    assert (ev["event_id"].to_numpy() == np.arange(len(ev))).all()
    released = data.apps.set_index("app_id")["release_day"]
    assert (ev["day"].to_numpy() >= released.loc[ev["app_id"]].to_numpy()).all()


def test_bundled_loaders():
    X, y = load_breast_cancer_frame()
    assert X.shape == (569, 30) and set(y.unique()) == {0, 1} and y.sum() == 212
    Xd, yd = load_digits_arrays()
    assert Xd.dtype == np.float32 and 0 <= Xd.min() and Xd.max() == 1 and len(yd) == 1797
