"""Public self-checks of Lab 08, *Debugging a training loop*.

The lab hands the learner a trainer in pieces, each with a bug planted in it. Every check
tests one piece **on its own**: it calls the learner's piece with inputs, models,
optimizers and losses of its own, never with the learner's other pieces, so fixing one
bug never depends on fixing another, and a learner who fixes four of the five pieces
passes four checks.

Each check first records what the piece gives on this run's data (for the grader; the
values are the same for every correct fix), then tries it on small cases worked out by
hand, then tests properties every correct piece has. Failures describe the symptom in
plain words and say where to look, without spelling out the fix. The checks never
change the lab's random state: they run inside ``torch.random.fork_rng``.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ._core import call_answer, decision, expect, passed, record

__all__ = ["batches", "evaluate", "learning_rate", "loss", "standardizer", "train_step"]


_F = TypeVar("_F", bound=Callable[..., Any])


def _torch() -> Any:
    import torch

    return torch


def _spares_the_random_state(check: _F) -> _F:
    """Run a check inside ``torch.random.fork_rng``: building its models and calling the
    learner's pieces must not shift the random numbers the lab draws afterwards."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _torch().random.fork_rng(devices=[]):
            return check(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _tensor(task: str, value: Any, what: str, *, ndim: int, floating: bool) -> Any:
    """The lab's data as a torch tensor, or a plain-words error."""
    torch = _torch()
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    expect(isinstance(value, torch.Tensor), task,
           f"give the check {what} as a torch tensor, got {type(value).__name__}.")
    expect(value.ndim == ndim and value.shape[0] > 0, task,
           f"{what} should be a {ndim}-d tensor with one row per example, got shape "
           f"{tuple(value.shape)}.")
    if floating:
        expect(value.is_floating_point(), task, f"{what} should hold floating-point numbers.")
        return value.float()
    expect(not value.is_floating_point() and value.dtype != torch.bool, task,
           f"{what} should hold integer class labels.")
    return value.long()


def _data(task: str, X: Any, y: Any) -> tuple[Any, Any]:
    X = _tensor(task, X, "the inputs X", ndim=2, floating=True)
    y = _tensor(task, y, "the labels y", ndim=1, floating=False)
    expect(len(X) == len(y), task, "give the check as many labels as inputs.")
    return X, y


def _array(task: str, value: Any, what: str) -> np.ndarray:
    """What a piece returned, as a float64 numpy array."""
    torch = _torch()
    if isinstance(value, torch.Tensor):
        value = value.detach().double().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        expect(False, task, f"{what} should be a tensor of numbers, got "
                            f"{type(value).__name__}.")
        raise  # pragma: no cover (expect raised)


def _shown(values: Any) -> str:
    text = np.array2string(np.asarray(values, dtype=float), precision=4, separator=", ",
                           suppress_small=True, max_line_width=10_000)
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------
# the standardizer

# Worked example: pixel 0 is 0 in both training images (it never varies), pixel 1 is
# 1 and 3 (mean 2, population standard deviation 1).
_STD_TRAIN = ((0.0, 1.0), (0.0, 3.0))
_STD_NEW = ((1.0, 2.0), (0.0, 5.0))
_STD_WANT = ((1.0, 0.0), (0.0, 3.0))
_STD_SHOWN = "X_train=[[0, 1], [0, 3]] and new inputs [[1, 2], [0, 5]]"
_STD_SLIPS = (
    (((1.0, 0.0), (0.0, 3.0 / math.sqrt(2.0))),
     "the spread looks like the sample standard deviation (dividing by n - 1); the "
     "trainer uses the population one, as the provided code computes it."),
    (((1.0, -1.0), (-1.0, 1.0)),
     "the mean and the spread look computed from the inputs being scaled, not learned "
     "from X_train: new data must be scaled with the training statistics."),
)


@_spares_the_random_state
def standardizer(func: Callable[..., Any], X_train: Any, X_val: Any) -> None:
    """Check ``fit_standardizer(X_train)``, which returns a function that standardizes.

    Records the per-pixel mean and spread of the standardized validation inputs, then
    tests a worked example with a pixel that never varies in training, and on this
    run's data that every output is finite, that trained pixels come out with mean 0 and
    standard deviation 1, that never-varying pixels come out 0, and that the result
    agrees with scikit-learn's ``StandardScaler``.

    Parameters
    ----------
    func : callable
        The learner's ``fit_standardizer``.
    X_train, X_val : torch.Tensor of shape (n, n_pixels)
        This run's training and validation inputs, before standardizing.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> import torch
    >>> def fit_standardizer(X_train):
    ...     mean, std = X_train.mean(dim=0), X_train.std(dim=0, correction=0)
    ...     std = torch.where(std > 0, std, torch.ones_like(std))
    ...     return lambda X: (X - mean) / std
    >>> X = torch.tensor([[0.0, 1.0, 2.0], [0.0, 3.0, 2.5], [0.0, 2.0, 4.0]])
    >>> standardizer(fit_standardizer, X, X[:2])
    [ok] standardizer: all checks passed
    """
    from sklearn.preprocessing import StandardScaler

    torch = _torch()
    task = "standardizer"
    train = _tensor(task, X_train, "X_train", ndim=2, floating=True)
    val = _tensor(task, X_val, "X_val", ndim=2, floating=True)
    expect(train.shape[1] == val.shape[1], task,
           "X_train and X_val should have the same number of columns (pixels).")

    def scaled(fitted_on: Any, inputs: Any, case: str = "") -> np.ndarray:
        scale = call_answer(task, func, fitted_on.clone(), _case=case)
        expect(callable(scale), task, "fit_standardizer should return a function that "
               f"standardizes inputs, got {type(scale).__name__}.")
        out = _array(task, call_answer(task, scale, inputs.clone(), _case=case),
                     "the standardized inputs")
        expect(out.shape == tuple(inputs.shape), task,
               f"standardizing inputs of shape {tuple(inputs.shape)} gave shape "
               f"{out.shape}; keep one row per example and one column per pixel.")
        return out

    on_val = scaled(train, val)
    on_train = scaled(train, train)
    with np.errstate(invalid="ignore"):
        record(task, rtol=1e-4, atol=1e-5, all_finite=bool(np.isfinite(on_val).all()),
               val_mean=on_val.mean(axis=0), val_std=on_val.std(axis=0))

    got = scaled(torch.tensor(_STD_TRAIN), torch.tensor(_STD_NEW), _STD_SHOWN)
    expect(np.isfinite(got).all(), task,
           f"for {_STD_SHOWN} your standardizer returned {_shown(got)}: NaN or infinite "
           "values. Pixel 0 is 0 in every training image, so its spread is 0: what does "
           "the code do with a spread of 0? Read the docstring again.")
    if not np.allclose(got, _STD_WANT, atol=1e-6):
        why = next((msg for wrong, msg in _STD_SLIPS if np.allclose(got, wrong, atol=1e-4)),
                   "")
        if not why and abs(got[0, 0]) > 100:
            why = ("pixel 0 never varies in training, yet a small value there on new data "
                   "came out huge: dividing by a tiny number blows it up. The docstring "
                   "says what to do with such a pixel.")
        expect(False, task, f"for {_STD_SHOWN} the standardized inputs are "
                            f"{_shown(_STD_WANT)}, your standardizer returned {_shown(got)}"
                            + (f": {why}" if why else "."))

    expect(np.isfinite(on_val).all() and np.isfinite(on_train).all(), task,
           "on this run's data your standardizer returned NaN or infinite values.")
    spread = train.double().std(dim=0, correction=0).numpy()
    varies = spread > 0
    expect(np.allclose(on_train[:, varies].mean(axis=0), 0.0, atol=1e-4)
           and np.allclose(on_train[:, varies].std(axis=0), 1.0, rtol=1e-3), task,
           "on this run's training inputs, the pixels that vary should come out with mean "
           "0 and standard deviation 1, and they do not.")
    expect(np.allclose(on_train[:, ~varies], 0.0, atol=1e-6), task,
           "on this run's training inputs, the pixels that never vary should come out 0 "
           "(they are only centred), and they do not.")
    reference = StandardScaler().fit(train.double().numpy()).transform(val.double().numpy())
    expect(np.allclose(on_val, reference, rtol=1e-4, atol=1e-4), task,
           "on this run's validation inputs your standardizer disagrees with "
           "scikit-learn's StandardScaler fitted on X_train.")
    passed(task)


# ---------------------------------------------------------------------------------------
# the batches of one epoch

_BATCH_SHOWN = ("X=[[0], [1], ..., [9]] (one input per row) with labels y=[0, 1, ..., 9] "
                "(each label equals its input), batch_size=4")


def _epoch(task: str, func: Callable[..., Any], X: Any, y: Any, batch_size: int,
           seed: int, case: str = "") -> list[tuple[Any, Any]]:
    torch = _torch()
    generator = torch.Generator().manual_seed(seed)
    out = call_answer(task, func, X.clone(), y.clone(), batch_size, generator, _case=case)
    try:
        pairs = list(out)
    except TypeError:
        expect(False, task, f"batches should yield (inputs, labels) pairs, got "
                            f"{type(out).__name__}.")
    for pair in pairs:
        expect(isinstance(pair, (tuple, list)) and len(pair) == 2
               and all(isinstance(v, torch.Tensor) for v in pair), task,
               "each batch should be a pair (inputs, labels) of tensors.")
        expect(len(pair[0]) == len(pair[1]), task,
               "a batch holds a different number of inputs and labels.")
    return [(xb.detach(), yb.detach()) for xb, yb in pairs]


@_spares_the_random_state
def batches(func: Callable[..., Any], X: Any, y: Any) -> None:
    """Check ``batches(X, y, batch_size, generator)``, one shuffled epoch of minibatches.

    Records, on this run's training data, the share of yielded (input, label) pairs
    that belong together, whether every example comes exactly once, and the batch
    sizes. Then tests a worked example in which each label equals its input: every pair
    must still match, every example come once, the order be shuffled, the same seed give
    the same shuffle and another seed another.

    Parameters
    ----------
    func : callable
        The learner's ``batches``.
    X : torch.Tensor of shape (n, n_features)
    y : torch.Tensor of shape (n,)
        This run's training inputs and labels.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> import torch
    >>> def shuffled(X, y, batch_size, generator):
    ...     order = torch.randperm(len(X), generator=generator)
    ...     for start in range(0, len(X), batch_size):
    ...         rows = order[start:start + batch_size]
    ...         yield X[rows], y[rows]
    >>> batches(shuffled, torch.rand(50, 3), torch.arange(50) % 4)
    [ok] batches: all checks passed
    """
    torch = _torch()
    task = "batches"
    X, y = _data(task, X, y)
    size = 32
    epoch = _epoch(task, func, X, y, size, 0)
    truth = Counter((row.numpy().tobytes(), int(label)) for row, label in zip(X, y,
                                                                             strict=True))
    served = Counter((row.numpy().tobytes(), int(label)) for xb, yb in epoch
                     for row, label in zip(xb.float(), yb, strict=True))
    kept = sum((truth & served).values()) / len(y)
    rows = Counter(row.numpy().tobytes() for xb, _ in epoch for row in xb.float())
    once = rows == Counter(row.numpy().tobytes() for row in X)
    record(task, pairs_kept=kept, every_example_once=once,
           batch_sizes=np.array([len(yb) for _, yb in epoch]))

    X10 = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    y10 = torch.arange(10)
    first = _epoch(task, func, X10, y10, 4, 0, _BATCH_SHOWN)
    again = _epoch(task, func, X10, y10, 4, 0, _BATCH_SHOWN)
    other = _epoch(task, func, X10, y10, 4, 1, _BATCH_SHOWN)
    for xb, yb in first:
        for x_row, label in zip(xb, yb, strict=True):
            expect(int(x_row[0]) == int(label), task,
                   f"for {_BATCH_SHOWN}, the input [{int(x_row[0])}] came in a batch with "
                   f"the label {int(label)}: the inputs and the labels of a batch no longer "
                   "belong to the same examples. Look at how a batch picks its labels.")
    order = [int(v) for _, yb in first for v in yb]
    expect(sorted(order) == list(range(10)), task,
           f"for {_BATCH_SHOWN}, one epoch should serve every example exactly once; yours "
           f"served the labels {order}.")
    expect([len(yb) for _, yb in first] == [4, 4, 2], task,
           f"for {_BATCH_SHOWN}, the batches should hold 4, 4 and 2 examples; yours held "
           f"{[len(yb) for _, yb in first]}.")
    expect(order != list(range(10)), task,
           f"for {_BATCH_SHOWN}, the epoch came out in the data's own order: shuffle the "
           "examples at the start of each epoch.")
    expect(order == [int(v) for _, yb in again for v in yb], task,
           "two epochs drawn with generators seeded alike came out in different orders: "
           "draw the shuffle from the generator you are given, so that one seed "
           "reproduces it.")
    expect(order != [int(v) for _, yb in other for v in yb], task,
           "generators seeded differently gave the same order: the shuffle should come "
           "from the generator you are given.")
    expect(kept == 1.0 and once, task,
           "on this run's training data some (input, label) pairs that your batches "
           "serve are not pairs of the data set, or some examples are served twice or "
           "not at all.")
    passed(task)


# ---------------------------------------------------------------------------------------
# the loss

_LOSS_CASES = (
    # (logits, labels, shown, right loss, {wrong loss: what probably went wrong})
    (((2.0, 0.0), (0.0, 0.0)), (0, 1), "logits=[[2, 0], [0, 0]], labels=[0, 1]",
     (math.log1p(math.exp(-2.0)) + math.log(2.0)) / 2,
     {math.log1p(math.exp(-2.0)) + math.log(2.0):
      "that is the sum over the batch; return the mean, so that the loss does not grow "
      "with the batch size.",
      (math.log1p(math.exp(-(math.tanh(1.0)))) + math.log(2.0)) / 2:
      "the loss is computed right, but on something other than the model's raw scores. "
      "Look at what the loss function you call expects to receive."}),
    (((50.0, 0.0),), (0,), "a confident right answer, logits=[[50, 0]], labels=[0]",
     math.log1p(math.exp(-50.0)),
     {math.log1p(math.exp(-1.0)):
      "a confident, right prediction should cost almost nothing, and yours costs 0.31 "
      "however confident the model gets: the loss has a floor, and training keeps "
      "pushing against it. Look at what the loss function you call expects to "
      "receive."}),
    (((0.0,) * 10,) * 3, (0, 4, 9), "equal logits over 10 classes, labels=[0, 4, 9]",
     math.log(10.0), {}),
)


def _loss_value(task: str, func: Callable[..., Any], logits: Any, labels: Any,
                case: str = "") -> Any:
    torch = _torch()
    out = call_answer(task, func, logits, labels, _case=case)
    expect(isinstance(out, torch.Tensor) and out.numel() == 1, task,
           ("for " + case + ", " if case else "") + "the loss should be a one-element "
           f"tensor (training calls backward on it), got {type(out).__name__}"
           + (f" of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else "") + ".")
    return out.reshape(())


@_spares_the_random_state
def loss(func: Callable[..., Any], X: Any, y: Any) -> None:
    """Check ``loss_fn(logits, labels)``: the mean cross-entropy of a batch.

    Records the loss of fixed scores computed from this run's inputs, at two levels of
    confidence, then tests worked examples (including a very confident right answer,
    which must cost almost nothing), that the loss is a tensor training can
    backpropagate through, and that its gradient with respect to the logits is the
    softmax minus the one-hot labels, divided by the batch size.

    Parameters
    ----------
    func : callable
        The learner's ``loss_fn``.
    X : torch.Tensor of shape (n, n_features)
    y : torch.Tensor of shape (n,)
        This run's inputs (used to make scores) and labels, classes 0 to 9.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> import torch
    >>> loss(torch.nn.functional.cross_entropy, torch.rand(20, 64), torch.arange(20) % 10)
    [ok] loss: all checks passed
    """
    torch = _torch()
    task = "loss"
    X, y = _data(task, X, y)
    expect(int(y.max()) < 10, task, "the labels should be classes 0 to 9.")
    projection = torch.linspace(-1.0, 1.0, X.shape[1] * 10).reshape(X.shape[1], 10)
    scores = (X - X.mean(dim=0)) @ projection
    on_run = [float(_loss_value(task, func, scale * scores, y.clone()).detach())
              for scale in (1.0, 10.0)]
    record(task, rtol=1e-5, atol=1e-7, loss=on_run[0], loss_confident=on_run[1])

    for logits, labels, shown, want, slips in _LOSS_CASES:
        got = float(_loss_value(task, func, torch.tensor(logits),
                                torch.tensor(labels), shown).detach())
        if not math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-6):
            why = next((msg for wrong, msg in slips.items()
                        if math.isclose(got, wrong, rel_tol=1e-4)), "")
            expect(False, task, f"for {shown} the loss is {want:.4g}, your loss_fn "
                                f"returned {got:.4g}" + (f": {why}" if why else "."))
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], requires_grad=True)
    labels = torch.tensor([0, 1])
    value = _loss_value(task, func, logits, labels, "logits=[[2, 0, -1], [0.5, 0.5, 3]]")
    expect(value.requires_grad, task,
           "the loss does not depend on the logits as far as autograd can tell (it "
           "has no gradient): training could not learn from it. Compute it from the "
           "logits with torch operations.")
    value.backward()
    want = (torch.softmax(logits.detach(), dim=1)
            - torch.nn.functional.one_hot(labels, 3)) / 2
    expect(logits.grad is not None and torch.allclose(logits.grad, want, atol=1e-6), task,
           "the gradient of your loss with respect to the logits is not the softmax "
           "minus the one-hot labels, divided by the batch size, which is what the mean "
           "cross-entropy of raw scores has.")
    expect(all(math.isfinite(v) for v in on_run), task,
           "on scores made from this run's inputs your loss is NaN or infinite.")
    passed(task)


