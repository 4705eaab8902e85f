"""Where the course lives: its root folder, its labs, and its repository address.

The repository URL and branch are set in one place, ``_config.yml`` (the Jupyter Book
configuration, key ``repository``); the authoring tool and the tests read them from
there, so launch buttons, the Colab setup cell and the README never drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["COURSE_FILE", "Course", "Lab", "LabInfo", "PartInfo", "Slip", "colab_setup_source",
           "course_problems", "find_lab", "find_root", "generated_files", "launch_links",
           "list_labs", "load_course", "release", "render_lab_table", "render_toc",
           "repository", "write_book_config", "write_generated"]

_LAB_FILE = re.compile(r"^(\d\d)-[a-z0-9-]+\.ipynb$")


@dataclass(frozen=True)
class Lab:
    """One lab: its two-digit number, slug and the paths of its two notebooks."""

    number: str
    slug: str
    solution: Path
    student: Path


def find_root(start: str | Path | None = None) -> Path:
    """Return the course root: the nearest folder at or above ``start`` with ``_config.yml``
    and ``solutions/``.

    Raises
    ------
    FileNotFoundError
        When no such folder exists, with a hint to pass ``--root``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError(
        f"No course found at or above {here}: expected a folder holding _config.yml and "
        "solutions/. Run the command from the course repository or pass --root."
    )


_RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")


def _book_config(root: str | Path) -> tuple[Path, dict[str, Any]]:
    import yaml

    config_path = Path(root) / "_config.yml"
    return config_path, yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}


def release(root: str | Path) -> str | None:
    """Return the course release named in ``_config.yml`` (key ``release``), e.g.
    ``"v0.2.0"``, or ``None`` when the course names none.

    A release is a git tag ``vX.Y.Z`` made by ``make release VERSION=X.Y.Z`` once per
    teaching term: the Colab setup cell installs labkit at that tag and the launch links
    open the labs at that tag, so a lab handed out in week 1 runs the same labkit in week 12.

    Raises
    ------
    ValueError
        When the key is not a tag of the form ``vX.Y.Z``.
    """
    config_path, config = _book_config(root)
    tag = config.get("release")
    if tag is None:
        return None
    if not isinstance(tag, str) or not _RELEASE_TAG.match(tag):
        raise ValueError(f"{config_path}: release must be a tag like 'v1.2.0', got {tag!r}.")
    return tag


def repository(root: str | Path) -> tuple[str, str]:
    """Return ``(url, ref)`` of the course repository from ``_config.yml``: the git ref that
    learners' links and installs point at.

    ``ref`` is the release tag (key ``release``) when the course names one, else
    ``repository.branch``. With a release, ``repository.branch`` must name the same tag
    (``_config.yml`` writes it as the YAML alias ``*release``): Jupyter Book builds the
    book's launch buttons from it, and they must open the same labs as the lab tables and
    install the same labkit as the Colab setup cell.

    Raises
    ------
    ValueError
        When the URL or branch is missing, or the branch and the release disagree.
    """
    config_path, config = _book_config(root)
    repo = config.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch")
    if not url or not branch:
        raise ValueError(f"{config_path} must set repository.url and repository.branch.")
    tag = release(root)
    if tag is not None and str(branch) != tag:
        raise ValueError(f"{config_path}: repository.branch is {branch!r} but the release is "
                         f"{tag!r}; the book's launch buttons use repository.branch, so set "
                         "it to the release (`branch: *release`).")
    return str(url).rstrip("/"), str(tag or branch)


def write_book_config(root: str | Path, dest: str | Path, **execute: object) -> Path:
    """Write a copy of the book's ``_config.yml`` to ``dest``, with ``execute`` overrides.

    Used to build the book elsewhere (tests, benchmarks) without touching the course's
    own configuration, e.g. ``write_book_config(root, tmp / "c.yml",
    execute_notebooks="off")``. Local Sphinx extension folders are made absolute because
    Jupyter Book resolves them against the folder of the config file.
    """
    import yaml

    root = Path(root).resolve()
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    config.setdefault("execute", {}).update(execute)
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, folder in extensions.items():
        extensions[name] = str((root / folder).resolve())
    dest = Path(dest)
    dest.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return dest


