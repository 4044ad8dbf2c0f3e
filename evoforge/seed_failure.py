"""The one line that says why a run cannot start when its seed program did not score.

The line is the result's status and the last line of its reason, then what helps a user
fix a problem written moments ago: where the exception was raised in the problem's own
code (the evaluator, a module beside it, or the candidate program; never a frame of
evoforge, the standard library or an installed package), and for the mistakes a new
problem commonly makes (a relative path to a data file, a time limit shorter than one
evaluation, a package hidden from the candidate, a relative import of a module beside the
evaluator, ``evaluate(program_path)`` written for a candidate) the setting or the idiom to
use.

:func:`slow_seed_notice` is the warning for a seed that did score, but in more than half
of ``evaluator.timeout_s``: its children, a little slower or run beside another
evaluation, would time out.
"""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath

from evoforge.config import EvaluatorConfig
from evoforge.problem import PROGRAM_FILENAME
from evoforge.program import EvalStatus, EvaluationResult
from evoforge.splits import SEARCH

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
_MISSING_FILE = re.compile(
    r"FileNotFoundError: (?P<side>in the candidate: )?\[Errno 2\] .*: '(?P<name>[^']+)'$"
)
# what a candidate sees of a package its jail covers with an empty directory
# (evaluator.candidate_hidden_packages): an empty namespace package
_HIDDEN_MODULE = re.compile(
    r"in the candidate: .*(?:No module named '|cannot import name '[^']*' from '|module ')"
    r"(?P<module>[\w.]+)'"
)
_PACKAGE_DIR = Path(__file__).resolve().parent
_CALL_TIME_LIMIT = "within the call time limit of"
_RELATIVE_IMPORT = "attempted relative import with no known parent package"
_CANDIDATE_AS_PATH = "os.PathLike object, not EvaluatorEnd"  # open(), spec_from_file_location
_STR_ATTRIBUTE = re.compile(r"^AttributeError: 'str' object has no attribute '(?P<name>\w+)'")


def seed_failure(result: EvaluationResult, config: EvaluatorConfig, candidate_file: str) -> str:
    """One line (no newline) saying why the seed's ``result`` (any status but ``ok``, or
    ``ok`` without a score) stops the start, with the location and hint described in the
    module docstring where there is one. ``candidate_file``: the name the candidate was
    evaluated under; a frame in it is shown as the seed's file, ``initial_program.py``."""
    detail = result.reason.splitlines()[-1] if result.reason else "no reason given"
    line = f"the seed program did not score ({result.status.value}): {detail}"
    where = user_frame(result.artifacts.get("traceback", ""), {candidate_file: PROGRAM_FILENAME})
    if where is not None:
        line += f" (at {where})"
    hint = _hint(result, detail, config)
    if hint is None and where is not None:
        hint = _other_form_hint(detail, where)
    return line if hint is None else f"{line}; {hint}"


def _other_form_hint(detail: str, where: str) -> str | None:
    """The hint for an evaluate function written for the other form: ``evaluate`` (given
    a path) calling ``candidate.f(x)`` on it, or ``evaluate_candidate`` (given the
    candidate) opening or importing it as a path; None otherwise."""
    if not where.startswith("evaluator.py:"):
        return None
    function = where.rpartition(" in ")[2]
    if function == "evaluate_candidate" and _CANDIDATE_AS_PATH in detail:
        return (
            "evaluate_candidate(candidate) is given the candidate, whose functions it calls "
            "(candidate.f(x)), not a path; an evaluator that opens or imports the program "
            "file defines evaluate(program_path) (the shared-process form)"
        )
    mistaken = _STR_ATTRIBUTE.search(detail)
    if mistaken is None:
        return None
    if function not in ("evaluate", "evaluate_stage1", "evaluate_stage2", "evaluate_stage3"):
        return None
    return (
        f"{function}(program_path) is given the program's path (the shared-process form); "
        "to call the program's functions as candidate."
        f"{mistaken['name']}(...), name it evaluate_candidate(candidate)"
    )


SLOW_SEED_FRACTION = 0.5
"""A seed whose evaluation takes more than this share of ``timeout_s`` is warned about."""


