"""Score one candidate program with a problem's evaluator, sandboxed, and judge the result.

:class:`ProblemEvaluator` is the trusted half of evaluation. A problem comes in one of two
forms, told apart without running its ``evaluator.py``:

* **isolated** (it defines ``evaluate_candidate(candidate)``): the candidate runs in its own
  jailed process (``candidate_host.py``), which sees its own file, the interpreter and its
  packages and nothing else; the evaluator runs in another jailed process (``runner.py``)
  that may read the problem directory and calls the candidate's functions only through the
  channel (:mod:`evoforge.evaluation.channel`: plain values, size and time limits);
* **shared-process** (``evaluate(program_path)``, OpenEvolve's form, with an optional
  cascade): the evaluator imports the candidate, so the candidate can reach the evaluator
  and the problem directory. ``evoforge run`` warns about it.

Each side's interpreter, imports and jail start once as a template process that forks a
sealed child per evaluation (:mod:`evoforge.evaluation.sandbox.templates`). The evaluator
side reports through a pipe the candidate cannot reach, at most :data:`MAX_RESULT_BYTES`,
and here, in the parent, whatever came out (a result, or a crash, a timeout, garbage)
becomes an :class:`~evoforge.program.EvaluationResult`:

========================================  ==========================================
what happened                              result
========================================  ==========================================
wall-clock timeout                         ``timeout``, "exceeded {t}s wall-clock"
evaluator or candidate raised              ``failed``, "Type: message"; traceback tail
the candidate died, hung or sent garbage   ``failed``, "ChannelBroken: ..." and why
no result (signal, exit, limits)           ``failed``, what killed it and which limit
a result over the size limit               ``failed``, "the result was larger than ..."
a numeric metric not finite or too large   ``invalid``, naming the metric and value
``combined_score`` not a number            ``invalid``
no numeric metric at all                   ``invalid``, "no score ..."
a cascade stage below its threshold        ``ok`` with the stages run so far
otherwise                                  ``ok``
========================================  ==========================================

Text metrics are not fitness: they are kept as ``metric:<name>`` artifacts. The score is
OpenEvolve's (``get_fitness_score``): ``combined_score`` when the evaluator gives it, else
the mean of the numeric metrics that are not flags (``bool``) and not the archive's feature
dimensions; when every number is a feature dimension, the mean of those. Flags stay
metrics but are never fitness, so metrics that are all flags are "no score".
stdout/stderr tails always go into the artifacts when non-empty (in the isolated form the
program's own; the evaluator's as ``evaluator_stdout``/``_stderr``).
What the evaluator side reports is bounded before it is stored: at most 8 stages, and over
all of them 256 metric names and 32 artifacts (the ``metric:<name>`` texts included), keys
of 200 characters, each artifact capped at ``evaluator.max_output_bytes`` characters.

**Trusted verification.** In the shared-process form the candidate runs in the same process
as ``evaluate``, so it can patch the evaluator, ``builtins`` or ``math`` and report any
metrics it likes. A problem that must not trust that defines ``verify(output) -> dict`` in
``evaluator.py`` (detected without running the file: a top-level ``verify``). Then
``evaluate`` (or ``evaluate_candidate``) runs in the sandbox as usual but its whole return
value is the *output* (the construction: any JSON-serialisable data, numpy arrays as
lists; the cascade is not used), and ``verify(output)`` is called on it outside the
sandbox, in a process of evoforge's that imported ``evaluator.py`` once
(:mod:`evoforge.evaluation.verify_process`); its metrics (a dict, or an object with
``.metrics``/``.artifacts``) are validated as usual. ``verify`` raising is ``failed``
("verify rejected the output: ..."), and so is ``verify`` (or importing ``evaluator.py``)
calling ``sys.exit``, ending its process, or running past the evaluation's ``timeout_s``
on the output (the candidate chose it: an output that makes ``verify`` slow must not
hold the run); what they print goes to standard error. ``verify`` is trusted problem
code, without a sandbox, on data the candidate chose; it must check that data, not
execute it.

**Instance splits.** ``evaluate(code, split="holdout")`` scores the program on one of the
problem's instance splits (:mod:`evoforge.splits`): the evaluator side is started with
``--split holdout`` and its evaluate function is called with ``split="holdout"``, and
``verify(output, split="holdout")`` checks the output against that split's instances. The
split is chosen here, on the trusted side; the candidate never names it and never reads
any instance file (its jail holds only its own file). A problem that also defines
``split_tasks(split)`` has each task of a split scored by a fresh candidate, one pair of
processes per task, and ``verify`` gets the list of the tasks' outputs
(:mod:`evoforge.evaluation.split_tasks`).
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import json
import math
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.placement import Placement, ProcessorClaims
from evoforge.evaluation.raw import RawEvaluation
from evoforge.evaluation.runner import cut_text
from evoforge.evaluation.sandbox import Sandbox, SandboxLimits, SandboxRun, SideRequest
from evoforge.evaluation.sandbox.jail import jail_python, package_directories
from evoforge.evaluation.sandbox.templates import ProcessTemplate
from evoforge.evaluation.shown_paths import path_names, show_paths
from evoforge.evaluation.split_tasks import TASKS_FUNCTION, task_count
from evoforge.evaluation.verify_process import VerifyFailed, VerifyProcesses, import_trusted
from evoforge.program import EvalStatus, EvaluationResult
from evoforge.source_names import top_level_names

__all__ = ["ProblemEvaluator", "RawEvaluation"]

RUNNER_PATH = Path(__file__).with_name("runner.py")
CANDIDATE_HOST_PATH = Path(__file__).with_name("candidate_host.py")
ISOLATED_FUNCTION = "evaluate_candidate"
MAX_RESULT_BYTES = 8 * 1024 * 1024
"""The most the evaluator side may report; a bigger result fails the evaluation unread."""
_MAX_ARTIFACTS = 32
_MAX_METRICS = 256
_MAX_KEY_CHARS = 200
_SHOWN_VALUE_CHARS = 120


class ProblemEvaluator:
    """Evaluates candidate code against one problem's ``evaluator.py``. Thread-safe.

    ``program_filename`` is the name the candidate is written under (OpenEvolve passes the
    evaluator a path ending in the original file's name; some evaluators care).
    ``feature_names`` are the archive's feature dimensions: without ``combined_score``
    they are not averaged into the score (see the module docstring).
    ``evaluate`` never raises: every outcome is an :class:`EvaluationResult`.
    """

    def __init__(
        self,
        evaluator_path: Path,
        config: EvaluatorConfig,
        *,
        program_filename: str = "program.py",
        feature_names: Iterable[str] = (),
    ) -> None:
        evaluator_path = Path(evaluator_path).resolve()
        if not evaluator_path.is_file():
            raise FileNotFoundError(f"evaluator not found: {evaluator_path}")
        if not program_filename or Path(program_filename).name != program_filename:
            raise ValueError(f"program_filename must be a bare file name, got {program_filename!r}")
        self.evaluator_path = evaluator_path
        self.config = config
        self.program_filename = program_filename
        self.feature_names = frozenset(feature_names)
        self.limits = SandboxLimits.from_config(config)
        self.sandbox = Sandbox(self.limits)
        self._evaluations = 0
        self._count_lock = threading.Lock()
        self._processors = ProcessorClaims()
        self.verifies = _defines(evaluator_path, "verify")
        self.isolated = _defines(evaluator_path, ISOLATED_FUNCTION)
        self.in_tasks = _defines(evaluator_path, TASKS_FUNCTION)
        if self.in_tasks and not (self.isolated and self.verifies):
            raise ValueError(
                f"{evaluator_path.name} defines {TASKS_FUNCTION} but not both "
                f"{ISOLATED_FUNCTION} and verify: a split scored task by task needs the "
                "isolated form and a verify that gets every task's output"
            )
        # a cascade to run: shared-process form, no verify, evaluate_stage1 defined
        self.cascades = (
            not self.isolated and not self.verifies and _defines(evaluator_path, "evaluate_stage1")
        )
        self._trusted: ModuleType | None = None
        self._verifiers: VerifyProcesses | None = None
        self._trusted_lock = threading.Lock()
        self._templates: dict[str, ProcessTemplate] = {}
        self._templates_lock = threading.Lock()
        self._hidden: tuple[Path, ...] | None = None  # candidate_hidden_packages, found

    @property
    def evaluations(self) -> int:
        """How many candidates this evaluator has run (for budgets and reports)."""
        return self._evaluations

    @property
    def form(self) -> str:
        """``isolated`` (candidate and evaluator in separate jailed processes, joined by the
        channel) or ``shared-process`` (the evaluator imports the candidate)."""
        return "isolated" if self.isolated else "shared-process"

    @property
    def form_notice(self) -> str:
        """One line for the user: the problem's form and, where it is weak, the risk."""
        jailed = "jailed " if self.sandbox.filesystem == "mountns" else ""
        if self.isolated:
            text = (
                f"isolation: isolated (the candidate runs in its own {jailed}process and "
                "reaches the evaluator only through the channel)"
            )
        else:
            text = (
                "warning: this problem uses the shared-process form: each candidate runs inside "
                "the evaluator's interpreter and can read the problem directory, so it can fake "
                f"its score; define {ISOLATED_FUNCTION}(candidate) in evaluator.py to isolate it"
            )
        for missing in self.sandbox.missing_protections():
            text += f"; warning: {missing}"
        return text

    def tasks_in(self, split: str | None) -> int:
        """How many sandboxed runs an evaluation on ``split`` makes: the problem's
        ``split_tasks(split)`` (asked here, trusted, and checked) when it scores splits
        task by task, else 1. Raises what that function raises, or ``ValueError``."""
        if split is None or not self.in_tasks:
            return 1
        module = self._trusted_module()
        function = getattr(module, TASKS_FUNCTION, None)
        if not callable(function):
            raise TypeError(f"evaluator.py's {TASKS_FUNCTION} is not callable")
        with _printing_to_stderr():
            return task_count(function, split)

    def command(
        self, split: str | None = None, spin_s: float = 0.0, task: int | None = None
    ) -> list[str]:
        """The evaluator side's argv (relative paths: its cwd is its sandbox directory);
        ``split`` names the instance split it scores on (none: its default), ``task`` the
        task of it (a split scored task by task); ``spin_s`` how long its reads of the
        candidate's answers poll before blocking."""
        python = jail_python(self.config.python)
        argv = [
            python,
            "-I",
            str(RUNNER_PATH),
            "--evaluator",
            str(self.evaluator_path),
            "--result-fd",
            "{result_fd}",
            *(["--output-only"] if self.verifies else []),
            *(["--split", split] if split is not None else []),
            *(["--task", str(task)] if task is not None else []),
            "--max-artifact-chars",
            str(self.limits.max_output_bytes),
        ]
        if self.isolated:
            call_timeout = self.config.call_timeout_s or self.config.timeout_s
            return [
                *argv,
                "--candidate-fds",
                "{request_fd},{reply_fd}",
                "--call-timeout",
                repr(float(call_timeout)),
                "--max-message-bytes",
                str(self.config.max_message_mb * 1024 * 1024),
                *(["--spin", repr(spin_s)] if spin_s > 0 else []),
            ]
        return [
            *argv,
            "--program",
            self.program_filename,
            *([] if self.config.cascade else ["--no-cascade"]),
            "--thresholds",
            json.dumps(list(self.config.cascade_thresholds)),
        ]

    def candidate_command(self, spin_s: float = 0.0) -> list[str]:
        """The candidate side's argv in the isolated form (``spin_s``: how long its reads of
        the evaluator's calls poll before blocking)."""
        return [
            jail_python(self.config.python),
            "-I",
            str(CANDIDATE_HOST_PATH),
            self.program_filename,
            "{request_fd}",
            "{reply_fd}",
            str(self.config.max_message_mb * 1024 * 1024),
            *([repr(spin_s)] if spin_s > 0 else []),
        ]

    def evaluate(self, code: str, split: str | None = None) -> EvaluationResult:
        """Run ``code`` through the problem's evaluator in the sandbox and judge the outcome.

        ``split`` scores it on that instance split (see the module docstring); ``None``
        calls the evaluator as a problem without splits expects.
        """
        return self.judge(self.run_raw(code, split), split)

    def run_raw(self, code: str, split: str | None = None) -> RawEvaluation:
        """Run ``code`` in the sandbox and return what came out, unjudged. Never raises.

        This is the half an evaluation backend runs, on whatever machine it chooses: it
        holds no score, only the sandbox's records (:meth:`judge` turns them into one).
        """
        start = time.monotonic()
        with self._count_lock:
            self._evaluations += 1
        try:
            if self.in_tasks and split is not None:
                tasks = self._run_tasks(code, split)
                run, candidate = tasks[-1]
            else:
                tasks = ()
                run, candidate = self._run(code, split)
        except Exception as exc:  # a bug of ours must not take the run down either
            tail = "".join(traceback.format_exception(exc))[-4000:]
            return RawEvaluation(
                run=None,
                error=f"evaluation machinery failed: {type(exc).__name__}: {exc}",
                error_detail=tail,
                duration_s=time.monotonic() - start,
                problem_dir=str(self.evaluator_path.parent),
            )
        return RawEvaluation(
            run=run,
            candidate=candidate,
            duration_s=time.monotonic() - start,
            problem_dir=str(self.evaluator_path.parent),
            tasks=tasks,
        )

    def judge(self, raw: RawEvaluation, split: str | None = None) -> EvaluationResult:
        """Turn a sandbox's raw records into a result: validation, ``verify`` (on ``split``,
        the split the run was made on), the score.

        Runs on the driver, never on a worker, so whatever ran the candidate cannot report
        a score. The problem directory and the working directories of the run are shown
        under fixed names in the result's reason and artifacts
        (:mod:`evoforge.evaluation.shown_paths`), wherever the evaluation ran. Never raises.
        """
        start = time.monotonic()
        if raw.run is None:
            result = EvaluationResult(
                status=EvalStatus.FAILED,
                reason=raw.error or "the evaluation backend returned no run",
                artifacts={"traceback": raw.error_detail} if raw.error_detail else {},
            )
        else:
            try:
                if self.in_tasks and split is not None:
                    result = self._judge_tasks(raw.tasks, split)
                else:
                    result = self._judge(raw.run, raw.candidate, split=split)
            except Exception as exc:  # a bug of ours must not take the run down either
                tail = "".join(traceback.format_exception(exc))[-4000:]
                result = EvaluationResult(
                    status=EvalStatus.FAILED,
                    reason=f"evaluation machinery failed: {type(exc).__name__}: {exc}",
                    artifacts={"traceback": tail},
                )
        if raw.notes:
            result = replace(
                result, artifacts={**result.artifacts, "backend": "\n".join(raw.notes)}
            )
        result = show_paths(result, self._path_names(raw))
        return replace(result, duration_s=raw.duration_s + time.monotonic() - start)

    def _path_names(self, raw: RawEvaluation) -> list[tuple[str, str]]:
        """The paths of ``raw``'s evaluation and the names a recorded result shows them by."""
        pairs = raw.tasks or ((raw.run, raw.candidate),)
        sides = (side for pair in pairs for side in pair if side is not None)
        return path_names(
            raw.problem_dir or str(self.evaluator_path.parent), (side.workdir for side in sides)
        )

    def _template(self, side: str) -> ProcessTemplate | None:
        """The template process of one side (``evaluator`` or ``candidate``), made on first
        use; ``None`` where templates are off or the machine gives no jail."""
        if not self.config.template_processes or self.sandbox.filesystem != "mountns":
            return None
        with self._templates_lock:
            if side not in self._templates:
                python = jail_python(self.config.python)
                scripts = RUNNER_PATH.parent
                if side == "evaluator":
                    self._templates[side] = ProcessTemplate(
                        self.limits,
                        python,
                        RUNNER_PATH,
                        readable=(self.evaluator_path.parent, scripts),
                        preload_evaluator=self.evaluator_path,
                        network=self.sandbox.network,
                    )
                else:
                    self._templates[side] = ProcessTemplate(
                        self.limits,
                        python,
                        CANDIDATE_HOST_PATH,
                        readable=(scripts,),
                        network=self.sandbox.network,
                        hidden=self._hidden_from_candidate(),
                    )
            return self._templates[side]

    def _hidden_from_candidate(self) -> tuple[Path, ...]:
        """The directories of ``evaluator.candidate_hidden_packages`` for the jail's
        interpreter (found once)."""
        if self._hidden is None:
            names = self.config.candidate_hidden_packages
            python = jail_python(self.config.python)
            self._hidden = package_directories(python, names) if names else ()
        return self._hidden

    def close(self) -> None:
        """End the template processes and the verify processes (they also end on their
        own when this process does)."""
        with self._templates_lock:
            for template in self._templates.values():
                template.close()
            self._templates.clear()
        with self._trusted_lock:
            verifiers, self._verifiers = self._verifiers, None
        if verifiers is not None:
            verifiers.close()

    def _run(self, code: str, split: str | None) -> tuple[SandboxRun, SandboxRun | None]:
        """Run the evaluation: one shared process, or the evaluator and candidate sides."""
        scripts = RUNNER_PATH.parent
        problem = self.evaluator_path.parent
        if not self.isolated:
            run = self.sandbox.run(
                self.command(split),
                files={self.program_filename: code},
                readable=(problem, scripts),
                result_limit=MAX_RESULT_BYTES,
                template=self._template("evaluator"),
            )
            return run, None
        placement = self._processors.claim()
        try:
            return self._run_pair(code, split, placement)
        finally:
            self._processors.release(placement)

    def _run_tasks(self, code: str, split: str) -> tuple[tuple[SandboxRun, SandboxRun | None], ...]:
        """One evaluator side and one fresh candidate side per task of ``split``, one task
        after the other on the same processors, until every task ran or one failed."""
        count = self.tasks_in(split)
        placement = self._processors.claim()
        try:
            runs: list[tuple[SandboxRun, SandboxRun | None]] = []
            for task in range(count):
                run, candidate = self._run_pair(code, split, placement, task)
                runs.append((run, candidate))
                if not _task_answered(run, candidate):
                    break
            return tuple(runs)
        finally:
            self._processors.release(placement)

    def _run_pair(
        self, code: str, split: str | None, placement: Placement, task: int | None = None
    ) -> tuple[SandboxRun, SandboxRun | None]:
        """The evaluator and candidate sides of one isolated evaluation (of one ``task``
        of the split, for a split scored task by task), on the processors of
        ``placement`` (:mod:`evoforge.evaluation.placement`)."""
        scripts = RUNNER_PATH.parent
        problem = self.evaluator_path.parent
        judge = SideRequest(
            self.command(split, placement.spin_s, task),
            readable=(problem, scripts),
            template=self._template("evaluator"),
            cpu=placement.judge,
        )
        subject = SideRequest(
            self.candidate_command(placement.spin_s),
            files={self.program_filename: code},
            readable=(scripts,),
            hidden=self._hidden_from_candidate(),
            template=self._template("candidate"),
            cpu=placement.subject,
        )
        return self.sandbox.run_pair(judge, subject, result_limit=MAX_RESULT_BYTES)

    # -- judging -----------------------------------------------------------------------

    def _judge(
        self, run: SandboxRun, candidate: SandboxRun | None = None, *, split: str | None = None
    ) -> EvaluationResult:
        read = self._read_outcome(run, candidate)
        if isinstance(read, EvaluationResult):
            return read
        outcome, artifacts = read
        stages: list[dict[str, Any]] = outcome["stages"]
        metrics_raw: dict[str, Any] = {}
        for stage in stages:
            metrics_raw.update(stage["metrics"])
        if self.verifies:
            if len(stages) != 1 or "output" not in stages[0]:
                return EvaluationResult(
                    EvalStatus.FAILED,
                    reason="evaluate returned no output for verify()",
                    artifacts=artifacts,
                )
            rejected = self._run_verify(stages[0]["output"], metrics_raw, artifacts, split)
            if rejected is not None:
                return rejected
        return self._scored(metrics_raw, artifacts, len(stages), outcome["stopped"])

    def _judge_tasks(
        self, tasks: tuple[tuple[SandboxRun, SandboxRun | None], ...], split: str
    ) -> EvaluationResult:
        """Judge a split scored task by task: the first task that failed fails the
        evaluation (its reason names the task); else ``verify`` gets every task's output,
        in task order, and scores them together."""
        count = self.tasks_in(split)
        outputs: list[Any] = []
        artifacts: dict[str, str] = {}
        for task, (run, candidate) in enumerate(tasks):
            read = self._read_outcome(run, candidate)
            where = f"task {task} of the {split} split ({count} tasks)"
            if isinstance(read, EvaluationResult):
                return replace(read, reason=f"{where}: {read.reason}"[:1000])
            outcome, task_artifacts = read
            stages = outcome["stages"]
            if len(stages) != 1 or "output" not in stages[0]:
                return EvaluationResult(
                    EvalStatus.FAILED,
                    reason=f"{where}: evaluate returned no output for verify()",
                    artifacts=task_artifacts,
                )
            outputs.append(stages[0]["output"])
            for name, text in task_artifacts.items():
                key = name if count == 1 else f"task{task}_{name}"
                if len(artifacts) < _MAX_ARTIFACTS:
                    artifacts[key] = text
        if len(outputs) != count:
            return EvaluationResult(
                EvalStatus.FAILED,
                reason=f"{len(outputs)} of the {split} split's {count} tasks were run",
                artifacts=artifacts,
            )
        metrics_raw: dict[str, Any] = {}
        rejected = self._run_verify(outputs, metrics_raw, artifacts, split)
        if rejected is not None:
            return rejected
        return self._scored(metrics_raw, artifacts, 1, None)

    def _read_outcome(
        self, run: SandboxRun, candidate: SandboxRun | None
    ) -> tuple[dict[str, Any], dict[str, str]] | EvaluationResult:
        """The evaluator side's result record and the artifacts so far (both sides' output,
        the evaluator's artifacts), or the failed result when the run gave none or the
        evaluator (or the candidate through it) raised."""
        outputs = [("stdout", run.stdout), ("stderr", run.stderr)]
        if candidate is not None:  # the program's own output first; the evaluator's beside it
            outputs = [
                ("stdout", candidate.stdout),
                ("stderr", candidate.stderr),
                ("evaluator_stdout", run.stdout),
                ("evaluator_stderr", run.stderr),
            ]
        io_artifacts = {name: text for name, text in outputs if text}
        for side in (run, candidate):
            if side is not None and side.error is not None:
                return EvaluationResult(
                    EvalStatus.FAILED, reason=side.error, artifacts=io_artifacts
                )
        if run.timed_out:
            return EvaluationResult(
                EvalStatus.TIMEOUT,
                reason=f"exceeded {self.limits.timeout_s:g}s wall-clock",
                artifacts=io_artifacts,
            )
        if run.result_overflow:
            return EvaluationResult(
                EvalStatus.FAILED,
                reason=f"the result was larger than {MAX_RESULT_BYTES // (1024 * 1024)} MiB",
                artifacts=io_artifacts,
            )
        try:
            outcome = _parse_outcome(run.result)
        except _OversizedOutcome as exc:
            return EvaluationResult(EvalStatus.FAILED, reason=str(exc), artifacts=io_artifacts)
        if outcome is None:
            return EvaluationResult(
                EvalStatus.FAILED, reason=self._crash_reason(run), artifacts=io_artifacts
            )
        stages: list[dict[str, Any]] = outcome["stages"]
        artifacts = _evaluator_artifacts(stages, self.limits.max_output_bytes)
        for name, text in io_artifacts.items():
            artifacts[name if name not in artifacts else f"sandbox_{name}"] = text
        error = outcome["error"]
        if error is not None:
            failed = self._failed_in_evaluator(error, artifacts, len(stages))
            if candidate is not None and error.get("type") == "ChannelBroken":
                cpu_limit = max(1, math.ceil(self.limits.cpu_time_s))
                telling = (
                    candidate.out_of_memory
                    or candidate.signal not in (None, signal.SIGKILL)
                    or candidate.cpu_time_s >= cpu_limit - 0.05
                )
                if telling:
                    ended = self._crash_reason(candidate)
                    failed = replace(failed, reason=f"{failed.reason} ({ended})"[:1000])
            return failed
        return outcome, artifacts

    def _scored(
        self,
        metrics_raw: dict[str, Any],
        artifacts: dict[str, str],
        stage_count: int,
        stopped: Mapping[str, Any] | None,
    ) -> EvaluationResult:
        """The result of metrics that came back (from the evaluator side or ``verify``):
        validated, scored, ``invalid`` with the reason when they cannot be."""
        # the runner keeps text metrics as artifacts itself (within the bound); verify's
        # are kept here
        metrics, problem = _validate_metrics(metrics_raw, artifacts if self.verifies else None)
        if problem is not None:
            return EvaluationResult(
                EvalStatus.INVALID, reason=problem, artifacts=artifacts, stage=stage_count
            )
        flags = {key for key, value in metrics_raw.items() if isinstance(value, bool)}
        score = _score(metrics, flags, self.feature_names)
        if score is None:
            return EvaluationResult(
                EvalStatus.INVALID,
                reason=_no_score_reason(metrics, flags),
                metrics=metrics,
                artifacts=artifacts,
                stage=stage_count,
            )
        if stopped is not None:
            stage_score, threshold = _show(stopped.get("score")), _show(stopped.get("threshold"))
            artifacts["cascade"] = (
                f"stopped at stage {stopped.get('stage')} "
                f"(score {stage_score} < threshold {threshold})"
            )
        return EvaluationResult(
            EvalStatus.OK, score=score, metrics=metrics, artifacts=artifacts, stage=stage_count
        )

    def _run_verify(
        self,
        output: Any,
        metrics_raw: dict[str, Any],
        artifacts: dict[str, str],
        split: str | None = None,
    ) -> EvaluationResult | None:
        """Replace ``metrics_raw`` with what the trusted ``verify`` says of ``output``.

        Returns a failed result when ``verify`` rejects it, else ``None`` (``metrics_raw``
        and ``artifacts`` updated in place).
        """
        try:
            metrics, extra = self._verify_processes().verify(output, split)
        except VerifyFailed as exc:
            return EvaluationResult(
                EvalStatus.FAILED,
                reason=f"verify rejected the output: {exc}"[:1000],
                artifacts=artifacts,
                stage=1,
            )
        metrics_raw.clear()
        metrics_raw.update(metrics)
        artifacts.update(extra)
        return None

    def _verify_processes(self) -> VerifyProcesses:
        """The processes the problem's ``verify`` runs in, started on first use."""
        with self._trusted_lock:
            if self._verifiers is None:
                self._verifiers = VerifyProcesses(self.evaluator_path, self.limits.timeout_s)
            return self._verifiers

    def _trusted_module(self) -> ModuleType:
        """The problem's ``evaluator.py``, imported once (in this process) on first use,
        for ``split_tasks`` (``verify`` runs in processes of its own:
        :meth:`_verify_processes`)."""
        with self._trusted_lock:
            if self._trusted is None:
                self._trusted = import_trusted(self.evaluator_path)
            return self._trusted

    def _failed_in_evaluator(
        self, error: Mapping[str, Any], artifacts: dict[str, str], stages_done: int
    ) -> EvaluationResult:
        kind = str(error.get("type", "Exception"))
        message = str(error.get("message", ""))
        where = int(error.get("stage", 0)) if isinstance(error.get("stage"), int) else 0
        reason = f"{kind}: {message}" if message else kind
        if kind == "MemoryError":
            reason += f" (memory limit of {self.limits.memory_mb} MiB reached)"
        if "File too large" in message:  # EFBIG: Python ignores SIGXFSZ
            reason += f" (file-size limit of {self.limits.max_file_size_mb} MiB reached)"
        if kind == "BlockingIOError" and "Resource temporarily unavailable" in message:
            # EAGAIN from fork or clone: the evaluation's pids cgroup or RLIMIT_NPROC
            reason += (
                f" (process limit reached: an evaluation may run at most "
                f"{self.limits.max_processes} processes and threads at once)"
            )
        if where == 0:
            reason = f"evaluator could not start: {reason}"
        tail = error.get("traceback_tail")
        if tail:
            artifacts["traceback"] = str(tail)
        return EvaluationResult(
            EvalStatus.FAILED,
            reason=reason[:1000],
            artifacts=artifacts,
            stage=max(where, stages_done),
        )

    def _crash_reason(self, run: SandboxRun) -> str:
        """Why a run ended without a result, naming the limit that killed it when one did."""
        limits = self.limits
        # Python's MemoryError, ENOMEM, OpenBLAS's failed allocation, and C++'s
        # std::bad_alloc: a native library (torch, jax) that cannot map memory under
        # RLIMIT_AS aborts with SIGABRT
        memory_hint = _MEMORY_FAILURE.search(run.stderr) is not None
        memory_note = f"memory limit of {limits.memory_mb} MiB"
        cpu_limit = max(1, math.ceil(limits.cpu_time_s))
        if run.out_of_memory:
            return (
                f"killed: memory limit of {limits.memory_mb} MiB reached "
                "(all processes of the evaluation together)"
            )
        if run.signal == signal.SIGXCPU:
            return f"killed by SIGXCPU: CPU-time limit of {cpu_limit}s exceeded"
        if run.signal == signal.SIGKILL:
            if run.cpu_time_s >= cpu_limit - 0.05:
                return f"killed by SIGKILL: CPU-time limit of {cpu_limit}s exceeded"
            return f"killed by SIGKILL (possibly out of memory; {memory_note})"
        if run.signal == signal.SIGXFSZ:
            return f"killed by SIGXFSZ: file-size limit of {limits.max_file_size_mb} MiB exceeded"
        if run.signal == signal.SIGSEGV:
            note = f"; {memory_note} reached" if memory_hint else ""
            return f"crashed with SIGSEGV (segmentation fault{note})"
        if run.signal is not None:
            note = f" ({memory_note} reached)" if memory_hint else ""
            return f"killed by {run.signal_name}{note}"
        if memory_hint:
            return f"MemoryError: {memory_note} reached (exit status {run.returncode})"
        return f"exited with status {run.returncode} before reporting a result"


#: What a process that ran out of memory leaves on stderr: Python's MemoryError, the C
#: library's ENOMEM, and a native library giving up (OpenBLAS: "Memory allocation still
#: failed after 10 retries, giving up.", which exits before Python can raise anything).
_MEMORY_FAILURE = re.compile(
    r"MemoryError|Cannot allocate memory|Memory allocation still failed|bad_alloc"
)


def _task_answered(run: SandboxRun, candidate: SandboxRun | None) -> bool:
    """Whether one task's run came back with a result record and no error in it (the
    judge looks again; this only tells whether the next task is worth running)."""
    if run.error is not None or run.timed_out or run.result_overflow:
        return False
    if candidate is not None and candidate.error is not None:
        return False
    try:
        outcome = _parse_outcome(run.result)
    except _OversizedOutcome:
        return False
    return outcome is not None and outcome["error"] is None


def _defines(evaluator_path: Path, name: str) -> bool:
    """True when ``evaluator.py`` binds ``name`` at its top level (a ``def``, an import or
    an assignment; checked without running it)."""
    try:
        tree = ast.parse(evaluator_path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    return name in top_level_names(tree)


_stdout_lock = threading.Lock()
_stdout_borrowers = 0
_stdout_before: Any = None


@contextlib.contextmanager
def _printing_to_stderr() -> Iterator[None]:
    """``sys.stdout`` is ``sys.stderr`` while the block runs: what the problem's trusted
    code prints in this process (``split_tasks``, ``evaluator.py`` imported for it) never mixes
    into evoforge's standard output (``--jsonl`` events, the final line). Counted, so that
    blocks overlapping in several threads put back the stream from before the first."""
    global _stdout_borrowers, _stdout_before
    with _stdout_lock:
        if _stdout_borrowers == 0:
            _stdout_before = sys.stdout
            sys.stdout = sys.stderr
        _stdout_borrowers += 1
    try:
        yield
    finally:
        with _stdout_lock:
            _stdout_borrowers -= 1
            if _stdout_borrowers == 0:
                sys.stdout, _stdout_before = _stdout_before, None


class _OversizedOutcome(ValueError):
    """A result record of the expected shape that holds more than a result may."""


def _parse_outcome(raw: bytes | None) -> dict[str, Any] | None:
    """The runner's result record, or ``None`` if absent or not of the expected shape;
    :class:`_OversizedOutcome` (saying why) when its stages hold too many metrics
    (:data:`_MAX_METRICS` names in all)."""
    if raw is None:
        return None
    try:
        outcome = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(outcome, dict) or not isinstance(outcome.get("stages"), list):
        return None
    for stage in outcome["stages"]:
        if not (
            isinstance(stage, dict)
            and isinstance(stage.get("metrics"), dict)
            and isinstance(stage.get("artifacts"), dict)
        ):
            return None
    if outcome.get("error") is not None and not isinstance(outcome["error"], dict):
        return None
    if outcome.get("stopped") is not None and not isinstance(outcome["stopped"], dict):
        return None
    if len(outcome["stages"]) > 8:
        return None
    names: set[str] = set()
    for stage in outcome["stages"]:
        names.update(str(key) for key in itertools.islice(stage["metrics"], _MAX_METRICS + 1))
        if len(stage["metrics"]) > _MAX_METRICS or len(names) > _MAX_METRICS:
            count = max(len(stage["metrics"]), len(names))
            raise _OversizedOutcome(
                f"the evaluator returned {count} metrics; a result holds at"
                f" most {_MAX_METRICS} (keep the rest as artifacts)"
            )
        stage["metrics"] = {str(k)[:_MAX_KEY_CHARS]: v for k, v in stage["metrics"].items()}
        kept = list(stage["artifacts"].items())[:_MAX_ARTIFACTS]
        stage["artifacts"] = {str(k)[:_MAX_KEY_CHARS]: v for k, v in kept}
    error = outcome.get("error")
    if isinstance(error, dict):
        outcome["error"] = {
            key: str(error[key])[:4000]
            for key in ("type", "message", "traceback_tail")
            if error.get(key) is not None
        } | ({"stage": error["stage"]} if isinstance(error.get("stage"), int) else {})
    outcome.setdefault("error", None)
    outcome.setdefault("stopped", None)
    return outcome


def _evaluator_artifacts(stages: list[dict[str, Any]], max_chars: int) -> dict[str, str]:
    """The artifacts the evaluator side reported over all ``stages`` (a later stage's text
    replaces an earlier one of the same name): the first :data:`_MAX_ARTIFACTS` names,
    the runner's ``metric:<name>`` texts among them, each text cut to ``max_chars``
    (:func:`~evoforge.evaluation.runner.cut_text`)."""
    artifacts: dict[str, str] = {}
    for stage in stages:
        for key, value in stage["artifacts"].items():
            if key in artifacts or len(artifacts) < _MAX_ARTIFACTS:
                artifacts[str(key)] = cut_text(str(value), max_chars)
    return artifacts


def _validate_metrics(
    raw: Mapping[str, Any], artifacts: dict[str, str] | None = None
) -> tuple[dict[str, float], str | None]:
    """The numeric metrics as floats, or the first problem.

    As in OpenEvolve, a value that is not a number (text, ``None``, a list; the runner
    writes such values as text) is not fitness: it is left out of the metrics (and, when
    ``artifacts`` is given, kept there as ``metric:<name>`` unless already present; the
    runner has done so for results from the sandbox). Still a problem, so ``invalid``:
    a number that is not finite or too large for a float; a ``combined_score`` that is
    not a number (it was meant as the fitness, and averaging the rest instead would
    reward a candidate for breaking it); and no numeric metric at all ("no score").
    """
    if not raw:
        return {}, "no score: the evaluator returned no metrics"
    metrics: dict[str, float] = {}
    not_numbers: list[str] = []
    for key, value in raw.items():
        if isinstance(value, bool):
            metrics[key] = float(value)
            continue
        if isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:
                return {}, f"metric {key!r} is too large for a float: {_show(value)}"
            if not math.isfinite(number):
                return {}, f"metric {key!r} is not finite: {_show(value)}"
            metrics[key] = number
            continue
        # The runner wrote non-numbers as their repr, so show them as they are.
        shown = (value if isinstance(value, str) else repr(value))[:_SHOWN_VALUE_CHARS]
        problem = f"metric {key!r} is not a number: {shown}"
        if key == "combined_score":
            return {}, problem
        not_numbers.append(problem)
        if artifacts is not None:
            artifacts.setdefault(f"metric:{key}", value if isinstance(value, str) else repr(value))
    if not metrics:
        return {}, f"no score: no metric is a number ({not_numbers[0]})"
    return metrics, None


def _score(
    metrics: Mapping[str, float], flags: Collection[str], feature_names: Collection[str]
) -> float | None:
    """The fitness, by OpenEvolve's rule (``utils/metrics_utils.get_fitness_score``):
    ``combined_score`` when present; else the mean of the metrics that are neither
    ``flags`` (booleans: a flag is not a score) nor ``feature_names`` (the archive's
    dimensions describe a program, they do not rate it); when that leaves nothing, the
    mean of every metric but the flags. ``None`` when nothing is left to average (where
    OpenEvolve says 0.0) or the mean is not finite. Only what :func:`_validate_metrics`
    kept is scored, so text never is."""
    if "combined_score" in metrics:
        return metrics["combined_score"]
    numbers = {key: value for key, value in metrics.items() if key not in flags}
    fitness = [value for key, value in numbers.items() if key not in feature_names]
    if not fitness:
        fitness = list(numbers.values())
    if not fitness:
        return None
    try:
        score = math.fsum(fitness) / len(fitness)
    except OverflowError:
        return None
    return score if math.isfinite(score) else None


def _no_score_reason(metrics: Mapping[str, float], flags: Collection[str]) -> str:
    """Why :func:`_score` gave ``None`` for metrics that passed validation."""
    if all(key in flags for key in metrics):
        return (
            "no score: every metric is a flag (true/false), and flags are not fitness; "
            "return combined_score or another number"
        )
    return "score is not finite (mean of the metrics overflows)"


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)[:_SHOWN_VALUE_CHARS]
