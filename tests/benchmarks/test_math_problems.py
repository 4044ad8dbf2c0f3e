"""The mathematical and numerical benchmark problems: each loads as an isolated problem,
its seed scores what its README says (in-process and through the real sandbox), a program
cannot read the problem directory, its trusted ``verify`` rejects infeasible constructions
with zero tolerance, and a known better construction scores higher than the seed.

Evaluators are imported in-process (as the trusted parent does for ``verify``) and call the
candidate through :class:`LocalCandidate` (the channel's encoding, no isolation); outputs go
through a JSON round trip, as they do between the evaluator's sandbox and ``verify``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from evoforge.blocks import split_blocks
from evoforge.config import load_yaml_mapping, validate_config
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.problem import load_problem
from evoforge.program import EvalStatus

PROBLEMS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "problems"

# Seed scores as stated in each README: (combined_score, raw metric name, raw value).
SEED_SCORES: dict[str, tuple[float, str, float]] = {
    "circle_packing_26": (0.804837, "sum_radii", 2.121537),
    "circle_packing_32": (0.777846, "sum_radii", 2.286533),
    "heilbronn_triangle_11": (0.395540, "min_area_ratio", 0.01444907),
    "min_max_distance_16": (0.681161, "ratio_squared", 18.9225),
    "autocorrelation_1": (0.751435, "ratio", 2.0),
    "erdos_min_overlap": (0.761752, "max_overlap", 0.5),
    "exp2_approximation": (0.290625, "digits", 4.068748),
}
PROBLEMS = sorted(SEED_SCORES)
# The function each evaluator calls (no arguments; it returns the construction).
ENTRY_FUNCTIONS = {
    "circle_packing_26": "construct_packing",
    "circle_packing_32": "construct_packing",
    "heilbronn_triangle_11": "construct_points",
    "min_max_distance_16": "construct_points",
    "autocorrelation_1": "construct_function",
    "erdos_min_overlap": "construct_function",
    "exp2_approximation": "construct_program",
}

_loaded: dict[str, ModuleType] = {}


def evaluator(name: str) -> ModuleType:
    """``benchmarks/problems/<name>/evaluator.py``, imported once with its folder on sys.path."""
    if name not in _loaded:
        directory = PROBLEMS_DIR / name
        sys.path.insert(0, str(directory))
        try:
            spec = importlib.util.spec_from_file_location(
                f"math_problem_{name}", directory / "evaluator.py"
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(directory))
        _loaded[name] = module
    return _loaded[name]


def verify(name: str, construction: dict[str, Any]) -> dict[str, float]:
    """The trusted verdict on ``construction`` after the sandbox-to-parent JSON round trip."""
    output = json.loads(json.dumps({"construction": construction}, default=_plain))
    return evaluator(name).verify(output)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def seed_score(name: str) -> float:
    return SEED_SCORES[name][0]


def sandboxed(name: str) -> ProblemEvaluator:
    """The real evaluation path (two jailed processes) with the problem's own settings."""
    directory = PROBLEMS_DIR / name
    config = validate_config(load_yaml_mapping(directory / "config.yaml"), str(directory))
    return ProblemEvaluator(directory / "evaluator.py", config.evaluator)


# --- every problem ----------------------------------------------------------------------


@pytest.mark.parametrize("name", PROBLEMS)
def test_problem_loads_and_config_is_valid(name: str) -> None:
    directory = PROBLEMS_DIR / name
    problem = load_problem(directory)
    assert problem.name == name
    assert len(split_blocks(problem.initial_code).blocks) >= 1
    validate_config(load_yaml_mapping(directory / "config.yaml"), str(directory))
    assert (directory / "README.md").is_file()
    assert "What the candidate receives" in (directory / "README.md").read_text()
    assert problem.notices == ()
    assert sandboxed(name).form == "isolated"


