"""Smoke test of ``evoforge bench``: a tiny problem, a few engines, a few evaluations."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from evoforge.bench import BenchOptions, run_bench
from evoforge.bench.engines import RunTask
from evoforge.bench.harness import _time_left, source_revision
from evoforge.bench.records import RunRecord, best_so_far, read_records
from evoforge.bench.report import markdown_tables, summarise, summary_matrix
from evoforge.cli import build_parser, main
from evoforge.source_tree import install_command

CURVE_FIT = Path(__file__).parents[1] / "e2e" / "problems" / "curve_fit"
BUDGET = 6


def test_bench_runs_records_reports_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = Path("results")  # relative: the workers run in other directories
    options = BenchOptions(
        problems=[str(CURVE_FIT)],
        engines=["evoforge", "evoforge-oracle", "random-search", "best-of-n"],
        seeds=1,
        evaluations=BUDGET,
        out=out,
        jobs=2,
        command="evoforge bench (smoke test)",
    )
    lines: list[str] = []
    first = run_bench(options, log=lines.append)

    assert first.ran == 4 and first.skipped_finished == 0
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert {r["engine"] for r in records} == set(options.engines)
    for record in records:
        assert record["status"] == "ok", record
        assert record["problem"] == "curve_fit" and record["budget"] == BUDGET
        assert 1 <= record["evaluations"] <= BUDGET
        assert len(record["trajectory"]) == record["evaluations"]
        assert record["best_score"] == record["trajectory"][-1]
        assert record["best_score"] >= record["initial_score"]
        assert "EVOLVE-BLOCK-START" in record["best_code"]  # what won, kept for audit
        assert record["revision"] == source_revision()
        failed = record["failed_evaluations"]
        assert isinstance(failed, int) and 0 <= failed < record["evaluations"]
        if record["engine"].startswith("evoforge"):
            operators = record["extra"]["operators"]
            # every evaluation but the seed's is some operator's child
            assert sum(c["evaluated"] for c in operators.values()) == record["evaluations"] - 1
            assert sum(c["failed"] for c in operators.values()) <= failed
    table = (out / "table.md").read_text()
    assert "| evoforge |" in table and "| random-search |" in table
    readme = (out / "README.md").read_text()
    assert f"`{source_revision() or 'unknown'}` (4 runs)" in readme
    assert "evoforge bench (smoke test)" in readme and "plots/curve_fit.png" in readme
    assert (out / "plots" / "curve_fit.png").stat().st_size > 1000
    assert any("oracle serving on" in line for line in lines)

    second = run_bench(options, log=lines.append)
    assert second.ran == 0 and second.skipped_finished == 4
    assert len((out / "runs.jsonl").read_text().splitlines()) == 4

    # a bigger suite, report only: nothing runs, the report says what is missing
    partial = run_bench(replace(options, seeds=2, report_only=True), log=lines.append)
    assert partial.ran == 0 and len(partial.records) == 4
    assert len((out / "runs.jsonl").read_text().splitlines()) == 4
    assert "Runs finished: 4 of 8" in (out / "README.md").read_text()
    assert "report only: 4 runs left unrun" in lines


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--problems", "no_such_problem"], "unknown problem 'no_such_problem'"),
        (["--problems", str(CURVE_FIT), "--engines", "nope"], "unknown engine 'nope'"),
        (["--problems", str(CURVE_FIT), "--max-run-seconds", "-1"], "positive number of seconds"),
        (["--problems", str(CURVE_FIT), "--max-run-seconds", "0"], "positive number of seconds"),
        (["--problems", str(CURVE_FIT), "--max-run-seconds", "nan"], "positive number of seconds"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["bench", *argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_a_missing_report_dependency_stops_the_bench_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "scipy" else found(name, *a)
    )
    out = tmp_path / "out"
    status = main(
        ["bench", "--problems", str(CURVE_FIT), "--engines", "evoforge", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "needs scipy" in err and install_command("bench") in err
    assert len(err.strip().splitlines()) == 1
    assert not (out / "runs.jsonl").exists()


def test_default_output_is_a_scratch_directory_beside_the_committed_results() -> None:
    """Without --out a bench writes to benchmarks/results/latest, never over a result
    directory in the repository (those are named: suite-500, acceptance-60, ...)."""
    args = build_parser().parse_args(["bench", "--problems", "p"])
    assert args.out == Path("benchmarks/results/latest")
    ignored = (Path(__file__).parents[2] / "benchmarks/results/.gitignore").read_text()
    assert "latest/" in ignored.splitlines()


def _curve_fit_task(run_dir: Path) -> RunTask:
    """The bench's task for a seed-0 evoforge run of the curve-fit problem in ``run_dir``."""
    return RunTask(
        problem="curve_fit",
        problem_dir=CURVE_FIT,
        engine="evoforge",
        seed=0,
        budget=BUDGET,
        run_dir=run_dir,
    )


