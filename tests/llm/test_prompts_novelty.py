"""Prompt assembly (feedback only when needed, budget, overrides) and near duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evoforge.config import ConfigError, NoveltyConfig, PromptConfig
from evoforge.novelty import NoveltyIndex
from evoforge.operators.base import ProposalContext
from evoforge.operators.prompts import CURRENT_PROGRAM_HEADING, PromptBuilder
from evoforge.program import EvalStatus, Program, code_hash

from .conftest import PROBLEMS

SEED = (PROBLEMS / "curve_fit" / "initial_program.py").read_text()


def _program(
    pid: str, code: str = SEED, *, score: float | None = -1.0, reason: str = ""
) -> Program:
    status = EvalStatus.OK if score is not None else EvalStatus.REJECTED
    return Program(
        id=pid, code=code, code_hash=code_hash(code), score=score, status=status, reason=reason
    )


def _context(**fields: object) -> ProposalContext:
    return ProposalContext(parent=_program("p"), rng=np.random.default_rng(0), **fields)  # type: ignore[arg-type]


def test_prompt_holds_parent_under_heading_and_no_feedback_when_all_is_well() -> None:
    builder = PromptBuilder(PromptConfig(), "Fit a curve.", SEED)
    prompt = builder.build("diff", _context(recent=(_program("a"),)))
    assert f"{CURRENT_PROGRAM_HEADING}\nScore: -1" in prompt.user
    assert "Fit a curve." in prompt.user and SEED.strip() in prompt.user
    assert "Recent failures" not in prompt.user and "Guidance" not in prompt.user


def test_failures_and_stagnation_add_guidance() -> None:
    failed = _program("f", score=None, reason="edit 1: SEARCH text not found")
    builder = PromptBuilder(PromptConfig(stagnation_window=3), "", SEED)
    prompt = builder.build("rewrite", _context(recent=(_program("a"), failed), stagnation=5))
    assert "SEARCH text not found" in prompt.user
    assert "## Guidance" in prompt.user


def test_budget_drops_inspirations_first() -> None:
    others = tuple(_program(f"o{i}", SEED.replace("0.5", f"0.{i}"), score=-i) for i in range(1, 6))
    roomy = PromptBuilder(PromptConfig(inspirations=4), "", SEED).build(
        "diff", _context(pool=others)
    )
    tight = PromptBuilder(PromptConfig(inspirations=4, max_prompt_tokens=400), "", SEED).build(
        "diff", _context(pool=others)
    )
    assert roomy.user.count("### Inspiration") == 4
    assert tight.user.count("### Inspiration") < 4 and tight.estimated_tokens <= 400


def test_templates_and_system_message_are_overridable(tmp_path: Path) -> None:
    (tmp_path / "diff.txt").write_text("MY TEMPLATE\n$parent\n")
    builder = PromptBuilder(
        PromptConfig(template_dir=str(tmp_path), system_message="Be brief."), "", SEED
    )
    prompt = builder.build("diff", _context())
    assert prompt.system == "Be brief." and prompt.user.startswith("MY TEMPLATE")


def test_a_template_dir_that_overrides_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        PromptBuilder(PromptConfig(template_dir=str(tmp_path / "missing")), "", SEED)
    (tmp_path / "notes.md").write_text("not a template\n")
    with pytest.raises(ConfigError, match="holds none of"):
        PromptBuilder(PromptConfig(template_dir=str(tmp_path)), "", SEED)


def test_novel_policy_prefers_unlike_programs() -> None:
    near = _program("near", SEED.replace("0.5", "0.6"))
    far = _program("far", SEED.replace("return a * x + b + c * x * x", "return sum([x] * 3)"))
    builder = PromptBuilder(PromptConfig(inspiration_policy="novel", inspirations=1), "", SEED)
    assert builder.choose_inspirations(_context(pool=(near, far)), 1) == [far]


def test_near_duplicates_are_found_and_different_code_is_not() -> None:
    index = NoveltyIndex(NoveltyConfig(threshold=0.9))
    index.add("seed", SEED)
    comment_only = SEED.replace("    a = 0.5\n", "    a = 0.5  # slope\n")
    assert index.near_duplicate(comment_only) is not None
    rewritten = SEED.replace(
        "    a = 0.5\n    b = 0.1\n    c = 0.0\n    return a * x + b + c * x * x\n",
        "    import math\n    return math.sin(x) * 3 - math.cos(2 * x)\n",
    )
    assert index.near_duplicate(rewritten) is None
