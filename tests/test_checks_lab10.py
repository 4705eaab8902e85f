"""Tests of labkit.checks.lab10: the checks pass correct answers and catch plausible slips.

The reference answers below are test oracles written independently of the solution
notebook; labkit itself never ships them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from labkit.checks import RESULTS_ENV, lab10
from labkit.scaling import NoisyRegression, async_schedule, straggler_times

# ---------------------------------------------------------------- shuffle_buffer


def ref_shuffle(rows, buffer_size, rng):
    """Draw-and-replace buffer (another correct variant than the solution's)."""
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) > buffer_size:
            yield buffer.pop(int(rng.integers(len(buffer))))
    while buffer:
        yield buffer.pop(int(rng.integers(len(buffer))))


def shuffle_drops_leftovers(rows, buffer_size, rng):
    buffer = []
    for row in rows:
        if len(buffer) < buffer_size:
            buffer.append(row)
            continue
        slot = rng.integers(buffer_size)
        yield buffer[slot]
        buffer[slot] = row


def shuffle_fifo(rows, buffer_size, rng):
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) > buffer_size:
            yield buffer.pop(0)
    yield from buffer


def shuffle_same_slot(rows, buffer_size, rng):
    buffer = []
    for row in rows:
        if len(buffer) < buffer_size:
            buffer.append(row)
            continue
        yield buffer[0]
        buffer[0] = row
    for slot in rng.permutation(len(buffer)):
        yield buffer[slot]


def shuffle_flush_in_order(rows, buffer_size, rng):
    buffer = []
    for row in rows:
        if len(buffer) < buffer_size:
            buffer.append(row)
            continue
        slot = rng.integers(buffer_size)
        yield buffer[slot]
        buffer[slot] = row
    yield from buffer


def shuffle_everything(rows, buffer_size, rng):
    rows = list(rows)
    for i in rng.permutation(len(rows)):
        yield rows[i]


def shuffle_global_random(rows, buffer_size, rng):
    return ref_shuffle(rows, buffer_size, np.random.default_rng())


def shuffle_duplicates(rows, buffer_size, rng):
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) > buffer_size:
            yield buffer[int(rng.integers(len(buffer)))]
            buffer.pop(0)
    yield from buffer


def shuffle_returns_none(rows, buffer_size, rng):
    return None


def shuffle_not_implemented(rows, buffer_size, rng):
    raise NotImplementedError("Return a generator")


def test_shuffle_buffer_passes_a_correct_variant(capsys):
    lab10.shuffle_buffer(ref_shuffle, 5000, [16, 256], 3)
    assert "[ok] shuffle_buffer" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (shuffle_drops_leftovers, "still in the buffer when the input ran out"),
    (shuffle_fifo, "the rows left at the end must come out in a random order"),
    (shuffle_same_slot, "not always the same slot"),
    (shuffle_flush_in_order, "the rows left at the end must come out in a random order"),
    (shuffle_everything, "reads the whole stream first"),
    (shuffle_global_random, "draw every random choice from the rng argument"),
    (shuffle_duplicates, "came out twice"),
    (shuffle_returns_none, "it should yield the rows"),
    (shuffle_not_implemented, "not implemented yet"),
])
def test_shuffle_buffer_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab10.shuffle_buffer(wrong, 2000, [16, 256], 0)


def test_shuffle_buffer_rejects_bad_inputs():
    with pytest.raises(AssertionError, match="n_rows"):
        lab10.shuffle_buffer(ref_shuffle, 0, [4], 0)
    with pytest.raises(AssertionError, match="buffer_sizes"):
        lab10.shuffle_buffer(ref_shuffle, 10, [0], 0)


