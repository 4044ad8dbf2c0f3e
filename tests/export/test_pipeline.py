"""Exports of real runs, loaded back with Hugging Face ``datasets``: the schema, the
preference margin, the split by lineage, and answers that parse back to the child."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets
import pytest

import evoforge
from evoforge.export import ExportOptions, export_runs
from evoforge.export.selection import FAILED_STATUSES
from evoforge.llm.oracle import find_programs
from evoforge.operators.diff import child_from_diff, child_from_rewrite
from evoforge.operators.prompts import ANSWER_SEARCH_REPLACE
from evoforge.program import Program, normalise_code

from .conftest import CURVE_FIT, Run

SFT_COLUMNS = {
    "messages",
    "kind",
    "source",
    "answer_format",
    "problem",
    "run",
    "operator",
    "parent_id",
    "child_id",
    "failed_id",
    "parent_score",
    "child_score",
    "difficulty",
    "lineage",
}
PREFERENCE_COLUMNS = {
    "prompt",
    "chosen",
    "rejected",
    "answer_format",
    "problem",
    "run",
    "parent_id",
    "chosen_id",
    "rejected_id",
    "chosen_operator",
    "rejected_operator",
    "parent_score",
    "chosen_score",
    "rejected_score",
    "rejected_status",
    "rejected_error",
    "margin",
    "difficulty",
    "lineage",
}
TRACE_COLUMNS = {
    "problem",
    "run",
    "id",
    "parent_id",
    "inspiration_ids",
    "operator",
    "iteration",
    "generation",
    "island",
    "status",
    "reason",
    "error",
    "score",
    "parent_score",
    "improved",
    "metrics",
    "diff",
    "model_prompt",
    "model_answer",
    "code_hash",
    "lineage",
}
COLUMNS = {"sft": SFT_COLUMNS, "preference": PREFERENCE_COLUMNS, "traces": TRACE_COLUMNS}


def _load(out: Path) -> dict[str, Any]:
    files = {
        split: str(out / f"{split}.jsonl")
        for split in ("train", "validation")
        if (out / f"{split}.jsonl").is_file()
    }
    assert "train" in files
    return dict(datasets.load_dataset("json", data_files=files))


def _export(runs: Iterable[Run], out: Path, **options: Any) -> dict[str, Any]:
    export_runs([run.directory for run in runs], out, ExportOptions(**options))
    assert (out / "README.md").is_file()
    return _load(out)


def _program_ids(fmt: str, row: dict[str, Any]) -> list[str]:
    if fmt == "sft":
        return [row["parent_id"], row["child_id"]] + (
            [row["failed_id"]] if row["failed_id"] else []
        )
    if fmt == "preference":
        return [row["parent_id"], row["chosen_id"], row["rejected_id"]]
    return [row["parent_id"], row["id"]]


def _assert_split_by_lineage(fmt: str, data: dict[str, Any], runs: dict[str, Run]) -> None:
    seen: dict[str, set[str]] = {}
    for split, rows in data.items():
        seen[split] = {
            normalise_code(runs[row["run"]].programs[program_id].code)
            for row in rows
            for program_id in _program_ids(fmt, row)
        }
    if len(seen) == 2:
        assert not seen["train"] & seen["validation"]


def _apply(parent: str, answer: str, answer_format: str) -> str:
    if answer_format == "search_replace":
        return child_from_diff(parent, answer)
    return child_from_rewrite(parent, answer)


def _prompt_parent(user: str, parent: Program) -> str:
    """The program under the prompt's current-program heading; it is the parent's code."""
    shown, _ = find_programs(user)
    assert shown is not None
    assert shown.rstrip() == parent.code.rstrip()
    return shown


@pytest.fixture(scope="module")
def offline_runs(circle_run: Run, minimization_run: Run) -> dict[str, Run]:
    return {run.label: run for run in (circle_run, minimization_run)}


@pytest.mark.parametrize("fmt", ["sft", "preference", "traces"])
def test_offline_export_loads_with_the_documented_schema(
    fmt: str, offline_runs: dict[str, Run], tmp_path: Path
) -> None:
    data = _export(offline_runs.values(), tmp_path / fmt, format=fmt)
    assert set(data) == {"train", "validation"}, "two problems give lineages on both sides"
    for rows in data.values():
        assert set(rows.column_names) == COLUMNS[fmt]
        assert len(rows) > 0
    rows = data["train"]
    assert {row["problem"] for split in data.values() for row in split} == {
        "circle_packing",
        "function_minimization",
    }
    if fmt == "sft":
        assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    if fmt == "preference":
        assert [m["role"] for m in rows[0]["prompt"]] == ["system", "user"]
        assert [m["role"] for m in rows[0]["chosen"]] == ["assistant"]
    _assert_split_by_lineage(fmt, data, offline_runs)


def test_sft_answers_reproduce_the_child_from_the_prompts_parent(
    offline_runs: dict[str, Run], tmp_path: Path
) -> None:
    data = _export(offline_runs.values(), tmp_path / "sft", format="sft")
    kinds = set()
    for rows in data.values():
        for row in rows:
            run = offline_runs[row["run"]]
            parent, child = run.programs[row["parent_id"]], run.programs[row["child_id"]]
            system, user, assistant = (m["content"] for m in row["messages"])
            assert ANSWER_SEARCH_REPLACE in user and system
            shown = _prompt_parent(user, parent)
            assert _apply(shown, assistant, row["answer_format"]) == child.code
            assert child.score is not None and parent.score is not None
            assert child.score > parent.score
            assert row["child_score"] == child.score
            kinds.add(row["kind"])
            if row["kind"] == "failure_fix":
                failed = run.programs[row["failed_id"]]
                assert failed.status in FAILED_STATUSES and failed.parent_id == parent.id
                assert child.parent_id == parent.id
    assert kinds == {"improvement", "failure_fix"}


def test_every_chosen_beats_its_rejected_by_the_margin(
    offline_runs: dict[str, Run], tmp_path: Path
) -> None:
    margin = 0.002
    data = _export(offline_runs.values(), tmp_path / "pref", format="preference", margin=margin)
    statuses = set()
    for rows in data.values():
        for row in rows:
            run = offline_runs[row["run"]]
            parent = run.programs[row["parent_id"]]
            chosen = run.programs[row["chosen_id"]]
            rejected = run.programs[row["rejected_id"]]
            assert chosen.parent_id == rejected.parent_id == parent.id
            assert chosen.score is not None and parent.score is not None
            assert chosen.score > parent.score
            if rejected.status in FAILED_STATUSES:
                assert row["rejected_score"] is None and row["rejected_error"]
            else:
                assert rejected.score is not None
                assert chosen.score - rejected.score > margin * abs(parent.score)
                assert row["rejected_score"] == rejected.score
            statuses.add(rejected.status.value)
            user = row["prompt"][1]["content"]
            shown = _prompt_parent(user, parent)
            chosen_answer = row["chosen"][0]["content"]
            rejected_answer = row["rejected"][0]["content"]
            assert child_from_diff(shown, chosen_answer) == chosen.code
            assert child_from_diff(shown, rejected_answer) == rejected.code
    assert "ok" in statuses and statuses & {"failed", "invalid", "timeout"}


def test_an_oracle_run_exports_the_models_own_answers(oracle_run: Run, tmp_path: Path) -> None:
    runs = {oracle_run.label: oracle_run}
    sources = set()
    for fmt in ("sft", "preference", "traces"):
        data = _export(runs.values(), tmp_path / fmt, format=fmt, validation=0.3)
        for rows in data.values():
            assert set(rows.column_names) == COLUMNS[fmt]
        _assert_split_by_lineage(fmt, data, runs)
        if fmt == "traces":
            exchanges = [
                (row["operator"], bool(row["model_prompt"]), bool(row["model_answer"]))
                for rows in data.values()
                for row in rows
            ]
            assert all(not p and not a for op, p, a in exchanges if not op.startswith("llm_"))
            assert any(p and a for op, p, a in exchanges if op == "llm_diff")
        if fmt != "sft":
            continue
        for rows in data.values():
            for row in rows:
                parent = oracle_run.programs[row["parent_id"]]
                child = oracle_run.programs[row["child_id"]]
                user, assistant = row["messages"][1]["content"], row["messages"][2]["content"]
                shown = _prompt_parent(user, parent)
                assert _apply(shown, assistant, row["answer_format"]) == child.code
                sources.add((row["source"], row["operator"]))
    assert ("model", "llm_diff") in sources
    assert any(source == "rebuilt" for source, _ in sources)


def test_examples_are_unique_by_normalised_code(
    offline_runs: dict[str, Run], tmp_path: Path
) -> None:
    copy = tmp_path / "copy" / "circles"
    shutil.copytree(offline_runs["circles"].directory, copy)
    twice = [*offline_runs.values(), Run(copy, offline_runs["circles"].programs)]
    data = _export(twice, tmp_path / "sft", format="sft")
    keys = []
    for rows in data.values():
        for row in rows:
            run = offline_runs[row["run"].removesuffix("-2")]
            keys.append(
                tuple(normalise_code(run.programs[i].code) for i in _program_ids("sft", row))
            )
    assert len(keys) == len(set(keys))
    assert all(not row["run"].endswith("-2") for rows in data.values() for row in rows)


def test_the_lineage_cap_and_the_difficulty_quota_limit_examples(
    offline_runs: dict[str, Run], tmp_path: Path
) -> None:
    free = _export(
        offline_runs.values(),
        tmp_path / "free",
        format="sft",
        difficulty="off",
        per_lineage=0,
        failure_examples=0,
        validation=0.0,
    )
    capped = _export(
        offline_runs.values(),
        tmp_path / "capped",
        format="sft",
        difficulty="off",
        per_lineage=2,
        failure_examples=0,
        validation=0.0,
    )
    per_lineage: dict[tuple[str, str], int] = {}
    for row in capped["train"]:
        key = (row["run"], row["lineage"])
        per_lineage[key] = per_lineage.get(key, 0) + 1
    assert max(per_lineage.values()) == 2
    assert len(capped["train"]) < len(free["train"])
    single = _export(
        offline_runs.values(),
        tmp_path / "single",
        format="sft",
        difficulty="uniform",
        per_parent=1,
        per_lineage=0,
        failure_examples=0,
        validation=0.0,
    )
    parents = [(row["run"], row["parent_id"]) for row in single["train"]]
    assert len(parents) == len(set(parents))
    assert len(single["train"]) < len(free["train"])


def test_an_export_stopped_part_way_never_leaves_a_card_describing_other_data(
    offline_runs: dict[str, Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second export into the same directory that fails before its files are in place
    leaves the first whole; one that fails once they are leaves no card (the mark of an
    export stopped part way), never the first card over the second's data."""
    from evoforge.export import pipeline

    out = tmp_path / "out"
    runs = list(offline_runs.values())
    export_runs([run.directory for run in runs], out, ExportOptions(format="sft"))
    first = {path.name: path.read_bytes() for path in out.iterdir()}

    def broken_card(card: object) -> str:
        raise KeyboardInterrupt  # as a kill while the card is made

    monkeypatch.setattr(pipeline, "render_card", broken_card)
    with pytest.raises(KeyboardInterrupt):
        export_runs(
            [run.directory for run in runs], out, ExportOptions(format="sft", validation=0.5)
        )
    assert {path.name: path.read_bytes() for path in out.iterdir()} == first

    monkeypatch.undo()

    def broken_write(path: Path, text: str) -> None:
        raise KeyboardInterrupt  # as a kill just before the card is written

    monkeypatch.setattr(pipeline, "write_text_atomically", broken_write)
    with pytest.raises(KeyboardInterrupt):
        export_runs(
            [run.directory for run in runs], out, ExportOptions(format="sft", validation=0.5)
        )
    assert "README.md" not in {path.name for path in out.iterdir()}
    assert not [path for path in out.iterdir() if path.name.startswith(".")]  # nothing aside


