"""tune: literal perturbation, ints kept ints, CMA-ES from relatives, determinism."""

from __future__ import annotations

import ast
import dataclasses
import warnings

import numpy as np
import pytest
from operator_cases import (
    PROGRAMS,
    assert_valid_child,
    block_source,
    make_program,
    run_propose,
)

from evoforge.blocks import dedent_block
from evoforge.config import TuneConfig
from evoforge.operators.ast_tools import literal_sites, literal_skeleton, literal_vector
from evoforge.operators.tune import (
    MULTI_LANE,
    TuneOperator,
    attempted_steps,
    lane_of,
    single_share,
    step_odds,
    step_of,
    successful_steps,
)
from evoforge.program import EvalStatus, Program

FLOATS = """\
import math

# EVOLVE-BLOCK-START
def f(x):
    a = 1.5
    b = -0.25
    c = 0.0
    return a * math.cos(b * x) + c
# EVOLVE-BLOCK-END
"""

INTS = """\
# EVOLVE-BLOCK-START
def g(xs):
    total = 0
    for i in range(10):
        total += xs[2] * 3 - 7
    flag = True
    return total ** 2 + xs[1:4][0]
# EVOLVE-BLOCK-END
"""


NO_SINGLE = TuneConfig(single_moves=False)


def _literals(code: str, block: int = 0) -> list[tuple[type, float, bool]]:
    tree = ast.parse(dedent_block(block_source(code, block)))
    return [(type(s.value), s.value, s.in_subscript) for s in literal_sites(tree)]


def _relatives(count: int) -> list:
    """Scored programs with FLOATS's skeleton: better the closer a is to 2 and b to 0."""
    rng = np.random.default_rng(42)
    relatives = []
    for index in range(count):
        a, b, c = 1.5 + rng.normal(0, 0.3), -0.25 + rng.normal(0, 0.1), rng.normal(0, 0.1)
        code = (
            FLOATS.replace("1.5", f"{a:.4f}")
            .replace("-0.25", f"{b:.4f}")
            .replace("c = 0.0", f"c = {c:.4f}")
        )
        score = -((a - 2) ** 2) - b**2
        relatives.append(make_program(code, program_id=f"r{index}", score=score, seq=index + 1))
    relatives.sort(key=lambda program: -program.score)
    return relatives


def test_ints_stay_ints_and_move_by_at_least_one() -> None:
    operator = TuneOperator(TuneConfig(sigma=0.01))
    before = _literals(INTS)
    changed = 0
    for seed in range(10):
        child = assert_valid_child(INTS, run_propose(operator, INTS, seed), operator)
        after = _literals(child)
        assert len(after) == len(before)
        for (old_type, old, _), (new_type, new, _) in zip(before, after, strict=True):
            assert new_type is old_type is int
            if new != old:
                changed += 1
                assert abs(new - old) >= 1
    assert changed >= 10


def test_indexes_and_booleans_are_never_tuned() -> None:
    operator = TuneOperator()
    for seed in range(10):
        child = run_propose(operator, INTS, seed)
        assert child is not None
        indexes = [v for _, v, in_subscript in _literals(child.code) if in_subscript]
        assert indexes == [2, 1, 4, 0]
        assert "flag = True" in child.code


def test_float_steps_are_relative_and_zero_moves() -> None:
    operator = TuneOperator(TuneConfig(sigma=0.1, use_cma=False, single_moves=False))
    zero_moved = False
    for seed in range(20):
        child = run_propose(operator, FLOATS, seed)
        assert child is not None and "gauss" in child.note
        values = [v for _, v, _ in _literals(child.code)]
        assert all(isinstance(v, float) for v in values)
        a, b, c = values
        assert abs(a - 1.5) < 1.5 and abs(b + 0.25) < 0.25
        zero_moved |= c != 0.0
    assert zero_moved


def test_negative_literals_keep_precedence() -> None:
    code = "# EVOLVE-BLOCK-START\ny = -2.0 ** 2 + 3 ** -1.5\n# EVOLVE-BLOCK-END\n"
    operator = TuneOperator(TuneConfig(sigma=3.0))
    for seed in range(20):
        child = assert_valid_child(code, run_propose(operator, code, seed), operator)
        assert literal_skeleton(child) == literal_skeleton(code)


