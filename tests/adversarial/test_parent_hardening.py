"""evoforge does not trust what an evaluation leaves for it: files, text, trees, results.

Each case runs a hostile candidate through the real sandbox (and, where it says so, the
real engine and run database), in the shared-process form unless stated: there the
candidate runs inside the evaluator's own process, the worst position it can have. A
named pipe where a result or a collected file was expected, text no encoder accepts, a
directory tree too deep to walk, a forged result of any size, memory spread over several
processes, and secrets in evoforge's environment: the evaluation ends with a proper
result, the caps hold, the run commits and resumes, and nothing is left behind.

Feedback quoted into prompts (artifacts, stdout, reasons) is fenced and capped; that is
tested where prompts are built (``tests/operators/test_prompt_feedback.py``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from evoforge.config import EvaluatorConfig
from evoforge.engine import Engine
from evoforge.evaluation.evaluator import MAX_RESULT_BYTES, ProblemEvaluator
from evoforge.evaluation.sandbox import (
    Sandbox,
    SandboxLimits,
    filesystem_isolation,
    memory_cgroup_root,
    remove_stale_workdirs,
)
from evoforge.program import EvalStatus, Program
from evoforge.report.html import render_report
from evoforge.report.summary import best_summary
from evoforge.storage.db import RunDatabase

from .conftest import (
    CONFIG,
    EVALUATOR,
    INITIAL_PROGRAM,
    HostileRun,
    _environment,
    describe_processes,
    leftover_processes,
    start_run,
)
from .test_isolation import assert_no_leak, hostile, stdout_of

JAILED = filesystem_isolation() == "mountns"
needs_jail = pytest.mark.skipif(
    not JAILED, reason=f"no filesystem jail here ({filesystem_isolation()})"
)
MAX_OUTPUT = 4096  # evaluator.max_output_bytes in the adversarial CONFIG


def _aftermath(run: HostileRun, program: Program, before: dict[str, str]) -> None:
    left = leftover_processes(run)
    assert left == [], f"processes of the evaluation are still alive: {describe_processes(left)}"
    assert run.outside_snapshot() == before, "something outside the work dir changed"
    run.secret_is_nowhere()
    follow_up = run.submit(
        run.candidate(f"def run():\n    return {{'combined_score': {program.seq}.25}}")
    )
    assert follow_up.status is EvalStatus.OK, f"the run did not continue: {follow_up.reason}"


def _submit(run: HostileRun, block: str) -> Program:
    before = run.outside_snapshot()
    program = run.submit(run.candidate(block))
    _aftermath(run, program, before)
    return program


# -- named pipes where files were expected -------------------------------------------------


def test_a_named_pipe_under_the_old_result_name_changes_nothing(tagged_run: HostileRun) -> None:
    program = _submit(
        tagged_run,
        """
        import os
        def run():
            os.mkfifo("evoforge-result.json")
            os.mkfifo("result.json")
            return {"combined_score": 0.125}
        """,
    )
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == 0.125


def test_collect_refuses_a_named_pipe() -> None:
    sandbox = Sandbox(SandboxLimits(timeout_s=5, cpu_time_s=5, memory_mb=256))
    script = (
        "import os\n"
        "os.mkfifo('out.json')\n"
        "os.mkfifo('pipe-to-nowhere')\n"
        "os.symlink('/etc/passwd', 'link.json')\n"
        "open('plain.json', 'w').write('{}')\n"
    )
    run = sandbox.run(
        [sys.executable, "-I", "-c", script],
        collect=["out.json", "link.json", "plain.json", "missing.json"],
    )
    assert run.error is None, run.error
    assert run.returncode == 0, run.stderr
    assert run.files == {"plain.json": b"{}"}


# -- text no encoder accepts -----------------------------------------------------------------


def test_lone_surrogates_are_stored_and_the_run_resumes(tmp_path: Path) -> None:
    files = {
        "initial_program.py": INITIAL_PROGRAM,
        "evaluator.py": EVALUATOR,
        "config.yaml": CONFIG,
    }
    engine, _, run_dir = start_run(tmp_path, files)
    run = HostileRun(engine, tmp_path / "problem", run_dir, tmp_path, "", "")
    blocks = {
        "reason": """
            def run():
                raise ValueError("bad \\ud800 value \\udfff")
            """,
        "artifact": """
            def run():
                return {"combined_score": 0.25, "note": "\\ud800", "\\udc80": 1.0}
            """,
        "stdout": """
            import os, sys
            def run():
                os.write(1, b"raw \\xed\\xa0\\x80 and \\xff\\n")
                os.write(2, "\\udfff".encode("utf-8", "surrogatepass"))
                return {"combined_score": 0.5}
            """,
    }
    try:
        stored = {name: run.submit(run.candidate(block)) for name, block in blocks.items()}
        count = engine.db.count_programs()
    finally:
        engine.close()
    assert stored["reason"].status is EvalStatus.FAILED
    assert "bad" in stored["reason"].reason
    assert stored["artifact"].status is EvalStatus.OK
    assert stored["stdout"].status is EvalStatus.OK
    assert "raw" in stored["stdout"].artifacts.get("stdout", "")
    reopened = Engine.open(run_dir)
    try:
        assert reopened.db.count_programs() == count
        for program in stored.values():
            again = reopened.db.program(program.id)
            assert again is not None and again.status is program.status
            for text in [again.reason, *again.artifacts.keys(), *again.artifacts.values()]:
                text.encode("utf-8")  # whatever was stored is valid text now
    finally:
        reopened.close()


# -- numbers at the edge of the floats --------------------------------------------------------

LARGEST = sys.float_info.max


def _no_infinity(constant: str) -> None:
    raise AssertionError(f"{constant} in data meant for JSON")


def test_scores_and_features_near_the_largest_floats_end_in_a_finished_run(
    tmp_path: Path,
) -> None:
    """Results whose differences overflow (scores and the ``behaviour`` feature, the first
    other metric, near +-1.8e308): every child is committed, the run goes on, and what the
    viewers show holds no infinity (the report and the web view refuse one)."""
    seed = f"# EVOLVE-BLOCK-START\ndef run():\n    return {{'combined_score': {-LARGEST!r}}}\n"
    files = {
        "initial_program.py": seed + "# EVOLVE-BLOCK-END\n",
        "evaluator.py": EVALUATOR,
        "config.yaml": CONFIG,
    }
    engine, _, run_dir = start_run(tmp_path, files)
    run = HostileRun(engine, tmp_path / "problem", run_dir, tmp_path, "", "")
    results = [(-LARGEST, -LARGEST), (LARGEST, LARGEST), (0.0, -LARGEST), (1.0, 0.0)]
    try:
        stored = [
            run.submit(
                run.candidate(f"def run():\n    return {{'combined_score': {s!r}, 'm': {m!r}}}")
            )
            for s, m in results
        ]
    finally:
        engine.close()
    assert [p.status for p in stored] == [EvalStatus.OK] * len(results)
    db = RunDatabase.open_for_reading(run_dir / RunDatabase.FILENAME)
    try:
        best = best_summary(db)
    finally:
        db.close()
    assert best["score"] == LARGEST and best["improvement"] is None  # max - (-max) overflows
    html = render_report(run_dir)
    opening = html.index('id="evoforge-data">') + len('id="evoforge-data">')
    block = html[opening : html.index("</script>", opening)]
    data = json.loads(block, parse_constant=_no_infinity)
    shown = data[f"/api/runs/0/programs/{stored[1].id}"]
    assert shown["score"] == LARGEST and shown["gain"] is None
    last = data["/api/runs/0/lineage"]["lineage_from"]  # the best's lineage ends in it
    assert data["lineage_nodes"][last]["gain"] is None


# -- trees too deep to walk ------------------------------------------------------------------


def _own_workdirs() -> list[str]:
    """Run directories of this process left in the temp dir (a template's spool only
    counts by the evaluation directories still in it)."""
    left: list[str] = []
    prefix = f"evoforge-sandbox-{os.getpid()}-"
    for entry in os.scandir(tempfile.gettempdir()):
        if not entry.name.startswith(prefix):
            continue
        if "-spool-" in entry.name:
            left.extend(os.path.join(entry.path, name) for name in os.listdir(entry.path))
        else:
            left.append(entry.path)
    return left


def test_a_very_deep_tree_is_removed(tagged_run: HostileRun) -> None:
    program = _submit(
        tagged_run,
        """
        import os
        def run():
            os.mkdir("locked")
            os.mkdir("locked/inner")
            os.chmod("locked", 0)
            for _ in range(5000):
                os.mkdir("d")
                os.chdir("d")
            open("deepest", "w").write("x")
            os.chmod(".", 0)
            return {"combined_score": 0.375}
        """,
    )
    # 5,000 levels take about a second; on a loaded machine the 2 s limit may come first
    assert program.status in (EvalStatus.OK, EvalStatus.TIMEOUT), program.reason
    assert _own_workdirs() == []


def test_stale_deep_trees_are_removed_without_raising(tmp_path: Path) -> None:
    keep = tmp_path / "outside.txt"
    keep.write_text("not theirs")
    dead = 99_999_999  # above any pid_max: no such process
    for name in (
        f"evoforge-sandbox-{dead}-abc",
        f"evoforge-capture-{dead}-def",
        f"evoforge-ray-problem-{dead}-ghi",  # a killed Ray worker's copy of the problem
    ):
        top = tmp_path / name
        top.mkdir()
        (top / "escape").symlink_to(keep)
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        for depth in range(5000):
            os.mkdir("d", dir_fd=fd)
            if depth % 1000 == 999:
                os.symlink(str(tmp_path), "up", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if depth % 700 == 0:
                os.chmod(fd, 0)
            os.close(fd)
            fd = inner
        os.close(fd)
    live = tmp_path / f"evoforge-sandbox-{os.getpid()}-live"
    live.mkdir()
    live_ray = tmp_path / f"evoforge-ray-problem-{os.getpid()}-live"
    live_ray.mkdir()
    assert remove_stale_workdirs(tmp_path) == 3
    assert {p.name for p in tmp_path.iterdir()} == {"outside.txt", live.name, live_ray.name}
    assert keep.read_text() == "not theirs"


# -- forged results --------------------------------------------------------------------------

# In the shared-process form the candidate runs in the evaluator's process and can write
# the result itself: to the descriptor named after --result-fd or, failing that, every pipe.
FORGE = """
import json, os, stat, sys

