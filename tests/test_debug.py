"""labkit.debug: each tool is tried on purpose-built broken models and must flag the
break (and stay quiet on a working model)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from labkit import debug  # noqa: E402

# Ten classes with probabilities fed to cross-entropy: the best it can do is a one-hot
# "probability" vector, whose loss is log(e + 9) - 1.
FLOOR_10 = math.log(math.e + 9) - 1


@pytest.fixture(autouse=True)
def _restore_torch_state():
    """seed_everything changes process-wide settings; give them back after each test."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    state = torch.random.get_rng_state()
    yield
    torch.use_deterministic_algorithms(deterministic)
    torch.random.set_rng_state(state)


def _mlp(n_in=8, hidden=32, n_out=10, dropout=0.0):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_out))


def _batch(n=10, n_in=8, n_classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n_in, generator=g), torch.arange(n) % n_classes


def _dead_relu_model():
    model = _mlp()
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every pre-activation is negative: all ReLUs dead
    return model


def _no_zero_grad_step(model, optimizer, loss_fn, inputs, labels):
    model.train()
    loss = loss_fn(model(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def _on_probabilities(logits, labels):
    return F.cross_entropy(F.softmax(logits, dim=1), labels)


# --- seed_everything ------------------------------------------------------------------


def _tiny_run(seed):
    """Weights after a little training with dropout and shuffles, plus numpy and random."""
    debug.seed_everything(seed)
    model = _mlp(dropout=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    inputs, labels = torch.randn(40, 8), torch.randint(0, 10, (40,))
    for _ in range(3):
        for rows in torch.randperm(40).split(8):
            optimizer.zero_grad()
            F.cross_entropy(model(inputs[rows]), labels[rows]).backward()
            optimizer.step()
    return model.state_dict(), np.random.rand(3), random.random()


def test_one_seed_gives_bit_identical_weights_and_another_does_not():
    weights_a, np_a, py_a = _tiny_run(3)
    weights_b, np_b, py_b = _tiny_run(3)
    weights_c, _, _ = _tiny_run(4)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert np.array_equal(np_a, np_b) and py_a == py_b
    assert not all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)


def test_deterministic_algorithms_are_switched_on_only_when_asked():
    torch.use_deterministic_algorithms(False)
    debug.seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    debug.seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.floats(), st.text(max_size=3), st.booleans(), st.none(),
                 st.integers(max_value=-1), st.integers(min_value=2**32)))
def test_a_bad_seed_is_refused_with_a_clear_message(seed):
    with pytest.raises((TypeError, ValueError), match="seed must"):
        debug.seed_everything(seed)


def test_deterministic_must_be_a_bool():
    with pytest.raises(TypeError, match="True or False"):
        debug.seed_everything(0, deterministic="yes")


# --- overfit_one_batch ----------------------------------------------------------------


def test_a_working_loop_memorizes_a_small_batch():
    torch.manual_seed(0)
    report = debug.overfit_one_batch(_mlp(), F.cross_entropy, _batch(), steps=200, lr=0.1,
                                     momentum=0.9)
    assert report.memorized and report.accuracy == 1.0
    assert report.final_loss < 0.05 < report.losses[0]
    assert report.steps == 200 and report.n_examples == 10
    assert report.verdict() == "memorized" and "memorized" in str(report)


def test_a_loss_on_softmaxed_outputs_stalls_at_its_floor():
    torch.manual_seed(0)
    report = debug.overfit_one_batch(_mlp(), _on_probabilities, _batch(), steps=300,
                                     lr=0.5, momentum=0.9)
    assert report.finite
    assert report.final_loss > FLOOR_10 - 1e-6
    assert not report.memorized
    assert "stalls" in report.verdict() or "still wrong" in report.verdict()


