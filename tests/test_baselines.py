"""Tests of labkit.baselines: the torch MLP, the timing helpers and the results table."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from labkit.baselines import (
    TABLE_COLUMNS,
    TorchMLPClassifier,
    baseline_table,
    latency_per_request,
    speed_profile,
    timed,
)

# ---------------------------------------------------------------- a fake clock


class FakeClock:
    """A clock that only moves when the fake model says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_model(clock, per_call, per_row, slow_calls=()):
    """A predict function costing per_call + per_row * rows seconds; listed calls take 100 s."""
    calls = []

    def predict(batch):
        rows = batch.shape[0] if hasattr(batch, "shape") else len(batch)
        calls.append(rows)
        clock.now += per_call + per_row * rows
        if len(calls) in slow_calls:
            clock.now += 100.0
        return np.zeros(rows)

    predict.calls = calls
    return predict


# ---------------------------------------------------------------- latency_per_request


def test_single_and_batched_latency_on_a_fake_clock():
    clock = FakeClock()
    predict = fake_model(clock, per_call=0.004, per_row=0.001)
    rows = np.zeros((1000, 2))
    single = latency_per_request(predict, rows, batch_size=1, n_calls=10, clock=clock)
    batched = latency_per_request(predict, rows, batch_size=100, n_calls=5, clock=clock)
    assert single == pytest.approx(0.005)
    assert batched == pytest.approx(0.004 / 100 + 0.001)


def test_warmup_calls_are_not_timed_and_the_median_ignores_one_slow_call():
    clock = FakeClock()
    # Call 1 is a warm-up (slow, as a first call often is); call 5 is slow too.
    predict = fake_model(clock, per_call=0.002, per_row=0.0, slow_calls=(1, 5))
    rows = np.zeros((50, 1))
    assert latency_per_request(predict, rows, n_calls=9, warmup=1, clock=clock) == \
        pytest.approx(0.002)
    assert len(predict.calls) == 10
    clock2 = FakeClock()
    predict2 = fake_model(clock2, per_call=0.002, per_row=0.0, slow_calls=(1, 5))
    top = latency_per_request(predict2, rows, n_calls=9, warmup=1, quantile=1.0, clock=clock2)
    assert top == pytest.approx(100.002)


def test_batches_cycle_through_the_rows_and_are_sliced_before_timing():
    clock = FakeClock()
    seen = []

    def predict(batch):
        seen.append(batch.copy())
        clock.now += 1.0

    rows = np.arange(10).reshape(-1, 1)
    latency_per_request(predict, rows, batch_size=4, n_calls=4, warmup=0, clock=clock)
    # Two full batches of 4 fit in 10 rows; the third call starts again from the top.
    assert [b[:, 0].tolist() for b in seen] == [[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3],
                                                 [4, 5, 6, 7]]


@pytest.mark.parametrize("rows", [
    np.zeros((20, 3)),
    sparse.random(20, 3, density=0.3, format="csr", random_state=0),
    pd.DataFrame({"a": range(20)}),
    pd.Series(range(20)),
    list(range(20)),
])
def test_latency_accepts_arrays_sparse_matrices_frames_and_lists(rows):
    clock = FakeClock()
    predict = fake_model(clock, per_call=0.0, per_row=0.5)
    assert latency_per_request(predict, rows, batch_size=5, n_calls=3, clock=clock) == \
        pytest.approx(0.5)
    assert predict.calls == [5] * 5


def test_real_clock_gives_a_positive_time():
    seconds = latency_per_request(lambda batch: batch.sum(), np.ones((100, 4)), n_calls=5)
    assert 0 < seconds < 1


@pytest.mark.parametrize("kwargs, error, words", [
    ({"predict": "model"}, TypeError, "predict must be a function"),
    ({"inputs": np.zeros((0, 2))}, ValueError, "inputs is empty"),
    ({"inputs": 5}, TypeError, "inputs must be something with rows"),
    ({"batch_size": 11}, ValueError, "batch_size must be at most 10"),
    ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
    ({"batch_size": 2.0}, TypeError, "batch_size must be an integer"),
    ({"n_calls": 0}, ValueError, "n_calls must be at least 1"),
    ({"warmup": -1}, ValueError, "warmup must be at least 0"),
    ({"quantile": 1.5}, ValueError, "quantile must be <= 1"),
    ({"clock": 3.0}, TypeError, "clock must be a function"),
])
def test_latency_rejects_bad_arguments_with_clear_messages(kwargs, error, words):
    args = {"predict": lambda b: b, "inputs": np.zeros((10, 2)), **kwargs}
    with pytest.raises(error, match=words):
        latency_per_request(args.pop("predict"), args.pop("inputs"), **args)


