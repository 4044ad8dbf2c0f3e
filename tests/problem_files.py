"""Small problem directories written by tests: a seed program, its evaluator and, when
given, a config."""

from __future__ import annotations

from pathlib import Path


def write_problem(directory: Path, *, program: str, evaluator: str, config: str = "") -> Path:
    """Create ``directory`` with ``initial_program.py``, ``evaluator.py`` and (when
    ``config`` is not empty) ``config.yaml``; return it."""
    directory.mkdir(parents=True)
    (directory / "initial_program.py").write_text(program)
    (directory / "evaluator.py").write_text(evaluator)
    if config:
        (directory / "config.yaml").write_text(config)
    return directory
