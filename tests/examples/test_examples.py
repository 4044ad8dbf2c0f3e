"""The shipped examples and the ``evoforge init`` template: seeds score as documented and
the trusted evaluators reject invalid constructions.

Isolated evaluators call the program through :class:`LocalCandidate` in the fast tests and
through the real :class:`ProblemEvaluator` (two jailed processes) for the seed scores and
for programs that try to read their problem directory."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from evoforge.blocks import split_blocks
from evoforge.config import load_yaml_mapping, validate_config
from evoforge.evaluation.channel import CandidateError
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.program import EvalStatus, EvaluationResult

ROOT = Path(__file__).resolve().parents[2]
CIRCLE_PACKING = ROOT / "examples" / "circle_packing"
FUNCTION_MINIMIZATION = ROOT / "examples" / "function_minimization"
BIN_PACKING = ROOT / "examples" / "bin_packing"
INIT_TEMPLATE = ROOT / "evoforge" / "templates" / "init"
PROBLEM_DIRS = [CIRCLE_PACKING, FUNCTION_MINIMIZATION, BIN_PACKING, INIT_TEMPLATE]


def load_evaluator(problem_dir: Path) -> ModuleType:
    """Import ``problem_dir/evaluator.py`` with its folder on sys.path, as the sandbox does."""
    sys.path.insert(0, str(problem_dir))
    try:
        spec = importlib.util.spec_from_file_location(
            f"evaluator_{problem_dir.name}", problem_dir / "evaluator.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(problem_dir))


def seed_output(problem_dir: Path) -> dict[str, object]:
    """What the evaluator returns for the seed (isolated form: through a LocalCandidate)."""
    module = load_evaluator(problem_dir)
    seed = problem_dir / "initial_program.py"
    if hasattr(module, "evaluate_candidate"):
        output: dict[str, object] = module.evaluate_candidate(LocalCandidate(seed))
    else:
        output = module.evaluate(str(seed))
    return output


def sandboxed(problem_dir: Path, code: str) -> EvaluationResult:
    """``code`` evaluated the real way, with the problem's own evaluator settings."""
    config = validate_config(load_yaml_mapping(problem_dir / "config.yaml"), str(problem_dir))
    return ProblemEvaluator(problem_dir / "evaluator.py", config.evaluator).evaluate(code)


def spying_on(problem_dir: Path, function: str) -> str:
    """The seed with ``function`` wrapped so that it first reads the problem's evaluator."""
    return (problem_dir / "initial_program.py").read_text(encoding="utf-8") + (
        f"\n\n_seed_{function} = {function}\n\n\ndef {function}(*args):\n"
        f"    with open({str(problem_dir / 'evaluator.py')!r}) as handle:\n"
        "        handle.read()\n"
        f"    return _seed_{function}(*args)\n"
    )


def assert_cannot_read(problem_dir: Path, function: str) -> None:
    """The spying seed runs where the evaluator is readable, and fails in the jail."""
    if filesystem_isolation() != "mountns":
        pytest.skip("no filesystem jail on this machine")
    result = sandboxed(problem_dir, spying_on(problem_dir, function))
    assert result.status is EvalStatus.FAILED
    assert (result.reason or "").startswith("FileNotFoundError: in the candidate")