def _record(engine: str, seed: int, score: float) -> RunRecord:
    return RunRecord(
        problem="p",
        engine=engine,
        seed=seed,
        budget=3,
        status="ok",
        best_score=score,
        initial_score=0.0,
        evaluations=3,
        trajectory=best_so_far([0.0, None, score]),
    )


def test_summary_gives_median_and_quartiles_over_seeds(tmp_path: Path) -> None:
    records = [_record("a", seed, score) for seed, score in enumerate([0.1, 0.2, 0.3, 0.4, 0.5])]
    records.append(_record("b", 0, 0.9))
    summary = summarise(records, ["p"], ["a", "b", "c"])
    a, b, c = summary["p"]
    assert (a.runs, a.median, a.q25, a.q75) == (5, 0.3, 0.2, 0.4)
    assert b.median == 0.9 and c.runs == 0 and c.median is None
    assert "**0.9000**" in markdown_tables(summary, 3)


def test_runs_file_keeps_the_latest_record_and_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    failed = RunRecord(problem="p", engine="a", seed=0, budget=3, status="failed", reason="x")
    path.write_text(failed.to_json() + "\n" + _record("a", 0, 0.5).to_json() + '\n{"probl')
    latest = read_records(path)
    assert list(latest) == [("p", "a", 0, 3)]
    assert latest[("p", "a", 0, 3)].status == "ok"


