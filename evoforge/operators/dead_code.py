"""Dead code that evolution leaves behind, found on syntax trees (used by ``simplify``).

* **Shadowed bindings**: ``def f`` (or ``x = value``) followed in the same statement list
  by another binding of the same name, with nothing in between that could read the first
  (a crossover that keeps two copies of a function, a duplicated assignment).
* **Unused definitions**: a function, class or assignment at the top level of an evolve
  block that nothing in the program reads, that the problem does not name (its seed's
  top-level names and every name its evaluator mentions are protected: those are the
  entry points) and that no dynamic lookup (``globals()``, ``getattr``...) could reach.

Only statements without side effects are removed: undecorated definitions whose defaults
have none, and assignments of expressions built from literals, names, arithmetic,
subscripts, attribute reads and calls of known side-effect-free functions (numpy and
math functions other than those that write into an argument or draw random numbers, a
few array methods, the builtins that only compute and iterate: ``sum``, ``len``,
``sorted``, ``zip``... with a ``key`` or a mapped function only if that is a lambda or
such a builtin, and the reading methods ``get``, ``keys``, ``values``, ``items`` of a
parameter annotated as a ``dict`` or ``Mapping`` that the program never rebinds, such as
``state.get("velocity", ...)``). Iterating is taken to be side-effect free: code that
passes a one-shot iterator to ``sum`` and reads it again later is not told apart; the
engine keeps a simplified child only if it scores no worse, so such a change cannot cost
a score.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "PureCalls",
    "entry_point_names",
    "may_remove_unused",
    "remove_shadowed_bindings",
    "remove_unused_definitions",
]

_DYNAMIC_NAMES = frozenset(
    {"globals", "locals", "vars", "eval", "exec", "getattr", "setattr", "delattr", "hasattr"}
    | {"__import__", "importlib", "__dict__", "sys", "inspect", "dir", "compile"}
)
_PURE_BUILTINS = frozenset(
    {"abs", "min", "max", "len", "float", "int", "round", "bool", "complex", "divmod", "pow"}
    | {"tuple", "range", "isinstance", "str", "repr", "hash", "sum", "any", "all", "sorted"}
    | {"list", "set", "frozenset", "dict", "enumerate", "zip", "reversed", "map", "filter"}
)
# builtins that call a function they are given (``key=``, or ``map``/``filter``'s first
# argument): pure only when that function is a lambda (its body is checked with the
# call) or a pure builtin, never a name the program defines
_CALLBACK_BUILTINS = frozenset({"min", "max", "sorted", "map", "filter"})
_PURE_METHODS = frozenset(
    {"copy", "sum", "min", "max", "mean", "std", "var", "prod", "reshape", "astype", "ravel"}
    | {"flatten", "dot", "transpose", "argsort", "argmin", "argmax", "tolist", "any", "all"}
    | {"clip", "round", "cumsum", "cumprod", "squeeze", "item", "conjugate", "nonzero"}
)
_IMPURE_ATTRIBUTES = frozenset(
    {"random", "fill_diagonal", "copyto", "put", "put_along_axis", "place", "putmask"}
    | {"seterr", "save", "savez", "savetxt", "load", "loadtxt", "fromfile", "tofile", "at"}
    | {"set_printoptions", "seed", "shuffle", "resize", "sort", "fill", "itemset", "setflags"}
)
_PURE_MODULES = frozenset({"numpy", "math", "cmath"})
# methods that only read a mapping (``get`` of a queue or a cache would not: these count
# only on a parameter annotated as a mapping, see PureCalls)
_MAPPING_READS = frozenset({"get", "keys", "values", "items"})
_MAPPING_ANNOTATIONS = frozenset({"dict", "Dict", "Mapping"})
_CONTROL = (
    ast.Return,
    ast.Raise,
    ast.Break,
    ast.Continue,
    ast.Yield,
    ast.YieldFrom,
    ast.Await,
    ast.Global,
    ast.Nonlocal,
    ast.Try,
    ast.TryStar,
    ast.With,
    ast.AsyncWith,
)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def entry_point_names(initial_code: str, evaluator_code: str) -> frozenset[str]:
    """Names simplification must keep defined: the seed program's top-level names (the
    problem's interface) and every identifier the evaluator mentions (what it may call)."""
    names: set[str] = set()
    try:
        seed_tree = ast.parse(initial_code)
    except (SyntaxError, ValueError):
        seed_tree = None
    if seed_tree is not None:
        for statement in seed_tree.body:
            names.update(_bound_names(statement))
    names.update(_IDENTIFIER.findall(evaluator_code))
    return frozenset(names)


