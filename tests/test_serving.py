"""labkit.serving: the app (through FastAPI's TestClient), the server that always stops,
the HTTP benchmark, quantization and sizes.

No server process may outlive what started it: not the ``with`` block (finished or
raised), not a Python process killed in the middle of the block, and not a graded
notebook in the bubblewrap sandbox (``--unshare-net``: only loopback), where serving over
127.0.0.1 must also work.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from labkit import serving
from labkit.metrics import stable_argsort
from labkit.serving import (
    MARKER,
    benchmark,
    make_app,
    process_alive,
    quantize_int8,
    schema_from_frame,
    serialized_size,
    serve,
)

ROOT = Path(__file__).resolve().parents[1]


def _frame(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "user_id": rng.integers(0, 40, n),
        "hour": rng.integers(0, 24, n),
        "weekend": rng.random(n) < 0.3,
        "location": rng.choice(["home", "work", "other"], n),
    })


@pytest.fixture(scope="module")
def fitted():
    X = _frame()
    y = (X["hour"] // 6 + (X["location"] == "work") * 2) % 5
    encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore"),
                                 list(X.columns))])
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(X, y)
    return model, X, schema_from_frame(X)


@pytest.fixture(scope="module")
def client(fitted):
    model, _, schema = fitted
    return TestClient(make_app(model, schema, k=3, max_batch=16))


def _rows(X, n=2):
    return X.iloc[:n].to_dict(orient="records")


def _server_processes(tag: str = MARKER) -> list[tuple[int, str]]:
    """Processes on this machine whose command line holds ``tag`` (a /proc scan)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if tag in cmdline and stat[stat.rfind(")") + 2] not in "ZX":
            found.append((int(entry.name), cmdline))
    return found


