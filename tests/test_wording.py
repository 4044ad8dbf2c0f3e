"""Counts in messages read as a reader expects: one of a thing, or several."""

from evoforge.wording import quantity


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert quantity(1, "run") == "1 run"
    assert quantity(0, "run") == "0 runs"
    assert quantity(4, "finished run") == "4 finished runs"


def test_an_irregular_plural_is_given() -> None:
    assert quantity(2, "process", "processes") == "2 processes"
    assert quantity(1, "process", "processes") == "1 process"
