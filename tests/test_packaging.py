"""What a user who installs evoforge as a package gets: the source archive (sdist) and the
wheel built from it, offline (no build isolation, no index), and the wheel's package
used from outside the checkout.

The build runs on a copy of the source tree, so that it leaves nothing (``build/``,
``*.egg-info``) in the checkout and races no other test.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

from evoforge import __version__

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "evoforge"
_COPIED = ("pyproject.toml", "README.md", "SECURITY.md", "MANIFEST.in", "LICENSE")
_COPIED_DIRS = ("evoforge", "docs", "examples", "tests")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "runs", ".pytest_cache")


def _setuptools_version() -> Version | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return Version(version("setuptools"))
    except (ImportError, PackageNotFoundError):
        return None


_SETUPTOOLS = _setuptools_version()
pytestmark = pytest.mark.skipif(
    _SETUPTOOLS is None or _SETUPTOOLS.major < 77,
    reason="building evoforge needs setuptools>=77 (pip install -e '.[dev]')",
)


def _package_files() -> set[str]:
    """Every file of the package in the checkout, as the wheel names it (a data file that
    pyproject.toml's package-data leaves out is missing from the wheel, and fails here)."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel built from that sdist)."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    source.mkdir()
    for name in _COPIED:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    for name in _COPIED_DIRS:
        shutil.copytree(ROOT / name, source / name, ignore=_IGNORED)
    dist = base / "dist"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})",
        ],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (sdist,) = dist.glob("evoforge-*.tar.gz")
    pip_wheel = ["pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet"]
    subprocess.run(
        [sys.executable, "-m", *pip_wheel, "-w", str(dist), str(sdist)],
        cwd=base,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = dist.glob("evoforge-*.whl")
    return sdist, wheel


def test_the_sdist_has_the_package_its_docs_and_examples_and_no_tests(
    built: tuple[Path, Path],
) -> None:
    sdist, _ = built
    with tarfile.open(sdist) as archive:
        top = f"evoforge-{__version__}/"
        names = {name.removeprefix(top) for name in archive.getnames()}
    for needed in (
        "PKG-INFO",
        "pyproject.toml",
        "README.md",
        "SECURITY.md",
        "LICENSE",
        "docs/CONFIG.md",
        "examples/circle_packing/evaluator.py",
        "examples/bin_packing/data/or3.json",
    ):
        assert needed in names
    assert _package_files() <= names
    assert not [name for name in names if name == "tests" or name.startswith("tests/")]
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_wheel_holds_the_package_and_its_data_only_with_right_metadata(
    built: tuple[Path, Path],
) -> None:
    _, wheel = built
    info = f"evoforge-{__version__}.dist-info/"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = email.message_from_bytes(archive.read(info + "METADATA"))
        entry_points = archive.read(info + "entry_points.txt").decode()
    package = {name for name in names if not name.startswith(info)}
    # web pages, prompt templates, what `evoforge init` writes, the sandbox's helper
    # scripts, py.typed: every file of the package and nothing else (no tests, no runs)
    assert package == _package_files()
    assert metadata["Name"] == "evoforge"
    assert metadata["Version"] == __version__
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert {"llm", "ray", "web", "bench", "export"} <= set(metadata.get_all("Provides-Extra"))
    assert "evoforge = evoforge.__main__:main" in entry_points
    assert metadata.get_all("License-File") == ["LICENSE"]  # Apache-2.0 asks for its text
    assert info + "licenses/LICENSE" in names


def test_the_wheels_package_runs_from_outside_the_checkout(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    """Unpacked as pip installs it, the package is the one imported (not the checkout's),
    knows it has no source tree, and writes `evoforge init`'s problem from its data."""
    _, wheel = built
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import evoforge.source_tree as s; print(s.PACKAGE_DIR, s.source_root())",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert probe.stdout.split() == [str((site / "evoforge").resolve()), "None"]
    version = subprocess.run(
        [sys.executable, "-m", "evoforge", "--version"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.returncode == 0 and version.stdout.strip() == f"evoforge {__version__}"
    init = subprocess.run(
        [sys.executable, "-m", "evoforge", "init", "mine"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    written = {path.name for path in (work / "mine").iterdir()}
    assert written == {"initial_program.py", "evaluator.py", "config.yaml", "README.md"}


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_removes_what_an_in_tree_build_leaves() -> None:
    """`pip wheel .` and `pip install .` in the clone build in build/ and reuse it: a
    module deleted since would go on being packed, so `make clean` removes it."""
    dry_run = subprocess.run(
        ["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert dry_run.returncode == 0, dry_run.stderr
    removed = dry_run.stdout.split()
    assert {"build", "dist", "evoforge.egg-info"} <= set(removed)
