"""Reading language-model answers: SEARCH/REPLACE edits and whole programs or blocks.

Models answer in many shapes: fenced or bare code, prose around it, several blocks, a
missing language tag, ``<<<<<<<`` markers of varying length. Everything here is pure
text processing that either returns a child's full program text or raises
:class:`AnswerError` with a one-line reason fit to show the model in its next prompt.
It never raises anything else for any input.

Edits apply to the parent's evolve blocks only: a SEARCH text is looked up in each
block, exactly first and then ignoring indentation and trailing whitespace (the
replacement is re-indented to the matched lines). A SEARCH text that is found only in
the frozen code is an edit to frozen code and is refused.
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

__all__ = [
    "AnswerError",
    "Edit",
    "apply_edits",
    "child_from_diff",
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


class AnswerError(ValueError):
    """The answer cannot become a child; the message says why in one line."""


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


def _find_exact(block: str, search: str) -> tuple[int, int] | None:
    start = block.find(search)
    if start < 0 and search.endswith("\n"):
        stripped = search.rstrip("\n")
        start = block.find(stripped)
        if start >= 0:
            return start, start + len(stripped)
    return None if start < 0 else (start, start + len(search))


def _reindent(replacement: str, found_indent: str, search_indent: str) -> str:
    """Shift ``replacement`` from the SEARCH text's indentation to the matched one."""
    lines = replacement.splitlines(keepends=True)
    shifted = []
    for line in lines:
        if not line.strip():
            shifted.append(line)
        elif line.startswith(search_indent):
            shifted.append(found_indent + line[len(search_indent) :])
        else:
            shifted.append(found_indent + line.lstrip())
    return "".join(shifted)


def _indent_of(lines: list[str]) -> str:
    for line in lines:
        if line.strip():
            return line[: len(line) - len(line.lstrip())]
    return ""


def _apply_tolerant(block: str, edit: Edit) -> str | None:
    """Match SEARCH line by line ignoring surrounding whitespace; re-indent the result."""
    search_lines = [line for line in edit.search.splitlines()]
    while search_lines and not search_lines[0].strip():
        search_lines.pop(0)
    while search_lines and not search_lines[-1].strip():
        search_lines.pop()
    if not search_lines:
        return None
    wanted = [line.strip() for line in search_lines]
    block_lines = block.splitlines(keepends=True)
    for start in range(len(block_lines) - len(wanted) + 1):
        window = block_lines[start : start + len(wanted)]
        if [line.strip() for line in window] == wanted:
            replacement = _reindent(edit.replace, _indent_of(window), _indent_of(search_lines))
            if replacement and not replacement.endswith("\n"):
                replacement += "\n"
            return (
                "".join(block_lines[:start])
                + replacement
                + "".join(block_lines[start + len(wanted) :])
            )
    return None


def apply_edits(parent_code: str, edits: list[Edit]) -> str:
    """The parent with every edit applied to its evolve blocks, or AnswerError."""
    if not edits:
        raise AnswerError("no SEARCH/REPLACE blocks in the answer")
    try:
        segments = split_blocks(parent_code)
    except BlockError as exc:
        raise AnswerError(f"parent has no usable evolve blocks: {exc}") from None
    blocks = list(segments.blocks)
    for number, edit in enumerate(edits, start=1):
        if not edit.search.strip():
            raise AnswerError(f"edit {number}: empty SEARCH text")
        applied = False
        for index, block in enumerate(blocks):
            span = _find_exact(block, edit.search)
            if span is not None:
                replacement = edit.replace
                if edit.search.endswith("\n") and span[1] - span[0] < len(edit.search):
                    replacement = replacement.rstrip("\n")
                blocks[index] = block[: span[0]] + replacement + block[span[1] :]
                applied = True
                break
        if not applied:
            for index, block in enumerate(blocks):
                tolerant = _apply_tolerant(block, edit)
                if tolerant is not None:
                    blocks[index] = tolerant
                    applied = True
                    break
        if not applied:
            probe = Edit(edit.search, edit.replace)
            in_program = _find_exact(parent_code, edit.search) is not None or (
                _apply_tolerant(parent_code, probe) is not None
            )
            where = _one_line(edit.search)
            if in_program:
                raise AnswerError(
                    f"edit {number} touches frozen code outside the evolve blocks ({where!r})"
                )
            raise AnswerError(
                f"edit {number}: SEARCH text not found in the evolve blocks ({where!r})"
            )
    try:
        child = replace_blocks(parent_code, blocks)
    except BlockError as exc:
        raise AnswerError(f"edits broke the evolve blocks: {exc}") from None
    violation = frozen_violation(parent_code, child)
    if violation is not None:
        raise AnswerError(f"edits changed frozen code: {violation}")
    return child


def child_from_diff(parent_code: str, answer: str) -> str:
    """Apply the answer's SEARCH/REPLACE edits to the parent's evolve blocks."""
    return apply_edits(parent_code, parse_edits(answer))


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
    raise AnswerError("no code in the answer (expected a fenced python block)")


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
