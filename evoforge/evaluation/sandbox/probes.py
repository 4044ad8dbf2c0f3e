"""What isolation this machine allows: probed once per process, in throwaway children."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from evoforge.evaluation.sandbox.jail import jail_python, jail_spec
from evoforge.evaluation.sandbox.launcher import CLONE_NEWNET, CLONE_NEWUSER, namespace_failure
from evoforge.evaluation.sandbox.reaper import PROBE_PREFIX, claim_directory, remove_tree

__all__ = [
    "LAUNCHER_PATH",
    "filesystem_isolation",
    "launcher_command",
    "launcher_spec",
    "limits_out_of_reach",
    "network_isolation",
]

LAUNCHER_PATH = Path(__file__).with_name("launcher.py")

_PROBE = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
if libc.unshare(CLONE_NEWNET) == 0:
    print("netns"); sys.exit(0)
first = ctypes.get_errno()
if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
    print("userns+netns"); sys.exit(0)
print("none %d %d" % (first, ctypes.get_errno()))
"""

_probe_lock = threading.Lock()
_probe_result: str | None = None


def network_isolation() -> str:
    """Which network isolation sandboxed runs get in this process.

    ``"netns"``, ``"userns+netns"``, or ``"none: <reason>"``. Probed once, in a throwaway
    child process, then cached; thread-safe.
    """
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            _probe_result = _probe_network_isolation()
        return _probe_result


def _probe_network_isolation() -> str:
    if not sys.platform.startswith("linux"):
        return f"none: network namespaces need Linux, this is {sys.platform}"
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"none: probe failed: {exc}"
    answer = done.stdout.strip()
    if done.returncode != 0 or not answer:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return f"none: probe failed: {tail[0]}"
    return _network_answer(answer)


def _network_answer(answer: str) -> str:
    """The probe's answer in words: a mode, or ``none 1 28`` (the two attempts' errnos)
    as ``"none: <why each failed>"``."""
    words = answer.split()
    if len(words) != 3 or words[0] != "none" or not all(word.isdigit() for word in words[1:]):
        return answer
    alone, with_user = int(words[1]), int(words[2])
    return (
        f"none: unshare(CLONE_NEWNET): {namespace_failure(CLONE_NEWNET, alone)}; "
        "unshare(CLONE_NEWUSER|CLONE_NEWNET): "
        f"{namespace_failure(CLONE_NEWUSER | CLONE_NEWNET, with_user)}"
    )


_FILESYSTEM_CHECK = r"""
import os, sys
with open("inside", "w") as handle:
    handle.write("ok")
if os.path.exists(sys.argv[1]):
    print("a host file stayed visible in the jail")
    sys.exit(0)
try:
    handle = open("/evoforge-probe-%d" % os.getpid(), "w")
except OSError:
    print("ok")
else:
    handle.close()
    print("the root filesystem stayed writable")
"""

_fs_probe_results: dict[str, str] = {}


def filesystem_isolation(network_mode: str = "auto") -> str:
    """Which filesystem isolation sandboxed runs get in this process.

    ``"mountns"``: each run gets private user, mount and pid namespaces and a jail: a new
    root holding only the system's programs, the interpreter and its packages (read-only),
    the directories the caller names (read-only) and the run's working directory (the one
    writable place); the command runs without any capability (so it cannot remount) as a
    child of the namespace's init (so every process it leaves dies with it) and sees only
    its own processes in ``/proc``. ``"none: <reason>"``: the OS does not allow it (needs
    root or unprivileged user namespaces); runs go ahead without it. ``network_mode`` is
    the network isolation combined with it (``"auto"``: the one :func:`network_isolation`
    reports). Probed once per mode by running the real launcher and jail; thread-safe.
    """
    if network_mode == "auto":
        network_mode = network_isolation()
    mode = network_mode if network_mode in ("netns", "userns+netns") else "none"
    with _probe_lock:
        if mode not in _fs_probe_results:
            _fs_probe_results[mode] = _probe_filesystem_isolation(mode)
        return _fs_probe_results[mode]


