"""Build the Jupyter Book and check what a reader gets.

The book is built once per session, warning-free (``-W -n --keep-going``), into a
temporary folder with notebook execution OFF (the ``book_build`` fixture in conftest):
the committed solutions carry their outputs (nbval checks those separately), so this
needs no kernel and takes seconds. Run it with

    pytest -m book tests/test_book.py

The clean and the no-change rebuild times are printed (``-s`` shows them); they are
measured, not asserted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

yaml = pytest.importorskip("yaml")
pytest.importorskip("jupyter_book")

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]


def _jupyter_book() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        pytest.skip("jupyter-book is not installed (pip install -e '.[book]')")
    return [found]


def _toc_files(toc: dict) -> list[str]:
    """Every file of a jb-book TOC, in reading order, without suffix."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def _source_of(docname: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        if (ROOT / (docname + suffix)).exists():
            return ROOT / (docname + suffix)
    return None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.imgs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        elif tag == "img":
            self.imgs.append(attrs)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf8"))
    return parser


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))


@pytest.fixture(scope="module")
def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    return _toc_files(toc)


@pytest.fixture(scope="module")
def built(book_build, toc_files) -> dict:
    missing = [f for f in toc_files if _source_of(f) is None]
    assert not missing, f"pages listed in _toc.yml do not exist: {missing}"
    start = time.perf_counter()
    proc = subprocess.run(book_build["cmd"], capture_output=True, text=True, cwd=ROOT,
                          timeout=900)
    rebuild = time.perf_counter() - start
    relog = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"rebuild failed:\n{relog[-6000:]}"
    timings = {"clean_build_s": round(book_build["seconds"], 2),
               "rebuild_no_change_s": round(rebuild, 2)}
    print(f"\nbook build (execution off): {timings}")
    return {**book_build, "relog": relog, "timings": timings}


def test_build_is_warning_free(built):
    # -W turns every warning into a failure; keep-going would report them all.
    assert "WARNING" not in built["log"].replace("[IPKernelApp] WARNING", "")


def test_rebuild_without_changes_reads_nothing(built):
    assert re.search(r"0 added, 0 changed, 0 removed", built["relog"]), built["relog"][-3000:]


def test_every_toc_page_is_built(built, toc_files):
    for docname in toc_files:
        assert (built["html"] / f"{docname}.html").is_file(), f"{docname}.html was not built"


def _glued_png_names(notebook: Path) -> dict[str, str]:
    """Map each glue key of an executed notebook to the file name myst-nb gives its PNG."""
    nb = json.loads(notebook.read_text(encoding="utf8"))
    names = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            key = output.get("metadata", {}).get("scrapbook", {}).get("name")
            png = next((v for k, v in output.get("data", {}).items()
                        if k.endswith("image/png")), None)
            if key and png:
                payload = base64.b64decode("".join(png) if isinstance(png, list) else png)
                names[key] = hashlib.sha256(payload).hexdigest() + ".png"
    return names


def _figures_by_page() -> dict[str, list[str]]:
    """Page -> glue keys it must paste, from the course file (available labs only)."""
    from labkit.course import load_course

    pages: dict[str, list[str]] = {}
    for lab in load_course(ROOT).labs:
        if lab.available(ROOT):
            for key, page in lab.figures.items():
                pages.setdefault(page, []).append(key)
    return pages


def test_chapter_pages_show_the_lab_figures(built):
    glued = {}
    for notebook in sorted((ROOT / "solutions").glob("*.ipynb")):
        glued.update(_glued_png_names(notebook))
    figures = _figures_by_page()
    assert figures, "course.yml names no figures"
    for docname, keys in figures.items():
        page = built["html"] / f"{docname}.html"
        text = page.read_text(encoding="utf8")
        imgs = [img for img in _parse(page).imgs if "_images/" in (img.get("src") or "")]
        srcs = {Path(img["src"]).name for img in imgs}
        for key in keys:
            assert key in glued, f"no solution notebook glues a PNG figure named {key!r}"
            assert glued[key] in srcs, f"{docname}: figure {key!r} is not on the page"
        for img in imgs:
            assert (page.parent / img["src"]).resolve().is_file(), f"broken image {img['src']}"
            assert img.get("alt"), f"{docname}: a pasted figure has no alt text"
        assert text.count('class="caption"') >= len(keys), f"{docname}: figure captions"


