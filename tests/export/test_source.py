"""Reading recorded model exchanges back into a system and a user turn."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from evoforge.export import ExportOptions, export_runs
from evoforge.export.source import split_rendered_prompt
from evoforge.llm.client import render_prompt
from evoforge.operators.llm import CORRECTION_PROMPTS

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