def test_max_literals_limits_changes() -> None:
    operator = TuneOperator(TuneConfig(max_literals=1, use_cma=False, single_moves=False))
    for seed in range(5):
        proposal = run_propose(operator, FLOATS, seed)
        assert proposal is not None
        before, after = _literals(FLOATS), _literals(proposal.code)
        assert sum(x != y for x, y in zip(before, after, strict=True)) == 1
        assert proposal.note.startswith("tune: 1 literal, gauss, step ")


def test_no_literals_gives_none() -> None:
    code = "# EVOLVE-BLOCK-START\ndef h(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    assert run_propose(TuneOperator(), code, 0) is None


def test_child_keeps_the_literal_skeleton() -> None:
    for code in PROGRAMS.values():
        child = run_propose(TuneOperator(), code, 5)
        assert child is not None
        assert literal_skeleton(child.code) == literal_skeleton(code)
        assert len(literal_vector(child.code)) == len(literal_vector(code))
        assert literal_vector(child.code) != literal_vector(code)


def test_a_child_is_given_its_parents_skeleton_without_one_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evoforge.operators import ast_tools

    computed: list[str] = []
    real_skeleton = ast_tools._skeleton

    def counting(text: str) -> str:
        computed.append(text)
        return real_skeleton(text)

    for seed, code in enumerate(PROGRAMS.values()):
        parent_skeleton = literal_skeleton(code)
        monkeypatch.setattr(ast_tools, "_skeleton", counting)
        child = run_propose(TuneOperator(), code, 100 + seed)
        assert child is not None
        assert literal_skeleton(child.code) == parent_skeleton
        monkeypatch.undo()
        assert child.code not in computed  # recorded from the parent, never computed


def test_skeleton_and_vector() -> None:
    assert literal_vector(FLOATS) == [1.5, -0.25, 0.0]
    other = FLOATS.replace("1.5", "7").replace("    a =", "    # comment\n    a =")
    assert literal_skeleton(other) == literal_skeleton(FLOATS)
    assert literal_skeleton(FLOATS.replace("a * math", "a + math")) != literal_skeleton(FLOATS)
    assert literal_vector("no markers") == []
    assert isinstance(literal_skeleton("not python ((("), str)


def test_cma_path_with_relatives_is_deterministic_and_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    operator = TuneOperator(TuneConfig(sigma=0.2))
    relatives = _relatives(9)
    global_state = np.random.get_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = run_propose(operator, FLOATS, 7, relatives=relatives)
        second = run_propose(operator, FLOATS, 7, relatives=relatives)
    assert first is not None and second is not None
    assert first.note.startswith("tune: 3 literals, cma, step ")
    assert first.code == second.code
    assert capsys.readouterr() == ("", "")
    assert np.array_equal(np.random.get_state()[1], global_state[1])  # numpy's global rng
    assert_valid_child(FLOATS, first, operator)
    assert literal_skeleton(first.code) == literal_skeleton(FLOATS)
    other_seed = run_propose(operator, FLOATS, 8, relatives=relatives)
    assert other_seed is not None and other_seed.code != first.code


def test_cma_moves_towards_better_relatives() -> None:
    operator = TuneOperator(TuneConfig(sigma=0.1, single_moves=False))
    relatives = _relatives(24)
    a_values = []
    for seed in range(20):
        proposal = run_propose(operator, FLOATS, seed, relatives=relatives)
        assert proposal is not None and "cma" in proposal.note
        a_values.append(literal_vector(proposal.code)[0])
    assert np.mean(a_values) > 1.5


