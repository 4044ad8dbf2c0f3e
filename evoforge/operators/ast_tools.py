"""Shared ``ast`` helpers for the symbolic operators (tune, mutate, crossover, simplify).

The symbolic operators never edit text: each evolve block is dedented, parsed on its own,
edited as a tree, unparsed, re-indented and put back with
:func:`evoforge.blocks.replace_blocks`, so every child parses and keeps the frozen code.
Blocks that do not parse on their own, or that are fragments of an expression of the
whole program (see :func:`parse_program`), are left alone verbatim. Everything here is deterministic
(no sets are iterated without sorting) so that a child depends only on the rng state.

:func:`literal_skeleton` and :func:`literal_vector` are also for the engine: programs with
the same skeleton differ only in numeric literals, and their vectors align position by
position, which is what ``tune`` needs from ``ProposalContext.relatives``.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import math
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from evoforge.blocks import (
    BlockError,
    block_indent,
    dedent_block,
    frozen_violation,
    indent_block,
    replace_blocks,
    split_blocks,
)
from evoforge.program import normalise_code
from evoforge.static_check import inherit_problems, new_name_problems
from evoforge.text_memo import TextMemo

Number = int | float
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda

#: Placeholder that stands for every numeric literal in :func:`literal_skeleton`.
LITERAL_PLACEHOLDER = "__evoforge_literal__"

_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)
_SCOPE_BOUNDARIES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_NON_NUMERIC_VALUES = (
    ast.List,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.JoinedStr,
    ast.Lambda,
)

# Unary functions the operators may call, by module, with whether the argument must be
# wrapped in abs() to stay in the function's domain. Chosen so children stay runnable.
_MATH_UNARY: Mapping[str, bool] = {
    "sqrt": True,
    "sin": False,
    "cos": False,
    "tanh": False,
    "atan": False,
    "fabs": False,
    "log1p": True,
}
_NUMPY_UNARY: Mapping[str, bool] = {
    "sqrt": True,
    "sin": False,
    "cos": False,
    "tanh": False,
    "arctan": False,
    "abs": False,
    "log1p": True,
}
_NUMPY_MODULES = ("numpy",)


# --------------------------------------------------------------------------- numbers


def is_number(value: object) -> bool:
    """True for finite-or-not int and float values, False for bool, complex and the rest."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def literal_value(node: ast.AST) -> Number | None:
    """The value of a numeric literal node, else None.

    A literal is a numeric constant under any chain of unary signs (``3``, ``-3``,
    ``--3.0``, ``+2``): signs belong to the literal, so that changing a value's sign never
    changes the literal skeleton.
    """
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        if isinstance(node.op, ast.USub):
            sign = -sign
        node = node.operand
    if not isinstance(node, ast.Constant):
        return None
    value = _as_number(node.value)
    if value is None:
        return None
    return -value if sign < 0 else value


def is_canonical_literal(node: ast.AST) -> bool:
    """Whether ``node`` is a literal as :func:`make_number` writes it (``3``, ``-3``)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and literal_value(node) is not None


def _as_number(value: object) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def make_number(value: Number) -> ast.expr:
    """A literal node for ``value``; negatives become ``-(abs)`` so precedence stays right.

    Raises ValueError for inf and nan, which have no literal.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"no literal for {value!r}")
    if value < 0:
        return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-value))
    if isinstance(value, float) and value == 0.0:
        return ast.Constant(value=0.0)
    return ast.Constant(value=value)


@dataclass(frozen=True)
class LiteralSite:
    """One numeric literal in a block: its node, value and whether it indexes something."""

    node: ast.expr
    value: Number
    in_subscript: bool


def literal_sites(tree: ast.AST) -> list[LiteralSite]:
    """Every numeric literal in ``tree`` in source order (depth first).

    A negated literal (``-3``) is one site. Booleans and complex numbers are not numeric
    literals. ``in_subscript`` marks literals inside an index or slice (``x[0]``).
    """
    sites: list[LiteralSite] = []

    def visit(node: ast.AST, in_subscript: bool) -> None:
        value = literal_value(node)
        if value is not None and isinstance(node, ast.expr):
            sites.append(LiteralSite(node=node, value=value, in_subscript=in_subscript))
            return
        for field, child_value in ast.iter_fields(node):
            children = child_value if isinstance(child_value, list) else [child_value]
            inner = in_subscript or (isinstance(node, ast.Subscript) and field == "slice")
            for child in children:
                if isinstance(child, ast.AST):
                    visit(child, inner)

    visit(tree, False)
    return sites


