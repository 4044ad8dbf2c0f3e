"""Property: on random programs no operator raises, and every child is a valid child."""

from __future__ import annotations

import ast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from operator_cases import make_program, run_propose

from evoforge.blocks import frozen_violation
from evoforge.config import OperatorsConfig
from evoforge.operators.ast_tools import literal_skeleton, literal_vector
from evoforge.operators.registry import build_operators
from evoforge.program import normalise_code

OPERATORS = build_operators(OperatorsConfig())

_leaves = st.one_of(
    st.sampled_from(["x", "y", "k", "True", "math.pi"]),
    st.integers(-20, 20).map(str),
    st.floats(-1e3, 1e3, allow_nan=False).map(repr),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]), children)
    compare = st.tuples(children, st.sampled_from(["<", "<=", ">", "==", "!="]), children)
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        compare.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda e: f"-{e}"),
        children.map(lambda e: f"abs({e})"),
        st.tuples(children, children).map(lambda t: f"min({t[0]}, {t[1]})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


expressions = st.recursive(_leaves, _combine, max_leaves=8)

statements = st.one_of(
    expressions.map(lambda e: f"k = {e}"),
    expressions.map(lambda e: f"x = {e}"),
    expressions.map(lambda e: f"if {e}:\n    y = x\nelse:\n    pass"),
    expressions.map(lambda e: f"return {e}"),
    expressions.map(lambda e: f"for i in range(3):\n    k += {e}\n    if i:\n        break"),
)


@st.composite
def programs(draw: st.DrawFn) -> str:
    body = draw(st.lists(statements, min_size=1, max_size=5))
    body_text = "".join(
        "\n".join("        " + line for line in statement.splitlines()) + "\n" for statement in body
    )
    second = draw(expressions)
    return (
        "import math\n\n"
        "def f(x, y):\n"
        "    k = 1\n"
        "    if x:\n"
        "        # EVOLVE-BLOCK-START\n"
        f"{body_text}"
        "        # EVOLVE-BLOCK-END\n"
        "    return k\n\n"
        "# EVOLVE-BLOCK-START\n"
        f"SCALE = {second}\n"
        "# EVOLVE-BLOCK-END\n"
    )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(code=programs(), partner=programs(), seed=st.integers(0, 2**32 - 1))
def test_no_operator_raises_and_children_are_valid(code: str, partner: str, seed: int) -> None:
    ast.parse(code)
    inspirations = [make_program(partner, program_id="partner")]
    for name, operator in OPERATORS.items():
        proposal = run_propose(operator, code, seed, inspirations=inspirations)
        if proposal is None:
            continue
        assert proposal.operator == name
        compile(proposal.code, "<child>", "exec")
        assert frozen_violation(code, proposal.code) is None
        assert normalise_code(proposal.code) != normalise_code(code)
        if name == "tune":
            assert literal_skeleton(proposal.code) == literal_skeleton(code)
            assert len(literal_vector(proposal.code)) == len(literal_vector(code))
