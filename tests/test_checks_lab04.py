"""Tests of labkit.checks.lab04: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook; labkit itself never ships them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit.checks import RESULTS_ENV, lab04

# ---------------------------------------------------------------- reference answers


def ref_impute(train, test, columns):
    out_train, out_test = train.copy(), test.copy()
    for col in columns:
        fill = float(np.nanmedian(train[col].to_numpy(float)))
        for src, dst in ((train, out_train), (test, out_test)):
            dst[col + "_missing"] = src[col].isna().to_numpy().astype(int)
            dst[col] = src[col].fillna(fill)
    return out_train, out_test


def ref_weights(y):
    y = np.asarray(y)
    counts = {c: np.sum(y == c) for c in np.unique(y)}
    return np.array([len(y) / (len(counts) * counts[v]) for v in y])


def not_implemented(*args):
    raise NotImplementedError("write it")


# ---------------------------------------------------------------- plausible slips


def impute_leaky(train, test, columns):
    out_train, out_test = train.copy(), test.copy()
    for col in columns:
        fill = pd.concat([train[col], test[col]]).median()
        for frame in (out_train, out_test):
            frame[col + "_missing"] = frame[col].isna().astype(int)
            frame[col] = frame[col].fillna(fill)
    return out_train, out_test


def impute_each_own(train, test, columns):
    out_train, out_test = train.copy(), test.copy()
    for col in columns:
        for frame in (out_train, out_test):
            frame[col + "_missing"] = frame[col].isna().astype(int)
            frame[col] = frame[col].fillna(frame[col].median())
    return out_train, out_test


def impute_mean(train, test, columns):
    out_train, out_test = train.copy(), test.copy()
    for col in columns:
        fill = train[col].mean()
        for frame in (out_train, out_test):
            frame[col + "_missing"] = frame[col].isna().astype(int)
            frame[col] = frame[col].fillna(fill)
    return out_train, out_test


def impute_indicator_late(train, test, columns):
    out_train, out_test = train.copy(), test.copy()
    for col in columns:
        fill = train[col].median()
        for frame in (out_train, out_test):
            frame[col] = frame[col].fillna(fill)
            frame[col + "_missing"] = frame[col].isna().astype(int)
    return out_train, out_test


def impute_in_place(train, test, columns):
    for col in columns:
        fill = train[col].median()
        for frame in (train, test):
            frame[col + "_missing"] = frame[col].isna().astype(int)
            frame[col] = frame[col].fillna(fill)
    return train, test


def impute_no_indicator(train, test, columns):
    out_train, out_test = train.copy(), test.copy()
    for col in columns:
        out_train[col] = out_train[col].fillna(train[col].median())
        out_test[col] = out_test[col].fillna(train[col].median())
    return out_train, out_test


def impute_drops_others(train, test, columns):
    a, b = ref_impute(train, test, columns)
    return a.drop(columns=[c for c in a.columns if c not in columns and "_missing" not in c]), \
        b.drop(columns=[c for c in b.columns if c not in columns and "_missing" not in c])


# ---------------------------------------------------------------- run data


@pytest.fixture
def frames():
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"battery": rng.integers(1, 101, n).astype(float),
                          "speed": rng.normal(10, 3, n),
                          "hour": rng.integers(0, 24, n).astype(str)})
    frame.loc[rng.random(n) < 0.2, "battery"] = np.nan
    frame.loc[rng.random(n) < 0.1, "speed"] = np.nan
    # Test rows differ from train rows, so that a median over both is another number.
    train, test = frame.iloc[:300].copy(), frame.iloc[300:].copy()
    test["battery"] = test["battery"] + 30
    return train, test


def hidden_values(train, test):
    return [float(train[c].median()) for c in ("battery", "speed")] + \
           [float(test[c].mean()) for c in ("battery", "speed")]


def assert_no_leak(message, values):
    for v in values:
        for text in (f"{v:.4g}", f"{v:.3f}", repr(v), str(round(v, 3))):
            if len(text.rstrip("0").rstrip(".")) > 3:
                assert text not in message, f"message reveals a hidden value {text}: {message}"


# ---------------------------------------------------------------- impute_with_indicator


def test_impute_passes_the_reference(frames, capsys):
    lab04.impute_with_indicator(ref_impute, *frames, ["battery", "speed"])
    assert "[ok] impute_with_indicator" in capsys.readouterr().out


def test_impute_accepts_bool_indicators(frames, capsys):
    def bool_flags(train, test, columns):
        a, b = ref_impute(train, test, columns)
        for frame in (a, b):
            for col in columns:
                frame[col + "_missing"] = frame[col + "_missing"].astype(bool)
        return a, b

    lab04.impute_with_indicator(bool_flags, *frames, ["battery"])
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (impute_leaky, "train and test together"),
    (impute_each_own, "test set's own median"),
    (impute_mean, "mean"),
    (impute_indicator_late, "computed after the gaps were filled"),
    (impute_in_place, "changed the frames it was given"),
    (impute_no_indicator, "has no column 'battery_missing'"),
    (lambda train, test, columns: ref_impute(train, test, columns)[0], "pair (train, test)"),
])
def test_impute_catches_slips(frames, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab04.impute_with_indicator(wrong, *frames, ["battery"])
    message = str(info.value)
    assert message.startswith("impute_with_indicator:")
    assert words in message
    assert_no_leak(message, hidden_values(*frames))


def test_impute_catches_a_slip_only_visible_on_run_data(frames):
    def drops_on_big(train, test, columns):
        return ref_impute(train, test, columns) if len(train) < 10 else \
            impute_drops_others(train, test, columns)

    with pytest.raises(AssertionError, match="column '(hour|speed)' was changed or dropped"):
        lab04.impute_with_indicator(drops_on_big, *frames, ["battery"])

    def leaks_on_big(train, test, columns):
        return ref_impute(train, test, columns) if len(train) < 10 else \
            impute_leaky(train, test, columns)

    with pytest.raises(AssertionError, match="median of the training column") as info:
        lab04.impute_with_indicator(leaks_on_big, *frames, ["battery"])
    assert_no_leak(str(info.value), hidden_values(*frames))


def test_impute_rejects_bad_run_data(frames):
    train, test = frames
    with pytest.raises(AssertionError, match="DataFrames"):
        lab04.impute_with_indicator(ref_impute, train.to_numpy(), test, ["battery"])
    with pytest.raises(AssertionError, match="not a column of both"):
        lab04.impute_with_indicator(ref_impute, train, test, ["nothing"])
    with pytest.raises(AssertionError, match="no median"):
        lab04.impute_with_indicator(ref_impute, train.assign(battery=np.nan), test, ["battery"])


def test_impute_stub_says_not_implemented(frames):
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab04.impute_with_indicator(not_implemented, *frames, ["battery"])


def test_impute_records_for_the_grader(frames, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    train, test = frames
    lab04.impute_with_indicator(ref_impute, train, test, ["battery", "speed"])
    saved = json.loads((tmp_path / "impute_with_indicator.json").read_text())["values"]
    assert saved["fill_value"]["array"] == pytest.approx(
        [train["battery"].median(), train["speed"].median()])
    assert saved["test_missing"]["array"] == [test["battery"].isna().sum(),
                                              test["speed"].isna().sum()]


def test_impute_slip_fails_before_anything_is_recorded(frames, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError, match="for train battery=\\[10, NaN, 20, 60\\]"):
        lab04.impute_with_indicator(impute_leaky, *frames, ["battery"])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- balanced_weights


@pytest.fixture
def labels():
    rng = np.random.default_rng(5)
    return (rng.random(500) < 0.06).astype(int)


def test_weights_pass_the_reference_and_sklearn(labels, capsys):
    from sklearn.utils.class_weight import compute_sample_weight

    lab04.balanced_weights(ref_weights, labels)
    lab04.balanced_weights(lambda y: compute_sample_weight("balanced", y), labels)
    assert capsys.readouterr().out.count("[ok] balanced_weights") == 2


@pytest.mark.parametrize(("wrong", "words"), [
    (lambda y: pd.Series(y).map(pd.Series(y).value_counts(normalize=True)).to_numpy(),
     "weights each class by its share"),
    (lambda y: 1 / pd.Series(y).map(pd.Series(y).value_counts()).to_numpy(),
     "right shape but the wrong scale"),
    (lambda y: ref_weights(y) * len(np.unique(y)), "division by the number of classes"),
    (lambda y: np.where(np.asarray(y) == 1, np.sum(np.asarray(y) == 0)
                        / max(np.sum(np.asarray(y) == 1), 1), 1.0), "only the rare class"),
    (lambda y: np.sort(ref_weights(y)), "follow the order of y"),
    (lambda y: ref_weights(y)[:-1], "your function returned"),
])
def test_weights_catch_slips(labels, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab04.balanced_weights(wrong, labels)
    assert str(info.value).startswith("balanced_weights:")
    assert words in str(info.value)


def test_weights_catch_a_slip_only_visible_on_run_data(labels):
    def off_on_big(y):
        w = ref_weights(y)
        return w if len(y) < 10 else w * 1.01

    with pytest.raises(AssertionError, match="compute_sample_weight"):
        lab04.balanced_weights(off_on_big, labels)


def test_weights_record_one_weight_per_class(labels, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab04.balanced_weights(ref_weights, labels)
    saved = json.loads((tmp_path / "balanced_weights.json").read_text())["values"]
    n, n1 = len(labels), labels.sum()
    assert saved["class_weight"]["array"] == pytest.approx([n / (2 * (n - n1)), n / (2 * n1)])
    assert saved["total"]["array"] == pytest.approx(n)


def test_weights_reject_bad_run_data():
    with pytest.raises(AssertionError, match="non-empty one-dimensional"):
        lab04.balanced_weights(ref_weights, [])
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab04.balanced_weights(not_implemented, [0, 1])


# ---------------------------------------------------------------- class_weight_effect


@pytest.fixture
def rare_scores():
    """Two models that rank alike; the weighted one's scores are shifted up."""
    rng = np.random.default_rng(9)
    y = (rng.random(2000) < 0.06).astype(int)
    logit = -3.2 + 1.5 * y + rng.normal(0, 1, 2000)
    plain = 1 / (1 + np.exp(-logit))
    weighted = 1 / (1 + np.exp(-(logit + 2.7)))
    return y, plain, weighted


