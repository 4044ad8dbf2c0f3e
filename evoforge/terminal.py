"""Text for a terminal: what candidates, evaluators and model servers wrote, made inert.

A candidate's error message, output or code reaches the user's terminal through
``evoforge best``, ``show``, ``status``, the progress notes and the one-line errors. Escape
sequences in it (``ESC [2J`` clears the screen, ``ESC ]0;...`` sets the window title, a
carriage return overwrites a line) would act there, and bidirectional formatting characters
(``U+202E`` RIGHT-TO-LEFT OVERRIDE, the isolates ``U+2066``-``U+2069``) would reorder what
is shown, so that code reads other than it runs. :func:`printable` shows every control
character but the tab and the newline as a visible escape (``\\x1b``), and each
bidirectional control as ``\\u202e``, so the text reads the same and does nothing. Files
written for the user (``best -o``, the JSON outputs) keep the text as it is.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls but tab and newline, DEL, the C1 controls (which some terminals obey), and
# the bidirectional controls: ALM, LRM, RLM, the embeddings and overrides, the isolates
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character but ``\\t`` and ``\\n`` written as ``\\xNN``
    and every bidirectional control (``U+202E`` ...) as ``\\uNNNN``."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda match: _escape(match.group()), text)
