"""``benchmarks/test_scores.py``: the runs the README's table cites, scored on the test
instances of the problems with splits. The README shows what the committed record gives,
and the script scores the runs of the table's sources, each once."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from evoforge.bench.engines import DEFAULT_ENGINES
from evoforge.bench.records import RunRecord, append_records

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = str(ROOT / "benchmarks")
RECORD = ROOT / "benchmarks" / "results" / "test-scores"


@pytest.fixture
def script() -> Iterator[ModuleType]:
    sys.path.insert(0, BENCHMARKS)
    try:
        import test_scores

        yield test_scores
    finally:
        sys.path.remove(BENCHMARKS)
        for name in ("test_scores", "suite_table"):
            sys.modules.pop(name, None)


def test_the_readme_shows_the_tables_the_record_gives(
    script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert script.main(["--out", str(RECORD), "--table-only"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    rows = [line for line in printed if line.startswith("| ")]
    assert len(rows) == 2 * (5 + 1), "two tables of the five problems, with their heads"
    standing = [line for line in printed if not line.startswith("|")]
    assert len(standing) == 4, "and four lines of where evoforge stands"
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    missing = [line for line in printed if line not in readme]
    assert not missing, "in the script's output but not in the README:\n" + "\n".join(missing)


def test_each_run_of_the_sources_is_scored_once_on_test(
    script: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_code = (
        ROOT / "benchmarks" / "problems" / "data_selection" / "initial_program.py"
    ).read_text()
    source = tmp_path / "suite"
    records = [
        RunRecord(
            "data_selection",
            engine,
            0,
            500,
            "ok",
            best_score=0.45,
            best_code=seed_code,
            revision="abcdef0",
        )
        for engine in DEFAULT_ENGINES
    ]
    append_records(source / "runs.jsonl", records)
    out = tmp_path / "scores"
    argv = ["--out", str(out), "--problems", "data_selection", "--seeds", "1"]
    assert script.main([*argv, "--sources", str(source)]) == 0
    lines = [json.loads(line) for line in (out / "test_scores.jsonl").read_text().splitlines()]
    assert [line["engine"] for line in lines] == ["seed program", *DEFAULT_ENGINES]
    tests = {line["test_score"] for line in lines}
    assert len(tests) == 1 and None not in tests  # one program, one test score
    assert all(line["source"] == "suite" for line in lines[1:])
    assert all(line["search_score"] == 0.45 for line in lines[1:])
    first = capsys.readouterr().out
    assert "| data_selection (" in first and "(search 0.4500)" in first
    # again: nothing is scored twice
    assert script.main([*argv, "--sources", str(source)]) == 0
    assert len((out / "test_scores.jsonl").read_text().splitlines()) == len(lines)
    assert "scoring:" not in capsys.readouterr().out
    # a source that lacks an engine is a clear error, not a partial table
    partial = tmp_path / "partial"
    append_records(partial / "runs.jsonl", records[:2])
    with pytest.raises(SystemExit, match="no source has"):
        script.main(["--out", str(tmp_path / "other"), *argv[2:], "--sources", str(partial)])
    assert script.main(["--out", str(tmp_path / "none"), "--table-only"]) == 2
