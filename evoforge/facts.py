"""What the driver needs to know about a child, computed where the child was made.

Checking a child and recording it costs parses: the syntax check, the frozen-code
comparison, the static name check (pyflakes), the normalised-code hash, the MinHash
signature for near copies, the ``complexity`` feature and the literal skeleton that
``tune``'s relatives are indexed by. Each is a pure function of the child's code (and of
its parent's and the seed's, which never change), so they are computed once, next to the
operator, in a process of the proposal pool (:mod:`evoforge.operators.pool`), and travel
with the proposal as a :class:`ChildFacts`. The driver then only looks them up: its
serial work per child stays small and does not depend on the size of the programs.

The facts are the same wherever they are computed, so a run gives the same results
whether its operators run in the pool or in the driver.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

from evoforge.archive.features import complexity, count_nodes
from evoforge.blocks import frozen_violation
from evoforge.config import NoveltyConfig
from evoforge.novelty import minhash_signature
from evoforge.operators.ast_tools import ParsedProgram, literal_skeleton, parse_program_from
from evoforge.program import code_hash
from evoforge.static_check import new_name_problems

__all__ = ["ChildFacts", "FactsSettings", "child_facts", "syntax_problem"]


@dataclass(frozen=True)
class FactsSettings:
    """The run's constants the facts depend on (picklable, sent once to each worker).

    ``static_check``: compute the undefined names (``evaluator.static_check``);
    ``novelty``: the MinHash settings, or None when no near-copy index is kept;
    ``complexity``: compute the ``complexity`` feature (it is a configured feature).
    """

    initial_code: str
    static_check: bool
    novelty: NoveltyConfig | None
    complexity: bool


@dataclass(frozen=True)
class ChildFacts:
    """The code-only facts of one child.

    ``syntax_error``: the rejection reason when the child does not parse, else None (the
    other check facts are then left empty, as the checks stop at the first refusal);
    ``frozen_violation``: how the child breaks the code outside the evolve blocks, or None;
    ``names_checked``: whether ``undefined_names`` was computed (the static check is on
    and the child passed the two checks before it); ``undefined_names``: names it uses but
    never defines where its parent does; ``signature``: its MinHash signature (None without a
    near-copy index); ``complexity``: the feature's value (None when not configured);
    ``skeleton``: its literal skeleton (see :func:`~evoforge.operators.ast_tools.
    literal_skeleton`). The last three are only computed for a child that passes the
    three code checks (None, None and ``""`` otherwise).
    """

    code_hash: str
    syntax_error: str | None
    frozen_violation: str | None
    names_checked: bool
    undefined_names: tuple[str, ...]
    signature: np.ndarray | None
    complexity: float | None
    skeleton: str


def syntax_problem(code: str) -> str | None:
    """The reason ``code`` cannot be evaluated because it does not parse, or None."""
    return _parse(code)[1]


def _parse(code: str) -> tuple[ast.Module | None, str | None]:
    """``code``'s tree and None, or None and the reason it does not parse."""
    try:
        return ast.parse(code), None
    except SyntaxError as exc:
        return None, f"syntax error at line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"unparsable code: {exc}"


def child_facts(parent_code: str, code: str, settings: FactsSettings) -> ChildFacts:
    """Every fact of ``code`` (a child of ``parent_code``) the driver needs. Never raises
    for any text.

    The checks stop at the first refusal, so a child refused for its syntax, its frozen
    code or a new undefined name gets no later facts: no signature, complexity or
    skeleton (it is never evaluated, indexed or placed in a grid).

    The child is parsed once: the syntax check's tree serves the static name check,
    the normal form and the split into evolve blocks
    (:func:`~evoforge.operators.ast_tools.parse_program_from`, whose memo the skeleton
    then reads), and ``complexity`` counts the block trees parsed there. Each value is the
    one the fact's own function gives for the code.
    """
    tree, syntax_error = _parse(code)
    violation: str | None = None
    undefined: tuple[str, ...] = ()
    names_checked = False
    if syntax_error is None:
        violation = frozen_violation(settings.initial_code, code)
        if violation is None and settings.static_check:
            undefined = tuple(new_name_problems(parent_code, code, tree))
            names_checked = True
    passes = syntax_error is None and violation is None and not undefined
    signature = None
    if passes and settings.novelty is not None:
        signature = minhash_signature(code, settings.novelty)
    size: float | None = None
    skeleton = ""
    if passes:
        parsed = parse_program_from(code, tree)
        if settings.complexity:
            size = _complexity(code, parsed)
        skeleton = literal_skeleton(code)
    return ChildFacts(
        code_hash=code_hash(code, tree),
        syntax_error=syntax_error,
        frozen_violation=violation,
        names_checked=names_checked,
        undefined_names=undefined,
        signature=signature,
        complexity=size,
        skeleton=skeleton,
    )


def _complexity(code: str, parsed: ParsedProgram | None) -> float:
    """:func:`~evoforge.archive.features.complexity` of ``code``, from the block trees of
    ``parsed`` (``parse_program(code)``) when every block has one: each is the block
    dedented and parsed, which is what the feature counts."""
    trees = [] if parsed is None else [block.tree for block in parsed.blocks]
    if trees and all(tree is not None for tree in trees):
        return float(sum(count_nodes(tree) for tree in trees if tree is not None))
    return complexity(code)