def test_gaussian_fallbacks() -> None:
    relatives = _relatives(5)
    no_cma = run_propose(TuneOperator(TuneConfig(use_cma=False)), FLOATS, 1, relatives=relatives)
    assert no_cma is not None and no_cma.note.split(", ")[1] == "gauss"
    one_relative = run_propose(TuneOperator(NO_SINGLE), FLOATS, 1, relatives=relatives[:1])
    assert one_relative is not None and one_relative.note.split(", ")[1] == "gauss"
    # Relatives with another skeleton (different literal count) are ignored.
    strangers = [make_program(INTS, program_id=f"s{i}", score=1.0) for i in range(5)]
    mismatched = run_propose(TuneOperator(NO_SINGLE), FLOATS, 1, relatives=strangers)
    assert mismatched is not None and mismatched.note.split(", ")[1] == "gauss"
    unscored = [make_program(r.code, program_id=r.id) for r in relatives]
    no_scores = run_propose(TuneOperator(NO_SINGLE), FLOATS, 1, relatives=unscored)
    assert no_scores.note.split(", ")[1] == "gauss"
    # One float literal only: no covariance to adapt.
    single = INTS.replace("* 3 - 7", "* 3.5 - 7")
    proposal = run_propose(TuneOperator(NO_SINGLE), single, 1, relatives=relatives)
    assert proposal is not None and proposal.note.split(", ")[1] == "gauss"


def test_steps_span_the_configured_decades_and_fine_moves_survive_rounding() -> None:
    code = "# EVOLVE-BLOCK-START\nc = 0.693147180559945\n# EVOLVE-BLOCK-END\n"
    moves = []
    steps = []
    for seed in range(60):
        proposal = run_propose(TuneOperator(TuneConfig(sigma=0.1, step_decades=4)), code, seed)
        assert proposal is not None
        step = float(proposal.note.rsplit("step ", 1)[1])
        assert 1e-5 / 1.05 <= step <= 0.1 * 1.05
        steps.append(step)
        (child,) = literal_vector(proposal.code)
        moves.append(abs(child - 0.693147180559945) / 0.693147180559945)
    assert min(moves) > 0  # a step of 1e-5 is not rounded away
    assert max(moves) / min(moves) > 1e3
    assert sum(move < 1e-3 for move in moves) >= 3  # fine steps are tried
    # with no successful step in the lineage yet, the exploiting children take sigma itself
    at_sigma = sum(step == 0.1 for step in steps)
    assert 0.6 * 60 <= at_sigma <= 0.9 * 60
    fixed = run_propose(TuneOperator(TuneConfig(sigma=0.1, step_decades=0)), code, 0)
    assert fixed is not None and fixed.note.endswith("step 1.0e-01")


def test_successful_steps_come_from_tune_children_that_beat_their_parent() -> None:
    def child(pid: str, parent: str, score: float, seq: int, note: str, operator: str = "tune"):
        return dataclasses.replace(
            make_program(FLOATS, program_id=pid, score=score, seq=seq),
            parent_id=parent,
            operator=operator,
            reason=note,
            params={"step": float(note.rsplit("step ", 1)[1])},
        )

    relatives = [
        make_program(FLOATS, program_id="root", score=1.0, seq=1),
        child("better", "root", 2.0, 5, "tune: 2 literals, gauss, step 3.0e-05"),
        child("worse", "root", 0.5, 3, "tune: 1 literal, gauss, step 1.0e-01"),
        child("orphan", "gone", 9.0, 4, "tune: 1 literal, cma, step 2.0e-02"),
        child("mutant", "root", 3.0, 6, "mutate: swap + -> -, step 4.0e-03", "mutate"),
        child("older", "root", 1.5, 2, "tune: 3 literals, cma, step 7.0e-04"),
    ]
    assert successful_steps(relatives) == [(7.0e-04, 0.5), (3.0e-05, 1.0)]


def test_remembered_steps_are_reused_for_about_half_of_the_children() -> None:
    code = "# EVOLVE-BLOCK-START\nc = 0.693147180559945\n# EVOLVE-BLOCK-END\n"
    parent = make_program(code, program_id="root", score=1.0, seq=1)
    success = dataclasses.replace(
        make_program(code.replace("0.693147180559945", "0.69314718"), "kid", 2.0, 2),
        parent_id="root",
        operator="tune",
        reason="tune: 1 literal, gauss, step 3.0e-05",
        params={"step": 3.0e-05},
    )
    operator = TuneOperator(TuneConfig(sigma=0.1, step_decades=4))
    near = 0
    for seed in range(200):
        proposal = run_propose(operator, code, seed, relatives=[success, parent])
        assert proposal is not None
        step = float(proposal.note.rsplit("step ", 1)[1])
        near += 1e-5 <= step <= 1e-4
    # reuse (three in four, nearly all within a factor 3.3) plus a quarter of the uniform draws
    assert 0.6 * 200 < near < 0.9 * 200