def test_line_separators_in_candidate_text_keep_one_record_per_line(tmp_path: Path) -> None:
    """Code (a comment in the evolve block) holding NEL, LINE SEPARATOR and PARAGRAPH
    SEPARATOR, which ``str.splitlines`` ends lines at: every JSONL file still splits into
    one record per line that way, and the records keep the characters."""
    problem = tmp_path / "problem"
    shutil.copytree(CURVE_FIT, problem)
    seed = problem / "initial_program.py"
    separators = "\x85\u2028\u2029"
    text = seed.read_text(encoding="utf-8")
    seed.write_text(
        text.replace("def model(x):\n", f"def model(x):\n    # a{separators}b\n", 1), "utf-8"
    )
    run = evoforge.run(problem, iterations=8, workers=1, out=tmp_path / "run", seed=1)
    for fmt in ("sft", "traces"):
        out = tmp_path / fmt
        export_runs([run.run_dir], out, ExportOptions(format=fmt))
        records = []
        for path in sorted(out.glob("*.jsonl")):
            content = path.read_text(encoding="utf-8")
            lines = content.splitlines()
            assert len(lines) == content.count("\n") > 0, (fmt, path.name)
            records += [json.loads(line) for line in lines]
        kept = "".join(json.dumps(record, ensure_ascii=False) for record in records)
        assert all(separator in kept for separator in separators), fmt


