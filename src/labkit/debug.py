"""Tools to debug a PyTorch training loop: seeds, one-batch overfitting, health reports.

Most bugs in a training loop raise no error: the code runs, a loss is printed, and the
model learns less than it could, or nothing. These tools make such bugs visible:

* :func:`seed_everything` makes two runs of the same code give the same numbers, so a
  change in the results can be pinned on a change in the code;
* :func:`overfit_one_batch` trains on a handful of examples, which any working loop can
  memorize: a loop that cannot has a bug in the model, the loss or the update;
* :func:`gradient_health` and :func:`activation_health` report, layer by layer, what
  flows backwards and forwards through a model: missing, vanishing, exploding or
  non-finite gradients; dead ReLU units, non-finite or huge activations;
* :func:`learning_rate_sweep` trains the same model briefly at several learning rates
  with a plain, known-good loop, to find where training stops being stable.

torch is imported inside the functions, so importing this module is cheap.

Examples
--------
>>> import torch
>>> seed_everything(0)
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
...                             torch.nn.Linear(8, 3))
>>> inputs, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
>>> report = overfit_one_batch(model, torch.nn.functional.cross_entropy,
...                            (inputs, labels), steps=100, lr=0.5)
>>> report.memorized
True
>>> activation_health(model, inputs).problems
[]
"""

from __future__ import annotations

import math
import numbers
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ActivationReport", "GradientReport", "OverfitReport", "SweepReport",
           "activation_health", "gradient_health", "learning_rate_sweep",
           "overfit_one_batch", "seed_everything"]

#: Largest seed :func:`seed_everything` accepts (numpy's legacy seeding takes 32 bits).
MAX_SEED = 2**32 - 1


# ----------------------------------------------------------------------------------------
# validation at the boundary


def _torch() -> Any:
    import torch

    return torch


def _check_model(model: Any) -> Any:
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a network), got "
                        f"{type(model).__name__}.")
    if not any(True for _ in model.parameters()):
        raise ValueError("model has no parameters: there is nothing to train or inspect.")
    return model


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__} "
                        f"{value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def _check_positive(name: str, value: Any, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be a finite number {'>=' if zero else '>'} 0, "
                         f"got {value}.")
    return value


def _as_inputs(name: str, value: Any) -> Any:
    torch = _torch()
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor (or a numpy array), got "
                        f"{type(value).__name__}.")
    if value.ndim < 1 or value.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example (one row per example), "
                         f"got shape {tuple(value.shape)}.")
    if not value.is_floating_point():
        value = value.float()
    return value


def _as_labels(name: str, value: Any, n: int) -> Any:
    torch = _torch()
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor (or a numpy array) of class "
                        f"indices, got {type(value).__name__}.")
    if value.is_floating_point() or value.dtype == torch.bool or value.ndim != 1:
        raise ValueError(f"{name} must be a 1-d tensor of integer class indices, got dtype "
                         f"{value.dtype} and shape {tuple(value.shape)}.")
    if value.shape[0] != n:
        raise ValueError(f"the batch has {n} inputs but {value.shape[0]} labels; give one "
                         "label per input.")
    if n and int(value.min()) < 0:
        raise ValueError(f"{name} must be class indices (0, 1, 2, ...), got a negative one.")
    return value.long()


def _check_batch(batch: Any) -> tuple[Any, Any]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError("batch must be a pair (inputs, labels), e.g. (X[:10], y[:10]), got "
                        f"{type(batch).__name__}.")
    inputs = _as_inputs("the batch's inputs", batch[0])
    return inputs, _as_labels("the batch's labels", batch[1], inputs.shape[0])


def _check_callable(name: str, value: Any) -> Callable[..., Any]:
    if not callable(value):
        raise TypeError(f"{name} must be a function, got {type(value).__name__}.")
    return value


def _scalar_loss(loss: Any, where: str) -> Any:
    torch = _torch()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"{where} must return the loss as a one-element torch tensor, got "
                        f"{type(loss).__name__}"
                        + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor)
                           else "") + ".")
    return loss.reshape(())


