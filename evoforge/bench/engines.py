"""The engines a benchmark compares, each run under the same evaluation budget.

Every engine function takes a :class:`RunTask` and returns a
:class:`~evoforge.bench.records.RunRecord`. Each runs in a process of its own, started by the
harness. An evaluation is one sandboxed run of the problem's
evaluator through evoforge's :class:`~evoforge.evaluation.evaluator.ProblemEvaluator`
(the seed program's included), so every engine is scored by the same code under the same
limits and budgets count the same thing:

``evoforge``         evoforge with its symbolic operators (the problem's own settings).
``evoforge-oracle``  evoforge with only its language-model operators, against the oracle.
``openevolve``       OpenEvolve (its own virtual environment) against the same oracle.
``shinkaevolve``     ShinkaEvolve (its own virtual environment) against the same oracle.
``random-search``    ask the oracle for one child of the seed at a time; keep the best.
``best-of-n``        ask the oracle for all children of the seed at once; keep the best.

The two baselines see only the seed program (no archive, no feedback). Exact duplicates
of a child already evaluated are not evaluated again, as evoforge does not either. On a
problem with instance splits every engine's result also gets a test score: evoforge's
engines score the program they choose on the holdout, the others their best program
(:mod:`evoforge.bench.held_out`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoforge.bench.held_out import CHOICE_THRESHOLDOUT, with_test_score
from evoforge.bench.records import (
    STATUS_FAILED,
    STATUS_OK,
    RunRecord,
    best_so_far,
    count_failed,
)

ENGINE_EVOFORGE = "evoforge"
ENGINE_EVOFORGE_ORACLE = "evoforge-oracle"
ENGINE_OPENEVOLVE = "openevolve"
ENGINE_SHINKA = "shinkaevolve"
ENGINE_RANDOM_SEARCH = "random-search"
ENGINE_BEST_OF_N = "best-of-n"

ENGINES: tuple[str, ...] = (
    ENGINE_EVOFORGE,
    ENGINE_EVOFORGE_ORACLE,
    ENGINE_OPENEVOLVE,
    ENGINE_SHINKA,
    ENGINE_RANDOM_SEARCH,
    ENGINE_BEST_OF_N,
)
#: What ``evoforge bench`` runs unless told: every engine, the columns of the README's table.
DEFAULT_ENGINES: tuple[str, ...] = ENGINES
#: Engines that need the oracle process.
ORACLE_ENGINES = frozenset(
    {
        ENGINE_EVOFORGE_ORACLE,
        ENGINE_OPENEVOLVE,
        ENGINE_SHINKA,
        ENGINE_RANDOM_SEARCH,
        ENGINE_BEST_OF_N,
    }
)

STOP_EVALUATIONS = "evaluations budget reached"
STOP_WALL_TIME = "wall-time budget reached"
STOP_NO_CHILDREN = "the oracle gave no new child"
_ORACLE_BATCH = 16  # the oracle answers at most this many completions per request


class RunInterrupted(Exception):
    """The run was stopped by a signal; it must not be recorded as finished."""


@dataclass(frozen=True)
class RunTask:
    """Everything a run process needs for one run (plain data: it crosses processes)."""

    problem: str
    problem_dir: Path
    engine: str
    seed: int
    budget: int
    run_dir: Path
    oracle_url: str | None = None
    engine_bin: Path | None = None  # a foreign engine's venv's bin (see bench.foreign)
    max_run_seconds: float | None = None
    python: str = ""
    revision: str = ""
    problem_files: str = ""  # the problem directory's fingerprint (see problem_fingerprint)

    def record(self, **fields: Any) -> RunRecord:
        return RunRecord(
            problem=self.problem,
            engine=self.engine,
            seed=self.seed,
            budget=self.budget,
            run_dir=str(self.run_dir),
            finished_at=time.time(),
            revision=self.revision,
            problem_files=self.problem_files,
            **fields,
        )


# -- evoforge -------------------------------------------------------------------------


def _evoforge_layer(task: RunTask, *, llm: bool) -> dict[str, Any]:
    from evoforge.registry import OPERATORS

    layer: dict[str, Any] = {
        "seed": task.seed,
        "run": {
            # rejected children (duplicates, unusable answers) cost iterations, not
            # evaluations; the evaluation budget is the one that binds
            "iterations": max(20 * task.budget, task.budget + 200),
            "max_evaluations": task.budget,
            "max_wall_time_s": task.max_run_seconds,
            "target_score": None,
            "workers": 1,
            "log_mode": "quiet",
        },
    }
    if llm:
        assert task.oracle_url is not None, "evoforge-oracle needs the oracle"
        layer["operators"] = {"enabled": list(OPERATORS.names("llm"))}
        layer["llm"] = {
            "models": [{"model": "oracle", "base_url": task.oracle_url, "timeout_s": 120.0}],
            "auto_enable_operators": False,
        }
    return layer


def _evoforge_scores(run_dir: Path) -> tuple[list[float | None], dict[str, dict[str, int]]]:
    """Per-evaluation scores of an evoforge run (``None``: no score), in order, and per
    operator: ``evaluated``, ``failed`` (no score) and ``improved`` (scored above its
    parent) counts over the evaluated children (the seed is not a child)."""
    from evoforge.program import EvalStatus
    from evoforge.storage.db import RunDatabase

    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    scores: list[float | None] = []
    operators: dict[str, dict[str, int]] = {}
    known: dict[str, float | None] = {}
    try:
        for step in db.steps():
            program = step.program
            score = program.score if program.status is EvalStatus.OK else None
            known[program.id] = score
            if not step.evaluated:
                continue
            scores.append(score)
            if program.parent_id is None:
                continue
            counts = operators.setdefault(
                program.operator, {"evaluated": 0, "failed": 0, "improved": 0}
            )
            counts["evaluated"] += 1
            parent_score = known.get(program.parent_id)
            if score is None:
                counts["failed"] += 1
            elif parent_score is not None and score > parent_score:
                counts["improved"] += 1
    finally:
        db.close()
    return scores, operators


_EARLIER_SECONDS = "earlier-invocations-seconds"


def _read_seconds(path: Path) -> float:
    """Seconds stored in ``path`` by an interrupted invocation of a run (0 if none)."""
    try:
        return max(0.0, float(path.read_text(encoding="utf-8").strip()))
    except (OSError, ValueError):
        return 0.0


def run_evoforge(task: RunTask, *, llm: bool) -> RunRecord:
    """evoforge on the problem; an interrupted run in ``run_dir`` is resumed, a broken one
    is started again from scratch. A run that lost its language model is ``failed``.
    A resumed run's ``wall_time_s`` includes the time its interrupted invocations ran
    (kept in ``run_dir`` when they stopped)."""
    from evoforge.engine import EngineError
    from evoforge.kinds import StopReason
    from evoforge.report.progress import make_reporter
    from evoforge.runs import RunLockedError, lock_holder, resume_run, start_run
    from evoforge.storage.db import DatabaseError, RunDatabase

    evo_dir = task.run_dir / "run"
    earlier = task.run_dir / _EARLIER_SECONDS  # run time of interrupted invocations
    started = time.monotonic()
    result = None
    resumed = False
    before = 0.0

    def interrupted() -> RunInterrupted:
        earlier.write_text(f"{before + time.monotonic() - started:.3f}\n", encoding="utf-8")
        return RunInterrupted(str(evo_dir))

    holder = lock_holder(evo_dir) if evo_dir.is_dir() else None
    if holder is not None:
        # never delete or restart a run another process drives (one a killed bench left)
        raise RunLockedError(
            f"{evo_dir} is in use by {holder}, a run still going (left by a bench that was "
            "killed?); stop it, then run the same command again"
        )
    try:
        if (evo_dir / RunDatabase.FILENAME).is_file():
            before = _read_seconds(earlier)
            try:
                # the oracle of this bench may listen elsewhere than the one it began with
                result = resume_run(
                    evo_dir,
                    reporter=make_reporter("quiet"),
                    llm_base_url=task.oracle_url if llm else None,
                )
                resumed = True
            except RunLockedError:
                raise
            except (EngineError, DatabaseError) as exc:
                print(f"cannot resume {evo_dir} ({exc}); starting again", flush=True)
                shutil.rmtree(evo_dir)
                before = 0.0
        elif evo_dir.exists():
            shutil.rmtree(evo_dir)
        if result is None:
            earlier.unlink(missing_ok=True)  # a fresh start: earlier time is not this run's
            result = start_run(
                task.problem_dir,
                cli_layer=_evoforge_layer(task, llm=llm),
                run_dir=evo_dir,
                reporter=make_reporter("quiet"),
            )
    except KeyboardInterrupt:
        raise interrupted() from None
    if result.stop_reason is StopReason.INTERRUPTED:
        raise interrupted()
    if result.stop_reason is StopReason.NO_MODEL:
        # the oracle stopped answering: a bench fault, not the engine's result (re-run)
        return task.record(
            status=STATUS_FAILED,
            wall_time_s=time.monotonic() - started,
            reason=result.stop_description[:300],
        )
    scores, operators = _evoforge_scores(evo_dir)
    extra: dict[str, Any] = {"operators": operators}
    splits = _evoforge_splits(evo_dir)
    if splits is not None:
        extra["splits"] = splits
    return task.record(
        status=STATUS_OK,
        best_score=result.best_score,
        initial_score=result.initial_score,
        evaluations=len(scores),
        wall_time_s=before + time.monotonic() - started,
        stop_reason=result.stop_description,
        trajectory=best_so_far(scores),
        resumed=resumed,
        failed_evaluations=count_failed(scores),
        best_code=result.best.code if result.best is not None else "",
        extra=extra,
    )


def _evoforge_splits(run_dir: Path) -> dict[str, Any] | None:
    """The run's final choice (search score, Thresholdout's holdout estimate, test score,
    gap) with the holdout score itself of the chosen program, for problems with splits;
    ``None`` without."""
    from evoforge.splits import holdout_queries, read_final
    from evoforge.storage.db import RunDatabase

    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        final = read_final(db)
        if final is None:
            return None
        queries = holdout_queries(db)
        program = db.program(final.program_id)
    finally:
        db.close()
    record = {"choice": CHOICE_THRESHOLDOUT, **final.to_dict()}
    chosen = [query for query in queries if query["program_id"] == final.program_id]
    record["holdout_score"] = chosen[-1].get("holdout") if chosen else None
    record["holdout_queries"] = queries
    record["code"] = program.code if program is not None else ""
    return record


# -- the oracle baselines ---------------------------------------------------------------


def ask_oracle(url: str, prompt: str, *, n: int, seed: int, timeout_s: float = 120.0) -> list[str]:
    """``n`` answers of the oracle (an OpenAI-compatible server) to one user message."""
    body = json.dumps(
        {
            "model": "oracle",
            "messages": [{"role": "user", "content": prompt}],
            "n": n,
            "seed": seed,
        }
    ).encode()
    last_error: Exception | None = None
    for attempt in range(4):
        request = urllib.request.Request(
            url.rstrip("/") + "/chat/completions",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": "Bearer none"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                answer = json.loads(response.read())
            return [str(choice["message"]["content"]) for choice in answer["choices"]]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            last_error = exc
            time.sleep(0.5 * 2**attempt)
    raise RuntimeError(f"the oracle at {url} did not answer: {last_error}")


def baseline_prompt(description: str, seed_code: str) -> str:
    """The one prompt both baselines send: the task and the seed, a whole program asked."""
    from evoforge.operators.prompts import ANSWER_FULL, CURRENT_PROGRAM_HEADING

    task = description.strip() or "Improve the program so that its score increases."
    return (
        f"# Task\n{task}\n\n{CURRENT_PROGRAM_HEADING}\n```python\n{seed_code.rstrip()}\n```\n\n"
        f"Rewrite the code between the EVOLVE-BLOCK markers to raise the score.\n{ANSWER_FULL}\n"
    )


def _request_seed(run_seed: int, index: int) -> int:
    digest = hashlib.sha256(f"{run_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def run_baseline(task: RunTask, *, batch: bool) -> RunRecord:
    """``random-search`` (``batch=False``) or ``best-of-n`` (``batch=True``).

    Both evaluate the seed, then children of the seed made by the oracle, until the
    budget of evaluations is spent. Random search asks for one child at a time; best-of-n
    asks for all ``budget - 1`` at once (in requests of at most 16, the oracle's cap) and
    evaluates them afterwards. Answers that give no usable child (no code, frozen code
    changed, a syntax error) and exact duplicates cost no evaluation; after
    ``4 * budget + 50`` answers without filling the budget the run stops.
    """
    from evoforge.bench.evaluate_one import problem_evaluator
    from evoforge.operators.diff import AnswerError, child_from_rewrite
    from evoforge.program import EvalStatus, code_hash

    assert task.oracle_url is not None, f"{task.engine} needs the oracle"
    oracle_url = task.oracle_url
    started = time.monotonic()
    if task.run_dir.exists():
        shutil.rmtree(task.run_dir / "children", ignore_errors=True)
    problem, evaluator = problem_evaluator(task.problem_dir)
    prompt = baseline_prompt(problem.description, problem.initial_code)
    seen = {code_hash(problem.initial_code)}
    max_answers = 4 * task.budget + 50
    children_dir = task.run_dir / "children"
    children_dir.mkdir(parents=True, exist_ok=True)
    log = open(task.run_dir / "evaluations.jsonl", "w", encoding="utf-8")  # noqa: SIM115

    def out_of_time() -> bool:
        return (
            task.max_run_seconds is not None and time.monotonic() - started >= task.max_run_seconds
        )

    def answers() -> Iterator[str]:
        index = 0
        while index < max_answers:
            wanted = 1 if not batch else min(_ORACLE_BATCH, max_answers - index)
            yield from ask_oracle(
                oracle_url, prompt, n=wanted, seed=_request_seed(task.seed, index)
            )
            index += wanted

    def children(limit: int) -> Iterator[str]:
        made = 0
        if limit <= 0:
            return
        for answer in answers():
            try:
                child = child_from_rewrite(problem.initial_code, answer)
            except AnswerError:
                continue
            digest = code_hash(child)
            if digest in seen:
                continue
            seen.add(digest)
            made += 1
            yield child
            if made >= limit:
                return

    scores: list[float | None] = []
    best_code = [""]

    def evaluate(code: str, label: str) -> Any:
        result = evaluator.evaluate(code)
        score = result.score if result.status is EvalStatus.OK else None
        if score is not None and all(s is None or score > s for s in scores):
            best_code[0] = code
        scores.append(score)
        (children_dir / f"{label}.py").write_text(code, encoding="utf-8")
        log.write(
            json.dumps({"label": label, "status": result.status.value, "score": score}) + "\n"
        )
        log.flush()
        return result

    try:
        seed = evaluate(problem.initial_code, "seed")
        if scores[0] is None:  # as for evoforge: no run without a scored seed
            lines = (seed.reason or "no reason given").strip().splitlines() or ["no reason given"]
            return task.record(
                status=STATUS_FAILED,
                wall_time_s=time.monotonic() - started,
                reason=f"the seed program did not score ({seed.status.value}): {lines[-1]}"[:300],
            )
        stop_reason = STOP_EVALUATIONS
        wanted = task.budget - 1
        if batch:
            pool: list[str] = []
            for child in children(wanted):
                pool.append(child)
                if out_of_time():
                    break
            for index, child in enumerate(pool):
                if out_of_time():
                    stop_reason = STOP_WALL_TIME
                    break
                evaluate(child, f"child-{index:05d}")
            if len(pool) < wanted and stop_reason == STOP_EVALUATIONS:
                stop_reason = STOP_NO_CHILDREN
        else:
            index = 0
            for child in children(wanted):
                evaluate(child, f"child-{index:05d}")
                index += 1
                if out_of_time():
                    stop_reason = STOP_WALL_TIME
                    break
            if index < wanted and stop_reason == STOP_EVALUATIONS:
                stop_reason = STOP_NO_CHILDREN
    finally:
        log.close()
    trajectory = best_so_far(scores)
    return task.record(
        status=STATUS_OK,
        best_score=trajectory[-1] if trajectory else None,
        initial_score=scores[0] if scores else None,
        evaluations=len(scores),
        wall_time_s=time.monotonic() - started,
        stop_reason=stop_reason,
        trajectory=trajectory,
        failed_evaluations=count_failed(scores),
        best_code=best_code[0],
    )


def run_task(task: RunTask) -> RunRecord:
    """Run one task in this (worker) process; its output goes to ``run_dir/bench.log``."""
    from evoforge.bench.openevolve import run_openevolve
    from evoforge.bench.shinka import run_shinka

    runners: dict[str, Callable[[RunTask], RunRecord]] = {
        ENGINE_EVOFORGE: lambda t: run_evoforge(t, llm=False),
        ENGINE_EVOFORGE_ORACLE: lambda t: run_evoforge(t, llm=True),
        ENGINE_RANDOM_SEARCH: lambda t: run_baseline(t, batch=False),
        ENGINE_BEST_OF_N: lambda t: run_baseline(t, batch=True),
        ENGINE_OPENEVOLVE: run_openevolve,
        ENGINE_SHINKA: run_shinka,
    }
    # on a problem with instance splits, an engine without a final choice of its own is
    # scored on the test instances with its best program (bench.held_out)
    return with_test_score(runners[task.engine](task), task.problem_dir)
