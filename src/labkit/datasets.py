"""Data for the labs: the NextApp usage-log generator and loaders for bundled data.

Nothing here downloads anything. NextApp is generated from a seed; the other data
sets are the ones scikit-learn ships inside its wheel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_float, check_int, check_rng

__all__ = [
    "CATEGORIES",
    "AGE_BANDS",
    "OCCUPATIONS",
    "REGIONS",
    "LOCATIONS",
    "NextAppData",
    "make_nextapp",
    "load_breast_cancer_frame",
    "load_digits_arrays",
]

CATEGORIES = ("social", "messaging", "games", "productivity", "news",
              "music", "maps", "camera", "shopping", "fitness")
AGE_BANDS = ("18-24", "25-34", "35-49", "50-64", "65+")
OCCUPATIONS = ("student", "office", "field", "retired", "other")
#: "islands" is the under-represented group: few users whose habits differ.
REGIONS = ("north", "south", "east", "west", "islands")
LOCATIONS = ("home", "work", "commute", "other")

_START = pd.Timestamp("2026-01-05")  # a Monday, so weekday == day % 7 at the start
_C = {c: i for i, c in enumerate(CATEGORIES)}


def _category_table(rows: dict[str, dict[str, float]], n_rows: int) -> np.ndarray:
    """Dense (n_rows, n_categories) table from a sparse {row: {category: value}}."""
    table = np.zeros((n_rows, len(CATEGORIES)))
    for r, entries in rows.items():
        for cat, v in entries.items():
            table[int(r), _C[cat]] = v
    return table


# Affinity of each profile value for each app category (log-odds added to utility).
_AGE_AFFINITY = _category_table({
    0: {"social": 1.0, "games": 0.8, "music": 0.6, "news": -0.8},
    1: {"social": 0.6, "music": 0.4, "shopping": 0.3, "fitness": 0.3},
    2: {"productivity": 0.4, "news": 0.3, "maps": 0.2},
    3: {"news": 0.8, "messaging": 0.4, "games": -0.6, "social": -0.3},
    4: {"news": 1.2, "messaging": 0.8, "games": -1.2, "music": -0.6, "social": -0.6},
}, len(AGE_BANDS))
_OCCUPATION_AFFINITY = _category_table({
    0: {"games": 0.6, "social": 0.4, "productivity": -0.2},
    1: {"productivity": 0.9, "messaging": 0.3},
    2: {"maps": 1.0, "camera": 0.4, "productivity": -0.3},
    3: {"news": 0.6, "fitness": 0.3, "productivity": -0.8},
    4: {},
}, len(OCCUPATIONS))
_REGION_AFFINITY = _category_table({
    4: {"fitness": 1.4, "maps": 1.0, "camera": 0.6, "social": -1.0, "games": -1.0,
        "shopping": -0.6},
}, len(REGIONS))
_LOCATION_AFFINITY = _category_table({
    0: {"games": 0.7, "shopping": 0.5, "social": 0.4, "maps": -1.0},
    1: {"productivity": 1.2, "messaging": 0.5, "games": -1.0, "fitness": -0.6},
    2: {"music": 1.2, "maps": 1.0, "news": 0.7, "camera": -0.4},
    3: {"maps": 0.8, "camera": 1.0, "fitness": 0.6},
}, len(LOCATIONS))
# (peak hour, amplitude, width in hours) per category: the daily rhythm.
_RHYTHM_PEAKS = {
    "social": [(12.5, 0.6, 1.5), (21.5, 0.8, 2.0)],
    "messaging": [(9.0, 0.4, 2.0), (18.5, 0.5, 2.0)],
    "games": [(21.5, 1.3, 2.0)],
    "productivity": [(10.5, 1.0, 2.5), (15.0, 0.8, 2.0)],
    "news": [(7.5, 1.3, 1.2)],
    "music": [(8.0, 0.9, 1.0), (18.0, 0.9, 1.0)],
    "maps": [(8.5, 0.8, 1.0), (17.5, 0.8, 1.0)],
    "camera": [(15.0, 0.6, 3.0)],
    "shopping": [(20.5, 0.9, 1.5)],
    "fitness": [(6.5, 1.2, 1.0), (18.5, 0.6, 1.0)],
}
# Category-to-category transition affinity (from the previous app's category).
_TRANSITIONS = _category_table({
    _C["camera"]: {"social": 1.5, "messaging": 1.0},
    _C["maps"]: {"music": 0.8, "messaging": 0.5},
    _C["news"]: {"social": 0.6, "messaging": 0.4},
    _C["shopping"]: {"messaging": 0.6, "shopping": 0.6},
    _C["fitness"]: {"music": 1.2, "social": 0.4},
    _C["messaging"]: {"social": 0.5, "camera": 0.4},
    _C["games"]: {"games": 0.8, "social": 0.3},
    _C["productivity"]: {"messaging": 0.8, "productivity": 0.6},
    _C["social"]: {"messaging": 0.6, "camera": 0.3},
    _C["music"]: {"maps": 0.4, "fitness": 0.4},
}, len(CATEGORIES))
# What changes after the behaviour shift: a season where shopping and fitness rise.
_SHIFT = np.array([-0.6 if c == "social" else 1.3 if c == "shopping" else
                   0.9 if c == "fitness" else -1.0 if c == "news" else 0.0
                   for c in CATEGORIES])


def _rhythm_table() -> np.ndarray:
    hours = np.arange(24)
    table = np.zeros((len(CATEGORIES), 24))
    for cat, peaks in _RHYTHM_PEAKS.items():
        for peak, amp, width in peaks:
            dist = np.minimum(np.abs(hours - peak), 24 - np.abs(hours - peak))
            table[_C[cat]] += amp * np.exp(-0.5 * (dist / width) ** 2)
    return table - table.mean(axis=1, keepdims=True)


@dataclass(frozen=True)
class NextAppData:
    """A generated NextApp log: events, the user and app tables, and how it was made.

    Attributes
    ----------
    events : pandas.DataFrame
        One row per app opening, sorted by time. Columns: ``event_id``, ``user_id``,
        ``timestamp``, ``day``, ``hour``, ``weekday``, ``location`` (categorical, may be
        missing), ``battery`` (percent, may be missing), ``prev_app`` (the app opened
        before by the same user, -1 for a user's first event) and the label ``app_id``.
    users : pandas.DataFrame
        One row per user: ``user_id``, ``age_band`` (may be missing), ``occupation``,
        ``region``, ``tech_savviness`` in [0, 1].
    apps : pandas.DataFrame
        One row per app: ``app_id``, ``name``, ``category``, ``popularity`` (log scale),
        ``release_day`` (negative: released before the log starts), ``size_mb``.
    params : dict
        The arguments of :func:`make_nextapp` that produced this log.
    label_noise_mask : numpy.ndarray of bool
        Which events had their label replaced by a random app (ground truth that a real
        log would not have; useful to measure what noise costs).
    """

    events: pd.DataFrame
    users: pd.DataFrame
    apps: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    label_noise_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def joined(self) -> pd.DataFrame:
        """Events with the user's profile and the label app's profile joined on.

        Examples
        --------
        >>> data = make_nextapp(n_users=20, n_days=3, random_state=0)
        >>> frame = data.joined()
        >>> {"age_band", "category"} <= set(frame.columns)
        True
        """
        app_cols = self.apps[["app_id", "category", "popularity", "release_day"]]
        return (self.events.merge(self.users, on="user_id", how="left")
                .merge(app_cols, on="app_id", how="left"))


def make_nextapp(
    n_users: int = 200,
    n_apps: int = 30,
    n_days: int = 28,
    events_per_user_day: float = 18.0,
    *,
    habit_strength: float = 1.2,
    label_noise: float = 0.05,
    missing_rate: float = 0.05,
    minority_fraction: float = 0.06,
    n_new_apps: int = 2,
    new_app_day: int | None = None,
    shift_day: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> NextAppData:
    """Generate a realistic, seeded log of which app each phone user opened next.

    The running case study of the course. The generative process, step by step:

    1. **Apps.** ``n_apps`` apps, each in one of ten categories (every category is
       used at least once when ``n_apps >= 10``), with a Zipf-like popularity, a size,
       and a release day. ``n_new_apps`` of them are launched during the log on
       ``new_app_day``; before that day nobody can open them, afterwards they enjoy a
       novelty boost that fades over about a week.
    2. **Users.** Each user has an age band, an occupation (students are young,
       retirees old), a region, a tech-savviness score, an activity rate (events per
       day, log-normal: some users have a hundred times more data than others) and a
       chronotype (their day starts earlier or later). A fraction
       ``minority_fraction`` lives in the ``"islands"`` region, an under-represented
       group whose tastes differ from everyone else's.
    3. **Habits.** A user's taste for an app adds up the affinities of their age band,
       occupation and region for the app's category, plus a personal habit term of
       scale ``habit_strength`` (some users simply love one particular app).
    4. **Context.** Each event gets a day, an hour drawn from a daily rhythm with
       morning, lunch and evening peaks shifted by the chronotype, a weekday, a
       location type (home at night, work in office hours on weekdays, commute around
       8:00 and 18:00, otherwise other) and a battery level that drains over the day.
    5. **Choice.** The app opened maximises popularity + taste + the category's
       affinity for this hour, location and weekend + an app-to-app transition term
       from the previous app opened the same day + a penalty on power-hungry
       categories when the battery is low + Gumbel noise (a multinomial logit).
    6. **Behaviour shift.** From ``shift_day`` on (``None``: never) tastes move:
       shopping and fitness rise, news and social fall, and the most popular app loses
       its lead.
    7. **Logging defects.** With probability ``label_noise`` the logged app is a
       random released app. Battery and location are missing with probability about
       ``missing_rate`` (more often for users with low tech-savviness, who switch
       permissions off), and the age band is missing for about ``missing_rate`` of
       users.

    Parameters
    ----------
    n_users, n_apps, n_days : int
        Size of the log. ``n_apps`` must be at least 2 and larger than ``n_new_apps``.
    events_per_user_day : float
        Mean activity; the total is about ``n_users * n_days * events_per_user_day``.
    habit_strength : float
        Scale of the personal habit term; 0 makes users of a profile interchangeable.
    label_noise, missing_rate, minority_fraction : float
        Fractions in [0, 1).
    n_new_apps : int
        Apps launched during the log (0 switches the effect off).
    new_app_day : int, optional
        Their launch day; defaults to the middle of the log.
    shift_day : int, optional
        First day of the behaviour shift; ``None`` (default) switches it off.
    random_state : int, numpy.random.Generator or None
        Seed. The same seed and arguments always give the same log.

    Returns
    -------
    NextAppData

    Examples
    --------
    >>> data = make_nextapp(n_users=50, n_days=7, random_state=0)
    >>> data.events[["user_id", "hour", "location", "prev_app", "app_id"]].shape[1]
    5
    >>> make_nextapp(n_users=50, n_days=7, random_state=0).events.equals(data.events)
    True
    """
    n_users = check_int("n_users", n_users, minimum=1)
    n_apps = check_int("n_apps", n_apps, minimum=2)
    n_days = check_int("n_days", n_days, minimum=1)
    rate = check_float("events_per_user_day", events_per_user_day, low=0, low_inclusive=False)
    habit_strength = check_float("habit_strength", habit_strength, low=0)
    label_noise = check_float("label_noise", label_noise, low=0, high=1, high_inclusive=False)
    missing_rate = check_float("missing_rate", missing_rate, low=0, high=1, high_inclusive=False)
    minority_fraction = check_float("minority_fraction", minority_fraction, low=0, high=1,
                                    high_inclusive=False)
    n_new_apps = check_int("n_new_apps", n_new_apps, minimum=0, maximum=n_apps - 1)
    if new_app_day is None:
        new_app_day = n_days // 2
    new_app_day = check_int("new_app_day", new_app_day, minimum=0, maximum=max(n_days - 1, 0))
    if shift_day is not None:
        shift_day = check_int("shift_day", shift_day, minimum=0, maximum=n_days)
    params = dict(n_users=n_users, n_apps=n_apps, n_days=n_days, events_per_user_day=rate,
                  habit_strength=habit_strength, label_noise=label_noise,
                  missing_rate=missing_rate, minority_fraction=minority_fraction,
                  n_new_apps=n_new_apps, new_app_day=new_app_day, shift_day=shift_day,
                  random_state=random_state if isinstance(random_state, int) else None)
    rng = check_rng(random_state)

    apps = _make_apps(rng, n_apps, n_new_apps, new_app_day)
    users, activity, chronotype, drain = _make_users(rng, n_users, minority_fraction)
    app_cat = apps["category"].cat.codes.to_numpy()

    # A user's taste for every app: profile affinities + a personal habit term.
    taste = (_AGE_AFFINITY[users["age_band"].cat.codes.to_numpy()][:, app_cat]
             + _OCCUPATION_AFFINITY[users["occupation"].cat.codes.to_numpy()][:, app_cat]
             + _REGION_AFFINITY[users["region"].cat.codes.to_numpy()][:, app_cat]
             + habit_strength * rng.standard_normal((n_users, n_apps)))
    # Age band is generated for every user, then hidden for some (missing at random).
    age_missing = rng.random(n_users) < missing_rate
    users.loc[age_missing, "age_band"] = np.nan

    ctx = _make_context(rng, users, activity, chronotype, drain, n_days, rate)
    n_events = len(ctx["user"])
    u, day, hour = ctx["user"], ctx["day"], ctx["hour"]

    release = apps["release_day"].to_numpy()
    popularity = apps["popularity"].to_numpy().copy()
    weekend = (day % 7) >= 5
    utility = (popularity[None, :] + taste[u]
               + _rhythm_table()[app_cat][:, hour].T
               + _LOCATION_AFFINITY[ctx["location"]][:, app_cat]
               + 0.5 * weekend[:, None] * np.isin(app_cat, [_C["games"], _C["camera"],
                                                             _C["shopping"]])[None, :])
    low_battery = ctx["battery"] < 20
    hungry = np.isin(app_cat, [_C["games"], _C["camera"], _C["maps"]])
    utility -= 1.5 * low_battery[:, None] * hungry[None, :]
    age_since_release = day[:, None] - release[None, :]
    novelty = np.where(age_since_release >= 0, 1.2 * np.exp(-age_since_release / 7.0), 0.0)
    utility += novelty * (release >= 0)[None, :]
    utility[age_since_release < 0] = -np.inf
    if shift_day is not None:
        after = day >= shift_day
        top = int(np.argmax(popularity))
        shift = _SHIFT[app_cat].copy()
        shift[top] -= 1.5
        utility[after] += shift[None, :]
    utility += rng.gumbel(size=utility.shape)

    transition = (_TRANSITIONS[app_cat][:, app_cat]
                  + 0.4 * rng.standard_normal((n_apps, n_apps)))
    np.fill_diagonal(transition, transition.diagonal() - 0.7)
    chosen = _sequential_choice(utility, transition, ctx["user_start"], ctx["user_len"], day)

    # Logging defects: label noise among released apps, then missing context.
    noisy = rng.random(n_events) < label_noise
    if noisy.any():
        released = (age_since_release[noisy] >= 0)
        pick = rng.random(released.shape) * released
        chosen_noisy = np.argmax(pick, axis=1)
        chosen = chosen.copy()
        chosen[noisy] = chosen_noisy
    prev = np.full(n_events, -1)
    same_user = np.ones(n_events, bool)
    same_user[ctx["user_start"][ctx["user_len"] > 0]] = False
    prev[same_user] = chosen[np.flatnonzero(same_user) - 1]

    savvy = users["tech_savviness"].to_numpy()[u]
    p_missing = np.clip(missing_rate * 2 * (1.2 - savvy), 0, 0.95)
    battery = ctx["battery"].astype(float)
    battery[rng.random(n_events) < p_missing] = np.nan
    location = pd.Categorical.from_codes(ctx["location"], categories=list(LOCATIONS))
    location[rng.random(n_events) < p_missing / 2] = np.nan

    seconds = ctx["seconds"]
    events = pd.DataFrame({
        "user_id": u,
        "timestamp": _START + pd.to_timedelta(seconds, unit="s"),
        "day": day,
        "hour": hour,
        "weekday": day % 7,
        "location": location,
        "battery": battery.round(0),
        "prev_app": prev,
        "app_id": chosen,
    })
    order = np.argsort(seconds, kind="stable")
    events = events.iloc[order].reset_index(drop=True)
    events.insert(0, "event_id", np.arange(n_events))
    return NextAppData(events=events, users=users, apps=apps, params=params,
                       label_noise_mask=noisy[order])


def _make_apps(rng: np.random.Generator, n_apps: int, n_new: int,
               new_app_day: int) -> pd.DataFrame:
    n_cat = len(CATEGORIES)
    cats = np.concatenate([rng.permutation(n_cat)[: min(n_apps, n_cat)],
                           rng.integers(0, n_cat, max(n_apps - n_cat, 0))])
    ranks = rng.permutation(n_apps) + 1
    popularity = -0.8 * np.log(ranks)
    popularity -= popularity.mean()
    release = -rng.integers(30, 2000, n_apps)
    if n_new:
        # New apps take the last ids, so ids seen during training stay contiguous.
        release[n_apps - n_new:] = new_app_day
        popularity[n_apps - n_new:] = np.sort(popularity)[n_apps // 2]
    counts: dict[int, int] = {}
    names = []
    for c in cats:
        counts[c] = counts.get(c, 0) + 1
        names.append(f"{CATEGORIES[c]}-{counts[c]}")
    return pd.DataFrame({
        "app_id": np.arange(n_apps),
        "name": names,
        "category": pd.Categorical.from_codes(cats, categories=list(CATEGORIES)),
        "popularity": popularity.round(4),
        "release_day": release,
        "size_mb": np.round(rng.lognormal(4.0, 0.8, n_apps), 1),
    })


def _make_users(rng: np.random.Generator, n_users: int, minority_fraction: float):
    age = rng.choice(len(AGE_BANDS), n_users, p=[0.2, 0.3, 0.25, 0.15, 0.1])
    occ_p = np.array([
        [0.70, 0.15, 0.10, 0.00, 0.05],
        [0.10, 0.50, 0.30, 0.00, 0.10],
        [0.00, 0.50, 0.35, 0.02, 0.13],
        [0.00, 0.40, 0.30, 0.15, 0.15],
        [0.00, 0.05, 0.05, 0.85, 0.05],
    ])
    occupation = np.array([rng.choice(len(OCCUPATIONS), p=occ_p[a]) for a in age])
    minority = rng.random(n_users) < minority_fraction
    region = np.where(minority, REGIONS.index("islands"), rng.integers(0, 4, n_users))
    savvy = np.clip(rng.beta(4, 2, n_users) - 0.12 * age, 0, 1)
    users = pd.DataFrame({
        "user_id": np.arange(n_users),
        "age_band": pd.Categorical.from_codes(age, categories=list(AGE_BANDS)),
        "occupation": pd.Categorical.from_codes(occupation, categories=list(OCCUPATIONS)),
        "region": pd.Categorical.from_codes(region, categories=list(REGIONS)),
        "tech_savviness": savvy.round(3),
    })
    activity = rng.lognormal(mean=-0.5 * 0.9 ** 2, sigma=0.9, size=n_users)  # mean 1
    chronotype = rng.normal(0.0, 1.2, n_users)
    drain = rng.uniform(3.0, 7.0, n_users)  # battery percent per hour
    return users, activity, chronotype, drain


def _make_context(rng: np.random.Generator, users: pd.DataFrame, activity: np.ndarray,
                  chronotype: np.ndarray, drain: np.ndarray, n_days: int,
                  rate: float) -> dict[str, np.ndarray]:
    """Draw every event's user, time, location and battery, grouped user by user."""
    n_users = len(users)
    counts = rng.poisson(activity * rate * n_days)
    u = np.repeat(np.arange(n_users), counts)
    n = len(u)
    day = rng.integers(0, n_days, n)
    hours = np.arange(24)
    base = 0.05 + sum(a * np.exp(-0.5 * ((hours - p) / w) ** 2)
                      for p, a, w in [(8, 1.0, 1.5), (12.5, 0.8, 1.5), (20, 1.2, 2.5)])
    base[:6] *= 0.1  # people mostly sleep
    hour = rng.choice(24, n, p=base / base.sum())
    hour = np.clip(np.rint(hour + chronotype[u]), 0, 23).astype(np.int64)
    seconds = ((day * 24 + hour) * 60 + rng.integers(0, 60, n)) * 60 + rng.integers(0, 60, n)
    # Events of one user in time order, users one after another.
    order = np.lexsort((seconds, u))
    day, hour, seconds = day[order], hour[order], seconds[order]

    occupation = users["occupation"].cat.codes.to_numpy()[u]
    workday = (day % 7) < 5
    works = workday & (occupation != OCCUPATIONS.index("retired"))
    p = np.tile([0.5, 0.0, 0.0, 0.5], (n, 1))  # home, work, commute, other
    night = (hour >= 22) | (hour <= 6)
    p[night] = [0.95, 0.0, 0.0, 0.05]
    office_hours = works & (hour >= 9) & (hour <= 16)
    p[office_hours] = [0.1, 0.8, 0.0, 0.1]
    rush = works & np.isin(hour, [7, 8, 17, 18])
    p[rush] = [0.2, 0.1, 0.6, 0.1]
    cum = p.cumsum(axis=1)
    location = (rng.random((n, 1)) > cum).sum(axis=1).clip(0, len(LOCATIONS) - 1)

    awake_hours = (hour - 7) % 24
    battery = np.clip(100 - drain[u] * awake_hours + rng.normal(0, 6, n), 1, 100)
    return {"user": u, "day": day, "hour": hour, "seconds": seconds, "location": location,
            "battery": battery, "user_start": np.concatenate([[0], np.cumsum(counts)[:-1]]),
            "user_len": counts}


def _sequential_choice(utility: np.ndarray, transition: np.ndarray, starts: np.ndarray,
                       lengths: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Pick each event's app given the previous one, walking all users in lock-step.

    Events are stored user by user in time order. Step k handles the k-th event of
    every user who has one, so the Python loop runs max(lengths) times, not once per
    event.
    """
    chosen = np.empty(len(utility), dtype=np.int64)
    first = starts[lengths > 0]
    chosen[first] = np.argmax(utility[first], axis=1)
    for k in range(1, int(lengths.max(initial=0))):
        idx = starts[lengths > k] + k
        prev = chosen[idx - 1]
        same_day = (day[idx] == day[idx - 1])[:, None]
        chosen[idx] = np.argmax(utility[idx] + same_day * transition[prev], axis=1)
    return chosen


def load_breast_cancer_frame() -> tuple[pd.DataFrame, pd.Series]:
    """The Wisconsin breast cancer data shipped with scikit-learn, as a frame.

    The target is recoded so that ``1`` means *malignant* (the positive class a
    screening test must not miss); scikit-learn's own coding has 0 for malignant.

    Returns
    -------
    X : pandas.DataFrame of shape (569, 30)
    y : pandas.Series of 0/1, named ``malignant``

    Examples
    --------
    >>> X, y = load_breast_cancer_frame()
    >>> X.shape, int(y.sum())
    ((569, 30), 212)
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    y = (bunch.target == 0).astype(int).rename("malignant")
    return bunch.data, y


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits shipped with scikit-learn, scaled to [0, 1].

    Returns
    -------
    X : numpy.ndarray of shape (1797, 64), float32
    y : numpy.ndarray of shape (1797,), int64

    Examples
    --------
    >>> X, y = load_digits_arrays()
    >>> X.shape, float(X.max())
    ((1797, 64), 1.0)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)
