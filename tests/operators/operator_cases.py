"""Shared programs and helpers for the symbolic-operator tests (imported by the test
modules; a plain module so that its name cannot clash with other test directories)."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Sequence

import numpy as np

from evoforge.blocks import evolve_blocks, frozen_violation
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.program import Program, code_hash, normalise_code

# One module-level block holding a whole function, with dead code and foldable literals.
ONE_BLOCK = '''\
import math

WIDTH = 4


# EVOLVE-BLOCK-START
def score(x, y):
    """Higher is better."""
    scale = 2.5
    offset = -0.75
    if x > 3:
        return x * scale + offset
    z = math.sin(x) / (y + 1.0)
    return z + 2 * 3.0
    print("never")
# EVOLVE-BLOCK-END


def main():
    return [score(i, 0.5) for i in range(WIDTH)]
'''

# Two blocks: one at module level, one indented inside a loop of a frozen function.
TWO_BLOCKS = """\
import numpy as np

STEPS = 5

# EVOLVE-BLOCK-START
def step(value, rate):
    delta = rate * (1.0 - value)
    if value < 0.5:
        delta = delta * 2
    return value + delta
# EVOLVE-BLOCK-END


def run():
    value = 0.1
    total = 0.0
    for i in range(STEPS):
        # EVOLVE-BLOCK-START
        value = step(value, 0.3)
        total += value * 0.25 + i
        unused = 4 + 1
        if False:
            total = 0
        # EVOLVE-BLOCK-END
    return total
"""

# The first block does not parse on its own (it is half an expression); the second does.
BROKEN_AND_GOOD = """\
def weights():
    return [
        # EVOLVE-BLOCK-START
        1.0, 2.0,
        # EVOLVE-BLOCK-END
    ]


# EVOLVE-BLOCK-START
def combine(a, b):
    result = a * 0.5 + b * (3 - 1)
    if a >= b:
        result = result - 1.5
    return result
# EVOLVE-BLOCK-END
"""

# The only block does not parse on its own: every operator must return None.
ALL_BROKEN = """\
VALUES = [
    # EVOLVE-BLOCK-START
    1.0, 2.0,
    # EVOLVE-BLOCK-END
]
"""

PROGRAMS = {"one_block": ONE_BLOCK, "two_blocks": TWO_BLOCKS, "broken_and_good": BROKEN_AND_GOOD}


def make_program(
    code: str, program_id: str = "parent", score: float | None = None, seq: int = 0
) -> Program:
    return Program(id=program_id, code=code, code_hash=code_hash(code), score=score, seq=seq)


def run_propose(
    operator: Operator,
    code: str,
    seed: int = 0,
    inspirations: Sequence[Program] = (),
    relatives: Sequence[Program] = (),
) -> Proposal | None:
    context = ProposalContext(
        parent=make_program(code),
        rng=np.random.default_rng(seed),
        inspirations=tuple(inspirations),
        relatives=tuple(relatives),
    )
    return asyncio.run(operator.propose(context))


def assert_valid_child(parent_code: str, proposal: Proposal | None, operator: Operator) -> str:
    """The child parses, compiles, keeps the frozen code and differs from the parent."""
    assert proposal is not None
    assert proposal.operator == operator.name
    assert proposal.note
    ast.parse(proposal.code)
    compile(proposal.code, "<child>", "exec")
    assert frozen_violation(parent_code, proposal.code) is None
    assert normalise_code(proposal.code) != normalise_code(parent_code)
    return proposal.code


def block_source(code: str, index: int) -> str:
    return evolve_blocks(code)[index]
