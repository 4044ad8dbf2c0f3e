"""A small real run shared by the report tests (the circle-packing example, 40 children)."""

from __future__ import annotations

from pathlib import Path

import pytest

import evoforge

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "circle_packing"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("report") / "run"
    # one worker: the same run every time, whose best is a child with a diff and a lineage
    evoforge.run(EXAMPLE, iterations=40, seed=3, workers=1, out=run_dir, fresh=True)
    return run_dir