def test_gradients_that_are_never_zeroed_pile_up():
    torch.manual_seed(0)
    good = debug.overfit_one_batch(_mlp(), F.cross_entropy, _batch(), steps=60, lr=0.05,
                                   momentum=0.9)
    torch.manual_seed(0)
    piled = debug.overfit_one_batch(_mlp(), F.cross_entropy, _batch(), steps=60, lr=0.05,
                                    momentum=0.9, step=_no_zero_grad_step)
    assert good.grad_norms[-1] < good.grad_norms[0]
    assert piled.grad_norms[-1] > 10 * piled.grad_norms[0]
    assert not piled.memorized


@pytest.mark.parametrize("losses, norms, words", [
    ((2.3, 290.0, 0.001), (2.0, 3.0, 0.1), "swung up to 290 on the way"),
    ((2.3, 1.0, 0.001), (2.0, 5.0, 50.0), "grew 25-fold"),
    ((2.3, 1.0, 0.001), (2.0, 1.0, 0.1), "memorized"),
])
def test_a_loop_that_lands_on_a_low_loss_through_wild_swings_is_not_trusted(losses, norms,
                                                                             words):
    report = debug.OverfitReport(losses, norms, 0.001, 1.0, 10)
    assert report.verdict().endswith(words)
    assert report.memorized == (words == "memorized")


def test_an_exploding_learning_rate_ends_in_nan_and_is_reported():
    torch.manual_seed(0)
    report = debug.overfit_one_batch(_mlp(), F.cross_entropy, _batch(), steps=200,
                                     lr=1e4, momentum=0.9)
    assert not report.memorized
    if report.first_nonfinite_step is not None:
        assert report.steps == report.first_nonfinite_step + 1  # training stopped there
        assert "not finite" in report.verdict()
    else:
        assert report.final_loss > report.losses[0]


def test_dead_relus_cannot_memorize():
    report = debug.overfit_one_batch(_dead_relu_model(), F.cross_entropy, _batch(),
                                     steps=100, lr=0.1)
    assert not report.memorized


def test_the_model_mode_is_restored_and_a_tensor_step_result_is_accepted():
    model = _mlp(dropout=0.3)

    def tensor_step(model, optimizer, loss_fn, inputs, labels):
        model.train()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss

    report = debug.overfit_one_batch(model, F.cross_entropy, _batch(), steps=5,
                                     step=tensor_step)
    assert report.steps == 5 and model.training


@pytest.mark.parametrize("kwargs, error, words", [
    ({"model": "net"}, TypeError, "torch.nn.Module"),
    ({"model": nn.ReLU()}, ValueError, "no parameters"),
    ({"loss_fn": 3}, TypeError, "loss_fn must be a function"),
    ({"batch": torch.zeros(3, 8)}, TypeError, "pair"),
    ({"batch": (torch.zeros(3, 8), torch.zeros(2, dtype=torch.long))}, ValueError,
     "3 inputs but 2 labels"),
    ({"batch": (torch.zeros(3, 8), torch.zeros(3))}, ValueError, "integer class indices"),
    ({"batch": (torch.zeros(3, 8), torch.tensor([0, -1, 2]))}, ValueError, "negative"),
    ({"steps": 0}, ValueError, "steps must be at least 1"),
    ({"steps": 2.5}, TypeError, "steps must be a whole number"),
    ({"lr": -1.0}, ValueError, "lr must be"),
    ({"optimizer": "sgd"}, TypeError, "torch.optim.Optimizer"),
    ({"step": lambda *a: "low"}, TypeError, "loss as a number"),
    ({"loss_fn": lambda out, y: out.sum(dim=1)}, TypeError, "one-element"),
])
def test_overfit_one_batch_refuses_bad_input_clearly(kwargs, error, words):
    args = {"model": _mlp(), "loss_fn": F.cross_entropy, "batch": _batch(n=3)}
    args.update(kwargs)
    with pytest.raises(error, match=words):
        debug.overfit_one_batch(args.pop("model"), args.pop("loss_fn"), args.pop("batch"),
                                steps=args.pop("steps", 3), **args)


