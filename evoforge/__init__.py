"""evoforge: evolve better programs automatically.

The public API is small:

- :func:`run` starts a run on a problem directory and returns a :class:`RunResult`;
  :func:`resume` continues one (after a stop or a crash);
- :class:`Engine` is the ask/tell object for custom loops (with :class:`Job`,
  :class:`Proposal`, :class:`Rejection` and :class:`StepReport`);
- :class:`Config`, :func:`resolve_config` and :func:`load_problem` / :class:`Problem`
  describe what to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evoforge.checks import Rejection
    from evoforge.config import Config, ConfigError, load_yaml_mapping, resolve_config
    from evoforge.engine import Engine, EngineError, Job, StepReport
    from evoforge.kinds import RejectionKind, StopReason
    from evoforge.loop import Budget, RunResult
    from evoforge.operators.base import Proposal
    from evoforge.problem import Problem, ProblemError, load_problem
    from evoforge.program import (
        EvalStatus,
        EvaluationResult,
        InsertOutcome,
        InsertStatus,
        Program,
    )

# Every public name is imported on first use, so that ``import evoforge`` (which the
# ``evoforge`` command does before anything else) is instant and a Ctrl-C while the
# command loads reaches :mod:`evoforge.__main__`, which says so in one line.
_LAZY = {
    "Config": "evoforge.config",
    "ConfigError": "evoforge.config",
    "load_yaml_mapping": "evoforge.config",
    "resolve_config": "evoforge.config",
    "RejectionKind": "evoforge.kinds",
    "StopReason": "evoforge.kinds",
    "Problem": "evoforge.problem",
    "ProblemError": "evoforge.problem",
    "load_problem": "evoforge.problem",
    "EvalStatus": "evoforge.program",
    "EvaluationResult": "evoforge.program",
    "InsertOutcome": "evoforge.program",
    "InsertStatus": "evoforge.program",
    "Program": "evoforge.program",
    "Engine": "evoforge.engine",
    "EngineError": "evoforge.engine",
    "Job": "evoforge.engine",
    "StepReport": "evoforge.engine",
    "Budget": "evoforge.loop",
    "RunResult": "evoforge.loop",
    "Proposal": "evoforge.operators.base",
    "Rejection": "evoforge.checks",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, keeping ``import evoforge`` light."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'evoforge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


__version__ = "0.1.0"

__all__ = [
    "Budget",
    "Config",
    "ConfigError",
    "Engine",
    "EngineError",
    "EvalStatus",
    "EvaluationResult",
    "InsertOutcome",
    "InsertStatus",
    "Job",
    "Problem",
    "ProblemError",
    "Program",
    "Proposal",
    "Rejection",
    "RejectionKind",
    "RunResult",
    "StepReport",
    "StopReason",
    "load_problem",
    "load_yaml_mapping",
    "resolve_config",
    "resume",
    "run",
]


def run(
    problem_dir: str | Path,
    *,
    iterations: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    fresh: bool = False,
    log_mode: str = "quiet",
) -> RunResult:
    """Run evoforge on ``problem_dir`` and return the result.

    ``config`` is a YAML path (evoforge's layout or OpenEvolve's, translated) or a mapping
    in evoforge's layout; ``iterations``, ``seed`` and ``workers`` override it, as the
    command-line flags do.
    """
    from evoforge.config import ConfigError
    from evoforge.openevolve_compat import read_config_file
    from evoforge.runs import start_run

    file_layer: Mapping[str, Any] | None
    file_source: str | None = None
    file_notices: list[str] = []
    if config is None or isinstance(config, Mapping):
        file_layer = config
    elif isinstance(config, str | Path):
        file_layer, file_notices = read_config_file(Path(config))
        file_source = str(config)
    else:
        raise ConfigError(
            f"evoforge.run() arguments: config: expected a YAML path or a mapping, "
            f"got {type(config).__name__}"
        )
    cli_layer: dict[str, Any] = {"run": {"log_mode": log_mode}}
    if iterations is not None:
        cli_layer["run"]["iterations"] = iterations
    if workers is not None:
        cli_layer["run"]["workers"] = workers
    if seed is not None:
        cli_layer["seed"] = seed
    return start_run(
        problem_dir,
        config_file_layer=file_layer,
        config_file_source=file_source or "config mapping",
        config_file_notices=file_notices,
        cli_layer=cli_layer,
        cli_source="evoforge.run() arguments",
        run_dir=None if out is None else Path(out),
        fresh=fresh,
    )


def resume(
    run_dir: str | Path,
    *,
    iterations: int | None = None,
    evaluations: int | None = None,
    log_mode: str = "quiet",
    llm_base_url: str | None = None,
    ray_address: str | None = None,
) -> RunResult:
    """Continue the run in ``run_dir`` (stopped, interrupted or killed) and return the
    result, as ``evoforge resume`` does: without ``iterations`` it finishes the stored
    budget, with it it runs that many more iterations; ``evaluations`` allows that many
    more evaluations (a run stopped at its evaluations budget). ``llm_base_url`` moves the run's
    models to another endpoint, ``ray_address`` its evaluations to another Ray cluster
    (a run on the ray backend)."""
    from evoforge.config import ConfigError
    from evoforge.runs import resume_run

    for name, value in (("iterations", iterations), ("evaluations", evaluations)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ConfigError(
                f"evoforge.resume() arguments: {name}: expected a whole number >= 0, got {value!r}"
            )
    if log_mode not in ("rich", "quiet", "jsonl"):
        raise ConfigError(
            f"evoforge.resume() arguments: log_mode: expected rich, quiet or jsonl, "
            f"got {log_mode!r}"
        )
    return resume_run(
        Path(run_dir),
        extra_iterations=iterations,
        extra_evaluations=evaluations,
        log_mode=log_mode,
        llm_base_url=llm_base_url,
        ray_address=ray_address,
    )
