"""Data-parallel training with ``torch.distributed``: the training script of Lab 10.

One script, three ways to run it, with the same code path:

* ``python -m labkit.ddp_train --out DIR``: one process, no ``torch.distributed``;
* ``torchrun --nproc_per_node=2 -m labkit.ddp_train --out DIR``: two processes joined by
  DistributedDataParallel (DDP). torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR`` and ``MASTER_PORT``; the backend is ``nccl`` when CUDA is available
  (rank ``r`` uses GPU ``LOCAL_RANK``), else ``gloo`` on the CPU;
* :func:`labkit.scaling.ddp_workers`, which sets the same variables and starts the same
  command itself, so that a notebook can start the workers and always stop them.

Every rank builds the same data set and the same model from ``--seed``; DDP also copies
rank 0's weights to the others when it wraps the model. At step ``t`` all ranks draw the
same *global* batch of ``world_size * batch`` rows and rank ``r`` trains on its slice
``[r * batch, (r + 1) * batch)``. DDP averages the gradients over the ranks, so each step
equals one step of single-process training on the whole global batch with the same
learning rate: :func:`train_single` is that single-process run, and Lab 10 asserts that
the two end with the same weights.

What a run writes to ``--out``: ``weights.npz`` (rank 0: the final weights, plain arrays)
and ``rank<r>.json`` for every rank (backend, device, losses of its slices, peak resident
memory and private resident memory in MB, seconds). Nothing is pickled.

torch is imported inside the functions, so importing this module is cheap.

Examples
--------
>>> X, y = make_data(n_rows=6, n_features=3, n_classes=2, seed=0)
>>> X.shape, X.dtype.name, y.tolist() == make_data(6, 3, 2, seed=0)[1].tolist()
((6, 3), 'float32', True)
>>> [b.tolist() for b in global_batches(n_rows=6, batch=4, steps=2, seed=0)][0] \\
...     == global_batches(6, 4, 2, seed=0)[0].tolist()
True
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_float, check_int

__all__ = ["DEFAULTS", "global_batches", "main", "make_data", "make_model", "peak_rss_mb",
           "private_rss_mb", "read_weights", "train_single"]

#: Defaults of the script's options (and of :func:`train_single`).
DEFAULTS: dict[str, Any] = {"n_rows": 4096, "n_features": 16, "hidden": 32, "n_classes": 4,
                            "batch": 32, "lr": 0.1, "steps": 40, "seed": 0}


def make_data(n_rows: int = 4096, n_features: int = 16, n_classes: int = 4,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A generated classification problem, the same on every rank for one seed.

    Features are standard normal; the class is the argmax of a random linear score plus
    Gumbel noise (a multinomial logit), so no class is perfectly separable.

    Returns
    -------
    X : ndarray of float32, shape (n_rows, n_features)
    y : ndarray of int64, shape (n_rows,)
    """
    n_rows = check_int("n_rows", n_rows, minimum=1)
    n_features = check_int("n_features", n_features, minimum=1)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng([seed, 10])
    X = rng.standard_normal((n_rows, n_features)).astype(np.float32)
    weights = rng.standard_normal((n_features, n_classes)) / np.sqrt(n_features) * 3.0
    y = np.argmax(X @ weights + rng.gumbel(size=(n_rows, n_classes)), axis=1)
    return X, y.astype(np.int64)


def make_model(n_features: int = 16, hidden: int = 32, n_classes: int = 4, seed: int = 0):
    """A one-hidden-layer MLP whose initial weights depend only on ``seed``.

    torch's global random state is left as it was.
    """
    import torch

    n_features = check_int("n_features", n_features, minimum=1)
    hidden = check_int("hidden", hidden, minimum=1)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(hidden, n_classes))


