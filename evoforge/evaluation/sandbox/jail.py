"""What a jailed process may see: the system's programs, its interpreter, and what we add.

The launcher builds a new root from the spec this module writes. It holds, read-only, the
system's ``/usr`` (and the ``/bin``, ``/lib`` ... links or directories beside it), a handful
of ``/etc`` files the dynamic linker and the C library read (and fontconfig's), the
interpreter's prefixes and package directories, and the directories the caller adds (the
problem directory for an evaluator, nothing for a candidate); read-write, only the run's
working directory, a small ``/tmp`` and ``/dev/shm``. The host's home directories,
``/work``-like trees, run directories, databases and other runs' working directories are
simply not there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["interpreter_paths", "jail_python", "jail_spec", "shown_by_system_binds"]

_SYSTEM_TOPS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_ENTRIES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/fonts",  # fontconfig's configuration: matplotlib runs fc-list for its font list
)
_INTERPRETER_QUERY = (
    "import json, site, sys\n"
    "paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}\n"
    "paths.update(site.getsitepackages())\n"
    "paths.update(p for p in sys.path if p.endswith(('site-packages', 'dist-packages')))\n"
    "print(json.dumps(sorted(paths)))\n"
)
_lock = threading.Lock()
_interpreters: dict[str, tuple[str, ...]] = {}


def jail_python(python: str | None = None) -> str:
    """``python`` (None: the interpreter running evoforge) as a path that also resolves in
    a jail: absolute, with no ``.`` or ``..`` parts. An interpreter started by a relative
    path from a subdirectory (``../.venv/bin/python``) has ``sys.executable`` like
    ``/repo/sub/../.venv/bin/python``, which names a directory the jail does not hold.
    Symbolic links stay as they are (a virtual environment's interpreter is one, and
    resolving it would leave the environment)."""
    return os.path.abspath(python or sys.executable)


def interpreter_paths(python: str) -> tuple[str, ...]:
    """The directories ``python`` needs to start and import its packages (asked once).

    Its prefixes (a virtual environment and the installation it is based on) and its
    package directories, plus the directory of the executable and of what it links to.
    """
    with _lock:
        if python not in _interpreters:
            _interpreters[python] = _ask_interpreter(python)
        return _interpreters[python]


def _ask_interpreter(python: str) -> tuple[str, ...]:
    paths: set[str] = set()
    try:
        done = subprocess.run(
            [python, "-I", "-c", _INTERPRETER_QUERY],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode == 0:
            paths.update(str(p) for p in json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    executable = os.path.abspath(python)
    paths.add(os.path.dirname(executable))
    paths.add(os.path.dirname(os.path.realpath(executable)))
    return tuple(sorted(p for p in paths if p and os.path.isabs(p) and os.path.isdir(p)))


def shown_by_system_binds(path: Path | str) -> str | None:
    """The system directory that every jail binds whole (``/usr``, ``/bin``, ...) and that
    holds ``path`` (symbolic links resolved), or None. A problem or a run directory there
    would be in plain sight of every candidate: the evaluator's code and data, its
    answers, the run database."""
    real = os.path.realpath(path)
    for top in _SYSTEM_TOPS:
        if not os.path.isdir(top):
            continue
        shown = os.path.realpath(top)
        if real == shown or real.startswith(shown.rstrip("/") + "/"):
            return top
    return None


def _minimal(paths: Sequence[str]) -> list[str]:
    """``paths`` without those inside another one of them or inside the system's tops."""
    kept: list[str] = []
    for path in sorted({os.path.normpath(p) for p in paths}, key=len):
        if path == "/":
            continue
        covers = [*kept, *(top for top in _SYSTEM_TOPS if os.path.isdir(top))]
        if any(path == other or path.startswith(other.rstrip("/") + "/") for other in covers):
            continue
        kept.append(path)
    return kept


def jail_spec(
    root: Path,
    workdir: Path,
    python: str,
    readable: Sequence[Path] = (),
    mountpoints: Sequence[str] = (),
    readonly_tmp: bool = False,
    hidden: Sequence[Path] = (),
) -> dict[str, object]:
    """The launcher's ``jail`` spec: mount the new root at ``root`` (an empty directory).

    ``readable`` directories are bound read-only at their own paths (for an evaluator: the
    problem directory and evoforge's evaluation scripts). ``workdir`` is the one writable
    place and the process's working directory. ``mountpoints`` are empty directories made
    in the new root (where a template's children mount their own working directory).
    ``readonly_tmp`` makes ``/tmp`` read-only (a template's children share it, so none may
    leave anything there for another; they get ``TMPDIR`` in their working directory).
    ``hidden`` directories (within what is bound) are covered by an empty read-only one.
    """
    symlinks: list[list[str]] = []
    binds: list[list[str]] = []
    for top in _SYSTEM_TOPS:
        if os.path.islink(top):
            symlinks.append([top, os.readlink(top)])
        elif os.path.isdir(top):
            binds.append([top, top])
    for entry in _ETC_ENTRIES:
        if os.path.islink(entry) and not os.path.exists(entry):
            continue
        if os.path.exists(entry):
            binds.append([entry, entry])
    extra = [*interpreter_paths(python), *(str(Path(p).resolve()) for p in readable)]
    binds.extend([path, path] for path in _minimal(extra))
    return {
        "root": str(root),
        "workdir": str(workdir),
        "symlinks": symlinks,
        "binds": binds,
        "mountpoints": list(mountpoints),
        "readonly_tmp": readonly_tmp,
        "hidden": [str(Path(path).resolve()) for path in hidden],
    }


def package_directories(python: str, names: Sequence[str]) -> tuple[Path, ...]:
    """The directories of the installed packages ``names`` (top-level import names) in the
    package directories of ``python`` (:func:`interpreter_paths`); a name installed
    nowhere there has none."""
    found: dict[str, Path] = {}
    for base in interpreter_paths(python):
        for name in names:
            candidate = Path(base) / name
            if candidate.is_dir():
                found.setdefault(str(candidate.resolve()), candidate.resolve())
    return tuple(found.values())
