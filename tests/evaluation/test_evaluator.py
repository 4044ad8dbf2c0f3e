"""ProblemEvaluator end to end: real evaluator files, real sandboxed processes."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.runner import cut_text
from evoforge.program import EvalStatus, EvaluationResult

from .conftest import EXEC_EVALUATOR, MakeEvaluator, needs_network_isolation, process_alive


def program(body: str) -> str:
    """A candidate whose ``run()`` returns ``body`` evaluated (an expression)."""
    return f"def run():\n    return {body}\n"


# -- scoring ---------------------------------------------------------------------------


def test_combined_score_is_the_score(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator().evaluate(program("{'combined_score': 0.75, 'speed': 10}"))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.75
    assert result.metrics == {"combined_score": 0.75, "speed": 10.0}
    assert result.stage == 1
    assert result.duration_s > 0


def test_mean_of_metrics_without_combined_score(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator().evaluate(program("{'a': 1, 'b': 2.0}"))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(1.5)


def test_flags_are_kept_but_not_averaged(make_evaluator: MakeEvaluator) -> None:
    # OpenEvolve's get_fitness_score: a program that timed out does not score 0.5
    result = make_evaluator().evaluate(program("{'error': 0.0, 'timeout': True}"))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.0
    assert result.metrics == {"error": 0.0, "timeout": 1.0}


def test_feature_dimensions_are_not_averaged(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(feature_names=("length", "complexity"))
    result = evaluator.evaluate(program("{'accuracy': 0.8, 'length': 40.0, 'complexity': 3}"))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(0.8)
    assert result.metrics["length"] == 40.0  # still a metric, for the archive to place it


def test_only_feature_dimensions_are_averaged_as_a_fallback(
    make_evaluator: MakeEvaluator,
) -> None:
    evaluator = make_evaluator(feature_names=("length", "width"))
    result = evaluator.evaluate(program("{'length': 4.0, 'width': 2.0, 'ok': True}"))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(3.0)


def test_combined_score_wins_over_the_rule(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(feature_names=("combined_score",))
    result = evaluator.evaluate(program("{'combined_score': True, 'b': 5.0}"))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 1.0


def test_metrics_that_are_all_flags_are_no_score(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator().evaluate(program("{'passed': True, 'fast': False}"))
    assert result.status is EvalStatus.INVALID
    assert result.reason.startswith("no score: every metric is a flag")
    assert result.score is None


def test_numpy_scalars_are_numbers(make_evaluator: MakeEvaluator) -> None:
    code = "import numpy as np\n" + program("{'a': np.float32(0.5), 'b': np.int64(3)}")
    result = make_evaluator().evaluate(code)
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics == {"a": 0.5, "b": 3.0}


def test_too_many_metrics_fail_saying_so(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator()
    kept = evaluator.evaluate(program("{f'm{i}': float(i) for i in range(256)}"))
    assert kept.status is EvalStatus.OK, kept.reason
    result = evaluator.evaluate(program("{f'm{i}': float(i) for i in range(257)}"))
    assert result.status is EvalStatus.FAILED
    assert "257 metrics" in result.reason and "at most 256" in result.reason


def test_too_many_metrics_over_the_stages_of_a_cascade_fail_saying_so(
    make_evaluator: MakeEvaluator,
) -> None:
    """256 metric names in each stage, but different ones: the result would hold 511."""
    source = """
    def evaluate_stage1(program_path):
        return {"combined_score": 1.0, **{f"a{i}": 1.0 for i in range(255)}}

    def evaluate_stage2(program_path):
        return {"combined_score": 1.0, **{f"b{i}": 1.0 for i in range(255)}}
    """
    result = make_evaluator(source, cascade_thresholds=[0.5]).evaluate("x = 1\n")
    assert result.status is EvalStatus.FAILED, result.reason
    assert "at most 256" in result.reason


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ("{'combined_score': float('nan')}", "'combined_score' is not finite: nan"),
        ("{'a': 1.0, 'b': float('-inf')}", "'b' is not finite"),
        ("{'a': 'fast'}", "'a' is not a number: 'fast'"),
        ("{'a': None}", "'a' is not a number: None"),
        ("{'a': [1, 2]}", "'a' is not a number: [1, 2]"),
        ("{'a': 10**400}", "'a' is not finite: inf"),
        ("{}", "no score"),
    ],
)
def test_unusable_metrics_are_invalid(
    make_evaluator: MakeEvaluator, metrics: str, expected: str
) -> None:
    result = make_evaluator().evaluate(program(metrics))
    assert result.status is EvalStatus.INVALID
    assert expected in result.reason
    assert result.score is None


def test_evaluator_returning_a_non_mapping_fails(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator().evaluate(program("0.5"))
    assert result.status is EvalStatus.FAILED
    assert "TypeError" in result.reason


# -- OpenEvolve compatibility ------------------------------------------------------------

OPENEVOLVE_EVALUATOR = """
from openevolve.evaluation_result import EvaluationResult
import helper

