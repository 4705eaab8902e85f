"""Serving a model: an HTTP app, a local server that always stops, latency and size.

What the deployment lab uses around the learner's code:

* :func:`make_app` wraps a fitted model (anything with ``predict_proba`` on a
  DataFrame and ``classes_``) in a FastAPI app that validates every request against a
  schema (:func:`schema_from_frame`) and answers with the top-k classes;
* :func:`serve` runs that app under uvicorn in a **separate process** on a free port of
  127.0.0.1, waits until it answers, and stops it when the ``with`` block ends, whether
  the block finishes or raises; the process also dies with the Python process that
  started it (see :func:`serve` for how);
* :func:`benchmark` sends requests with a real HTTP client (httpx) from several threads
  at once and returns when each started and ended;
* :func:`quantize_int8` (torch's dynamic int8 quantization) and
  :func:`serialized_size` (bytes a model takes on disk), for the on-device trade-off.

Measured times vary from run to run and machine to machine: compare them as ratios and
orders of magnitude. FastAPI, uvicorn, httpx, joblib and torch are imported inside the
functions that need them, so importing this module is cheap and starts nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_float, check_int

__all__ = ["MARKER", "Server", "benchmark", "make_app", "process_alive", "quantize_int8",
           "running_servers", "schema_from_frame", "serialized_size", "serve"]

#: Every server process started by :func:`serve` carries this word in its command line
#: (``python -m labkit.serving ... --tag labkit-serving-<token>``), so that a test can
#: find any that outlived its block by scanning ``/proc``.
MARKER = "labkit-serving"

_SCALARS: dict[type, str] = {bool: "true or false", int: "a whole number",
                             float: "a number", str: "a string"}


# ---------------------------------------------------------------- the app


def _check_schema(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, Mapping) or not schema:
        raise TypeError("schema must be a non-empty dict: column name -> a type (int, float, "
                        "str, bool) or a list of the values allowed; schema_from_frame builds "
                        "one from training data.")
    out: dict[str, Any] = {}
    for name, spec in schema.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"schema keys must be column names that are Python identifiers, "
                             f"got {name!r}.")
        if isinstance(spec, type) and spec in _SCALARS:
            out[name] = spec
            continue
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or not spec:
            raise TypeError(f"schema[{name!r}] must be int, float, str, bool or a non-empty "
                            f"list of allowed values, got {spec!r}.")
        values = []
        for v in spec:
            if isinstance(v, np.generic):
                v = v.item()
            if not isinstance(v, (bool, int, str)):
                raise TypeError(f"schema[{name!r}]: allowed values must be ints, strings or "
                                f"booleans (JSON scalars), got {type(v).__name__} {v!r}.")
            values.append(v)
        out[name] = tuple(dict.fromkeys(values))
    return out


def schema_from_frame(frame: pd.DataFrame, columns: Sequence[str] | None = None, *,
                      max_categories: int = 64) -> dict[str, Any]:
    """The request schema of a model trained on ``frame``: what each column may hold.

    A column with at most ``max_categories`` distinct values accepts exactly those
    values (a request with ``hour=25`` is refused); a column with more accepts any value
    of its type (a new user id is a legitimate request). Booleans stay booleans.

    Parameters
    ----------
    frame : pandas.DataFrame
        Training inputs, one column per feature the model reads.
    columns : sequence of str, optional
        Which columns (default: all).
    max_categories : int
        Most distinct values listed for one column.

    Returns
    -------
    dict
        Column -> ``bool``, ``int``, ``float``, ``str`` or a tuple of allowed values.

    Examples
    --------
    >>> frame = pd.DataFrame({"hour": [8, 9, 8], "user": [1, 2, 3], "home": [True, False, True]})
    >>> schema_from_frame(frame, max_categories=2)
    {'hour': (8, 9), 'user': <class 'int'>, 'home': <class 'bool'>}
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise TypeError("frame must be a non-empty pandas DataFrame of training inputs.")
    columns = list(frame.columns if columns is None else columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the frame.")
    max_categories = check_int("max_categories", max_categories, minimum=1)
    schema: dict[str, Any] = {}
    for name in columns:
        col = frame[name].dropna()
        kind = col.dtype.kind
        if kind == "b":
            schema[name] = bool
            continue
        scalar = int if kind in "iu" else float if kind == "f" else str
        values = pd.unique(col)
        if scalar is not float and len(values) <= max_categories:
            items = sorted(v.item() if isinstance(v, np.generic) else v for v in values)
            schema[name] = tuple(scalar(v) for v in items)
        else:
            schema[name] = scalar
    return _check_schema(schema)


def _allowed(name: str, values: tuple) -> Any:
    """A validator that accepts only ``values`` (compared with their types: True is not 1)."""
    pairs = {(type(v), v) for v in values}
    shown = ", ".join(map(repr, values[:8])) + (", ..." if len(values) > 8 else "")

    def check(value: Any) -> Any:
        if value is not None and (type(value), value) not in pairs:
            raise ValueError(f"{name} must be one of the {len(values)} values the service "
                             f"accepts ({shown})")
        return value

    return check


def _row_model(schema: Mapping[str, Any]) -> Any:
    """A pydantic model of one request row: every column required, null allowed, strict
    types (no "8" for 8, no true for 1), no extra fields."""
    from typing import Annotated, Optional, Union

    from pydantic import AfterValidator, ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    for name, spec in schema.items():
        if spec is float:
            kind: Any = Annotated[float, Field(allow_inf_nan=False)]
        elif isinstance(spec, type):
            kind = spec
        else:
            types = tuple(dict.fromkeys(type(v) for v in spec))
            base = types[0] if len(types) == 1 else Union[types]  # noqa: UP007
            kind = Annotated[base, AfterValidator(_allowed(name, spec))]
        fields[name] = (Optional[kind], ...)  # noqa: UP045 (pydantic needs the object)
    return create_model("Row", __config__=ConfigDict(extra="forbid", strict=True), **fields)


def make_app(model: Any, schema: Mapping[str, Any], *, k: int = 3, max_batch: int = 256,
             title: str = "NextApp suggestions") -> Any:
    """A FastAPI app that serves ``model``'s top-k predictions over HTTP.

    Endpoints:

    * ``GET /health``: ``{"status": "ok", "columns": [...], "k": k, "max_batch": ...}``.
    * ``POST /predict`` with ``{"rows": [{column: value, ...}, ...], "k": 3}`` (``k``
      optional): ``{"top_k": [[class, ...], ...], "probability": [[p, ...], ...]}``,
      one list per row, best first, ties to the class listed first in ``classes_``.

    Every row must give every column of ``schema`` and nothing else; a value may be
    ``null`` (unknown: a one-hot encoder with ``handle_unknown="ignore"`` encodes it as
    all zeros). A row with a missing or extra field, a value of the wrong type or
    outside its allowed values, an empty request, more than ``max_batch`` rows, or a
    ``k`` outside 1 to the number of classes gets status 422 with a message naming the
    problem, before the model sees anything: a guard against requests the model was not
    built for.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba(DataFrame)`` and ``classes_``.
    schema : dict
        Column -> type or allowed values (see :func:`schema_from_frame`).
    k : int
        Default number of classes returned per row.
    max_batch : int
        Most rows one request may carry.
    title : str
        The app's title (shown at ``/docs``).

    Returns
    -------
    fastapi.FastAPI

    Examples
    --------
    >>> from fastapi.testclient import TestClient
    >>> from sklearn.dummy import DummyClassifier
    >>> frame = pd.DataFrame({"hour": [8, 9, 9]})
    >>> model = DummyClassifier().fit(frame, [0, 1, 1])
    >>> client = TestClient(make_app(model, {"hour": int}, k=1))
    >>> client.post("/predict", json={"rows": [{"hour": 8}]}).json()["top_k"]
    [[1]]
    >>> client.post("/predict", json={"rows": [{"hour": "8"}]}).status_code
    422
    """
    from fastapi import FastAPI
    from pydantic import BaseModel, ConfigDict, Field

    if not callable(getattr(model, "predict_proba", None)) or not hasattr(model, "classes_"):
        raise TypeError("model must be fitted and have predict_proba and classes_ (a "
                        f"scikit-learn classifier or pipeline), got {type(model).__name__}.")
    schema = _check_schema(schema)
    classes = [c.item() if isinstance(c, np.generic) else c for c in model.classes_]
    n_classes = len(classes)
    k = check_int("k", k, minimum=1, maximum=n_classes)
    max_batch = check_int("max_batch", max_batch, minimum=1)
    row_model = _row_model(schema)
    columns = list(schema)

    default_k = k

    class Request(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        rows: list[row_model] = Field(min_length=1, max_length=max_batch)  # type: ignore[valid-type]
        k: int = Field(default=default_k, ge=1, le=n_classes)

    app = FastAPI(title=title)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "columns": columns, "k": k, "max_batch": max_batch}

    def predict(request):  # type: ignore[no-untyped-def]
        from .metrics import stable_argsort

        frame = pd.DataFrame([row.model_dump() for row in request.rows], columns=columns)
        proba = np.asarray(model.predict_proba(frame), dtype=float)
        order = stable_argsort(proba)[:, :request.k]
        return {"top_k": [[classes[j] for j in row] for row in order],
                "probability": np.take_along_axis(proba, order, axis=1).round(6).tolist()}

    # The request model is built here, so FastAPI must get the class itself, not the
    # string annotation that `from __future__ import annotations` would give it.
    predict.__annotations__ = {"request": Request, "return": dict}
    app.post("/predict")(predict)
    return app


# ---------------------------------------------------------------- a server that stops


@dataclass
class Server:
    """A running server started by :func:`serve`.

    Attributes
    ----------
    url : str
        Base URL, ``http://127.0.0.1:<port>``.
    port : int
        The port it listens on.
    pid : int
        Process id of the server process.
    """

    url: str
    port: int
    pid: int
    _process: Any = field(default=None, repr=False)
    _log: Any = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """What the server process wrote to its stdout and stderr so far."""
        if self._log is None:
            return ""
        try:
            return Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""


_LIVE: dict[int, Server] = {}
_LIVE_LOCK = threading.Lock()
_ATEXIT_REGISTERED = False


def running_servers() -> list[Server]:
    """The servers started by :func:`serve` in this process that are still running."""
    with _LIVE_LOCK:
        return [s for s in _LIVE.values() if s.running]


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists and is not a zombie (Linux reads /proc).

    Examples
    --------
    >>> process_alive(os.getpid())
    True
    """
    pid = check_int("pid", pid, minimum=1)
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            text = stat.read_text()
        except OSError:
            return False
        return text[text.rfind(")") + 2:][:1] not in ("Z", "X", "")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(server: Server, grace: float = 3.0) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    process = server._process
    try:
        if process is not None and process.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if process is not None:
            # Reap the process (no zombie) and anything left in its group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10.0)
    finally:
        with _LIVE_LOCK:
            _LIVE.pop(server.pid, None)


def _stop_all() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE.values())
    for server in servers:
        _stop(server, grace=1.0)


def _wait_ready(server: Server, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if not server.running:
                raise RuntimeError("the server process exited while starting; its output:\n"
                                   + server.log()[-3000:])
            try:
                if client.get(server.url + "/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not answer /health within {timeout:g} s; "
                                   "its output:\n" + server.log()[-3000:])
            time.sleep(0.05)


@contextlib.contextmanager
def serve(model: Any, schema: Mapping[str, Any], *, k: int = 3, max_batch: int = 256,
          startup_timeout: float = 60.0, stop_grace: float = 3.0) -> Iterator[Server]:
    """Serve ``model`` with uvicorn on a free port of 127.0.0.1, for the ``with`` block.

    The app is :func:`make_app` ``(model, schema, k=k, max_batch=max_batch)``. The model
    is saved with joblib in a private temporary folder and loaded by a new Python
    process (``python -m labkit.serving``) that runs uvicorn on a socket this process
    bound and listens on, so the port is never raced for. The block starts once the
    server answers ``GET /health``.

    When the block ends, normally or by an exception, the server's process group gets
    SIGTERM (uvicorn shuts down gracefully), then SIGKILL after ``stop_grace`` seconds,
    and is reaped. Three more guards keep a server from outliving its starter: on Linux
    the server asks the kernel to kill it when the thread that started it dies
    (``PR_SET_PDEATHSIG``); it exits by itself when its parent process changes; and this
    process stops any server still running when it exits (``atexit``).

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` and ``classes_``; it must pickle (built from
        importable classes, not from functions defined in a notebook).
    schema : dict
        Column -> type or allowed values (see :func:`schema_from_frame`).
    k, max_batch : int
        As in :func:`make_app`.
    startup_timeout : float
        Seconds to wait for the server to answer.
    stop_grace : float
        Seconds between SIGTERM and SIGKILL when stopping.

    Yields
    ------
    Server
        With ``url``, ``port`` and ``pid``.

    Examples
    --------
    >>> import httpx
    >>> from sklearn.dummy import DummyClassifier
    >>> model = DummyClassifier().fit(pd.DataFrame({"hour": [8, 9, 9]}), [0, 1, 1])
    >>> with serve(model, {"hour": int}, k=1) as server:
    ...     reply = httpx.post(server.url + "/predict", json={"rows": [{"hour": 8}]})
    >>> reply.json()["top_k"], server.running
    ([[1]], False)
    """
    global _ATEXIT_REGISTERED
    import joblib

    make_app(model, schema, k=k, max_batch=max_batch)  # validate here, not in the child
    startup_timeout = check_float("startup_timeout", startup_timeout, low=0,
                                  low_inclusive=False)
    stop_grace = check_float("stop_grace", stop_grace, low=0)
    if not _ATEXIT_REGISTERED:
        atexit.register(_stop_all)
        _ATEXIT_REGISTERED = True

    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="labkit-serving-"))
        spec = os.path.join(folder, "app.joblib")
        joblib.dump({"model": model, "schema": dict(schema), "k": k,
                     "max_batch": max_batch}, spec)
        sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        log = stack.enter_context(open(os.path.join(folder, "server.log"), "w+b"))
        cmd = [sys.executable, "-m", "labkit.serving", "--fd", str(sock.fileno()),
               "--spec", spec, "--parent", str(os.getpid()),
               "--tag", f"{MARKER}-{secrets.token_hex(4)}"]
        process = subprocess.Popen(cmd, pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        server = Server(url=f"http://127.0.0.1:{port}", port=port, pid=process.pid,
                        _process=process, _log=log)
        with _LIVE_LOCK:
            _LIVE[process.pid] = server
        stack.callback(_stop, server, stop_grace)
        _wait_ready(server, startup_timeout)
        yield server


def _die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` does (Linux signal, plus a watchdog)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="labkit-serving-watchdog").start()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server: ``python -m labkit.serving --fd N --spec PATH --parent PID``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m labkit.serving")
    parser.add_argument("--fd", type=int, required=True, help="listening socket")
    parser.add_argument("--spec", required=True, help="joblib file: model and app settings")
    parser.add_argument("--parent", type=int, required=True, help="exit when it exits")
    parser.add_argument("--tag", default=MARKER, help="a word to find the process by")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)

    import joblib
    import uvicorn

    spec = joblib.load(args.spec)
    app = make_app(spec["model"], spec["schema"], k=spec["k"], max_batch=spec["max_batch"])
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