def slow_seed_notice(
    durations: Mapping[str, float],
    timeout_s: float,
    retime: Callable[[], float] | None = None,
    tasks: Mapping[str, int] | None = None,
) -> str | None:
    """A warning (one line) when the seed's slowest evaluation in ``durations`` (seconds by
    split: ``search`` for a problem without splits) took more than
    :data:`SLOW_SEED_FRACTION` of ``timeout_s``, else ``None``. A split scored task by
    task (``tasks``: its number of tasks, where more than one) has the timeout for each
    task: its time per task is what counts.

    The seed's first evaluation also starts the sandbox's template processes (or a Ray
    worker): when the ``search`` time alone is over the line, ``retime()`` (an evaluation
    of the seed once more, its seconds) gives a warm one and the lesser counts."""
    if not durations:
        return None
    counts = {split: max(1, (tasks or {}).get(split, 1)) for split in durations}
    limit = SLOW_SEED_FRACTION * timeout_s
    search = durations.get(SEARCH)
    if retime is not None and search is not None and search / counts[SEARCH] > limit:
        durations = {**durations, SEARCH: min(search, retime())}
    split, seconds = max(
        ((split, total / counts[split]) for split, total in durations.items()),
        key=lambda item: item[1],
    )
    if seconds <= limit:
        return None
    where = "" if len(durations) == 1 else f" on the {split} split"
    if counts[split] > 1:
        where = f" per task{where} ({counts[split]} tasks, each with the timeout)"
    return (
        f"warning: the seed program's evaluation took {seconds:.3g} s{where}, "
        f"{100 * seconds / timeout_s:.0f} % of evaluator.timeout_s ({timeout_s:g} s): a "
        "child a little slower, or evaluated beside another, will time out; raise "
        "evaluator.timeout_s in the problem's config.yaml"
    )


def user_frame(traceback_text: str, shown_as: Mapping[str, str]) -> str | None:
    """``file.py:LINE in FUNCTION`` for the innermost frame of ``traceback_text`` that is in
    the problem's own code, or None when it has none (no traceback, or every frame is
    evoforge's, the standard library's or an installed package's). A file whose name is a
    key of ``shown_as`` is shown under that key's value."""
    found = None
    for text in traceback_text.splitlines():
        match = _FRAME.match(text)
        if match is not None and not _library_file(match["file"]):
            name = PurePath(match["file"]).name
            found = f"{shown_as.get(name, name)}:{match['line']} in {match['function']}"
    return found


def _library_file(name: str) -> bool:
    """Whether the frame's file is not the problem's: evoforge's own, the standard
    library's or an installed package's, or no file at all (``<string>``)."""
    if name.startswith("<"):
        return True
    path = Path(name)
    if path.is_relative_to(_PACKAGE_DIR) or "site-packages" in path.parts:
        return True
    paths = sysconfig.get_paths()
    return any(path.is_relative_to(paths[key]) for key in ("stdlib", "platstdlib"))


def _hint(result: EvaluationResult, detail: str, config: EvaluatorConfig) -> str | None:
    """What to change for the common mistakes the module docstring names, or None."""
    if result.status is EvalStatus.TIMEOUT:
        return (
            f"one evaluation took longer than evaluator.timeout_s ({config.timeout_s:g} s): "
            "raise it in config.yaml or make the evaluation faster"
        )
    if _CALL_TIME_LIMIT in detail:
        if config.call_timeout_s is None:  # each call may take the whole evaluation's time
            return (
                f"one call of the candidate took longer than evaluator.timeout_s "
                f"({config.timeout_s:g} s), the limit of each call while "
                "evaluator.call_timeout_s is unset: raise it in config.yaml or make the "
                "call faster"
            )
        return (
            f"one call of the candidate took longer than evaluator.call_timeout_s "
            f"({config.call_timeout_s:g} s): raise it in config.yaml or make the call faster"
        )
    hidden = _HIDDEN_MODULE.search(detail)
    if hidden is not None:
        package = hidden["module"].split(".")[0]
        if package in config.candidate_hidden_packages:
            return (
                f"{package} is hidden from the candidate (evaluator.candidate_hidden_packages): "
                "use it in the evaluator only, or take it off that list"
            )
    if _RELATIVE_IMPORT in detail and "in the candidate: " not in detail:
        return (
            "evaluator.py is imported as a module of its own, with its directory on "
            "sys.path: import the modules beside it by name (from helpers import f), "
            "not relatively (from .helpers import f)"
        )
    missing = _MISSING_FILE.search(detail)
    if missing is None:
        return None
    if missing["side"]:  # by any path: Path(__file__).parent is the jail's, not the problem's
        return (
            "the candidate sees only its own file: have the evaluator read the data and "
            "pass it to the candidate as arguments"
        )
    if Path(missing["name"]).is_absolute():
        return None
    return (
        "the evaluator runs in a fresh temporary directory: find files beside it with "
        f"Path(__file__).parent / {missing['name']!r}"
    )