def write_program(tmp_path: Path, code: str) -> str:
    path = tmp_path / "candidate.py"
    path.write_text(code, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("problem_dir", PROBLEM_DIRS, ids=lambda p: p.name)
def test_problem_dir_is_complete(problem_dir: Path) -> None:
    for name in ("initial_program.py", "evaluator.py", "config.yaml", "README.md"):
        assert (problem_dir / name).is_file(), name
    code = (problem_dir / "initial_program.py").read_text(encoding="utf-8")
    assert "# EVOLVE-BLOCK-START" in code and "# EVOLVE-BLOCK-END" in code
    segments = split_blocks(code)
    assert len(segments.blocks) >= 1
    assert segments.join() == code


@pytest.mark.parametrize("problem_dir", PROBLEM_DIRS, ids=lambda p: p.name)
def test_config_is_valid(problem_dir: Path) -> None:
    from evoforge.config import load_yaml_mapping, validate_config

    validate_config(load_yaml_mapping(problem_dir / "config.yaml"), str(problem_dir))


@pytest.mark.parametrize("problem_dir", PROBLEM_DIRS, ids=lambda p: p.name)
def test_metrics_are_plain_numbers(problem_dir: Path) -> None:
    metrics = seed_output(problem_dir)
    assert "combined_score" in metrics
    metrics.pop("construction", None)  # what a trusted verify() scores, not a metric
    for name, value in metrics.items():
        assert type(value) in (int, float), (name, type(value))
        assert np.isfinite(value), name


# --- circle packing -----------------------------------------------------------------


@pytest.fixture(scope="module")
def circles() -> ModuleType:
    return load_evaluator(CIRCLE_PACKING)


def test_circle_packing_verify_rescores_the_construction(circles: ModuleType) -> None:
    output = circles.evaluate_candidate(LocalCandidate(CIRCLE_PACKING / "initial_program.py"))
    output["combined_score"] = 99.0  # what a candidate that patched evaluate() might claim
    assert circles.verify(output)["combined_score"] == pytest.approx(2.121537, abs=1e-6)
    output["construction"]["radii"][0] += 0.5  # an overlap, introduced after evaluate
    with pytest.raises(ValueError, match=r"overlap|not inside"):
        circles.verify(output)
    with pytest.raises(ValueError, match="construction"):
        circles.verify({"combined_score": 3.0})


def test_circle_packing_seed_score(circles: ModuleType) -> None:
    metrics = circles.evaluate_candidate(LocalCandidate(CIRCLE_PACKING / "initial_program.py"))
    assert metrics["combined_score"] == pytest.approx(2.121537, abs=1e-6)
    assert metrics["sum_radii"] == metrics["combined_score"]
    assert metrics["target_ratio"] == pytest.approx(2.121537 / 2.635983, abs=1e-6)
    assert metrics["min_radius"] > 0.0
    assert metrics["min_gap"] >= 0.0


def grid_packing() -> tuple[np.ndarray, np.ndarray]:
    """A feasible packing with exactly representable numbers and touching disks: a 4 x 4
    grid of radius-1/8 disks plus ten radius-0 points in the gaps and a corner."""
    ticks = np.array([0.125, 0.375, 0.625, 0.875])
    gaps = np.array([0.25, 0.5, 0.75])
    disks = [(x, y) for x in ticks for y in ticks]
    points = [(x, y) for x in gaps for y in gaps] + [(0.0, 0.0)]
    centers = np.array(disks + points)
    radii = np.array([0.125] * 16 + [0.0] * 10)
    return centers, radii


def test_circle_packing_accepts_touching_disks(circles: ModuleType) -> None:
    centers, radii = grid_packing()
    metrics = circles.verify_packing(centers, radii)
    assert metrics["sum_radii"] == 2.0
    assert metrics["min_gap"] == 0.0


def test_circle_packing_rejects_tiny_overlap(circles: ModuleType) -> None:
    centers, radii = grid_packing()
    radii[5] += 1e-12  # disk 5 touches four neighbours exactly
    with pytest.raises(ValueError, match="overlap"):
        circles.verify_packing(centers, radii)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c, r: c.__setitem__((0, 0), 0.1249999), "unit square"),
        (
            lambda c, r: c.__setitem__((3, 1), 1.2),
            r"disk 3 \(centre \([\d.]+, 1\.2\), radius [\d.]+\) is not inside the unit square",
        ),
        (lambda c, r: r.__setitem__(4, np.nan), "NaN"),
        (lambda c, r: c.__setitem__((4, 0), np.inf), "NaN or infinite"),
        (lambda c, r: r.__setitem__(25, -1e-3), "negative radius"),
        (lambda c, r: r.__setitem__(25, 1e-320), "subnormal"),
    ],
    ids=["left wall", "top wall", "nan radius", "inf centre", "negative radius", "subnormal"],
)
def test_circle_packing_rejects_invalid(circles: ModuleType, mutate: object, message: str) -> None:
    centers, radii = grid_packing()
    mutate(centers, radii)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        circles.verify_packing(centers, radii)


