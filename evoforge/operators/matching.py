"""Finding where a SEARCH text belongs in a program's evolve blocks, leniently but safely.

Models, small ones above all, copy the code they want to change imperfectly: trailing
spaces, a blank line more or less, the whole snippet shifted left or right, a token
misremembered. :func:`locate` looks for a SEARCH text in tiers, from the strictest to
the most lenient, and stops at the first tier that finds anything:

``exact``
    the text itself (a final newline may be missing in the program), starting at a line
    start or after code on its line, never inside a line's indentation;
``whitespace``
    line by line, ignoring trailing whitespace and blank lines;
``indent``
    line by line, ignoring all indentation; the replacement is re-indented by the
    offset between the SEARCH text's first line and the matched one;
``fuzzy``
    the window of as many (non-blank) lines that is most similar to the SEARCH text, when
    its similarity (difflib's ratio over the stripped lines) is at least the threshold
    (:data:`DEFAULT_FUZZY_THRESHOLD`, 0.9: one changed token in a line of ordinary
    length stays above it, a different statement does not); re-indented like ``indent``.
    For a SEARCH text of two lines or more, only windows that share at least one line
    with it (ignoring indentation) are candidates, which keeps the work per edit small;
    too many close candidates (:data:`FUZZY_MAX_CANDIDATES`) is refused as ambiguous.

A match is applied only when it is unique: a tier that finds the text in two places, or
two fuzzy windows that are equally good (within :data:`FUZZY_TIE_MARGIN`) and do not
overlap, refuses the edit with a reason (:class:`MatchRefused`) instead of guessing.
Overlapping fuzzy windows are the same place seen one line off, and only the best of
them counts. The search never leaves the evolve blocks it is given.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_FUZZY_THRESHOLD",
    "FUZZY_MAX_CANDIDATES",
    "FUZZY_MAX_CHARS",
    "FUZZY_MAX_WINDOWS",
    "FUZZY_TIE_MARGIN",
    "Match",
    "MatchKind",
    "MatchRefused",
    "locate",
    "weakest",
]

#: Least similarity (difflib ratio of the stripped lines) for a fuzzy match.
DEFAULT_FUZZY_THRESHOLD = 0.9
#: Two non-overlapping fuzzy windows closer than this in similarity are a tie: refused.
FUZZY_TIE_MARGIN = 0.02
#: More windows than this that pass difflib's quick bounds is refused as ambiguous (each
#: costs a full comparison, so this bounds the work per edit).
FUZZY_MAX_CANDIDATES = 512
#: More candidate windows than this (before the quick bounds) is refused as well.
FUZZY_MAX_WINDOWS = 20000
#: A SEARCH text longer than this (stripped, in characters) gets no fuzzy match.
FUZZY_MAX_CHARS = 20000


class MatchKind(StrEnum):
    """How a SEARCH text was found, from the strictest to the most lenient."""

    EXACT = "exact"
    WHITESPACE = "whitespace"
    INDENT = "indent"
    FUZZY = "fuzzy"


_ORDER = list(MatchKind)


def weakest(kinds: list[MatchKind]) -> MatchKind:
    """The most lenient of the kinds (``exact`` for an empty list)."""
    return max(kinds, key=_ORDER.index, default=MatchKind.EXACT)


class MatchRefused(ValueError):
    """The SEARCH text matches in more than one place (or nowhere usable); the message
    says why in one line."""


@dataclass(frozen=True)
class Match:
    """Where the SEARCH text was found: ``block`` index, character ``start``/``end`` in
    that block, the ``kind`` of match, the ``similarity`` (1.0 unless fuzzy) and the
    ``replacement`` text to put there (re-indented when the match ignored indentation)."""

    block: int
    start: int
    end: int
    kind: MatchKind
    replacement: str
    similarity: float = 1.0


@dataclass(frozen=True)
class _Line:
    index: int  # position among the block's lines (keepends)
    text: str


def _non_blank(lines: list[str]) -> list[_Line]:
    return [_Line(i, line) for i, line in enumerate(lines) if line.strip()]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(replacement: str, search_indent: str, found_indent: str) -> str:
    """Move ``replacement`` from the SEARCH text's indentation to the matched one: a line
    that starts with the SEARCH indentation swaps that prefix; a line indented less (the
    model dedented it) gets the matched indentation plus its own relative part."""
    if search_indent == found_indent:
        return replacement
    shifted = []
    for line in replacement.splitlines(keepends=True):
        if not line.strip():
            shifted.append(line)
        elif line.startswith(search_indent):
            shifted.append(found_indent + line[len(search_indent) :])
        else:
            shifted.append(found_indent + line.lstrip())
    return "".join(shifted)


def _exact(blocks: list[str], search: str, replace: str) -> list[Match]:
    found: list[Match] = []
    leading = len(search) - len(search.lstrip("\n"))
    if leading:
        # blank lines opening the SEARCH text would match the end of the line above it
        search = search[leading:]
        replace = replace[min(leading, len(replace) - len(replace.lstrip("\n"))) :]
    needle, replacement = search, replace
    if not any(search in block for block in blocks) and search.endswith("\n"):
        # the program's last matched line may lack its newline (end of a block)
        needle, replacement = search.rstrip("\n"), replace.rstrip("\n")
    for number, block in enumerate(blocks):
        start = block.find(needle)
        while start >= 0:
            prefix = block[block.rfind("\n", 0, start) + 1 : start]
            if not prefix or prefix.strip():
                # a match that starts inside a line's indentation is an indentation
                # mismatch: the indent tier re-indents its replacement
                found.append(
                    Match(number, start, start + len(needle), MatchKind.EXACT, replacement)
                )
            start = block.find(needle, start + 1)
    return found


def _line_span(lines: list[str], first: int, last: int) -> tuple[int, int]:
    """Character offsets of lines ``first..last`` (inclusive) of a keepends split."""
    start = sum(len(line) for line in lines[:first])
    end = start + sum(len(line) for line in lines[first : last + 1])
    return start, end


def _with_newline(text: str, matched: str) -> str:
    """The replacement ends with a newline exactly when the matched lines did."""
    if matched.endswith("\n") and text and not text.endswith("\n"):
        return text + "\n"
    if not matched.endswith("\n") and text.endswith("\n"):
        return text.rstrip("\n")
    return text


def _line_matches(
    blocks: list[str], search: list[_Line], replace: str, kind: MatchKind
) -> list[Match]:
    """Windows of non-blank block lines equal to the SEARCH lines after normalising."""
    normalise = str.rstrip if kind is MatchKind.WHITESPACE else str.strip
    wanted = [normalise(line.text) for line in search]
    found: list[Match] = []
    for number, block in enumerate(blocks):
        lines = block.splitlines(keepends=True)
        content = _non_blank(lines)
        for offset in range(len(content) - len(wanted) + 1):
            window = content[offset : offset + len(wanted)]
            if [normalise(line.text) for line in window] != wanted:
                continue
            start, end = _line_span(lines, window[0].index, window[-1].index)
            text = replace
            if kind is not MatchKind.WHITESPACE:
                text = _reindent(replace, _indent(search[0].text), _indent(window[0].text))
            found.append(Match(number, start, end, kind, _with_newline(text, block[start:end])))
    return found


def _fuzzy_offsets(stripped: list[str], wanted: list[str]) -> list[int]:
    """Window starts worth scoring: every one for a one-line SEARCH text, else those
    where at least one line equals its SEARCH line (ignoring indentation)."""
    last = len(stripped) - len(wanted)
    if last < 0:
        return []
    if len(wanted) == 1:
        return list(range(last + 1))
    positions: dict[str, list[int]] = {}
    for position, text in enumerate(stripped):
        positions.setdefault(text, []).append(position)
    return sorted(
        {
            position - line
            for line, text in enumerate(wanted)
            for position in positions.get(text, ())
            if 0 <= position - line <= last
        }
    )


def _fuzzy(blocks: list[str], search: list[_Line], replace: str, threshold: float) -> list[Match]:
    """The best fuzzy window, if it is unique; every tied rival is returned with it.

    Raises MatchRefused when more than :data:`FUZZY_MAX_WINDOWS` windows are candidates
    or more than :data:`FUZZY_MAX_CANDIDATES` of them pass difflib's quick bounds (a
    block of near-identical lines): the cost of a fuzzy match stays bounded whatever the
    model sends. A SEARCH text longer than :data:`FUZZY_MAX_CHARS` gets no fuzzy match.
    """
    wanted_lines = [line.text.strip() for line in search]
    wanted = "\n".join(wanted_lines)
    if len(wanted) > FUZZY_MAX_CHARS:
        return []
    windows: list[tuple[int, list[_Line]]] = []
    for number, block in enumerate(blocks):
        content = _non_blank(block.splitlines(keepends=True))
        stripped = [line.text.strip() for line in content]
        for offset in _fuzzy_offsets(stripped, wanted_lines):
            windows.append((number, content[offset : offset + len(search)]))
    if len(windows) > FUZZY_MAX_WINDOWS:
        raise MatchRefused(f"ambiguous SEARCH text: {len(windows)} places to compare it with")
    close: list[tuple[difflib.SequenceMatcher[str], int, list[_Line]]] = []
    for number, window in windows:
        text = "\n".join(line.text.strip() for line in window)
        matcher = difflib.SequenceMatcher(None, wanted, text, autojunk=False)
        if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold:
            close.append((matcher, number, window))
    if len(close) > FUZZY_MAX_CANDIDATES:
        raise MatchRefused(f"ambiguous SEARCH text: {len(close)} similar places")
    scored: list[tuple[float, int, int, int]] = []  # similarity, block, first, last line
    for matcher, number, window in close:
        similarity = matcher.ratio()
        if similarity >= threshold:
            scored.append((similarity, number, window[0].index, window[-1].index))
    if not scored:
        return []
    scored.sort(key=lambda item: -item[0])
    best = scored[0]
    rivals = [
        item
        for item in scored[1:]
        if item[0] >= best[0] - FUZZY_TIE_MARGIN
        and (item[1] != best[1] or item[2] > best[3] or item[3] < best[2])
    ]
    found = []
    for similarity, number, first, last in [best, *rivals]:
        lines = blocks[number].splitlines(keepends=True)
        start, end = _line_span(lines, first, last)
        text = _reindent(replace, _indent(search[0].text), _indent(lines[first]))
        found.append(
            Match(
                number,
                start,
                end,
                MatchKind.FUZZY,
                _with_newline(text, blocks[number][start:end]),
                similarity,
            )
        )
    return found


def _describe(matches: list[Match], kind: MatchKind) -> str:
    if kind is MatchKind.FUZZY:
        scores = ", ".join(f"{m.similarity:.2f}" for m in matches[:3])
        return f"{len(matches)} places are equally close (similarity {scores})"
    how = {
        MatchKind.EXACT: "",
        MatchKind.WHITESPACE: " ignoring trailing whitespace",
        MatchKind.INDENT: " ignoring indentation",
    }[kind]
    return f"it occurs {len(matches)} times{how}"


def locate(
    blocks: list[str],
    search: str,
    replace: str,
    *,
    leniency: MatchKind = MatchKind.FUZZY,
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
) -> Match | None:
    """The one place in ``blocks`` that ``search`` stands for, or None if there is none.

    Tiers are tried up to ``leniency`` (``exact`` turns leniency off). Raises
    :class:`MatchRefused` when the first tier that finds anything finds more than one
    place: an ambiguous edit is never applied.
    """
    search_lines = _non_blank(search.splitlines())
    if not search_lines:
        return None
    allowed = _ORDER[: _ORDER.index(leniency) + 1]
    for kind in allowed:
        if kind is MatchKind.EXACT:
            matches = _exact(blocks, search, replace)
        elif kind is MatchKind.FUZZY:
            matches = _fuzzy(blocks, search_lines, replace, fuzzy_threshold)
        else:
            matches = _line_matches(blocks, search_lines, replace, kind)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise MatchRefused(f"ambiguous SEARCH text: {_describe(matches, kind)}")
    return None
