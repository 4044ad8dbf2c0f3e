"""The records of the sandbox: the limits a run gets and what a run did."""

from __future__ import annotations

import math
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

_MIB = 1024 * 1024

if TYPE_CHECKING:
    from evoforge.config import EvaluatorConfig
    from evoforge.evaluation.sandbox.templates import ProcessTemplate


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
    pass_env: tuple[str, ...] = ()

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
            pass_env=tuple(config.pass_env),
        )

    def rlimits(self) -> list[tuple[str, int, int]]:
        """The ``(name, soft, hard)`` resource limits every sandboxed command gets.

        ``RLIMIT_CPU``: the soft limit sends SIGXCPU, the hard one (a second later) kills.
        """
        cpu_soft = max(1, math.ceil(self.cpu_time_s))
        memory = self.memory_mb * _MIB
        fsize = self.max_file_size_mb * _MIB
        return [
            ("RLIMIT_CPU", cpu_soft, cpu_soft + 1),
            ("RLIMIT_AS", memory, memory),
            ("RLIMIT_FSIZE", fsize, fsize),
            ("RLIMIT_CORE", 0, 0),
        ]


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
    ``result`` holds what the command wrote to its result pipe (when one was asked for; at
    most the result limit, ``result_overflow`` set if it wrote more). ``out_of_memory`` is
    true when the kernel's OOM killer acted in the run's memory cgroup. ``workdir`` is the
    working directory as the command saw it (``/sandbox`` in a template process, else the
    run's own temporary directory; empty when no directory was made).
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
    result: bytes | None = None
    result_overflow: bool = False
    out_of_memory: bool = False
    workdir: str = ""

    @property
    def signal_name(self) -> str | None:
        """``"SIGSEGV"`` and so on, or ``None`` when no signal killed the command."""
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


@dataclass(frozen=True)
class SideRequest:
    """One command of a run: its argv, the files staged for it, what it may read.

    ``files`` are written into its fresh working directory first (relative paths; ``str``
    as UTF-8). ``readable`` directories are visible read-only inside its jail (nothing else
    of the host's is, but the interpreter). ``collect`` names files of the working
    directory to read back after the run (regular files only, capped). ``hidden``
    directories are covered by an empty read-only one inside its jail. ``env`` adds
    variables to the sanitized environment. With ``template`` the run is a child forked by
    that template process (same jail and limits, no interpreter start-up) instead of a
    fresh process; ``collect`` is not supported there. ``cpu`` pins the command to that
    processor (the two sides of an isolated evaluation: see
    :mod:`evoforge.evaluation.placement`).
    """

    argv: Sequence[str]
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    readable: Sequence[Path] = ()
    collect: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    template: ProcessTemplate | None = None
    cpu: int | None = None
    hidden: Sequence[Path] = ()
