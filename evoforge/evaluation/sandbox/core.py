"""Run untrusted commands under limits, alone or as a connected pair, and leave nothing behind.

A :class:`Sandbox` starts each command through the launcher (see
:mod:`evoforge.evaluation.sandbox.launcher`) in its own session and process group, with
resource limits, per-run cgroups where the machine allows them, a sanitized environment
(:mod:`evoforge.evaluation.environment`), no network and, where the OS allows it, a jail
that shows only the interpreter, the directories the caller names and the run's own
working directory. The wall-clock timeout kills the whole group; after every run a sweep of
``/proc`` kills whatever is left of it; its directories are removed whatever it did to them.

Results never come back through a file the command could replace: a command that reports
(``result_limit`` set) gets the write end of a pipe, named by ``{result_fd}`` in its argv,
and the parent reads at most ``result_limit`` bytes from it, within the deadline.

:meth:`Sandbox.run_pair` starts two commands that share nothing but two pipes: the
*evaluator* side (which reports the result) and the *candidate* side (which answers its
calls). ``{request_fd}`` and ``{reply_fd}`` in each argv name that side's ends. The
candidate is killed as soon as the evaluator is done.

Nothing here raises because of what a command does. A failure of the sandbox itself (the
launcher could not start, a namespace could not be made) is returned in
:attr:`SandboxRun.error`.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from evoforge.evaluation.environment import sanitized_environment
from evoforge.evaluation.sandbox.cgroups import RunCgroups, memory_cgroup_root, pids_cgroup_root
from evoforge.evaluation.sandbox.jail import jail_spec
from evoforge.evaluation.sandbox.output import drain, read_head_tail, read_regular_file
from evoforge.evaluation.sandbox.probes import (
    filesystem_isolation,
    launcher_command,
    launcher_spec,
    network_isolation,
)
from evoforge.evaluation.sandbox.reaper import (
    MARKER_VARIABLE,
    claim_directory,
    decode_status,
    kill_group,
    remove_stale_workdirs,
    remove_tree,
    sweep,
    wait_for,
)
from evoforge.evaluation.sandbox.records import SandboxLimits, SandboxRun, SideRequest
from evoforge.evaluation.sandbox.templates import ProcessTemplate, TemplateError, TemplateRun

__all__ = ["Sandbox", "SideRequest"]

_MIB = 1024 * 1024
_swept_stale_workdirs = False
_sweep_lock = threading.Lock()


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
        """The filesystem isolation runs get: ``mountns`` (a jail) or ``none: ...``."""
        if not self.limits.isolate_filesystem:
            return "none: disabled by configuration"
        network = self.network
        return filesystem_isolation(network if network in ("netns", "userns+netns") else "none")

    def missing_protections(self) -> list[str]:
        """What this machine (or the configuration) leaves out of the sandbox, and what that
        means for a candidate: one phrase per missing layer, none when all are there. A run
        goes on without them (as SECURITY.md says); the caller tells the user, once."""
        jail, network = self.filesystem, self.network
        jailed, networked = jail == "mountns", network in ("netns", "userns+netns")
        missing = []
        if not jailed and not networked:  # one cause, as a rule: name it once
            missing.append(
                f"no filesystem jail and no network isolation ({_reason(jail)}): a candidate "
                "can read and write wherever your user can and reach the network"
            )
        elif not jailed:
            missing.append(
                f"no filesystem jail ({_reason(jail)}): a candidate can read and write "
                "wherever your user can"
            )
        elif not networked:
            missing.append(
                f"no network isolation ({_reason(network)}): a candidate can reach the network"
            )
        if memory_cgroup_root() is None:
            missing.append(
                "no writable memory cgroup: memory_mb caps each process, not a candidate's "
                "processes together"
            )
        if pids_cgroup_root() is None and (not jailed or os.getuid() == 0):
            # RLIMIT_NPROC in the jail's user namespace caps the others; the kernel exempts root
            why = "root is exempt from RLIMIT_NPROC" if jailed else "nor a user namespace"
            missing.append(f"no writable pids cgroup ({why}): only the timeout stops a fork bomb")
        return missing

    def run(
        self,
        argv: Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        collect: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        readable: Sequence[Path] = (),
        result_limit: int | None = None,
        template: ProcessTemplate | None = None,
    ) -> SandboxRun:
        """Run ``argv`` in a fresh working directory and return what it did.

        With ``result_limit`` the command gets a result pipe (``{result_fd}`` in ``argv``)
        and :attr:`SandboxRun.result` holds what it wrote there. With ``template`` the run
        is a child of that template process (see :class:`SideRequest`). The directory and every
        process of the run are gone when this returns. Never raises for what it does.
        """
        side = SideRequest(argv, files or {}, readable, collect, env, template)
        with _open(self, side) as process:
            if process.error is not None:
                return process.failed()
            result_read, result_write = _pipe_or_none(result_limit)
            fds = {"result_fd": result_write} if result_write is not None else {}
            started = process.start(fds)
            _close(result_write)
            try:
                if started:
                    process.await_exec()
                    process.wait_reporting(result_read, result_limit or 0)
                return process.finish()
            finally:
                _close(result_read)

    def run_pair(
        self, evaluator: SideRequest, candidate: SideRequest, *, result_limit: int
    ) -> tuple[SandboxRun, SandboxRun]:
        """Run the evaluator side and the candidate side, connected by two pipes.

        The evaluator's argv may name ``{request_fd}`` (it writes calls), ``{reply_fd}`` (it
        reads answers) and ``{result_fd}``; the candidate's ``{request_fd}`` (it reads
        calls) and ``{reply_fd}`` (it writes answers). Both share the wall-clock deadline;
        the candidate is killed when the evaluator ends. Returns both runs' records; the
        evaluator's carries the result.
        """
        with _open(self, evaluator) as judge, _open(self, candidate) as subject:
            for process in (judge, subject):
                if process.error is not None:
                    return judge.failed(process.error), subject.failed(process.error)
            request_read, request_write = os.pipe()
            reply_read, reply_write = os.pipe()
            result_read, result_write = os.pipe()
            subject_fds = {"request_fd": request_read, "reply_fd": reply_write}
            judge_fds = {
                "request_fd": request_write,
                "reply_fd": reply_read,
                "result_fd": result_write,
            }
            try:
                started = subject.start(subject_fds, deadline_from=None)
                started = started and judge.start(judge_fds, deadline_from=subject.started_at)
            finally:
                for fd in (request_read, request_write, reply_read, reply_write, result_write):
                    _close(fd)
            try:
                if started:
                    subject.await_exec()
                    judge.await_exec()
                    judge.wait_reporting(result_read, result_limit)
                subject.stop()
                return judge.finish(), subject.finish()
            finally:
                _close(result_read)


def _open(sandbox: Sandbox, side: SideRequest) -> _Process | TemplateRun:
    """The run of one side: a child of its template when it has a usable one, else a fresh
    process."""
    template = side.template
    if template is not None and template.unusable is None:
        try:
            template.ensure_started()
            return TemplateRun(template, side)
        except TemplateError:
            pass  # remembered as unusable: this and later runs take the one-shot path
    return _Process(sandbox, side)


def _reason(isolation: str) -> str:
    """Why an isolation mode is missing: ``"none: <reason>"`` without its ``none: ``."""
    return isolation.removeprefix("none: ")


def _pipe_or_none(limit: int | None) -> tuple[int | None, int | None]:
    if limit is None:
        return None, None
    return os.pipe()


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


class _Process:
    """One sandboxed command from staging to cleanup (a context manager)."""

    def __init__(self, sandbox: Sandbox, side: SideRequest) -> None:
        self.sandbox = sandbox
        self.limits = sandbox.limits
        self.side = side
        self.run_id = uuid.uuid4().hex
        self.network = sandbox.network
        self.filesystem = sandbox.filesystem
        self.error: str | None = None
        self.workdir: Path | None = None
        self.capture: Path | None = None
        self.claims: list[int | None] = []  # on workdir and capture (claim_directory)
        self.cgroups: RunCgroups | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.deadline = 0.0
        self.status_read: int | None = None
        self.setup_error: str | None = None
        self.netns: str | None = None
        self.netns_handle: int | None = None
        self.timed_out = False
        self.waited: tuple[int, object] | None = None
        self.result: bytes | None = None
        self.result_overflow = False

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> _Process:
        try:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"evoforge-sandbox-{os.getpid()}-"))
            self.claims.append(claim_directory(self.workdir))
            self.capture = Path(tempfile.mkdtemp(prefix=f"evoforge-capture-{os.getpid()}-"))
            self.claims.append(claim_directory(self.capture))
        except OSError as exc:
            self.error = f"cannot create working directory: {exc}"
            return self
        try:
            for name, content in self.side.files.items():
                target = _inside(self.workdir, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                data = content.encode("utf-8") if isinstance(content, str) else content
                target.write_bytes(data)
        except (OSError, ValueError) as exc:
            self.error = f"cannot stage files: {exc}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.cgroups is not None:
            self.cgroups.remove()
        for path in (self.workdir, self.capture):
            if path is not None:
                remove_tree(path)
        for claim in self.claims:
            _close(claim)
        _close(self.status_read)
        _close(self.netns_handle)

    def failed(self, error: str | None = None) -> SandboxRun:
        return SandboxRun(
            returncode=None,
            network=self.network,
            filesystem=self.filesystem,
            error=error or self.error,
            workdir="" if self.workdir is None else str(self.workdir),
        )

    def start(self, fds: Mapping[str, int], deadline_from: float | None = None) -> bool:
        """Start the launcher; ``fds`` are passed to the command and named in its argv."""
        assert self.workdir is not None and self.capture is not None
        limits = self.limits
        argv = [_fill(arg, fds) for arg in self.side.argv]
        env = sanitized_environment(
            allow=limits.pass_env,
            extra={
                "HOME": str(self.workdir),
                "TMPDIR": str(self.workdir),
                "TMP": str(self.workdir),
                "TEMP": str(self.workdir),
                **(self.side.env or {}),
                MARKER_VARIABLE: self.run_id,
            },
        )
        with contextlib.suppress(OSError):
            self.cgroups = RunCgroups(self.run_id, limits.max_processes, limits.memory_mb * _MIB)
        mode = self.network if self.network in ("netns", "userns+netns") else "none"
        fs_mode = "mountns" if self.filesystem == "mountns" else "none"
        jail = None
        if fs_mode == "mountns":
            root = self.capture / "root"
            root.mkdir()
            jail = jail_spec(
                root, self.workdir, argv[0], self.side.readable, hidden=self.side.hidden
            )
        spec = launcher_spec(
            self.limits.rlimits(),
            mode,
            fs_mode,
            limits.shm_mb,
            limits.max_processes,
            self.cgroups.procs if self.cgroups is not None else None,
            jail=jail,
            pass_fds=tuple(fds.values()),
            cpu=self.side.cpu,
        )
        status_read, status_write = os.pipe()
        self.status_read = status_read
        launcher = launcher_command(status_write, spec, *argv)
        self.started_at = time.monotonic() if deadline_from is None else deadline_from
        self.deadline = self.started_at + limits.timeout_s
        try:
            with (
                open(self.capture / "stdout", "wb") as out,
                open(self.capture / "stderr", "wb") as err,
            ):
                self.proc = subprocess.Popen(
                    launcher,
                    cwd=self.workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(status_write, *fds.values()),
                    close_fds=True,
                )
        except (OSError, subprocess.SubprocessError) as exc:
            self.error = f"cannot start: {exc}"
            return False
        finally:
            os.close(status_write)
        return True

    def await_exec(self) -> None:
        """Wait until the launcher exec'd the command (EOF) or reported a setup failure."""
        if self.proc is None or self.status_read is None:
            return
        chunks: list[bytes] = []
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return  # the wall-clock timeout will handle it
            ready, _, _ = select.select([self.status_read], [], [], remaining)
            if not ready:
                return
            chunk = os.read(self.status_read, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        if chunks:
            self.setup_error = b"".join(chunks).decode("utf-8", "replace")
            return
        self._hold_netns()

    def _hold_netns(self) -> None:
        """Remember the run's network namespace, and hold it open until after the sweep.

        Holding it keeps the namespace (and so its inode number) alive: the kernel hands out
        the lowest free inode, so without it a run started by another thread right after
        this one ended could get the same ``net:[inode]`` and be killed by this run's sweep.
        """
        if self.network not in ("netns", "userns+netns") or self.proc is None:
            return
        try:
            handle = os.open(f"/proc/{self.proc.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            netns = os.readlink(f"/proc/self/fd/{handle}")
        except OSError:
            os.close(handle)
            return
        if netns == _own_netns():
            os.close(handle)
            return
        self.netns, self.netns_handle = netns, handle

    def wait_reporting(self, result_read: int | None, limit: int) -> None:
        """Wait for the command to end (or the deadline), reading its result pipe meanwhile."""
        if self.proc is None:
            return
        pid = self.proc.pid
        chunks: list[bytes] = []
        size = 0
        pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            pidfd = os.pidfd_open(pid)
        try:
            while result_read is not None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    break
                watched = [result_read, *([pidfd] if pidfd is not None else [])]
                ready, _, _ = select.select(watched, [], [], min(remaining, 0.05))
                if result_read in ready:
                    chunk = os.read(result_read, 65536)
                    if not chunk:
                        result_read = None  # EOF: the command closed it or ended
                        break
                    size += len(chunk)
                    if size > limit:
                        self.result_overflow = True
                        kill_group(pid)
                        break
                    chunks.append(chunk)
                    continue
                ended = pidfd in ready if pidfd is not None else self._ended(pid)
                if ended:
                    chunks.extend(drain(result_read, limit - size))
                    break
        finally:
            if pidfd is not None:
                os.close(pidfd)
        if limit and not self.result_overflow:
            self.result = b"".join(chunks) if chunks else None
        waited = wait_for(pid, max(0.0, self.deadline - time.monotonic()))
        if waited is None:
            self.timed_out = True
            kill_group(pid)
            waited = wait_for(pid, None)
        self.waited = waited

    def _ended(self, pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            return True
        return raw[raw.rfind(b")") + 2 :][:1] in (b"Z", b"X")

    def stop(self) -> None:
        """Kill the command's group now (the candidate side, once the evaluator is done)."""
        if self.proc is not None and self.waited is None:
            kill_group(self.proc.pid)
            self.waited = wait_for(self.proc.pid, None)

    def finish(self) -> SandboxRun:
        """Sweep the run's processes and read back what it left; the record of the run."""
        if self.proc is None:
            return self.failed()
        assert self.workdir is not None and self.capture is not None
        if self.waited is None:
            self.wait_reporting(None, 0)
        duration = time.monotonic() - self.started_at
        status, usage = self.waited if self.waited is not None else (0, None)
        returncode = decode_status(int(status))
        self.proc.returncode = returncode  # reaped by us; keeps Popen from reaping it again
        kill_group(self.proc.pid)
        try:
            killed = sweep(self.run_id, self.proc.pid, self.netns)
        finally:
            _close(self.netns_handle)
            self.netns_handle = None
        limits = self.limits
        collected: dict[str, bytes] = {}
        for name in self.side.collect:
            with contextlib.suppress(OSError, ValueError):
                collected[name] = read_regular_file(
                    _inside(self.workdir, name), limits.max_file_size_mb * _MIB
                )
        setup_error = self.setup_error
        cpu = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0  # type: ignore[attr-defined]
        rss = (usage.ru_maxrss / 1024.0) if usage is not None else 0.0  # type: ignore[attr-defined]
        return SandboxRun(
            returncode=None if setup_error else returncode,
            stdout=read_head_tail(self.capture / "stdout", limits.max_output_bytes),
            stderr=read_head_tail(self.capture / "stderr", limits.max_output_bytes),
            timed_out=self.timed_out and not setup_error,
            duration_s=duration,
            signal=-returncode if returncode < 0 else None,
            cpu_time_s=cpu,
            max_rss_mb=rss,
            files=collected,
            network=self.network,
            filesystem=self.filesystem,
            killed_leftovers=killed,
            error=f"sandbox setup failed: {setup_error}" if setup_error else self.error,
            result=self.result,
            result_overflow=self.result_overflow,
            out_of_memory=self.cgroups.out_of_memory() if self.cgroups is not None else False,
            workdir=str(self.workdir),
        )


def _fill(arg: str, fds: Mapping[str, int]) -> str:
    """``arg`` with ``{result_fd}``-style placeholders replaced by the descriptor numbers."""
    for name, fd in fds.items():
        arg = arg.replace("{" + name + "}", str(fd))
    return arg


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