def test_lab_pages_launch_the_student_notebook(built, config, toc_files):
    url = config["repository"]["url"].rstrip("/")
    branch = config["repository"]["branch"]
    owner_repo = urlparse(url).path.strip("/")
    labs = [f for f in toc_files if re.fullmatch(r"labs/\d\d-[\w-]+", f)]
    assert labs, "no lab page in the TOC"
    for docname in labs:
        hrefs = _parse(built["html"] / f"{docname}.html").hrefs
        colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/")]
        binder = [h for h in hrefs if h.startswith("https://mybinder.org/")]
        expected = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}"
        assert f"{expected}/{docname}.ipynb" in colab, colab
        assert binder, f"{docname}: no Binder link"
        for link in binder:
            parsed = urlparse(link)
            assert parsed.path == f"/v2/gh/{owner_repo}/{branch}", link
            assert parse_qs(parsed.query)["urlpath"] == [f"lab/tree/{docname}.ipynb"], link


def test_lab_stubs_are_never_executed(config):
    # Student versions raise NotImplementedError in their stubs.
    patterns = config["execute"].get("exclude_patterns", [])
    assert any(p.startswith("labs/") for p in patterns), patterns


# A 1x1 transparent PNG: enough for myst-nb to treat the output as an image.
_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8"
        "AAAAASUVORK5CYII=")


def _tiny_book(folder: Path, key: str) -> Path:
    """A two-page book whose page pastes glue key `key` from a notebook that glues 'fig'."""
    nbformat = pytest.importorskip("nbformat")
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    folder.mkdir(parents=True, exist_ok=True)
    cell = new_code_cell("glue('fig', fig)")
    cell.outputs = [new_output("display_data", data={"image/png": _PNG, "text/plain": "<Figure>"},
                               metadata={"scrapbook": {"name": "fig", "mime_prefix": ""}})]
    nb = new_notebook(cells=[nbformat.v4.new_markdown_cell("# Notebook"), cell],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nbformat.write(nb, folder / "nb.ipynb")
    (folder / "index.md").write_text(
        "# Page\n\n```{glue:figure} nb.ipynb::" + key + "\n:name: fig-x\n\nA caption.\n```\n",
        encoding="utf8")
    (folder / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n  - file: nb\n", encoding="utf8")
    ext = (ROOT / "book" / "_ext").resolve()
    (folder / "_config.yml").write_text(
        "title: t\nexecute:\n  execute_notebooks: 'off'\n"
        f"sphinx:\n  local_extensions:\n    crossglue: {ext}\n", encoding="utf8")
    return folder


@pytest.mark.parametrize("key, ok", [("fig", True), ("no-such-key", False)])
def test_cross_document_glue_figure(tmp_path, key, ok):
    """`{glue:figure} other.ipynb::key` pastes the image, and a wrong key fails -W."""
    book = _tiny_book(tmp_path / "src", key)
    cmd = _jupyter_book() + ["build", str(book), "--path-output", str(tmp_path / "out"),
                             "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    if ok:
        assert proc.returncode == 0, log[-4000:]
        page = tmp_path / "out" / "_build" / "html" / "index.html"
        imgs = [i for i in _parse(page).imgs if "_images/" in (i.get("src") or "")]
        assert len(imgs) == 1 and imgs[0].get("alt") == "A caption.", imgs
        assert (page.parent / imgs[0]["src"]).is_file()
    else:
        assert proc.returncode != 0
        assert "no-such-key" in log and "not found" in log, log[-4000:]
