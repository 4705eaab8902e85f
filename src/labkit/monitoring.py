"""Watching a deployed model: drift statistics, and weeks of deployment simulated.

Lab 11 uses these around the code the learner writes:

* :func:`accuracy_drop_z`, the **two-proportion z statistic** of this period's accuracy
  (read from users' feedback) against a reference period's: negative when the model got
  worse. It is the reference the lab's checks compare the learner's alarm with; the
  tests compare it with ``statsmodels``.
* :func:`monitor`, one row per period (a week) with the statistics a team watches:
  **inputs** (the population stability index of each input column against the
  reference period, :func:`labkit.quality.psi`), and **outcomes** (the PSI of the label,
  the accuracy from feedback, the mean confidence, and the share of labels the model has
  never seen, which is how a new class shows up).
* :func:`simulate_deployment`, weeks of deployment replayed day by day under one
  **retraining policy**: ``"never"`` (the launch model serves throughout),
  ``"periodic"`` (retrain from scratch every few weeks), ``"triggered"`` (retrain when a
  trigger, e.g. an alarm on the accuracy, fires at the end of a week) or ``"online"``
  (update the serving model with each day's feedback, never retraining it). Each event
  is predicted by the model serving that day, before its label, the app the user
  opened, comes back as feedback.

A full retrain fits a new model on a sliding window of recent days. Its first week in
service becomes its reference: the weeks after it are compared with that week, not with
the launch model's validation data, whose tastes may be gone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_int
from .quality import psi

__all__ = ["POLICIES", "Deployment", "accuracy_drop_z", "monitor", "simulate_deployment"]

#: The retraining policies :func:`simulate_deployment` knows.
POLICIES = ("never", "periodic", "triggered", "online")


def _as_correct(name: str, values: Any) -> np.ndarray:
    if isinstance(values, (str, bytes)) or isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be a 1-d array of booleans (was each prediction "
                        f"right?), got {type(values).__name__}.")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one entry per prediction), got "
                         f"an array of shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: it needs at least one prediction.")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold booleans or 0/1, got dtype {arr.dtype}.")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0/1 or True/False (was each prediction "
                         "right?).")
    return arr.astype(bool)


def accuracy_drop_z(reference_correct: Any, current_correct: Any) -> float:
    """Two-proportion z statistic of the current accuracy against the reference one.

    ``z = (p_cur - p_ref) / sqrt(p (1 - p) (1 / n_ref + 1 / n_cur))`` with ``p`` the
    pooled accuracy of both periods: how many standard errors the accuracy moved, under
    the hypothesis that nothing changed. Negative when the model got worse. When both
    periods are all right or all wrong the accuracies are equal and ``z`` is 0.

    Parameters
    ----------
    reference_correct, current_correct : array-like of bool or 0/1
        Whether each prediction was right, in the reference period and now.

    Returns
    -------
    float

    Examples
    --------
    >>> round(accuracy_drop_z([1, 1, 1, 0] * 25, [1, 0, 0, 0] * 25), 3)
    -7.071
    >>> accuracy_drop_z([1, 1], [1, 1, 1])
    0.0
    """
    ref = _as_correct("reference_correct", reference_correct)
    cur = _as_correct("current_correct", current_correct)
    pooled = (ref.sum() + cur.sum()) / (ref.size + cur.size)
    se = np.sqrt(pooled * (1 - pooled) * (1 / ref.size + 1 / cur.size))
    if se == 0:
        return 0.0
    return float((cur.mean() - ref.mean()) / se)


def monitor(frame: pd.DataFrame, *, period: str, reference: Any,
            inputs: Sequence[str] = (), label: str | None = None,
            correct: str | None = None, confidence: str | None = None,
            known: str | None = None) -> pd.DataFrame:
    """What a team watches each period: drift of the inputs and of the outcomes.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per prediction, with a ``period`` column (e.g. the week).
    period : str
        The column that names each row's period.
    reference : scalar
        The period the others are compared with (e.g. the validation week).
    inputs : sequence of str
        Input columns; each gets ``"PSI <column>"``, its population stability index
        against the reference period, every value a category of its own.
    label : str, optional
        The label column (the outcome): ``"PSI <label>"``.
    correct : str, optional
        A boolean column, whether the prediction was right: ``"accuracy"``.
    confidence : str, optional
        The model's confidence in its prediction: ``"mean confidence"``.
    known : str, optional
        A boolean column, whether the model knows the label's class at all:
        ``"unknown label share"``, the share of rows whose class it has never seen.

    Returns
    -------
    pandas.DataFrame
        One row per period (sorted), one column per statistic.

    Examples
    --------
    >>> frame = pd.DataFrame({"week": [0, 0, 1, 1], "hour": [8, 9, 8, 9],
    ...                       "app": [1, 2, 3, 3], "right": [True, False, False, False]})
    >>> table = monitor(frame, period="week", reference=0, inputs=["hour"], label="app",
    ...                 correct="right")
    >>> list(table.columns)
    ['PSI hour', 'PSI app', 'accuracy']
    >>> table.round(2).to_dict("list")
    {'PSI hour': [0.0, 0.0], 'PSI app': [0.0, 17.72], 'accuracy': [0.5, 0.0]}
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
    if isinstance(inputs, str):
        raise TypeError("inputs must be a list of column names, not one string.")
    named = [period, *inputs, *(c for c in (label, correct, confidence, known) if c)]
    absent = [c for c in named if c not in frame.columns]
    if absent:
        raise ValueError(f"frame has no column(s) {absent}; it has {list(frame.columns)}.")
    if not (frame[period] == reference).any():
        raise ValueError(f"no row of frame has {period} == {reference!r}: the reference "
                         "period must be in the frame.")
    base = frame[frame[period] == reference]
    rows = {}
    for value, part in frame.groupby(period, sort=True):
        row: dict[str, float] = {}
        for col in inputs:
            row[f"PSI {col}"] = psi(base[col], part[col], categorical=True)
        if label:
            row[f"PSI {label}"] = psi(base[label], part[label], categorical=True)
        if correct:
            row["accuracy"] = float(part[correct].astype(bool).mean())
        if confidence:
            row["mean confidence"] = float(part[confidence].mean())
        if known:
            row["unknown label share"] = float(1 - part[known].astype(bool).mean())
        rows[value] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = period
    return table