# ---------------------------------------------------------------- a real client


def _payloads(rows: Any, batch_size: int, n_requests: int) -> list[bytes]:
    if isinstance(rows, pd.DataFrame):
        records = json.loads(rows.to_json(orient="records"))
    elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)) and all(
            isinstance(r, Mapping) for r in rows):
        records = [dict(r) for r in rows]
    else:
        raise TypeError("rows must be a DataFrame or a list of dicts (one per request row), "
                        f"got {type(rows).__name__}.")
    if not records:
        raise ValueError("rows is empty: give at least one request row.")
    out = []
    for i in range(n_requests):
        start = (i * batch_size) % len(records)
        batch = [records[(start + j) % len(records)] for j in range(batch_size)]
        out.append(json.dumps({"rows": batch}).encode("utf-8"))
    return out


def benchmark(url: str, rows: Any, *, batch_size: int = 1, concurrency: int = 1,
              n_requests: int = 100, warmup: int = 5, timeout: float = 30.0) -> pd.DataFrame:
    """Send ``n_requests`` POST /predict requests to a server and time each one.

    Requests carry ``batch_size`` rows each (taken from ``rows`` in order, cycling) and
    are sent by ``concurrency`` threads sharing one ``httpx.Client`` (a connection pool,
    as a real client keeps), each thread sending its next request as soon as the last
    one is answered. Bodies are encoded before the clock starts. ``warmup`` untimed
    requests come first. A request that does not get status 200 raises.

    Parameters
    ----------
    url : str
        The server's base URL (``Server.url``).
    rows : pandas.DataFrame or list of dict
        Request rows, as :func:`make_app` expects them.
    batch_size, concurrency, n_requests, warmup : int
        Rows per request, threads sending at once, timed requests, untimed requests.
    timeout : float
        Seconds one request may take.

    Returns
    -------
    pandas.DataFrame
        One row per timed request: ``start`` and ``end`` (seconds since the first timed
        request was sent), ``batch_size`` and ``concurrency``.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> model = DummyClassifier().fit(pd.DataFrame({"hour": [8, 9, 9]}), [0, 1, 1])
    >>> with serve(model, {"hour": int}, k=2) as server:
    ...     runs = benchmark(server.url, [{"hour": 8}], batch_size=4, concurrency=2,
    ...                      n_requests=10)
    >>> runs.shape, bool((runs["end"] > runs["start"]).all())
    ((10, 4), True)
    """
    import httpx

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be the server's base URL (http://host:port), got {url!r}.")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    concurrency = check_int("concurrency", concurrency, minimum=1, maximum=64)
    n_requests = check_int("n_requests", n_requests, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    timeout = check_float("timeout", timeout, low=0, low_inclusive=False)
    bodies = _payloads(rows, batch_size, warmup + n_requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    endpoint = url.rstrip("/") + "/predict"
    starts = np.zeros(n_requests)
    ends = np.zeros(n_requests)
    counter = iter(range(n_requests))
    lock = threading.Lock()

    with httpx.Client(timeout=timeout, limits=limits) as client:
        def send(body: bytes) -> None:
            reply = client.post(endpoint, content=body, headers=headers)
            if reply.status_code != 200:
                raise RuntimeError(f"the server answered {reply.status_code}: "
                                   f"{reply.text[:300]}")

        for body in bodies[:warmup]:
            send(body)

        def worker() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                starts[i] = time.perf_counter()
                send(bodies[warmup + i])
                ends[i] = time.perf_counter()

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for future in [pool.submit(worker) for _ in range(concurrency)]:
                future.result()
    origin = starts.min()
    return pd.DataFrame({"start": starts - origin, "end": ends - origin,
                         "batch_size": batch_size, "concurrency": concurrency})


# ---------------------------------------------------------------- on the device


def _torch_module(model: Any) -> Any:
    import torch

    if isinstance(model, torch.nn.Module):
        return model
    net = getattr(model, "net_", None)
    if isinstance(net, torch.nn.Module):
        return net
    raise TypeError("give a torch.nn.Module or a fitted labkit.baselines.TorchMLPClassifier, "
                    f"got {type(model).__name__}.")


def quantize_int8(model: Any) -> Any:
    """A copy of ``model`` whose ``Linear`` layers use int8 weights (dynamic quantization).

    :func:`torch.ao.quantization.quantize_dynamic` stores each ``Linear`` layer's
    weights as 8-bit integers with one scale per layer, and quantizes the activations
    on the fly at prediction time. The model itself is left as it was. Torch marks this
    API as deprecated in favour of the separate ``torchao`` package; its warnings are
    silenced here.

    Parameters
    ----------
    model : torch.nn.Module or TorchMLPClassifier
        A float model; for a fitted :class:`labkit.baselines.TorchMLPClassifier` the
        result is a classifier too (same ``classes_``, ``predict_proba``).

    Returns
    -------
    torch.nn.Module or TorchMLPClassifier

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(200, 64), torch.nn.ReLU(),
    ...                           torch.nn.Linear(64, 10))
    >>> small = quantize_int8(net)
    >>> serialized_size(small) < serialized_size(net) / 2
    True
    """
    import warnings

    import torch

    net = _torch_module(model)
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as exc:  # pragma: no cover (a torch without the ao API)
        raise ImportError("this torch has no torch.ao.quantization.quantize_dynamic; install "
                          "torch>=2.1,<2.14 or use the torchao package") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized = quantize_dynamic(copy.deepcopy(net), {torch.nn.Linear}, dtype=torch.qint8)
    quantized.eval()
    if net is model:
        return quantized
    clone = copy.copy(model)
    clone.net_ = quantized
    return clone


def serialized_size(model: Any) -> int:
    """Bytes ``model`` takes when saved: ``torch.save`` of its weights, else joblib.

    For a torch module (or a :class:`~labkit.baselines.TorchMLPClassifier`) this is
    the size of its ``state_dict`` as :func:`torch.save` writes it, which is what a phone
    app would ship; for anything else (a scikit-learn pipeline), the size of its
    :func:`joblib.dump`. Deterministic for a given model and library version.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> serialized_size(model) > 0
    True
    """
    buffer = io.BytesIO()
    net = None
    if "torch" in sys.modules:  # a torch model can only exist once torch is imported
        with contextlib.suppress(TypeError):
            net = _torch_module(model)
    if net is not None:
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            torch.save(net.state_dict(), buffer)
    else:
        import joblib

        joblib.dump(model, buffer)
    return len(buffer.getvalue())


if __name__ == "__main__":  # pragma: no cover (run as the server process)
    sys.exit(main())