def test_sigterm_to_the_bench_stops_its_runs_and_the_oracle(tmp_path: Path) -> None:
    """A plain ``kill`` of the bench (not its process group) must not leave workers or the
    oracle running, must record nothing unfinished, and a re-run finishes the job."""
    import re
    import signal
    import socket
    import subprocess
    import sys

    out = tmp_path / "out"
    argv = [sys.executable, "-m", "evoforge.cli", "bench", "--problems", str(CURVE_FIT)]
    # six runs on two jobs: four wait in the queue and must never start
    argv += ["--engines", "evoforge", "random-search", "best-of-n", "--seeds", "2"]
    argv += ["--out", str(out)]
    # As with `evoforge bench ... &` from a script: SIGINT ignored from the start.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        bench = subprocess.Popen(
            [*argv, "--evaluations", "4000", "--jobs", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so the signal reaches the bench alone, as with `kill PID`
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert bench.stdout is not None
        url = None
        for line in bench.stdout:
            match = re.search(r"oracle serving on http://127\.0\.0\.1:(\d+)/v1", line)
            if match:
                url = int(match.group(1))
                break
        assert url is not None, "the oracle did not start"
        run_db = out / "runs" / "curve_fit" / "evoforge" / "b4000-s0" / "run" / "run.sqlite"
        baseline_log = out / "runs" / "curve_fit" / "random-search" / "b4000-s0"
        baseline_log /= "evaluations.jsonl"
        for _ in range(600):  # until both runs have started (at most ~60 s)
            if run_db.exists() and baseline_log.exists() and baseline_log.read_text():
                break
            subprocess.run(["sleep", "0.1"], check=True)
        bench.send_signal(signal.SIGTERM)
        rest = bench.communicate(timeout=120)[0]
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
    assert bench.returncode == -signal.SIGINT, rest  # a shell's 130
    assert "run the same command again" in rest
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", url), timeout=5):
        pass  # the oracle is gone
    records = (out / "runs.jsonl").read_text().splitlines() if (out / "runs.jsonl").exists() else []
    assert all(json.loads(line)["status"] == "ok" for line in records)
    assert not any(json.loads(line)["engine"] == "random-search" for line in records)
    assert len(baseline_log.read_text().splitlines()) < 3999  # stopped, not run to the end
    assert not (out / "runs" / "curve_fit" / "best-of-n").exists()
    assert not (out / "runs" / "curve_fit" / "evoforge" / "b4000-s1").exists()
    # the interrupted evoforge run kept how long it ran, for its resumed record
    earlier = out / "runs" / "curve_fit" / "evoforge" / "b4000-s0" / "earlier-invocations-seconds"
    assert float(earlier.read_text()) > 0


def test_a_resumed_evoforge_run_counts_the_time_of_its_earlier_invocations(
    tmp_path: Path,
) -> None:
    from evoforge.bench.engines import run_evoforge

    task = _curve_fit_task(tmp_path / "run-dir")
    earlier = task.run_dir / "earlier-invocations-seconds"
    task.run_dir.mkdir()
    earlier.write_text("5000\n")  # left by some other run: no database, so not resumed
    fresh = run_evoforge(task, llm=False)
    assert fresh.status == "ok" and not fresh.resumed
    assert fresh.wall_time_s < 5000 and not earlier.exists()

    earlier.write_text("5000\n")  # as if an invocation had been interrupted after 5000 s
    again = run_evoforge(task, llm=False)
    assert again.status == "ok" and again.resumed
    assert again.wall_time_s >= 5000 and again.best_score == fresh.best_score


def test_summary_matrix_marks_the_best_and_unfinished_seeds() -> None:
    records = [_record("a", seed, score) for seed, score in enumerate([0.1, 0.2, 0.3])]
    records += [_record("b", 0, 0.9), _record("c", 0, 0.9 * (1 + 1e-12))]
    matrix = summary_matrix(summarise(records, ["p"], ["a", "b", "c"]), seeds=3)
    header, _rule, row = matrix.strip().splitlines()
    assert header == "| problem (seed program) | a | b | c |"
    assert row == "| p (0.0000) | 0.2000 | **0.9000** (1/3) | **0.9000** (1/3) |"


def test_time_left_is_a_rough_estimate_from_the_pace() -> None:
    assert _time_left(60.0, 1, 3) == "; about 2 min left at this pace"
    assert _time_left(3600.0, 1, 3) == "; about 2.0 h left at this pace"
    assert _time_left(60.0, 3, 3) == ""
    # under a minute in seconds: 3.5 s per run with one of two left is not "about 1 min"
    assert _time_left(3.5, 1, 2) == "; about 4 s left at this pace"
    assert _time_left(0.2, 1, 2) == "; about 1 s left at this pace"


def test_a_seed_that_does_not_score_fails_every_engines_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No engine's run counts without a scored seed: the baselines' runs are recorded
    failed with the reason, as evoforge's is, and a re-run tries them again."""
    import shutil

    monkeypatch.chdir(tmp_path)
    problem = tmp_path / "broken"
    shutil.copytree(CURVE_FIT, problem)
    (problem / "evaluator.py").write_text("def evaluate(path):\n    return {}\n")
    options = BenchOptions(
        problems=[str(problem)],
        engines=["evoforge", "random-search", "best-of-n"],
        seeds=1,
        evaluations=3,
        out=tmp_path / "out",
        jobs=1,
    )
    run_bench(options, log=lambda line: None)
    records = read_records(tmp_path / "out" / "runs.jsonl")
    assert len(records) == 3
    for record in records.values():
        assert record.status == "failed", record
        assert "seed program did not score" in (record.reason or ""), record


def test_a_problem_whose_config_is_invalid_stops_the_bench_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    problem = tmp_path / "misconfigured"
    shutil.copytree(CURVE_FIT, problem)
    (problem / "config.yaml").write_text("run:\n  bogus: 1\n")
    out = tmp_path / "out"
    argv = ["bench", "--problems", str(problem), "--engines", "evoforge", "--out", str(out)]
    assert main([*argv, "--seeds", "1", "--evaluations", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run.bogus: unknown key" in err
    assert str(problem / "config.yaml") in err
    assert not (out / "runs.jsonl").exists()


def test_a_run_interrupted_in_its_worker_stops_the_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGINT that reaches a worker but not the bench (started in the background, the
    bench ignores SIGINT) stops the bench as a Ctrl-C would, instead of going on with
    the rest and ending as if all were well."""
    from evoforge.bench.harness import BenchInterrupted, _RunPool

    started: list[str] = []

    def interrupted_first(self: _RunPool, tasks: list) -> object:  # type: ignore[type-arg]
        for task in tasks:
            started.append(task.engine)
            yield task, None  # what a worker sends when SIGINT ended its run

    monkeypatch.setattr(_RunPool, "run", interrupted_first)
    options = BenchOptions(
        problems=[str(CURVE_FIT)],
        engines=["evoforge", "random-search"],
        seeds=1,
        evaluations=3,
        out=tmp_path / "out",
        jobs=1,
    )
    with pytest.raises(BenchInterrupted, match="run the same command again"):
        run_bench(options, log=lambda line: None)
    assert started == ["evoforge"]  # nothing after the interrupted run


def test_a_report_written_later_describes_the_runs_jobs(tmp_path: Path) -> None:
    """``--report-only`` with another ``--jobs`` (or none) writes the runs' own: the
    machine line and the command that reproduces them."""
    from dataclasses import replace

    options = BenchOptions(
        problems=[str(CURVE_FIT)],
        engines=["evoforge"],
        seeds=1,
        evaluations=3,
        out=tmp_path / "out",
        jobs=1,
        command="evoforge bench --problems curve_fit --engines evoforge",
    )
    run_bench(options, log=lambda line: None)
    (record,) = read_records(tmp_path / "out" / "runs.jsonl").values()
    assert record.jobs == 1
    later = run_bench(replace(options, jobs=2, report_only=True), log=lambda line: None)
    readme = later.readme.read_text()
    assert "1 job at once" in readme and "2 jobs at once" not in readme
    assert "evoforge bench --problems curve_fit --engines evoforge --jobs 1" in readme


def test_a_bench_killed_outright_leaves_no_run_or_oracle_behind(tmp_path: Path) -> None:
    """``kill -9`` of the bench alone: its run processes stop (an evoforge run lets its
    directory go, so the same command resumes it) and the oracle ends."""
    import re
    import signal
    import socket
    import subprocess
    import sys
    import time

    from evoforge.runs import lock_holder

    out = tmp_path / "out"
    argv = [sys.executable, "-m", "evoforge.cli", "bench", "--problems", str(CURVE_FIT)]
    argv += ["--engines", "evoforge", "random-search", "--seeds", "1", "--out", str(out)]
    bench = subprocess.Popen(
        [*argv, "--evaluations", "4000", "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    evo_dir = out / "runs" / "curve_fit" / "evoforge" / "b4000-s0" / "run"
    baseline_log = out / "runs" / "curve_fit" / "random-search" / "b4000-s0" / "evaluations.jsonl"
    port = None
    try:
        assert bench.stdout is not None
        for line in bench.stdout:
            match = re.search(r"oracle serving on http://127\.0\.0\.1:(\d+)/v1", line)
            if match:
                port = int(match.group(1))
                break
        assert port is not None, "the oracle did not start"
        for _ in range(600):  # until both runs have started
            started = (evo_dir / "run.sqlite").exists() and baseline_log.exists()
            if started and lock_holder(evo_dir) is not None and baseline_log.read_text():
                break
            time.sleep(0.1)
        bench.kill()
        bench.wait()

        def oracle_gone() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            except OSError:
                return True
            return False

        def runs_stopped() -> bool:
            before = baseline_log.read_text()
            time.sleep(1)
            return lock_holder(evo_dir) is None and baseline_log.read_text() == before

        for _ in range(120):
            if oracle_gone() and runs_stopped():
                break
        assert oracle_gone(), "the oracle outlived the bench"
        assert lock_holder(evo_dir) is None, "the evoforge run outlived the bench"
        assert runs_stopped(), "the random-search run outlived the bench"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(bench.pid, signal.SIGKILL)
        if bench.stdout is not None:
            bench.stdout.close()


def test_an_evoforge_run_another_process_drives_is_never_deleted(tmp_path: Path) -> None:
    """A run directory in use (by a run a killed bench left going) fails this run with a
    line that says so; it is neither deleted nor started again beside the other."""
    from evoforge.bench.engines import run_evoforge
    from evoforge.runs import RunLock, RunLockedError

    task = _curve_fit_task(tmp_path / "run-dir")
    evo_dir = task.run_dir / "run"
    evo_dir.mkdir(parents=True)
    (evo_dir / "kept").write_text("the other process's files\n")
    with RunLock(evo_dir), pytest.raises(RunLockedError, match="is in use by pid"):
        run_evoforge(task, llm=False)
    assert (evo_dir / "kept").read_text() == "the other process's files\n"


def test_report_only_with_no_matching_runs_says_so_and_keeps_the_report(tmp_path: Path) -> None:
    """A mistyped budget (or --out) with --report-only must not write an empty report over
    the one there is; it says what runs.jsonl holds instead."""
    from evoforge.bench.harness import BenchError
    from evoforge.bench.records import append_records

    out = tmp_path / "out"
    append_records(out / "runs.jsonl", [_record("evoforge", 0, 0.5)])
    (out / "README.md").write_text("the report of the runs there\n")
    options = BenchOptions(
        problems=[str(CURVE_FIT)], engines=["evoforge"], seeds=1, evaluations=4, out=out
    )
    with pytest.raises(BenchError, match=r"none of the runs .* match .*--evaluations 3"):
        run_bench(replace(options, report_only=True), log=lambda _line: None)
    assert (out / "README.md").read_text() == "the report of the runs there\n"
    assert not (out / "table.md").exists()

    nowhere = tmp_path / "no-such-output"
    with pytest.raises(BenchError, match="does not exist"):
        run_bench(replace(options, out=nowhere, report_only=True), log=lambda _line: None)
    assert not nowhere.exists()


def test_a_record_appended_after_a_torn_line_is_kept(tmp_path: Path) -> None:
    """A crash mid-write leaves a line without its end; the next record must not join it."""
    from evoforge.bench.records import append_records

    path = tmp_path / "runs.jsonl"
    append_records(path, [_record("a", 0, 0.5)])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"problem": "p", "eng')
    append_records(path, [_record("a", 1, 0.7), _record("a", 2, 0.9)])
    assert sorted(read_records(path)) == [("p", "a", seed, 3) for seed in (0, 1, 2)]


def test_a_bench_whose_runs_failed_says_so_and_ends_with_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every run failed: the closing line counts them, one line on stderr names the first
    reason, and the exit status is not the 0 of a bench where all went well."""
    import shutil

    problem = tmp_path / "broken"
    shutil.copytree(CURVE_FIT, problem)
    (problem / "evaluator.py").write_text("def evaluate(path):\n    return {}\n")
    argv = ["bench", "--problems", str(problem), "--engines", "evoforge", "--seeds", "1"]
    argv += ["--evaluations", "3", "--jobs", "1", "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "1 run recorded, 1 failed, 0 already finished" in captured.out
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "1 run without a result" in err
    assert "broken / evoforge / seed 0: failed:" in err and "seed program did not score" in err
    # a report of those runs, written later, is a report: it succeeds
    assert main([*argv, "--report-only"]) == 0


def test_runs_of_a_problem_edited_since_are_not_mixed_with_new_ones(tmp_path: Path) -> None:
    """A user edits their problem and runs the same bench again: the finished runs of the
    old files must not count as this problem's (the report would show stale scores)."""
    import shutil

    from evoforge.bench.harness import BenchError

    problem = tmp_path / "mine"
    shutil.copytree(CURVE_FIT, problem)
    options = BenchOptions(
        problems=[str(problem)],
        engines=["evoforge"],
        seeds=1,
        evaluations=3,
        out=tmp_path / "out",
        jobs=1,
    )
    first = run_bench(options, log=lambda _line: None)
    assert first.ran == 1
    evaluator = problem / "evaluator.py"
    original = evaluator.read_text()
    evaluator.write_text(original + "\n# scored differently from now on\n")
    with pytest.raises(BenchError, match=r"'mine' .* other files of that problem"):
        run_bench(options, log=lambda _line: None)
    assert len((tmp_path / "out" / "runs.jsonl").read_text().splitlines()) == 1
    # a report of what ran is still a report
    assert run_bench(replace(options, report_only=True), log=lambda _line: None).records
    evaluator.write_text(original)
    assert run_bench(options, log=lambda _line: None).skipped_finished == 1


def test_a_report_that_cannot_be_written_whole_keeps_the_one_there_was(tmp_path: Path) -> None:
    """A full disk (a file-size limit here) or a kill while the report is written leaves
    each file of the earlier report, never part of a plot or a page, and the one line
    names the file (it left a cut PNG and said only "File too large")."""
    from evoforge.bench.records import append_records

    out = tmp_path / "out"
    append_records(out / "runs.jsonl", [replace(_record("evoforge", 0, 0.5), problem="curve_fit")])
    (out / "plots").mkdir()
    (out / "plots" / "curve_fit.png").write_bytes(b"the plot of the runs there")
    (out / "README.md").write_text("the report of the runs there\n")
    limit = 2048  # less than any plot

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    bench = ["bench", "--problems", str(CURVE_FIT), "--engines", "evoforge", "--seeds", "1"]
    bench += ["--evaluations", "3", "--out", str(out), "--report-only"]
    done = subprocess.run(
        [sys.executable, "-m", "evoforge", *bench],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit_file_size,
        env={**os.environ, "PATH": os.path.dirname(sys.executable)},  # no git under the limit
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(f"File too large: {out / 'plots' / 'curve_fit.png'}")
    assert (out / "plots" / "curve_fit.png").read_bytes() == b"the plot of the runs there"
    assert (out / "README.md").read_text() == "the report of the runs there\n"
    assert not list(out.rglob(".*.tmp"))
