"""Candidates run apart from their evaluator: hostile programs against isolated problems.

Each hostile program keeps the seed's behaviour and adds one attack, run at its first
call: hunting the evaluator through ``sys.modules``, ``gc`` and the caller's frames,
patching ``builtins``, reading the problem directory by absolute path (also through
``/proc/<pid>/root``), importing the evaluator's helpers, reading other processes through
``/proc``, signalling every process it can see, talking garbage on the channel, and
searching the filesystem for the run's database. Every attack prints ``LEAK ...`` for
whatever it finds and ``PROBE-DONE`` when it is through; the candidate's stdout comes back
as an artifact. For every case: no leak, a score no better than the honest seed (or a
failure with a clear reason), no process left, nothing outside the work directory
changed, no secret anywhere, and the run goes on.

The attacks run against a small isolated problem written by a fixture (hidden answers in
``data/cases.json``, a module-level secret in ``evaluator.py``) and against the real
benchmark problems that are in the isolated form. A control case runs the same probes in
the shared-process form, where they do find the evaluator: the probes are not blind.
"""

from __future__ import annotations

import ast
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evoforge.config import EvaluatorConfig
from evoforge.engine import Engine
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.program import EvalStatus, Program

from .conftest import (
    SECRET_VARIABLE,
    TAG_VARIABLE,
    HostileRun,
    IsolatedRun,
    _environment,
    describe_processes,
    leftover_processes,
    start_run,
    with_block,
)

JAILED = filesystem_isolation() == "mountns"
needs_jail = pytest.mark.skipif(
    not JAILED, reason=f"no filesystem jail here ({filesystem_isolation()})"
)

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "benchmarks" / "problems"
SUITE_PROBLEMS = (
    "bin_packing",
    "cache_eviction",
    "optimizer_update_rule",
    "sor_relaxation",
    "data_selection",
)

# -- the attacks ----------------------------------------------------------------------------

