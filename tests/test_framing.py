"""Tests of labkit.framing: pair features, candidate sets and hit rates for a match model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from labkit.datasets import CATEGORIES, make_nextapp
from labkit.framing import (
    CROSS_COLUMNS,
    NUMERIC_COLUMNS,
    app_popularity,
    hit_at_k,
    make_pair_encoder,
    pair_table,
    recent_counts,
    released,
)
from labkit.personalization import context_frame


@pytest.fixture(scope="module")
def data():
    return make_nextapp(n_users=25, n_apps=14, n_days=8, n_new_apps=2, new_app_day=4,
                        random_state=3)


@pytest.fixture(scope="module")
def features(data):
    return (context_frame(data), recent_counts(data.events, n_apps=14, window=5),
            app_popularity(data.events, data.apps["release_day"]))


# ---------------------------------------------------------------- recent_counts


def brute_recent(events, n_apps, window):
    out = np.zeros((len(events), n_apps), dtype=int)
    users, apps = events["user_id"].to_numpy(), events["app_id"].to_numpy()
    for i in range(len(events)):
        before = np.flatnonzero(users[:i] == users[i])[-window:] if i else []
        for j in before:
            out[i, apps[j]] += 1
    return out


def test_recent_counts_match_a_brute_force_count(data):
    events = data.events.iloc[:400]
    for window in (1, 3, 30):
        got = recent_counts(events, n_apps=14, window=window)
        assert np.array_equal(got, brute_recent(events, 14, window))


def test_recent_counts_never_see_the_event_itself(data):
    counts = recent_counts(data.events, n_apps=14, window=10)
    first = ~data.events["user_id"].duplicated().to_numpy()
    assert (counts[first] == 0).all()
    assert (counts.sum(axis=1) <= 10).all()


def test_recent_counts_do_not_depend_on_how_users_interleave():
    log = pd.DataFrame({"user_id": [0, 1, 0, 1, 0], "app_id": [1, 2, 1, 0, 2]})
    shuffled_users = pd.DataFrame({"user_id": [5, 5, 7, 7, 7], "app_id": [1, 2, 1, 0, 2]})
    assert recent_counts(log, n_apps=3)[4].tolist() == [0, 2, 0]
    assert recent_counts(shuffled_users, n_apps=3)[4].tolist() == [1, 1, 0]


@pytest.mark.parametrize("kwargs, error, words", [
    ({"events": [1, 2]}, TypeError, "DataFrame"),
    ({"events": pd.DataFrame({"user_id": [0]})}, ValueError, "app_id"),
    ({"events": pd.DataFrame({"user_id": [0], "app_id": [0.5]})}, TypeError, "integer"),
    ({"events": pd.DataFrame({"user_id": [0], "app_id": [-1]})}, ValueError, "non-negative"),
    ({"events": pd.DataFrame({"user_id": [0], "app_id": [4]}), "n_apps": 3}, ValueError,
     "n_apps"),
    ({"events": pd.DataFrame({"user_id": [0], "app_id": [0]}), "window": 0}, ValueError,
     "window"),
])
def test_recent_counts_reject_bad_input(kwargs, error, words):
    with pytest.raises(error, match=words):
        recent_counts(**kwargs)


# ---------------------------------------------------------------- app_popularity


def test_app_popularity_uses_only_the_previous_days(data):
    release = data.apps["release_day"].to_numpy()
    pop = app_popularity(data.events, release, days=2, prior_weight=50.0)
    ev = data.events
    for d in (3, 6):
        window = ev[(ev["day"] >= d - 2) & (ev["day"] < d)]
        opens = np.bincount(window["app_id"], minlength=14).astype(float)
        per_day = window.groupby("day").size()
        exposure = np.array([per_day[[x for x in per_day.index if x >= r]].sum()
                             for r in release], dtype=float)
        seen = exposure > 0
        prior = np.median(opens[seen] / exposure[seen])
        want = np.log((opens + 50.0 * prior) / (exposure + 50.0))
        assert np.allclose(pop[d], want)
    # The log of the day itself (and later days) plays no part.
    cut = app_popularity(ev[ev["day"] < 5], release, days=2, prior_weight=50.0)
    assert np.allclose(cut[:5], pop[:5])


def test_a_new_app_starts_at_the_median_share(data):
    release = data.apps["release_day"].to_numpy()
    pop = app_popularity(data.events, release, days=3)
    new = np.flatnonzero(release == 4)
    old = np.flatnonzero(release < 0)
    assert np.allclose(pop[4, new], pop[4, new[0]])
    assert np.min(pop[4, old]) <= pop[4, new[0]] <= np.max(pop[4, old])
    assert np.isfinite(pop).all()


@pytest.mark.parametrize("release, kwargs, error, words", [
    ([0.5, 1.0], {}, TypeError, "release_day"),
    ([[0, 1]], {}, TypeError, "release_day"),
    ([0, 0], {"days": 0}, ValueError, "days"),
    ([0, 0], {"prior_weight": 0}, ValueError, "prior_weight"),
    ([0], {}, ValueError, "ids below 1"),
])
def test_app_popularity_rejects_bad_input(release, kwargs, error, words):
    log = pd.DataFrame({"day": [0, 1], "app_id": [0, 1]})
    with pytest.raises(error, match=words):
        app_popularity(log, release, **kwargs)


# ---------------------------------------------------------------- pair_table / encoder


def test_pair_table_columns_and_values(data, features):
    context, recent, pop = features
    events = np.array([10, 10, 55, 200])
    apps = np.array([0, 13, 5, 5])
    table = pair_table(context, events, apps, data.apps, recent=recent, popularity=pop)
    crossed = [f"category_x_{c}" for c in CROSS_COLUMNS]
    assert list(table.columns) == ["category", *crossed, *NUMERIC_COLUMNS]
    category = data.apps["category"].cat.codes.to_numpy()
    assert table["category"].tolist() == category[apps].tolist()
    assert (table["category_x_hour"] // 100).tolist() == category[apps].tolist()
    assert (table["category_x_hour"] % 100).tolist() == context["hour"].to_numpy()[events].tolist()
    day = context["day"].to_numpy()[events]
    assert np.allclose(table["popularity"], pop[day, apps])
    assert np.allclose(table["recent"], np.log1p(recent[events, apps]))
    prev = context["prev_app"].to_numpy()[events]
    assert table["same_as_prev"].tolist() == (prev == apps).astype(float).tolist()
    none = len(CATEGORIES)
    want_prev = np.where(prev >= 0, category[np.maximum(prev, 0)], none)
    assert (table["category_x_prev_category"] % 100).tolist() == want_prev.tolist()


def test_pair_codes_do_not_depend_on_which_rows_are_encoded(data, features):
    context, recent, pop = features
    whole = pair_table(context, np.arange(30), np.full(30, 3), data.apps, recent=recent,
                       popularity=pop)
    part = pair_table(context.iloc[20:30].reset_index(drop=True), np.arange(10),
                      np.full(10, 3), data.apps, recent=recent[20:30], popularity=pop)
    assert whole.iloc[20:30].reset_index(drop=True).equals(part)


def test_encoder_is_sparse_and_ignores_unseen_crosses(data, features):
    context, recent, pop = features
    n = len(context)
    train = pair_table(context, np.arange(n // 2), np.zeros(n // 2, dtype=int), data.apps,
                       recent=recent, popularity=pop)
    encoder = make_pair_encoder().fit(train)
    other = pair_table(context, np.arange(5), np.full(5, 13), data.apps, recent=recent,
                       popularity=pop)
    X = encoder.transform(other)
    assert sparse.issparse(X) and X.shape == (5, encoder.transform(train).shape[1])
    n_onehot = X.shape[1] - len(NUMERIC_COLUMNS)
    same_category = data.apps["category"].iloc[13] == data.apps["category"].iloc[0]
    if not same_category:
        assert X[:, :n_onehot].nnz == 0  # a category never seen in training encodes as 0
    assert np.allclose(X[:, n_onehot:].toarray(), other[list(NUMERIC_COLUMNS)].to_numpy())


@pytest.mark.parametrize("change, error, words", [
    (lambda c, e, a, r, p: (c.drop(columns="hour"), e, a, r, p), ValueError, "hour"),
    (lambda c, e, a, r, p: (c, e[:-1], a, r, p), ValueError, "one event and one app"),
    (lambda c, e, a, r, p: (c, e, a + 100, r, p), ValueError, "ids below"),
    (lambda c, e, a, r, p: (c, e, a, r[:, :3], p), ValueError, "recent must have shape"),
    (lambda c, e, a, r, p: (c, e, a, r, p[:1]), ValueError, "popularity must have"),
    (lambda c, e, a, r, p: (c.assign(location="moon"), e, a, r, p), ValueError, "moon"),
    (lambda c, e, a, r, p: (c.to_numpy(), e, a, r, p), TypeError, "DataFrame"),
])
def test_pair_table_rejects_bad_input(data, features, change, error, words):
    context, recent, pop = features
    args = change(context, np.array([0, 1, 2]), np.array([0, 1, 2]), recent, pop)
    with pytest.raises(error, match=words):
        pair_table(args[0], args[1], args[2], data.apps, recent=args[3], popularity=args[4])


# ---------------------------------------------------------------- released / hit_at_k


def test_released_marks_the_market_of_each_day():
    mask = released(np.array([0, 4, 9]), np.array([-2, 4, 5, 20]))
    assert mask.tolist() == [[True, False, False, False], [True, True, False, False],
                             [True, True, True, False]]
    with pytest.raises(TypeError, match="integer days"):
        released([0.5], [1])


def test_hit_at_k_agrees_with_scikit_learn():
    from sklearn.metrics import top_k_accuracy_score

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(500, 9))
    y = rng.integers(0, 9, 500)
    for k in (1, 3, 5):
        ours = hit_at_k(scores, y, k).mean()
        assert ours == pytest.approx(top_k_accuracy_score(y, scores, k=k, labels=range(9)))


def test_hit_at_k_ranks_minus_infinity_last_and_breaks_ties_by_id():
    scores = np.array([[-np.inf, 0.2, 0.2, 0.1], [0.3, -np.inf, -np.inf, -np.inf]])
    assert hit_at_k(scores, [2, 0], 2).tolist() == [True, True]
    assert hit_at_k(scores, [3, 0], 2).tolist() == [False, True]
    assert hit_at_k(scores, [0, 2], 3).tolist() == [False, False]
    # A near-tie in the last bits goes to the lower id, whatever the order of the bits.
    wobble = np.array([[0.5, 0.5 + 1e-15, 0.1], [0.5 + 1e-15, 0.5, 0.1]])
    assert hit_at_k(wobble, [0, 0], 1).tolist() == [True, True]


@pytest.mark.parametrize("scores, y, k, error, words", [
    ([0.1, 0.2], [0], 1, ValueError, "2-d"),
    ([[0.1, np.nan]], [0], 1, ValueError, "NaN"),
    ([[0.1, np.inf]], [0], 1, ValueError, r"\+inf"),
    ([[0.1, 0.2]], [0, 1], 1, ValueError, "rows"),
    ([[0.1, 0.2]], [2], 1, ValueError, "ids below 2"),
    ([[0.1, 0.2]], [0], 0, ValueError, "k must be"),
])
def test_hit_at_k_rejects_bad_input(scores, y, k, error, words):
    with pytest.raises(error, match=words):
        hit_at_k(scores, y, k)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                 st.text(max_size=3), st.none()), min_size=1, max_size=6),
       k=st.integers(-2, 4))
def test_hit_at_k_fails_with_a_clear_error_on_anything(values, k):
    try:
        result = hit_at_k([values], [0], k)
    except (TypeError, ValueError) as exc:
        assert str(exc)
    else:
        assert result.shape == (1,) and result.dtype == bool


@settings(max_examples=40, deadline=None)
@given(users=st.lists(st.integers(0, 3), min_size=1, max_size=30),
       window=st.integers(1, 6), seed=st.integers(0, 100))
def test_recent_counts_property(users, window, seed):
    apps = np.random.default_rng(seed).integers(0, 4, len(users))
    log = pd.DataFrame({"user_id": users, "app_id": apps})
    got = recent_counts(log, n_apps=4, window=window)
    assert np.array_equal(got, brute_recent(log, 4, window))