def list_labs(root: str | Path) -> list[Lab]:
    """All labs of the course, ordered by number, from the notebooks in ``solutions/``."""
    root = Path(root)
    labs = []
    for path in sorted((root / "solutions").glob("*.ipynb")):
        match = _LAB_FILE.match(path.name)
        if match:
            labs.append(Lab(match.group(1), path.stem, path, root / "labs" / path.name))
    return labs


def find_lab(root: str | Path, key: str) -> Lab:
    """Find a lab by number (``"1"``, ``"01"``), slug (``"01-metrics"``) or notebook path."""
    labs = list_labs(root)
    key = str(key)
    wanted = Path(key).stem if key.endswith(".ipynb") else key
    for lab in labs:
        same_number = wanted.isdigit() and int(wanted) == int(lab.number)
        if wanted in (lab.slug, lab.number) or same_number:
            return lab
    known = ", ".join(lab.slug for lab in labs) or "none"
    raise LookupError(f"No lab {key!r} in {Path(root) / 'solutions'}; known labs: {known}.")


def colab_setup_source(url: str, ref: str) -> str:
    """Source of the setup cell that installs labkit in Colab and does nothing elsewhere.

    ``ref`` is what :func:`repository` returns: the course's release tag, so that a lab
    installs the labkit of the term it was handed out in, whenever it is opened.
    The distribution is ``dmls-labkit`` because PyPI's ``labkit`` is another project.
    Packages Colab already has (numpy, pandas, scikit-learn, matplotlib, torch) satisfy
    labkit's ranges, so pip installs only labkit itself.
    """
    return (
        "# Colab only: install labkit, the course's helper package, from the course repository.\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "dmls-labkit @ git+{url}@{ref}"'
    )


# --------------------------------------------------------------------------- course file

#: The course file: per-lab facts and the book's structure (see its header comment).
COURSE_FILE = "course.yml"
#: Markers around the generated lab tables in README.md and index.md.
TABLE_START = "<!-- labkit:lab-table:start (generated from course.yml by `labkit author build`) -->"
TABLE_END = "<!-- labkit:lab-table:end -->"


@dataclass(frozen=True)
class Slip:
    """A plausible slip in one task's answer, as text replacements in the solution."""

    task: str
    name: str
    replace: tuple[tuple[str, str], ...]

    def apply(self, solution: Any) -> Any:
        """A copy of ``solution`` with this slip made in the task's answer cell.

        Raises
        ------
        ValueError
            When the text to replace is not in the answer cell (the solution changed
            and the slip in course.yml must follow).
        """
        import copy

        from .contract import answer_id

        nb = copy.deepcopy(solution)
        cell = next((c for c in nb.cells if c.get("id") == answer_id(self.task)), None)
        if cell is None:
            raise ValueError(f"slip {self.name!r}: no answer cell {answer_id(self.task)!r}.")
        for old, new in self.replace:
            if old not in cell.source:
                raise ValueError(f"slip {self.name!r}: {old!r} is not in the answer cell of "
                                 f"{self.task!r}; update the slip in {COURSE_FILE}.")
            cell.source = cell.source.replace(old, new)
        return nb


@dataclass(frozen=True)
class LabInfo:
    """What the course file says about one lab."""

    number: str
    slug: str
    title: str
    part: str
    claim: str
    section: str | None = None
    runtime_s: float | None = None
    peak_mb: float | None = None
    figures: dict[str, str] = field(default_factory=dict)
    slips: tuple[Slip, ...] = ()

    def solution(self, root: str | Path) -> Path:
        """Path of the solution notebook."""
        return Path(root) / "solutions" / f"{self.slug}.ipynb"

    def student(self, root: str | Path) -> Path:
        """Path of the student lab."""
        return Path(root) / "labs" / f"{self.slug}.ipynb"

    def available(self, root: str | Path) -> bool:
        """Whether the lab exists yet (its solution is in ``solutions/``)."""
        return self.solution(root).is_file()