def evaluate(program_path):
    return EvaluationResult(
        metrics={"combined_score": helper.SCORE},
        artifacts={"feedback": "looks good", "count": 3, "raw": b"bytes"},
    )
"""


def test_openevolve_style_evaluator_runs_unchanged(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(OPENEVOLVE_EVALUATOR, files={"helper.py": "SCORE = 0.25\n"})
    result = evaluator.evaluate("x = 1\n")
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.25
    assert result.artifacts["feedback"] == "looks good"
    assert result.artifacts["count"] == "3"
    assert result.artifacts["raw"] == "bytes"


def test_any_object_with_metrics_and_artifacts(make_evaluator: MakeEvaluator) -> None:
    source = """
    class Outcome:
        def __init__(self):
            self.metrics = {"combined_score": 2.0}
            self.artifacts = {"note": 42}

    def evaluate(program_path):
        return Outcome()
    """
    result = make_evaluator(source).evaluate("")
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 2.0
    assert result.artifacts["note"] == "42"


def test_program_filename_is_kept(make_evaluator: MakeEvaluator) -> None:
    source = """
    import os
    def evaluate(program_path):
        return {"combined_score": float(os.path.basename(program_path) == "solver.py")}
    """
    result = make_evaluator(source, program_filename="solver.py").evaluate("")
    assert result.score == 1.0


def test_program_filename_must_be_a_bare_name(make_evaluator: MakeEvaluator) -> None:
    with pytest.raises(ValueError, match="bare file name"):
        make_evaluator(program_filename="../escape.py")


# -- cascade -------------------------------------------------------------------------------

CASCADE_EVALUATOR = """
def evaluate_stage1(program_path):
    return {"combined_score": 0.2, "quick": 1.0}

def evaluate_stage2(program_path):
    return {"combined_score": 0.6, "medium": 2.0}

def evaluate_stage3(program_path):
    return {"combined_score": 0.9, "full": 3.0}

def evaluate(program_path):
    raise AssertionError("evaluate must not run when the cascade covers three stages")
