"""Load a problem directory: the seed program, its evaluator and optional defaults.

A problem directory holds ``initial_program.py`` (with ``# EVOLVE-BLOCK-START`` /
``# EVOLVE-BLOCK-END`` regions), ``evaluator.py`` (the isolated form:
``evaluate_candidate(candidate) -> dict``; or the shared-process form:
``evaluate(program_path) -> dict`` and optionally ``evaluate_stage1/2/3``), and optionally
``config.yaml`` (evoforge settings, or an OpenEvolve config, which is translated) and
``README.md`` (the description). Loading checks everything that can be checked without
running code and raises :class:`ProblemError` with one readable line otherwise.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoforge.blocks import BlockError, Segments, near_miss_hint, split_blocks
from evoforge.config import ConfigError
from evoforge.evaluation.split_tasks import TASKS_FUNCTION
from evoforge.openevolve_compat import read_config_file
from evoforge.source_names import STAR, top_level_names

PROGRAM_FILENAME = "initial_program.py"
EVALUATOR_FILENAME = "evaluator.py"
CONFIG_FILENAME = "config.yaml"
ISOLATED_FUNCTION = "evaluate_candidate"
EVALUATE_FUNCTIONS = (ISOLATED_FUNCTION, "evaluate", "evaluate_stage1")
_SHARED_PROCESS_FUNCTIONS = ("evaluate", "evaluate_stage1", "evaluate_stage2", "evaluate_stage3")
_MAX_STORED_FILE_BYTES = 8 * 1024 * 1024
_MAX_STORED_TOTAL_BYTES = 32 * 1024 * 1024
_MAX_STORED_FILES = 10_000
_SKIPPED_DIRS = {"__pycache__", ".git", ".venv", "runs", "openevolve_output"}
# What a run directory holds (evoforge.runs): one inside the problem directory (``--out``
# there, or the problem directory itself) is a run's output, never a problem file.
_RUN_MARKERS = ("run.sqlite", "run.lock")
_RUN_ENTRIES = {
    "run.sqlite",
    "run.sqlite-wal",
    "run.sqlite-shm",
    "run.lock",
    "problem",
    "report.html",
}


class ProblemError(ValueError):
    """The problem directory is unusable; the message is one line."""


@dataclass(frozen=True)
class Problem:
    """A loaded, checked problem. ``files`` are the directory's files as given (bytes)."""

    directory: Path
    name: str
    initial_code: str
    evaluator_path: Path
    description: str = ""
    config_layer: dict[str, Any] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def program_filename(self) -> str:
        return PROGRAM_FILENAME


def load_problem(directory: Path | str) -> Problem:
    """Read and check a problem directory."""
    root = Path(directory)
    if not root.exists():
        from evoforge.source_tree import missing_source_dir_hint

        hint = missing_source_dir_hint(root)
        raise ProblemError(f"problem directory {root} does not exist{hint}")
    if not root.is_dir():
        raise ProblemError(_not_a_directory(root))
    program_path = root / PROGRAM_FILENAME
    evaluator_path = root / EVALUATOR_FILENAME
    for required in (program_path, evaluator_path):
        if not required.is_file():
            raise ProblemError(f"{root}: missing {required.name}")

    initial_code = _read_text(program_path)
    _parse(initial_code, program_path)
    try:
        segments = split_blocks(initial_code)
    except BlockError as exc:
        raise ProblemError(f"{program_path}: {exc}{near_miss_hint(initial_code)}") from exc

    evaluator_code = _read_text(evaluator_path)
    tree = _parse(evaluator_code, evaluator_path)
    defined = top_level_names(tree)
    if STAR not in defined and not defined.intersection(EVALUATE_FUNCTIONS):
        raise ProblemError(
            f"{evaluator_path}: defines none of evaluate_candidate(candidate), "
            "evaluate(program_path) or evaluate_stage1(program_path)"
        )

    _refuse_async_entry_points(tree, evaluator_path)
    _refuse_tasks_without_their_functions(defined, evaluator_path)

    config_layer: dict[str, Any] = {}
    notices = _empty_block_notices(segments)
    unused = _unused_functions_notice(defined) or _unreached_stages_notice(defined)
    if unused is not None:
        notices.append(unused)
    config_path = root / CONFIG_FILENAME
    if config_path.is_file():
        try:
            staged = "evaluate_stage1" in defined or STAR in defined
            config_layer, config_notices = read_config_file(config_path, staged=staged)
        except ConfigError as exc:
            raise ProblemError(str(exc)) from exc
        notices.extend(config_notices)
    notices.extend(_misnamed_config_notices(root))

    files = _collect_files(root)
    if b"\r" in files.get(PROGRAM_FILENAME, b""):
        notices.append(
            f"{PROGRAM_FILENAME} has CRLF (or CR) line endings: evoforge reads them as LF, "
            "and every program it writes (children, the best, exports) has LF endings"
        )
    readme = root / "README.md"
    description = _read_text(readme) if readme.is_file() else ""
    return Problem(
        directory=root.resolve(),
        name=root.resolve().name,
        initial_code=initial_code,
        evaluator_path=evaluator_path.resolve(),
        description=description,
        config_layer=config_layer,
        notices=tuple(notices),
        files=files,
    )


