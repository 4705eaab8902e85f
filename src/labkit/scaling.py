"""Scaling up: what Lab 10 uses around the learner's code.

Four problems of training at scale, each with the tools to measure it on a laptop CPU:

* **Data larger than memory.** :func:`write_blocks` writes a generated data set to a
  binary file block by block (each block from one source, with its own class balance);
  :func:`iter_rows` reads it back one row at a time; :func:`stream_in_child` streams it
  through a shuffle buffer in a *fresh Python process* and reports that process's peak
  resident memory, so that the number measures the stream and nothing else.
* **Activation memory.** :class:`ActivationMeter` adds up the bytes autograd keeps for the
  backward pass (through :func:`torch.autograd.graph.saved_tensors_hooks`), counting each
  storage once and following it until autograd lets it go; :func:`activation_memory`
  measures a stack of blocks (:func:`mlp_blocks`) run plainly, with gradient
  checkpointing (:func:`forward_blocks`) or under bfloat16 autocast.
  :func:`time_forward_backward` times the same runs (medians of interleaved repeats).
* **Synchronous and asynchronous SGD.** :class:`NoisyRegression` is a least-squares
  problem with minibatch gradients; :func:`straggler_times` draws how long each gradient
  takes, :func:`sync_schedule` and :func:`async_schedule` turn those times into the
  wall-clock time of each update (and, for asynchronous SGD, the staleness of each
  gradient); :func:`time_to_target` reads a curve.
* **Large batches and data parallelism.** :func:`train_with_schedule` trains a small MLP
  with a learning rate given step by step; :func:`ddp_workers` starts the workers of a
  ``torch.distributed`` run (the script :mod:`labkit.ddp_train`) and always stops them,
  even when a worker fails or the code inside the ``with`` block raises.

Measured times and memory vary between runs and machines; saved-tensor bytes and the
simulations do not. torch is imported inside the functions that need it, so importing
this module is cheap.
"""

from __future__ import annotations

import contextlib
import heapq
import inspect
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_float, check_int

__all__ = ["ActivationMeter", "DDPWorkers", "NoisyRegression", "activation_memory",
           "async_schedule", "ddp_workers", "forward_blocks", "free_port", "iter_rows",
           "logistic_loss", "make_block", "mlp_blocks", "read_ddp_run", "stream_in_child",
           "staleness_curves", "straggler_times", "sync_async_curves", "sync_schedule",
           "time_forward_backward", "time_to_target",
           "train_with_schedule", "write_blocks"]

_MB = 1024 * 1024


def _check_path(name: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (a str or pathlib.Path), got "
                        f"{type(value).__name__}.")
    return Path(value)


# ---------------------------------------------------------------- streaming


def make_block(index: int, n_rows: int, n_features: int, positive_rate: float,
               seed: int = 0) -> np.ndarray:
    """One block of generated rows: features, then the 0/1 label in the last column.

    The label is 1 with probability ``positive_rate``; the features are standard normal,
    shifted along one fixed direction (the same for every block of a seed) when the label
    is 1, so a logistic regression can learn them. Each block is its own draw: the same
    ``(index, seed)`` always gives the same rows.

    Returns
    -------
    ndarray of float32, shape (n_rows, n_features + 1)

    Examples
    --------
    >>> block = make_block(0, n_rows=4, n_features=3, positive_rate=0.5)
    >>> block.shape, block.dtype.name, sorted(set(block[:, -1].tolist())) <= [0.0, 1.0]
    ((4, 4), 'float32', True)
    """
    index = check_int("index", index, minimum=0)
    n_rows = check_int("n_rows", n_rows, minimum=1)
    n_features = check_int("n_features", n_features, minimum=1)
    rate = check_float("positive_rate", positive_rate, low=0.0, high=1.0)
    seed = check_int("seed", seed, minimum=0)
    direction = np.random.default_rng([seed, 31]).standard_normal(n_features)
    direction *= 1.5 / np.linalg.norm(direction)
    rng = np.random.default_rng([seed, 30, index])
    y = (rng.random(n_rows) < rate).astype(np.float32)
    X = rng.standard_normal((n_rows, n_features)) + y[:, None] * direction
    return np.column_stack([X, y]).astype(np.float32)


def write_blocks(path: str | os.PathLike, n_blocks: int, block_rows: int, n_features: int,
                 rates: Sequence[float] = (0.1, 0.9), seed: int = 0) -> int:
    """Write ``n_blocks`` blocks of :func:`make_block` to a raw float32 file, one at a time.

    Block ``i`` has positive rate ``rates[i % len(rates)]``: the file is ordered by
    source, as data often is (by day, by hospital, by device), so neighbouring rows are
    alike. Only one block is in memory at a time.

    Returns
    -------
    int
        Bytes written.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     size = write_blocks(os.path.join(folder, "rows.f32"), 3, 4, 7)
    >>> size == 3 * 4 * (7 + 1) * 4
    True
    """
    path = _check_path("path", path)
    n_blocks = check_int("n_blocks", n_blocks, minimum=1)
    rates = [check_float("rates[i]", r, low=0.0, high=1.0) for r in rates]
    if not rates:
        raise ValueError("rates must name at least one positive rate.")
    written = 0
    with open(path, "wb") as handle:
        for index in range(n_blocks):
            block = make_block(index, block_rows, n_features, rates[index % len(rates)], seed)
            block.tofile(handle)
            written += block.nbytes
    return written