@pytest.mark.parametrize("name", PROBLEMS)
def test_seed_scores_as_documented(name: str) -> None:
    module = evaluator(name)
    output = module.evaluate_candidate(LocalCandidate(PROBLEMS_DIR / name / "initial_program.py"))
    round_trip = json.loads(json.dumps(output))
    trusted = module.verify(round_trip)
    combined, raw_name, raw_value = SEED_SCORES[name]
    assert trusted["combined_score"] == pytest.approx(combined, abs=1e-6)
    assert trusted[raw_name] == pytest.approx(raw_value, rel=1e-6)
    assert 0.0 < trusted["combined_score"] < 1.0
    for key, value in trusted.items():  # what evaluate reported matches the trusted verdict
        assert type(value) in (int, float), key
        assert output[key] == value


@pytest.mark.parametrize("name", PROBLEMS)
@pytest.mark.parametrize("output", [None, [], {"construction": None}, {"other": {}}])
def test_verify_rejects_output_without_a_construction(name: str, output: Any) -> None:
    with pytest.raises(ValueError):
        evaluator(name).verify(output)


@pytest.mark.parametrize("name", PROBLEMS)
def test_seed_scores_as_documented_through_the_sandbox(name: str) -> None:
    result = sandboxed(name).evaluate((PROBLEMS_DIR / name / "initial_program.py").read_text())
    assert result.status is EvalStatus.OK, result.reason
    combined, raw_name, raw_value = SEED_SCORES[name]
    assert result.score == pytest.approx(combined, abs=1e-6)
    assert result.metrics[raw_name] == pytest.approx(raw_value, rel=1e-6)


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no filesystem jail on this machine"
)
@pytest.mark.parametrize("name", PROBLEMS)
def test_the_program_cannot_read_the_problem_directory(name: str) -> None:
    # The seed, whose entry function first reads the evaluator's source: the read raises
    # inside the candidate's jail, so the evaluation fails instead of scoring the seed.
    entry = ENTRY_FUNCTIONS[name]
    spying = (PROBLEMS_DIR / name / "initial_program.py").read_text() + (
        f"\n\n_seed_entry = {entry}\n\n\ndef {entry}():\n"
        f"    with open({str(PROBLEMS_DIR / name / 'evaluator.py')!r}) as handle:\n"
        "        handle.read()\n"
        "    return _seed_entry()\n"
    )
    assert evaluator(name).evaluate_candidate(LocalCandidate(code=spying))  # readable here
    result = sandboxed(name).evaluate(spying)
    assert result.status is EvalStatus.FAILED
    assert (result.reason or "").startswith("FileNotFoundError: in the candidate")


@pytest.mark.parametrize("name", PROBLEMS)
def test_evaluate_candidate_calls_the_named_entry_function(name: str) -> None:
    candidate = LocalCandidate(code="def something_else():\n    return []\n")
    with pytest.raises(AttributeError, match=ENTRY_FUNCTIONS[name]):
        evaluator(name).evaluate_candidate(candidate)
    assert candidate.calls == 0


def test_a_candidate_that_raises_fails_the_evaluation() -> None:
    candidate = LocalCandidate(code="def construct_points():\n    raise RuntimeError('boom')\n")
    with pytest.raises(Exception, match="boom"):
        evaluator("heilbronn_triangle_11").evaluate_candidate(candidate)


@pytest.mark.parametrize(
    "returned",
    [
        "np.zeros((26, 3))",
        "'not a packing'",
        "(np.zeros((26, 2)),)",
        "[[0.5, 0.5]] * 26, [0.4] * 26",
    ],
)
def test_circle_packing_refuses_malformed_answers_in_the_evaluator(returned: str) -> None:
    code = f"import numpy as np\n\n\ndef construct_packing():\n    return {returned}\n"
    with pytest.raises(ValueError):
        evaluator("circle_packing_26").evaluate_candidate(LocalCandidate(code=code))


# --- circle packing ---------------------------------------------------------------------


