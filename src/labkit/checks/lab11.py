"""Public self-checks of Lab 11, *Confidence, feedback and drift*.

Each check first runs the learner's function on small cases worked out by hand (the
ones the lab's instructions walk through, plus cases that expose the usual slips), then
records what the answer gives on this run's data (for the grader), then tests
properties every correct answer has on this run's data. Failures say what is wrong in
plain words; they never print a value computed from this run's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._core import (
    Example,
    as_number,
    call_answer,
    check_examples,
    expect,
    expect_choice,
    expect_number,
    passed,
    record,
)
from ._core import decision as _decision

__all__ = ["accuracy_alarm", "confidence_threshold", "expected_calibration_error",
           "fit_temperature", "retraining_policy"]

#: Numbers of bins at which the expected calibration error is recorded.
ECE_BINS = (5, 10, 20)
#: Alarm levels (in standard errors) at which the accuracy alarm is recorded.
ALARM_LEVELS = (2.0, 3.0)
#: The policy table's columns that the retraining decision reads.
AFTER, RETRAINS, NEW_APP_HITS = "accuracy after the change", "full retrains", \
    "new-app events right"

# ---------------------------------------------------------------- expected calibration error

_ECE_WHY = ("put each prediction in its bin ([0, 0.2), [0.2, 0.4), ... for five bins, a "
            "confidence of 1 in the last bin), take |accuracy - mean confidence| in each "
            "non-empty bin, and weight it by the bin's share of all predictions.")


def _ece_case(conf: list[float], right: list[int], n_bins: int, want: float, shown: str,
              slips: dict[float, str] | None = None) -> Example:
    return Example((np.array(conf), np.array(right, dtype=bool), n_bins), want,
                   f"{shown}, n_bins={n_bins}", slips or {}, why=_ECE_WHY)


_ECE_EXAMPLES = (
    # The lab's worked example: bins [0.8, 1] (gap 0.1), [0.6, 0.8) (gap 0.135) and
    # [0.2, 0.4) (gap 0.25), holding 2, 2 and 1 of the 5 predictions.
    _ece_case([0.95, 0.85, 0.65, 0.62, 0.25], [1, 1, 0, 1, 0], 5, 0.144,
              "confidence=[0.95, 0.85, 0.65, 0.62, 0.25], correct=[1, 1, 0, 1, 0]", {
                  0.485 / 3: "that is the plain mean of the non-empty bins' gaps; weight "
                             "each gap by the share of predictions in its bin.",
                  0.485 / 5: "that is the mean gap over all bins, empty ones included; "
                             "weight each gap by the share of predictions in its bin.",
                  -0.064: "the gaps must be absolute values: an overconfident bin and an "
                          "underconfident one do not cancel.",
                  0.064: "take the absolute value of each bin's gap before adding them up, "
                         "not of the total: over- and underconfident bins must not cancel.",
                  0.25: "that is the largest gap (the maximum calibration error); the "
                        "expected error averages the gaps, weighted by the bins' sizes.",
                  0.485: "the gaps are added without weights; weight each by its bin's "
                         "share of the predictions.",
              }),
    # Confidence 1.0 belongs to the last bin.
    _ece_case([1.0, 1.0, 0.9, 0.45], [1, 0, 1, 1], 5, 0.3625,
              "confidence=[1.0, 1.0, 0.9, 0.45], correct=[1, 0, 1, 1]", {
                  0.1625: "the two predictions made with confidence 1.0 were left out: a "
                          "confidence of exactly 1 belongs to the last bin, [0.8, 1].",
              }),
    # A calibrated bin: predictions made with confidence 0.75, three of four right.
    _ece_case([0.75, 0.75, 0.75, 0.75], [1, 1, 1, 0], 10, 0.0,
              "confidence=[0.75, 0.75, 0.75, 0.75], correct=[1, 1, 1, 0] (calibrated)"),
    # One bin: the gap between the overall accuracy and the mean confidence.
    _ece_case([0.95, 0.85, 0.65, 0.62, 0.25], [1, 1, 0, 1, 0], 1, 0.064,
              "confidence=[0.95, 0.85, 0.65, 0.62, 0.25], correct=[1, 1, 0, 1, 0]"),
    _ece_case([0.15, 0.55, 0.55, 0.95], [0, 1, 0, 1], 2, 0.05,
              "confidence=[0.15, 0.55, 0.55, 0.95], correct=[0, 1, 0, 1]"),
)


def _confidences(task: str, confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence)
    right = np.asarray(correct)
    expect(conf.ndim == 1 and right.shape == conf.shape and conf.size > 0, task,
           "give the check the confidence of each prediction and whether it was right "
           "(two one-dimensional arrays of equal length).")
    expect(conf.dtype.kind in "biuf" and bool(np.all((conf >= 0) & (conf <= 1))), task,
           "the confidences must be probabilities between 0 and 1.")
    expect(right.dtype == bool or (right.dtype.kind in "biuf"
                                    and bool(np.isin(right, (0, 1)).all())), task,
           "correct must hold True/False (or 0/1): was each prediction right?")
    return conf.astype(float), right.astype(bool)


def expected_calibration_error(func: Callable[..., Any], confidence: Any,
                               correct: Any) -> None:
    """Check ``expected_calibration_error(confidence, correct, n_bins)``.

    Runs the worked examples, records the answer on this run's data for several
    numbers of bins, then compares it with an independent computation
    (:func:`labkit.confidence.expected_calibration_error`, itself tested against
    scikit-learn's ``calibration_curve``).

    Parameters
    ----------
    func : callable
        The learner's ``expected_calibration_error``.
    confidence : array-like
        This run's confidences (the probability of each predicted class).
    correct : array-like of bool
        Whether each prediction was right.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from labkit.confidence import expected_calibration_error as ece
    >>> expected_calibration_error(lambda c, r, n: ece(c, r, n_bins=n),
    ...                            [0.9, 0.8, 0.3], [True, False, False])
    [ok] expected_calibration_error: all checks passed
    """
    from ..confidence import expected_calibration_error as reference

    task = "expected_calibration_error"
    conf, right = _confidences(task, confidence, correct)
    check_examples(task, func, _ECE_EXAMPLES, result=lambda v: expect_number(task, v),
                   rtol=1e-6, atol=1e-9)
    on_run = [as_number(call_answer(task, func, conf, right, n)) for n in ECE_BINS]
    record(task, n_bins=np.array(ECE_BINS, dtype=float), ece=on_run)
    for n, got in zip(ECE_BINS, on_run, strict=True):
        expect(not math.isnan(got) and 0.0 <= got <= 1.0, task,
               f"on this run's data with n_bins={n} the answer is not a number between 0 "
               "and 1.")
        expect(math.isclose(got, reference(conf, right, n_bins=n), rel_tol=1e-6,
                            abs_tol=1e-9), task,
               f"on this run's data with n_bins={n} your ECE differs from an independent "
               "computation (bins closed on the left, [0, 1/n), ..., the last one [1 - 1/n, "
               "1] with a confidence of 1 in it).")
    passed(task)


# ---------------------------------------------------------------- temperature scaling

_T_WHY = ("return the T > 0 that minimises the mean negative log-likelihood of the labels "
          "under softmax(logits / T), computed with the log-sum-exp trick.")


def _two_class(p: float, n_first: int, n_second: int, scale: float = 1.0,
               shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    logits = np.tile(scale * np.log([p, 1 - p]) + shift, (n_first + n_second, 1))
    return logits, np.array([0] * n_first + [1] * n_second)


_T_EXAMPLES = (
    # Says 0.7 and is right 7 times in 10: calibrated already.
    Example(_two_class(0.7, 7, 3), 1.0,
            "logits=log([0.7, 0.3]) for 10 cases, labels=[0]*7 + [1]*3 (calibrated)",
            why=_T_WHY),
    # The same logits doubled: the model says 0.845 for a 70% chance, T = 2.
    Example(_two_class(0.7, 7, 3, scale=2.0), 2.0,
            "logits=2*log([0.7, 0.3]) for 10 cases, labels=[0]*7 + [1]*3",
            {0.5: "that is 1/T: the logits are divided by the temperature, not multiplied.",
             1.0: "T = 1 leaves the overconfident logits as they are; minimise the negative "
                  "log-likelihood over T."},
            why=_T_WHY),
    # Says 0.9 and is right 3 times in 4: T = ln 9 / ln 3 = 2.
    Example(_two_class(0.9, 3, 1), 2.0,
            "logits=log([0.9, 0.1]) for 4 cases, labels=[0, 0, 0, 1]",
            {0.5: "that is 1/T: the logits are divided by the temperature, not multiplied."},
            why=_T_WHY),
    # Underconfident: says 0.6, right 9 times in 10: T = ln 1.5 / ln 9 < 1.
    Example(_two_class(0.6, 9, 1), math.log(1.5) / math.log(9.0),
            "logits=log([0.6, 0.4]) for 10 cases, labels=[0]*9 + [1] (underconfident)",
            why="an underconfident model needs T < 1; make sure the search allows "
                "temperatures below 1 (e.g. search over log T)."),
    # Three classes: says 0.8 for class 0, which is right half the time: T = 3.
    Example((np.tile(np.log([8.0, 1.0, 1.0]), (4, 1)), np.array([0, 0, 1, 2])), 3.0,
            "logits=log([8, 1, 1]) for 4 cases, labels=[0, 0, 1, 2]", why=_T_WHY),
    # Logits in the thousands: exp overflows unless the softmax subtracts the maximum.
    Example(_two_class(0.7, 7, 3, shift=1000.0), 1.0,
            "logits=log([0.7, 0.3]) + 1000 for 10 cases, labels=[0]*7 + [1]*3",
            why="adding the same number to every logit of a row changes nothing, but "
                "exp(1000) overflows: compute log-probabilities with the log-sum-exp trick "
                "(scipy.special.logsumexp), not log(exp(z) / sum(exp(z)))."),
    Example(_two_class(0.7, 7, 3, shift=-1000.0), 1.0,
            "logits=log([0.7, 0.3]) - 1000 for 10 cases, labels=[0]*7 + [1]*3",
            why="exp(-1000) is 0 in floating point, so log(exp(z) / sum(exp(z))) gives "
                "log(0/0): use the log-sum-exp trick (scipy.special.logsumexp)."),
)


def _logits_and_labels(task: str, logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits)
    y = np.asarray(labels)
    expect(z.ndim == 2 and z.shape[1] >= 2 and y.shape == (z.shape[0],) and y.size > 0,
           task, "give the check the validation logits (one row per case, one column per "
                 "class) and the labels (one column index per case).")
    expect(z.dtype.kind in "biuf" and not np.isnan(z).any() and not np.isposinf(z).any(),
           task, "the logits must be numbers (no NaN or +inf).")
    expect(y.dtype.kind in "iu" and y.min() >= 0 and y.max() < z.shape[1], task,
           "the labels must be integer column indices of the logits.")
    return z.astype(float), y.astype(np.int64)


def fit_temperature(func: Callable[..., Any], logits: Any, labels: Any) -> None:
    """Check ``fit_temperature(logits, labels)``.

    Runs the worked examples (whose temperatures follow in closed form from the share of
    right answers), records the temperature on this run's validation data, and checks
    on it that the validation negative log-likelihood is at its minimum there: no lower
    at 1% more or less, and equal to that of :func:`labkit.confidence.fit_temperature`.

    Parameters
    ----------
    func : callable
        The learner's ``fit_temperature``.
    logits : array-like of shape (n, n_classes)
        This run's validation logits.
    labels : array-like of shape (n,)
        This run's validation labels, as column indices.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from labkit.confidence import fit_temperature as reference
    >>> fit_temperature(reference, np.log([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), [0, 1, 1])
    [ok] fit_temperature: all checks passed
    """
    from ..confidence import fit_temperature as reference
    from ..confidence import negative_log_likelihood as nll

    task = "fit_temperature"
    z, y = _logits_and_labels(task, logits, labels)
    check_examples(task, func, _T_EXAMPLES, result=lambda v: expect_number(task, v),
                   rtol=2e-3, atol=1e-6)
    t = expect_number(task, call_answer(task, func, z, y))
    record(task, rtol=2e-3, temperature=t)
    expect(t > 0 and math.isfinite(t), task,
           "on this run's data the temperature is not a positive number.")
    at_t = nll(z, y, t)
    for other in (t * 1.01, t / 1.01):
        expect(at_t <= nll(z, y, other) + 1e-12, task,
               "on this run's validation data a temperature 1% away from yours gives a "
               "lower negative log-likelihood: yours is not the minimum.")
    expect(at_t <= nll(z, y, reference(z, y)) + 1e-7, task,
           "on this run's validation data another temperature gives a clearly lower "
           "negative log-likelihood than yours: search a wider range (over log T).")
    expect(at_t <= nll(z, y, 1.0) + 1e-12, task,
           "on this run's data your temperature fits worse than T = 1 (no scaling).")
    passed(task)


# ---------------------------------------------------------------- abstention threshold


def confidence_threshold(value: Any, confidence: Any, correct: Any,
                         target_risk: float) -> None:
    """Check the decision ``CONFIDENCE_THRESHOLD``: answer when confidence >= threshold.

    The right threshold is the lowest validation confidence at which the risk (the error
    rate among the cases answered) stays within ``target_risk``: the one that answers the
    most validation cases while meeting the target. Any threshold that answers the same
    validation cases is right. Recorded as the distance, in distinct validation
    confidences, between the learner's threshold and the right one on the inputs given
    (0 when right), so that the decision is judged on the learner's own calibrated
    confidences.

    Parameters
    ----------
    value : float
        The learner's ``CONFIDENCE_THRESHOLD``.
    confidence, correct : array-like
        This run's *validation* confidences and whether each prediction was right.
    target_risk : float
        The highest error rate allowed among the answered cases, in (0, 1).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> conf = [0.9, 0.8, 0.7, 0.6, 0.5]
    >>> right = [True, True, False, False, True]
    >>> confidence_threshold(0.5, conf, right, 0.5)
    [ok] confidence_threshold: consistent with the validation data
    >>> confidence_threshold(0.8, conf, right, 0.5)
    Traceback (most recent call last):
    ...
    AssertionError: confidence_threshold: your threshold keeps the risk on the answered \
validation cases within the target, but a lower one would too and would answer more \
cases. The target is on the error rate among all the cases answered, not on each case.
    """
    from ..confidence import coverage_risk

    task = "confidence_threshold"
    conf, right = _confidences(task, confidence, correct)
    expect(isinstance(target_risk, (int, float)) and 0 < target_risk < 1, task,
           "the target risk must be a number between 0 and 1.")
    curve = coverage_risk(conf, right)                    # highest threshold first
    distinct = curve["threshold"].to_numpy()
    meets = curve["risk"].to_numpy() <= target_risk
    expect(bool(meets.any()), task, "no threshold keeps the validation risk within the "
                                    "target: check the inputs (validation confidences).")
    best = int(np.flatnonzero(meets).max())               # lowest threshold meeting it
    got = math.nan if isinstance(value, (str, bool)) else as_number(value)
    position = int(np.sum(distinct >= got)) - 1 if not math.isnan(got) else -2
    offset = float(position - best) if not math.isnan(got) else math.nan
    record(task, threshold_offset=_decision(offset, accepted=[0.0]))
    expect(not math.isnan(got), task, "set CONFIDENCE_THRESHOLD to a single number, got "
                                      f"{type(value).__name__} {str(value)[:40]}.")
    expect(0.0 <= got <= 1.0, task, "a confidence threshold is a probability, between 0 "
                                    "and 1.")
    shown = conf >= got
    expect(bool(shown.any()), task, "your threshold answers no validation case at all: "
                                    "it is above every confidence.")
    risk = float(np.mean(~right[shown]))
    expect(risk <= target_risk, task,
           "the risk on the validation cases your threshold answers is above the target: "
           "raise the threshold (and choose it on the validation data).")
    expect(position >= best, task,
           "your threshold keeps the risk on the answered validation cases within the "
           "target, but a lower one would too and would answer more cases. The target is on "
           "the error rate among all the cases answered, not on each case.")
    passed(task, "consistent with the validation data")


# ---------------------------------------------------------------- accuracy alarm


def _outcomes(n_right: int, n: int) -> np.ndarray:
    return np.array([True] * n_right + [False] * (n - n_right))


_ALARM_WHY = ("compute z = (p_now - p_ref) / sqrt(p (1 - p) (1/n_ref + 1/n_now)) with p the "
              "pooled accuracy of both periods, and raise the alarm only when z < -z_alarm.")
_ALARM_EXAMPLES = (
    Example((_outcomes(75, 100), _outcomes(25, 100), 3.0), True,
            "reference 75 right of 100, now 25 of 100, z_alarm=3 (z = -7.1)", why=_ALARM_WHY),
    Example((_outcomes(25, 100), _outcomes(75, 100), 3.0), False,
            "reference 25 right of 100, now 75 of 100, z_alarm=3 (the model got better)",
            {True: "the alarm went off because the model got better: it is one-sided, an "
                   "alarm for drops only (z < -z_alarm, not |z| > z_alarm)."},
            why=_ALARM_WHY),
    Example((_outcomes(500, 1000), _outcomes(480, 1000), 3.0), False,
            "reference 500 right of 1000, now 480 of 1000, z_alarm=3 (z = -0.89)",
            {True: "a drop of two points on 1000 cases is within the noise (z = -0.89): "
                   "compare the drop with its standard error, not with zero."},
            why=_ALARM_WHY),
    Example((_outcomes(9, 10), _outcomes(700, 1000), 3.0), False,
            "reference 9 right of 10, now 700 of 1000, z_alarm=3 (z = -1.38)",
            {True: "with only 10 reference cases the reference accuracy is itself uncertain: "
                   "the standard error needs 1/n_ref + 1/n_now, with the pooled accuracy."},
            why=_ALARM_WHY),
    Example((_outcomes(500, 1000), _outcomes(444, 1000), 2.0), True,
            "reference 500 right of 1000, now 444 of 1000, z_alarm=2 (z = -2.51)",
            {False: "with z_alarm=2 a drop of 2.51 standard errors raises the alarm: use the "
                    "z_alarm you are given."},
            why=_ALARM_WHY),
    Example((_outcomes(500, 1000), _outcomes(444, 1000), 3.0), False,
            "reference 500 right of 1000, now 444 of 1000, z_alarm=3 (z = -2.51)",
            why=_ALARM_WHY),
    Example((_outcomes(20, 20), _outcomes(30, 30), 3.0), False,
            "reference 20 right of 20, now 30 of 30, z_alarm=3 (both perfect)",
            why="when both periods are all right the accuracies are equal: no alarm (mind "
                "the division by a standard error of 0)."),
)


def accuracy_alarm(func: Callable[..., Any], reference_correct: Any,
                   correct_by_period: Mapping[Any, Any]) -> None:
    """Check ``accuracy_alarm(reference_correct, current_correct, z_alarm)``.

    Runs the worked examples, records the alarm of each period of this run at two alarm
    levels, and checks each against the two-proportion z statistic of
    :func:`labkit.monitoring.accuracy_drop_z` (tested against ``statsmodels``).

    Parameters
    ----------
    func : callable
        The learner's ``accuracy_alarm``; it returns True or False.
    reference_correct : array-like of bool
        Whether each prediction of the reference period was right.
    correct_by_period : mapping
        Period -> whether each prediction of that period was right.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from labkit.monitoring import accuracy_drop_z
    >>> alarm = lambda ref, now, z: bool(accuracy_drop_z(ref, now) < -z)
    >>> accuracy_alarm(alarm, [True, False] * 50, {1: [True, False] * 40, 2: [False] * 90})
    [ok] accuracy_alarm: all checks passed
    """
    from ..monitoring import accuracy_drop_z

    task = "accuracy_alarm"
    expect(isinstance(correct_by_period, Mapping) and len(correct_by_period) > 0, task,
           "give the check a mapping from each period to whether its predictions were "
           "right.")
    ref = np.asarray(reference_correct).astype(bool)
    periods = list(correct_by_period)
    current = {p: np.asarray(correct_by_period[p]).astype(bool) for p in periods}

    def as_bool(value: Any) -> bool:
        expect(isinstance(value, (bool, np.bool_)), task,
               f"the function should return True or False, got {type(value).__name__} "
               f"{str(value)[:40]}.")
        return bool(value)

    check_examples(task, func, _ALARM_EXAMPLES, result=as_bool)
    on_run = {z: [as_bool(call_answer(task, func, ref, current[p], z)) for p in periods]
              for z in ALARM_LEVELS}
    record(task, periods=np.array([str(p) for p in periods]),
           **{f"alarm_z{z:g}": np.array(v, dtype=float) for z, v in on_run.items()})
    for z, alarms in on_run.items():
        for period, got in zip(periods, alarms, strict=True):
            want = accuracy_drop_z(ref, current[period]) < -z
            expect(got == want, task,
                   f"on this run's data, period {period} with z_alarm={z:g}: your alarm "
                   + ("went off, but the drop is within z_alarm standard errors of the "
                      "two-proportion z test." if got else
                      "stayed silent, but the two-proportion z test finds a drop of more "
                      "than z_alarm standard errors."))
    passed(task)


# ---------------------------------------------------------------- retraining policy


def _right_policy(table: pd.DataFrame, tolerance: float) -> str:
    learns = table[table[NEW_APP_HITS] > 0]
    best = learns[AFTER].max()
    good = learns[learns[AFTER] >= best - tolerance]
    order = good.sort_values([RETRAINS, AFTER], ascending=[True, False], kind="stable")
    return str(order.index[0])


def retraining_policy(value: Any, table: Any, tolerance: float) -> None:
    """Check the decision ``POLICY``: which retraining policy to run.

    The requirements: the policy must be able to suggest new apps (some new-app events
    predicted right), and its accuracy after the change must be within ``tolerance`` of
    the most accurate policy that can. Among those, the one with the fewest full
    retrains (on a tie, the more accurate). Recorded as whether the choice is right on
    the learner's own table (whose drift-triggered row depends on the learner's alarm).

    Parameters
    ----------
    value : str
        The learner's ``POLICY``, a row name of ``table``.
    table : pandas.DataFrame
        One row per policy, with columns ``"accuracy after the change"``,
        ``"full retrains"`` and ``"new-app events right"``.
    tolerance : float
        The accuracy the team gives up to save retrains.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({AFTER: [0.20, 0.26, 0.255, 0.258], RETRAINS: [0, 5, 2, 0],
    ...                       NEW_APP_HITS: [0, 90, 70, 0]},
    ...                      index=["never", "periodic", "triggered", "online"])
    >>> retraining_policy("triggered", table, 0.01)
    [ok] retraining_policy: consistent with the table
    """
    task = "retraining_policy"
    expect(isinstance(table, pd.DataFrame) and {AFTER, RETRAINS, NEW_APP_HITS}
           <= set(table.columns), task,
           f"give the check the policy table (columns {AFTER!r}, {RETRAINS!r} and "
           f"{NEW_APP_HITS!r}).")
    expect(bool((table[NEW_APP_HITS] > 0).any()), task,
           "no policy in the table ever predicted a new app right, so none meets the "
           "requirement; check the table.")
    names = [str(name) for name in table.index]
    right = _right_policy(table, float(tolerance))
    choice = value.strip().lower() if isinstance(value, str) else None
    record(task, policy_is_right=_decision(float(choice == right.lower()), accepted=[1.0]))
    choice = expect_choice(task, value, [n.lower() for n in names])
    row = table.loc[names[[n.lower() for n in names].index(choice)]]
    expect(row[NEW_APP_HITS] > 0, task,
           "this policy never predicted a new app right: a model it serves cannot suggest "
           "an app launched after its training, which the product requires.")
    learns = table[table[NEW_APP_HITS] > 0]
    expect(row[AFTER] >= learns[AFTER].max() - tolerance, task,
           "this policy's accuracy after the change is more than the tolerance below the "
           "most accurate policy that learns new apps.")
    expect(choice == right.lower(), task,
           "another policy meets both requirements with fewer full retrains (or as few, "
           "and more accurately).")
    passed(task, "consistent with the table")