def iter_rows(path: str | os.PathLike, n_columns: int,
              chunk_rows: int = 1024) -> Iterator[np.ndarray]:
    """Yield the rows of a raw float32 file one at a time, reading ``chunk_rows`` at once.

    Each row is a *copy*: a view would keep its whole chunk alive for as long as the row
    sits in a shuffle buffer, and the buffer would hold far more memory than its rows.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     name = os.path.join(folder, "rows.f32")
    ...     _ = write_blocks(name, 2, 3, 1)
    ...     rows = list(iter_rows(name, 2, chunk_rows=4))
    >>> len(rows), rows[0].shape, rows[0].base is None
    (6, (2,), True)
    """
    path = _check_path("path", path)
    n_columns = check_int("n_columns", n_columns, minimum=1)
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    row_bytes = 4 * n_columns
    size = path.stat().st_size
    if size % row_bytes:
        raise ValueError(f"{path} holds {size} bytes, not a whole number of rows of "
                         f"{n_columns} float32 values; check n_columns.")
    with open(path, "rb") as handle:
        while True:
            chunk = np.fromfile(handle, dtype=np.float32, count=chunk_rows * n_columns)
            if chunk.size == 0:
                return
            for row in chunk.reshape(-1, n_columns):
                yield row.copy()


def logistic_loss(weights: Any, X: Any, y: Any) -> float:
    """Mean log-loss of a logistic regression; ``weights`` holds the coefficients, then
    the intercept.

    Examples
    --------
    >>> round(logistic_loss([0.0, 0.0], [[1.0], [2.0]], [0, 1]), 4)
    0.6931
    """
    w = np.asarray(weights, dtype=float)
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or w.shape != (X.shape[1] + 1,) or y.shape != (X.shape[0],):
        raise ValueError(f"need X of shape (n, d), y of shape (n,) and weights of shape "
                         f"(d + 1,); got {X.shape}, {y.shape} and {w.shape}.")
    z = X @ w[:-1] + w[-1]
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _function_source(func: Callable[..., Any], name: str) -> str:
    if not callable(func) or not hasattr(func, "__code__"):
        raise TypeError(f"{name} must be a function defined with def, got "
                        f"{type(func).__name__}.")
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as exc:
        raise TypeError(f"cannot read the source of {name} ({exc}); define it with def in "
                        "a notebook cell or a file.") from None
    if func.__name__ == "<lambda>":
        raise TypeError(f"{name} must be a function defined with def, not a lambda.")
    return source


def stream_in_child(path: str | os.PathLike, n_columns: int, buffer_rows: int | None,
                    shuffler: Callable[..., Any] | None = None, *, batch_rows: int = 256,
                    lr: float = 0.5, seed: int = 0, chunk_rows: int = 1024,
                    timeout: float = 120.0) -> dict[str, Any]:
    """Stream a file through a shuffle buffer in a fresh process and measure its memory.

    The child process reads the rows with :func:`iter_rows`, passes them through
    ``shuffler(rows, buffer_rows, rng)`` (with ``rng = np.random.default_rng(seed)``),
    groups what comes out into batches of ``batch_rows`` rows and takes one SGD step of a
    logistic regression on each batch. With ``buffer_rows=None`` it instead loads the
    whole file into memory and visits the rows in a random order (the approach that
    does not scale). It reports its resident memory just before streaming (the Python
    interpreter and numpy) and its peak (``VmHWM``).

    The shuffler runs in another process, so it is sent there as source code: it must be
    a function defined with ``def`` that uses nothing but its arguments and numpy
    (imported as ``np``).

    Returns
    -------
    dict
        ``rows`` (rows trained on), ``batches``, ``peak_mb`` (peak resident memory above
        the interpreter's, in MiB), ``baseline_mb`` and ``total_peak_mb`` (the process's
        own peak), ``batch_positive_rate`` (share of label 1 in each batch, an array)
        and ``weights`` (the logistic regression's coefficients, then its intercept).

    Raises
    ------
    RuntimeError
        When the child fails (its error output is quoted).
    """
    path = _check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; write it first (write_blocks).")
    n_columns = check_int("n_columns", n_columns, minimum=2)
    if buffer_rows is not None:
        buffer_rows = check_int("buffer_rows", buffer_rows, minimum=1)
        if shuffler is None:
            raise TypeError("give the shuffler function that streams through the buffer.")
    batch_rows = check_int("batch_rows", batch_rows, minimum=1)
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    seed = check_int("seed", seed, minimum=0)
    timeout = check_float("timeout", timeout, low=0.0, low_inclusive=False)
    with tempfile.TemporaryDirectory(prefix="labkit-stream-") as folder:
        spec = {"file": str(path), "n_columns": n_columns, "buffer_rows": buffer_rows,
                "batch_rows": batch_rows, "lr": lr, "seed": seed, "chunk_rows": chunk_rows,
                "out": os.path.join(folder, "result.json"), "shuffler_file": None,
                "shuffler_name": None}
        if buffer_rows is not None:
            assert shuffler is not None
            module = os.path.join(folder, "learner_shuffler.py")
            Path(module).write_text("import numpy as np\n\n\n"
                                    + _function_source(shuffler, "shuffler"), encoding="utf-8")
            spec["shuffler_file"], spec["shuffler_name"] = module, shuffler.__name__
        spec_path = os.path.join(folder, "spec.json")
        Path(spec_path).write_text(json.dumps(spec), encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep)
        try:
            run = subprocess.run([sys.executable, "-m", "labkit.scaling", "stream", spec_path],
                                 capture_output=True, text=True, timeout=timeout, env=env,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the streaming process ran longer than {timeout:g} s and was "
                               "stopped.") from None
        if run.returncode != 0:
            tail = "\n".join(run.stderr.strip().splitlines()[-8:])
            raise RuntimeError(f"the streaming process failed (exit code {run.returncode}); "
                               f"its last error lines:\n{tail}")
        result = json.loads(Path(spec["out"]).read_text(encoding="utf-8"))
    result["batch_positive_rate"] = np.asarray(result["batch_positive_rate"])
    result["weights"] = np.asarray(result["weights"])
    return result


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} (Linux only).")