def _bound_names(statement: ast.stmt) -> set[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {statement.name}
    bound: set[str] = set()
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
        targets = [statement.target]
    for target in targets:
        bound.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    if isinstance(statement, ast.Import | ast.ImportFrom):
        bound.update((alias.asname or alias.name).split(".")[0] for alias in statement.names)
    return bound


class PureCalls:
    """Which calls of one program are free of side effects: numpy/math functions through
    the names the program imports them under, a few builtins (unless the program rebinds
    them), a few read-only array methods and the reading methods of a mapping parameter
    (:attr:`mappings`)."""

    def __init__(self, program: ast.Module | None) -> None:
        self.module_aliases: set[str] = set()
        rebound: set[str] = set()
        mappings: set[str] = set()  # parameters annotated as a dict or Mapping
        other_parameters: set[str] = set()
        bound: set[str] = set()  # assigned, deleted, defined or imported names
        if program is not None:
            for node in ast.walk(program):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for alias in node.names:
                        bound.add((alias.asname or alias.name).split(".")[0])
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] in _PURE_MODULES:
                            self.module_aliases.add((alias.asname or alias.name).split(".")[0])
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    rebound.add(node.id)
                    bound.add(node.id)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
                    bound.add(node.id)
                elif isinstance(node, ast.ExceptHandler) and node.name:
                    bound.add(node.name)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    rebound.add(node.name)
                    bound.add(node.name)
                elif isinstance(node, ast.arg):
                    rebound.add(node.arg)
                    annotated = _annotated_mapping(node.annotation)
                    (mappings if annotated else other_parameters).add(node.arg)
        self.module_aliases -= rebound
        self.builtins = {name for name in _PURE_BUILTINS if hasattr(builtins, name)} - rebound
        # ``get``/``keys``/``values``/``items`` only read a name that is a mapping parameter
        # wherever it is a parameter and is never bound otherwise
        self.mappings = frozenset(mappings - other_parameters - bound)

    def is_pure(self, expression: ast.AST) -> bool:
        """Whether evaluating ``expression`` can change nothing but the result (it may
        still raise, as arithmetic can)."""
        for node in ast.walk(expression):
            if isinstance(node, ast.NamedExpr | ast.Await | ast.Yield | ast.YieldFrom):
                return False
            if isinstance(node, ast.Call) and not self._pure_call(node):
                return False
            if isinstance(node, ast.Attribute) and node.attr in _IMPURE_ATTRIBUTES:
                return False
        return True

    def _pure_callback(self, given: ast.expr) -> bool:
        if isinstance(given, ast.Lambda):
            return True  # its body is part of the expression ``is_pure`` walks
        if isinstance(given, ast.Constant) and given.value is None:
            return True  # filter(None, ...), key=None
        return isinstance(given, ast.Name) and given.id in self.builtins

    def _pure_call(self, call: ast.Call) -> bool:
        if any(keyword.arg in (None, "out") for keyword in call.keywords):
            return False
        function = call.func
        if isinstance(function, ast.Name):
            if function.id not in self.builtins:
                return False
            return function.id not in _CALLBACK_BUILTINS or all(
                self._pure_callback(given) for given in _callbacks(call)
            )
        if not isinstance(function, ast.Attribute) or function.attr in _IMPURE_ATTRIBUTES:
            return False
        root: ast.expr = function
        chain: list[str] = []
        while isinstance(root, ast.Attribute):
            chain.append(root.attr)
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.module_aliases:
            return not any(part in _IMPURE_ATTRIBUTES for part in chain)
        if (
            function.attr in _MAPPING_READS
            and isinstance(function.value, ast.Name)
            and function.value.id in self.mappings
        ):
            return True
        return function.attr in _PURE_METHODS


