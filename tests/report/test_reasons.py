"""Failure and rejection reasons grouped into kinds."""

from __future__ import annotations

from pathlib import Path

from evoforge.program import EvalStatus, Program, code_hash
from evoforge.report.reader import RunReader
from evoforge.report.reasons import reason_kind
from evoforge.report.tracker import top_reasons
from evoforge.storage.db import RunDatabase


def test_kind_is_the_last_line_with_numbers_and_ids_blanked() -> None:
    assert reason_kind("mutate: swap\nValueError: disks 3 and 14 overlap") == (
        "ValueError: disks N and N overlap"
    )
    assert reason_kind("duplicate of i000123") == "duplicate of <id>"
    assert reason_kind("np.float64(0.25) < 1e-3") == "np.float64(N) < N"
    assert reason_kind("  \n") == "(no reason given)"
    assert len(reason_kind("x" * 1000)) == 200


def _program(seq: int, status: EvalStatus, reason: str) -> Program:
    code = f"y = {seq}\n"
    return Program(
        id=f"i{seq:06d}" if seq else "seed",
        code=code,
        code_hash=code_hash(code),
        seq=seq,
        iteration=seq,
        status=status,
        reason=reason,
        score=1.0 if status is EvalStatus.OK else None,
    )


def test_top_reasons_count_kinds_most_frequent_first(tmp_path: Path) -> None:
    db = RunDatabase(tmp_path / RunDatabase.FILENAME, create=True)
    steps = [
        (EvalStatus.OK, ""),
        (EvalStatus.FAILED, "tune\nIndexError: index 3 out of range"),
        (EvalStatus.FAILED, "mutate\nIndexError: index 7 out of range"),
        (EvalStatus.TIMEOUT, "IndexError: index 9 out of range"),
        (EvalStatus.FAILED, "ZeroDivisionError: division by zero"),
        (EvalStatus.REJECTED, "duplicate of i000001"),
        (EvalStatus.REJECTED, "duplicate of i000002"),
        (EvalStatus.REJECTED, "frozen code changed"),
    ]
    for seq, (status, reason) in enumerate(steps):
        db.commit_step(_program(seq, status, reason), evaluated=True, outcome=None, reward=0.0)
    db.close()
    with RunReader(tmp_path) as reader:
        reasons = top_reasons(reader)
    failures = reasons["failures"]
    assert [(r["reason"], r["count"]) for r in failures] == [
        ("IndexError: index N out of range", 3),
        ("ZeroDivisionError: division by zero", 1),
    ]
    assert failures[0]["statuses"] == {"failed": 2, "timeout": 1}
    assert failures[0]["example_id"] == "i000001"
    # the kind blanks the numbers; the first program's own line keeps them
    assert failures[0]["example_reason"] == "IndexError: index 3 out of range"
    assert failures[1]["example_reason"] == "ZeroDivisionError: division by zero"
    assert [(r["reason"], r["count"]) for r in reasons["rejections"]] == [
        ("duplicate of <id>", 2),
        ("frozen code changed", 1),
    ]
