"""Lenient SEARCH matching: a corpus of the near misses weak models make.

Each case is a SEARCH/REPLACE edit as a model might write it for :data:`PARENT`. It
either applies, to exactly the intended lines and with the intended match kind, or it is
refused with a reason. No ambiguous edit is ever applied: the corpus holds ambiguous
cases at every tier, and a property test builds more.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.operators.diff import (
    AMBIGUOUS,
    NOT_APPLIED,
    AnswerError,
    Edit,
    apply_edits_matched,
)
from evoforge.operators.matching import (
    FUZZY_MAX_CANDIDATES,
    MatchKind,
    MatchRefused,
    locate,
    weakest,
)

PARENT = '''"""Fit a line."""


def helper(v):
    return v + 1


# EVOLVE-BLOCK-START
def fit(xs, ys):
    slope = 0.0
    intercept = 0.0
    for x, y in zip(xs, ys):
        slope += x * y
        intercept += y
    if slope > 0:
        slope = slope / len(xs)
    total = 0
    for x in xs:
        total += 1
    for y in ys:
        total += 1
    return slope, intercept, total
# EVOLVE-BLOCK-END


def main():
    return fit([1.0], [2.0])
'''

LOOP = "        slope += x * y\n        intercept += y\n"
LOOP_NEW = "        slope += 2 * x * y\n        intercept += y\n"


def _edit(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE"


# (name, SEARCH, REPLACE, expected child or None, match kind or refusal category, fragment)
APPLIED = [
    ("exact", LOOP, LOOP_NEW, PARENT.replace(LOOP, LOOP_NEW), MatchKind.EXACT),
    (
        "trailing spaces",
        "        slope += x * y   \n        intercept += y \n",
        LOOP_NEW,
        PARENT.replace(LOOP, LOOP_NEW),
        MatchKind.WHITESPACE,
    ),
    (
        "a blank line the program lacks",
        "        slope += x * y\n\n        intercept += y\n",
        LOOP_NEW,
        PARENT.replace(LOOP, LOOP_NEW),
        MatchKind.WHITESPACE,
    ),
    (
        "a blank line opening the SEARCH text",
        "\n" + LOOP,
        "\n" + LOOP_NEW,
        PARENT.replace(LOOP, LOOP_NEW),
        MatchKind.EXACT,
    ),
    (
        "dedented to column 0, replacement re-indented",
        "slope += x * y\nintercept += y\n",
        "slope += 2 * x * y\nintercept += y\n",
        PARENT.replace(LOOP, LOOP_NEW),
        MatchKind.INDENT,
    ),
    (
        "indented too far, nested replacement keeps its shape",
        "            if slope > 0:\n                slope = slope / len(xs)\n",
        "            if slope > 0:\n                slope = slope / len(xs)\n"
        "                slope *= 2\n",
        PARENT.replace(
            "    if slope > 0:\n        slope = slope / len(xs)\n",
            "    if slope > 0:\n        slope = slope / len(xs)\n        slope *= 2\n",
        ),
        MatchKind.INDENT,
    ),
    (
        "one changed token",
        "        slope += x * z\n        intercept += y\n",
        LOOP_NEW,
        PARENT.replace(LOOP, LOOP_NEW),
        MatchKind.FUZZY,
    ),
    (
        "one changed token and lost indentation",
        "for x, y in zip(xs, zs):\n    slope += x * y\n",
        "for x, y in zip(xs, ys):\n    slope += 3 * x * y\n",
        PARENT.replace(
            "    for x, y in zip(xs, ys):\n        slope += x * y\n",
            "    for x, y in zip(xs, ys):\n        slope += 3 * x * y\n",
        ),
        MatchKind.FUZZY,
    ),
]

REFUSED = [
    ("exact text twice", "        total += 1\n", "        total += 2\n", AMBIGUOUS, "2 times"),
    (
        "twice ignoring trailing spaces",
        "        total += 1  \n",
        "        total += 2\n",
        AMBIGUOUS,
        "ignoring trailing whitespace",
    ),
    (
        "twice ignoring indentation",
        "            total += 1\n",
        "            total += 2\n",
        AMBIGUOUS,
        "indentation",
    ),
    (
        "two equally close places",
        "        total += 7\n",
        "        total += 2\n",
        AMBIGUOUS,
        "equally close",
    ),
    (
        "different code, below the threshold",
        "    return something_else(a, b, c)\n",
        "    return 0\n",
        NOT_APPLIED,
        "not found",
    ),
    ("frozen code", "    return v + 1\n", "    return v + 2\n", NOT_APPLIED, "frozen"),
]


@pytest.mark.parametrize(
    ("search", "replace", "expected", "kind"),
    [case[1:] for case in APPLIED],
    ids=[case[0] for case in APPLIED],
)
def test_near_misses_apply_to_the_intended_lines(
    search: str, replace: str, expected: str, kind: MatchKind
) -> None:
    assert expected != PARENT
    applied = apply_edits_matched(PARENT, [Edit(search, replace)])
    assert applied.code == expected
    assert applied.match is kind


@pytest.mark.parametrize(
    ("search", "replace", "category", "fragment"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_ambiguous_or_absent_edits_are_refused_with_a_reason(
    search: str, replace: str, category: str, fragment: str
) -> None:
    with pytest.raises(AnswerError, match=fragment) as refused:
        apply_edits_matched(PARENT, [Edit(search, replace)])
    assert refused.value.category == category


def test_leniency_stops_at_the_configured_tier() -> None:
    trailing = Edit("        slope += x * y   \n        intercept += y\n", LOOP_NEW)
    token = Edit("        slope += x * z\n        intercept += y\n", LOOP_NEW)
    with pytest.raises(AnswerError, match="not found"):
        apply_edits_matched(PARENT, [trailing], leniency=MatchKind.EXACT)
    assert apply_edits_matched(PARENT, [trailing], leniency=MatchKind.WHITESPACE).match is (
        MatchKind.WHITESPACE
    )
    with pytest.raises(AnswerError, match="not found"):
        apply_edits_matched(PARENT, [token], leniency=MatchKind.INDENT)
    with pytest.raises(AnswerError, match="not found"):
        apply_edits_matched(PARENT, [token], fuzzy_threshold=0.99)


def test_a_child_reports_its_most_lenient_edit() -> None:
    edits = [Edit(LOOP, LOOP_NEW), Edit("      if slope > 0:\n", "      if slope >= 0:\n")]
    applied = apply_edits_matched(PARENT, edits)
    assert applied.kinds == (MatchKind.EXACT, MatchKind.INDENT)
    assert applied.match is MatchKind.INDENT
    assert "\n    if slope >= 0:\n        slope = slope / len(xs)\n" in applied.code
    assert weakest([]) is MatchKind.EXACT


def test_a_stricter_tier_that_finds_one_place_wins_over_a_looser_tie() -> None:
    # exact finds the first loop only (the second differs in its variable name)
    block = "for x in xs:\n    total += 1\nfor y in ys:\n    total += 1\n"
    found = locate([block], "for x in xs:\n    total += 1\n", "pass\n")
    assert found is not None and found.kind is MatchKind.EXACT and found.start == 0


_LINES = st.sampled_from(
    ["a = 1", "b = a + 2", "total += 1", "if a > b:", "return a", "c = [a, b]", "pass"]
)


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(_LINES, min_size=1, max_size=8),
    repeated=_LINES,
    indent=st.sampled_from(["", "    ", "        "]),
    noise=st.sampled_from(["", "  ", "\t"]),
    leniency=st.sampled_from(list(MatchKind)),
)
def test_a_line_that_occurs_twice_is_never_applied(
    lines: list[str], repeated: str, indent: str, noise: str, leniency: MatchKind
) -> None:
    """A block where one line occurs at least twice: a SEARCH for that line alone, at any
    indentation and with trailing noise, never edits the block."""
    body = [repeated, *lines, repeated]
    block = "".join(f"    {line}\n" for line in body)
    try:
        found = locate([block], f"{indent}{repeated}{noise}\n", "X\n", leniency=leniency)
    except MatchRefused as refused:
        assert "ambiguous" in str(refused)
        return
    assert found is None  # not allowed at this leniency (e.g. exact with noise)


def test_a_block_of_near_identical_lines_is_refused_rather_than_searched() -> None:
    """Hundreds of lines as close to the SEARCH text as each other: refused as ambiguous
    (the work per edit stays bounded), never matched to one of them."""
    count = FUZZY_MAX_CANDIDATES + 100
    block = "".join(f"    total_weight_of_the_item = 0.5 + {i:03d}\n" for i in range(count))
    with pytest.raises(MatchRefused, match="similar places"):
        locate([block], "    total_weight_of_the_item = 0.5 + xyz\n", "    pass\n")


def test_a_long_block_with_one_close_window_is_matched() -> None:
    lines = [
        f"    value_{i} = compute(x_{i % 17}, {i * 0.37:.4f}) + offset_{i % 5}\n"
        for i in range(2000)
    ]
    search = "".join(lines[1000:1030]).replace("compute", "compte", 1)
    found = locate(["".join(lines)], search, "    pass\n")
    assert found is not None and found.kind is MatchKind.FUZZY
    assert found.start == sum(len(line) for line in lines[:1000])
    assert found.end == sum(len(line) for line in lines[:1030])