# ---------------------------------------------------------------------------------------
# the training step

_STEP_SHOWN = ("a linear model from zero weights, SGD with lr=1, two steps on the batch "
               "x=[[1, 0]], y=[1]")


def _reference_step(model: Any, optimizer: Any, inputs: Any, labels: Any) -> float:
    torch = _torch()
    model.train()
    optimizer.zero_grad()
    value = torch.nn.functional.cross_entropy(model(inputs), labels)
    value.backward()
    optimizer.step()
    return float(value.detach())


def _weights(model: Any) -> np.ndarray:
    return np.concatenate([p.detach().double().reshape(-1).numpy()
                           for p in model.parameters()])


def _step_value(task: str, func: Callable[..., Any], model: Any, optimizer: Any,
                inputs: Any, labels: Any, case: str = "") -> float:
    torch = _torch()
    out = call_answer(task, func, model, optimizer, torch.nn.functional.cross_entropy,
                      inputs, labels, _case=case)
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        out = out.detach().reshape(())
    expect(isinstance(out, (int, float)) and not isinstance(out, bool)
           or (isinstance(out, torch.Tensor) and out.ndim == 0), task,
           "train_step should return the batch's loss as a number, got "
           f"{type(out).__name__}.")
    return float(out)


@_spares_the_random_state
def train_step(func: Callable[..., Any], X: Any, y: Any) -> None:
    """Check ``train_step(model, optimizer, loss_fn, inputs, labels)``: one update.

    Records the weights and returned losses of a small linear model after five steps on
    this run's data, with the check's own model, optimizer (SGD with momentum) and loss.
    Then tests a worked example of two plain SGD steps on one example, that the step
    returns the loss before the update, and that it puts the model in training mode.

    Parameters
    ----------
    func : callable
        The learner's ``train_step``.
    X : torch.Tensor of shape (n, n_features)
    y : torch.Tensor of shape (n,)
        This run's training inputs and labels (classes 0 to 9).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> import torch
    >>> def one_step(model, optimizer, loss_fn, inputs, labels):
    ...     model.train()
    ...     optimizer.zero_grad()
    ...     loss = loss_fn(model(inputs), labels)
    ...     loss.backward()
    ...     optimizer.step()
    ...     return loss.item()
    >>> train_step(one_step, torch.rand(200, 8), torch.arange(200) % 10)
    [ok] train_step: all checks passed
    """
    torch = _torch()
    task = "train_step"
    X, y = _data(task, X, y)
    expect(int(y.max()) < 10, task, "the labels should be classes 0 to 9.")

    def run(step: Callable[..., Any] | None) -> tuple[np.ndarray, list[float]]:
        model = torch.nn.Linear(X.shape[1], 10)
        with torch.no_grad():
            init = torch.Generator().manual_seed(8)
            for p in model.parameters():
                p.copy_(0.1 * torch.randn(p.shape, generator=init))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for start in range(0, 5 * 32, 32):
            rows = slice(start, start + 32)
            losses.append(_reference_step(model, optimizer, X[rows], y[rows]) if step is None
                          else _step_value(task, step, model, optimizer, X[rows].clone(),
                                           y[rows].clone()))
        return _weights(model), losses

    weights, losses = run(func)
    record(task, rtol=1e-4, atol=1e-6, weights=weights, losses=losses)

    inputs, labels = torch.tensor([[1.0, 0.0]]), torch.tensor([1])
    mine, ref = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    for model in (mine, ref):
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
    opt_mine = torch.optim.SGD(mine.parameters(), lr=1.0)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=1.0)
    mine.eval()
    got = [_step_value(task, func, mine, opt_mine, inputs, labels, _STEP_SHOWN)]
    expect(mine.training, task,
           "after train_step the model should be in training mode (dropout on): "
           "the step was given a model in eval mode, as evaluation leaves it, and left "
           "it there.")
    first_ref = _weights(ref)
    want = [_reference_step(ref, opt_ref, inputs, labels)]
    after_one = _weights(mine)
    got.append(_step_value(task, func, mine, opt_mine, inputs, labels, _STEP_SHOWN))
    want.append(_reference_step(ref, opt_ref, inputs, labels))
    expect(not np.allclose(after_one, first_ref), task,
           f"for {_STEP_SHOWN}, the first step did not move the weights at all: the "
           "update ran with no gradient in place. Look at the order of the step's "
           "operations.")
    moved = _weights(mine)
    if not np.allclose(moved, _weights(ref), atol=1e-6):
        # Gradients that pile up: the second update subtracts the first gradient again,
        # which is the first step's move, (after_one - first_ref), once more.
        piled = _weights(ref) + (after_one - first_ref)
        why = ("the second step moved the weights by the first step's gradient plus the "
               "second's: the gradients of earlier steps are still there when the next "
               "step updates the weights." if np.allclose(moved, piled, atol=1e-6) else
               "the weights do not match two plain SGD steps.")
        expect(False, task, f"for {_STEP_SHOWN}, the weights after the second step should "
                            f"be {_shown(_weights(ref))} (W row by row, then b), yours are "
                            f"{_shown(moved)}: {why}")
    expect(np.allclose(got, want, atol=1e-6), task,
           f"for {_STEP_SHOWN}, the steps should return the losses {_shown(want)} (each "
           f"computed before its update), yours returned {_shown(got)}.")
    expect(all(math.isfinite(v) for v in losses), task,
           "on this run's data the steps returned a loss that is NaN or infinite.")
    passed(task)


