"""Template processes: each side's interpreter, imports and jail set up once, forked per run.

A :class:`ProcessTemplate` starts :mod:`evoforge.evaluation.sandbox.zygote` through the
launcher (in the side's jail, with no network) once, and then asks it for one sealed child
per evaluation (fresh mount, pid, network and IPC namespaces; its own working directory,
``/tmp`` and ``/dev/shm``; the evaluation's cgroups; the limits; no capabilities). Requests
go over a SEQPACKET socket with the evaluation's descriptors attached; the template answers
on a per-run socket with a pidfd of the run's command (killing it ends the run: the init of
the run's pid namespace then kills every other process in it) and, at the end, once nothing
of the run is alive, the exit status and resource usage.

:class:`TemplateRun` offers the same steps as the one-shot path in
:mod:`evoforge.evaluation.sandbox.core` (start, wait while reading the result pipe, stop,
finish), so :meth:`Sandbox.run_pair` and :meth:`Sandbox.run` use either. A template that
died is started again on the next run; one that cannot start (no jail on this machine)
makes the sandbox fall back to a fresh process per run.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from evoforge.evaluation.environment import sanitized_environment
from evoforge.evaluation.sandbox.cgroups import cgroup_roots, group_prefix, remove_groups
from evoforge.evaluation.sandbox.jail import jail_spec
from evoforge.evaluation.sandbox.output import drain, head_tail
from evoforge.evaluation.sandbox.probes import launcher_command, launcher_spec
from evoforge.evaluation.sandbox.reaper import (
    MARKER_VARIABLE,
    claim_directory,
    decode_status,
    remove_tree,
)
from evoforge.evaluation.sandbox.records import SandboxLimits, SandboxRun, SideRequest

__all__ = ["TEMPLATE_WORKDIR", "ProcessTemplate", "TemplateRun"]

ZYGOTE_PATH = Path(__file__).with_name("zygote.py")
TEMPLATE_WORKDIR = "/sandbox"
"""Where a templated run sees its own working directory."""
_MIB = 1024 * 1024
_START_TIMEOUT_S = 60.0


class TemplateError(RuntimeError):
    """The template could not be started or did not accept a run."""


class ProcessTemplate:
    """One side's template: ``python -I zygote.py`` in a jail, forking a child per run.

    ``script`` is the side's script (its ``main(argv)`` runs one evaluation); ``readable``
    the directories the side may read; ``preload_evaluator`` an evaluator the template
    imports once (the evaluator side). Thread-safe; :meth:`close` ends the template.
    """

    def __init__(
        self,
        limits: SandboxLimits,
        python: str,
        script: Path,
        readable: Sequence[Path] = (),
        preload_evaluator: Path | None = None,
        network: str = "none",
        hidden: Sequence[Path] = (),
    ) -> None:
        self.limits = limits
        self.python = python
        self.script = script
        self.readable = tuple(readable)
        self.hidden = tuple(hidden)
        self.preload_evaluator = preload_evaluator
        self.network = network if network in ("netns", "userns+netns") else "none"
        self._lock = threading.Lock()
        self._state = _TemplateState()
        self._in_flight = 0
        self.unusable: str | None = None
        weakref.finalize(self, _end_template, self._state)

    @property
    def spool(self) -> Path:
        assert self._state.spool is not None
        return self._state.spool

    def _alive(self) -> bool:
        return self._state.proc is not None and self._state.proc.poll() is None

    def ensure_started(self) -> None:
        """Start the template unless it runs; :class:`TemplateError` if it cannot."""
        with self._lock:
            if self._alive():
                return
            self._shutdown()
            try:
                if self._start() and self.preload_evaluator is not None:
                    # Importing the evaluator started threads (a library's pool: numba's
                    # parallel=True, torch or OpenMP with several threads): a forked child
                    # has none of them, and an evaluation waiting on that pool would hang
                    # until its timeout. Each evaluation imports the evaluator itself.
                    self._shutdown()
                    self.preload_evaluator = None
                    self._start()
            except TemplateError as exc:
                self.unusable = str(exc)
                raise

    def _start(self) -> bool:
        """Start the template; whether it runs more than one thread once started."""
        pid = os.getpid()
        self._state.group_prefix = f"{group_prefix()}{uuid.uuid4().hex[:12]}-"
        self._state.spool = Path(tempfile.mkdtemp(prefix=f"evoforge-sandbox-{pid}-spool-"))
        self._state.claims.append(claim_directory(self._state.spool))
        self._state.capture = Path(tempfile.mkdtemp(prefix=f"evoforge-capture-{pid}-"))
        self._state.claims.append(claim_directory(self._state.capture))
        jail_root = self._state.capture / "root"
        jail_root.mkdir()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        limits = self.limits
        fsize = limits.max_file_size_mb * _MIB
        roots: list[dict[str, object]] = []
        root_fds: list[int] = []
        for group in cgroup_roots(limits.max_processes, limits.memory_mb * _MIB):
            with contextlib.suppress(OSError):
                fd = os.open(str(group.pop("path")), os.O_RDONLY | os.O_DIRECTORY)
                roots.append({**group, "fd": fd})
                root_fds.append(fd)
        spec = launcher_spec(
            [("RLIMIT_FSIZE", fsize, fsize), ("RLIMIT_CORE", 0, 0)],
            self.network,
            "mountns",
            limits.shm_mb,
            limits.max_processes * 4,
            jail=jail_spec(
                jail_root,
                self._state.spool,
                self.python,
                [*self.readable, self.script.parent, ZYGOTE_PATH.parent],
                mountpoints=[TEMPLATE_WORKDIR],
                readonly_tmp=True,
                hidden=self.hidden,
            ),
            pass_fds=(theirs.fileno(), *root_fds),
            keep_capabilities=True,
        )
        zygote_spec = {
            "script": str(self.script),
            "preload_evaluator": str(self.preload_evaluator) if self.preload_evaluator else None,
            "spool": str(self._state.spool),
            "workdir": TEMPLATE_WORKDIR,
            "shm_kib": limits.shm_mb * 1024,
            "work_kib": limits.memory_mb * 1024,  # in memory: charged to the run's memory
            "cgroups": roots,
            "group_prefix": self._state.group_prefix,
        }
        status_read, status_write = os.pipe()
        argv = launcher_command(
            status_write,
            spec,
            self.python,
            "-I",
            str(ZYGOTE_PATH),
            str(theirs.fileno()),
            json.dumps(zygote_spec),
        )
        stderr_path = self._state.capture / "template-stderr"
        try:
            with open(stderr_path, "wb") as err:
                self._state.proc = subprocess.Popen(
                    argv,
                    cwd=self._state.spool,
                    env=sanitized_environment(allow=limits.pass_env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(status_write, theirs.fileno(), *root_fds),
                    close_fds=True,
                )
        except (OSError, subprocess.SubprocessError) as exc:
            raise TemplateError(f"cannot start the template: {exc}") from None
        finally:
            os.close(status_write)
            theirs.close()
            for fd in root_fds:
                os.close(fd)
        self._state.control = ours
        try:
            watched: list[socket.socket | int] = [ours, status_read]
            ready, _, _ = select.select(watched, [], [], _START_TIMEOUT_S)
            setup = b""
            if status_read in ready:
                setup = os.read(status_read, 4096)
            if setup:
                raise TemplateError(f"template setup failed: {setup.decode('utf-8', 'replace')}")
            ready, _, _ = select.select(watched[:1], [], [], _START_TIMEOUT_S)
            hello = ours.recv(4096) if ready else b""
            if not hello:
                tail = stderr_path.read_bytes()[-2000:].decode("utf-8", "replace").strip()
                raise TemplateError(f"the template did not start: {tail or 'no message'}")
        except BaseException:
            self._shutdown()
            raise
        finally:
            os.close(status_read)
        try:
            return json.loads(hello).get("threads") is True
        except (ValueError, AttributeError):
            return False

    def begin_run(self) -> None:
        """Count a run in flight (until :meth:`end_run`): the template keeps as many
        evaluations prepared ahead as runs are in flight."""
        with self._lock:
            self._in_flight += 1

    def end_run(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def submit(self, request: Mapping[str, object], fds: Sequence[int]) -> None:
        """Send one run's request with its descriptors (the reply socket first)."""
        with self._lock:
            if self._state.control is None or not self._alive():
                raise TemplateError("the template is not running")
            message = {**request, "in_flight": self._in_flight}
            try:
                socket.send_fds(self._state.control, [json.dumps(message).encode()], list(fds))
            except OSError as exc:
                raise TemplateError(f"the template refused a run: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._shutdown()

    def _shutdown(self) -> None:
        _end_template(self._state)


class _TemplateState:
    """What a running template holds (kept apart so a finalizer can end it)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self.spool: Path | None = None
        self.capture: Path | None = None
        self.claims: list[int | None] = []  # on spool and capture (claim_directory)
        self.group_prefix: str | None = None  # how this template's runs' cgroups are named


def _end_template(state: _TemplateState) -> None:
    """End a template (on close, or when its owner is collected) and remove its files."""
    if state.control is not None:
        state.control.close()  # the template leaves on end-of-file; its runs die with it
        state.control = None
    if state.proc is not None:
        with contextlib.suppress(OSError):
            os.killpg(state.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            state.proc.wait(timeout=10)
        state.proc = None
    if state.group_prefix is not None:
        # the spare the template had prepared joined its cgroups and was killed with it
        remove_groups(state.group_prefix)
        state.group_prefix = None
    for path in (state.spool, state.capture):
        if path is not None:
            remove_tree(path)
    for claim in state.claims:
        if claim is not None:
            with contextlib.suppress(OSError):
                os.close(claim)
    state.spool = state.capture = None
    state.claims = []


class TemplateRun:
    """One run through a :class:`ProcessTemplate` (a context manager), step by step."""

    def __init__(self, template: ProcessTemplate, side: SideRequest) -> None:
        self.template = template
        self.limits = template.limits
        self.side = side
        self.files = side.files
        self.run_id = uuid.uuid4().hex
        self.contents: int | None = None  # the files' contents, back to back (a memfd)
        self.file_sizes: list[list[object]] = []
        self.outputs: list[int] = []  # stdout and stderr (memfds)
        self.reply: socket.socket | None = None
        self.pidfd: int | None = None
        self.error: str | None = None
        self.started_at = 0.0
        self.deadline = 0.0
        self.timed_out = False
        self.ended: dict[str, object] | None = None
        self.result: bytes | None = None
        self.result_overflow = False

    def __enter__(self) -> TemplateRun:
        """Stage the run in memory: its files' contents and its stdout and stderr are
        memfds, so nothing is made (or left) on disk; the run's child writes the files
        into its own in-memory working directory."""
        self.template.begin_run()
        try:
            self.template.ensure_started()
            self.contents = os.memfd_create("evoforge-files", os.MFD_CLOEXEC)
            with open(self.contents, "wb", closefd=False) as sink:
                for name, content in self.files.items():
                    data = content.encode("utf-8") if isinstance(content, str) else content
                    self.file_sizes.append([_relative_name(name), len(data)])
                    sink.write(data)
            for name in ("evoforge-stdout", "evoforge-stderr"):
                self.outputs.append(os.memfd_create(name, os.MFD_CLOEXEC))
        except (OSError, ValueError, TemplateError) as exc:
            self.error = str(exc)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
            if self.reply is not None:
                self.reply.close()
            for fd in (self.contents, *self.outputs):
                if fd is not None:
                    os.close(fd)
            self.contents, self.outputs = None, []
        finally:
            self.template.end_run()

    def failed(self, error: str | None = None) -> SandboxRun:
        return SandboxRun(
            returncode=None,
            filesystem="mountns",
            error=error or self.error,
            workdir=TEMPLATE_WORKDIR,
        )

    def start(self, fds: Mapping[str, int], deadline_from: float | None = None) -> bool:
        """Ask the template for the run's child (see :meth:`await_exec` for the handover)."""
        assert self.contents is not None and len(self.outputs) == 2
        argv, env = self.side.argv, self.side.env
        limits = self.limits
        self.started_at = time.monotonic() if deadline_from is None else deadline_from
        self.deadline = self.started_at + limits.timeout_s
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.reply = ours
        try:
            request = {
                "argv": list(argv),
                "files": self.file_sizes,
                "env": sanitized_environment(
                    allow=limits.pass_env,
                    extra={
                        "HOME": TEMPLATE_WORKDIR,
                        "TMPDIR": TEMPLATE_WORKDIR,
                        "TMP": TEMPLATE_WORKDIR,
                        "TEMP": TEMPLATE_WORKDIR,
                        **(env or {}),
                        MARKER_VARIABLE: self.run_id,
                    },
                ),
                "limits": self.limits.rlimits(),
                "cpu": self.side.cpu,
                "fd_names": list(fds),
            }
            handed = [theirs.fileno(), *self.outputs, self.contents, *fds.values()]
            self.template.submit(request, handed)
        except (OSError, TemplateError) as exc:
            self.error = str(exc)
            return False
        finally:
            theirs.close()
        return True

    def await_exec(self) -> None:
        """Wait until the template hands the run's child over (a pidfd of its command).

        Kept apart from :meth:`start` so that both sides of a pair are set up at once.
        """
        if self.reply is None or self.error is not None:
            return
        message, handles = self._receive(self.deadline)
        if message is None or "error" in message or not handles:
            for fd in handles:
                os.close(fd)
            if message is None and time.monotonic() >= self.deadline:
                # a tiny evaluator.timeout_s: not a sandbox broken, the time was up
                detail: object = (
                    "the template did not start the run within the "
                    f"{self.limits.timeout_s:g}s wall-clock limit (evaluator.timeout_s)"
                )
            else:
                detail = (message or {}).get("error", "the template did not answer")
            self.error = f"sandbox setup failed: {detail}"
            return
        self.pidfd = handles[0]
        for fd in handles[1:]:
            os.close(fd)

    def _receive(self, deadline: float) -> tuple[dict[str, object] | None, list[int]]:
        assert self.reply is not None
        remaining = max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([self.reply], [], [], remaining)
        if not ready:
            return None, []
        try:
            data, handles, _, _ = socket.recv_fds(self.reply, 65536, 4)
        except OSError:
            return None, []
        if not data:
            return None, handles
        try:
            message = json.loads(data)
        except ValueError:
            return None, handles
        return (message if isinstance(message, dict) else None), handles

    def wait_reporting(self, result_read: int | None, limit: int) -> None:
        """Wait for the run to end (or the deadline), reading its result pipe meanwhile."""
        if self.pidfd is None:
            return
        chunks: list[bytes] = []
        size = 0
        while result_read is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([result_read, self.pidfd], [], [], remaining)
            if result_read in ready:
                chunk = os.read(result_read, 65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    self.result_overflow = True
                    self._kill()
                    break
                chunks.append(chunk)
                continue
            if self.pidfd in ready:
                chunks.extend(drain(result_read, limit - size))
                break
        if limit and not self.result_overflow:
            self.result = b"".join(chunks) if chunks else None
        remaining = max(0.0, self.deadline - time.monotonic())
        ready, _, _ = select.select([self.pidfd], [], [], remaining)
        if not ready:
            self.timed_out = True
            self._kill()
        self._collect_status()

    def _kill(self) -> None:
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def _collect_status(self) -> None:
        if self.ended is not None:
            return
        message, handles = self._receive(time.monotonic() + 10.0)
        for fd in handles:
            os.close(fd)
        self.ended = message or {"status": signal.SIGKILL}

    def stop(self) -> None:
        """Kill the run now (the candidate side, once the evaluator is done)."""
        if self.pidfd is None:
            return
        if self.ended is None:
            self._kill()
            self._collect_status()
        os.close(self.pidfd)
        self.pidfd = None

    def finish(self) -> SandboxRun:
        """The record of the run (after :meth:`wait_reporting` or :meth:`stop`)."""
        network = self.template.network if self.template.network != "none" else "none"
        if self.error is not None or len(self.outputs) != 2:
            return SandboxRun(
                returncode=None,
                network=network,
                filesystem="mountns",
                error=self.error,
                workdir=TEMPLATE_WORKDIR,
            )
        if self.ended is None:
            self.wait_reporting(None, 0)
        ended = self.ended or {}
        status = ended.get("status")
        returncode = decode_status(int(status)) if isinstance(status, int) else -signal.SIGKILL
        cpu = ended.get("cpu")
        rss = ended.get("max_rss_kib")
        limits = self.limits
        return SandboxRun(
            returncode=returncode,
            stdout=head_tail(self.outputs[0], limits.max_output_bytes),
            stderr=head_tail(self.outputs[1], limits.max_output_bytes),
            timed_out=self.timed_out,
            duration_s=time.monotonic() - self.started_at,
            signal=-returncode if returncode < 0 else None,
            cpu_time_s=float(cpu) if isinstance(cpu, int | float) else 0.0,
            max_rss_mb=float(rss) / 1024.0 if isinstance(rss, int | float) else 0.0,
            network=network,
            filesystem="mountns",
            result=self.result,
            result_overflow=self.result_overflow,
            out_of_memory=ended.get("out_of_memory") is True,
            workdir=TEMPLATE_WORKDIR,
        )


def _relative_name(name: str) -> str:
    """``name`` as a path inside the working directory; ``ValueError`` if it would leave it
    (absolute, ``..``) or names no file."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        raise ValueError(f"path {name!r} leaves the working directory")
    return str(PurePosixPath(*parts))
