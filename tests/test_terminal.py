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


def test_bidirectional_controls_are_shown_as_escapes() -> None:
    """Trojan Source: a right-to-left override or an isolate in code or a reason would
    show the text in another order than it runs; each is written out, in place."""
    hostile = 'if access != "user\u202e \u2066// admin\u2069 \u2066":\u061c\u200e\u200f\u202a\u202d'
    shown = printable(hostile)
    assert shown == (
        'if access != "user\\u202e \\u2066// admin\\u2069 \\u2066":'
        "\\u061c\\u200e\\u200f\\u202a\\u202d"
    )
    right_to_left = "x = 'שלום عربي'  # text that is right-to-left by itself stays\n"
    assert printable(right_to_left) is right_to_left