def _result_fds():
    if "--result-fd" in sys.argv:
        return [int(sys.argv[sys.argv.index("--result-fd") + 1])]
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if stat.S_ISFIFO(os.fstat(int(name)).st_mode):
                found.append(int(name))
        except OSError:
            pass
    return found

def _forge(outcome):
    data = outcome if isinstance(outcome, bytes) else json.dumps(outcome).encode()
    for fd in _result_fds():
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            pass
    os._exit(0)
"""


def test_a_forged_result_with_too_many_artifacts_is_capped(tagged_run: HostileRun) -> None:
    program = _submit(
        tagged_run,
        FORGE
        + """
def run():
    big = ",".join('"big%d": "%s"' % (i, "y" * 100_000) for i in range(20))
    small = ",".join('"%x": ""' % i for i in range(500_000))
    _forge(('{"stages": [{"stage": 1, "function": "evaluate", "score": 0.5, '
            '"metrics": {"combined_score": 0.5}, "artifacts": {' + big + "," + small + '}}], '
            '"stopped": null, "error": null}').encode())
""",
    )
    assert program.status is EvalStatus.OK, program.reason
    forged = [name for name in program.artifacts if name.startswith("big") or len(name) <= 5]
    assert 0 < len(forged) <= 32
    assert all(len(text) <= MAX_OUTPUT for text in program.artifacts.values())


def test_text_metrics_count_among_the_artifacts_and_are_capped(tagged_run: HostileRun) -> None:
    """Text metrics become ``metric:<name>`` artifacts: with 32 artifacts of its own, four
    text metrics of a million characters and a forged second stage with 32 more artifacts,
    a result keeps 32 from the evaluator side, each within ``evaluator.max_output_bytes``."""
    program = _submit(
        tagged_run,
        FORGE
        + """
