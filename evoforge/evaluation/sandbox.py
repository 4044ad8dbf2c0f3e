"""Run an untrusted command under resource limits, and leave nothing of it behind.

A :class:`Sandbox` runs one command per :meth:`Sandbox.run` call, synchronously. Every run
gets:

* **A fresh working directory** (``HOME`` and ``TMPDIR`` point there too), created before
  the run and removed after it, whatever the command did.
* **Its own session and process group.** The wall-clock timeout kills the whole group with
  ``SIGKILL``. After *every* run (not only on timeout) a sweep of ``/proc`` kills any process
  that belongs to the run: same session or process group, the per-run marker variable
  ``EVOFORGE_SANDBOX_ID`` in its initial environment, or the run's private network
  namespace. A candidate that double-forks and calls ``setsid`` is still found by its
  environment or namespace. Known gap: a process that leaves the session, re-executes with a
  cleared environment *and* no network namespace is in effect (fallback ``none``) escapes.
* **Resource limits**: ``RLIMIT_CPU`` (soft = ``cpu_time_s``, hard one second later, so
  ``SIGXCPU`` then ``SIGKILL``), ``RLIMIT_AS`` (``memory_mb``), ``RLIMIT_FSIZE``
  (``max_file_size_mb``), ``RLIMIT_CORE`` = 0. ``RLIMIT_NPROC`` is per user and not enforced
  for root, so the sandbox does not rely on it; the sweep is what bounds leftover processes.
* **An environment without secrets**: the parent's environment minus every variable whose
  name contains KEY, TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL, AUTH, PRIVATE or COOKIE
  (any case), and minus any variable whose value is a URL with a password in it
  (``http://user:pass@proxy``). Thread counts of BLAS/OpenMP are pinned to 1.
* **No network, where the OS allows it.** The child calls ``unshare(CLONE_NEWNET)`` (works
  for root or with ``CAP_SYS_ADMIN``); failing that ``unshare(CLONE_NEWUSER |
  CLONE_NEWNET)`` (works for unprivileged users where user namespaces are enabled). The new
  namespace has only a loopback device that is down, so every connection fails, even to
  ``127.0.0.1``. If neither works the run goes ahead *with* network: fallback ``none``.
  :func:`network_isolation` says which mode this process gets (probed once, cached). Once a
  mode has been probed to work, a run whose namespace cannot be created fails closed
  (:attr:`SandboxRun.error`) rather than silently running with network.
* **Captured, capped output.** stdout and stderr go to files (so huge output never fills
  memory or a pipe), which ``RLIMIT_FSIZE`` bounds; at most ``max_output_bytes`` of each is
  read back (head and tail, with a ``[... N bytes dropped]`` note between).

Why a launcher instead of ``preexec_fn``: ``preexec_fn`` runs Python code between ``fork``
and ``exec`` and is documented as unsafe when the parent has threads, and the run loop calls
:meth:`Sandbox.run` from several threads at once. So the child is started through a tiny
launcher script (``python -I -S -c``) that sets the limits, creates the namespace and then
``exec``\\ s the command: the same process, so the limits and namespace carry over, and the
parent never runs Python code in a forked child. The launcher reports a setup failure
through a close-on-exec pipe: end-of-file with no data means the command was exec'd.

:meth:`Sandbox.run` never raises because of what the command does. A problem of the
sandbox itself (the launcher could not start) is returned in :attr:`SandboxRun.error`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evoforge.config import EvaluatorConfig

__all__ = [
    "MARKER_VARIABLE",
    "Sandbox",
    "SandboxLimits",
    "SandboxRun",
    "filesystem_isolation",
    "network_isolation",
    "pids_cgroup_root",
    "sanitized_environment",
]

MARKER_VARIABLE = "EVOFORGE_SANDBOX_ID"
"""Environment variable holding the per-run id; the post-run sweep kills its holders."""

_SECRET_NAME_PARTS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "COOKIE",
)
_URL_WITH_PASSWORD = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")
_MIB = 1024 * 1024
_SWEEP_ROUNDS = 50


@dataclass(frozen=True)
class SandboxLimits:
    """The limits every sandboxed run gets. All sizes are in MiB, times in seconds."""

    timeout_s: float = 60.0
    cpu_time_s: float = 120.0
    memory_mb: int = 4096
    max_file_size_mb: int = 64
    max_output_bytes: int = 65536
    isolate_network: bool = True
    isolate_filesystem: bool = True
    shm_mb: int = 64
    max_processes: int = 512

    @classmethod
    def from_config(cls, config: EvaluatorConfig) -> SandboxLimits:
        """Limits from the evaluator config; ``cpu_time_s=None`` means twice the timeout."""
        cpu = config.cpu_time_s if config.cpu_time_s is not None else 2.0 * config.timeout_s
        return cls(
            timeout_s=config.timeout_s,
            cpu_time_s=cpu,
            memory_mb=config.memory_mb,
            max_file_size_mb=config.max_file_size_mb,
            max_output_bytes=config.max_output_bytes,
            isolate_network=config.isolate_network,
            isolate_filesystem=config.isolate_filesystem,
        )


@dataclass(frozen=True)
class SandboxRun:
    """What one sandboxed run did.

    ``returncode`` is the exit status (negative: killed by that signal, as in
    :mod:`subprocess`), ``None`` only when the command never started (see ``error``).
    ``signal`` is the killing signal number or ``None``. ``stdout``/``stderr`` are decoded
    (UTF-8, invalid bytes replaced) and capped to ``max_output_bytes`` each.
    ``files`` holds the files asked for with ``collect`` that existed after the run (each
    read up to the file-size limit). ``cpu_time_s`` and ``max_rss_mb`` come from the
    kernel's accounting of the main process. ``network`` and ``filesystem`` are the
    isolation this run got (see :func:`network_isolation`, :func:`filesystem_isolation`).
    ``killed_leftovers`` counts processes of the run that the post-run sweep had to kill.
    ``error`` is set only when the sandbox itself failed (never for what the command did).
    """

    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    duration_s: float = 0.0
    signal: int | None = None
    cpu_time_s: float = 0.0
    max_rss_mb: float = 0.0
    files: Mapping[str, bytes] = field(default_factory=dict)
    network: str = "none"
    filesystem: str = "none"
    killed_leftovers: int = 0
    error: str | None = None

    @property
    def signal_name(self) -> str | None:
        """``"SIGSEGV"`` and so on, or ``None`` when no signal killed the command."""
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


# --------------------------------------------------------------------------------------
# The launcher: runs in the child, between the fork and the command's exec.
# Kept free of evoforge imports and written for any Python 3 the user points us at.
# argv: -c STATUS_FD SPEC_JSON COMMAND...
# --------------------------------------------------------------------------------------
_LAUNCHER = r"""
import os, sys, json, resource
status_fd = int(sys.argv[1])
os.set_inheritable(status_fd, False)  # closes on exec: EOF tells the parent it happened
spec = json.loads(sys.argv[2])
argv = sys.argv[3:]
def fail(message):
    os.write(status_fd, message.encode("utf-8", "replace"))
    os._exit(127)
