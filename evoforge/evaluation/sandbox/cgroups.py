"""Per-run cgroups: a process ceiling and a memory ceiling for a run's whole process tree.

``RLIMIT_AS`` bounds one process; a candidate that forks ten children gets ten times the
memory. A run's memory cgroup bounds them together: when their sum passes the limit the
kernel's OOM killer kills inside the group only. Likewise the pids group bounds how many
processes the run can have at once. Both need a writable controller (cgroup v1's ``pids``
and ``memory`` hierarchies, or the cgroup v2 root with the controller handed down), which
usually means root outside a container. Each is probed once; where a controller is not
writable, runs go ahead without that ceiling (the sandbox reports which it got).

A run gets one group per hierarchy (:func:`group_plans`): on cgroup v1 each controller
is a hierarchy of its own, so a pids group and a memory group; on cgroup v2 there is one
hierarchy and a process is in exactly one group of it, so both limits go into one group
(two groups there would leave the run in whichever it joined last, with one limit).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from evoforge.evaluation.sandbox.reaper import process_exists

__all__ = [
    "GroupPlan",
    "RunCgroups",
    "cgroup_roots",
    "group_prefix",
    "memory_cgroup_root",
    "pids_cgroup_root",
    "remove_groups",
]

_V1_ROOTS = {"pids": Path("/sys/fs/cgroup/pids"), "memory": Path("/sys/fs/cgroup/memory")}
_V2_ROOT = Path("/sys/fs/cgroup")
_LIMIT_FILES = {"pids": ("pids.max", "pids.max"), "memory": ("memory.limit_in_bytes", "memory.max")}
#: Where the kernel counts the memory group's OOM kills (``oom_kill N``): v1, v2.
_OOM_EVENTS = ("memory.oom_control", "memory.events")
_SWAP_LIMIT_V1 = "memory.memsw.limit_in_bytes"  # swap counts too, where accounted
#: What the probe writes to a test group's limit file: a value each controller accepts
#: (``pids.max`` refuses anything above the kernel's PID_MAX_LIMIT, 4,194,304 at most).
_PROBE_LIMITS = {"pids": "512", "memory": "16777216"}
_STALE_GROUP_AGE_S = 3600.0
_probe_lock = threading.Lock()
_probed: dict[str, Path | None] = {}


def pids_cgroup_root() -> Path | None:
    """A cgroup directory under which each run can get its own ``pids.max``, or ``None``."""
    return _root("pids")


def memory_cgroup_root() -> Path | None:
    """A cgroup directory under which each run can get its own memory limit, or ``None``."""
    return _root("memory")


def _root(controller: str) -> Path | None:
    with _probe_lock:
        if controller not in _probed:
            _probed[controller] = _probe(controller)
        return _probed[controller]


def _limit_file(root: Path, controller: str) -> str:
    v1, v2 = _LIMIT_FILES[controller]
    return v1 if root == _V1_ROOTS[controller] else v2


def _probe(controller: str) -> Path | None:
    for root in (_V1_ROOTS[controller], _V2_ROOT):
        if not (root / "cgroup.procs").is_file():
            continue
        if root == _V2_ROOT:  # cgroup v2: the root must hand the controller down
            try:
                if controller not in (root / "cgroup.subtree_control").read_text().split():
                    continue
            except OSError:
                continue
        test = root / f"evoforge-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            test.mkdir()
        except OSError:
            continue
        try:
            (test / _limit_file(root, controller)).write_text(_PROBE_LIMITS[controller])
        except OSError:
            continue
        finally:
            with contextlib.suppress(OSError):
                test.rmdir()
        _remove_stale_groups(root)
        return root
    return None


def group_prefix(owner: int | None = None) -> str:
    """The start of the name of every run group made for the evoforge process ``owner``
    (this one by default): ``evoforge-<pid>-``, then a part naming the run or template."""
    return f"evoforge-{os.getpid() if owner is None else owner}-"


def _owner(name: str) -> int | None:
    """The evoforge process a group's name says made it, or ``None`` (an older name)."""
    owner, _, rest = name.removeprefix("evoforge-").partition("-")
    return int(owner) if rest and owner.isdigit() else None


def _remove_stale_groups(root: Path) -> None:
    """Remove run groups left by an evoforge process that was killed (``kill -9``).

    A group whose name carries its owner's pid (:func:`group_prefix`) is stale as soon as
    that process is gone; one without (named by an older evoforge) once it is an hour old:
    a fresh, still empty one may belong to a run that another process is starting right
    now. ``rmdir`` fails on a group with processes, so none in use is ever removed.
    """
    cutoff = time.time() - _STALE_GROUP_AGE_S
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if not entry.name.startswith("evoforge-"):
                continue
            with contextlib.suppress(OSError):
                if not entry.is_dir(follow_symlinks=False):
                    continue
                owner = _owner(entry.name)
                if owner is None:
                    stale = entry.stat(follow_symlinks=False).st_mtime < cutoff
                else:
                    stale = owner != os.getpid() and not process_exists(owner)
                if stale:
                    os.rmdir(entry.path)


