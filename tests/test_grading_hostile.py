"""Broken and hostile submissions, graded in one batch on the fixture lab.

One session-scoped batch grades every case with two workers (a few seconds per
notebook); each test then reads its row. Cases that rely on the sandbox (reading or
writing the instructor's files, the network, a fork bomb) are skipped, not run, where
bubblewrap does not work: a fork bomb without a process limit would take the machine.

While the batch is graded, an audit hook records every path the grader's process opens
or lists, to show that no link's target is ever opened.
"""

from __future__ import annotations

import copy
import csv
import functools
import hashlib
import json
import os
import socket
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labkit.contract import RESULTS_ENV, public_seed
from labkit.grading import Limits, batch, grade
from labkit.grading.discover import LINK_REASON
from labkit.grading.rebuild import rebuild, tasks_of
from labkit.grading.sandbox import probe
from labkit.grading.seeds import SeedPool, answers_digest, secret_from_seed

pytestmark = pytest.mark.grading

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"
TEMPLATE = FIXTURE / "labs" / "90-fixture.ipynb"
SEED = 12345  # the batch's --seed: the grading secret its pool of seeds comes from
FULL = 6  # points of the fixture lab: mean 2, scale 3, cutoff 1
TEMPLATE_NB = nbformat.read(TEMPLATE, as_version=4)
POOL = SeedPool(secret_from_seed(SEED), 4, avoid={public_seed(TEMPLATE_NB)})
LIMITS = Limits(cell_timeout=6, submission_timeout=30, memory_mb=3072, processes=64,
                output_mb=0.5)


@functools.cache
def sandboxed() -> bool:
    """Whether bubblewrap works here (asked once, when a test first needs to know: never
    while the unit tier merely collects this module)."""
    return probe([]).enabled


@pytest.fixture
def needs_sandbox():
    if not sandboxed():
        pytest.skip("bubblewrap does not work here")


def _solution():
    return nbformat.read(SOLUTION, as_version=4)


def _cell(nb, cell_id):
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _with(cell_id, source, nb=None):
    nb = nb or _solution()
    _cell(nb, cell_id).source = source
    return nb


def _prepend(cell_id, code, nb=None):
    nb = nb or _solution()
    cell = _cell(nb, cell_id)
    cell.source = code + "\n" + cell.source
    return nb


def _answers(seed=0):
    """The fixture's answers under a seed (the public SEED = 0), to hard-code them."""
    x = np.random.default_rng(seed).normal(size=50)
    return float(np.mean(x)), float(np.quantile(x, 0.9))


def _grading_seed(nb):
    """The pool seed a submission runs under (the test knows the secret; students don't)."""
    return POOL.seeds[POOL.index(answers_digest(rebuild(TEMPLATE_NB, nb).notebook,
                                                tasks_of(TEMPLATE_NB)))]


def _surrogate_answer() -> bytes:
    """A notebook whose answer holds a lone surrogate: valid JSON, unwritable as UTF-8."""
    nb = _solution()
    _cell(nb, "task-mean").source = "x = '\ud800'\n" + _cell(nb, "task-mean").source
    return json.dumps(nb, ensure_ascii=True).encode("ascii")


