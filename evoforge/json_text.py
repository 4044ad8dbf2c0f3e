"""JSON text with sorted keys, as :class:`json.JSONEncoder` writes it, for less per call.

``JSONEncoder.encode`` builds a new C encoder for every value it encodes, which costs
more than encoding the small values a run stores with every step (a bandit arm, an
island's watch, a program's metrics). :func:`sorted_json_encoder` builds that C encoder
once, with the settings the encoder it stands for would pass: the same text for every
value (a check at import compares the two and falls back to ``JSONEncoder.encode`` on
any difference, or where the interpreter has no C encoder). Values must not contain
themselves (no circular check, as with ``check_circular=False``).
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable
from typing import Any

__all__ = ["sorted_json_encoder"]

_SAMPLE: Any = {
    "b": [1, 2.5, -0.0, 1e300, math.inf, -math.inf, math.nan, True, None],
    "a": {"z": 'caf\u00e9 \u2603 "q" \\ \n', "y": [], "x": {}, "": 3},
    "c": (4, 5),
}


def sorted_json_encoder(*, ensure_ascii: bool = True) -> Callable[[Any], str]:
    """``json.JSONEncoder(sort_keys=True, ensure_ascii=ensure_ascii).encode``, the same
    text, with its C encoder built once (non-finite floats allowed, as there)."""
    reference = json.JSONEncoder(sort_keys=True, ensure_ascii=ensure_ascii, check_circular=False)
    maker = getattr(json.encoder, "c_make_encoder", None)
    if maker is None:
        return reference.encode
    strings = (
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    )
    try:
        fast = maker(
            None,
            reference.default,
            strings,
            None,
            reference.key_separator,
            reference.item_separator,
            True,
            False,
            True,
        )
    except TypeError:  # another interpreter's signature: keep the slow, certain path
        return reference.encode

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return reference.encode(value)
        return "".join(fast(value, 0))

    try:
        same = encode(_SAMPLE) == reference.encode(_SAMPLE)
    except Exception:  # any failure means: do not use it
        same = False
    return encode if same else reference.encode
