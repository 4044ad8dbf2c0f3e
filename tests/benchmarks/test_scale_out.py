"""The scale-out benchmark's ramp and utilisation after it, on made-up start times."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evoforge.registry import BACKENDS

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")


def test_the_ramp_ends_when_the_last_worker_starts_and_only_later_work_counts() -> None:
    # imported here, and its backend registration undone after (see test_proposal_cpu)
    sys.path.insert(0, BENCHMARKS)
    try:
        import scale_out

        scale_out._Settings.eval_s = 0.5
        starts = [10.0, 10.1, 10.2, 10.5, 10.6]
        ramp, after = scale_out._after_ramp(starts, started=10.0, wall=1.1, workers=3)
        too_few = scale_out._after_ramp(starts[:2], started=10.0, wall=1.1, workers=3)
    finally:
        sys.path.remove(BENCHMARKS)
        if BACKENDS.has("simulated"):
            BACKENDS.unregister("simulated")
        sys.modules.pop("scale_out", None)
    # the third evaluation started 0.2 s in; from then to the end (0.9 s, 3 workers) the
    # five evaluations were busy 0.3 + 0.4 + 0.5 + 0.5 + 0.5 = 2.2 s
    assert ramp == pytest.approx(0.2)
    assert after == pytest.approx(2.2 / 2.7, abs=1e-4)
    assert too_few == (None, None)
