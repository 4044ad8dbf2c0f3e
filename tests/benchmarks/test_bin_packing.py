"""bin_packing: the evaluator packs OR3 and Weibull 5k online; the candidate only scores bins.

Fast logic tests call the evaluator's functions with :class:`LocalCandidate` (the channel's
encoding, no isolation) and score the output with the trusted ``verify``; the seed and a
program that hunts for the evaluator (files, modules, objects, frames) also run through the
real :class:`ProblemEvaluator` (two jailed processes).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.channel import CandidateError
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.problem import load_problem
from evoforge.program import EvalStatus

PROBLEM_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "problems" / "bin_packing"
SEED = PROBLEM_DIR / "initial_program.py"
SEED_SCORE = 0.3750255892255889  # best fit: 212.0 bins on OR3, 2067.0 on Weibull 5k

# Best fit with the seed's adapter, unless the program reaches the evaluator's files or
# objects: then it raises (the old shared-process form let a candidate replace the packing
# loop from there).
HUNTING_PROGRAM = """
import gc
import os
import sys

TARGETS = ("pack_all", "checked_scores", "load_dataset")


def reached():
    for path in (@EVALUATOR@, @DATA@):
        try:
            os.stat(path)
            return f"the file {path}"
        except OSError:
            pass
    for module in list(sys.modules.values()):
        if any(hasattr(module, name) for name in TARGETS):
            return f"the module {module.__name__}"
    for thing in gc.get_objects():
        if callable(thing) and getattr(thing, "__name__", None) in TARGETS:
            return f"the function {thing.__name__}"
    frame = sys._getframe()
    while frame is not None:
        if "remaining" in frame.f_locals:
            return "the packing loop's frame"
        frame = frame.f_back
    return None


HUNTED = []


def priority(item, bins):
    if not HUNTED:  # hunt once, on the first call
        HUNTED.append(reached())
    if HUNTED[0] is not None:
        raise RuntimeError(f"reached {HUNTED[0]}")
    return -(bins - item)
