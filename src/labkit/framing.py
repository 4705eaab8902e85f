"""Framing NextApp as a match problem: features of (user, context, app) pairs and hit rates.

A multiclass model maps a context to one score per app id it saw in training. A *match*
model scores one (user, context, app) pair at a time and ranks the candidate apps by
that score. For it to rank an app it never saw, everything it knows about an app must
arrive through the app's *features*, and features computed from the log at serving time
(how often this user opened the app lately, how popular the app is these days) keep up
with a changing catalogue without retraining.

This module builds those features; the lab's tasks (sampling negatives, scoring the
candidates) are the learner's:

* :func:`recent_counts`: how often each user opened each app in their last few events;
* :func:`app_popularity`: each app's recent share of all opens, day by day;
* :func:`pair_table` and :func:`make_pair_encoder`: one row of features per
  (event, candidate app) pair, and the one-hot encoder a linear match model needs
  (the app's category crossed with every context and profile column);
* :func:`released` and :func:`hit_at_k`: candidate sets and top-k hits.

Everything here uses only the past of each event: a feature of an event on day ``d``
comes from events before it (``recent_counts``) or from days before ``d``
(``app_popularity``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_float, check_int
from .datasets import AGE_BANDS, CATEGORIES, LOCATIONS, OCCUPATIONS, REGIONS

__all__ = ["CROSS_COLUMNS", "NUMERIC_COLUMNS", "app_popularity", "hit_at_k",
           "make_pair_encoder", "pair_table", "recent_counts", "released"]

#: Context and profile columns crossed with the candidate app's category.
CROSS_COLUMNS = ("hour", "location", "weekend", "low_battery", "prev_category", "age_band",
                 "occupation", "region")
#: Numeric pair features: the app's recent popularity, the user's recent use of the app,
#: and whether the app is the one opened just before.
NUMERIC_COLUMNS = ("popularity", "recent", "same_as_prev")

# Fixed vocabularies, so that train and test encode the same value to the same code.
_LEVELS: dict[str, tuple[Any, ...]] = {
    "hour": tuple(range(24)),
    "location": (*LOCATIONS, "missing"),
    "weekend": (False, True),
    "low_battery": (False, True),
    "prev_category": (*CATEGORIES, "none"),
    "age_band": (*AGE_BANDS, "missing"),
    "occupation": OCCUPATIONS,
    "region": REGIONS,
}
_CONTEXT_NEEDS = ("day", "hour", "location", "weekend", "low_battery", "prev_app", "age_band",
                  "occupation", "region")


def _frame(name: str, value: Any, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(value).__name__}.")
    missing = [c for c in columns if c not in value.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; pass the NextApp events "
                         "(data.events) or a context frame (labkit.personalization."
                         "context_frame).")
    return value


def _ids(name: str, values: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer ids, got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative ids, found {int(arr.min())}.")
    if n is not None and arr.size and arr.max() >= n:
        raise ValueError(f"{name} holds {int(arr.max())}, but only ids below {n} exist.")
    return arr


def recent_counts(events: Any, *, n_apps: int | None = None, window: int = 30) -> np.ndarray:
    """How often the same user opened each app in their previous ``window`` events.

    Events are taken in the order given (a NextApp log is sorted by time); an event's
    own app is never counted in its row, so the feature is known before the event.

    Parameters
    ----------
    events : pandas.DataFrame
        With integer columns ``user_id`` and ``app_id``, in time order.
    n_apps : int, optional
        Number of apps (columns); default: the largest app id plus one.
    window : int
        How many of the user's previous events to count.

    Returns
    -------
    numpy.ndarray of int, shape (n_events, n_apps)

    Examples
    --------
    >>> log = pd.DataFrame({"user_id": [0, 1, 0, 0, 0], "app_id": [2, 0, 2, 1, 2]})
    >>> recent_counts(log, n_apps=3, window=2)
    array([[0, 0, 0],
           [0, 0, 0],
           [0, 0, 1],
           [0, 0, 2],
           [0, 1, 1]])
    """
    events = _frame("events", events, ("user_id", "app_id"))
    users = _ids("events['user_id']", events["user_id"].to_numpy())
    apps = _ids("events['app_id']", events["app_id"].to_numpy())
    if n_apps is None:
        n_apps = int(apps.max()) + 1 if apps.size else 1
    n_apps = check_int("n_apps", n_apps, minimum=1)
    window = check_int("window", window, minimum=1)
    if apps.size and apps.max() >= n_apps:
        raise ValueError(f"events hold app id {int(apps.max())}, but n_apps is {n_apps}.")
    n = len(apps)
    order = np.lexsort((np.arange(n), users))  # user by user, time order inside
    onehot = np.zeros((n + 1, n_apps), dtype=np.int64)
    onehot[np.arange(1, n + 1), apps[order]] = 1
    cum = np.cumsum(onehot, axis=0)  # cum[i]: counts over the first i sorted events
    sorted_users = users[order]
    first = np.searchsorted(sorted_users, sorted_users, side="left")
    pos = np.arange(n)
    low = np.maximum(first, pos - window)
    out = np.empty((n, n_apps), dtype=np.int64)
    out[order] = cum[pos] - cum[low]
    return out


def app_popularity(events: Any, release_day: Any, *, days: int = 3,
                   prior_weight: float = 200.0) -> np.ndarray:
    """Each app's recent share of all opens, as a log, for every day of the log.

    The value for day ``d`` uses the opens of days ``d - days`` to ``d - 1`` only. An
    app's share counts only the opens made while it was on the market, and it is
    shrunk towards the median share of the apps with history (a pseudo-count of
    ``prior_weight`` opens): an app on its launch day, with no history yet, gets the
    median share rather than zero.

    Parameters
    ----------
    events : pandas.DataFrame
        With integer columns ``day`` and ``app_id``.
    release_day : array-like of int, shape (n_apps,)
        The day each app was released (``data.apps["release_day"]``).
    days : int
        Length of the trailing window, in days.
    prior_weight : float
        Pseudo-count of the shrinkage towards the median share.

    Returns
    -------
    numpy.ndarray of float, shape (n_days, n_apps)
        ``log`` of the smoothed share; ``n_days`` is the last day in ``events`` plus one.

    Examples
    --------
    >>> log = pd.DataFrame({"day": [0, 0, 0, 1, 1], "app_id": [0, 0, 1, 0, 1]})
    >>> share = np.exp(app_popularity(log, [-5, -5, 1], days=1, prior_weight=1.0))
    >>> share.round(3)  # day 1: app 0 had 2 of 3 opens; app 2 is new, so it gets the median
    array([[0.333, 0.333, 0.333],
           [0.625, 0.375, 0.5  ]])
    """
    events = _frame("events", events, ("day", "app_id"))
    day = _ids("events['day']", events["day"].to_numpy())
    release = np.asarray(release_day)
    if release.ndim != 1 or release.size == 0 or not np.issubdtype(release.dtype, np.integer):
        raise TypeError("release_day must be a one-dimensional array of integer days, one "
                        "per app (data.apps['release_day']).")
    n_apps = len(release)
    app = _ids("events['app_id']", events["app_id"].to_numpy(), n_apps)
    days = check_int("days", days, minimum=1)
    prior_weight = check_float("prior_weight", prior_weight, low=0, low_inclusive=False)
    n_days = int(day.max()) + 1 if day.size else 1
    daily = np.zeros((n_days, n_apps))
    np.add.at(daily, (day, app), 1.0)
    total = daily.sum(axis=1)
    out = np.empty((n_days, n_apps))
    for d in range(n_days):
        window = np.arange(max(d - days, 0), d)
        opens = daily[window].sum(axis=0)
        # Opens of all apps on the days of the window when each app was on the market.
        on_market = release[None, :] <= window[:, None]
        exposure = (total[window, None] * on_market).sum(axis=0)
        seen = exposure > 0
        prior = float(np.median(opens[seen] / exposure[seen])) if seen.any() else 1 / n_apps
        prior = max(prior, 1e-6)
        out[d] = np.log((opens + prior_weight * prior) / (exposure + prior_weight))
    return out


def released(days: Any, release_day: Any) -> np.ndarray:
    """Which apps are on the market on each event's day: the candidate set.

    Examples
    --------
    >>> released([0, 3], [-10, 2, 5])
    array([[ True, False, False],
           [ True,  True, False]])
    """
    d = np.asarray(days)
    r = np.asarray(release_day)
    for name, arr in (("days", d), ("release_day", r)):
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be a one-dimensional array of integer days.")
    return r[None, :] <= d[:, None]


def _codes(values: np.ndarray, levels: tuple[Any, ...], name: str) -> np.ndarray:
    codes = pd.Index(list(levels), dtype=object).get_indexer(
        pd.Index(np.asarray(values), dtype=object)).astype(np.int64)
    if (codes < 0).any():
        bad = pd.unique(np.asarray(values)[codes < 0])[:3].tolist()
        raise ValueError(f"column {name!r} holds values outside {list(levels)}: {bad}; use "
                         "labkit.personalization.context_frame to build the context.")
    return codes


def pair_table(context: Any, event_index: Any, app_index: Any, apps: Any, *, recent: Any,
               popularity: Any) -> pd.DataFrame:
    """Features of (event, candidate app) pairs, one row per pair.

    Parameters
    ----------
    context : pandas.DataFrame
        A context frame (:func:`labkit.personalization.context_frame`), or rows of one.
    event_index : array-like of int
        Row positions in ``context``, one per pair.
    app_index : array-like of int
        The candidate app of each pair.
    apps : pandas.DataFrame
        The app table (``data.apps``), indexed by app id in order.
    recent : array-like, shape (len(context), n_apps)
        :func:`recent_counts` of the rows of ``context``.
    popularity : array-like, shape (n_days, n_apps)
        :func:`app_popularity` of the log.

    Returns
    -------
    pandas.DataFrame
        Integer codes ``category`` and ``category_x_<column>`` for each column of
        :data:`CROSS_COLUMNS` (the app's category crossed with that context or profile
        value), and the numbers of :data:`NUMERIC_COLUMNS`: ``popularity`` (the
        app's log share of opens over the last days), ``recent`` (``log(1 + count)`` of
        the user's recent opens of the app) and ``same_as_prev`` (1 if the app is the
        one opened just before).

    Examples
    --------
    >>> from labkit.datasets import make_nextapp
    >>> from labkit.personalization import context_frame
    >>> data = make_nextapp(n_users=10, n_apps=12, n_days=3, random_state=0)
    >>> ctx = context_frame(data)
    >>> table = pair_table(ctx, [0, 0], [3, 5], data.apps,
    ...                    recent=recent_counts(data.events, n_apps=12),
    ...                    popularity=app_popularity(data.events, data.apps["release_day"]))
    >>> table.shape
    (2, 12)
    """
    context = _frame("context", context, _CONTEXT_NEEDS)
    apps = _frame("apps", apps, ("category",))
    n_apps = len(apps)
    ev = _ids("event_index", event_index, len(context))
    app = _ids("app_index", app_index, n_apps)
    if len(ev) != len(app):
        raise ValueError(f"event_index has {len(ev)} entries and app_index {len(app)}; give "
                         "one event and one app per pair.")
    recent = np.asarray(recent)
    if recent.shape != (len(context), n_apps):
        raise ValueError(f"recent must have shape {(len(context), n_apps)} (one row per "
                         f"context row, one column per app), got {recent.shape}.")
    popularity = np.asarray(popularity, dtype=float)
    day = _ids("context['day']", context["day"].to_numpy())
    if popularity.ndim != 2 or popularity.shape[1] != n_apps \
            or (day.size and popularity.shape[0] <= day.max()):
        raise ValueError("popularity must have one row per day of the log and one column "
                         f"per app, got shape {popularity.shape}; use app_popularity.")
    category = _codes(np.asarray(apps["category"]), CATEGORIES, "category")
    app_cat = category[app]
    prev = context["prev_app"].to_numpy().astype(np.int64)[ev]
    prev_cat = np.where(prev >= 0, category[np.clip(prev, 0, n_apps - 1)], len(CATEGORIES))
    out: dict[str, np.ndarray] = {"category": app_cat}
    for col in CROSS_COLUMNS:
        if col == "prev_category":
            level = prev_cat
        else:
            level = _codes(context[col].to_numpy(), _LEVELS[col], col)[ev]
        out[f"category_x_{col}"] = app_cat * 100 + level
    out["popularity"] = popularity[day[ev], app]
    out["recent"] = np.log1p(recent[ev, app].astype(float))
    out["same_as_prev"] = (prev == app).astype(float)
    return pd.DataFrame(out)


def make_pair_encoder() -> Any:
    """An unfitted encoder of :func:`pair_table` rows for a linear match model.

    The category and its crosses are one-hot encoded (a cross unseen at fit time
    encodes as zeros); the numeric columns pass through. The output is a sparse matrix.

    Without the crosses a linear model would add a score for the context to a score
    for the app, so every event would rank the apps in the same order: the crosses
    let the context change which kind of app comes first.

    Returns
    -------
    sklearn.compose.ColumnTransformer

    Examples
    --------
    >>> from labkit.datasets import make_nextapp
    >>> from labkit.personalization import context_frame
    >>> data = make_nextapp(n_users=10, n_apps=12, n_days=3, random_state=0)
    >>> table = pair_table(context_frame(data), [0, 1, 2], [0, 1, 2], data.apps,
    ...                    recent=recent_counts(data.events, n_apps=12),
    ...                    popularity=app_popularity(data.events, data.apps["release_day"]))
    >>> X = make_pair_encoder().fit_transform(table)
    >>> X.shape[0], X.format
    (3, 'csr')
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    onehot = OneHotEncoder(handle_unknown="ignore", dtype=float)
    one_hot_columns = ["category", *(f"category_x_{c}" for c in CROSS_COLUMNS)]
    return ColumnTransformer([("onehot", onehot, one_hot_columns),
                              ("numeric", "passthrough", list(NUMERIC_COLUMNS))],
                             sparse_threshold=1.0)