# Shared by every hostile program (appended to the seed's evolve block). ``_leak`` reports a
# find; ``_seen`` reports text holding a secret of the test's (the prefixes only: the
# secrets themselves must never be in a program, which the run database stores).
ATTACKS = """
import builtins as _builtins
import functools as _functools
import gc as _gc
import inspect as _inspect
import os as _os
import signal as _signal
import sys as _sys
import types as _types

_SECRET_PREFIXES = ("sk-adversarial-", "evaluator-secret-")
_EVALUATOR_FILES = ("evaluator.py", "runner.py")


def _leak(what):
    print("LEAK " + str(what)[:300], flush=True)


def _seen(text, where):
    for prefix in _SECRET_PREFIXES:
        if prefix in text:
            _leak("secret in " + where)


def _pids():
    return sorted(int(entry) for entry in _os.listdir("/proc") if entry.isdigit())


def _evaluator_code(value):
    code = getattr(value, "__code__", None)
    filename = getattr(code, "co_filename", "")
    return isinstance(filename, str) and filename.endswith(_EVALUATOR_FILES)


def _introspection():
    for name, module in list(_sys.modules.items()):
        path = str(getattr(module, "__file__", None) or "")
        if path.endswith(_EVALUATOR_FILES) or hasattr(module, "evaluate_candidate"):
            _leak("module " + name + " " + path)
    for thing in _gc.get_objects():
        try:
            if _evaluator_code(thing):
                _leak("function " + thing.__code__.co_name + " in gc")
            if type(thing).__name__ in ("EvaluatorEnd", "ProblemEvaluator"):
                _leak("object " + type(thing).__name__ + " in gc")
            if isinstance(thing, dict) and ("evaluate_candidate" in thing or "SECRET" in thing):
                _leak("evaluator namespace in gc")
        except Exception:
            pass
    own = [v for v in list(globals().values()) if isinstance(v, _types.FunctionType)]
    for referrer in _gc.get_referrers(*own):
        if isinstance(referrer, dict) and "evaluate_candidate" in referrer:
            _leak("evaluator namespace refers to the candidate")
        if isinstance(referrer, _types.FrameType) and _evaluator_code(referrer):
            _leak("evaluator frame refers to the candidate")
    frame = _sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.endswith(_EVALUATOR_FILES):
            _leak("caller frame " + frame.f_code.co_filename)
        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            if type(value).__name__ == "EvaluatorEnd" or _evaluator_code(value):
                _leak("evaluator object in a caller frame")
        frame = frame.f_back
    for info in _inspect.stack():
        if info.filename.endswith(_EVALUATOR_FILES):
            _leak("stack entry " + info.filename)
    # Patching what an evaluator would use to check answers changes this process only.
    import math
    math.isfinite = lambda value: True
    _builtins.round = lambda value, digits=None: 0
    _builtins.abs = lambda value: 0
    _builtins.sorted = lambda values, **kwargs: list(values)
    try:
        import numpy
        numpy.argmax = lambda *args, **kwargs: 0
        numpy.isfinite = lambda value: True
        numpy.all = lambda *args, **kwargs: True
    except ImportError:
        pass


def _files(paths):
    pids = _pids()
    for path in paths:
        for seen_as in [path] + ["/proc/%d/root%s" % (pid, path) for pid in pids]:
            try:
                if _os.path.isdir(seen_as):
                    _leak("listed " + seen_as + ": " + ",".join(_os.listdir(seen_as)))
                    continue
                with open(seen_as, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            _leak("read " + seen_as)
            _seen(data.decode("utf-8", "replace"), seen_as)
    for pid in pids:
        for link in ("cwd", "root"):
            place = "/proc/%d/%s" % (pid, link)
            try:
                names = _os.listdir(place)
            except OSError:
                continue
            for name in names:
                if name in ("evaluator.py", "data", "run.sqlite", "README.md"):
                    _leak("found " + name + " in " + place)


def _proc():
    pids = _pids()
    print("PIDS " + ",".join(map(str, pids)), flush=True)
    for pid in pids:
        for name in ("cmdline", "environ"):
            try:
                with open("/proc/%d/%s" % (pid, name), "rb") as handle:
                    text = handle.read().decode("utf-8", "replace")
            except OSError:
                continue
            if "runner.py" in text or "evaluator.py" in text:
                _leak("the evaluator's process is visible: /proc/%d/%s" % (pid, name))
            _seen(text, "/proc/%d/%s" % (pid, name))
    parent = _os.getppid()
    readable = 0
    try:
        with open("/proc/%d/maps" % parent) as handle:
            regions = [line.split() for line in handle]
        with open("/proc/%d/mem" % parent, "rb") as memory:
            for region in regions:
                start, end = (int(part, 16) for part in region[0].split("-"))
                if "r" not in region[1] or end - start > 64 * 1024 * 1024:
                    continue
                try:
                    memory.seek(start)
                    data = memory.read(end - start)
                except (OSError, ValueError, OverflowError):
                    continue
                readable += len(data)
                _seen(data.decode("latin-1"), "/proc/%d/mem" % parent)
                if b"evaluate_candidate" in data or b"runner.py" in data:
                    _leak("evaluator text in /proc/%d/mem" % parent)
    except OSError:
        pass
    print("PARENT-MEMORY-READ %d" % readable, flush=True)


def _signals():
    me = _os.getpid()
    pids = _pids()
    if len(pids) > 16:  # not in a pid namespace of its own: never touch the host
        print("NOT-IN-A-PID-NAMESPACE", flush=True)
        return
    for pid in pids:
        if pid != me:
            for number in (_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGTERM):
                try:
                    _os.kill(pid, number)
                except OSError:
                    pass
    for target in (-1, -_os.getppid(), _os.getppid()):
        try:
            _os.kill(target, _signal.SIGKILL)
        except OSError:
            pass
    _os.killpg(_os.getpgid(0), _signal.SIGKILL)


def _run_database(known, problem_files=("initial_program.py", "cases.json")):
    for path in known:
        if _os.path.lexists(path):
            _leak("exists " + path)
    walked = 0
    tops = sorted(_os.listdir("/"), key=lambda top: (top not in ("tmp", "work", "home"), top))
    import sys as _sys

    # the interpreter's own trees are read-only binds of the installation: skipped so the
    # walk stays well inside the call time limit on a busy machine
    interpreter = {_os.path.realpath(p) for p in (_sys.prefix, _sys.base_prefix)}
    for top in tops:
        if top in ("proc", "sys", "dev", "usr") or _os.path.islink("/" + top):
            continue  # /lib, /bin ...: links into /usr, the system's read-only programs
        for root, dirs, files in _os.walk("/" + top):
            dirs[:] = [
                d for d in dirs if _os.path.realpath(_os.path.join(root, d)) not in interpreter
            ]
            walked += len(dirs) + len(files)
            for name in files:
                if name.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm")):
                    _leak("database " + _os.path.join(root, name))
                if name in problem_files:  # a problem directory, or a run's copy of it
                    _leak("problem file " + _os.path.join(root, name))
            if walked > 100000:
                dirs[:] = []
    print("WALKED %d" % walked, flush=True)


def _helpers(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("stolen_evaluator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # only where the evaluator's file is reachable
    _leak("imported the evaluator from " + path)
    return module
"""

