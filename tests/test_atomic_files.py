"""Files written whole or not at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evoforge.atomic_files import (
    staged_directory,
    staged_file,
    write_bytes_atomically,
    write_text_atomically,
)


def _an_ended_pid() -> int:
    """The pid of a process that has ended (a staged name carrying it is stale)."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(ended.stdout)


def test_a_write_stopped_part_way_leaves_the_old_file_and_nothing_beside_it(
    tmp_path: Path,
) -> None:
    target = tmp_path / "report.html"
    write_text_atomically(target, "first")
    with pytest.raises(KeyboardInterrupt), staged_file(target) as (handle, _put_in_place):
        handle.write("half of the sec")
        raise KeyboardInterrupt
    assert target.read_text() == "first"
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]
    write_text_atomically(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]


def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_text_atomically(tmp_path / "card.md", "text")
    finally:
        os.umask(previous)
    assert (tmp_path / "card.md").stat().st_mode & 0o777 == 0o640


def test_a_folder_that_is_missing_is_named_by_the_file_asked_for(tmp_path: Path) -> None:
    """The error names the file the user gave, not the staged file beside it."""
    target = tmp_path / "missing" / "report.html"
    with pytest.raises(FileNotFoundError) as raised:
        write_text_atomically(target, "text")
    assert raised.value.filename == str(target)
    assert "report.html" in str(raised.value) and ".tmp" not in str(raised.value)


def test_a_directory_in_the_way_is_named_by_the_file_asked_for(tmp_path: Path) -> None:
    """``evoforge report RUN --out /tmp`` said "Is a directory: /.tmp.1234-....tmp", a
    file the user never named; and the staged file is not left beside it."""
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        write_text_atomically(target, "text")
    assert raised.value.filename == str(target)
    assert ".tmp" not in str(raised.value)
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


def test_a_staged_file_of_a_process_killed_as_it_wrote_goes_with_the_next_write(
    tmp_path: Path,
) -> None:
    """A process killed mid-write leaves its staged file; the next write of the same file
    removes it, and leaves a staged file of a process still writing alone."""
    dead = tmp_path / f".report.html.{_an_ended_pid()}-0123abcd.tmp"
    live = tmp_path / f".report.html.{os.getpid()}-89abcdef.tmp"
    other = tmp_path / ".notes.html.1-0123abcd.tmp"
    for path in (dead, live, other):
        path.write_text("part of a report")
    write_text_atomically(tmp_path / "report.html", "whole")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["report.html", live.name, other.name]
    )


def test_a_directory_is_put_in_place_whole_or_not_at_all(tmp_path: Path) -> None:
    """Filled and put in place, it replaces a missing or an empty directory; stopped part
    way, nothing of it is left; a directory staged by a process killed as it filled it
    goes with the next one staged for the same path."""
    target = tmp_path / "problem"
    with pytest.raises(KeyboardInterrupt), staged_directory(target) as (staged, _put):
        (staged / "evaluator.py").write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    dead = tmp_path / f".problem.{_an_ended_pid()}-0123abcd.tmp"
    (dead / "inner").mkdir(parents=True)
    (dead / "inner" / "evaluator.py").write_text("left by a killed init")
    target.mkdir()  # an empty directory is replaced too
    with staged_directory(target) as (staged, put_in_place):
        (staged / "evaluator.py").write_text("whole")
        put_in_place()
    assert [path.name for path in tmp_path.iterdir()] == ["problem"]
    assert [path.name for path in target.iterdir()] == ["evaluator.py"]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "kept.txt").write_text("mine")
    with pytest.raises(OSError) as caught, staged_directory(tmp_path / "full") as (staged, put):
        put()
    assert caught.value.filename == str(tmp_path / "full")
    assert [path.name for path in (tmp_path / "full").iterdir()] == ["kept.txt"]


class _DiskLog:
    """Records, in order, each ``fsync`` (by the path its descriptor names) and each
    ``replace`` (by its destination), doing both for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(descriptor: int) -> None:
            self.events.append(("sync", os.readlink(f"/proc/self/fd/{descriptor}")))
            real_fsync(descriptor)

        def replace(source: str | Path, destination: str | Path) -> None:
            real_replace(source, destination)
            self.events.append(("rename", str(destination)))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def synced_before_rename(self, target: Path) -> list[str]:
        """The paths synced before ``target`` was renamed into place."""
        index = self.events.index(("rename", str(target)))
        return [path for kind, path in self.events[:index] if kind == "sync"]

    def synced_after_rename(self, target: Path) -> list[str]:
        index = self.events.index(("rename", str(target)))
        return [path for kind, path in self.events[index + 1 :] if kind == "sync"]


def test_what_is_put_in_place_is_on_the_disk_first_and_so_is_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine that loses power right after a rename keeps a whole file under the new
    name: the staged file is synced before the rename, its folder after."""
    log = _DiskLog(monkeypatch)
    text_file = tmp_path / "best.py"
    write_text_atomically(text_file, "x = 1\n")
    staged = log.synced_before_rename(text_file)
    assert len(staged) == 1 and Path(staged[0]).name.startswith(".best.py.")
    assert log.synced_after_rename(text_file) == [str(tmp_path)]

    image = tmp_path / "plot.png"
    write_bytes_atomically(image, b"\x89PNG")
    assert [Path(path).name[:10] for path in log.synced_before_rename(image)][-1:] == [".plot.png."]
    assert log.synced_after_rename(image)[:1] == [str(tmp_path)]

    folder = tmp_path / "problem"
    with staged_directory(folder) as (staged_folder, put_in_place):
        (staged_folder / "inner").mkdir()
        (staged_folder / "inner" / "evaluator.py").write_text("whole")
        (staged_folder / "seed.py").write_text("seed")
        put_in_place()
    synced = {
        path.replace(str(staged_folder), "STAGED") for path in log.synced_before_rename(folder)
    }
    assert {"STAGED", "STAGED/inner", "STAGED/inner/evaluator.py", "STAGED/seed.py"} <= synced
    assert log.synced_after_rename(folder)[:1] == [str(tmp_path)]