def test_numpy_batches_are_accepted():
    inputs, labels = _batch()
    report = debug.overfit_one_batch(_mlp(), F.cross_entropy,
                                     (inputs.numpy(), labels.numpy()), steps=3)
    assert report.steps == 3


# --- gradient_health ------------------------------------------------------------------


def test_a_healthy_model_has_no_gradient_problems():
    torch.manual_seed(0)
    report = debug.gradient_health(_mlp(), F.cross_entropy, _batch())
    assert report.healthy and report.problems == []
    assert set(report.flags) == {"ok"}
    assert len(report.names) == 4 and report.table().shape == (4, 3)


def test_dead_relus_starve_every_layer_before_them_and_the_output_weights():
    report = debug.gradient_health(_dead_relu_model(), F.cross_entropy, _batch())
    flags = dict(zip(report.names, report.flags, strict=True))
    assert flags["0.weight"] == flags["0.bias"] == "vanishing"
    assert flags["3.weight"] == "vanishing"  # its inputs are all 0
    assert flags["3.bias"] == "ok"


def test_nan_inputs_give_non_finite_gradients():
    inputs, labels = _batch()
    inputs[0, 0] = float("nan")
    report = debug.gradient_health(_mlp(), F.cross_entropy, (inputs, labels))
    assert "non-finite" in report.flags and not report.healthy
    assert math.isnan(report.total_norm) or report.total_norm >= 0


def test_huge_weights_give_exploding_gradients():
    model = _mlp()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e3)
    report = debug.gradient_health(model, F.cross_entropy, _batch())
    assert "exploding" in report.flags


def test_an_unused_parameter_gets_no_gradient_and_grads_are_left_alone():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(8, 10), nn.Linear(8, 10)

        def forward(self, x):
            return self.used(x)

    model = WithSpare()
    model.train()
    report = debug.gradient_health(model, F.cross_entropy, _batch())
    assert dict(zip(report.names, report.flags, strict=True))["spare.weight"] == "no gradient"
    assert all(p.grad is None for p in model.parameters())  # fresh gradients, .grad untouched
    assert model.training


def test_reading_the_last_backward_agrees_with_torch_total_norm():
    torch.manual_seed(0)
    model = _mlp()
    assert set(debug.gradient_health(model).flags) == {"no gradient"}
    inputs, labels = _batch()
    F.cross_entropy(model(inputs), labels).backward()
    report = debug.gradient_health(model)
    expected = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert math.isclose(report.total_norm, float(expected), rel_tol=1e-5)
    fresh = debug.gradient_health(model, F.cross_entropy, (inputs, labels))
    assert np.allclose(fresh.grad_norms, report.grad_norms, rtol=1e-5)


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((F.cross_entropy,), {}, TypeError, "both loss_fn and batch"),
    ((), {"vanishing": 1.0, "exploding": 0.5}, ValueError, "must be below"),
    ((), {"exploding": float("nan")}, ValueError, "exploding must be"),
])
def test_gradient_health_refuses_bad_input_clearly(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        debug.gradient_health(_mlp(), *args, **kwargs)


# --- activation_health ----------------------------------------------------------------


def test_a_healthy_model_has_no_activation_problems_and_is_left_as_it_was():
    torch.manual_seed(0)
    model = _mlp(dropout=0.5)
    model.train()
    report = debug.activation_health(model, _batch(n=64))
    assert report.healthy
    assert report.names == ("input", "0", "1", "2", "3")
    assert report.kinds == ("input", "Linear", "ReLU", "Dropout", "Linear")
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed
    assert report.table().shape == (5, 7) and "ReLU" in str(report)


def test_all_dead_relus_are_flagged():
    report = debug.activation_health(_dead_relu_model(), _batch(n=64)[0])
    relu = report.names.index("1")
    assert report.flags[relu] == "dead units" and report.dead[relu] == 1.0
    assert any("100% of its units are dead" in p for p in report.problems)


def test_the_dead_share_matches_a_direct_count():
    torch.manual_seed(1)
    model = _mlp()
    with torch.no_grad():
        model[0].bias[:20] = -50.0  # 20 of 32 units dead
    inputs = _batch(n=64)[0]
    report = debug.activation_health(model, inputs)
    hidden = torch.relu(model[0](inputs))
    assert report.dead[2] == pytest.approx(float((hidden <= 0).all(dim=0).float().mean()))
    assert report.dead[2] >= 20 / 32 and report.flags[2] == "dead units"


def test_a_nan_in_the_inputs_is_flagged_where_it_first_appears():
    inputs = _batch()[0]
    inputs[:, 3] = float("nan")
    report = debug.activation_health(_mlp(), inputs)
    assert report.flags[0] == "non-finite"
    assert report.nonfinite[0] == pytest.approx(1 / 8)
    assert all(flag == "non-finite" for flag in report.flags)


def test_saturated_tanh_and_huge_outputs_are_flagged():
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 10))
    with torch.no_grad():
        model[0].weight.mul_(1e5)
    report = debug.activation_health(model, _batch(n=64))
    assert report.flags[1] == "huge" and report.flags[2] == "saturated"
    assert any("outputs up to" in p for p in report.problems)


