"""The benchmark harness: problems x engines x seeds under one evaluation budget.

:func:`run_bench` resolves the problems and engines, skips runs already finished in
``OUT/runs.jsonl``, starts one oracle process when an engine needs it, installs the
foreign engines (OpenEvolve, ShinkaEvolve) when asked for, runs the rest at most ``jobs``
at once, each in a process of its own (each evoforge run uses one worker inside, so about
``jobs`` processes compute at once), appends each finished run's record to
``runs.jsonl`` as it ends, and writes the report (``README.md``, the table, the plots)
from every record that matches.

Resuming is re-running the same command: finished runs are skipped, an interrupted
evoforge run continues from its run database, any other unfinished run starts again.
``--report-only`` runs nothing and writes the report from the records there are (a suite
too long for one sitting can be reported, committed and resumed later).
Only one harness may use an output directory at a time (an ``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from evoforge import __version__
from evoforge.bench.engines import (
    ENGINE_OPENEVOLVE,
    ENGINE_SHINKA,
    ENGINES,
    ORACLE_ENGINES,
    RunInterrupted,
    RunTask,
    run_task,
)
from evoforge.bench.lifetime import die_with_parent
from evoforge.bench.records import (
    RUNS_FILENAME,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_SKIPPED,
    RunKey,
    RunRecord,
    append_records,
    read_records,
)
from evoforge.cpus import usable_cpus
from evoforge.source_tree import install_command, source_root
from evoforge.wording import quantity

DEFAULT_OUT = Path("benchmarks") / "results"
PROBLEMS_DIR = Path("benchmarks") / "problems"
_ORACLE_URL_RE = re.compile(r"listening on (http://\S+/v1)")


class BenchError(Exception):
    """Bad input to the harness (unknown problem or engine, busy output); one line."""


class BenchInterrupted(Exception):
    """The bench was interrupted; finished runs are recorded, re-run to continue."""


@dataclass(frozen=True)
class BenchOptions:
    """What to run. ``problems`` are names under ``benchmarks/problems`` or paths."""

    problems: Sequence[str]
    engines: Sequence[str] = ("evoforge", "evoforge-oracle", "random-search", "best-of-n")
    seeds: int = 3
    evaluations: int = 100
    out: Path = DEFAULT_OUT
    jobs: int = field(default_factory=usable_cpus)
    max_run_seconds: float | None = None
    command: str = ""
    report_only: bool = False


@dataclass(frozen=True)
class BenchResult:
    """What one invocation did, and where the report is."""

    out: Path
    ran: int
    skipped_finished: int
    records: list[RunRecord]
    readme: Path | None
    wall_time_s: float


def repo_root() -> Path | None:
    """The source tree evoforge is imported from (holds ``benchmarks/`` in a clone), or
    ``None`` for an installed package (:func:`evoforge.source_tree.source_root`)."""
    return source_root()


def resolve_problem(spec: str) -> tuple[str, Path]:
    """(name, directory) for a problem name or path; :class:`BenchError` if neither."""
    candidate = Path(spec)
    if candidate.is_dir():
        return candidate.resolve().name, candidate.resolve()
    if "/" not in spec and spec not in ("", ".", ".."):
        for base in _problem_bases():
            directory = base / PROBLEMS_DIR / spec
            if directory.is_dir():
                return spec, directory.resolve()
    known = known_problems()
    if known:
        hint = f" (known: {', '.join(known[:20])})"
    elif repo_root() is None:  # an installed evoforge: the suite is not in the package
        hint = (
            " (the suite's problems come with evoforge's source tree, not with the "
            "installed package: run from a clone, or name a problem directory)"
        )
    else:
        hint = ""
    raise BenchError(f"unknown problem {spec!r}: not a directory and not in {PROBLEMS_DIR}/{hint}")


def _problem_bases() -> list[Path]:
    """Where ``benchmarks/problems`` is looked for: here, then evoforge's source tree."""
    root = repo_root()
    return [Path.cwd()] if root is None else [Path.cwd(), root]


def known_problems() -> list[str]:
    for base in _problem_bases():
        directory = base / PROBLEMS_DIR
        if directory.is_dir():
            return sorted(
                entry.name
                for entry in directory.iterdir()
                if (entry / "initial_program.py").is_file()
            )
    return []


def source_revision() -> str:
    """The git commit evoforge runs from (short hash, ``+modified`` when the package or the
    benchmark problems differ from it), or its version where it is not a git checkout of
    its own (see :func:`revision_of`)."""
    return revision_of(repo_root())


