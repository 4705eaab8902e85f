"""Simulated users reacting to a ranked list of suggestions: the online metric, offline.

A deployed NextApp model does not see "the right answer"; it sees whether the user
tapped one of the apps it suggested. What users tap depends on where a suggestion sits
as much as on whether it is right: most people look at the first slot, some glance at
the second, few read further. This module simulates that reaction so a lab can measure
an *online* metric (the acceptance rate) next to the *offline* ones (top-k hit rates)
without shipping a model to real people.

The user model is the position-based click model used in the learning-to-rank
literature: each session, the user examines slot ``i`` independently with probability
``examine_prob[i]``; an examined suggestion of the app they wanted is accepted with
probability ``accept_prob``; an examined wrong suggestion is tapped by mistake with
probability ``misclick_prob``. The session counts as accepted when at least one
suggestion was tapped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_1d, check_float, check_int, check_rng

__all__ = ["position_bias", "simulate_feedback"]


def position_bias(n_slots: int, *, top: float = 0.9, decay: float = 0.35) -> np.ndarray:
    """Probability that a user examines each slot of a suggestion list.

    Slot 0 (the first) is examined with probability ``top`` and every further slot
    ``decay`` times as often as the one before it.

    Parameters
    ----------
    n_slots : int
        Length of the suggestion list, at least 1.
    top : float
        Examination probability of the first slot, in (0, 1].
    decay : float
        Ratio between the examination probabilities of consecutive slots, in [0, 1].
        Small values mean users rarely look past the first slot or two.

    Returns
    -------
    numpy.ndarray of shape (n_slots,)
        Non-increasing probabilities.

    Examples
    --------
    >>> position_bias(3, top=0.8, decay=0.5).round(2).tolist()
    [0.8, 0.4, 0.2]
    """
    n_slots = check_int("n_slots", n_slots, minimum=1)
    top = check_float("top", top, low=0, high=1, low_inclusive=False)
    decay = check_float("decay", decay, low=0, high=1)
    return top * decay ** np.arange(n_slots)


def _check_rankings(rankings: Any, true_apps: Any) -> tuple[np.ndarray, np.ndarray]:
    ranks = np.asarray(rankings)
    if ranks.ndim != 2 or ranks.shape[1] == 0:
        raise ValueError("rankings must be a 2-d array of app ids, one row per session and "
                         f"one column per slot; got an array of shape {ranks.shape}.")
    if not np.issubdtype(ranks.dtype, np.integer):
        raise TypeError("rankings must hold integer app ids (e.g. the columns of "
                        f"np.argsort(-scores, axis=1)), got dtype {ranks.dtype}.")
    truth = check_1d("true_apps", true_apps)
    if not np.issubdtype(truth.dtype, np.integer):
        raise TypeError(f"true_apps must hold integer app ids, got dtype {truth.dtype}.")
    if len(truth) != len(ranks):
        raise ValueError(f"rankings has {len(ranks)} sessions (rows) but true_apps has "
                         f"{len(truth)} entries; give one wanted app per session.")
    return ranks, truth


def simulate_feedback(
    rankings: Any,
    true_apps: Any,
    examine_prob: Any,
    *,
    accept_prob: float = 0.9,
    misclick_prob: float = 0.01,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate users who see a ranked list of suggested apps and tap one or none.

    Each row of ``rankings`` is the list shown in one session, best first. The user
    examines slot ``i`` with probability ``examine_prob[i]`` (independently of the
    other slots), accepts an examined suggestion of the app they wanted with
    probability ``accept_prob``, and taps an examined wrong suggestion with
    probability ``misclick_prob``. When several suggestions would be tapped the
    highest one wins.

    Parameters
    ----------
    rankings : array-like of int, shape (n_sessions, n_slots)
        Suggested app ids per session, best first.
    true_apps : array-like of int, shape (n_sessions,)
        The app each user actually wanted.
    examine_prob : array-like of float, shape (n_slots,)
        Probability of examining each slot, e.g. from :func:`position_bias`.
    accept_prob : float
        Probability of taking a correct suggestion that was seen, in [0, 1].
    misclick_prob : float
        Probability of tapping a wrong suggestion that was seen, in [0, 1].
    random_state : int, numpy.random.Generator or None
        Seed. The same seed gives the same draws, so two models shown to the same
        seeded users are compared on the same examination pattern (common random
        numbers), which makes their difference less noisy.

    Returns
    -------
    pandas.DataFrame
        One row per session with columns ``accepted`` (bool: a suggestion was
        tapped), ``slot`` (the tapped slot, -1 when none) and ``correct`` (bool: the
        tapped app was the wanted one).

    Examples
    --------
    >>> rankings = [[3, 1, 2], [1, 2, 3]]
    >>> log = simulate_feedback(rankings, [3, 3], [1.0, 1.0, 0.0], accept_prob=1.0,
    ...                         misclick_prob=0.0, random_state=0)
    >>> log["accepted"].tolist(), log["slot"].tolist()
    ([True, False], [0, -1])
    """
    ranks, truth = _check_rankings(rankings, true_apps)
    exam = check_1d("examine_prob", examine_prob)
    if len(exam) != ranks.shape[1]:
        raise ValueError(f"examine_prob has {len(exam)} entries but the lists have "
                         f"{ranks.shape[1]} slots; give one probability per slot.")
    if np.any((exam < 0) | (exam > 1)):
        raise ValueError("examine_prob must hold probabilities in [0, 1].")
    accept_prob = check_float("accept_prob", accept_prob, low=0, high=1)
    misclick_prob = check_float("misclick_prob", misclick_prob, low=0, high=1)
    rng = check_rng(random_state)

    # Draw examination and both tap decisions for every slot, so that the random
    # stream does not depend on the model: two rankings shown with one seed share it.
    examined = rng.random(ranks.shape) < exam[None, :]
    taps = rng.random(ranks.shape)
    right = ranks == truth[:, None]
    tapped = examined & np.where(right, taps < accept_prob, taps < misclick_prob)
    accepted = tapped.any(axis=1)
    slot = np.where(accepted, np.argmax(tapped, axis=1), -1)
    correct = accepted & right[np.arange(len(ranks)), np.maximum(slot, 0)]
    return pd.DataFrame({"accepted": accepted, "slot": slot, "correct": correct})
