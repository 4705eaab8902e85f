"""Grading seeds: a small pool derived from a secret, one picked per submission's answers.

A submission's code can always find out the ``SEED`` it runs under and print it, in
another base or rearranged, where no text filter recognises it. So the grader does not
rely on hiding the seed; it makes a leaked seed useless:

* The grading **secret** is a random 256-bit key drawn once per output folder and kept
  in its private state folder (or derived from ``--seed`` when the instructor gives one).
* From it, a **pool** of ``K`` grading seeds: ``seed_i = HMAC-SHA256(secret, "pool/i")``,
  reduced to ``[0, 2**31)``, distinct and never the notebook's public ``SEED``.
* Each submission runs under ``seed_j`` with ``j = HMAC-SHA256(secret, h) mod K``, where
  ``h`` is the SHA-256 of its answer-cell sources. Without the secret nobody can tell
  which seed a version of the answers will get; a new version (answers that hard-code
  the values for a seed that leaked) is a new ``h``, and lands on the leaked seed only
  with chance ``1/K``. The same answers always get the same seed, so a resumed run and
  two students with identical answers see identical data.

The reference solution runs once per pool seed that some submission needs (lazily, at
most ``K`` runs, cached in the state folder), never once per submission. A larger pool
makes the leaked seed's chance ``1/K`` smaller and a whole pool harder to collect, at
the price of up to ``K`` reference runs per lab and output folder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from typing import Any

__all__ = ["POOL_SIZE", "SeedPool", "answers_digest", "new_secret", "secret_from_seed"]

#: Default number of grading seeds per output folder.
POOL_SIZE = 4
#: Largest pool: each seed can cost one run of the reference solution.
MAX_POOL_SIZE = 64
_SEED_RANGE = 2**31


def new_secret() -> str:
    """A fresh random grading secret (256 bits, hex)."""
    return secrets.token_hex(32)


def secret_from_seed(seed: int) -> str:
    """The grading secret for an instructor's ``--seed`` (reproducible, and only as hard
    to guess as the number is).

    Examples
    --------
    >>> secret_from_seed(7)
    'seed:7'
    """
    return f"seed:{seed}"


def _mac(secret: str, message: bytes) -> int:
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


class SeedPool:
    """The ``size`` grading seeds derived from ``secret``, avoiding the seeds in ``avoid``.

    Examples
    --------
    >>> pool = SeedPool("seed:7", 4, avoid={0})
    >>> len(set(pool.seeds)), all(0 < s < 2**31 for s in pool.seeds)
    (4, True)
    >>> pool.seeds == SeedPool("seed:7", 4, avoid={0}).seeds  # reproducible
    True
    >>> pool.index("ab" * 32) == pool.index("ab" * 32) and 0 <= pool.index("cd" * 32) < 4
    True
    """

    def __init__(self, secret: str, size: int = POOL_SIZE,
                 avoid: Iterable[int | None] = ()) -> None:
        if not isinstance(size, int) or isinstance(size, bool) \
                or not 1 <= size <= MAX_POOL_SIZE:
            raise ValueError(f"the seed pool size must be a whole number from 1 to "
                             f"{MAX_POOL_SIZE}, got {size!r}")
        self._secret = secret
        excluded = {s for s in avoid if s is not None}
        seeds: list[int] = []
        counter = 0
        while len(seeds) < size:
            seed = _mac(secret, f"labkit-grade/pool/{counter}".encode()) % _SEED_RANGE
            counter += 1
            if seed not in excluded and seed not in seeds:
                seeds.append(seed)
        self.seeds: tuple[int, ...] = tuple(seeds)

    @property
    def size(self) -> int:
        """Number of seeds in the pool."""
        return len(self.seeds)

    def index(self, digest: str) -> int:
        """Which pool seed a submission with answers ``digest`` runs under."""
        return _mac(self._secret, b"labkit-grade/choice/" + digest.encode()) % self.size

    def __repr__(self) -> str:  # never print the seeds by accident
        return f"SeedPool(size={self.size})"


def answers_digest(notebook: Any, tasks: dict[str, dict[str, Any]]) -> str:
    """SHA-256 of the answer-cell sources of a rebuilt notebook, in task order.

    Only the answers count: the rest of a rebuilt notebook is the template's.

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("x = 1", id="task-x")]
    >>> tasks = {"x": {"cell_id": "task-x"}}
    >>> a = answers_digest(nb, tasks)
    >>> nb.cells[0].source = "x = 2"
    >>> a != answers_digest(nb, tasks), len(a)
    (True, 64)
    """
    by_id = {cell.get("id"): cell for cell in notebook.cells}
    answers = [[task, by_id[info["cell_id"]].source if info["cell_id"] in by_id else None]
               for task, info in tasks.items()]
    text = json.dumps(answers, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()