def _hostile_cases(paths):
    """id -> notebook (NotebookNode) or raw bytes."""
    mean0, cutoff0 = _answers(0)
    secrets = [str(paths["secret"]), str(SOLUTION), str(paths["subs"] / "solution.ipynb"),
               str(paths["home_file"])]
    leak_check = (
        "import os, glob\n"
        "LEAK = []\n"
        f"for p in {secrets!r}:\n"
        "    try:\n"
        "        open(p).read(); LEAK.append(p)\n"
        "    except OSError:\n"
        "        pass\n"
        f"base = {str(paths['out'].parent)!r}\n"
        "for pattern in ('/**/*.ipynb', '/**/reference-*.json', '/**/records/*',\n"
        "                '/**/grades.csv'):\n"
        "    LEAK += glob.glob(base + pattern, recursive=True)\n")
    cases = {
        "solution": _solution(),
        "corrupt-json": b'{"cells": [',
        "not-utf8": b'{"cells": "\xff\xfe\xfa"}',
        "nbformat-v3": nbformat.writes(nbformat.convert(_solution(), 3)).encode(),
        "kernelspec-unknown": _solution(),
        "wrong-mean": _with("task-mean", "def mean(v):\n    return float(np.median(v))"),
        "tags-added-wrong-mean": _with(
            "task-mean", "def mean(v):\n    return float(np.median(v))"),
        "parameters-tag-moved": _solution(),
        "answers-deleted-scale": _solution(),
        "answers-reordered": _solution(),
        "answers-metadata-stripped": _solution(),
        "duplicated-wrong-last": _solution(),
        "infinite-loop": _with("task-scale", "while True:\n    pass"),
        "loop-ignoring-interrupts": _with(
            "task-scale", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                          "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                          "while True:\n    pass"),
        # Right answer, then a loop that swallows the interrupt: the cell ends "ok" and
        # the check records the right values; the time limit still costs the task.
        "loop-swallows-interrupt": _with(
            "task-scale", "def scale(v, k):\n    return np.asarray(v, dtype=float) * k\n"
                          "try:\n    while True:\n        pass\n"
                          "except KeyboardInterrupt:\n    pass"),
        # The same, inside the function, on the grading data only: the check cell.
        "check-loop-swallowed": _with(
            "task-scale", "def scale(v, k):\n    if len(v) > 10:\n        try:\n"
                          "            while True:\n                pass\n"
                          "        except KeyboardInterrupt:\n            pass\n"
                          "    return np.asarray(v, dtype=float) * k"),
        "memory-blowup": _with("task-scale", "hog = bytearray(2**36)"),
        # 300000 lines (2 MB) in 300 prints: over the output cap, well within the cell
        # time limit (a print per line takes ipykernel longer than the limit here)
        "output-flood": _prepend(
            "task-mean", "for i in range(300):\n"
                         "    print('\\n'.join(map(str, range(1000 * i, 1000 * i + 1000))))"),
        "sys-exit-0": _prepend("task-mean", "import sys\nsys.exit(0)"),
        "sys-exit-1": _prepend("task-mean", "import sys\nsys.exit(1)"),
        "os-exit": _prepend("task-scale", "import os\nos._exit(0)"),
        "custom-exc-swallows": _with(
            "task-mean", "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n"
                         "def mean(v):\n    return 0.0"),
        "showtraceback-patched": _with(
            "task-mean", "get_ipython().showtraceback = lambda *a, **k: None\n"
                         "def mean(v):\n    return 0.0"),
        "monkeypatched-labkit": _with(
            "task-mean",
            "import labkit.checks, labkit.checks._core as core\n"
            "import labkit.grading.verdicts as verdicts\n"
            "_record = core.record\n"
            "def forged(task, **kw):\n"
            "    if task == 'mean':\n"
            "        kw = {k: 0.0 for k in kw}\n"
            "    _record(task, rtol=1e9, atol=1e9, **kw)\n"
            "labkit.checks.record = core.record = forged\n"
            "labkit.checks.expect = lambda *a, **k: None\n"
            "verdicts.compare = lambda *a, **k: []\n"
            "np.allclose = lambda *a, **k: True\n"
            "def mean(v):\n    return 0.0"),
        "fake-passed-text": _with(
            "task-mean", "print('[ok] mean: all checks passed\\nPASSED 6/6 score: 100%')\n"
                         "def mean(v):\n    return 0.0"),
        "reseeds-public": _with(
            "task-mean", "SEED = 0\nimport random; random.seed(0); np.random.seed(0)\n"
                         "x = np.random.default_rng(0).normal(size=N)\n"
                         "def mean(v):\n    return float(np.mean(v))"),
        "hard-coded-public": _with(
            "task-mean", f"def mean(v):\n    return 2.0 if len(v) == 3 else {mean0!r}",
            _with("task-cutoff", f"CUTOFF = {cutoff0!r}")),
        "writes-output-folder": _prepend(
            "task-mean",
            "import os\n"
            f"for p in [{str(paths['out'] / 'grades.csv')!r}, "
            f"{str(paths['out'] / '.labkit-grade' / 'hacked.json')!r}, "
            f"{str(paths['subs'] / 'solution.ipynb')!r}]:\n"
            "    try:\n"
            "        open(p, 'w').write('hacked')\n"
            "    except OSError:\n"
            "        pass"),
        "reads-instructor-files": _with(
            "task-mean", leak_check + "def mean(v):\n"
                                      "    return float(np.mean(v)) + (1.0 if LEAK else 0.0)"),
        "network": _with(
            "task-mean",
            "import socket\nNET = False\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {paths['port']}), timeout=2)\n"
            "    NET = True\n"
            "except OSError:\n    pass\n"
            "def mean(v):\n    return float(np.mean(v)) + (1.0 if NET else 0.0)"),
        "fork-bomb": _with("task-scale", "import os\nwhile True:\n    os.fork()"),
        "deep-folders": _prepend(
            "task-scale",
            f"import os\nhere = os.getcwd()\nos.chdir(os.environ[{RESULTS_ENV!r}])\n"
            "for _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nos.chdir(here)"),
        "prints-seed": _with("task-mean", "raise ValueError(f'the seed is {SEED}')"),
        # No text filter catches this; the next version runs under another seed.
        "prints-seed-hex": _with("task-mean", "raise ValueError(f'{SEED:x}'[::-1])"),
        "lone-surrogate": _surrogate_answer(),
        "result-symlink": _prepend(
            "task-scale",
            f"import os\nRES = os.environ[{RESULTS_ENV!r}]\n"
            "os.remove(os.path.join(RES, 'mean.json'))\n"
            f"os.symlink({str(paths['forged'])!r}, os.path.join(RES, 'mean.json'))",
            # passes the public check, so its (wrong) result is recorded, then replaced
            _with("task-mean", "def mean(v):\n    return 2.0 if len(v) == 3 else 0.0")),
        "result-fifo": _prepend(
            "task-scale",
            f"import os\nRES = os.environ[{RESULTS_ENV!r}]\n"
            "os.remove(os.path.join(RES, 'mean.json'))\n"
            "os.mkfifo(os.path.join(RES, 'mean.json'))"),
        "tampers-other-results": _with(
            "task-mean",
            f"import glob, os, time\nFOUND = []\nown = os.environ[{RESULTS_ENV!r}]\n"
            "end = time.time() + 4\n"
            "while time.time() < end:\n"
            f"    for d in glob.glob({str(paths['temp'])!r} + '/*/*/results') + "
            "glob.glob('/tmp/*/*/results'):\n"
            "        if d != own:\n"
            "            FOUND.append(d)\n"
            "            try:\n"
            "                open(os.path.join(d, 'mean.json'), 'w').write('{}')\n"
            "            except OSError:\n"
            "                pass\n"
            "    time.sleep(0.2)\n"
            "def mean(v):\n    return float(np.mean(v)) + (1.0 if FOUND else 0.0)"),
    }
    cases["kernelspec-unknown"].metadata["kernelspec"] = {
        "name": "no-such-kernel", "display_name": "x", "language": "ruby"}
    nb = cases["tags-added-wrong-mean"]
    for cell in nb.cells:
        cell.metadata["tags"] = ["skip-execution", "raises-exception", "injected-parameters"]
    _cell(nb, "check-mean").source = "pass  # check disabled"
    nb = cases["parameters-tag-moved"]
    _cell(nb, "parameters").metadata["tags"] = []
    _cell(nb, "task-mean").metadata["tags"] = ["parameters"]
    _cell(nb, "task-mean").source = "SEED = 0\n" + _cell(nb, "task-mean").source
    nb = cases["answers-deleted-scale"]
    nb.cells.remove(_cell(nb, "task-scale"))
    cases["answers-reordered"].cells.reverse()
    for cell in cases["answers-metadata-stripped"].cells:
        cell.metadata = {}
    nb = cases["duplicated-wrong-last"]
    copy_cell = copy.deepcopy(_cell(nb, "task-mean"))
    copy_cell.source = "def mean(v):\n    return 0.0"
    copy_cell.id = "task-mean-copy"
    nb.cells.append(copy_cell)
    if not sandboxed():
        for name in ("fork-bomb", "reads-instructor-files", "network",
                     "writes-output-folder", "tampers-other-results"):
            del cases[name]
    return cases


_OPENED: list[str] | None = None


def _audit(event, args):
    if _OPENED is not None and event in ("open", "os.scandir", "os.listdir") and args \
            and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)

