"""A template process: started once per side, it forks a fresh, sealed child per evaluation.

Starting an interpreter, importing numpy and setting up namespaces cost about 0.1 s per
process, most of a fast evaluation. A template pays that once: the launcher starts it in
the side's jail (user, mount, pid and network namespaces, the new root) *keeping* its
capabilities inside that user namespace, it imports what every evaluation needs (numpy,
the channel, the side's script, and for the evaluator side the problem's evaluator), warms
up what each child would otherwise redo (argparse's lazy imports), freezes its objects out
of the garbage collector (so collections in a child copy none of its pages), and then it
only forks. It never runs candidate code itself. Usage (by
:mod:`evoforge.evaluation.sandbox.templates` only)::

    python -I zygote.py CONTROL_FD SPEC_JSON

``SPEC_JSON``: ``script`` (the side's script, whose ``main(argv)`` runs an evaluation),
``preload_evaluator`` (a path, or null), ``spool`` (the host directory holding each
evaluation's working directory), ``workdir`` (where a child sees its own), ``shm_kib``.

For each request (a SEQPACKET message on ``CONTROL_FD``: JSON plus passed descriptors) the
template forks **C1**, which unshares fresh mount, pid, network and IPC namespaces, binds
its own working directory at ``workdir``, hides the spool (the other evaluations) under an
empty read-only tmpfs, mounts a fresh ``/dev/shm`` (``/tmp`` is read-only: ``TMPDIR`` is
the working directory), joins the evaluation's cgroups and forks **C2**, pid 1 of the new
pid namespace. C2 mounts a ``/proc`` that shows only the evaluation's processes and forks
**C3**, which sets the resource limits, the environment and the standard streams, closes
every other descriptor, drops every capability, reseeds the random generators, moves to
the request's ``cpu`` if it names one (last, so that both sides of an evaluation set up
in parallel) and calls the script's ``main``. C1 hands the parent a pidfd of C2 (killing
C2 kills the whole pid namespace) and, when C2 ends, C3's exit status and resource usage.

Request JSON: ``argv`` (with ``{name}`` placeholders for the passed descriptors, listed
in ``fd_names`` in the order they were passed), ``entry`` (the evaluation's directory
name in the spool), ``env``, ``limits`` (``[name, soft, hard]``). Descriptors: the reply
socket first, then stdout, stderr, then the named ones. Each run's cgroups are made by its
C1 under the roots in ``spec["cgroups"]`` (open directory descriptors, inherited); a
*spare* C1, forked ahead of the next request, joins them while the current run goes on.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import resource
import signal
import socket
import sys
from types import ModuleType
from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 24, 38, 1
MAX_FDS = 32


class Kernel:
    """The few system calls Python's standard library does not offer."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]

    def error(self) -> str:
        return os.strerror(self.ctypes.get_errno())

    def unshare(self, flags: int) -> None:
        if self.libc.unshare(flags) != 0:
            raise OSError("unshare: " + self.error())

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        def encode(text: str | None) -> bytes | None:
            return None if text is None else text.encode("utf-8", "surrogateescape")

        if self.libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)):
            raise OSError("mount %s: %s" % (target, self.error()))

    def drop_privileges(self) -> None:
        libc = self.libc
        for capability in range(64):
            failed = libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0
            if failed and self.ctypes.get_errno() != 22:
                raise OSError("cannot drop capability %d: %s" % (capability, self.error()))
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError("cannot set no_new_privs: " + self.error())
        header = (self.ctypes.c_uint32 * 2)(0x20080522, 0)
        if libc.capset(header, (self.ctypes.c_uint32 * 6)()) != 0:
            raise OSError("cannot clear capabilities: " + self.error())


class RunGroups:
    """The evaluation's own cgroups, made and joined by its C1 through the root directory
    descriptors the template was given (``spec["cgroups"]``), and removed at the end."""

    def __init__(self, roots: list[dict[str, Any]]) -> None:
        self.roots = roots
        self.made: list[tuple[dict[str, Any], str]] = []

    def join(self) -> None:
        import uuid

        for root in self.roots:
            name = "evoforge-%s" % uuid.uuid4().hex
            os.mkdir(name, dir_fd=root["fd"])
            self.made.append((root, name))
            for limit_file in root["limit_files"]:
                try:
                    write_at(root["fd"], "%s/%s" % (name, limit_file), str(root["limit"]))
                except OSError:
                    if limit_file == root["limit_files"][0]:
                        raise
            write_at(root["fd"], name + "/cgroup.procs", str(os.getpid()))

    def out_of_memory(self) -> bool:
        for root, name in self.made:
            if root["controller"] != "memory":
                continue
            for events in ("memory.oom_control", "memory.events"):
                try:
                    fd = os.open("%s/%s" % (name, events), os.O_RDONLY, dir_fd=root["fd"])
                except OSError:
                    continue
                try:
                    text = os.read(fd, 4096).decode()
                finally:
                    os.close(fd)
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                        return True
        return False

    def remove(self) -> None:
        """Leave the groups (back to the template's) and remove them."""
        import time

        for root, name in self.made:
            try:
                write_at(root["fd"], "cgroup.procs", str(os.getpid()))
            except OSError:
                pass
            for attempt in range(50):
                try:
                    os.rmdir(name, dir_fd=root["fd"])
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002 * (attempt + 1))


