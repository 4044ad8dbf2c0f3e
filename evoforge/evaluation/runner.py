"""Run a problem's evaluator on one program, inside the sandbox, and write the raw result.

This is a standalone script: it must not import evoforge (the sandbox runs it as
``python -I runner.py ...`` with whatever interpreter the user configured), and it trusts
nothing it reports: the parent validates every value. Usage::

    python -I runner.py --evaluator /problem/evaluator.py --program program.py \
        --result result.json [--no-cascade] [--thresholds '[0.5, 0.8]'] \
        [--max-artifact-chars 65536] [--output-only] [--split holdout]

It imports ``evaluator.py`` by path (its directory first on ``sys.path`` so it can import
its siblings), runs the cascade, and writes, atomically and last, a JSON object::

    {"stages": [{"stage": 1, "function": "evaluate_stage1", "score": 0.4,
                 "metrics": {...}, "artifacts": {...}}, ...],
     "stopped": null | {"stage": 1, "score": 0.4, "threshold": 0.5},
     "error": null | {"stage": 2, "type": "ValueError", "message": "...",
                      "traceback_tail": "..."}}

Metric values are written faithfully: numbers as JSON numbers (NaN and infinities as the
``NaN``/``Infinity`` extension), ``bool`` and ``None`` as themselves, anything else as its
``repr`` string, so the parent can say exactly what was wrong. Artifact values are
``str()``-ed. An evaluator may return a mapping, or an object with ``.metrics`` and
``.artifacts`` (OpenEvolve's ``EvaluationResult``). When ``openevolve`` is not installed a
small shim package (``openevolve.evaluation_result.EvaluationResult``) is put on the path
so OpenEvolve evaluators run unchanged.

Cascade (when enabled and the evaluator defines ``evaluate_stage1``): the stages are
``evaluate_stage1``, then ``evaluate_stage2`` and ``evaluate_stage3`` as far as they are
defined consecutively; when only ``evaluate_stage1`` is defined, ``evaluate`` (if any) is
the second and final stage. Stage ``k+1`` runs only if stage ``k``'s score reaches
``thresholds[k-1]`` (a missing threshold does not gate). A stage's score is its
``combined_score`` when that is a number, else the mean of its numeric metrics (NaN when it
has none, which stops the cascade). Metrics and artifacts of the stages that ran are
merged, later stages overriding. Without a cascade, ``evaluate(program_path)`` is the one
stage.

Trusted verification (``--output-only``, used when the problem's evaluator defines
``verify(output)``): the runner calls only ``evaluate(program_path)`` (no cascade) and
writes its whole return value, unjudged, as the one stage's ``"output"`` (``"metrics"`` and
``"artifacts"`` stay empty). JSON types go through as they are (NaN and infinities
included); anything else arrives as its ``repr`` string. The parent then calls ``verify``
on that data in its own process, so nothing the candidate does in here (patching the
evaluator, ``builtins``, ``math``, or this runner) can change the verdict.

Instance splits (``--split NAME``, chosen by the trusted parent, never by the candidate):
the evaluate function (``evaluate_candidate`` or ``evaluate``, no cascade) is called with
the keyword ``split=NAME`` so that it scores the program on that split's instances.
Without ``--split`` it is called as before, with the one argument. With ``--task K`` too
(a problem that scores each task of a split with a fresh candidate: the parent starts one
runner and one candidate per task) it also gets ``task=K``.

After writing the result the script leaves with ``os._exit(0)``, so threads or atexit
handlers the evaluator left behind cannot hang or change the outcome. Exit status 2 means
the runner itself was misused (bad arguments), not that the candidate failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import numbers
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

_TRACEBACK_TAIL_CHARS = 4000
_STAGE_FUNCTIONS = ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")
ISOLATED_FUNCTION = "evaluate_candidate"


def _error_record(exc: BaseException, stage: int) -> dict[str, Any]:
    """Type, message and traceback tail of ``exc``.

    After a ``MemoryError`` the frames in the traceback still hold what exhausted memory, so
    their locals are cleared (freeing it) before the traceback is formatted.
    """
    if isinstance(exc, MemoryError):
        traceback.clear_frames(exc.__traceback__)
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the runner's own frames say nothing about the candidate
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except MemoryError:
        traceback.clear_frames(exc.__traceback__)
        text = "(traceback unavailable: out of memory)"
    return {
        "stage": stage,
        "type": type(exc).__name__,
        "message": _safe_str(exc),
        "traceback_tail": text[-_TRACEBACK_TAIL_CHARS:],
    }


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except BaseException:  # a hostile __str__ must not take the runner down
        return f"<unprintable {type(value).__name__}>"


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except BaseException:
        return f"<unrepresentable {type(value).__name__}>"


def _metric_value(value: object) -> object:
    """A JSON-writable stand-in for one metric value that keeps what the parent must judge."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real):  # int, float, and numpy scalars
        try:
            return float(value)
        except (OverflowError, TypeError, ValueError):
            return _safe_repr(value)
    if getattr(value, "shape", None) == () and hasattr(value, "item"):  # 0-d arrays
        try:
            return _metric_value(value.item())
        except Exception:
            return _safe_repr(value)
    return _safe_repr(value)


