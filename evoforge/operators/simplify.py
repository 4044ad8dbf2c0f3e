"""``simplify``: behaviour-preserving clean-up of the evolve blocks (deterministic).

Passes, repeated until nothing changes:

* fold arithmetic on numeric literals (``2 * 3.0`` -> ``6.0``) and the builtins ``abs``,
  ``min`` and ``max`` called on them (``max(min(1.5, 2), 0.5)`` -> ``1.5``; not where the
  program rebinds the name); skipped when it would divide by zero, overflow, produce a
  complex, non-finite or huge number or a negative zero;
* drop unreachable statements: those after ``return``/``raise``/``continue``/``break``
  in the same body, or after an ``if`` whose every branch ends that way;
* resolve branches on a constant test (``if False:``, ``if 0:``, ``while False:``,
  ``x if True else y``);
* drop shadowed bindings: a definition or assignment that a later one in the same body
  replaces before anything can read it (duplicated functions, duplicated assignments);
* drop assignments and nested definitions that their function never reads, and top-level
  definitions of a block that the program never reads and the problem does not name
  (``ProposalContext.protected_names``: the entry points the evaluator may call);
* drop ``pass`` next to other statements.

Only side-effect-free code is removed (see :mod:`evoforge.operators.dead_code`); code
whose removal could change a function's kind or scoping (``yield``, ``await``,
``global``, ``nonlocal``) is kept. The engine keeps the child only if it scores no worse
than the parent (``keep_only_if_no_worse``), a child at the best's score becomes the
run's best (the same behaviour, cleaner), and before a run ends the best program is
offered one such pass (:func:`simplify_program`).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Collection, Iterator, Sequence

from evoforge.operators.ast_tools import (
    Number,
    ParsedProgram,
    enclosing_function,
    is_canonical_literal,
    is_number,
    iter_bodies,
    literal_value,
    make_number,
    parse_program,
)
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.operators.dead_code import (
    PureCalls,
    may_remove_unused,
    removable_binding,
    remove_shadowed_bindings,
    remove_unused_definitions,
)

_MAX_PASSES = 10
_MAX_INT_BITS = 64
_MAX_POWER_EXPONENT = 64
_TERMINATORS = (ast.Return, ast.Raise, ast.Continue, ast.Break)
_SCOPE_EFFECTS = (ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal)
_DYNAMIC_SCOPE_CALLS = frozenset({"locals", "vars", "eval", "exec", "dir"})
_FOLDABLE_BUILTINS: dict[str, Callable[..., object]] = {"abs": abs, "min": min, "max": max}
_FOLDABLE: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


class SimplifyOperator(Operator):
    """Dead-code removal and constant folding; None when the blocks are already simple."""

    name = "simplify"
    keep_only_if_no_worse = True
    depends_on_code_only = True

    async def propose(self, context: ProposalContext) -> Proposal | None:
        """The simplified child, or None when nothing simplifies."""
        return simplify_program(context.parent.code, context.protected_names)


def simplify_program(code: str, protected: frozenset[str] = frozenset()) -> Proposal | None:
    """One simplification pass over ``code``'s evolve blocks, keeping every name in
    ``protected`` defined (empty: the entry points are unknown, so no top-level definition
    counts as unused); None when nothing simplifies (never raises)."""
    parsed = parse_program(code)
    if parsed is None:
        return None
    try:
        return _simplify(parsed, protected)
    except Exception:  # simplify must never fail a proposal
        return None


def _simplify(parsed: ParsedProgram, protected: frozenset[str]) -> Proposal | None:
    trees = parsed.fresh_trees()
    counts = {"folded": 0, "dead": 0, "shadowed": 0, "unused": 0, "pass": 0}
    edited: list[int] = []
    pure = PureCalls(parsed.tree)
    for index, tree in enumerate(trees):
        if tree is None:
            continue
        outer = enclosing_function(parsed.tree, parsed.blocks[index].first_line)
        changed = False
        for _ in range(_MAX_PASSES):
            step = {
                "folded": _fold_constants(tree, pure.builtins),
                "dead": _remove_dead_code(tree),
                "shadowed": _remove_shadowed(tree, outer, pure),
                "unused": _remove_unused_assignments(tree, outer, pure)
                + _remove_unused_top_level(parsed, trees, index, outer, protected, pure),
                "pass": _remove_redundant_pass(tree),
            }
            for key, value in step.items():
                counts[key] += value
            if not any(step.values()):
                break
            changed = True
        if changed:
            edited.append(index)
    if not edited:
        return None
    child = parsed.render(trees, edited)
    if not parsed.accepts(child):
        return None
    parts = [f"{key} {value}" for key, value in counts.items() if value]
    return Proposal(code=child, operator="simplify", note="simplify: " + ", ".join(parts))


# ---------------------------------------------------------------------- folding


def fold_value(op: ast.operator, left: Number, right: Number) -> Number | None:
    """``left op right`` when it is safe to compute and has a literal, else None."""
    function = _FOLDABLE.get(type(op))
    if function is None:
        return None
    if isinstance(op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
        return None
    if isinstance(op, ast.Pow):
        if abs(right) > _MAX_POWER_EXPONENT or (left == 0 and right < 0):
            return None
        if isinstance(left, int) and isinstance(right, int) and abs(left) >= 2**_MAX_INT_BITS:
            return None
    if _has_huge_int((left, right)):
        return None
    try:
        result = function(left, right)
    except (ArithmeticError, ValueError, TypeError):
        return None
    return result if _has_literal(result) else None


def _has_literal(value: object) -> bool:
    """Whether ``value`` is a number that :func:`make_number` writes back exactly: finite,
    not a negative zero, not a huge integer."""
    if not is_number(value):
        return False
    if isinstance(value, float) and (
        not math.isfinite(value) or (math.copysign(1.0, value) < 0 and value == 0)
    ):
        return False
    return not _has_huge_int((value,))


def _has_huge_int(values: Sequence[object]) -> bool:
    """Whether one of ``values`` is an int of more than ``_MAX_INT_BITS`` bits."""
    return any(isinstance(v, int) and v.bit_length() > _MAX_INT_BITS for v in values)


def fold_builtin_call(call: ast.Call, builtins: Collection[str]) -> Number | None:
    """The value of ``abs(literal)``, ``min(literal, literal, ...)`` or
    ``max(literal, literal, ...)`` when the name is one of ``builtins`` (the builtins the
    program does not rebind) and the result has a literal, else None."""
    if not isinstance(call.func, ast.Name) or call.func.id not in builtins or call.keywords:
        return None
    function = _FOLDABLE_BUILTINS.get(call.func.id)
    arguments = [literal_value(argument) for argument in call.args]
    if function is None or not arguments or any(value is None for value in arguments):
        return None
    if (function is abs) != (len(arguments) == 1):
        return None  # abs takes one argument; min and max of one number raise
    if _has_huge_int(arguments):
        return None
    result = function(*arguments)
    return result if _has_literal(result) else None  # type: ignore[return-value]


class _Folder(ast.NodeTransformer):
    def __init__(self, builtins: Collection[str]) -> None:
        self.count = 0
        self.builtins = builtins

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        left = literal_value(node.left)
        right = literal_value(node.right)
        if left is None or right is None:
            return node
        result = fold_value(node.op, left, right)
        if result is None:
            return node
        self.count += 1
        return make_number(result)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        value = literal_value(node)
        if value is None or is_canonical_literal(node):
            return node
        self.count += 1
        return make_number(value)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        value = fold_builtin_call(node, self.builtins)
        if value is None:
            return node
        self.count += 1
        return make_number(value)

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            self.count += 1
            return node.body if node.test.value else node.orelse
        return node


def _fold_constants(tree: ast.Module, builtins: Collection[str]) -> int:
    folder = _Folder(builtins)
    folder.visit(tree)
    return folder.count


def fold_expression(node: ast.expr, builtins: Collection[str]) -> ast.expr:
    """``node`` with its literal arithmetic and its ``abs``/``min``/``max`` calls on
    literals folded (as simplify folds them; ``builtins``: the names that still mean the
    builtins); the same node when nothing folds. ``node`` may be changed in place."""
    holder = ast.Expression(body=node)
    _Folder(builtins).visit(holder)
    return holder.body


# ---------------------------------------------------------------------- dead code


def _has_scope_effects(statements: Sequence[ast.AST]) -> bool:
    return any(
        isinstance(node, _SCOPE_EFFECTS) for statement in statements for node in ast.walk(statement)
    )


def _terminates(statement: ast.stmt) -> bool:
    """Whether control never passes to the statement after ``statement``."""
    if isinstance(statement, _TERMINATORS):
        return True
    if isinstance(statement, ast.If) and statement.body and statement.orelse:
        return any(map(_terminates, statement.body)) and any(map(_terminates, statement.orelse))
    return False


def reachable_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """``body`` without the statements after its first one that never passes control on
    (``return``, ``raise``, ``continue``, ``break``, or an ``if`` whose branches all do);
    ``body`` itself when nothing follows it, or when what follows has a scope effect
    (``yield``, ``await``, ``global``, ``nonlocal``: unreachable, but still meaningful)."""
    for index, statement in enumerate(body):
        if _terminates(statement):
            tail = body[index + 1 :]
            if tail and not _has_scope_effects(tail):
                return body[: index + 1]
            return body
    return body


def _remove_dead_code(tree: ast.Module) -> int:
    removed = 0
    for body in list(iter_bodies(tree)):
        kept = len(reachable_statements(body))
        removed += len(body) - kept
        del body[kept:]
        removed += _resolve_constant_branches(body)
    return removed


def _resolve_constant_branches(body: list[ast.stmt]) -> int:
    """Replace ``if <constant>`` / ``while <falsy constant>`` by the branch that runs."""
    removed = 0
    index = 0
    while index < len(body):
        statement = body[index]
        replacement: list[ast.stmt] | None = None
        if isinstance(statement, ast.If) and isinstance(statement.test, ast.Constant):
            taken, dropped = (
                (statement.body, statement.orelse)
                if statement.test.value
                else (statement.orelse, statement.body)
            )
            if not _has_scope_effects(dropped):
                replacement = list(taken)
        elif (
            isinstance(statement, ast.While)
            and isinstance(statement.test, ast.Constant)
            and not statement.test.value
            and not _has_scope_effects(statement.body)
        ):
            replacement = list(statement.orelse)
        if replacement is None:
            index += 1
            continue
        body[index : index + 1] = replacement
        removed += 1
        index += len(replacement)
    return removed


def _remove_redundant_pass(tree: ast.Module) -> int:
    removed = 0
    for body in list(iter_bodies(tree)):
        if len(body) < 2:
            continue
        kept = [statement for statement in body if not isinstance(statement, ast.Pass)]
        if not kept:
            kept = [body[0]]
        removed += len(body) - len(kept)
        body[:] = kept
    return removed


# ---------------------------------------------------------------------- unused locals


def _own_bodies(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """Statement lists of ``node``'s own scope (not of nested functions or classes)."""
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        value = getattr(node, field, None)
        if not isinstance(value, list) or not value:
            continue
        if isinstance(value[0], ast.stmt):
            yield value
            for statement in value:
                if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    yield from _own_bodies(statement)
        else:  # except handlers, match cases
            for item in value:
                yield from _own_bodies(item)


