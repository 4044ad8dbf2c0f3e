"""Leave nothing of a run behind: reap its processes, remove its files, whatever it did.

A candidate may double-fork, ``setsid``, ignore signals, or leave a directory tree so deep
that recursive removal overflows the stack, with names too long for a path and modes that
forbid entry. Nothing here recurses, follows a link or raises: the sweep kills every
process of a run, and :func:`remove_tree` removes any tree with a constant number of file
descriptors by moving each subdirectory up to the top before emptying it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import select
import signal
import stat
import tempfile
import time
import uuid
from pathlib import Path

__all__ = [
    "MARKER_VARIABLE",
    "RAY_PROBLEM_PREFIX",
    "claim_directory",
    "decode_status",
    "kill_group",
    "process_exists",
    "remove_stale_workdirs",
    "remove_tree",
    "sweep",
    "wait_for",
]

MARKER_VARIABLE = "EVOFORGE_SANDBOX_ID"
"""Environment variable holding the per-run id; the post-run sweep kills its holders."""

_SWEEP_ROUNDS = 50
RAY_PROBLEM_PREFIX = "evoforge-ray-problem-"
"""A Ray worker's copy of the problem directory (``RAY_PROBLEM_PREFIX<pid>-...``)."""
PROBE_PREFIX = "evoforge-probe-"
"""The start of the directories the jail's probe makes (then the prober's pid)."""
WORKDIR_PREFIXES = ("evoforge-sandbox-", "evoforge-capture-", RAY_PROBLEM_PREFIX, PROBE_PREFIX)


def decode_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -1


def wait_for(pid: int, timeout: float | None) -> tuple[int, resource.struct_rusage | None] | None:
    """Reap ``pid`` with its resource usage; ``None`` if it is still running at the timeout.

    Uses a pidfd to sleep until exit where available, else polls with a growing interval.
    """
    if timeout is None:
        try:
            _, status, usage = os.wait4(pid, 0)
        except ChildProcessError:
            return 0, None
        return status, usage
    deadline = time.monotonic() + timeout
    pidfd: int | None = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(pid)
    try:
        interval = 0.001
        while True:
            try:
                reaped, status, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                return 0, None
            if reaped:
                return status, usage
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if pidfd is not None:
                select.select([pidfd], [], [], remaining)
            else:
                time.sleep(min(interval, remaining))
                interval = min(interval * 2, 0.05)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def sweep(run_id: str, session: int, netns: str | None) -> int:
    """SIGKILL every live process of the run; return how many were killed.

    A process belongs to the run when it is in the run's session or process group, has the
    run's marker in its initial environment, or lives in the run's network namespace.
    Repeats until a full pass finds none alive (a process may fork while we scan, and a
    killed one is found again until it has exited), so on return they are all gone.
    """
    marker = f"{MARKER_VARIABLE}={run_id}".encode()
    me = os.getpid()
    killed: set[int] = set()
    for round_number in range(_SWEEP_ROUNDS):
        found = False
        try:
            pids = [int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()]
        except OSError:
            break
        for pid in pids:
            if pid != me and _belongs_to_run(pid, marker, session, netns):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                    found = True
        if not found:
            break
        time.sleep(0.001 * (round_number + 1))  # let the killed ones finish exiting
    return len(killed)


def _belongs_to_run(pid: int, marker: bytes, session: int, netns: str | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return False
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 4 or fields[0] in (b"Z", b"X", b"x"):
        return False  # gone, or a zombie: nothing left to kill
    if int(fields[2]) == session or int(fields[3]) == session:
        return True
    if netns is not None:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/ns/net") == netns:
                return True
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:
        return False
    return marker in environ.split(b"\0")


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it; never raises, never recurses.

    Each directory is opened once; its files are unlinked and its subdirectories renamed
    into ``path`` itself (so depth never grows the work or the stack), then it is removed.
    Directories a candidate made unreadable are made accessible first. A symlink is
    removed, never followed.
    """
    top = str(path)
    try:
        if os.path.islink(top) or not os.path.isdir(top):
            with contextlib.suppress(OSError):
                os.unlink(top)
            return
        top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        pending: list[str] = []  # names of directories moved up into ``top``
        _empty_directory(top_fd, top_fd, pending)
        for _ in range(10_000_000):  # bounded, though each pass removes one directory
            if not pending:
                break
            name = pending.pop()
            with contextlib.suppress(OSError):
                os.chmod(name, stat.S_IRWXU, dir_fd=top_fd, follow_symlinks=False)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top_fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=top_fd)
                continue
            try:
                _empty_directory(fd, top_fd, pending)
            finally:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=top_fd)
    except Exception:
        pass
    finally:
        os.close(top_fd)
    with contextlib.suppress(OSError):
        os.rmdir(top)


def _empty_directory(fd: int, top_fd: int, pending: list[str]) -> None:
    """Unlink the files of the directory ``fd``; move its subdirectories up into ``top``."""
    with contextlib.suppress(OSError):
        os.fchmod(fd, stat.S_IRWXU)
    try:
        names = os.listdir(fd)
    except OSError:
        return
    for name in names:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            moved = f".evoforge-rm-{uuid.uuid4().hex}"
            try:
                os.rename(name, moved, src_dir_fd=fd, dst_dir_fd=top_fd)
            except OSError:
                continue
            pending.append(moved)
        else:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)


def remove_stale_workdirs(tmp_root: Path | None = None) -> int:
    """Remove run directories left under the temp directory by an evoforge process that was
    killed mid-evaluation (``kill -9`` skips the cleanup), and the problem copies of killed
    Ray workers. Returns how many were removed.

    A directory's name carries the pid of the evoforge process that made it
    (``evoforge-sandbox-<pid>-...``); it is stale when that process no longer exists.
    Directories of live processes, and of other users' processes, are left alone, and so
    is one whose maker still holds its claim (:func:`claim_directory`): a process of
    another pid namespace sharing this temp directory (another container), whose pid
    means nothing here. Never raises: whatever a killed run left, evoforge still starts.
    """
    root = Path(tmp_root or tempfile.gettempdir())
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        try:
            prefix = next((p for p in WORKDIR_PREFIXES if entry.name.startswith(p)), None)
            if prefix is None or not entry.is_dir(follow_symlinks=False):
                continue
            owner, _, _ = entry.name[len(prefix) :].partition("-")
            if not owner.isdigit() or process_exists(int(owner)):
                continue
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            if _claimed(entry.path):
                continue
            remove_tree(Path(entry.path))
            removed += not os.path.lexists(entry.path)
        except Exception:
            continue
    return removed


def claim_directory(path: Path) -> int | None:
    """A descriptor holding a shared lock on the directory ``path`` until it is closed:
    while it is open, :func:`remove_stale_workdirs` in any process leaves the directory
    alone, whatever the pid in its name says. ``None`` where none can be taken."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _claimed(path: str) -> bool:
    """Whether a live process holds a claim on the directory ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def process_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (ours to signal or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but not ours to signal
    return True
