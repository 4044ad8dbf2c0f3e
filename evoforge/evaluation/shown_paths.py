"""Paths of this machine shown as fixed names in what an evaluation records.

What an evaluation leaves (tracebacks, warnings, the reason it failed) names files by
where they lay: the run's copy of the problem (``RUN_DIR/problem``) and the temporary
working directory of each side. Those differ between two runs of the same problem (each
has its own run directory; a side without a template process works in a fresh temporary
directory), and the text reaches the prompts of language-model operators, so a recorded
result shows them under fixed names instead: the problem directory as
:data:`SHOWN_PROBLEM_DIR`, a working directory as :data:`SHOWN_WORKDIR` (the name the
jail of a template process gives it). The paths of the installation (evoforge's own
files, the interpreter's packages) are left as they are.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from evoforge.evaluation.sandbox.templates import TEMPLATE_WORKDIR
from evoforge.program import EvaluationResult

__all__ = ["SHOWN_PROBLEM_DIR", "SHOWN_WORKDIR", "path_names", "show_paths"]

SHOWN_PROBLEM_DIR = "/problem"
"""How a recorded result names the problem directory the evaluator read."""
SHOWN_WORKDIR = TEMPLATE_WORKDIR
"""How a recorded result names the working directory of either side."""

# A path ends where a name cannot go on: "/run/problem" is not a prefix of "/run/problem2".
_PATH_END = r"(?![\w.-])"


def path_names(problem_dir: str, workdirs: Iterable[str]) -> list[tuple[str, str]]:
    """The ``(path, shown name)`` pairs of one evaluation, longest path first: the problem
    directory and each working directory, each as given and as resolved. Empty paths and
    the root are left out; a path that is already its shown name maps to itself."""
    pairs: dict[str, str] = {}
    for paths, shown in (([problem_dir], SHOWN_PROBLEM_DIR), (workdirs, SHOWN_WORKDIR)):
        for path in paths:
            for form in (path, _resolved(path) if path else ""):
                trimmed = form.rstrip("/")
                if trimmed:
                    pairs.setdefault(trimmed, shown)
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


@functools.lru_cache(maxsize=256)
def _resolved(path: str) -> str:
    """``os.path.realpath(path)``, remembered: the problem directory and the template's
    working directory are resolved again for every evaluation of a run, and resolving
    costs a system call per component (a link changed during the run keeps its old
    target here, in the shown names alone)."""
    return os.path.realpath(path)


def show_paths(result: EvaluationResult, names: Sequence[tuple[str, str]]) -> EvaluationResult:
    """``result`` with each path of ``names`` replaced by its shown name in its reason and
    in the values of its artifacts (``names`` as :func:`path_names` makes them)."""
    if not names:
        return result
    pattern = re.compile("|".join(f"{re.escape(path)}{_PATH_END}" for path, _ in names))
    shown = dict(names)

    def rename(text: str) -> str:
        return pattern.sub(lambda match: shown[match.group(0)], text)

    return replace(
        result,
        reason=rename(result.reason),
        artifacts={key: rename(str(value)) for key, value in result.artifacts.items()},
    )