"""


def test_cascade_runs_every_stage_and_merges(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(CASCADE_EVALUATOR, cascade_thresholds=[0.1, 0.5])
    result = evaluator.evaluate("")
    assert result.status is EvalStatus.OK, result.reason
    assert result.stage == 3
    assert result.score == 0.9
    assert result.metrics == {"combined_score": 0.9, "quick": 1.0, "medium": 2.0, "full": 3.0}
    assert "cascade" not in result.artifacts


def test_cascade_stops_below_threshold(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(CASCADE_EVALUATOR, cascade_thresholds=[0.5, 0.5])
    result = evaluator.evaluate("")
    assert result.status is EvalStatus.OK, result.reason
    assert result.stage == 1
    assert result.score == 0.2
    assert result.metrics == {"combined_score": 0.2, "quick": 1.0}
    assert result.artifacts["cascade"].startswith("stopped at stage 1 (score 0.2 < threshold 0.5")


def test_cascade_second_threshold(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(CASCADE_EVALUATOR, cascade_thresholds=[0.1, 0.7])
    result = evaluator.evaluate("")
    assert result.stage == 2
    assert result.score == 0.6
    assert "stopped at stage 2" in result.artifacts["cascade"]


def test_stage1_then_evaluate_as_final_stage(make_evaluator: MakeEvaluator) -> None:
    source = """
    def evaluate_stage1(program_path):
        return {"combined_score": 0.5}

    def evaluate(program_path):
        return {"combined_score": 0.8, "full": 1.0}
    """
    result = make_evaluator(source, cascade_thresholds=[0.4]).evaluate("")
    assert result.status is EvalStatus.OK, result.reason
    assert result.stage == 2
    assert result.score == 0.8


def test_cascade_disabled_calls_evaluate(make_evaluator: MakeEvaluator) -> None:
    source = """
    def evaluate_stage1(program_path):
        raise AssertionError("cascade is off")

    def evaluate(program_path):
        return {"combined_score": 0.3}
    """
    result = make_evaluator(source, cascade=False).evaluate("")
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.3
    assert result.stage == 1


def test_error_in_a_later_stage_fails(make_evaluator: MakeEvaluator) -> None:
    source = """
    def evaluate_stage1(program_path):
        return {"combined_score": 0.5}

    def evaluate_stage2(program_path):
        raise RuntimeError("stage two broke")
    """
    result = make_evaluator(source).evaluate("")
    assert result.status is EvalStatus.FAILED
    assert result.reason == "RuntimeError: stage two broke"
    assert result.stage == 2


# -- failures ------------------------------------------------------------------------------


def test_exception_fails_with_traceback_tail(make_evaluator: MakeEvaluator) -> None:
    code = "import sys\ndef run():\n    print('to stderr', file=sys.stderr)\n    1 / 0\n"
    result = make_evaluator().evaluate(code)
    assert result.status is EvalStatus.FAILED
    assert result.reason == "ZeroDivisionError: division by zero"
    assert "1 / 0" in result.artifacts["traceback"]
    assert "runner.py" not in result.artifacts["traceback"]
    assert "to stderr" in result.artifacts["stderr"]


def test_broken_evaluator_fails_clearly(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator("def evaluate(:\n").evaluate("")
    assert result.status is EvalStatus.FAILED
    assert result.reason.startswith("evaluator could not start: SyntaxError")


def test_system_exit_in_candidate_fails(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator().evaluate("import sys\ndef run():\n    sys.exit(0)\n")
    assert result.status is EvalStatus.FAILED
    assert result.reason.startswith("SystemExit")


def test_hard_exit_fails(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator().evaluate("import os\ndef run():\n    os._exit(3)\n")
    assert result.status is EvalStatus.FAILED
    assert result.reason == "exited with status 3 before reporting a result"


def test_segfault_fails(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator().evaluate("import ctypes\ndef run():\n    ctypes.string_at(0)\n")
    assert result.status is EvalStatus.FAILED
    assert "SIGSEGV" in result.reason


def test_timeout_kills_the_candidate(make_evaluator: MakeEvaluator, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nwhile True: pass\n"
    # The fallback path (pids and a file outside the work dir); tests/adversarial covers mountns.
    result = make_evaluator(timeout_s=1.0, isolate_filesystem=False).evaluate(code)
    assert result.status is EvalStatus.TIMEOUT
    assert result.reason == "exceeded 1s wall-clock"
    assert not process_alive(int(pid_file.read_text()))


def test_memory_hog_fails_and_the_next_evaluation_works(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(memory_mb=256)
    hog = "def run():\n    hog = []\n    while True:\n        hog.append(bytearray(10**7))\n"
    result = evaluator.evaluate(hog)
    assert result.status is EvalStatus.FAILED
    assert "MemoryError" in result.reason
    assert "memory limit of 256 MiB" in result.reason
    assert evaluator.evaluate(program("{'combined_score': 1.0}")).score == 1.0


def test_a_fork_refused_names_the_process_limit(make_evaluator: MakeEvaluator) -> None:
    """What os.fork raises once the evaluation's pids cgroup (or RLIMIT_NPROC in its user
    namespace) is full: "Resource temporarily unavailable" alone names no limit."""
    refused = (
        "import errno, os\n"
        "def run():\n"
        "    raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))\n"
    )
    result = make_evaluator().evaluate(refused)
    assert result.status is EvalStatus.FAILED
    assert "Resource temporarily unavailable" in result.reason
    assert "process limit reached: an evaluation may run at most 512 processes" in result.reason


# torch or jax out of address space under RLIMIT_AS: libstdc++ reports the std::bad_alloc
# that nothing caught and aborts the process
NATIVE_ALLOCATION_FAILURE = """
import os
import sys


