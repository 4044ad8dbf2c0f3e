"""The ShinkaEvolve engine's parts that need no ShinkaEvolve: its config, the evaluate.py
it is given (run as ShinkaEvolve runs it, against a real scoring server) and the
reading of its database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from evoforge.bench.evaluate_one import ProgramScorer, ScoringServer
from evoforge.bench.records import RunRecord
from evoforge.bench.report import markdown_tables, summarise
from evoforge.bench.shinka import _WRAPPER, SHINKA, patch_statistics, shinka_config

CURVE_FIT = Path(__file__).parents[1] / "e2e" / "problems" / "curve_fit"


def _evaluate(script: Path, program: Path, results: Path) -> dict[str, dict[str, object]]:
    """Run ``evaluate.py`` the way ShinkaEvolve's local job launcher does; its two files."""
    completed = subprocess.run(
        [
            sys.executable,
            str(script),
            "--program_path",
            str(program),
            "--results_dir",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return {
        name: json.loads((results / f"{name}.json").read_text()) for name in ("metrics", "correct")
    }


def test_evaluate_py_writes_shinkas_files_from_evoforges_verdict(tmp_path: Path) -> None:
    seed = tmp_path / "main.py"
    seed.write_text((CURVE_FIT / "initial_program.py").read_text())
    broken = tmp_path / "broken.py"
    broken.write_text("def nope(:\n")
    expected = ProgramScorer(CURVE_FIT, tmp_path / "direct.jsonl").score(seed)
    log = tmp_path / "evaluations.jsonl"

    with ScoringServer(CURVE_FIT, log) as server:
        script = tmp_path / "evaluate.py"
        script.write_text(_WRAPPER.format(socket_path=str(server.socket_path), timeout=60))
        good = _evaluate(script, seed, tmp_path / "gen_0" / "results")
        bad = _evaluate(script, broken, tmp_path / "gen_1" / "results")

    assert good["correct"] == {"correct": True, "error": None}
    assert good["metrics"]["combined_score"] == expected["score"]
    assert bad["correct"]["correct"] is False
    assert str(bad["correct"]["error"]).startswith(("failed: ", "invalid: "))
    assert bad["metrics"]["combined_score"] == 0.0
    # the server's log, not ShinkaEvolve's bookkeeping, counts the evaluations
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["is_seed"] for line in lines] == [True, False]


def test_config_points_every_model_at_the_oracle_one_evaluation_at_a_time() -> None:
    config = shinka_config(oracle_url="http://127.0.0.1:8123/v1/", seed=3)
    assert config["evo"]["llm_models"] == ["local/oracle-s3@http://127.0.0.1:8123/v1"]
    assert config["evo"]["embedding_model"].endswith("@http://127.0.0.1:8123/v1")
    assert config["max_evaluation_jobs"] == 1 and config["max_proposal_jobs"] == 1
    # ShinkaEvolve's launcher reads it as YAML
    assert yaml.safe_load(yaml.safe_dump(config)) == config
    assert SHINKA.requirement == "shinka-evolve==0.0.7" and SHINKA.command == "shinka_run"


def test_patch_statistics_count_the_kinds_in_its_database(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "programs.sqlite") as connection:
        connection.execute("CREATE TABLE programs (id TEXT, metadata TEXT)")
        rows = [
            ("a", json.dumps({})),
            ("b", json.dumps({"patch_type": "diff"})),
            ("c", json.dumps({"patch_type": "diff"})),
            ("d", json.dumps({"patch_type": "full"})),
            ("e", None),
        ]
        connection.executemany("INSERT INTO programs VALUES (?, ?)", rows)
    assert patch_statistics(tmp_path) == {"init": 2, "diff": 2, "full": 1}
    assert patch_statistics(tmp_path / "missing") == {}


def test_the_report_states_the_patch_type_shares() -> None:
    records = [
        RunRecord(
            problem="p",
            engine="shinkaevolve",
            seed=seed,
            budget=5,
            status="ok",
            best_score=0.5,
            initial_score=0.5,
            evaluations=5,
            extra={"patch_types": {"init": 2, "diff": 3, "full": 1 + seed}},
        )
        for seed in range(2)
    ]
    table = markdown_tables(summarise(records, ["p"], ["shinkaevolve"]), 5)
    assert (
        "shinkaevolve programs by patch type over all seeds (9, the seed's left out): "
        "diff 67 %, full 33 %." in table
    )