"""
HUNTING_PROGRAM = (
    "import numpy as np\n"
    + HUNTING_PROGRAM.replace("@EVALUATOR@", repr(str(PROBLEM_DIR / "evaluator.py"))).replace(
        "@DATA@", repr(str(PROBLEM_DIR / "data"))
    )
    + SEED.read_text(encoding="utf-8").split("# EVOLVE-BLOCK-END\n")[1]  # the adapters
)

RECORDS = PROBLEM_DIR.parents[1] / "results" / "suite-isolated-500" / "runs.jsonl"


@cache
def recorded_adapter() -> str:
    """What follows the evolve block in a bin_packing program of the committed suite records
    (the earlier seed's ``choose_bins`` adapter and its check of the scores): programs in
    earlier records end with it, and must pack as they did."""
    for line in RECORDS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        code = record.get("best_code") or ""
        if record["problem"] == "bin_packing" and "def choose_bins(" in code:
            return code.split("# EVOLVE-BLOCK-END\n")[1]
    raise AssertionError(f"no bin_packing program with choose_bins in {RECORDS}")


# how a program is called: "mirror" (the seed's open_bins and place_items), "adapter"
# (choose_bins, the earlier seed's) or "batches" (priority alone)
PATHS = ("mirror", "adapter", "batches")


@cache
def evaluator() -> ModuleType:
    """The problem's evaluator, imported once under a private name (as ``verify`` runs)."""
    name = "_bench_bin_packing_evaluator"
    spec = importlib.util.spec_from_file_location(name, PROBLEM_DIR / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@cache
def seed_output() -> dict[str, Any]:
    """What ``evaluate_candidate`` returns for the seed (computed once)."""
    output: dict[str, Any] = evaluator().evaluate_candidate(LocalCandidate(SEED))
    return output


def program(body: str, path: str = "mirror") -> str:
    """A program whose ``priority`` returns ``body``, called by ``path`` (see
    :data:`PATHS`): the seed with its evolve block replaced (so with the seed's frozen
    adapters), the same with the earlier ``choose_bins`` adapter instead, or just
    ``priority``."""
    block = f"def priority(item, bins):\n    return {body}\n\n\n"
    if path == "batches":
        return f"import numpy as np\n\n{block}"
    head, rest = SEED.read_text(encoding="utf-8").split("# EVOLVE-BLOCK-START\n")
    _, tail = rest.split("# EVOLVE-BLOCK-END\n")
    if path == "adapter":  # the seed's own adapters swapped for the earlier ones
        tail = tail[: tail.index("_BINS = []")] + recorded_adapter()
    return f"{head}# EVOLVE-BLOCK-START\n{block}# EVOLVE-BLOCK-END\n{tail}"


def pack(body: str, capacity: int, items: Sequence[int], path: str) -> list[int]:
    """The packing of one instance by a program whose ``priority`` returns ``body``."""
    instance = (capacity, np.asarray(items, dtype=np.int64))
    candidate = LocalCandidate(code=program(body, path))
    functions = set(candidate.functions)
    assert (evaluator().ADAPTER in functions) is (path == "adapter")
    assert {evaluator().OPEN_BINS, evaluator().PLACE_ITEMS} <= functions or path != "mirror"
    packings: list[list[int]] = evaluator().pack_all(candidate, [instance])
    return packings[0]


def refused(body: str, message: str, path: str) -> None:
    """``priority`` returning ``body`` fails the packing with ``message``: in the evaluator
    (a ValueError), or with the adapters in the program (the channel's CandidateError)."""
    raised = ValueError if path == "batches" else CandidateError
    with pytest.raises(raised, match=message) as caught:
        pack(body, 100, [60, 50, 40], path)
    if path != "batches":
        assert isinstance(caught.value, CandidateError) and caught.value.kind == "ValueError"


class CountingCandidate(LocalCandidate):
    """A local candidate that counts its round trips (a batch is one)."""

    round_trips = 0

    def call(self, name: str, *args: object, **kwargs: object) -> object:
        self.round_trips += 1
        return super().call(name, *args, **kwargs)

    def batch(self, name: str, calls: Sequence[Sequence[object]]) -> list[object]:
        self.round_trips += 1
        return [super(CountingCandidate, self).call(name, *args) for args in calls]


def sandboxed() -> ProblemEvaluator:
    return ProblemEvaluator(PROBLEM_DIR / "evaluator.py", EvaluatorConfig(timeout_s=120))


def test_problem_dir_loads_in_the_isolated_form() -> None:
    assert load_problem(PROBLEM_DIR).notices == ()
    assert sandboxed().form == "isolated"


def test_seed_is_best_fit_with_the_published_excess() -> None:
    output = seed_output()
    metrics = evaluator().verify(output)
    assert metrics == {key: value for key, value in output.items() if key != "construction"}
    assert metrics["or3_excess_percent"] == pytest.approx(5.37, abs=0.05)
    assert metrics["weibull5k_excess_percent"] == pytest.approx(3.98, abs=0.05)
    assert metrics["or3_mean_bins"] == 212.0
    assert metrics["weibull5k_mean_bins"] == 2067.0
    assert metrics["combined_score"] == pytest.approx(SEED_SCORE, abs=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_rejects_bad_priorities(path: str) -> None:
    refused("bins * np.nan", "NaN", path)
    refused("np.full(len(bins), -np.inf)", "infinite", path)
    refused("np.zeros(len(bins) + 1)", "shape", path)
    refused("[str(b) for b in bins]", "real", path)
    refused("bins > item", "real numbers", path)
    refused("bins.astype(complex)", "real numbers", path)
    # a text array cannot even cross the channel without the adapters
    refused("bins.astype(str)", "cannot send" if path == "batches" else "real numbers", path)
    with pytest.raises(CandidateError, match="boom"):  # the candidate's error, propagated
        pack("(_ for _ in ()).throw(RuntimeError('boom'))", 100, [60], path)


def test_a_program_without_priority_is_refused() -> None:
    with pytest.raises(AttributeError, match="priority"):
        evaluator().evaluate_candidate(LocalCandidate(code="def other():\n    return 1\n"))


@pytest.mark.parametrize("path", PATHS)
def test_ties_go_to_the_first_bin_and_any_real_dtype_is_accepted(path: str) -> None:
    items = [30, 30, 50, 40, 60, 20]
    assert pack("np.zeros(len(bins))", 100, items, path) == [0, 0, 1, 0, 2, 1]  # first fit
    best_fit = pack("-(bins - item)", 100, items, path)
    for dtype in ("np.int64", "np.float32"):  # float64 is checked fastest; others count too
        assert pack(f"(item - bins).astype({dtype})", 100, items, path) == best_fit
    assert pack("list(item - bins)", 100, items, path) == best_fit


@pytest.mark.parametrize(
    "body",
    [
        "(bins - item) % 7 - bins / 1000",
        "np.arange(len(bins)) * 1.0",  # the last feasible bin: skips never-used bins
        "np.sin(np.arange(len(bins)) * 12.9898 + item)",
    ],
    ids=["modular", "last bin", "by position"],
)
def test_both_paths_pack_every_instance_as_it_would_be_packed_alone(body: str) -> None:
    rng = np.random.default_rng(3)
    instances = [(50, rng.integers(1, 40, size=n)) for n in (30, 5, 0, 17)]
    alone = [
        evaluator().pack_all(LocalCandidate(code=program(body, "batches")), [instance])[0]
        for instance in instances
    ]
    assert alone[2] == []
    for path in PATHS:
        together = CountingCandidate(code=program(body, path))
        assert evaluator().pack_all(together, instances) == alone
        # one per item position (and the mirror's open_bins first)
        assert together.round_trips == 30 + (path == "mirror")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("[0] * (len(items) + 1)", "one per instance"),
        ("{0: 0}", "one per instance"),
        ("[0.0] * len(items)", "index"),
        ("[True] * len(items)", "index"),
        ("[-1] * len(items)", "index"),
        ("[int(c) + int(u) for c, u in zip(counts, unused)]", "index"),
    ],
)
def test_the_adapters_answer_is_checked(answer: str, message: str) -> None:
    code = "def priority(item, bins):\n    return bins\n\n\n"
    code += f"def choose_bins(items, counts, values, unused, capacities):\n    return {answer}\n"
    with pytest.raises(ValueError, match=message):
        evaluator().pack_all(LocalCandidate(code=code), [(100, np.array([60, 50]))] * 2)


def test_the_adapter_sees_the_feasible_bins_in_compact_form() -> None:
    # First fit for two items (the used bins stay a prefix: the never-used ones are sent as
    # a count), then the last feasible bin, which skips bins 1 and 2: from then on every
    # feasible bin is sent as a value.
    code = (
        "SEEN = []\n\ndef priority(item, bins):\n    return bins\n\n\n"
        "def choose_bins(items, counts, values, unused, capacities):\n"
        "    SEEN.append((items.tolist(), counts.tolist(), values.tolist(), unused.tolist(),"
        " capacities.tolist()))\n"
        "    if len(SEEN) <= 2:\n        return [0]\n"
        "    return [int(counts[0]) + int(unused[0]) - 1]\n"
    )
    candidate = LocalCandidate(code=code)
    packing = evaluator().pack_all(candidate, [(10, np.array([6, 3, 5, 1]))])
    assert packing == [[0, 0, 3, 3]]
    assert candidate._module.SEEN == [
        ([6.0], [0], [], [4], [10.0]),
        ([3.0], [1], [4.0], [3], [10.0]),
        ([5.0], [0], [], [3], [10.0]),
        ([1.0], [4], [1.0, 10.0, 10.0, 5.0], [0], [10.0]),
    ]


def without_adapters(code: str) -> str:
    """A program with the seed's adapters cut off: packed by batches of ``priority``."""
    head, rest = code.split("_BINS = []", 1)
    return head + rest[rest.index("_isfinite = ") :]


STATEFUL = """
CALLS = []


def priority(item, bins):
    CALLS.append(len(bins))  # depends on every call before it, in order
    return np.sin(np.arange(len(bins)) * 0.7 + len(CALLS)) - (bins - item) / 50
"""


@pytest.mark.parametrize(
    "block",
    [
        "def priority(item, bins):\n    return (bins - item) % 7 - bins / 1000\n",
        "def priority(item, bins):\n    return np.arange(len(bins)) * 1.0\n",  # skips bins
        "def priority(item, bins):\n    return (-(bins - item)).astype(np.int64)\n",  # ties
        "def priority(item, bins):\n    return np.where(bins == bins.max(), 1e9, bins)\n",
        STATEFUL,
    ],
    ids=["modular", "last bin", "integer ties", "never-used first", "stateful"],
)
def test_the_mirror_packs_exactly_as_batches_of_priority(block: str) -> None:
    head, rest = SEED.read_text(encoding="utf-8").split("# EVOLVE-BLOCK-START\n")
    _, tail = rest.split("# EVOLVE-BLOCK-END\n")
    code = f"{head}# EVOLVE-BLOCK-START\n{block}\n# EVOLVE-BLOCK-END\n{tail}"
    rng = np.random.default_rng(11)
    instances = [
        (capacity, rng.integers(1, capacity + 1, size=n))
        for capacity, n in ((50, 40), (100, 0), (30, 25), (150, 60), (20, 7))
    ]
    instances.append((150, np.asarray(evaluator().load_dataset("or3")[0][2][:120])))
    reference = evaluator().pack_with_batches(
        LocalCandidate(code=without_adapters(code)), instances
    )
    mirror = LocalCandidate(code=code)
    assert evaluator().pack_all(mirror, instances) == reference
    if block is STATEFUL:  # priority saw the same calls, in the same order
        batches = LocalCandidate(code=without_adapters(code))
        evaluator().pack_with_batches(batches, instances)
        assert mirror._module.CALLS == batches._module.CALLS


def test_the_seed_packs_every_instance_as_batches_of_priority() -> None:
    instances = [
        (c, items) for n in evaluator().DATASETS for _, c, items in evaluator().load_dataset(n)
    ]
    reference = evaluator().pack_with_batches(
        LocalCandidate(code=without_adapters(SEED.read_text(encoding="utf-8"))), instances
    )
    construction = seed_output()["construction"]
    packed = [packing for name in evaluator().DATASETS for packing in construction[name].values()]
    assert packed == reference


def test_the_mirror_is_told_only_what_the_first_call_showed_and_each_item() -> None:
    code = (
        "SEEN = []\n\ndef priority(item, bins):\n    return bins\n\n\n"
        "def open_bins(capacities, counts):\n    SEEN.append(('open', capacities, counts))\n\n\n"
        "def place_items(items):\n    SEEN.append(('place', items))\n"
        "    return [len(SEEN) - 2] * len(items)\n"  # first fit: a new bin per item here
    )
    candidate = LocalCandidate(code=code)
    instances = [(10, np.array([6, 5, 7])), (20, np.array([15])), (10, np.array([9, 8]))]
    assert evaluator().pack_all(candidate, instances) == [[0, 1, 2], [0], [0, 1]]
    assert candidate._module.SEEN == [
        ("open", [10.0, 20.0, 10.0], [3, 1, 2]),
        ("place", [6.0, 15.0, 9.0]),
        ("place", [5.0, 8.0]),
        ("place", [7.0]),
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("[0] * (len(items) + 1)", "one per instance"),
        ("tuple([0] * len(items))", "one per instance"),
        ("[0.0] * len(items)", "holds the item"),
        ("[False] * len(items)", "holds the item"),
        ("[-1] * len(items)", "holds the item"),
        ("[3] * len(items)", "holds the item"),  # past the last bin
        ("[0] * len(items)", "holds the item"),  # bin 0 is too full for the second item
    ],
)
def test_the_mirrors_answer_is_checked_against_the_evaluators_bins(
    answer: str, message: str
) -> None:
    code = "def priority(item, bins):\n    return bins\n\n\n"
    code += "def open_bins(capacities, counts):\n    pass\n\n\n"
    code += f"def place_items(items):\n    return {answer}\n"
    with pytest.raises(ValueError, match=message):
        evaluator().pack_all(LocalCandidate(code=code), [(100, np.array([60, 50, 40]))] * 2)