def _children_serving(pid: int = os.getpid()) -> list[int]:
    """Server processes whose parent is ``pid`` (what serve() starts is a child)."""
    children = []
    for found, _ in _server_processes("labkit.serving"):
        try:
            stat = Path(f"/proc/{found}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
            children.append(found)
    return children


def _tag_of(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return args[args.index(b"--tag") + 1].decode()


# ---------------------------------------------------------------- the app


def test_health_names_the_columns(client, fitted):
    reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "columns": list(fitted[1].columns), "k": 3,
                            "max_batch": 16}


def test_predict_returns_the_models_top_k_best_first(client, fitted):
    model, X, _ = fitted
    reply = client.post("/predict", json={"rows": _rows(X, 5)})
    assert reply.status_code == 200
    body = reply.json()
    proba = model.predict_proba(X.iloc[:5])
    order = stable_argsort(proba)[:, :3]
    assert body["top_k"] == model.classes_[order].tolist()
    assert np.allclose(body["probability"], np.take_along_axis(proba, order, axis=1),
                       atol=1e-6)
    assert all(p[0] >= p[1] >= p[2] for p in body["probability"])


def test_k_can_be_set_per_request(client, fitted):
    reply = client.post("/predict", json={"rows": _rows(fitted[1], 1), "k": 1})
    assert reply.status_code == 200 and len(reply.json()["top_k"][0]) == 1


def test_null_means_unknown_and_matches_the_model(client, fitted):
    model, X, _ = fitted
    row = dict(_rows(X, 1)[0], location=None)
    reply = client.post("/predict", json={"rows": [row]})
    assert reply.status_code == 200
    want = model.predict_proba(pd.DataFrame([row]))
    assert reply.json()["top_k"][0] == model.classes_[stable_argsort(want)[0, :3]].tolist()


@pytest.mark.parametrize("change, where", [
    ({"hour": 25}, "hour"),                      # outside the values seen in training
    ({"hour": "8"}, "hour"),                     # a string for a number
    ({"hour": 8.5}, "hour"),
    ({"user_id": True}, "user_id"),              # a boolean is not a user id
    ({"weekend": "yes"}, "weekend"),
    ({"location": "moon"}, "location"),          # an unknown category
    ({"hours": 8}, "hours"),                     # a misspelt extra field
])
def test_requests_outside_the_schema_are_refused(client, fitted, change, where):
    row = dict(_rows(fitted[1], 1)[0], **change)
    reply = client.post("/predict", json={"rows": [row]})
    assert reply.status_code == 422
    assert where in [str(part) for part in reply.json()["detail"][0]["loc"]]


def test_a_missing_field_is_refused(client, fitted):
    row = _rows(fitted[1], 1)[0]
    del row["hour"]
    reply = client.post("/predict", json={"rows": [row]})
    assert reply.status_code == 422 and reply.json()["detail"][0]["type"] == "missing"


@pytest.mark.parametrize("body", [{"rows": []}, {"rows": "x"}, {}, {"rows": [{}]},
                                  {"rows": None}, {"rows": [], "extra": 1}])
def test_malformed_bodies_are_refused(client, body):
    assert client.post("/predict", json=body).status_code == 422


def test_batches_over_the_limit_and_bad_k_are_refused(client, fitted):
    rows = _rows(fitted[1], 1) * 17
    assert client.post("/predict", json={"rows": rows}).status_code == 422
    assert client.post("/predict", json={"rows": rows[:16]}).status_code == 200
    for k in (0, 6, "2", 2.0, True):
        assert client.post("/predict", json={"rows": rows[:1], "k": k}).status_code == 422


def test_make_app_rejects_bad_arguments(fitted):
    model, _, schema = fitted
    with pytest.raises(TypeError, match="predict_proba"):
        make_app(object(), schema)
    with pytest.raises(TypeError, match="schema"):
        make_app(model, {})
    with pytest.raises(TypeError, match="list of allowed values"):
        make_app(model, {"hour": "int"})
    with pytest.raises(ValueError, match="identifiers"):
        make_app(model, {"two words": int})
    with pytest.raises(TypeError, match="JSON scalars"):
        make_app(model, {"hour": [1.5]})
    with pytest.raises(ValueError, match="k must be at most 5"):
        make_app(model, schema, k=6)
    with pytest.raises(ValueError, match="max_batch"):
        make_app(model, schema, max_batch=0)


def test_schema_from_frame_lists_few_values_and_types_many():
    schema = schema_from_frame(_frame(), max_categories=30)
    assert schema["user_id"] is int
    assert schema["hour"] == tuple(range(24))
    assert schema["weekend"] is bool
    assert schema["location"] == ("home", "other", "work")
    assert schema_from_frame(pd.DataFrame({"x": [0.5, 1.5]}))["x"] is float


@pytest.mark.parametrize("frame, kwargs, error", [
    ([[1, 2]], {}, TypeError),
    (pd.DataFrame(), {}, TypeError),
    (pd.DataFrame({"a": [1]}), {"columns": ["b"]}, ValueError),
    (pd.DataFrame({"a": [1]}), {"max_categories": 0}, ValueError),
])
def test_schema_from_frame_rejects_bad_input(frame, kwargs, error):
    with pytest.raises(error):
        schema_from_frame(frame, **kwargs)


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                       st.integers())))
def test_any_json_value_gets_a_clean_answer(client, fitted, value):
    """Whatever a client sends for a field, the answer is 200 or 422, never a crash."""
    row = dict(_rows(fitted[1], 1)[0], hour=value)
    try:
        body = json.dumps({"rows": [row]}, allow_nan=False)
    except ValueError:
        return
    reply = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert reply.status_code in (200, 422)


# ---------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def live(fitted):
    model, X, schema = fitted
    with serve(model, schema, k=2) as server:
        yield server, X
    assert not server.running


def test_serve_answers_over_real_http(live, fitted):
    import httpx

    server, X = live
    assert server.url == f"http://127.0.0.1:{server.port}"
    reply = httpx.post(server.url + "/predict", json={"rows": _rows(X, 3)})
    assert reply.status_code == 200 and len(reply.json()["top_k"]) == 3
    assert server.running and process_alive(server.pid)
    assert server in serving.running_servers()
    assert MARKER in " ".join(cmd for _, cmd in _server_processes(_tag_of(server.pid)))