def hit_at_k(scores: Any, true_apps: Any, k: int) -> np.ndarray:
    """Whether each row's true app is among its ``k`` highest scores.

    Ties break towards the lower app id on every CPU
    (:func:`labkit.metrics.stable_argsort`); ``-inf`` marks an app that cannot be
    suggested (not released, or unknown to the model): it is never a hit.

    Parameters
    ----------
    scores : array-like, shape (n_events, n_apps)
    true_apps : array-like of int, shape (n_events,)
    k : int

    Returns
    -------
    numpy.ndarray of bool, shape (n_events,)

    Examples
    --------
    >>> hit_at_k([[0.1, 0.7, 0.2], [0.5, 0.5, -np.inf]], [2, 1], k=2)
    array([ True,  True])
    >>> hit_at_k([[0.1, 0.7, 0.2], [0.5, 0.5, -np.inf]], [2, 1], k=1)
    array([False, False])
    """
    from .metrics import stable_argsort

    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"scores must be a non-empty 2-d array (events x apps), got shape "
                         f"{s.shape}.")
    y = _ids("true_apps", true_apps, s.shape[1])
    if len(y) != len(s):
        raise ValueError(f"scores has {len(s)} rows but true_apps has {len(y)} entries.")
    k = check_int("k", k, minimum=1)
    if np.isnan(s).any() or np.isposinf(s).any():
        raise ValueError("scores contain NaN or +inf; only -inf (cannot be suggested) is "
                         "allowed.")
    top = stable_argsort(s)[:, :k]
    # An app scored -inf is never suggested, even when fewer than k apps have a score.
    return (top == y[:, None]).any(axis=1) & np.isfinite(s[np.arange(len(y)), y])
