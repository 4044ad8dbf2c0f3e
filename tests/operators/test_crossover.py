"""crossover: statements from both parents, aligned by what they define."""

from __future__ import annotations

import ast

import numpy as np
from operator_cases import PROGRAMS, assert_valid_child, block_source, make_program, run_propose

from evoforge.blocks import dedent_block
from evoforge.operators import crossover
from evoforge.operators.ast_tools import parse_program
from evoforge.operators.crossover import CrossoverOperator

PARENT = """\
# EVOLVE-BLOCK-START
a = 1.0
b = 1.0
c = 1.0
d = 1.0


def f(x):
    p = x + 1.0
    q = p * 1.0
    return p + q
# EVOLVE-BLOCK-END
"""

PARTNER = """\
# EVOLVE-BLOCK-START
a = 2.0
b = 2.0
c = 2.0
d = 2.0


def f(x):
    p = x + 2.0
    q = p * 2.0
    return p - q
# EVOLVE-BLOCK-END
"""


def _assigned_values(code: str) -> dict[str, float]:
    tree = ast.parse(dedent_block(block_source(code, 0)))
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }


def test_child_mixes_statements_of_both_parents() -> None:
    operator = CrossoverOperator()
    partner = make_program(PARTNER, program_id="partner-1")
    mixed = 0
    for seed in range(12):
        proposal = run_propose(operator, PARENT, seed, inspirations=[partner])
        child = assert_valid_child(PARENT, proposal, operator)
        assert proposal is not None
        assert proposal.extra_parent_ids == ("partner-1",)
        assert "partner-1" in proposal.note
        assert child != PARTNER
        values = set(_assigned_values(child).values())
        mixed += values == {1.0, 2.0}
        # Alignment: still one definition of each name, in the parent's order.
        assert list(_assigned_values(child)) == ["a", "b", "c", "d"]
    assert mixed >= 6


def test_function_bodies_cross_recursively() -> None:
    partner = make_program(PARTNER, program_id="p")
    bodies = set()
    for seed in range(30):
        proposal = run_propose(CrossoverOperator(), PARENT, seed, inspirations=[partner])
        assert proposal is not None
        tree = ast.parse(proposal.code)
        function = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        bodies.add(ast.unparse(function))
    # Beyond the two whole functions there are mixtures of their statements.
    assert len(bodies) >= 3


def test_no_partner_gives_none() -> None:
    operator = CrossoverOperator()
    assert run_propose(operator, PARENT, 0) is None
    same = make_program(PARENT.replace("a = 1.0", "a = 1.0  # comment"), program_id="same")
    assert run_propose(operator, PARENT, 0, inspirations=[same]) is None
    two_blocks = make_program(PROGRAMS["two_blocks"], program_id="other-shape")
    assert run_propose(operator, PARENT, 0, inspirations=[two_blocks]) is None
    broken = make_program("# EVOLVE-BLOCK-START\nx = (\n# EVOLVE-BLOCK-END\n", program_id="bad")
    assert run_propose(operator, PARENT, 0, inspirations=[broken]) is None


def test_skips_unusable_inspirations_for_a_usable_one() -> None:
    inspirations = [
        make_program(PARENT, program_id="clone"),
        make_program(PROGRAMS["one_block"], program_id="shape"),
        make_program(PARTNER, program_id="good"),
    ]
    proposal = run_propose(CrossoverOperator(), PARENT, 3, inspirations=inspirations)
    assert proposal is not None and proposal.extra_parent_ids == ("good",)


def test_partner_only_definitions_can_be_inserted() -> None:
    partner_code = PARTNER.replace("def f(x):", "def g(x):\n    return x\n\n\ndef f(x):")
    partner = make_program(partner_code, program_id="p")
    notes = [
        proposal.note
        for seed in range(30)
        if (proposal := run_propose(CrossoverOperator(), PARENT, seed, inspirations=[partner]))
    ]
    assert any("+def g" in note for note in notes)


def test_unaligned_blocks_still_mix() -> None:
    parent = "# EVOLVE-BLOCK-START\nx = 1\ny = x + 1\nprint(y)\n# EVOLVE-BLOCK-END\n"
    partner = (
        "# EVOLVE-BLOCK-START\nu = 5\nv = u * 2\nwhile v > 1:\n    v -= 1\n# EVOLVE-BLOCK-END\n"
    )
    for seed in range(10):
        proposal = run_propose(
            CrossoverOperator(), parent, seed, inspirations=[make_program(partner, program_id="p")]
        )
        child = assert_valid_child(parent, proposal, CrossoverOperator())
        assert "x = 1" in child
        assert "u = 5" in child or "v = u * 2" in child or "while v > 1" in child


