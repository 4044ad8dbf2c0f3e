"""The text memo keeps the latest values by text and computes only what it lacks."""

from __future__ import annotations

import pytest

from evoforge.text_memo import TextMemo


def test_a_value_is_computed_once_and_the_least_recent_leaves_first() -> None:
    memo: TextMemo[int] = TextMemo(2)
    calls: list[str] = []

    def length(text: str) -> int:
        calls.append(text)
        return len(text)

    assert memo.get("ab", lambda: length("ab")) == 2
    assert memo.get("ab", lambda: length("ab")) == 2
    assert memo.get("abc", lambda: length("abc")) == 3
    assert memo.get("ab", lambda: length("ab")) == 2  # "ab" is now the most recent
    assert memo.get("x", lambda: length("x")) == 1  # "abc" leaves
    assert memo.get("abc", lambda: length("abc")) == 3
    assert calls == ["ab", "abc", "x", "abc"]
    memo.clear()
    assert memo.get("ab", lambda: length("ab")) == 2
    assert calls[-1] == "ab"


def test_a_failed_computation_is_not_kept() -> None:
    memo: TextMemo[int] = TextMemo(4)

    def fail() -> int:
        raise RecursionError("too deep")

    with pytest.raises(RecursionError):
        memo.get("deep", fail)
    assert memo.get("deep", lambda: 7) == 7
    with pytest.raises(ValueError):
        TextMemo(0)