def drawn_steps(operator: TuneOperator, code: str, relatives: list[Program]) -> list[float]:
    """The steps of 200 children of ``code`` (seeds 0-199), read from their notes."""
    steps = []
    for seed in range(200):
        proposal = run_propose(operator, code, seed, relatives=relatives)
        assert proposal is not None
        step = proposal.params["step"]
        assert proposal.note.endswith(f"step {step:.1e}")  # the typed step is the one shown
        steps.append(step)
    return steps


def test_remembered_steps_are_chosen_by_the_gain_they_made() -> None:
    code = "# EVOLVE-BLOCK-START\nc = 0.693147180559945\n# EVOLVE-BLOCK-END\n"
    parent = make_program(code, program_id="root", score=1.0, seq=1)

    def success(pid: str, seq: int, gain: float, step: str) -> Program:
        moved = code.replace("0.693147180559945", f"0.69{seq}")
        return dataclasses.replace(
            make_program(moved, pid, 1.0 + gain, seq),
            parent_id="root",
            operator="tune",
            reason=f"tune: 1 literal, gauss, step {step}",
            params={"step": float(step)},
        )

    # a big step that gained much, a tiny one that polished a far digit
    relatives = [success("big", 2, 1e-2, "5.0e-02"), success("tiny", 3, 1e-8, "2.0e-05"), parent]
    operator = TuneOperator(TuneConfig(sigma=0.1, step_decades=4))
    steps = drawn_steps(operator, code, relatives)
    near_big = sum(step >= 1e-2 for step in steps)  # reuse of "big" and the top decade
    near_tiny = sum(step <= 1e-4 for step in steps)  # uniform draws only (a quarter of them)
    assert near_big > 0.5 * 200
    assert near_tiny < 0.2 * 200


def test_a_step_whose_scale_mostly_breaks_the_program_loses_its_odds() -> None:
    code = "# EVOLVE-BLOCK-START\nc = 0.693147180559945\n# EVOLVE-BLOCK-END\n"
    parent = make_program(code, program_id="root", score=1.0, seq=1)

    def tried(pid: str, seq: int, step: str, gain: float | None) -> Program:
        moved = make_program(code.replace("0.693147180559945", f"0.69{seq}"), pid, None, seq)
        return dataclasses.replace(
            moved,
            score=None if gain is None else 1.0 + gain,
            status=EvalStatus.OK if gain is not None else EvalStatus.FAILED,
            parent_id="root",
            operator="tune",
            reason=f"tune: 1 literal, gauss, step {step}"
            + ("" if gain is not None else "\nValueError: point outside the triangle"),
            params={"step": float(step)},
        )

    # the big step gained twice as much once, but 9 of 10 children at its scale failed
    big = [tried("big", 2, "5.0e-02", 1e-2)]
    big += [tried(f"broke{i}", 10 + i, f"{4 + i % 3}.0e-02", None) for i in range(9)]
    small = [tried("small", 3, "2.0e-04", 5e-3), tried("flat", 4, "3.0e-04", -1e-6)]
    relatives = [*big, *small, parent]
    assert step_of(big[1]) == pytest.approx(0.04)  # the step survives the failure
    assert sorted(attempted_steps(relatives)) == sorted(
        [0.05, 2e-4, 3e-4] + [(4 + i % 3) * 1e-2 for i in range(9)]
    )
    odds = step_odds(successful_steps(relatives), attempted_steps(relatives))
    assert odds.tolist() == pytest.approx([1e-2 / 10, 5e-3 / 2])
    operator = TuneOperator(TuneConfig(sigma=0.1, step_decades=4))
    steps = drawn_steps(operator, code, relatives)
    near_small = sum(3e-5 <= step <= 2e-3 for step in steps)
    near_big = sum(step >= 1e-2 for step in steps)
    assert near_small > 0.5 * 200 and near_big < 0.3 * 200


