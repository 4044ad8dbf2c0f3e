"""A reasoning model's ``<think>`` section in exports: the run never applies it (its
drafts are no part of the answer), so by default no completion holds it either; with
``reasoning="keep"`` the completions are the answers as the model wrote them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evoforge.export import ExportOptions, export_runs
from evoforge.operators.diff import child_from_diff, child_from_rewrite
from evoforge.operators.reasoning import after_reasoning

from .conftest import DRAFT_EDIT, REASONING, Run


def _records(out: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(out.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _model_examples(run: Run, out: Path, **options: Any) -> list[dict[str, Any]]:
    """The sft examples made from the model's own answers, each checked to turn its
    parent into its child with evoforge's parser (after any reasoning section)."""
    export_runs([run.directory], out, ExportOptions(format="sft", validation=0, **options))
    examples = [row for row in _records(out) if row["source"] == "model"]
    for row in examples:
        parent, child = run.programs[row["parent_id"]], run.programs[row["child_id"]]
        answer = after_reasoning(row["messages"][2]["content"])
        if row["answer_format"] == "search_replace":
            assert child_from_diff(parent.code, answer) == child.code
        else:
            assert child_from_rewrite(parent.code, answer) == child.code
    assert {row["operator"] for row in examples} == {"llm_diff", "llm_rewrite"}
    return examples


def test_completions_leave_out_the_reasoning_by_default(reasoning_run: Run, tmp_path: Path) -> None:
    for row in _model_examples(reasoning_run, tmp_path / "sft"):
        completion = row["messages"][2]["content"]
        assert "think>" not in completion and REASONING not in completion
        assert DRAFT_EDIT not in completion
        assert after_reasoning(completion) == completion
    export_runs([reasoning_run.directory], tmp_path / "traces", ExportOptions(format="traces"))
    answers = [row["model_answer"] for row in _records(tmp_path / "traces")]
    assert any(answers) and not any("think>" in answer for answer in answers)


def test_the_reasoning_is_kept_on_request(reasoning_run: Run, tmp_path: Path) -> None:
    for row in _model_examples(reasoning_run, tmp_path / "sft", reasoning="keep"):
        completion = row["messages"][2]["content"]
        assert completion.startswith(f"<think>\n{REASONING}\n")
    export_runs(
        [reasoning_run.directory],
        tmp_path / "traces",
        ExportOptions(format="traces", reasoning="keep"),
    )
    answers = [row["model_answer"] for row in _records(tmp_path / "traces")]
    assert all(answer.startswith("<think>") for answer in answers if answer)
    card = (tmp_path / "traces" / "README.md").read_text()
    assert "| reasoning | keep |" in card