def test_circle_packing_rejects_wrong_counts_and_types(circles: ModuleType) -> None:
    centers, radii = grid_packing()
    with pytest.raises(ValueError, match="shape"):
        circles.verify_packing(centers[:25], radii[:25])
    with pytest.raises(ValueError, match="shape"):
        circles.verify_packing(centers, radii[:, None])
    with pytest.raises(ValueError, match="complex"):
        circles.verify_packing(centers, radii.astype(complex))
    with pytest.raises(ValueError, match="numeric"):
        circles.verify_packing(centers, np.array(["a"] * 26))


def test_circle_packing_evaluate_candidate_calls_the_candidate(circles: ModuleType) -> None:
    overlapping = (
        "import numpy as np\n"
        "def construct_packing():\n"
        "    return np.full((26, 2), 0.5), np.full(26, 0.1)\n"
    )
    with pytest.raises(ValueError, match="overlap"):
        circles.evaluate_candidate(LocalCandidate(code=overlapping))
    broken = "def construct_packing():\n    raise RuntimeError('boom')\n"
    with pytest.raises(Exception, match="boom"):
        circles.evaluate_candidate(LocalCandidate(code=broken))
    for answer in ("None", "(1.0, 2.0, 3.0)", "'packing'"):
        code = f"def construct_packing():\n    return {answer}\n"
        with pytest.raises(ValueError, match="pair"):
            circles.evaluate_candidate(LocalCandidate(code=code))
    with pytest.raises(AttributeError, match="construct_packing"):
        circles.evaluate_candidate(LocalCandidate(code="def other():\n    return 1\n"))