def test_children_carry_no_statement_after_a_return() -> None:
    # A head and a tail that both end in ``return`` used to give ``return a; return b``.
    block = "# EVOLVE-BLOCK-START\ndef f(x):\n    y = {}\n    return [y, {}]\n# EVOLVE-BLOCK-END\n"
    parent, partner = block.format("x + 1.0", 0.5), block.format("x * 2.0", 0.25)
    inspirations = [make_program(partner, program_id="p")]
    children = []
    for seed in range(40):
        proposal = run_propose(CrossoverOperator(), parent, seed, inspirations=inspirations)
        if proposal is None:
            continue
        function = next(n for n in ast.parse(proposal.code).body if isinstance(n, ast.FunctionDef))
        assert [type(s) for s in function.body] == [ast.Assign, ast.Return], proposal.code
        children.append(ast.unparse(function))
    # the mixes that remain: one statement from each side, the other way round than ``p``
    assert {"def f(x):\n    y = x + 1.0\n    return [y, 0.25]"} <= set(children)


ONE_PLACE = [
    # the soak's shape: one function whose one statement differs
    (
        "# EVOLVE-BLOCK-START\ndef c():\n    return [0.5, min(x, 2), 1]\n# EVOLVE-BLOCK-END\n",
        "# EVOLVE-BLOCK-START\ndef c():\n    return [0.7, abs(2), 1]\n# EVOLVE-BLOCK-END\n",
    ),
    # one assignment among equal ones; a function whose arguments differ and nothing else
    (PARENT, PARENT.replace("c = 1.0", "c = 3.0")),
    (PARENT, PARENT.replace("def f(x):", "def f(x, k=1):")),
]
LOOP = "# EVOLVE-BLOCK-START\nt = 0\nfor i in range(3):\n    t += {}\n# EVOLVE-BLOCK-END\n"


def _every_attempt(parent: str, partner_code: str, one_point: bool) -> list[str | None]:
    """What each of 25 seeds' attempt of one kind gives, by the operator's own attempt."""
    partner = make_program(partner_code, program_id="p")
    parsed, partner_parsed = parse_program(parent), parse_program(partner_code)
    assert parsed is not None and partner_parsed is not None
    assert crossover._differences(parsed, partner_parsed) == 1
    made = [
        crossover._attempt(
            parsed, partner, partner_parsed, np.random.default_rng(seed), one_point=one_point
        )
        for seed in range(25)
    ]
    return [None if proposal is None else proposal.code for proposal in made]


def test_a_partner_differing_in_one_place_is_skipped_and_nothing_is_lost() -> None:
    for parent, partner_code in ONE_PLACE:
        partner = make_program(partner_code, program_id="p")
        parsed = parse_program(parent)
        assert parsed is not None
        assert crossover._partners(make_program(parent), parsed, [partner]) == []
        assert run_propose(CrossoverOperator(), parent, 0, inspirations=[partner]) is None
        # every attempt the operator would have made gives no child: the skip costs nothing
        for one_point in (False, True):
            assert set(_every_attempt(parent, partner_code, one_point)) == {None}


def test_one_place_apart_only_one_point_can_add_a_statement() -> None:
    parent, partner_code = LOOP.format("i"), LOOP.format("2 * i")
    parsed = parse_program(parent)
    assert parsed is not None
    usable = crossover._partners(
        make_program(parent), parsed, [make_program(partner_code, program_id="p")]
    )
    assert [first for _, _, first in usable] == [crossover._UNIFORM_ATTEMPTS]
    assert set(_every_attempt(parent, partner_code, one_point=False)) == {None}
    appended = {code for code in _every_attempt(parent, partner_code, True) if code}
    assert appended, "the whole parent, then the partner's loop"
    proposal = run_propose(
        CrossoverOperator(), parent, 0, inspirations=[make_program(partner_code, program_id="p")]
    )
    assert proposal is not None and proposal.code in appended
    assert "one-point" in proposal.note


def test_two_differences_are_crossed() -> None:
    partner_code = PARENT.replace("c = 1.0", "c = 3.0").replace("return p + q", "return p * q")
    parsed, partner_parsed = parse_program(PARENT), parse_program(partner_code)
    assert parsed is not None and partner_parsed is not None
    assert crossover._differences(parsed, partner_parsed) == 2
    partner = make_program(partner_code, program_id="p")
    children = {
        proposal.code
        for seed in range(20)
        if (proposal := run_propose(CrossoverOperator(), PARENT, seed, inspirations=[partner]))
    }
    assert children, "two differences leave two mixes that are neither side"
    for child in children:
        assert ("c = 3.0" in child) != ("return p * q" in child), child
