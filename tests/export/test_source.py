"""Reading recorded model exchanges back into a system and a user turn."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from evoforge.export import ExportOptions, export_runs
from evoforge.export.source import load_run, split_rendered_prompt
from evoforge.llm.client import render_prompt
from evoforge.llm.records import CallOutcome
from evoforge.operators.llm import CORRECTION_PROMPTS
from evoforge.operators.meta_prompts import META_OPERATORS
from evoforge.storage.db import RunDatabase

from .conftest import Run


def test_a_plain_request_splits_into_its_system_and_user_turns() -> None:
    rendered = render_prompt(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Fix it."}]
    )
    assert split_rendered_prompt(rendered) == ("Be brief.", "Fix it.")
    assert split_rendered_prompt("no tags here") is None


def test_a_correction_request_keeps_only_the_original_prompt() -> None:
    """The user turn of a correction request is the first prompt, without the model's
    unparseable reply or the correction, so its answer pairs with the original prompt."""
    rendered = render_prompt(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "## Current program\nx = 1\n\nImprove it."},
            {"role": "assistant", "content": "Try a larger x."},
            {"role": "user", "content": CORRECTION_PROMPTS["diff"]},
        ]
    )
    assert split_rendered_prompt(rendered) == (
        "Be brief.",
        "## Current program\nx = 1\n\nImprove it.",
    )


def test_a_run_exports_where_no_home_directory_is_known(
    minimization_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's user (``--user 1234``) often has neither ``HOME`` nor an entry in
    the password database: there is then no home directory to scrub, which is no error."""

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    export_runs([minimization_run.directory], tmp_path / "sft", ExportOptions(format="sft"))
    assert (tmp_path / "sft" / "train.jsonl").is_file()


def test_model_requests_are_read_one_at_a_time_with_one_copy_of_each_system_message(
    oracle_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model's run stores tens of kilobytes per request: the export keeps each
    request's messages, never the list of every whole request beside them, and keeps
    the system message most requests share once."""
    db = RunDatabase.open_for_reading(oracle_run.directory / RunDatabase.FILENAME)
    try:
        expected = [
            (seq, split_rendered_prompt(record.prompt))
            for seq, record in db.llm_calls()
            if record.outcome is CallOutcome.OK and record.operator not in META_OPERATORS
        ]
    finally:
        db.close()
    assert expected and all(messages is not None for _, messages in expected)

    def whole_list(self: RunDatabase) -> None:
        raise AssertionError("every request read into one list")

    monkeypatch.setattr(RunDatabase, "llm_calls", whole_list)
    source = load_run(oracle_run.directory, "oracle")
    exchanges = [(seq, e) for seq, items in sorted(source.exchanges.items()) for e in items]
    assert [(seq, (e.system, e.user)) for seq, e in exchanges] == sorted(
        expected, key=lambda item: item[0]
    )
    systems = {id(e.system) for _, e in exchanges}
    assert len(systems) == len({e.system for _, e in exchanges}) < len(exchanges)