# --------------------------------------------------------------------------- editing


class _Replacer(ast.NodeTransformer):
    def __init__(self, mapping: Mapping[int, ast.AST]) -> None:
        self.mapping = mapping

    def visit(self, node: ast.AST) -> ast.AST:
        replacement = self.mapping.get(id(node))
        if replacement is not None:
            return replacement
        return self.generic_visit(node)


def replace_nodes(tree: ast.AST, mapping: Mapping[int, ast.AST]) -> ast.AST:
    """Replace nodes of ``tree`` in place, keyed by ``id(old_node)``; returns the tree."""
    return _Replacer(mapping).visit(tree)


def iter_bodies(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every non-empty statement list in ``tree`` (body, orelse, finalbody), mutable."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield value


_STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def ensure_nonempty(tree: ast.AST) -> None:
    """Give every statement list that must not be empty a ``pass`` (in place).

    Only statements (and ``except`` handlers and ``case`` clauses) hold statement lists,
    and they are reached only through those lists, so expressions are never visited.
    """
    stack = [tree]
    while stack:
        node = stack.pop()
        body = getattr(node, "body", None)
        if isinstance(body, list) and not body:
            node.body = [ast.Pass()]  # type: ignore[attr-defined]
        if isinstance(node, ast.Try | ast.TryStar) and not node.handlers and not node.finalbody:
            node.finalbody = [ast.Pass()]
        for field in _STATEMENT_FIELDS:
            value = getattr(node, field, None)
            if isinstance(value, list):
                stack.extend(child for child in value if isinstance(child, ast.AST))


def _may_change_when_indented(text: str, source: str) -> bool:
    """Whether ``text`` (``source``, an unparsed block, re-indented) may not read back as
    ``source``: a block is read back dedented (:func:`parse_block`), so where dedenting
    gives ``source`` again (re-indenting adds only a final newline) the block reads back
    as ``source`` does, and parsing and unparsing it again are left out. Otherwise the
    round trip decides."""
    if dedent_block(text).rstrip("\n") == source.rstrip("\n"):
        return False
    return ast.unparse(ast.parse(dedent_block(text))) != source


def same_tree(first: ast.AST, second: ast.AST) -> bool:
    """Structural equality of two trees (locations ignored): what comparing their
    ``ast.dump`` says, without building the two strings (:func:`_same_dump`, which stops
    at the first difference; the operators compare trees for every edit)."""
    return _same_dump(first, second)


# --------------------------------------------------------------------------- programs


@dataclass(frozen=True)
class Block:
    """One evolve block: its verbatim text, indentation, first line (1-based) and tree.

    ``tree`` is None when the dedented block does not parse on its own.
    """

    text: str
    indent: str
    first_line: int
    tree: ast.Module | None


@dataclass(frozen=True)
class ParsedProgram:
    """A program split into evolve blocks, each parsed where possible.

    Operators edit copies from :meth:`fresh_trees` and turn them back into program text
    with :meth:`render`; :meth:`accepts` is the one test a child must pass.
    """

    code: str
    blocks: tuple[Block, ...]
    tree: ast.Module | None

    @functools.cached_property
    def compiles(self) -> bool:
        """Whether the whole program compiles (computed on first use: only a parent's is
        ever asked for, by :meth:`accepts`)."""
        return self.tree is not None and _quiet_compile(self.tree)

    @property
    def usable(self) -> list[int]:
        """Indexes of the blocks that parsed."""
        return [index for index, block in enumerate(self.blocks) if block.tree is not None]

    def fresh_trees(self) -> list[ast.Module | None]:
        """Fresh copies of the block trees, safe to edit.

        Re-parsing the block text is several times faster than ``copy.deepcopy`` of a
        tree and gives an identical tree (with the same line numbers).
        """
        return [None if block.tree is None else parse_block(block.text) for block in self.blocks]

    def render(self, trees: Sequence[ast.Module | None], edited: Sequence[int]) -> str:
        """The program with blocks ``edited`` unparsed from ``trees``, others verbatim.

        Raises ValueError when an edited block would not survive re-indentation unchanged
        (e.g. a multi-line string whose content the indentation would alter).
        """
        new_blocks: list[str] = []
        for index, block in enumerate(self.blocks):
            tree = trees[index]
            if index not in edited or tree is None:
                new_blocks.append(block.text)
                continue
            ensure_nonempty(tree)
            source = ast.unparse(tree)  # needs no locations: new nodes get none here
            text = indent_block(source, block.indent)
            if _may_change_when_indented(text, source):
                raise ValueError("block changes under re-indentation")
            new_blocks.append(text)
        return replace_blocks(self.code, new_blocks)

    def accepts(self, child_code: str, numbers_only: bool = False) -> bool:
        """Whether ``child_code`` is a valid, different child of this program.

        It must parse, keep the frozen code, differ after normalisation, compile when
        the parent compiles, and use no name that is undefined in it but not in the parent
        (:mod:`evoforge.static_check`). ``numbers_only``: the caller changed numeric
        literals alone (``tune``), so the child binds and reads the parent's names and has
        its name problems and its literal skeleton exactly; they are recorded as the
        child's without a pyflakes run or a skeleton of its own.
        """
        child_tree = _quiet_parse(child_code)
        if child_tree is None:
            return False
        if frozen_violation(self.code, child_code) is not None:
            return False
        if normalise_code(child_code, child_tree) == normalise_code(self.code):
            return False
        if self.compiles and not _quiet_compile(child_tree):
            return False
        if numbers_only:
            inherit_problems(self.code, child_code)
            inherit_skeleton(self.code, child_code)
            return True
        return not new_name_problems(self.code, child_code)


def parse_program(code: str) -> ParsedProgram | None:
    """Split and parse ``code``; None when the markers are broken or no block is usable.

    Results are cached by code text (the latest 256): callers must treat the returned
    trees as read-only (``ParsedProgram.fresh_trees`` gives copies to edit).

    A block is usable when it parses on its own and, where the whole program parses, its
    statements are exactly the program's statements on those lines (a block that is part
    of an expression, such as ``1.0, 2.0,`` inside a list, may parse alone as a tuple but
    is not usable).
    """
    return _cached_parsed(code, _UNPARSED)


def uneditable_blocks(code: str) -> list[str]:
    """The evolve blocks of ``code`` that the symbolic operators can make no child of, one
    line each naming the block, its first line and why (empty when there are none, or when
    the markers are broken: loading the problem says so)."""
    try:
        segments = split_blocks(code)
    except BlockError:
        return []
    parsed = parse_program(code)
    found: list[str] = []
    line = 1
    for index, text in enumerate(segments.blocks):
        line += segments.frozen[index].count("\n")
        tree = None if parsed is None else parsed.blocks[index].tree
        why = ""
        if tree is None:
            why = "it is not whole statements that parse on their own"
        else:
            try:
                ast.unparse(tree)
            except RecursionError:
                why = "it is nested too deeply for ast.unparse"
        if why:
            found.append(f"evolve block {index + 1} (line {line}): {why}")
        line += text.count("\n")
    return found


def parse_program_from(code: str, tree: ast.Module | None) -> ParsedProgram | None:
    """:func:`parse_program` for a caller that has already parsed ``code``: ``tree`` is
    ``ast.parse(code)``, or None when it does not parse, and is handed over (read-only
    from then on: it may be kept in the cache). The same answer, one parse fewer."""
    return _cached_parsed(code, tree)


def _cached_parsed(code: str, tree: ast.Module | None) -> ParsedProgram | None:
    return _PARSED.get(code, lambda: _build_parsed(code, tree))


_PARSED: TextMemo[ParsedProgram | None] = TextMemo(256)


_UNPARSED = ast.Module(body=[], type_ignores=[])
"""Marks a tree that is still to be parsed (:func:`_build_parsed`)."""


def _build_parsed(code: str, given: ast.Module | None) -> ParsedProgram | None:
    try:
        segments = split_blocks(code)
    except BlockError:
        return None
    tree = _quiet_parse(code) if given is _UNPARSED else given
    blocks: list[Block] = []
    line = 1
    for index, text in enumerate(segments.blocks):
        line += segments.frozen[index].count("\n")
        block_tree = parse_block(text)
        last_line = line + text.count("\n") - 1
        if (
            block_tree is not None
            and tree is not None
            and not _same_statements(block_tree.body, _statements_within(tree, line, last_line))
        ):
            block_tree = None
        blocks.append(Block(text=text, indent=block_indent(text), first_line=line, tree=block_tree))
        line = last_line + 1
    parsed = ParsedProgram(code=code, blocks=tuple(blocks), tree=tree)
    return parsed if parsed.usable else None


def _quiet_parse(code: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except _PARSE_ERRORS:
        return None


def _quiet_compile(tree: ast.Module) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(tree, "<program>", "exec")
    except _PARSE_ERRORS:
        return False
    return True


def _statements_within(tree: ast.AST, first_line: int, last_line: int) -> list[ast.stmt]:
    """The outermost statements of ``tree`` lying entirely on lines first..last."""
    found: list[ast.stmt] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                end = child.end_lineno if child.end_lineno is not None else child.lineno
                if first_line <= child.lineno and end <= last_line:
                    found.append(child)
                    continue
                if end < first_line or child.lineno > last_line:
                    continue
            visit(child)

    visit(tree)
    return found


def _same_statements(first: Sequence[ast.stmt], second: Sequence[ast.stmt]) -> bool:
    return len(first) == len(second) and all(
        _same_dump(a, b) for a, b in zip(first, second, strict=True)
    )


def _same_dump(a: object, b: object) -> bool:
    """``ast.dump(a) == ast.dump(b)`` (fields named, no positions), without building the
    two strings: the same node types, field by field, leaves compared by ``repr``. A field
    that ``ast.dump`` leaves out (missing, or None where the class's default is None) is
    left out here too."""
    if a is b:
        return True
    if isinstance(a, ast.AST):
        if not isinstance(b, ast.AST) or type(a).__name__ != type(b).__name__:
            return False
        fields = a._fields
        if fields != b._fields:
            return False
        for name in fields:
            first = getattr(a, name, _OMITTED)
            second = getattr(b, name, _OMITTED)
            if first is second:
                continue
            if first is None and getattr(type(a), name, ...) is None:
                first = _OMITTED
            if second is None and getattr(type(b), name, ...) is None:
                second = _OMITTED
            if first is _OMITTED or second is _OMITTED:
                if first is not second:
                    return False
            elif not _same_dump(first, second):
                return False
        return True
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_same_dump(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(b, ast.AST | list):
        return False
    return repr(a) == repr(b)


_OMITTED = object()


def parse_block(text: str) -> ast.Module | None:
    """The block's tree (dedented), or None when it does not parse on its own."""
    return _quiet_parse(dedent_block(text))


# --------------------------------------------------------------------------- skeletons


def _skeleton_part(text: str, tree: ast.Module | None) -> str:
    if tree is None:
        return text
    tree = parse_block(text) or copy.deepcopy(tree)
    placeholders = {
        id(site.node): ast.Name(id=LITERAL_PLACEHOLDER, ctx=ast.Load())
        for site in literal_sites(tree)
    }
    replace_nodes(tree, placeholders)
    return ast.unparse(tree)


def literal_skeleton(code: str) -> str:
    """A hash of the evolve blocks with every numeric literal replaced by a placeholder.

    Two programs with equal skeletons differ at most in their numeric literals (and
    formatting). Blocks that are not usable (see :func:`parse_program`) count verbatim;
    code without a usable block counts as raw text. Never raises. The latest 4096
    answers are memoised by text.
    """
    return _SKELETONS.get(code, lambda: _skeleton(code))


def inherit_skeleton(parent_code: str, child_code: str) -> None:
    """Record ``parent_code``'s skeleton as ``child_code``'s, for a child made from its
    parent by moving numeric literals alone (``tune``): every literal site of the child
    is a site of the parent in the same place, so the skeletons are equal and asking for
    the child's later needs no parse and unparse of its own."""
    _SKELETONS.get(child_code, lambda: literal_skeleton(parent_code))


_SKELETONS: TextMemo[str] = TextMemo(4096)


def _skeleton(code: str) -> str:
    try:
        parsed = parse_program(code)
        if parsed is None:
            parts = [code]
        else:
            parts = [_skeleton_part(block.text, block.tree) for block in parsed.blocks]
    except Exception:  # unparse of exotic trees; fall back to the raw text
        parts = [code]
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def literal_vector(code: str) -> list[float]:
    """The numeric literals of the usable evolve blocks, in order, as floats (a new list).

    Programs with the same :func:`literal_skeleton` give vectors of the same length whose
    positions correspond; ``tune`` numbers its literals the same way. Never raises
    (unusable code gives ``[]``).
    """
    return list(_literal_vector(code))


@functools.lru_cache(maxsize=4096)
def _literal_vector(code: str) -> tuple[float, ...]:
    try:
        parsed = parse_program(code)
    except Exception:
        return ()
    if parsed is None:
        return ()
    values: list[float] = []
    for block in parsed.blocks:
        if block.tree is None:
            continue
        for site in literal_sites(block.tree):
            try:
                values.append(float(site.value))
            except OverflowError:
                values.append(math.inf if site.value > 0 else -math.inf)
    return tuple(values)


# --------------------------------------------------------------------------- names


# Generic types whose subscription (``tuple[int, str]``) makes a type, not a number.
_GENERIC_TYPES = frozenset(
    [
        "tuple",
        "list",
        "dict",
        "set",
        "frozenset",
        "type",
        "Callable",
        "Optional",
        "Union",
        "Sequence",
        "Mapping",
        "Iterable",
        "Iterator",
        "Literal",
        "Tuple",
        "List",
        "Dict",
        "Set",
        "FrozenSet",
        "Type",
        "Annotated",
        "NDArray",
    ]
)
_ALIAS_TAGS = frozenset({"TypeAlias", "typing.TypeAlias"})


def _dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _is_type_expression(node: ast.AST) -> bool:
    """Whether ``node`` is a subscripted generic (``tuple[str, float]``, ``npt.NDArray[X]``)
    or a ``|`` union of such types (with names or ``None``)."""
    if isinstance(node, ast.Subscript):
        name = _dotted_name(node.value)
        return name is not None and name.rsplit(".", 1)[-1] in _GENERIC_TYPES
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = (node.left, node.right)
        return any(_is_type_expression(side) for side in sides) and all(
            _is_type_expression(side)
            or isinstance(side, ast.Name)
            or (isinstance(side, ast.Constant) and side.value is None)
            for side in sides
        )
    return False


def _is_main_guard(node: ast.AST) -> TypeGuard[ast.If]:
    """Whether ``node`` is ``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    operands = [test.left, test.comparators[0]]
    names = [o.id for o in operands if isinstance(o, ast.Name)]
    constants = [o.value for o in operands if isinstance(o, ast.Constant)]
    return names == ["__name__"] and constants == ["__main__"]


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``node``'s own scope: nested functions, classes, comprehensions excluded,
    and so is the body of an ``if __name__ == "__main__":`` guard, which never runs when
    an evaluator imports the program (its names are not there to use)."""
    stack = list(ast.iter_child_nodes(node))
    stack.reverse()
    while stack:
        child = stack.pop()
        yield child
        if _is_main_guard(child):
            stack.extend(reversed(child.orelse))
            continue
        if isinstance(child, _SCOPE_BOUNDARIES):
            if not isinstance(child, ast.Lambda):
                stack.extend(reversed(child.decorator_list))
            continue
        if isinstance(child, _COMPREHENSIONS):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(child))))


