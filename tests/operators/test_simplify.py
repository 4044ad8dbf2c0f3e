"""simplify: dead code and constant folding, behaviour kept, None when nothing to do."""

from __future__ import annotations

import ast

import pytest
from operator_cases import PROGRAMS, assert_valid_child, block_source, run_propose

from evoforge.operators.simplify import SimplifyOperator, fold_value

OPERATOR = SimplifyOperator()


def _wrap(body: str) -> str:
    return f"import math\n\n# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n"


def _simplified(body: str) -> str:
    code = _wrap(body)
    return block_source(assert_valid_child(code, run_propose(OPERATOR, code), OPERATOR), 0)


def _run(code: str, *args: float) -> object:
    namespace: dict[str, object] = {}
    exec(compile(code, "<test>", "exec"), namespace)
    return namespace["f"](*args)  # type: ignore[operator]


def test_is_kept_only_if_no_worse() -> None:
    assert SimplifyOperator.keep_only_if_no_worse is True


def test_removes_code_after_return_raise_break_continue() -> None:
    body = (
        "def f(x):\n"
        "    for i in range(3):\n"
        "        if i == 1:\n"
        "            continue\n"
        "            x = x + 100\n"
        "        x = x + i\n"
        "        break\n"
        "        x = 0\n"
        "    if x > 50:\n"
        "        raise ValueError('big')\n"
        "        x = 1\n"
        "    return x\n"
        "    print('unreachable')\n"
    )
    block = _simplified(body)
    for dead in ("x + 100", "x = 0", "x = 1\n", "unreachable"):
        assert dead not in block
    assert _run(_wrap(block), 2.0) == _run(_wrap(body), 2.0)


def test_resolves_constant_branches() -> None:
    body = (
        "def f(x):\n"
        "    if False:\n"
        "        x = -1\n"
        "    if 0:\n"
        "        x = -2\n"
        "    else:\n"
        "        x = x * 2\n"
        "    while False:\n"
        "        x = -3\n"
        "    if True:\n"
        "        x = x + 1\n"
        "    return x if True else -4\n"
    )
    block = _simplified(body)
    assert "False" not in block and "True" not in block and "if 0" not in block
    assert "-1" not in block and "-2" not in block and "-3" not in block and "-4" not in block
    assert _run(_wrap(block), 5.0) == _run(_wrap(body), 5.0) == 11.0


def test_folds_literal_arithmetic() -> None:
    block = _simplified("def f(x):\n    return x * (2 * 3.0) + 2 ** 3 - -(-1) + +4\n")
    tree = ast.parse(block.strip())
    assert ast.unparse(tree) == "def f(x):\n    return x * 6.0 + 8 - 1 + 4"


@pytest.mark.parametrize(
    "expression",
    ["1 / 0", "1 // 0", "5 % 0", "10.0 ** 400", "(-8) ** 0.5", "2 ** 100000", "0 ** -1"],
)
def test_unsafe_folds_are_skipped(expression: str) -> None:
    code = _wrap(f"def f():\n    return {expression}\n")
    assert run_propose(OPERATOR, code) is None


def test_fold_value() -> None:
    assert fold_value(ast.Mult(), 2, 3.0) == 6.0
    assert fold_value(ast.Div(), 1, 0) is None
    assert fold_value(ast.Sub(), 0.0, 0.0) == 0.0
    assert fold_value(ast.Mult(), -0.0, 1.0) is None  # no literal for negative zero
    assert fold_value(ast.BitOr(), 1, 2) is None


def test_removes_unused_locals_but_not_module_globals() -> None:
    body = (
        "SCALE = 2.0\n"
        "def f(x):\n"
        "    unused = x * 3\n"
        "    tmp = unused + 1\n"
        "    called = math.sqrt(x)\n"
        "    kept = x + 1\n"
        "    return kept\n"
    )
    block = _simplified(body)
    assert "SCALE = 2.0" in block
    assert "unused" not in block and "tmp" not in block
    assert "called = math.sqrt(x)" in block  # a call may have side effects
    assert "kept = x + 1" in block


def test_locals_read_by_frozen_code_are_kept() -> None:
    code = PROGRAMS["two_blocks"].replace("unused = 4 + 1", "unused = 4 + 1\n        seen = i")
    code = code.replace("    return total\n", "    return total + seen\n")
    proposal = run_propose(OPERATOR, code)
    child = assert_valid_child(code, proposal, OPERATOR)
    block = block_source(child, 1)
    assert "seen = i" in block and "unused" not in block and "if False" not in block


def test_drops_pass_beside_other_statements() -> None:
    block = _simplified("def f(x):\n    pass\n    y = x\n    pass\n    return y\n")
    assert "pass" not in block


def test_keeps_code_that_changes_function_kind_or_scope() -> None:
    code = _wrap(
        "def gen(x):\n"
        "    return\n"
        "    yield x\n"
        "def g():\n"
        "    if False:\n"
        "        global G\n"
        "    return 1\n"
    )
    assert run_propose(OPERATOR, code) is None


def test_dynamic_scope_blocks_unused_removal() -> None:
    code = _wrap("def f(x):\n    hidden = x\n    return locals()\n")
    assert run_propose(OPERATOR, code) is None


def test_already_simple_code_gives_none() -> None:
    code = _wrap("def f(x, y):\n    z = -3 * x + y ** 2\n    return z\n")
    assert run_propose(OPERATOR, code) is None


def test_emptied_bodies_get_pass() -> None:
    block = _simplified(
        "def f(x):\n    if False:\n        return 1\n    return x\n\nif 0:\n    f(1)\n"
    )
    assert _run(_wrap(block), 3) == 3


def test_all_example_programs_keep_behaviour() -> None:
    code = PROGRAMS["one_block"]
    child = assert_valid_child(code, run_propose(OPERATOR, code), OPERATOR)
    namespace: dict[str, object] = {}
    exec(compile(code, "<parent>", "exec"), namespace)
    expected = namespace["main"]()  # type: ignore[operator]
    exec(compile(child, "<child>", "exec"), namespace)
    assert namespace["main"]() == expected  # type: ignore[operator]