def _read_names(scope: ast.AST) -> set[str] | None:
    """Names read (or deleted, or declared global/nonlocal) anywhere in ``scope``;
    None when the scope may read variables dynamically (``locals()``, ``eval``...)."""
    names: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id in _DYNAMIC_SCOPE_CALLS:
                return None
            if not isinstance(node.ctx, ast.Store):
                names.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _drop_unused(bodies: Sequence[list[ast.stmt]], read: set[str], pure: PureCalls) -> int:
    removed = 0
    for body in bodies:
        kept = [s for s in body if (name := removable_binding(s, pure)) is None or name in read]
        if len(kept) != len(body):
            removed += len(body) - len(kept)
            body[:] = kept or [ast.Pass()]
    return removed


def _remove_unused_assignments(
    tree: ast.Module, outer: ast.FunctionDef | ast.AsyncFunctionDef | None, pure: PureCalls
) -> int:
    """Drop pure assignments to locals that their function never reads.

    Functions defined in the block use their own reads; the block's top-level statements
    are locals only when the block sits inside a function (``outer``, from the parent's
    whole-program tree, whose reads include the block's as it was: conservative).
    """
    removed = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            read = _read_names(node)
            if read is not None:
                removed += _drop_unused(list(_own_bodies(node)), read, pure)
    if outer is not None:
        read = _read_names(outer)
        if read is not None:
            removed += _drop_unused(list(_own_bodies(tree)), read, pure)
    return removed