def _annotated_mapping(annotation: ast.expr | None) -> bool:
    """``dict``, ``Dict``, ``Mapping``, subscripted or not, bare or through a module
    (``typing.Mapping``, ``collections.abc.Mapping``)."""
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    if isinstance(annotation, ast.Attribute):
        return annotation.attr in _MAPPING_ANNOTATIONS
    return isinstance(annotation, ast.Name) and annotation.id in _MAPPING_ANNOTATIONS


def _callbacks(call: ast.Call) -> list[ast.expr]:
    """What a builtin of :data:`_CALLBACK_BUILTINS` may call: its ``key=`` and, for
    ``map`` and ``filter``, its first argument."""
    given = [keyword.value for keyword in call.keywords if keyword.arg == "key"]
    if isinstance(call.func, ast.Name) and call.func.id in ("map", "filter") and call.args:
        given.append(call.args[0])
    return given


def _walk_outside_scopes(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and its descendants, without entering function, class or lambda bodies
    (their code does not run where they are defined; defaults and decorators do)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, _SCOPES):
            stack.extend(_evaluated_at_definition(current))
        else:
            stack.extend(ast.iter_child_nodes(current))


def _evaluated_at_definition(scope: ast.AST) -> list[ast.AST]:
    if isinstance(scope, ast.Lambda):
        return [scope.args]
    if isinstance(scope, ast.ClassDef):
        return [*scope.decorator_list, *scope.bases, *scope.keywords, *scope.body]
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
        parts: list[ast.AST] = [*scope.decorator_list, scope.args]
        if scope.returns is not None:
            parts.append(scope.returns)
        return parts
    return []


def removable_binding(statement: ast.stmt, pure: PureCalls) -> str | None:
    """The name ``statement`` binds when removing it can only drop that binding."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
        if statement.decorator_list:
            return None
        defaults = [*statement.args.defaults, *statement.args.kw_defaults]
        if all(d is None or pure.is_pure(d) for d in defaults):
            return statement.name
        return None
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and pure.is_pure(statement.value)
    ):
        return statement.targets[0].id
    if (
        isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and statement.value is not None
        and statement.simple
        and pure.is_pure(statement.value)
    ):
        return statement.target.id
    return None


def _rebinding(statement: ast.stmt, name: str) -> bool:
    """Whether ``statement`` always binds ``name`` anew without reading it first."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        if statement.name != name:
            return False
        evaluated = [node for node in _walk_outside_scopes(statement) if node is not statement]
        return not any(isinstance(n, ast.Name) and n.id == name for n in evaluated)
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
        return (
            isinstance(target, ast.Name)
            and target.id == name
            and not any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(statement.value))
        )
    if isinstance(statement, ast.AnnAssign) and statement.value is not None:
        return (
            isinstance(statement.target, ast.Name)
            and statement.target.id == name
            and not any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(statement.value))
        )
    return False


@dataclass(frozen=True)
class _Reads:
    """What running one statement may observe, found in one walk of it: every name it
    mentions (nested code included, ``global`` and ``nonlocal`` declarations too),
    whether it transfers control, and whether it calls anything outside nested scopes.
    :func:`_shadowed` asks this of each later statement for each earlier binding, so a
    long statement list is walked once per statement, not once per pair."""

    names: frozenset[str]
    control: bool
    calls: bool

    @classmethod
    def of(cls, statement: ast.stmt) -> _Reads:
        names: set[str] = set()
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Global | ast.Nonlocal):
                names.update(node.names)
        outside = list(_walk_outside_scopes(statement))
        return cls(
            names=frozenset(names),
            control=any(isinstance(node, _CONTROL) for node in outside),
            calls=any(isinstance(node, ast.Call) for node in outside),
        )

    def may_observe(self, name: str, *, calls_observe: bool) -> bool:
        """Whether running the statement could read ``name``'s current binding or leave
        the statement list early: it mentions the name anywhere, transfers control, or
        calls something while a call could read the name (``calls_observe``: at module
        level any function may read a global; in a function, a closure may)."""
        return name in self.names or self.control or (calls_observe and self.calls)