def test_circle_packing_seed_scores_through_the_sandbox() -> None:
    result = sandboxed(CIRCLE_PACKING, (CIRCLE_PACKING / "initial_program.py").read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(2.121537, abs=1e-6)
    assert result.metrics["target_ratio"] == pytest.approx(2.121537 / 2.635983, abs=1e-6)


def test_circle_packing_program_cannot_read_the_problem_directory(circles: ModuleType) -> None:
    spying = spying_on(CIRCLE_PACKING, "construct_packing")
    readable = circles.evaluate_candidate(LocalCandidate(code=spying))  # no jail here
    assert readable["combined_score"] == pytest.approx(2.121537, abs=1e-6)
    assert_cannot_read(CIRCLE_PACKING, "construct_packing")


# --- bin packing --------------------------------------------------------------------

BIN_PACKING_SEED_EXCESS = 5.367793240556666  # best fit on OR3: 212.0 bins vs L1 201.2


@pytest.fixture(scope="module")
def bins() -> ModuleType:
    return load_evaluator(BIN_PACKING)


def packing_program(body: str, adapter: bool = True) -> str:
    """A program whose ``priority`` runs ``body``: the seed with its evolve block replaced
    (so with the seed's frozen ``choose_bins`` adapter), or just ``priority``."""
    block = f"import numpy as np\n\nSEEN = []\n\n\ndef priority(item, bins):\n    {body}\n\n\n"
    if not adapter:
        return block
    head, rest = (BIN_PACKING / "initial_program.py").read_text().split("# EVOLVE-BLOCK-START\n")
    _, tail = rest.split("# EVOLVE-BLOCK-END\n")
    return f"{head}# EVOLVE-BLOCK-START\n{block}# EVOLVE-BLOCK-END\n{tail}"


def test_bin_packing_best_fit_matches_reference(bins: ModuleType) -> None:
    metrics = bins.evaluate_candidate(LocalCandidate(BIN_PACKING / "initial_program.py"))
    assert metrics["excess_percent"] == pytest.approx(BIN_PACKING_SEED_EXCESS, abs=1e-12)
    assert metrics["combined_score"] == -metrics["excess_percent"]
    assert metrics["mean_l1_bound"] == pytest.approx(201.2)
    assert metrics["mean_bins"] == 212.0
    plain = LocalCandidate(code=packing_program("return -(bins - item)", adapter=False))
    assert bins.evaluate_candidate(plain) == metrics  # without the adapter: the same


def test_bin_packing_data_has_twenty_or3_instances(bins: ModuleType) -> None:
    instances = bins.load_instances()
    assert len(instances) == 20
    assert all(capacity == 150.0 and len(items) == 500 for _, capacity, items in instances)


@pytest.mark.parametrize("adapter", [True, False], ids=["adapter", "batches"])
def test_bin_packing_loop_opens_bins_only_when_needed(bins: ModuleType, adapter: bool) -> None:
    best_fit = LocalCandidate(code=packing_program("return -(bins - item)", adapter))
    assert bins.pack_all(best_fit, [(10.0, np.array([6.0, 4.0, 6.0, 3.0, 1.0]))]) == [2]


@pytest.mark.parametrize("adapter", [True, False], ids=["adapter", "batches"])
def test_bin_packing_instances_in_lockstep_pack_as_they_would_alone(
    bins: ModuleType, adapter: bool
) -> None:
    # Each instance gets the calls (item, feasible bins) and the packing it gets alone,
    # however the instances are interleaved; the last feasible bin skips never-used bins.
    for rule in ("-(bins - item)", "np.arange(len(bins)) * 1.0"):
        code = packing_program(f"SEEN.append((item, bins.tolist()))\n    return {rule}", adapter)
        instances = [
            (10.0, np.array([6.0, 4.0, 6.0, 3.0, 1.0])),
            (8.0, np.array([5.0, 5.0])),
            (10.0, np.array([2.0, 9.0, 2.0, 7.0])),
        ]
        together = LocalCandidate(code=code)
        used = bins.pack_all(together, instances)
        alone_calls = []
        for instance, count in zip(instances, used, strict=True):
            alone = LocalCandidate(code=code)
            assert bins.pack_all(alone, [instance]) == [count]
            alone_calls.append(alone._module.SEEN)
        if rule.startswith("-"):  # best fit
            assert used == [2, 2, 3]
        seen = together._module.SEEN
        assert sorted(seen) == sorted(call for calls in alone_calls for call in calls)
        assert seen[:3] == [calls[0] for calls in alone_calls]  # one round trip


@pytest.mark.parametrize("adapter", [True, False], ids=["adapter", "batches"])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return np.zeros(len(bins) + 1)", "shape"),
        ("return -item", "shape"),
        ("return np.full(len(bins), np.nan)", "NaN"),
        ("return np.full(len(bins), np.inf)", "infinite"),
        ("return bins.astype(complex)", "real"),
        ("return [str(b) for b in bins]", "numbers"),
        ("raise RuntimeError('boom')", "boom"),
    ],
    ids=["too long", "scalar", "nan", "inf", "complex", "text", "raises"],
)
def test_bin_packing_rejects_bad_priorities(
    bins: ModuleType, body: str, message: str, adapter: bool
) -> None:
    # checked in the evaluator (ValueError), or in the program's adapter (CandidateError)
    expected = CandidateError if adapter or "raise" in body else ValueError
    with pytest.raises(expected, match=message):
        bins.evaluate_candidate(LocalCandidate(code=packing_program(body, adapter)))


def test_bin_packing_checks_the_adapters_answer(bins: ModuleType) -> None:
    for answer, message in (("[0, 0]", "one per instance"), ("[7]", "index"), ("[0.0]", "index")):
        code = "def priority(item, bins):\n    return bins\n\n\n"
        code += (
            f"def choose_bins(items, counts, values, unused, capacities):\n    return {answer}\n"
        )
        with pytest.raises(ValueError, match=message):
            bins.pack_all(LocalCandidate(code=code), [(10.0, np.array([6.0, 4.0]))])


def test_bin_packing_refuses_a_program_without_priority(bins: ModuleType) -> None:
    with pytest.raises(AttributeError, match="priority"):
        bins.evaluate_candidate(LocalCandidate(code="def other():\n    return 1\n"))


