"""An installed evoforge (a wheel in site-packages) has no ``examples/`` or ``benchmarks/``:
it says where they are instead of only that they are missing, and it never takes a
repository it is installed inside (a project's own ``.venv``) for its own source."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from evoforge import __version__, source_tree
from evoforge.bench import harness
from evoforge.cli import main
from evoforge.problem import ProblemError, load_problem

ROOT = Path(__file__).resolve().parent.parent


def _site_packages_in(directory: Path) -> Path:
    """An ``evoforge`` package directory as a wheel installs it under ``directory``."""
    package = directory / ".venv" / "lib" / "python3.11" / "site-packages" / "evoforge"
    package.mkdir(parents=True)
    return package


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """evoforge as if imported from a wheel installed in ``tmp_path/.venv``; returns it."""
    package = _site_packages_in(tmp_path)
    monkeypatch.setattr(source_tree, "PACKAGE_DIR", package)
    return package


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """A working directory of a user's own, without evoforge's examples or benchmarks."""
    work = tmp_path / "work"
    work.mkdir()
    previous = Path.cwd()
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(previous)


def test_the_source_tree_is_the_checkout_and_an_installed_package_has_none(
    tmp_path: Path,
) -> None:
    assert source_tree.source_root() == ROOT
    package = _site_packages_in(tmp_path)
    assert source_tree.source_root(package) is None
    # a pyproject.toml beside the package is the source tree only if it is evoforge's
    (package.parent / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert source_tree.source_root(package) is None
    (package.parent / "pyproject.toml").write_text('[project]\nname = "evoforge"\n')
    assert source_tree.source_root(package) == package.parent


def test_an_installed_evoforge_says_the_examples_come_with_the_source_tree(
    installed: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "examples/circle_packing", "--iterations", "1"])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "examples/circle_packing does not exist" in err
    assert "source tree, not with the installed package" in err and "evoforge init" in err
    with pytest.raises(ProblemError, match="source tree"):
        load_problem("benchmarks/problems/cap_set_8")
    with pytest.raises(ProblemError) as other:  # any other missing directory: no hint
        load_problem("mine/circle_packing")
    assert str(other.value) == "problem directory mine/circle_packing does not exist"


def test_a_checkout_names_its_own_copy_of_a_missing_example(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "examples/circle_packing", "--iterations", "1"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert f"source tree has it: {ROOT / 'examples' / 'circle_packing'}" in err


def test_an_installed_bench_says_the_suite_comes_with_the_source_tree(
    installed: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["bench", "--problems", "cap_set_8", "--engines", "evoforge", "--seeds", "1"])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "unknown problem 'cap_set_8'" in err
    assert "source tree, not with the installed package" in err
    assert not (elsewhere / "benchmarks").exists()  # nothing was written


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_an_installed_bench_never_records_the_repository_it_is_installed_in(
    installed: Path, tmp_path: Path
) -> None:
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=60)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "a"], check=True, timeout=60)
    assert harness.repo_root() is None
    assert harness.source_revision() == __version__
    # a source tree unpacked inside another repository is not that repository's commit
    site_packages = installed.parent
    assert harness.revision_of(site_packages) == __version__
    head = subprocess.run(
        [*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert harness.revision_of(tmp_path) in (head, f"{head}+modified")


def test_the_install_hint_fits_how_evoforge_was_installed(tmp_path: Path) -> None:
    """A clone has no package named evoforge to fetch from an index: its hint installs the
    extra into the clone itself; an installed package's names the package."""
    assert source_tree.install_command("web") == f"pip install -e '{ROOT}[web]'"
    package = _site_packages_in(tmp_path / "my project")
    assert source_tree.install_command("web", package) == "pip install 'evoforge[web]'"
    spaced = tmp_path / "a clone" / "evoforge"
    spaced.mkdir(parents=True)
    (spaced.parent / "pyproject.toml").write_text('[project]\nname = "evoforge"\n')
    assert source_tree.install_command("llm", spaced) == f"pip install -e '{spaced.parent}[llm]'"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_bench_reads_its_revision_without_writing_the_checkouts_index(tmp_path: Path) -> None:
    """``git status`` refreshes the index where it can, holding ``index.lock`` meanwhile:
    the user's own git commands then fail, and a bench killed then (or past a file-size
    limit) leaves the lock behind. The bench's revision is read with no such refresh."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=60)
    (tmp_path / "evoforge").mkdir()
    (tmp_path / "evoforge" / "module.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "evoforge"], check=True, timeout=60)
    subprocess.run([*git, "commit", "-q", "-m", "a"], check=True, timeout=60)
    index = tmp_path / ".git" / "index"
    before = index.read_bytes()
    stat = (tmp_path / "evoforge" / "module.py").stat()
    os.utime(tmp_path / "evoforge" / "module.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert harness.revision_of(tmp_path) != __version__  # the commit, read
    assert index.read_bytes() == before