def scope_names(scope: ast.AST) -> list[str]:
    """Variables bound in ``scope`` that may hold numbers, sorted.

    Parameters (for a function) plus names stored by assignments, loops and ``with``;
    names only ever bound to containers, strings or lambdas are left out, as are
    function, class and import names (not variables).
    """
    numeric: set[str] = set()
    other: set[str] = set()
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        args = scope.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            numeric.add(arg.arg)
    handled: set[int] = set()
    for node in _walk_scope(scope):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bucket = other if isinstance(node.value, _NON_NUMERIC_VALUES) else numeric
            if isinstance(node.value, ast.Constant) and not is_number(node.value.value):
                bucket = other
            if _is_type_expression(node.value) or (
                isinstance(node, ast.AnnAssign) and _dotted_name(node.annotation) in _ALIAS_TAGS
            ):
                bucket = other  # a type alias such as ``Step = tuple[str, float]``
            for target in targets:
                if isinstance(target, ast.Name):
                    bucket.add(target.id)
                    handled.add(id(target))
                else:
                    numeric.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Store)
            and id(node) not in handled
        ):
            numeric.add(node.id)
    return sorted(numeric)


def enclosing_function(
    tree: ast.Module | None, line: int
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The innermost function of ``tree`` that starts before ``line`` and spans it.

    Only statements that span ``line`` are entered (and the parts of a statement that are
    not expressions, such as a ``case``): a function lies within every statement around
    it, so the others cannot hold one, and a block of a long program costs a walk of its
    own few ancestors. The nodes
    are met in ``ast.walk``'s order, which settles ties as it always has."""
    if tree is None:
        return None
    best: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    queue: deque[ast.AST] = deque([tree])
    while queue:
        node = queue.popleft()
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.lineno < line <= (node.end_lineno or node.lineno)
            and (best is None or node.lineno > best.lineno)
        ):
            best = node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                continue  # holds no statement
            if not isinstance(child, ast.stmt | ast.excepthandler) or (
                child.lineno <= line <= (child.end_lineno or child.lineno)
            ):
                queue.append(child)
    return best


