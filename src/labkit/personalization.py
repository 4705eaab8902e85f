"""Features for NextApp models, shared by the one-model-for-everyone and per-user labs.

A NextApp log keeps context (hour, location, battery, previous app) in the events table
and the profile (age band, occupation, region) in the users table. :func:`context_frame`
puts them side by side with missing values made explicit, and
:func:`make_context_encoder` one-hot encodes the result, so that a global model, a
per-group model and a per-user model all work in the same feature space (which is what
lets a per-user model start from the global model's weights).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._validation import check_float

__all__ = ["CONTEXT_COLUMNS", "context_frame", "make_context_encoder"]

#: The columns :func:`context_frame` returns besides ``user_id`` and ``app_id``.
CONTEXT_COLUMNS = ("hour", "location", "weekend", "low_battery", "prev_app",
                   "age_band", "occupation", "region")


def context_frame(data: Any, *, low_battery: float = 20.0) -> pd.DataFrame:
    """Events with their context and the user's profile, ready to encode.

    Missing location and age band become the explicit category ``"missing"`` (a
    model can learn from missingness itself); battery is reduced to a low-battery flag,
    which is false when the level is unknown.

    Parameters
    ----------
    data : labkit.datasets.NextAppData
        A log from :func:`labkit.datasets.make_nextapp`.
    low_battery : float
        Battery percentage below which the phone counts as low on battery.

    Returns
    -------
    pandas.DataFrame
        One row per event, in the log's order, with ``event_id``, ``user_id``, ``day``,
        the :data:`CONTEXT_COLUMNS` and the label ``app_id``.

    Examples
    --------
    >>> from labkit.datasets import make_nextapp
    >>> frame = context_frame(make_nextapp(n_users=20, n_days=3, random_state=0))
    >>> list(frame.columns[3:-1]) == list(CONTEXT_COLUMNS)
    True
    """
    for name in ("events", "users"):
        if not isinstance(getattr(data, name, None), pd.DataFrame):
            raise TypeError("data must be a NextAppData from labkit.datasets.make_nextapp, "
                            f"got {type(data).__name__}.")
    low_battery = check_float("low_battery", low_battery, low=0, high=100)
    ev = data.events
    profile = data.users.set_index("user_id").loc[ev["user_id"]]

    def explicit_missing(col: pd.Series) -> pd.Series:
        return col.astype(object).where(col.notna(), "missing").astype(str).to_numpy()

    return pd.DataFrame({
        "event_id": ev["event_id"].to_numpy(),
        "user_id": ev["user_id"].to_numpy(),
        "day": ev["day"].to_numpy(),
        "hour": ev["hour"].to_numpy(),
        "location": explicit_missing(ev["location"]),
        "weekend": (ev["weekday"] >= 5).to_numpy(),
        "low_battery": (ev["battery"] < low_battery).to_numpy(),
        "prev_app": ev["prev_app"].to_numpy(),
        "age_band": explicit_missing(profile["age_band"]),
        "occupation": profile["occupation"].astype(str).to_numpy(),
        "region": profile["region"].astype(str).to_numpy(),
        "app_id": ev["app_id"].to_numpy(),
    })


def make_context_encoder() -> Any:
    """An unfitted one-hot encoder of the :data:`CONTEXT_COLUMNS` of a context frame.

    Every column is treated as categorical (the hour too: app rhythms have sharp
    peaks that a single linear hour term cannot follow). Categories unseen at fit time
    encode as all zeros, and the output is a dense float array, small enough for
    per-user models.

    Returns
    -------
    sklearn.compose.ColumnTransformer

    Examples
    --------
    >>> from labkit.datasets import make_nextapp
    >>> frame = context_frame(make_nextapp(n_users=20, n_days=3, random_state=0))
    >>> X = make_context_encoder().fit_transform(frame)
    >>> X.shape[0] == len(frame), float(X.max())
    (True, 1.0)
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=float)
    return ColumnTransformer([("onehot", onehot, list(CONTEXT_COLUMNS))])
