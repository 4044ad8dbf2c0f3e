"""Hostile candidates through the real sandbox and engine: each tries one thing.

For every case the run goes on (a well-behaved candidate scores right after), the hostile
one is recorded with the right status and a reason, none of its processes is left, the
problem, the run's problem copy, the user's home and the run directory are unchanged, and
the secret in the parent's environment appears nowhere the candidate could write.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path

import pytest

from evoforge.evaluation.sandbox import filesystem_isolation, pids_cgroup_root
from evoforge.program import EvalStatus, Program

from .conftest import SECRET_VARIABLE, HostileRun, describe_processes, leftover_processes

ISOLATED = filesystem_isolation() == "mountns"
needs_filesystem_isolation = pytest.mark.skipif(
    not ISOLATED, reason=f"no filesystem isolation here ({filesystem_isolation()})"
)
# A fork bomb is only safe to run where something caps the number of processes: the
# run's pids cgroup (root) or RLIMIT_NPROC in the run's user namespace (other users).
needs_process_cap = pytest.mark.skipif(
    pids_cgroup_root() is None and (os.getuid() == 0 or not ISOLATED),
    reason="nothing here caps a candidate's process count; a fork bomb would hit the host",
)

CASES: list[tuple[str, str, EvalStatus, str]] = [
    (
        "infinite_loop",
        """
        def run():
            while True:
                pass
        """,
        EvalStatus.TIMEOUT,
        "exceeded 2s wall-clock",
    ),
    (
        "sleep_ignoring_sigterm",
        """
        import signal, time
        def run():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            time.sleep(3600)
        """,
        EvalStatus.TIMEOUT,
        "exceeded 2s wall-clock",
    ),
    (
        "unbounded_memory",
        """
        def run():
            hog = []
            while True:
                hog.append(bytearray(10**7))
        """,
        EvalStatus.FAILED,
        "memory limit of 256 MiB",
    ),
    (
        "gigabytes_of_output",
        """
        import sys
        def run():
            chunk = "x" * (1 << 20)
            for _ in range(4096):  # 4 GiB, if nothing stopped it
                sys.stdout.write(chunk)
            return {"combined_score": 1.0}
        """,
        EvalStatus.FAILED,
        "file-size limit of 4 MiB",
    ),
    (
        "hard_exit",
        """
        import os
        def run():
            os._exit(0)
        """,
        EvalStatus.FAILED,
        "exited with status 0 before reporting a result",
    ),
    (
        "sigkill_to_its_parent",
        """
        import os, signal, time
        def run():
            if os.fork() == 0:  # a child kills its parent: the process running evaluate
                os.kill(os.getppid(), signal.SIGKILL)
                os._exit(0)
            time.sleep(10)
        """,
        EvalStatus.FAILED,
        "killed by SIGKILL",
    ),
    (
        "deep_recursion",
        """
        def run():
            def down(n):
                return down(n + 1) + 1
            return down(0)
        """,
        EvalStatus.FAILED,
        "RecursionError: maximum recursion depth exceeded",
    ),
    (
        "ctypes_crash",
        """
        import ctypes
        def run():
            return ctypes.string_at(0)
        """,
        EvalStatus.FAILED,
        "SIGSEGV",
    ),
    (
        "nan_score",
        """
        def run():
            return {"combined_score": float("nan")}
        """,
        EvalStatus.INVALID,
        "metric 'combined_score' is not finite",
    ),
    (
        "infinite_score",
        """
        def run():
            return {"combined_score": float("inf")}
        """,
        EvalStatus.INVALID,
        "not finite",
    ),
    (
        "huge_score",
        """
        def run():
            return {"combined_score": 10**400}
        """,
        EvalStatus.INVALID,
        "metric 'combined_score'",
    ),
    (
        "string_score",
        """
        def run():
            return {"combined_score": "the best"}
        """,
        EvalStatus.INVALID,
        "metric 'combined_score' is not a number: 'the best'",
    ),
    (
        "not_a_dict",
        """
        def run():
            return [1.0, 2.0]
        """,
        EvalStatus.FAILED,
        "must return a dict",
    ),
    (
        "hostile_str",
        """
        class Evil(float):
            def __repr__(self):
                raise RuntimeError("no")
            __str__ = __repr__
        def run():
            return {"combined_score": 1.0, Evil(2.0): Evil(3.0)}
        """,
        EvalStatus.OK,
        "",
    ),
]


def _check_aftermath(hostile_run: HostileRun, program: Program, before: dict[str, str]) -> None:
    left = leftover_processes(hostile_run)
    assert left == [], f"processes of the candidate are alive: {describe_processes(left)}"
    assert hostile_run.outside_snapshot() == before, "something outside the work dir changed"
    hostile_run.secret_is_nowhere()
    assert hostile_run.secret not in program.reason
    assert all(hostile_run.secret not in text for text in program.artifacts.values())
    follow_up = hostile_run.submit(
        hostile_run.candidate(f"def run():\n    return {{'combined_score': {program.seq}.5}}")
    )
    assert follow_up.status is EvalStatus.OK, f"the run did not continue: {follow_up.reason}"


@pytest.mark.parametrize(
    ("block", "status", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hostile_candidate(
    hostile_run: HostileRun, block: str, status: EvalStatus, reason: str
) -> None:
    before = hostile_run.outside_snapshot()
    program = hostile_run.submit(hostile_run.candidate(block))
    assert program.status is status, program.reason
    assert reason in program.reason
    if status is not EvalStatus.OK:
        assert program.reason, "a failed candidate always gets a reason"
    _check_aftermath(hostile_run, program, before)


@needs_process_cap
def test_fork_bomb(hostile_run: HostileRun) -> None:
    before = hostile_run.outside_snapshot()
    program = hostile_run.submit(
        hostile_run.candidate(
            """
            import os
            def run():
                while True:
                    try:
                        os.fork()
                    except OSError:
                        pass
            """
        )
    )
    # capped at the evaluation's process limit, the copies either spin until the wall-clock
    # limit or, each holding its own pages, reach the memory limit of all of them together
    if program.status is EvalStatus.TIMEOUT:
        assert "exceeded 2s wall-clock" in program.reason
    else:
        assert program.status is EvalStatus.FAILED, program.reason
        assert "memory limit of 256 MiB" in program.reason, program.reason
    _check_aftermath(hostile_run, program, before)


def test_detached_grandchild_is_gone(hostile_run: HostileRun) -> None:
    before = hostile_run.outside_snapshot()
    program = hostile_run.submit(
        hostile_run.candidate(
            """
            import os, time
            def run():
                read_end, write_end = os.pipe()
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:  # double fork: a daemon outside the session
                        os.write(write_end, b"up")
                        time.sleep(3600)
                    os._exit(0)
                os.read(read_end, 2)
                return {"combined_score": 0.25}
            """
        )
    )
    assert program.status is EvalStatus.OK, program.reason
    _check_aftermath(hostile_run, program, before)


@needs_filesystem_isolation
def test_writing_outside_the_work_dir_is_prevented(hostile_run: HostileRun) -> None:
    targets = [
        hostile_run.run_dir / "planted.txt",
        hostile_run.run_dir / "problem" / "evaluator.py",
        hostile_run.run_dir / "run.sqlite",
        hostile_run.problem_dir / "evaluator.py",
        hostile_run.problem_dir / "planted.txt",
        hostile_run.home / "notes.txt",
        hostile_run.home / "planted.txt",
        os.path.expanduser("~/evoforge-adversarial-planted.txt"),
        "/tmp/evoforge-adversarial-planted.txt",
        "/dev/shm/evoforge-adversarial-planted.txt",
    ]
    before = hostile_run.outside_snapshot()
    try:
        program = hostile_run.submit(
            hostile_run.candidate(
                f"""
                import os
                TARGETS = {[str(t) for t in targets]!r}
                def run():
                    written = 0
                    for target in TARGETS:
                        try:
                            with open(target, "a") as handle:
                                handle.write("pwned")
                            written += 1
                        except OSError:
                            pass
                        try:  # and the other way: replace it
                            os.replace(os.path.basename(target) + ".x", target)
                        except OSError:
                            pass
                    return {{"combined_score": float(written)}}
                """
            )
        )
        assert program.status is EvalStatus.OK, program.reason
        # Writes that "work" land in the jail's private tmpfs (/tmp, /dev/shm, and the
        # directories leading to what the jail shows), gone with it: the host sees none.
        for target in targets:
            if str(target).startswith(str(hostile_run.problem_dir)):
                continue  # compared by the snapshot below
            if Path(target).exists():
                assert b"pwned" not in Path(target).read_bytes(), target
        for target in targets[-3:]:
            assert not os.path.exists(target)
        _check_aftermath(hostile_run, program, before)
    finally:
        for target in targets[-3:]:
            if os.path.exists(target):
                os.unlink(target)


def test_filling_the_disk_leaves_nothing_behind(hostile_run: HostileRun) -> None:
    before = hostile_run.outside_snapshot()
    program = hostile_run.submit(
        hostile_run.candidate(
            """
            import os
            def run():
                print("workdir=" + os.getcwd())
                block = b"x" * (1 << 20)
                written = 0
                for i in range(100_000):  # ~100 GB if nothing stopped it
                    try:
                        with open(f"fill-{i}", "wb") as handle:
                            handle.write(block)
                        written += 1
                    except OSError:
                        break
                return {"combined_score": float(written)}
            """
        )
    )
    assert program.status in (EvalStatus.TIMEOUT, EvalStatus.OK, EvalStatus.FAILED)
    assert program.reason or program.status is EvalStatus.OK
    workdirs = re.findall(r"workdir=(\S+)", program.artifacts.get("stdout", ""))
    for workdir in workdirs:
        assert not os.path.exists(workdir), "the work dir outlived the evaluation"
    _check_aftermath(hostile_run, program, before)


def test_environment_secrets_do_not_leak(hostile_run: HostileRun) -> None:
    before = hostile_run.outside_snapshot()
    program = hostile_run.submit(
        hostile_run.candidate(
            f"""
            import os, sys
            def run():
                found = [f"{{k}}={{v}}" for k, v in os.environ.items()]
                for entry in os.listdir("/proc"):
                    for name in ("environ", "cmdline"):
                        try:
                            with open(f"/proc/{{entry}}/{{name}}", "rb") as handle:
                                found.append(handle.read().decode("utf-8", "replace"))
                        except OSError:
                            pass
                text = "\\n".join(found)
                leaked = "sk-adversarial" in text
                print(text)
                print(text, file=sys.stderr)
                with open("loot.txt", "w") as handle:
                    handle.write(text)
                for target in ({str(hostile_run.run_dir / "loot.txt")!r}, "/tmp/loot.txt"):
                    try:
                        with open(target, "w") as handle:
                            handle.write(text)
                    except OSError:
                        pass
                return {{"combined_score": float(leaked), "{SECRET_VARIABLE}": text[-200:]}}
            """
        )
    )
    try:
        # a text metric is not fitness: it is kept (and checked below) as an artifact
        assert program.status is EvalStatus.OK, program.reason
        assert f"metric:{SECRET_VARIABLE}" in program.artifacts
        _check_aftermath(hostile_run, program, before)
    finally:
        if os.path.exists("/tmp/loot.txt"):
            os.unlink("/tmp/loot.txt")


def test_no_network_connection(hostile_run: HostileRun) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    before = hostile_run.outside_snapshot()
    try:
        program = hostile_run.submit(
            hostile_run.candidate(
                f"""
                import socket
                def run():
                    connected = 0
                    for address in (("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)):
                        try:
                            socket.create_connection(address, timeout=0.5).close()
                            connected += 1
                        except OSError:
                            pass
                    return {{"combined_score": float(connected)}}
                """
            )
        )
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
    assert program.status is EvalStatus.OK, program.reason
    from evoforge.evaluation.sandbox import network_isolation

    if not network_isolation().startswith("none"):
        assert program.score == 0.0
        assert accepted == []
    _check_aftermath(hostile_run, program, before)


def test_signalling_evoforge_is_impossible(hostile_run: HostileRun) -> None:
    before = hostile_run.outside_snapshot()
    program = hostile_run.submit(
        hostile_run.candidate(
            f"""
            import os, signal
            def run():
                hits = 0
                for pid in ({os.getpid()}, {os.getppid()}, 1, os.getppid()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                        hits += pid == {os.getpid()}
                    except OSError:
                        pass
                return {{"combined_score": float(hits)}}
            """
        )
    )
    # Still here, so evoforge was not killed; the candidate got no hit on it.
    assert program.status in (EvalStatus.OK, EvalStatus.FAILED), program.reason
    if program.status is EvalStatus.OK:
        assert program.score == 0.0
    _check_aftermath(hostile_run, program, before)


def test_a_candidate_holds_and_can_gain_no_capability(hostile_run: HostileRun) -> None:
    """Every capability set of the candidate's process is empty, no_new_privs is set, and
    so it is in a program the candidate executes (the bounding set is what an ``execve``
    could grant: empty)."""
    before = hostile_run.outside_snapshot()
    program = hostile_run.submit(
        hostile_run.candidate(
            """
            import subprocess, sys
            FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
            def status(text):
                found = {}
                for line in text.splitlines():
                    key, _, value = line.partition(":")
                    if key in FIELDS:
                        found[key] = int(value.strip(), 16)
                return found
            def sealed(found):
                caps = [found.get(key) for key in FIELDS[:-1]]
                return caps == [0] * 5 and found.get("NoNewPrivs") == 1
            def run():
                with open("/proc/self/status") as handle:
                    own = status(handle.read())
                executed = subprocess.run(
                    [sys.executable, "-c", "print(open('/proc/self/status').read())"],
                    capture_output=True, text=True, timeout=20,
                )
                child = status(executed.stdout)
                print("own", own, "child", child)
                return {"combined_score": float(sealed(own)) + float(sealed(child))}
            """
        )
    )
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == 2.0, program.artifacts
    _check_aftermath(hostile_run, program, before)


@needs_filesystem_isolation
def test_the_kernels_keyrings_are_out_of_reach(hostile_run: HostileRun) -> None:
    """Keyrings are behind no namespace: the user keyring is shared by every process of
    the uid, a login's session keyring by its session. A candidate that could reach them
    would read keys kept there, change the user's, or keep a counter from one evaluation
    to the next; every keyring call fails with EPERM instead, in the candidate and in a
    program it executes."""
    before = hostile_run.outside_snapshot()
    probe = """
            import ctypes, errno
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            def attempts():
                calls = (
                    (250, 0, -3, 0),  # keyctl(KEYCTL_GET_KEYRING_ID, session keyring)
                    (250, 0, -4, 0),  # keyctl(KEYCTL_GET_KEYRING_ID, user keyring)
                    (248, b"user", b"evoforge-redteam", b"loot", 4, -4),  # add_key
                    (249, b"user", b"evoforge-redteam", None, 0),  # request_key
                )
                refused = 0
                for call in calls:
                    if libc.syscall(*call) == -1 and ctypes.get_errno() == errno.EPERM:
                        refused += 1
                return refused
    """
    program = hostile_run.submit(
        hostile_run.candidate(
            probe
            + """
            import subprocess, sys, textwrap
            CHILD = textwrap.dedent('''
                import ctypes, errno
                libc = ctypes.CDLL(None, use_errno=True)
                libc.syscall.restype = ctypes.c_long
                failed = libc.syscall(250, 0, -4, 0) == -1 and ctypes.get_errno() == errno.EPERM
                print(int(failed))
            ''')
            def run():
                own = attempts()
                executed = subprocess.run(
                    [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=20
                )
                return {"combined_score": own + int(executed.stdout.strip() or 0)}
            """
        )
    )
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == 5.0, program.artifacts  # four calls refused here, one there
    with open("/proc/keys") as keys:
        assert "evoforge-redteam" not in keys.read()
    _check_aftermath(hostile_run, program, before)