def _split_result(result: object, stage: int, max_artifact_chars: int) -> dict[str, Any]:
    """Turn what an evaluate function returned into a stage record.

    The shapes OpenEvolve's evaluators return are all accepted: a dict of metrics; an
    object with ``.metrics`` and ``.artifacts``; a dict of exactly ``{"metrics": {...},
    "artifacts": {...}}``; and metrics holding an ``"artifacts"`` mapping, which is moved
    to the artifacts. A metric value that is not a number (a string, ``None``, a list...)
    stays in the metrics as written (the parent leaves it out of the fitness) and its text
    is also put in the artifacts as ``metric:<name>``, so that it is kept and shown. A
    number too large for a float is written as an infinity (its text in the artifacts), so
    the parent still judges it invalid rather than taking it for text.
    """
    raw_metrics: object
    raw_artifacts: object
    if (
        isinstance(result, Mapping)
        and set(result) == {"metrics", "artifacts"}
        and isinstance(result["metrics"], Mapping)
        and isinstance(result["artifacts"], Mapping)
    ):
        raw_metrics, raw_artifacts = result["metrics"], result["artifacts"]
    elif isinstance(result, Mapping):
        raw_metrics, raw_artifacts = result, {}
    elif hasattr(result, "metrics"):
        raw_metrics = result.metrics
        raw_artifacts = getattr(result, "artifacts", None) or {}
    else:
        raise TypeError(
            "evaluator must return a dict of metrics or an object with .metrics, "
            f"got {type(result).__name__}"
        )
    if not isinstance(raw_metrics, Mapping):
        raise TypeError(f".metrics must be a dict, got {type(raw_metrics).__name__}")
    if not isinstance(raw_artifacts, Mapping):
        raise TypeError(f".artifacts must be a dict, got {type(raw_artifacts).__name__}")
    nested = raw_metrics.get("artifacts")
    if isinstance(nested, Mapping):
        raw_metrics = {key: value for key, value in raw_metrics.items() if key != "artifacts"}
        raw_artifacts = {**nested, **raw_artifacts}
    artifacts: dict[str, str] = {}
    for key, value in raw_artifacts.items():
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else _safe_str(value)
        artifacts[_safe_str(key)] = cut_text(text, max_artifact_chars)
    metrics: dict[str, object] = {}
    for key, value in raw_metrics.items():
        name = _safe_str(key)
        written = _metric_value(value)
        if isinstance(written, str) and isinstance(value, numbers.Real):
            # a number float() refuses (too large) stays a number, so it is judged invalid
            number: Any = value
            with contextlib.suppress(Exception):
                written = math.inf if number > 0 else -math.inf
            artifacts.setdefault(f"metric:{name}", cut_text(_safe_repr(value), max_artifact_chars))
        metrics[name] = written
        if written is None or isinstance(written, str):
            text = value if isinstance(value, str) else _safe_repr(value)
            artifacts.setdefault(f"metric:{name}", cut_text(text, max_artifact_chars))
    return {"stage": stage, "metrics": metrics, "artifacts": artifacts}


def cut_text(text: str, max_chars: int) -> str:
    """``text`` if it has at most ``max_chars`` characters, else its head ending in a note
    of how many characters were cut, at most ``max_chars`` long in all (the bare head
    where the limit is too small to hold the note)."""
    if len(text) <= max_chars:
        return text

    def note(cut: int) -> str:
        return f"\n[... {cut} more characters cut]"

    head = max_chars - len(note(len(text)))  # the note never has more digits than this
    if head <= 0:
        return text[:max_chars]
    return text[:head] + note(len(text) - head)


def stage_score(metrics: Mapping[str, object]) -> float:
    """``combined_score`` if it is a number, else the mean of the numeric metrics (NaN if none)."""
    combined = metrics.get("combined_score")
    if isinstance(combined, (int, float)):
        return float(combined)
    numeric = [float(v) for v in metrics.values() if isinstance(v, (int, float))]
    if not numeric:
        return math.nan
    return math.fsum(numeric) / len(numeric)


