"""The command-line value types: what each accepts and the line it gives for the rest."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from evoforge.argument_types import at_least_one, number, port_number, seconds, share, whole_number


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (whole_number, "0", 0),
        (whole_number, "12", 12),
        (at_least_one, "1", 1),
        (port_number, "0", 0),
        (port_number, "65535", 65535),
        (number, "-2.5", -2.5),
        (share, "1", 1.0),
        (share, "0.25", 0.25),
        (seconds, "0.5", 0.5),
    ],
)
def test_accepted_values(parse: Callable[[str], float], text: str, value: float) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (whole_number, "1.5", "expected a whole number, got '1.5'"),
        (whole_number, "-1", "must not be negative, got -1"),
        (at_least_one, "0", "must be at least 1"),
        (port_number, "65536", "a port is at most 65535, got 65536"),
        (number, "many", "expected a number, got 'many'"),
        (share, "1.5", "must be between 0 and 1, got 1.5"),
        (seconds, "0", "must be a positive number of seconds, got 0"),
        (seconds, "inf", "must be a positive number of seconds, got inf"),
        (seconds, "soon", "expected a number of seconds, got 'soon'"),
    ],
)
def test_refused_values_name_the_problem(
    parse: Callable[[str], float], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parse(text)
    assert str(caught.value) == message
