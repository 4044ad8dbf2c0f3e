"""ast_tools' static guesses about numpy: the numpy alias and which names hold arrays."""

from __future__ import annotations

import ast
import copy
import random
from pathlib import Path
from typing import Any

import pytest

from evoforge.operators.ast_tools import (
    array_valued_names,
    looks_array,
    numpy_alias,
    same_tree,
    uneditable_blocks,
)

PROGRAM = """\
import numpy as np


def place(n: int, bins: np.ndarray, weights: "npt.NDArray[np.float64]", scale: float):
    angles = 0.3 + 2.0 * np.pi * np.arange(n) / n
    xs, radius = np.cos(angles), 0.5
    ys = radius * np.sin(angles)
    total = np.sum(xs)
    peak = ys.max()
    count = len(xs)
    head = xs[0]
    tail = xs[1:]
    spread = np.minimum(ys, radius)
    flat = np.minimum(radius, scale)
    gap = bins - scale
    gap += 1.0
    return np.column_stack([xs, ys]), weights
"""


def _names(code: str = PROGRAM, alias: str | None = "np") -> frozenset[str]:
    return array_valued_names([ast.parse(code)], alias)


def test_numpy_alias_follows_the_import() -> None:
    assert numpy_alias([ast.parse("import numpy as xp\n")]) == "xp"
    assert numpy_alias([ast.parse("import math\nimport numpy\n")]) == "numpy"
    assert numpy_alias([ast.parse("from numpy import sin\nimport math\n")]) is None


def test_array_names_follow_builders_elementwise_calls_and_annotations() -> None:
    names = _names()
    assert {"angles", "xs", "ys", "tail", "spread", "bins", "weights", "gap"} <= names
    # reductions, lengths, single indexes and elementwise calls on numbers give numbers
    assert not names & {"n", "scale", "radius", "total", "peak", "count", "head", "flat"}


def test_without_numpy_only_annotations_and_their_arithmetic_count() -> None:
    names = _names(PROGRAM.replace("import numpy as np\n", ""), None)
    assert names == {"bins", "weights", "gap"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("xs * 2.0 + radius", True),
        ("-xs", True),
        ("np.sqrt(np.abs(ys))", True),
        ("abs(xs)", True),
        ("np.zeros(3)", True),
        ("xs.T", True),
        ("xs[::2]", True),
        ("xs if radius > 0 else ys", True),
        ("np.mean(xs)", False),
        ("xs.sum()", False),
        ("float(xs[0])", False),
        ("np.sqrt(radius)", False),
        ("radius * 2.0", False),
        ("xs[3]", False),
        ("min(radius, 1.0)", False),
        ("unknown(xs)", False),
    ],
)
def test_looks_array(expression: str, expected: bool) -> None:
    node = ast.parse(expression, mode="eval").body
    assert looks_array(node, frozenset({"xs", "ys"}), "np") is expected


# -- same_tree ----------------------------------------------------------------------------


def _statements(source: str) -> list[ast.stmt]:
    return [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)]


def test_same_tree_agrees_with_comparing_dumps() -> None:
    import evoforge.operators.mutate as module

    statements = _statements(Path(module.__file__).read_text())
    rng = random.Random(0)
    for _ in range(3000):
        first, second = rng.choice(statements), rng.choice(statements)
        assert same_tree(first, second) is (ast.dump(first) == ast.dump(second))
    for statement in statements:
        assert same_tree(statement, copy.deepcopy(statement))


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("x = 1", "x = 1", True),
        ("x = 1", "x  =  1  # spacing and comments are not structure", True),
        ("x = 1", "x = 1.0", False),  # equal values, different literals
        ("x = True", "x = 1", False),
        ("x = 'a'", "x = b'a'", False),
        ("f(a, b)", "f(b, a)", False),
        ("f(a)", "f(a, b)", False),
        ("x = y", "y = x", False),
        ("del x", "x", False),  # the same name, another context
        ("{1: 2}", "{1: 2, 3: 4}", False),
    ],
)
def test_same_tree_compares_structure_and_literals(first: str, second: str, same: bool) -> None:
    assert same_tree(ast.parse(first), ast.parse(second)) is same