if spec.get("cgroup"):  # join the run's pids cgroup first: every descendant is counted
    try:
        with open(spec["cgroup"], "w") as handle:
            handle.write(str(os.getpid()))
    except OSError as exc:
        fail("cannot join the pids cgroup: %s" % (exc,))
try:
    for name, soft, hard in spec["limits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
except (OSError, ValueError) as exc:
    fail("cannot set resource limits: %s" % (exc,))
mode = spec["network"]
filesystem = spec.get("filesystem", "none")
if mode != "none" or filesystem != "none":
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    def oserror():
        return os.strerror(ctypes.get_errno())
if mode != "none":
    CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
    flags = CLONE_NEWNET if mode == "netns" else CLONE_NEWUSER | CLONE_NEWNET
    if libc.unshare(flags) != 0:
        fail("cannot create network namespace (%s): %s" % (mode, oserror()))
    if mode == "userns+netns":
        uid, gid = spec["uid"], spec["gid"]
        for path, text in (("/proc/self/setgroups", "deny"),
                           ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
                           ("/proc/self/gid_map", "%d %d 1" % (gid, gid))):
            try:
                with open(path, "w") as handle:
                    handle.write(text)
            except OSError:
                pass
if filesystem == "mountns":
    import re, signal
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
    MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
    KEPT = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
            "nodiratime": 2048, "relatime": 1 << 21}
    CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    def mount(source, target, fstype, flags, data=None):
        encode = lambda text: None if text is None else text.encode("utf-8", "surrogateescape")
        if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
            return ctypes.get_errno()
        return 0
    def unescape(text):
        return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)
    # Its own user namespace (uid and gid mapped to themselves), where the kernel enforces
    # RLIMIT_NPROC even for root: a fork bomb hits that ceiling.
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000) != 0:
        fail("cannot create a user namespace: %s" % (oserror(),))
    for path, text in (("/proc/self/setgroups", "deny"),
                       ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
                       ("/proc/self/gid_map", "%d %d 1" % (gid, gid))):
        try:
            with open(path, "w") as handle:
                handle.write(text)
        except OSError as exc:
            fail("cannot write %s: %s" % (path, exc))
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (spec["max_processes"],) * 2)
    except (OSError, ValueError) as exc:
        fail("cannot limit processes: %s" % (exc,))
    if libc.unshare(CLONE_NEWNS | CLONE_NEWPID) != 0:
        fail("cannot create mount and pid namespaces: %s" % (oserror(),))
    if mount(None, "/", None, MS_REC | MS_PRIVATE):
        fail("cannot make mounts private: %s" % (oserror(),))
    work = os.getcwd()
    if mount(work, work, None, MS_BIND | MS_REC):
        fail("cannot bind the working directory: %s" % (oserror(),))
    os.chdir(work)  # the cwd must resolve through the new, writable mount
    with open("/proc/self/mountinfo") as handle:
        mounts = [line.split() for line in handle]
    for fields in mounts:
        point, options = unescape(fields[4]), fields[5].split(",")
        if point == work or point.startswith(work.rstrip("/") + "/") or "ro" in options:
            continue
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        for option in options:
            flags |= KEPT.get(option, 0)
        error = mount(None, point, None, flags)
        if error and error not in (2, 13):  # ENOENT, EACCES: a mount nobody can reach
            fail("cannot make %s read-only: %s" % (point, os.strerror(error)))
    if os.path.isdir("/dev/shm"):  # POSIX semaphores (multiprocessing) need a writable one
        shm = "size=%dk,mode=1777" % spec["shm_kib"]
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, shm)
    report_read, report_write = os.pipe()
    init = os.fork()  # the first child is pid 1 of the new pid namespace
    if init > 0:
        # The launcher stays, so the sandbox can wait for it: it relays how the command ended.
        os.close(report_write)
        os.close(status_fd)
        chunks = []
        while True:
            chunk = os.read(report_read, 64)
            if not chunk:
                break
            chunks.append(chunk)
        _, init_status = os.waitpid(init, 0)
        status = int(b"".join(chunks)) if chunks else init_status
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:  # die of the same signal (SIGKILL and SIGSTOP cannot be handled anyway)
                signal.signal(number, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
            except (OSError, ValueError):
                pass
            os.kill(os.getpid(), number)
            os._exit(128 + number)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 127)
    os.close(report_read)
    # pid 1: a fresh /proc shows only the run's own processes (best effort).
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    command = os.fork()
    if command > 0:
        os.close(status_fd)
        while True:  # reap orphans too; leave (killing the namespace) when the command ends
            try:
                pid, status = os.wait()
            except ChildProcessError:
                os._exit(127)
            if pid == command:
                os.write(report_write, str(status).encode())
                os._exit(0)
    os.close(report_write)
    # No capabilities at all, so it can neither remount nor leave.
    PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
    for capability in range(64):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            fail("cannot drop capability %d: %s" % (capability, oserror()))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("cannot set no_new_privs: %s" % (oserror(),))
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        fail("cannot clear capabilities: %s" % (oserror(),))
try:
    os.execvp(argv[0], argv)
