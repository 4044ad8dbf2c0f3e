"""Reading OpenEvolve's parent choices from its log."""

from __future__ import annotations

from pathlib import Path

from evoforge.bench.foreign import STAMP
from evoforge.bench.openevolve import (
    OPENEVOLVE_REQUIREMENT,
    ensure_openevolve,
    parent_statistics,
)
from evoforge.bench.records import RunRecord
from evoforge.bench.report import markdown_tables, summarise

SEED = "00000000-0000-4000-8000-000000000000"
BROKEN = "11111111-1111-4111-8111-111111111111"
GOOD = "22222222-2222-4222-8222-222222222222"
COPY = "33333333-3333-4333-8333-333333333333"
LATER = "44444444-4444-4444-8444-444444444444"


def _log() -> str:
    stamp = "2026-12-02 01:10:10,650 - INFO - "
    return "\n".join(
        [
            f"{stamp}Evaluated program {SEED} in 0.26s: combined_score=0.8048",
            f"{stamp.replace('INFO', 'ERROR')}All evaluation attempts failed for program "
            f"{BROKEN}. Last error: failed: ValueError: bad shape",
            f"{stamp}Iteration 1: Program {BROKEN} (parent: {SEED}) completed in 0.31s",
            f"{stamp}Evaluated program {GOOD} in 0.21s: combined_score=0.6790",
            f"{stamp}Iteration 2: Program {GOOD} (parent: {BROKEN}) completed in 0.2s",
            f"{stamp}Iteration 3: Program {LATER} (parent: {COPY}) completed in 0.2s",
            f"{stamp}Iteration 4: Program {COPY} (parent: {BROKEN}) completed in 0.2s",
        ]
    )


def test_parents_that_failed_and_the_seed_are_counted() -> None:
    assert parent_statistics(_log()) == {"iterations": 4, "failed": 2, "seed": 1}


def test_a_log_without_iterations_counts_nothing() -> None:
    assert parent_statistics("openevolve-run: error: bad config\n") == {
        "iterations": 0,
        "failed": 0,
        "seed": 0,
    }


def test_the_report_states_the_parent_shares() -> None:
    records = [
        RunRecord(
            problem="p",
            engine="openevolve",
            seed=seed,
            budget=5,
            status="ok",
            best_score=0.5,
            initial_score=0.5,
            evaluations=5,
            extra={"parents": parent_statistics(_log())},
        )
        for seed in range(2)
    ]
    table = markdown_tables(summarise(records, ["p"], ["openevolve"]), 5)
    assert (
        "openevolve parents over 8 iterations: a program that had failed its evaluation "
        "50 %, the seed program 25 %." in table
    )


def test_an_installed_openevolve_is_used_without_announcing_an_install(tmp_path: Path) -> None:
    """The bench said "installing OpenEvolve ... (once)" on every invocation; it is said
    only when the environment is made."""
    bin_dir = tmp_path / "openevolve" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "openevolve-run").write_text("#!/bin/sh\n")
    (tmp_path / "openevolve" / STAMP).write_text(OPENEVOLVE_REQUIREMENT + "\n")
    announced: list[str] = []
    found = ensure_openevolve(tmp_path, tmp_path / "install.log", lambda: announced.append("x"))
    assert found == bin_dir and announced == []
