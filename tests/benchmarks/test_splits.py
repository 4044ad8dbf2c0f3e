"""The instance splits of the five instance-scored problems: real, sized as documented,
disjoint from one another, reproducible, and the search split is the single set these
problems were scored on before (their earlier figures stay comparable)."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "problems"
PROBLEMS = (
    "bin_packing",
    "cache_eviction",
    "sor_relaxation",
    "optimizer_update_rule",
    "data_selection",
)
SPLITS = ("search", "holdout", "test")


@cache
def module(problem: str, filename: str = "evaluator.py") -> ModuleType:
    """A file of a problem, imported under a private name (its directory on the path)."""
    name = f"_splits_{problem}_{Path(filename).stem}"
    spec = importlib.util.spec_from_file_location(name, SUITE / problem / filename)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    sys.path.insert(0, str(SUITE / problem))
    try:
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(SUITE / problem))
    return loaded


@pytest.mark.parametrize("problem", PROBLEMS)
def test_every_problem_declares_splits_and_refuses_an_unknown_one(problem: str) -> None:
    config = yaml.safe_load((SUITE / problem / "config.yaml").read_text())
    assert config["splits"]["enabled"] is True
    evaluator = module(problem)
    assert tuple(evaluator.SPLITS) == SPLITS
    assert "split" in (SUITE / problem / "README.md").read_text().lower()
    construction: object = [] if problem in ("sor_relaxation", "data_selection") else {}
    with pytest.raises(ValueError, match="unknown split"):
        evaluator.verify({"construction": construction}, split="training")


def test_bin_packing_splits_are_fresh_draws_of_the_published_recipes() -> None:
    evaluator = module("bin_packing")
    sizes = {
        split: {name: len(evaluator.load_dataset(name, split)) for name in evaluator.DATASETS}
        for split in SPLITS
    }
    assert sizes == {
        "search": {"or3": 20, "weibull5k": 5},
        "holdout": {"or3": 20, "weibull5k": 5},
        "test": {"or3": 40, "weibull5k": 10},
    }
    seen: set[bytes] = set()
    for split in SPLITS:
        for name in evaluator.DATASETS:
            for _, capacity, items in evaluator.load_dataset(name, split):
                assert capacity == (150 if name == "or3" else 100)
                assert len(items) == (500 if name == "or3" else 5000)
                low, high = (20, 100) if name == "or3" else (1, 100)
                assert low <= items.min() and items.max() <= high
                assert items.tobytes() not in seen  # no instance in two places
                seen.add(items.tobytes())
    # the committed files are exactly what the seeded generator writes
    generator = module("bin_packing", "make_splits.py")
    for split in ("holdout", "test"):
        for name in evaluator.DATASETS:
            stored = json.loads(
                (SUITE / "bin_packing" / "data" / f"{name}_{split}.json").read_text()
            )
            assert stored == json.loads(json.dumps(generator.make_split(split, name)))


def test_cache_eviction_splits_redraw_every_trace_kind() -> None:
    evaluator = module("cache_eviction")
    specs = {split: evaluator.split_specs(split) for split in SPLITS}
    assert [len(specs[split]) for split in SPLITS] == [6, 12, 18]
    assert specs["search"] == evaluator.TRACE_SPECS
    seeds = [spec.seed for split in SPLITS for spec in specs[split]]
    assert len(seeds) == len(set(seeds))
    kinds = {spec.kind for spec in evaluator.TRACE_SPECS}
    for split in ("holdout", "test"):
        assert {spec.kind for spec in specs[split]} == kinds


def test_sor_relaxation_splits_are_fresh_sequences_with_their_own_references() -> None:
    evaluator = module("sor_relaxation")
    sequences = {split: evaluator.split_specs(split) for split in SPLITS}
    assert [len(sequences[split]) for split in SPLITS] == [1, 2, 3]
    assert sequences["search"] == (evaluator.SYSTEM_SPECS,)
    seeds = [spec[3] for split in SPLITS for seq in sequences[split] for spec in seq]
    assert len(seeds) == len(set(seeds))
    for split in SPLITS:
        reference = evaluator.reference(split)
        count = 10 * len(sequences[split])
        assert len(reference["best_omega_per_system"]) == count
        assert reference["limit_total_sweeps"] == sum(reference["best_sweeps_per_system"])


def test_optimizer_update_rule_splits_redraw_every_task_kind() -> None:
    evaluator = module("optimizer_update_rule")
    names = {split: [task.name for task in evaluator.make_tasks(split)] for split in SPLITS}
    assert names["search"] == ["logistic", "two_layer", "quadratic"]
    assert [len(names[split]) for split in SPLITS] == [3, 6, 9]
    starts = [task.start.tobytes() for task in evaluator.make_tasks("holdout")]
    two_layer = [s for s, n in zip(starts, names["holdout"], strict=True) if "two_layer" in n]
    assert len(set(two_layer)) == len(two_layer)  # fresh teachers and starting points


def test_data_selection_pools_of_different_splits_share_no_example() -> None:
    evaluator = module("data_selection")
    x, _ = evaluator._shuffled()
    pools: dict[str, set[bytes]] = {}
    for split in SPLITS:
        rows: set[bytes] = set()
        for task in range(evaluator.SPLIT_TASKS[split]):
            train_x, _, test_x, _ = evaluator.task_split(split, task)
            assert len(train_x) == evaluator.TRAIN_SIZE
            assert len(train_x) + len(test_x) == len(x)
            rows |= {row.tobytes() for row in np.asarray(train_x)}
        pools[split] = rows
    assert not pools["search"] & pools["holdout"]
    assert not pools["search"] & pools["test"]
    assert not pools["holdout"] & pools["test"]
    assert [evaluator.SPLIT_TASKS[split] for split in SPLITS] == [1, 8, 12]