def run():
    own = {"own%02d" % i: "o" for i in range(32)}
    texts = {"text%02d" % i: "t" * 1_000_000 for i in range(4)}
    more = {"late%02d" % i: "l" * 100_000 for i in range(32)}
    first = {"stage": 1, "function": "evaluate", "score": 0.5,
             "metrics": {"combined_score": 0.5, **texts}, "artifacts": own}
    second = {"stage": 2, "function": "evaluate", "score": 0.5,
              "metrics": {"combined_score": 0.5}, "artifacts": more}
    _forge({"stages": [first, second], "stopped": None, "error": None})
""",
    )
    assert program.status is EvalStatus.OK, program.reason
    from_evaluator = [name for name in program.artifacts if name not in ("stdout", "stderr")]
    assert len(from_evaluator) == 32, sorted(program.artifacts)
    assert all(len(text) <= MAX_OUTPUT for text in program.artifacts.values())


def test_a_forged_huge_traceback_is_capped(tagged_run: HostileRun) -> None:
    program = _submit(
        tagged_run,
        FORGE
        + """
def run():
    _forge({"stages": [], "stopped": None, "error": {
        "stage": 1, "type": "ValueError", "message": "m" * 3_000_000,
        "traceback_tail": "t" * 4_000_000}})
""",
    )
    assert program.status is EvalStatus.FAILED, program.reason
    assert program.reason.startswith("ValueError: mmm")
    assert len(program.reason) <= 1000
    assert len(program.artifacts.get("traceback", "")) <= 4000


def test_a_forged_result_over_the_limit_fails(tagged_run: HostileRun) -> None:
    # 24 MB, three times the limit: encoding it takes the candidate about 75 MB, well
    # inside its 256 MiB on every Python (50 MB took Python 3.13's json over that)
    program = _submit(
        tagged_run,
        FORGE
        + """