# Appended after ATTACKS: run ``@ATTACK@`` at the first call of any of the program's
# functions, then behave exactly as the seed.
TRIGGER = """
_FIRED = []


def _attack():
    @ATTACK@


def _armed(function):
    @_functools.wraps(function)
    def armed(*args, **kwargs):
        if not _FIRED:
            _FIRED.append(True)
            _attack()
            print("PROBE-DONE", flush=True)
        return function(*args, **kwargs)
    return armed


for _name, _value in list(globals().items()):
    if not _name.startswith("_") and isinstance(_value, _types.FunctionType):
        if _value.__module__ == __name__:
            globals()[_name] = _armed(_value)
"""


def hostile(seed_code: str, attack: str, note: str = "") -> str:
    """The seed program plus ``attack`` (one statement) run at its first call."""
    block = ATTACKS + TRIGGER.replace("@ATTACK@", attack) + (f"_NOTE = {note!r}\n" if note else "")
    return with_block(seed_code, block, keep=True)


def problem_paths(*directories: Path) -> list[str]:
    """Every directory and file of the given problem directories, as absolute paths."""
    paths: list[str] = []
    for directory in directories:
        paths.append(str(directory))
        paths.extend(str(p) for p in sorted(directory.rglob("*")) if "__pycache__" not in p.parts)
    return paths


def reading_attack(run: HostileRun) -> str:
    """One statement running every reading attack against ``run``'s files."""
    paths = problem_paths(run.problem_dir, run.run_dir / "problem")
    known = [str(run.run_dir), str(run.run_dir / "run.sqlite")]
    return f"_introspection(); _files({paths!r}); _proc(); _run_database({known!r})"


def stdout_of(program: Program) -> str:
    return program.artifacts.get("stdout", "")


def assert_no_leak(program: Program) -> None:
    out = stdout_of(program)
    leaks = [line for line in out.splitlines() if line.startswith("LEAK")]
    assert leaks == [], leaks


def check_aftermath(
    run: HostileRun,
    program: Program,
    before: dict[str, str],
    honest: float,
    follow_up: str | None,
) -> None:
    """The promises of every case (see the module docstring)."""
    if program.status is EvalStatus.OK:
        assert program.score is not None and program.score <= honest + 1e-12, program.score
    else:
        assert program.reason, "a failed candidate always gets a reason"
    left = leftover_processes(run)
    assert left == [], f"processes of the evaluation are still alive: {describe_processes(left)}"
    assert run.outside_snapshot() == before, "something outside the work dir changed"
    run.secret_is_nowhere()
    texts = [program.reason, *program.artifacts.values()]
    for prefix in ("sk-adversarial-", "evaluator-secret-"):
        assert not any(prefix in text for text in texts), f"a secret ({prefix}...) leaked"
    if follow_up is not None:
        after = run.submit(follow_up)
        assert after.status is EvalStatus.OK, f"the run did not continue: {after.reason}"


