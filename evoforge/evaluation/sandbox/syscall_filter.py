"""A seccomp filter that takes the kernel's keyrings away from a jailed process.

Keyrings are not behind any namespace a jail unshares: every process of one uid in one
user namespace shares the user keyring, and a process started from a login session holds
its session keyring. Through ``add_key``, ``keyctl`` and ``request_key`` a candidate could
read secrets kept there (a Kerberos ticket cache, a token a tool stored), change or revoke
the user's keys, fill the uid's key quota, or keep state from one evaluation to the next.
No program an evaluation runs needs them, so a jailed process gets ``EPERM`` from all
three, in every system-call convention of its machine (on x86-64 also the 32-bit
``int 0x80`` calls and the x32 ones).

Standard library only: the launcher and the templates load this file by its path (they
run with ``python -I``, outside evoforge's package). Usage::

    deny_keyrings(libc)  # after PR_SET_NO_NEW_PRIVS; inherited by children and execve
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

__all__ = ["DENIED", "KeyringFilter", "deny_keyrings", "filter_program"]

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_IF_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000  # SECCOMP_RET_ERRNO | errno
_NR_OFFSET, _ARCH_OFFSET = 0, 4  # struct seccomp_data
_X32_BIT = 0x40000000

#: Per audit architecture, the numbers of add_key, request_key and keyctl.
DENIED: dict[int, tuple[int, ...]] = {
    0xC000003E: (248, 249, 250, _X32_BIT | 248, _X32_BIT | 249, _X32_BIT | 250),  # x86-64
    0x40000003: (286, 287, 288),  # i386 (also int 0x80 from an x86-64 process)
    0xC00000B7: (217, 218, 219),  # aarch64
    0x40000028: (309, 310, 311),  # 32-bit arm (a compat process on aarch64)
}
#: Per machine, the architectures its processes can call the kernel as.
_MACHINES = {
    "x86_64": (0xC000003E, 0x40000003),
    "amd64": (0xC000003E, 0x40000003),
    "aarch64": (0xC00000B7, 0x40000028),
    "arm64": (0xC00000B7, 0x40000028),
}

Instruction = tuple[int, int, int, int]


def filter_program(denied: dict[int, tuple[int, ...]]) -> list[Instruction]:
    """The classic-BPF program as ``(code, jump_true, jump_false, k)`` instructions (a
    jump skips that many instructions): per architecture, the listed system calls return
    ``EPERM``; every other call, and every other architecture, passes."""
    program: list[Instruction] = []
    for arch, numbers in denied.items():
        count = len(numbers)
        program.append((_LOAD_WORD, 0, 0, _ARCH_OFFSET))
        program.append((_JUMP_IF_EQUAL, 0, count + 3, arch))  # else past this block
        program.append((_LOAD_WORD, 0, 0, _NR_OFFSET))
        for position, number in enumerate(numbers):
            program.append((_JUMP_IF_EQUAL, count - position, 0, number))  # to the ERRNO
        program.append((_RETURN, 0, 0, _ALLOW))
        program.append((_RETURN, 0, 0, _ERRNO | errno.EPERM))
    program.append((_RETURN, 0, 0, _ALLOW))
    return program


class _Program(ctypes.Structure):
    """struct sock_fprog."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class KeyringFilter:
    """The filter for this machine, built once (a template builds it before it forks, so
    that each evaluation only installs it)."""

    def __init__(self) -> None:
        arches = _MACHINES.get(platform.machine().lower())
        self.supported = arches is not None
        instructions = filter_program({arch: DENIED[arch] for arch in arches or ()})
        raw = b"".join(struct.pack("HBBI", *instruction) for instruction in instructions)
        self._buffer = ctypes.create_string_buffer(raw, len(raw))
        self._program = _Program(len(instructions), ctypes.addressof(self._buffer))

    def install(self, libc: ctypes.CDLL) -> bool:
        """Install the filter on this process (it needs no_new_privs or CAP_SYS_ADMIN;
        ``libc`` loaded with ``use_errno=True``); children and ``execve`` keep it. False
        when the machine is not one listed here or the kernel has no seccomp filters;
        raises OSError for any other failure."""
        if not self.supported:
            return False
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._program), 0, 0) == 0:
            return True
        failure = ctypes.get_errno()
        if failure == errno.EINVAL:  # a kernel built without seccomp filters
            return False
        reason = errno.errorcode.get(failure, str(failure))
        raise OSError(failure, "cannot install the keyring filter: " + reason)


def deny_keyrings(libc: ctypes.CDLL) -> bool:
    """:meth:`KeyringFilter.install` of a filter built for the call."""
    return KeyringFilter().install(libc)
