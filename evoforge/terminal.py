"""Text for a terminal: what candidates, evaluators and model servers wrote, made inert.

A candidate's error message, output or code reaches the user's terminal through
``evoforge best``, ``show``, ``status``, the progress notes and the one-line errors. Escape
sequences in it (``ESC [2J`` clears the screen, ``ESC ]0;...`` sets the window title, a
carriage return overwrites a line) would act there. :func:`printable` shows every control
character but the tab and the newline as a visible escape (``\\x1b``), so the text reads
the same and does nothing. Files written for the user (``best -o``, the JSON outputs) keep
the text as it is.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls but tab and newline, DEL, and the C1 controls (which some terminals obey)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but ``\\t`` and ``\\n`` written as ``\\xNN``."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