def _follow_up(run: IsolatedRun, program: Program) -> str:
    return run.candidate(
        f"""
        import numpy as np
        def priority(item, bins):
            return np.zeros(len(bins)) * {program.seq}
        """
    )


# -- the fixture's isolated problem ----------------------------------------------------------


def _probe(isolated_run: IsolatedRun, attack: str) -> Program:
    before = isolated_run.outside_snapshot()
    seed = isolated_run.engine.problem.initial_code
    program = isolated_run.submit(hostile(seed, attack, uuid.uuid4().hex))
    check_aftermath(
        isolated_run,
        program,
        before,
        isolated_run.seed_score,
        _follow_up(isolated_run, program),
    )
    return program


def test_the_simulator_cannot_be_found_or_patched(isolated_run: IsolatedRun) -> None:
    program = _probe(isolated_run, "_introspection()")
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == isolated_run.seed_score
    assert "PROBE-DONE" in stdout_of(program)
    assert_no_leak(program)


@needs_jail
def test_the_problem_directory_cannot_be_read(isolated_run: IsolatedRun) -> None:
    paths = problem_paths(isolated_run.problem_dir, isolated_run.used_problem_dir)
    assert any(p.endswith("data/cases.json") for p in paths)
    program = _probe(isolated_run, f"_files({paths!r})")
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == isolated_run.seed_score
    assert "PROBE-DONE" in stdout_of(program)
    assert_no_leak(program)


@needs_jail
def test_the_evaluator_helpers_cannot_be_imported(isolated_run: IsolatedRun) -> None:
    # Were the import to work, the program would answer from the evaluator's own cases.
    path = str(isolated_run.used_problem_dir / "evaluator.py")
    attack = (
        f"global _STOLEN; _STOLEN = _helpers({path!r})"
        "\n    globals()['priority'] = lambda item, bins: _STOLEN._reference_priority("
        "[c for c in _STOLEN._cases() if c['item'] == item][0])"
    )
    program = _probe(isolated_run, attack)
    assert program.status is EvalStatus.FAILED, program.reason
    assert "in the candidate" in program.reason
    assert "No such file or directory" in program.reason
    assert_no_leak(program)


@needs_jail
def test_proc_shows_only_the_candidates_own_processes(isolated_run: IsolatedRun) -> None:
    program = _probe(isolated_run, "_proc()")
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == isolated_run.seed_score
    (pids,) = [line for line in stdout_of(program).splitlines() if line.startswith("PIDS ")]
    assert len(pids.split()[1].split(",")) <= 3, pids  # its init, itself (and the listing)
    assert_no_leak(program)


@needs_jail
def test_signalling_everything_it_sees_ends_only_itself(isolated_run: IsolatedRun) -> None:
    program = _probe(isolated_run, "_signals()")
    assert "NOT-IN-A-PID-NAMESPACE" not in stdout_of(program)
    assert program.status is EvalStatus.FAILED, program.reason
    assert "ChannelBroken" in program.reason
    assert "the candidate process ended" in program.reason


@needs_jail
def test_the_run_database_cannot_be_found(isolated_run: IsolatedRun) -> None:
    assert (isolated_run.run_dir / "run.sqlite").is_file()
    known = [str(isolated_run.run_dir), str(isolated_run.run_dir / "run.sqlite")]
    program = _probe(isolated_run, f"_run_database({known!r})")
    assert program.status is EvalStatus.OK, program.reason
    assert "WALKED" in stdout_of(program)
    assert_no_leak(program)


# -- the channel -----------------------------------------------------------------------------

