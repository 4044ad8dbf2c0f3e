"""Whole runs whose language model is a scripted HTTP server: every answer and failure
shape ends with a completed run and an accurate record in the run database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import evoforge
from evoforge.storage.db import RunDatabase

from .conftest import Reply, ScriptedServer, answer, drop, hang, llm_config, status

VALID_DIFF = """I will fit the quadratic term.

```python
<<<<<<< SEARCH
    return a * x + b + c * x * x
=======
    return 1.5 * x * x - 2.0 * x + 0.75
>>>>>>> REPLACE
```
"""
MISSING_DIFF = """<<<<<<< SEARCH
    d = 7.0
=======
    d = 8.0
>>>>>>> REPLACE"""
FROZEN_DIFF = """<<<<<<< SEARCH
def predictions():
=======
def predictions(extra=1):
>>>>>>> REPLACE"""
REWRITE = """Here is a better model:

```
# EVOLVE-BLOCK-START
def model(x):
    return 1.5 * x * x - 2.0 * x + 0.75
# EVOLVE-BLOCK-END
```
That should be exact."""
PROSE = "You could try fitting a quadratic, it would probably help."


def _run(curve_fit: Path, out: Path, config: dict[str, Any], iterations: int) -> Any:
    return evoforge.run(curve_fit, iterations=iterations, config=config, out=out)


def _records(run_dir: Path) -> tuple[list[Any], list[Any]]:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        steps = [step for step in db.steps() if step.program.seq > 0]
        calls = db.llm_calls()
        return steps, calls
    finally:
        db.close()


CASES = [
    # (name, operator, script, expected outcomes, expected status, reason fragment)
    ("valid diff", "llm_diff", [answer(VALID_DIFF)], ["ok"], "ok", ""),
    ("diff not found", "llm_diff", [answer(MISSING_DIFF)], ["ok"], "rejected", "not found"),
    ("frozen edit", "llm_diff", [answer(FROZEN_DIFF)], ["ok"], "rejected", "frozen code"),
    ("rewrite", "llm_rewrite", [answer(REWRITE)], ["ok"], "ok", ""),
    # prose is answered once with a correction prompt; the server's default is prose too
    ("prose", "llm_rewrite", [answer(PROSE)], ["ok", "ok"], "rejected", "no code"),
    (
        "429 then answer",
        "llm_diff",
        [status(429, Retry_After="0.1"), answer(VALID_DIFF)],
        ["rate_limited", "ok"],
        "ok",
        "",
    ),
    (
        "500 for good",
        "llm_diff",
        [status(500), status(500), status(500)],
        ["server_error"] * 3,
        "rejected",
        "language model call failed",
    ),
    ("hang then answer", "llm_diff", [hang(5.0), answer(VALID_DIFF)], ["timeout", "ok"], "ok", ""),
    (
        "broken connection",
        "llm_diff",
        [drop(), drop(), drop()],
        ["connection_error"] * 3,
        "rejected",
        "language model call failed",
    ),
]


@pytest.mark.parametrize(
    ("operator", "script", "outcomes", "program_status", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_answer_shape_is_recorded(
    scripted_server: ScriptedServer,
    curve_fit: Path,
    tmp_path: Path,
    operator: str,
    script: list[Reply],
    outcomes: list[str],
    program_status: str,
    reason: str,
) -> None:
    scripted_server.extend(*script)
    config = llm_config(scripted_server.url)
    config["operators"] = {"enabled": [operator]}
    result = _run(curve_fit, tmp_path / "run", config, iterations=1)
    assert result.iterations == 1
    assert result.stop_reason == "iterations budget reached"
    (step,), calls = _records(tmp_path / "run")
    assert [record.outcome.value for _, record in calls] == outcomes
    assert all(seq == step.program.seq for seq, _ in calls)
    assert step.program.operator == operator
    assert step.program.status.value == program_status
    assert reason in step.program.reason
    if program_status == "ok":
        assert result.best_score is not None and result.best_score > result.initial_score


def test_failure_reason_goes_into_the_next_prompt_of_the_island(
    scripted_server: ScriptedServer, curve_fit: Path, tmp_path: Path
) -> None:
    scripted_server.extend(answer(MISSING_DIFF), answer(VALID_DIFF), answer(PROSE))
    config = llm_config(scripted_server.url)
    config["operators"] = {"enabled": ["llm_diff"]}
    config["archive"] = {"num_islands": 1}
    config["novelty"] = {"near_duplicates": False}
    config.setdefault("run", {})["simplify_best"] = False  # every slot goes to the model
    result = _run(curve_fit, tmp_path / "run", config, iterations=3)
    assert result.iterations == 3
    prompts = [request["messages"][-1]["content"] for request in scripted_server.requests]
    assert "not found in the evolve blocks" not in prompts[0]
    assert "not found in the evolve blocks" in prompts[1]
    # the second child succeeded: the old failure is not repeated
    assert "not found in the evolve blocks" not in prompts[2]


def test_a_model_that_keeps_failing_ends_the_run_with_one_reason(
    scripted_server: ScriptedServer, curve_fit: Path, tmp_path: Path
) -> None:
    scripted_server.default = status(401)
    config = llm_config(scripted_server.url)
    result = _run(curve_fit, tmp_path / "run", config, iterations=20)
    assert result.stop_reason.startswith("no usable language model")
    assert result.iterations < 20
    _steps, calls = _records(tmp_path / "run")
    assert calls and all(record.outcome.value == "auth_error" for _, record in calls)


def test_a_server_error_quoted_by_the_stop_never_acts_on_the_terminal(
    scripted_server: ScriptedServer, curve_fit: Path, tmp_path: Path
) -> None:
    """A server that refuses with a message holding escape sequences: ``evoforge run``'s
    last line quotes it with them shown, not obeyed."""
    scripted_server.default = status(401, "denied \x1b]0;owned\x07\x1b[2J\u202e here")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(llm_config(scripted_server.url)), encoding="utf-8")
    command = [sys.executable, "-m", "evoforge.cli", "run", str(curve_fit)]
    command += ["--config", str(config_file), "--iterations", "20", "--out", str(tmp_path / "r")]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("no usable language model: "), done.stdout + done.stderr
    assert "denied \\x1b]0;owned\\x07\\x1b[2J\\u202e here" in last, last
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout


def test_token_budget_ends_the_run_and_status_says_why(
    scripted_server: ScriptedServer, curve_fit: Path, tmp_path: Path
) -> None:
    scripted_server.default = answer(PROSE)
    config = llm_config(scripted_server.url, max_total_tokens=300)
    result = _run(curve_fit, tmp_path / "run", config, iterations=50)
    assert result.stop_reason.startswith("token budget reached")
    from evoforge.report.summary import status_summary

    db = RunDatabase(tmp_path / "run" / RunDatabase.FILENAME)
    try:
        summary = status_summary(db)
    finally:
        db.close()
    assert summary["stop_reason"].startswith("token budget reached")
    assert summary["llm"]["calls"] == 3
    assert summary["llm"]["tokens_in"] == 300 and summary["llm"]["tokens_out"] == 60
