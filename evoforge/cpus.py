"""How many CPUs this process may use: the count its defaults (proposal processes, bench
jobs, where model requests go out from) follow.

``os.cpu_count()`` counts the machine's processors, not the ones a process may run on: a
process pinned with ``taskset``, a container started with ``--cpuset-cpus`` or a Slurm job
gets fewer, and a container started with ``--cpus`` (or a systemd unit with ``CPUQuota``)
may use only a share of their time. Sizing a pool by the machine's count there starts more
processes than can run at once, and they take turns on the allowed processors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["cgroup_cpu_quota", "usable_cpus"]

_PROC_CGROUP = Path("/proc/self/cgroup")
_CGROUP_MOUNT = Path("/sys/fs/cgroup")
_QuotaReader = Callable[[Path], "float | None"]


def usable_cpus() -> int:
    """The CPUs this process may use, at least 1: those of its affinity mask, fewer where
    its cgroup's CPU quota allows less time than that (a quota of 1.5 CPUs counts as 2)."""
    count = _affinity_count()
    quota = cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return count


def _affinity_count() -> int:
    """The processors of this process's affinity mask (the machine's where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cgroup_cpu_quota(proc_cgroup: Path = _PROC_CGROUP, mount: Path = _CGROUP_MOUNT) -> float | None:
    """The smallest CPU quota, in CPUs (quota / period), set on this process's cgroup or
    any above it, or ``None`` where none is set or none can be read.

    ``proc_cgroup`` is ``/proc/self/cgroup``; ``mount`` is where the cgroup filesystems
    are mounted: cgroup v2's ``cpu.max`` at ``mount``, cgroup v1's ``cpu.cfs_quota_us``
    and ``cpu.cfs_period_us`` under ``mount/cpu``. A container that sees only its own
    cgroup (its path in ``proc_cgroup`` missing under the mount) is read at the mount's
    root, where its own limits are.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":
            quotas += _quotas_along(mount, path, _v2_quota)
        elif "cpu" in controllers.split(","):
            quotas += _quotas_along(mount / "cpu", path, _v1_quota)
    return min(quotas) if quotas else None


def _quotas_along(root: Path, path: str, read: _QuotaReader) -> list[float]:
    """The quotas ``read`` finds in the groups from ``root`` down to ``root/path``."""
    group = root
    found = [quota for quota in [read(group)] if quota is not None]
    for part in [part for part in path.split("/") if part]:
        group = group / part
        quota = read(group)
        if quota is not None:
            found.append(quota)
    return found


def _v2_quota(group: Path) -> float | None:
    """A cgroup v2 group's ``cpu.max`` (``"max 100000"``: none) in CPUs."""
    try:
        quota, period = (group / "cpu.max").read_text().split()
        return int(quota) / int(period) if quota != "max" and int(period) > 0 else None
    except (OSError, ValueError):
        return None


def _v1_quota(group: Path) -> float | None:
    """A cgroup v1 group's ``cpu.cfs_quota_us`` over its period (-1: none) in CPUs."""
    try:
        quota = int((group / "cpu.cfs_quota_us").read_text())
        period = int((group / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None