def _not_a_directory(path: Path) -> str:
    """What to say of a problem path that is not a directory; for one of a problem's own
    files (``initial_program.py``), the directory holding it is what to give."""
    message = (
        f"{path} is not a directory: give the problem directory, which holds "
        f"{PROGRAM_FILENAME} and {EVALUATOR_FILENAME}"
    )
    if path.name in {PROGRAM_FILENAME, EVALUATOR_FILENAME, CONFIG_FILENAME}:
        message += f" (here {path.parent})"
    return message


def _empty_block_notices(segments: Segments) -> list[str]:
    """One line for each evolve block of the seed that holds no code (only blank lines and
    comments): the symbolic operators change code that is there and never write any, so
    such a block stays empty unless a language model fills it."""
    notices = []
    line = 0
    for index, block in enumerate(segments.blocks):
        line += segments.frozen[index].count("\n")  # the block's start marker ends here
        if all(not text.strip() or text.lstrip().startswith("#") for text in block.splitlines()):
            notices.append(
                f"{PROGRAM_FILENAME}: the evolve block after line {line} holds no code; "
                "the symbolic operators (tune, mutate, crossover, simplify) only change code "
                "that is there, so it stays empty unless a language model writes into it"
            )
        line += block.count("\n")
    return notices


def _misnamed_config_notices(root: Path) -> list[str]:
    """One line for each file beside the seed that looks meant as the problem's config
    (``config.yml``, ``Config.yaml``) but is not read, since only ``config.yaml`` is."""
    return [
        f"{entry.name} is not read: a problem's settings are read from {CONFIG_FILENAME} only "
        f"(rename it, or pass it with --config)"
        for entry in sorted(root.iterdir(), key=lambda entry: entry.name)
        if entry.name != CONFIG_FILENAME
        and entry.name.lower() in {"config.yml", "config.yaml"}
        and entry.is_file()
    ]


def _refuse_async_entry_points(tree: ast.Module, path: Path) -> None:
    """A one-line :class:`ProblemError` when a function evoforge calls (an evaluate
    function or ``verify``) is defined at the top level with ``async def``: called as a
    plain function it returns a coroutine, never run, instead of metrics."""
    entry_points = {ISOLATED_FUNCTION, *_SHARED_PROCESS_FUNCTIONS, "verify", TASKS_FUNCTION}
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name in entry_points:
            raise ProblemError(
                f"{path}:{node.lineno}: {node.name} is defined with async def, but evoforge "
                "calls it as a plain function: define it with def (and run a coroutine "
                "inside it with asyncio.run)"
            )


def _refuse_tasks_without_their_functions(defined: set[str], path: Path) -> None:
    """A one-line :class:`ProblemError` when the evaluator defines ``split_tasks`` (each task
    of a split scored by a fresh candidate) without ``evaluate_candidate`` or ``verify``,
    which such a split needs (:mod:`evoforge.evaluation.split_tasks`)."""
    if TASKS_FUNCTION not in defined or STAR in defined:
        return
    missing = [name for name in (ISOLATED_FUNCTION, "verify") if name not in defined]
    if missing:
        raise ProblemError(
            f"{path}: defines {TASKS_FUNCTION} but no {' and no '.join(missing)}: each task "
            f"of a split is scored by {ISOLATED_FUNCTION}(candidate, split, task) with a "
            "fresh candidate, and verify(outputs, split) gets every task's output"
        )


def _unused_functions_notice(defined: set[str]) -> str | None:
    """One line when the evaluator defines the isolated form's ``evaluate_candidate`` and
    also shared-process functions, which are then never called (the isolated form runs
    no cascade); None otherwise."""
    if ISOLATED_FUNCTION not in defined:
        return None
    unused = [name for name in _SHARED_PROCESS_FUNCTIONS if name in defined]
    if not unused:
        return None
    return (
        f"{EVALUATOR_FILENAME} defines {ISOLATED_FUNCTION}, so evoforge calls only it and never "
        f"{', '.join(unused)} (the isolated form has no cascade: make the cheap checks "
        f"first inside {ISOLATED_FUNCTION}, raising for a candidate that fails them)"
    )


