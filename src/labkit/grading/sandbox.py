"""Where a submission's kernel runs: a bubblewrap sandbox with resource limits.

The grader starts each submission's kernel through a *launch prefix*: a short command
line that sets resource limits (:mod:`labkit.grading.limits`) and, where bubblewrap
works, runs the kernel in a sandbox that

* sees only the Python environment, a few system folders, a private ``/tmp`` and the
  submission's own two folders (kernel sockets and results), everything read-only but
  those;
* has no network (a fresh network namespace with only loopback) and its own process
  namespace, so that nothing it starts can outlive it;
* runs, when the grader is root, as an unprivileged user id, because Linux never applies
  the process-count limit to root;
* cannot use the kernel keyring (a seccomp filter, see :func:`keyring_filter`): keys are
  kept by the kernel outside every namespace, so one submission could leave a key that a
  later one reads, and keys outlive grading.

Where bubblewrap is missing or does not work (no user namespaces, not Linux) the kernel
runs with the limits only, and :func:`probe` says why.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "Sandbox", "probe"]

# System folders the Python interpreter and its compiled extensions may need.
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                 "/etc/alternatives", "/etc/localtime")
#: Most workers one grading run may use (each gets its own user id under root).
MAX_WORKERS = 64

# Classic BPF (linux/filter.h, linux/seccomp.h): opcodes, return values, and the offsets
# of ``nr`` and ``arch`` in ``struct seccomp_data``.
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | 1
_NR, _ARCH = 0, 4
_X86_64, _X32_BIT = 0xC000003E, 0x40000000
#: add_key, request_key and keyctl by audit architecture. The 32-bit ABIs are there
#: because a 64-bit kernel runs 32-bit code too (``int 0x80``, or a program in /tmp).
_KEYRING_CALLS = {_X86_64: (248, 249, 250),  # x32 calls (number | _X32_BIT) all refused
                  0x40000003: (286, 287, 288),  # i386
                  0xC00000B7: (217, 218, 219),  # aarch64
                  0x40000028: (309, 310, 311)}  # arm
_FILTERED_MACHINES = ("x86_64", "aarch64")


def sandbox_uid_base() -> int:
    """First unprivileged user id of this grader's kernels (root only).

    Worker ``k`` runs as ``base + k``. The base comes from the grader's process id, so
    that two graders running at once never share a user id, and with it a process limit.
    """
    return 200_000 + (os.getpid() % 100_000) * MAX_WORKERS


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission.

    Parameters
    ----------
    cell_timeout : float
        Seconds one cell may run before the kernel is interrupted.
    submission_timeout : float
        Seconds the whole submission may run, kernel start included, before every process
        of it is killed.
    memory_mb : int
        Address-space limit of each kernel process, in MiB.
    processes : int
        Most processes and threads the kernel may run at once.
    output_mb : float
        Most output (text and images) kept per submission, in MiB; the rest is dropped.
    file_mb : int
        Largest file the kernel may write, in MiB.
    scratch_mb : int
        Size of the kernel's private ``/tmp`` and working folder (sandbox only), in MiB.

    Examples
    --------
    >>> Limits(cell_timeout=30).submission_timeout
    600.0
    """

    cell_timeout: float = 120.0
    submission_timeout: float = 600.0
    memory_mb: int = 4096
    processes: int = 256
    output_mb: float = 2.0
    file_mb: int = 64
    scratch_mb: int = 256

    def __post_init__(self) -> None:
        for name in ("cell_timeout", "submission_timeout", "memory_mb", "processes",
                     "output_mb", "file_mb", "scratch_mb"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"limit {name} must be a positive number, got {value!r}")
        object.__setattr__(self, "cell_timeout", float(self.cell_timeout))
        object.__setattr__(self, "submission_timeout", float(self.submission_timeout))

    def rlimits(self) -> dict[str, int]:
        """The ``resource`` limits (name -> value) that :mod:`.limits` applies."""
        mib = 1024 * 1024
        return {"RLIMIT_AS": int(self.memory_mb) * mib, "RLIMIT_NPROC": int(self.processes),
                "RLIMIT_FSIZE": int(self.file_mb) * mib, "RLIMIT_CORE": 0}