def grid_packing(count: int) -> dict[str, Any]:
    """16 touching radius-1/8 disks (exact binary numbers) plus radius-0 points in the gaps."""
    ticks = [0.125, 0.375, 0.625, 0.875]
    gaps = [(x, y) for x in (0.25, 0.5, 0.75) for y in (0.25, 0.5, 0.75)]
    gaps += [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.5, 0.0), (0.0, 0.5), (1.0, 0.5)]
    centers = [(x, y) for x in ticks for y in ticks] + gaps[: count - 16]
    radii = [0.125] * 16 + [0.0] * (count - 16)
    return {"centers": np.array(centers), "radii": np.array(radii)}


@pytest.mark.parametrize(("name", "count"), [("circle_packing_26", 26), ("circle_packing_32", 32)])
def test_circle_packing_accepts_touching_disks(name: str, count: int) -> None:
    metrics = verify(name, grid_packing(count))
    assert metrics["sum_radii"] == 2.0
    assert metrics["min_gap"] == 0.0


@pytest.mark.parametrize(("name", "count"), [("circle_packing_26", 26), ("circle_packing_32", 32)])
def test_circle_packing_five_by_five_grid_beats_the_seed(name: str, count: int) -> None:
    ticks = (2 * np.arange(5) + 1) / 10
    centers = [(x, y) for x in ticks for y in ticks]
    centers += [(x, y) for x in (0.2, 0.4, 0.6, 0.8) for y in (0.2, 0.4)][: count - 25]
    radii = [0.1 * (1 - 1e-9)] * 25 + [0.0] * (count - 25)
    metrics = verify(name, {"centers": np.array(centers), "radii": np.array(radii)})
    assert metrics["sum_radii"] == pytest.approx(2.5)
    assert metrics["combined_score"] > seed_score(name)


def _set(key: str, index: tuple[int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(packing: dict[str, Any]) -> None:
        if isinstance(value, complex):
            packing[key] = packing[key].astype(complex)
        packing[key][index] = value

    return change


@pytest.mark.parametrize(("name", "count"), [("circle_packing_26", 26), ("circle_packing_32", 32)])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("radii", (5,), 0.125 + 1e-12), "overlap"),  # disk 5 touches four neighbours
        (_set("centers", (0, 0), 0.125 - 1e-12), "unit square"),  # 1e-12 through the wall
        (
            _set("centers", (3, 1), 1.2),  # the numbers as plain floats, not np.float64(...)
            r"disk 3 \(centre \([\d.]+, 1\.2\), radius [\d.]+\) is not inside the unit square",
        ),
        (_set("radii", (20,), -0.01), "negative"),
        (_set("radii", (20,), 1e-310), "subnormal"),
        (_set("radii", (2,), float("nan")), "NaN"),
        (_set("centers", (2, 1), float("inf")), "NaN or infinite"),
        (_set("radii", (2,), 0.1 + 0j), "complex"),
        (lambda p: p.update(radii=p["radii"][:-1]), "shape"),
        (lambda p: p.update(centers=p["centers"][:, :1]), "shape"),
        (lambda p: p.update(radii="0.1"), "numeric"),
    ],
)
def test_circle_packing_rejects(
    name: str, count: int, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    packing = grid_packing(count)
    change(packing)
    construction = {key: np.asarray(value).tolist() for key, value in packing.items()}
    if np.iscomplexobj(packing["radii"]):  # JSON cannot carry complex: check it directly
        with pytest.raises(ValueError, match=message):
            evaluator(name).verify({"construction": packing})
        return
    with pytest.raises(ValueError, match=message):
        verify(name, construction)


# --- Heilbronn triangle -------------------------------------------------------------------


def ellipse_points(centre_y: float, radius_x: float, radius_y: float, phase: float) -> np.ndarray:
    angles = phase + 2.0 * np.pi * np.arange(11) / 11
    return np.stack([0.5 + radius_x * np.cos(angles), centre_y + radius_y * np.sin(angles)], 1)


def test_heilbronn_better_ellipse_beats_the_seed() -> None:
    points = ellipse_points(0.27, 0.3, 0.275, 0.4071428571428571)
    metrics = verify("heilbronn_triangle_11", {"points": points})
    assert metrics["min_area_ratio"] == pytest.approx(0.0163518, rel=1e-5)
    assert metrics["combined_score"] > seed_score("heilbronn_triangle_11")


def test_heilbronn_counts_corners_and_sides_as_inside() -> None:
    points = ellipse_points(0.2887, 0.2, 0.2, 0.3)
    points[0], points[1], points[2] = (0.0, 0.0), (1.0, 0.0), (0.5, 0.0)
    metrics = verify("heilbronn_triangle_11", {"points": points})
    assert metrics["boundary_points"] == 3
    assert metrics["min_area_ratio"] == 0.0  # three collinear points on the base


def test_heilbronn_area_is_exact() -> None:
    points = ellipse_points(0.2887, 0.27, 0.27, 0.3)
    exact = [(Fraction(x), Fraction(y)) for x, y in points.tolist()]
    twice = min(
        abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]))
        for a, b, c in itertools.combinations(exact, 3)
    )
    metrics = verify("heilbronn_triangle_11", {"points": points})
    assert metrics["min_area_ratio"] == float(2 * twice) / math.sqrt(3.0)


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ((0.5, -1e-12), "outside"),  # below the base
        ((0.25 - 1e-12, 0.25 * math.sqrt(3.0)), "outside"),  # 1e-12 left of the left side
        ((0.75 + 1e-12, 0.25 * math.sqrt(3.0)), "outside"),  # 1e-12 right of the right side
        ((0.5, math.sqrt(3.0) / 2 + 1e-12), "outside"),  # above the apex
        ((-1e-300, 0.0), "outside"),
        ((float("nan"), 0.2), "NaN"),
        ((0.5, float("inf")), "NaN or infinite"),
    ],
)
def test_heilbronn_rejects_points_outside_or_invalid(
    point: tuple[float, float], message: str
) -> None:
    points = ellipse_points(0.2887, 0.27, 0.27, 0.3)
    points[4] = point
    with pytest.raises(ValueError, match=message):
        verify("heilbronn_triangle_11", {"points": points})


