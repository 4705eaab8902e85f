"""Where the course lives: its root folder, its labs, and its repository address.

The repository URL and branch are set in one place, ``_config.yml`` (the Jupyter Book
configuration, key ``repository``); the authoring tool and the tests read them from
there, so launch buttons, the Colab setup cell and the README never drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Lab", "find_root", "repository", "list_labs", "find_lab", "colab_setup_source",
           "write_book_config"]

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


def repository(root: str | Path) -> tuple[str, str]:
    """Return ``(url, branch)`` of the course repository from ``_config.yml``."""
    import yaml

    config_path = Path(root) / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    repo = config.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch")
    if not url or not branch:
        raise ValueError(f"{config_path} must set repository.url and repository.branch.")
    return str(url).rstrip("/"), str(branch)


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