def run():
    sys.stderr.write("terminate called after throwing an instance of 'std::bad_alloc'\\n")
    sys.stderr.write("  what():  std::bad_alloc\\n")
    sys.stderr.flush()
    os.abort()


def total():
    run()
"""


@pytest.mark.parametrize("form", ["shared", "isolated"])
def test_a_native_allocation_failure_names_the_memory_limit(
    make_evaluator: MakeEvaluator, form: str
) -> None:
    source = EXEC_EVALUATOR
    if form == "isolated":
        source = "def evaluate_candidate(candidate):\n    return candidate.total()\n"
    result = make_evaluator(source, memory_mb=512).evaluate(NATIVE_ALLOCATION_FAILURE)
    assert result.status is EvalStatus.FAILED
    assert "killed by SIGABRT" in result.reason
    assert "memory limit of 512 MiB reached" in result.reason


@pytest.mark.parametrize("template_processes", [True, False])
def test_a_native_library_out_of_memory_names_the_memory_limit(
    make_evaluator: MakeEvaluator, template_processes: bool
) -> None:
    """OpenBLAS, loaded by numpy's import, exits with status 1 when it cannot allocate its
    buffers (memory_mb: 64 without template processes): the reason was "exited with status
    1 before reporting a result", naming no limit."""
    source = """
    import os
    import sys

    sys.stderr.write(
        "OpenBLAS error: Memory allocation still failed after 10 retries, giving up.\\n"
    )
    sys.stderr.flush()
    os._exit(1)
    """
    result = make_evaluator(source, template_processes=template_processes).evaluate("")
    assert result.status is EvalStatus.FAILED
    assert "memory limit of 4096 MiB reached" in result.reason, result.reason


def test_cpu_limit_fails(make_evaluator: MakeEvaluator) -> None:
    result = make_evaluator(timeout_s=5.0, cpu_time_s=1.0).evaluate("while True: pass\n")
    assert result.status is EvalStatus.FAILED
    assert "CPU-time limit of 1s" in result.reason


def test_huge_output_is_capped(make_evaluator: MakeEvaluator) -> None:
    code = "import sys\ndef run():\n    sys.stdout.write('y' * 50_000_000)\n"
    code += "    return {'combined_score': 1.0}\n"
    result = make_evaluator(max_output_bytes=2048).evaluate(code)
    assert result.status is EvalStatus.OK, result.reason
    assert len(result.artifacts["stdout"]) < 2048 + 100
    assert "bytes dropped" in result.artifacts["stdout"]


def test_a_long_artifact_is_cut_saying_how_much_was_cut(make_evaluator: MakeEvaluator) -> None:
    source = """
    def evaluate(program_path):
        return {"metrics": {"combined_score": 1.0},
                "artifacts": {"log": "x" * 10_000, "short": "fits"}}
    """
    result = make_evaluator(source, max_output_bytes=2048).evaluate("")
    assert result.status is EvalStatus.OK, result.reason
    log = result.artifacts["log"]
    assert len(log) <= 2048 and log.startswith("x" * 2000)
    kept = log.index("\n")
    assert log.endswith(f"\n[... {10_000 - kept} more characters cut]")
    assert result.artifacts["short"] == "fits"