def test_heilbronn_rejects_wrong_count() -> None:
    points = ellipse_points(0.2887, 0.27, 0.27, 0.3)
    with pytest.raises(ValueError, match="shape"):
        verify("heilbronn_triangle_11", {"points": points[:10]})


# --- min/max distance ratio ----------------------------------------------------------------


def lattice_patch(row_step: float, row_shift: float) -> np.ndarray:
    return np.array([(c + r * row_shift, r * row_step) for r in range(4) for c in range(4)])


def test_min_max_distance_hexagonal_patch_beats_the_seed() -> None:
    square = verify("min_max_distance_16", {"points": lattice_patch(1.0, 0.0)})
    assert square["ratio_squared"] == 18.0
    rows = [3, 4, 5, 4]  # centred rows of the triangular lattice: a rounder patch
    points = [(i - (n - 1) / 2, r * math.sqrt(3) / 2) for r, n in enumerate(rows) for i in range(n)]
    hexagonal = verify("min_max_distance_16", {"points": np.array(points)})
    assert hexagonal["ratio_squared"] == pytest.approx(16.0)
    assert hexagonal["combined_score"] > seed_score("min_max_distance_16")


def test_min_max_distance_is_scale_and_shift_invariant() -> None:
    points = lattice_patch(0.9, 0.3)
    base = verify("min_max_distance_16", {"points": points})["ratio_squared"]
    moved = verify("min_max_distance_16", {"points": points * 1e-3 + 7.0})["ratio_squared"]
    assert moved == pytest.approx(base, rel=1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.__setitem__(3, p[2]), "coincide"),
        (lambda p: p.__setitem__((3, 0), p[2, 0] + 1e-200), "coincide"),
        (lambda p: p.__setitem__((3, 0), float("nan")), "NaN"),
        (lambda p: p.__setitem__((3, 0), 1e7), r"\[-1e\+06"),
    ],
)
def test_min_max_distance_rejects(change: Callable[[np.ndarray], None], message: str) -> None:
    points = lattice_patch(1.0, 0.05)
    change(points)
    with pytest.raises(ValueError, match=message):
        verify("min_max_distance_16", {"points": points})


