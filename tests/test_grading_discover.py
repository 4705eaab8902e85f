"""Finding and reading submissions without trusting the folder (no kernels).

Links of every kind become invalid rows and their targets are never opened (an audit
hook sees every ``open`` of this process); sizes are checked before reading and reads
are bounded, so a huge sparse file costs only its own row.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from labkit.grading import discover
from labkit.grading.discover import (
    LINK_REASON,
    find_submissions,
    inspect,
    read_submission,
    submissions_folder,
)
from labkit.grading.rebuild import InvalidSubmission

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"

_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event in ("open", "os.scandir", "os.listdir"):
        path = args[0] if args else None
        if isinstance(path, (str, bytes, os.PathLike)):
            _OPENED.append(os.fsdecode(path))


sys.addaudithook(_audit)


class opened_paths:  # noqa: N801 (used as a context manager, like a function)
    """Record every path this process opens (or lists) inside the ``with`` block."""

    def __enter__(self) -> list[str]:
        global _OPENED
        _OPENED = []
        return _OPENED

    def __exit__(self, *exc) -> None:
        global _OPENED
        _OPENED = None


@pytest.fixture
def linked(tmp_path):
    """A submissions folder with every kind of link, and targets that must stay unread."""
    subs, targets = tmp_path / "subs", tmp_path / "targets"
    subs.mkdir()
    targets.mkdir()
    secret = targets / "secret.ipynb"
    secret.write_text("instructor only")
    (targets / "folder").mkdir()
    (targets / "folder" / "lab.ipynb").write_text("{}")
    os.mkfifo(targets / "fifo")  # opening it without O_NONBLOCK would block for ever
    os.symlink(SOLUTION, subs / "to-solution.ipynb")
    os.symlink(secret, subs / "to-file.ipynb")
    os.symlink(targets / "fifo", subs / "to-fifo.ipynb")
    os.symlink(targets / "gone.ipynb", subs / "dangling.ipynb")
    os.symlink(targets / "folder", subs / "folder-link")  # a student folder that is a link
    (subs / "carol").mkdir()  # a notebook that is a link, inside a student's folder
    os.symlink(secret, subs / "carol" / "lab.ipynb")
    (subs / "dave").mkdir()  # a real notebook, and a link to a folder next to it
    (subs / "dave" / "lab.ipynb").write_text("{}")
    os.symlink(targets / "folder", subs / "dave" / "data")
    (subs / "erin" / "deep").mkdir(parents=True)  # a linked folder further down
    os.symlink(targets / "folder", subs / "erin" / "deep" / "more")
    (subs / "fred.ipynb").write_text("{}")  # an ordinary submission
    return subs, targets


def test_every_kind_of_link_is_an_invalid_row_and_never_opened(linked):
    subs, targets = linked
    with opened_paths() as opened:
        found = {s.id: s for s in find_submissions(subs)}
        seen = {name: inspect(sub, 2**20) for name, sub in found.items()}
    assert set(found) == {"to-solution", "to-file", "to-fifo", "dangling", "folder-link",
                          "carol", "dave", "erin", "fred"}
    for name, sub in found.items():
        if name == "fred":
            assert sub.problem == "" and seen[name].sha256 is not None
            continue
        assert sub.path is None and LINK_REASON in sub.problem, (name, sub)
        assert seen[name].sha256 is None and LINK_REASON in seen[name].problem
        with pytest.raises(InvalidSubmission, match="links are not accepted"):
            read_submission(sub, 2**20)
    # Folders are opened one component at a time (relative names): no opened name is a
    # link, and nothing under the targets is reached.
    assert not any(str(targets) in p or str(SOLUTION) in p for p in opened), opened
    links = {"to-solution.ipynb", "to-file.ipynb", "to-fifo.ipynb", "dangling.ipynb",
             "folder-link", "lab.ipynb", "data", "more"}
    assert not any(Path(p).name in links for p in opened), opened


def test_a_link_given_as_the_single_submission_is_invalid(linked, tmp_path):
    subs, _ = linked
    with opened_paths() as opened:
        [sub] = find_submissions(subs / "to-solution.ipynb")
    assert sub.id == "to-solution" and LINK_REASON in sub.problem
    assert opened == []


def test_a_link_to_the_submissions_folder_itself_is_followed(linked, tmp_path):
    subs, _ = linked
    os.symlink(subs, tmp_path / "via-link")
    assert submissions_folder(tmp_path / "via-link") == subs.resolve()
    ids = {s.id for s in find_submissions(tmp_path / "via-link")}
    assert "fred" in ids and "to-solution" in ids


def test_a_notebook_swapped_for_a_link_after_listing_is_refused(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    [sub] = find_submissions(tmp_path)
    (tmp_path / "ann.ipynb").unlink()
    os.symlink(SOLUTION, tmp_path / "ann.ipynb")
    with opened_paths() as opened:
        assert LINK_REASON in inspect(sub, 2**20).problem
        with pytest.raises(InvalidSubmission, match="links are not accepted"):
            read_submission(sub, 2**20)
    assert str(SOLUTION) not in opened


def test_a_student_folder_swapped_for_a_link_after_listing_is_refused(tmp_path):
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "lab.ipynb").write_text("{}")
    [sub] = find_submissions(tmp_path)
    (tmp_path / "bob" / "lab.ipynb").unlink()
    (tmp_path / "bob").rmdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "lab.ipynb").write_text('{"secret": 1}')
    os.symlink(tmp_path / "elsewhere", tmp_path / "bob")
    with pytest.raises(InvalidSubmission):
        read_submission(sub, 2**20)


def test_fifo_and_other_non_files_are_invalid_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.ipynb")
    (tmp_path / "box").mkdir()
    os.mkfifo(tmp_path / "box" / "lab.ipynb")
    found = {s.id: s for s in find_submissions(tmp_path)}
    assert found["pipe"].problem == "not a regular file"
    assert "not a regular file" in found["box"].problem


def test_a_huge_sparse_file_is_rejected_from_its_size_without_being_read(tmp_path,
                                                                          monkeypatch):
    with open(tmp_path / "huge.ipynb", "wb") as handle:
        handle.truncate(16 * 2**30)  # 16 GiB of nothing: sparse, costs no disk
    (tmp_path / "small.ipynb").write_text('{"nbformat": 4}')
    reads = []
    real_read = os.read
    monkeypatch.setattr(discover.os, "read",
                        lambda fd, n: reads.append(n) or real_read(fd, n))
    with opened_paths() as opened:
        found = {s.id: s for s in find_submissions(tmp_path)}
        huge = inspect(found["huge"], 2 * 2**20)
        with pytest.raises(InvalidSubmission, match="16384.0 MiB, over the 2 MiB limit"):
            read_submission(found["huge"], 2 * 2**20)
    assert huge.sha256 is None and "over the 2 MiB limit" in huge.problem
    assert not any(p.endswith("huge.ipynb") for p in opened), opened
    assert reads == []
    assert read_submission(found["small"], 2 * 2**20) == b'{"nbformat": 4}'


def test_reads_are_bounded_even_when_the_size_lies(tmp_path, monkeypatch):
    """A file that grows after fstat (or a size that lies) is still read with a bound."""
    (tmp_path / "grows.ipynb").write_bytes(b"x" * (3 * 2**20))
    [sub] = find_submissions(tmp_path)
    real_fstat = os.fstat

    def lying_fstat(fd):
        info = real_fstat(fd)
        return os.stat_result((*info[:6], 10, *info[7:]))  # st_size = 10

    monkeypatch.setattr(discover.os, "fstat", lying_fstat)
    sub = discover.Submission(sub.id, sub.path, size=10, root=sub.root, parts=sub.parts)
    reads = []
    real_read = os.read
    monkeypatch.setattr(discover.os, "read",
                        lambda fd, n: reads.append(n) or real_read(fd, n))
    assert "over the 1 MiB limit" in inspect(sub, 2**20).problem
    assert sum(reads) <= 2**20 + 1
    reads.clear()
    with pytest.raises(InvalidSubmission, match="over the 1 MiB limit"):
        read_submission(sub, 2**20)
    assert sum(reads) <= 2**20 + 1


def test_folders_with_too_many_entries_or_too_deep_are_invalid(tmp_path, monkeypatch):
    (tmp_path / "many").mkdir()
    for i in range(6):
        (tmp_path / "many" / f"f{i}.txt").write_text("")
    deep = tmp_path / "deep"
    for _ in range(40):
        deep = deep / "d"
    deep.mkdir(parents=True)
    found = {s.id: s for s in find_submissions(tmp_path)}
    assert "nested too deep" in found["deep"].problem
    assert "no notebook" in found["many"].problem
    monkeypatch.setattr(discover, "MAX_FOLDER_ENTRIES", 5)
    found = {s.id: s for s in find_submissions(tmp_path)}
    assert "more than 5 entries" in found["many"].problem


def test_files_and_folders_are_found_as_before(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "bob" / "lab.ipynb").write_text("{}")
    (tmp_path / "bob" / ".ipynb_checkpoints" / "lab-checkpoint.ipynb").write_text("{}")
    (tmp_path / "cy").mkdir()
    (tmp_path / "cy" / "a.ipynb").write_text("{}")
    (tmp_path / "cy" / "b.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".DS_Store").write_text("ignored")
    found = {s.id: s for s in find_submissions(tmp_path)}
    assert set(found) == {"ann", "bob", "cy"}
    assert found["bob"].path.name == "lab.ipynb" and found["bob"].size == 2
    assert found["cy"].path is None and "2 notebooks" in found["cy"].problem


def test_inspect_streams_in_chunks(tmp_path, monkeypatch):
    (tmp_path / "big.ipynb").write_bytes(b"y" * (5 * 2**20 + 3))
    [sub] = find_submissions(tmp_path)
    reads = []
    real_read = os.read
    monkeypatch.setattr(discover.os, "read",
                        lambda fd, n: reads.append(n) or real_read(fd, n))
    import hashlib

    seen = inspect(sub, 8 * 2**20)
    assert seen.sha256 == hashlib.sha256(b"y" * (5 * 2**20 + 3)).hexdigest()
    assert max(reads) <= 2**20
