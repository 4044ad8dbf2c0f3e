"""Template processes run evaluations side by side, each apart from the others.

The runs of one template are forked by one process; these tests check that this does not
make them wait for each other: two evaluations are in flight at once (each can finish only
if the other runs at the same time), each run is a session of its own, as a one-shot run
is (where the kernel schedules a session's processes as one group, runs sharing the
template's session would share one CPU share), the template keeps an evaluation
prepared ahead for each run in flight, what a run leaves running is gone by the time
the run is reported, and every evaluation draws fresh random numbers (whether the template
forks with libc's ``fork``, as it does with a single thread, or with ``os.fork()``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.sandbox import memory_cgroup_root
from evoforge.program import EvalStatus

from .conftest import MakeEvaluator

# Each evaluation holds a reader on its own FIFO and opens its peer's FIFO for writing,
# which the kernel allows only while the peer holds its reader: both evaluations finish
# with a score of 1 only if both ran at the same time. FIFOs work on the read-only view
# of the problem directory that the evaluator side gets.
MEETING = """
import errno
import os
import select
import time
from pathlib import Path

HERE = Path(__file__).parent
WAIT_S = 20.0


def meet(role):
    if role not in ("a", "b"):
        return 1.0  # a warm-up: meets nobody
    peer = "b" if role == "a" else "a"
    deadline = time.monotonic() + WAIT_S
    own = os.open(HERE / f"{role}.fifo", os.O_RDONLY | os.O_NONBLOCK)
    while True:
        try:
            out = os.open(HERE / f"{peer}.fifo", os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                return 0.0
            time.sleep(0.01)
    os.write(out, b"x")
    while time.monotonic() < deadline:
        ready, _, _ = select.select([own], [], [], 0.05)
        if ready and os.read(own, 1) == b"x":
            return 1.0
    return 0.0
"""

SHARED_EVALUATOR = (
    MEETING
    + """

def evaluate(program_path):
    role = Path(program_path).read_text().split("ROLE = ")[1][1]
    return {"combined_score": meet(role), "own_session": float(os.getsid(0) == os.getpid())}
"""
)

ISOLATED_EVALUATOR = (
    MEETING
    + """

def evaluate_candidate(candidate):
    own_session = os.getsid(0) == os.getpid() and candidate.own_session()
    return {"combined_score": meet(candidate.role()), "own_session": float(own_session)}
"""
)

PROGRAM = """\
import os

ROLE = {role!r}


def role():
    return ROLE


def own_session():
    return os.getsid(0) == os.getpid()
"""


def _templated(evaluator: ProblemEvaluator) -> ProblemEvaluator:
    if evaluator.sandbox.filesystem != "mountns":
        pytest.skip("template processes need the jail (user and mount namespaces)")
    return evaluator


def _make_fifos(problem: Path) -> None:
    for role in ("a", "b"):
        os.mkfifo(problem / f"{role}.fifo")
        os.chmod(problem / f"{role}.fifo", 0o666)


def _evaluate_both(evaluator: ProblemEvaluator) -> dict[str, object]:
    results: dict[str, object] = {}

    def one(role: str) -> None:
        results[role] = evaluator.evaluate(PROGRAM.format(role=role))

    threads = [threading.Thread(target=one, args=(role,)) for role in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("form", ["shared", "isolated"])
def test_two_evaluations_are_in_flight_at_once_and_each_in_its_own_session(
    make_evaluator: MakeEvaluator, tmp_path: Path, form: str
) -> None:
    source = SHARED_EVALUATOR if form == "shared" else ISOLATED_EVALUATOR
    evaluator = _templated(make_evaluator(source, timeout_s=40.0))
    try:
        assert evaluator.isolated is (form == "isolated")
        _make_fifos(tmp_path / "problem")
        assert evaluator.evaluate(PROGRAM.format(role="c")).status is EvalStatus.OK  # warm-up
        results = _evaluate_both(evaluator)
        for role in ("a", "b"):
            result = results[role]
            assert result.status is EvalStatus.OK, result.reason  # type: ignore[attr-defined]
            assert result.metrics == {"combined_score": 1.0, "own_session": 1.0}  # type: ignore[attr-defined]
        for template in evaluator._templates.values():
            assert template.unusable is None  # the runs went through the templates
    finally:
        evaluator.close()


def _pids_where(matches: Callable[[str], bool]) -> list[int]:
    """The processes whose id (a ``/proc`` entry's name) ``matches`` accepts; one that
    ends while it is asked about is left out."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if matches(name):
                found.append(int(name))
        except OSError:
            continue
    return found


def _children(pid: int) -> list[int]:
    def parent_is(name: str) -> bool:
        stat = Path(f"/proc/{name}/stat").read_text()
        return int(stat[stat.rfind(")") + 2 :].split()[1]) == pid

    return _pids_where(parent_is)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _zygote(launcher: int) -> int:
    """The template process: the first process below the launcher whose script is
    zygote.py (the launchers above it name it among their arguments)."""
    pending = [launcher]
    while pending:
        pid = pending.pop()
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        script = next((arg for arg in argv[1:] if not arg.startswith(b"-")), b"")
        if script.endswith(b"zygote.py") and not _comm(pid).startswith("evoforge-"):
            return pid
        pending.extend(_children(pid))
    raise AssertionError("no template process found")


def test_the_template_keeps_an_evaluation_prepared_for_each_run_in_flight(
    make_evaluator: MakeEvaluator, tmp_path: Path
) -> None:
    evaluator = _templated(make_evaluator(SHARED_EVALUATOR, timeout_s=40.0))
    try:
        _make_fifos(tmp_path / "problem")
        assert evaluator.evaluate(PROGRAM.format(role="c")).status is EvalStatus.OK
        launcher = evaluator._templates["evaluator"]._state.proc
        assert launcher is not None
        zygote = _zygote(launcher.pid)

        def spares() -> int:
            return sum(_comm(pid) == "evoforge-spare" for pid in _children(zygote))

        deadline = time.monotonic() + 10.0
        while spares() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spares() == 1  # one run at a time so far: one prepared ahead
        results = _evaluate_both(evaluator)
        assert all(r.status is EvalStatus.OK for r in results.values())  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10.0
        while spares() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spares() == 2
    finally:
        evaluator.close()


@pytest.mark.skipif(memory_cgroup_root() is None, reason="no memory cgroup on this machine")
def test_closing_the_templates_leaves_none_of_their_cgroups(
    make_evaluator: MakeEvaluator, tmp_path: Path
) -> None:
    # Each template keeps a spare evaluation prepared, its cgroups joined; closing the
    # template kills the spare, which then cannot remove its own groups.
    evaluator = _templated(make_evaluator(ISOLATED_EVALUATOR, timeout_s=40.0))
    _make_fifos(tmp_path / "problem")
    try:
        assert evaluator.evaluate(PROGRAM.format(role="c")).status is EvalStatus.OK
        prefixes = [template._state.group_prefix for template in evaluator._templates.values()]
        assert len(prefixes) == 2 and all(prefixes)
        root = memory_cgroup_root()
        assert root is not None
        deadline = time.monotonic() + 10.0
        # the finished run's C1 removes its groups after reporting: wait for that too
        while len(_groups(root, prefixes)) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_groups(root, prefixes)) == 2  # a spare per side, each in its groups
    finally:
        evaluator.close()
    assert _groups(root, prefixes) == []


def _groups(root: Path, prefixes: list[str | None]) -> list[str]:
    return [
        name
        for name in os.listdir(root)
        if any(prefix and name.startswith(prefix) for prefix in prefixes)
    ]


# The evaluator leaves a daemon behind (double fork, its own session, a new program): a
# process the run's init must end before the run is reported.
DAEMON_EVALUATOR = """
import os


def evaluate(program_path):
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write_end, b"up")
            os.execv("/bin/sleep", ["sleep", "{token}"])
        os._exit(0)
    os.close(write_end)
    started = os.read(read_end, 2) == b"up"
    return {{"combined_score": float(started)}}
"""


def _processes_running(argument: str) -> list[int]:
    def has_argument(name: str) -> bool:
        return argument.encode() in Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")

    return _pids_where(has_argument)


def test_what_a_run_leaves_running_is_gone_when_the_run_is_reported(
    make_evaluator: MakeEvaluator,
) -> None:
    token = f"{4000 + os.getpid() % 1000}.{time.monotonic_ns() % 10**6}"
    evaluator = _templated(make_evaluator(DAEMON_EVALUATOR.format(token=token), timeout_s=40.0))
    try:
        for _ in range(2):  # the first run starts the template; the second takes a spare
            result = evaluator.evaluate(PROGRAM.format(role="c"))
            assert result.status is EvalStatus.OK, result.reason
            assert result.metrics == {"combined_score": 1.0}  # the daemon had started
            assert _processes_running(token) == []  # killed and reaped, not dying
    finally:
        evaluator.close()


# Each evaluation draws from Python's and numpy's global generators; with ``thread`` the
# evaluator also starts a thread when imported, so the template, which would import it
# ahead, leaves that to each evaluation (see the thread-pool test below).
RANDOM_EVALUATOR = """
import random
import threading
import time

import numpy

if {thread}:
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()


def evaluate(program_path):
    return {{
        "combined_score": 1.0,
        "python": random.random(),
        "numpy": float(numpy.random.random()),
        "threads": float(threading.active_count()),
    }}
"""


@pytest.mark.parametrize("thread", [False, True], ids=["one-thread", "two-threads"])
def test_every_evaluation_draws_fresh_random_numbers(
    make_evaluator: MakeEvaluator, thread: bool
) -> None:
    evaluator = _templated(make_evaluator(RANDOM_EVALUATOR.format(thread=thread), timeout_s=40.0))
    try:
        metrics = []
        for _ in range(4):  # the template's first run, then spares
            result = evaluator.evaluate(PROGRAM.format(role="c"))
            assert result.status is EvalStatus.OK, result.reason
            metrics.append(result.metrics)
    finally:
        evaluator.close()
    for generator in ("python", "numpy"):
        draws = [values[generator] for values in metrics]
        assert len(set(draws)) == len(draws), f"{generator}: {draws}"
    # the evaluator's thread runs in each evaluation, which imported the evaluator itself
    assert {values["threads"] for values in metrics} == {2.0 if thread else 1.0}


SIGINT_EVALUATOR = """
import signal


def evaluate(program_path):
    handler = signal.getsignal(signal.SIGINT)
    return {"combined_score": float(handler is signal.default_int_handler)}
"""


def test_a_command_gets_pythons_interrupt_handler(make_evaluator: MakeEvaluator) -> None:
    """The evaluation's init keeps SIGINT at its default (so nothing in the run can end
    it); the command it forks has Python's handler, as in a one-shot run."""
    evaluator = _templated(make_evaluator(SIGINT_EVALUATOR, timeout_s=40.0))
    try:
        for _ in range(2):  # the template's first run, then a spare
            result = evaluator.evaluate(PROGRAM.format(role="c"))
            assert result.status is EvalStatus.OK, result.reason
            assert result.metrics == {"combined_score": 1.0}
    finally:
        evaluator.close()


# matplotlib and torch choose their cache directories on import through
# ``tempfile.gettempdir()``, which remembers its answer; the template imports the evaluator
# ahead of every run, where that answer is its own spool, hidden and read-only in a run.
TEMPFILE_EVALUATOR = """
import os
import tempfile

IMPORTED_WITH = tempfile.gettempdir()


def _score():
    with tempfile.NamedTemporaryFile("w") as handle:  # torch.compile's cache, a plot
        handle.write("x")
    return {"combined_score": 1.0, "in_workdir": float(tempfile.gettempdir() == os.getcwd())}


def evaluate(program_path):
    return _score()


def evaluate_candidate(candidate):
    return _score()
"""


def _every_run_scores(
    make_evaluator: MakeEvaluator, source: str, form: str, metrics: dict[str, float]
) -> None:
    """The template's first run and a spare of ``source`` (in ``form``) give ``metrics``."""
    if form == "shared":
        source = source.replace("def evaluate_candidate", "def _unused")
    evaluator = _templated(make_evaluator(source, timeout_s=40.0))
    try:
        for _ in range(2):  # the template's first run, then a spare
            result = evaluator.evaluate(PROGRAM.format(role="c"))
            assert result.status is EvalStatus.OK, result.reason
            assert result.metrics == metrics
    finally:
        evaluator.close()


@pytest.mark.parametrize("form", ["shared", "isolated"])
def test_a_run_writes_temporary_files_in_its_own_directory_whatever_the_evaluator_imported(
    make_evaluator: MakeEvaluator, form: str
) -> None:
    metrics = {"combined_score": 1.0, "in_workdir": 1.0}
    _every_run_scores(make_evaluator, TEMPFILE_EVALUATOR, form, metrics)


# A library that starts a pool of threads when the evaluator imports it (numba's
# parallel=True compiled at import, torch or OpenMP with several threads) and hands work
# to it: a child forked from a template holding that pool has none of its threads.
POOL_EVALUATOR = """
import queue
import threading

_tasks = queue.Queue()


def _worker():
    while True:
        value, answer = _tasks.get()
        answer.put(value * 2)


threading.Thread(target=_worker, daemon=True).start()


def _score():
    answer = queue.Queue()
    _tasks.put((21, answer))
    try:
        return {"combined_score": float(answer.get(timeout=5) == 42)}
    except queue.Empty:  # the pool's thread is not in this process
        return {"combined_score": 0.0}


def evaluate(program_path):
    return _score()


def evaluate_candidate(candidate):
    return _score()
"""


@pytest.mark.parametrize("form", ["shared", "isolated"])
def test_an_evaluator_that_starts_a_thread_pool_on_import_gets_its_pool_in_every_run(
    make_evaluator: MakeEvaluator, form: str
) -> None:
    _every_run_scores(make_evaluator, POOL_EVALUATOR, form, {"combined_score": 1.0})


def test_a_timeout_too_short_for_the_handover_names_the_limit(
    make_evaluator: MakeEvaluator,
) -> None:
    """evaluator.timeout_s: 0.01 ended every evaluation with "sandbox setup failed: the
    template did not answer", as if the sandbox were broken."""
    evaluator = _templated(make_evaluator(ISOLATED_EVALUATOR, timeout_s=0.001))
    try:
        result = evaluator.evaluate(PROGRAM.format(role="warm-up"))
    finally:
        evaluator.close()
    assert result.status in (EvalStatus.FAILED, EvalStatus.TIMEOUT)
    assert "0.001s wall-clock" in result.reason, result.reason