def test_min_max_distance_rejects_wrong_count() -> None:
    with pytest.raises(ValueError, match="shape"):
        verify("min_max_distance_16", {"points": lattice_patch(1.0, 0.05)[:15]})


# --- autocorrelation -------------------------------------------------------------------------


def test_autocorrelation_asymmetric_function_beats_the_seed() -> None:
    metrics = verify("autocorrelation_1", {"heights": [5, 2, 8, 5]})
    assert metrics["ratio"] == pytest.approx(1.68)
    assert metrics["combined_score"] > seed_score("autocorrelation_1")


def test_autocorrelation_symmetric_function_cannot_beat_two() -> None:
    heights = 1.0 + np.cos(np.linspace(-1.0, 1.0, 31)) ** 2
    assert verify("autocorrelation_1", {"heights": heights})["ratio"] >= 2.0


def test_autocorrelation_ratio_is_scale_invariant() -> None:
    small = verify("autocorrelation_1", {"heights": [5e-300, 2e-300, 8e-300, 5e-300]})
    large = verify("autocorrelation_1", {"heights": [5e300, 2e300, 8e300, 5e300]})
    assert small["ratio"] == pytest.approx(1.68) and large["ratio"] == pytest.approx(1.68)


@pytest.mark.parametrize(
    ("heights", "message"),
    [
        ([1.0, -1e-12, 1.0], "negative"),
        ([1.0, float("nan")], "NaN"),
        ([1.0, float("inf")], "NaN or infinite"),
        ([1.0, 1e-310], "subnormal"),
        ([0.0, 0.0], "zero"),
        ([], "1 to 10000"),
        ([[1.0, 2.0]], "1-D"),
        ([1.0] * 10_001, "1 to 10000"),
        (["1.0"], "numeric"),
    ],
)
def test_autocorrelation_rejects(heights: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verify("autocorrelation_1", {"heights": heights})


# --- Erdős minimum overlap ---------------------------------------------------------------------


def overlap_at(h: np.ndarray, shift: float) -> float:
    """integral h(x) (1 - h(x + shift)) over x with x + shift in [0, 2], cell by cell."""
    width = 2.0 / h.size
    total = 0.0
    for i, hi in enumerate(h):
        for j, hj in enumerate(h):
            # cell i of h against cell j of the complement moved left by ``shift``
            low = max(i * width, j * width - shift)
            high = min((i + 1) * width, (j + 1) * width - shift)
            total += hi * (1.0 - hj) * max(0.0, high - low)
    return total


def test_erdos_maximum_over_all_shifts_is_at_a_grid_shift() -> None:
    rng = np.random.default_rng(7)
    h = rng.random(6)
    h *= 3.0 / h.sum()
    assert h.max() <= 1.0
    metrics = verify("erdos_min_overlap", {"values": h})
    width = 2.0 / h.size
    on_grid = max(overlap_at(h, j * width) for j in range(-5, 6))
    assert metrics["max_overlap"] == pytest.approx(on_grid, rel=1e-12)
    for shift in np.linspace(-2.0, 2.0, 401):  # off-grid shifts never exceed it
        assert overlap_at(h, shift) <= on_grid + 1e-12
    for j in range(-5, 5):  # and the overlap is linear between grid shifts
        for t in (0.25, 0.5):
            middle = overlap_at(h, (j + t) * width)
            ends = (1 - t) * overlap_at(h, j * width) + t * overlap_at(h, (j + 1) * width)
            assert middle == pytest.approx(ends, abs=1e-12)


def test_erdos_better_function_beats_the_seed() -> None:
    metrics = verify("erdos_min_overlap", {"values": [0.2, 0.4, 0.8, 0.6, 0.4, 0.2]})
    assert metrics["max_overlap"] == pytest.approx(0.396449704, rel=1e-8)
    assert metrics["combined_score"] > seed_score("erdos_min_overlap")


def test_erdos_rescales_to_unit_integral() -> None:
    quarter = verify("erdos_min_overlap", {"values": [0.25] * 8})
    half = verify("erdos_min_overlap", {"values": [0.5] * 8})
    assert quarter["max_overlap"] == half["max_overlap"] == 0.5


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.5, 1.0 + 1e-12, 0.5], "outside"),
        ([0.5, -1e-12, 0.5], "outside"),
        ([1.0, 0.1, 0.1, 0.1], "> 1"),  # integral 1 would need values above 1
        ([0.0, 0.0], "zero"),
        ([0.5, float("nan")], "NaN"),
        ([0.5, float("inf")], "NaN or infinite"),
        ([], "1 to 10000"),
        ([0.5] * 10_001, "1 to 10000"),
    ],
)
def test_erdos_rejects(values: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verify("erdos_min_overlap", {"values": values})


# --- 2**x approximation -----------------------------------------------------------------------


def horner_steps(coefficients: list[float]) -> list[list[Any]]:
    """Horner steps for sum c_k x^k given highest degree first (2 d steps for degree d)."""
    steps: list[list[Any]] = [["*", "x", coefficients[0]]]
    for c in coefficients[1:-1]:
        steps.append(["+", f"r{len(steps) - 1}", c])
        steps.append(["*", f"r{len(steps) - 1}", "x"])
    steps.append(["+", f"r{len(steps) - 1}", coefficients[-1]])
    return steps


def test_exp2_least_squares_polynomial_beats_the_taylor_seed() -> None:
    x = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, 200))  # Chebyshev-like nodes on [0, 1]
    coefficients = np.polyfit(x, np.exp2(x), 5, w=np.exp2(-x)).tolist()
    metrics = verify("exp2_approximation", {"steps": horner_steps(coefficients)})
    assert metrics["num_ops"] == 10
    assert metrics["digits"] > 6.5
    assert metrics["combined_score"] > seed_score("exp2_approximation")


