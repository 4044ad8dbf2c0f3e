"""A child cannot hide the seed's frozen code from Python while keeping it for the check.

``str.splitlines`` ends a line at characters Python reads inside one (a form feed, a
vertical tab, U+001C-U+001E, U+0085, U+2028, U+2029). A child that joins the frozen code
after its evolve block with one of them, behind the block's end marker, turns it into a
single comment: Python never runs it, so the block's own definitions stand in for the
frozen ones, while a check that splits lines the ``splitlines`` way sees every frozen line
in place. Here the hidden code is the function minimisation example's frozen
``run_search``, which gives each search its budget of objective calls and counts them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evoforge.blocks import frozen_violation
from evoforge.checks import FrozenCodeCheck
from evoforge.kinds import RejectionKind
from evoforge.operators.base import Proposal
from evoforge.program import Program, code_hash

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "function_minimization"
SEED = (EXAMPLE / "initial_program.py").read_text(encoding="utf-8")

# the block's own run_search: no search, no budget, the answer written in
IMPOSTOR = """
def run_search(seed, iterations, bounds):
    return (-0.8572185058593749, 0.304605472564697, 0.0), 1

"""

SEPARATORS = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def hiding_child(separator: str) -> str:
    """The seed with ``IMPOSTOR`` at the end of its evolve block and everything after the
    block's end marker joined into that marker's comment line by ``separator``."""
    head, tail = SEED.split("# EVOLVE-BLOCK-END", 1)
    hidden = "# EVOLVE-BLOCK-END" + tail.rstrip("\n").replace("\n", separator) + "\n"
    return head + IMPOSTOR + hidden


@pytest.mark.parametrize("separator", SEPARATORS, ids=[f"U+{ord(s):04X}" for s in SEPARATORS])
def test_frozen_code_hidden_in_a_comment_is_a_change(separator: str) -> None:
    child = hiding_child(separator)
    namespace: dict[str, object] = {}
    exec(compile(child, "child.py", "exec"), namespace)  # what the sandbox would run
    run_search = namespace["run_search"]
    assert callable(run_search)
    assert run_search(0, 1000, (-5.0, 5.0))[1] == 1  # the impostor, not the frozen code

    reason = frozen_violation(SEED, child)
    assert reason is not None and "frozen code changed" in reason
    seed = Program(id="seed", code=SEED, code_hash=code_hash(SEED))
    rejection = FrozenCodeCheck(SEED).check(seed, Proposal(code=child, operator="llm_rewrite"), "")
    assert rejection is not None and rejection.kind is RejectionKind.FROZEN_CODE


def test_the_seed_itself_still_keeps_its_frozen_code() -> None:
    assert frozen_violation(SEED, SEED) is None
    assert frozen_violation(SEED, SEED.replace("\n", "\r\n")) is None


# A problem whose evolve block opens the file: its child may put a coding declaration in
# the first two lines, and Python then decodes the whole file, frozen code included, with
# that codec; in UTF-7 the frozen comment's "+AAo-" is a line break, so the frozen
# ``return 1.0`` after it runs.
BLOCK_FIRST_SEED = """\
# EVOLVE-BLOCK-START
x = 1
# EVOLVE-BLOCK-END
def score():
    # kept for later +AAo-    return 1.0
    return 0.5
"""


def test_a_coding_declaration_that_rereads_the_frozen_code_is_a_change(tmp_path: Path) -> None:
    child = BLOCK_FIRST_SEED.replace(
        "# EVOLVE-BLOCK-START\n", "# EVOLVE-BLOCK-START\n# -*- coding: utf-7 -*-\n"
    )
    path = tmp_path / "child.py"
    path.write_text(child, encoding="utf-8")  # as evoforge writes every program
    namespace: dict[str, object] = {}
    exec(compile(path.read_bytes(), str(path), "exec"), namespace)
    score = namespace["score"]
    assert callable(score) and score() == 1.0  # the frozen code, read as other text

    reason = frozen_violation(BLOCK_FIRST_SEED, child)
    assert reason is not None and "source encoding changed to utf-7" in reason
    declared_utf8 = child.replace("utf-7", "utf-8")
    assert frozen_violation(BLOCK_FIRST_SEED, declared_utf8) is None  # the same text