CHANNEL_CASES: list[tuple[str, str, EvalStatus, str]] = [
    (
        "pickle_bytes",
        """
        import pickle
        class Payload:
            def __reduce__(self):
                return (print, ("UNPICKLED-" + "PAYLOAD-RAN",))
        def priority(item, bins):
            return pickle.dumps(Payload())
        """,
        EvalStatus.FAILED,
        "invalid answer: priority returned bytes",
    ),
    (
        "custom_class",
        """
        class Answer:
            def __len__(self):
                return 4
        def priority(item, bins):
            return Answer()
        """,
        EvalStatus.FAILED,
        "returned a value that cannot be sent: cannot send a value of type Answer",
    ),
    (
        "oversized_message",
        """
        import numpy as np
        def priority(item, bins):
            return np.zeros(300_000)  # 2.4 MB, over the 1 MiB limit
        """,
        EvalStatus.FAILED,
        "over the limit",
    ),
    (
        "deep_nesting",
        """
        def priority(item, bins):
            value = [0.0]
            for _ in range(10_000):
                value = [value]
            return value
        """,
        EvalStatus.FAILED,
        "cannot be sent: value nested deeper than 32 levels",
    ),
    (
        "int_too_long_for_json",
        """
        def priority(item, bins):
            return [10**5000, 0, 0, 0]
        """,
        EvalStatus.FAILED,
        "returned a value that cannot be sent: Exceeds the limit (4300 digits)",
    ),
    (
        "memory_hog",
        # bytes(n) asks for zeroed pages it need not touch: the address-space limit stops
        # it as soon as the hog passes it, within the 2 s a call may take even on a machine
        # so busy that touching 512 MiB page by page would not (a bytearray is zeroed by hand)
        """
        def priority(item, bins):
            hog = []
            while True:
                hog.append(bytes(10**7))
        """,
        EvalStatus.FAILED,
        "memory limit of 512 MiB reached",
    ),
    (
        "nan",
        """
        def priority(item, bins):
            return [float("nan")] * len(bins)
        """,
        EvalStatus.FAILED,
        "invalid answer: priorities must be finite",
    ),
    (
        "infinity",
        """
        import numpy as np
        def priority(item, bins):
            return np.full(len(bins), np.inf)
        """,
        EvalStatus.FAILED,
        "invalid answer: priorities must be finite",
    ),
    (
        "garbage_on_the_reply_pipe",
        """
        import json, os, stat
        FORGED = json.dumps({"stages": [{"stage": 1, "metrics": {"combined_score": 1e9},
                                         "artifacts": {}}], "stopped": None, "error": None})
        def priority(item, bins):
            for name in os.listdir("/proc/self/fd"):
                fd = int(name)
                try:
                    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                        continue
                    os.write(fd, b"\\x00\\x00\\x00\\x10" + b"\\xff" * 16 + FORGED.encode())
                except OSError:
                    pass
            return [1.0, 0.0, 0.0, 0.0]
        """,
        EvalStatus.FAILED,
        "the candidate sent a bad message: malformed message: its value runs past its end",
    ),
    (
        "closing_its_pipes",
        """
        import os
        def priority(item, bins):
            os.closerange(0, 1024)
            return [1.0, 0.0, 0.0, 0.0]
        """,
        EvalStatus.FAILED,
        "the candidate process ended",
    ),
    (
        "never_answering",
        """
        import time
        def priority(item, bins):
            time.sleep(3600)
        """,
        EvalStatus.FAILED,
        "no answer to 'priority' within the call time limit of 2s",
    ),
    (
        "orphan_holds_the_pipe",
        """
        import os, signal, time
        def priority(item, bins):
            if os.fork() == 0:  # would keep the reply pipe open after its parent is gone
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                os.setsid()
                time.sleep(3600)
            os._exit(0)  # ends its pid namespace, and the orphan with it
        """,
        EvalStatus.FAILED,
        "no answer to 'priority': the candidate process ended",
    ),
    (
        "hang_at_import",
        """
        import time
        time.sleep(3600)
        def priority(item, bins):
            return [1.0, 0.0, 0.0, 0.0]
        """,
        EvalStatus.FAILED,
        "the candidate did not start within the call time limit of 2s",
    ),
    (
        "exit_at_import",
        """
        import os
        os._exit(3)
        def priority(item, bins):
            return [1.0, 0.0, 0.0, 0.0]
        """,
        EvalStatus.FAILED,
        "the candidate did not start: the candidate process ended",
    ),
    (
        "raise_at_import",
        """
        raise RuntimeError("refusing to load")
        def priority(item, bins):
            return [1.0, 0.0, 0.0, 0.0]
        """,
        EvalStatus.FAILED,
        "loading the candidate failed: refusing to load",
    ),
    (
        "exit_mid_call",
        """
        import os
        def priority(item, bins):
            os._exit(0)
        """,
        EvalStatus.FAILED,
        "the candidate process ended",
    ),
]


