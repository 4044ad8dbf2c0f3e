"""A run whose sandbox limits lie above the process's own hard limits (a shell's
``ulimit -v`` below ``evaluator.memory_mb``), which it cannot raise, stops at the start with
one line naming the setting, the machine's limit and the fix, instead of failing every
evaluation's setup."""

from __future__ import annotations

import ctypes
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from evoforge.evaluation.sandbox.launcher import CLONE_NEWUSER
from evoforge.evaluation.sandbox.probes import limits_out_of_reach

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "function_minimization"
_OWN_LIMIT = 3 * 1024**3  # below the default evaluator.memory_mb of 4096 MiB


def _low_address_space_unprivileged() -> None:
    """In the child before exec: lower the hard address-space limit, then lose the right to
    raise it (a user namespace of its own, whose uid is unmapped, holds no capability
    after exec); without user namespaces only the limit is lowered."""
    resource.setrlimit(resource.RLIMIT_AS, (_OWN_LIMIT, _OWN_LIMIT))
    ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER)


def _can_raise_after(preexec: object) -> bool:
    probe = "import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, preexec_fn=preexec, timeout=60
    )
    return done.returncode == 0


def test_a_memory_limit_above_the_shells_stops_the_run_in_one_line(tmp_path: Path) -> None:
    if _can_raise_after(_low_address_space_unprivileged):
        pytest.skip("a child here may raise its hard limits (CAP_SYS_RESOURCE)")
    run_dir = tmp_path / "run"
    evoforge = Path(sys.executable).with_name("evoforge")
    done = subprocess.run(
        [str(evoforge), "run", str(_EXAMPLE), "--iterations", "1", "--out", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_low_address_space_unprivileged,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "evaluator.memory_mb asks for 4096 MiB" in lines[0]
    assert "address-space limit of 3072 MiB (ulimit -v)" in lines[0]
    assert "set evaluator.memory_mb to at most 3072" in lines[0]
    assert not run_dir.exists()


def test_limits_within_the_processs_own_are_in_reach() -> None:
    own = resource.getrlimit(resource.RLIMIT_AS)[1]
    memory = 64 * 1024 * 1024 if own == resource.RLIM_INFINITY else min(own, 64 * 1024 * 1024)
    assert limits_out_of_reach([("RLIMIT_AS", memory, memory), ("RLIMIT_CORE", 0, 0)]) == []