def run():
    _forge({"stages": [], "stopped": None, "error": {
        "stage": 1, "type": "ValueError", "message": "m",
        "traceback_tail": "t" * 24_000_000}})
""",
    )
    assert program.status is EvalStatus.FAILED, program.reason
    limit = MAX_RESULT_BYTES // (1024 * 1024)
    assert f"the result was larger than {limit} MiB" in program.reason


def test_the_run_database_stays_small(tagged_run: HostileRun) -> None:
    """After every forged result of this module (ordered before this test)."""
    size = sum(p.stat().st_size for p in tagged_run.run_dir.glob("run.sqlite*"))
    assert size < 4 * 1024 * 1024, size


# -- memory over several processes -----------------------------------------------------------


MEMORY_HOG = """
import os, select, signal, time
def run():
    size = int(MEMORY_MB * 0.6) * 1024 * 1024
    read_end, write_end = os.pipe()
    children = []
    for index in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                block = bytearray(size)
                for offset in range(0, size, 4096):
                    block[offset] = 1
                os.write(write_end, bytes([index]))
                time.sleep(30)
            finally:
                os._exit(0)
        children.append(pid)
    os.close(write_end)
    reported = set()
    deadline = time.monotonic() + 1.5
    while len(reported) < 4:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([read_end], [], [], remaining)[0]:
            break
        data = os.read(read_end, 4)
        if not data:
            break
        reported.update(data)
    holding = 0
    for index, pid in enumerate(children):
        alive = os.waitpid(pid, os.WNOHANG) == (0, 0)
        holding += alive and index in reported
        if alive:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return {"combined_score": float(holding), "reported": float(len(reported))}
"""


@pytest.mark.skipif(memory_cgroup_root() is None, reason="no memory cgroup on this machine")
def test_memory_is_bounded_over_all_processes_of_an_evaluation(tmp_path: Path) -> None:
    # Four children each touch 60% of the limit (each well under RLIMIT_AS, which the
    # preloaded interpreter already uses ~110 MiB of); the score is how many hold their
    # memory at once. Two would be 120% of the limit; without a shared bound it is 4.
    memory_mb = 1024
    (tmp_path / "evaluator.py").write_text(EVALUATOR)
    evaluator = ProblemEvaluator(
        tmp_path / "evaluator.py", EvaluatorConfig(timeout_s=8, memory_mb=memory_mb)
    )
    try:
        result = evaluator.evaluate(MEMORY_HOG.replace("MEMORY_MB", str(memory_mb)))
    finally:
        evaluator.close()
    if result.status is EvalStatus.OK:
        assert result.score is not None and result.score <= 1.0, result.metrics
    else:
        assert result.status is EvalStatus.FAILED, result.reason
        assert f"memory limit of {memory_mb} MiB" in result.reason


# -- secrets ---------------------------------------------------------------------------------

ENV_PROBE = """
import os