@dataclass(frozen=True)
class UnaryFunction:
    """A callable the operators may insert: dotted name and whether to wrap arg in abs()."""

    name: str
    wants_abs: bool

    def call(self, argument: ast.expr) -> ast.expr:
        """``name(argument)`` (or ``name(abs(argument))``) as a node."""
        func = ast.parse(self.name, mode="eval").body
        if self.wants_abs:
            argument = call_builtin("abs", argument)
        return ast.Call(func=func, args=[argument], keywords=[])


def call_builtin(name: str, *arguments: ast.expr) -> ast.expr:
    """``name(*arguments)`` as a node."""
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(arguments), keywords=[])


def imported_functions(trees: Sequence[ast.AST]) -> list[UnaryFunction]:
    """Safe unary math/numpy functions reachable through the imports in ``trees``.

    ``import math`` gives ``math.sqrt`` etc., ``import numpy as np`` gives ``np.sin`` etc.,
    ``from math import sin`` gives ``sin``. Sorted by name, duplicates removed.
    """
    found: dict[str, UnaryFunction] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    table = _table_for(alias.name)
                    if table is None:
                        continue
                    prefix = alias.asname or alias.name
                    for func, wants_abs in table.items():
                        found[f"{prefix}.{func}"] = UnaryFunction(f"{prefix}.{func}", wants_abs)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                table = _table_for(node.module)
                if table is None:
                    continue
                for alias in node.names:
                    if alias.name in table:
                        local = alias.asname or alias.name
                        found[local] = UnaryFunction(local, table[alias.name])
    return [found[name] for name in sorted(found)]


