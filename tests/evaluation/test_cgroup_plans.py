"""Which groups a run gets per cgroup hierarchy, read with the probe's answers stood in
(runs on any machine): one group per controller on cgroup v1, where each controller is a
hierarchy of its own, and one group carrying both limits on cgroup v2, where a process is
in exactly one group (a second group joined would take it out of the first, and its limit
with it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evoforge.evaluation.sandbox import cgroups, zygote
from evoforge.evaluation.sandbox.cgroups import RunCgroups, cgroup_roots, group_plans

MEMORY = 256 << 20


def _probed_as(monkeypatch: pytest.MonkeyPatch, pids: Path | None, memory: Path | None) -> None:
    """Make the probe's answers ``pids`` and ``memory`` for this test."""
    monkeypatch.setattr(cgroups, "_probed", {"pids": pids, "memory": memory})


def _fake_v2_root(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """``root`` (a plain directory) stands in for the cgroup v2 root with both controllers."""
    monkeypatch.setattr(cgroups, "_V2_ROOT", root)
    _probed_as(monkeypatch, root, root)


def test_on_cgroup_v2_a_run_gets_one_group_with_both_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v2 = cgroups._V2_ROOT
    _probed_as(monkeypatch, v2, v2)
    [plan] = group_plans(512, MEMORY)
    assert plan.root == v2
    assert plan.controllers == ("pids", "memory")
    assert plan.limits == (("pids.max", "512", True), ("memory.max", str(MEMORY), True))
    assert plan.oom_events == "memory.events"
    [root] = cgroup_roots(512, MEMORY)
    assert root["limits"] == [["pids.max", "512", True], ["memory.max", str(MEMORY), True]]


def test_on_cgroup_v1_each_controller_gets_a_group_in_its_hierarchy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _probed_as(monkeypatch, cgroups._V1_ROOTS["pids"], cgroups._V1_ROOTS["memory"])
    pids, memory = group_plans(512, MEMORY)
    assert (pids.root, pids.controllers, pids.oom_events) == (
        cgroups._V1_ROOTS["pids"],
        ("pids",),
        None,
    )
    assert pids.limits == (("pids.max", "512", True),)
    assert (memory.root, memory.controllers) == (cgroups._V1_ROOTS["memory"], ("memory",))
    assert memory.limits == (
        ("memory.limit_in_bytes", str(MEMORY), True),
        ("memory.memsw.limit_in_bytes", str(MEMORY), False),  # where swap is accounted
    )
    assert memory.oom_events == "memory.oom_control"


def test_with_one_controller_a_run_gets_that_group_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    _probed_as(monkeypatch, None, cgroups._V2_ROOT)
    [plan] = group_plans(512, MEMORY)
    assert plan.controllers == ("memory",)
    _probed_as(monkeypatch, None, None)
    assert group_plans(512, MEMORY) == []


def test_a_run_on_cgroup_v2_is_in_one_group_that_limits_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The launcher's form: each ``procs`` file it joins is a group with every limit of
    its hierarchy (a second v2 group of the same name failed to be made, and the run
    had no memory limit)."""
    _fake_v2_root(monkeypatch, tmp_path)
    run = RunCgroups("run", 512, MEMORY)
    [group] = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert run.procs == [str(group / "cgroup.procs")]
    assert (group / "pids.max").read_text() == "512"
    assert (group / "memory.max").read_text() == str(MEMORY)
    assert run.memory_limited
    assert not run.out_of_memory()
    (group / "memory.events").write_text("oom 1\noom_kill 1\n")
    assert run.out_of_memory()


def _creating_write_at(directory_fd: int, path: str, text: str) -> None:
    """``zygote.write_at`` for a plain directory, where no control file exists until written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=directory_fd)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def test_an_evaluation_on_cgroup_v2_joins_one_group_that_limits_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The template's form: an evaluation's C1 makes and joins one group per entry of
    the spec the template was given, so on v2 one group, both limits written in it."""
    _fake_v2_root(monkeypatch, tmp_path)
    monkeypatch.setattr(zygote, "write_at", _creating_write_at)
    roots = cgroup_roots(512, MEMORY)
    root_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for root in roots:
            root.pop("path")
            root["fd"] = root_fd
        groups = zygote.RunGroups(roots, "evoforge-test-")
        groups.join()
        [group] = [path for path in tmp_path.iterdir() if path.is_dir()]
        assert (group / "pids.max").read_text() == "512"
        assert (group / "memory.max").read_text() == str(MEMORY)
        assert (group / "cgroup.procs").read_text() == str(os.getpid())
        assert not groups.out_of_memory()
        (group / "memory.events").write_text("oom 1\noom_kill 1\n")
        assert groups.out_of_memory()
    finally:
        os.close(root_fd)