def test_shuffle_buffer_records_what_every_correct_answer_gives(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab10.shuffle_buffer(ref_shuffle, 300, [4, 64], 1)
    values = json.loads((tmp_path / "shuffle_buffer.json").read_text())["values"]
    assert values["rows_out_and_bounded"]["array"] == [[4, 300, 1], [64, 300, 1]]


# ---------------------------------------------------------------- buffer_rows

STREAM = pd.DataFrame({"peak MiB": [4.4, 6.2, 12.5, 21.6], "val loss": [0.57, 0.55, 0.52, 0.51]},
                      index=pd.Index([512, 2048, 8192, 16384], name="buffer rows"))


def test_buffer_rows_accepts_the_largest_buffer_within_budget(capsys):
    lab10.buffer_rows(8192, STREAM, 16)
    assert "[ok] buffer_rows" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    (512, "a larger buffer than 512 rows also stays within the budget"),
    (16384, "over the memory budget"),
    (1000, "one of the buffer sizes"),
    ("8192", "one of the buffer sizes"),
    (True, "one of the buffer sizes"),
])
def test_buffer_rows_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab10.buffer_rows(value, STREAM, 16)


def test_buffer_rows_needs_a_table_and_a_budget():
    with pytest.raises(AssertionError, match="streaming table"):
        lab10.buffer_rows(8192, STREAM.drop(columns="peak MiB"), 16)
    with pytest.raises(AssertionError, match="positive number"):
        lab10.buffer_rows(8192, STREAM, "16 MiB")
    with pytest.raises(AssertionError, match="no buffer in the table"):
        lab10.buffer_rows(512, STREAM, 1)


def test_buffer_rows_records_the_distance_on_the_learners_own_table(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab10.buffer_rows(2048, STREAM, 16)
    record = json.loads((tmp_path / "buffer_rows.json").read_text())["values"]
    assert record["steps_from_right"] == {"decision": {"array": 1.0, "shape": []},
                                          "accepted": {"array": [0.0], "shape": [1]}}


# ---------------------------------------------------------------- segments

UNIT = 0.125
CKPT = pd.DataFrame({
    "kept MiB": [65 * UNIT, 1 * UNIT, 2 * UNIT, 4 * UNIT, 8 * UNIT, 16 * UNIT],
    "peak MiB": [65 * UNIT, 65 * UNIT, 34 * UNIT, 20 * UNIT, 16 * UNIT, 20 * UNIT],
}, index=pd.Index([0, 1, 2, 4, 8, 16], name="segments"))


def test_segments_accepts_the_smallest_peak(capsys):
    lab10.segments(8, CKPT)
    assert "[ok] segments" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    (1, "judge by the peak column"),
    (0, "without checkpointing every activation is kept"),
    (16, "another number of segments needs less memory"),
    (3, "one of the numbers of segments"),
    (8.5, "one of the numbers of segments"),
])
def test_segments_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab10.segments(value, CKPT)


# ---------------------------------------------------------------- to_bfloat16


def ref_bf16(x):
    import torch

    return torch.from_numpy(np.array(x, dtype=np.float32)).to(torch.bfloat16).float().numpy()


def bf16_truncate(x):
    bits = np.asarray(x, dtype=np.float32).view(np.uint32)
    return (bits & 0xFFFF0000).astype(np.uint32).view(np.float32)


def bf16_half_up(x):
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x8000) & 0xFFFF0000).astype(np.uint32).view(np.float32)


def bf16_float64(x):
    return ref_bf16(x).astype(np.float64)


def bf16_in_place(x):
    x[...] = ref_bf16(x)
    return x


def bf16_ties_up_only_at_examples(x):
    """Right on the worked examples, wrong at ties elsewhere: rounds half up above 2."""
    out = ref_bf16(x)
    big = np.abs(x) > 2
    out[big] = bf16_half_up(x[big])
    return out


def test_to_bfloat16_passes_torch_itself(capsys):
    lab10.to_bfloat16(ref_bf16, 0)
    assert "[ok] to_bfloat16" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (bf16_truncate, "cuts the low 16 bits off"),
    (bf16_half_up, "a tie goes to the \\*even\\* neighbour"),
    (bf16_float64, "float32 values"),
    (bf16_in_place, "changed its input array in place"),
    (bf16_ties_up_only_at_examples, "at exact ties"),
    (lambda x: list(ref_bf16(x)), "numpy array"),
])
def test_to_bfloat16_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab10.to_bfloat16(wrong, 0)


# ---------------------------------------------------------------- single_process

CONFIG = {"world_size": 2, "batch": 16, "lr": 0.2, "steps": 12, "seed": 3, "n_rows": 512,
          "n_features": 16, "hidden": 32, "n_classes": 4}