def _stream_main(spec_path: str) -> int:
    """The child of :func:`stream_in_child`."""
    import importlib.util

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    n_columns, batch_rows, lr = spec["n_columns"], spec["batch_rows"], spec["lr"]
    rng = np.random.default_rng(spec["seed"])
    shuffler = None
    if spec["shuffler_file"]:
        loader = importlib.util.spec_from_file_location("learner_shuffler",
                                                        spec["shuffler_file"])
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        shuffler = getattr(module, spec["shuffler_name"])
    w = np.zeros(n_columns - 1)
    b = 0.0
    rates: list[float] = []
    batch: list[np.ndarray] = []
    n_rows = 0
    baseline = _status_mb("VmRSS")

    if spec["buffer_rows"] is None:
        data = np.fromfile(spec["file"], dtype=np.float32).reshape(-1, n_columns)
        rows: Any = (data[i] for i in rng.permutation(len(data)))
    else:
        rows = shuffler(iter_rows(spec["file"], n_columns, spec["chunk_rows"]),
                        spec["buffer_rows"], rng)

    def step(batch: list[np.ndarray]) -> None:
        nonlocal w, b
        block = np.stack(batch)
        X, y = block[:, :-1].astype(float), block[:, -1].astype(float)
        p = 1.0 / (1.0 + np.exp(-(X @ w + b)))
        w = w - lr * X.T @ (p - y) / len(y)
        b = b - lr * float(np.mean(p - y))
        rates.append(float(y.mean()))

    for row in rows:
        batch.append(row)
        n_rows += 1
        if len(batch) == batch_rows:
            step(batch)
            batch = []
    if batch:
        step(batch)
    peak = _status_mb("VmHWM")
    Path(spec["out"]).write_text(json.dumps({
        "rows": n_rows, "batches": len(rates), "baseline_mb": baseline,
        "total_peak_mb": peak, "peak_mb": peak - baseline, "batch_positive_rate": rates,
        "weights": [*w.tolist(), b]}), encoding="utf-8")
    return 0


# ---------------------------------------------------------------- activation memory


class _Saved:
    """What autograd stores instead of a saved tensor while an ActivationMeter listens."""

    __slots__ = ("tensor", "key", "meter")

    def __init__(self, tensor: Any, key: int, meter: ActivationMeter) -> None:
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self) -> None:
        self.meter._release(self.key)


class ActivationMeter:
    """Bytes that autograd keeps for the backward pass: live now, at peak, and in all.

    Inside ``with meter:`` every tensor autograd saves for the backward pass goes
    through the meter's pack hook. The meter counts each *storage* once (a ReLU's output
    that the next layer also saves is one tensor in memory, not two), skips the storages
    of ``exclude`` (the parameters, which exist whether or not anything is saved), and
    notices when autograd drops a saved tensor, so :attr:`live_bytes` follows the memory
    held for the backward pass over time and :attr:`peak_bytes` is its maximum.

    Gradient checkpointing recomputes activations *during* the backward pass, outside the
    ``with`` block's reach; :func:`forward_blocks` enters :meth:`hooks` inside each
    recomputed segment so that those count too.

    Parameters
    ----------
    exclude : iterable of tensors
        Tensors whose storage is not counted (usually ``model.parameters()``).

    Examples
    --------
    >>> import torch
    >>> layer = torch.nn.Linear(4, 4)
    >>> meter = ActivationMeter(layer.parameters())
    >>> with meter:
    ...     loss = torch.relu(layer(torch.ones(2, 4))).sum()
    ...     kept = meter.live_bytes
    ...     loss.backward()
    >>> kept, meter.live_bytes     # relu keeps its 2x4 float32 output; the input is saved too
    (64, 0)
    """

    def __init__(self, exclude: Any = ()) -> None:
        self._skip = {t.untyped_storage().data_ptr() for t in exclude}
        self._refs: dict[int, list[int]] = {}
        self.live_bytes = 0
        self.peak_bytes = 0
        self.saved_bytes = 0
        self._stack: list[Any] = []

    def _pack(self, tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key in self._skip:
            return tensor
        entry = self._refs.get(key)
        if entry is None:
            nbytes = int(storage.nbytes())
            self._refs[key] = [nbytes, 1]
            self.live_bytes += nbytes
            self.saved_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        else:
            entry[1] += 1
        return _Saved(tensor, key, self)

    @staticmethod
    def _unpack(packed: Any) -> Any:
        return packed.tensor if isinstance(packed, _Saved) else packed

    def _release(self, key: int) -> None:
        entry = self._refs.get(key)
        if entry is None:  # pragma: no cover
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live_bytes -= entry[0]
            del self._refs[key]

    def hooks(self) -> Any:
        """A context manager that routes saved tensors through this meter."""
        import torch

        return torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def __enter__(self) -> ActivationMeter:
        context = self.hooks()
        context.__enter__()
        self._stack.append(context)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.pop().__exit__(*exc)


def mlp_blocks(n_blocks: int, width: int, seed: int = 0):
    """A stack of ``n_blocks`` blocks ``Linear(width, width) -> ReLU`` (a torch ModuleList).

    torch's global random state is left as it was.

    Examples
    --------
    >>> blocks = mlp_blocks(3, 8)
    >>> len(blocks), sum(p.numel() for p in blocks.parameters())
    (3, 216)
    """
    import torch

    n_blocks = check_int("n_blocks", n_blocks, minimum=1)
    width = check_int("width", width, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU())
            for _ in range(n_blocks))


def _segments(n_blocks: int, segments: int) -> list[tuple[int, int]]:
    sizes = [n_blocks // segments + (1 if i < n_blocks % segments else 0)
             for i in range(segments)]
    bounds, start = [], 0
    for size in sizes:
        bounds.append((start, start + size))
        start += size
    return bounds


