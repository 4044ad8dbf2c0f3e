"""The keyring filter's program, run by a small classic-BPF interpreter: the keyring
calls are refused in every convention listed, everything else passes."""

from __future__ import annotations

import errno

from evoforge.evaluation.sandbox.syscall_filter import DENIED, filter_program

ALLOW = 0x7FFF0000
REFUSE = 0x00050000 | errno.EPERM


def decide(program: list[tuple[int, int, int, int]], arch: int, number: int) -> int:
    """What the kernel would do with system call ``number`` made as ``arch``."""
    position, accumulator = 0, 0
    for _ in range(len(program) + 1):  # a jump only goes forward: at most one pass
        code, if_true, if_false, k = program[position]
        if code == 0x20:  # load a word of struct seccomp_data
            accumulator = {0: number, 4: arch}[k]
            position += 1
        elif code == 0x15:  # jump if equal
            position += 1 + (if_true if accumulator == k else if_false)
        elif code == 0x06:  # return
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
    raise AssertionError("the program never returned")


def test_every_keyring_call_is_refused_and_nothing_else() -> None:
    program = filter_program(DENIED)
    for arch, numbers in DENIED.items():
        for number in numbers:
            assert decide(program, arch, number) == REFUSE, (hex(arch), number)
        others = {0, 1, 39, 60, 231, 247, 251, 285, 289, 216, 220, 308, 312} - set(numbers)
        for number in others:
            assert decide(program, arch, number) == ALLOW, (hex(arch), number)
    assert decide(program, 0x12345678, 250) == ALLOW  # an architecture not listed


def test_one_architectures_program_leaves_the_others_alone() -> None:
    x86_64 = 0xC000003E
    program = filter_program({x86_64: DENIED[x86_64]})
    assert decide(program, x86_64, 250) == REFUSE
    assert decide(program, 0xC00000B7, 250) == ALLOW