@dataclass
class Sandbox:
    """How kernels are started: with bubblewrap (``enabled``) or with limits only.

    Build it with :func:`probe`; :meth:`prefix` gives the launch prefix of one kernel.
    ``seccomp`` is the file holding :func:`keyring_filter` (None: no filter).
    """

    enabled: bool
    reason: str
    bwrap: str | None = None
    uid: int | None = None
    readonly: list[str] = field(default_factory=list)
    supports_size: bool = False
    seccomp: str | None = None

    def prefix(self, limits: Limits, env: dict[str, str], writable: list[Path],
               workdir: str, slot: int = 0, readonly: Sequence[Path] = ()) -> list[str]:
        """Command that runs the kernel command appended to it, limited and sandboxed.

        Parameters
        ----------
        limits : Limits
            The submission's limits.
        env : dict
            The kernel's whole environment (nothing else is inherited).
        writable : list of Path
            Host folders the kernel may write, mounted at the same path.
        workdir : str
            The kernel's working folder (a private tmpfs under the sandbox).
        slot : int
            Worker slot; with root, slot ``k`` runs as user ``uid + k``, so that
            the process limits of parallel workers do not add up.
        readonly : sequence of Path
            More host folders the kernel may read, mounted read-only at the same path
            (the frozen labkit package of the batch).

        Examples
        --------
        >>> sb = Sandbox(enabled=False, reason="test")
        >>> sb.prefix(Limits(), {"A": "1"}, [], "/tmp")[:2] == [sys.executable, "-I"]
        True
        """
        rl = limits.rlimits()
        if self.enabled and self.uid is None and os.geteuid() != 0:
            # Without root the process limit counts every process of the instructor's
            # user, so allow for what already runs.
            rl["RLIMIT_NPROC"] += count_tasks(os.getuid())
        # Run by path, isolated (-I): it needs only the standard library, and skipping
        # labkit's imports saves time on every kernel start.
        launcher = [sys.executable, "-I", str(Path(__file__).with_name("limits.py")),
                    json.dumps(rl)]
        if not self.enabled:
            extra = ["--pidfile", str(Path(writable[0]) / "kernel.pgid")] if writable else []
            return [*launcher, "--chdir", workdir, "--env", json.dumps(env), *extra, "--"]
        assert self.bwrap is not None
        cmd = [self.bwrap]
        if self.seccomp is not None:
            # bwrap reads the filter from a file descriptor, and the kernel manager closes
            # every descriptor but 0-2 when it starts this command: open it just before.
            cmd = ["/bin/sh", "-c", 'exec 3<"$0" && exec "$@"', self.seccomp,
                   self.bwrap, "--seccomp", "3"]
        cmd += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session",
               "--proc", "/proc", "--dev", "/dev"]
        if self.supports_size:
            cmd += ["--size", str(int(limits.scratch_mb) * 1024 * 1024)]
        cmd += ["--tmpfs", "/tmp"]
        shown = [str(p) for p in readonly]
        mounts = [*self.readonly, *shown, *(str(p) for p in writable)]
        made: set[str] = {"/", "/tmp"}
        for mount in sorted(mounts, key=lambda p: p.count("/")):
            for parent in reversed(Path(mount).parents):
                text = str(parent)
                if text in made or any(text == m or text.startswith(m + "/") for m in mounts):
                    continue
                # Folders bubblewrap creates on its own are private (0700); the
                # unprivileged kernel must be able to walk through them.
                cmd += ["--perms", "0755", "--dir", text]
                made.add(text)
        for path in self.readonly:
            if os.path.islink(path) and path in _SYSTEM_DIRS:
                cmd += ["--symlink", os.readlink(path), path]
            else:
                cmd += ["--ro-bind", path, path]
        for path in shown:
            cmd += ["--ro-bind", path, path]
        for path in writable:
            cmd += ["--bind", str(path), str(path)]
        cmd += ["--perms", "0777", "--dir", workdir, "--chdir", workdir, "--clearenv"]
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        if self.uid is not None:
            uid = str(self.uid + slot)
            cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                    "--", shutil.which("setpriv") or "/usr/bin/setpriv", "--reuid", uid,
                    "--regid", uid, "--clear-groups", "--inh-caps=-all",
                    "--bounding-set=-all"]
        return [*launcher, "--", *cmd, "--"]

    def owner(self, slot: int) -> int | None:
        """User id that must own the writable folders of worker ``slot`` (None: keep)."""
        return None if (not self.enabled or self.uid is None) else self.uid + slot


def count_tasks(uid: int) -> int:
    """Processes and threads (what ``RLIMIT_NPROC`` counts) that user ``uid`` runs now."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(entry / "task"))
            except OSError:
                continue
    return count


def keyring_filter() -> bytes:
    """Seccomp program (for ``bwrap --seccomp``) that keeps the kernel keyring shut.

    The kernel keyring is not covered by any namespace: without this filter a kernel could
    store a key (``add_key``) that a later submission's kernel reads (``keyctl``), so that
    two submissions pass results to each other, and the key would outlive grading. As
    Flatpak does, ``add_key``, ``request_key`` and ``keyctl`` fail with ``EPERM``, in
    every ABI of x86_64 and aarch64 Linux; every other system call is allowed.

    Returns
    -------
    bytes
        Classic BPF instructions, each a native-endian ``struct sock_filter``
        (``u16 code, u8 jt, u8 jf, u32 k``).

    Examples
    --------
    >>> len(keyring_filter()) % 8
    0
    """
    deny = -1  # jump target, resolved below
    code = [(_LD_ABS, 0, 0, _ARCH)]
    for arch, calls in _KEYRING_CALLS.items():
        tests = [(_JGE, deny, 0, _X32_BIT)] if arch == _X86_64 else []
        tests += [(_JEQ, deny, 0, nr) for nr in calls]
        # Another architecture: skip the number load, the tests and the allow.
        code += [(_JEQ, 0, len(tests) + 2, arch), (_LD_ABS, 0, 0, _NR), *tests,
                 (_RET, 0, 0, _ALLOW)]
    code += [(_RET, 0, 0, _ALLOW), (_RET, 0, 0, _EPERM)]
    last = len(code) - 1
    return b"".join(struct.pack("=HBBI", op, last - i - 1 if jt == deny else jt, jf, k)
                    for i, (op, jt, jf, k) in enumerate(code))


def python_paths() -> list[str]:
    """Folders the grader's Python environment needs, as the kernel will see them."""
    code = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, *sys.path]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                         cwd="/")
    paths = {os.path.realpath(sys.executable)} | set(json.loads(out.stdout))
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    keep: list[str] = []
    for path in sorted(p for p in paths if p and os.path.exists(p)):
        if os.path.isfile(path):  # zipped standard library: bind its folder
            path = os.path.dirname(path)
        if path in ("/", "") or any(path == k or path.startswith(k + "/") for k in keep):
            continue
        keep.append(path)
    return _outermost([os.path.realpath(p) for p in keep] + keep)