def _cpu_autocast_state() -> tuple[bool, Any]:
    """Whether CPU autocast is on, and its dtype (the API moved in torch 2.4)."""
    import torch

    try:
        return torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
    except (TypeError, AttributeError):  # pragma: no cover (torch < 2.4)
        return torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()


def _recompute_function():
    """The autograd Function behind :func:`forward_blocks`' checkpointing (built once)."""
    import torch

    global _RECOMPUTE
    if _RECOMPUTE is not None:
        return _RECOMPUTE

    class Recompute(torch.autograd.Function):
        """Run ``run(x)`` without keeping activations; run it again in the backward pass."""

        @staticmethod
        def forward(ctx: Any, run: Callable[[Any], Any], x: Any) -> Any:
            ctx.run = run
            ctx.autocast, ctx.dtype = _cpu_autocast_state()
            ctx.save_for_backward(x)
            with torch.no_grad():
                return run(x)

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> tuple[None, Any]:
            (x,) = ctx.saved_tensors
            x = x.detach().requires_grad_(True)
            with torch.enable_grad(), torch.autocast("cpu", dtype=ctx.dtype,
                                                     enabled=ctx.autocast):
                out = ctx.run(x)
            torch.autograd.backward(out, grad_out)
            return None, x.grad

    _RECOMPUTE = Recompute
    return Recompute


_RECOMPUTE: Any = None


def forward_blocks(blocks: Any, x: Any, segments: int = 0,
                   meter: ActivationMeter | None = None) -> Any:
    """Run ``x`` through ``blocks`` in order, plainly or with gradient checkpointing.

    With ``segments=k >= 1`` the blocks are cut into ``k`` contiguous segments of (almost)
    equal length. The forward pass runs each segment without keeping its activations and
    keeps only the segment's input; the backward pass runs the segment forward again, this
    time keeping them, and then backward through it. This is what
    ``torch.utils.checkpoint.checkpoint(..., use_reentrant=True)`` does (the tests check
    that both give the same gradients), written out in a small ``torch.autograd.Function``
    for two reasons: the mechanism is visible, and torch's version imports
    ``torch._dynamo`` on its first call, which costs about 75 MB of memory (a fifth of the
    lab's budget). Unlike torch's, it does not restore the random state before
    recomputing, so the blocks must not use dropout. The autocast state of the forward
    pass is restored for the recomputation.

    Like reentrant checkpointing, it needs a segment input that requires a gradient for
    the segment's parameters to get theirs; when ``x`` does not, a copy that does is used.

    With ``meter``, the meter's hooks are entered inside each segment as well, so the
    activations recomputed during the backward pass are counted.

    Examples
    --------
    >>> import torch
    >>> blocks = mlp_blocks(4, 3)
    >>> x = torch.ones(2, 3)
    >>> torch.equal(forward_blocks(blocks, x), forward_blocks(blocks, x, segments=2))
    True
    """
    segments = check_int("segments", segments, minimum=0)
    n = len(blocks)
    if segments > n:
        raise ValueError(f"segments must be at most the number of blocks ({n}), got "
                         f"{segments}.")
    if segments == 0:
        for block in blocks:
            x = block(x)
        return x
    recompute = _recompute_function()
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    for start, stop in _segments(n, segments):
        part = list(blocks[start:stop])

        def run(h: Any, part: list[Any] = part) -> Any:
            with meter.hooks() if meter is not None else contextlib.nullcontext():
                for block in part:
                    h = block(h)
            return h

        x = recompute.apply(run, x)
    return x


def activation_memory(blocks: Any, x: Any, segments: int = 0,
                      autocast: bool = False) -> dict[str, int]:
    """Measure one forward and backward pass of ``blocks`` on ``x`` with an ActivationMeter.

    Parameters
    ----------
    blocks : torch.nn.ModuleList
        E.g. from :func:`mlp_blocks`.
    x : torch.Tensor
        The input batch.
    segments : int
        0: no checkpointing; ``k``: checkpoint ``k`` segments (:func:`forward_blocks`).
    autocast : bool
        Run the forward pass under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

    Returns
    -------
    dict
        ``kept_bytes`` (saved for the backward pass when the forward pass ends),
        ``peak_bytes`` (the most held at once, recomputation included) and
        ``block_forwards`` (how many times a block ran forward: the compute that
        checkpointing adds).

    Examples
    --------
    >>> import torch
    >>> blocks = mlp_blocks(4, 8)
    >>> x = torch.ones(16, 8)
    >>> plain = activation_memory(blocks, x)
    >>> ckpt = activation_memory(blocks, x, segments=2)
    >>> plain["kept_bytes"] // 512, ckpt["kept_bytes"] // 512, ckpt["peak_bytes"] // 512
    (5, 2, 4)
    >>> plain["block_forwards"], ckpt["block_forwards"]
    (4, 8)
    """
    import torch

    calls = [0]

    def count(*_: Any) -> None:
        calls[0] += 1

    handles = [block.register_forward_hook(count) for block in blocks]
    meter = ActivationMeter(blocks.parameters())
    try:
        with meter:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(autocast)):
                out = forward_blocks(blocks, x, segments, meter)
            loss = out.float().sum()
            kept = meter.live_bytes
            loss.backward()
    finally:
        for handle in handles:
            handle.remove()
        blocks.zero_grad(set_to_none=True)
    return {"kept_bytes": int(kept), "peak_bytes": int(meter.peak_bytes),
            "block_forwards": calls[0]}


