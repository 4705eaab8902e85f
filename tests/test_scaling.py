"""Tests of labkit.scaling: streaming, activation memory, SGD simulations, training.

Checkpointing is tested against torch's own ``torch.utils.checkpoint`` and the manual SGD
update against ``torch.optim.SGD``. The process launcher (``ddp_workers``) is tested in
tests/test_ddp.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.scaling import (
    ActivationMeter,
    NoisyRegression,
    activation_memory,
    async_schedule,
    forward_blocks,
    iter_rows,
    logistic_loss,
    make_block,
    mlp_blocks,
    staleness_curves,
    straggler_times,
    stream_in_child,
    sync_async_curves,
    sync_schedule,
    time_forward_backward,
    time_to_target,
    train_with_schedule,
    write_blocks,
)


def reference_shuffler(rows, buffer_size, rng):
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) > buffer_size:
            yield buffer.pop(int(rng.integers(len(buffer))))
    while buffer:
        yield buffer.pop(int(rng.integers(len(buffer))))


def reference_stale_sgd(grad, w0, lr, delays):
    history = [np.asarray(w0, dtype=float)]
    for t, d in enumerate(delays):
        history.append(history[t] - lr * grad(history[t - d], t))
    return np.array(history)


# ---------------------------------------------------------------- streaming


def test_make_block_is_deterministic_with_the_asked_positive_rate():
    block = make_block(3, 20_000, 4, 0.9, seed=1)
    assert np.array_equal(block, make_block(3, 20_000, 4, 0.9, seed=1))
    assert not np.array_equal(block, make_block(4, 20_000, 4, 0.9, seed=1))
    assert block.dtype == np.float32 and block.shape == (20_000, 5)
    assert abs(block[:, -1].mean() - 0.9) < 0.01
    # positives are shifted along one direction: the class means differ
    shift = block[block[:, -1] == 1, :-1].mean(axis=0) - block[block[:, -1] == 0, :-1].mean(axis=0)
    assert np.linalg.norm(shift) > 1.0


def test_write_blocks_and_iter_rows_round_trip(tmp_path):
    path = tmp_path / "rows.f32"
    size = write_blocks(path, n_blocks=3, block_rows=5, n_features=2, rates=(0.0, 1.0), seed=2)
    assert size == path.stat().st_size == 3 * 5 * 3 * 4
    rows = list(iter_rows(path, 3, chunk_rows=4))
    expected = np.concatenate([make_block(i, 5, 2, (0.0, 1.0)[i % 2], 2) for i in range(3)])
    assert np.array_equal(np.stack(rows), expected)
    assert all(row.base is None for row in rows)          # copies, not views of a chunk
    assert [r[-1] for r in rows[:5]] == [0.0] * 5 and [r[-1] for r in rows[5:10]] == [1.0] * 5


def test_iter_rows_rejects_a_wrong_row_width(tmp_path):
    path = tmp_path / "rows.f32"
    write_blocks(path, 1, 5, 2)
    with pytest.raises(ValueError, match="check n_columns"):
        list(iter_rows(path, 4))


@pytest.mark.parametrize("kwargs, error", [
    ({"index": -1}, ValueError), ({"n_rows": 0}, ValueError), ({"n_features": 2.5}, TypeError),
    ({"positive_rate": 1.5}, ValueError), ({"positive_rate": "half"}, TypeError),
    ({"seed": True}, TypeError),
])
def test_make_block_rejects_bad_arguments(kwargs, error):
    args = {"index": 0, "n_rows": 4, "n_features": 2, "positive_rate": 0.5, "seed": 0, **kwargs}
    with pytest.raises(error):
        make_block(**args)


@settings(max_examples=40, deadline=None)
@given(n_rows=st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.booleans(),
                        st.text(max_size=3), st.none()))
def test_make_block_bad_row_counts_get_a_clear_error(n_rows):
    with pytest.raises((TypeError, ValueError), match="n_rows"):
        make_block(0, n_rows, 3, 0.5)


def test_logistic_loss_matches_scikit_learn():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(50, 3)), rng.integers(0, 2, 50), rng.normal(size=4)
    p = 1 / (1 + np.exp(-(X @ w[:-1] + w[-1])))
    assert math.isclose(logistic_loss(w, X, y), log_loss(y, p), rel_tol=1e-9)
    with pytest.raises(ValueError, match="weights of shape"):
        logistic_loss(w[:2], X, y)


def test_stream_in_child_measures_the_buffer_and_not_the_file(tmp_path):
    path = tmp_path / "rows.f32"
    write_blocks(path, n_blocks=8, block_rows=1024, n_features=255, seed=0)   # 8 MiB
    small = stream_in_child(path, 256, 128, reference_shuffler, batch_rows=128, seed=0)
    whole = stream_in_child(path, 256, None, batch_rows=128, seed=0)
    assert small["rows"] == whole["rows"] == 8 * 1024
    assert small["batches"] == len(small["batch_positive_rate"]) == 64
    assert 0 < small["peak_mb"] < 6 < 7.5 < whole["peak_mb"]
    assert small["baseline_mb"] > 5 and small["weights"].shape == (256,)
    # the blocks alternate 10% and 90% positives: a 128-row buffer passes that on
    assert np.std(small["batch_positive_rate"]) > 3 * np.std(whole["batch_positive_rate"])


def test_stream_in_child_reports_a_failing_shuffler(tmp_path):
    path = tmp_path / "rows.f32"
    write_blocks(path, 1, 8, 3)

    def broken(rows, buffer_size, rng):
        raise NotImplementedError("not yet")

    with pytest.raises(RuntimeError, match="NotImplementedError: not yet"):
        stream_in_child(path, 4, 2, broken)


def test_stream_in_child_rejects_what_it_cannot_run(tmp_path):
    path = tmp_path / "rows.f32"
    write_blocks(path, 1, 8, 3)
    with pytest.raises(TypeError, match="lambda"):
        stream_in_child(path, 4, 2, lambda rows, size, rng: rows)
    with pytest.raises(TypeError, match="shuffler"):
        stream_in_child(path, 4, 2, None)
    with pytest.raises(TypeError, match="defined with def"):
        stream_in_child(path, 4, 2, print)
    with pytest.raises(FileNotFoundError, match="write it first"):
        stream_in_child(tmp_path / "missing.f32", 4, 2, reference_shuffler)
    with pytest.raises(ValueError, match="buffer_rows"):
        stream_in_child(path, 4, 0, reference_shuffler)


# ---------------------------------------------------------------- activation memory


def test_activation_meter_counts_each_storage_once_and_skips_parameters():
    layer = torch.nn.Linear(8, 8)
    meter = ActivationMeter(layer.parameters())
    x = torch.ones(4, 8)
    with meter:
        h = torch.relu(layer(x))     # linear saves x; relu saves its output h
        out = (h * h).sum()          # mul saves h twice: the same storage
        kept = meter.live_bytes
        out.backward()
    assert kept == 2 * 4 * 8 * 4
    assert meter.peak_bytes == kept and meter.live_bytes == 0 and meter.saved_bytes == kept


@pytest.mark.parametrize("n, k", [(8, 1), (8, 2), (8, 4), (9, 3), (12, 4), (16, 4)])
def test_checkpointing_memory_follows_k_plus_n_over_k(n, k):
    blocks = mlp_blocks(n, 8, seed=0)
    x = torch.ones(16, 8)
    unit = 16 * 8 * 4
    plain = activation_memory(blocks, x)
    ckpt = activation_memory(blocks, x, segments=k)
    assert plain["kept_bytes"] == plain["peak_bytes"] == (n + 1) * unit
    assert ckpt["kept_bytes"] == k * unit
    assert ckpt["peak_bytes"] == (k + math.ceil(n / k)) * unit
    assert (plain["block_forwards"], ckpt["block_forwards"]) == (n, 2 * n)


@pytest.mark.parametrize("autocast", [False, True])
def test_forward_blocks_gives_the_gradients_of_torch_checkpoint(autocast):
    from torch.utils.checkpoint import checkpoint

    blocks = mlp_blocks(6, 5, seed=1)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))

    def grads(run):
        blocks.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = run()
        out.float().pow(2).sum().backward()
        return [p.grad.clone() for p in blocks.parameters()]

    def torch_segments():
        h = x.detach().requires_grad_(True)
        for start in (0, 2, 4):
            h = checkpoint(lambda t, s=start: blocks[s + 1](blocks[s](t)), h, use_reentrant=True)
        return h

    ours = grads(lambda: forward_blocks(blocks, x, segments=3))
    theirs = grads(torch_segments)
    plain = grads(lambda: forward_blocks(blocks, x))
    for a, b, c in zip(ours, theirs, plain, strict=True):
        assert torch.equal(a, b)
        assert torch.allclose(a, c, rtol=1e-2 if autocast else 1e-6, atol=1e-3 if autocast else 0)


def test_bfloat16_autocast_halves_activations_of_a_large_batch():
    blocks = mlp_blocks(4, 16, seed=0)
    x = torch.ones(4096, 16)
    full = activation_memory(blocks, x)["kept_bytes"]
    half = activation_memory(blocks, x, autocast=True)["kept_bytes"]
    assert 0.5 <= half / full < 0.52


def test_forward_blocks_rejects_too_many_segments():
    with pytest.raises(ValueError, match="at most the number of blocks"):
        forward_blocks(mlp_blocks(2, 3), torch.ones(1, 3), segments=3)


def test_time_forward_backward_times_every_configuration():
    times = time_forward_backward(mlp_blocks(2, 4), torch.ones(3, 4),
                                  {"a": {}, "b": {"segments": 2, "autocast": True}}, repeats=2)
    assert set(times) == {"a", "b"} and all(t > 0 for t in times.values())
    with pytest.raises(ValueError, match="unknown options"):
        time_forward_backward(mlp_blocks(2, 4), torch.ones(3, 4), {"a": {"depth": 3}})
    with pytest.raises(TypeError, match="non-empty dict"):
        time_forward_backward(mlp_blocks(2, 4), torch.ones(3, 4), {})


# ---------------------------------------------------------------- SGD simulations


def test_noisy_regression_gradient_is_the_minibatch_gradient():
    task = NoisyRegression(n_features=3, noise=0.5, seed=4)
    w = np.array([0.3, -1.0, 2.0])
    rng = np.random.default_rng([4, 41, 2, 5, 8])
    X = rng.standard_normal((8, 3)) * np.sqrt(task.scales)
    y = X @ task.w_star + 0.5 * rng.standard_normal(8)
    loss = lambda v: 0.5 * np.mean((X @ v - y) ** 2)  # noqa: E731
    numeric = np.array([(loss(w + e) - loss(w - e)) / 2e-6 for e in np.eye(3) * 1e-6])
    assert np.allclose(task.gradient(w, step=5, rows=8, stream=2), numeric, atol=1e-6)
    assert task.risk(task.w_star) == 0 and task.risk(np.zeros((2, 3))).shape == (2,)


@pytest.mark.parametrize("kwargs, error", [
    ({"n_features": 0}, ValueError), ({"noise": -1.0}, ValueError),
    ({"low_curvature": 0.0}, ValueError), ({"seed": 1.5}, TypeError),
])
def test_noisy_regression_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        NoisyRegression(**kwargs)


def test_noisy_regression_checks_the_weights_shape():
    with pytest.raises(ValueError, match="shape"):
        NoisyRegression(n_features=3).gradient(np.zeros(4), 0, 2)


def test_schedules_of_synchronous_and_asynchronous_sgd():
    times = straggler_times(4, 50, straggler_prob=0.2, slowdown=5, random_state=1)
    assert times.shape == (50, 4) and times.min() >= 1 and times.max() <= 5 * 1.2
    sync = sync_schedule(times)
    assert np.allclose(sync, np.cumsum(times.max(axis=1)))
    wall, delays = async_schedule(times)
    assert len(wall) == len(delays) == 200
    assert np.all(np.diff(wall) >= 0) and np.all(delays >= 0)
    assert np.all(delays <= np.arange(200))
    # every worker finishes its 50 gradients at the sum of its own times
    assert math.isclose(wall[-1], times.sum(axis=0).max())


def test_equal_workers_make_gradients_stale_by_the_number_of_other_workers():
    wall, delays = async_schedule(np.ones((10, 4)) + np.arange(4) * 1e-3)
    assert delays[:4].tolist() == [0, 1, 2, 3] and set(delays[4:].tolist()) == {3}
    wall1, delays1 = async_schedule(np.full((5, 1), 2.0))
    assert delays1.tolist() == [0] * 5 and wall1.tolist() == [2.0, 4.0, 6.0, 8.0, 10.0]


@pytest.mark.parametrize("times", [[[1.0, -1.0]], [1.0, 2.0], [[np.nan]], [[]]])
def test_schedules_reject_bad_times(times):
    with pytest.raises(ValueError, match="positive seconds"):
        async_schedule(times)
    with pytest.raises(ValueError, match="positive seconds"):
        sync_schedule(times)


@settings(max_examples=40, deadline=None)
@given(prob=st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0 + 1e-9),
                      st.just(float("nan"))))
def test_straggler_times_rejects_a_probability_outside_0_1(prob):
    with pytest.raises(ValueError, match="straggler_prob"):
        straggler_times(2, 3, straggler_prob=prob)


def test_time_to_target_reads_the_first_crossing():
    assert time_to_target([1.0, 2.0], [3.0, 1.0, 0.5], 1.0) == 1.0
    assert time_to_target([1.0, 2.0], [0.5, 1.0, 0.5], 1.0) == 0.0
    assert time_to_target([1.0], [3.0, np.inf], 1.0) == math.inf
    with pytest.raises(ValueError, match="one entry more"):
        time_to_target([1.0, 2.0], [3.0, 2.0], 1.0)


def test_staleness_curves_without_delay_are_plain_sgd():
    task = NoisyRegression(n_features=4, seed=0)
    curves = staleness_curves(reference_stale_sgd, task, [0, 3], n_updates=30, rows=8, lr=0.2,
                              repeats=2)
    plain = []
    for rep in range(2):
        w = np.zeros(4)
        risks = [task.risk(w)]
        for t in range(30):
            w = w - 0.2 * task.gradient(w, t, 8, stream=rep)
            risks.append(task.risk(w))
        plain.append(risks)
    assert np.allclose(curves[0], np.exp(np.mean(np.log(plain), axis=0)))
    assert curves[3].shape == (31,) and not np.allclose(curves[3], curves[0])


def test_sync_async_curves_shapes_and_the_straggler_effect():
    task = NoisyRegression(n_features=4, seed=0)
    calm = sync_async_curves(reference_stale_sgd, task, n_workers=4, n_rounds=20, rows=8,
                             lr=0.1, straggler_prob=0.0, slowdown=1.0, repeats=2)
    slow = sync_async_curves(reference_stale_sgd, task, n_workers=4, n_rounds=20, rows=8,
                             lr=0.1, straggler_prob=0.3, slowdown=6.0, repeats=2)
    for curves in (calm, slow):
        assert curves["sync"][0].shape == (20,) and curves["sync"][1].shape == (21,)
        assert curves["async"][0].shape == (80,) and curves["async"][1].shape == (81,)
    # stragglers stretch a synchronous round far more than the asynchronous schedule
    assert slow["sync"][0][-1] / calm["sync"][0][-1] > 1.5 * (slow["async"][0][-1]
                                                              / calm["async"][0][-1])


def test_a_stale_sgd_of_the_wrong_shape_gets_a_clear_error():
    task = NoisyRegression(n_features=4, seed=0)
    with pytest.raises(ValueError, match="stale_sgd returned shape"):
        staleness_curves(lambda g, w0, lr, d: w0, task, [0], n_updates=3, rows=2, lr=0.1)


# ---------------------------------------------------------------- training


def _data(seed=0):
    from labkit.ddp_train import make_data

    X, y = make_data(600, 5, 3, seed=seed)
    return X[:400], y[:400], X[400:], y[400:]


def test_train_with_schedule_matches_torch_optim_sgd():
    X, y, Xv, yv = _data()
    ours = train_with_schedule(X, y, Xv, yv, batch=50, lr_at=lambda s: 0.3, epochs=2,
                               hidden=(8,), seed=5)
    # the same run with torch.optim.SGD
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.normal_(0.0, 1 / math.sqrt(layer.in_features))
            layer.bias.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    rng = np.random.default_rng([5, 50])
    losses = []
    for _ in range(2):
        order = torch.from_numpy(rng.permutation(400))
        for i in range(8):
            rows = order[i * 50:(i + 1) * 50]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(X)[rows]),
                                                     torch.from_numpy(y)[rows])
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    assert np.allclose(ours["losses"], losses, rtol=1e-5)
    assert ours["lrs"].tolist() == [0.3] * 16 and ours["seconds"] > 0


def test_train_with_schedule_reports_divergence_as_infinite_loss():
    X, y, Xv, yv = _data()
    run = train_with_schedule(X * 100, y, Xv, yv, batch=50, lr_at=lambda s: 1e4, epochs=3,
                              hidden=(8,), init_gain=5.0)
    assert run["val_loss"] == math.inf


def test_train_with_schedule_under_autocast_still_learns():
    X, y, Xv, yv = _data()
    run = train_with_schedule(X, y, Xv, yv, batch=50, lr_at=lambda s: 0.3, epochs=4,
                              hidden=(16,), autocast=True)
    assert run["val_accuracy"] > 0.5


@pytest.mark.parametrize("lr_at, error, words", [
    (lambda s: -0.1, ValueError, "non-negative"),
    (lambda s: float("nan"), ValueError, "non-negative"),
    (0.1, TypeError, "function of the step"),
])
def test_train_with_schedule_rejects_bad_learning_rates(lr_at, error, words):
    X, y, Xv, yv = _data()
    with pytest.raises(error, match=words):
        train_with_schedule(X, y, Xv, yv, batch=50, lr_at=lr_at, epochs=1)


def test_train_with_schedule_rejects_mismatched_data():
    X, y, Xv, yv = _data()
    with pytest.raises(ValueError, match="need X"):
        train_with_schedule(X, y[:-1], Xv, yv, batch=50, lr_at=lambda s: 0.1, epochs=1)
