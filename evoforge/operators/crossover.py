"""``crossover``: mix the evolve blocks of the parent with those of an inspiration.

The partner is an inspiration with the same number of evolve blocks, different code and
parseable blocks (tried in random order). For every block both sides parse, statements
are *aligned* by what they define: ``def f`` with ``def f``, ``x = ...`` with
``x = ...``, the k-th ``if`` with the k-th ``if``, and so on. Each aligned pair that
differs is kept from the parent, taken from the partner, or (for compound statements
such as functions and loops) crossed recursively in its body; statements only the partner
has may be inserted after their aligned predecessor. When uniform crossover changes
nothing, a one-point crossover (parent's head, partner's tail) is tried; where both define
a function of the same name, only the tail's copy is kept. Statements that follow a
``return`` (or ``raise``, ``continue``, ``break``) in a crossed block are dropped: a head
and a tail that both end in ``return`` would otherwise pile up unreachable copies, which
change nothing but make every later child bigger and slower to handle.

The child is never a copy of either side; ``extra_parent_ids`` names the partner. With a
partner that differs from the parent in one place only (the same statements in the same
order at every level crossover descends to, one of them different), every uniform mix is
one of the two, so only one-point crossover is tried, and only where its whole-parent head
followed by the partner's last statement can be new (not after a ``return`` or the like,
where it is dropped, nor when it is a definition, which replaces the parent's): each
attempt costs a render and a compile, fourteen per partner when all of them fail.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Sequence

import numpy as np

from evoforge.operators.ast_tools import ParsedProgram, parse_block, parse_program, same_tree
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.operators.simplify import reachable_statements
from evoforge.program import Program, normalise_code

_UNIFORM_ATTEMPTS = 10
_ONE_POINT_ATTEMPTS = 4
# Per differing aligned pair: take the partner's, cross recursively (compound statements
# only), else keep the parent's.
_TAKE_PROBABILITY = 0.4
_TAKE_PROBABILITY_COMPOUND = 0.2
_RECURSE_PROBABILITY = 0.6
_INSERT_PROBABILITY = 0.3
_MAX_DEPTH = 4
_NOTE_ITEMS = 4

Key = tuple[str, str, int]
_NESTED_BODIES = ("body", "orelse", "finalbody")
_NOT_INSERTED = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Pass)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class CrossoverOperator(Operator):
    """Statement-level crossover of the parent with one inspiration."""

    name = "crossover"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        """A child mixing parent and partner, or None with no usable partner or no change."""
        parsed = parse_program(context.parent.code)
        if parsed is None:
            return None
        partners = _partners(context.parent, parsed, context.inspirations)
        if not partners:
            return None
        rng = context.rng
        for index in rng.permutation(len(partners)):
            partner, partner_parsed, first = partners[int(index)]
            for attempt in range(first, _UNIFORM_ATTEMPTS + _ONE_POINT_ATTEMPTS):
                try:
                    proposal = _attempt(
                        parsed,
                        partner,
                        partner_parsed,
                        rng,
                        one_point=attempt >= _UNIFORM_ATTEMPTS,
                    )
                except Exception:  # one failed attempt must never fail the proposal
                    continue
                if proposal is not None:
                    return proposal
        return None


def _partners(
    parent: Program, parsed: ParsedProgram, inspirations: Sequence[Program]
) -> list[tuple[Program, ParsedProgram, int]]:
    """The usable partners, each with the first attempt worth making (0, or the first
    one-point attempt when uniform mixes can only copy a side)."""
    parent_normal = normalise_code(parent.code)
    seen: set[str] = {parent_normal}
    partners: list[tuple[Program, ParsedProgram, int]] = []
    for inspiration in inspirations:
        normal = normalise_code(inspiration.code)
        if normal in seen:
            continue
        seen.add(normal)
        other = parse_program(inspiration.code)
        if other is None or len(other.blocks) != len(parsed.blocks):
            continue
        if not any(
            parsed.blocks[i].tree is not None and other.blocks[i].tree is not None
            for i in range(len(parsed.blocks))
        ):
            continue
        first = 0
        if _differences(parsed, other) < 2:  # every uniform mix is a copy of one side
            if not _one_point_may_add(parsed, other):
                continue
            first = _UNIFORM_ATTEMPTS
        partners.append((inspiration, other, first))
    return partners


def _differences(parsed: ParsedProgram, other: ParsedProgram) -> int:
    """In how many places the two programs' evolve blocks differ, as crossover sees them;
    counting stops at 2, and blocks whose statements do not align one to one count 2.

    A place is an aligned pair of statements that differ and that crossover does not
    descend into, or the part of a compound pair outside the bodies it crosses (a
    function's arguments, a loop's target...). A block that parses on one side only
    counts 2 when its text differs. With fewer than 2 places, every child crossover can
    make is the parent or the partner.
    """
    count = 0
    for mine, theirs in zip(parsed.blocks, other.blocks, strict=True):
        if mine.tree is None or theirs.tree is None:
            if mine.text != theirs.text:
                return 2
            continue
        count += _body_differences(mine.tree.body, theirs.tree.body, 0)
        if count >= 2:
            return 2
    return count


def _one_point_may_add(parsed: ParsedProgram, other: ParsedProgram) -> bool:
    """Whether :func:`_one_point` may give something new where the blocks differ in one
    place: its whole-parent head followed by the partner's last statement, at the level
    where it cuts, unless the parent's last statement ends the flow (what follows it is
    dropped as unreachable) or is a definition (the partner's replaces it)."""
    for mine, theirs in zip(parsed.blocks, other.blocks, strict=True):
        if mine.tree is None or theirs.tree is None:
            continue
        body, other_body = mine.tree.body, theirs.tree.body
        while (
            len(body) == 1
            and len(other_body) == 1
            and _recursable(body[0], other_body[0])
            and isinstance(body[0], _DEFINITIONS)
        ):  # _one_point descends into a lone shared definition
            body, other_body = body[0].body, other_body[0].body  # type: ignore[attr-defined]
        if not body or not other_body or isinstance(body[-1], _DEFINITIONS):
            continue
        if len(reachable_statements([body[-1], other_body[-1]])) == 2:
            return True
    return False


def _body_differences(body: list[ast.stmt], other: list[ast.stmt], depth: int) -> int:
    """:func:`_differences` of two statement lists at nesting ``depth`` (capped at 2)."""
    if _keys(body) != _keys(other):
        return 2
    count = 0
    for mine, theirs in zip(body, other, strict=True):
        if same_tree(mine, theirs):
            continue
        if depth < _MAX_DEPTH and _recursable(mine, theirs):
            count += _compound_differences(mine, theirs, depth)
        else:
            count += 1
        if count >= 2:
            return 2
    return count


def _compound_differences(mine: ast.stmt, theirs: ast.stmt, depth: int) -> int:
    """:func:`_body_differences` of a compound pair that :func:`_uniform` may descend into:
    the bodies it crosses, and the rest of the statement as one place."""
    count = 0
    head, other_head = copy.copy(mine), copy.copy(theirs)
    for field in _NESTED_BODIES:
        body = getattr(mine, field, None)
        other = getattr(theirs, field, None)
        if isinstance(body, list) and isinstance(other, list) and body and other:
            count += _body_differences(body, other, depth + 1)
            setattr(head, field, [])
            setattr(other_head, field, [])
    if not same_tree(head, other_head):
        count += 1
    return min(count, 2)


def _attempt(
    parsed: ParsedProgram,
    partner: Program,
    partner_parsed: ParsedProgram,
    rng: np.random.Generator,
    *,
    one_point: bool,
) -> Proposal | None:
    trees = parsed.fresh_trees()
    edited: list[int] = []
    labels: list[str] = []
    for index, tree in enumerate(trees):
        other_tree = partner_parsed.blocks[index].tree
        if tree is None or other_tree is None:
            continue
        fresh_other = parse_block(partner_parsed.blocks[index].text)
        other_body = fresh_other.body if fresh_other is not None else copy.deepcopy(other_tree.body)
        if one_point:
            body, taken = _one_point(tree.body, other_body, rng)
        else:
            body, taken = _uniform(tree.body, other_body, rng, depth=0)
        if taken:
            tree.body = body
            edited.append(index)
            labels.extend(taken)
    if not edited:
        return None
    child = parsed.render(trees, edited)
    if not parsed.accepts(child) or normalise_code(child) in (
        normalise_code(partner.code),
        normalise_code(parsed.code),
    ):
        return None
    shown = ", ".join(labels[:_NOTE_ITEMS]) + (", ..." if len(labels) > _NOTE_ITEMS else "")
    mode = "one-point" if one_point else "uniform"
    return Proposal(
        code=child,
        operator="crossover",
        note=f"crossover ({mode}) with {partner.id}: {shown}",
        extra_parent_ids=(partner.id,),
    )


# ---------------------------------------------------------------------- alignment


def _kind(statement: ast.stmt) -> tuple[str, str]:
    if isinstance(statement, _DEFINITIONS):
        return "def", statement.name
    if isinstance(statement, ast.Assign) and all(
        isinstance(target, ast.Name) for target in statement.targets
    ):
        return "assign", ",".join(target.id for target in statement.targets)  # type: ignore[attr-defined]
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return "assign", statement.target.id
    if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
        return "augassign", statement.target.id
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        return "call", ast.unparse(statement.value.func)
    if isinstance(statement, ast.For | ast.AsyncFor):
        return "for", ast.unparse(statement.target)
    return type(statement).__name__, ""


def _keys(body: Sequence[ast.stmt]) -> list[Key]:
    counts: dict[tuple[str, str], int] = {}
    keys: list[Key] = []
    for statement in body:
        kind = _kind(statement)
        occurrence = counts.get(kind, 0)
        counts[kind] = occurrence + 1
        keys.append((kind[0], kind[1], occurrence))
    return keys


def _label(key: Key) -> str:
    kind, name, _ = key
    if kind == "def":
        return f"def {name}"
    if kind in ("assign", "augassign"):
        return f"{name} ="
    if kind in ("call", "for"):
        return f"{kind} {name}"
    return kind.lower()


def _recursable(first: ast.stmt, second: ast.stmt) -> bool:
    return type(first) is type(second) and any(
        isinstance(getattr(first, field, None), list) and getattr(first, field)
        for field in _NESTED_BODIES
    )


def _uniform(
    body: list[ast.stmt], other: list[ast.stmt], rng: np.random.Generator, depth: int
) -> tuple[list[ast.stmt], list[str]]:
    """Aligned uniform crossover of two statement lists: (new body, labels of what changed)."""
    keys = _keys(body)
    other_keys = _keys(other)
    other_by_key = dict(zip(other_keys, other, strict=True))
    shared = set(keys)
    anchored: dict[Key | None, list[tuple[Key, ast.stmt]]] = {}
    anchor: Key | None = None
    for key, statement in zip(other_keys, other, strict=True):
        if key in shared:
            anchor = key
        elif not isinstance(statement, _NOT_INSERTED):
            anchored.setdefault(anchor, []).append((key, statement))

    result: list[ast.stmt] = []
    labels: list[str] = []

    def insert_partner_only(after: Key | None) -> None:
        for key, statement in anchored.get(after, []):
            if rng.random() < _INSERT_PROBABILITY:
                result.append(statement)
                labels.append(f"+{_label(key)}")

    insert_partner_only(None)
    for key, statement in zip(keys, body, strict=True):
        counterpart = other_by_key.get(key)
        if counterpart is None or same_tree(statement, counterpart):
            result.append(statement)
        else:
            draw = rng.random()
            compound = depth < _MAX_DEPTH and _recursable(statement, counterpart)
            take = _TAKE_PROBABILITY_COMPOUND if compound else _TAKE_PROBABILITY
            if draw < take:
                result.append(counterpart)
                labels.append(_label(key))
            elif compound and draw < take + _RECURSE_PROBABILITY:
                crossed, inner = _cross_nested(statement, counterpart, rng, depth)
                result.append(crossed)
                labels.extend(f"{_label(key)}/{label}" for label in inner)
            else:
                result.append(statement)
        insert_partner_only(key)
    return reachable_statements(result), labels


def _cross_nested(
    statement: ast.stmt, counterpart: ast.stmt, rng: np.random.Generator, depth: int
) -> tuple[ast.stmt, list[str]]:
    crossed = copy.copy(statement)
    labels: list[str] = []
    for field in _NESTED_BODIES:
        mine = getattr(statement, field, None)
        theirs = getattr(counterpart, field, None)
        if isinstance(mine, list) and isinstance(theirs, list) and mine and theirs:
            new_body, inner = _uniform(mine, theirs, rng, depth + 1)
            setattr(crossed, field, new_body)
            labels.extend(inner)
    return crossed, labels


def _one_point(
    body: list[ast.stmt], other: list[ast.stmt], rng: np.random.Generator
) -> tuple[list[ast.stmt], list[str]]:
    """Parent's head and partner's tail, cut at the same relative position (at least one
    statement from each); descends into a lone shared ``def``."""
    if not body or not other:
        return body, []
    if (
        len(body) == 1
        and len(other) == 1
        and _keys(body) == _keys(other)
        and _recursable(body[0], other[0])
        and isinstance(body[0], _DEFINITIONS)
    ):
        crossed = copy.copy(body[0])
        inner_body, labels = _one_point(body[0].body, other[0].body, rng)  # type: ignore[attr-defined]
        crossed.body = inner_body
        return [crossed], [f"{_label(_keys(body)[0])}/{label}" for label in labels]
    cut = int(rng.integers(1, len(body) + 1))
    other_cut = min(round(cut * len(other) / len(body)), len(other) - 1)
    joined = reachable_statements(_last_definitions(body[:cut] + other[other_cut:]))
    return joined, [f"cut {cut}|{other_cut}"]


def _last_definitions(body: list[ast.stmt]) -> list[ast.stmt]:
    """``body`` without functions and classes that a later one of the same name replaces
    (a head and a tail that both define ``f`` would otherwise carry two copies)."""
    last = {s.name: i for i, s in enumerate(body) if isinstance(s, _DEFINITIONS)}
    return [s for i, s in enumerate(body) if not isinstance(s, _DEFINITIONS) or last[s.name] == i]
