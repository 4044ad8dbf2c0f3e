"""``mutate``: genetic-programming edits of the evolve blocks' syntax trees.

Each child gets 1..``max_edits`` edits, each chosen at random (weighted towards edits
inside expressions, which keep children runnable more often than statement edits):

* ``swap``: change a binary (``+ - * / // % **``, also in ``x += ...``) or comparison
  (``< <= > >= == !=``) operator;
* ``replace``: replace a numeric subexpression by a small random expression built from
  the variables in scope there, the block's constants, ``abs``/``min``/``max`` and the
  math/numpy functions the program imports; a subexpression that looks like an array
  is replaced by one that also looks like an array (see below);
* ``wrap``: wrap a numeric subexpression: ``(x * c)``, ``(x + c)``, ``-x``, ``abs(x)``,
  ``min(x, t)``, ``max(x, t)``, ``np.sin(x)``...;

* ``hoist``: replace a composite numeric subexpression by one of its numeric operands
  (``min(x * c, t)`` -> ``x * c``), the inverse of ``wrap``: without it, expressions only
  grow from parent to child, and every later parse and check of them costs more; a hoist
  that would leave the block no longer reading one of its functions' parameters (or an
  attribute of one, ``state.recency``) is not offered;
* ``delete`` / ``duplicate`` a statement, ``swap`` two adjacent statements. ``return``,
  definitions, imports and ``global`` declarations are never moved, copied or deleted; a
  body never becomes empty (``pass``).

What ``replace`` and ``wrap`` put in is folded as ``simplify`` folds it: arithmetic on
literals and ``abs``/``min``/``max`` of literals become one literal (a wrapped literal,
``min(0.5, 2)``, is a new value for it, not a new structure), so that programs do not grow
runs of constant expressions that only ``tune`` moves (``max(min(1.25, 1.25), 1.25)``).

"Variables in scope" are the numeric-looking variables bound at module level, in the
function that encloses the block (in the frozen code) and in the functions of the block
that enclose the edited expression.

Where the program imports numpy, generated minima and maxima are ``np.minimum`` /
``np.maximum`` (elementwise, so they work on arrays as on numbers; the builtins raise on
arrays). A static guess at which names hold arrays (parameters annotated as arrays, names
assigned from numpy array constructors, elementwise numpy calls or arithmetic on such
names; reductions such as ``np.sum`` or ``x.max()`` give numbers) keeps ``replace`` from
collapsing an array into a number, the commonest way its children broke.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from evoforge.config import MutateConfig, OperatorsConfig
from evoforge.operators.ast_tools import (
    FunctionNode,
    Number,
    ParsedProgram,
    UnaryFunction,
    array_valued_names,
    block_constants,
    call_builtin,
    enclosing_function,
    imported_functions,
    iter_bodies,
    literal_value,
    looks_array,
    make_number,
    numpy_alias,
    parse_program,
    replace_nodes,
    same_tree,
    scope_names,
)
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.operators.dead_code import PureCalls
from evoforge.operators.simplify import fold_expression
from evoforge.text_memo import TextMemo

if TYPE_CHECKING:
    from evoforge.operators.llm import LLMServices

_ATTEMPTS = 8
_REPLACE_TRIES = 16
_TRIES_PER_EDIT = 8
_NOTE_WIDTH = 32

BINARY_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
# Relative odds of each operator being swapped in; the risky ones (overflow, ZeroDivision
# on ints) are rarer.
_BINARY_WEIGHTS: dict[type[ast.operator], float] = {
    ast.Add: 3.0,
    ast.Sub: 3.0,
    ast.Mult: 3.0,
    ast.Div: 3.0,
    ast.FloorDiv: 1.0,
    ast.Mod: 1.0,
    ast.Pow: 0.5,
}
COMPARE_SYMBOLS: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_GENERATED_OPS: tuple[type[ast.operator], ...] = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_DEFAULT_CONSTANTS: tuple[Number, ...] = (0.5, 1, 2)
_SCALE_CONSTANTS: tuple[Number, ...] = (0.5, 0.9, 1.1, 2.0)

# Expression positions that must not be edited: call targets, attribute owners, indexes
# (integers), annotations, decorators, assignment targets, f-string parts, patterns.
_FORBIDDEN_FIELDS = frozenset(
    {
        "func",
        "decorator_list",
        "returns",
        "annotation",
        "targets",
        "target",
        "optional_vars",
        "format_spec",
        "pattern",
        "bases",
    }
)
_FORBIDDEN_TYPED_FIELDS: frozenset[tuple[type[ast.AST], str]] = frozenset(
    {
        (ast.Attribute, "value"),
        (ast.Subscript, "value"),
        (ast.Subscript, "slice"),
        (ast.Starred, "value"),
        (ast.JoinedStr, "values"),
        (ast.ExceptHandler, "type"),
        (ast.ClassDef, "keywords"),
    }
)
# Calls whose arguments must stay integers: replacing or wrapping them would mostly
# produce floats and a TypeError.
_INTEGER_CALLS = frozenset({"range"})
_PINNED_STATEMENTS = (
    ast.Return,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.Global,
    ast.Nonlocal,
    ast.Pass,
)


@dataclass
class _ExprSite:
    node: ast.expr
    scopes: tuple[FunctionNode, ...]


@dataclass
class _BlockEnv:
    """What edits of one block may draw on; ``tree`` is the (mutable) block being edited."""

    tree: ast.Module
    outer_names: Sequence[str]
    constants: Sequence[Number]
    functions: Sequence[UnaryFunction]
    callable_names: frozenset[str] = field(default_factory=frozenset)
    numpy_name: str | None = None
    array_names: frozenset[str] = field(default_factory=frozenset)
    # the builtins the program does not rebind (what literal folding may compute)
    builtins: frozenset[str] = field(default_factory=frozenset)
    # hoist is not offered where it would drop the block's last read of a parameter
    hoist_keeps_reads: bool = True

    def names_at(self, scopes: Sequence[FunctionNode]) -> list[str]:
        """Variables visible inside the (block) functions ``scopes``, sorted."""
        names = set(self.outer_names)
        for scope in scopes:
            names.update(scope_names(scope))
        return sorted(names)


Edit = Callable[[_BlockEnv, np.random.Generator], str | None]


class MutateOperator(Operator):
    """Random syntax-tree edits (operator swaps, subexpression replacement, wrapping,
    statement deletion/duplication/swaps) inside the evolve blocks."""

    name = "mutate"

    @classmethod
    def from_settings(cls, settings: OperatorsConfig, llm: LLMServices | None) -> Operator:
        return cls(settings.mutate)

    def __init__(self, config: MutateConfig | None = None) -> None:
        self.config = config if config is not None else MutateConfig.model_validate({})

    async def propose(self, context: ProposalContext) -> Proposal | None:
        """A child with 1..max_edits edits, or None if no edit applies."""
        parsed = parse_program(context.parent.code)
        if parsed is None:
            return None
        for _ in range(_ATTEMPTS):
            try:
                proposal = self._attempt(parsed, context.rng)
            except Exception:  # one failed attempt must never fail the proposal
                continue
            if proposal is not None:
                return proposal
        return None

    def _attempt(self, parsed: ParsedProgram, rng: np.random.Generator) -> Proposal | None:
        trees = parsed.fresh_trees()
        envs = _block_envs(parsed, trees, hoist_keeps_reads=self.config.hoist_keeps_reads)
        if not envs:
            return None
        block_indexes = sorted(envs)
        edits, weights = zip(*_EDITS, strict=True)
        probabilities = np.array(weights) / sum(weights)
        notes: list[str] = []
        edited: set[int] = set()
        for _ in range(int(rng.integers(1, self.config.max_edits + 1))):
            for _ in range(_TRIES_PER_EDIT):
                block_index = block_indexes[int(rng.integers(len(block_indexes)))]
                edit = edits[int(rng.choice(len(edits), p=probabilities))]
                note = edit(envs[block_index], rng)
                if note is not None:
                    notes.append(note)
                    edited.add(block_index)
                    break
        if not notes:
            return None
        child = parsed.render(trees, sorted(edited))
        if not parsed.accepts(child):
            return None
        return Proposal(code=child, operator=self.name, note="mutate: " + ", ".join(notes))


@dataclass(frozen=True)
class _ProgramEnv:
    """What the edits of a program's blocks may draw on that depends on the program alone
    (everything of a :class:`_BlockEnv` but the tree being edited), per usable block."""

    outer_names: dict[int, tuple[str, ...]]
    constants: dict[int, tuple[Number, ...]]
    functions: tuple[UnaryFunction, ...]
    callable_names: frozenset[str]
    numpy_name: str | None
    array_names: frozenset[str]
    builtins: frozenset[str]


_PROGRAM_ENVS: TextMemo[_ProgramEnv] = TextMemo(256)
"""Per program text: a parent is often picked again, and every attempt on it needs this."""


def _block_envs(
    parsed: ParsedProgram, trees: Sequence[ast.Module | None], *, hoist_keeps_reads: bool = True
) -> dict[int, _BlockEnv]:
    shared = _PROGRAM_ENVS.get(parsed.code, lambda: _program_env(parsed))
    return {
        index: _BlockEnv(
            tree=tree,
            outer_names=shared.outer_names[index],
            constants=shared.constants[index],
            functions=shared.functions,
            callable_names=shared.callable_names,
            numpy_name=shared.numpy_name,
            array_names=shared.array_names,
            builtins=shared.builtins,
            hoist_keeps_reads=hoist_keeps_reads,
        )
        for index, tree in enumerate(trees)
        if tree is not None and index in shared.outer_names
    }


def _program_env(parsed: ParsedProgram) -> _ProgramEnv:
    block_trees = [block.tree for block in parsed.blocks if block.tree is not None]
    module_names: set[str] = set()
    if parsed.tree is not None:
        module_names.update(scope_names(parsed.tree))
    program_trees = [parsed.tree] if parsed.tree is not None else block_trees
    functions = tuple(imported_functions(program_trees))
    numpy_name = numpy_alias(program_trees)
    arrays = array_valued_names(program_trees, numpy_name)
    callable_names = frozenset({"abs", "min", "max"} | {f.name for f in functions})
    if numpy_name is not None:
        callable_names |= {f"{numpy_name}.minimum", f"{numpy_name}.maximum"}
    outer_names: dict[int, tuple[str, ...]] = {}
    constants: dict[int, tuple[Number, ...]] = {}
    for index, block in enumerate(parsed.blocks):
        if block.tree is None:
            continue
        names = set(module_names)
        names.update(scope_names(block.tree))
        outer = enclosing_function(parsed.tree, block.first_line)
        if outer is not None:
            names.update(scope_names(outer))
        outer_names[index] = tuple(sorted(names))
        constants[index] = tuple(block_constants(block.tree))
    builtins = frozenset(PureCalls(parsed.tree).builtins)
    return _ProgramEnv(
        outer_names, constants, functions, callable_names, numpy_name, arrays, builtins
    )


# ---------------------------------------------------------------------- helpers


def _short(node: ast.AST) -> str:
    lines = ast.unparse(node).splitlines()
    text = lines[0] if lines else ""
    return text if len(text) <= _NOTE_WIDTH else text[: _NOTE_WIDTH - 3] + "..."


def _pick(rng: np.random.Generator, items: Sequence[object]) -> int:
    return int(rng.integers(len(items)))


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
    )


def _expression_sites(env: _BlockEnv) -> list[_ExprSite]:
    """Numeric-looking expressions of the block that may be replaced or wrapped."""
    sites: list[_ExprSite] = []
    names_cache: dict[tuple[int, ...], frozenset[str]] = {}

    def names_for(scopes: tuple[FunctionNode, ...]) -> frozenset[str]:
        key = tuple(id(scope) for scope in scopes)
        if key not in names_cache:
            names_cache[key] = frozenset(env.names_at(scopes))
        return names_cache[key]

    def candidate(node: ast.AST, scopes: tuple[FunctionNode, ...]) -> bool:
        if literal_value(node) is not None:
            return True
        if isinstance(node, ast.Name):
            return isinstance(node.ctx, ast.Load) and node.id in names_for(scopes)
        if isinstance(node, ast.BinOp):
            return not (_is_text(node.left) or _is_text(node.right))
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, ast.USub | ast.UAdd)
        if isinstance(node, ast.Call):
            try:
                return ast.unparse(node.func) in env.callable_names
            except Exception:
                return False
        return False

    def visit(node: ast.AST, scopes: tuple[FunctionNode, ...]) -> None:
        if isinstance(node, ast.expr) and candidate(node, scopes):
            sites.append(_ExprSite(node=node, scopes=scopes))
            if literal_value(node) is not None:
                return
        inner = (*scopes, node) if isinstance(node, FunctionNode) else scopes
        integer_call = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _INTEGER_CALLS
        )
        for name, value in ast.iter_fields(node):
            if name in _FORBIDDEN_FIELDS or (type(node), name) in _FORBIDDEN_TYPED_FIELDS:
                continue
            if integer_call and name in ("args", "keywords"):
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child, inner)

    visit(env.tree, ())
    return sites


def _random_expr(
    env: _BlockEnv, names: Sequence[str], rng: np.random.Generator, depth: int
) -> ast.expr:
    """A small random numeric expression over ``names`` and the block's constants."""
    if depth <= 0 or rng.random() < 0.3:
        return _terminal(env, names, rng)
    kind = int(rng.integers(3))
    if kind == 0:
        op = _GENERATED_OPS[_pick(rng, _GENERATED_OPS)]()
        left = _random_expr(env, names, rng, depth - 1)
        right = _random_expr(env, names, rng, depth - 1)
        return ast.BinOp(left=left, op=op, right=right)
    if kind == 1:
        argument = _random_expr(env, names, rng, depth - 1)
        if env.functions and rng.random() < 0.7:
            return env.functions[_pick(rng, env.functions)].call(argument)
        return call_builtin("abs", argument)
    return _extremum(
        env,
        "min" if rng.random() < 0.5 else "max",
        _random_expr(env, names, rng, depth - 1),
        _random_expr(env, names, rng, depth - 1),
    )