def remove_shadowed_bindings(
    bodies: Iterable[list[ast.stmt]],
    scope: ast.AST,
    pure: PureCalls,
    *,
    module_level: bool,
) -> int:
    """Drop, in each statement list of one scope (``scope``: the function or module whose
    lists ``bodies`` are), bindings that a later statement of the same list replaces before
    anything could read them. Returns how many were dropped. A scope that handles
    exceptions is left alone."""
    if has_exception_handling(scope):
        return 0
    closures = _names_in_nested_scopes(scope)
    reads: dict[ast.stmt, _Reads] = {}
    removed = 0
    for body in bodies:
        index = 0
        while index < len(body):
            name = removable_binding(body[index], pure)
            calls_observe = module_level or name in closures
            if name is not None and _shadowed(
                body, index, name, calls_observe=calls_observe, reads=reads
            ):
                del body[index]
                removed += 1
                continue
            index += 1
    return removed


def _names_in_nested_scopes(scope: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(scope):
        if node is not scope and isinstance(node, _SCOPES):
            names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
    return names


def _shadowed(
    body: Sequence[ast.stmt],
    index: int,
    name: str,
    *,
    calls_observe: bool,
    reads: dict[ast.stmt, _Reads],
) -> bool:
    """Whether a later statement of ``body`` rebinds ``name`` before anything could read
    its binding at ``index``; ``reads``: each statement's :class:`_Reads`, filled in as
    they are first needed."""
    for later in body[index + 1 :]:
        facts = reads.get(later)
        if facts is None:
            facts = reads[later] = _Reads.of(later)
        if _rebinding(later, name):
            return not (calls_observe and facts.calls)
        if facts.may_observe(name, calls_observe=calls_observe):
            return False
    return False


def has_exception_handling(scope: ast.AST) -> bool:
    """Whether ``scope`` catches exceptions or runs context managers anywhere (then an
    exception between two bindings could reach code that reads the first)."""
    return any(
        isinstance(node, ast.Try | ast.TryStar | ast.With | ast.AsyncWith)
        for node in ast.walk(scope)
    )


def dynamic_lookup(program: ast.AST) -> bool:
    """Whether the program may look names up by string (then no definition is unused)."""
    for node in ast.walk(program):
        if isinstance(node, ast.Name) and node.id in _DYNAMIC_NAMES:
            return True
        if isinstance(node, ast.Attribute) and node.attr in _DYNAMIC_NAMES:
            return True
    return False


def may_remove_unused(block: ast.Module, protected: frozenset[str], pure: PureCalls) -> bool:
    """Whether :func:`remove_unused_definitions` could remove anything from ``block``: it
    binds at top level a name that is removable, not ``protected`` and not a dunder name.
    Asked first because the answer needs no whole program (building one costs a parse)."""
    for statement in block.body:
        name = removable_binding(statement, pure)
        if name is not None and name not in protected and not name.startswith("__"):
            return True
    return False


def remove_unused_definitions(
    block: ast.Module,
    program: ast.Module,
    protected: frozenset[str],
    pure: PureCalls,
) -> int:
    """Drop top-level bindings of ``block`` (a block at module level) that no code of
    ``program`` (the whole current program, ``block`` included) reads, that are not
    ``protected`` nor dunder names nor mentioned in a string. Returns how many."""
    if dynamic_lookup(program):
        return 0
    loads: dict[str, int] = {}
    strings: set[str] = set()
    for node in ast.walk(program):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            loads[node.id] = loads.get(node.id, 0) + 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.update(_IDENTIFIER.findall(node.value))
    removed = 0
    kept: list[ast.stmt] = []
    for statement in block.body:
        name = removable_binding(statement, pure)
        if name is None or name in protected or name in strings or name.startswith("__"):
            kept.append(statement)
            continue
        own = sum(
            1
            for node in ast.walk(statement)
            if isinstance(node, ast.Name)
            and node.id == name
            and not isinstance(node.ctx, ast.Store)
        )
        if loads.get(name, 0) - own > 0:
            kept.append(statement)
            continue
        removed += 1
    if removed:
        block.body[:] = kept
    return removed