def time_forward_backward(blocks: Any, x: Any, configs: Mapping[str, Mapping[str, Any]],
                          repeats: int = 5) -> dict[str, float]:
    """Median seconds of one forward and backward pass for each configuration.

    ``configs`` maps a name to keyword arguments of the run (``segments``, ``autocast``).
    The configurations take turns (one repeat of each, then the next round), so a burst
    of load on the machine hits them all alike; the first round is a warm-up and is not
    timed.

    Examples
    --------
    >>> import torch
    >>> times = time_forward_backward(mlp_blocks(2, 4), torch.ones(3, 4),
    ...                               {"plain": {}, "checkpointed": {"segments": 2}}, 2)
    >>> sorted(times), all(t > 0 for t in times.values())
    (['checkpointed', 'plain'], True)
    """
    import torch

    repeats = check_int("repeats", repeats, minimum=1)
    if not isinstance(configs, Mapping) or not configs:
        raise TypeError("configs must be a non-empty dict: name -> {'segments': k, "
                        "'autocast': bool}.")
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for round_ in range(repeats + 1):
        for name, config in configs.items():
            unknown = set(config) - {"segments", "autocast"}
            if unknown:
                raise ValueError(f"unknown options {sorted(unknown)} in configs[{name!r}].")
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16,
                                enabled=bool(config.get("autocast", False))):
                out = forward_blocks(blocks, x, int(config.get("segments", 0)))
            out.float().sum().backward()
            elapsed = time.perf_counter() - start
            blocks.zero_grad(set_to_none=True)
            if round_:
                seconds[name].append(elapsed)
    return {name: float(np.median(values)) for name, values in seconds.items()}


# ---------------------------------------------------------------- sync and async SGD


class NoisyRegression:
    """Least squares with noisy minibatch gradients: the problem the SGD simulations solve.

    Rows ``x`` are Gaussian with independent features of variances ``scales`` (spread
    between ``low_curvature`` and 1), targets ``y = x . w_star + noise``. The excess risk
    of weights ``w`` is exact: ``sum(scales * (w - w_star) ** 2)``.

    Parameters
    ----------
    n_features : int
    noise : float
        Standard deviation of the target noise.
    low_curvature : float
        Smallest feature variance (the largest is 1).
    seed : int

    Examples
    --------
    >>> task = NoisyRegression(n_features=3, seed=0)
    >>> g = task.gradient(np.zeros(3), step=0, rows=4)
    >>> g.shape, np.array_equal(g, task.gradient(np.zeros(3), step=0, rows=4))
    ((3,), True)
    >>> float(task.risk(task.w_star))
    0.0
    """

    def __init__(self, n_features: int = 10, noise: float = 0.1,
                 low_curvature: float = 0.5, seed: int = 0) -> None:
        self.n_features = check_int("n_features", n_features, minimum=1)
        self.noise = check_float("noise", noise, low=0.0)
        low = check_float("low_curvature", low_curvature, low=0.0, high=1.0,
                          low_inclusive=False)
        self.seed = check_int("seed", seed, minimum=0)
        self.scales = np.geomspace(low, 1.0, self.n_features)
        self.w_star = np.random.default_rng([self.seed, 40]).standard_normal(self.n_features)

    def gradient(self, w: Any, step: int, rows: int, stream: int = 0) -> np.ndarray:
        """Gradient of the mean squared error / 2 on a fresh minibatch of ``rows`` rows.

        The minibatch depends only on ``(seed, stream, step, rows)``.
        """
        w = np.asarray(w, dtype=float)
        if w.shape != (self.n_features,):
            raise ValueError(f"w must have shape ({self.n_features},), got {w.shape}.")
        step = check_int("step", step, minimum=0)
        rows = check_int("rows", rows, minimum=1)
        stream = check_int("stream", stream, minimum=0)
        rng = np.random.default_rng([self.seed, 41, stream, step, rows])
        X = rng.standard_normal((rows, self.n_features)) * np.sqrt(self.scales)
        y = X @ self.w_star + self.noise * rng.standard_normal(rows)
        return X.T @ (X @ w - y) / rows

    def risk(self, W: Any) -> np.ndarray:
        """Excess risk of each row of ``W`` (or of one weight vector)."""
        W = np.asarray(W, dtype=float)
        if W.shape[-1:] != (self.n_features,):
            raise ValueError(f"weights must end with {self.n_features} values, got shape "
                             f"{W.shape}.")
        return ((W - self.w_star) ** 2 * self.scales).sum(axis=-1)


def straggler_times(n_workers: int, n_rounds: int, *, straggler_prob: float = 0.0,
                    slowdown: float = 1.0, jitter: float = 0.2,
                    random_state: Any = None) -> np.ndarray:
    """Seconds each worker takes for each of its gradients, shape (n_rounds, n_workers).

    A gradient takes ``1 + jitter * U(0, 1)`` seconds, times ``slowdown`` with probability
    ``straggler_prob`` (the machine is busy, the network slow, the disk cold).

    Examples
    --------
    >>> t = straggler_times(3, 5, straggler_prob=0.5, slowdown=4, random_state=0)
    >>> t.shape, bool(t.min() >= 1), bool(t.max() <= 4 * 1.2)
    ((5, 3), True, True)
    """
    from ._validation import check_rng

    n_workers = check_int("n_workers", n_workers, minimum=1)
    n_rounds = check_int("n_rounds", n_rounds, minimum=1)
    p = check_float("straggler_prob", straggler_prob, low=0.0, high=1.0)
    slowdown = check_float("slowdown", slowdown, low=1.0)
    jitter = check_float("jitter", jitter, low=0.0)
    rng = check_rng(random_state)
    base = 1.0 + jitter * rng.random((n_rounds, n_workers))
    return base * np.where(rng.random((n_rounds, n_workers)) < p, slowdown, 1.0)


def _times(times: Any) -> np.ndarray:
    arr = np.asarray(times, dtype=float)
    if arr.ndim != 2 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("times must be a non-empty 2-d array (rounds x workers) of "
                         "positive seconds, e.g. from straggler_times.")
    return arr


