"""Evolve blocks: splitting, replacing, and the frozen-code check."""

from __future__ import annotations

import pytest

from evoforge.blocks import (
    BlockError,
    evolve_blocks,
    frozen_violation,
    near_miss_hint,
    replace_blocks,
    split_blocks,
)

PROGRAM = """import math
# EVOLVE-BLOCK-START
def f(x):
    return x + 1
# EVOLVE-BLOCK-END

def run():
    # EVOLVE-BLOCK-START
    y = 2
    # EVOLVE-BLOCK-END
    return f(y)
"""


def test_split_and_join_round_trip() -> None:
    segments = split_blocks(PROGRAM)
    assert len(segments.blocks) == 2
    assert segments.join() == PROGRAM
    assert evolve_blocks(PROGRAM)[1] == "    y = 2\n"


def test_replace_blocks_keeps_frozen_code() -> None:
    child = replace_blocks(PROGRAM, ["def f(x):\n    return x * 3", "    y = 5\n"])
    assert "return x * 3\n# EVOLVE-BLOCK-END" in child
    assert frozen_violation(PROGRAM, child) is None


def test_frozen_change_is_reported() -> None:
    child = PROGRAM.replace("return f(y)", "return 100")
    reason = frozen_violation(PROGRAM, child)
    assert reason is not None and "frozen code changed" in reason
    removed_marker = PROGRAM.replace("# EVOLVE-BLOCK-END\n\ndef run", "\ndef run", 1)
    assert frozen_violation(PROGRAM, removed_marker) is not None


def test_trailing_whitespace_is_not_a_change() -> None:
    child = PROGRAM.replace("import math", "import math   ")
    assert frozen_violation(PROGRAM, child) is None


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("x = 1\n", "no '# EVOLVE-BLOCK-START'"),
        ("x = 1\n# EVOLVE-BLOCK-START\nx = 1\n", "line 2: EVOLVE-BLOCK-START without a matching"),
        ("x = 1\n# EVOLVE-BLOCK-END\n", "without a matching start"),
        (
            "# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n",
            "line 2: EVOLVE-BLOCK-START inside the block opened at line 1",
        ),
        (  # a marker inside a string still counts: the message points at both lines
            'DOC = """\n# EVOLVE-BLOCK-START\n"""\n'
            "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n",
            "line 4: EVOLVE-BLOCK-START inside the block opened at line 2",
        ),
    ],
)
def test_malformed_markers(code: str, fragment: str) -> None:
    with pytest.raises(BlockError, match=fragment):
        split_blocks(code)


def test_real_markers_give_no_near_miss_hint() -> None:
    assert near_miss_hint(PROGRAM) == ""
    assert near_miss_hint("# evolve-block-start\n").startswith(" (line 1 '# evolve-block-start'")
