"""Real runs shared by the export tests: offline (symbolic operators on two example
problems), through the oracle (the offline stand-in model on 127.0.0.1), through the
oracle playing a reasoning model (a proxy on 127.0.0.1 that opens each of its answers
with a ``<think>`` section), and a run whose evaluator leaks a token, a private path and
its own source into its errors.

Each run is made once per test package and only read afterwards. One worker each, so a
run is the same every time (its seed fixes it) and so are the assertions on it."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import evoforge
from evoforge.llm.oracle import start_oracle
from evoforge.program import Program
from evoforge.storage.db import RunDatabase

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CURVE_FIT = ROOT / "tests" / "e2e" / "problems" / "curve_fit"

LEAKED_TOKEN = "sk-live0123456789abcdefXYZ"
PRIVATE_PATH = "/home/alice/private/answers.csv"
INTERNAL_LINE = "REFERENCE_COEFFICIENTS_FOR_GRADING = (1.5, -2.0, 0.75)"
LEAKY_EVALUATOR = f"""import importlib.util
import sys

{INTERNAL_LINE}


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    values = module.predictions()
    a, b, c = REFERENCE_COEFFICIENTS_FOR_GRADING
    print("grading against {PRIVATE_PATH}", file=sys.stderr)
    if values[0] < 0.1:
        raise ValueError("first prediction too low (key {LEAKED_TOKEN}, see {PRIVATE_PATH})")
    error = sum((v - (a * (i / 10) ** 2 + b * i / 10 + c)) ** 2 for i, v in enumerate(values))
    return {{"combined_score": -error / 21}}
"""


@dataclass(frozen=True)
class Run:
    """A finished run: its directory and its programs by id (read once)."""

    directory: Path
    programs: dict[str, Program]

    @property
    def label(self) -> str:
        return self.directory.name


def _finish(directory: Path) -> Run:
    db = RunDatabase(directory / RunDatabase.FILENAME)
    try:
        programs = {step.program.id: step.program for step in db.steps()}
    finally:
        db.close()
    return Run(directory, programs)


def _run(problem: Path, out: Path, iterations: int, config: dict[str, Any]) -> Run:
    evoforge.run(problem, iterations=iterations, workers=1, config=config, out=out)
    return _finish(out)


@pytest.fixture(scope="package")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export-runs")


@pytest.fixture(scope="package")
def circle_run(runs_dir: Path) -> Run:
    return _run(EXAMPLES / "circle_packing", runs_dir / "circles", 60, {"seed": 2})


@pytest.fixture(scope="package")
def minimization_run(runs_dir: Path) -> Run:
    return _run(EXAMPLES / "function_minimization", runs_dir / "minimize", 40, {"seed": 0})


@pytest.fixture(scope="package")
def oracle_run(runs_dir: Path) -> Iterator[Run]:
    server = start_oracle(port=0, seed=7)
    try:
        config = {
            "seed": 3,
            "run": {"workers": 2},
            "operators": {"enabled": ["llm_diff", "llm_rewrite", "tune"]},
            "llm": {"models": [{"model": "oracle", "base_url": server.url, "timeout_s": 10}]},
        }
        yield _run(CURVE_FIT, runs_dir / "oracle", 30, config)
    finally:
        server.close()


REASONING = "The score is low: the quadratic term is missing, so c must grow."
DRAFT_EDIT = "<<<<<<< SEARCH\n    c = 0.0\n=======\n    c = 9.0\n>>>>>>> REPLACE"


def think(answer: str) -> str:
    """``answer`` as a reasoning model writes it: a ``<think>`` section first, holding
    the reasoning and, for an edit, a draft edit the model then rejects."""
    draft = f"A first draft:\n{DRAFT_EDIT}\nNo, too large.\n" if "=======" in answer else ""
    return f"<think>\n{REASONING}\n{draft}</think>\n\n{answer}"


def _reasoning_proxy(oracle_url: str) -> ThreadingHTTPServer:
    """An OpenAI-compatible server on 127.0.0.1 that passes each request to the oracle
    and returns its answers wrapped by :func:`think`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _relay(self, body: bytes | None) -> None:
            request = urllib.request.Request(
                oracle_url.removesuffix("/v1") + self.path,
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                reply = json.loads(response.read())
            for choice in reply.get("choices", ()):
                choice["message"]["content"] = think(choice["message"]["content"])
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._relay(None)

        def do_POST(self) -> None:
            self._relay(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="package")
def reasoning_run(runs_dir: Path) -> Iterator[Run]:
    """A run whose model answers as a reasoning model does (see :func:`think`)."""
    oracle = start_oracle(port=0, seed=5)
    proxy = _reasoning_proxy(oracle.url)
    url = f"http://127.0.0.1:{proxy.server_address[1]}/v1"
    try:
        config = {
            "seed": 4,
            "operators": {"enabled": ["llm_diff", "llm_rewrite"]},
            "llm": {"models": [{"model": "oracle", "base_url": url, "timeout_s": 10}]},
        }
        yield _run(CURVE_FIT, runs_dir / "reasoning", 16, config)
    finally:
        proxy.shutdown()
        proxy.server_close()
        oracle.close()


@pytest.fixture(scope="package")
def leaky_run(runs_dir: Path) -> Run:
    problem = runs_dir / "leaky_problem"
    shutil.copytree(CURVE_FIT, problem)
    (problem / "evaluator.py").write_text(LEAKY_EVALUATOR)
    config = {"seed": 1, "operators": {"enabled": ["tune"]}}
    return _run(problem, runs_dir / "leaky", 30, config)