def _unreached_stages_notice(defined: set[str]) -> str | None:
    """One line when the shared-process form's evaluator defines a cascade stage that
    the cascade never reaches: the stages run from ``evaluate_stage1`` on, as far as they
    are defined one after the other (``evaluate_stage3`` without ``evaluate_stage2`` is
    never called); None otherwise."""
    if STAR in defined or ISOLATED_FUNCTION in defined:
        return None
    stages = _SHARED_PROCESS_FUNCTIONS[1:]
    reached = 0
    while reached < len(stages) and stages[reached] in defined:
        reached += 1
    unreached = [name for name in stages[reached:] if name in defined]
    if not unreached:
        return None
    gap = stages[reached]
    return (
        f"{EVALUATOR_FILENAME} defines {', '.join(unreached)} but no {gap}, so evoforge "
        f"never calls {'it' if len(unreached) == 1 else 'them'}: a cascade runs "
        "evaluate_stage1, evaluate_stage2, evaluate_stage3 in order, as far as they are "
        "defined"
    )


def _parse(code: str, path: Path) -> ast.Module:
    """``code`` (the text of ``path``) parsed, or a one-line :class:`ProblemError`."""
    try:
        return ast.parse(code, filename=str(path))
    except SyntaxError as exc:
        where = str(path) if exc.lineno is None else f"{path}:{exc.lineno}"
        raise ProblemError(f"{where}: syntax error: {exc.msg}") from exc
    except RecursionError as exc:  # Python cannot compile it either
        raise ProblemError(
            f"{path}: nested too deeply for Python to parse (an expression or statements "
            "thousands of levels deep)"
        ) from exc


def _read_text(path: Path) -> str:
    """The file's text; a UTF-8 byte-order mark, which Python accepts at the start of a
    source file but ``ast.parse`` refuses inside a string, is left out."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProblemError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise ProblemError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _collect_files(root: Path) -> dict[str, bytes]:
    """The problem's files (relative path -> bytes), skipping caches and run outputs.

    Each run keeps a copy and its evaluations read that copy, so a file left out would be
    missing when the evaluator opens it: a file over the per-file limit, or one that takes
    the total over its limit, is a :class:`ProblemError` naming it.
    """
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(_file_paths(root)):
        size = path.stat().st_size
        if size > _MAX_STORED_FILE_BYTES:
            raise ProblemError(
                f"{path} is {_mib(size)}, over the {_mib(_MAX_STORED_FILE_BYTES)} a problem "
                "file may have (each run keeps a copy of the problem): make it smaller, "
                "compress it, or have the evaluator generate it"
            )
        if total + size > _MAX_STORED_TOTAL_BYTES:
            raise ProblemError(
                f"{path} ({_mib(size)}) takes the problem's files over "
                f"{_mib(_MAX_STORED_TOTAL_BYTES)} in all (each run keeps a copy of the "
                "problem): make the data smaller, compress it, or have the evaluator "
                "generate it"
            )
        files[path.relative_to(root).as_posix()] = path.read_bytes()
        total += size
    return files


def _file_paths(root: Path) -> list[Path]:
    """Every file under ``root`` that belongs to the problem.

    A symbolic link to a directory is followed (a data directory linked in is read through
    the link, so the copy must hold its files), except one back into a directory it lies
    in. Skipped: caches and ``_SKIPPED_DIRS``, any run directory below ``root`` (``--out``
    inside the problem), and a run's own entries when ``root`` is itself a run directory.
    The walk stops as soon as the files found are over the total size limit (the caller
    then names the file that took them over), so a link to a large tree costs no more
    than that; more than ``_MAX_STORED_FILES`` files is a :class:`ProblemError`.
    """
    found: list[Path] = []
    total = 0
    ancestors: dict[str, tuple[tuple[int, int], ...]] = {}
    for directory, subdirectories, names in os.walk(root, followlinks=True):
        here = Path(directory)
        info = here.stat()
        identity = (info.st_dev, info.st_ino)
        above = ancestors.get(os.path.dirname(directory), ()) if here != root else ()
        is_run = any((here / marker).is_file() for marker in _RUN_MARKERS)
        if identity in above or (is_run and here != root):
            subdirectories[:] = []  # a link back up, or a run's output
            continue
        ancestors[directory] = (*above, identity)
        if is_run:
            subdirectories[:] = [name for name in subdirectories if name not in _RUN_ENTRIES]
            names = [name for name in names if name not in _RUN_ENTRIES]
        subdirectories[:] = [name for name in subdirectories if name not in _SKIPPED_DIRS]
        for name in names:
            path = here / name
            if not path.is_file():
                continue
            found.append(path)
            total += path.stat().st_size
            if total > _MAX_STORED_TOTAL_BYTES:
                return found
            if len(found) > _MAX_STORED_FILES:
                raise ProblemError(
                    f"{root} holds over {_MAX_STORED_FILES:,} files (a problem's files are "
                    f"copied into each run; the walk was at {here}): keep only what the "
                    "evaluator reads in the problem directory"
                )
    return found


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def materialise_problem(files: dict[str, bytes], destination: Path) -> None:
    """Write stored problem files under ``destination`` (used so a run is self-contained)."""
    for relative, content in files.items():
        target = destination / relative
        if destination.resolve() not in target.resolve().parents:
            raise ProblemError(f"refusing to write problem file outside the run: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
