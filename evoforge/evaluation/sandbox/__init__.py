"""The sandbox: run untrusted commands under limits, in a jail, and leave nothing behind.

Modules, one job each: :mod:`.core` (the :class:`Sandbox`: start, wait, read back),
:mod:`.launcher` (the script that sets a process up between fork and exec), :mod:`.jail`
(what a jailed process may see), :mod:`.probes` (what isolation this machine allows),
:mod:`.cgroups` (per-run process and memory ceilings), :mod:`.output` (bounded reads of
what a command left), :mod:`.reaper` (kill leftovers, remove trees), :mod:`.records`
(limits and run records), :mod:`.templates` and :mod:`.zygote` (template processes).
Which environment variables pass is decided in :mod:`evoforge.evaluation.environment`.
"""

from evoforge.evaluation.environment import sanitized_environment
from evoforge.evaluation.sandbox.cgroups import memory_cgroup_root, pids_cgroup_root
from evoforge.evaluation.sandbox.core import Sandbox, SideRequest
from evoforge.evaluation.sandbox.probes import filesystem_isolation, network_isolation
from evoforge.evaluation.sandbox.reaper import MARKER_VARIABLE, remove_stale_workdirs
from evoforge.evaluation.sandbox.records import SandboxLimits, SandboxRun

__all__ = [
    "MARKER_VARIABLE",
    "Sandbox",
    "SandboxLimits",
    "SandboxRun",
    "SideRequest",
    "filesystem_isolation",
    "memory_cgroup_root",
    "network_isolation",
    "pids_cgroup_root",
    "remove_stale_workdirs",
    "sanitized_environment",
]