def test_benchmark_times_every_request(live):
    server, X = live
    runs = benchmark(server.url, X, batch_size=8, concurrency=3, n_requests=12, warmup=1)
    assert list(runs.columns) == ["start", "end", "batch_size", "concurrency"]
    assert len(runs) == 12 and (runs["end"] > runs["start"]).all()
    assert runs["start"].min() == 0.0
    assert (runs["batch_size"] == 8).all() and (runs["concurrency"] == 3).all()
    # Three clients overlap in time: the wall-clock span is shorter than the sum.
    assert runs["end"].max() < (runs["end"] - runs["start"]).sum()


def test_benchmark_raises_when_the_server_refuses(live):
    server, X = live
    bad = X.assign(hour=99)
    with pytest.raises(RuntimeError, match="422"):
        benchmark(server.url, bad, n_requests=1, warmup=0)


@pytest.mark.parametrize("kwargs, error", [
    ({"url": "127.0.0.1:80"}, ValueError),
    ({"rows": "rows"}, TypeError),
    ({"rows": []}, ValueError),
    ({"batch_size": 0}, ValueError),
    ({"concurrency": 0}, ValueError),
    ({"n_requests": 1.5}, TypeError),
])
def test_benchmark_rejects_bad_input(kwargs, error):
    args = {"url": "http://127.0.0.1:9", "rows": [{"hour": 1}]} | kwargs
    with pytest.raises(error):
        benchmark(args.pop("url"), args.pop("rows"), **args)


def test_the_server_stops_when_the_block_ends(fitted):
    model, _, schema = fitted
    with serve(model, schema) as server:
        tag = _tag_of(server.pid)
        assert _server_processes(tag)
    assert not server.running and not process_alive(server.pid)
    assert _server_processes(tag) == []
    assert server.pid not in _children_serving()
    assert server not in serving.running_servers()


def test_the_server_stops_when_the_block_raises(fitted):
    import httpx

    model, _, schema = fitted
    with pytest.raises(KeyError, match="boom"):
        with serve(model, schema) as server:
            tag = _tag_of(server.pid)
            raise KeyError("boom")
    assert not process_alive(server.pid) and _server_processes(tag) == []
    with pytest.raises(httpx.TransportError):  # nothing listens on the port any more
        httpx.get(server.url + "/health", timeout=2.0)