def _probe_filesystem_isolation(network_mode: str) -> str:
    if not sys.platform.startswith("linux"):
        return f"none: mount namespaces need Linux, this is {sys.platform}"
    try:
        # named after this process, so that a later start sweeps it if this one is killed
        base = Path(tempfile.mkdtemp(prefix=f"{PROBE_PREFIX}{os.getpid()}-"))
    except OSError as exc:
        return f"none: probe failed: {exc}"
    claim = claim_directory(base)
    workdir = base / "work"
    root = base / "root"
    status_read, status_write = os.pipe()
    try:
        workdir.mkdir()
        root.mkdir()
        hidden = base / "hidden"
        hidden.write_text("the jail must not show this")
        python = jail_python()
        spec = launcher_spec([], network_mode, "mountns", 1, jail=jail_spec(root, workdir, python))
        done = subprocess.run(
            launcher_command(
                status_write, spec, python, "-I", "-S", "-c", _FILESYSTEM_CHECK, str(hidden)
            ),
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
            pass_fds=(status_write,),
            start_new_session=True,
        )
        os.close(status_write)
        status_write = -1
        setup = os.read(status_read, 4096).decode("utf-8", "replace").strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"none: probe failed: {exc}"
    finally:
        os.close(status_read)
        if status_write >= 0:
            os.close(status_write)
        remove_tree(base)
        if claim is not None:
            os.close(claim)
    if setup:
        return f"none: {setup}"
    answer = done.stdout.strip()
    if done.returncode != 0 or answer != "ok":
        tail = (answer or done.stderr.strip()).splitlines()[-1:] or [f"exit {done.returncode}"]
        return f"none: probe failed: {tail[0]}"
    return "mountns"


def launcher_spec(
    rlimits: list[tuple[str, int, int]],
    network_mode: str,
    filesystem_mode: str,
    shm_mb: int,
    max_processes: int = 512,
    cgroups: list[str] | None = None,
    jail: dict[str, object] | None = None,
    pass_fds: tuple[int, ...] = (),
    keep_capabilities: bool = False,
    cpu: int | None = None,
) -> dict[str, object]:
    """The JSON spec the launcher reads (see :mod:`evoforge.evaluation.sandbox.launcher`)."""
    return {
        "limits": rlimits,
        "cgroups": cgroups or [],
        "max_processes": max_processes,
        "network": network_mode,
        "filesystem": filesystem_mode,
        "shm_kib": shm_mb * 1024,
        "uid": os.getuid(),
        "gid": os.getgid(),
        "jail": jail if filesystem_mode == "mountns" else None,
        "pass_fds": list(pass_fds),
        "keep_capabilities": keep_capabilities,
        "cpu": cpu,
    }


def launcher_command(status_fd: int, spec: dict[str, object], *argv: str) -> list[str]:
    """The command that starts the launcher with ``spec`` (it reports its setup on
    ``status_fd``) and has it run ``argv`` once the limits and namespaces are in place."""
    return [sys.executable, "-I", "-S", str(LAUNCHER_PATH), str(status_fd), json.dumps(spec), *argv]


#: Per limit a run sets: the setting that sizes it, its unit in bytes (1: a count), the
#: limit's name in words and the shell command that sets it.
_LIMIT_SETTINGS = {
    "RLIMIT_AS": ("evaluator.memory_mb", 1024 * 1024, "MiB", "address-space", "ulimit -v"),
    "RLIMIT_FSIZE": ("evaluator.max_file_size_mb", 1024 * 1024, "MiB", "file-size", "ulimit -f"),
    "RLIMIT_CPU": ("evaluator.cpu_time_s", 1, "s", "CPU-time", "ulimit -t"),
}
_RAISE_PROBE = r"""
import resource, sys
for name, soft, hard in (word.split(":") for word in sys.argv[1:]):
    try:
        resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))
    except (OSError, ValueError):
        print(name)
"""


def limits_out_of_reach(rlimits: list[tuple[str, int, int]]) -> list[str]:
    """The resource limits a run would set above this process's own hard limits where it
    cannot raise them (no ``CAP_SYS_RESOURCE``: tried in a throwaway child): one line each
    naming the setting, the process's limit and what to do. Every sandboxed command's
    setup would fail on them."""
    import resource

    above = []
    for name, soft, hard in rlimits:
        own = resource.getrlimit(getattr(resource, name))[1]
        if name in _LIMIT_SETTINGS and own != resource.RLIM_INFINITY and hard > own:
            above.append((name, soft, hard, own))
    refused = _refused_raises(above)
    lines = []
    for name, soft, _, own in above:
        if name not in refused:
            continue
        setting, unit_bytes, unit, words, command = _LIMIT_SETTINGS[name]
        most = own // unit_bytes - (1 if name == "RLIMIT_CPU" else 0)  # its hard is soft + 1
        lines.append(
            f"{setting} asks for {soft // unit_bytes} {unit}, above this process's own "
            f"{words} limit of {own // unit_bytes} {unit} ({command}), which it cannot "
            f"raise: set {setting} to at most {most} or raise the limit"
        )
    return lines


def _refused_raises(limits: list[tuple[str, int, int, int]]) -> set[str]:
    """Which of ``limits`` (name, soft, hard, own hard) a child of this process cannot set."""
    if not limits:
        return set()
    words = [f"{name}:{soft}:{hard}" for name, soft, hard, _ in limits]
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _RAISE_PROBE, *words],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {name for name, *_ in limits}
    return set(done.stdout.split())