def test_sigma_loses_its_share_when_tries_at_its_scale_keep_failing() -> None:
    code = "# EVOLVE-BLOCK-START\nc = 0.693147180559945\n# EVOLVE-BLOCK-END\n"
    parent = make_program(code, program_id="root", score=1.0, seq=1)
    failed = [
        dataclasses.replace(
            make_program(code.replace("0.693147180559945", f"0.7{i}"), f"f{i}", None, i + 2),
            status=EvalStatus.FAILED,
            parent_id="root",
            operator="tune",
            reason="tune: 1 literal, gauss, step 1.0e-01\nValueError: out of the domain",
            params={"step": 0.1},
        )
        for i in range(7)
    ]
    operator = TuneOperator(TuneConfig(sigma=0.1, step_decades=4))

    def share_at_sigma(relatives: list[Program]) -> float:
        steps = drawn_steps(operator, code, relatives)
        return sum(step == 0.1 for step in steps) / len(steps)

    assert share_at_sigma([parent]) > 0.65  # a fresh lineage: three in four try sigma
    assert share_at_sigma([*failed, parent]) < 0.25  # 1 in 7 of the exploiting children


def tune_child(
    code: str, pid: str, seq: int, gain: float | None, step: float, literal: int | None = None
) -> Program:
    """A scored (or, with ``gain`` None, failed) ``tune`` child of ``root`` (score 1.0);
    a single-literal move of ``literal`` unless it is None."""
    moved = make_program(code, pid, None if gain is None else 1.0 + gain, seq)
    params = {"step": step} if literal is None else {"step": step, "literal": float(literal)}
    return dataclasses.replace(
        moved,
        status=EvalStatus.OK if gain is not None else EvalStatus.FAILED,
        parent_id="root",
        operator="tune",
        params=params,
    )


def test_single_literal_children_move_one_literal_and_say_which() -> None:
    operator = TuneOperator(TuneConfig(sigma=0.1))  # on by default
    relatives = _relatives(9)
    singles = 0
    for seed in range(40):
        proposal = run_propose(operator, FLOATS, seed, relatives=relatives)
        assert proposal is not None
        if "single" not in proposal.note:
            assert "literal" not in proposal.params
            continue
        singles += 1
        before, after = literal_vector(FLOATS), literal_vector(proposal.code)
        moved = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
        assert moved == [int(proposal.params["literal"])]
        assert proposal.note.startswith(f"tune: literal #{moved[0]}, single, step ")
    assert 0.3 * 40 <= singles <= 0.7 * 40  # one half while no kind has gained
    # one literal only: nothing to choose, no single-literal lane; past eight literals
    # each literal's memory would rarely hold a try: none either
    lone = "# EVOLVE-BLOCK-START\nc = 0.693147180559945\n# EVOLVE-BLOCK-END\n"
    nine = "# EVOLVE-BLOCK-START\nc = [" + ", ".join(f"{k}.5" for k in range(9)) + "]\n"
    eight = nine.replace(", 8.5", "") + "# EVOLVE-BLOCK-END\n"
    nine += "# EVOLVE-BLOCK-END\n"
    for seed in range(10):
        proposal = run_propose(operator, lone, seed)
        assert proposal is not None and "literal" not in proposal.params
        proposal = run_propose(operator, nine, seed)
        assert proposal is not None and "literal" not in proposal.params
    assert any("literal" in run_propose(operator, eight, seed).params for seed in range(10))
    off = TuneOperator(TuneConfig(sigma=0.1, single_moves=False))
    for seed in range(10):
        proposal = run_propose(off, FLOATS, seed, relatives=relatives)
        assert proposal is not None and "single" not in proposal.note