#: Link name in the submissions folder -> what the test makes it point at.
LINKS = ("to-solution.ipynb", "to-secret.ipynb", "to-fifo.ipynb", "dangling.ipynb",
         "linked-folder")


def _add_links(subs, base):
    """Submissions that are links, or hold one: each must be an invalid row, unopened."""
    targets = base / "link-targets"
    (targets / "folder").mkdir(parents=True)
    nbformat.write(_solution(), targets / "folder" / "lab.ipynb")
    os.mkfifo(targets / "fifo")
    (targets / "secret.ipynb").write_text("instructor only")
    for name, target in zip(LINKS, [SOLUTION, targets / "secret.ipynb", targets / "fifo",
                                    targets / "gone.ipynb", targets / "folder"], strict=True):
        os.symlink(target, subs / name)
    (subs / "link-inside").mkdir()  # the notebook in a student's folder is a link
    os.symlink(SOLUTION, subs / "link-inside" / "lab.ipynb")
    (subs / "link-beside").mkdir()  # a real notebook, and a link to a folder beside it
    nbformat.write(_solution(), subs / "link-beside" / "lab.ipynb")
    os.symlink(targets / "folder", subs / "link-beside" / "data")
    return targets


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    """Grade every case in one batch; returns rows by id and what the test needs."""
    global _OPENED
    base = tmp_path_factory.mktemp("hostile")
    subs, out = base / "subs", base / "out"
    subs.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    connections = []

    def accept():
        while listener.fileno() != -1:
            try:
                connections.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    secret = base / "secret.txt"
    secret.write_text("instructor only")
    home_file = Path.home() / ".bashrc"
    # Short: kernel sockets live under it, and a Unix socket path has at most 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="lg-hostile-", dir="/tmp"))
    forged = base / "forged.json"
    paths = {"subs": subs, "out": out, "secret": secret, "port": listener.getsockname()[1],
             "home_file": home_file if home_file.is_file() else secret, "temp": temp,
             "forged": forged}
    cases = _hostile_cases(paths)
    # A result with the right value under the seed the symlinking submission runs
    # under, for its symlink to point at.
    right, _ = _answers(_grading_seed(cases["result-symlink"]))
    forged.write_text(json.dumps({"task": "mean", "rtol": 1e-6, "atol": 1e-9,
                                  "values": {"value": right}}))
    for name, nb in cases.items():
        data = nb if isinstance(nb, bytes) else nbformat.writes(nb).encode()
        (subs / f"{name}.ipynb").write_bytes(data)
    # huge: a valid notebook over the size limit; sparse-huge: 8 GiB of nothing, which
    # would cost 8 GiB of memory if it were read; deep-json: valid JSON, nested too deep
    big = _solution()
    big.cells[0].source += "\n" + "x" * (3 * 2**20)
    (subs / "huge.ipynb").write_text(nbformat.writes(big))
    with open(subs / "sparse-huge.ipynb", "wb") as handle:
        handle.truncate(8 * 2**30)
    (subs / "deep-json.ipynb").write_bytes(b"[" * 200000 + b"]" * 200000)
    targets = _add_links(subs, base)
    before = _snapshot(subs)
    old_tempdir = tempfile.tempdir
    tempfile.tempdir = str(temp)
    # Other work in the same checkout may change labkit's code during the session; the
    # re-run test must see the same code hash as this batch.
    code_hash = batch._package_hash()
    patch = pytest.MonkeyPatch()
    patch.setattr(batch, "_package_hash", lambda: code_hash)
    _OPENED = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            summary = grade(SOLUTION, subs, out, workers=2, seed=SEED, limits=LIMITS,
                            progress=False, max_notebook_mb=2)
    finally:
        opened, _OPENED = _OPENED, None
        tempfile.tempdir = old_tempdir
        listener.close()
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    leftover = list(temp.iterdir())
    temp.rmdir()
    yield {"rows": rows, "leftover_temp": leftover, "summary": summary, "out": out,
           "subs": subs, "before": before, "temp": temp, "connections": connections,
           "warnings": caught, "opened": opened, "targets": targets,
           "records": {r["id"]: r for r in summary.records}}
    patch.undo()


