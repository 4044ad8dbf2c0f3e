"""Whether evoforge runs from its source tree, and where that tree is.

A source tree (a clone, or an unpacked source archive) holds ``examples/``,
``benchmarks/`` and ``docs/`` beside the ``evoforge`` package; an installed package (a
wheel in ``site-packages``) has none of them. Commands that name those directories
(``evoforge run examples/...``, ``evoforge bench --problems NAME``) ask here, so that an
installed evoforge says where they live instead of only that they are missing, and never
mistakes a repository it happens to be installed inside (a project's own ``.venv``) for
its own source.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

#: The directory of the imported ``evoforge`` package.
PACKAGE_DIR = Path(__file__).resolve().parent

#: The top-level directories of the source tree that an installed package lacks.
SOURCE_ONLY_DIRS = ("examples", "benchmarks")


def source_root(package_dir: Path | None = None) -> Path | None:
    """The source tree the ``evoforge`` package at ``package_dir`` (default: the imported
    one) belongs to: its parent when that holds a ``pyproject.toml`` of the project
    ``evoforge``, else ``None`` (an installed package, whose parent is ``site-packages``)."""
    root = (PACKAGE_DIR if package_dir is None else package_dir).parent
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    if isinstance(project, dict) and project.get("name") == "evoforge":
        return root
    return None


def missing_source_dir_hint(path: Path, package_dir: Path | None = None) -> str:
    """For a relative ``path`` that does not exist and starts with ``examples/`` or
    ``benchmarks/``: where it is (the source tree's copy), or that only the source tree
    has it; ``""`` for any other path. Meant to follow a "does not exist" message."""
    if path.is_absolute() or not path.parts or path.parts[0] not in SOURCE_ONLY_DIRS:
        return ""
    root = source_root(package_dir)
    if root is not None:
        if (root / path).exists():
            return f" (evoforge's source tree has it: {root / path})"
        return ""
    return (
        f" ({path.parts[0]}/ comes with evoforge's source tree, not with the installed "
        "package: run from a clone, or `evoforge init DIR` writes a working problem)"
    )


def install_command(extra: str, package_dir: Path | None = None) -> str:
    """The command that installs ``extra`` for the evoforge that runs: ``pip install -e
    'ROOT[extra]'`` where it runs from its source tree (a clone has no package of that
    name to fetch: see :func:`source_root`), else ``pip install 'evoforge[extra]'``."""
    root = source_root(package_dir)
    if root is None:
        return f"pip install 'evoforge[{extra}]'"
    return f"pip install -e {shlex.quote(f'{root}[{extra}]')}"
