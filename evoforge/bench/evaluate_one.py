"""Score programs with evoforge's sandboxed evaluator for another engine (OpenEvolve).

A :class:`ProgramScorer` scores a file exactly as evoforge scores a child of the problem
(the problem's evaluator settings, the sandbox, a trusted ``verify`` when the problem has
one) and appends one JSON line per evaluation to a log (``status``, ``score``, whether the
code is the seed's, seconds, and for an evaluation that did not score the last line of its
reason), which counts the other engine's evaluations and gives its trajectory, and why its
failures failed, independently of its own bookkeeping.

Two ways to reach it:

* :class:`ScoringServer`: a Unix socket, served by threads of the bench worker itself, so
  the problem, the config and the sandbox's isolation probes are loaded once per run, not
  once per evaluation. A client sends one JSON line ``{"program": PATH}`` and reads one
  JSON line back: ``status``, ``score``, ``metrics``, ``reason``. The socket lives in a
  fresh private (0700) directory.
* ``python -m evoforge.bench.evaluate_one --problem DIR --program FILE --log LOG``: one
  evaluation in a fresh process, the same verdict printed as one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import shutil
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evoforge.evaluation.evaluator import ProblemEvaluator
    from evoforge.problem import Problem

_MAX_REQUEST_BYTES = 64 * 1024


def problem_evaluator(problem_dir: Path) -> tuple[Problem, ProblemEvaluator]:
    """The problem and the evaluator that scores its programs as evoforge scores a child
    of it: the problem's own settings, the sandbox, its trusted ``verify``. Every engine of
    the bench is scored through one of these; the caller closes it."""
    from evoforge.config import resolve_config
    from evoforge.evaluation.evaluator import ProblemEvaluator
    from evoforge.problem import load_problem

    problem = load_problem(problem_dir)
    config = resolve_config(problem_layer=problem.config_layer)
    evaluator = ProblemEvaluator(
        problem.evaluator_path,
        config.evaluator,
        program_filename=problem.program_filename,
        feature_names=[feature.name for feature in config.archive.features],
    )
    return problem, evaluator


def best_path(log_path: Path) -> Path:
    """Where a scorer keeps the best-scoring program it has seen (beside its log)."""
    return log_path.with_name(log_path.stem + "-best.py")


class ProgramScorer:
    """Scores program files of one problem and logs each evaluation. Thread-safe."""

    def __init__(self, problem_dir: Path, log_path: Path) -> None:
        from evoforge.program import code_hash

        self.problem, self.evaluator = problem_evaluator(problem_dir)
        self.log_path = log_path
        self._seed_hash = code_hash(self.problem.initial_code)
        self._log_lock = threading.Lock()
        self.best_score: float | None = None

    def score(self, program: Path) -> dict[str, Any]:
        """Evaluate the file, log the evaluation, return the verdict (plain JSON data)."""
        from evoforge.program import EvalStatus, code_hash
        from evoforge.splits import last_line

        code = program.read_text(encoding="utf-8")
        result = self.evaluator.evaluate(code)
        score = result.score if result.status is EvalStatus.OK else None
        line = {
            "time": time.time(),
            "status": result.status.value,
            "score": score,
            "is_seed": code_hash(code) == self._seed_hash,
            "seconds": result.duration_s,
        }
        if result.status is not EvalStatus.OK:
            line["reason"] = last_line(result.reason or "", default="")  # a traceback's: the error
        with self._log_lock, open(self.log_path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # other processes may log here too
            handle.write(json.dumps(line) + "\n")
            handle.flush()
            if score is not None and (self.best_score is None or score > self.best_score):
                self.best_score = score
                best_path(self.log_path).write_text(code, encoding="utf-8")
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return {
            "status": result.status.value,
            "score": score,
            "metrics": dict(result.metrics),
            "reason": result.reason,
        }


class _Handler(socketserver.StreamRequestHandler):
    server: _UnixServer

    def handle(self) -> None:
        request = self.rfile.readline(_MAX_REQUEST_BYTES)
        try:
            program = Path(json.loads(request)["program"])
            verdict = self.server.scorer.score(program)
        except Exception as exc:  # a bad request or an unreadable file: say so, keep serving
            verdict = {
                "status": "failed",
                "score": None,
                "metrics": {},
                "reason": f"scoring server: {type(exc).__name__}: {exc}",
            }
        self.wfile.write((json.dumps(verdict) + "\n").encode("utf-8"))


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, scorer: ProgramScorer) -> None:
        self.scorer = scorer
        super().__init__(path, _Handler)


class ScoringServer:
    """A :class:`ProgramScorer` behind a Unix socket, served until :meth:`close`.

    Use as a context manager; :attr:`socket_path` is what clients connect to.
    """

    def __init__(self, problem_dir: Path, log_path: Path) -> None:
        scorer = ProgramScorer(problem_dir, log_path)
        self._directory = Path(tempfile.mkdtemp(prefix="evoforge-score-"))  # mode 0700
        self.socket_path = self._directory / "socket"
        self._server = _UnixServer(str(self.socket_path), scorer)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scoring-server", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> ScoringServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evoforge.bench.evaluate_one")
    parser.add_argument("--problem", type=Path, required=True)
    parser.add_argument("--program", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    verdict = ProgramScorer(args.problem, args.log).score(args.program)
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