def test_class_weight_effect_accepts_b(rare_scores, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab04.class_weight_effect("b", *rare_scores)
    lab04.class_weight_effect(" B ", *rare_scores)
    assert capsys.readouterr().out.count("[ok]") == 2
    saved = json.loads((tmp_path / "class_weight_effect.json").read_text())["values"]
    assert saved["answer"] == {"decision": "b", "accepted": ["b"]}


@pytest.mark.parametrize(("answer", "words"), [
    ("c", "accuracy rewards predicting the common class"),
    ("a", "did not make the model rank the rare class better"),
    ("d", "answer with one of"),
    (2, "a string"),
])
def test_class_weight_effect_catches_wrong_readings(rare_scores, answer, words):
    with pytest.raises(AssertionError, match=words):
        lab04.class_weight_effect(answer, *rare_scores)


def test_class_weight_effect_follows_the_numbers():
    # Here the "weighted" model really ranks better, so "a" is right and "b" is not.
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.1).astype(int)
    good = np.clip(0.6 * y + 0.5 * rng.random(2000), 0, 1)
    poor = np.clip(0.1 * y + 0.5 * rng.random(2000), 0, 1)
    lab04.class_weight_effect("a", y, poor, good)
    with pytest.raises(AssertionError, match="differ by more than"):
        lab04.class_weight_effect("b", y, poor, good)


