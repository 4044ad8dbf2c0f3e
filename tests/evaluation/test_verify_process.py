"""verify in processes of its own: verdicts as the caller's process gave them, an
evaluator.py that fails to import tried again, concurrent callers served at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from evoforge.evaluation.verify_process import VerifyFailed, VerifyProcesses

OBJECT_VERDICT = """
import numpy as np


class Verdict:
    def __init__(self, metrics, artifacts):
        self.metrics, self.artifacts = metrics, artifacts


def verify(output, split=None):
    return Verdict({"combined_score": np.float32(sum(output)), "split": split}, {"seen": output})
"""


def test_a_verdict_comes_back_as_plain_metrics_and_artifacts(tmp_path: Path) -> None:
    (tmp_path / "evaluator.py").write_text(OBJECT_VERDICT)
    verifiers = VerifyProcesses(tmp_path / "evaluator.py", timeout_s=5)
    try:
        metrics, artifacts = verifiers.verify([1, 2, 3.5], "holdout")
        assert metrics == {"combined_score": 6.5, "split": "holdout"}
        assert isinstance(metrics["combined_score"], float)
        assert artifacts == {"seen": "[1, 2, 3.5]"}
        assert verifiers.verify([1])[0]["split"] == "None"  # called as verify(output)
    finally:
        verifiers.close()
    assert verifiers.pids == []


def test_an_evaluator_that_fails_to_import_is_tried_again_by_the_next_call(
    tmp_path: Path,
) -> None:
    evaluator = tmp_path / "evaluator.py"
    evaluator.write_text("raise RuntimeError('data file missing')\n")
    verifiers = VerifyProcesses(evaluator, timeout_s=5)
    try:
        with pytest.raises(VerifyFailed, match=r"importing evaluator\.py raised RuntimeError"):
            verifiers.verify(1)
        assert verifiers.pids == []  # that process is gone
        evaluator.write_text("def verify(output):\n    return {'combined_score': output}\n")
        assert verifiers.verify(2)[0] == {"combined_score": 2}
    finally:
        verifiers.close()


def test_concurrent_callers_each_get_a_process_and_their_own_verdict(tmp_path: Path) -> None:
    (tmp_path / "evaluator.py").write_text(
        "import time\n\ndef verify(output):\n    time.sleep(0.3)\n"
        "    return {'combined_score': output * 2}\n"
    )
    verifiers = VerifyProcesses(tmp_path / "evaluator.py", timeout_s=10)
    verdicts: dict[int, object] = {}

    def call(value: int) -> None:
        verdicts[value] = verifiers.verify(value)[0]["combined_score"]

    try:
        threads = [threading.Thread(target=call, args=(value,)) for value in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert verdicts == {0: 0, 1: 2, 2: 4}
        assert len(verifiers.pids) == 3  # none waited for another's call
    finally:
        verifiers.close()
