"""Text bound for a terminal: control characters shown, never obeyed."""

from __future__ import annotations

from evoforge.terminal import printable


def test_control_characters_but_tab_and_newline_are_shown_as_escapes() -> None:
    hostile = "a\x1b[2J\x1b]0;owned\x07b\rc\x9bd\x7f"
    shown = printable(hostile)
    assert shown == "a\\x1b[2J\\x1b]0;owned\\x07b\\x0dc\\x9bd\\x7f"
    assert not any(ord(char) < 32 or 127 <= ord(char) < 160 for char in shown)
    plain = "x = 1\n\tif y:\n  print('ok')  # é, 漢字\n"
    assert printable(plain) is plain