@pytest.fixture(scope="module")
def ddp_like_weights():
    """What a 2-worker DDP run ends with: single-process training on the combined batch
    (tests/test_ddp.py checks that the two agree)."""
    from labkit.ddp_train import train_single

    return train_single(batch=32, lr=0.2, steps=12, n_rows=512, seed=3)


def test_single_process_accepts_the_combined_batch(ddp_like_weights, capsys):
    lab10.single_process({"batch": 32, "lr": 0.2}, ddp_like_weights, CONFIG)
    assert "[ok] single_process" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    ({"batch": 16, "lr": 0.2}, "one step uses the rows of all the workers"),
    ({"batch": 32, "lr": 0.4}, "averages"),
    ({"batch": 64, "lr": 0.2}, "the batch of one DDP step is not that size"),
    ({"batch": 32, "lr": 0.1}, "the learning rate of the DDP run is not that one"),
    ({"batch": 32}, "two keys"),
    ({"batch": 32.5, "lr": 0.2}, "whole number"),
    ({"batch": 32, "lr": -1}, "positive number"),
])
def test_single_process_catches_slips(ddp_like_weights, value, words):
    with pytest.raises(AssertionError, match=words):
        lab10.single_process(value, ddp_like_weights, CONFIG)


# ---------------------------------------------------------------- stale_sgd


def ref_stale(grad, w0, lr, delays):
    w = [np.array(w0, dtype=float)]
    for t in range(len(delays)):
        w.append(w[-1] - lr * grad(w[len(w) - 1 - delays[t]], t))
    return np.stack(w)


def stale_ignored(grad, w0, lr, delays):
    return ref_stale(grad, w0, lr, [0] * len(delays))


def stale_off_by_one(grad, w0, lr, delays):
    history = [np.asarray(w0, dtype=float)]
    for t, d in enumerate(delays):
        history.append(history[t] - lr * grad(history[t - d - 1], t))
    return np.array(history)


def stale_step_from_stale(grad, w0, lr, delays):
    history = [np.asarray(w0, dtype=float)]
    for t, d in enumerate(delays):
        history.append(history[t - d] - lr * grad(history[t - d], t))
    return np.array(history)


def stale_no_t(grad, w0, lr, delays):
    return ref_stale(lambda w, t: grad(w, 0), w0, lr, delays)


def stale_no_initial_row(grad, w0, lr, delays):
    return ref_stale(grad, w0, lr, delays)[1:]


@pytest.fixture(scope="module")
def sgd_case():
    problem = NoisyRegression(n_features=6, seed=2)
    _, delays = async_schedule(straggler_times(4, 10, straggler_prob=0.2, slowdown=5,
                                               random_state=2))
    return problem, delays


def test_stale_sgd_passes_the_reference(sgd_case, capsys):
    problem, delays = sgd_case
    lab10.stale_sgd(ref_stale, problem, 0.2, delays, 8)
    assert "[ok] stale_sgd" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (stale_ignored, "the delays were ignored"),
    (stale_off_by_one, "one update too old"),
    (stale_step_from_stale, "only the gradient is stale"),
    (stale_no_t, "call grad\\(w, t\\)"),
    (stale_no_initial_row, "shape"),
])
def test_stale_sgd_catches_slips(sgd_case, wrong, words):
    problem, delays = sgd_case
    with pytest.raises(AssertionError, match=words):
        lab10.stale_sgd(wrong, problem, 0.2, delays, 8)


def test_stale_sgd_rejects_impossible_delays(sgd_case):
    problem, _ = sgd_case
    with pytest.raises(AssertionError, match="0 <= delays"):
        lab10.stale_sgd(ref_stale, problem, 0.2, [1, 0, 0], 8)


# ---------------------------------------------------------------- sync_or_async

CURVES = {
    # synchronous needs fewer updates and less time
    "calm": {"sync": ([1.0, 2.0, 3.0], [8.0, 4.0, 2.0, 1.0]),
             "async": ([0.3, 0.6, 0.9, 1.2, 1.5, 1.8], [8.0, 7.0, 6.5, 6.0, 9.0, 20.0, 50.0])},
    # synchronous needs fewer updates, asynchronous less time
    "stormy": {"sync": ([5.0, 10.0, 15.0], [8.0, 4.0, 2.0, 1.0]),
               "async": ([0.5, 1.0, 1.5, 2.0, 2.5, 3.0], [8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0])},
}