def test_each_literal_draws_its_step_from_its_own_single_moves() -> None:
    # literal 0 gained with a big step, literal 2 with a tiny one, the several-literal
    # children with a middling one: each lane reuses its own
    root = make_program(FLOATS, program_id="root", score=1.0, seq=1)
    relatives = [
        root,
        tune_child(FLOATS, "big", 2, 1e-2, 5e-2, literal=0),
        tune_child(FLOATS, "tiny", 3, 1e-2, 2e-5, literal=2),
        tune_child(FLOATS, "multi", 4, 1e-2, 1e-3),
    ]
    assert [lane_of(p) for p in relatives] == [MULTI_LANE, 0, 2, MULTI_LANE]
    assert successful_steps(relatives, 0) == [(5e-2, pytest.approx(1e-2))]
    assert successful_steps(relatives, MULTI_LANE) == [(1e-3, pytest.approx(1e-2))]
    assert len(successful_steps(relatives)) == 3
    operator = TuneOperator(TuneConfig(sigma=0.1, step_decades=5, single_moves=True))
    by_lane: dict[int, list[float]] = {0: [], 1: [], 2: [], MULTI_LANE: []}
    for seed in range(300):
        proposal = run_propose(operator, FLOATS, seed, relatives=relatives)
        assert proposal is not None
        lane = int(proposal.params.get("literal", MULTI_LANE))
        by_lane[lane].append(proposal.params["step"])

    def share(steps: list[float], low: float, high: float) -> float:
        return sum(low <= step <= high for step in steps) / len(steps)

    assert all(len(steps) >= 30 for steps in by_lane.values())
    assert share(by_lane[0], 1e-2, 0.1) > 0.6
    assert share(by_lane[2], 2e-6, 2e-4) > 0.6
    assert share(by_lane[MULTI_LANE], 1e-4, 1e-2) > 0.6
    # literal 1 has no success of its own: sigma, or the uniform draw
    assert share(by_lane[1], 0.1, 0.1) > 0.5


def test_cma_replays_no_single_literal_children() -> None:
    # single-literal children far from the better relatives, scoring best of all: were
    # they replayed, CMA-ES would move a towards them
    def far(index: int, single: bool) -> Program:
        code = FLOATS.replace("1.5", f"{0.5 + 0.01 * index:.4f}")
        program = make_program(code, f"far{index}", 10.0 + index, 100 + index)
        params = {"step": 0.1, "literal": 0.0} if single else {"step": 0.1}
        return dataclasses.replace(program, operator="tune", parent_id="r0", params=params)

    operator = TuneOperator(TuneConfig(sigma=0.1, single_moves=False))  # CMA-ES every time

    def mean_a(extra: list[Program]) -> float:
        values = []
        for seed in range(20):
            proposal = run_propose(operator, FLOATS, seed, relatives=[*_relatives(24), *extra])
            assert proposal is not None and "cma" in proposal.note
            values.append(literal_vector(proposal.code)[0])
        return float(np.mean(values))

    assert mean_a([far(i, single=True) for i in range(8)]) > 1.5
    assert mean_a([far(i, single=False) for i in range(8)]) < 1.5


def test_the_share_of_single_moves_follows_their_gain_per_try() -> None:
    root = make_program(FLOATS, program_id="root", score=1.0, seq=1)
    assert single_share([root]) == 0.5
    paid_single = [
        root,
        tune_child(FLOATS, "s", 2, 4e-3, 1e-2, literal=1),
        tune_child(FLOATS, "sf", 3, None, 1e-2, literal=0),
        tune_child(FLOATS, "m", 4, 1e-3, 1e-3),
        tune_child(FLOATS, "mw", 5, -1e-3, 1e-3),
    ]
    # single: 4e-3 over 2 tries; several: 1e-3 over 2 tries
    assert single_share(paid_single) == pytest.approx(0.8)
    # several: 4e-3 + 6e-3 over 4 tries
    even = [*paid_single, tune_child(FLOATS, "m2", 6, 3e-3, 1e-3)]
    even += [tune_child(FLOATS, "m3", 7, 6e-3, 1e-3)]
    assert single_share(even) == pytest.approx((2e-3) / (2e-3 + 10e-3 / 4))
    only_multi = [root, tune_child(FLOATS, "m", 2, 1e-3, 1e-3)]
    assert single_share(only_multi) == pytest.approx(0.2)
    operator = TuneOperator(TuneConfig(sigma=0.1, single_moves=True))
    singles = sum(
        "single" in run_propose(operator, FLOATS, seed, relatives=only_multi).note
        for seed in range(100)
    )
    assert 10 <= singles <= 32