def _outermost(paths: list[str]) -> list[str]:
    result: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == r or path.startswith(r.rstrip("/") + "/") for r in result):
            result.append(path)
    return result


def probe(protected: list[Path], *, use_bwrap: bool = True) -> Sandbox:
    """Find out how kernels can be isolated on this machine.

    Parameters
    ----------
    protected : list of Path
        Folders no sandbox may expose (solutions, submissions, the output folder). If the
        Python environment lies inside one of them, grading refuses to start.
    use_bwrap : bool
        False forces limits-only mode (for debugging; the log records it).

    Returns
    -------
    Sandbox
        ``enabled`` is False, with ``reason`` saying why, where bubblewrap is absent or
        fails here; ``reason`` also says when the kernel keyring filter is not active.

    Raises
    ------
    RuntimeError
        When the Python environment contains a protected folder.

    Examples
    --------
    >>> sb = probe([], use_bwrap=False)
    >>> sb.enabled, sb.reason
    (False, 'disabled by the caller (--no-sandbox)')
    """
    if not use_bwrap:
        return Sandbox(False, "disabled by the caller (--no-sandbox)")
    if not sys.platform.startswith("linux"):
        return Sandbox(False, f"bubblewrap needs Linux; this is {sys.platform}")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Sandbox(False, "bubblewrap (bwrap) is not installed; on Debian or Ubuntu: "
                              "apt-get install bubblewrap")
    readonly = _outermost([*python_paths(), *(p for p in _SYSTEM_DIRS if os.path.lexists(p))])
    readonly += [p for p in _SYSTEM_FILES if os.path.exists(p)]
    for path in readonly:
        for secret in protected:
            secret_text = str(Path(secret).resolve())
            if secret_text == path or secret_text.startswith(path.rstrip("/") + "/"):
                raise RuntimeError(
                    f"The Python environment includes {path}, which contains {secret_text}; "
                    "a sandboxed kernel would see it. Install labkit without --editable, or "
                    "keep the virtual environment and sources outside the folders graded.")
    root = os.geteuid() == 0
    if root and shutil.which("setpriv") is None:
        return Sandbox(False, "running as root and setpriv (util-linux) is missing, so the "
                              "kernel cannot drop to an unprivileged user")
    sandbox = Sandbox(True, "bubblewrap", bwrap, sandbox_uid_base() if root else None,
                      readonly)
    help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True).stdout
    sandbox.supports_size = "--size" in help_text
    machine = platform.machine()
    if machine in _FILTERED_MACHINES:
        # A private folder, deleted with the sandbox object (at the latest at exit).
        folder = tempfile.mkdtemp(prefix="labkit-seccomp-")
        weakref.finalize(sandbox, shutil.rmtree, folder, True)
        sandbox.seccomp = os.path.join(folder, "keyring.bpf")
        with open(sandbox.seccomp, "wb") as handle:
            handle.write(keyring_filter())
    else:
        sandbox.reason += f" (no kernel keyring filter for {machine}: keyring not isolated)"
    error = _start_error(sandbox)
    if error is not None and sandbox.seccomp is not None:
        # Grading works without the filter, only the keyring stays open: say so.
        sandbox.seccomp = None
        plain_error = _start_error(sandbox)
        if plain_error is None:
            sandbox.reason += f" (kernel keyring filter refused, keyring not isolated: {error})"
        error = plain_error
    return sandbox if error is None else Sandbox(False, error)


def _start_error(sandbox: Sandbox) -> str | None:
    """Why a kernel cannot start in ``sandbox`` (None: it can)."""
    env = {"PATH": "/usr/bin:/bin"}
    scratch = "/tmp/labkit-probe"
    test = sandbox.prefix(Limits(), env, [], scratch) + [sys.executable, "-c", "print('ok')"]
    try:
        run = subprocess.run(test, capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap is installed but failed to start here ({exc})"
    if run.returncode != 0 or run.stdout.strip() != "ok":
        detail = (run.stderr.strip().splitlines() or ["no message"])[-1]
        return ("bubblewrap is installed but cannot create a sandbox here "
                f"(user namespaces disabled?): {detail}")
    return None