# ---------------------------------------------------------------------------------------
# the evaluation

_EVAL_X = ((1.0, 0.0), (0.0, 1.0), (3.0, 1.0), (1.0, 2.0))
_EVAL_Y = (0, 1, 0, 1)
_EVAL_SHOWN = ("a model with dropout (p=0.5) in front of a linear layer with identity "
               "weights, left in training mode as training leaves it, and X=[[1, 0], "
               "[0, 1], [3, 1], [1, 2]], y=[0, 1, 0, 1]")


def _dropout_model(weight: Any, bias: Any) -> Any:
    torch = _torch()
    model = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(*weight.shape[::-1]))
    with torch.no_grad():
        model[1].weight.copy_(weight)
        model[1].bias.copy_(bias)
    model.train()
    return model


def _accuracy(task: str, func: Callable[..., Any], model: Any, X: Any, y: Any,
              case: str = "") -> float:
    out = call_answer(task, func, model, X.clone(), y.clone(), _case=case)
    torch = _torch()
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        out = out.detach().reshape(())
    expect(isinstance(out, (int, float)) and not isinstance(out, bool)
           or (isinstance(out, torch.Tensor) and out.ndim == 0), task,
           f"evaluate should return the accuracy as a number, got {type(out).__name__}.")
    value = float(out)
    expect(0.0 <= value <= 1.0, task,
           f"evaluate should return a share between 0 and 1, got {value:.4g}.")
    return value