@settings(max_examples=40, deadline=None)
@given(batch_size=st.integers(-3, 30), n_calls=st.integers(-2, 4),
       quantile=st.one_of(st.floats(-1, 2), st.just(math.nan)))
def test_latency_bad_numbers_raise_value_or_type_errors_never_deeper_ones(batch_size, n_calls,
                                                                         quantile):
    ok = 1 <= batch_size <= 10 and n_calls >= 1 and 0 <= quantile <= 1
    clock = FakeClock()
    predict = fake_model(clock, per_call=1.0, per_row=0.0)
    if ok:
        got = latency_per_request(predict, np.zeros((10, 1)), batch_size=batch_size,
                                  n_calls=n_calls, quantile=quantile, clock=clock)
        assert got == pytest.approx(1.0 / batch_size)
    else:
        with pytest.raises((ValueError, TypeError), match="batch_size|n_calls|quantile"):
            latency_per_request(predict, np.zeros((10, 1)), batch_size=batch_size,
                                n_calls=n_calls, quantile=quantile, clock=clock)


def test_speed_profile_reports_milliseconds_and_caps_the_batch():
    clock = FakeClock()
    predict = fake_model(clock, per_call=0.001, per_row=0.0001)
    profile = speed_profile(predict, np.zeros((50, 2)), batch_size=256, clock=clock)
    assert list(profile) == ["single ms", "batch ms per request"]
    assert profile["single ms"] == pytest.approx(1.1)
    assert profile["batch ms per request"] == pytest.approx(1000 * (0.001 / 50 + 0.0001))
    assert max(predict.calls) == 50


def test_timed_returns_result_and_seconds():
    result, seconds = timed(sorted, [3, 1, 2], reverse=True)
    assert result == [3, 2, 1] and seconds >= 0
    with pytest.raises(TypeError, match="function to call"):
        timed(42)


# ---------------------------------------------------------------- baseline_table


def _row(accuracy):
    return {"top-1 accuracy": accuracy, "train s": 0.5, "single ms": 0.1,
            "batch ms per request": 0.001}


def test_table_keeps_the_order_and_columns():
    table = baseline_table({"b": _row(0.2), "a": _row(0.3)})
    assert list(table.index) == ["b", "a"] and table.index.name == "model"
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table.loc["a", "top-1 accuracy"] == 0.3


@pytest.mark.parametrize("results, error, words", [
    ({}, TypeError, "non-empty dict"),
    ([("a", _row(0.1))], TypeError, "non-empty dict"),
    ({"a": 0.3}, TypeError, "must be a dict"),
    ({"a": {"top-1 accuracy": 0.3}}, ValueError, "lacks"),
    ({"a": {**_row(0.3), "train s": "fast"}}, ValueError, "'train s' must be a number"),
    ({"a": {**_row(0.3), "single ms": math.nan}}, ValueError, "must be a number"),
    ({"a": {**_row(0.3), "single ms": True}}, ValueError, "must be a number"),
])
def test_table_rejects_bad_results(results, error, words):
    with pytest.raises(error, match=words):
        baseline_table(results)


# ---------------------------------------------------------------- the torch MLP


def _blobs(seed=0, n=300):
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    y = rng.integers(0, 3, n)
    return centres[y] + rng.normal(0, 0.7, (n, 3)), np.array(["a", "b", "c"])[y]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_learns_and_matches_a_scikit_learn_mlp():
    from sklearn.neural_network import MLPClassifier

    X, y = _blobs()
    ours = TorchMLPClassifier(hidden_units=16, epochs=40, batch_size=32, random_state=0)
    ours.fit(X[:200], y[:200])
    theirs = MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0)
    theirs.fit(X[:200], y[:200])
    assert ours.score(X[200:], y[200:]) >= theirs.score(X[200:], y[200:]) - 0.05
    assert ours.score(X[200:], y[200:]) > 0.85
    assert list(ours.classes_) == ["a", "b", "c"]
    proba = ours.predict_proba(X[200:])
    assert proba.shape == (100, 3) and proba.dtype == np.float64
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert np.array_equal(ours.predict(X[200:]), ours.classes_[proba.argmax(axis=1)])
    assert ours.loss_curve_[-1] < ours.loss_curve_[0]