def global_batches(n_rows: int, batch: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    """Row indices of each step's global batch: epochs of a seeded permutation.

    Every rank calls this with the same arguments and gets the same list; a step whose
    batch would run past the end of an epoch starts a new epoch instead (the last rows of
    that permutation are skipped), so every batch has exactly ``batch`` rows.
    """
    n_rows = check_int("n_rows", n_rows, minimum=1)
    batch = check_int("batch", batch, minimum=1, maximum=n_rows)
    steps = check_int("steps", steps, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng([seed, 20])
    out, order, start = [], rng.permutation(n_rows), 0
    for _ in range(steps):
        if start + batch > n_rows:
            order, start = rng.permutation(n_rows), 0
        out.append(order[start:start + batch])
        start += batch
    return out


def _train(model, X, y, batches, lr, rank=0, world_size=1, device="cpu"):
    """SGD on this rank's slice of each global batch; returns the losses of the slices."""
    import torch

    # Plain SGD written out (what torch.optim.SGD does without momentum): torch.optim
    # imports torch._dynamo on its first step, tens of MB in every worker.
    parameters = list(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    X_all, y_all = torch.from_numpy(X), torch.from_numpy(y)
    losses = []
    for rows in batches:
        local = rows.reshape(world_size, -1)[rank]
        xb, yb = X_all[local].to(device), y_all[local].to(device)
        for parameter in parameters:
            parameter.grad = None
        loss = loss_fn(model(xb), yb)
        loss.backward()           # under DDP: gradients averaged over the ranks here
        with torch.no_grad():
            for parameter in parameters:
                parameter.add_(parameter.grad, alpha=-lr)
        losses.append(float(loss.detach()))
    return losses


def _weights(model) -> dict[str, np.ndarray]:
    return {name: tensor.detach().cpu().numpy().copy()
            for name, tensor in model.state_dict().items()}


def train_single(*, batch: int = 64, lr: float = 0.1, steps: int = 40, seed: int = 0,
                 n_rows: int = 4096, n_features: int = 16, hidden: int = 32,
                 n_classes: int = 4) -> dict[str, np.ndarray]:
    """Train the script's model in this process with one batch of ``batch`` rows a step.

    The batches are :func:`global_batches` with the same arguments, so a 2-worker DDP run
    with ``--batch b`` sees the same rows at every step as ``train_single(batch=2 * b)``.

    Returns
    -------
    dict
        Parameter name -> final weights (numpy arrays), as in ``weights.npz``.

    Examples
    --------
    >>> w = train_single(batch=8, steps=3, n_rows=64)
    >>> sorted(w), w["0.weight"].shape
    (['0.bias', '0.weight', '2.bias', '2.weight'], (32, 16))
    """
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    X, y = make_data(n_rows, n_features, n_classes, seed)
    model = make_model(n_features, hidden, n_classes, seed)
    _train(model, X, y, global_batches(n_rows, batch, steps, seed), lr)
    return _weights(model)


def _status_mb(field: str) -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (``VmHWM``; NaN where unavailable).

    It counts the pages of shared libraries (libtorch) that every torch process maps; the
    private part of the memory is ``RssAnon`` (:func:`private_rss_mb`).
    """
    return _status_mb("VmHWM")


def private_rss_mb() -> float:
    """Resident memory of this process that no other process shares, in MB (``RssAnon``)."""
    return _status_mb("RssAnon")


def read_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The weights a run saved (``weights.npz``), as a dict of numpy arrays."""
    with np.load(Path(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the process that started it dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover
        return
    if os.getppid() == 1:  # the parent died before prctl
        os._exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.ddp_train",
        description="Train a small MLP on generated data, with DDP when started by torchrun "
                    "(or labkit.scaling.ddp_workers) with WORLD_SIZE > 1.")
    parser.add_argument("--out", required=True, help="folder for weights.npz and rank<r>.json")
    for name in ("n_rows", "n_features", "hidden", "n_classes", "batch", "steps", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=DEFAULTS[name],
                            dest=name)
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--backend", choices=["auto", "gloo", "nccl"], default="auto",
                        help="auto: nccl when CUDA is available, else gloo")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds a collective may wait for the other ranks")
    # For the tests of the launcher: make one rank fail, or linger.
    parser.add_argument("--fail-rank", type=int, default=-1, help=argparse.SUPPRESS)
    parser.add_argument("--sleep", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script: ``python -m labkit.ddp_train --out DIR [options]``."""
    args = _parser().parse_args(argv)
    _die_with_parent()
    start = time.perf_counter()
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.sleep:
        time.sleep(args.sleep)
    if rank == args.fail_rank:
        raise SystemExit(f"rank {rank}: failing on purpose (--fail-rank)")
    if args.batch * world_size > args.n_rows:
        raise SystemExit(f"the global batch ({world_size} x {args.batch}) is larger than "
                         f"the data set ({args.n_rows} rows)")

    import torch

    torch.set_num_threads(1)
    backend, device = "none", "cpu"
    if world_size > 1:
        import datetime

        import torch.distributed as dist

        backend = args.backend
        if backend == "auto":
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
            device = f"cuda:{local_rank}"
        elif sys.platform.startswith("linux") and os.environ.get("MASTER_ADDR") in (
                "127.0.0.1", "localhost"):
            # All ranks on this machine: talk over loopback, whatever the hostname says.
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=args.timeout))
    X, y = make_data(args.n_rows, args.n_features, args.n_classes, args.seed)
    model = make_model(args.n_features, args.hidden, args.n_classes, args.seed).to(device)
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[local_rank]
                                        if device != "cpu" else None)
    batches = global_batches(args.n_rows, args.batch * world_size, args.steps, args.seed)
    try:
        losses = _train(model, X, y, batches, args.lr, rank, world_size, device)
        if rank == 0:
            inner = model.module if world_size > 1 else model
            np.savez(out / "weights.npz", **_weights(inner))
    finally:
        if world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    report = {"rank": rank, "world_size": world_size, "backend": backend, "device": device,
              "steps": args.steps, "losses": losses, "peak_rss_mb": peak_rss_mb(),
              "private_rss_mb": private_rss_mb(),
              "seconds": time.perf_counter() - start}
    (out / f"rank{rank}.json").write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
