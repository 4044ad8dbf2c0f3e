"""mutate: genetic-programming edits that keep children runnable-looking."""

from __future__ import annotations

import ast
import builtins
import re

import numpy as np
from operator_cases import PROGRAMS, assert_valid_child, block_source, run_propose

from evoforge.blocks import dedent_block
from evoforge.config import MutateConfig
from evoforge.operators.mutate import MutateOperator
from evoforge.static_check import new_name_problems

PROGRAM = """\
import math
import numpy as np

LIMIT = 3.0
NAMES = ["a", "b"]


def helper(q):
    return q


# EVOLVE-BLOCK-START
def energy(x, y):
    d = x - y
    e = d * d + 0.5
    if e > LIMIT:
        e = LIMIT
    return math.sqrt(e) / 2
# EVOLVE-BLOCK-END
"""


def _block_tree(code: str) -> ast.Module:
    return ast.parse(dedent_block(block_source(code, 0)))


def _children(operator: MutateOperator, code: str, seeds: range) -> list:
    return [p for seed in seeds if (p := run_propose(operator, code, seed)) is not None]


def test_edits_cover_every_kind() -> None:
    notes = " ".join(p.note for p in _children(MutateOperator(), PROGRAM, range(60)))
    kinds = ("swap +", "swap -", "swap >", "replace", "wrap", "hoist", "delete", "duplicate")
    for kind in kinds:
        assert kind in notes, kind


def test_children_are_valid_and_returns_survive() -> None:
    operator = MutateOperator(MutateConfig(max_edits=4))
    parent_returns = sum(isinstance(n, ast.Return) for n in ast.walk(_block_tree(PROGRAM)))
    for proposal in _children(operator, PROGRAM, range(40)):
        child = assert_valid_child(PROGRAM, proposal, operator)
        tree = _block_tree(child)
        assert sum(isinstance(n, ast.Return) for n in ast.walk(tree)) == parent_returns
        assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["energy"]


def test_new_names_come_from_scope_and_imports() -> None:
    allowed = {"x", "y", "d", "e", "LIMIT", "math", "np", "abs", "min", "max"}
    for proposal in _children(MutateOperator(MutateConfig(max_edits=3)), PROGRAM, range(60)):
        names = {n.id for n in ast.walk(_block_tree(proposal.code)) if isinstance(n, ast.Name)}
        assert names <= allowed, names - allowed
        # Containers and functions are never used as numbers.
        assert "NAMES" not in names and "helper" not in names


