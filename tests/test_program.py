"""Code normalisation and hashing."""

from __future__ import annotations

from evoforge.program import code_hash, normalise_code


def test_formatting_and_comments_do_not_change_the_hash() -> None:
    a = "x = 1  # one\n\n\ny = (x+2)\n"
    b = "x = 1\ny = x + 2\n"
    assert code_hash(a) == code_hash(b)


def test_different_code_different_hash() -> None:
    assert code_hash("x = 1\n") != code_hash("x = 2\n")


def test_unparsable_code_still_normalises() -> None:
    text = normalise_code("def f(x:\n    return x  # c\n")
    assert "# c" not in text
    assert normalise_code("x = (1,\n\n  2   \n") == normalise_code("x = (1,\n  2\n")
    assert code_hash("def f(:\n  pass  # c\n\n") == code_hash("def f(:\n  pass\n")
    assert code_hash("def f(:\n  pass\n") != code_hash("def g(:\n  pass\n")


def test_code_hash_of_code_with_a_lone_surrogate_does_not_raise() -> None:
    from evoforge.program import code_hash

    hashed = code_hash("x = '\ud800'\n")
    assert hashed == code_hash("x = '\ufffd'\n")
