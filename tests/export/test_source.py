"""Reading recorded model exchanges back into a system and a user turn."""

from __future__ import annotations

from evoforge.export.source import split_rendered_prompt
from evoforge.llm.client import render_prompt
from evoforge.operators.llm import CORRECTION_PROMPTS


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