# ---------------------------------------------------------------------- shadowed / unused


def _remove_shadowed(
    tree: ast.Module, outer: ast.FunctionDef | ast.AsyncFunctionDef | None, pure: PureCalls
) -> int:
    """Shadowed bindings in every function of the block and in the block's own body
    (module scope when the block sits at top level, ``outer``'s scope otherwise)."""
    removed = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            removed += remove_shadowed_bindings(
                list(_own_bodies(node)), node, pure, module_level=False
            )
    scope: ast.AST = tree if outer is None else outer
    removed += remove_shadowed_bindings(
        list(_own_bodies(tree)), scope, pure, module_level=outer is None
    )
    return removed


def _remove_unused_top_level(
    parsed: ParsedProgram,
    trees: Sequence[ast.Module | None],
    index: int,
    outer: ast.FunctionDef | ast.AsyncFunctionDef | None,
    protected: frozenset[str],
    pure: PureCalls,
) -> int:
    """Top-level definitions of block ``index`` (at module level) that nothing in the
    current program reads and the problem does not name. Without ``protected`` names the
    entry points are unknown, and nothing at top level is removed as unused."""
    tree = trees[index]
    if not protected or outer is not None or tree is None or parsed.tree is None:
        return 0
    if not may_remove_unused(tree, protected, pure):
        return 0
    try:
        current = parsed.render(trees, [i for i, t in enumerate(trees) if t is not None])
        program = ast.parse(current)
    except (ValueError, SyntaxError):
        return 0
    return remove_unused_definitions(tree, program, protected, pure)