def remove_groups(prefix: str, wait_s: float = 1.0) -> int:
    """Remove every run group whose name starts with ``prefix`` under each controller's
    root (once where both share it), once its processes are gone (retrying for up to
    ``wait_s`` while killed ones exit). For the groups of a template's runs after the
    template ended: a spare it had prepared is killed with it and cannot remove its own.
    Returns how many were removed; never raises."""
    removed = 0
    for root in dict.fromkeys(_root(controller) for controller in ("pids", "memory")):
        if root is None:
            continue
        try:
            names = [name for name in os.listdir(root) if name.startswith(prefix)]
        except OSError:
            continue
        for name in names:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    os.rmdir(root / name)
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.005)
                    continue
                removed += 1
                break
    return removed


@dataclass(frozen=True)
class GroupPlan:
    """One group a run gets under ``root``: the controllers it limits there, the limit
    files to write in order (``(file, value, required)``: an optional one, v1's swap
    limit, may be refused) and the file that counts its OOM kills (``None`` without the
    memory controller)."""

    root: Path
    controllers: tuple[str, ...]
    limits: tuple[tuple[str, str, bool], ...]
    oom_events: str | None


def group_plans(max_processes: int, memory_bytes: int) -> list[GroupPlan]:
    """The groups a run gets: one per hierarchy that has a writable controller, with every
    limit that hierarchy carries (v1: one group per controller; v2: one group for both)."""
    plans: dict[Path, GroupPlan] = {}
    for controller, root, limit in (
        ("pids", pids_cgroup_root(), max_processes),
        ("memory", memory_cgroup_root(), memory_bytes),
    ):
        if root is None:
            continue
        v1 = root == _V1_ROOTS[controller]
        limits = [(_limit_file(root, controller), str(limit), True)]
        oom_events = None
        if controller == "memory":
            oom_events = _OOM_EVENTS[0] if v1 else _OOM_EVENTS[1]
            if v1:
                limits.append((_SWAP_LIMIT_V1, str(limit), False))
        known = plans.get(root)
        if known is not None:
            limits = [*known.limits, *limits]
            oom_events = known.oom_events or oom_events
        plans[root] = GroupPlan(
            root,
            (*(known.controllers if known else ()), controller),
            tuple(limits),
            oom_events,
        )
    return list(plans.values())


@dataclass
class _Group:
    path: Path
    plan: GroupPlan


class RunCgroups:
    """The run's own groups (whichever controllers are available, one group per
    hierarchy: :func:`group_plans`), removed by :meth:`remove`.

    ``procs`` lists the ``cgroup.procs`` files the launcher writes its pid to, so the whole
    process tree is counted from its first instruction.
    """

    def __init__(self, run_id: str, max_processes: int, memory_bytes: int) -> None:
        self.groups: list[_Group] = []
        for plan in group_plans(max_processes, memory_bytes):
            path = plan.root / f"{group_prefix()}{run_id}"
            try:
                path.mkdir()
            except OSError:
                continue
            self.groups.append(_Group(path, plan))
            try:
                _write_limits(path, plan.limits)
            except OSError:
                self.remove()
                self.groups = []
                break

    @property
    def procs(self) -> list[str]:
        return [str(group.path / "cgroup.procs") for group in self.groups]

    @property
    def memory_limited(self) -> bool:
        return any("memory" in group.plan.controllers for group in self.groups)

    def out_of_memory(self) -> bool:
        """True when the kernel's OOM killer killed a process of the run's memory group."""
        for group in self.groups:
            if group.plan.oom_events is None:
                continue
            with contextlib.suppress(OSError, ValueError):
                for line in (group.path / group.plan.oom_events).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        return False

    def remove(self) -> None:
        """Remove the groups; their processes are gone by now, give exiting ones a moment."""
        for group in self.groups:
            for attempt in range(50):
                try:
                    group.path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002 * (attempt + 1))


def _write_limits(path: Path, limits: tuple[tuple[str, str, bool], ...]) -> None:
    """Write each limit file of ``path``; ``OSError`` when a required one is refused."""
    for name, value, required in limits:
        try:
            (path / name).write_text(value)
        except OSError:
            if required:
                raise


def cgroup_roots(max_processes: int, memory_bytes: int) -> list[dict[str, object]]:
    """What a template needs to give each of its runs its own groups (:func:`group_plans`):
    per group the root directory, the limit files to write (``[file, value, required]``)
    and the file that counts OOM kills (or ``None``).

    ``path`` is the root's path; the template receives an open descriptor of it.
    """
    return [
        {
            "controllers": list(plan.controllers),
            "path": str(plan.root),
            "limits": [list(limit) for limit in plan.limits],
            "oom_events": plan.oom_events,
        }
        for plan in group_plans(max_processes, memory_bytes)
    ]
