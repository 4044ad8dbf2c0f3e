"""Sorted JSON text: the same text as ``json.dumps(..., sort_keys=True)``, whichever
encoder produced it (runs store it, and earlier runs stored the latter's)."""

from __future__ import annotations

import json
import math
import random

import pytest

from evoforge.json_text import sorted_json_encoder


def _value(draw: random.Random, depth: int = 0) -> object:
    kind = draw.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return draw.randint(-(10**20), 10**20)
    if kind == 1:
        return draw.choice(
            [
                0.1,
                -0.0,
                1e-320,
                1.7976931348623157e308,
                math.nan,
                math.inf,
                -math.inf,
                draw.random(),
            ]
        )
    if kind == 2:
        return "".join(
            draw.choice('ab"\\\n\t\u00e9\u2603\U0001f600\x00') for _ in range(draw.randrange(6))
        )
    if kind == 3:
        return draw.choice([True, False, None])
    if kind == 4:
        return draw.random() * 10 ** draw.randint(-30, 30)
    if kind == 5:
        return draw.randrange(100)
    if kind == 6:
        return [_value(draw, depth + 1) for _ in range(draw.randrange(4))]
    if kind == 7:
        return tuple(_value(draw, depth + 1) for _ in range(draw.randrange(4)))
    return {
        "".join(draw.choice("xyzé") for _ in range(draw.randrange(4))): _value(draw, depth + 1)
        for _ in range(draw.randrange(5))
    }


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_the_text_is_json_dumps_with_sorted_keys(ensure_ascii: bool) -> None:
    encode = sorted_json_encoder(ensure_ascii=ensure_ascii)
    draw = random.Random(int(ensure_ascii))
    for _ in range(2000):
        value = _value(draw)
        assert encode(value) == json.dumps(value, sort_keys=True, ensure_ascii=ensure_ascii)


def test_values_json_cannot_encode_are_refused_as_json_refuses_them() -> None:
    encode = sorted_json_encoder()
    with pytest.raises(TypeError):
        json.dumps({"a": object()})
    with pytest.raises(TypeError):
        encode({"a": object()})
    with pytest.raises(TypeError):
        encode({1: 2, "a": 3})  # keys of mixed types cannot be sorted
