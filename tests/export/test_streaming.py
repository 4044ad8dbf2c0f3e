"""An export's memory follows its output, not the run: selection works on the run's
index, and whole programs (code, prompts, artifacts) are read only for the examples
being built, a batch at a time."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from evoforge.export import ExportOptions, export_runs, formats
from evoforge.export.source import load_run
from evoforge.program import Program
from evoforge.storage.db import RunDatabase

from .conftest import Run


def _watch_whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The ids of each read of whole programs; reading every program at once fails."""
    reads: list[list[str]] = []
    by_id = RunDatabase.programs_by_id

    def counted(self: RunDatabase, ids: Iterable[str]) -> dict[str, Program]:
        found = by_id(self, ids)
        reads.append(list(found))
        return found

    def every_program(self: RunDatabase) -> None:
        raise AssertionError("every program read whole")

    monkeypatch.setattr(RunDatabase, "programs_by_id", counted)
    monkeypatch.setattr(RunDatabase, "steps", every_program)
    return reads


@pytest.mark.parametrize("fmt", ["sft", "preference"])
def test_selection_reads_whole_only_the_programs_examples_are_built_from(
    circle_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Quotas, pairs and the lineage cap are decided on ids, scores, statuses and
    lineage alone: with one improving child per parent kept, most programs of the run
    are never read whole (the index keeps a digest of each code, not the code)."""
    reads = _watch_whole_reads(monkeypatch)
    options = ExportOptions(format=fmt, difficulty="uniform", per_parent=1, failure_examples=0)
    export_runs([circle_run.directory], tmp_path / "out", options)
    read = {program_id for ids in reads for program_id in ids}
    assert read  # the examples' programs, fetched for them
    assert len(read) < len(circle_run.programs) / 2


def test_traces_are_read_and_written_a_batch_at_a_time(
    circle_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traces hold every child, yet no more than a batch of children and their parents
    is read whole at once, when selecting and again when writing."""
    batch = 8
    monkeypatch.setattr(formats, "BATCH", batch)
    reads = _watch_whole_reads(monkeypatch)
    export_runs([circle_run.directory], tmp_path / "out", ExportOptions(format="traces"))
    assert len(circle_run.programs) > 4 * batch
    assert sum(len(ids) for ids in reads) >= 2 * (len(circle_run.programs) - 1)
    assert max(len(ids) for ids in reads) <= 2 * batch


def test_a_loaded_run_holds_no_program_code_but_the_seed(circle_run: Run) -> None:
    """What an export keeps of every program is its index entry: no code."""
    source = load_run(circle_run.directory, "circles")
    codes = {program.code for program in circle_run.programs.values()}
    assert len(source.index.nodes) == len(circle_run.programs)
    for node in source.index.nodes.values():
        assert not any(isinstance(field, str) and field in codes for field in node)
    assert source.seed.code == circle_run.programs[source.index.seed.id].code