def write_at(directory_fd: int, path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY, dir_fd=directory_fd)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def fill(arg: str, fds: dict[str, int]) -> str:
    for name, fd in fds.items():
        arg = arg.replace("{" + name + "}", str(fd))
    return arg


def close_all_but(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def run_payload(
    kernel: Kernel, script: ModuleType, request: dict[str, Any], fds: dict[str, int]
) -> NoReturn:
    """C3: seal this process and run the evaluation's side."""
    status = 127
    try:
        os.chdir(request["workdir"])
        for name, soft, hard in request["limits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds["stdout"], 1)
        os.dup2(fds["stderr"], 2)
        named = {name: fd for name, fd in fds.items() if name not in ("stdout", "stderr")}
        close_all_but({0, 1, 2, *named.values()})
        os.environ.clear()
        os.environ.update(request["env"])
        kernel.drop_privileges()
        random = sys.modules["random"]
        random.seed()
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed()
        argv = [fill(arg, named) for arg in request["argv"]]
        if request["script"] in argv:  # drop the interpreter and its flags
            argv = argv[argv.index(request["script"]) :]
        if request.get("cpu") is not None:
            # last: until here both sides set up on whichever processors are free
            try:
                os.sched_setaffinity(0, {int(request["cpu"])})
            except OSError:
                pass
        script.main(argv)
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        try:
            os.write(2, ("evoforge template: %s: %s\n" % (type(exc).__name__, exc)).encode())
        except OSError:
            pass
    os._exit(status)


def run_init(report: int, run_fds: tuple[int, ...]) -> None:
    """C2, pid 1 of the evaluation's pid namespace: reap everything, report C3's status.

    Returns only in the forked C3. C2 closes its copies of the run's descriptors
    (``run_fds``): a pipe's other end then sees end-of-file as soon as C3 and its children
    have let go of it, not only once C2 has ended too.
    """
    command = os.fork()
    if command == 0:
        os.close(report)
        return
    for fd in run_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if pid == command:
            os.write(report, str(status).encode())
            os._exit(0)


def run_evaluation(
    kernel: Kernel,
    script: ModuleType,
    spec: dict[str, Any],
    request: dict[str, Any],
    fds: list[int],
    groups: RunGroups,
) -> NoReturn:
    """C1: make the evaluation's namespaces and mounts, start C2, report to the parent.

    ``groups`` are already joined (a spare C1 joined them before the request came).
    """
    reply = socket.socket(fileno=fds[0])
    try:
        stdout, stderr = fds[1], fds[2]
        named = dict(zip(request["fd_names"], fds[3:], strict=True))
        kernel.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC)
        kernel.mount(None, "/", None, MS_REC | MS_PRIVATE, None)
        entry = os.path.join(spec["spool"], os.path.basename(request["entry"]))
        kernel.mount(entry, spec["workdir"], None, MS_BIND | MS_REC, None)
        kernel.mount("tmpfs", spec["spool"], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
        small = "size=%dk,mode=1777" % spec["shm_kib"]
        kernel.mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, small)
        report_read, report_write = os.pipe()
        init = os.fork()
    except BaseException as exc:
        send(reply, {"error": "%s: %s" % (type(exc).__name__, exc)})
        groups.remove()
        os._exit(1)
    if init == 0:
        os.close(report_read)
        reply.close()
        try:
            kernel.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
            run_init(report_write, (stdout, stderr, *named.values()))
        except BaseException as exc:
            try:
                os.write(stderr, ("evoforge template: %s\n" % (exc,)).encode())
            except OSError:
                pass
            os._exit(127)
        request["workdir"] = spec["workdir"]
        request["script"] = spec["script"]
        run_payload(kernel, script, request, {"stdout": stdout, "stderr": stderr, **named})
    os.close(report_write)
    for fd in (stdout, stderr, *named.values()):
        os.close(fd)
    try:
        handle = os.pidfd_open(init)
        send(reply, {"started": True}, [handle])
        os.close(handle)
    except OSError as exc:
        os.kill(init, signal.SIGKILL)
        send(reply, {"error": "cannot hand over the evaluation: %s" % (exc,)})
    _, init_status, usage = os.wait4(init, 0)
    chunks = []
    while True:
        chunk = os.read(report_read, 64)
        if not chunk:
            break
        chunks.append(chunk)
    status = int(b"".join(chunks)) if chunks else init_status
    try:
        send(
            reply,
            {
                "status": status,
                "cpu": usage.ru_utime + usage.ru_stime,
                "max_rss_kib": usage.ru_maxrss,
                "out_of_memory": groups.out_of_memory(),
            },
        )
    except OSError:
        pass
    groups.remove()
    os._exit(0)


def start_spare(
    kernel: Kernel, script: ModuleType, spec: dict[str, Any]
) -> tuple[int, socket.socket]:
    """Fork a C1 that joins fresh cgroups now and waits for the next request.

    Joining a cgroup can take a scheduler-wide synchronisation (about 10 ms); a spare pays
    it while the previous evaluation runs. It says ``r`` when ready, then takes one
    request (JSON and descriptors) on its socket; on end-of-file it cleans up and leaves.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid > 0:
        theirs.close()
        return pid, ours
    ours.close()
    groups = RunGroups(spec["cgroups"])
    try:
        groups.join()
        theirs.send(b"r")
        message, fds, _, _ = socket.recv_fds(theirs, 1 << 20, MAX_FDS)
    except BaseException:
        groups.remove()
        os._exit(0)
    if not message:
        groups.remove()
        os._exit(0)
    theirs.close()
    run_evaluation(kernel, script, spec, json.loads(message), fds, groups)


def dispatch(
    kernel: Kernel,
    script: ModuleType,
    spec: dict[str, Any],
    control: socket.socket,
    spare: tuple[int, socket.socket] | None,
    message: bytes,
    request: dict[str, Any],
    fds: list[int],
) -> tuple[int, socket.socket] | None:
    """Hand a request to the spare C1 if it is ready, else to a fresh one; keep a spare."""
    handed = False
    if spare is not None:
        import select

        _, channel = spare
        ready, _, _ = select.select([channel], [], [], 0)
        if ready:
            try:
                if channel.recv(1) == b"r":
                    socket.send_fds(channel, [message], fds)
                    handed = True
            except OSError:
                pass
            channel.close()
            spare = None
    if not handed:
        child = os.fork()
        if child == 0:
            control.close()
            groups = RunGroups(spec["cgroups"])
            try:
                groups.join()
            except BaseException as exc:
                send(socket.socket(fileno=fds[0]), {"error": "cannot join cgroups: %s" % exc})
                groups.remove()
                os._exit(1)
            run_evaluation(kernel, script, spec, request, fds, groups)
    for fd in fds:
        os.close(fd)
    if spare is None:
        spare = start_spare(kernel, script, spec)
    return spare


def warm_up() -> None:
    """Do once here what every child's first steps would otherwise do on their own.

    A side's ``main`` parses its arguments: the first parse in a process imports the
    modules argparse loads lazily and compiles its patterns (several milliseconds in each
    child). A throwaway parse in the template leaves all of that behind for the children.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="warm-up", description="warm-up")
    parser.add_argument("--value", type=float, default=0.0)
    parser.add_argument("--flag", action="store_true")
    parser.add_argument("--number", type=int)
    parser.parse_args(["--value", "1.5", "--flag", "--number", "2"])


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[1]))
    spec = json.loads(argv[2])
    kernel = Kernel()
    here = os.path.dirname(os.path.abspath(__file__))
    scripts = os.path.dirname(here)
    load(os.path.join(scripts, "channel.py"), "_evoforge_channel")
    script = load(spec["script"], "_evoforge_side")
    import random  # noqa: F401 - each child reseeds it

    try:
        import numpy
        import numpy.random  # noqa: F401 - imported lazily otherwise, in every child
    except ImportError:
        pass
    preload = spec.get("preload_evaluator")
    if preload and hasattr(script, "preload_evaluator"):
        try:
            script.preload_evaluator(preload)
        except BaseException:
            pass
    warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    gc.freeze()  # what the template made is never collected in a child: no copies of it
    spare: tuple[int, socket.socket] | None = start_spare(kernel, script, spec)
    send(control, {"ready": True})
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, MAX_FDS)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the parent is gone: so are we
        try:
            request = json.loads(message)
        except ValueError:
            for fd in fds:
                os.close(fd)
            continue
        spare = dispatch(kernel, script, spec, control, spare, message, request, fds)
        while True:  # reap the C1s that have finished
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


if __name__ == "__main__":
    main(sys.argv)
