"""``make test`` runs the suite on parallel workers, one per CPU this process may use, and
each test file on one worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from tests.conftest import MAX_PARALLEL_WORKERS, parallel_workers, pytest_xdist_auto_num_workers

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _make_test_recipe() -> list[str]:
    """The command lines of the Makefile's ``test`` target."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = lines.index("test: $(STAMP)") + 1
    recipe: list[str] = []
    for line in lines[start:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def _make_test_options() -> list[str]:
    """The options ``make test`` gives pytest after ``tests``."""
    (command,) = _make_test_recipe()
    words = command.split()
    return words[words.index("tests") + 1 :]


def test_make_test_runs_the_suite_on_workers_one_file_per_worker() -> None:
    options = _make_test_options()
    assert options[:2] == ["-n", "auto"], options
    assert "--dist" in options and options[options.index("--dist") + 1] == "loadfile"


WHERE_IT_RAN = """
import os


def test_{index}():
    with open(os.environ["WORKERS_SEEN"], "a") as seen:
        seen.write("{module} " + os.environ.get("PYTEST_XDIST_WORKER", "none") + "\\n")
"""


def test_each_test_file_runs_on_one_worker_under_make_tests_options(tmp_path: Path) -> None:
    """What ``make test``'s options do, seen: the tests of one file (the Ray tests' one
    local Ray instance) all run on one worker of two, whatever the installed pytest and
    pytest-xdist make of marks and test ids."""
    suite = tmp_path / "suite"
    suite.mkdir()
    for module in ("first", "second"):
        body = "".join(WHERE_IT_RAN.format(index=i, module=module) for i in range(6))
        (suite / f"test_{module}.py").write_text(body)
    seen = tmp_path / "seen.txt"
    options = ["-n", "2", *_make_test_options()[2:], "-p", "no:cacheprovider"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(suite), *options],
        cwd=tmp_path,
        env={**os.environ, "WORKERS_SEEN": str(seen)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers: dict[str, set[str]] = {}
    for line in seen.read_text().splitlines():
        module, worker = line.split()
        workers.setdefault(module, set()).add(worker)
    assert set(workers) == {"first", "second"}
    assert all(len(ran_on) == 1 and "none" not in ran_on for ran_on in workers.values())


@pytest.mark.parametrize(
    ("cpus", "workers"), [(1, 1), (2, 2), (MAX_PARALLEL_WORKERS, MAX_PARALLEL_WORKERS), (64, 8)]
)
def test_one_worker_per_usable_cpu_within_the_cap(cpus: int, workers: int) -> None:
    assert parallel_workers(cpus) == workers


def test_auto_counts_the_cpus_this_process_may_use(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.conftest as settings

    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr(settings, "usable_cpus", lambda: 3)  # a quota of 3 on a big machine
    assert settings.pytest_xdist_auto_num_workers(pytestconfig) == 3
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "5")  # pytest-xdist's own setting
    assert pytest_xdist_auto_num_workers(pytestconfig) is None


def test_every_test_that_starts_ray_is_in_one_module() -> None:
    """Two local Ray instances at once would each take 2 CPUs, and a test counting the Ray
    workers' problem copies in the temp directory would count the other's too: one module
    (one worker) starts Ray."""
    starting = [
        path.relative_to(ROOT).as_posix()
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name and "ray.init(" in path.read_text(encoding="utf-8")
    ]
    assert starting == ["tests/evaluation/backends/test_ray_backend.py"]


def test_property_tests_have_no_deadline() -> None:
    """A busy machine (another worker's runs beside this one) can hold any example past a
    deadline; Hypothesis's default of 200 ms would then fail a test that is right."""
    assert settings().deadline is None