@_spares_the_random_state
def evaluate(func: Callable[..., Any], X: Any, y: Any) -> None:
    """Check ``evaluate(model, X, y)``: the accuracy a model gives on new data.

    Builds its own model: dropout in front of a nearest-centroid linear classifier,
    left in training mode (as training leaves a model). Records the accuracy your
    ``evaluate`` reports for it on this run's data and whether two calls agree, then
    tests a worked example and, on this run's data, that the accuracy is the model's
    accuracy without dropout, the same on every call, and that evaluating does not
    change the weights.

    Parameters
    ----------
    func : callable
        The learner's ``evaluate``.
    X : torch.Tensor of shape (n, n_features)
    y : torch.Tensor of shape (n,)
        This run's validation inputs and labels (classes 0 to 9).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> import torch
    >>> def accuracy(model, X, y):
    ...     model.eval()
    ...     with torch.no_grad():
    ...         return (model(X).argmax(dim=1) == y).float().mean().item()
    >>> evaluate(accuracy, torch.rand(40, 5), torch.arange(40) % 10)
    [ok] evaluate: all checks passed
    """
    torch = _torch()
    task = "evaluate"
    X, y = _data(task, X, y)
    expect(int(y.max()) < 10, task, "the labels should be classes 0 to 9.")
    centroids = torch.zeros(10, X.shape[1])
    for label in range(10):
        if bool((y == label).any()):
            centroids[label] = X[y == label].mean(dim=0)
    # argmax of 2 x.c - |c|^2 is the nearest centroid.
    model = _dropout_model(2 * centroids, -(centroids ** 2).sum(dim=1))
    with torch.no_grad():
        truth = float((model[1](X).argmax(dim=1) == y).double().mean())
    before = _weights(model)
    torch.manual_seed(0)
    first = _accuracy(task, func, model, X, y)
    model.train()
    second = _accuracy(task, func, model, X, y)
    record(task, rtol=1e-6, atol=1e-6, accuracy=first, repeatable=first == second)

    small = _dropout_model(torch.eye(2), torch.zeros(2))
    torch.manual_seed(0)
    got = []
    for _ in range(10):
        small.train()
        got.append(_accuracy(task, func, small, torch.tensor(_EVAL_X),
                             torch.tensor(_EVAL_Y), _EVAL_SHOWN))
    if any(g != got[0] for g in got):
        expect(False, task, f"for {_EVAL_SHOWN}, evaluating the same model on the same "
                            f"data ten times gave {len(set(got))} different accuracies "
                            f"(from {min(got):.2f} to {max(got):.2f}): something random is "
                            "still switched on while the model is being evaluated.")
    expect(math.isclose(got[0], 1.0), task,
           f"for {_EVAL_SHOWN}, the accuracy is 1 (every example's largest input is its "
           f"label), your evaluate returned {got[0]:.4g}.")
    expect(np.array_equal(before, _weights(model)), task,
           "evaluating changed the model's weights; evaluation must only look.")
    expect(first == second, task,
           "on this run's data, two evaluations of the same model gave different "
           "accuracies: something random is still switched on during evaluation.")
    expect(math.isclose(first, truth, abs_tol=1e-6), task,
           "on this run's data, the accuracy your evaluate reports is not the accuracy "
           "of the model's predictions as it will make them on new data (without "
           "dropout).")
    passed(task)