@dataclass(frozen=True)
class Deployment:
    """What one retraining policy did over the simulated weeks.

    Attributes
    ----------
    policy : str
        One of :data:`POLICIES`.
    events : pandas.DataFrame
        One row per event served, in time order: ``day``, ``week`` (``day // 7``), the
        ``label`` (the app opened), ``predicted``, ``confidence`` (the predicted class's
        probability), ``correct`` and ``known`` (whether the serving model knew the
        label's class at all).
    retrain_days : list of int
        The first day each retrained model served.
    n_updates : int
        Online updates (one per day under ``"online"``).
    references : list of float
        The reference accuracy of the launch model (on its validation events) and of
        each retrained model (on its first week in service).
    """

    policy: str
    events: pd.DataFrame
    retrain_days: list[int] = field(default_factory=list)
    n_updates: int = 0
    references: list[float] = field(default_factory=list)

    @property
    def n_retrains(self) -> int:
        """How many times a model was retrained from scratch."""
        return len(self.retrain_days)

    def accuracy(self, by: str = "day") -> pd.Series:
        """Accuracy per ``"day"`` or ``"week"``."""
        if by not in ("day", "week"):
            raise ValueError(f"by must be 'day' or 'week', got {by!r}.")
        return self.events.groupby(by)["correct"].mean().rename(self.policy)


def _predict(model: Any, part: pd.DataFrame, label: str) -> pd.DataFrame:
    from .metrics import stable_argmax

    columns = ["day", "label", "predicted", "confidence", "correct", "known"]
    if len(part) == 0:
        return pd.DataFrame({c: [] for c in columns})
    proba = np.asarray(model.predict_proba(part), dtype=float)
    classes = np.asarray(model.classes_)
    if proba.shape != (len(part), len(classes)):
        raise ValueError(f"predict_proba returned shape {proba.shape}, expected "
                         f"({len(part)}, {len(classes)}): one column per class in classes_.")
    # Ties to the lower column, the same way on every CPU.
    best = np.asarray(stable_argmax(proba))
    y = part[label].to_numpy()
    predicted = classes[best]
    return pd.DataFrame({
        "day": part["day"].to_numpy(),
        "label": y,
        "predicted": predicted,
        "confidence": proba[np.arange(len(part)), best],
        "correct": predicted == y,
        "known": np.isin(y, classes),
    })