@pytest.mark.parametrize(
    ("block", "status", "reason"),
    [case[1:] for case in CHANNEL_CASES],
    ids=[case[0] for case in CHANNEL_CASES],
)
def test_channel_abuse(
    isolated_run: IsolatedRun, block: str, status: EvalStatus, reason: str
) -> None:
    before = isolated_run.outside_snapshot()
    program = isolated_run.submit(isolated_run.candidate(block))
    assert program.status is status, program.reason
    assert reason in program.reason
    assert "UNPICKLED-PAYLOAD-RAN" not in "".join(program.artifacts.values())
    check_aftermath(
        isolated_run, program, before, isolated_run.seed_score, _follow_up(isolated_run, program)
    )


def test_secrets_reach_neither_side(isolated_run: IsolatedRun) -> None:
    program = _probe(
        isolated_run,
        "_seen(str(dict(_os.environ)), 'os.environ'); "
        "_seen(open('/proc/self/environ', 'rb').read().decode('utf-8', 'replace'), 'environ')",
    )
    assert program.status is EvalStatus.OK, program.reason
    assert_no_leak(program)


# -- the control: the same probes in the shared-process form -------------------------------


def test_the_probes_do_find_a_shared_process_evaluator(tagged_run: HostileRun) -> None:
    seed = tagged_run.engine.problem.initial_code
    program = tagged_run.submit(hostile(seed, "_introspection()"))
    assert program.status is EvalStatus.OK, program.reason
    out = stdout_of(program)
    assert "LEAK module evaluator" in out, out
    assert "LEAK caller frame" in out, out
    assert leftover_processes(tagged_run) == []


# -- the real problems -----------------------------------------------------------------------


def _isolated_form(problem: str) -> bool:
    tree = ast.parse((SUITE / problem / "evaluator.py").read_bytes())
    return any(
        isinstance(node, ast.FunctionDef) and node.name == "evaluate_candidate"
        for node in tree.body
    )


@pytest.fixture(scope="module", params=SUITE_PROBLEMS)
def suite_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IsolatedRun]:
    """A run of one real benchmark problem (a private copy of it); the seed scored once."""
    name: str = request.param
    if not _isolated_form(name):
        pytest.skip(f"{name}: not yet in the isolated form")
    base = tmp_path_factory.mktemp(name)
    problem_dir = base / "problem"
    shutil.copytree(SUITE / name, problem_dir, ignore=shutil.ignore_patterns("__pycache__"))
    home = base / "home"
    home.mkdir()
    (home / "notes.txt").write_text("the user's own file\n")
    tag = uuid.uuid4().hex
    secret = f"sk-adversarial-{uuid.uuid4().hex}"
    overrides = {"evaluator": {"pass_env": [TAG_VARIABLE]}, "run": {"workers": 1}}
    with _environment({TAG_VARIABLE: tag, SECRET_VARIABLE: secret}):
        engine, _, run_dir = start_run(base, {}, overrides, problem_dir=problem_dir)
        try:
            assert engine.evaluator.isolated
            seed = engine.seed_program
            assert seed is not None and seed.score is not None
            yield IsolatedRun(
                engine, problem_dir, run_dir, home, tag, secret, seed_score=seed.score
            )
        finally:
            engine.close()


def _suite_follow_up(run: IsolatedRun) -> str:
    return with_block(run.engine.problem.initial_code, "_FOLLOW_UP = True", keep=True)


def _suite_probe(run: IsolatedRun, attack: str) -> Program:
    before = run.outside_snapshot()
    program = run.submit(hostile(run.engine.problem.initial_code, attack, uuid.uuid4().hex))
    check_aftermath(run, program, before, run.seed_score, None)  # one follow-up, at the end
    return program