def _table_for(module: str) -> Mapping[str, bool] | None:
    if module == "math":
        return _MATH_UNARY
    if module in _NUMPY_MODULES:
        return _NUMPY_UNARY
    return None


def block_constants(tree: ast.AST) -> list[Number]:
    """The distinct numeric literal values of ``tree``, sorted (ints before equal floats)."""
    seen: dict[tuple[str, Number], Number] = {}
    for site in literal_sites(tree):
        value = site.value
        if isinstance(value, float) and not math.isfinite(value):
            continue
        seen[(type(value).__name__, value)] = value
    return sorted(seen.values(), key=lambda v: (float(v) if abs(v) < 1e300 else 0.0, str(v)))


# --------------------------------------------------------------------------- arrays

# numpy functions that build or return arrays whatever their arguments are.
_ARRAY_BUILDERS = frozenset(
    {
        "array",
        "asarray",
        "arange",
        "linspace",
        "zeros",
        "ones",
        "full",
        "empty",
        "zeros_like",
        "ones_like",
        "full_like",
        "column_stack",
        "row_stack",
        "stack",
        "vstack",
        "hstack",
        "concatenate",
        "tile",
        "repeat",
        "outer",
    }
)
# Calls (functions or methods) that reduce an array to a number.
_REDUCTIONS = frozenset(
    {
        "sum",
        "mean",
        "min",
        "max",
        "amin",
        "amax",
        "std",
        "var",
        "prod",
        "median",
        "ptp",
        "norm",
        "dot",
        "argmin",
        "argmax",
        "any",
        "all",
        "count_nonzero",
        "item",
        "len",
        "float",
        "int",
        "round",
        "trace",
        "det",
    }
)
_ARRAY_ANNOTATIONS = ("ndarray", "NDArray", "ArrayLike")