def simulate_deployment(frame: pd.DataFrame, model: Any, *, policy: str, start_day: int,
                        n_weeks: int, reference_correct: Any,
                        fit: Callable[[pd.DataFrame], Any] | None = None,
                        update: Callable[[Any, pd.DataFrame], Any] | None = None,
                        trigger: Callable[[np.ndarray, pd.DataFrame], Any] | None = None,
                        every: int = 1, window_days: int = 14,
                        label: str = "app_id") -> Deployment:
    """Replay ``n_weeks`` of deployment day by day under one retraining policy.

    Every day, the serving model predicts that day's events; then their labels come
    back as feedback. Under ``"online"`` the serving model is updated with each day's
    feedback (``update``); it is never retrained. At the end of each week,
    ``"periodic"`` retrains every ``every`` weeks, and ``"triggered"`` retrains when
    ``trigger(reference_correct, week_events)`` is true. A retrain fits ``fit`` on the
    last ``window_days`` days, and the new model serves from the next day on. Its first
    week in service becomes its reference: the trigger is not consulted at the end of
    that week, and compares the weeks after it with it.

    Parameters
    ----------
    frame : pandas.DataFrame
        Every event, with a ``day`` column and the ``label`` column; days before
        ``start_day`` are history (for the first retrain's window).
    model : estimator
        The launch model, with ``predict_proba(frame_part)`` and ``classes_``. It is
        copied first, never changed.
    policy : str
        One of :data:`POLICIES`.
    start_day, n_weeks : int
        The first day served, and how many weeks of 7 days to serve.
    reference_correct : array-like of bool
        Whether the launch model was right on each event of its validation period: the
        reference the trigger compares its first weeks with.
    fit : callable, optional
        ``fit(train_frame) -> model``; required by ``"periodic"`` and ``"triggered"``.
    update : callable, optional
        ``update(model, feedback_frame) -> model``; required by ``"online"``.
    trigger : callable, optional
        ``trigger(reference_correct, week_events) -> bool``, where ``week_events`` is the
        week's served events as in :attr:`Deployment.events`; required by
        ``"triggered"``.
    every : int
        Weeks between two retrains under ``"periodic"``.
    window_days : int
        Days of feedback a retrain learns from.
    label : str
        The label column.

    Returns
    -------
    Deployment

    Examples
    --------
    A log whose label changes from 1 to 2 on day 14, and a model that predicts the most
    frequent label of its training data:

    >>> from sklearn.dummy import DummyClassifier
    >>> days = np.repeat(np.arange(28), 4)
    >>> frame = pd.DataFrame({"day": days, "x": 0, "app_id": np.where(days < 14, 1, 2)})
    >>> fit = lambda part: DummyClassifier().fit(part[["x"]], part["app_id"])
    >>> launch = fit(frame[frame["day"] < 7])
    >>> never = simulate_deployment(frame, launch, policy="never", start_day=7, n_weeks=3,
    ...                             reference_correct=[True] * 4)
    >>> never.accuracy("week").tolist()
    [1.0, 0.0, 0.0]
    >>> weekly = simulate_deployment(frame, launch, policy="periodic", start_day=7,
    ...                              n_weeks=3, reference_correct=[True] * 4, fit=fit,
    ...                              window_days=7)
    >>> weekly.accuracy("week").tolist(), weekly.retrain_days
    ([1.0, 0.0, 1.0], [14, 21])
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}.")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
    for col in ("day", label):
        if col not in frame.columns:
            raise ValueError(f"frame has no column {col!r}.")
    start_day = check_int("start_day", start_day, minimum=0)
    n_weeks = check_int("n_weeks", n_weeks, minimum=1)
    every = check_int("every", every, minimum=1)
    window_days = check_int("window_days", window_days, minimum=1)
    reference = _as_correct("reference_correct", reference_correct)
    needs = {"periodic": ("fit",), "triggered": ("fit", "trigger"), "online": ("update",)}
    given = {"fit": fit, "update": update, "trigger": trigger}
    for name in needs.get(policy, ()):
        if not callable(given[name]):
            raise TypeError(f"policy {policy!r} needs a callable {name}, got "
                            f"{type(given[name]).__name__}.")
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise TypeError("model must be a fitted classifier with predict_proba and classes_.")
    days = frame["day"].to_numpy()
    last = start_day + 7 * n_weeks - 1
    if len(days) == 0 or last > days.max():
        raise ValueError(f"the weeks served end on day {last}, beyond the log's last day "
                         f"({days.max() if len(days) else 'none'}): serve fewer weeks.")

    model = copy.deepcopy(model)
    served, retrain_days, references = [], [], [float(reference.mean())]
    current: np.ndarray | None = reference
    n_updates = 0
    for week in range(n_weeks):
        first = start_day + 7 * week
        parts = []
        for day in range(first, first + 7):
            part = frame[days == day]
            parts.append(_predict(model, part, label))
            if policy == "online" and len(part):
                model = update(model, part)
                n_updates += 1
        week_events = pd.concat(parts, ignore_index=True)
        served.append(week_events)
        if current is None:
            # A retrained model's first week in service sets its reference.
            current = week_events["correct"].to_numpy()
            references.append(float(current.mean()))
            alarm = False
        else:
            alarm = policy == "triggered" and bool(trigger(current, week_events))
        scheduled = policy == "periodic" and (week + 1) % every == 0
        if (alarm or scheduled) and week + 1 < n_weeks:
            end = first + 7
            model = fit(frame[(days >= end - window_days) & (days < end)])
            retrain_days.append(end)
            current = None
    events = pd.concat(served, ignore_index=True)
    events.insert(1, "week", events["day"] // 7)
    return Deployment(policy=policy, events=events, retrain_days=retrain_days,
                      n_updates=n_updates, references=references)
