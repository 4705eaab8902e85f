"""The numeric environment the labs' stored outputs are computed and checked in.

Different x86-64 CPUs run different kernels: OpenBLAS picks one per CPU model, numpy
dispatches its loops to AVX2 or AVX-512, and torch does the same for its own kernels.
The last bits of a result then differ, and an argmax or a count over near-ties turns
that into a different number in a notebook's output. Thread counts change the order of
reductions too. So stored outputs are made and compared in one pinned environment:

* one thread for BLAS, OpenMP and torch;
* OpenBLAS's Haswell (AVX2) kernels, numpy's AVX2 loops and torch's AVX2 kernels, on
  every x86-64 machine with AVX2 (AVX-512 machines are asked not to use AVX-512).

Labs also break ties explicitly and round what they print, so that outputs survive a
machine the pin cannot reach (an ARM laptop, a CPU without AVX2). The test suite checks
that by running nbval once more with :data:`OTHER_CPU_ENV`, which makes this machine
compute like an older CPU (AVX only).

``labkit author execute``, the notebook test tiers (through ``tests/conftest.py``), the
book build and ``labkit grade`` all take the environment from here.

Examples
--------
>>> env = numeric_env()
>>> env["OPENBLAS_NUM_THREADS"], env["OPENBLAS_CORETYPE"]
('1', 'Haswell')
>>> numeric_env(other_cpu=True)["OPENBLAS_CORETYPE"]
'Sandybridge'
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

__all__ = ["OTHER_CPU_ENV", "OTHER_CPU_VAR", "PINNED_ENV", "numeric_env", "pinned", "main"]

#: Environment variables of the pinned numeric environment.
PINNED_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "OPENBLAS_CORETYPE": "Haswell",
    # numpy's dispatchable AVX-512 targets (names numpy does not know are ignored).
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512F AVX512CD AVX512_SKX AVX512_CLX "
                                "AVX512_CNL AVX512_ICL AVX512_SPR",
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "PYTHONHASHSEED": "0",
}
#: What makes this machine compute like an older CPU (AVX, no AVX2, no FMA).
OTHER_CPU_ENV = {
    "OPENBLAS_CORETYPE": "Sandybridge",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 AVX2 FMA3 " + PINNED_ENV["NPY_DISABLE_CPU_FEATURES"],
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "AVX",
}
#: Set this variable to 1 to get :data:`OTHER_CPU_ENV` on top of the pin.
OTHER_CPU_VAR = "LABKIT_OTHER_CPU"


def numeric_env(other_cpu: bool | None = None) -> dict[str, str]:
    """The variables to set: the pin, plus the older-CPU emulation when asked.

    Parameters
    ----------
    other_cpu : bool, optional
        Emulate an older CPU. Default: whether ``LABKIT_OTHER_CPU=1`` is set.
    """
    if other_cpu is None:
        other_cpu = os.environ.get(OTHER_CPU_VAR) == "1"
    env = dict(PINNED_ENV)
    if other_cpu:
        env.update(OTHER_CPU_ENV)
    return env


@contextmanager
def pinned(other_cpu: bool | None = None) -> Iterator[dict[str, str]]:
    """Set the numeric environment in ``os.environ`` for kernels started inside the block.

    The variables are read when a process starts, so this affects the processes (kernels)
    started inside the block, not the running interpreter. The old values come back on
    exit.
    """
    env = numeric_env(other_cpu)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m labkit.reproducible COMMAND ...``: run a command in the pinned environment."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m labkit.reproducible COMMAND [ARGS...]", file=sys.stderr)
        return 2
    os.environ.update(numeric_env())
    os.execvp(argv[0], argv)
    return 0  # pragma: no cover (execvp does not return)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
