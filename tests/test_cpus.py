"""The CPUs a process may use: its affinity mask and its cgroup's CPU quota, not the
machine's count, size the defaults that follow the processors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evoforge import cpus
from evoforge.cpus import cgroup_cpu_quota, usable_cpus

# the defaults that follow the CPUs, as a process pinned to one processor computes them
_DEFAULTS_WHEN_PINNED = """
import json
from evoforge.bench.harness import BenchOptions
from evoforge.config import resolve_config
from evoforge.cpus import usable_cpus
from evoforge.engine import proposal_processes

print(json.dumps({
    "usable": usable_cpus(),
    "proposal_processes": proposal_processes(resolve_config(cli_layer={"run": {"workers": 4}})),
    "bench_jobs": BenchOptions(problems=[]).jobs,
}))
"""


def _allowed() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return []


@pytest.mark.skipif(len(_allowed()) < 2, reason="needs a process allowed on 2 or more CPUs")
def test_a_process_pinned_to_one_cpu_sizes_its_defaults_by_it() -> None:
    first = _allowed()[0]
    done = subprocess.run(
        [sys.executable, "-c", _DEFAULTS_WHEN_PINNED],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        preexec_fn=lambda: os.sched_setaffinity(0, {first}),
    )
    assert json.loads(done.stdout) == {"usable": 1, "proposal_processes": 1, "bench_jobs": 1}


def test_request_process_auto_follows_the_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from evoforge.llm import request_process

    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: None)
    assert not request_process.requests_apart("auto")


def test_a_cpu_quota_caps_the_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: 1.5)
    assert usable_cpus() == 2
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: 0.2)
    assert usable_cpus() == 1
    monkeypatch.setattr(cpus, "cgroup_cpu_quota", lambda: 32.0)
    assert usable_cpus() == 8


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_the_smallest_on_the_way_up(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("0::/user.slice/job.scope\n")
    mount = tmp_path / "mount"
    _write(mount / "user.slice" / "cpu.max", "300000 100000\n")
    _write(mount / "user.slice" / "job.scope" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(proc, mount) == 3.0
    _write(mount / "user.slice" / "job.scope" / "cpu.max", "50000 100000\n")
    assert cgroup_cpu_quota(proc, mount) == 0.5


def test_a_container_reads_its_own_cgroup_at_the_root(tmp_path: Path) -> None:
    """Without a cgroup namespace /proc/self/cgroup names the host's path, which the
    container's mount does not have; its own limits are at the mount's root."""
    proc = tmp_path / "cgroup"
    proc.write_text("12:cpu,cpuacct:/docker/abc123\n0::/\n")
    mount = tmp_path / "mount"
    _write(mount / "cpu" / "cpu.cfs_quota_us", "150000\n")
    _write(mount / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_quota(proc, mount) == 1.5


def test_no_quota_or_nothing_readable_is_none(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    assert cgroup_cpu_quota(proc, tmp_path) is None  # no /proc/self/cgroup (not Linux)
    proc.write_text("1:cpu:/\n0::/\n")
    _write(tmp_path / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000\n")
    _write(tmp_path / "cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(proc, tmp_path) is None