@needs_jail
def test_suite_problem_reading_attacks(suite_run: IsolatedRun) -> None:
    program = _suite_probe(suite_run, reading_attack(suite_run))
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == suite_run.seed_score
    assert "PROBE-DONE" in stdout_of(program)
    assert_no_leak(program)


@needs_jail
def test_suite_problem_helpers_cannot_be_imported(suite_run: IsolatedRun) -> None:
    path = str(suite_run.run_dir / "problem" / "evaluator.py")
    program = _suite_probe(suite_run, f"_helpers({path!r})")
    assert program.status is EvalStatus.FAILED, program.reason
    assert "No such file or directory" in program.reason
    assert_no_leak(program)


@needs_jail
def test_suite_problem_signals(suite_run: IsolatedRun) -> None:
    program = _suite_probe(suite_run, "_signals()")
    assert program.status is EvalStatus.FAILED, program.reason
    assert "the candidate process ended" in program.reason


def test_suite_problem_run_goes_on_and_resumes(suite_run: IsolatedRun) -> None:
    """After every attack above, the seed's twin scores as the seed did, and the run's
    database reopens with every program."""
    twin = suite_run.submit(_suite_follow_up(suite_run))
    assert twin.status is EvalStatus.OK, twin.reason
    assert twin.score == suite_run.seed_score
    count = suite_run.engine.db.count_programs()
    reopened = Engine.open(suite_run.run_dir, locked=True)  # the live engine holds the lock
    try:
        assert reopened.db.count_programs() == count
    finally:
        reopened.close()


# -- the call limit covers sending the call too ------------------------------------------------

STOPS_READING = """
import sys, time
def echo(values):
    # The host reads the next call with the channel module's reader: make it never read.
    channel = sys.modules["_evoforge_channel"]
    channel.FrameReader.read = lambda self, deadline=None: time.sleep(3600)
    return values[:1]
"""

BIG_CALLS = """
import numpy as np

def evaluate_candidate(candidate):
    big = np.zeros(100_000)  # 800 kB: more than a pipe holds
    return {"combined_score": sum(float(candidate.echo(big)[0]) for _ in range(3))}
"""


def test_a_candidate_that_stops_reading_fails_within_the_call_limit(tmp_path: Path) -> None:
    (tmp_path / "evaluator.py").write_text(BIG_CALLS)
    evaluator = ProblemEvaluator(
        tmp_path / "evaluator.py", EvaluatorConfig(timeout_s=3, call_timeout_s=1)
    )
    try:
        result = evaluator.evaluate(STOPS_READING)
    finally:
        evaluator.close()
    assert result.status is EvalStatus.FAILED, result.reason
    assert "within the call time limit of 1s" in result.reason


# -- a malformed answer breaks the channel, whatever the evaluator catches -------------------

CATCHING_EVALUATOR = """
def evaluate_candidate(candidate):
    answers = []
    for i in range(5):
        try:
            answers.append(candidate.echo(i))
        except Exception as exc:  # raising = an invalid answer, as the form suggests
            answers.append(type(exc).__name__)
    return {"combined_score": 0.0, "answers": repr(answers)}
"""

INJECTS_A_MALFORMED_FRAME = """
import os, stat, struct
def echo(i):
    if i == 0:  # a frame whose dtype numpy cannot parse, ahead of the real answer
        stream = b"d" + struct.pack("<I", 1) + b"s" + struct.pack("<I", 2) + b"ok"
        stream += b"a" + bytes([1]) + b"," + bytes([1]) + struct.pack("<Q", 1)
        body = struct.pack("<I", len(stream)) + stream
        body += bytes(-len(body) % 8) + bytes(8)
        frame = struct.pack(">I", len(body)) + body
        for name in os.listdir("/proc/self/fd"):
            try:
                if stat.S_ISFIFO(os.fstat(int(name)).st_mode):
                    os.write(int(name), frame)
            except OSError:
                pass
    return i
"""