except OSError as exc:
    fail("cannot execute %r: %s" % (argv[0], exc))
"""

_PROBE = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
if libc.unshare(CLONE_NEWNET) == 0:
    print("netns"); sys.exit(0)
first = ctypes.get_errno()
if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
    print("userns+netns"); sys.exit(0)
import os
print("none: unshare(CLONE_NEWNET): %s; unshare(CLONE_NEWUSER|CLONE_NEWNET): %s"
      % (os.strerror(first), os.strerror(ctypes.get_errno())))
"""

_probe_lock = threading.Lock()
_probe_result: str | None = None


def network_isolation() -> str:
    """Which network isolation sandboxed runs get in this process.

    ``"netns"``, ``"userns+netns"``, or ``"none: <reason>"``. Probed once, in a throwaway
    child process, then cached; thread-safe.
    """
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            _probe_result = _probe_network_isolation()
        return _probe_result


def _probe_network_isolation() -> str:
    if not sys.platform.startswith("linux"):
        return f"none: network namespaces need Linux, this is {sys.platform}"
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"none: probe failed: {exc}"
    answer = done.stdout.strip()
    if done.returncode != 0 or not answer:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return f"none: probe failed: {tail[0]}"
    return answer


_FILESYSTEM_CHECK = r"""
import os, sys
work = os.getcwd()
with open("inside", "w") as handle:
    handle.write("ok")
outside = os.path.join(os.path.dirname(work), "evoforge-probe-%d" % os.getpid())
try:
    handle = open(outside, "w")
except OSError:
    print("ok")
else:
    handle.close()
    os.unlink(outside)
    print("the root filesystem stayed writable")
"""

