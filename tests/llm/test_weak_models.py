"""Weak models: the correction prompt, lenient matching in whole runs, and the record of
both, against real HTTP servers on 127.0.0.1 (a scripted one and the oracle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import evoforge
from evoforge.cli import main
from evoforge.llm.oracle import (
    NEAR_MISS_KINDS,
    WeakModel,
    answer_prompt,
    diff_answer,
    near_miss,
    start_oracle,
)
from evoforge.operators.diff import AnswerError, apply_edits_matched, child_from_diff, parse_edits
from evoforge.operators.llm import CORRECTION_PROMPTS
from evoforge.operators.matching import MatchKind
from evoforge.operators.prompts import ANSWER_SEARCH_REPLACE, CURRENT_PROGRAM_HEADING
from evoforge.storage.db import RunDatabase

from .conftest import PROBLEMS, ScriptedServer, answer, llm_config

SEED_CODE = (PROBLEMS / "curve_fit" / "initial_program.py").read_text()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROSE = "A quadratic term would probably help here."
VALID_DIFF = (
    "<<<<<<< SEARCH\n    return a * x + b + c * x * x\n=======\n"
    "    return 1.5 * x * x - 2.0 * x + 0.75\n>>>>>>> REPLACE"
)
INDENTED_DIFF = (
    "<<<<<<< SEARCH\nreturn a * x + b + c * x * x\n=======\n"
    "return 1.5 * x * x - 2.0 * x + 0.75\n>>>>>>> REPLACE"
)
MISSING_DIFF = "<<<<<<< SEARCH\n    d = 7.0\n=======\n    d = 8.0\n>>>>>>> REPLACE"


def _answers(run_dir: Path) -> list[dict[str, Any]]:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        return [event.payload for event in db.events("llm_answer")]
    finally:
        db.close()


def _only_child(run_dir: Path) -> Any:
    """The one child of a one-iteration run."""
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        (child,) = [step.program for step in db.steps() if step.program.seq]
    finally:
        db.close()
    return child


def _one_diff_run(server: ScriptedServer, out: Path, **llm: Any) -> Any:
    config = llm_config(server.url, **llm)
    config["operators"] = {"enabled": ["llm_diff"]}
    return evoforge.run(PROBLEMS / "curve_fit", iterations=1, config=config, out=out)


def test_an_unparseable_reply_gets_one_correction_in_the_same_conversation(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.extend(answer(PROSE), answer(VALID_DIFF))
    result = _one_diff_run(scripted_server, tmp_path / "run")
    assert result.best_score is not None and result.best_score > result.initial_score
    first, second = scripted_server.requests
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assert second["messages"][len(first["messages"]) :] == [
        {"role": "assistant", "content": PROSE},
        {"role": "user", "content": CORRECTION_PROMPTS["diff"]},
    ]
    (record,) = _answers(tmp_path / "run")
    assert record == {
        "program_id": "i000001",
        "form": "diff",
        "outcome": "applied",
        "match": "exact",
        "edits": ["exact"],
        "correction": "succeeded",
    }


def test_a_correction_that_fails_counts_as_one_parse_failure(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.extend(answer(PROSE), answer(PROSE))
    result = _one_diff_run(scripted_server, tmp_path / "run")
    assert result.iterations == 1 and result.best_score == result.initial_score
    assert len(scripted_server.requests) == 2  # one correction, never a second
    (record,) = _answers(tmp_path / "run")
    assert record["outcome"] == "unparseable" and record["correction"] == "failed"
    child = _only_child(tmp_path / "run")
    assert child.reason == (
        "llm_diff: no SEARCH/REPLACE blocks in the answer (also after a correction prompt)"
    )


def test_an_answer_cut_off_at_max_tokens_says_so(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    cut = VALID_DIFF[: VALID_DIFF.index("=======")]
    scripted_server.extend(answer(cut, "length"), answer(cut, "length"))
    _one_diff_run(scripted_server, tmp_path / "run")
    child = _only_child(tmp_path / "run")
    assert child.reason == (
        "llm_diff: no SEARCH/REPLACE blocks in the answer (also after a correction prompt); "
        "the answer was cut off at its max_tokens (llm.models' max_tokens)"
    )


def test_a_reasoning_models_drafts_are_not_applied_in_a_run(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    draft = VALID_DIFF.replace("1.5 * x * x", "9.0 * x * x")
    scripted_server.extend(answer(f"<think>\nTry this:\n{draft}\nNo.\n</think>\n{VALID_DIFF}"))
    _one_diff_run(scripted_server, tmp_path / "run")
    child = _only_child(tmp_path / "run")
    assert "1.5 * x * x - 2.0 * x + 0.75" in child.code and "9.0 * x" not in child.code


@pytest.mark.parametrize("counted", [None, 100])
def test_status_warns_of_prompts_the_server_cut(
    scripted_server: ScriptedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    counted: int | None,
) -> None:
    """A server whose context window is smaller than the prompts (Ollama's default)
    counts a fixed few tokens of each; one that reads them all, about a quarter of
    their characters."""
    scripted_server.prompt_tokens = counted
    run_dir = tmp_path / "run"
    config = llm_config(scripted_server.url)
    config["operators"] = {"enabled": ["llm_diff"]}
    evoforge.run(EXAMPLES / "circle_packing", iterations=1, config=config, out=run_dir)
    assert min(len(json.dumps(r["messages"])) for r in scripted_server.requests) > 4000
    capsys.readouterr()
    assert main(["status", str(run_dir), "--json"]) == 0
    (stats,) = json.loads(capsys.readouterr().out)["llm"]["models"].values()
    assert main(["status", str(run_dir)]) == 0
    text = capsys.readouterr().out
    if counted is None:
        assert "prompts_cut" not in stats and "cut" not in text
    else:
        assert stats["prompts_cut"] == stats["calls"] and stats["cut_prompt_tokens"] == 100
        assert (
            f"warning: scripted: the server cut {stats['calls']} of the prompts it answered "
            "(it counted at most 100 tokens of each)"
        ) in text


def test_no_correction_for_an_edit_that_parses_or_when_turned_off(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.extend(answer(MISSING_DIFF))
    _one_diff_run(scripted_server, tmp_path / "missing")
    assert len(scripted_server.requests) == 1
    (record,) = _answers(tmp_path / "missing")
    assert record["outcome"] == "not_applied" and "correction" not in record

    scripted_server.extend(answer(PROSE))
    _one_diff_run(scripted_server, tmp_path / "off", correction_prompt=False)
    assert len(scripted_server.requests) == 2
    (record,) = _answers(tmp_path / "off")
    assert record["outcome"] == "unparseable" and "correction" not in record


def test_leniency_is_a_setting_and_each_child_says_how_it_matched(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.extend(answer(INDENTED_DIFF), answer(INDENTED_DIFF))
    result = _one_diff_run(scripted_server, tmp_path / "lenient")
    assert result.best_score is not None and result.best_score > result.initial_score
    assert _answers(tmp_path / "lenient")[0]["match"] == "indent"

    result = _one_diff_run(scripted_server, tmp_path / "strict", match_leniency="exact")
    assert result.best_score == result.initial_score
    (record,) = _answers(tmp_path / "strict")
    assert record["outcome"] == "not_applied"


@pytest.mark.parametrize("kind", NEAR_MISS_KINDS)
def test_the_oracles_near_misses_need_the_matching_tier(kind: str) -> None:
    """Each near-miss kind of the weak oracle is refused by the strict matcher and
    applied, to the intended child, by the tier made for it."""
    tier = {
        "trailing": MatchKind.WHITESPACE,
        "blank": MatchKind.WHITESPACE,
        "indent": MatchKind.INDENT,
        "token": MatchKind.FUZZY,
    }[kind]
    parent = SEED_CODE.replace("    c = 0.0\n", "    c = 0.0\n    scale = 1.0 + 0.0 * a\n")
    child = parent.replace("    c = 0.0\n", "    c = 0.5\n").replace(
        "    return a * x + b + c * x * x\n", "    return a * x + b\n"
    )
    exact = diff_answer(parent, child)
    assert child_from_diff(parent, exact) == child
    missed = near_miss(exact, kind, np.random.default_rng(4))
    assert parse_edits(missed)[0].search != parse_edits(exact)[0].search
    with pytest.raises(AnswerError):
        apply_edits_matched(parent, parse_edits(missed), leniency=MatchKind.EXACT)
    applied = apply_edits_matched(parent, parse_edits(missed))
    assert applied.code == child and applied.match is tier


def test_the_weak_oracle_is_deterministic_and_the_plain_one_unchanged() -> None:
    prompt = f"{CURRENT_PROGRAM_HEADING}\n```python\n{SEED_CODE}```\n{ANSWER_SEARCH_REPLACE}\n"
    messages = [{"role": "user", "content": prompt}]
    plain = [answer_prompt(3, messages, seed, 1)[0] for seed in range(30)]
    zero = [answer_prompt(3, messages, s, 1, weak=WeakModel()) for s in range(30)]
    assert [answers[0] for answers in zero] == plain
    weak = WeakModel(near_miss_rate=0.5, unparseable_rate=0.3)
    first = [answer_prompt(3, messages, s, 1, weak=weak)[0] for s in range(30)]
    assert first == [answer_prompt(3, messages, s, 1, weak=weak)[0] for s in range(30)]
    no_code = [text for text in first if "SEARCH" not in text]
    assert 3 <= len(no_code) <= 18
    changed = [a for a, b in zip(first, plain, strict=True) if a != b and "SEARCH" in a]
    assert changed  # some SEARCH texts were copied imperfectly
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeakModel(near_miss_rate=1.5)


def test_the_oracle_command_refuses_a_rate_outside_0_to_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["oracle", "--port", "0", "--unparseable-rate", "1.5"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--unparseable-rate: must be between 0 and 1, got 1.5" in line


def test_answers_are_stored_survive_a_resume_and_show_in_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the weak oracle and one worker: every llm child has its record, two runs
    record the same, a resume keeps what was recorded, and status counts it."""
    oracle = start_oracle(seed=2, weak=WeakModel(near_miss_rate=0.6, unparseable_rate=0.3))
    try:
        config = {
            "seed": 4,
            # no final simplification: every iteration is a model child with its answer
            "run": {"workers": 1, "simplify_best": False},
            "operators": {"enabled": ["llm_diff", "llm_rewrite"]},
            "llm": {"models": [{"model": "oracle", "base_url": oracle.url}]},
        }
        first = tmp_path / "first"
        evoforge.run(PROBLEMS / "curve_fit", iterations=12, config=config, out=first)
        again = tmp_path / "again"
        evoforge.run(PROBLEMS / "curve_fit", iterations=12, config=config, out=again)
        assert _answers(first) == _answers(again)
        before = _answers(first)
        assert len(before) == 12
        assert {record["form"] for record in before} == {"diff", "rewrite"}
        assert any(record.get("correction") for record in before)
        assert main(["resume", str(first), "--iterations", "6", "--quiet"]) == 0
    finally:
        oracle.close()
    after = _answers(first)
    assert after[:12] == before and len(after) == 18
    capsys.readouterr()
    assert main(["status", str(first), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["llm_answers"]
    outcomes = [record["outcome"] for record in after]
    assert summary["answers"] == 18
    assert summary["outcomes"] == {name: outcomes.count(name) for name in set(outcomes)}
    matched = [record["match"] for record in after if "match" in record]
    assert sum(summary["match"].values()) == len(matched)
    corrections = [record["correction"] for record in after if "correction" in record]
    assert summary["corrections"] == {
        "sent": len(corrections),
        "succeeded": corrections.count("succeeded"),
    }
    assert main(["status", str(first)]) == 0
    line = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert f"model answers: 18, applied {outcomes.count('applied')}" in line
    assert f"correction prompts {len(corrections)}" in line