def test_a_cut_text_stays_within_its_limit() -> None:
    for length, limit in [(100, 99), (10**6, 40), (12, 5), (50, 50)]:
        cut = cut_text("a" * length, limit)
        assert len(cut) <= limit
        assert cut == "a" * length if length <= limit else "cut]" in cut or cut == "a" * limit


def test_no_process_outlives_the_evaluation(make_evaluator: MakeEvaluator) -> None:
    code = """
import os, subprocess, time

def run():
    child = subprocess.Popen(["sleep", "1000"])
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write_end, str(os.getpid()).encode())
            time.sleep(1000)
        os._exit(0)
    daemon = int(os.read(read_end, 32))
    return {"combined_score": 1.0, "child": child.pid, "daemon": daemon}
"""
    # Host pids are only visible without the pid namespace; tests/adversarial covers mountns.
    result = make_evaluator(isolate_filesystem=False).evaluate(code)
    assert result.status is EvalStatus.OK, result.reason
    for name in ("child", "daemon"):
        assert not process_alive(int(result.metrics[name])), f"{name} survived"


def test_secrets_do_not_reach_the_candidate(
    make_evaluator: MakeEvaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak")
    source = """
    import os
    from openevolve.evaluation_result import EvaluationResult

    def evaluate(program_path):
        print(dict(os.environ))
        return EvaluationResult(
            metrics={"combined_score": 1.0, "variables": len(os.environ)},
            artifacts={"env": repr(dict(os.environ)), "home": os.environ["HOME"]},
        )
    """
    result = make_evaluator(source).evaluate("")
    assert result.status is EvalStatus.OK, result.reason
    assert "PATH" in result.artifacts["env"]  # the dump really happened
    assert "sk-test-do-not-leak" not in repr(result)
    assert "OPENAI_API_KEY" not in repr(result)
    assert result.artifacts["home"] != str(Path.home())


@needs_network_isolation
def test_candidate_cannot_reach_the_network(make_evaluator: MakeEvaluator) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        code = "import socket\ndef run():\n"
        code += f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
        code += "    return {'combined_score': 1.0}\n"
        result = make_evaluator().evaluate(code)
        assert result.status is EvalStatus.FAILED
        assert "Error" in result.reason
        with pytest.raises(TimeoutError):
            server.accept()


def test_concurrent_evaluations(make_evaluator: MakeEvaluator) -> None:
    evaluator: ProblemEvaluator = make_evaluator()
    results: dict[int, EvaluationResult] = {}

    def work(index: int) -> None:
        results[index] = evaluator.evaluate(program(f"{{'combined_score': {index}}}"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {index: result.score for index, result in results.items()} == {
        0: 0.0,
        1: 1.0,
        2: 2.0,
        3: 3.0,
    }
    assert evaluator.evaluations == 4


# -- the largest limits ----------------------------------------------------------------------


@pytest.mark.parametrize("template_processes", [True, False])
def test_an_isolated_evaluation_works_at_the_largest_limits(
    make_evaluator: MakeEvaluator, template_processes: bool
) -> None:
    """The largest values the config accepts reach the sandbox and the channel intact (a
    timeout past poll()'s range or a limit past rlim_t's failed every evaluation)."""
    source = """
    def evaluate_candidate(candidate):
        return {"combined_score": candidate.value()}
    """
    evaluator = make_evaluator(
        source,
        timeout_s=1e6,
        call_timeout_s=1e6,
        cpu_time_s=1e12,
        memory_mb=10**12,
        max_file_size_mb=10**12,
        template_processes=template_processes,
    )
    try:
        result = evaluator.evaluate("def value():\n    return 0.5\n")
    finally:
        evaluator.close()
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.5