_fs_probe_results: dict[str, str] = {}


def filesystem_isolation(network_mode: str = "auto") -> str:
    """Which filesystem isolation sandboxed runs get in this process.

    ``"mountns"``: each run gets private mount and pid namespaces in which every mount is
    read-only except the run's working directory (and a small private ``/dev/shm``), the
    command runs without any capability (so it cannot remount) as a child of the
    namespace's init (so every process it leaves dies with it). ``"none: <reason>"``: the
    OS does not allow it (needs root or unprivileged user namespaces); runs go ahead
    without it. ``network_mode`` is the network isolation combined with it (``"auto"``: the
    one :func:`network_isolation` reports), since unprivileged users need the user
    namespace that the network isolation creates. Probed once per mode by running the
    real launcher, then cached; thread-safe.
    """
    if network_mode == "auto":
        network_mode = network_isolation()
    mode = network_mode if network_mode in ("netns", "userns+netns") else "none"
    with _probe_lock:
        if mode not in _fs_probe_results:
            _fs_probe_results[mode] = _probe_filesystem_isolation(mode)
        return _fs_probe_results[mode]


def _probe_filesystem_isolation(network_mode: str) -> str:
    if not sys.platform.startswith("linux"):
        return f"none: mount namespaces need Linux, this is {sys.platform}"
    spec = _launcher_spec([], network_mode, "mountns", 1)
    try:
        workdir = tempfile.mkdtemp(prefix="evoforge-probe-")
    except OSError as exc:
        return f"none: probe failed: {exc}"
    status_read, status_write = os.pipe()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                _LAUNCHER,
                str(status_write),
                json.dumps(spec),
                sys.executable,
                "-I",
                "-S",
                "-c",
                _FILESYSTEM_CHECK,
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
            pass_fds=(status_write,),
            start_new_session=True,
        )
        os.close(status_write)
        status_write = -1
        setup = os.read(status_read, 4096).decode("utf-8", "replace").strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"none: probe failed: {exc}"
    finally:
        os.close(status_read)
        if status_write >= 0:
            os.close(status_write)
        _remove_tree(Path(workdir))
    if setup:
        return f"none: {setup}"
    answer = done.stdout.strip()
    if done.returncode != 0 or answer != "ok":
        tail = (answer or done.stderr.strip()).splitlines()[-1:] or [f"exit {done.returncode}"]
        return f"none: probe failed: {tail[0]}"
    return "mountns"


