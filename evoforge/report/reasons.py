"""Why children fail: failure and rejection reasons grouped into a few readable kinds.

A stored reason is free text: for a failed child, the operator's description on the first
line and the error's last line at the end; for a rejected one, a sentence such as
``duplicate of i000123``. Two reasons are "the same kind" when they agree after the
numbers and program ids are blanked out, so ``disks 3 and 14 overlap`` and ``disks 0 and
1 overlap`` count together. :meth:`evoforge.report.tracker.RunTracker.reasons` counts them.
"""

from __future__ import annotations

import re

_PROGRAM_ID = re.compile(r"\b(?:i\d+|seed)\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_MAX_REASON_CHARS = 200
_NO_REASON = "(no reason given)"
REJECTED = "rejected"


def reason_line(reason: str) -> str:
    """The reason's last non-blank line as written (cut to 200 characters), or
    ``(no reason given)``: what one program of a kind said."""
    line = _last_line(reason)
    return _NO_REASON if line is None else _cut(line)


def reason_kind(reason: str) -> str:
    """The reason's kind: its last non-blank line with ids and numbers blanked out."""
    line = _last_line(reason)
    if line is None:
        return _NO_REASON
    return _cut(_NUMBER.sub("N", _PROGRAM_ID.sub("<id>", line)))


def _last_line(reason: str) -> str | None:
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    return lines[-1] if lines else None


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"
