"""The proposal CPU benchmark's fingerprint: the same programs for the same seed, so a
change meant only to be faster can be checked to change nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

from evoforge.registry import BACKENDS

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")


def test_the_same_seed_makes_the_same_programs_and_another_seed_does_not() -> None:
    # imported here, and its backend registration undone after: importing the scale-out
    # script registers its simulated workers, which no other test may see
    sys.path.insert(0, BENCHMARKS)
    try:
        from proposal_cpu import measure

        first, again, other = measure(40, seed=0), measure(40, seed=0), measure(40, seed=1)
    finally:
        sys.path.remove(BENCHMARKS)
        if BACKENDS.has("simulated"):
            BACKENDS.unregister("simulated")
        for name in ("proposal_cpu", "scale_out"):
            sys.modules.pop(name, None)
    assert first["iterations"] == 40 and first["programs"] == 41  # the seed's included
    assert first["fingerprint"] == again["fingerprint"]
    assert other["fingerprint"] != first["fingerprint"]
