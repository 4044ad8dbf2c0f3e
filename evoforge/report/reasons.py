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
REJECTED = "rejected"


def reason_kind(reason: str) -> str:
    """The reason's kind: its last non-blank line with ids and numbers blanked out."""
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    if not lines:
        return "(no reason given)"
    text = _PROGRAM_ID.sub("<id>", lines[-1])
    text = _NUMBER.sub("N", text)
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"
