"""A run with one worker and the oracle is the same run wherever it lies.

The problem's evaluator warns on every evaluation, so every parent carries the warning
(with the evaluator's file) in its artifacts, and the prompts show it. Two runs of the
same problem, config and seed, in two run directories and from two copies of the
problem, must send the same prompts and make the same children. Real runs, real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import evoforge
from evoforge.llm.oracle import OracleServer, start_oracle
from evoforge.registry import OPERATORS
from evoforge.storage.db import RunDatabase
from tests.problem_files import write_problem

PROGRAM = """
import warnings


# EVOLVE-BLOCK-START
def value():
    a, b = 0.5, 0.25
    return a + b
# EVOLVE-BLOCK-END


def entry():
    warnings.warn("the candidate warns")
    return value()
"""

EVALUATOR = """
import warnings


def evaluate_candidate(candidate):
    warnings.warn("the evaluator warns")
    return {"combined_score": -abs(float(candidate.entry()) - 2.0)}
"""


@pytest.fixture
def oracle() -> Iterator[OracleServer]:
    server = start_oracle(port=0, seed=3)
    try:
        yield server
    finally:
        server.close()


def _run(problem: Path, out: Path, url: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The prompts a 6-iteration run of ``problem`` in ``out`` sent, and its children
    (code, status)."""
    config: dict[str, Any] = {
        "seed": 2,
        "run": {"workers": 1, "simplify_best": False},
        "evaluator": {"timeout_s": 10},
        "operators": {"enabled": list(OPERATORS.names("llm"))},
        "llm": {"models": [{"model": "oracle", "base_url": url, "timeout_s": 10}]},
    }
    evoforge.run(problem, iterations=6, config=config, out=out)
    db = RunDatabase(out / RunDatabase.FILENAME)
    try:
        prompts = [call.prompt for _, call in db.llm_calls()]
        children = [(step.program.code, step.program.status.value) for step in db.steps()]
    finally:
        db.close()
    return prompts, children


def test_the_same_run_in_another_directory_sends_the_same_prompts(
    tmp_path: Path, oracle: OracleServer
) -> None:
    here = write_problem(tmp_path / "problem", program=PROGRAM, evaluator=EVALUATOR)
    there = write_problem(
        tmp_path / "copy" / "deeper" / "problem", program=PROGRAM, evaluator=EVALUATOR
    )
    prompts, children = _run(here, tmp_path / "run-one", oracle.url)
    assert prompts and any("the evaluator warns" in prompt for prompt in prompts)
    assert not any(str(tmp_path) in prompt for prompt in prompts)
    assert _run(there, tmp_path / "elsewhere" / "run-two", oracle.url) == (prompts, children)