def test_sync_or_async_accepts_the_faster_mode_per_profile(capsys):
    lab10.sync_or_async({"calm": "sync", "stormy": "async"}, CURVES, 1.0)
    assert "[ok] sync_or_async" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    ({"calm": "sync", "stormy": "sync"}, "needs fewer updates"),
    ({"calm": "async", "stormy": "async"}, "reaches the target sooner"),
    ({"calm": "sync"}, "one entry per profile"),
    ({"calm": "synchronous", "stormy": "async"}, "answer with one of"),
])
def test_sync_or_async_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab10.sync_or_async(value, CURVES, 1.0)


def test_sync_or_async_records_how_many_profiles_are_wrong(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab10.sync_or_async({"calm": "async", "stormy": "sync"}, CURVES, 1.0)
    record = json.loads((tmp_path / "sync_or_async.json").read_text())["values"]
    assert record["profiles_wrong"] == {"decision": {"array": 2.0, "shape": []},
                                        "accepted": {"array": [0.0], "shape": [1]}}


# ---------------------------------------------------------------- scaled_lr


def ref_lr(step, base_lr, base_batch, batch, warmup_steps):
    target = base_lr * batch / base_batch
    return target * min(1.0, (step + 1) / warmup_steps) if warmup_steps else target


def lr_no_warmup(step, base_lr, base_batch, batch, warmup_steps):
    return base_lr * batch / base_batch


def lr_late(step, base_lr, base_batch, batch, warmup_steps):
    target = base_lr * batch / base_batch
    return target * step / warmup_steps if step < warmup_steps else target


def lr_from_base(step, base_lr, base_batch, batch, warmup_steps):
    target = base_lr * batch / base_batch
    if step < warmup_steps:
        return base_lr + (target - base_lr) * step / warmup_steps
    return target


def lr_sqrt(step, base_lr, base_batch, batch, warmup_steps):
    return base_lr * math.sqrt(batch / base_batch)


def lr_never_reaches(step, base_lr, base_batch, batch, warmup_steps):
    """Right on the worked examples (warm-ups of at most 4 steps), stuck below the target
    after longer ones."""
    if warmup_steps > 4 and step >= warmup_steps:
        return 0.5 * base_lr * batch / base_batch
    return ref_lr(step, base_lr, base_batch, batch, warmup_steps)


def test_scaled_lr_passes_the_reference(capsys):
    lab10.scaled_lr(ref_lr, 0.05, 32, [32, 256, 2048], 0.1, 8, 8192)
    assert "[ok] scaled_lr" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lr_no_warmup, "no warm-up"),
    (lr_late, "one step late"),
    (lr_from_base, "ramp starts at base_lr"),
    (lr_sqrt, "square root"),
    (lr_never_reaches, "after the warm-up the learning rate should be"),
    (lambda *a: [0.1], "one number"),
])
def test_scaled_lr_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab10.scaled_lr(wrong, 0.05, 32, [32, 256, 2048], 0.1, 8, 8192)


# ---------------------------------------------------------------- max_batch

BATCH = pd.DataFrame({"val loss (no warm-up)": [0.564, 0.564, 0.589, 0.672, 0.785],
                      "val loss (warm-up)": [0.564, 0.563, 0.587, 0.625, 0.785]},
                     index=pd.Index([32, 256, 1024, 2048, 4096], name="batch"))


def test_max_batch_accepts_the_largest_batch_within_tolerance(capsys):
    lab10.max_batch(1024, BATCH, 0.05)
    assert "[ok] max_batch" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    (256, "not the one with the lowest loss"),
    (2048, "more than the tolerance above"),
    (512, "one of the batch sizes"),
])
def test_max_batch_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab10.max_batch(value, BATCH, 0.05)


def test_max_batch_handles_a_diverged_run():
    table = BATCH.copy()
    table.loc[4096, "val loss (warm-up)"] = math.inf
    lab10.max_batch(1024, table, 0.05)
    with pytest.raises(AssertionError, match="smallest batch did not train"):
        lab10.max_batch(1024, table.iloc[::-1].set_axis([32, 256, 1024, 2048, 4096]), 0.05)
