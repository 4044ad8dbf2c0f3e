"""Run cgroups left behind are removed: by their owner's pid once it is gone, else by age."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from evoforge.evaluation.sandbox import cgroups
from evoforge.evaluation.sandbox.cgroups import group_prefix, memory_cgroup_root

ROOT = memory_cgroup_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="no memory cgroup on this machine")


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_groups_of_a_gone_process_are_removed_and_no_others() -> None:
    assert ROOT is not None
    tag = uuid.uuid4().hex[:8]
    dead = ROOT / f"{group_prefix(_dead_pid())}{tag}"
    ours = ROOT / f"{group_prefix()}{tag}"
    young_unowned = ROOT / f"evoforge-{tag}{uuid.uuid4().hex}"  # named by an older evoforge
    made = [dead, ours, young_unowned]
    for path in made:
        path.mkdir()
    try:
        cgroups._remove_stale_groups(ROOT)
        assert [path.exists() for path in made] == [False, True, True]
    finally:
        for path in made:
            if path.exists():
                path.rmdir()


def test_remove_groups_removes_by_prefix_only() -> None:
    assert ROOT is not None
    prefix = f"{group_prefix()}{uuid.uuid4().hex[:12]}-"
    mine = [ROOT / f"{prefix}{index}" for index in range(3)]
    other = ROOT / f"{group_prefix()}{uuid.uuid4().hex[:12]}-0"
    for path in [*mine, other]:
        path.mkdir()
    try:
        assert cgroups.remove_groups(prefix) == 3
        assert not any(path.exists() for path in mine)
        assert other.exists()
    finally:
        for path in [*mine, other]:
            if path.exists():
                path.rmdir()


def test_a_group_name_says_its_owner() -> None:
    assert cgroups._owner(f"{group_prefix(1234)}abc") == 1234
    assert cgroups._owner(f"evoforge-{uuid.uuid4().hex}") is None  # an older name
    assert cgroups._owner("evoforge-probe-99-abc") is None


def _takes_a_process_limit(root: Path, limit_file: str) -> bool:
    """Whether a new group under ``root`` can be made and given a limit of 512 processes."""
    group = root / f"evoforge-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
    except OSError:
        return False
    try:
        (group / limit_file).write_text("512")
    except OSError:
        return False
    finally:
        group.rmdir()
    return True


def test_a_writable_pids_hierarchy_is_found() -> None:
    """The probe writes a value ``pids.max`` accepts (it refuses any above PID_MAX_LIMIT),
    so a writable pids hierarchy is used: without it no cgroup caps a fork bomb."""
    v1 = Path("/sys/fs/cgroup/pids")
    if not ((v1 / "cgroup.procs").is_file() and _takes_a_process_limit(v1, "pids.max")):
        pytest.skip("no writable cgroup v1 pids hierarchy here")
    assert cgroups._probe("pids") is not None
