"""A problem's requirements.txt is checked before the seed runs, in one readable line."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

from evoforge.requirements_check import missing_requirements, parse_requirements

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "curve_fit"
ABSENT = "evoforge-absent-package-for-tests"
NUMPY = importlib.metadata.version("numpy")


def _problem(tmp_path: Path, requirements: str) -> Path:
    target = tmp_path / "problem"
    shutil.copytree(PROBLEM, target)
    (target / "requirements.txt").write_text(requirements)
    return target


def _evoforge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evoforge.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def test_only_named_requirements_are_read() -> None:
    text = (
        "# the problem's packages\n"
        "\n"
        "numpy>=1.20  # arrays\n"
        "-r more.txt\n"
        "--index-url https://example.invalid/simple\n"
        "-e ./editable\n"
        "Scikit_Learn[extra]==1.2 --hash=sha256:00 \\\n"
        "    --hash=sha256:11\n"
        "git+https://example.invalid/x.git\n"
        "./a/local/path\n"
        "pkg @ https://example.invalid/pkg.whl\n"
    )
    parsed = [(r.name, str(r.specifier), r.url) for r in parse_requirements(text)]
    assert parsed == [
        ("numpy", ">=1.20", None),
        ("Scikit_Learn", "==1.2", None),
        ("pkg", "", "https://example.invalid/pkg.whl"),
    ]


def test_missing_packages_and_wrong_versions_are_named(tmp_path: Path) -> None:
    problem = _problem(
        tmp_path,
        f"numpy\nNumPy>=1.0\n{ABSENT}>=1.2\nnumpy>=9999\n"
        f'{ABSENT}-on-no-platform; sys_platform == "no-such-platform"\n',
    )
    assert missing_requirements(problem) == [
        f"{ABSENT}>=1.2",
        f"numpy>=9999 (installed: {NUMPY})",
    ]
    (problem / "requirements.txt").write_text("numpy\npyyaml>=5\n")
    assert missing_requirements(problem) == []
    (problem / "requirements.txt").unlink()
    assert missing_requirements(problem) == []


def test_another_interpreter_is_asked_for_its_own_packages(tmp_path: Path) -> None:
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    problem = _problem(tmp_path, f"numpy>={NUMPY}\n{ABSENT}\n")
    assert missing_requirements(problem, str(wrapper)) == [ABSENT]
    # an interpreter that cannot be run is not a verdict: the evaluation will say why
    assert missing_requirements(problem, str(tmp_path / "no-python")) == []


def test_run_stops_before_the_seed_with_one_line(tmp_path: Path) -> None:
    problem = _problem(tmp_path, f"numpy\n{ABSENT}>=1.2\n")
    done = _evoforge("run", str(problem), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "evoforge: error: problem needs packages that are not installed: "
        f"{ABSENT}>=1.2 (pip install -r {problem / 'requirements.txt'})"
    ]
    assert not (tmp_path / "run" / "run.sqlite").exists()


def test_installed_requirements_let_the_run_start(tmp_path: Path) -> None:
    problem = _problem(tmp_path, "numpy\n")
    run_dir = tmp_path / "run"
    done = _evoforge(
        "run", str(problem), "--iterations", "2", "--out", str(run_dir), "--quiet", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (run_dir / "run.sqlite").is_file()
