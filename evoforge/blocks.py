"""Evolve blocks: the marked regions of a program that operators may change.

A program is a sequence of segments, alternately frozen and evolvable, separated by
lines containing ``# EVOLVE-BLOCK-START`` and ``# EVOLVE-BLOCK-END`` (the marker lines
themselves are frozen). Operators read and replace the evolvable segments only;
:func:`frozen_violation` checks that a child kept every frozen segment byte for byte
(modulo trailing whitespace).
"""

from __future__ import annotations

import codecs
import io
import re
import textwrap
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass

START_MARKER = "EVOLVE-BLOCK-START"
END_MARKER = "EVOLVE-BLOCK-END"
_START_RE = re.compile(r"^\s*#\s*EVOLVE-BLOCK-START\b")
_END_RE = re.compile(r"^\s*#\s*EVOLVE-BLOCK-END\b")
# a comment that was probably meant as a marker: other case, spelling or separators
_NEAR_MISS_RE = re.compile(r"^\s*#+\s*evolve[\s_-]*block", re.IGNORECASE)


class BlockError(ValueError):
    """The markers are missing, unbalanced or nested."""


@dataclass(frozen=True)
class Segments:
    """``frozen`` has exactly ``len(blocks) + 1`` entries: frozen[0], blocks[0], frozen[1], ..."""

    frozen: tuple[str, ...]
    blocks: tuple[str, ...]

    def join(self) -> str:
        parts: list[str] = []
        for index, block in enumerate(self.blocks):
            parts.append(self.frozen[index])
            parts.append(block)
        parts.append(self.frozen[-1])
        return "".join(parts)


def near_miss_hint(code: str) -> str:
    """`` (line N '...' is not a marker: ...)`` for the first comment line of ``code`` that
    mentions an evolve block without being a marker (another case, spelling or
    separator); empty when there is none. Said after a :class:`BlockError` of a seed."""
    for number, line in enumerate(code.splitlines(), start=1):
        if _NEAR_MISS_RE.match(line) and not (_START_RE.match(line) or _END_RE.match(line)):
            text = line.strip()
            shown = text if len(text) <= 60 else text[:57] + "..."
            return (
                f" (line {number} {shown!r} is not a marker: the markers are the comments "
                f"'# {START_MARKER}' and '# {END_MARKER}', in capitals)"
            )
    return ""


def split_blocks(code: str) -> Segments:
    """Split ``code`` into frozen and evolvable segments; raise BlockError if malformed."""
    lines = code.splitlines(keepends=True)
    frozen: list[str] = []
    blocks: list[str] = []
    current: list[str] = []
    inside = False
    opened = 0  # the line of the open block's start marker
    for number, line in enumerate(lines, start=1):
        if _START_RE.match(line):
            if inside:
                raise BlockError(
                    f"line {number}: EVOLVE-BLOCK-START inside the block opened at line {opened}"
                )
            current.append(line)
            frozen.append("".join(current))
            current = []
            inside = True
            opened = number
        elif _END_RE.match(line):
            if not inside:
                raise BlockError(f"line {number}: EVOLVE-BLOCK-END without a matching start")
            blocks.append("".join(current))
            current = [line]
            inside = False
        else:
            current.append(line)
    if inside:
        raise BlockError(f"line {opened}: EVOLVE-BLOCK-START without a matching EVOLVE-BLOCK-END")
    frozen.append("".join(current))
    if not blocks:
        raise BlockError("no '# EVOLVE-BLOCK-START' / '# EVOLVE-BLOCK-END' markers found")
    return Segments(frozen=tuple(frozen), blocks=tuple(blocks))


def evolve_blocks(code: str) -> tuple[str, ...]:
    """The evolvable segments of ``code``, verbatim."""
    return split_blocks(code).blocks


def replace_blocks(code: str, new_blocks: Sequence[str]) -> str:
    """``code`` with its evolvable segments replaced by ``new_blocks`` (same count).

    Each new block is normalised to end with a newline so that the end marker stays on
    its own line.
    """
    segments = split_blocks(code)
    if len(new_blocks) != len(segments.blocks):
        raise BlockError(f"expected {len(segments.blocks)} blocks, got {len(new_blocks)}")
    fixed = tuple(
        block if not block or block.endswith("\n") else block + "\n" for block in new_blocks
    )
    return Segments(frozen=segments.frozen, blocks=fixed).join()


def frozen_violation(reference_code: str, child_code: str) -> str | None:
    """Why ``child_code`` breaks the frozen code of ``reference_code``, or None if it keeps it."""
    try:
        child = split_blocks(child_code)
    except BlockError as exc:
        return f"evolve markers broken: {exc}"
    reference = split_blocks(reference_code)
    if len(child.blocks) != len(reference.blocks):
        return f"expected {len(reference.blocks)} evolve blocks, found {len(child.blocks)}"
    wanted, declared = _source_encoding(reference_code), _source_encoding(child_code)
    if declared != wanted:
        return (
            f"source encoding changed to {declared} (the seed's is {wanted}): Python would "
            "read the frozen code as other text"
        )
    for index, (want, got) in enumerate(zip(reference.frozen, child.frozen, strict=True)):
        if _strip_trailing(want) != _strip_trailing(got):
            return f"frozen code changed (segment {index + 1} outside the evolve blocks)"
    return None


def _source_encoding(code: str) -> str:
    """The encoding Python reads ``code``'s file in once written as UTF-8: what a coding
    declaration in its first two lines names (normalised; ``utf-8`` without one, or with a
    byte-order mark), or why that declaration is unusable.

    A child whose evolve block opens the file can declare one, and then every byte after
    it, the frozen code's too, is decoded by that codec (UTF-7 reads ``+AAo-`` as a line
    break), while the frozen-code check compares the text as written.
    """
    second = code.find("\n", code.find("\n") + 1)
    head = code if second < 0 else code[: second + 1]
    try:
        name, _ = tokenize.detect_encoding(io.BytesIO(head.encode("utf-8", "replace")).readline)
        name = codecs.lookup(name).name
    except (SyntaxError, LookupError) as exc:
        return f"an unusable declaration ({exc})"
    return "utf-8" if name == "utf-8-sig" else name


def _strip_trailing(text: str) -> str:
    """``text`` with each line's trailing whitespace and the blank lines at both ends removed.

    Lines are Python's (ended by ``\\n``, ``\\r\\n`` or ``\\r``), not ``str.splitlines``'s,
    which also ends one at a form feed, a vertical tab, U+001C-U+001E, U+0085, U+2028 or
    U+2029: Python reads those inside a line, so frozen code joined by them after a ``#``
    is one comment to Python, never run, while its ``splitlines`` lines match the seed's.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def block_indent(block: str) -> str:
    """The common leading whitespace of the block's non-blank lines.

    Lines end at newlines only, as Python reads them: ``str.splitlines`` would also end
    one at a form feed or a U+2028 inside a string literal, and the text after it would
    count as a line without indentation."""
    indents = [line[: len(line) - len(line.lstrip())] for line in block.split("\n") if line.strip()]
    if not indents:
        return ""
    common = indents[0]
    for indent in indents[1:]:
        while not indent.startswith(common):
            common = common[:-1]
    return common


def dedent_block(block: str) -> str:
    """The block shifted to column 0, ready for ``ast.parse``."""
    return textwrap.dedent(block)


def indent_block(source: str, indent: str) -> str:
    """``source`` (column 0) re-indented by ``indent``, ending with a newline."""
    text = textwrap.indent(source.rstrip("\n") + "\n", indent) if indent else source
    return text if text.endswith("\n") else text + "\n"