def _snapshot(folder):
    """Every entry under ``folder`` as it is (links not followed): content hashes of
    small files, size and times of large ones, link targets of links."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[str(path.relative_to(folder))] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest() \
                    if info.st_size < 2**26 else None
                found[str(path.relative_to(folder))] = (digest, info.st_size,
                                                        info.st_mtime_ns)
    return found


def _row(hostile, name):
    return hostile["rows"][name]


def _points(row):
    return {t: int(row[t]) for t in ("mean", "scale", "cutoff")}


def _task(hostile, name, task):
    return next(t for t in hostile["records"][name]["tasks"] if t["task"] == task)


def test_every_submission_gets_a_row(hostile):
    names = {p.name for p in hostile["subs"].iterdir()}
    expected = {n.removesuffix(".ipynb") for n in names}
    assert set(hostile["rows"]) == expected
    assert {"sparse-huge", "to-solution", "linked-folder", "link-inside"} <= expected


@pytest.mark.parametrize("name", [n.removesuffix(".ipynb") for n in LINKS]
                         + ["link-inside", "link-beside"])
def test_links_are_invalid_rows(hostile, name):
    row = _row(hostile, name)
    assert (row["status"], row["total"]) == ("invalid", "0")
    assert LINK_REASON in row["reason"], row["reason"]


def test_no_link_and_no_link_target_is_ever_opened(hostile):
    opened = hostile["opened"]
    assert opened, "the audit hook saw nothing"
    assert not any(str(hostile["targets"]) in p for p in opened), opened
    links = {*LINKS, "lab.ipynb", "data"}  # lab.ipynb: link-inside's and link-beside's
    assert not any(Path(p).name in links for p in opened), \
        [p for p in opened if Path(p).name in links]
    # the reference solution is opened by path, never through a submission's link
    assert not any(p.endswith("to-solution.ipynb") for p in opened)


def test_solution_scores_full_marks(hostile):
    row = _row(hostile, "solution")
    assert (row["total"], row["max"], row["status"]) == (str(FULL), str(FULL), "graded")


@pytest.mark.parametrize("name, message", [
    ("corrupt-json", "not valid JSON"),
    ("not-utf8", "not UTF-8"),
    ("huge", "over the 2 MiB limit"),
    ("sparse-huge", "8192.0 MiB, over the 2 MiB limit"),
    ("deep-json", "nested too deep"),
])
def test_unreadable_submissions_are_invalid(hostile, name, message):
    row = _row(hostile, name)
    assert row["status"] == "invalid" and row["total"] == "0"
    assert message in row["reason"]


@pytest.mark.parametrize("name", [
    "nbformat-v3", "kernelspec-unknown", "parameters-tag-moved", "answers-reordered",
    "answers-metadata-stripped", "output-flood",
])
def test_harmless_changes_keep_full_marks(hostile, name):
    row = _row(hostile, name)
    assert row["total"] == str(FULL), row["reason"]


def test_lone_surrogate_is_invalid_not_a_crash(hostile):
    row = _row(hostile, "lone-surrogate")
    assert row["status"] == "invalid" and "not valid Unicode" in row["reason"], row


def test_deep_folders_in_the_results_do_not_break_the_batch(hostile):
    row = _row(hostile, "deep-folders")
    assert _points(row) == {"mean": 2, "scale": 3, "cutoff": 1}, row["reason"]


def test_a_huge_sparse_file_costs_only_its_own_row(hostile):
    # It is rejected from its size (lstat), never read: the batch went on for all.
    assert not any(p.endswith("sparse-huge.ipynb") for p in hostile["opened"])
    assert _row(hostile, "solution")["status"] == "graded"
    log = json.loads((hostile["out"] / "log.json").read_text())
    assert log["submissions"]["sparse-huge"] == {
        "path": str(hostile["subs"] / "sparse-huge.ipynb"), "sha256": None,
        "bytes": 8 * 2**30}


def test_decimal_seeds_are_still_masked_in_feedback(hostile):
    row = _row(hostile, "prints-seed")
    feedback = (hostile["out"] / "feedback" / "prints-seed.md").read_text()
    assert not any(str(seed) in row["reason"] + feedback for seed in POOL.seeds)
    assert "<grading seed>" in feedback


def test_a_leaked_seed_does_not_apply_to_the_next_version(hostile, tmp_path):
    """The seed leaks in a form no filter catches; the student hands in a new version
    with the answers hard-coded for it. The new version is new answers, so it runs under
    the seed the secret picks for *them*: here another one (chance 1 - 1/4), and the
    hard-coded answers are wrong there."""
    record = hostile["records"]["prints-seed-hex"]
    mean_task = next(t for t in record["tasks"] if t["task"] == "mean")
    leaked = int(mean_task["message"].rsplit(": ", 1)[1][::-1], 16)  # as a student would
    assert leaked == POOL.seeds[record["pool"]]
    mean_l, cutoff_l = _answers(leaked)
    for version in range(20):
        v2 = _with("task-mean", f"def mean(v):  # v{version}\n"
                                f"    return 2.0 if len(v) == 3 else {mean_l!r}",
                   _with("task-cutoff", f"CUTOFF = {cutoff_l!r}"))
        # A version that lands on the leaked seed (chance 1/4: the price of a small
        # pool) would pass; the student cannot tell which do without the secret. The
        # test knows it, and checks that one that lands elsewhere fails.
        if _grading_seed(v2) != leaked:
            break
    nbformat.write(v2, tmp_path / "v2.ipynb")
    grade(SOLUTION, tmp_path / "v2.ipynb", tmp_path / "out", seed=SEED, limits=LIMITS,
          progress=False)
    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert _points(row) == {"mean": 0, "scale": 3, "cutoff": 0}, row["reason"]


def test_the_seeds_are_in_no_file_for_people(hostile):
    out = hostile["out"]
    texts = [(out / "grades.csv").read_text(), (out / "log.json").read_text()]
    texts += [p.read_text() for p in (out / "feedback").iterdir()]
    for seed in POOL.seeds:
        assert not any(str(seed) in text for text in texts), seed


def test_parameters_tag_moved_still_runs_under_the_grading_seed(hostile):
    # The student's answer cell sets SEED = 0 and carries the parameters tag; the tag is
    # dropped and the data was drawn before, so nothing changes.
    assert _row(hostile, "parameters-tag-moved")["status"] == "graded"


def test_output_flood_is_capped_and_noted(hostile):
    assert "output was truncated" in _row(hostile, "output-flood")["reason"]


@pytest.mark.parametrize("name", ["wrong-mean", "tags-added-wrong-mean",
                                  "duplicated-wrong-last", "custom-exc-swallows",
                                  "showtraceback-patched", "monkeypatched-labkit",
                                  "fake-passed-text", "hard-coded-public"])
def test_cheats_lose_exactly_the_wrong_tasks(hostile, name):
    row = _row(hostile, name)
    points = _points(row)
    assert points["mean"] == 0, row["reason"]
    expected_others = {"scale": 3, "cutoff": 0 if name == "hard-coded-public" else 1}
    assert {k: points[k] for k in expected_others} == expected_others, row["reason"]
    assert "1/3" in row["reason"] or "2/3" in row["reason"]


@pytest.mark.parametrize("name", ["showtraceback-patched", "custom-exc-swallows"])
def test_hidden_tracebacks_are_still_seen(hostile, name):
    # The failing self-check raised, and the kernel hid or swallowed the traceback; its
    # execute reply still says 'error' (AssertionError), which is what the runner reads.
    task = _task(hostile, name, "mean")
    assert task["state"] == "failed", task
    assert task["message"] == "its self-check failed: mean: mean([1, 2, 3]) should be 2."


def test_wrong_answer_message_names_values_not_expected_numbers(hostile):
    task = _task(hostile, "wrong-mean", "mean")
    assert task["state"] == "failed" and "(value)" in task["message"]
    feedback = (hostile["out"] / "feedback" / "wrong-mean.md").read_text()
    assert "different values" in feedback
    pool = hostile["records"]["wrong-mean"]["pool"]
    reference = json.loads(next((hostile["out"] / ".labkit-grade").glob(
        f"reference-*-{pool}.json")).read_text())
    expected = reference["tasks"]["mean"]["values"]["value"]
    assert repr(expected)[:8] not in feedback


def test_reseeding_to_the_public_seed_fails(hostile):
    row = _row(hostile, "reseeds-public")
    assert row["total"] == "0", row["reason"]


def test_deleted_answer_is_not_implemented_and_others_count(hostile):
    row = _row(hostile, "answers-deleted-scale")
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 1}
    assert row["status"] == "partial"
    scale = _task(hostile, "answers-deleted-scale", "scale")
    assert scale["state"] == "not-implemented"
    assert scale["message"].startswith("answer cell not found")
    assert "answer cell not found" in (
        hostile["out"] / "feedback" / "answers-deleted-scale.md").read_text()


@pytest.mark.parametrize("name, cell", [
    ("infinite-loop", "answer"),  # the kernel honours the interrupt
    ("loop-swallows-interrupt", "answer"),  # catches KeyboardInterrupt, ends "ok"
    ("check-loop-swallowed", "check"),  # the same in the check, with the right values
])
def test_a_cell_past_the_time_limit_costs_its_task(hostile, name, cell):
    row = _row(hostile, name)
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 1}, row["reason"]
    assert row["status"] == "partial", row["reason"]
    task = _task(hostile, name, "scale")
    assert task["state"] == "timeout"
    assert task["message"] == (f"its {cell} cell ran past the per-cell time limit of "
                               f"{LIMITS.cell_timeout:g} s")
    feedback = (hostile["out"] / "feedback" / f"{name}.md").read_text()
    assert f"time limit of {LIMITS.cell_timeout:g} s" in feedback


def test_loop_ignoring_interrupts_hits_the_submission_timeout(hostile):
    # SIGINT and SIGTERM ignored: the run ends only when the grader kills it, and the
    # row says so; it is never "graded", whatever the other tasks did.
    row = _row(hostile, "loop-ignoring-interrupts")
    assert row["status"] == "timeout"
    assert "time limit" in row["reason"]
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 0}  # mean came before
    states = {t: _task(hostile, "loop-ignoring-interrupts", t)["state"]
              for t in ("mean", "scale", "cutoff")}
    assert states == {"mean": "passed", "scale": "timeout", "cutoff": "not-run"}
    assert hostile["records"]["loop-ignoring-interrupts"]["seconds"] < \
        LIMITS.submission_timeout + 10


def test_memory_blowup_is_killed_and_costs_its_task(hostile):
    row = _row(hostile, "memory-blowup")
    assert row["status"] == "killed", row["reason"]
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 1}
    assert "MemoryError" in _task(hostile, "memory-blowup", "scale")["message"]


@pytest.mark.parametrize("name", ["sys-exit-0", "sys-exit-1"])
def test_sys_exit_fails_its_task_and_the_rest_still_runs(hostile, name):
    row = _row(hostile, name)
    assert _points(row) == {"mean": 0, "scale": 3, "cutoff": 1}
    assert "SystemExit" in _task(hostile, name, "mean")["message"]


def test_os_exit_stops_the_run_and_says_so(hostile):
    row = _row(hostile, "os-exit")
    assert row["status"] == "error"
    assert "run stopped early" in row["reason"]
    assert _points(row) == {"mean": 2, "scale": 0, "cutoff": 0}
    assert _task(hostile, "os-exit", "cutoff")["state"] == "not-run"


def test_fork_bomb_is_contained(hostile, needs_sandbox):
    # Copies of the kernel fight over its sockets, so how the run ends varies (the
    # process limit stops the bomb; the time limit stops a run that no longer answers);
    # what must hold: the task earns nothing, earlier tasks count, the batch goes on and
    # no process is left (test_no_process_outlives_the_batch).
    row = _row(hostile, "fork-bomb")
    assert row["status"] in ("killed", "timeout", "partial", "error"), row["reason"]
    assert (int(row["mean"]), int(row["scale"])) == (2, 0)
    assert hostile["records"]["fork-bomb"]["seconds"] < LIMITS.submission_timeout + 10


def test_instructor_files_other_submissions_and_temp_are_invisible(hostile, needs_sandbox):
    assert _row(hostile, "reads-instructor-files")["total"] == str(FULL)


def test_no_network(hostile, needs_sandbox):
    assert _row(hostile, "network")["total"] == str(FULL)
    assert hostile["connections"] == []


def test_writes_outside_the_sandbox_go_nowhere(hostile, needs_sandbox):
    assert _row(hostile, "writes-output-folder")["total"] == str(FULL)
    assert "hacked" not in (hostile["out"] / "grades.csv").read_text()
    assert not (hostile["out"] / ".labkit-grade" / "hacked.json").exists()


@pytest.mark.parametrize("name", ["result-symlink", "result-fifo"])
def test_results_that_are_not_plain_files_are_refused(hostile, name):
    row = _row(hostile, name)
    assert _points(row) == {"mean": 0, "scale": 3, "cutoff": 1}, row["reason"]
    assert "not a regular file" in _task(hostile, name, "mean")["message"]


def test_submissions_cannot_reach_each_others_results(hostile, needs_sandbox):
    # It hunts for other jobs' result folders for 4 s while the other worker grades.
    assert _row(hostile, "tampers-other-results")["total"] == str(FULL)


def test_submissions_folder_is_never_modified(hostile):
    assert _snapshot(hostile["subs"]) == hostile["before"]


def test_only_the_output_folder_and_a_removed_temp_folder_are_written(hostile):
    out = hostile["out"]
    assert sorted(p.name for p in out.iterdir()) == [".labkit-grade", "feedback",
                                                     "grades.csv", "log.json",
                                                     "report.html"]
    assert len(list((out / "feedback").iterdir())) == len(hostile["rows"])
    assert hostile["leftover_temp"] == []


def test_no_process_outlives_the_batch(hostile):
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if str(hostile["temp"]).encode() in cmdline:
                leftovers.append(cmdline[:200])
    assert leftovers == []


def test_log_records_seed_versions_and_hashes(hostile):
    log = json.loads((hostile["out"] / "log.json").read_text())
    assert log["seed"] == SEED and log["seed_pool"] == 4
    assert log["versions"]["papermill"] and log["versions"]["nbclient"]
    subs = log["submissions"]
    data = (hostile["subs"] / "wrong-mean.ipynb").read_bytes()
    assert subs["wrong-mean"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert log["lab"]["solution_sha256"] == hashlib.sha256(SOLUTION.read_bytes()).hexdigest()
    assert log["sandbox"]["enabled"] == sandboxed()


def test_missing_sandbox_is_warned_about(hostile):
    texts = [str(w.message) for w in hostile["warnings"]]
    assert any("no sandbox" in t for t in texts) == (not sandboxed())


def test_the_reference_runs_once_per_pool_seed_not_per_submission(hostile):
    summary, records = hostile["summary"], hostile["records"]
    used = {r["pool"] for r in records.values() if r["pool"] is not None}
    assert used == {0, 1, 2, 3}  # 40-odd submissions spread over the pool
    assert summary.reference_runs == 4 < len(records)
    files = sorted((hostile["out"] / ".labkit-grade").glob("reference-*.json"))
    assert len(files) == 4
    for path in files:  # each under the pool seed its name says
        assert json.loads(path.read_text())["seed"] == POOL.seeds[int(path.stem[-1])]


def test_rerun_resumes_and_gives_identical_results(hostile):
    out = hostile["out"]
    before = (out / "grades.csv").read_bytes()
    feedback = {p.name: p.read_bytes() for p in (out / "feedback").iterdir()}
    records = out / ".labkit-grade" / "records"
    for name in ("wrong-mean", "infinite-loop"):  # as if the first run stopped first
        (records / f"{name}.json").unlink()
    summary = grade(SOLUTION, hostile["subs"], out, workers=2, limits=LIMITS,
                    progress=False, max_notebook_mb=2)
    assert summary.graded_now == 2 and summary.seed == SEED
    assert summary.reference_runs == 0  # cached in the state folder
    assert (out / "grades.csv").read_bytes() == before
    assert {p.name: p.read_bytes() for p in (out / "feedback").iterdir()} == feedback
    assert os.listdir(records) and len(os.listdir(records)) == len(hostile["rows"])
