"""Reading language-model answers: SEARCH/REPLACE edits and whole programs or blocks.

Models answer in many shapes: fenced or bare code, prose around it, several blocks, a
missing language tag, ``<<<<<<<`` markers of varying length. Everything here is pure
text processing that either returns a child's full program text or raises
:class:`AnswerError` with a one-line reason fit to show the model in its next prompt.
It never raises anything else for any input.

Edits apply to the parent's evolve blocks only: a SEARCH text is looked up exactly
first, then leniently (trailing whitespace and blank lines, indentation, a unique close
match; see :mod:`evoforge.operators.matching`), and an ambiguous one is refused. A SEARCH
text that is found only in the frozen code is an edit to frozen code and is refused.

Every :class:`AnswerError` has a ``category``: :data:`UNPARSEABLE` (nothing in the answer
to work with: no SEARCH/REPLACE block, no code), :data:`AMBIGUOUS` (a SEARCH text that
fits several places) or :data:`NOT_APPLIED` (anything else: not found, frozen code,
broken markers). Only an unparseable answer is worth a correction prompt.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from evoforge.blocks import (
    BlockError,
    block_indent,
    frozen_violation,
    indent_block,
    replace_blocks,
    split_blocks,
)
from evoforge.operators.matching import (
    DEFAULT_FUZZY_THRESHOLD,
    MatchKind,
    MatchRefused,
    locate,
    weakest,
)

__all__ = [
    "AMBIGUOUS",
    "NOT_APPLIED",
    "UNPARSEABLE",
    "AnswerError",
    "AppliedEdits",
    "Edit",
    "apply_edits",
    "apply_edits_matched",
    "child_from_diff",
    "child_from_diff_matched",
    "child_from_rewrite",
    "code_blocks",
    "parse_edits",
]

_EDIT_RE = re.compile(
    r"^[ \t]*<{5,}[ \t]*SEARCH[^\n]*\n(?P<search>.*?)^[ \t]*={5,}[ \t]*\n"
    r"(?P<replace>.*?)^[ \t]*>{5,}[ \t]*REPLACE[^\n]*$",
    re.DOTALL | re.MULTILINE,
)
_FENCE_RE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n"
    r"(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
_MARKER_RE = re.compile(r"#\s*EVOLVE-BLOCK-(START|END)")
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


UNPARSEABLE = "unparseable"
AMBIGUOUS = "ambiguous"
NOT_APPLIED = "not_applied"


class AnswerError(ValueError):
    """The answer cannot become a child; the message says why in one line and
    ``category`` says what kind of failure it is (see the module docstring)."""

    def __init__(self, message: str, category: str = NOT_APPLIED) -> None:
        super().__init__(message)
        self.category = category


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str


def parse_edits(answer: str) -> list[Edit]:
    """Every SEARCH/REPLACE pair in the answer, in order (fenced or not)."""
    return [
        Edit(search=match["search"], replace=match["replace"])
        for match in _EDIT_RE.finditer(answer.replace("\r\n", "\n"))
    ]


def code_blocks(answer: str) -> list[tuple[str, str]]:
    """Fenced code blocks as ``(language tag, body)``, in order."""
    return [
        (match["lang"].lower(), match["body"])
        for match in _FENCE_RE.finditer(answer.replace("\r\n", "\n"))
    ]


def _one_line(text: str, width: int = 60) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= width else first[: width - 3] + "..."


@dataclass(frozen=True)
class AppliedEdits:
    """A child made from SEARCH/REPLACE edits and how each edit's SEARCH text was found;
    ``match`` is the most lenient of them (the child's match kind)."""

    code: str
    kinds: tuple[MatchKind, ...]

    @property
    def match(self) -> MatchKind:
        return weakest(list(self.kinds))


def apply_edits_matched(
    parent_code: str,
    edits: list[Edit],
    *,
    leniency: MatchKind = MatchKind.FUZZY,
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
) -> AppliedEdits:
    """The parent with every edit applied to its evolve blocks, or AnswerError.

    Each SEARCH text is located with :func:`evoforge.operators.matching.locate` up to
    ``leniency``; an ambiguous one is refused, never applied. Edits apply in order, each
    to the blocks as the previous ones left them.
    """
    if not edits:
        raise AnswerError("no SEARCH/REPLACE blocks in the answer", UNPARSEABLE)
    try:
        segments = split_blocks(parent_code)
    except BlockError as exc:
        raise AnswerError(f"parent has no usable evolve blocks: {exc}", NOT_APPLIED) from None
    blocks = list(segments.blocks)
    kinds: list[MatchKind] = []
    for number, edit in enumerate(edits, start=1):
        if not edit.search.strip():
            raise AnswerError(f"edit {number}: empty SEARCH text", NOT_APPLIED)
        where = _one_line(edit.search)
        try:
            found = locate(
                blocks,
                edit.search,
                edit.replace,
                leniency=leniency,
                fuzzy_threshold=fuzzy_threshold,
            )
        except MatchRefused as exc:
            raise AnswerError(f"edit {number}: {exc} ({where!r})", AMBIGUOUS) from None
        if found is None:
            frozen = list(segments.frozen)
            try:
                in_frozen = locate(frozen, edit.search, "", leniency=MatchKind.INDENT) is not None
            except MatchRefused:
                in_frozen = True
            if in_frozen:
                raise AnswerError(
                    f"edit {number} touches frozen code outside the evolve blocks ({where!r})",
                    NOT_APPLIED,
                )
            raise AnswerError(
                f"edit {number}: SEARCH text not found in the evolve blocks ({where!r})",
                NOT_APPLIED,
            )
        block = blocks[found.block]
        blocks[found.block] = block[: found.start] + found.replacement + block[found.end :]
        kinds.append(found.kind)
    try:
        child = replace_blocks(parent_code, blocks)
    except BlockError as exc:
        raise AnswerError(f"edits broke the evolve blocks: {exc}", NOT_APPLIED) from None
    violation = frozen_violation(parent_code, child)
    if violation is not None:
        raise AnswerError(f"edits changed frozen code: {violation}", NOT_APPLIED)
    return AppliedEdits(code=child, kinds=tuple(kinds))


def apply_edits(parent_code: str, edits: list[Edit]) -> str:
    """The parent with every edit applied (all matching tiers), or AnswerError."""
    return apply_edits_matched(parent_code, edits).code


def child_from_diff(parent_code: str, answer: str) -> str:
    """Apply the answer's SEARCH/REPLACE edits to the parent's evolve blocks."""
    return apply_edits(parent_code, parse_edits(answer))


def child_from_diff_matched(
    parent_code: str,
    answer: str,
    *,
    leniency: MatchKind = MatchKind.FUZZY,
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
) -> AppliedEdits:
    """Like :func:`child_from_diff`, also saying how each SEARCH text was matched."""
    return apply_edits_matched(
        parent_code, parse_edits(answer), leniency=leniency, fuzzy_threshold=fuzzy_threshold
    )


def _looks_like_python(text: str) -> bool:
    if not text.strip():
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(not isinstance(node, ast.Expr) for node in tree.body)


def _candidate_code(answer: str) -> str:
    """The code of an answer: the fenced Python block that holds evolve markers, else the
    longest fenced Python block, else the whole answer if it is Python itself."""
    fenced = [body for lang, body in code_blocks(answer) if lang in _PYTHON_TAGS]
    with_markers = [body for body in fenced if _MARKER_RE.search(body)]
    if with_markers:
        return max(with_markers, key=len)
    if fenced:
        return max(fenced, key=len)
    if _MARKER_RE.search(answer) or _looks_like_python(answer):
        return answer
    raise AnswerError("no code in the answer (expected a fenced python block)", UNPARSEABLE)


def child_from_rewrite(parent_code: str, answer: str) -> str:
    """The child for an answer that gives whole evolve blocks or the whole program.

    With evolve markers in the answer, its blocks replace the parent's one for one, and
    any change it made outside them is refused as a frozen-code edit. Without markers,
    the code replaces the parent's only evolve block (several blocks need markers).
    """
    code = _candidate_code(answer)
    try:
        segments = split_blocks(parent_code)
    except BlockError as exc:
        raise AnswerError(f"parent has no usable evolve blocks: {exc}") from None
    if _MARKER_RE.search(code):
        try:
            answer_segments = split_blocks(code)
        except BlockError as exc:
            raise AnswerError(f"evolve markers in the answer are broken: {exc}") from None
        if len(answer_segments.blocks) != len(segments.blocks):
            raise AnswerError(
                f"answer has {len(answer_segments.blocks)} evolve blocks, "
                f"the program has {len(segments.blocks)}"
            )
        only_blocks = all(
            _MARKER_RE.search(line) or line.strip() in ("", "...")
            for segment in answer_segments.frozen
            for line in segment.splitlines()
        )
        child = replace_blocks(parent_code, answer_segments.blocks)
        if not only_blocks:
            violation = frozen_violation(parent_code, code)
            if violation is not None:
                raise AnswerError(f"rewrite changed frozen code: {violation}")
        return child
    if len(segments.blocks) != 1:
        raise AnswerError(
            f"the program has {len(segments.blocks)} evolve blocks: answer with the markers"
        )
    indent = block_indent(segments.blocks[0])
    if indent and not block_indent(code):
        code = indent_block(code, indent)
    return replace_blocks(parent_code, [code])