def test_a_mirror_that_lies_only_packs_worse() -> None:
    # a new bin for every item, whatever priority says: legal, and as bad as it gets
    code = SEED.read_text(encoding="utf-8") + (
        "\n\ndef place_items(items):\n"
        "    live = [k for k, left in enumerate(_LEFT) if left]\n"
        "    for k in live:\n        _LEFT[k] -= 1\n"
        "    return [len(_BINS[k]) - 1 - _LEFT[k] for k in live]\n"
    )
    output = evaluator().evaluate_candidate(LocalCandidate(code=code))
    assert evaluator().verify(output)["or3_mean_bins"] == 500.0  # one bin per item
    assert output["combined_score"] < SEED_SCORE


def test_verify_rejects_an_overfull_bin() -> None:
    construction = seed_output()["construction"]
    tampered = {name: dict(packings) for name, packings in construction.items()}
    key = next(iter(tampered["or3"]))
    tampered["or3"][key] = [0] * len(tampered["or3"][key])  # everything in one bin
    with pytest.raises(ValueError, match="capacity"):
        evaluator().verify({"construction": tampered})


def test_seed_scores_as_documented_through_the_sandbox() -> None:
    result = sandboxed().evaluate(SEED.read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(SEED_SCORE, abs=1e-12)
    assert result.metrics["weibull5k_mean_bins"] == 2067.0


def test_the_evaluator_is_within_reach_in_process() -> None:
    hunter = LocalCandidate(code=HUNTING_PROGRAM)
    assert evaluator().PLACE_ITEMS in hunter.functions
    with pytest.raises(CandidateError, match="reached"):
        evaluator().evaluate_candidate(hunter)


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no filesystem jail on this machine"
)
def test_the_evaluator_is_out_of_reach_in_the_sandbox() -> None:
    result = sandboxed().evaluate(HUNTING_PROGRAM)
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(SEED_SCORE, abs=1e-12)