_CGROUP_PIDS_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))
_cgroup_probe: list[Path | None] = []


def pids_cgroup_root() -> Path | None:
    """A cgroup directory under which each run can get its own ``pids.max``, or ``None``.

    Needs a writable pids controller: cgroup v1's ``pids`` hierarchy, or the cgroup v2
    root with ``pids`` enabled for its children (usually only as root, outside a
    container). Probed once by creating and removing a test group; thread-safe.
    """
    with _probe_lock:
        if not _cgroup_probe:
            _cgroup_probe.append(_probe_pids_cgroup())
        return _cgroup_probe[0]


def _probe_pids_cgroup() -> Path | None:
    for root in _CGROUP_PIDS_ROOTS:
        if not (root / "cgroup.procs").is_file():
            continue
        if root.name != "pids":  # cgroup v2: the root must hand the pids controller down
            try:
                if "pids" not in (root / "cgroup.subtree_control").read_text().split():
                    continue
            except OSError:
                continue
        test = root / f"evoforge-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            test.mkdir()
        except OSError:
            continue
        try:
            (test / "pids.max").write_text("16")
        except OSError:
            continue
        finally:
            with contextlib.suppress(OSError):
                test.rmdir()
        _remove_stale_groups(root)
        return root
    return None


_STALE_GROUP_AGE_S = 3600.0


def _remove_stale_groups(root: Path) -> None:
    """Remove run groups left by an evoforge process that was killed (``kill -9``).

    Only groups older than an hour: a fresh, still empty one may belong to a run that
    another process is starting right now. ``rmdir`` fails on a group with processes.
    """
    cutoff = time.time() - _STALE_GROUP_AGE_S
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if entry.name.startswith("evoforge-") and entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.rmdir(entry.path)


class _PidsCgroup:
    """The run's own pids cgroup (``pids.max`` = the process limit), removed afterwards."""

    def __init__(self, root: Path, run_id: str, max_processes: int) -> None:
        self.path = root / f"evoforge-{run_id}"
        self.path.mkdir()
        try:
            (self.path / "pids.max").write_text(str(max_processes))
        except OSError:
            self.remove()
            raise

    @property
    def procs(self) -> str:
        return str(self.path / "cgroup.procs")

    def remove(self) -> None:
        """Remove the group; its processes are gone by now, give exiting ones a moment."""
        for attempt in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.002 * (attempt + 1))


def _launcher_spec(
    rlimits: list[tuple[str, int, int]],
    network_mode: str,
    filesystem_mode: str,
    shm_mb: int,
    max_processes: int = 512,
    cgroup: str | None = None,
) -> dict[str, object]:
    return {
        "limits": rlimits,
        "cgroup": cgroup,
        "max_processes": max_processes,
        "network": network_mode,
        "filesystem": filesystem_mode,
        "shm_kib": shm_mb * 1024,
        "uid": os.getuid(),
        "gid": os.getgid(),
    }