def test_a_server_ignoring_sigterm_is_killed(fitted, monkeypatch):
    """Stopping escalates to SIGKILL when SIGTERM does not end the process in time."""
    model, _, schema = fitted
    with serve(model, schema, stop_grace=0.5) as server:
        os.kill(server.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    assert not process_alive(server.pid)


def test_a_failed_start_leaves_nothing_behind(fitted, monkeypatch):
    model, _, schema = fitted
    monkeypatch.setattr(serving, "_wait_ready",
                        lambda server, timeout: (_ for _ in ()).throw(TimeoutError("slow")))
    before = set(_children_serving())
    with pytest.raises(TimeoutError):
        with serve(model, schema):
            pass
    time.sleep(0.2)
    assert set(_children_serving()) <= before


def test_serve_rejects_a_model_it_cannot_serve():
    before = set(_children_serving())
    with pytest.raises(TypeError, match="predict_proba"):
        with serve(object(), {"hour": int}):
            pass
    assert set(_children_serving()) <= before


_KILLED_PARENT = textwrap.dedent("""
    import sys, time
    import pandas as pd
    from sklearn.dummy import DummyClassifier
    from labkit.serving import serve
    model = DummyClassifier().fit(pd.DataFrame({"hour": [1, 2]}), [0, 1])
    with serve(model, {"hour": int}, k=1) as server:
        print(server.pid, flush=True)
        time.sleep(600)
""")


@pytest.mark.parametrize("how", ["SIGKILL", "os._exit"])
def test_the_server_dies_with_a_parent_that_never_leaves_the_block(how):
    """A kernel killed mid-block (or exiting without cleanup) takes its server with it."""
    code = _KILLED_PARENT
    if how == "os._exit":
        code = code.replace("time.sleep(600)", "time.sleep(0.5); import os; os._exit(3)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert process_alive(pid)
        if how == "SIGKILL":
            parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(pid), "the server outlived the process that started it"
    finally:
        parent.kill()
        parent.wait()


def test_servers_left_running_stop_when_python_exits():
    """Entering the block without ever leaving it: atexit stops the server."""
    code = textwrap.dedent("""
        import pandas as pd
        from sklearn.dummy import DummyClassifier
        from labkit.serving import serve
        model = DummyClassifier().fit(pd.DataFrame({"hour": [1, 2]}), [0, 1])
        block = serve(model, {"hour": int}, k=1)
        print(block.__enter__().pid, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    assert not process_alive(pid)


def test_process_alive():
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid)
    with pytest.raises(ValueError):
        process_alive(0)


# ---------------------------------------------------------------- quantization and size


def _net(width=128):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(200, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, 10))


def test_int8_is_smaller_and_close():
    import torch

    net = _net()
    small = quantize_int8(net)
    assert serialized_size(small) < serialized_size(net) / 3
    x = torch.rand(64, 200)
    with torch.no_grad():
        assert torch.allclose(small(x), net(x), atol=0.05)
    assert isinstance(net[0], torch.nn.Linear)  # the original is left as it was


def test_quantize_keeps_a_classifier_a_classifier():
    from labkit.baselines import TorchMLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 40))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    mlp = TorchMLPClassifier(hidden_units=64, epochs=20, batch_size=32, random_state=0).fit(X, y)
    small = quantize_int8(mlp)
    assert small is not mlp and list(small.classes_) == [0, 1, 2]
    agree = np.mean(small.predict(X) == mlp.predict(X))
    assert agree > 0.95
    assert serialized_size(small) < serialized_size(mlp) / 2
    assert type(mlp.net_[0]).__name__ == "Linear"


def test_serialized_size_of_a_pipeline_uses_joblib(fitted):
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump(fitted[0], buffer)
    assert serialized_size(fitted[0]) == len(buffer.getvalue())


def test_serialized_size_is_deterministic():
    assert serialized_size(_net()) == serialized_size(_net())
    assert serialized_size(quantize_int8(_net())) == serialized_size(quantize_int8(_net()))


def test_quantize_rejects_what_is_not_a_torch_model():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        quantize_int8(LogisticRegression())


# ---------------------------------------------------------------- under the grader's sandbox

_SERVE_LAB = """
import httpx
import pandas as pd
from sklearn.dummy import DummyClassifier

from labkit import checks
from labkit.serving import benchmark, process_alive, serve

# Servers of this notebook carry this test run's own marker, so that the /proc scan sees
# them and nothing that other processes on a shared machine happen to be serving.
import labkit.serving
labkit.serving.MARKER = "{marker}"
"""


def _serve_lab(tmp_path: Path, marker: str) -> Path:
    """A tiny course lab whose one task's check serves a model over loopback; every
    server it starts carries ``marker`` in its command line."""
    from labkit.authoring import build_student

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                                  "name": "python3"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Lab 91: Serving in the sandbox", id="title"),
        nbformat.v4.new_code_cell(_SERVE_LAB.strip().format(marker=marker), id="imports"),
        nbformat.v4.new_code_cell("SEED = 0", id="parameters",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\nK = 1\n### END SOLUTION", id="task-k",
            metadata={"labkit": {"task": "k", "points": 1, "kind": "decision",
                                 "hint": "Set K to the number of apps to return."}}),
        nbformat.v4.new_code_cell(textwrap.dedent("""
            model = DummyClassifier().fit(pd.DataFrame({"hour": [1, 2, 2]}), [0, 1, 1])
            with serve(model, {"hour": int}, k=K) as server:
                top = httpx.post(server.url + "/predict",
                                 json={"rows": [{"hour": 1}]}).json()["top_k"]
                runs = benchmark(server.url, [{"hour": 2}], concurrency=2, n_requests=4)
                pid = server.pid
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    tagged = labkit.serving.MARKER.encode() in cmdline.read()
            checks.expect(tagged, "k", "the server does not carry the test's marker")
            checks.expect(not process_alive(pid), "k", "the server outlived its block")
            checks.record("k", top=top, requests=len(runs))
            checks.passed("k")
        """).strip(), id="check-k"),
    ]
    (tmp_path / "solutions").mkdir()
    (tmp_path / "labs").mkdir()
    solution = tmp_path / "solutions" / "91-serve.ipynb"
    nbformat.write(nb, solution)
    nbformat.write(build_student(nb), tmp_path / "labs" / "91-serve.ipynb")
    return solution


_LEAKY = {
    # Enters the block and never leaves it: the kernel ends with the server running.
    "leaks": "K = 1\nblock = serve(DummyClassifier().fit(pd.DataFrame({'hour': [1]}), [0]),\n"
             "              {'hour': int}, k=1)\nleaked = block.__enter__()",
    # Raises inside the block, in the answer cell.
    "raises": "K = 1\nwith serve(DummyClassifier().fit(pd.DataFrame({'hour': [1]}), [0]),\n"
              "           {'hour': int}, k=1) as s:\n    raise RuntimeError('boom')",
    # Hangs inside the block: the cell's time limit stops the kernel mid-block.
    "hangs": "K = 1\nimport time\nwith serve(DummyClassifier().fit(pd.DataFrame({'hour': [1]}), "
             "[0]),\n           {'hour': int}, k=1) as s:\n    time.sleep(600)",
    # Starts a bare uvicorn process of its own and walks away.
    "orphan": "K = 1\nimport subprocess, sys\n"
              "orphan = subprocess.Popen([sys.executable, '-c', 'import time, uvicorn; "
              "time.sleep(300)', labkit.serving.MARKER], start_new_session=True)",
}


@pytest.mark.grading
@pytest.mark.parametrize("use_sandbox", [True, False], ids=["bubblewrap", "limits-only"])
def test_no_server_outlives_grading(tmp_path, use_sandbox):
    """Graded in the bubblewrap sandbox (no network but loopback), a notebook that serves a
    model over 127.0.0.1 gets full marks, and after the batch no uvicorn or labkit.serving
    process is left, even from submissions that leak a server, raise inside the block, or
    hang inside it until the cell's time limit stops the kernel."""
    from labkit.grading import Limits, grade
    from labkit.grading.sandbox import probe

    if use_sandbox and not probe([]).enabled:
        pytest.skip("bubblewrap does not work here")
    marker = f"{MARKER}-test-{secrets.token_hex(6)}"
    solution = _serve_lab(tmp_path, marker)
    subs = tmp_path / "subs"
    subs.mkdir()
    nb = nbformat.read(solution, as_version=4)
    nbformat.write(nb, subs / "solution.ipynb")
    for name, source in _LEAKY.items():
        leaky = nbformat.read(solution, as_version=4)
        next(c for c in leaky.cells if c.get("id") == "task-k").source = source
        nbformat.write(leaky, subs / f"{name}.ipynb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "no sandbox", on purpose
        grade(solution, subs, tmp_path / "out", workers=1, seed=7, seed_pool=1,
              sandbox=use_sandbox, limits=Limits(cell_timeout=45, submission_timeout=300),
              progress=False)
    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["solution"]["status"] == "graded", rows["solution"]["reason"]
    assert rows["solution"]["total"] == rows["solution"]["max"] == "1", rows["solution"]
    hung = rows["hangs"]
    assert hung["status"] in ("partial", "timeout") and "time" in hung["reason"], hung
    log = json.loads((tmp_path / "out" / "log.json").read_text())
    assert log["sandbox"]["enabled"] is use_sandbox, log["sandbox"]
    deadline = time.monotonic() + 15
    while True:
        left = _server_processes(marker)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not use_sandbox:
        # Limits-only mode cannot reach a process that left the kernel's process group
        # and session on purpose (start_new_session=True): only a pid namespace can.
        # Clean it up here, and check that labkit's own servers are gone.
        for pid, cmd in left:
            if "time.sleep(300)" in cmd:
                os.kill(pid, signal.SIGKILL)
        left = [(pid, cmd) for pid, cmd in left if "time.sleep(300)" not in cmd]
    assert left == [], f"processes outlived grading: {left}"
