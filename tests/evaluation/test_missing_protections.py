"""Where a sandbox layer is missing, the run's start line names each one, once, with what
it means for a candidate, and the reasons name the machine's setting at fault."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evoforge.evaluation.sandbox import core
from evoforge.evaluation.sandbox.launcher import CLONE_NEWNET, CLONE_NEWUSER, namespace_failure

from .conftest import MakeEvaluator

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "function_minimization"

# what a process on a machine that allows no (further) user namespace is told
_REPORT = """
import json, sys
from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.sandbox import filesystem_isolation, network_isolation

evaluator = ProblemEvaluator(sys.argv[1], EvaluatorConfig())
print(json.dumps({
    "network": network_isolation(),
    "filesystem": filesystem_isolation(),
    "notice": evaluator.form_notice,
}))
"""


def _forbid_user_namespaces() -> None:
    """In the child before exec: enter a user namespace of its own (where it holds the
    capabilities to set the namespace's limits) and allow no user namespace below it; the
    command then runs unprivileged, as on a machine with user namespaces turned off."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
    with open("/proc/sys/user/max_user_namespaces", "w") as handle:
        handle.write("0")


def test_a_machine_without_user_namespaces_is_told_what_is_missing() -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _REPORT, str(_EXAMPLE / "evaluator.py")],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_forbid_user_namespaces,
        )
    except subprocess.SubprocessError as exc:
        pytest.skip(f"cannot simulate a machine without user namespaces here: {exc}")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["network"].startswith("none: ")
    assert "user.max_user_namespaces" in report["network"]
    assert "user.max_user_namespaces" in report["filesystem"]
    assert "No space left on device" not in done.stdout
    notice = report["notice"]
    assert "jailed" not in notice  # there is no jail: the line must not claim one
    assert notice.count("no filesystem jail and no network isolation") == 1
    assert "can read and write wherever your user can and reach the network" in notice


def test_each_missing_layer_is_named_once(
    make_evaluator: MakeEvaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "memory_cgroup_root", lambda: None)
    monkeypatch.setattr(core, "pids_cgroup_root", lambda: None)
    evaluator = make_evaluator(isolate_network=False, isolate_filesystem=False)
    notice = evaluator.form_notice
    assert notice.count("warning:") == 4  # the shared form's own, then one per layer
    assert "no filesystem jail and no network isolation (disabled by configuration)" in notice
    assert "no writable memory cgroup" in notice
    assert "only the timeout stops a fork bomb" in notice


def test_a_missing_network_namespace_alone_is_named(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(isolate_network=False)
    if evaluator.sandbox.filesystem != "mountns":
        pytest.skip(f"no filesystem jail here ({evaluator.sandbox.filesystem})")
    notice = evaluator.form_notice
    assert "no network isolation (disabled by configuration)" in notice
    assert "no filesystem jail" not in notice


def test_a_complete_sandbox_adds_no_warning(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator()
    if evaluator.sandbox.missing_protections():
        pytest.skip(f"this machine lacks {evaluator.sandbox.missing_protections()}")
    assert evaluator.form_notice.count("warning:") == 1  # the shared form's own


def test_namespace_errors_name_the_setting_at_fault() -> None:
    assert "user.max_user_namespaces" in namespace_failure(CLONE_NEWUSER, errno.ENOSPC)
    assert namespace_failure(CLONE_NEWNET, errno.EPERM) == os.strerror(errno.EPERM)
