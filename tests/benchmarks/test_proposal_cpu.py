"""The proposal CPU benchmark's fingerprint: the same programs for the same seed, so a
change meant only to be faster can be checked to change nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from proposal_cpu import measure


def test_the_same_seed_makes_the_same_programs_and_another_seed_does_not() -> None:
    first, again, other = measure(40, seed=0), measure(40, seed=0), measure(40, seed=1)
    assert first["iterations"] == 40 and first["programs"] == 41  # the seed's included
    assert first["fingerprint"] == again["fingerprint"]
    assert other["fingerprint"] != first["fingerprint"]