def numpy_alias(trees: Sequence[ast.AST]) -> str | None:
    """The name ``import numpy [as alias]`` binds in ``trees`` (first found), else None."""
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in _NUMPY_MODULES:
                        return alias.asname or alias.name
    return None


def looks_array(node: ast.AST, arrays: frozenset[str], numpy_name: str | None) -> bool:
    """A static guess: does the expression ``node`` evaluate to an array (not a number)?

    True for names in ``arrays``, numpy's array builders (``np.arange``, ``np.zeros``...),
    elementwise numpy calls and arithmetic with an array operand, slices of arrays and
    ``x.T``. False for reductions (``np.sum(x)``, ``x.max()``, ``len(x)``, ``float(x)``),
    indexing by a single index, and whatever it cannot tell.
    """
    if isinstance(node, ast.Name):
        return node.id in arrays
    if isinstance(node, ast.BinOp):
        return looks_array(node.left, arrays, numpy_name) or looks_array(
            node.right, arrays, numpy_name
        )
    if isinstance(node, ast.UnaryOp):
        return looks_array(node.operand, arrays, numpy_name)
    if isinstance(node, ast.IfExp):
        return looks_array(node.body, arrays, numpy_name) or looks_array(
            node.orelse, arrays, numpy_name
        )
    if isinstance(node, ast.Subscript):
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        sliced = any(isinstance(part, ast.Slice) for part in parts)
        return sliced and looks_array(node.value, arrays, numpy_name)
    if isinstance(node, ast.Attribute):
        return node.attr == "T" and looks_array(node.value, arrays, numpy_name)
    if isinstance(node, ast.Call):
        return _call_looks_array(node, arrays, numpy_name)
    return False