# ---------------------------------------------------------------------------------------
# the learning rate


def _stable(sweep: Any, lr: float) -> bool:
    epochs = [float(v) for v in sweep.epoch_losses[lr]]
    return all(math.isfinite(v) for v in epochs) and epochs[-1] < epochs[0]


def learning_rate(value: Any, sweep: Any) -> None:
    """Check the decision ``LEARNING_RATE`` against the learning-rate sweep.

    A rate is *stable* in the sweep when every epoch's mean loss is finite and the last
    epoch's is below the first's. The check accepts the rates one and two steps of the
    sweep's grid below the largest stable one: far enough from the edge to stay stable
    over a longer run with noisy minibatches, close enough to train quickly. The grader
    compares the decision with the reference solution's accepted set.

    Parameters
    ----------
    value : float
        The learner's ``LEARNING_RATE``.
    sweep : labkit.debug.SweepReport
        The lab's sweep (``learning_rates`` and ``epoch_losses``).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> sweep = SimpleNamespace(learning_rates=(0.01, 0.1, 1.0, 10.0), epoch_losses={
    ...     0.01: (2.0, 1.5), 0.1: (1.0, 0.3), 1.0: (0.9, 0.5), 10.0: (5.0, 80.0)})
    >>> learning_rate(0.1, sweep)
    [ok] learning_rate: a step below the edge of stability
    """
    task = "learning_rate"
    expect(hasattr(sweep, "learning_rates") and hasattr(sweep, "epoch_losses"), task,
           "give the check the sweep that labkit.debug.learning_rate_sweep returned.")
    grid = [float(lr) for lr in sweep.learning_rates]
    expect(grid == sorted(grid) and len(grid) >= 3, task,
           "the sweep should try at least three learning rates, in increasing order.")
    expect(isinstance(value, (int, float)) and not isinstance(value, bool)
           and math.isfinite(value), task,
           f"set LEARNING_RATE to a number, got {type(value).__name__} {value!r}.")
    stable = [i for i, lr in enumerate(grid) if _stable(sweep, sweep.learning_rates[i])]
    expect(bool(stable), task, "no rate of the sweep is stable: add smaller ones.")
    edge = max(stable)
    accepted = [grid[i] for i in (edge - 1, edge - 2) if i >= 0]
    expect(bool(accepted), task, "only the smallest rate of the sweep is stable: add "
                                 "smaller ones.")
    record(task, learning_rate=decision(float(value), accepted=accepted))

    index = next((i for i, lr in enumerate(grid) if math.isclose(value, lr, rel_tol=1e-9)),
                 None)
    expect(index is not None, task,
           f"choose one of the rates the sweep tried, {grid}, so that the choice rests "
           f"on what you measured; got {value!r}.")
    expect(index <= edge, task,
           f"at {value:g} the sweep's loss ends higher than it started (or stops being "
           "finite): training at this rate diverges.")
    expect(index != edge, task,
           f"{value:g} is the largest rate at which the sweep stayed stable: the edge. The "
           "full run lasts longer, on small noisy batches, and a rate at the edge tips "
           "over. Step back from it.")
    expect(index >= edge - 2, task,
           f"{value:g} is stable, but more than two steps below the edge of stability: "
           "training will crawl. Choose a larger rate.")
    passed(task, "a step below the edge of stability" if index == edge - 1 else
           "two steps below the edge of stability")
