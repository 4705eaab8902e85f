"""Notebooks in git are clean: no run debris in student labs, only reproducible outputs in
solutions.

Student labs (labs/) are what learners download: no outputs, no execution counts, and no
metadata that Colab, Binder, JupyterLab widgets, papermill or an editor leave behind.
Solutions (solutions/) are committed executed, because the book shows their outputs and
nbval compares them: they must come from one clean top-to-bottom run and show nothing that
changes from machine to machine (errors, timings, memory addresses, local paths).

.pre-commit-config.yaml runs nbstripout on labs/ and `labkit author check`, so most of this
is fixed before a commit; these tests catch what slips through.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

# Notebook-level metadata a committed notebook may carry (everything else is debris:
# colab, widgets, papermill, accelerator, gpuClass, vscode, toc, signature, ...).
NOTEBOOK_METADATA = {"kernelspec", "language_info", "jupytext"}
# Cell metadata a student lab may carry. Colab adds 'colab', 'executionInfo', 'outputId',
# 'id'; JupyterLab 'collapsed', 'scrolled', 'jupyter'; nbclient 'execution'; papermill
# 'papermill'; Jupyter extensions 'ExecuteTime'.
LAB_CELL_METADATA = {"tags", "labkit", "editable", "deletable", "slideshow", "mystnb"}
# Cell metadata no committed notebook may carry: records of a run or of an editor, not content.
DEBRIS_CELL_METADATA = {"colab", "executionInfo", "outputId", "id", "execution", "papermill",
                        "ExecuteTime", "collapsed", "scrolled", "jupyter", "vscode", "pycharm",
                        "widgets"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Text that differs between runs or machines.
ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+|\b0x[0-9a-fA-F]{8,}\b")
LOCAL_PATH = re.compile(
    r"(?<![\w.:/])(/tmp/|/root/|/home/|/work/|/Users/|/private/var/|/var/folders/|/opt/"
    r"|[A-Za-z]:\\\\?Users\\)|site-packages|dist-packages")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


def _ids(paths):
    return [p.name for p in paths]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _texts(output) -> list[str]:
    """The human-readable text of one output."""
    kind = output.get("output_type")
    if kind == "stream":
        return [output.get("text", "")]
    if kind == "error":
        return ["\n".join(output.get("traceback", [])), output.get("evalue", "")]
    data = output.get("data", {})
    texts = []
    for mime in TEXT_MIMES:
        value = data.get(mime)
        if value is not None:
            texts.append(value if isinstance(value, str) else str(value))
    return texts


def test_there_are_notebooks():
    assert SOLUTIONS, "no solutions/*.ipynb found"
    assert LABS, "no labs/*.ipynb found: run `labkit author build`"


@pytest.mark.parametrize("path", LABS, ids=_ids(LABS))
def test_student_lab_has_no_outputs_or_counts(path):
    nb = _read(path)
    dirty = [f"cell {c.get('id')}: {len(c.outputs)} outputs, execution_count "
             f"{c.execution_count}"
             for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (f"{path.name} carries outputs or execution counts (run `labkit author "
                       "build`; never edit labs/ by hand):\n" + "\n".join(dirty))
    attachments = [c.get("id") for c in nb.cells if c.get("attachments")]
    assert not attachments, f"{path.name}: cells with pasted attachments {attachments}"


@pytest.mark.parametrize("path", LABS, ids=_ids(LABS))
def test_student_lab_has_no_junk_metadata(path):
    nb = _read(path)
    extra = sorted(set(nb.metadata) - NOTEBOOK_METADATA)
    assert not extra, f"{path.name}: notebook metadata {extra} is not course content"
    junk = [f"cell {c.get('id')}: {sorted(set(c.metadata) - LAB_CELL_METADATA)}"
            for c in nb.cells if set(c.metadata) - LAB_CELL_METADATA]
    assert not junk, (f"{path.name}: cell metadata left by Colab/Jupyter/papermill "
                      "(strip it in the solution and run `labkit author build`):\n"
                      + "\n".join(junk))


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_solution_has_no_run_metadata(path):
    nb = _read(path)
    extra = sorted(set(nb.metadata) - NOTEBOOK_METADATA)
    assert not extra, (f"{path.name}: notebook metadata {extra} records a run or an editor "
                       "(papermill, colab, widgets, ...); remove it")
    junk = [f"cell {c.get('id')}: {sorted(set(c.metadata) & DEBRIS_CELL_METADATA)}"
            for c in nb.cells if set(c.metadata) & DEBRIS_CELL_METADATA]
    assert not junk, (f"{path.name}: cell metadata from a run or an editor (timings, "
                      "papermill, Colab); re-execute with `make execute LAB=NN`:\n"
                      + "\n".join(junk))
    injected = [c.get("id") for c in nb.cells
                if "injected-parameters" in c.metadata.get("tags", [])]
    assert not injected, f"{path.name}: papermill's injected-parameters cells {injected}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_solution_was_executed_once_top_to_bottom(path):
    """Counts 1, 2, 3, ... in cell order: one clean run in a fresh kernel, as nbval repeats."""
    counts = [c.execution_count for c in _read(path).cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(counts)} in order; the stored "
        "outputs do not come from one top-to-bottom run. Run `make execute LAB=NN`.")


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_solution_outputs_are_reproducible(path):
    problems = []
    for cell in _read(path).cells:
        if cell.cell_type != "code":
            continue
        where = f"cell {cell.get('id')}"
        for output in cell.outputs:
            if output.get("output_type") == "error":
                problems.append(f"{where}: an error output ({output.get('ename')})")
            if WIDGET_MIME in output.get("data", {}):
                problems.append(f"{where}: a widget output (its state is not stored)")
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                problems.append(f"{where}: stderr output (a warning?): "
                                f"{output.get('text', '')[:200]!r}")
            for text in _texts(output):
                if match := ADDRESS.search(text):
                    problems.append(f"{where}: a memory address {match.group(0)!r}")
                if match := LOCAL_PATH.search(text):
                    start = max(match.start() - 40, 0)
                    problems.append(f"{where}: a local path {text[start:match.end() + 40]!r}")
    assert not problems, (f"{path.name} stores outputs that change between runs or machines:\n"
                          + "\n".join(problems))


def test_pre_commit_strips_labs_and_checks_the_course():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    strip = [h for h in hooks if h.get("entry", "").startswith("nbstripout")]
    assert any(re.search(h.get("files", ""), "labs/01-metrics.ipynb")
               and "--keep-output" not in h.get("args", []) for h in strip), (
        ".pre-commit-config.yaml has no nbstripout hook that strips outputs from labs/")
    for hook in strip:
        assert "--keep-id" in hook.get("args", []), (
            f"{hook['id']}: nbstripout renumbers cell ids unless --keep-id, and the grader "
            "matches answer cells by id")
        if re.search(hook.get("files", ""), "solutions/01-metrics.ipynb"):
            assert {"--keep-output", "--keep-count"} <= set(hook.get("args", [])), (
                f"{hook['id']} would strip the outputs of solutions/ (committed executed)")
    check = [h for h in hooks if "author check" in h.get("entry", "")
             or "check-labs" in h.get("entry", "")]
    assert check, ".pre-commit-config.yaml has no hook running `labkit author check`"
