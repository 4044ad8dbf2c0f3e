"""The README's Python snippets run as written (from a directory that has ``examples/``)."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BLOCK = re.compile(r"^([ \t]*)```python\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


def python_snippets(text: str) -> list[str]:
    """Every fenced ``python`` block of ``text``, dedented (blocks inside list items too)."""
    return [textwrap.dedent(match.group(2)) for match in _BLOCK.finditer(text)]


def test_the_readme_has_the_snippets_this_test_runs() -> None:
    snippets = python_snippets(README.read_text(encoding="utf-8"))
    assert any("evoforge.run(" in snippet for snippet in snippets)
    assert any("evoforge.resume(" in snippet for snippet in snippets)
    assert any("engine.tell(" in snippet for snippet in snippets)


@pytest.fixture
def in_a_fresh_directory(tmp_path: Path) -> Iterator[Path]:
    """A working directory with the repository's examples, as a user's clone has them."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


@pytest.mark.parametrize("index", range(len(python_snippets(README.read_text(encoding="utf-8")))))
@pytest.mark.timeout(300)
def test_a_readme_snippet_runs_as_written(index: int, in_a_fresh_directory: Path) -> None:
    snippet = python_snippets(README.read_text(encoding="utf-8"))[index]
    namespace: dict[str, object] = {"__name__": "readme_snippet"}
    exec(compile(snippet, f"README.md snippet {index + 1}", "exec"), namespace)
    if "engine.tell(" in snippet:
        engine = namespace["engine"]
        counters = engine.counters  # type: ignore[attr-defined]
        assert counters.iterations == 20
        assert (in_a_fresh_directory / "runs" / "custom" / "run.sqlite").is_file()
    if "evoforge.run(" in snippet:
        result = namespace["result"]
        resumed = "evoforge.resume(" in snippet  # ten more after the first 30
        assert result.iterations == (40 if resumed else 30)  # type: ignore[attr-defined]
        assert result.best_score >= result.initial_score  # type: ignore[attr-defined]
