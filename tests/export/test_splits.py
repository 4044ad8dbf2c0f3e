"""Deduplication and the split by lineage: no normalised program on both sides."""

from __future__ import annotations

import itertools

from evoforge.export.example import Example, ProgramRef
from evoforge.export.splits import assign_splits, deduplicate

SEED = ("p", "run", "seed")


def _example(*programs: tuple[str, str]) -> Example:
    refs = tuple(ProgramRef(("p", "run", lineage), digest) for lineage, digest in programs)
    return Example(
        record={},
        programs=refs,
        lineage=refs[-1].lineage,
        dedup_key=tuple(digest for _, digest in programs),
        priority=(0.0,),
        operator="tune",
        problem="p",
    )


def _family(count: int) -> list[Example]:
    """A seed with ``count`` lineages of four generations, a shared program in two."""
    examples = []
    for number in range(count):
        lineage = f"L{number}"
        examples.append(_example(("seed", "s"), (lineage, f"{lineage}-0")))
        for generation in range(1, 4):
            examples.append(
                _example(
                    (lineage, f"{lineage}-{generation - 1}"), (lineage, f"{lineage}-{generation}")
                )
            )
    examples.append(_example(("L0", "L0-3"), ("L0", "shared")))
    examples.append(_example(("L1", "L1-3"), ("L1", "shared")))
    return examples


def test_deduplicate_keeps_the_first_of_each_key() -> None:
    examples = [_example(("a", "1"), ("a", "2")), _example(("b", "1"), ("b", "2"))]
    kept, dropped = deduplicate(examples)
    assert kept == examples[:1] and dropped == 1


def test_no_program_is_on_both_sides_and_the_seed_trains() -> None:
    examples = _family(12)
    splits = assign_splits(examples, 0.25, seed=3, seed_lineages={SEED})
    assert splits.validation and splits.train
    sides = {
        name: {ref.code_hash for example in part for ref in example.programs}
        for name, part in (("train", splits.train), ("validation", splits.validation))
    }
    assert not sides["train"] & sides["validation"]
    assert "s" in sides["train"]
    lineages = {ref.lineage for example in splits.validation for ref in example.programs}
    assert ("p", "run", "L0") not in lineages or ("p", "run", "L1") in lineages
    assert splits.dropped == sum(
        1
        for example in examples
        if example.programs[0].lineage == SEED and example not in splits.train
    )
    total = len(splits.train) + len(splits.validation) + splits.dropped
    assert total == len(examples)


def test_the_split_depends_on_the_seed_and_nothing_else() -> None:
    examples = _family(12)
    first = assign_splits(examples, 0.25, seed=3, seed_lineages={SEED})
    again = assign_splits(list(examples), 0.25, seed=3, seed_lineages={SEED})
    assert first.validation == again.validation
    others = [assign_splits(examples, 0.25, seed=s, seed_lineages={SEED}) for s in range(4, 9)]
    assert any(o.validation != first.validation for o in others)
    none = assign_splits(examples, 0.0, seed=3, seed_lineages={SEED})
    assert not none.validation and none.dropped == 0
    assert list(itertools.chain(none.train)) == examples


def test_validation_never_takes_most_of_a_small_export() -> None:
    """No group fits a 10 % aim: the smallest is held out only while it holds at most
    half of the examples; one lineage holding most of the run trains whole."""
    one = _family(1)[:4]  # the seed's child and three generations of one lineage
    alone = assign_splits(one, 0.1, seed=3, seed_lineages={SEED})
    assert alone.train == one and not alone.validation and alone.dropped == 0
    two = _family(2)[:8]  # two such lineages
    split = assign_splits(two, 0.1, seed=3, seed_lineages={SEED})
    assert len(split.validation) == 3 and len(split.train) == 4 and split.dropped == 1
