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
    "network_isolation",
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
    kernel's accounting of the main process. ``network`` is the isolation this run got.
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
try:
    for name, soft, hard in spec["limits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
except (OSError, ValueError) as exc:
    fail("cannot set resource limits: %s" % (exc,))
mode = spec["network"]
if mode != "none":
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
    flags = CLONE_NEWNET if mode == "netns" else CLONE_NEWUSER | CLONE_NEWNET
    if libc.unshare(flags) != 0:
        fail("cannot create network namespace (%s): %s"
             % (mode, os.strerror(ctypes.get_errno())))
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


class Sandbox:
    """Runs commands under :class:`SandboxLimits`. Stateless between runs; thread-safe."""

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits

    @property
    def network(self) -> str:
        """The network isolation runs get: ``netns``, ``userns+netns`` or ``none: ...``."""
        if not self.limits.isolate_network:
            return "none: disabled by configuration"
        return network_isolation()

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
            workdir = Path(tempfile.mkdtemp(prefix="evoforge-sandbox-"))
        except OSError as exc:
            return SandboxRun(returncode=None, error=f"cannot create working directory: {exc}")
        try:
            capture_dir = Path(tempfile.mkdtemp(prefix="evoforge-capture-"))
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
        try:
            for name, content in files.items():
                target = _inside(workdir, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                data = content.encode("utf-8") if isinstance(content, str) else content
                target.write_bytes(data)
        except (OSError, ValueError) as exc:
            return SandboxRun(returncode=None, network=network, error=f"cannot stage files: {exc}")

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
        status_read, status_write = os.pipe()
        spec = {
            "limits": self._rlimits(),
            "network": mode,
            "uid": os.getuid(),
            "gid": os.getgid(),
        }
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
            return SandboxRun(returncode=None, network=network, error=f"cannot start: {exc}")
        os.close(status_write)
        deadline = start + limits.timeout_s
        try:
            setup_error, our_netns = self._await_exec(proc.pid, status_read, deadline, mode)
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
        killed = _sweep(run_id, proc.pid, our_netns)

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
    ) -> tuple[str | None, str | None]:
        """Wait until the launcher exec'd the command (EOF) or reported a setup failure.

        Returns ``(setup_error, netns)``: ``netns`` is the run's network-namespace link
        (``net:[inode]``), read while the command is known to be running, or ``None``.
        """
        chunks: list[bytes] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None  # the wall-clock timeout will handle it
            ready, _, _ = select.select([status_read], [], [], remaining)
            if not ready:
                return None, None
            chunk = os.read(status_read, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        if chunks:
            return b"".join(chunks).decode("utf-8", "replace"), None
        if mode == "none":
            return None, None
        try:
            netns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            return None, None
        return None, (netns if netns != _own_netns() else None)


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
