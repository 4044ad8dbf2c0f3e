"""Shared pieces of the hostile-candidate suite: a real run, a tag, a secret, snapshots.

Every hostile candidate runs through the real sandbox and the real engine (``ask`` ->
``check`` -> ``evaluate`` -> ``tell`` into a real run database). Each test then checks the
four promises: the run continues, the candidate got the right status and a reason, no
process of it is left, nothing outside its working directory changed and no secret
appears anywhere it could write.
"""

from __future__ import annotations

import hashlib
import os
import textwrap
import uuid
from collections.abc import Iterator
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
