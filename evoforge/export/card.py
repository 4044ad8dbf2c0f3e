"""The dataset card: ``README.md`` beside the JSONL files.

Hugging Face reads the YAML front matter (the files of each split), people read the rest:
source runs, the options the export ran with, counts per split, what was dropped and
why, and the share of examples from each operator and problem.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CardData", "render_card"]

_DESCRIPTIONS = {
    "sft": (
        "Conversational fine-tuning examples (`messages`: system, user, assistant). The user "
        "turn is the prompt evoforge's `llm_diff` operator builds for a parent program (or the "
        "recorded prompt of a model child); the assistant turn is an edit that improved that "
        "parent, as SEARCH/REPLACE blocks (or the model's recorded answer). `kind` "
        "`failure_fix` examples show a failed sibling's edit and error in the user turn."
    ),
    "preference": (
        "Preference pairs (`prompt`, `chosen`, `rejected`, conversational) of two children of "
        "the same parent: `chosen` improved the parent and scored higher than `rejected` by "
        "more than `margin`; a failed child can be `rejected`, with its error in "
        "`rejected_error`."
    ),
    "traces": (
        "One record per child: parent, operator, unified diff, metrics, status, reason and "
        "error, and for a model child the prompt and the answer it was made from, for "
        "building your own datasets."
    ),
}


@dataclass
class CardData:
    """What the card reports."""

    format: str
    options: dict[str, Any]
    sources: list[dict[str, Any]]
    counts: dict[str, int]
    files: dict[str, str]
    drops: Counter[str] = field(default_factory=Counter)
    drop_reasons: dict[str, str] = field(default_factory=dict)
    operators: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    candidates: int = 0


def _cell(value: object) -> str:
    """``value`` as the text of one Markdown table cell: a ``|`` in it (a run or problem
    named so) is escaped and a line break becomes a space, so the row keeps its columns."""
    text = " ".join(str(value).splitlines())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _share_table(title: str, counts: Counter[str]) -> list[str]:
    total = sum(counts.values())
    lines = [f"| {title} | examples | share |", "| --- | ---: | ---: |"]
    for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"| {_cell(name)} | {count} | {count / total:.1%} |")
    return lines


def render_card(data: CardData) -> str:
    """The Markdown text of the card."""
    total = sum(data.counts.values())
    front = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split, filename in data.files.items():
        front += [f"  - split: {split}", f"    path: {filename}"]
    front += ["tags:", "- evoforge", f"- {data.format}", "---", ""]
    lines = [
        *front,
        f"# evoforge {data.format} dataset",
        "",
        _DESCRIPTIONS[data.format],
        "",
        f"{total} examples: "
        + ", ".join(f"{data.counts[split]} {split}" for split in data.counts)
        + f" (from {data.candidates} candidates).",
        "",
        "## Files",
        "",
        "| split | file | examples |",
        "| --- | --- | ---: |",
    ]
    for split, filename in data.files.items():
        lines.append(f"| {split} | `{filename}` | {data.counts.get(split, 0)} |")
    lines += [
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'data = load_dataset("json", data_files={'
        + ", ".join(f'"{split}": "{name}"' for split, name in data.files.items())
        + "})",
        "```",
        "",
        "## Source runs",
        "",
        "| run | problem | programs | scored | seed score | best score |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for source in data.sources:
        lines.append(
            f"| {_cell(source['run'])} | {_cell(source['problem'])} | {source['programs']} | "
            f"{source['scored']} | {_number(source['seed_score'])} | "
            f"{_number(source['best_score'])} |"
        )
    for source in data.sources:
        if source.get("running"):
            lines += [
                "",
                f"Run {source['run']} was still running ({source['running']}) when this was "
                "exported: its data are what it had recorded by then.",
            ]
    lines += ["", "## Options", "", "| option | value |", "| --- | --- |"]
    for name, value in data.options.items():
        lines.append(f"| {_cell(name)} | {_cell(value)} |")
    lines += [
        "",
        "Splits are by lineage (the descendants of one child of the seed) and problem, never "
        "by row: lineages that share a normalised program are kept together, the seed's "
        "lineage trains, and an example whose programs would straddle the split is dropped, so "
        "no parent, child or failed program appears in both splits (an inspiration a prompt "
        "shows may come from the other side). Secrets, paths of the machine, URLs "
        "and the evaluator's internals (its traceback frames and source lines) are removed "
        "from every field; an example whose program code holds any of them is dropped.",
        "",
        "## Dropped candidates",
        "",
        "| reason | count |",
        "| --- | ---: |",
    ]
    for reason, text in data.drop_reasons.items():
        lines.append(f"| {_cell(text)} | {data.drops.get(reason, 0)} |")
    if data.kinds:
        lines += ["", "## Share by kind", "", *_share_table("kind", data.kinds)]
    lines += ["", "## Share by operator", "", *_share_table("operator", data.operators)]
    lines += ["", "## Share by problem", "", *_share_table("problem", data.problems), ""]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
