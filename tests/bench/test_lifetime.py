"""The processes the bench starts end with it, even when it is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False


def test_a_child_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    """The parent starts a child that asks to die with it, then is killed with SIGKILL."""
    pid_file = tmp_path / "child.pid"
    child = (
        "import os, signal, sys, time\n"
        "from evoforge.bench.lifetime import die_with_parent\n"
        "assert die_with_parent(signal.SIGTERM, int(sys.argv[1]))\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    parent = (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}, str(os.getpid())])\n"
        "time.sleep(600)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", parent])
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        grandchild = int(pid_file.read_text())
        assert _alive(grandchild)
    finally:
        process.kill()
        process.wait()
    for _ in range(300):
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    else:
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")


def test_a_parent_already_gone_sends_the_signal_at_once() -> None:
    """Between its start and the call, the parent may have ended: the signal comes now."""
    code = (
        "import os, signal\n"
        "from evoforge.bench.lifetime import die_with_parent\n"
        "die_with_parent(signal.SIGTERM, os.getppid() + 1_000_000)\n"
        "import time; time.sleep(60)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
    assert completed.returncode == -signal.SIGTERM