# ----------------------------------------------------------------------------------------
# seeds


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's, numpy's and torch's random number generators, and ask torch for
    deterministic algorithms.

    After ``seed_everything(s)``, the same code builds the same initial weights, draws
    the same dropout masks and shuffles the same way, so two runs give bit-identical
    results on one machine. Generators you create yourself (``torch.Generator``,
    ``np.random.default_rng``) still need their own seed.

    Parameters
    ----------
    seed : int
        From 0 to 2**32 - 1.
    deterministic : bool
        Also call ``torch.use_deterministic_algorithms(True)`` (an operation without a
        deterministic implementation then raises instead of silently varying), turn off
        cuDNN's autotuner, and set ``CUBLAS_WORKSPACE_CONFIG`` when it is unset (needed
        by deterministic matrix products on GPUs; harmless on CPUs). This changes
        process-wide settings; ``deterministic=False`` leaves them alone.

    Raises
    ------
    TypeError, ValueError
        When ``seed`` is not a whole number in range.

    Notes
    -----
    Python's hashing of strings (and so the order of a ``set`` of strings) is fixed
    only by the environment variable ``PYTHONHASHSEED`` when the interpreter starts;
    no function can change it afterwards.

    Examples
    --------
    >>> import torch
    >>> seed_everything(7, deterministic=False)
    >>> a = torch.nn.Linear(3, 2).weight.detach().clone()
    >>> seed_everything(7, deterministic=False)
    >>> torch.equal(a, torch.nn.Linear(3, 2).weight.detach())
    True
    """
    seed = _check_int("seed", seed, 0)
    if seed > MAX_SEED:
        raise ValueError(f"seed must be at most {MAX_SEED} (numpy takes 32-bit seeds), got "
                         f"{seed}.")
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be True or False, got {deterministic!r}.")
    torch = _torch()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every GPU's generator
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


# ----------------------------------------------------------------------------------------
# overfitting one batch


def _plain_step(model: Any, optimizer: Any, loss_fn: Callable[..., Any], inputs: Any,
                labels: Any) -> float:
    """A known-good training step: train mode, fresh gradients, one update."""
    model.train()
    optimizer.zero_grad()
    loss = _scalar_loss(loss_fn(model(inputs), labels), "loss_fn")
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _grad_norm(model: Any) -> float:
    torch = _torch()
    grads = [p.grad.detach().reshape(-1) for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.cat(grads).double()))


@dataclass(frozen=True)
class OverfitReport:
    """What happened when a model was trained on one small batch.

    Attributes
    ----------
    losses : tuple of float
        The loss of each training step (on the batch, before that step's update).
    grad_norms : tuple of float
        The norm of all parameters' gradients after each step, as the step left them.
        A plain step leaves the gradient of that step's batch; a norm that grows step
        after step while the loss falls is the mark of gradients that pile up.
    final_loss : float
        The loss on the batch after training, with the model in eval mode.
    accuracy : float
        The share of the batch classified right after training, in eval mode.
    n_examples : int
        How many examples the batch holds.
    loss_tol : float
        The final loss below which the batch counts as memorized.
    """

    losses: tuple[float, ...]
    grad_norms: tuple[float, ...]
    final_loss: float
    accuracy: float
    n_examples: int
    loss_tol: float = 0.05

    @property
    def steps(self) -> int:
        """The number of training steps taken."""
        return len(self.losses)

    @property
    def finite(self) -> bool:
        """Whether every loss, including the final one, is a finite number."""
        return all(math.isfinite(v) for v in (*self.losses, self.final_loss))

    @property
    def first_nonfinite_step(self) -> int | None:
        """The first step whose loss is NaN or infinite (0-based), or None."""
        return next((i for i, v in enumerate(self.losses) if not math.isfinite(v)), None)

    @property
    def memorized(self) -> bool:
        """True when the loop memorized the batch the way a working loop does: every
        example right at the end, the final loss finite and at most ``loss_tol``, and the
        way there steady (see :meth:`verdict`).

        Right answers alone are not enough: a loss that stalls far above its minimum means
        the loop optimizes something other than it should, and a loss that swings far
        above where it started, or gradients that keep growing, mean the updates are
        broken even when the last step happens to land on a low loss."""
        return self.verdict() == "memorized"

    def verdict(self) -> str:
        """``"memorized"``, or ``"NOT memorized"`` with the first reason that applies.

        The reasons, in order: a loss that is not finite; examples still wrong; a final
        loss above ``loss_tol``; a training loss that swung above twice its starting
        value; a gradient norm that ended more than ten times its first value.

        Examples
        --------
        >>> OverfitReport((2.3, 1.5), (1.0, 0.4), 1.46, 1.0, 10).verdict()
        'NOT memorized: every example is right, but the loss stalls at 1.46'
        >>> OverfitReport((2.3, 290.0, 0.01), (2.0, 200.0, 1e4), 0.0, 1.0, 10).verdict()
        'NOT memorized: the loss swung up to 290 on the way'
        """
        first = self.first_nonfinite_step
        if first is not None or not self.finite:
            where = f" from step {first} on" if first is not None else " at the end"
            return f"NOT memorized: the loss is not finite{where}"
        if self.accuracy < 1.0:
            return f"NOT memorized: {1 - self.accuracy:.0%} of the examples are still wrong"
        if self.final_loss > self.loss_tol:
            return ("NOT memorized: every example is right, but the loss stalls at "
                    f"{_fmt(self.final_loss)}")
        if self.losses and max(self.losses) > 2 * self.losses[0]:
            return f"NOT memorized: the loss swung up to {_fmt(max(self.losses))} on the way"
        if self.grad_norms and self.grad_norms[-1] > 10 * self.grad_norms[0]:
            return ("NOT memorized: the gradient left after each step grew "
                    f"{self.grad_norms[-1] / self.grad_norms[0]:.0f}-fold")
        return "memorized"

    def summary(self) -> str:
        """One line: loss at the start and at the end, accuracy on the batch, verdict.

        Examples
        --------
        >>> OverfitReport((2.3, 0.5), (1.0, 0.4), 0.01, 1.0, 10).summary()
        '10 examples, 2 steps: loss 2.3 -> 0.01, accuracy 100%: memorized'
        """
        return (f"{self.n_examples} examples, {self.steps} steps: loss "
                f"{_fmt(self.losses[0])} -> {_fmt(self.final_loss)}, accuracy "
                f"{self.accuracy:.0%}: {self.verdict()}")

    def __str__(self) -> str:
        return self.summary()


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.2g}" if abs(value) < 0.01 or abs(value) >= 1000 else f"{value:.3g}"


def overfit_one_batch(model: Any, loss_fn: Callable[..., Any], batch: Sequence[Any], *,
                      steps: int = 200, lr: float = 0.1, momentum: float = 0.0,
                      optimizer: Any = None, step: Callable[..., Any] | None = None,
                      loss_tol: float = 0.05) -> OverfitReport:
    """Train ``model`` on one small batch over and over; report whether it memorizes it.

    A model with enough capacity and a working loop drives the loss on a few examples
    close to its minimum and classifies all of them right. If it cannot, the bug is in
    the model, the loss or the update, not in the data pipeline (which this test skips)
    or in a lack of data.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier whose output is one score (logit) per class. It is trained in
        place.
    loss_fn : callable
        ``loss_fn(outputs, labels)`` returning a one-element tensor: the loss under test.
    batch : (inputs, labels)
        A few examples (say 10) and their integer class labels.
    steps : int
        How many updates to make.
    lr, momentum : float
        Settings of the SGD optimizer made when ``optimizer`` is not given.
    optimizer : torch.optim.Optimizer, optional
        An optimizer over ``model``'s parameters.
    step : callable, optional
        The training step under test, ``step(model, optimizer, loss_fn, inputs,
        labels)``, returning the loss as a number. By default a known-good step (train
        mode, zero the gradients, forward, backward, update).
    loss_tol : float
        The batch counts as memorized when every example is right and the final loss is
        at most this (cross-entropy's minimum is 0).

    Returns
    -------
    OverfitReport
        The loss and gradient norm of every step, and the final loss and accuracy on the
        batch in eval mode. A step whose loss is not finite ends training early.

    Raises
    ------
    TypeError, ValueError
        On a model without parameters, a batch that is not ``(inputs, labels)`` of
        equal length, a ``steps`` below 1, or a loss that is not a one-element tensor.

    Examples
    --------
    A loss fed probabilities instead of logits cannot reach zero: its floor for two
    classes is log(1 + e**-1), about 0.31.

    >>> import torch
    >>> from torch.nn.functional import cross_entropy, softmax
    >>> seed_everything(0, deterministic=False)
    >>> inputs, labels = torch.randn(8, 5), torch.arange(8) % 2
    >>> def on_probabilities(outputs, labels):
    ...     return cross_entropy(softmax(outputs, dim=1), labels)
    >>> report = overfit_one_batch(torch.nn.Linear(5, 2), on_probabilities,
    ...                            (inputs, labels), steps=300, lr=1.0)
    >>> report.final_loss > 0.31
    True
    """
    torch = _torch()
    model = _check_model(model)
    loss_fn = _check_callable("loss_fn", loss_fn)
    inputs, labels = _check_batch(batch)
    steps = _check_int("steps", steps, 1)
    loss_tol = _check_positive("loss_tol", loss_tol, zero=True)
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=_check_positive("lr", lr),
                                    momentum=_check_positive("momentum", momentum,
                                                             zero=True))
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}.")
    step = _plain_step if step is None else _check_callable("step", step)
    losses, norms = [], []
    for _ in range(steps):
        value = step(model, optimizer, loss_fn, inputs, labels)
        if isinstance(value, torch.Tensor):
            value = _scalar_loss(value, "step").detach()
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError("step must return the loss as a number, got "
                            f"{type(value).__name__}.") from None
        losses.append(value)
        norms.append(_grad_norm(model))
        if not math.isfinite(value):
            break
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(inputs)
            final = float(_scalar_loss(loss_fn(outputs, labels), "loss_fn"))
            right = outputs.argmax(dim=1) == labels
            accuracy = float(right.double().mean()) if bool(torch.isfinite(outputs).all()) \
                else 0.0
    finally:
        model.train(was_training)
    return OverfitReport(tuple(losses), tuple(norms), final, accuracy, int(inputs.shape[0]),
                         loss_tol)


# ----------------------------------------------------------------------------------------
# gradient health


@dataclass(frozen=True)
class GradientReport:
    """Per-parameter gradients of a model, and what looks wrong with them.

    Attributes
    ----------
    names : tuple of str
        Parameter names, as ``model.named_parameters()`` gives them.
    grad_norms : tuple of float
        The L2 norm of each parameter's gradient (NaN when it has none).
    weight_norms : tuple of float
        The L2 norm of each parameter.
    flags : tuple of str
        ``"ok"``, ``"no gradient"`` (the parameter got none: unused, frozen or not yet
        backpropagated), ``"non-finite"`` (NaN or infinite entries), ``"vanishing"``
        (norm below the threshold: nothing reaches it) or ``"exploding"`` (norm above
        the threshold).
    """

    names: tuple[str, ...]
    grad_norms: tuple[float, ...]
    weight_norms: tuple[float, ...]
    flags: tuple[str, ...]

    @property
    def total_norm(self) -> float:
        """The L2 norm of all gradients together (NaN when one is not finite)."""
        norms = [n for n in self.grad_norms if not math.isnan(n)]
        return math.sqrt(sum(n * n for n in norms)) if norms else 0.0

    @property
    def problems(self) -> list[str]:
        """One sentence per parameter whose gradient looks wrong; empty when healthy."""
        return [f"{name}: {flag} gradient" if flag != "no gradient" else f"{name}: {flag}"
                for name, flag in zip(self.names, self.flags, strict=True) if flag != "ok"]

    @property
    def healthy(self) -> bool:
        """True when no parameter is flagged."""
        return not self.problems

    def table(self) -> Any:
        """The report as a pandas DataFrame, one row per parameter."""
        import pandas as pd

        return pd.DataFrame({"grad norm": self.grad_norms, "weight norm": self.weight_norms,
                             "flag": self.flags},
                            index=pd.Index(self.names, name="parameter"))

    def __str__(self) -> str:
        rows = [f"{n:<24} grad {_fmt(g):>9}  weight {_fmt(w):>9}  {f}"
                for n, g, w, f in zip(self.names, self.grad_norms, self.weight_norms,
                                      self.flags, strict=True)]
        return "\n".join(rows)


def gradient_health(model: Any, loss_fn: Callable[..., Any] | None = None,
                    batch: Sequence[Any] | None = None, *, vanishing: float = 1e-7,
                    exploding: float = 1e3) -> GradientReport:
    """Report each parameter's gradient: missing, vanishing, exploding or non-finite.

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable, optional
        With ``batch``: compute fresh gradients of ``loss_fn(model(inputs), labels)``,
        in eval mode (no dropout), without touching the parameters' ``.grad``.
        Without: report the ``.grad`` the last backward pass left.
    batch : (inputs, labels), optional
    vanishing, exploding : float
        A gradient whose L2 norm is below ``vanishing`` or above ``exploding`` is
        flagged.

    Returns
    -------
    GradientReport

    Examples
    --------
    All-dead ReLUs pass no gradient back to the layer before them:

    >>> import torch
    >>> dead = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
    ...                            torch.nn.Linear(4, 2))
    >>> with torch.no_grad():
    ...     _ = dead[0].bias.fill_(-100.0)
    >>> batch = (torch.rand(5, 3), torch.tensor([0, 1, 0, 1, 0]))
    >>> report = gradient_health(dead, torch.nn.functional.cross_entropy, batch)
    >>> report.problems
    ['0.weight: vanishing gradient', '0.bias: vanishing gradient', \
'2.weight: vanishing gradient']
    """
    torch = _torch()
    model = _check_model(model)
    vanishing = _check_positive("vanishing", vanishing, zero=True)
    exploding = _check_positive("exploding", exploding)
    if vanishing >= exploding:
        raise ValueError(f"vanishing ({vanishing}) must be below exploding ({exploding}).")
    named = list(model.named_parameters())
    if (loss_fn is None) != (batch is None):
        raise TypeError("give both loss_fn and batch (to compute fresh gradients) or "
                        "neither (to read the gradients the last backward pass left).")
    if loss_fn is not None:
        loss_fn = _check_callable("loss_fn", loss_fn)
        inputs, labels = _check_batch(batch)
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                loss = _scalar_loss(loss_fn(model(inputs), labels), "loss_fn")
                trainable = [p for _, p in named if p.requires_grad]
                fresh = torch.autograd.grad(loss, trainable, allow_unused=True) \
                    if loss.requires_grad else [None] * len(trainable)
        finally:
            model.train(was_training)
        by_id = {id(p): g for p, g in zip(trainable, fresh, strict=True)}
        grads = [by_id.get(id(p)) for _, p in named]
    else:
        grads = [p.grad for _, p in named]
    norms, weights, flags = [], [], []
    for (_, param), grad in zip(named, grads, strict=True):
        weights.append(float(torch.linalg.vector_norm(param.detach().double())))
        if grad is None:
            norms.append(math.nan)
            flags.append("no gradient")
            continue
        grad = grad.detach().double()
        finite = bool(torch.isfinite(grad).all())
        norm = float(torch.linalg.vector_norm(grad)) if finite else math.nan
        norms.append(norm)
        flags.append("non-finite" if not finite else "vanishing" if norm < vanishing
                     else "exploding" if norm > exploding else "ok")
    return GradientReport(tuple(n for n, _ in named), tuple(norms), tuple(weights),
                          tuple(flags))


# ----------------------------------------------------------------------------------------
# activation health

_RELU_LIKE = ("ReLU", "ReLU6")
_SATURATING = {"Sigmoid": (0.01, 0.99), "Tanh": (-0.99, 0.99)}


@dataclass(frozen=True)
class ActivationReport:
    """What each layer outputs on one batch, and what looks wrong with it.

    Attributes
    ----------
    names : tuple of str
        ``"input"`` (the batch itself), then each leaf module in the order it ran.
    kinds : tuple of str
        The module's class name (``"input"`` for the batch).
    means, stds : tuple of float
        Mean and standard deviation of the finite outputs.
    max_abs : tuple of float
        The largest absolute finite output.
    nonfinite : tuple of float
        The share of outputs that are NaN or infinite.
    dead : tuple of float
        For ReLU layers, the share of units that output 0 for every example of the
        batch (a dead unit passes no gradient); NaN for other layers.
    flags : tuple of str
        ``"ok"``, ``"non-finite"``, ``"dead units"`` (more than ``max_dead`` of a ReLU
        layer's units dead), ``"saturated"`` (most sigmoid/tanh outputs pinned at their
        limits) or ``"huge"`` (outputs beyond ``max_abs``).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    max_abs: tuple[float, ...]
    nonfinite: tuple[float, ...]
    dead: tuple[float, ...]
    flags: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        """One sentence per flagged layer; empty when healthy."""
        out = []
        for i, flag in enumerate(self.flags):
            if flag == "ok":
                continue
            detail = {"non-finite": f"{self.nonfinite[i]:.0%} of its outputs are NaN or "
                                    "infinite",
                      "dead units": f"{self.dead[i]:.0%} of its units are dead",
                      "saturated": "most outputs are pinned at the limits",
                      "huge": f"outputs up to {_fmt(self.max_abs[i])}"}[flag]
            out.append(f"{self.names[i]} ({self.kinds[i]}): {flag}, {detail}")
        return out

    @property
    def healthy(self) -> bool:
        """True when no layer is flagged."""
        return not self.problems

    def table(self) -> Any:
        """The report as a pandas DataFrame, one row per layer."""
        import pandas as pd

        return pd.DataFrame({"kind": self.kinds, "mean": self.means, "std": self.stds,
                             "max |x|": self.max_abs, "non-finite": self.nonfinite,
                             "dead units": self.dead, "flag": self.flags},
                            index=pd.Index(self.names, name="layer"))

    def __str__(self) -> str:
        rows = []
        for i, name in enumerate(self.names):
            dead = "" if math.isnan(self.dead[i]) else f"  dead {self.dead[i]:.0%}"
            rows.append(f"{name:<10} {self.kinds[i]:<10} mean {_fmt(self.means[i]):>8}  "
                        f"std {_fmt(self.stds[i]):>8}  non-finite "
                        f"{self.nonfinite[i]:.0%}{dead}  {self.flags[i]}")
        return "\n".join(rows)


def _layer_stats(values: Any, kind: str, max_dead: float, max_abs: float) -> tuple:
    torch = _torch()
    values = values.detach().double()
    flat = values.reshape(values.shape[0], -1) if values.ndim > 1 else values.reshape(-1, 1)
    finite = torch.isfinite(flat)
    share_bad = 1.0 - float(finite.double().mean())
    good = flat[finite]
    if good.numel():
        mean, std = float(good.mean()), float(good.std(correction=0))
        biggest = float(good.abs().max())
    else:
        mean = std = biggest = math.nan
    dead = math.nan
    if kind in _RELU_LIKE:
        dead = float(((flat <= 0) | ~finite).all(dim=0).double().mean())
    flag = "ok"
    if share_bad > 0:
        flag = "non-finite"
    elif kind in _RELU_LIKE and dead > max_dead:
        flag = "dead units"
    elif kind in _SATURATING and good.numel():
        low, high = _SATURATING[kind]
        if float(((good <= low) | (good >= high)).double().mean()) > 0.5:
            flag = "saturated"
    elif biggest > max_abs:
        flag = "huge"
    return mean, std, biggest, share_bad, dead, flag


def activation_health(model: Any, batch: Any, *, max_dead: float = 0.5,
                      max_abs: float = 1e4) -> ActivationReport:
    """Push one batch through ``model`` and report what each layer outputs.

    The batch runs in eval mode (no dropout) without gradients; the model's mode is
    restored afterwards. Every leaf module (one without submodules: ``Linear``, ``ReLU``,
    ``Dropout``...) is reported in the order it ran, after a row for the input itself.

    Parameters
    ----------
    model : torch.nn.Module
    batch : tensor or (inputs, labels)
        The inputs (the labels, if given, are ignored).
    max_dead : float
        Flag a ReLU layer when more than this share of its units are dead.
    max_abs : float
        Flag a layer whose outputs exceed this size.

    Returns
    -------
    ActivationReport

    Examples
    --------
    A NaN in the inputs spreads to every layer after it:

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> inputs = torch.tensor([[0.5, float("nan")], [1.0, 2.0]])
    >>> [flag for flag in activation_health(model, inputs).flags]
    ['non-finite', 'non-finite', 'non-finite']
    """
    torch = _torch()
    model = _check_model(model)
    if isinstance(batch, (tuple, list)):
        inputs, _ = _check_batch(batch)
    else:
        inputs = _as_inputs("batch", batch)
    max_dead = _check_positive("max_dead", max_dead, zero=True)
    if max_dead > 1:
        raise ValueError(f"max_dead is a share of units, from 0 to 1; got {max_dead}.")
    max_abs = _check_positive("max_abs", max_abs)
    seen: list[tuple[str, str, Any]] = [("input", "input", inputs)]
    names = {module: name for name, module in model.named_modules()}
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]

    def hook(module: Any, _args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            seen.append((names[module] or type(module).__name__, type(module).__name__,
                         output))

    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    stats = [_layer_stats(values, kind, max_dead, max_abs) for _, kind, values in seen]
    columns = list(zip(*stats, strict=True))
    return ActivationReport(tuple(n for n, _, _ in seen), tuple(k for _, k, _ in seen),
                            *(tuple(c) for c in columns))


# ----------------------------------------------------------------------------------------
# learning-rate sweep


@dataclass(frozen=True)
class SweepReport:
    """Short training runs of one model at several learning rates.

    Attributes
    ----------
    learning_rates : tuple of float
        In increasing order.
    losses : dict
        Learning rate -> the loss of every training step (a run whose loss stops being
        finite ends there).
    epoch_losses : dict
        Learning rate -> the mean loss of each epoch (NaN for an epoch that did not
        finish with finite losses).
    dead : dict
        Learning rate -> the share of the first ReLU layer's units that are dead after
        the run, on the first batch (NaN when the model has no ReLU or its outputs are
        not finite).
    """

    learning_rates: tuple[float, ...]
    losses: dict[float, tuple[float, ...]] = field(repr=False)
    epoch_losses: dict[float, tuple[float, ...]]
    dead: dict[float, float]

    def finite(self, lr: float) -> bool:
        """Whether every loss of the run at ``lr`` is finite."""
        values = self.losses[lr]
        return all(math.isfinite(v) for v in values) and \
            all(math.isfinite(v) for v in self.epoch_losses[lr])

    def table(self) -> Any:
        """One row per learning rate: each epoch's mean loss, finiteness, dead units."""
        import pandas as pd

        epochs = max(len(v) for v in self.epoch_losses.values())
        data = {f"epoch {e + 1} loss": [self.epoch_losses[lr][e] for lr in
                                        self.learning_rates] for e in range(epochs)}
        data["all finite"] = [self.finite(lr) for lr in self.learning_rates]
        data["dead units"] = [self.dead[lr] for lr in self.learning_rates]
        return pd.DataFrame(data, index=pd.Index(self.learning_rates, name="learning rate"))


def learning_rate_sweep(make_model: Callable[[], Any], inputs: Any, labels: Any,
                        learning_rates: Iterable[float], *, epochs: int = 3,
                        batch_size: int = 32, momentum: float = 0.9, seed: int = 0,
                        loss_fn: Callable[..., Any] | None = None) -> SweepReport:
    """Train a fresh model for a few epochs at each learning rate, with a known-good loop.

    Every run starts from the same initial weights (``make_model`` is called after
    seeding with ``seed``) and sees the same shuffles, so the runs differ only in the
    learning rate. The loop is plain minibatch SGD with momentum: shuffle, then for each
    batch train mode, zero the gradients, forward, loss, backward, update. The global
    random state is left as it was.

    Parameters
    ----------
    make_model : callable
        Returns a new, untrained model.
    inputs, labels : tensors
        The training data (preprocessed as the model expects) and class indices.
    learning_rates : iterable of float
        At least one, all positive.
    epochs, batch_size : int
    momentum : float
    seed : int
    loss_fn : callable, optional
        Default: cross-entropy on the model's logits.

    Returns
    -------
    SweepReport

    Examples
    --------
    At a learning rate far too large, the loss grows from epoch to epoch:

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> inputs, labels = torch.randn(64, 4), torch.arange(64) % 2
    >>> def make_model():
    ...     return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
    ...                                torch.nn.Linear(16, 2))
    >>> sweep = learning_rate_sweep(make_model, inputs, labels, [0.1, 1000.0], epochs=2)
    >>> [first < last for first, last in sweep.epoch_losses.values()]
    [False, True]
    """
    torch = _torch()
    make_model = _check_callable("make_model", make_model)
    inputs, labels = _check_batch((inputs, labels))
    lrs = [_check_positive("each learning rate", lr) for lr in learning_rates]
    if not lrs:
        raise ValueError("learning_rates is empty: give at least one learning rate.")
    if len(set(lrs)) != len(lrs):
        raise ValueError("learning_rates holds the same rate twice.")
    lrs.sort()
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    momentum = _check_positive("momentum", momentum, zero=True)
    seed = _check_int("seed", seed, 0)
    loss_fn = torch.nn.functional.cross_entropy if loss_fn is None \
        else _check_callable("loss_fn", loss_fn)
    losses, epoch_losses, dead = {}, {}, {}
    with torch.random.fork_rng(devices=[]):
        for lr in lrs:
            torch.manual_seed(seed)
            model = _check_model(make_model())
            optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
            shuffle = torch.Generator().manual_seed(seed)
            run: list[float] = []
            means: list[float] = []
            for _ in range(epochs):
                order = torch.randperm(inputs.shape[0], generator=shuffle)
                this = []
                for start in range(0, inputs.shape[0], batch_size):
                    rows = order[start:start + batch_size]
                    this.append(_plain_step(model, optimizer, loss_fn, inputs[rows],
                                            labels[rows]))
                    if not math.isfinite(this[-1]):
                        break
                run += this
                finished = all(math.isfinite(v) for v in this)
                means.append(float(np.mean(this)) if finished else math.nan)
                if not finished:
                    means += [math.nan] * (epochs - len(means))
                    break
            losses[lr], epoch_losses[lr] = tuple(run), tuple(means)
            report = activation_health(model, inputs[:batch_size])
            relu = [d for d, k in zip(report.dead, report.kinds, strict=True)
                    if k in _RELU_LIKE]
            dead[lr] = relu[0] if relu and report.flags[-1] != "non-finite" else math.nan
    return SweepReport(tuple(lrs), losses, epoch_losses, dead)