@pytest.mark.parametrize(("fmt", "unit"), [("sft", "parents"), ("traces", "children")])
def test_progress_counts_the_programs_read_and_the_work_built(
    circle_run: Run, tmp_path: Path, fmt: str, unit: str
) -> None:
    """Reading a run of tens of thousands of programs and building its examples take
    tens of seconds each: besides the step it turns to, the export says how far it
    has got within each (every hundredth of the way), first and last count included."""
    lines: list[str] = []
    export_runs([circle_run.directory], tmp_path / "out", ExportOptions(format=fmt), lines.append)
    programs = len(circle_run.programs)
    reading = [line for line in lines if line.startswith("reading run circles (1/1): ")]
    assert reading[0].endswith(f": 0/{programs} programs")
    assert reading[-1].endswith(f": {programs}/{programs} programs")
    assert len(reading) == programs + 1  # fewer than a hundred: one count each
    building = [line for line in lines if line.startswith(f"building {fmt} examples from ")]
    assert building[0] == f"building {fmt} examples from circles (1/1)"
    counts = [line.rsplit(": ", 1)[1] for line in building[1:]]
    total = int(counts[-1].split("/")[1].split()[0])
    assert total > 10
    assert counts == [f"{done}/{total} {unit}" for done in range(total + 1)]