def environment_text():
    with open("/proc/self/environ", "rb") as handle:
        raw = handle.read().decode("utf-8", "replace")
    return repr(dict(os.environ)) + " " + raw
"""


@pytest.mark.parametrize("form", ["shared-process", "isolated"])
def test_secrets_reach_no_evaluation(tmp_path: Path, form: str) -> None:
    token = uuid.uuid4().hex
    secrets = {
        "MYSQL_PWD": f"mysql-{token}",
        "SSHPASS": f"ssh-{token}",
        "SMTP_PASS": f"smtp-{token}",
        "DATABASE_URL": f"postgresql://app:pg-{token}@db.internal:5432/prod",
        "EVOFORGE_ADVERSARIAL_DSN_VALUE": f"host=db user=app password=dsn-{token}",
    }
    visible = {"EVOFORGE_ADVERSARIAL_VISIBLE": f"visible-{uuid.uuid4().hex}"}
    problem = tmp_path / "problem"
    problem.mkdir()
    if form == "isolated":
        (problem / "evaluator.py").write_text(
            ENV_PROBE.replace("def environment_text", "def _environment_text")
            + """
def evaluate_candidate(candidate):
    return {"combined_score": 0.5, "candidate": candidate.environment_text(),
            "evaluator": _environment_text()}
"""
        )
    else:
        (problem / "evaluator.py").write_text(
            EVALUATOR.replace("return module.run()", "return module.run(_probe())")
            + ENV_PROBE.replace("def environment_text", "def _probe")
        )
    program = ENV_PROBE + (
        "\ndef run(evaluator_side):\n"
        "    return {'combined_score': 0.5, 'candidate': environment_text(),"
        " 'evaluator': evaluator_side}\n"
    )
    allowed = [*secrets, *visible]  # even named in pass_env, a secret never passes
    with _environment({**secrets, **visible}):
        evaluator = ProblemEvaluator(
            problem / "evaluator.py",
            EvaluatorConfig(timeout_s=5, memory_mb=512, pass_env=allowed),
        )
        try:
            assert evaluator.form == form
            result = evaluator.evaluate(program)
        finally:
            evaluator.close()
    assert result.status is EvalStatus.OK, result.reason
    for side in ("candidate", "evaluator"):
        text = result.artifacts[f"metric:{side}"]
        assert visible["EVOFORGE_ADVERSARIAL_VISIBLE"] in text, "the probe saw no environment"
        assert token not in text, f"a secret's value reached the {side} side"
        for name in secrets:
            assert name not in text, f"{name} reached the {side} side"


# -- the run's database ----------------------------------------------------------------------


@needs_jail
def test_the_evaluator_side_sees_the_problem_but_not_the_run_database(
    tagged_run: HostileRun,
) -> None:
    problem_copy = tagged_run.run_dir / "problem"
    known = [str(tagged_run.run_dir / "run.sqlite"), str(tagged_run.run_dir / "run.sqlite-wal")]
    attack = (
        f"_run_database({known!r}, problem_files=()); "
        f"print('PROBLEM-VISIBLE', _os.path.isfile({str(problem_copy / 'evaluator.py')!r}),"
        f" _os.listdir({str(tagged_run.run_dir)!r}), flush=True)"
    )
    before = tagged_run.outside_snapshot()
    program = tagged_run.submit(hostile(tagged_run.engine.problem.initial_code, attack))
    _aftermath(tagged_run, program, before)
    assert program.status is EvalStatus.OK, program.reason
    out = stdout_of(program)
    assert "PROBLEM-VISIBLE True ['problem']" in out, out
    assert "WALKED" in out
    assert_no_leak(program)
