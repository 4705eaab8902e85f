"""Tests of labkit.monitoring: the z statistic against statsmodels, the weekly monitor
against labkit.quality.psi, and the deployment simulator on logs whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier

from labkit import monitoring, quality

# ------------------------------------------------------------------ the z statistic


@pytest.mark.parametrize(("ref", "cur"), [((75, 100), (25, 100)), ((500, 1000), (480, 1000)),
                                          ((9, 10), (700, 1000)), ((30, 90), (70, 120)),
                                          ((1, 3), (0, 5))])
def test_accuracy_drop_z_matches_statsmodels(ref, cur):
    from statsmodels.stats.proportion import proportions_ztest

    def outcomes(right, n):
        return [True] * right + [False] * (n - right)

    want, _ = proportions_ztest([cur[0], ref[0]], [cur[1], ref[1]])
    got = monitoring.accuracy_drop_z(outcomes(*ref), outcomes(*cur))
    assert got == pytest.approx(want, rel=1e-12)


def test_accuracy_drop_z_sign_and_degenerate_cases():
    assert monitoring.accuracy_drop_z([1, 1, 0, 0], [0, 0, 0, 1]) < 0
    assert monitoring.accuracy_drop_z([0, 0, 0, 1], [1, 1, 0, 0]) > 0
    assert monitoring.accuracy_drop_z([1] * 5, [1] * 9) == 0.0
    assert monitoring.accuracy_drop_z([0] * 5, [0] * 9) == 0.0


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=4), st.floats(),
                 st.lists(st.one_of(st.integers(-2, 3), st.text(max_size=2), st.floats()),
                          max_size=5)),
       st.lists(st.booleans(), max_size=5))
def test_accuracy_drop_z_rejects_junk_clearly(reference, current):
    try:
        z = monitoring.accuracy_drop_z(reference, current)
    except (TypeError, ValueError) as exc:
        assert str(exc)
    else:
        assert np.isfinite(z)


# ------------------------------------------------------------------ the weekly monitor


def test_monitor_matches_psi_and_the_plain_statistics():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"week": np.repeat([2, 3, 4], n // 3),
                          "hour": rng.integers(0, 24, n),
                          "app": np.concatenate([rng.integers(0, 5, 400),
                                                 rng.integers(3, 8, 200)]),
                          "right": rng.random(n) < 0.4,
                          "conf": rng.uniform(0.2, 0.6, n)})
    frame["known"] = frame["app"] < 6
    table = monitor = monitoring.monitor(frame, period="week", reference=2, inputs=["hour"],
                                         label="app", correct="right", confidence="conf",
                                         known="known")
    assert list(table.index) == [2, 3, 4]
    assert list(monitor.columns) == ["PSI hour", "PSI app", "accuracy", "mean confidence",
                                     "unknown label share"]
    base = frame[frame["week"] == 2]
    for week, part in frame.groupby("week"):
        row = table.loc[week]
        assert row["PSI hour"] == quality.psi(base["hour"], part["hour"], categorical=True)
        assert row["PSI app"] == quality.psi(base["app"], part["app"], categorical=True)
        assert row["accuracy"] == pytest.approx(part["right"].mean())
        assert row["mean confidence"] == pytest.approx(part["conf"].mean())
        assert row["unknown label share"] == pytest.approx(1 - part["known"].mean())
    assert table.loc[2, "PSI app"] == 0.0 and table.loc[4, "PSI app"] > 1.0


def test_monitor_says_what_is_wrong():
    frame = pd.DataFrame({"week": [0, 1], "x": [1, 2]})
    with pytest.raises(TypeError, match="DataFrame"):
        monitoring.monitor(frame.to_numpy(), period="week", reference=0)
    with pytest.raises(ValueError, match=r"no column\(s\) \['y'\]"):
        monitoring.monitor(frame, period="week", reference=0, inputs=["y"])
    with pytest.raises(ValueError, match="reference period must be in the frame"):
        monitoring.monitor(frame, period="week", reference=5, inputs=["x"])
    with pytest.raises(TypeError, match="list of column names"):
        monitoring.monitor(frame, period="week", reference=0, inputs="x")


# ------------------------------------------------------------------ the deployment simulator


class DayMemory(ClassifierMixin, BaseEstimator):
    """Predicts the label most often seen in training; records what it was fitted on."""

    def fit(self, X, y):
        values, counts = np.unique(np.asarray(y), return_counts=True)
        self.classes_ = values
        self.prior_ = counts / counts.sum()
        self.days_ = sorted(set(X["day"]))
        return self

    def partial_fit(self, X, y):
        known = np.isin(np.asarray(y), self.classes_)
        counts = np.array([np.sum(np.asarray(y)[known] == c) for c in self.classes_])
        self.prior_ = self.prior_ + counts / max(len(y), 1)
        self.prior_ = self.prior_ / self.prior_.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


def shifting_log(days=35, per_day=10, change=21, new_label_day=28):
    """Label 1 before day `change`, label 2 after it, label 3 (new) from `new_label_day`
    on for every other event."""
    day = np.repeat(np.arange(days), per_day)
    label = np.where(day < change, 1, 2)
    label[(day >= new_label_day) & (np.arange(day.size) % 2 == 0)] = 3
    return pd.DataFrame({"day": day, "x": 0, "app_id": label})


def fit(part):
    return DayMemory().fit(part, part["app_id"])


def update(model, feedback):
    return model.partial_fit(feedback, feedback["app_id"])


def test_never_serves_the_launch_model_and_leaves_it_unchanged():
    log = shifting_log()
    launch = fit(log[log["day"] < 7])
    run = monitoring.simulate_deployment(log, launch, policy="never", start_day=14,
                                         n_weeks=3, reference_correct=[True] * 10)
    assert run.accuracy("week").tolist() == [1.0, 0.0, 0.0]
    assert run.n_retrains == 0 and run.n_updates == 0 and run.references == [1.0]
    assert len(run.events) == 3 * 7 * 10
    assert (run.events["predicted"] == 1).all()
    assert not run.events.loc[run.events["label"] == 3, "known"].any()
    assert launch.days_ == list(range(7))


def test_periodic_retrains_on_schedule_on_the_window():
    log = shifting_log()
    launch = fit(log[log["day"] < 7])
    fitted = []

    def recording_fit(part):
        fitted.append(sorted(set(part["day"])))
        return fit(part)

    run = monitoring.simulate_deployment(log, launch, policy="periodic", every=1,
                                         start_day=7, n_weeks=4,
                                         reference_correct=[True] * 10, fit=recording_fit,
                                         window_days=7)
    assert run.retrain_days == [14, 21, 28]
    assert fitted == [list(range(7, 14)), list(range(14, 21)), list(range(21, 28))]
    # Days 21-27 are served by the model trained on days 14-20 (label 1, now wrong);
    # days 28-34 by the one trained on days 21-27 (label 2, right on half the events).
    assert run.accuracy("week").tolist() == [1.0, 1.0, 0.0, 0.5]
    every_two = monitoring.simulate_deployment(log, launch, policy="periodic", every=2,
                                               start_day=7, n_weeks=4,
                                               reference_correct=[True] * 10, fit=fit)
    assert every_two.retrain_days == [21]


def test_triggered_retrains_when_the_trigger_fires_and_resets_the_reference():
    log = shifting_log()
    launch = fit(log[log["day"] < 7])
    calls = []

    def trigger(reference, week):
        calls.append((float(np.mean(reference)), int(week["day"].min())))
        return week["correct"].mean() < np.mean(reference)

    run = monitoring.simulate_deployment(log, launch, policy="triggered", start_day=14,
                                         n_weeks=3, reference_correct=[True] * 10,
                                         fit=fit, trigger=trigger, window_days=7)
    # Week of day 14: fine; week of day 21: the change, alarm; the retrained model's
    # first week (day 28) sets its reference and is not tested.
    assert calls == [(1.0, 14), (1.0, 21)]
    assert run.retrain_days == [28]
    assert run.references == [1.0, run.events.loc[run.events["day"] >= 28, "correct"].mean()]


def test_online_updates_daily_and_cannot_add_a_class():
    log = shifting_log()
    launch = fit(log[log["day"] < 7])
    run = monitoring.simulate_deployment(log, launch, policy="online", start_day=7,
                                         n_weeks=4, reference_correct=[True] * 10,
                                         update=update)
    assert run.n_updates == 28 and run.n_retrains == 0
    assert set(run.events["predicted"]) <= {1}          # the only class it knows
    assert not run.events.loc[run.events["label"] == 3, "correct"].any()


def test_simulator_rejects_bad_arguments_clearly():
    log = shifting_log()
    launch = fit(log[log["day"] < 7])
    common = dict(start_day=7, n_weeks=1, reference_correct=[True])
    with pytest.raises(ValueError, match="policy must be one of"):
        monitoring.simulate_deployment(log, launch, policy="sometimes", **common)
    with pytest.raises(TypeError, match="needs a callable fit"):
        monitoring.simulate_deployment(log, launch, policy="periodic", **common)
    with pytest.raises(TypeError, match="needs a callable trigger"):
        monitoring.simulate_deployment(log, launch, policy="triggered", fit=fit, **common)
    with pytest.raises(TypeError, match="needs a callable update"):
        monitoring.simulate_deployment(log, launch, policy="online", **common)
    with pytest.raises(TypeError, match="fitted classifier"):
        monitoring.simulate_deployment(log, DummyClassifier(), policy="never", **common)
    with pytest.raises(ValueError, match="no column 'app_id'"):
        monitoring.simulate_deployment(log.drop(columns="app_id"), launch, policy="never",
                                       **common)
    with pytest.raises(ValueError, match="n_weeks must be at least 1"):
        monitoring.simulate_deployment(log, launch, policy="never", start_day=7, n_weeks=0,
                                       reference_correct=[True])
    with pytest.raises(ValueError, match="only 0/1 or True/False"):
        monitoring.simulate_deployment(log, launch, policy="never", start_day=7, n_weeks=1,
                                       reference_correct=[2])
    with pytest.raises(ValueError, match="beyond the log"):
        monitoring.simulate_deployment(log, launch, policy="never", start_day=30, n_weeks=2,
                                       reference_correct=[True])
