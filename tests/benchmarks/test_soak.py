"""The soak benchmark's windows: rates, the share evaluated and CPU per iteration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")


def test_a_window_reports_rates_the_share_evaluated_and_cpu_per_iteration() -> None:
    sys.path.insert(0, BENCHMARKS)
    try:
        from soak import Sample, summarise
    finally:
        sys.path.remove(BENCHMARKS)
        sys.modules.pop("soak", None)

    def sample(iterations: int, seconds: float, evaluations: int, pool_s: float) -> Sample:
        return Sample(
            iterations=iterations,
            elapsed_s=seconds,
            rss_mb=100.0,
            tree_rss_mb=200.0,
            db_bytes=0,
            programs=iterations + 1,
            child_chars=150.0 + iterations / 10,
            evaluations=evaluations,
            cpu_s={"proposal_pool": pool_s, "other_children": 2 * pool_s},
        )

    samples = [
        sample(0, 0.0, 0, 0.0),
        sample(100, 2.0, 90, 0.5),
        sample(200, 4.0, 170, 1.0),  # the first window after a warm-up of 100
        sample(300, 7.0, 230, 1.7),
        sample(400, 12.0, 280, 2.7),  # the last window: slower, fewer evaluated
    ]
    summary = summarise(samples, every=100, warmup=100)
    start, end = summary["start_window"], summary["end_window"]
    assert start["it_per_s"] == pytest.approx(50.0)
    assert start["evaluations_per_s"] == pytest.approx(40.0)
    assert start["evaluated_share"] == pytest.approx(0.8)
    assert start["cpu_ms_per_iteration"] == {
        "proposal_pool": 5.0,
        "other_children": 10.0,
        "total": 15.0,
    }
    assert end["it_per_s"] == pytest.approx(20.0)
    assert end["evaluations_per_s"] == pytest.approx(10.0)
    assert end["evaluated_share"] == pytest.approx(0.5)
    assert end["cpu_ms_per_iteration"]["total"] == pytest.approx(30.0)
    assert summary["speed_ratio_end_to_start"] == pytest.approx(0.4)
    assert summary["evaluation_speed_ratio_end_to_start"] == pytest.approx(0.25)
