"""Text nobody can encode (lone surrogates) never stops a step's commit or a resume."""

from __future__ import annotations

import shutil
from pathlib import Path

from evoforge import Engine, EvalStatus, EvaluationResult, load_problem
from evoforge.config import resolve_config
from evoforge.llm.records import CallOutcome, LLMCallRecord
from evoforge.operators.base import Proposal
from evoforge.program import Program, code_hash
from evoforge.storage.db import RunDatabase, storable_text

PROBLEM = Path(__file__).parent.parent / "e2e" / "problems" / "curve_fit"
LONE = "\ud800"
REPLACED = "\ufffd"


def test_storable_text_replaces_lone_surrogates_only() -> None:
    assert storable_text("plain") == "plain"
    assert storable_text("é → ✓ \x00 nul") == "é → ✓ \x00 nul"
    assert storable_text(f"a{LONE}b\udfff") == f"a{REPLACED}b{REPLACED}"
    # a well-formed pair written as two surrogates is the character it encodes
    assert storable_text("\ud83d\ude00") == "\U0001f600"
    assert storable_text(f"\udfff{LONE}").encode("utf-8") == REPLACED.encode("utf-8") * 2


def test_every_text_column_takes_unencodable_text(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / "run.sqlite", create=True)
    code = f"x = '{LONE}'\n"
    program = Program(
        id="p0",
        code=code,
        code_hash=code_hash("x = 0\n"),
        reason=f"boom {LONE}\x00",
        metrics={f"m{LONE}": 1.0},
        artifacts={f"stderr{LONE}": f"tail {LONE}", "nul": "a\x00b"},
    )
    record = LLMCallRecord(
        model=f"m{LONE}",
        operator="llm_diff",
        prompt=f"prompt {LONE}",
        response=f"answer {LONE}",
        tokens_in=1,
        tokens_out=1,
        latency_s=0.1,
        cost=0.0,
        outcome=CallOutcome.OK,
        error=f"err {LONE}",
    )
    db.commit_step(
        program,
        evaluated=True,
        outcome=None,
        reward=None,
        events=[(f"note{LONE}", {f"k{LONE}": [f"v{LONE}"]})],
        state={f"s{LONE}": {"text": LONE}},
        llm_calls=[record],
    )
    db.set_meta({f"key{LONE}": f"value{LONE}"})
    db.store_problem_files({f"data{LONE}.txt": b"\xff"})
    db.close()
    again = RunDatabase(tmp_path / "run.sqlite")
    try:
        stored = next(again.steps()).program
        assert stored.code == f"x = '{REPLACED}'\n"
        assert stored.reason == f"boom {REPLACED}\x00"
        assert stored.metrics == {f"m{REPLACED}": 1.0}
        assert stored.artifacts == {f"stderr{REPLACED}": f"tail {REPLACED}", "nul": "a\x00b"}
        assert again.events()[0].kind == f"note{REPLACED}"
        assert again.events()[0].payload == {f"k{REPLACED}": [f"v{REPLACED}"]}
        assert again.get_state(f"s{REPLACED}") == {"text": REPLACED}
        _, call = again.llm_calls()[0]
        assert (call.model, call.prompt, call.response, call.error) == (
            f"m{REPLACED}",
            f"prompt {REPLACED}",
            f"answer {REPLACED}",
            f"err {REPLACED}",
        )
        assert again.get_meta(f"key{REPLACED}") == f"value{REPLACED}"
        assert again.problem_files() == {f"data{REPLACED}.txt": b"\xff"}
    finally:
        again.close()


def test_an_engine_step_with_unencodable_results_commits_and_resumes(tmp_path: Path) -> None:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(problem_layer=problem.config_layer, cli_layer={"seed": 1})
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        job = engine.ask()
        assert job.context.call_log is not None
        job.context.call_log.append(
            LLMCallRecord(
                model="m",
                operator=job.operator.name,
                prompt=f"why {LONE}",
                response=f"because {LONE}",
                tokens_in=2,
                tokens_out=2,
                latency_s=0.0,
                cost=0.0,
                outcome=CallOutcome.OK,
            )
        )
        child = Proposal(code=problem.initial_code.replace("a = 0.5", "a = 0.7"), operator="x")
        hostile = EvaluationResult(
            EvalStatus.OK,
            score=-0.5,
            metrics={f"combined{LONE}": -0.5},
            artifacts={"stdout": f"printed {LONE}\x00", f"key{LONE}": "v"},
            reason=f"odd {LONE}",
        )
        report = engine.tell(job, child, hostile)
        failing = engine.ask()
        broken = Proposal(code=problem.initial_code.replace("a = 0.5", "a = 0.3"), operator="x")
        error = EvaluationResult(
            EvalStatus.FAILED, reason=f"ValueError: {LONE}", artifacts={"traceback": LONE}
        )
        engine.tell(failing, broken, error)
    finally:
        engine.close()
    reopened = Engine.open(tmp_path / "run")
    try:
        assert reopened.counters.iterations == 2
        stored = reopened.db.program(report.program.id)
        assert stored is not None and stored.score == -0.5
        assert stored.reason == f"odd {REPLACED}"
        assert stored.metrics == {f"combined{REPLACED}": -0.5}
        assert stored.artifacts == {"stdout": f"printed {REPLACED}\x00", f"key{REPLACED}": "v"}
        failed = reopened.db.program("i000002")
        assert failed is not None and failed.reason == f"ValueError: {REPLACED}"
        assert [call.prompt for _, call in reopened.db.llm_calls()] == [f"why {REPLACED}"]
        reopened.tell(reopened.ask(), None, EvaluationResult(EvalStatus.FAILED, reason="x"))
        assert reopened.db.count_programs() == 4
    finally:
        reopened.close()