_CMA_PROBE = """
import sys
import numpy as np
if sys.argv[1] == "preloaded":
    import matplotlib.pyplot, scipy.stats
from evoforge.operators.tune import _cma_sample
x0 = np.array([0.5, 1.25, -0.75, 2.0])
draw = np.random.default_rng(7)
history = [(x0 + draw.normal(size=4) * 0.01, float(draw.random())) for _ in range(9)]
samples = [_cma_sample(x0, 0.05, history, np.random.default_rng(k)).tolist() for k in range(3)]
print(repr(samples))
print("matplotlib" in sys.modules, "scipy.stats" in sys.modules)
"""


def test_cma_is_imported_without_plots_and_samples_the_same() -> None:
    """A proposal worker imports cma without matplotlib and scipy.stats (a second of
    CPU each time a worker starts); the samples are those cma gives with them loaded,
    and a process that loaded them first keeps them."""
    import subprocess
    import sys

    def probe(mode: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _CMA_PROBE, mode],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.splitlines()

    lean, preloaded = probe("lean"), probe("preloaded")
    assert lean[0] == preloaded[0]
    assert lean[1] == "False False"
    assert preloaded[1] == "True True"


def test_cma_samples_equal_those_of_options_evaluated_by_cma_itself() -> None:
    """tune hands cma its options evaluated once per dimension and population size; every
    sample, from a cold cache or a warm one, is the one cma gives when it evaluates the
    same options itself at each start."""
    import math
    import warnings

    import cma

    from evoforge.operators.tune import _CMA_OPTIONS, _cma_sample

    def reference(
        x0: np.ndarray, sigma: float, history: list[tuple[np.ndarray, float]], seed: int
    ) -> list[float]:
        rng = np.random.default_rng(seed)
        popsize = max(2, min(4 + int(3 * math.log(len(x0))), len(history)))
        options = {
            "verbose": -9,
            "popsize": popsize,
            "randn": lambda *shape: rng.standard_normal(shape),
            "seed": float("nan"),
            "CMA_stds": list(np.where(np.abs(x0) > 1e-12, np.abs(x0), 1.0)),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strategy = cma.CMAEvolutionStrategy(list(x0), sigma, options)
            batches = [history[i : i + popsize] for i in range(0, len(history), popsize)]
            if len(batches[-1]) < popsize:
                batches[-1] = history[-popsize:]
            for batch in batches:
                strategy.ask()
                strategy.tell([v.copy() for v, _ in batch], [-score for _, score in batch])
            return [float(x) for x in strategy.ask(1)[0]]

    _CMA_OPTIONS.clear()
    draw = np.random.default_rng(11)
    for dimension, size, sigma in [(2, 3, 0.1), (4, 9, 0.05), (4, 9, 0.2), (7, 30, 0.01)]:
        x0 = draw.normal(size=dimension)
        history = [
            (x0 + draw.normal(size=dimension) * 0.02, float(draw.random())) for _ in range(size)
        ]
        for seed in range(3):  # the first call of a pair fills the cache, the others read it
            sample = _cma_sample(x0, sigma, history, np.random.default_rng(seed))
            assert sample is not None
            assert sample.tolist() == reference(x0, sigma, history, seed)
    assert set(_CMA_OPTIONS) == {(2, 3), (4, 8), (7, 9)}  # popsize: min(4 + 3 ln n, history)


def test_an_indented_block_with_a_line_separator_in_a_string_is_tuned() -> None:
    """A U+2028 inside a string literal does not end a line for Python: the block keeps
    its indentation, so its children stay inside their method."""
    code = (
        "class Model:\n"
        "    def run(self, x):\n"
        "        # EVOLVE-BLOCK-START\n"
        "        label = 'first\u2028second'\n"
        "        return 1.5 * x + len(label)\n"
        "        # EVOLVE-BLOCK-END\n"
    )
    operator = TuneOperator()
    child = assert_valid_child(code, run_propose(operator, code), operator)
    assert "        return " in child
