"""``make test`` runs the suite on parallel workers, one per CPU this process may use, and
tests that share something machine-wide run on one worker."""

from __future__ import annotations

import re
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


def test_make_test_runs_the_suite_on_workers_grouped_by_their_marks() -> None:
    (command,) = _make_test_recipe()
    assert re.search(r"-m pytest\b.* tests\b", command), command
    assert re.search(r"(^| )-n auto( |$)", command), command
    assert re.search(r"(^| )--dist loadgroup( |$)", command), command


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


def test_every_module_that_starts_ray_runs_on_one_worker() -> None:
    """Two local Ray instances at once would each take 2 CPUs, and a test counting the Ray
    workers' problem copies in the temp directory would count the other's too."""
    starting = [
        path
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name and "ray.init(" in path.read_text(encoding="utf-8")
    ]
    assert starting, "no test starts a local Ray instance"
    for path in starting:
        assert "xdist_group(RAY_GROUP)" in path.read_text(encoding="utf-8"), path


def test_property_tests_have_no_deadline() -> None:
    """A busy machine (another worker's runs beside this one) can hold any example past a
    deadline; Hypothesis's default of 200 ms would then fail a test that is right."""
    assert settings().deadline is None