def test_functions_only_from_imported_modules() -> None:
    no_imports = PROGRAM.replace("import math\nimport numpy as np\n", "").replace(
        "math.sqrt(e)", "e"
    )
    for proposal in _children(MutateOperator(MutateConfig(max_edits=3)), no_imports, range(40)):
        assert "math." not in proposal.code and "np." not in proposal.code
        called = {
            n.func.id
            for n in ast.walk(ast.parse(proposal.code))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert called <= {"abs", "min", "max"}


def test_max_edits_one_makes_one_edit() -> None:
    edit = re.compile(r"(?:^mutate: |, )(?:swap|replace|wrap|hoist|delete|duplicate) ")
    for proposal in _children(MutateOperator(MutateConfig(max_edits=1)), PROGRAM, range(20)):
        assert len(edit.findall(proposal.note)) == 1, proposal.note


def _hoists(code: str, seeds: range) -> list[tuple[str | None, str]]:
    """One ``hoist`` edit of ``code``'s first block per seed: (its note, the edited block)."""
    from evoforge.operators.ast_tools import parse_program
    from evoforge.operators.mutate import _block_envs, _hoist_expression

    found = []
    for seed in seeds:
        parsed = parse_program(code)
        assert parsed is not None
        env = _block_envs(parsed, parsed.fresh_trees())[0]
        note = _hoist_expression(env, np.random.default_rng(seed))
        found.append((note, ast.unparse(env.tree)))
    return found


def test_hoist_replaces_an_expression_by_one_of_its_operands() -> None:
    """Every hoist child is its parent with one composite expression replaced by one of
    that expression's own operands: shorter, and built only from the parent's parts."""
    code = (
        "# EVOLVE-BLOCK-START\ndef f(x, y):\n"
        "    return min(abs(x * 2.0), y) + 1.5 + x * y\n# EVOLVE-BLOCK-END\n"
    )
    parent = ast.unparse(_block_tree(code))
    operands = {
        "min(abs(x * 2.0), y) + 1.5",
        "x * y",
        "min(abs(x * 2.0), y)",
        "1.5",
        "abs(x * 2.0)",
        "y",
        "x * 2.0",
        "x",
        "2.0",
    }
    seen = set()
    for note, child in _hoists(code, range(40)):
        assert note is not None and note.startswith("hoist ")
        assert len(child) < len(parent)
        kept = note.split(" -> ")[1]
        assert kept in operands, note
        seen.add(kept)
    assert len(seen) >= 5  # the choice spreads over the composite sites and operands


def test_hoist_never_drops_the_last_read_of_an_input() -> None:
    """A hoist that would leave the block no longer reading a parameter of its function
    or an attribute of one is not offered: here only ``-w -> w`` keeps every read."""
    code = (
        "# EVOLVE-BLOCK-START\ndef priority(state):\n"
        "    w = 1.0\n    bonus = 0.5\n"
        "    return -w * state.recency + bonus * state.predicted * state.size\n"
        "# EVOLVE-BLOCK-END\n"
    )
    for note, child in _hoists(code, range(30)):
        assert note == "hoist -w -> w", note
        for read in ("state.recency", "state.predicted", "state.size", "bonus * "):
            assert read in child
    # once recency is read twice, dropping one of its reads is a shorter form, offered
    twice = code.replace("return -w", "return state.recency * 0.5 - w")
    notes = {note for note, _ in _hoists(twice, range(60))}
    assert any(note is not None and "state.recency" in note for note in notes), notes
    # a local's last read is not an input's: x * c -> x leaves c unread, and is offered
    local = (
        "# EVOLVE-BLOCK-START\ndef f(x, y):\n"
        "    c = 2.0\n    return x * c + y\n# EVOLVE-BLOCK-END\n"
    )
    notes = {note for note, _ in _hoists(local, range(60))}
    assert notes == {"hoist x * c -> x"}, notes


def test_hoist_may_drop_a_last_read_when_the_setting_is_off() -> None:
    """``hoist_keeps_reads=False`` (the stand-in model's operators) offers every hoist,
    the drop of ``state.recency`` included, through the operator itself."""
    from evoforge.llm.oracle import ORACLE_OPERATORS

    assert ORACLE_OPERATORS.mutate.hoist_keeps_reads is False
    code = (
        "# EVOLVE-BLOCK-START\ndef priority(state):\n"
        "    return -1.5 * state.recency + 0.5 * state.predicted\n"
        "# EVOLVE-BLOCK-END\n"
    )

    def hoists(keeps_reads: bool) -> set[str]:
        operator = MutateOperator(MutateConfig(max_edits=1, hoist_keeps_reads=keeps_reads))
        return {
            proposal.note
            for proposal in _children(operator, code, range(300))
            if proposal.note.startswith("mutate: hoist ")
        }

    # every hoist here drops a read (attributes are not sites a hoist may keep)
    assert hoists(True) == set()
    free = hoists(False)
    assert "mutate: hoist -1.5 * state.recency -> -1.5" in free, free
    assert any(note.endswith("-> 0.5 * state.predicted") for note in free), free


def test_hoist_keeps_an_array_an_array() -> None:
    code = (
        "import numpy as np\n# EVOLVE-BLOCK-START\ndef f(n):\n"
        "    xs = np.arange(n)\n    return np.sum(xs * 0.5 + 2.0)\n# EVOLVE-BLOCK-END\n"
    )
    for note, _ in _hoists(code, range(30)):
        assert note is not None
        # xs * 0.5 + 2.0 is an array: it may become xs * 0.5 (an array), never 2.0
        assert note != "hoist xs * 0.5 + 2.0 -> 2.0", note
        assert note != "hoist xs * 0.5 -> 0.5", note


def test_indented_block_edits_stay_in_the_loop() -> None:
    code = PROGRAMS["two_blocks"]
    for proposal in _children(MutateOperator(), code, range(20)):
        assert_valid_child(code, proposal, MutateOperator())
        second = block_source(proposal.code, 1)
        assert all(line.startswith("        ") for line in second.splitlines() if line.strip())


def test_block_without_expressions_or_statements_gives_none() -> None:
    code = "# EVOLVE-BLOCK-START\nimport math\n# EVOLVE-BLOCK-END\n"
    assert run_propose(MutateOperator(), code, 0) is None


def test_string_formatting_is_not_swapped() -> None:
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return 'v=%d' % x\n# EVOLVE-BLOCK-END\n"
    for proposal in _children(MutateOperator(), code, range(20)):
        assert "'v=%d' %" in proposal.code or "%" not in proposal.code


def test_children_of_runnable_parent_mostly_run() -> None:
    ok = 0
    children = _children(MutateOperator(), PROGRAM, range(40))
    for proposal in children:
        namespace: dict[str, object] = {"__builtins__": builtins}
        try:
            exec(compile(proposal.code, "<child>", "exec"), namespace)
            float(namespace["energy"](1.5, 0.25))  # type: ignore[operator]
            ok += 1
        except Exception:
            pass
    assert ok >= len(children) * 0.6


def test_range_arguments_and_indexes_are_not_replaced_or_wrapped() -> None:
    code = (
        "# EVOLVE-BLOCK-START\n"
        "def f(xs, n):\n"
        "    total = 0.0\n"
        "    for i in range(n):\n"
        "        total = total + xs[i]\n"
        "    return total\n"
        "# EVOLVE-BLOCK-END\n"
    )
    operator = MutateOperator(MutateConfig(max_edits=2))
    for proposal in _children(operator, code, range(40)):
        for node in ast.walk(_block_tree(proposal.code)):
            if isinstance(node, ast.Subscript):
                assert ast.unparse(node) == "xs[i]"
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "range":
                assert ast.unparse(node) == "range(n)"


def test_children_never_use_a_name_the_parent_defines_nowhere() -> None:
    # deleting or reordering statements easily leaves a name undefined; mutate must retry
    # such edits instead of handing the child to the sandbox to fail with NameError
    operator = MutateOperator(MutateConfig(max_edits=4))
    children = _children(operator, PROGRAM, range(150))
    assert len(children) > 100
    notes = " ".join(p.note for p in children)
    assert "delete" in notes and "duplicate" in notes
    for proposal in children:
        assert new_name_problems(PROGRAM, proposal.code) == [], proposal.note


def test_main_guard_names_and_type_aliases_are_never_used_as_numbers() -> None:
    # the evaluator imports the program, so a name bound only under
    # `if __name__ == "__main__":` does not exist when the evolved code runs; a type alias
    # such as `Step = tuple[str, float]` exists but is no number
    guarded = (
        "Step = tuple[str, float | None]\n"
        + PROGRAM
        + (
            '\n\nif __name__ == "__main__":\n    for index, step in enumerate([1.0]):\n'
            "        print(index, step)\n"
        )
    )
    operator = MutateOperator(MutateConfig(max_edits=4))
    children = _children(operator, guarded, range(150))
    assert len(children) > 100
    for proposal in children:
        names = {
            node.id for node in ast.walk(_block_tree(proposal.code)) if isinstance(node, ast.Name)
        }
        assert not names & {"index", "step", "Step"}, proposal.note


ARRAY_PROGRAM = """\
import numpy as np


# EVOLVE-BLOCK-START
def place(n: int) -> np.ndarray:
    angles = 0.3 + 2.0 * np.pi * np.arange(n) / n
    radius = 0.27
    xs = 0.5 + radius * np.cos(angles)
    ys = 0.3 + radius * np.sin(angles)
    return np.column_stack([xs, ys])
# EVOLVE-BLOCK-END
"""


def test_minima_and_maxima_are_elementwise_where_numpy_is_imported() -> None:
    operator = MutateOperator(MutateConfig(max_edits=3))
    children = _children(operator, ARRAY_PROGRAM, range(200))
    called = {
        ast.unparse(node.func)
        for proposal in children
        for node in ast.walk(_block_tree(proposal.code))
        if isinstance(node, ast.Call)
    }
    assert {"np.minimum", "np.maximum"} <= called
    assert not called & {"min", "max"}


def test_replaced_arrays_stay_arrays() -> None:
    # collapsing `xs` (or the expression it is computed from) into a number breaks
    # np.column_stack: every child of a single replace edit must still give n rows
    operator = MutateOperator(MutateConfig(max_edits=1))
    children = [p for p in _children(operator, ARRAY_PROGRAM, range(300)) if "replace" in p.note]
    assert len(children) > 40
    for proposal in children:
        namespace: dict[str, object] = {"__builtins__": builtins}
        exec(compile(proposal.code, "<child>", "exec"), namespace)
        with np.errstate(all="ignore"):
            points = namespace["place"](11)  # type: ignore[operator]
        assert np.shape(points)[1] == 2, proposal.note


LITERALS_ONLY = """\
# EVOLVE-BLOCK-START
def coefficients():
    return [0.5, 0.25, 0.125]
# EVOLVE-BLOCK-END
"""


def _constant_expressions(tree: ast.AST) -> list[str]:
    """Arithmetic on two literals, and abs/min/max calls on literals only."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and all(
            isinstance(side, ast.Constant | ast.UnaryOp) for side in (node.left, node.right)
        ):
            found.append(ast.unparse(node))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("abs", "min", "max")
            and all(isinstance(arg, ast.Constant | ast.UnaryOp) for arg in node.args)
        ):
            found.append(ast.unparse(node))
    return found


def test_literals_wrapped_or_replaced_by_constants_are_folded() -> None:
    operator = MutateOperator(MutateConfig(max_edits=3))
    children = _children(operator, LITERALS_ONLY, range(80))
    notes = " ".join(child.note for child in children)
    assert "folded" in notes  # wraps of literals happened, and became literals
    for child in children:
        assert _constant_expressions(_block_tree(child.code)) == [], child.note
        assert child.code != LITERALS_ONLY


def test_folding_keeps_a_rebound_builtin() -> None:
    code = LITERALS_ONLY.replace("def coefficients", "min = max\n\n\ndef coefficients")
    operator = MutateOperator(MutateConfig(max_edits=3))
    calls = [
        ast.unparse(node)
        for child in _children(operator, code, range(80))
        for node in ast.walk(_block_tree(child.code))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "min"
        and all(isinstance(arg, ast.Constant | ast.UnaryOp) for arg in node.args)
    ]
    assert calls  # ``min`` means ``max`` here: never computed as the builtin