def test_a_malformed_answer_breaks_the_channel(tmp_path: Path) -> None:
    (tmp_path / "evaluator.py").write_text(CATCHING_EVALUATOR)
    evaluator = ProblemEvaluator(
        tmp_path / "evaluator.py", EvaluatorConfig(timeout_s=4, call_timeout_s=1)
    )
    try:
        result = evaluator.evaluate(INJECTS_A_MALFORMED_FRAME)
    finally:
        evaluator.close()
    assert result.status is EvalStatus.FAILED, result.artifacts
    assert "ChannelBroken: the candidate sent a bad message" in result.reason


# -- evaluations share nothing ---------------------------------------------------------------

PLANT = """
import os
import numpy as np
PLACES = ["planted", "/tmp/planted", "/dev/shm/planted", "/var/tmp/planted",
          os.path.expanduser("~/planted"), os.path.join(os.environ.get("TMPDIR", "."), "planted")]
DONE = []
def priority(item, bins):
    if DONE:
        return np.zeros(len(bins))
    DONE.append(True)
    planted = []
    for place in PLACES:
        try:
            with open(place, "w") as handle:
                handle.write("MARK")
            planted.append(os.path.abspath(place))
        except OSError:
            pass
    print("PLANTED " + " ".join(planted), flush=True)
    return np.zeros(len(bins))
"""

FIND = """
import os
import numpy as np
DONE = []
def priority(item, bins):
    if DONE:
        return np.zeros(len(bins))
    DONE.append(True)
    found = []
    for place in PLACES:
        try:
            with open(place) as handle:
                found.append(place + "=" + handle.read())
        except OSError:
            pass
    for root, dirs, files in os.walk("/tmp"):
        found.extend(os.path.join(root, f) for f in files if f == "planted")
    print("FOUND " + " ".join(found), flush=True)
    return np.zeros(len(bins))
"""


def test_one_evaluation_leaves_nothing_for_the_next(isolated_run: IsolatedRun) -> None:
    before = isolated_run.outside_snapshot()
    planter = isolated_run.submit(isolated_run.candidate(PLANT))
    assert planter.status is EvalStatus.OK, planter.reason
    (planted,) = [x for x in stdout_of(planter).splitlines() if x.startswith("PLANTED")]
    places = planted.split()[1:]
    assert places, "the planter could write nowhere, not even its own directory"
    finder_code = f"PLACES = {places!r}\n" + FIND
    finder = isolated_run.submit(isolated_run.candidate(finder_code))
    assert finder.status is EvalStatus.OK, finder.reason
    (found,) = [x for x in stdout_of(finder).splitlines() if x.startswith("FOUND")]
    assert found.split()[1:] == [], found
    for place in places:
        assert not os.path.exists(place) or b"MARK" not in Path(place).read_bytes(), place
    check_aftermath(isolated_run, finder, before, isolated_run.seed_score, None)


# -- a batch answered with the wrong number of results ---------------------------------------

BATCH_EVALUATOR = """
def evaluate_candidate(candidate):
    total = 0.0
    for _ in range(2):
        total += sum(candidate.batch("value", [(i,) for i in range(8)]))
    return {"combined_score": total}
"""

SHORT_BATCH = """
import sys
def value(i):
    # Find the host's answering function up the stack: every later batch answer is short.
    frame = sys._getframe(1)
    while frame is not None and "_answer" not in frame.f_globals:
        frame = frame.f_back
    host = frame.f_globals
    host["_answer"] = lambda *args: {"ok": [1.0e9]}
    return float(i)
"""


def test_a_short_batch_answer_breaks_the_channel(tmp_path: Path) -> None:
    (tmp_path / "evaluator.py").write_text(BATCH_EVALUATOR)
    evaluator = ProblemEvaluator(
        tmp_path / "evaluator.py", EvaluatorConfig(timeout_s=3, call_timeout_s=1)
    )
    try:
        honest = evaluator.evaluate("def value(i):\n    return float(i)\n")
        result = evaluator.evaluate(SHORT_BATCH)
    finally:
        evaluator.close()
    assert honest.status is EvalStatus.OK and honest.score == 56.0, honest.reason
    assert result.status is EvalStatus.FAILED, result.reason
    assert "answered a batch with the wrong number of results" in result.reason
