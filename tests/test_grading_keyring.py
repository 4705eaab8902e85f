"""The sandbox's seccomp filter: the kernel keyring system calls fail, nothing else does.

The keyring is shared across namespaces, so without the filter one submission's kernel
could leave a key for a later one to read. The tests marked ``grading`` start sandboxes
(the launch prefix, no notebook), a fraction of a second each; the filter's decoding
test needs none.
"""

from __future__ import annotations

import json
import platform
import struct
import subprocess
import sys

import pytest

from labkit.grading import sandbox as sandbox_module
from labkit.grading.sandbox import Limits, keyring_filter, probe

ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
X86_64, I386, AARCH64, ARM = 0xC000003E, 0x40000003, 0xC00000B7, 0x40000028
#: add_key, request_key, keyctl of this machine's own ABI
CALLS = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}.get(platform.machine())

# Inside the sandbox: each keyring call through libc's syscall(), and on x86_64 the
# x32 keyctl and the i386 keyctl made with int 0x80 from 64-bit code (returns -errno).
KEYRING_PROBE = """
import ctypes, json, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
add_key, request_key, keyctl = map(int, sys.argv[1:4])
calls = {"add_key": (add_key, b"user", b"labkit", b"secret", 6, -3),
         "request_key": (request_key, b"user", b"labkit", None, -3),
         "keyctl": (keyctl, 0, -3, 1)}
if keyctl == 250:
    calls["x32 keyctl"] = (0x40000000 | 250, 0, -3, 1)
out = {}
for name, args in calls.items():
    ctypes.set_errno(0)
    out[name] = [libc.syscall(*args), ctypes.get_errno()]
if keyctl == 250:
    # push rbx; mov eax, 288; xor ebx, ebx; mov ecx, -3; xor edx, edx; int 0x80; pop rbx; ret
    code = bytes.fromhex("53b82001000031dbb9fdffffff31d2cd805bc3")
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    out["i386 keyctl"] = [ctypes.CFUNCTYPE(ctypes.c_int)(address)(), 0]
print(json.dumps(out))
"""

NORMAL_WORK = """
import subprocess, sys
import numpy as np
rng = np.random.default_rng(0)
a = rng.normal(size=(50, 50))
assert np.allclose(a @ np.linalg.inv(a), np.eye(50))
child = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True,
                       text=True, check=True)
print(child.stdout.strip())
"""


@pytest.fixture(scope="module")
def box():
    sandbox = probe([])
    if not sandbox.enabled or sandbox.seccomp is None:
        pytest.skip(f"no sandbox with the keyring filter here: {sandbox.reason}")
    return sandbox


def _run_in(box, code, *args):
    env = {"PATH": "/usr/bin:/bin"}
    command = box.prefix(Limits(), env, [], "/tmp/work") + [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.grading
def test_keyring_calls_fail_with_eperm_in_the_sandbox(box):
    run = _run_in(box, KEYRING_PROBE, *map(str, CALLS))
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert results.pop("i386 keyctl", [-1, 0]) == [-1, 0]  # -EPERM from the kernel
    assert results and all(value == [-1, 1] for value in results.values()), results


@pytest.mark.grading
def test_normal_work_runs_in_the_filtered_sandbox(box):
    run = _run_in(box, NORMAL_WORK)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "42"


@pytest.mark.grading
def test_probe_falls_back_when_bubblewrap_refuses_the_filter(monkeypatch):
    if not probe([]).enabled:
        pytest.skip("bubblewrap does not work here")
    monkeypatch.setattr(sandbox_module, "keyring_filter", lambda: b"\0" * 5)  # not BPF
    sandbox = probe([])
    assert sandbox.enabled and sandbox.seccomp is None
    assert "keyring not isolated" in sandbox.reason


def _verdict(program: bytes, arch: int, nr: int) -> int:
    """Run the classic-BPF ``program`` on ``struct seccomp_data`` {nr, arch}."""
    data = struct.pack("=II", nr, arch)
    code = list(struct.iter_unpack("=HBBI", program))
    acc = pc = 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        if op == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            acc = struct.unpack_from("=I", data, k)[0]
        elif op == 0x15:  # BPF_JMP | BPF_JEQ | BPF_K
            pc += jt if acc == k else jf
        elif op == 0x35:  # BPF_JMP | BPF_JGE | BPF_K
            pc += jt if acc >= k else jf
        elif op == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"unexpected opcode {op:#x} at {pc - 1}")


def test_keyring_filter_decodes_to_the_intended_program():
    program = keyring_filter()
    code = list(struct.iter_unpack("=HBBI", program))
    deny = len(code) - 1
    assert code[0] == (0x20, 0, 0, 4)  # load arch
    assert code[1:8] == [(0x15, 0, 6, X86_64),  # not x86_64: next block
                         (0x20, 0, 0, 0),  # load nr
                         (0x35, deny - 4, 0, 0x40000000),  # x32 ABI
                         (0x15, deny - 5, 0, 248), (0x15, deny - 6, 0, 249),
                         (0x15, deny - 7, 0, 250), (0x06, 0, 0, ALLOW)]
    assert code[-2:] == [(0x06, 0, 0, ALLOW), (0x06, 0, 0, EPERM)]
    denied = {X86_64: [248, 249, 250, 0x40000000, 0x40000000 | 250],
              I386: [286, 287, 288], AARCH64: [217, 218, 219], ARM: [309, 310, 311]}
    allowed = {X86_64: [0, 1, 39, 59, 247, 251, 0x3FFFFFFF], I386: [0, 248, 250, 289],
               AARCH64: [0, 220, 248, 250], ARM: [0, 219, 250, 312],
               0xC00000F3: [217, 219, 248, 250]}  # riscv64: not filtered
    for arch, numbers in denied.items():
        assert all(_verdict(program, arch, nr) == EPERM for nr in numbers), hex(arch)
    for arch, numbers in allowed.items():
        assert all(_verdict(program, arch, nr) == ALLOW for nr in numbers), hex(arch)
