"""The dataset card's Markdown: every table row keeps its columns whatever the names."""

from __future__ import annotations

import re
from collections import Counter

from evoforge.export.card import CardData, render_card

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _card(run: str, problem: str) -> str:
    return render_card(
        CardData(
            format="sft",
            options={"min_gain": "0 | 1"},
            sources=[
                {
                    "run": run,
                    "problem": problem,
                    "programs": 3,
                    "scored": 2,
                    "seed_score": 0.5,
                    "best_score": 0.75,
                }
            ],
            counts={"train": 2},
            files={"train": "train.jsonl"},
            operators=Counter({"tune": 2}),
            problems=Counter({problem: 2}),
            kinds=Counter({"improvement": 2}),
            candidates=2,
        )
    )


def _tables(card: str) -> list[list[str]]:
    """The card's Markdown tables, each as its lines (header, rule, rows)."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in [*card.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_names_with_pipes_and_line_breaks_keep_each_row_s_columns() -> None:
    card = _card("run|one", "problem|a\nsecond line")
    tables = _tables(card)
    assert len(tables) >= 6
    for table in tables:
        columns = {len(_UNESCAPED_PIPE.findall(line)) for line in table}
        assert len(columns) == 1, table
    assert "| run\\|one | problem\\|a second line | 3 | 2 | 0.5 | 0.75 |" in card
    assert "| min_gain | 0 \\| 1 |" in card
    assert "| problem\\|a second line | 2 | 100.0% |" in card


def test_the_kind_table_has_its_heading() -> None:
    card = _card("run", "problem")
    assert "## Share by kind\n\n| kind | examples | share |" in card