def _call_looks_array(node: ast.Call, arrays: frozenset[str], numpy_name: str | None) -> bool:
    name = _dotted_name(node.func)
    if name is None:
        return False
    last = name.rsplit(".", 1)[-1]
    if last in _REDUCTIONS:
        return False
    arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
    if isinstance(node.func, ast.Attribute):
        owner = _dotted_name(node.func.value)
        if numpy_name is not None and owner is not None and owner.split(".")[0] == numpy_name:
            return last in _ARRAY_BUILDERS or any(
                looks_array(argument, arrays, numpy_name) for argument in arguments
            )
        return looks_array(node.func.value, arrays, numpy_name)  # x.copy(), x.reshape(...)
    if name == "abs":
        return any(looks_array(argument, arrays, numpy_name) for argument in arguments)
    return False


def array_valued_names(trees: Sequence[ast.AST], numpy_name: str | None) -> frozenset[str]:
    """Names that hold arrays somewhere in ``trees`` (a static guess, scopes merged).

    Parameters annotated as arrays (``np.ndarray``, ``NDArray[...]``) and names assigned
    an expression :func:`looks_array` accepts, to a fixed point (``a = np.arange(n)``
    then ``b = 2 * a``). A name also assigned numbers elsewhere still counts: the guess
    steers edits, it never rejects a program.
    """
    found: set[str] = set()
    assignments: list[tuple[ast.expr, ast.expr]] = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.arg) and node.annotation is not None:
                text = ast.unparse(node.annotation)
                if any(marker in text for marker in _ARRAY_ANNOTATIONS):
                    found.add(node.arg)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    assignments.extend(_paired_targets(target, node.value))
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
                assignments.extend(_paired_targets(node.target, node.value))
    changed = True
    while changed:
        changed = False
        frozen = frozenset(found)
        for target, value in assignments:
            if (
                isinstance(target, ast.Name)
                and target.id not in found
                and looks_array(value, frozen, numpy_name)
            ):
                found.add(target.id)
                changed = True
    return frozenset(found)


def _paired_targets(target: ast.expr, value: ast.expr) -> list[tuple[ast.expr, ast.expr]]:
    """``(name, value)`` pairs of an assignment, unpacking ``a, b = x, y`` pairwise."""
    if isinstance(target, ast.Tuple | ast.List):
        if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
            pairs: list[tuple[ast.expr, ast.expr]] = []
            for inner_target, inner_value in zip(target.elts, value.elts, strict=True):
                pairs.extend(_paired_targets(inner_target, inner_value))
            return pairs
        return []
    return [(target, value)]