@pytest.mark.parametrize("batch, kwargs, error, words", [
    ([[1.0, 2.0]], {}, TypeError, "pair"),
    ("inputs", {}, TypeError, "torch tensor"),
    (torch.zeros(0, 8), {}, ValueError, "at least one example"),
    (torch.zeros(4, 8), {"max_dead": 2.0}, ValueError, "share of units"),
])
def test_activation_health_refuses_bad_input_clearly(batch, kwargs, error, words):
    with pytest.raises(error, match=words):
        debug.activation_health(_mlp(), batch, **kwargs)


# --- learning_rate_sweep --------------------------------------------------------------


def _sweep(rates, epochs=2):
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(96, 8, generator=g)
    labels = (inputs[:, 0] > 0).long() + 2 * (inputs[:, 1] > 0).long()
    return debug.learning_rate_sweep(lambda: _mlp(n_out=4), inputs, labels, rates,
                                     epochs=epochs, batch_size=16, seed=3)


def test_the_sweep_runs_each_rate_from_the_same_start_and_spares_the_global_state():
    before = torch.random.get_rng_state()
    sweep = _sweep([1e3, 0.01, 0.1])
    assert torch.equal(before, torch.random.get_rng_state())
    assert sweep.learning_rates == (0.01, 0.1, 1e3)
    firsts = {sweep.losses[lr][0] for lr in sweep.learning_rates}
    assert len(firsts) == 1  # same initial weights, same first batch
    low, high = sweep.epoch_losses[0.1], sweep.epoch_losses[1e3]
    assert low[-1] < low[0] and sweep.finite(0.1)
    assert not (math.isfinite(high[-1]) and high[-1] < high[0])  # it blows up
    assert sweep.table().shape == (3, 4)
    assert _sweep([0.1]).losses[0.1] == sweep.losses[0.1]  # reproducible


@pytest.mark.parametrize("rates, kwargs, error, words", [
    ([], {}, ValueError, "empty"),
    ([0.1, 0.1], {}, ValueError, "twice"),
    ([-0.1], {}, ValueError, "learning rate must be"),
    ([0.1], {"epochs": 0}, ValueError, "epochs must be at least 1"),
    ([0.1], {"batch_size": 1.5}, TypeError, "batch_size must be a whole number"),
])
def test_the_sweep_refuses_bad_input_clearly(rates, kwargs, error, words):
    with pytest.raises(error, match=words):
        debug.learning_rate_sweep(_mlp, torch.zeros(4, 8), torch.zeros(4, dtype=torch.long),
                                  rates, **kwargs)
