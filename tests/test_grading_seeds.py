"""The grading seeds: a pool derived from a secret, one seed per version of the answers
(no kernels; the end-to-end check is in test_grading_hostile.py)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from pathlib import Path

import nbformat
import pytest

from labkit.contract import public_seed
from labkit.grading.batch import _mask, _secret
from labkit.grading.rebuild import rebuild, tasks_of
from labkit.grading.seeds import SeedPool, answers_digest, new_secret, secret_from_seed

FIXTURE = Path(__file__).parent / "fixtures" / "grading"
SOLUTION = FIXTURE / "solutions" / "90-fixture.ipynb"
TEMPLATE = FIXTURE / "labs" / "90-fixture.ipynb"


def _digests(count: int) -> list[str]:
    return [hashlib.sha256(f"version {i}".encode()).hexdigest() for i in range(count)]


def test_pool_is_reproducible_distinct_and_avoids_the_public_seed():
    pool = SeedPool("seed:7", 8, avoid={0, None})
    assert pool.seeds == SeedPool("seed:7", 8, avoid={0}).seeds
    assert len(set(pool.seeds)) == 8 and 0 not in pool.seeds
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in pool.seeds)
    assert set(pool.seeds).isdisjoint(SeedPool("seed:8", 8).seeds)
    # The public seed is never used, even where the derivation would give it.
    first = SeedPool("seed:7", 1).seeds[0]
    assert SeedPool("seed:7", 1, avoid={first}).seeds[0] != first
    assert "seeds" not in repr(pool) and str(pool.seeds[0]) not in repr(pool)


def test_pool_size_is_validated():
    for size in (0, 65, 2.0, True):
        with pytest.raises(ValueError, match="pool size"):
            SeedPool("s", size)


def test_each_version_of_the_answers_gets_a_seed_of_its_own():
    """What makes a leaked seed useless: the next version of the answers runs under the
    leaked seed only with chance 1/K, and nobody without the secret can tell which."""
    pool = SeedPool(new_secret(), 4)
    digests = _digests(4000)
    picks = [pool.index(d) for d in digests]
    assert [pool.index(d) for d in digests[:50]] == picks[:50]  # deterministic
    shares = [picks.count(i) / len(picks) for i in range(4)]
    assert all(0.2 < share < 0.3 for share in shares), shares
    leaked = picks[0]
    same = sum(p == leaked for p in picks[1:]) / (len(picks) - 1)
    assert 0.2 < same < 0.3, same
    # Another secret picks independently: the same answers land elsewhere.
    other = SeedPool(new_secret(), 4)
    agree = sum(other.index(d) == p for d, p in zip(digests, picks, strict=True))
    assert 0.2 < agree / len(digests) < 0.3
    # A pool of one is the old design: every version gets the seed that leaked.
    single = SeedPool("seed:1", 1)
    assert {single.index(d) for d in digests} == {0}


def test_answers_digest_depends_on_the_answers_only():
    template = nbformat.read(TEMPLATE, as_version=4)
    solution = nbformat.read(SOLUTION, as_version=4)
    tasks = tasks_of(template)
    base = answers_digest(rebuild(template, solution).notebook, tasks)
    other = copy.deepcopy(solution)
    other.cells.reverse()  # order, check cells, metadata: not answers
    next(c for c in other.cells if c.get("id") == "check-mean").source = "pass"
    other.metadata["kernelspec"] = {"name": "x", "display_name": "x", "language": "x"}
    assert answers_digest(rebuild(template, other).notebook, tasks) == base
    changed = copy.deepcopy(solution)
    next(c for c in changed.cells if c.get("id") == "task-mean").source += "\n# v2"
    assert answers_digest(rebuild(template, changed).notebook, tasks) != base


def test_the_secret_is_drawn_once_kept_private_and_survives_a_resume(tmp_path):
    secret, seed = _secret(tmp_path, None)
    assert seed is None and len(bytes.fromhex(secret)) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / "state.json").st_mode)
    assert mode == 0o600
    assert _secret(tmp_path, None) == (secret, None)  # a resume keeps it
    assert _secret(tmp_path, 5) == (secret_from_seed(5), 5)  # --seed replaces it
    assert _secret(tmp_path, None) == (secret_from_seed(5), 5)  # and is kept too
    (tmp_path / "state.json").write_text(json.dumps({"seed": 11}))  # an older grader's
    assert _secret(tmp_path, None) == (secret_from_seed(11), 11)
    assert new_secret() != new_secret()


def test_masking_is_defence_in_depth_for_decimal_seeds():
    record = {"reason": "1/3 tasks passed; mean: raised ValueError: 12345678",
              "tasks": [{"message": "seed 12345678 and 99"}], "notes": {"mean": "12345678"}}
    _mask(record, ["12345678"])
    text = json.dumps(record)
    assert "12345678" not in text and text.count("<grading seed>") == 3
    assert "99" in text


def test_the_fixture_has_a_public_seed_to_avoid():
    assert public_seed(nbformat.read(TEMPLATE, as_version=4)) == 0
