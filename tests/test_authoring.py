"""Student versions generated from solutions, and the authoring check."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from labkit import cli
from labkit.authoring import build_course, build_student, check_course
from labkit.course import colab_setup_source, find_lab, repository

CONFIG = "title: T\nrepository:\n  url: https://example.org/org/course\n  branch: main\n"


def _solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("old setup", id="colab-setup")
    setup.metadata["tags"] = ["remove-cell"]
    params = nbformat.v4.new_code_cell("SEED = 0", id="parameters")
    params.metadata["tags"] = ["parameters"]
    answer = nbformat.v4.new_code_cell(
        "def double(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n"
        "    ### END SOLUTION\n\nKEEP = 1", id="task-double")
    answer.metadata["labkit"] = {"task": "double", "points": 2,
                                 "hint": "Return twice the input."}
    answer.outputs = [nbformat.v4.new_output("stream", text="secret output\n")]
    answer.execution_count = 3
    answer.metadata["execution"] = {"iopub.execute_input": "2026-01-01"}
    check = nbformat.v4.new_code_cell("assert double(2) == 4", id="check-double")
    only = nbformat.v4.new_code_cell("print('answer key')", id="key")
    only.metadata["tags"] = ["solution-only"]
    nb.cells = [setup, nbformat.v4.new_markdown_cell("# Lab 01", id="title"), params,
                answer, check, only]
    nb.metadata["papermill"] = {"parameters": {}}
    return nb


COURSE_YML = """\
front: {caption: Start, pages: [book/start]}
parts:
  - key: one
    caption: "Part I: One"
    overview: {file: book/one/index, title: Overview}
    pages: [book/one/demo]
back: []
references: ""
labs:
  - number: "01"
    slug: 01-demo
    title: Demo
    part: one
    section: book/one/demo
    claim: Doubling works.
    figures: {lab01-fig: book/one/demo}
    slips:
      - task: double
        name: triples instead
        replace: [["y = 2 * x", "y = 3 * x"]]
  - number: "02"
    slug: 02-later
    title: Later
    part: one
    claim: Not written yet.