def _extremum(env: _BlockEnv, kind: str, first: ast.expr, second: ast.expr) -> ast.expr:
    """``min``/``max`` of two expressions: numpy's elementwise form where numpy is imported."""
    if env.numpy_name is None:
        return call_builtin(kind, first, second)
    func = ast.Attribute(
        value=ast.Name(id=env.numpy_name, ctx=ast.Load()), attr=f"{kind}imum", ctx=ast.Load()
    )
    return ast.Call(func=func, args=[first, second], keywords=[])


def _terminal(env: _BlockEnv, names: Sequence[str], rng: np.random.Generator) -> ast.expr:
    if names and rng.random() < 0.6:
        return ast.Name(id=names[_pick(rng, names)], ctx=ast.Load())
    pool = list(dict.fromkeys([*env.constants, *_DEFAULT_CONSTANTS]))
    return make_number(pool[_pick(rng, pool)])


def _replace_in_tree(env: _BlockEnv, old: ast.AST, new: ast.AST) -> None:
    replace_nodes(env.tree, {id(old): new})


# ---------------------------------------------------------------------- edits


def _swap_binary(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    nodes: list[ast.BinOp | ast.AugAssign] = [
        node
        for node in ast.walk(env.tree)
        if (
            isinstance(node, ast.BinOp)
            and type(node.op) in BINARY_SYMBOLS
            and not (_is_text(node.left) or _is_text(node.right))
        )
        or (
            isinstance(node, ast.AugAssign)
            and type(node.op) in BINARY_SYMBOLS
            and not _is_text(node.value)
        )
    ]
    if not nodes:
        return None
    node = nodes[_pick(rng, nodes)]
    old = type(node.op)
    choices = [op for op in _BINARY_WEIGHTS if op is not old]
    weights = np.array([_BINARY_WEIGHTS[op] for op in choices])
    new = choices[int(rng.choice(len(choices), p=weights / weights.sum()))]
    node.op = new()
    return f"swap {BINARY_SYMBOLS[old]} -> {BINARY_SYMBOLS[new]}"


def _swap_compare(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    slots = [
        (node, index)
        for node in ast.walk(env.tree)
        if isinstance(node, ast.Compare)
        for index, op in enumerate(node.ops)
        if type(op) in COMPARE_SYMBOLS
    ]
    if not slots:
        return None
    node, index = slots[_pick(rng, slots)]
    old = type(node.ops[index])
    choices = [op for op in COMPARE_SYMBOLS if op is not old]
    new = choices[_pick(rng, choices)]
    node.ops[index] = new()
    return f"swap {COMPARE_SYMBOLS[old]} -> {COMPARE_SYMBOLS[new]}"


def _replace_subexpression(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    sites = _expression_sites(env)
    if not sites:
        return None
    site = sites[_pick(rng, sites)]
    names = env.names_at(site.scopes)
    arrays = [name for name in names if name in env.array_names]
    keep_array = bool(arrays) and looks_array(site.node, env.array_names, env.numpy_name)
    for _ in range(_REPLACE_TRIES):
        new = fold_expression(
            _random_expr(env, names, rng, depth=int(rng.integers(0, 3))), env.builtins
        )
        if keep_array and not looks_array(new, env.array_names, env.numpy_name):
            continue  # an array replaced by a number mostly breaks the shapes downstream
        if not same_tree(new, site.node):
            note = f"replace {_short(site.node)} -> {_short(new)}"
            _replace_in_tree(env, site.node, new)
            return note
    return None


def _wrap_expression(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    sites = _expression_sites(env)
    if not sites:
        return None
    site = sites[_pick(rng, sites)]
    node = copy.deepcopy(site.node)
    names = env.names_at(site.scopes)
    kinds = ["scale", "shift", "neg", "abs", "min", "max"]
    if env.functions:
        kinds.append("func")
    kind = kinds[_pick(rng, kinds)]
    wrapped: ast.expr
    if kind == "scale":
        factor = _SCALE_CONSTANTS[_pick(rng, _SCALE_CONSTANTS)]
        wrapped = ast.BinOp(left=node, op=ast.Mult(), right=make_number(factor))
    elif kind == "shift":
        wrapped = ast.BinOp(left=node, op=ast.Add(), right=_terminal(env, names, rng))
    elif kind == "neg":
        wrapped = ast.UnaryOp(op=ast.USub(), operand=node)
    elif kind == "abs":
        wrapped = call_builtin("abs", node)
    elif kind in ("min", "max"):
        wrapped = _extremum(env, kind, node, _terminal(env, names, rng))
        if env.numpy_name is not None:
            kind = f"{env.numpy_name}.{kind}imum"
    else:
        function = env.functions[_pick(rng, env.functions)]
        wrapped = function.call(node)
        kind = function.name
    wrapped = fold_expression(wrapped, env.builtins)
    if same_tree(wrapped, site.node):
        return None  # min(c, c), abs of a positive literal: no change
    _replace_in_tree(env, site.node, wrapped)
    if literal_value(wrapped) is not None:
        return f"wrap {kind}, folded {_short(site.node)} -> {_short(wrapped)}"
    return f"wrap {kind}"


def _operands(node: ast.expr) -> list[ast.expr]:
    """The direct numeric operands of a composite expression site: both sides of a binary
    operation, the operand of a sign, the positional arguments of a call."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return [arg for arg in node.args if not isinstance(arg, ast.Starred)]
    return []


class _InputReads:
    """How often the block reads each of its inputs, in all of the block and in each of
    its expressions. An input is a parameter of a function of the block, or an attribute
    path rooted at one (``state.recency``), matched by name.

    Locals and module names do not count (dropping a local's last read leaves dead code,
    which ``simplify`` removes), nor modules or functions: ``np.sin(x)`` reads ``x``;
    ``x.max()`` reads ``x``."""

    def __init__(self, env: _BlockEnv) -> None:
        parameters: set[str] = set()
        for node in ast.walk(env.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                arguments = node.args
                for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                    parameters.add(argument.arg)
        self._variables = frozenset(parameters)
        self._memo: dict[int, dict[str, int]] = {}
        self.total = self.of(env.tree) if parameters else {}

    def _key(self, node: ast.expr) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self._variables:
            return None
        return ".".join([node.id, *reversed(parts)])

    def of(self, node: ast.AST) -> dict[str, int]:
        """The reads inside ``node`` (memoised per node: the tree must not change)."""
        known = self._memo.get(id(node))
        if known is not None:
            return known
        reads: dict[str, int] = {}
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            key = self._key(node)
            if key is not None:
                reads[key] = 1
                self._memo[id(node)] = reads
                return reads
        children: list[ast.AST] = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            children = [node.func.value, *node.args, *node.keywords]  # the method's object
        for child in children:
            for key, count in self.of(child).items():
                reads[key] = reads.get(key, 0) + count
        self._memo[id(node)] = reads
        return reads

    def drops_last_read(self, node: ast.expr, kept: ast.expr) -> bool:
        """Whether replacing ``node`` by its part ``kept`` leaves the block reading some
        input that ``node`` reads no longer at all."""
        if not self._variables:
            return False  # a block without parameters (most constructions) reads no input
        kept_reads = self.of(kept)
        return any(
            self.total[key] - count + kept_reads.get(key, 0) == 0
            for key, count in self.of(node).items()
        )


def _hoist_expression(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    """Replace a composite numeric subexpression by one of its own operands that is a
    numeric site too (``min(x * 2, t)`` -> ``x * 2``): the edit that undoes a ``wrap`` and
    shortens a program, so that expressions do not only grow from child to child.

    A hoist that would drop the block's last read of an input (a parameter of one of its
    functions, or an attribute of one) is not offered: ``-w * state.recency + b *
    state.predicted`` -> ``b * state.predicted`` forgets recency altogether. Such a child
    is a different policy rather than a shorter form of its parent; where it scored well
    (cache_eviction's plateau) its descendants did not leave it, since the edits that
    could bring the input back are rare. Unless ``hoist_keeps_reads`` is off (the
    stand-in model's operators keep the old form)."""
    sites = _expression_sites(env)
    numeric = {id(site.node) for site in sites}
    reads = _InputReads(env) if env.hoist_keeps_reads else None
    choices = [
        (site.node, operand)
        for site in sites
        for operand in _operands(site.node)
        if id(operand) in numeric
        and (
            not looks_array(site.node, env.array_names, env.numpy_name)
            or looks_array(operand, env.array_names, env.numpy_name)
        )  # an array kept an array, as in replace
        and (reads is None or not reads.drops_last_read(site.node, operand))
    ]
    if not choices:
        return None
    node, operand = choices[_pick(rng, choices)]
    note = f"hoist {_short(node)} -> {_short(operand)}"
    _replace_in_tree(env, node, operand)
    return note


def _movable(statement: ast.stmt) -> bool:
    if isinstance(statement, _PINNED_STATEMENTS):
        return False
    return not (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _delete_statement(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    slots = [
        (body, index)
        for body in iter_bodies(env.tree)
        for index, statement in enumerate(body)
        if _movable(statement)
    ]
    if not slots:
        return None
    body, index = slots[_pick(rng, slots)]
    removed = body.pop(index)
    if not body:
        body.append(ast.Pass())
    return f"delete {_short(removed)!r}"


def _duplicate_statement(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    slots = [
        (body, index)
        for body in iter_bodies(env.tree)
        for index, statement in enumerate(body)
        if _movable(statement)
    ]
    if not slots:
        return None
    body, index = slots[_pick(rng, slots)]
    body.insert(index + 1, copy.deepcopy(body[index]))
    return f"duplicate {_short(body[index])!r}"


def _swap_statements(env: _BlockEnv, rng: np.random.Generator) -> str | None:
    slots = [
        (body, index)
        for body in iter_bodies(env.tree)
        for index in range(len(body) - 1)
        if _movable(body[index])
        and _movable(body[index + 1])
        and not same_tree(body[index], body[index + 1])
    ]
    if not slots:
        return None
    body, index = slots[_pick(rng, slots)]
    body[index], body[index + 1] = body[index + 1], body[index]
    return "swap statements"


_EDITS: tuple[tuple[Edit, float], ...] = (
    (_swap_binary, 3.0),
    (_swap_compare, 1.5),
    (_replace_subexpression, 3.0),
    (_wrap_expression, 3.0),
    (_hoist_expression, 1.5),
    (_delete_statement, 1.0),
    (_duplicate_statement, 0.75),
    (_swap_statements, 0.75),
)
