"""Tests of labkit.personalization: context features shared by every NextApp strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labkit.datasets import make_nextapp
from labkit.personalization import CONTEXT_COLUMNS, context_frame, make_context_encoder


@pytest.fixture(scope="module")
def data():
    return make_nextapp(n_users=40, n_days=5, missing_rate=0.2, random_state=0)


def test_context_frame_keeps_events_in_order_with_their_profile(data):
    frame = context_frame(data)
    assert len(frame) == len(data.events)
    assert list(frame.columns) == ["event_id", "user_id", "day", *CONTEXT_COLUMNS, "app_id"]
    for col in ("event_id", "user_id", "day", "hour", "prev_app", "app_id"):
        assert np.array_equal(frame[col].to_numpy(), data.events[col].to_numpy())
    region = data.users.set_index("user_id")["region"].astype(str)
    assert np.array_equal(frame["region"].to_numpy(), region.loc[frame["user_id"]].to_numpy())
    assert np.array_equal(frame["weekend"].to_numpy(), data.events["weekday"].to_numpy() >= 5)


def test_missing_values_become_explicit(data):
    frame = context_frame(data)
    assert not frame.isna().any().any()
    missing_location = data.events["location"].isna().to_numpy()
    assert missing_location.any(), "the fixture should contain missing locations"
    assert (frame["location"].to_numpy()[missing_location] == "missing").all()
    missing_age = data.users.set_index("user_id")["age_band"].isna()
    hidden = missing_age.loc[frame["user_id"]].to_numpy()
    assert hidden.any() and (frame["age_band"].to_numpy()[hidden] == "missing").all()
    # An unknown battery level is not counted as a low one.
    unknown = data.events["battery"].isna().to_numpy()
    assert unknown.any() and not frame["low_battery"].to_numpy()[unknown].any()


def test_low_battery_threshold_moves_the_flag(data):
    low = context_frame(data, low_battery=20)["low_battery"].to_numpy()
    lower = context_frame(data, low_battery=5)["low_battery"].to_numpy()
    battery = data.events["battery"].to_numpy()
    assert np.array_equal(low, battery < 20) and np.array_equal(lower, battery < 5)
    assert lower.sum() < low.sum()


@pytest.mark.parametrize("bad, error, words", [
    (pd.DataFrame({"a": [1]}), TypeError, "NextAppData"),
    (None, TypeError, "NextAppData"),
])
def test_context_frame_rejects_what_is_not_a_log(bad, error, words):
    with pytest.raises(error, match=words):
        context_frame(bad)


@pytest.mark.parametrize("level, error", [(-1, ValueError), (101, ValueError),
                                           ("low", TypeError)])
def test_context_frame_rejects_bad_thresholds(data, level, error):
    with pytest.raises(error, match="low_battery"):
        context_frame(data, low_battery=level)


def test_encoder_gives_one_hot_rows_and_ignores_unseen_categories(data):
    frame = context_frame(data)
    train, test = frame[frame["day"] < 3], frame[frame["day"] >= 3].copy()
    encoder = make_context_encoder().fit(train)
    X = encoder.transform(train)
    assert isinstance(X, np.ndarray) and X.dtype == float
    # One active column per context column in every row seen at fit time.
    assert np.array_equal(X.sum(axis=1), np.full(len(train), len(CONTEXT_COLUMNS)))
    assert X.shape[1] == encoder.transform(test).shape[1]
    unseen = train.copy()
    unseen["prev_app"] = 10_000  # an app id never seen in training
    X_test = encoder.transform(unseen)
    assert X_test.shape[1] == X.shape[1]
    assert np.array_equal(X_test.sum(axis=1), np.full(len(unseen), len(CONTEXT_COLUMNS) - 1))