"""
MARKED = ("# Course\n\n<!-- labkit:lab-table:start (generated from course.yml by "
          "`labkit author build`) -->\n<!-- labkit:lab-table:end -->\n")


@pytest.fixture
def course(tmp_path: Path) -> Path:
    (tmp_path / "_config.yml").write_text(CONFIG)
    (tmp_path / "course.yml").write_text(COURSE_YML)
    for page, text in {"book/start": "# Start", "book/one/index": "# One",
                       "book/one/demo": "# Demo\n[lab](../../labs/01-demo.ipynb)\nlab01-fig"
                       }.items():
        (tmp_path / f"{page}.md").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{page}.md").write_text(text)
    (tmp_path / "README.md").write_text(MARKED)
    (tmp_path / "index.md").write_text(MARKED)
    (tmp_path / "solutions").mkdir()
    nbformat.write(_solution(), tmp_path / "solutions" / "01-demo.ipynb")
    return tmp_path


def test_student_version_stubs_answers_and_drops_outputs():
    student = build_student(_solution(), setup_source="new setup")
    sources = {c.id: c.source for c in student.cells}
    assert "key" not in sources, "solution-only cells must be dropped"
    assert sources["colab-setup"] == "new setup"
    answer = sources["task-double"]
    assert "2 * x" not in answer and "SOLUTION" not in answer
    assert '    raise NotImplementedError("Return twice the input.")' in answer
    assert answer.startswith("def double(x):") and answer.endswith("KEEP = 1")
    cell = next(c for c in student.cells if c.id == "task-double")
    assert cell.outputs == [] and cell.execution_count is None
    assert "execution" not in cell.metadata and cell.metadata["labkit"]["points"] == 2
    assert "papermill" not in student.metadata


def test_student_stub_compiles_and_raises():
    answer = next(c for c in build_student(_solution()).cells if c.id == "task-double")
    namespace: dict = {}
    exec(answer.source, namespace)
    with pytest.raises(NotImplementedError, match="Return twice the input"):
        namespace["double"](3)


@pytest.mark.parametrize("source, words", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "never opened"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_malformed_regions_are_reported(source, words):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, id="task-x")]
    with pytest.raises(ValueError, match=words):
        build_student(nb)


def test_build_then_check_passes_and_is_idempotent(course):
    written = build_course(course)
    assert sorted(p.name for p in written) == ["01-demo.ipynb", "01-demo.ipynb", "README.md",
                                               "_toc.yml", "index.md"]
    assert check_course(course) == []
    assert build_course(course) == []  # nothing changes the second time
    solution = nbformat.read(course / "solutions" / "01-demo.ipynb", as_version=4)
    assert solution.cells[0].source == colab_setup_source("https://example.org/org/course",
                                                          "main")


def test_check_finds_stale_leaky_and_dirty_labs(course):
    build_course(course)
    lab = course / "labs" / "01-demo.ipynb"
    student = nbformat.read(lab, as_version=4)
    student.cells[3].source += "\n### BEGIN SOLUTION\n### END SOLUTION"
    student.cells[3].outputs = [nbformat.v4.new_output("stream", text="x")]
    nbformat.write(student, lab)
    shutil.copy(lab, course / "labs" / "02-orphan.ipynb")
    problems = "\n".join(check_course(course))
    assert "leaked" in problems and "carries outputs" in problems and "stale" in problems
    assert "02-orphan" in problems


def test_check_requires_parameters_and_task_metadata(course):
    path = course / "solutions" / "01-demo.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].metadata["tags"] = []
    del nb.cells[3].metadata["labkit"]
    nbformat.write(nb, path)
    problems = "\n".join(check_course(course))
    assert "must be tagged 'parameters'" in problems
    assert "no 'labkit' task metadata" in problems


@pytest.mark.parametrize("points", [True, -1, 0, 2.5, "2", None])
def test_check_rejects_points_the_grader_would_reject(course, points):
    path = course / "solutions" / "01-demo.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].metadata["labkit"]["points"] = points
    nbformat.write(nb, path)
    problems = "\n".join(check_course(course))
    assert "needs 'points', a whole number" in problems


def test_check_requires_a_check_cell_after_each_answer(course):
    path = course / "solutions" / "01-demo.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[4].id = "verify-double"
    nbformat.write(nb, path)
    assert "no check cell with id 'check-double'" in "\n".join(check_course(course))


@pytest.mark.parametrize("hint, words", [
    ("Return it as np.multiply(x, 2).", "spells out code"),
    ("Double it.", "starting with one of"),
    ("Return " + "a" * 200, "characters"),
])
def test_check_enforces_the_hint_policy(course, hint, words):
    path = course / "solutions" / "01-demo.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].metadata["labkit"]["hint"] = hint
    nbformat.write(nb, path)
    assert words in "\n".join(check_course(course))


def test_check_reports_a_corrupt_solution_instead_of_crashing(course):
    (course / "solutions" / "01-demo.ipynb").write_text("{not json")
    problems = check_course(course)
    assert any("not a readable notebook" in p for p in problems), problems


def test_cli_author_commands_exit_codes(course, capsys):
    assert cli.main(["author", "check", "--root", str(course)]) == 1
    assert "missing" in capsys.readouterr().err
    assert cli.main(["author", "build", "--root", str(course)]) == 0
    assert cli.main(["author", "check", "--root", str(course)]) == 0


def test_cli_outside_a_course_says_where_to_run(tmp_path, capsys):
    assert cli.main(["author", "check", "--root", str(tmp_path)]) == 2
    assert "No course found" in capsys.readouterr().err


def test_find_lab_by_number_slug_or_path(course):
    assert find_lab(course, "1").slug == "01-demo"
    assert find_lab(course, "01-demo").number == "01"
    assert find_lab(course, "solutions/01-demo.ipynb").number == "01"
    with pytest.raises(LookupError, match="known labs: 01-demo"):
        find_lab(course, "07")


def test_repository_comes_from_config(course):
    assert repository(course) == ("https://example.org/org/course", "main")
    (course / "_config.yml").write_text("title: T\n")
    with pytest.raises(ValueError, match="repository.url"):
        repository(course)


def test_book_config_copy_overrides_execution_and_absolutises_extensions(course, tmp_path):
    import yaml

    from labkit.course import write_book_config

    (course / "_config.yml").write_text(
        CONFIG + "sphinx:\n  local_extensions:\n    ext: book/_ext\n")
    dest = write_book_config(course, tmp_path / "copy.yml", execute_notebooks="off")
    config = yaml.safe_load(dest.read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["sphinx"]["local_extensions"]["ext"] == str(course.resolve() / "book/_ext")
    assert "execute" not in yaml.safe_load((course / "_config.yml").read_text())


def test_build_generates_the_toc_and_lab_tables_from_the_course_file(course):
    build_course(course)
    toc = (course / "_toc.yml").read_text()
    assert "labs/01-demo" in toc and "solutions/01-demo" in toc
    assert "02-later" not in toc, "a lab without a solution is not in the book yet"
    readme = (course / "README.md").read_text()
    assert "labs/01-demo.ipynb" in readme and "Later *(coming)*" in readme
    assert check_course(course) == []
    (course / "_toc.yml").write_text(toc.replace("labs/01-demo", "labs/01-gone"))
    assert any("_toc.yml: stale" in p for p in check_course(course))


def test_check_finds_a_lab_missing_from_the_course_file(course):
    build_course(course)
    shutil.copy(course / "solutions" / "01-demo.ipynb", course / "solutions" / "03-extra.ipynb")
    assert any("no entry for lab 03" in p for p in check_course(course))


def test_check_finds_a_section_that_forgets_the_lab_or_its_figure(course):
    build_course(course)
    (course / "book" / "one" / "demo.md").write_text("# Demo without links")
    problems = "\n".join(check_course(course))
    assert "does not link the lab" in problems and "does not paste figure" in problems


def test_a_slip_is_applied_to_its_answer_cell_only(course):
    from labkit.course import load_course

    slip = load_course(course).lab("01").slips[0]
    solution = nbformat.read(course / "solutions" / "01-demo.ipynb", as_version=4)
    wrong = slip.apply(solution)
    assert "y = 3 * x" in next(c for c in wrong.cells if c.id == "task-double").source
    assert "y = 2 * x" in next(c for c in solution.cells if c.id == "task-double").source
    solution.cells[3].source = "def double(x):\n    return x + x"
    with pytest.raises(ValueError, match="update the slip"):
        slip.apply(solution)


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("part: one\n    section", "part: two\n    section"), "is not one of"),
    (lambda t: t.replace("slug: 01-demo", "slug: 1-demo"), "must look like"),
    (lambda t: t.replace('replace: [["y = 2 * x", "y = 3 * x"]]', "replace: oops"),
     "wrong type"),
    (lambda t: t + "  - {number: '02', slug: 02-x, title: X, part: one}\n", "unique"),
])
def test_a_malformed_course_file_is_named(course, edit, words):
    from labkit.course import load_course

    path = course / "course.yml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(ValueError, match=words):
        load_course(course)


def test_a_fix_task_gives_the_learner_the_buggy_code():
    nb = _solution()
    answer = nb.cells[3]
    answer.source = ("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                     "    ### END SOLUTION\n    ### BEGIN STUDENT\n    # return 2 + x\n"
                     "    ### END STUDENT")
    answer.metadata["labkit"].update(kind="fix", hint="Fix the doubling.")
    student = next(c for c in build_student(nb).cells if c.id == "task-double").source
    assert student == "def double(x):\n    # Fix the doubling.\n    return 2 + x"
    namespace: dict = {}
    exec(answer.source, namespace)
    assert namespace["double"](3) == 6, "the solution runs without the commented bug"


def test_a_student_region_must_be_commented_out_and_match_the_kind(course):
    path = course / "solutions" / "01-demo.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].source += "\n### BEGIN STUDENT\nKEEP = 2\n### END STUDENT"
    with pytest.raises(ValueError, match="not commented out"):
        build_student(nb)
    nb.cells[3].source = nb.cells[3].source.replace("KEEP = 2", "# KEEP = 2")
    nbformat.write(nb, path)
    assert "belongs to a task of kind 'fix'" in "\n".join(check_course(course))
