"""simplify: dead code and constant folding, behaviour kept, None when nothing to do."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from operator_cases import PROGRAMS, assert_valid_child, block_source, run_propose

from evoforge.operators.dead_code import entry_point_names
from evoforge.operators.simplify import (
    SimplifyOperator,
    fold_builtin_call,
    fold_value,
    simplify_program,
)

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
        "    root = math.sqrt(x)\n"
        "    called = record(x)\n"
        "    kept = x + 1\n"
        "    return kept\n"
    )
    block = _simplified("def record(x):\n    return x\n" + body)
    assert "SCALE = 2.0" in block
    assert "unused" not in block and "tmp" not in block
    assert "math.sqrt" not in block  # a known side-effect-free function
    assert "called = record(x)" in block  # any other call may have side effects
    assert "kept = x + 1" in block


def test_computing_and_iterating_builtins_count_as_side_effect_free() -> None:
    """The dead stores that evolution leaves in counting code (a winner of the cap-set
    problem repeated ``twos = sum(...)`` three times) go; a builtin that would call a
    function the program defines stays."""
    body = (
        "def record(v):\n    return v\n"
        "def f(x):\n"
        "    vector = (0, 2, 2, 1)\n"
        "    twos = sum(1 for entry in vector if entry == 2)\n"
        "    twos = sum(1 for entry in vector if entry == 2)\n"
        "    order = sorted(vector, key=lambda v: -v)\n"
        "    pairs = list(zip(vector, reversed(vector)))\n"
        "    mapped = sum(map(abs, vector))\n"
        "    kept_key = sorted(vector, key=record)\n"
        "    kept_map = sum(map(record, vector))\n"
        "    kept_lambda = max(vector, key=lambda v: record(v))\n"
        "    return x + twos\n"
    )
    block = _simplified(body)
    assert block.count("twos = sum") == 1
    for gone in ("order", "pairs", "mapped"):
        assert gone not in block
    for kept in ("kept_key", "kept_map", "kept_lambda"):
        assert kept in block
    assert _run(_wrap(block), 1.0) == _run(_wrap(body), 1.0) == 3.0


def test_reads_of_a_mapping_parameter_count_as_side_effect_free() -> None:
    """A winner of the optimiser problem stored ``velocity = ... state.get(...)`` three
    times: reads of a parameter annotated as a dict go when dead; the same methods on any
    other name stay (a queue's ``get`` removes an item)."""
    body = (
        "def f(x: float, state: dict[str, float], queue) -> float:\n"
        "    velocity = 0.9 * state.get('velocity', 0.0) + x\n"
        "    velocity = 0.5 * state.get('velocity', 0.0) + x\n"
        "    names = list(state.keys()) + [v for _, v in state.items()]\n"
        "    taken = queue.get('velocity', 0.0)\n"
        "    return velocity\n"
    )
    block = _simplified(body)
    assert block.count("velocity = ") == 1 and "0.5 * state.get" in block
    assert "names" not in block
    assert "taken = queue.get" in block
    assert _run(_wrap(block), 1.0, {"velocity": 2.0}, {}) == 2.0


@pytest.mark.parametrize(
    "body",
    [
        # the parameter is rebound: its get may be anything's
        "def f(x: float, state: dict) -> float:\n"
        "    state = Tracker()\n"
        "    velocity = state.get('velocity')\n"
        "    return x\n",
        # the same name is a parameter without the annotation elsewhere
        "def f(x: float, state: dict) -> float:\n"
        "    return g(x, state)\n"
        "def g(x: float, state) -> float:\n"
        "    velocity = state.get('velocity')\n"
        "    return x\n",
    ],
)
def test_a_mapping_read_stays_where_the_name_may_be_something_else(body: str) -> None:
    kept = simplify_program(_wrap(body), frozenset({"f", "g", "Tracker"}))
    assert kept is None or "velocity = state.get" in kept.code


def test_a_rebound_iterating_builtin_is_not_side_effect_free() -> None:
    body = (
        "def sum(values):\n    print(values)\n    return 0\n"
        "def f(x):\n    total = sum([x])\n    return x\n"
    )
    assert simplify_program(_wrap(body), frozenset({"f", "sum"})) is None


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


# ---------------------------------------------------------------------- dead code that
# evolution leaves behind: copies, dead stores, unused helpers

_PROGRAM = (
    "import numpy as np\n\n"
    "# EVOLVE-BLOCK-START\n"
    "def radii(x):\n    return x * 1.0\n\n"
    "def radii(x):\n    return x * 2.0\n\n"
    "def helper(x):\n    return x - 1.0\n\n"
    "def entry(x):\n"
    "    values = np.arange(3.0) * x\n"
    "    values = np.arange(3.0) * x\n"
    "    total = float(np.sum(values))\n"
    "    log.append(total)\n"
    "    log.append(total)\n"
    "    if total > 100.0:\n        return 1.0\n    else:\n        return radii(total)\n"
    "    total = -1.0\n"
    "# EVOLVE-BLOCK-END\n\n"
    "log = []\n\n"
    "def run(x):\n    return entry(x)\n"
)


def _namespace(code: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(code, "<test>", "exec"), namespace)
    return namespace


def test_removes_copies_dead_stores_unreachable_and_unused_helpers() -> None:
    proposal = simplify_program(_PROGRAM, frozenset({"run", "entry"}))
    assert proposal is not None
    child = assert_valid_child(_PROGRAM, proposal, OPERATOR)
    block = block_source(child, 0)
    assert block.count("def radii") == 1 and "x * 2.0" in block  # the last copy wins
    assert block.count("values = np.arange(3.0) * x") == 1  # the dead store is gone
    assert "total = -1.0" not in block  # unreachable after if/else that both return
    assert "helper" not in block  # nothing reads it and the problem does not name it
    assert block.count("log.append(total)") == 2  # side effects are kept
    before, after = _namespace(_PROGRAM), _namespace(child)
    assert after["run"](2.0) == before["run"](2.0) == 12.0  # type: ignore[operator]
    assert after["log"] == before["log"] == [6.0, 6.0]


def test_protected_and_dynamically_reachable_names_stay() -> None:
    proposal = simplify_program(_PROGRAM, frozenset({"run", "entry", "helper"}))
    assert proposal is not None and "def helper" in proposal.code
    dynamic = _PROGRAM.replace("def run(x):", "def run(x):\n    getattr(object, 'x', None)")
    proposal = simplify_program(dynamic, frozenset({"run", "entry"}))
    assert proposal is not None and "def helper" in proposal.code
    # without entry points nothing at top level counts as unused
    proposal = simplify_program(_PROGRAM)
    assert proposal is not None and "def helper" in proposal.code


def test_a_binding_read_before_it_is_replaced_stays() -> None:
    body = (
        "def f(x):\n"
        "    y = x + 1\n"
        "    z = y * 2\n"
        "    y = x + 5\n"
        "    return y + z\n"
        "def g(x):\n"
        "    def inner():\n        return w\n"
        "    w = x\n"
        "    a = inner()\n"
        "    w = 0\n"
        "    return a + w\n"
        "def h(x):\n"
        "    y = x\n"
        "    try:\n        y = 1 / x\n    except ZeroDivisionError:\n        pass\n"
        "    return y\n"
    )
    code = _wrap(body)
    assert simplify_program(code, frozenset({"f", "g", "h"})) is None
    assert _run(code, 3.0) == 16.0


def test_a_definition_used_in_between_stays() -> None:
    body = "def f(x):\n    return 1\nVALUE = f(0)\ndef f(x):\n    return 2\n"
    assert simplify_program(_wrap(body), frozenset({"f", "VALUE"})) is None


def test_simplify_keeps_the_score_of_a_crafted_program() -> None:
    """The score (here: what the entry point returns on many inputs) is unchanged."""
    proposal = simplify_program(_PROGRAM, frozenset({"run", "entry"}))
    assert proposal is not None
    before, after = _namespace(_PROGRAM), _namespace(proposal.code)
    for x in (-3.0, 0.0, 0.5, 7.0, 40.0):
        assert after["run"](x) == before["run"](x)  # type: ignore[operator]


def test_the_demo_program_with_evolution_leftovers_comes_out_clean() -> None:
    """The circle-packing demo's seed with what evolution left in its best: three copies
    of ``compute_radii`` and a duplicated assignment. One pass leaves one copy and no
    duplicate, and the packing (the score) is unchanged."""
    example = Path(__file__).resolve().parents[2] / "examples" / "circle_packing"
    seed = (example / "initial_program.py").read_text(encoding="utf-8")
    radii = seed[seed.index("def compute_radii") : seed.index("# EVOLVE-BLOCK-END")]
    older = radii.replace("for _ in range(2):", "for _ in range(1):")
    messy = seed.replace(radii, older + older + radii).replace(
        "    ring_zigzag = [0.01, 0.01]\n",
        "    ring_zigzag = [0.02, 0.02]\n    ring_zigzag = [0.01, 0.01]\n",
    )
    protected = entry_point_names(seed, (example / "evaluator.py").read_text(encoding="utf-8"))
    proposal = simplify_program(messy, protected)
    assert proposal is not None
    clean = proposal.code
    assert clean.count("def compute_radii") == 1 and "range(2)" in clean
    assert clean.count("ring_zigzag = ") == 1 and "[0.02, 0.02]" not in clean
    assert {"place_centers", "compute_radii", "construct_packing"} <= set(
        _namespace(clean)
    )  # the entry points stay
    before = _namespace(messy)["construct_packing"]()  # type: ignore[operator]
    after = _namespace(clean)["construct_packing"]()  # type: ignore[operator]
    assert float(after[1].sum()) == float(before[1].sum())


def test_folds_abs_min_max_of_literals() -> None:
    block = _simplified("def f(x):\n    return x + max(min(1.5, 2), 0.5) * abs(-3) + min(x, 2)\n")
    assert ast.unparse(ast.parse(block.strip())) == "def f(x):\n    return x + 4.5 + min(x, 2)"


@pytest.mark.parametrize(
    "expression", ["min(-0.0, 0.0)", "min(2)", "abs(1, 2)", "max(1, key=abs)", "min(2 ** 70, 1)"]
)
def test_unsafe_or_invalid_builtin_folds_are_skipped(expression: str) -> None:
    code = _wrap(f"def f():\n    return {expression}\n")
    assert run_propose(OPERATOR, code) is None


def test_a_rebound_builtin_is_not_folded() -> None:
    code = _wrap("def f():\n    return min(1, 2)\n").replace("import math", "min = max")
    assert run_propose(OPERATOR, code) is None
    assert fold_builtin_call(ast.parse("min(1, 2)", mode="eval").body, {"max"}) is None  # type: ignore[arg-type]
    assert fold_builtin_call(ast.parse("min(1, 2.0)", mode="eval").body, {"min"}) == 1  # type: ignore[arg-type]


def _nodes_visited(monkeypatch: pytest.MonkeyPatch, code: str, protected: frozenset[str]) -> int:
    """How many child lists ``ast`` hands out while simplify looks at ``code``: the work
    it does, counted rather than timed."""
    calls = 0
    original = ast.iter_child_nodes

    def counting(node: ast.AST) -> Iterator[ast.AST]:
        nonlocal calls
        calls += 1
        return original(node)

    simplify_program(code, protected)  # parse and cache outside the count
    monkeypatch.setattr(ast, "iter_child_nodes", counting)
    simplify_program(code, protected)
    monkeypatch.setattr(ast, "iter_child_nodes", original)
    return calls


def test_a_block_of_many_definitions_costs_work_in_proportion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shadowing is judged from each statement's reads, found once: a block of n module
    level functions is not walked n times over (a 3,000-line block took seconds)."""

    def block(count: int) -> str:
        return _wrap("".join(f"def g{i}(x):\n    return x * {i} + 1.5\n\n" for i in range(count)))

    small = _nodes_visited(monkeypatch, block(60), frozenset())
    large = _nodes_visited(monkeypatch, block(240), frozenset())
    assert large < 6 * small


def test_a_program_of_many_blocks_costs_work_in_proportion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each block of a long program is simplified without walking or re-parsing the
    whole program for it, where nothing in the block could be unused: a program of many
    blocks costs work in proportion to its size, not to its size times its blocks."""

    def program(blocks: int) -> str:
        parts = ["import math\n\n"]
        for i in range(blocks):
            frozen = (f"def frozen{i}_{j}(v):\n    return v + {j}\n\n" for j in range(5))
            parts.append("".join(frozen))
            parts.append(f"# EVOLVE-BLOCK-START\ndef f{i}(x):\n    return x * {i} + 0.5\n")
            parts.append("# EVOLVE-BLOCK-END\n\n")
        return "".join(parts)

    small, large = program(15), program(60)
    visited_small = _nodes_visited(monkeypatch, small, entry_point_names(small, ""))
    visited_large = _nodes_visited(monkeypatch, large, entry_point_names(large, ""))
    assert visited_large < 6 * visited_small