def test_class_weight_effect_rejects_bad_inputs(rare_scores):
    y, plain, weighted = rare_scores
    with pytest.raises(AssertionError, match="both classes"):
        lab04.class_weight_effect("b", np.zeros_like(y), plain, weighted)
    with pytest.raises(AssertionError, match="one finite score per test case"):
        lab04.class_weight_effect("b", y, plain[:-1], weighted)


# ---------------------------------------------------------------- psi_threshold


QUIET, SHIFTED = [0.006, 0.008, 0.0075], [0.35]


def test_psi_threshold_accepts_a_margin_above_the_noise(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    for threshold in (0.008, 0.024, 0.1, 0.25, 0.349):
        lab04.psi_threshold(threshold, QUIET, SHIFTED)
    assert capsys.readouterr().out.count("[ok]") == 5
    saved = json.loads((tmp_path / "psi_threshold.json").read_text())
    assert saved["atol"] == 0.0
    low, high = saved["values"]["threshold"]["between"]["array"]
    assert low == 0.008 and high < 0.35 and high == pytest.approx(0.35)


@pytest.mark.parametrize(("threshold", "words"), [
    (0.004, "gone off in a quiet week"),
    (0.35, "does not flag the week after the change"),
    (0.5, "does not flag"),
    ("high", "single number"),
])
def test_psi_threshold_catches_bad_thresholds(threshold, words):
    with pytest.raises(AssertionError, match=words):
        lab04.psi_threshold(threshold, QUIET, SHIFTED)


def test_psi_threshold_rejects_inconsistent_weeks():
    with pytest.raises(AssertionError, match="no threshold can separate"):
        lab04.psi_threshold(0.1, [0.5], [0.3])
    with pytest.raises(AssertionError, match="non-negative"):
        lab04.psi_threshold(0.1, [-0.1], [0.3])
    with pytest.raises(AssertionError, match="PSI values"):
        lab04.psi_threshold(0.1, [], [0.3])


# ---------------------------------------------------------------- split_to_report


def test_split_to_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab04.split_to_report("time", 0.28, 0.21)
    assert "[ok] split_to_report" in capsys.readouterr().out
    saved = json.loads((tmp_path / "split_to_report.json").read_text())["values"]
    assert saved["answer"] == {"decision": "time", "accepted": ["time"]}
    with pytest.raises(AssertionError, match="very days it is tested on"):
        lab04.split_to_report("random", 0.28, 0.21)
    with pytest.raises(AssertionError, match="only the split by time"):
        lab04.split_to_report("random", 0.2, 0.21)
    with pytest.raises(AssertionError, match="between 0 and 1"):
        lab04.split_to_report("time", 28, 21)
    with pytest.raises(AssertionError, match="answer with one of"):
        lab04.split_to_report("both", 0.28, 0.21)


# ---------------------------------------------------------------- storage_layout


def test_storage_layout(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    seconds = {"csv": 0.017, "parquet": 0.0035}
    lab04.storage_layout("parquet", seconds)
    assert "[ok] storage_layout" in capsys.readouterr().out
    saved = json.loads((tmp_path / "storage_layout.json").read_text())["values"]
    assert saved["answer"] == {"decision": "parquet", "accepted": ["parquet"]}
    with pytest.raises(AssertionError, match="other layout answers this query faster"):
        lab04.storage_layout("csv", seconds)
    # The check follows the measurements, whatever they say.
    lab04.storage_layout("csv", {"csv": 0.001, "parquet": 0.002})
    with pytest.raises(AssertionError, match="answer with one of"):
        lab04.storage_layout("json", seconds)
    with pytest.raises(AssertionError, match="as a dict"):
        lab04.storage_layout("csv", [0.1, 0.2])
    with pytest.raises(AssertionError, match="positive"):
        lab04.storage_layout("csv", {"csv": 0.0, "parquet": 0.1})
