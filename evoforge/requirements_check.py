"""Say in one line, before the seed runs, which packages a problem needs and lacks.

A problem directory may hold ``requirements.txt``. Its evaluator runs under the
interpreter of ``evaluator.python`` (this one when unset); a package missing there would
otherwise surface as the seed's ``ModuleNotFoundError`` deep in a traceback, or, for an
import only some candidates reach, as a run of mysteriously failing children.

Only what can be checked by name is checked: each requirement line is parsed with
:class:`packaging.requirements.Requirement` and its distribution looked up with
:mod:`importlib.metadata` (for another interpreter, by running that interpreter once),
the version specifier included when one is given. Blank lines, comments, option lines
(``-r``, ``-c``, ``-e``, ``--index-url``...), per-line options (``--hash=...``), requirements
whose environment marker excludes the interpreter, and lines that are not a named
requirement (a bare URL or path) are skipped: pip is the judge of those.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

from evoforge.problem import ProblemError

__all__ = [
    "REQUIREMENTS_FILENAME",
    "MissingRequirementsError",
    "check_requirements",
    "missing_requirements",
    "parse_requirements",
]

REQUIREMENTS_FILENAME = "requirements.txt"
_COMMENT = re.compile(r"(^|\s)#.*$")
_LINE_OPTION = re.compile(r"\s--?[A-Za-z].*$")  # "pkg==1 --hash=sha256:..." keeps "pkg==1"
_PROBE_TIMEOUT_S = 60.0
# Run by another interpreter: installed versions of the named distributions and the
# values of its environment markers, as JSON on stdout (standard library only).
_PROBE = """
import importlib.metadata, json, os, platform, sys
names = json.loads(sys.argv[1])
versions = {}
for name in names:
    try:
        versions[name] = importlib.metadata.version(name)
    except Exception:
        versions[name] = None
info = sys.implementation
version = f"{info.version.major}.{info.version.minor}.{info.version.micro}"
environment = {
    "implementation_name": info.name,
    "implementation_version": version,
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
print(json.dumps({"versions": versions, "environment": environment}))
"""


class MissingRequirementsError(ProblemError):
    """The problem's ``requirements.txt`` names packages the evaluation interpreter lacks."""


def parse_requirements(text: str) -> list[Requirement]:
    """The named requirements of a ``requirements.txt`` text, in order (see the module
    docstring for what is skipped). Backslash-continued lines are joined first."""
    requirements: list[Requirement] = []
    for line in text.replace("\\\r\n", " ").replace("\\\n", " ").splitlines():
        line = _COMMENT.sub("", line).strip()
        if not line or line.startswith("-"):
            continue
        line = _LINE_OPTION.sub("", line).strip()
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement:
            continue  # a URL, a path, or something only pip understands
    return requirements


def missing_requirements(problem_dir: Path, python: str | None = None) -> list[str]:
    """The requirements of ``problem_dir/requirements.txt`` that ``python`` (this
    interpreter when ``None``) does not satisfy, as written, with the installed version
    in parentheses when it is the version that is wrong. Empty without the file, and
    when another interpreter cannot be asked (the seed's evaluation then says why)."""
    path = problem_dir / REQUIREMENTS_FILENAME
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    requirements = parse_requirements(text)
    if not requirements:
        return []
    probe = _probe(python, sorted({r.name for r in requirements}))
    if probe is None:
        return []
    versions, environment = probe
    missing: list[str] = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate(dict(environment)):
            continue
        installed = versions.get(requirement.name)
        if installed is None:
            missing.append(str(requirement))
        elif requirement.specifier and not requirement.specifier.contains(
            installed, prereleases=True
        ):
            missing.append(f"{requirement} (installed: {installed})")
    return missing


def check_requirements(problem_dir: Path, python: str | None = None) -> None:
    """Raise :class:`MissingRequirementsError` (one line, with the pip command to run)
    when :func:`missing_requirements` finds any."""
    missing = missing_requirements(problem_dir, python)
    if missing:
        path = problem_dir / REQUIREMENTS_FILENAME
        raise MissingRequirementsError(
            f"problem needs packages that are not installed: {', '.join(missing)} "
            f"(pip install -r {path})"
        )


def _probe(
    python: str | None, names: Iterable[str]
) -> tuple[dict[str, str | None], Mapping[str, str]] | None:
    """Installed versions of ``names`` and the marker environment of ``python``."""
    names = list(names)
    if python is None or _same_interpreter(python):
        environment = {str(k): str(v) for k, v in default_environment().items()}
        return {name: _installed_version(name) for name in names}, environment
    try:
        done = subprocess.run(
            [python, "-I", "-c", _PROBE, json.dumps(names)],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        answer = json.loads(done.stdout)
        versions = {str(k): (None if v is None else str(v)) for k, v in answer["versions"].items()}
        environment = {str(k): str(v) for k, v in answer["environment"].items()}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return versions, environment


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _same_interpreter(python: str) -> bool:
    try:
        return os.path.samefile(python, sys.executable)
    except OSError:
        return False