def sync_schedule(times: Any) -> np.ndarray:
    """Wall-clock time of each update of synchronous SGD.

    Each round, every worker computes a gradient at the current weights; the update
    (the average of all the gradients) waits for the slowest worker.

    Examples
    --------
    >>> sync_schedule([[1.0, 3.0], [2.0, 1.0]]).tolist()
    [3.0, 5.0]
    """
    return np.cumsum(_times(times).max(axis=1))


def async_schedule(times: Any) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock time and staleness of each update of asynchronous SGD.

    Each worker reads the current weights, computes a gradient (taking the seconds in
    its column of ``times``, one row per gradient), and applies it the moment it is done,
    without waiting for anyone; then it reads the weights again. The staleness of an
    update is how many updates other workers applied between the read and the write.

    Returns
    -------
    wall : ndarray
        Time of each update, in order (``n_rounds * n_workers`` of them).
    delays : ndarray of int
        Staleness of each update's gradient.

    Examples
    --------
    >>> wall, delays = async_schedule([[1.0, 1.5], [1.0, 1.0]])
    >>> wall.tolist(), delays.tolist()
    ([1.0, 1.5, 2.0, 2.5], [0, 1, 1, 1])
    """
    arr = _times(times)
    n_rounds, n_workers = arr.shape
    heap = [(arr[0, k], k, 0, 0) for k in range(n_workers)]
    heapq.heapify(heap)
    version, wall, delays = 0, [], []
    while heap:
        finish, worker, job, read = heapq.heappop(heap)
        wall.append(finish)
        delays.append(version - read)
        version += 1
        if job + 1 < n_rounds:
            heapq.heappush(heap, (finish + arr[job + 1, worker], worker, job + 1, version))
    return np.asarray(wall), np.asarray(delays, dtype=int)


def time_to_target(wall: Any, values: Any, target: float) -> float:
    """First time at which ``values`` reach ``target`` (at or below); ``inf`` if never.

    ``values[0]`` is the value before the first update (time 0) and ``values[i]`` the
    value after the update at ``wall[i - 1]``.

    Examples
    --------
    >>> time_to_target([1.0, 2.0, 3.0], [8.0, 4.0, 2.0, 1.0], 2.0)
    2.0
    >>> time_to_target([1.0], [8.0, 4.0], 2.0)
    inf
    """
    wall = np.asarray(wall, dtype=float)
    values = np.asarray(values, dtype=float)
    if wall.ndim != 1 or values.shape != (len(wall) + 1,):
        raise ValueError("values needs one entry more than wall (the value before the "
                         f"first update); got {values.shape} and {wall.shape}.")
    target = check_float("target", target)
    times = np.concatenate([[0.0], wall])
    hit = np.flatnonzero(values <= target)
    return float(times[hit[0]]) if len(hit) else math.inf


def _geometric_mean(curves: list[np.ndarray]) -> np.ndarray:
    stacked = np.asarray(curves, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.exp(np.mean(np.log(stacked), axis=0))
    out[~np.isfinite(out)] = np.inf
    return out


def _trajectory(stale_sgd: Callable[..., Any], grad: Callable[..., Any], w0: np.ndarray,
                lr: float, delays: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        history = np.asarray(stale_sgd(grad, w0.copy(), lr, [int(d) for d in delays]),
                             dtype=float)
    if history.shape != (len(delays) + 1, len(w0)):
        raise ValueError(f"stale_sgd returned shape {history.shape}; it should return "
                         f"the weights before and after each update, ({len(delays) + 1}, "
                         f"{len(w0)}).")
    return history


def staleness_curves(stale_sgd: Callable[..., Any], problem: NoisyRegression,
                     delays: Sequence[int], *, n_updates: int, rows: int, lr: float,
                     repeats: int = 6) -> dict[int, np.ndarray]:
    """Excess risk after each update when every gradient is ``d`` updates stale.

    For each ``d`` in ``delays``, runs ``stale_sgd`` (the lab's task) with delays
    ``min(t, d)`` on ``repeats`` minibatch streams of ``problem`` and takes the geometric
    mean of the risk over the streams (``inf`` where a run diverged).

    Returns
    -------
    dict
        ``d`` -> risk before and after each update (``n_updates + 1`` values).
    """
    n_updates = check_int("n_updates", n_updates, minimum=1)
    rows = check_int("rows", rows, minimum=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    repeats = check_int("repeats", repeats, minimum=1)
    w0 = np.zeros(problem.n_features)
    out = {}
    for d in delays:
        d = check_int("delay", d, minimum=0)
        schedule = np.minimum(np.arange(n_updates), d)
        runs = []
        for rep in range(repeats):
            def grad(w: Any, t: int, rep: int = rep) -> np.ndarray:
                return problem.gradient(w, t, rows, stream=rep)
            runs.append(problem.risk(_trajectory(stale_sgd, grad, w0, lr, schedule)))
        out[d] = _geometric_mean(runs)
    return out


def sync_async_curves(stale_sgd: Callable[..., Any], problem: NoisyRegression, *,
                      n_workers: int, n_rounds: int, rows: int, lr: float,
                      straggler_prob: float, slowdown: float, repeats: int = 6,
                      seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Synchronous against asynchronous SGD under one straggler profile.

    Each repeat draws how long every gradient takes (:func:`straggler_times`). In
    **synchronous** SGD every round waits for the slowest of ``n_workers`` workers and
    makes one update with their gradients averaged (one gradient of ``n_workers * rows``
    rows, never stale). In **asynchronous** SGD each worker's gradient of ``rows`` rows is
    applied the moment it arrives, with the staleness :func:`async_schedule` gives it.
    The updates themselves are made by ``stale_sgd(grad, w0, lr, delays)`` (the lab's
    task). Curves are averaged over repeats update by update: the mean wall-clock time of
    each update and the geometric mean of the excess risk.

    Returns
    -------
    dict
        ``"sync"`` and ``"async"`` -> ``(wall, risk)``, read by :func:`time_to_target`.
    """
    n_workers = check_int("n_workers", n_workers, minimum=1)
    n_rounds = check_int("n_rounds", n_rounds, minimum=1)
    rows = check_int("rows", rows, minimum=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    repeats = check_int("repeats", repeats, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    w0 = np.zeros(problem.n_features)
    walls: dict[str, list[np.ndarray]] = {"sync": [], "async": []}
    risks: dict[str, list[np.ndarray]] = {"sync": [], "async": []}
    for rep in range(repeats):
        times = straggler_times(n_workers, n_rounds, straggler_prob=straggler_prob,
                                slowdown=slowdown,
                                random_state=np.random.default_rng([seed, 70, rep]))

        def grad_sync(w: Any, t: int, rep: int = rep) -> np.ndarray:
            return problem.gradient(w, t, n_workers * rows, stream=rep)

        def grad_async(w: Any, t: int, rep: int = rep) -> np.ndarray:
            return problem.gradient(w, t, rows, stream=rep)

        walls["sync"].append(sync_schedule(times))
        risks["sync"].append(problem.risk(_trajectory(
            stale_sgd, grad_sync, w0, lr, np.zeros(n_rounds, dtype=int))))
        wall, delays = async_schedule(times)
        walls["async"].append(wall)
        risks["async"].append(problem.risk(_trajectory(stale_sgd, grad_async, w0, lr,
                                                       delays)))
    return {mode: (np.mean(walls[mode], axis=0), _geometric_mean(risks[mode]))
            for mode in ("sync", "async")}


# ---------------------------------------------------------------- large batches


def train_with_schedule(X: Any, y: Any, X_val: Any, y_val: Any, *, batch: int,
                        lr_at: Callable[[int], float], epochs: int,
                        hidden: Sequence[int] = (64,), init_gain: float = 1.0,
                        autocast: bool = False, seed: int = 0) -> dict[str, Any]:
    """Train an MLP classifier with plain SGD, the learning rate given step by step.

    The update is written out (``w -= lr * grad``, what ``torch.optim.SGD`` does without
    momentum) because ``torch.optim`` imports ``torch._dynamo`` on its first step, which
    costs tens of MB of memory.

    Parameters
    ----------
    X, y, X_val, y_val : arrays
        Training and validation data (float features, integer classes).
    batch : int
        Rows per step; each epoch is a seeded permutation cut into ``len(X) // batch``
        batches.
    lr_at : callable
        ``lr_at(step)`` gives the learning rate of step ``step`` (0, 1, ...).
    epochs : int
    hidden : sequence of int
        Widths of the hidden layers (ReLU).
    init_gain : float
        Initial weights are normal with standard deviation ``init_gain / sqrt(fan_in)``;
        biases start at zero.
    autocast : bool
        Run the forward passes under ``torch.autocast("cpu", dtype=torch.bfloat16)``
        (mixed precision: the weights, gradients and updates stay float32).
    seed : int

    Returns
    -------
    dict
        ``val_loss`` (cross-entropy on the validation data; ``inf`` when training
        diverged), ``val_accuracy``, ``losses`` (training loss of each step), ``lrs`` and
        ``seconds`` (training time).

    Examples
    --------
    >>> from labkit.ddp_train import make_data
    >>> X, y = make_data(300, 4, 3)
    >>> run = train_with_schedule(X[:200], y[:200], X[200:], y[200:], batch=50,
    ...                           lr_at=lambda step: 0.1, epochs=2)
    >>> len(run["losses"]), run["val_loss"] < 2
    (8, True)
    """
    import torch

    X = np.asarray(X, dtype=np.float32)
    X_val = np.asarray(X_val, dtype=np.float32)
    y = np.asarray(y)
    y_val = np.asarray(y_val)
    if X.ndim != 2 or y.shape != (len(X),) or X_val.ndim != 2 or y_val.shape != (len(X_val),):
        raise ValueError("need X (n, d) with y (n,) and X_val (m, d) with y_val (m,).")
    batch = check_int("batch", batch, minimum=1, maximum=len(X))
    epochs = check_int("epochs", epochs, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    gain = check_float("init_gain", init_gain, low=0.0, low_inclusive=False)
    if not callable(lr_at):
        raise TypeError("lr_at must be a function of the step number.")
    n_classes = int(max(y.max(), y_val.max())) + 1
    widths = [X.shape[1], *[check_int("hidden[i]", h, minimum=1) for h in hidden], n_classes]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[Any] = []
        for i in range(len(widths) - 1):
            layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        with torch.no_grad():
            for layer in model:
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.normal_(0.0, gain / math.sqrt(layer.in_features))
                    layer.bias.zero_()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    parameters = list(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng([seed, 50])
    losses, lrs, step, steps_per_epoch = [], [], 0, len(X) // batch
    diverged = False
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(X)))
        for i in range(steps_per_epoch):
            rows = order[i * batch:(i + 1) * batch]
            lr = float(lr_at(step))
            if not math.isfinite(lr) or lr < 0:
                raise ValueError(f"lr_at({step}) gave {lr!r}; a learning rate is a "
                                 "non-negative number.")
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(autocast)):
                logits = model(Xt[rows])
            loss = loss_fn(logits.float(), yt[rows])
            grads = torch.autograd.grad(loss, parameters)
            with torch.no_grad():
                for parameter, grad in zip(parameters, grads, strict=True):
                    parameter.add_(grad, alpha=-lr)
            losses.append(float(loss.detach()))
            lrs.append(lr)
            step += 1
            if not math.isfinite(losses[-1]):
                diverged = True
                break
        if diverged:
            break
    seconds = time.perf_counter() - start
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                         enabled=bool(autocast)):
        logits = model(torch.from_numpy(X_val)).float()
        val_loss = float(loss_fn(logits, torch.from_numpy(y_val.astype(np.int64))))
        accuracy = float((logits.argmax(dim=1).numpy() == y_val).mean())
    if diverged or not math.isfinite(val_loss):
        val_loss = math.inf
    return {"val_loss": val_loss, "val_accuracy": accuracy, "losses": np.asarray(losses),
            "lrs": np.asarray(lrs), "seconds": seconds}


# ---------------------------------------------------------------- data-parallel workers


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the system picks it; bind to port 0).

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class DDPWorkers:
    """The worker processes of one run, as :func:`ddp_workers` started them.

    Attributes
    ----------
    processes : list of subprocess.Popen
        One per rank, in rank order.
    logs : list of Path
        Each rank's combined standard output and error.
    """

    def __init__(self, processes: list[subprocess.Popen[bytes]], logs: list[Path],
                 timeout: float) -> None:
        self.processes, self.logs, self.timeout = processes, logs, timeout

    @property
    def pids(self) -> list[int]:
        """Process ids, in rank order."""
        return [p.pid for p in self.processes]

    def _tail(self, rank: int, lines: int = 12) -> str:
        try:
            text = self.logs[rank].read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def wait(self, timeout: float | None = None) -> list[int]:
        """Wait until every worker has finished; return their exit codes (all 0).

        Raises
        ------
        RuntimeError
            As soon as one worker fails: the others are stopped, and the message quotes
            the failed worker's last output lines.
        TimeoutError
            When the workers run longer than ``timeout`` seconds (default: the one given
            to :func:`ddp_workers`); they are stopped.
        """
        limit = self.timeout if timeout is None else check_float(
            "timeout", timeout, low=0.0, low_inclusive=False)
        deadline = time.monotonic() + limit
        while True:
            codes = [p.poll() for p in self.processes]
            failed = [rank for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                self.stop()
                rank = failed[0]
                raise RuntimeError(f"DDP worker rank {rank} exited with code {codes[rank]}; "
                                   f"the other workers were stopped. Its last lines:\n"
                                   f"{self._tail(rank)}")
            if all(code == 0 for code in codes):
                return [0] * len(codes)
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the DDP workers ran longer than {limit:g} s and were "
                                   "stopped.")
            time.sleep(0.02)

    def stop(self, grace: float = 3.0) -> None:
        """Stop every worker still running (SIGTERM, then SIGKILL) and reap them all."""
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def ddp_workers(args: Sequence[str], n_workers: int = 2, *,
                module: str = "labkit.ddp_train", timeout: float = 300.0,
                env: Mapping[str, str] | None = None) -> Iterator[DDPWorkers]:
    """Start ``n_workers`` processes of one ``torch.distributed`` run; always stop them.

    Each worker runs ``python -m <module> <args>`` with the variables torchrun would set
    (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` =
    127.0.0.1 and a free ``MASTER_PORT``), in its own process group. On leaving the
    ``with`` block, normally or through an exception, every worker still running is
    stopped and every worker is reaped: no process outlives the block. The workers also
    ask Linux to kill them if the process that started them dies
    (:mod:`labkit.ddp_train` does this).

    Parameters
    ----------
    args : sequence of str
        Arguments of the script.
    n_workers : int
        Number of processes (the world size).
    module : str
        The script, run with ``python -m``.
    timeout : float
        Default limit of :meth:`DDPWorkers.wait`, in seconds.
    env : mapping, optional
        Extra environment variables for the workers.

    Yields
    ------
    DDPWorkers

    Examples
    --------
    ``with ddp_workers(["--out", "run"], 2) as workers: workers.wait()`` trains with
    two processes and leaves ``run/weights.npz`` (see :func:`read_ddp_run`).
    """
    if isinstance(args, (str, bytes)) or not all(isinstance(a, str) for a in args):
        raise TypeError("args must be a list of strings, e.g. ['--out', 'run', '--steps', "
                        "'40'].")
    n_workers = check_int("n_workers", n_workers, minimum=1)
    timeout = check_float("timeout", timeout, low=0.0, low_inclusive=False)
    if not isinstance(module, str) or not module:
        raise TypeError("module must be a module name, e.g. 'labkit.ddp_train'.")
    logs_dir = Path(tempfile.mkdtemp(prefix="labkit-ddp-"))
    base = dict(os.environ)
    base.update(dict(env or {}))
    base["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), base.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    base.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
                 "WORLD_SIZE": str(n_workers), "LOCAL_WORLD_SIZE": str(n_workers)})
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    workers = DDPWorkers(processes, logs, timeout)
    try:
        for rank in range(n_workers):
            log = logs_dir / f"rank{rank}.log"
            logs.append(log)
            with open(log, "wb") as handle:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", module, *args],
                    env={**base, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                    stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                    start_new_session=True))
        yield workers
    finally:
        workers.stop()
        shutil.rmtree(logs_dir, ignore_errors=True)


def read_ddp_run(out: str | os.PathLike) -> dict[str, Any]:
    """What a run of :mod:`labkit.ddp_train` left in ``out``.

    Returns
    -------
    dict
        ``weights`` (name -> array, from rank 0) and ``ranks`` (each rank's report: backend,
        device, losses, ``peak_rss_mb``, seconds), in rank order.
    """
    from .ddp_train import read_weights

    out = _check_path("out", out)
    reports = sorted(out.glob("rank*.json"), key=lambda p: int(p.stem[4:]))
    if not reports or not (out / "weights.npz").is_file():
        raise FileNotFoundError(f"{out} holds no finished run (weights.npz and rank<r>.json).")
    return {"weights": read_weights(out / "weights.npz"),
            "ranks": [json.loads(p.read_text(encoding="utf-8")) for p in reports]}


def _main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "stream":
        return _stream_main(argv[1])
    print("usage: python -m labkit.scaling stream SPEC.json (started by stream_in_child)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main(sys.argv[1:]))
