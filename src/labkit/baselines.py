"""Baselines and what they cost: a small torch MLP, timing helpers and a results table.

A model earns its place by what it adds over something simpler, at a price in training
time and in prediction latency. This module holds what the baselines lab uses around the
learner's code:

* :class:`TorchMLPClassifier`, a one-hidden-layer perceptron with a scikit-learn-style
  ``fit``/``predict_proba`` API, so that it sits in the same table as scikit-learn's
  models;
* :func:`timed` (seconds one call takes) and :func:`latency_per_request` (what one
  request costs when requests come one at a time or in batches);
* :func:`speed_profile` (both latencies at once) and :func:`baseline_table` (quality,
  training time and latency side by side, one row per model).

Measured times vary from run to run and from machine to machine: compare them as
ratios and orders of magnitude, never as exact values.

torch is imported inside the functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from ._validation import check_float, check_int

__all__ = ["TABLE_COLUMNS", "TorchMLPClassifier", "baseline_table", "latency_per_request",
           "speed_profile", "timed"]

#: Columns of :func:`baseline_table`, in order.
TABLE_COLUMNS = ("top-1 accuracy", "train s", "single ms", "batch ms per request")


# ---------------------------------------------------------------- the torch MLP


def _features(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a dense 2-d float32 array (scipy sparse matrices are densified)."""
    if hasattr(X, "toarray") and callable(X.toarray):
        X = X.toarray()
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (one row per case, one column per "
                         f"feature), got shape {arr.shape}; reshape a single case with "
                         "X.reshape(1, -1).")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}).")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}; encode "
                        "categorical columns first (e.g. with a OneHotEncoder).")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; impute them first.")
    return arr


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """A small multilayer perceptron in torch, with scikit-learn's classifier API.

    One hidden layer with ReLU, softmax output, cross-entropy loss, trained with Adam on
    shuffled mini-batches. Everything random (initial weights, shuffling) derives from
    ``random_state``, and torch's global random state is left as it was. Training and
    prediction run on the CPU.

    Parameters
    ----------
    hidden_units : int
        Width of the hidden layer.
    epochs : int
        Passes over the training data.
    batch_size : int
        Mini-batch size.
    learning_rate : float
        Adam's step size.
    weight_decay : float
        L2 penalty (Adam's ``weight_decay``).
    random_state : int or None
        Seed of the initial weights and of the shuffling; ``None`` draws a fresh seed.

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in ``fit``, sorted; column ``j`` of :meth:`predict_proba` is
        ``classes_[j]``.
    n_features_in_ : int
        Number of input features.
    loss_curve_ : list of float
        Mean training loss of each epoch.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> model = TorchMLPClassifier(hidden_units=16, epochs=30, batch_size=32,
    ...                            random_state=0).fit(X, y)
    >>> model.predict_proba(X[:3]).shape
    (3, 2)
    >>> bool(model.score(X, y) > 0.9)
    True
    """

    def __init__(self, hidden_units: int = 64, epochs: int = 8, batch_size: int = 256,
                 learning_rate: float = 3e-3, weight_decay: float = 1e-4,
                 random_state: int | None = None) -> None:
        self.hidden_units = hidden_units
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.random_state = random_state

    def _check_params(self) -> None:
        check_int("hidden_units", self.hidden_units, minimum=1)
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_float("learning_rate", self.learning_rate, low=0, low_inclusive=False)
        check_float("weight_decay", self.weight_decay, low=0)
        if self.random_state is not None:
            check_int("random_state", self.random_state, minimum=0)

    def fit(self, X: Any, y: Any) -> TorchMLPClassifier:
        """Train on ``X`` (n_cases, n_features) and labels ``y`` (n_cases,).

        Returns
        -------
        self
        """
        import torch

        self._check_params()
        features = _features(X)
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(features):
            raise ValueError(f"y must be one-dimensional with one label per row of X: X has "
                             f"{len(features)} rows, y has shape {labels.shape}.")
        self.classes_, encoded = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("y holds a single class; a classifier needs at least two.")
        self.n_features_in_ = features.shape[1]
        seed = (self.random_state if self.random_state is not None
                else int(np.random.default_rng().integers(2**31)))
        X_t = torch.from_numpy(features)
        y_t = torch.from_numpy(encoded.astype(np.int64))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net_ = torch.nn.Sequential(
                torch.nn.Linear(self.n_features_in_, self.hidden_units),
                torch.nn.ReLU(),
                torch.nn.Linear(self.hidden_units, len(self.classes_)))
        shuffle = torch.Generator().manual_seed(seed)
        params = list(self.net_.parameters())
        # Adam, written out: torch.optim's first use imports torch's compiler stack,
        # which costs seconds, more than the whole training on this data.
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        first = [torch.zeros_like(p) for p in params]
        second = [torch.zeros_like(p) for p in params]
        self.loss_curve_ = []
        self.net_.train()
        step = 0
        for _ in range(self.epochs):
            order = torch.randperm(len(y_t), generator=shuffle)
            total = 0.0
            for start in range(0, len(y_t), self.batch_size):
                batch = order[start:start + self.batch_size]
                loss = torch.nn.functional.cross_entropy(self.net_(X_t[batch]), y_t[batch])
                grads = torch.autograd.grad(loss, params)
                step += 1
                with torch.no_grad():
                    for p, g, m, v in zip(params, grads, first, second, strict=True):
                        g = g + self.weight_decay * p
                        m.mul_(beta1).add_(g, alpha=1 - beta1)
                        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                        denom = (v / (1 - beta2 ** step)).sqrt_().add_(eps)
                        p.addcdiv_(m, denom, value=-self.learning_rate / (1 - beta1 ** step))
                total += loss.item() * len(batch)
            self.loss_curve_.append(total / len(y_t))
        self.net_.eval()
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one row per case and one column per class in ``classes_``."""
        import torch

        if not hasattr(self, "net_"):
            raise ValueError("this TorchMLPClassifier is not fitted yet: call fit(X, y) first.")
        features = _features(X)
        if features.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {features.shape[1]} features, but the model was fitted "
                             f"with {self.n_features_in_}.")
        with torch.no_grad():
            proba = torch.softmax(self.net_(torch.from_numpy(features)), dim=1)
        return proba.numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each case (ties to the first class)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# ---------------------------------------------------------------- timing


def timed(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``func(*args, **kwargs)``; return its result and the wall seconds it took.

    Examples
    --------
    >>> result, seconds = timed(sum, [1, 2, 3])
    >>> result, seconds >= 0
    (6, True)
    """
    if not callable(func):
        raise TypeError(f"timed needs a function to call, got {type(func).__name__}.")
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def _n_rows(inputs: Any) -> int:
    shape = getattr(inputs, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(inputs)
    except TypeError:
        raise TypeError("inputs must be something with rows that slices like an array "
                        f"(numpy array, scipy sparse matrix, list), got "
                        f"{type(inputs).__name__}.") from None


def latency_per_request(predict: Callable[[Any], Any], inputs: Any, *, batch_size: int = 1,
                        n_calls: int = 30, warmup: int = 2, quantile: float = 0.5,
                        clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one request costs when requests reach ``predict`` in batches of ``batch_size``.

    The rows of ``inputs`` are cut into consecutive batches (cycling when there are
    fewer rows than ``n_calls * batch_size``), sliced *before* the clock starts. Each
    call ``predict(batch)`` is timed on its own and its time divided by the batch's
    number of rows; the result is the ``quantile`` of these per-request times over the
    ``n_calls`` calls (the median by default, which a single slow call cannot move).
    ``warmup`` untimed calls come first, so that one-off costs (lazy imports, caches)
    do not count.

    With ``batch_size=1`` this is the latency a user waits for when each request is
    served as it comes; with a large batch it is the cost per request of scoring many
    at once (e.g. precomputing suggestions overnight).

    Parameters
    ----------
    predict : callable
        Takes a batch of rows of ``inputs`` and returns the predictions.
    inputs : array-like, scipy sparse matrix or DataFrame
        Requests, one per row; sliced with ``inputs[start:stop]`` (``.iloc`` for
        pandas objects).
    batch_size : int
        Rows per call, at most the number of rows of ``inputs``.
    n_calls : int
        Timed calls.
    warmup : int
        Untimed calls made first.
    quantile : float
        Which quantile of the per-request times to return, in [0, 1].
    clock : callable
        Returns the current time in seconds (a fake clock makes the function testable).

    Returns
    -------
    float
        Seconds per request.

    Examples
    --------
    A fake clock and a "model" that costs 1 second per call plus 0.01 per row:

    >>> now = [0.0]
    >>> def predict(batch):
    ...     now[0] += 1.0 + 0.01 * len(batch)
    ...     return batch
    >>> rows = np.zeros((100, 3))
    >>> round(latency_per_request(predict, rows, batch_size=1, clock=lambda: now[0]), 6)
    1.01
    >>> round(latency_per_request(predict, rows, batch_size=100, clock=lambda: now[0]), 6)
    0.02
    """
    if not callable(predict):
        raise TypeError(f"predict must be a function of a batch, got {type(predict).__name__}.")
    n_rows = _n_rows(inputs)
    if n_rows == 0:
        raise ValueError("inputs is empty: give at least one request.")
    batch_size = check_int("batch_size", batch_size, minimum=1, maximum=n_rows)
    n_calls = check_int("n_calls", n_calls, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    quantile = check_float("quantile", quantile, low=0, high=1)
    if not callable(clock):
        raise TypeError("clock must be a function returning seconds, e.g. time.perf_counter.")
    rows = inputs.iloc if isinstance(inputs, (pd.DataFrame, pd.Series)) else inputs
    n_batches = max(n_rows // batch_size, 1)
    batches = [rows[(i % n_batches) * batch_size:(i % n_batches + 1) * batch_size]
               for i in range(warmup + n_calls)]
    for batch in batches[:warmup]:
        predict(batch)
    per_request = []
    for batch in batches[warmup:]:
        start = clock()
        predict(batch)
        per_request.append((clock() - start) / batch_size)
    return float(np.quantile(per_request, quantile))


def speed_profile(predict: Callable[[Any], Any], inputs: Any, *, batch_size: int = 256,
                  n_single: int = 30, n_batches: int = 5,
                  clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median latency per request, one request at a time and in batches, in milliseconds.

    Parameters
    ----------
    predict, inputs, clock
        As in :func:`latency_per_request`.
    batch_size : int
        Rows per batched call (capped at the number of rows of ``inputs``).
    n_single, n_batches : int
        Timed calls with one request, and with ``batch_size`` requests.

    Returns
    -------
    dict
        ``{"single ms": ..., "batch ms per request": ...}``.

    Examples
    --------
    >>> now = [0.0]
    >>> def predict(batch):
    ...     now[0] += 0.002 + 0.00001 * len(batch)
    ...     return batch
    >>> profile = speed_profile(predict, np.zeros((500, 2)), batch_size=100,
    ...                         clock=lambda: now[0])
    >>> {k: round(v, 4) for k, v in profile.items()}
    {'single ms': 2.01, 'batch ms per request': 0.03}
    """
    batch_size = min(check_int("batch_size", batch_size, minimum=1), _n_rows(inputs))
    single = latency_per_request(predict, inputs, batch_size=1, n_calls=n_single, clock=clock)
    batched = latency_per_request(predict, inputs, batch_size=batch_size, n_calls=n_batches,
                                  warmup=1, clock=clock)
    return {"single ms": 1000 * single, "batch ms per request": 1000 * batched}


# ---------------------------------------------------------------- the table


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name!r}: {key!r} must be a number, got {value!r}.")
    return float(value)


def baseline_table(results: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Quality, training time and latency of each model, one row per model.

    Parameters
    ----------
    results : mapping of str to mapping
        Model name -> ``{"top-1 accuracy": ..., "train s": ..., "single ms": ...,
        "batch ms per request": ...}`` (the last two as :func:`speed_profile` returns
        them). Rows keep the mapping's order: list the models from the simplest to
        the most complex.

    Returns
    -------
    pandas.DataFrame
        Indexed by model (index name ``"model"``), with the :data:`TABLE_COLUMNS`.

    Examples
    --------
    >>> table = baseline_table({
    ...     "global": {"top-1 accuracy": 0.14, "train s": 0.001, "single ms": 0.002,
    ...                "batch ms per request": 0.0001},
    ...     "model": {"top-1 accuracy": 0.28, "train s": 2.0, "single ms": 0.2,
    ...               "batch ms per request": 0.002}})
    >>> list(table.index), float(table.loc["model", "top-1 accuracy"])
    (['global', 'model'], 0.28)
    """
    if not isinstance(results, Mapping) or not results:
        raise TypeError("results must be a non-empty dict: model name -> dict of "
                        f"{', '.join(TABLE_COLUMNS)}.")
    rows = {}
    for name, row in results.items():
        if not isinstance(row, Mapping):
            raise TypeError(f"results[{name!r}] must be a dict of {', '.join(TABLE_COLUMNS)}, "
                            f"got {type(row).__name__}.")
        missing = [c for c in TABLE_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"results[{name!r}] lacks {missing}; give all of "
                             f"{list(TABLE_COLUMNS)}.")
        rows[str(name)] = [_number(str(name), c, row[c]) for c in TABLE_COLUMNS]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(TABLE_COLUMNS))
    table.index.name = "model"
    return table
