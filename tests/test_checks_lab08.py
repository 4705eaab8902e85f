"""Lab 08's checks: fixed pieces pass; each planted bug and each plausible slip fails with
a message that names the symptom; bad input gets a clear message; the checks record the
same values for every correct fix, different ones for a buggy piece, and leave the lab's
random state alone."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from labkit.checks import lab08  # noqa: E402
from labkit.contract import RESULTS_ENV  # noqa: E402
from labkit.datasets import load_digits_arrays  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_arrays()
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    return X[:400], y[:400], X[400:600], y[400:600]


# --- the pieces: fixed, as planted, and plausible slips ---------------------------------


def standardizer_fixed(X_train):
    mean, std = X_train.mean(dim=0), X_train.std(dim=0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return lambda X: (X - mean) / std


def standardizer_other_fix(X_train):
    mean, std = X_train.mean(dim=0), X_train.std(dim=0, correction=0)
    std[std == 0] = 1.0
    return lambda X: (X - mean) / std


def standardizer_planted(X_train):
    mean, std = X_train.mean(dim=0), X_train.std(dim=0, correction=0)
    return lambda X: (X - mean) / std


def standardizer_epsilon(X_train):
    mean, std = X_train.mean(dim=0), X_train.std(dim=0, correction=0)
    return lambda X: (X - mean) / (std + 1e-8)


def standardizer_sample_std(X_train):
    mean, std = X_train.mean(dim=0), X_train.std(dim=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return lambda X: (X - mean) / std


def standardizer_own_statistics(X_train):
    def scale(X):
        std = X.std(dim=0, correction=0)
        return (X - X.mean(dim=0)) / torch.where(std > 0, std, torch.ones_like(std))
    return scale


def batches_fixed(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X), batch_size):
        rows = order[start:start + batch_size]
        yield X[rows], y[rows]


def batches_other_fix(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    X, y = X[order], y[order]
    return [(X[s:s + batch_size], y[s:s + batch_size]) for s in range(0, len(X), batch_size)]


def batches_planted(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X), batch_size):
        rows = order[start:start + batch_size]
        yield X[rows], y[start:start + batch_size]


def batches_unshuffled(X, y, batch_size, generator):
    for start in range(0, len(X), batch_size):
        yield X[start:start + batch_size], y[start:start + batch_size]


def batches_global_rng(X, y, batch_size, generator):
    order = torch.randperm(len(X))
    for start in range(0, len(X), batch_size):
        rows = order[start:start + batch_size]
        yield X[rows], y[rows]


def batches_drop_last(X, y, batch_size, generator):
    order = torch.randperm(len(X), generator=generator)
    for start in range(0, len(X) - batch_size + 1, batch_size):
        rows = order[start:start + batch_size]
        yield X[rows], y[rows]


def loss_fixed(logits, labels):
    return F.cross_entropy(logits, labels)


def loss_other_fix(logits, labels):
    return F.nll_loss(F.log_softmax(logits, dim=1), labels)


def loss_planted(logits, labels):
    return F.cross_entropy(torch.softmax(logits, dim=1), labels)


def loss_summed(logits, labels):
    return F.cross_entropy(logits, labels, reduction="sum")


def loss_detached(logits, labels):
    return torch.tensor(F.cross_entropy(logits, labels).item())


def step_fixed(model, optimizer, loss_fn, inputs, labels):
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_planted(model, optimizer, loss_fn, inputs, labels):
    model.train()
    loss = loss_fn(model(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_zeroed_too_late(model, optimizer, loss_fn, inputs, labels):
    model.train()
    loss = loss_fn(model(inputs), labels)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def step_no_train_mode(model, optimizer, loss_fn, inputs, labels):
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_loss_after(model, optimizer, loss_fn, inputs, labels):
    step_fixed(model, optimizer, loss_fn, inputs, labels)
    with torch.no_grad():
        return loss_fn(model(inputs), labels).item()


def evaluate_fixed(model, X, y):
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


def evaluate_planted(model, X, y):
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


def evaluate_that_trains(model, X, y):
    model.eval()
    for p in model.parameters():
        p.data.add_(0.01)
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


def evaluate_count(model, X, y):
    model.eval()
    with torch.no_grad():
        return int((model(X).argmax(dim=1) == y).sum())


# --- each check: fixes pass, bugs and slips fail with the right words -------------------


CASES = {
    "standardizer": (lambda f, d: lab08.standardizer(f, d[0], d[2]), [
        (standardizer_fixed, None), (standardizer_other_fix, None),
        (standardizer_planted, "NaN or infinite values"),
        (standardizer_epsilon, "came out huge"),
        (standardizer_sample_std, "sample standard deviation"),
        (standardizer_own_statistics, "learned from X_train"),
        (lambda X: (X - X.mean(dim=0)), "should return a function"),
    ]),
    "batches": (lambda f, d: lab08.batches(f, d[0], d[1]), [
        (batches_fixed, None), (batches_other_fix, None),
        (batches_planted, "no longer belong to the same examples"),
        (batches_unshuffled, "data's own order"),
        (batches_global_rng, "generator you are given"),
        (batches_drop_last, "every example exactly once"),
        (lambda X, y, b, g: 3, "should yield"),
    ]),
    "loss": (lambda f, d: lab08.loss(f, d[2], d[3]), [
        (loss_fixed, None), (loss_other_fix, None),
        (loss_planted, "something other than the model's raw scores"),
        (loss_summed, "sum over the batch"),
        (loss_detached, "no gradient"),
        (lambda z, t: 0.5, "one-element tensor"),
    ]),
    "train_step": (lambda f, d: lab08.train_step(f, d[0], d[1]), [
        (step_fixed, None),
        (step_planted, "first step's gradient plus the second's"),
        (step_zeroed_too_late, "did not move the weights"),
        (step_no_train_mode, "training mode"),
        (step_loss_after, "each computed before its update"),
        (lambda m, o, f, x, t: "done", "as a number"),
    ]),
    "evaluate": (lambda f, d: lab08.evaluate(f, d[2], d[3]), [
        (evaluate_fixed, None),
        (evaluate_planted, "something random is still switched on"),
        (evaluate_that_trains, "changed the model's weights"),
        (evaluate_count, "share between 0 and 1"),
    ]),
}
PARAMS = [(task, i) for task, (_, pieces) in CASES.items() for i in range(len(pieces))]


@pytest.mark.parametrize("task, index", PARAMS, ids=[f"{t}-{i}" for t, i in PARAMS])
def test_fixes_pass_and_bugs_fail_with_the_right_words(digits, capsys, task, index):
    check, pieces = CASES[task]
    piece, words = pieces[index]
    if words is None:
        check(piece, digits)
        assert f"[ok] {task}" in capsys.readouterr().out
    else:
        with pytest.raises(AssertionError, match=words):
            check(piece, digits)


@pytest.mark.parametrize("task", list(CASES))
def test_a_stub_is_reported_as_not_implemented(digits, task):
    def stub(*args):
        raise NotImplementedError("Fix it.")

    with pytest.raises(AssertionError, match="not implemented yet"):
        CASES[task][0](stub, digits)


@pytest.mark.parametrize("task", list(CASES))
def test_the_checks_leave_the_random_state_alone(digits, task):
    before = torch.random.get_rng_state()
    check, pieces = CASES[task]
    check(pieces[0][0], digits)
    assert torch.equal(before, torch.random.get_rng_state())


# --- what the grader sees ---------------------------------------------------------------


def _recorded(monkeypatch, folder, task, piece, digits):
    folder.mkdir()
    monkeypatch.setenv(RESULTS_ENV, str(folder))
    try:
        CASES[task][0](piece, digits)
    except AssertionError:
        pass
    return json.loads((folder / f"{task}.json").read_text())["values"]


@pytest.mark.parametrize("task, fixed, other, planted", [
    ("standardizer", standardizer_fixed, standardizer_other_fix, standardizer_planted),
    ("batches", batches_fixed, batches_other_fix, batches_planted),
    ("loss", loss_fixed, loss_other_fix, loss_planted),
    ("evaluate", evaluate_fixed, evaluate_fixed, evaluate_planted),
    ("train_step", step_fixed, step_fixed, step_planted),
])
def test_every_fix_records_the_same_values_and_the_bug_records_others(
        monkeypatch, tmp_path, digits, task, fixed, other, planted):
    """The buggy starting code must record before its check fails (the grader marks the
    task failed, not crashed), and two correct fixes must agree with each other."""
    one, two, bug = (_recorded(monkeypatch, tmp_path / name, task, piece, digits)
                     for name, piece in (("one", fixed), ("two", other), ("bug", planted)))
    assert set(one) == set(two) == set(bug)

    def close(a, b):
        a, b = (np.asarray(v["array"] if isinstance(v, dict) else v, dtype=float)
                for v in (a, b))
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-5)

    assert all(close(one[k], two[k]) for k in one)
    assert not all(close(one[k], bug[k]) for k in one)


# --- the learning-rate decision -----------------------------------------------------------


SWEEP = SimpleNamespace(
    learning_rates=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
    epoch_losses={0.003: (2.2, 1.8, 1.4), 0.01: (1.9, 0.8, 0.4), 0.03: (1.3, 0.3, 0.1),
                  0.1: (0.8, 0.2, 0.1), 0.3: (1.3, 15.0, 200.0),
                  1.0: (7e3, math.nan, math.nan)})


@pytest.mark.parametrize("value, words", [
    (0.03, None), (0.01, None),
    (0.1, "the edge"),
    (0.3, "diverges"), (1.0, "diverges"),
    (0.003, "crawl"),
    (0.05, "choose one of the rates the sweep tried"),
    ("0.03", "to a number"),
    (math.nan, "to a number"),
])
def test_the_learning_rate_must_be_a_step_or_two_below_the_edge(capsys, value, words):
    if words is None:
        lab08.learning_rate(value, SWEEP)
        assert "[ok] learning_rate" in capsys.readouterr().out
    else:
        with pytest.raises(AssertionError, match=words):
            lab08.learning_rate(value, SWEEP)


def test_the_learning_rate_records_the_accepted_rates(monkeypatch, tmp_path):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab08.learning_rate(3.0, SWEEP)  # the setting the trainer came with
    values = json.loads((tmp_path / "learning_rate.json").read_text())["values"]
    recorded = values["learning_rate"]
    assert recorded["decision"]["array"] == 3.0
    assert recorded["accepted"]["array"] == [0.03, 0.01]


@pytest.mark.parametrize("sweep, words", [
    (None, "the sweep that labkit.debug.learning_rate_sweep returned"),
    (SimpleNamespace(learning_rates=(0.1, 0.01, 1.0), epoch_losses={}), "increasing order"),
    (SimpleNamespace(learning_rates=(0.1, 1.0, 10.0),
                     epoch_losses={0.1: (2.0, 3.0), 1.0: (2.0, 9.0), 10.0: (2.0, 90.0)}),
     "no rate of the sweep is stable"),
    (SimpleNamespace(learning_rates=(0.1, 1.0, 10.0),
                     epoch_losses={0.1: (2.0, 1.0), 1.0: (2.0, 9.0), 10.0: (2.0, 90.0)}),
     "only the smallest rate"),
])
def test_a_bad_sweep_gets_a_clear_message(sweep, words):
    with pytest.raises(AssertionError, match=words):
        lab08.learning_rate(0.1, sweep)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("call, words", [
    (lambda d: lab08.standardizer(standardizer_fixed, d[0].tolist(), d[2]), "torch tensor"),
    (lambda d: lab08.standardizer(standardizer_fixed, d[0], d[2][:, :10]), "same number"),
    (lambda d: lab08.batches(batches_fixed, d[0], d[1][:5]), "as many labels as inputs"),
    (lambda d: lab08.loss(loss_fixed, d[2], d[3].float()), "integer class labels"),
    (lambda d: lab08.train_step(step_fixed, d[0][0], d[1]), "2-d tensor"),
    (lambda d: lab08.evaluate(evaluate_fixed, d[2], d[3] + 10), "classes 0 to 9"),
])
def test_bad_input_gets_a_clear_message(digits, call, words):
    with pytest.raises(AssertionError, match=words):
        call(digits)