_OPENEVOLVE_CHECKED: list[bool] = []


def _ensure_openevolve_importable() -> None:
    """Put the bundled ``openevolve`` shim on the path when the real package is absent
    (looked up once per process: a template's children inherit the answer)."""
    if _OPENEVOLVE_CHECKED:
        return
    _OPENEVOLVE_CHECKED.append(True)
    try:
        found = importlib.util.find_spec("openevolve") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openevolve_shim")
        sys.path.append(shim)


def _load_channel() -> Any:
    """evoforge's channel module, loaded from beside this script (evoforge is not importable)."""
    loaded = sys.modules.get("_evoforge_channel")
    if loaded is not None:
        return loaded
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "channel.py")
    spec = importlib.util.spec_from_file_location("_evoforge_channel", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_evoforge_channel"] = module
    spec.loader.exec_module(module)
    return module


_PRELOADED: dict[str, ModuleType] = {}


def preload_evaluator(path: str) -> None:
    """Import the evaluator now (a template process does, once, before it forks)."""
    _ensure_openevolve_importable()
    _PRELOADED[os.path.abspath(path)] = _load_evaluator(path)


def _load_evaluator(path: str) -> ModuleType:
    preloaded = _PRELOADED.get(os.path.abspath(path))
    if preloaded is not None:
        return preloaded
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = os.path.splitext(os.path.basename(path))[0] or "evaluator"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load evaluator from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle inside it look the module up
    spec.loader.exec_module(module)
    return module


def _stages(module: ModuleType, cascade: bool) -> list[tuple[str, Callable[[str], object]]]:
    def function(name: str) -> Callable[[str], object] | None:
        candidate = getattr(module, name, None)
        return candidate if callable(candidate) else None

    evaluate = function("evaluate")
    first = function(_STAGE_FUNCTIONS[0])
    if not cascade or first is None:
        if evaluate is None:
            raise AttributeError("evaluator defines no evaluate(program_path) function")
        return [("evaluate", evaluate)]
    stages: list[tuple[str, Callable[[str], object]]] = [(_STAGE_FUNCTIONS[0], first)]
    for name in _STAGE_FUNCTIONS[1:]:
        found = function(name)
        if found is None:
            break
        stages.append((name, found))
    if len(stages) == 1 and evaluate is not None and evaluate is not first:
        stages.append(("evaluate", evaluate))
    return stages


def run(
    evaluator_path: str,
    program_path: str | None,
    cascade: bool,
    thresholds: list[float],
    max_artifact_chars: int,
    output_only: bool = False,
    candidate: Any = None,
    split: str | None = None,
    task: int | None = None,
) -> dict[str, Any]:
    """Evaluate the candidate with the evaluator; return the result record (never raises).

    In the shared-process form the candidate is ``program_path``, which the evaluator
    imports. In the isolated form ``candidate`` is the channel's
    :class:`~evoforge.evaluation.channel.EvaluatorEnd` and the one stage is
    ``evaluate_candidate(candidate)``; whenever the channel broke (the candidate died, hung
    or sent garbage) the outcome is that error, whatever the evaluator returned. With
    ``output_only`` only one stage runs and its return value is recorded as the stage's
    ``output`` for the parent's ``verify`` (see the module docstring). With ``split`` the
    evaluate function gets ``split=split`` as a keyword (and the cascade is not used), and
    with ``task`` (only given with ``split``) ``task=task`` too.
    """
    outcome: dict[str, Any] = {"stages": [], "stopped": None, "error": None}
    try:
        _ensure_openevolve_importable()
        module = _load_evaluator(evaluator_path)
        if candidate is not None:
            stages = _isolated_stage(module)
        else:
            stages = _stages(module, cascade and not output_only and split is None)
            if output_only and stages[0][0] != "evaluate":
                raise AttributeError("evaluator defines verify() but no evaluate(program_path)")
    except BaseException as exc:
        outcome["error"] = _error_record(exc, 0)
        return outcome
    argument = candidate if candidate is not None else program_path
    if split is not None:
        stages = [(name, _with_split(function, split, task)) for name, function in stages]
    if output_only:
        try:
            output = stages[0][1](argument)
        except BaseException as exc:
            outcome["error"] = _candidate_error(candidate, exc, 1)
            return outcome
        if candidate is not None and candidate.broken is not None:
            outcome["error"] = _broken_record(candidate.broken, 1)
            return outcome
        outcome["stages"].append(
            {"stage": 1, "function": "evaluate", "metrics": {}, "artifacts": {}, "output": output}
        )
        return outcome
    for index, (name, function) in enumerate(stages):
        number = index + 1
        try:
            record = _split_result(function(argument), number, max_artifact_chars)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: report them
            outcome["error"] = _candidate_error(candidate, exc, number)
            return outcome
        if candidate is not None and candidate.broken is not None:
            outcome["error"] = _broken_record(candidate.broken, number)
            return outcome
        record["function"] = name
        record["score"] = stage_score(record["metrics"])
        outcome["stages"].append(record)
        if number < len(stages) and index < len(thresholds):
            threshold = float(thresholds[index])
            if not record["score"] >= threshold:  # NaN stops too
                outcome["stopped"] = {
                    "stage": number,
                    "score": record["score"],
                    "threshold": threshold,
                }
                return outcome
    return outcome


def _with_split(
    function: Callable[..., object], split: str, task: int | None = None
) -> Callable[[Any], object]:
    def on_split(argument: Any) -> object:
        if task is None:
            return function(argument, split=split)
        return function(argument, split=split, task=task)

    return on_split


def _isolated_stage(module: ModuleType) -> list[tuple[str, Callable[[Any], object]]]:
    function = getattr(module, ISOLATED_FUNCTION, None)
    if not callable(function):
        raise AttributeError(f"evaluator defines no {ISOLATED_FUNCTION}(candidate) function")
    return [(ISOLATED_FUNCTION, function)]


def _broken_record(reason: str, stage: int) -> dict[str, Any]:
    return {"stage": stage, "type": "ChannelBroken", "message": reason, "traceback_tail": ""}


def _candidate_error(candidate: Any, exc: BaseException, stage: int) -> dict[str, Any]:
    """The error record of a stage that raised: the channel's break, the candidate's own
    exception (with the candidate's traceback) or the evaluator's."""
    if candidate is not None and candidate.broken is not None:
        return _broken_record(candidate.broken, stage)
    kind = getattr(exc, "kind", None)
    if candidate is not None and isinstance(kind, str) and hasattr(exc, "traceback_tail"):
        return {
            "stage": stage,
            "type": kind,
            "message": f"in the candidate: {getattr(exc, 'message', '')}",
            "traceback_tail": str(exc.traceback_tail)[-_TRACEBACK_TAIL_CHARS:],
        }
    return _error_record(exc, stage)


def _plain(value: object) -> object:
    """JSON stand-in for values json cannot write: arrays as lists, the rest as repr."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and hasattr(value, "dtype"):
        try:
            return tolist()
        except Exception:
            return _safe_repr(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return _safe_repr(value)


def _write_result(fd: int, outcome: Mapping[str, Any]) -> None:
    """Write the outcome to the result pipe, whole, then close it."""
    data = json.dumps(outcome, allow_nan=True, default=_plain).encode("utf-8", "replace")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--evaluator", required=True)
    parser.add_argument("--program")
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--candidate-fds", help="REQUEST_FD,REPLY_FD: the isolated form")
    parser.add_argument("--call-timeout", type=float, default=60.0)
    parser.add_argument("--max-message-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--spin", type=float, default=0.0, help="seconds a read polls first")
    parser.add_argument("--no-cascade", dest="cascade", action="store_false")
    parser.add_argument("--thresholds", default="[]")
    parser.add_argument("--max-artifact-chars", type=int, default=65536)
    parser.add_argument("--output-only", action="store_true")
    parser.add_argument("--split", help="the instance split to score on (search, holdout, test)")
    parser.add_argument("--task", type=int, help="the task of the split to score (from 0)")
    args = parser.parse_args(argv[1:] if argv is not None else None)  # argv[0]: this script
    candidate = None
    if args.candidate_fds:
        channel = _load_channel()
        request_fd, reply_fd = (int(part) for part in args.candidate_fds.split(","))
        candidate = channel.EvaluatorEnd(
            request_fd, reply_fd, args.call_timeout, args.max_message_bytes, args.spin
        )
    outcome = run(
        os.path.abspath(args.evaluator),
        os.path.abspath(args.program) if args.program else None,
        args.cascade,
        [float(value) for value in json.loads(args.thresholds)],
        args.max_artifact_chars,
        args.output_only,
        candidate,
        args.split,
        args.task if args.split is not None else None,
    )
    if candidate is not None:  # the candidate side can leave while the result is written
        candidate.close()
    try:
        _write_result(args.result_fd, outcome)
    except BaseException as exc:  # a value json cannot write: report that instead
        with contextlib.suppress(BaseException):
            error: dict[str, Any] = {"stages": [], "stopped": None, "error": _error_record(exc, 0)}
            _write_result(args.result_fd, error)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