@dataclass(frozen=True)
class PartInfo:
    """A part of the book: its caption, overview page and chapter pages."""

    key: str
    caption: str
    overview: str
    overview_title: str
    summary: str
    pages: tuple[str, ...]


@dataclass(frozen=True)
class Course:
    """The parsed course file."""

    front_caption: str
    front: tuple[str, ...]
    parts: tuple[PartInfo, ...]
    back: tuple[tuple[str, tuple[str, ...]], ...]
    references: str
    labs: tuple[LabInfo, ...]

    def lab(self, number: str) -> LabInfo:
        """The lab with this two-digit number."""
        for lab in self.labs:
            if lab.number == number:
                return lab
        raise LookupError(f"no lab {number!r} in {COURSE_FILE}")


def _need(mapping: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ValueError(f"{COURSE_FILE}: {where} needs {key!r}.")
    value = mapping[key]
    if not isinstance(value, kind):
        raise ValueError(f"{COURSE_FILE}: {where}: {key!r} has the wrong type "
                         f"({type(value).__name__}).")
    return value


def load_course(root: str | Path) -> Course:
    """Read and validate ``course.yml`` of the course at ``root``.

    Raises
    ------
    FileNotFoundError
        When the course has no course file.
    ValueError
        Naming the entry that is malformed.
    """
    import yaml

    path = Path(root) / COURSE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No {COURSE_FILE} in {root}: the course file lists the "
                                "labs and the book's parts.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    front = _need(data, "front", dict, "the top level")
    parts = []
    for i, part in enumerate(_need(data, "parts", list, "the top level")):
        where = f"part {i + 1}"
        overview = _need(part, "overview", dict, where)
        parts.append(PartInfo(
            _need(part, "key", str, where), _need(part, "caption", str, where),
            _need(overview, "file", str, where), _need(overview, "title", str, where),
            str(part.get("summary", "")), tuple(_need(part, "pages", list, where))))
    keys = [p.key for p in parts]
    labs = []
    for entry in _need(data, "labs", list, "the top level"):
        number = _need(entry, "number", str, "a lab")
        where = f"lab {number}"
        slug = _need(entry, "slug", str, where)
        if not _LAB_FILE.match(slug + ".ipynb") or not slug.startswith(number + "-"):
            raise ValueError(f"{COURSE_FILE}: {where}: slug {slug!r} must look like "
                             f"'{number}-some-words'.")
        part = _need(entry, "part", str, where)
        if part not in keys:
            raise ValueError(f"{COURSE_FILE}: {where}: part {part!r} is not one of {keys}.")
        slips = []
        for slip in entry.get("slips") or []:
            replace = _need(slip, "replace", list, f"{where}, a slip")
            if not replace or not all(isinstance(r, list) and len(r) == 2 and
                                      all(isinstance(t, str) for t in r) for r in replace):
                raise ValueError(f"{COURSE_FILE}: {where}: a slip's 'replace' is a list of "
                                 "[old, new] text pairs.")
            slips.append(Slip(_need(slip, "task", str, f"{where}, a slip"),
                              _need(slip, "name", str, f"{where}, a slip"),
                              tuple((old, new) for old, new in replace)))
        names = [s.name for s in slips]
        if len(set(names)) != len(names):
            raise ValueError(f"{COURSE_FILE}: {where}: two slips share a name.")
        labs.append(LabInfo(number, slug, _need(entry, "title", str, where), part,
                            " ".join(str(entry.get("claim", "")).split()),
                            entry.get("section"), entry.get("runtime_s"),
                            entry.get("peak_mb"), dict(entry.get("figures") or {}),
                            tuple(slips)))
    numbers = [lab.number for lab in labs]
    if numbers != sorted(set(numbers)):
        raise ValueError(f"{COURSE_FILE}: lab numbers must be unique and in order, got "
                         f"{numbers}.")
    back = tuple((_need(b, "caption", str, "a back section"),
                  tuple(_need(b, "pages", list, "a back section")))
                 for b in data.get("back") or [])
    return Course(_need(front, "caption", str, "front"),
                  tuple(_need(front, "pages", list, "front")), tuple(parts), back,
                  str(data.get("references", "")), tuple(labs))


def render_toc(course: Course, root: str | Path) -> str:
    """The text of ``_toc.yml``: the front pages, each part with its available labs as
    sections of its overview, the solutions, and the back matter."""
    import yaml

    toc: dict[str, Any] = {"format": "jb-book", "root": "index", "parts": [
        {"caption": course.front_caption, "chapters": [{"file": f} for f in course.front]}]}
    for part in course.parts:
        sections = [{"file": f} for f in part.pages]
        sections += [{"file": f"labs/{lab.slug}"} for lab in course.labs
                     if lab.part == part.key and lab.available(root)]
        chapter: dict[str, Any] = {"file": part.overview, "title": part.overview_title}
        if sections:
            chapter["sections"] = sections
        chapters = [chapter]
        if part is course.parts[-1] and course.references:
            chapters.append({"file": course.references})
        toc["parts"].append({"caption": part.caption, "chapters": chapters})
    toc["parts"].append({"caption": "Solutions", "chapters": [
        {"file": f"solutions/{lab.slug}"} for lab in course.labs if lab.available(root)]})
    for caption, pages in course.back:
        toc["parts"].append({"caption": caption, "chapters": [{"file": f} for f in pages]})
    header = ("# Table of contents of the book (Jupyter Book 1.x, external TOC format jb-book).\n"
              "# Generated from course.yml by `labkit author build`: edit course.yml, not this.\n"
              "# Every page listed here is built; nothing else is (only_build_toc_files).\n")
    return header + yaml.safe_dump(toc, sort_keys=False, width=100)


def launch_links(root: str | Path, lab: LabInfo) -> tuple[str, str]:
    """``(colab_url, binder_url)`` of a lab's student notebook at the configured ref."""
    url, ref = repository(root)
    owner_repo = url.removeprefix("https://github.com/")
    path = f"labs/{lab.slug}.ipynb"
    return (f"https://colab.research.google.com/github/{owner_repo}/blob/{ref}/{path}",
            f"https://mybinder.org/v2/gh/{owner_repo}/{ref}?urlpath=lab/tree/{path}")


def _runtime(lab: LabInfo) -> str:
    return f"about {lab.runtime_s:.0f} s" if lab.runtime_s else ""


def render_lab_table(course: Course, root: str | Path, page: str) -> str:
    """The generated lab table of ``README.md`` (``page="readme"``) or ``index.md``."""
    captions = {p.key: p.caption.split(":")[0] for p in course.parts}
    if page == "readme":
        rows = ["| lab | part | what it demonstrates | run time | Colab | Binder |",
                "| --- | --- | --- | --- | --- | --- |"]
    else:
        rows = ["| Lab | Title | What it demonstrates | Run time | Launch |",
                "| --- | --- | --- | --- | --- |"]
    for lab in course.labs:
        if not lab.available(root):
            if page == "readme":
                rows.append(f"| {lab.number} {lab.title} *(coming)* | {captions[lab.part]} | "
                            f"{lab.claim} | | | |")
            else:
                rows.append(f"| {lab.number} | {lab.title} *(coming)* | {lab.claim} | | |")
            continue
        colab, binder = launch_links(root, lab)
        if page == "readme":
            rows.append(f"| {lab.number} {lab.title} | {captions[lab.part]} | {lab.claim} | "
                        f"{_runtime(lab)} | [open in Colab]({colab}) | "
                        f"[open in Binder]({binder}) |")
        else:
            rows.append(f"| {lab.number} | [{lab.title}](labs/{lab.slug}.ipynb) | {lab.claim} "
                        f"| {_runtime(lab)} | [Colab]({colab}) · [Binder]({binder}) |")
    return "\n".join(rows)


def generated_files(root: str | Path) -> dict[Path, str]:
    """Every file generated from the course file, path -> its expected text.

    ``_toc.yml``; the lab tables of ``README.md`` and ``index.md`` (between their
    markers); and in those two files, every ``git+<repository>@<ref>`` install line, which
    names the configured release.

    Raises
    ------
    ValueError
        When README.md or index.md lacks the table markers.
    """
    root = Path(root)
    course = load_course(root)
    out = {root / "_toc.yml": render_toc(course, root)}
    for name, page in (("README.md", "readme"), ("index.md", "index")):
        path = root / name
        text = path.read_text(encoding="utf-8")
        if TABLE_START not in text or TABLE_END not in text:
            raise ValueError(f"{path} needs the lab-table markers {TABLE_START!r} and "
                             f"{TABLE_END!r} around its lab table.")
        head, _, rest = text.partition(TABLE_START)
        _, _, tail = rest.partition(TABLE_END)
        text = (f"{head}{TABLE_START}\n{render_lab_table(course, root, page)}\n"
                f"{TABLE_END}{tail}")
        # Install lines name the release too, so that `make release` keeps them current.
        url, ref = repository(root)
        out[path] = re.sub(re.escape(f"git+{url}@") + r"[\w.\-/]+", f"git+{url}@{ref}", text)
    return out


def course_problems(root: str | Path) -> list[str]:
    """Disagreements between the course file and the notebooks and pages it names."""
    root = Path(root)
    course = load_course(root)
    problems = []
    known = {lab.slug for lab in course.labs}
    for lab in list_labs(root):
        if lab.slug not in known:
            problems.append(f"{lab.solution}: no entry for lab {lab.number} in {COURSE_FILE}.")
    pages = {*course.front, course.references, *(p for _, ps in course.back for p in ps)}
    for part in course.parts:
        pages |= {part.overview, *part.pages}
    for page in sorted(p for p in pages if p):
        if not (root / f"{page}.md").is_file() and not (root / f"{page}.ipynb").is_file():
            problems.append(f"{COURSE_FILE}: page {page!r} does not exist.")
    for lab in course.labs:
        if not lab.available(root):
            continue
        where = f"{COURSE_FILE}: lab {lab.number}"
        for key, page in {"section": lab.section, **{f"figure {k}": v
                                                     for k, v in lab.figures.items()}}.items():
            if page not in pages:
                problems.append(f"{where}: {key} names {page!r}, which is not a page of "
                                "the book.")
        if not lab.slips:
            problems.append(f"{where}: no slips; name the plausible slips of its tasks.")
        if not lab.figures:
            problems.append(f"{where}: no figures; name the glue keys its section pastes.")
        if lab.section and lab.section in pages:
            text = (root / f"{lab.section}.md").read_text(encoding="utf-8") \
                if (root / f"{lab.section}.md").is_file() else ""
            if f"{lab.slug}" not in text:
                problems.append(f"{where}: its section {lab.section} does not link the lab.")
        for key, page in lab.figures.items():
            source = root / f"{page}.md"
            if source.is_file() and key not in source.read_text(encoding="utf-8"):
                problems.append(f"{where}: {page} does not paste figure {key!r}.")
    for path, text in generated_files(root).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: stale; run `labkit author build` (it is generated from "
                            f"{COURSE_FILE}).")
    return problems


def write_generated(root: str | Path) -> list[Path]:
    """Write every file generated from the course file; return those that changed."""
    written = []
    for path, text in generated_files(root).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
