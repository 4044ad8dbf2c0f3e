"""Reading markdown fences as a model (and CommonMark) would: for prompt tests."""

from __future__ import annotations


def fenced_blocks(text: str) -> list[str]:
    """The contents of the backtick-fenced blocks of ``text``, read as CommonMark does: a
    block opened by N backticks ends at the first line of N or more backticks alone."""
    blocks: list[str] = []
    opening = 0
    content: list[str] = []
    for line in text.split("\n"):
        run = len(line) - len(line.lstrip("`"))
        if opening == 0:
            if run >= 3 and "`" not in line[run:]:
                opening, content = run, []
        elif run >= opening and not line[run:].strip():
            blocks.append("\n".join(content))
            opening = 0
        else:
            content.append(line)
    if opening:
        blocks.append("\n".join(content))  # an unclosed block runs to the end
    return blocks