def test_exp2_exact_at_a_point_is_scored_on_the_whole_grid() -> None:
    metrics = verify("exp2_approximation", {"steps": [["+", "x", 1.0]]})  # exact at 0 and 1
    worst = 1.0 / math.log(2.0) - 1.0  # where (1 + x) / 2**x peaks
    assert metrics["max_rel_error"] == pytest.approx((1.0 + worst) / 2.0**worst - 1.0, rel=1e-9)
    assert metrics["worst_x"] == pytest.approx(worst, abs=1e-5)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([["+", "x", 1.0]] * 11, "1 to 10 steps"),
        ([], "1 to 10 steps"),
        ([["/", 1.0, "x"]], "division by zero"),
        ([["-", "x", 0.123456789012345], ["/", 1e-30, "r0"], ["+", "r1", 1.0]], "vanish"),
        ([["*", "x", "x"], ["-", "r0", 0.3], ["*", "r1", "r1"], ["/", 1.0, "r2"]], "vanish"),
        ([["+", "x", "r0"]], "earlier step"),
        ([["+", "x", "r1"], ["+", "x", 1.0]], "earlier step"),
        ([["^", "x", 2.0]], "one of"),
        ([["+", "y", 1.0]], "not 'x'"),
        ([["+", "x", True]], "real number"),
        ([["+", "x", float("nan")]], "not finite"),
        ([["+", "x", 1e-310]], "subnormal"),
        ([["*", "x", 1e300], ["*", "r0", 1e300]], "non-finite"),
        ([["+", "x"]], r"\[op, a, b\]"),
        ("x + 1", "must be a list"),
    ],
)
def test_exp2_rejects(steps: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verify("exp2_approximation", {"steps": steps})
