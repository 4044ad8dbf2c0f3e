"""Every engine's result on a problem with instance splits gets a test score: evoforge's
engines for the program they choose on the holdout, the others for their best program."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evoforge.bench import BenchOptions, run_bench
from evoforge.bench.held_out import (
    CHOICE_BEST_SEARCH,
    CHOICE_THRESHOLDOUT,
    choice_of,
    with_test_score,
)
from evoforge.bench.records import RunRecord
from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator

SPLIT_CURVE_FIT = Path(__file__).parents[1] / "e2e" / "problems" / "split_curve_fit"
# scores the 12 search points, then fails: the test split asks for 60
FAILS_ON_TEST = """
CALLS = [0]


# EVOLVE-BLOCK-START
def model(x):
    CALLS[0] += 1
    if CALLS[0] > 20:
        raise RuntimeError("too many points")
    return 1.5 * x * x - 2.0 * x + 0.75


# EVOLVE-BLOCK-END
"""


@pytest.fixture
def problem(tmp_path: Path) -> Path:
    target = tmp_path / "split_curve_fit"
    shutil.copytree(SPLIT_CURVE_FIT, target)
    return target


def _scores(problem: Path, code: str) -> dict[str, float | None]:
    evaluator = ProblemEvaluator(problem / "evaluator.py", EvaluatorConfig(timeout_s=20))
    try:
        return {split: evaluator.evaluate(code, split).score for split in ("search", "test")}
    finally:
        evaluator.close()


def _record(code: str, score: float, **fields: object) -> RunRecord:
    base: dict[str, object] = {
        "problem": "split_curve_fit",
        "engine": "openevolve",
        "seed": 0,
        "budget": 10,
        "status": "ok",
        "best_score": score,
        "best_code": code,
    }
    base.update(fields)
    return RunRecord(**base)  # type: ignore[arg-type]


def test_a_run_without_a_choice_of_its_own_is_scored_on_test_with_its_best_program(
    problem: Path,
) -> None:
    code = (problem / "initial_program.py").read_text()
    scores = _scores(problem, code)
    assert scores["search"] is not None and scores["test"] is not None
    assert scores["search"] != scores["test"]  # the splits are different points
    record = _record(code, scores["search"], extra={"operators": {}})
    scored = with_test_score(record, problem)
    splits = scored.extra["splits"]
    assert splits["choice"] == CHOICE_BEST_SEARCH == choice_of(splits)
    assert splits["test_score"] == scores["test"] and splits["test_status"] == "ok"
    assert splits["search_score"] == scores["search"]
    assert splits["gap"] == pytest.approx(scores["search"] - scores["test"])
    assert splits["holdout_estimate"] is None and splits["test_evaluations"] == 1
    assert scored.extra["operators"] == {}  # the rest of the record is kept
    assert scored.best_score == record.best_score and scored.best_code == code


def test_a_best_program_that_fails_on_test_is_recorded_and_the_run_stays_finished(
    problem: Path,
) -> None:
    search = _scores(problem, FAILS_ON_TEST)["search"]
    assert search is not None
    scored = with_test_score(_record(FAILS_ON_TEST, search), problem)
    splits = scored.extra["splits"]
    assert scored.status == "ok"
    assert splits["test_score"] is None and splits["gap"] is None
    assert splits["test_status"] == "failed"
    assert "too many points" in splits["test_reason"]


def test_runs_that_have_a_choice_no_program_or_no_splits_are_left_as_they_are(
    problem: Path, tmp_path: Path
) -> None:
    code = (problem / "initial_program.py").read_text()
    own = {"test_score": 0.5, "search_score": 0.6}
    cases = [
        _record(code, -1.0, engine="evoforge", extra={"splits": own}),
        _record(code, -1.0, status="failed"),
        _record("", -1.0),
    ]
    for record in cases:
        assert with_test_score(record, problem) is record
    assert choice_of(own) == CHOICE_THRESHOLDOUT  # records written before `choice` was kept
    plain = tmp_path / "no_splits"
    shutil.copytree(SPLIT_CURVE_FIT, plain)
    (plain / "config.yaml").write_text("evaluator:\n  timeout_s: 10\n")
    record = _record(code, -1.0)
    assert with_test_score(record, plain) is record


def test_the_bench_scores_every_engine_on_test_and_reports_them_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = Path("results")
    options = BenchOptions(
        problems=[str(SPLIT_CURVE_FIT)],
        engines=["evoforge", "random-search"],
        seeds=1,
        evaluations=6,
        out=out,
        jobs=2,
        command="evoforge bench (held-out test)",
    )
    result = run_bench(options, log=lambda _line: None)
    assert result.ran == 2
    records = {
        r["engine"]: r
        for r in (json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines())
    }
    evoforge = records["evoforge"]["extra"]["splits"]
    assert evoforge["choice"] == CHOICE_THRESHOLDOUT and evoforge["holdout_estimate"] is not None
    baseline = records["random-search"]
    splits = baseline["extra"]["splits"]
    assert splits["choice"] == CHOICE_BEST_SEARCH
    assert splits["test_score"] == _scores(SPLIT_CURVE_FIT, baseline["best_code"])["test"]
    readme = (out / "README.md").read_text()
    section = readme[readme.index("## Test scores") : readme.index("## Summary")]
    assert f"| split_curve_fit | evoforge | {CHOICE_THRESHOLDOUT} | 1 |" in section
    assert f"| split_curve_fit | random-search | {CHOICE_BEST_SEARCH} | 1 |" in section


def test_a_sandbox_that_breaks_while_scoring_on_test_leaves_the_run_finished(
    problem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evoforge.bench import held_out

    def broken(_problem_dir: Path, _code: str) -> dict[str, object]:
        raise OSError("no more processes\nsecond line")

    monkeypatch.setattr(held_out, "score_on_test", broken)
    code = (problem / "initial_program.py").read_text()
    scored = with_test_score(_record(code, -1.0), problem)
    splits = scored.extra["splits"]
    assert scored.status == "ok" and scored.best_score == -1.0
    assert splits["test_score"] is None and splits["gap"] is None
    assert splits["test_status"] == "error"
    assert splits["test_reason"] == "OSError: no more processes"
