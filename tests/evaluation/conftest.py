"""Helpers for the evaluation tests: real problem directories, real processes."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.sandbox import network_isolation

# An evaluator that imports the candidate and returns whatever its run() returns, so each
# test states the behaviour it needs in the candidate alone.
EXEC_EVALUATOR = """
import importlib.util

def _load(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

def evaluate(program_path):
    return _load(program_path).run()
"""

MakeEvaluator = Callable[..., ProblemEvaluator]


@pytest.fixture
def make_evaluator(tmp_path: Path) -> MakeEvaluator:
    """Write ``evaluator.py`` (and optional sibling files) into a problem dir; wrap it.

    Keyword arguments other than ``files``, ``program_filename`` and ``feature_names`` go
    to :class:`EvaluatorConfig`; the timeout defaults to 3 s to keep tests fast.
    """

    def make(
        source: str = EXEC_EVALUATOR,
        *,
        files: dict[str, str] | None = None,
        program_filename: str = "program.py",
        feature_names: tuple[str, ...] = (),
        **config: Any,
    ) -> ProblemEvaluator:
        problem = tmp_path / "problem"
        problem.mkdir(exist_ok=True)
        (problem / "evaluator.py").write_text(textwrap.dedent(source))
        for name, text in (files or {}).items():
            (problem / name).write_text(textwrap.dedent(text))
        config.setdefault("timeout_s", 3.0)
        return ProblemEvaluator(
            problem / "evaluator.py",
            EvaluatorConfig(**config),
            program_filename=program_filename,
            feature_names=feature_names,
        )

    return make


def process_alive(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie awaiting its reaper counts as dead)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    state = raw[raw.rfind(b")") + 2 :].split()[0]
    return state not in (b"Z", b"X", b"x")


def wait_for_file(path: Path, timeout_s: float = 3.0) -> str:
    """The text of ``path`` once a writer has put something in it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.01)
    raise AssertionError(f"{path} was never written")


needs_network_isolation = pytest.mark.skipif(
    network_isolation().startswith("none"),
    reason=f"no network isolation here ({network_isolation()})",
)
