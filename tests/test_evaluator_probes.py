"""Degenerate programs written from a seed, and scored against real evaluators in the
sandbox: a weak evaluator's holes are found, a careful one's are not."""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evoforge.blocks import evolve_blocks, frozen_violation
from evoforge.evaluator_probes import PROBES, degenerate_programs, probe_problem
from tests.problem_files import write_problem

SEED = '''"""A seed with two evolve blocks."""
import math

SCALE = 2.0

# EVOLVE-BLOCK-START
def helper(x):
    return x * SCALE


def answer(values, weight=1.0):
    """Sum of the helper's values."""
    return sum(helper(v) for v in values) * weight


class Rule:
    def pick(self, items):
        return max(items)
# EVOLVE-BLOCK-END


def frozen_entry(values):
    return answer(values)


# EVOLVE-BLOCK-START
LIMIT = 3
# EVOLVE-BLOCK-END
'''


def _functions(block: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(block)
    found = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return found


def test_every_probe_keeps_the_frozen_code_and_gives_each_function_its_body() -> None:
    probes = {probe.name: probe for probe in degenerate_programs(SEED)}
    assert list(probes) == list(PROBES)
    for probe in probes.values():
        assert frozen_violation(SEED, probe.code) is None, probe.name
        compile(probe.code, "probe.py", "exec")
    first, second = evolve_blocks(probes["return-nan"].code)
    for node in _functions(first).values():
        assert ast.unparse(node.body) == "return float('nan')"
    assert second.strip() == "LIMIT = 3"  # no function there: return probes leave it be
    echo = _functions(evolve_blocks(probes["echo-argument"].code)[0])
    assert [ast.unparse(echo[name].body) for name in ("helper", "answer", "pick")] == [
        "return x",
        "return values",
        "return items",  # a method's first argument after self
    ]
    # probes that act while the program loads also reach a block with no function
    _, exit_second = evolve_blocks(probes["exit-zero"].code)
    assert "_os._exit(0)" in exit_second and exit_second.rstrip().endswith("LIMIT = 3")
    printed = _functions(evolve_blocks(probes["printed-score"].code)[0])["answer"]
    assert ast.unparse(printed.body[0]).startswith("print(")
    assert "helper(v) for v in values" in ast.unparse(printed.body[-1])  # the seed's code


def test_a_probe_that_would_repeat_another_is_left_out() -> None:
    seed = "# EVOLVE-BLOCK-START\ndef value():\n    return 1.0\n# EVOLVE-BLOCK-END\n"
    names = [probe.name for probe in degenerate_programs(seed)]
    assert "echo-argument" not in names  # no argument: it would be return-none again
    assert "return-none" in names and len(names) == len(PROBES) - 1


WEAK_PROGRAM = """
# EVOLVE-BLOCK-START
def estimate(samples):
    return sum(samples) / len(samples)
# EVOLVE-BLOCK-END
"""

# A careless evaluator: a missing answer counts as perfect, and so does anything it
# cannot compare.
WEAK_EVALUATOR = """
def evaluate_candidate(candidate):
    value = candidate.estimate([1.0, 2.0, 3.0, 4.0])
    if value is None:
        return {"combined_score": 1.0}
    try:
        error = abs(float(value) - 2.5)
    except (TypeError, ValueError):
        return {"combined_score": 1.0}
    if error != error:
        return {"combined_score": 1.0}
    return {"combined_score": 1.0 / (1.0 + error + 0.1)}
"""

CAREFUL_EVALUATOR = """
import math

def evaluate_candidate(candidate):
    value = candidate.estimate([1.0, 2.0, 3.0, 4.0])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"estimate must return a finite number, got {value!r}")
    return {"combined_score": 1.0 / (1.0 + abs(value - 2.5) + 0.1)}
"""


def test_a_weak_evaluators_holes_are_found_and_a_careful_ones_are_not(tmp_path: Path) -> None:
    weak = write_problem(tmp_path / "weak", program=WEAK_PROGRAM, evaluator=WEAK_EVALUATOR)
    report = probe_problem(weak, workers=2)
    assert report.seed_status == "ok" and report.seed_score == pytest.approx(1 / 1.1)
    holes = {outcome.probe.name for outcome in report.holes}
    assert holes == {"return-none", "return-empty", "return-nan", "echo-argument"}
    by_name = {outcome.probe.name: outcome for outcome in report.outcomes}
    assert by_name["return-zero"].verdict == "accepted, below the seed"
    assert by_name["raise"].verdict == "refused" and "RuntimeError" in by_name["raise"].reason
    assert by_name["exit-zero"].status == "failed"
    assert by_name["printed-score"].verdict == "ties the seed"

    careful = write_problem(tmp_path / "careful", program=WEAK_PROGRAM, evaluator=CAREFUL_EVALUATOR)
    report = probe_problem(careful, workers=2)
    assert report.holes == []
    assert {o.probe.name for o in report.outcomes if o.status == "ok"} == {
        "return-zero",
        "return-huge",
        "printed-score",
    }


CONSTANT_PROGRAM = """
# EVOLVE-BLOCK-START
def estimate(samples):
    return 0
# EVOLVE-BLOCK-END
"""


def test_a_probe_that_only_ties_a_constant_seed_is_no_hole(tmp_path: Path) -> None:
    """Where the seed is itself a constant answer, a constant probe ties it: reported as
    a tie, not a hole (a tie gives a search no pull towards it)."""
    constant = write_problem(
        tmp_path / "constant", program=CONSTANT_PROGRAM, evaluator=CAREFUL_EVALUATOR
    )
    report = probe_problem(constant, only=("return-zero", "return-huge", "printed-score"))
    assert report.holes == []
    verdicts = {outcome.probe.name: outcome.verdict for outcome in report.outcomes}
    assert verdicts == {
        "return-zero": "ties the seed",
        "return-huge": "accepted, below the seed",
        "printed-score": "ties the seed",
    }


def _check(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evoforge", "check", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_the_check_command_exits_1_on_a_hole_0_without_and_2_on_bad_input(tmp_path: Path) -> None:
    weak = write_problem(tmp_path / "weak", program=WEAK_PROGRAM, evaluator=WEAK_EVALUATOR)
    found = _check(str(weak), "--probes", "return-none", "raise")
    assert found.returncode == 1, found.stderr
    assert "return-none" in found.stdout and "scores above the seed" in found.stdout
    assert "1 of 2 probes scored above the seed (return-none)" in found.stdout
    assert "checking: 4/4" in found.stderr  # the seed twice, two probes

    careful = write_problem(tmp_path / "careful", program=WEAK_PROGRAM, evaluator=CAREFUL_EVALUATOR)
    clean = _check(str(careful), "--json", "--probes", "return-nan", "exit-zero")
    assert clean.returncode == 0, clean.stderr
    answer = json.loads(clean.stdout)
    assert answer["holes"] == [] and answer["seed"]["status"] == "ok"
    assert [probe["name"] for probe in answer["probes"]] == ["return-nan", "exit-zero"]
    assert clean.stderr == ""

    missing = _check(str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("evoforge: error:")
    assert "Traceback" not in missing.stderr


SLOW_FOR_PROBES_EVALUATOR = """
import time

def evaluate_candidate(candidate):
    value = candidate.estimate([1.0, 2.0, 3.0, 4.0])
    if value != 2.5:
        time.sleep(120)  # every probe: still running when Ctrl-C comes
    return {"combined_score": 1.0}
"""


def test_ctrl_c_ends_the_check_at_once_with_one_line(tmp_path: Path) -> None:
    """Interrupted while probes are being scored, the command stops without waiting for
    them, says so in one line, and ends by SIGINT as the other commands do."""
    problem = write_problem(
        tmp_path / "slow",
        program=WEAK_PROGRAM,
        evaluator=SLOW_FOR_PROBES_EVALUATOR,
        config="evaluator:\n  timeout_s: 300\n",
    )
    checking = subprocess.Popen(
        [sys.executable, "-m", "evoforge", "check", str(problem), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert checking.stderr is not None
        assert checking.stderr.readline().startswith("checking: 1/")  # the seed is scored
        checking.send_signal(signal.SIGINT)
        _, rest = checking.communicate(timeout=60)  # far less than one probe's 120 s
    finally:
        if checking.poll() is None:
            checking.kill()
            checking.wait()
    assert checking.returncode == -signal.SIGINT
    assert rest.strip().splitlines() == [
        "evoforge check: interrupted (it writes nothing; run it again to see every probe)"
    ]


NOISY_EVALUATOR = """
import random

def evaluate_candidate(candidate):
    candidate.estimate([1.0, 2.0, 3.0, 4.0])
    return {"combined_score": random.random()}
"""

SLOW_SEED_EVALUATOR = """
import time

def evaluate_candidate(candidate):
    candidate.estimate([1.0, 2.0, 3.0, 4.0])
    time.sleep(3.2)
    return {"combined_score": 0.5}
"""


def test_a_noisy_or_slow_seed_is_said_without_failing_the_check(tmp_path: Path) -> None:
    """The seed is scored twice: scores that move are called noise; a seed that takes
    more than half its time limit is called slow. Neither is a hole (exit status 0)."""
    noisy = write_problem(tmp_path / "noisy", program=WEAK_PROGRAM, evaluator=NOISY_EVALUATOR)
    said = _check(str(noisy), "--probes", "raise")
    assert said.returncode == 0, said.stderr
    assert "noisy: the seed scored " in said.stdout and "slow:" not in said.stdout
    assert "checking: 3/3" in said.stderr and "seed scored again" in said.stderr

    slow = write_problem(
        tmp_path / "slow",
        program=WEAK_PROGRAM,
        evaluator=SLOW_SEED_EVALUATOR,
        config="evaluator:\n  timeout_s: 6\n",
    )
    said = _check(str(slow), "--probes", "raise", "--json")
    assert said.returncode == 0, said.stderr
    seed = json.loads(said.stdout)["seed"]
    assert seed["score"] == seed["score_again"] == 0.5
    assert seed["duration_s"] >= 3.2 and seed["timeout_s"] == 6
    said = _check(str(slow), "--probes", "raise")
    assert "slow: the seed took" in said.stdout and "noisy" not in said.stdout