def sanitized_environment(
    base: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` (default ``os.environ``) without secrets, plus the sandbox's fixed settings.

    Drops every variable whose name contains one of KEY, TOKEN, SECRET, PASSWORD, PASSWD,
    CREDENTIAL, AUTH, PRIVATE, COOKIE (case-insensitive) and every variable whose value
    contains a URL with a password. Pins BLAS/OpenMP to one thread and disables bytecode
    writing. ``extra`` is applied last and is not filtered (the caller's own settings).
    """
    source = os.environ if base is None else base
    env = {
        name: value
        for name, value in source.items()
        if not any(part in name.upper() for part in _SECRET_NAME_PARTS)
        and not _URL_WITH_PASSWORD.search(value)
    }
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


_WORKDIR_PREFIXES = ("evoforge-sandbox-", "evoforge-capture-")
_swept_stale_workdirs = False
_sweep_lock = threading.Lock()


def remove_stale_workdirs(tmp_root: Path | None = None) -> int:
    """Remove run directories left under the temp directory by an evoforge process that was
    killed mid-evaluation (``kill -9`` skips the cleanup). Returns how many were removed.

    A directory's name carries the pid of the evoforge process that made it
    (``evoforge-sandbox-<pid>-...``); it is stale when that process no longer exists.
    Directories of live processes, and of other users' processes, are left alone.
    """
    root = Path(tmp_root or tempfile.gettempdir())
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            prefix = next((p for p in _WORKDIR_PREFIXES if entry.name.startswith(p)), None)
            if prefix is None or not entry.is_dir(follow_symlinks=False):
                continue
            owner, _, _ = entry.name[len(prefix) :].partition("-")
            if not owner.isdigit() or _process_exists(int(owner)):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                    continue
            _remove_tree(Path(entry.path))
            removed += not os.path.lexists(entry.path)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but not ours to signal
    return True


class Sandbox:
    """Runs commands under :class:`SandboxLimits`. Stateless between runs; thread-safe.

    The first sandbox a process makes removes the run directories that killed evoforge
    processes left behind (:func:`remove_stale_workdirs`).
    """

    def __init__(self, limits: SandboxLimits) -> None:
        global _swept_stale_workdirs
        self.limits = limits
        with _sweep_lock:
            if not _swept_stale_workdirs:
                _swept_stale_workdirs = True
                remove_stale_workdirs()

    @property
    def network(self) -> str:
        """The network isolation runs get: ``netns``, ``userns+netns`` or ``none: ...``."""
        if not self.limits.isolate_network:
            return "none: disabled by configuration"
        return network_isolation()

    @property
    def filesystem(self) -> str:
        """The filesystem isolation runs get: ``mountns`` or ``none: ...``."""
        if not self.limits.isolate_filesystem:
            return "none: disabled by configuration"
        network = self.network
        return filesystem_isolation(network if network in ("netns", "userns+netns") else "none")

    def run(
        self,
        argv: Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        collect: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> SandboxRun:
        """Run ``argv`` in a fresh working directory and return what it did.

        ``files`` are written into the working directory first (relative paths; ``str`` as
        UTF-8). ``argv`` runs with that directory as its cwd, so it can name those files by
        relative path. ``collect`` names files to read back after the run. ``env`` adds
        variables to the sanitized environment. The directory and every process of the run
        are gone when this returns. Never raises for anything the command does.
        """
        run_id = uuid.uuid4().hex
        try:
            workdir = Path(tempfile.mkdtemp(prefix=f"evoforge-sandbox-{os.getpid()}-"))
        except OSError as exc:
            return SandboxRun(returncode=None, error=f"cannot create working directory: {exc}")
        try:
            capture_dir = Path(tempfile.mkdtemp(prefix=f"evoforge-capture-{os.getpid()}-"))
        except OSError as exc:
            _remove_tree(workdir)
            return SandboxRun(returncode=None, error=f"cannot create capture directory: {exc}")
        try:
            return self._run_in(argv, run_id, workdir, capture_dir, files or {}, collect, env)
        finally:
            _remove_tree(workdir)
            _remove_tree(capture_dir)

    # -- internals ---------------------------------------------------------------------

    def _run_in(
        self,
        argv: Sequence[str],
        run_id: str,
        workdir: Path,
        capture_dir: Path,
        files: Mapping[str, str | bytes],
        collect: Sequence[str],
        env: Mapping[str, str] | None,
    ) -> SandboxRun:
        limits = self.limits
        network = self.network
        mode = network if network in ("netns", "userns+netns") else "none"
        filesystem = self.filesystem
        fs_mode = "mountns" if filesystem == "mountns" else "none"
        try:
            for name, content in files.items():
                target = _inside(workdir, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                data = content.encode("utf-8") if isinstance(content, str) else content
                target.write_bytes(data)
        except (OSError, ValueError) as exc:
            return SandboxRun(
                returncode=None,
                network=network,
                filesystem=filesystem,
                error=f"cannot stage files: {exc}",
            )

        run_env = sanitized_environment(
            extra={
                "HOME": str(workdir),
                "TMPDIR": str(workdir),
                "TMP": str(workdir),
                "TEMP": str(workdir),
                **(env or {}),
                MARKER_VARIABLE: run_id,
            }
        )
        cgroup: _PidsCgroup | None = None
        cgroup_root = pids_cgroup_root()
        if cgroup_root is not None:
            with contextlib.suppress(OSError):
                cgroup = _PidsCgroup(cgroup_root, run_id, limits.max_processes)
        spec = _launcher_spec(
            self._rlimits(),
            mode,
            fs_mode,
            limits.shm_mb,
            limits.max_processes,
            cgroup.procs if cgroup is not None else None,
        )
        try:
            return self._launch(argv, run_id, workdir, capture_dir, collect, run_env, spec)
        finally:
            if cgroup is not None:
                cgroup.remove()

    def _launch(
        self,
        argv: Sequence[str],
        run_id: str,
        workdir: Path,
        capture_dir: Path,
        collect: Sequence[str],
        run_env: Mapping[str, str],
        spec: Mapping[str, object],
    ) -> SandboxRun:
        """Start the launcher with ``spec``, wait for it, sweep, and read back the results."""
        limits = self.limits
        network = self.network
        mode = str(spec["network"])
        filesystem = self.filesystem
        status_read, status_write = os.pipe()
        launcher = [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _LAUNCHER,
            str(status_write),
            json.dumps(spec),
            *argv,
        ]
        stdout_path = capture_dir / "stdout"
        stderr_path = capture_dir / "stderr"
        start = time.monotonic()
        try:
            with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
                proc = subprocess.Popen(
                    launcher,
                    cwd=workdir,
                    env=run_env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(status_write,),
                    close_fds=True,
                )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(status_read)
            os.close(status_write)
            return SandboxRun(
                returncode=None,
                network=network,
                filesystem=filesystem,
                error=f"cannot start: {exc}",
            )
        os.close(status_write)
        deadline = start + limits.timeout_s
        try:
            setup_error, our_netns, netns_handle = self._await_exec(
                proc.pid, status_read, deadline, mode
            )
        finally:
            os.close(status_read)

        timed_out = False
        waited = _wait(proc.pid, max(0.0, deadline - time.monotonic()))
        if waited is None:
            timed_out = True
            _kill_group(proc.pid)
            waited = _wait(proc.pid, None)
        duration = time.monotonic() - start
        status, usage = waited if waited is not None else (0, None)
        returncode = _decode_status(status)
        proc.returncode = returncode  # reaped by us; keeps Popen from reaping it again
        _kill_group(proc.pid)
        try:
            killed = _sweep(run_id, proc.pid, our_netns)
        finally:
            if netns_handle is not None:
                os.close(netns_handle)  # only now may the kernel reuse the namespace's inode

        collected: dict[str, bytes] = {}
        for name in collect:
            with contextlib.suppress(OSError, ValueError):
                collected[name] = _read_capped(
                    _inside(workdir, name), limits.max_file_size_mb * _MIB
                )
        stdout = _read_head_tail(stdout_path, limits.max_output_bytes)
        stderr = _read_head_tail(stderr_path, limits.max_output_bytes)
        return SandboxRun(
            returncode=None if setup_error else returncode,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out and not setup_error,
            duration_s=duration,
            signal=-returncode if returncode < 0 else None,
            cpu_time_s=(usage.ru_utime + usage.ru_stime) if usage is not None else 0.0,
            max_rss_mb=(usage.ru_maxrss / 1024.0) if usage is not None else 0.0,
            files=collected,
            network=network,
            filesystem=filesystem,
            killed_leftovers=killed,
            error=f"sandbox setup failed: {setup_error}" if setup_error else None,
        )

    def _rlimits(self) -> list[tuple[str, int, int]]:
        limits = self.limits
        cpu_soft = max(1, math.ceil(limits.cpu_time_s))
        memory = limits.memory_mb * _MIB
        fsize = limits.max_file_size_mb * _MIB
        return [
            ("RLIMIT_CPU", cpu_soft, cpu_soft + 1),
            ("RLIMIT_AS", memory, memory),
            ("RLIMIT_FSIZE", fsize, fsize),
            ("RLIMIT_CORE", 0, 0),
        ]

    @staticmethod
    def _await_exec(
        pid: int, status_read: int, deadline: float, mode: str
    ) -> tuple[str | None, str | None, int | None]:
        """Wait until the launcher exec'd the command (EOF) or reported a setup failure.

        Returns ``(setup_error, netns, handle)``: ``netns`` is the run's network-namespace
        link (``net:[inode]``), read while the command is known to be running, or ``None``;
        ``handle`` is an open descriptor on that namespace, which the caller closes after the
        post-run sweep. Holding it keeps the namespace (and so its inode number) alive: the
        kernel hands out the lowest free inode, so without it a run started by another
        thread right after this one ended could get the same ``net:[inode]`` and be killed
        by this run's sweep.
        """
        chunks: list[bytes] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None, None  # the wall-clock timeout will handle it
            ready, _, _ = select.select([status_read], [], [], remaining)
            if not ready:
                return None, None, None
            chunk = os.read(status_read, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        if chunks:
            return b"".join(chunks).decode("utf-8", "replace"), None, None
        if mode == "none":
            return None, None, None
        try:
            handle = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None, None, None
        try:
            netns = os.readlink(f"/proc/self/fd/{handle}")
        except OSError:
            os.close(handle)
            return None, None, None
        if netns == _own_netns():
            os.close(handle)
            return None, None, None
        return None, netns, handle


def _own_netns() -> str | None:
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return None


def _inside(root: Path, name: str) -> Path:
    """``root / name``, refusing names that would leave ``root``."""
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"path {name!r} leaves the working directory")
    return target


def _decode_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -1


def _wait(pid: int, timeout: float | None) -> tuple[int, resource.struct_rusage | None] | None:
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


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def _sweep(run_id: str, session: int, netns: str | None) -> int:
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


def _read_capped(path: Path, limit: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit)


def _read_head_tail(path: Path, limit: int) -> str:
    """At most ``limit`` bytes of the file: its head and tail, with a note of what was cut."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if size <= limit:
                data = handle.read(limit)
            else:
                head_size = limit // 2
                head = handle.read(head_size)
                tail_size = limit - head_size
                handle.seek(size - tail_size)
                tail = handle.read(tail_size)
                note = f"\n[... {size - head_size - tail_size} bytes dropped]\n".encode()
                data = head + note + tail
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def _remove_tree(path: Path) -> None:
    """Remove ``path`` even where the command made parts of it read-only."""

    def make_writable_and_retry(func: object, target: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            parent = os.path.dirname(target)
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, os.stat(target).st_mode | stat.S_IRWXU)
                shutil.rmtree(target, ignore_errors=True)
            else:
                os.unlink(target)

    with contextlib.suppress(OSError):
        shutil.rmtree(path, onerror=make_writable_and_retry)
