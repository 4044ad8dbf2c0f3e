"""Files (and directories of files) written whole or not at all: a reader, or a process
killed mid-write, sees the old content or the new, never a part.

What is put in place is on the disk first: the staged file (or every file and folder of a
staged directory) is synced before the rename, and the folder that holds it after, so a
machine that loses power or crashes keeps the old content or the new there too, never an
empty or cut file under the new name."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "remove_stale_staged_files",
    "staged_directory",
    "staged_file",
    "write_bytes_atomically",
    "write_text_atomically",
]


@contextlib.contextmanager
def staged_file(path: Path) -> Iterator[tuple[IO[str], Callable[[], None]]]:
    """A new text file beside ``path`` to write (its mode as the umask makes a new file's),
    and a function that puts it in ``path``'s place with one rename. Not put in place, it
    is removed when the block ends. An :class:`OSError` making it, writing it (a full
    disk) or putting it in place (``path`` is a directory) names ``path`` (the file the
    user asked for), not the staged file's name, or none."""
    staged = _staged_beside(path)
    try:
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:

            def put_in_place() -> None:
                handle.flush()
                try:
                    os.fsync(handle.fileno())
                    os.replace(staged, path)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, str(path)) from None
                _sync_folder(path.parent)

            yield handle, put_in_place
    except OSError as exc:  # also from the close, which flushes what could not be written
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        staged.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_directory(path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A new directory beside ``path`` to fill, and a function that puts it in ``path``'s
    place with one rename (where ``path`` does not exist or is an empty directory). Not put
    in place, it is removed with what it holds when the block ends. An :class:`OSError`
    making it or putting it in place names ``path``; ``path``'s parent is made first."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = _staged_beside(path)
        staged.mkdir()
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:

        def put_in_place() -> None:
            try:
                _sync_tree(staged)
                os.replace(staged, path)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            _sync_folder(path.parent)

        yield staged, put_in_place
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a file beside it and one rename."""
    with staged_file(path) as (handle, put_in_place):
        handle.write(text)
        put_in_place()


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a file beside it and one rename (a plot: a full
    disk or a kill leaves the old file or none, never part of an image). An
    :class:`OSError` names ``path``."""
    staged = _staged_beside(path)
    try:
        with open(staged, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        staged.unlink(missing_ok=True)
    _sync_folder(path.parent)


def _sync_tree(root: Path) -> None:
    """Sync every file and folder under ``root`` (``root`` included) to the disk (a
    link's own entry is synced with its folder)."""
    for folder, _, files in os.walk(root):
        for name in files:
            file_path = os.path.join(folder, name)
            if os.path.islink(file_path):
                continue
            descriptor = os.open(file_path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _sync_folder(Path(folder))


def _sync_folder(folder: Path) -> None:
    """Sync ``folder``'s entries (a rename in it) to the disk, where the system allows
    a folder to be synced; never raises (the rename itself has been done)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _staged_beside(path: Path) -> Path:
    """A new name beside ``path`` to stage it under (``.NAME.PID-RANDOM.tmp``), once the
    staged files that killed processes left there are removed."""
    remove_stale_staged_files(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def remove_stale_staged_files(path: Path) -> None:
    """Remove the files (and directories) staged beside ``path`` by processes that no
    longer run: a process killed (``kill -9``, its machine lost) while it wrote ``path``
    had no chance to. What a running process staged (one writing ``path`` now), or
    another user's, is left alone; so is anything else. Never raises."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)-[0-9a-f]{{8}}\.tmp")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found is None or _running(int(found.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _running(pid: int) -> bool:
    """Whether a process ``pid`` runs (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
