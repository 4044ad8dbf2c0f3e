"""Shared pieces of the hostile-candidate suite: a real run, a tag, a secret, snapshots.

Every hostile candidate runs through the real sandbox and the real engine (``ask`` ->
``check`` -> ``evaluate`` -> ``tell`` into a real run database). Each test then checks the
four promises: the run continues, the candidate got the right status and a reason, no
process of it is left, nothing outside its working directory changed and no secret
appears anywhere it could write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from evoforge.config import resolve_config
from evoforge.engine import Engine
from evoforge.operators.base import Proposal
from evoforge.problem import load_problem
from evoforge.program import Program

INITIAL_PROGRAM = """\
# EVOLVE-BLOCK-START
def run():
    return {"combined_score": 0.5}
# EVOLVE-BLOCK-END
"""

EVALUATOR = """\
import importlib.util


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run()
"""

CONFIG = """\
evaluator:
  timeout_s: 2
  memory_mb: 256
  max_file_size_mb: 4
  max_output_bytes: 4096
  pass_env: [EVOFORGE_ADVERSARIAL_TAG]  # so leftover processes can be found by their tag
archive:
  num_islands: 1
run:
  workers: 1
"""

TAG_VARIABLE = "EVOFORGE_ADVERSARIAL_TAG"
SECRET_VARIABLE = "EVOFORGE_ADVERSARIAL_API_KEY"


@dataclass
class HostileRun:
    """A live run plus everything the checks need."""

    engine: Engine
    problem_dir: Path
    run_dir: Path
    home: Path
    tag: str
    secret: str

    def candidate(self, block: str) -> str:
        """A whole candidate program whose evolve block is ``block`` (dedented)."""
        body = textwrap.dedent(block).strip("\n")
        return f"# EVOLVE-BLOCK-START\n{body}\n# EVOLVE-BLOCK-END\n"

    def submit(self, code: str) -> Program:
        """One whole iteration with ``code`` as the child; returns the committed program."""
        job = self.engine.ask()
        proposal = Proposal(code=code, operator=job.operator.name)
        rejection = self.engine.check(job, proposal)
        assert rejection is None, rejection
        result = self.engine.evaluate(code)
        report = self.engine.tell(job, proposal, result)
        stored = self.engine.db.program(report.program.id)
        assert stored is not None
        return stored

    def tagged_processes(self) -> list[int]:
        """Live processes that inherited this run's tag: a candidate's leftovers."""
        marker = f"{TAG_VARIABLE}={self.tag}".encode()
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry.name}/environ").read_bytes()
                state = Path(f"/proc/{entry.name}/stat").read_bytes()
            except OSError:
                continue
            if state[state.rfind(b")") + 2 :].split()[0] in (b"Z", b"X"):
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def outside_snapshot(self) -> dict[str, str]:
        """Digest of every file a candidate must not touch (problem, run's problem, home)."""
        digests: dict[str, str] = {}
        for root in (self.problem_dir, self.run_dir / "problem", self.home):
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        digests["run_dir entries"] = ",".join(sorted(p.name for p in self.run_dir.iterdir()))
        return digests

    def secret_is_nowhere(self) -> None:
        """The secret is in no file of the run directory (database, WAL, problem copy)."""
        needle = self.secret.encode()
        for path in self.run_dir.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"secret leaked into {path}"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    base = tmp_path_factory.mktemp("hostile")
    problem_dir = base / "problem"
    problem_dir.mkdir()
    (problem_dir / "initial_program.py").write_text(INITIAL_PROGRAM)
    (problem_dir / "evaluator.py").write_text(EVALUATOR)
    (problem_dir / "config.yaml").write_text(CONFIG)
    home = base / "home"
    home.mkdir()
    (home / "notes.txt").write_text("the user's own file\n")
    tag = uuid.uuid4().hex
    secret = f"sk-adversarial-{uuid.uuid4().hex}"
    saved = {name: os.environ.get(name) for name in (TAG_VARIABLE, SECRET_VARIABLE)}
    os.environ[TAG_VARIABLE] = tag
    os.environ[SECRET_VARIABLE] = secret
    problem = load_problem(problem_dir)
    config = resolve_config(problem_layer=problem.config_layer)
    run_dir = base / "run"
    engine = Engine.create(problem, config, run_dir)
    try:
        yield HostileRun(engine, problem_dir, run_dir, home, tag, secret)
    finally:
        engine.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- isolated-form runs ---------------------------------------------------------------------

ISOLATED_INITIAL_PROGRAM = """\
import numpy as np


# EVOLVE-BLOCK-START
def priority(item, bins):
    return np.zeros(len(bins))
# EVOLVE-BLOCK-END
"""

# A simulator-like loop over hidden answers: the bin a candidate picks (the highest
# priority) scores only where it is the secret answer for that case. The seed (all zeros:
# always bin 0) scores the share of cases whose answer is 0; the answers are not derivable
# from the inputs, so only a candidate that reaches this file or its data could do better.
ISOLATED_EVALUATOR = """\
import json
import os

import numpy as np

SECRET = {secret!r}
_HERE = os.path.dirname(os.path.abspath(__file__))


def _cases():
    with open(os.path.join(_HERE, "data", "cases.json")) as handle:
        return json.load(handle)


def _reference_priority(case):
    scores = np.zeros(len(case["bins"]))
    scores[case["answer"]] = 1.0
    return scores


def _checked(answer, size):
    if not isinstance(answer, (list, tuple, np.ndarray)):
        raise ValueError(
            f"invalid answer: priority returned {{type(answer).__name__}}, "
            f"expected {{size}} numbers"
        )
    values = np.asarray(answer, dtype=float)
    if values.shape != (size,):
        raise ValueError(f"invalid answer: shape {{values.shape}}, expected ({{size}},)")
    if not np.all(np.isfinite(values)):
        raise ValueError("invalid answer: priorities must be finite")
    return values


def evaluate_candidate(candidate):
    cases = _cases()
    right = 0
    for case in cases:
        bins = np.asarray(case["bins"], dtype=float)
        values = _checked(candidate.priority(float(case["item"]), bins), len(bins))
        right += int(np.argmax(values)) == case["answer"]
    return {{"combined_score": right / len(cases)}}
"""

ISOLATED_CONFIG = """\
evaluator:
  timeout_s: 5
  call_timeout_s: 2
  max_message_mb: 1
  memory_mb: 512
  max_file_size_mb: 4
  max_output_bytes: 4096
  pass_env: [EVOFORGE_ADVERSARIAL_TAG]
archive:
  num_islands: 1
run:
  workers: 1
"""

ISOLATED_CASES = 24


def _isolated_cases(seed: int) -> list[dict[str, object]]:
    import random

    rng = random.Random(seed)
    cases = []
    for index in range(ISOLATED_CASES):
        bins = [round(rng.uniform(0.5, 1.0), 3) for _ in range(4)]
        answer = 0 if index % 4 == 0 else rng.randrange(1, 4)  # the seed gets 1 in 4
        cases.append({"item": round(rng.uniform(0.0, 0.5), 3), "bins": bins, "answer": answer})
    return cases


ISOLATED_SEED_SCORE = 0.25


def _parent_and_script(pid: int) -> tuple[int, str]:
    """The parent's pid and the name of the Python script the process runs ("" if none)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return 0, ""
    script = next((a for a in argv[1:] if a.endswith(b".py")), b"")
    return int(raw[raw.rfind(b")") + 2 :].split()[1]), os.path.basename(script.decode())


def _pid_depth(pid: int) -> int:
    """How many pid namespaces ``pid`` is nested in (1: the host's only)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return len(line.split()) - 1
    return 1


def leftover_processes(run: HostileRun) -> list[int]:
    """The run's tagged processes that outlived their evaluation.

    Where the sandbox keeps template processes (``zygote.py``, started once per
    evaluator side and kept for later evaluations), each evaluation is a pid namespace of
    its own below the template's, whose init (the template's child) never runs candidate
    code: every other process in it is a leftover, except in the namespace a spare prepared
    ahead of the next request (see :func:`_spare_or_init`). Without templates, every tagged
    process is a leftover. Processes already killed (SIGKILL pending) are not counted.
    """
    tagged = run.tagged_processes()
    template_depths = [
        _pid_depth(pid)
        for pid in tagged
        if _parent_and_script(pid)[1] == "zygote.py"
        and _parent_and_script(_parent_and_script(pid)[0])[1] != "zygote.py"
    ]
    floor = min(template_depths, default=0)
    return [
        pid
        for pid in tagged
        if _pid_depth(pid) > floor and not _dying(pid) and not _spare_or_init(pid, floor)
    ]


def _spare_or_init(pid: int, floor: int) -> bool:
    """True when ``pid`` is an evaluation's init or belongs to an evaluation prepared ahead
    of its request.

    The init is the first process of the chain from ``pid`` up whose parent is in the
    template's pid namespace (depth ``floor``). It is named ``evoforge-spare`` until it
    takes a request: what runs below it has not run any evaluation code yet. Names are read
    from ``/proc/PID/comm``, which the evaluation's own processes cannot set for another
    process (its init holds capabilities they do not).
    """
    current = pid
    for _ in range(16):
        parent, _ = _parent_and_script(current)
        if parent <= 1:
            return False
        if _pid_depth(parent) <= floor:
            if current == pid:
                return True
            try:
                return Path(f"/proc/{current}/comm").read_text().strip() == "evoforge-spare"
            except OSError:
                return False
        current = parent
    return False


def _dying(pid: int) -> bool:
    """True when SIGKILL is pending for ``pid``: killed, still tearing down its memory."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    pending = 0
    for line in status.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")):
            pending |= int(line.split()[1], 16)
    return bool(pending & (1 << (signal.SIGKILL - 1)))


def describe_processes(pids: list[int]) -> list[str]:
    """``pid parent state script`` of each process, for assertion messages."""
    described = []
    for pid in pids:
        parent, script = _parent_and_script(pid)
        try:
            raw = Path(f"/proc/{pid}/stat").read_bytes()
            state = raw[raw.rfind(b")") + 2 :][:1].decode()
        except OSError:
            state = "gone"
        described.append(f"{pid} parent={parent} state={state} script={script or '?'}")
    return described


def with_block(program: str, block: str, *, keep: bool = False) -> str:
    """``program`` with the body of its (one) evolve block replaced by ``block`` (dedented),
    or with ``block`` appended to that body when ``keep``."""
    start, end = "# EVOLVE-BLOCK-START\n", "# EVOLVE-BLOCK-END"
    head, _, rest = program.partition(start)
    body, marker, tail = rest.partition(end)
    assert marker, "the program has no evolve block"
    added = textwrap.dedent(block).strip("\n") + "\n"
    return head + start + (body + "\n" if keep else "") + added + end + tail


@dataclass
class IsolatedRun(HostileRun):
    """A live run of an isolated-form problem; ``evaluator_secret`` is a module-level
    constant of its ``evaluator.py`` that no candidate may ever see."""

    evaluator_secret: str = ""
    seed_score: float = 0.0

    def candidate(self, block: str) -> str:
        """The seed program with its evolve block replaced by ``block`` (dedented)."""
        return with_block(self.engine.problem.initial_code, block)

    @property
    def used_problem_dir(self) -> Path:
        """The problem copy the run's evaluator side actually reads."""
        return self.run_dir / "problem"

    def leaked(self, program: Program) -> list[str]:
        """Every secret of the test found in the program's reason or artifacts."""
        texts = [program.reason, *program.artifacts.values()]
        secrets = (self.secret, self.evaluator_secret)
        return [s for s in secrets if s and any(s in text for text in texts)]


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` set in ``os.environ`` for the block, the previous state restored after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_run(
    base: Path,
    files: Mapping[str, str],
    overrides: Mapping[str, object] | None = None,
    problem_dir: Path | None = None,
) -> tuple[Engine, Path, Path]:
    """A real run (seed scored) of the problem ``files`` written under ``base/problem``, or
    of the existing ``problem_dir``; returns the engine, the problem dir and the run dir."""
    if problem_dir is None:
        problem_dir = base / "problem"
        for name, text in files.items():
            path = problem_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    problem = load_problem(problem_dir)
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer=dict(overrides) if overrides else None
    )
    run_dir = base / "run"
    engine = Engine.create(problem, config, run_dir)
    return engine, problem_dir, run_dir


@pytest.fixture(scope="module")
def isolated_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedRun]:
    """A run of a small isolated-form problem (hidden answers in ``data/cases.json``)."""
    base = tmp_path_factory.mktemp("isolated")
    home = base / "home"
    home.mkdir()
    (home / "notes.txt").write_text("the user's own file\n")
    tag = uuid.uuid4().hex
    secret = f"sk-adversarial-{uuid.uuid4().hex}"
    evaluator_secret = f"evaluator-secret-{uuid.uuid4().hex}"
    files = {
        "initial_program.py": ISOLATED_INITIAL_PROGRAM,
        "evaluator.py": ISOLATED_EVALUATOR.format(secret=evaluator_secret),
        "config.yaml": ISOLATED_CONFIG,
        "README.md": f"A test problem. {evaluator_secret}\n",
        "data/cases.json": json.dumps(_isolated_cases(7)),
    }
    with _environment({TAG_VARIABLE: tag, SECRET_VARIABLE: secret}):
        engine, problem_dir, run_dir = start_run(base, files)
        try:
            assert engine.evaluator.isolated
            seed = engine.seed_program
            assert seed is not None and seed.score == ISOLATED_SEED_SCORE, seed
            yield IsolatedRun(
                engine,
                problem_dir,
                run_dir,
                home,
                tag,
                secret,
                evaluator_secret=evaluator_secret,
                seed_score=seed.score,
            )
        finally:
            engine.close()


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    """Like ``hostile_run`` (the shared-process form), but the run passes the tag variable
    to its evaluations, so :meth:`HostileRun.tagged_processes` sees their leftovers."""
    base = tmp_path_factory.mktemp("tagged")
    home = base / "home"
    home.mkdir()
    (home / "notes.txt").write_text("the user's own file\n")
    tag = uuid.uuid4().hex
    secret = f"sk-adversarial-{uuid.uuid4().hex}"
    files = {
        "initial_program.py": INITIAL_PROGRAM,
        "evaluator.py": EVALUATOR,
        "config.yaml": CONFIG,
    }
    overrides = {"evaluator": {"pass_env": [TAG_VARIABLE]}}
    with _environment({TAG_VARIABLE: tag, SECRET_VARIABLE: secret}):
        engine, problem_dir, run_dir = start_run(base, files, overrides)
        try:
            yield HostileRun(engine, problem_dir, run_dir, home, tag, secret)
        finally:
            engine.close()
