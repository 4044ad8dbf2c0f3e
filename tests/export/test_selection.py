"""Difficulty quotas, preference pairs and the per-lineage cap on plain records."""

from __future__ import annotations

from evoforge.export.example import Example, ProgramRef
from evoforge.export.options import ExportOptions
from evoforge.export.selection import (
    beats,
    cap_per_lineage,
    difficulty,
    improving_children,
    quota,
    rejected_siblings,
)
from evoforge.program import EvalStatus, Program, code_hash

PARENT = Program(id="p", code="x = 1\n", code_hash=code_hash("x = 1\n"), score=10.0)


def _child(number: int, score: float | None, status: EvalStatus = EvalStatus.OK) -> Program:
    code = f"x = {number + 2}\n"
    return Program(
        id=f"c{number}",
        code=code,
        code_hash=code_hash(code),
        seq=number,
        parent_id="p",
        status=status,
        score=score,
    )


def test_rarely_improved_parents_keep_more_of_their_improvements() -> None:
    options = ExportOptions(format="sft", per_parent=4)
    easy = [_child(i, 11.0 + i) for i in range(6)]
    hard = [_child(i, 11.0 + i) for i in range(2)] + [_child(10 + i, 5.0) for i in range(18)]
    assert difficulty(PARENT, easy) < 0.2 < 0.8 < difficulty(PARENT, hard)
    assert len(improving_children(PARENT, easy, options)) == 1
    assert [c.id for c in improving_children(PARENT, hard, options)] == ["c1", "c0"]
    uniform = ExportOptions(format="sft", per_parent=4, difficulty="uniform")
    assert len(improving_children(PARENT, easy, uniform)) == 4
    assert quota(0.5, ExportOptions(format="sft", difficulty="off")) is None


def test_rejected_children_lose_by_more_than_the_margin() -> None:
    options = ExportOptions(format="preference", margin=0.01, rejected_per_chosen=3)
    chosen = _child(0, 10.5)
    close = _child(1, 10.45)  # 0.05 behind: within 0.01 x 10 of the chosen
    far = _child(2, 9.0)
    broken = _child(3, None, EvalStatus.FAILED)
    skipped = _child(4, None, EvalStatus.REJECTED)
    assert beats(chosen, far, PARENT, options) and beats(chosen, broken, PARENT, options)
    assert not beats(chosen, close, PARENT, options)
    assert not beats(chosen, skipped, PARENT, options)
    siblings = [chosen, close, far, broken, skipped]
    assert [c.id for c in rejected_siblings(chosen, PARENT, siblings, options)] == ["c3", "c2"]


def _example(lineage: str, priority: float) -> Example:
    key = ("problem", "run", lineage)
    return Example(
        record={"priority": priority},
        programs=(ProgramRef(key, f"h{priority}"),),
        lineage=key,
        dedup_key=(lineage, str(priority)),
        priority=(priority,),
        operator="tune",
        problem="problem",
    )


def test_the_lineage_cap_keeps_the_highest_priority_in_order() -> None:
    examples = [_example("a", p) for p in (0.1, 0.9, 0.5, 0.7)] + [_example("b", 0.2)]
    kept, dropped = cap_per_lineage(examples, 2)
    assert [e.record["priority"] for e in kept] == [0.9, 0.7, 0.2]
    assert dropped == 2
    assert cap_per_lineage(examples, 0) == (examples, 0)