def test_mlp_is_reproducible_and_leaves_torch_global_state_alone():
    import torch

    X, y = _blobs()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = TorchMLPClassifier(epochs=3, random_state=7).fit(X, y)
    assert torch.equal(torch.get_rng_state(), before)
    b = TorchMLPClassifier(epochs=3, random_state=7).fit(X, y)
    c = TorchMLPClassifier(epochs=3, random_state=8).fit(X, y)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_mlp_adam_step_matches_torch_optim_adam():
    """The hand-written Adam (to avoid importing torch.optim) is torch's Adam."""
    import torch

    X, y = _blobs(n=64)
    ours = TorchMLPClassifier(hidden_units=8, epochs=1, batch_size=64, learning_rate=0.01,
                              weight_decay=0.01, random_state=3)
    start = TorchMLPClassifier(hidden_units=8, epochs=1, batch_size=64, learning_rate=1e-30,
                               weight_decay=0.0, random_state=3).fit(X, y)
    ours.fit(X, y)
    net = start.net_
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=0.01)
    labels = torch.from_numpy(np.unique(y, return_inverse=True)[1].astype(np.int64))
    loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(X.astype(np.float32))),
                                             labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for mine, theirs in zip(ours.net_.parameters(), net.parameters(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6)


def test_mlp_accepts_sparse_and_frames():
    X, y = _blobs(n=120)
    model = TorchMLPClassifier(epochs=2, random_state=0).fit(sparse.csr_matrix(X), y)
    assert model.n_features_in_ == 3
    frame = pd.DataFrame(X, columns=["u", "v", "w"])
    assert np.allclose(model.predict_proba(frame), model.predict_proba(X))


def test_mlp_does_not_pull_in_torch_compiler_stack():
    """A torch.optim optimizer imports torch._dynamo on first use: seconds of import time."""
    import subprocess

    code = ("import sys, numpy as np\n"
            "from labkit.baselines import TorchMLPClassifier\n"
            "X = np.random.default_rng(0).normal(size=(40, 2)); y = (X[:, 0] > 0).astype(int)\n"
            "TorchMLPClassifier(epochs=1, random_state=0).fit(X, y).predict(X)\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("X, y, error, words", [
    (np.zeros(5), np.zeros(5), ValueError, "2-d array"),
    (np.zeros((0, 3)), np.zeros(0), ValueError, "empty"),
    (np.array([["a", "b"], ["c", "d"]]), np.array([0, 1]), TypeError, "encode categorical"),
    (np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([0, 1]), ValueError, "NaN"),
    (np.zeros((4, 2)), np.zeros(3), ValueError, "one label per row"),
    (np.zeros((4, 2)), np.zeros(4), ValueError, "single class"),
])
def test_mlp_fit_rejects_bad_input(X, y, error, words):
    with pytest.raises(error, match=words):
        TorchMLPClassifier(epochs=1, random_state=0).fit(X, y)


@pytest.mark.parametrize("params, error, words", [
    ({"hidden_units": 0}, ValueError, "hidden_units must be at least 1"),
    ({"epochs": 1.5}, TypeError, "epochs must be an integer"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate must be >"),
    ({"weight_decay": -1.0}, ValueError, "weight_decay must be >="),
    ({"random_state": -1}, ValueError, "random_state must be at least 0"),
])
def test_mlp_rejects_bad_parameters(params, error, words):
    X, y = _blobs(n=20)
    with pytest.raises(error, match=words):
        TorchMLPClassifier(**params).fit(X, y)


def test_mlp_predict_needs_a_fitted_model_with_the_same_features():
    X, y = _blobs(n=40)
    with pytest.raises(ValueError, match="not fitted"):
        TorchMLPClassifier().predict_proba(X)
    model = TorchMLPClassifier(epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but the model was fitted with 3"):
        model.predict_proba(X[:, :2])
    with pytest.raises(ValueError, match="reshape a single case"):
        model.predict_proba(X[0])


def test_mlp_follows_scikit_learn_conventions():
    from sklearn.base import clone

    model = TorchMLPClassifier(hidden_units=5, epochs=2)
    assert clone(model).get_params()["hidden_units"] == 5
    assert "net_" not in vars(model)
