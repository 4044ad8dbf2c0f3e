"""Why children fail: failure and rejection reasons grouped into a few readable kinds.

A stored reason is free text: for a failed child, the operator's description on the first
line and the error's last line at the end; for a rejected one, a sentence such as
``duplicate of i000123``. Two reasons are "the same kind" when they agree after the
numbers and program ids are blanked out, so ``disks 3 and 14 overlap`` and ``disks 0 and
1 overlap`` count together.
"""

from __future__ import annotations

import re
from typing import Any

from evoforge.report.reader import RunReader

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


def top_reasons(reader: RunReader, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The commonest failure kinds (failed, timeout, invalid) and rejection kinds.

    Returns ``{"failures": [...], "rejections": [...]}``, each at most ``limit`` entries
    ``{"reason", "count", "statuses": {status: count}, "example_id"}``, most frequent
    first (ties in reason order). The seed never counts.
    """
    rows = reader.rows(
        "SELECT status, reason, COUNT(*), MIN(id) FROM programs "
        "WHERE status != 'ok' AND seq > 0 GROUP BY status, reason"
    )
    groups: dict[str, dict[str, dict[str, Any]]] = {"failures": {}, "rejections": {}}
    for status, reason, count, example in rows:
        side = "rejections" if status == REJECTED else "failures"
        kind = reason_kind(str(reason))
        entry = groups[side].setdefault(
            kind, {"reason": kind, "count": 0, "statuses": {}, "example_id": str(example)}
        )
        entry["count"] += int(count)
        entry["statuses"][status] = entry["statuses"].get(status, 0) + int(count)
        entry["example_id"] = min(entry["example_id"], str(example))
    return {
        side: sorted(entries.values(), key=lambda e: (-e["count"], e["reason"]))[:limit]
        for side, entries in groups.items()
    }