def revision_of(root: Path | None) -> str:
    """The git commit of the source tree ``root`` (as :func:`source_revision`), or
    evoforge's version (``0.1.0``) when ``root`` is ``None`` (an installed package) or is
    not the top of a git work tree: a source archive unpacked inside another repository
    must not be recorded as that repository's commit."""
    if root is None:
        return __version__
    try:
        toplevel, head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.splitlines()
        if Path(toplevel).resolve() != root.resolve():
            return __version__
        changed = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--",
                "evoforge",
                "benchmarks/problems",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            # no index refresh: a status that takes the checkout's index.lock makes the
            # user's own git commands fail meanwhile, and leaves it there when killed
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError, ValueError):  # no git, no work tree
        return __version__
    return f"{head}+modified" if head and changed else head


def problem_fingerprint(files: dict[str, bytes]) -> str:
    """A short hash of a problem's files (:attr:`evoforge.problem.Problem.files`: names and
    contents, caches and run outputs left out): runs made before an edit have another."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:16]


def check_engines(engines: Sequence[str]) -> list[str]:
    unknown = [name for name in engines if name not in ENGINES]
    if unknown:
        raise BenchError(f"unknown engine {unknown[0]!r} (known: {', '.join(ENGINES)})")
    return list(dict.fromkeys(engines))


def run_dir_for(out: Path, problem: str, engine: str, seed: int, budget: int) -> Path:
    return out / "runs" / problem / engine / f"b{budget}-s{seed}"


@contextlib.contextmanager
def _out_lock(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".bench.lock", "a+", encoding="utf-8")  # noqa: SIM115
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(f"{out} is in use by another evoforge bench") from None
        yield
    finally:
        handle.close()


class OracleProcess:
    """``evoforge oracle --port 0`` as a child process; :attr:`url` is read from its banner."""

    def __init__(self, log_path: Path, seed: int = 0) -> None:
        self.log_path = log_path
        bench_pid = os.getpid()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evoforge.cli", "oracle", "--port", "0", "--seed", str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # a Ctrl-C of the bench must not kill it mid-run
            # ... but a bench killed outright must not leave it serving nobody for ever
            preexec_fn=lambda: die_with_parent(signal.SIGTERM, bench_pid),
        )
        assert self.process.stdout is not None
        self.url = self._read_url(self.process.stdout)
        self._drain = threading.Thread(target=self._copy_output, daemon=True)
        self._drain.start()

    def _read_url(self, stream: IO[str]) -> str:
        deadline = time.monotonic() + 60
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = stream.readline()
            if not line:
                break
            seen.append(line)
            match = _ORACLE_URL_RE.search(line)
            if match:
                return match.group(1)
        self.stop()
        raise BenchError(f"the oracle did not start: {''.join(seen)[-300:] or 'no output'}")

    def _copy_output(self) -> None:
        assert self.process.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _worker(task: RunTask) -> RunRecord | None:
    """Pool entry point: one run, its output in ``run_dir/bench.log``; ``None`` if
    interrupted (not recorded), a ``failed`` record if the run itself broke."""
    # A bench started in the background (``cmd &``) inherits SIGINT ignored; the harness
    # stops its workers with SIGINT, so they must take it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # a bench killed outright (kill -9) stops its runs as a Ctrl-C would: a run left
    # going would hold its directory against the re-run and compute for nobody
    parent = multiprocessing.parent_process()
    die_with_parent(signal.SIGINT, parent.pid if parent is not None else None)
    task.run_dir.mkdir(parents=True, exist_ok=True)
    log = open(task.run_dir / "bench.log", "a", encoding="utf-8")  # noqa: SIM115
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    started = time.monotonic()
    try:
        return run_task(task)
    except (RunInterrupted, KeyboardInterrupt):
        return None
    except Exception as exc:
        traceback.print_exc()
        return task.record(
            status=STATUS_FAILED,
            wall_time_s=time.monotonic() - started,
            reason=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300],
        )
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _format_record(record: RunRecord) -> str:
    where = f"{record.problem} / {record.engine} / seed {record.seed}"
    if record.status != STATUS_OK:
        return f"{where}: {record.status}: {record.reason}"
    best = "-" if record.best_score is None else f"{record.best_score:.6g}"
    initial = "-" if record.initial_score is None else f"{record.initial_score:.6g}"
    return (
        f"{where}: best {best} (seed {initial}), {record.evaluations} evaluations, "
        f"{record.wall_time_s:.1f} s ({record.stop_reason})"
    )


def run_bench(options: BenchOptions, log: Callable[[str], None] = print) -> BenchResult:
    """Run what is not finished yet, record it, and write the report. See the module doc."""
    from evoforge.bench.report import write_report
    from evoforge.config import resolve_config
    from evoforge.problem import load_problem

    started = time.monotonic()
    if options.seeds < 1:
        raise BenchError("--seeds must be at least 1")
    if options.evaluations < 1:
        raise BenchError("--evaluations must be at least 1")
    if not options.problems:
        raise BenchError("no problems given")
    engines = check_engines(options.engines)
    if importlib.util.find_spec("scipy") is None:
        # the report's bootstrap intervals: fail now, not after hours of runs
        raise BenchError(f"the report needs scipy: {install_command('bench')}")
    problems: dict[str, Path] = {}
    fingerprints: dict[str, str] = {}
    for spec in options.problems:
        name, directory = resolve_problem(spec)
        if name in problems and problems[name] != directory:
            raise BenchError(f"two problems are named {name!r}: {problems[name]} and {directory}")
        # a malformed problem or config stops the bench before anything runs
        loaded = load_problem(directory)
        resolve_config(
            problem_layer=loaded.config_layer,
            problem_source=str(loaded.directory / "config.yaml"),
        )
        problems[name] = directory
        fingerprints[name] = problem_fingerprint(loaded.files)
    out = Path(options.out).resolve()  # workers run elsewhere: no relative paths
    budget = options.evaluations
    seeds = list(range(options.seeds))
    if options.report_only and not (out / RUNS_FILENAME).is_file():
        raise BenchError(f"--report-only: {out / RUNS_FILENAME} does not exist (nothing to report)")
    with _out_lock(out):
        runs_file = out / RUNS_FILENAME
        previous = read_records(runs_file)
        pending: list[RunTask] = []
        finished = 0
        revision = source_revision()
        if not options.report_only:
            _refuse_runs_of_edited_problems(previous, fingerprints, engines, seeds, budget, out)
        # problem-major order: a long suite completes whole table rows first
        for problem, directory in problems.items():
            for seed in seeds:
                for engine in engines:
                    record = previous.get((problem, engine, seed, budget))
                    if record is not None and record.status == STATUS_OK:
                        finished += 1
                        continue
                    pending.append(
                        RunTask(
                            problem=problem,
                            problem_dir=directory,
                            engine=engine,
                            seed=seed,
                            budget=budget,
                            run_dir=run_dir_for(out, problem, engine, seed, budget).resolve(),
                            max_run_seconds=options.max_run_seconds,
                            python=sys.executable,
                            revision=revision,
                            problem_files=fingerprints[problem],
                        )
                    )
        log(
            f"evoforge bench: {quantity(len(problems), 'problem')} x "
            f"{quantity(len(engines), 'engine')} x {quantity(len(seeds), 'seed')}, "
            f"{budget} evaluations each; {finished} finished before, {len(pending)} to run on "
            f"{quantity(options.jobs, 'job')}; output in {out}"
        )
        if options.report_only:
            log(f"report only: {quantity(len(pending), 'run')} left unrun")
            pending = []
        pending, skipped = _prepare_foreign_engines(pending, out, log)
        if skipped:
            append_records(runs_file, skipped)
        recorded = _run_pending(pending, out, options.jobs, log)
        records = read_records(runs_file)
        matching = [
            record
            for key, record in records.items()
            if key[0] in problems and key[1] in engines and key[2] in seeds and key[3] == budget
        ]
        if options.report_only and not matching:
            # an empty report over a good one helps nobody: say what the file holds
            raise BenchError(
                f"--report-only: none of the runs in {runs_file} match these options "
                f"(it holds {_describe_records(list(records.values()))})"
            )
        command, jobs = options.command, options.jobs
        recorded_jobs = {record.jobs for record in matching if record.jobs is not None}
        if options.report_only and len(recorded_jobs) == 1:
            # the report describes the runs: their --jobs, not this call's
            jobs = recorded_jobs.pop()
            if "--jobs" not in command.split():
                command += f" --jobs {jobs}"
        readme = write_report(
            out,
            matching,
            problems=list(problems),
            engines=engines,
            seeds=seeds,
            budget=budget,
            command=command,
            jobs=jobs,
            log=log,
        )
    return BenchResult(
        out=out,
        ran=recorded,
        skipped_finished=finished,
        records=matching,
        readme=readme,
        wall_time_s=time.monotonic() - started,
    )


def _refuse_runs_of_edited_problems(
    previous: dict[RunKey, RunRecord],
    fingerprints: dict[str, str],
    engines: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    out: Path,
) -> None:
    """:class:`BenchError` when finished runs this bench would count were made from other
    files of their problem (edited since): resumed, the report would mix both."""
    stale: dict[str, int] = {}
    for (problem, engine, seed, run_budget), record in previous.items():
        if problem not in fingerprints or engine not in engines or seed not in seeds:
            continue
        if run_budget != budget or record.status != STATUS_OK or not record.problem_files:
            continue
        if record.problem_files != fingerprints[problem]:
            stale[problem] = stale.get(problem, 0) + 1
    if stale:
        problem, count = next(iter(stale.items()))
        raise BenchError(
            f"{quantity(count, 'finished run')} of {problem!r} in {out} "
            f"{'was' if count == 1 else 'were'} made from other files of that problem (it "
            "was edited since); give another --out, or restore the files"
        )


def _describe_records(records: Sequence[RunRecord]) -> str:
    """What runs a ``runs.jsonl`` holds, in one line: its problems, engines, budgets, seeds."""
    if not records:
        return "no runs"

    def listed(values: set[Any]) -> str:
        return ", ".join(str(value) for value in sorted(values))

    return (
        f"{quantity(len(records), 'run')}: problems {listed({r.problem for r in records})}; "
        f"engines {listed({r.engine for r in records})}; "
        f"--evaluations {listed({r.budget for r in records})}; "
        f"seeds {listed({r.seed for r in records})}"
    )


def _prepare_foreign_engines(
    pending: list[RunTask], out: Path, log: Callable[[str], None]
) -> tuple[list[RunTask], list[RunRecord]]:
    """Give the runs of foreign engines (OpenEvolve, ShinkaEvolve) their venv's ``bin``,
    or turn them into ``skipped`` records where it cannot be installed."""
    from dataclasses import replace

    from evoforge.bench.foreign import EngineUnavailable, ensure_venv
    from evoforge.bench.openevolve import OPENEVOLVE
    from evoforge.bench.shinka import SHINKA

    skipped: list[RunRecord] = []
    for name, engine, label in (
        (ENGINE_OPENEVOLVE, OPENEVOLVE, "OpenEvolve"),
        (ENGINE_SHINKA, SHINKA, "ShinkaEvolve"),
    ):
        if not any(task.engine == name for task in pending):
            continue
        announcement = f"installing {label} into its own virtual environment (once) ..."
        try:
            bin_dir = ensure_venv(
                engine,
                out / ".venvs",
                out / ".venvs" / f"{engine.venv}-install.log",
                on_install=functools.partial(log, announcement),
            )
        except EngineUnavailable as exc:
            log(f"{name} runs skipped: {exc}")
            skipped += [
                task.record(status=STATUS_SKIPPED, reason=str(exc))
                for task in pending
                if task.engine == name
            ]
            pending = [task for task in pending if task.engine != name]
            continue
        pending = [
            replace(task, engine_bin=bin_dir) if task.engine == name else task for task in pending
        ]
    return pending, skipped


def _run_pending(pending: list[RunTask], out: Path, jobs: int, log: Callable[[str], None]) -> int:
    """Run the tasks, at most ``jobs`` at once; append each record as it arrives. Returns how
    many were recorded. On Ctrl-C the workers (same process group) stop their runs
    cleanly; nothing unfinished is recorded, and :class:`BenchInterrupted` is raised."""
    from dataclasses import replace

    if not pending:
        return 0
    runs_file = out / RUNS_FILENAME
    oracle: OracleProcess | None = None
    if any(task.engine in ORACLE_ENGINES for task in pending):
        oracle = OracleProcess(out / "oracle.log")
        log(f"oracle serving on {oracle.url}")
        pending = [
            replace(task, oracle_url=oracle.url) if task.engine in ORACLE_ENGINES else task
            for task in pending
        ]
    recorded = 0
    pool = _RunPool(max(1, jobs))
    restore_sigterm = _sigterm_as_interrupt()
    pool_started = time.monotonic()
    try:
        for done, (task, record) in enumerate(pool.run(pending), start=1):
            if record is None:
                log(
                    f"[{done}/{len(pending)}] {task.problem} / {task.engine} / seed "
                    f"{task.seed}: interrupted, not recorded"
                )
                # a SIGINT reached the worker but not this process (a bench started in
                # the background ignores it): the user stopped it all the same
                raise KeyboardInterrupt
            record = replace(record, jobs=jobs)
            append_records(runs_file, [record])
            recorded += 1
            log(
                f"[{done}/{len(pending)}] {_format_record(record)}"
                f"{_time_left(time.monotonic() - pool_started, done, len(pending))}"
            )
    except KeyboardInterrupt:
        # No queued run starts any more; the running ones are asked to stop (SIGINT) until
        # none is left. A run that finished meanwhile is still recorded.
        for _task, record in pool.stop():
            if record is not None and record.status == STATUS_OK:
                record = replace(record, jobs=jobs)
                append_records(runs_file, [record])
                recorded += 1
                log(f"{_format_record(record)} (finished while stopping)")
        raise BenchInterrupted(
            f"interrupted after {quantity(recorded, 'run')}; run the same command again to continue"
        ) from None
    finally:
        pool.kill()
        restore_sigterm()
        if oracle is not None:
            oracle.stop()
    return recorded


def _worker_main(task: RunTask, result: Any) -> None:
    """Entry point of a run's process: :func:`_worker`'s record goes back through the
    ``result`` pipe end (``None``: interrupted)."""
    record = _worker(task)
    with contextlib.suppress(OSError):
        result.send(record)
        result.close()


class _RunPool:
    """At most ``jobs`` runs at once, each in a fresh (spawned) process of its own.

    A process per run keeps runs from sharing state and lets the harness interrupt one
    without touching the others. (The standard ``ProcessPoolExecutor`` with one task per
    child can hang interpreter exit after an interrupted shutdown, hence this.)
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.context = multiprocessing.get_context("spawn")
        self.running: dict[Any, tuple[Any, RunTask]] = {}  # pipe end -> (process, task)

    def run(self, tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, RunRecord | None]]:
        """Yield (task, record) as runs end; a run whose process died yields a ``failed``
        record. Queued runs start only while the caller keeps iterating."""
        queue = list(tasks)
        queue.reverse()
        while queue or self.running:
            while queue and len(self.running) < self.jobs:
                self._start(queue.pop())
            for reader in multiprocessing.connection.wait(list(self.running)):
                yield self._collect(reader)

    def stop(self) -> list[tuple[RunTask, RunRecord | None]]:
        """Interrupt the running runs (SIGINT, repeated until they end); their outcomes."""
        outcomes: list[tuple[RunTask, RunRecord | None]] = []
        while self.running:
            for process, _task in self.running.values():
                with contextlib.suppress(OSError, ValueError):
                    if process.pid is not None and process.is_alive():
                        os.kill(process.pid, signal.SIGINT)
            for reader in multiprocessing.connection.wait(list(self.running), timeout=0.5):
                outcomes.append(self._collect(reader))
        return outcomes

    def kill(self) -> None:
        """Kill whatever still runs (only left after an unexpected error)."""
        for reader, (process, _task) in list(self.running.items()):
            with contextlib.suppress(OSError, ValueError):
                process.kill()
                process.join()
                reader.close()
        self.running.clear()

    def _start(self, task: RunTask) -> None:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_worker_main, args=(task, writer), daemon=False)
        process.start()
        writer.close()  # the child holds the only writer: EOF when it dies
        self.running[reader] = (process, task)

    def _collect(self, reader: Any) -> tuple[RunTask, RunRecord | None]:
        process, task = self.running[reader]
        record: RunRecord | None
        try:
            record = reader.recv()
        except (EOFError, OSError):
            process.join()
            record = task.record(
                status=STATUS_FAILED,
                reason=f"worker died (exit status {process.exitcode})",
            )
        del self.running[reader]  # only now: an interrupt above leaves the run to stop()
        reader.close()
        process.join()
        return task, record


def _time_left(elapsed_s: float, done: int, total: int) -> str:
    """A rough estimate of the time the rest will take at the pace so far ("" when done), in
    seconds under a minute, minutes under an hour, else hours.

    Runs differ a lot in cost (problems, engines), so this is a guide, not a promise."""
    if done <= 0 or done >= total:
        return ""
    left = elapsed_s / done * (total - done)
    if left >= 3600:
        return f"; about {left / 3600:.1f} h left at this pace"
    if left >= 59.5:
        return f"; about {round(left / 60)} min left at this pace"
    return f"; about {max(1, round(left))} s left at this pace"


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM stop the bench like Ctrl-C (runs recorded, oracle stopped); returns the
    function that puts the previous handler back. A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