def test_same_tree_tells_negative_zero_from_zero() -> None:
    zero, negative = ast.Constant(value=0.0), ast.Constant(value=-0.0)
    assert not same_tree(zero, negative)
    assert same_tree(negative, ast.Constant(value=-0.0))


def test_rendering_skips_the_round_trip_only_where_it_cannot_differ() -> None:
    import evoforge.operators.crossover as crossover
    import evoforge.operators.mutate as mutate
    from evoforge.blocks import dedent_block, indent_block
    from evoforge.operators.ast_tools import _may_change_when_indented

    sources = [Path(module.__file__).read_text() for module in (mutate, crossover)]
    functions = [
        node
        for source in sources
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef)
    ]
    assert len(functions) > 30
    for function in functions:
        source = ast.unparse(function)
        for indent in ("", "    ", "\t"):
            text = indent_block(source, indent)
            full_check = ast.unparse(ast.parse(dedent_block(text))) != source
            assert _may_change_when_indented(text, source) is full_check


def test_a_block_without_multiline_strings_is_not_parsed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evoforge.blocks import indent_block
    from evoforge.operators.ast_tools import _may_change_when_indented

    parsed: list[str] = []
    real_parse = ast.parse

    def counting_parse(source: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(source)
        return real_parse(source, *args, **kwargs)

    source = "def f(x):\n    y = x + 1\n    return y"
    monkeypatch.setattr(ast, "parse", counting_parse)
    verdicts = [_may_change_when_indented(indent_block(source, i), source) for i in ("", "    ")]
    monkeypatch.undo()
    assert verdicts == [False, False]
    assert parsed == []


def test_every_statement_list_left_empty_gets_a_pass() -> None:
    from evoforge.operators.ast_tools import ensure_nonempty

    tree = ast.parse(
        "def f(x):\n"
        "    if x:\n"
        "        pass\n"
        "    else:\n"
        "        for i in x:\n"
        "            pass\n"
        "    try:\n"
        "        pass\n"
        "    except ValueError:\n"
        "        with open(x) as h:\n"
        "            pass\n"
        "    match x:\n"
        "        case 1:\n"
        "            pass\n"
        "    try:\n"
        "        pass\n"
        "    finally:\n"
        "        pass\n"
        "    return lambda y: y\n"
    )
    emptied = 0
    for node in ast.walk(tree):
        for field in ("body", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], ast.Pass):
                setattr(node, field, [])
                emptied += 1
    assert emptied == 7
    last_try = [node for node in ast.walk(tree) if isinstance(node, ast.Try)][-1]
    ensure_nonempty(tree)
    compile(ast.fix_missing_locations(tree), "<tree>", "exec")  # a body left empty fails
    assert last_try.finalbody and isinstance(last_try.finalbody[0], ast.Pass)


def test_uneditable_blocks_names_each_block_the_symbolic_operators_cannot_change() -> None:
    """A block that is part of an expression, and one whose expression is too deep for
    ``ast.unparse`` (valid Python that runs), are named with their first lines, so that a
    run whose every symbolic child is 'no change' says why when it starts."""
    terms = " + ".join(["0.5"] * 600)
    code = (
        "WEIGHTS = [\n"
        "    # EVOLVE-BLOCK-START\n"
        "    1.0, 2.0,\n"
        "    # EVOLVE-BLOCK-END\n"
        "]\n"
        "# EVOLVE-BLOCK-START\n"
        f"TOTAL = {terms}\n"
        "# EVOLVE-BLOCK-END\n"
        "# EVOLVE-BLOCK-START\n"
        "SCALE = 1.5\n"
        "# EVOLVE-BLOCK-END\n"
    )
    assert uneditable_blocks(code) == [
        "evolve block 1 (line 3): it is not whole statements that parse on their own",
        "evolve block 2 (line 7): it is nested too deeply for ast.unparse",
    ]
    assert uneditable_blocks("# EVOLVE-BLOCK-START\nSCALE = 1.5\n# EVOLVE-BLOCK-END\n") == []
