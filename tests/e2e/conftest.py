"""Shared fixtures for whole-run tests: copies of small problems and a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBLEMS = Path(__file__).parent / "problems"


@pytest.fixture
def curve_fit(tmp_path: Path) -> Path:
    target = tmp_path / "curve_fit"
    shutil.copytree(PROBLEMS / "curve_fit", target)
    return target


@pytest.fixture
def openevolve_problem(tmp_path: Path) -> Path:
    target = tmp_path / "openevolve_style"
    shutil.copytree(PROBLEMS / "openevolve_style", target)
    return target


def evoforge_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "evoforge.cli", *args]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real command in a child process (stdin closed, output captured)."""
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    return subprocess.run(
        evoforge_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