def test_bin_packing_seed_scores_through_the_sandbox() -> None:
    result = sandboxed(BIN_PACKING, (BIN_PACKING / "initial_program.py").read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(-BIN_PACKING_SEED_EXCESS, abs=1e-12)
    assert result.metrics["mean_bins"] == 212.0


def test_bin_packing_program_cannot_read_the_problem_directory(bins: ModuleType) -> None:
    spying = spying_on(BIN_PACKING, "priority")
    readable = bins.evaluate_candidate(LocalCandidate(code=spying))  # no jail here
    assert readable["excess_percent"] == pytest.approx(BIN_PACKING_SEED_EXCESS, abs=1e-12)
    assert_cannot_read(BIN_PACKING, "priority")


# --- function minimisation ----------------------------------------------------------


@pytest.fixture(scope="module")
def minimisation() -> ModuleType:
    return load_evaluator(FUNCTION_MINIMIZATION)


def with_search(body: str) -> LocalCandidate:
    """The seed program with ``search_algorithm`` replaced by one whose body is ``body``."""
    seed = (FUNCTION_MINIMIZATION / "initial_program.py").read_text(encoding="utf-8")
    head, rest = seed.split("# EVOLVE-BLOCK-START\n")
    _, tail = rest.split("# EVOLVE-BLOCK-END\n")
    search = f"def search_algorithm(iterations, bounds):\n    {body}\n\n\n"
    return LocalCandidate(code=f"{head}# EVOLVE-BLOCK-START\n{search}# EVOLVE-BLOCK-END\n{tail}")


def test_function_minimization_seed_score(minimisation: ModuleType) -> None:
    seed = FUNCTION_MINIMIZATION / "initial_program.py"
    candidate = LocalCandidate(seed)
    metrics = minimisation.evaluate_candidate(candidate)
    assert metrics["combined_score"] == pytest.approx(0.5610, abs=5e-5)
    assert metrics["mean_calls"] == minimisation.ITERATIONS
    assert candidate.calls == len(minimisation.SEEDS)  # one batch: one call per seed
    assert minimisation.evaluate_candidate(LocalCandidate(seed)) == metrics  # deterministic


def test_function_minimization_seed_scores_through_the_sandbox() -> None:
    seed = (FUNCTION_MINIMIZATION / "initial_program.py").read_text()
    result = sandboxed(FUNCTION_MINIMIZATION, seed)
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(0.5610, abs=5e-5)
    assert result.metrics["mean_calls"] == 1000.0


def test_function_minimization_program_cannot_read_the_problem_directory() -> None:
    assert_cannot_read(FUNCTION_MINIMIZATION, "run_search")


def test_function_minimization_runs_are_seeded_in_the_program(minimisation: ModuleType) -> None:
    # Each run starts from its own seed, whatever the runs before it drew.
    candidate = with_search(
        "SEEN.append((float(np.random.uniform(-1.0, 1.0)), random.random()))\n"
        "    return 0.0, 0.0, 0.0"
    )
    seen: list[tuple[float, float]] = []
    candidate._module.SEEN = seen
    assert minimisation.evaluate_candidate(candidate)["mean_calls"] == 0.0
    expected = []
    for seed in minimisation.SEEDS:
        np.random.seed(seed)
        random.seed(seed)
        expected.append((float(np.random.uniform(-1.0, 1.0)), random.random()))
    assert seen == expected


def test_function_minimization_known_minimum(minimisation: ModuleType) -> None:
    """The stored global minimum beats every point of a dense grid over the bounds."""
    grid = np.linspace(-5.0, 5.0, 801)
    x, y = np.meshgrid(grid, grid)
    values = 0.05 * (x * x + y * y) + np.sin(3 * x + 1) * np.cos(2 * y - 0.5) + 0.3 * np.sin(x * y)
    assert values.min() >= minimisation.GLOBAL_MIN_VALUE
    assert minimisation.objective(
        minimisation.GLOBAL_MIN_X, minimisation.GLOBAL_MIN_Y
    ) == pytest.approx(minimisation.GLOBAL_MIN_VALUE, abs=1e-12)


def test_function_minimization_perfect_search_scores_one(minimisation: ModuleType) -> None:
    candidate = with_search(
        f"x, y = {minimisation.GLOBAL_MIN_X!r}, {minimisation.GLOBAL_MIN_Y!r}\n"
        "    return x, y, evaluate_function(x, y)"
    )
    metrics = minimisation.evaluate_candidate(candidate)
    assert metrics["combined_score"] == pytest.approx(1.0)
    assert metrics["mean_calls"] == 1.0


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ("return 9.0, 0.0, -100.0", ValueError, "outside the bounds"),
        ("return float('nan'), 0.0, 0.0", ValueError, "not finite"),
        ("return 0.0, 0.0", ValueError, "tuple"),
        ("return '0.0', 0.0, 0.0", ValueError, "real number"),
        (
            "[evaluate_function(0.0, 0.0) for _ in range(iterations + 1)]\n"
            "    return 0.0, 0.0, 0.0",
            Exception,  # raised in the program: the channel's CandidateError
            "more than 1000 times",
        ),
        (
            "try:\n"
            "        [evaluate_function(0.0, 0.0) for _ in range(iterations + 1)]\n"
            "    except RuntimeError:\n"
            "        pass\n"
            "    return 0.0, 0.0, 0.0",
            RuntimeError,  # the budget error swallowed: the reported count still refuses it
            "more than 1000 times",
        ),
    ],
    ids=["out of bounds", "nan", "wrong arity", "text", "over budget", "over budget, caught"],
)
def test_function_minimization_rejects_invalid(
    minimisation: ModuleType, body: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        minimisation.evaluate_candidate(with_search(body))


@pytest.mark.parametrize("answer", ["None", "(0.0, 0.0, 0.0)", "((0.0, 0.0, 0.0), -1)"])
def test_function_minimization_rejects_a_malformed_run_answer(
    minimisation: ModuleType, answer: str
) -> None:
    code = f"def run_search(seed, iterations, bounds):\n    return {answer}\n"
    with pytest.raises(ValueError, match="run_search"):
        minimisation.evaluate_candidate(LocalCandidate(code=code))


def test_function_minimization_ignores_reported_value(minimisation: ModuleType) -> None:
    metrics = minimisation.evaluate_candidate(with_search("return 0.0, 0.0, -1000.0"))
    assert metrics["combined_score"] < 0.8


# --- init template ------------------------------------------------------------------


def test_init_template_seed_score() -> None:
    metrics = seed_output(INIT_TEMPLATE)
    assert metrics["rmse"] == pytest.approx(0.5563, abs=1e-3)
    assert metrics["combined_score"] == pytest.approx(0.152, abs=1e-3)


def test_init_template_seed_scores_through_the_sandbox() -> None:
    result = sandboxed(INIT_TEMPLATE, (INIT_TEMPLATE / "initial_program.py").read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(0.152, abs=1e-3)
    assert result.metrics["rmse"] == pytest.approx(0.5563, abs=1e-3)


def test_init_template_program_cannot_read_the_problem_directory() -> None:
    assert_cannot_read(INIT_TEMPLATE, "predict")


def test_init_template_rewards_a_better_fit() -> None:
    evaluator = load_evaluator(INIT_TEMPLATE)
    code = (INIT_TEMPLATE / "initial_program.py").read_text(encoding="utf-8")
    better = code.replace(
        "c0, c1, c2, c3 = 0.2, 1.0, 0.5, -0.1", "c0, c1, c2, c3 = 0.0, 1.742, 0.3, -0.775"
    )
    assert better != code
    seed_score = seed_output(INIT_TEMPLATE)["combined_score"]
    assert isinstance(seed_score, float)
    score = evaluator.evaluate_candidate(LocalCandidate(code=better))["combined_score"]
    assert score > seed_score + 0.3


@pytest.mark.parametrize(
    ("returned", "message"),
    [("x[:-1]", "shape"), ("x * float('nan')", "NaN"), ("float(x[0])", "shape")],
)
def test_init_template_refuses_bad_predictions(returned: str, message: str) -> None:
    code = f"def predict(x):\n    return {returned}\n"
    with pytest.raises(ValueError, match=message):
        load_evaluator(INIT_TEMPLATE).evaluate_candidate(LocalCandidate(code=code))


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    saved = list(sys.path)
    yield
    sys.path[:] = saved
