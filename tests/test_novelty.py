"""The near-copy index: banded lookups give exactly the answer of a full scan, and the
index keeps a bounded window of the latest programs."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.config import NoveltyConfig
from evoforge.novelty import NoveltyIndex

PERMUTATIONS = 64


def _full_scan(kept: list[tuple[str, np.ndarray]], query: np.ndarray, threshold: float):
    if not kept:
        return None
    agreement = (np.array([s for _, s in kept]) == query).mean(axis=1)
    best = int(np.argmax(agreement))
    if agreement[best] < threshold:
        return None
    return f"near duplicate of {kept[best][0]} (estimated similarity {agreement[best]:.2f})"


@pytest.mark.parametrize("threshold", [0.98, 0.9, 0.75, 0.4])
def test_banded_lookup_answers_as_a_full_scan_would(threshold: float) -> None:
    window = 150
    index = NoveltyIndex(NoveltyConfig(threshold=threshold), window=window)
    rng = np.random.default_rng(7)
    added: list[tuple[str, np.ndarray]] = []
    for step in range(600):
        if added and rng.random() < 0.6:  # a near copy of an earlier program
            values = added[int(rng.integers(len(added)))][1].copy()
            changed = rng.choice(PERMUTATIONS, int(rng.integers(0, 12)), replace=False)
            values[changed] = rng.integers(0, 2**31, len(changed))
        else:
            values = rng.integers(0, 2**31, PERMUTATIONS).astype(np.uint32)
        found = index.near_duplicate("", signature=values)
        assert found == _full_scan(added[-window:], values, threshold), step
        index.add(f"p{step}", "", signature=values)
        added.append((f"p{step}", values))
    assert len(index) == window


def test_the_oldest_programs_leave_the_window() -> None:
    index = NoveltyIndex(NoveltyConfig(), window=3)
    codes = [f"def f{k}(x{k}):\n    return x{k} * {k} + {k + 1}\n" for k in range(5)]
    for k, code in enumerate(codes):
        index.add(f"p{k}", code)
    assert index.near_duplicate(codes[0]) is None  # left the window
    assert index.near_duplicate(codes[4]) == "near duplicate of p4 (estimated similarity 1.00)"


def test_near_copies_of_real_code_are_found() -> None:
    index = NoveltyIndex(NoveltyConfig(threshold=0.9))
    code = "def f(x):\n" + "".join(f"    x = x * {k} + {k + 1}\n" for k in range(30))
    index.add("seed", code)
    assert index.near_duplicate(code.replace("# nothing", "") + "# a comment\n") is not None
    assert index.near_duplicate("def g(y):\n    return sorted(y)[::-1]\n") is None
