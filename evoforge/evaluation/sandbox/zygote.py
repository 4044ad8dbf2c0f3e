"""A template process: started once per side, it forks a fresh, sealed child per evaluation.

Starting an interpreter, importing numpy and setting up namespaces cost about 0.1 s per
process, most of a fast evaluation. A template pays that once: the launcher starts it in
the side's jail (user, mount, pid and network namespaces, the new root) *keeping* its
capabilities inside that user namespace (it only empties its capability bounding set, which
limits what an ``execve`` grants: it never executes anything, and every child inherits the
empty set), it imports what every evaluation needs (numpy, the channel, the side's script,
and for the evaluator side the problem's evaluator), warms up what each child would
otherwise redo (argparse's lazy imports), freezes its objects out of the garbage collector
(so collections in a child copy none of its pages), and then it only forks (with libc's
``fork``, skipping Python's after-fork hooks, when it runs a single thread:
:meth:`Kernel.fork`). It tells its parent whether it runs more than one thread once ready:
an evaluator whose import started threads (a library's pool, which no forked child has)
makes the parent start the template again without it. It never runs candidate code itself. Usage (by
:mod:`evoforge.evaluation.sandbox.templates` only)::

    python -I zygote.py CONTROL_FD SPEC_JSON

``SPEC_JSON``: ``script`` (the side's script, whose ``main(argv)`` runs an evaluation),
``preload_evaluator`` (a path, or null), ``spool`` (the template's own working directory,
hidden from every evaluation), ``workdir`` (where a child sees its own), ``work_kib`` (its
size), ``shm_kib``, ``cgroups`` (per group: the root's descriptor, the limits to write, the
file counting OOM kills; one group per hierarchy, so one for both controllers on v2) and
``group_prefix`` (how each evaluation's groups are named).

Each evaluation is a **C1** the template forks, usually ahead of its request (a *spare*,
forked while the previous evaluation runs; as many spares as the parent has runs in flight,
so that concurrent requests do not queue behind one spare's preparation). C1 is born pid 1
(init) of a fresh pid namespace (the template unshares one before each fork). It joins the
evaluation's cgroups, unshares fresh mount, network and IPC namespaces, mounts a fresh
``/dev/shm`` and a fresh, empty working directory at ``workdir`` (both tmpfs: what a run
writes lives in memory, is charged to its memory cgroup and goes with its mount namespace,
so nothing is left to remove; ``/tmp`` is read-only and ``TMPDIR`` is the working
directory), hides the spool under an empty read-only tmpfs, mounts a ``/proc`` that shows
only the evaluation's processes and forks **C2**, which closes every other descriptor,
starts a session of its own (so that, as a one-shot run, it is scheduled apart from the
template's other runs where the kernel groups a session's processes), drops every
capability and waits. All of that is done before the request comes. On the request (a
SEQPACKET message on ``CONTROL_FD``: JSON plus passed descriptors, handed by the template to
the spare) C1 passes the request and its descriptors to C2, which writes the evaluation's
files into its working directory, sets the resource limits, the environment and the
standard streams (and has ``tempfile`` choose its directory again, from the run's
``TMPDIR``), reseeds the random generators, moves to the request's ``cpu`` if it names
one (last, so that both sides of an evaluation set up in parallel) and calls the script's
``main``. C1 hands the parent a pidfd of C2 (the parent's deadline kills C2) and, as soon as
it has reaped C2 and then killed and reaped whatever C2 left running, C2's exit status and
the resource usage of everything it reaped (C2 and the run's orphans, which an init
inherits); then it removes the cgroups. An init drops every signal without a handler that
comes from inside its namespace, and C1 has none, so the run cannot end it early. That is
one fork of the template and its page faults fewer per evaluation than an init of its own
below C1 (``benchmarks/results/driver/fork-fewer-ab``). When no spare is ready in time, a
C1 forked for the request does the same steps in one go. A spare C1 is named
``evoforge-spare`` (``/proc/PID/comm``) until it takes a request, ``evoforge-run`` from then
on: the processes below a spare have never run evaluation code.

Request JSON: ``argv`` (with ``{name}`` placeholders for the passed descriptors, listed in
``fd_names`` in the order they were passed), ``files`` (``[name, size]`` pairs: the
evaluation's files, relative paths checked by the parent, whose contents lie back to back in
the files descriptor), ``env``, ``limits`` (``[name, soft, hard]``), ``cpu``, ``in_flight``
(the parent's runs of this template under way, this one included). Descriptors: the reply
socket first, then stdout, stderr, the files, then the named ones. Each run's cgroups are
made by its C1 under the roots in ``spec["cgroups"]`` (open directory descriptors,
inherited).
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
MS_MOVE, MS_REC, MS_PRIVATE = 8192, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, PR_SET_NAME = 24, 38, 1, 15
SPARE_NAME, RUN_NAME = b"evoforge-spare", b"evoforge-run"  # a C1's name before/after
MAX_FDS = 32
MAX_DESCRIPTOR = (1 << 31) - 1  # the highest descriptor number there can be
WORK_INODES = 1 << 17  # files and directories a run's working directory may hold
SPARE_WAIT_S = 2.0  # how long a request waits for a spare still preparing
MAX_SPARES = 8  # evaluations prepared ahead at most, however many runs are in flight


class Kernel:
    """The few system calls Python's standard library does not offer."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        self.close_range: Any = getattr(self.libc, "close_range", None)  # glibc 2.34
        if self.close_range is not None:
            self.close_range.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int]
        self.own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        # libc's fork through PyDLL, which keeps the interpreter lock across the call:
        # the child comes back holding it, as the parent does, with nothing to re-acquire
        self.libc_fork = ctypes.PyDLL(None, use_errno=True).fork
        self.libc_fork.restype = ctypes.c_int
        self.libc_fork.argtypes = []
        self.bare_forks = False  # see fork()
        self.keyring_filter: Any = None  # syscall_filter.KeyringFilter, set by main()
        # SIGINT's handler for a command: the template's own at its start (main() then
        # sets the template's to the default, which its C1s keep); set here once, since
        # signal.signal() maps a Python handler it replaces to an enum through a raised
        # ValueError, which costs a child dozens of page copies
        self.command_interrupt: Any = signal.default_int_handler
        # capset's arguments (version 3, this process; every set empty), made here once:
        # a ctypes array type made anew in each child costs it dozens of page copies
        self.capability_header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        self.no_capabilities = (ctypes.c_uint32 * 6)()

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

    def fork(self) -> int:
        """``os.fork()``; with :attr:`bare_forks`, libc's ``fork`` without Python's
        after-fork work in the child.

        ``os.fork()`` re-initialises the interpreter's locks and runs every hook registered
        with ``os.register_at_fork`` (``threading``'s, which numpy imports, rebuilds its
        table of threads; ``random``'s reseeds): Python code that, run in a fresh child of
        a large process, copies about 150 of its pages (page faults at about 4 us each),
        twice per evaluation. All of it exists to repair state other threads left behind,
        so it is only skipped in a process that has no other thread (:attr:`bare_forks`,
        set by :func:`main` after checking); what an evaluation needs anew (``random``'s
        and numpy's seeds) its C2 sets itself.
        """
        if not self.bare_forks:
            return os.fork()
        pid = int(self.libc_fork())
        if pid < 0:
            raise OSError(self.ctypes.get_errno(), "fork: " + self.error())
        return pid

    def fork_into_new_pid_namespace(self) -> int:
        """A fork (:meth:`fork`), the child as pid 1 (init) of a pid namespace of its own.

        ``unshare(CLONE_NEWPID)`` makes a fresh namespace for this process's next children
        only once: afterwards its namespace for children is no longer its own, and another
        unshare fails. Re-entering its own namespace first (``setns`` on the descriptor kept
        in :attr:`own_pid_namespace`) makes every fork start a fresh one.
        """
        if self.libc.setns(self.own_pid_namespace, CLONE_NEWPID) != 0:
            raise OSError("setns: " + self.error())
        self.unshare(CLONE_NEWPID)
        return self.fork()

    def set_name(self, name: bytes) -> None:
        """This process's name in ``/proc/PID/comm`` (at most 15 bytes; best effort)."""
        self.libc.prctl(PR_SET_NAME, self.ctypes.c_char_p(name[:15]), 0, 0, 0)

    def drop_bounding_set(self) -> None:
        """Empty this process's capability bounding set, which its children inherit.

        The bounding set only limits what an ``execve`` can grant; the capabilities this
        process holds (and its C1s use: namespaces, mounts, cgroups) stay. The template
        never executes anything, so it empties the set once, at its start, for every
        child it will fork, instead of each C2 dropping 64 capabilities one call at a time.
        """
        libc = self.libc
        for capability in range(64):
            failed = libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0
            if failed and self.ctypes.get_errno() != 22:  # EINVAL: past the last one
                raise OSError("cannot drop capability %d: %s" % (capability, self.error()))

    def drop_privileges(self) -> None:
        """Give up every capability for good: none held, none gained by an ``execve``
        (no_new_privs; the bounding set, inherited from the template, is empty); and the
        kernel's keyrings (:mod:`syscall_filter`), which no namespace separates."""
        libc = self.libc
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError("cannot set no_new_privs: " + self.error())
        if libc.capset(self.capability_header, self.no_capabilities) != 0:
            raise OSError("cannot clear capabilities: " + self.error())
        if self.keyring_filter is not None:
            self.keyring_filter.install(libc)  # keyrings are behind no namespace


class RunGroups:
    """The evaluation's own cgroups, made and joined by its C1 through the root directory
    descriptors the template was given (``spec["cgroups"]``), each named ``prefix`` (the
    template's, so that its owner can remove what a killed C1 left) and a random part, and
    removed at the end."""

    def __init__(self, roots: list[dict[str, Any]], prefix: str) -> None:
        self.roots = roots
        self.prefix = prefix
        self.made: list[tuple[dict[str, Any], str]] = []

    def join(self) -> None:
        for root in self.roots:
            name = self.prefix + os.urandom(16).hex()
            os.mkdir(name, dir_fd=root["fd"])
            self.made.append((root, name))
            for limit_file, value, required in root["limits"]:
                try:
                    write_at(root["fd"], "%s/%s" % (name, limit_file), value)
                except OSError:
                    if required:
                        raise
            write_at(root["fd"], name + "/cgroup.procs", str(os.getpid()))

    def out_of_memory(self) -> bool:
        for root, name in self.made:
            events = root["oom_events"]
            if events is None:
                continue
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


def write_files(source: int, files: list[list[Any]]) -> None:
    """Create ``files`` (``[name, size]`` pairs, relative paths) in the current directory,
    their contents read back to back from the descriptor ``source``."""
    offset = 0
    for name, size in files:
        parent = os.path.dirname(name)
        if parent:
            os.makedirs(parent, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        target = os.open(name, flags, 0o644)
        try:
            end = offset + size
            while offset < end:
                chunk = os.pread(source, min(end - offset, 1 << 20), offset)
                if not chunk:
                    raise OSError("the files of the evaluation ended early")
                offset += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(target, view) :]
        finally:
            os.close(target)


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


def set_environment(env: dict[str, str]) -> None:
    """Make ``os.environ`` (and the process's environment) exactly ``env``, changing only
    what differs from the template's: a child copies a page of the template's for every
    object it touches, so rebuilding all of it costs more than comparing."""
    for key in [key for key in os.environ if key not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def close_all_but(kernel: Kernel, keep: set[int]) -> None:
    """Close every descriptor of this process but ``keep``: with ``close_range`` (Linux
    5.9) between the kept ones, else one by one from the listing of ``/proc/self/fd``."""
    if kernel.close_range is not None:
        low = 0
        for high in [*sorted(keep), MAX_DESCRIPTOR]:
            if high > low and kernel.close_range(low, high - 1, 0) != 0:
                break
            low = high + 1
        else:
            return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def run_payload(
    kernel: Kernel, script: ModuleType, requests: socket.socket, workdir: str, script_path: str
) -> NoReturn:
    """C2: seal this process, wait for the evaluation's request, then run its side.

    Everything that does not depend on the request is done before it comes: every other
    descriptor closed, every capability dropped. The request (JSON: ``argv``, ``env``,
    ``limits``, ``files``, ``fd_names``, ``cpu``) arrives on ``requests`` with stdout,
    stderr, the files' contents and the named descriptors; end-of-file instead means the
    evaluation was never asked for.
    """
    status = 127
    try:
        close_all_but(kernel, {0, 1, 2, requests.fileno()})
        # its own session, as a one-shot run's: where the kernel groups the scheduling of
        # a session's processes (autogroup), runs forked from one template would otherwise
        # share one session's CPU share, and two evaluations in flight run as fast as one
        os.setsid()
        kernel.drop_privileges()
        message, fds, _, _ = socket.recv_fds(requests, 1 << 20, MAX_FDS)
        if not message:
            os._exit(0)
        requests.close()
        request = json.loads(message)
        stdout, stderr, contents = fds[0], fds[1], fds[2]
        named = dict(zip(request["fd_names"], fds[3:], strict=True))
        os.chdir(workdir)
        write_files(contents, request["files"])
        os.close(contents)
        for name, soft, hard in request["limits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        for fd in {null, stdout, stderr}:
            if fd > 2:
                os.close(fd)
        set_environment(request["env"])
        tempfile: Any = sys.modules.get("tempfile")
        if tempfile is not None:
            # chosen once by whatever the template imported (matplotlib, torch: its spool,
            # hidden and read-only here): chosen again, from this run's TMPDIR
            tempfile.tempdir = None
        random = sys.modules["random"]
        random.seed()
        numpy = sys.modules.get("numpy")
        if numpy is not None:  # a 32-bit seed: cheaper than seed()'s full-entropy one
            numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
        argv = [fill(arg, named) for arg in request["argv"]]
        if script_path in argv:  # drop the interpreter and its flags
            argv = argv[argv.index(script_path) :]
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


def mounts_below(directory: str) -> list[str]:
    """The mount points directly below ``directory`` (none below another of them)."""
    try:
        with open("/proc/self/mountinfo", "rb") as handle:
            points = sorted({unescape(line.split()[4]) for line in handle})
    except OSError:
        return []
    below: list[str] = []
    for point in points:
        if point.startswith(directory + "/") and not any(
            point.startswith(top + "/") for top in below
        ):
            below.append(point)
    return below


def unescape(field: bytes) -> str:
    """A path as /proc/self/mountinfo writes it (space, tab, newline, backslash octal)."""
    for code in (b"\\040", b"\\011", b"\\012", b"\\134"):
        field = field.replace(code, bytes([int(code[1:], 8)]))
    return field.decode("utf-8", "surrogateescape")


def fresh_shm(kernel: Kernel, options: str, below: list[str], holding: str) -> None:
    """Mount a fresh, empty tmpfs at ``/dev/shm``, keeping the mounts ``below`` it (a run
    directory or ``TMPDIR`` under ``/dev/shm`` is bound there in the jail: hidden, the
    evaluator would miss its problem's files and the spool could not be hidden) where they
    are: they are moved onto the new tmpfs, made at ``holding`` (an empty mount point
    mounted again afterwards) and then moved over the old one."""
    flags = MS_NOSUID | MS_NODEV
    if not below:
        kernel.mount("tmpfs", "/dev/shm", "tmpfs", flags, options)
        return
    kernel.mount("tmpfs", holding, "tmpfs", flags, options)
    for point in below:
        target = holding + point[len("/dev/shm") :]
        os.makedirs(target, exist_ok=True)
        kernel.mount(point, target, None, MS_MOVE, None)
    kernel.mount(holding, "/dev/shm", None, MS_MOVE, None)


class Prepared:
    """A C1 made ready ahead of its request: pid 1 of the evaluation's pid namespace, its
    cgroups joined, its other namespaces and mounts made (the working directory among
    them), C2 forked, sealed and waiting.

    :meth:`run` takes the request; :meth:`abandon` ends it unused.
    """

    def __init__(self, kernel: Kernel, script: ModuleType, spec: dict[str, Any]) -> None:
        self.spec = spec
        os.close(kernel.own_pid_namespace)  # the template's: nothing here re-enters it
        # SIGINT is at its default here (main() set it): the run's processes may signal
        # their init, and an init drops every signal that has no handler, so none of them
        # can end this process and leave the run unreported
        self.groups = RunGroups(spec["cgroups"], spec["group_prefix"])
        try:
            self.groups.join()
            kernel.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
            kernel.mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            small = "size=%dk,mode=1777" % spec["shm_kib"]
            fresh_shm(kernel, small, spec["shm_mounts"], spec["workdir"])
            work = "size=%dk,nr_inodes=%d,mode=700" % (spec["work_kib"], WORK_INODES)
            kernel.mount("tmpfs", spec["workdir"], "tmpfs", MS_NOSUID | MS_NODEV, work)
            hidden = MS_RDONLY | MS_NOSUID | MS_NODEV
            kernel.mount("tmpfs", spec["spool"], "tmpfs", hidden, "size=4k")
            kernel.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        except BaseException:
            self.groups.remove()
            raise
        self.kernel = kernel
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = kernel.fork()
        if command == 0:
            ours.close()
            signal.signal(signal.SIGINT, kernel.command_interrupt)  # the template's
            run_payload(kernel, script, theirs, spec["workdir"], spec["script"])
        theirs.close()
        self.command = command
        self.payload = ours

    def abandon(self) -> None:
        """End the prepared evaluation without running it, and remove its cgroups."""
        try:
            os.kill(self.command, signal.SIGKILL)
            os.waitpid(self.command, 0)
        except OSError:
            pass
        self.groups.remove()

    def run(self, request: bytes, fds: list[int]) -> NoReturn:
        """Hand C2 its request (the JSON as the template received it), report to the
        parent, end the run's leftovers."""
        reply = socket.socket(fileno=fds[0])
        try:
            socket.send_fds(self.payload, [request], fds[1:])
            self.payload.close()
        except BaseException as exc:
            send(reply, {"error": "%s: %s" % (type(exc).__name__, exc)})
            self.abandon()
            os._exit(1)
        for fd in fds[1:]:
            os.close(fd)
        try:
            handle = os.pidfd_open(self.command)
            send(reply, {"started": True}, [handle])
            os.close(handle)
        except OSError as exc:
            os.kill(self.command, signal.SIGKILL)
            send(reply, {"error": "cannot hand over the evaluation: %s" % (exc,)})
        status = self.reap_until_command_ends()
        # what C2 left running is ended first: when the parent reads the report, nothing
        # of the run is alive any more
        self.end_leftovers()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            send(
                reply,
                {
                    "status": status,
                    "cpu": usage.ru_utime + usage.ru_stime,
                    "max_rss_kib": usage.ru_maxrss,
                    "out_of_memory": self.groups.out_of_memory(),
                },
            )
        except OSError:
            pass
        self.groups.remove()
        os._exit(0)

    def reap_until_command_ends(self) -> int:
        """Reap every child (C2, and the run's orphans, which come to this init) until C2
        has ended; its wait status."""
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                return signal.SIGKILL
            if pid == self.command:
                return status

    def end_leftovers(self) -> None:
        """Kill every other process of the evaluation's pid namespace and reap them all,
        so that its cgroups are empty and can go. The kill is repeated after each reaped
        process, so that nothing a fork raced into being survives it."""
        while True:
            try:
                os.kill(-1, signal.SIGKILL)  # from init: every process of its namespace but itself
            except OSError:
                pass
            try:
                os.wait()
            except ChildProcessError:
                return


def prepare_or_report(
    kernel: Kernel, script: ModuleType, spec: dict[str, Any], reply_fd: int | None
) -> Prepared:
    """:class:`Prepared` for this C1; on failure, tell ``reply_fd`` (if any) and leave."""
    try:
        return Prepared(kernel, script, spec)
    except BaseException as exc:
        if reply_fd is not None:
            try:
                send(
                    socket.socket(fileno=reply_fd), {"error": "%s: %s" % (type(exc).__name__, exc)}
                )
            except OSError:
                pass
        os._exit(1)


def start_spare(
    kernel: Kernel, script: ModuleType, spec: dict[str, Any], others: list[socket.socket]
) -> tuple[int, socket.socket]:
    """Fork a C1 that prepares the next evaluation now and waits for its request.

    Joining a cgroup can take a scheduler-wide synchronisation (about 10 ms) and the
    namespaces, mounts and two forks a few more; a spare pays all of it while the previous
    evaluation runs. It says ``r`` when ready, then takes one request (JSON and
    descriptors) on its socket; on end-of-file it cleans up and leaves. A spare whose
    preparation failed closes its socket without saying ``r``. ``others`` are the
    template's sockets the spare must not hold (the control socket, the other spares').
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = kernel.fork_into_new_pid_namespace()
    if pid > 0:
        theirs.close()
        return pid, ours
    ours.close()
    for other in others:
        other.close()
    kernel.set_name(SPARE_NAME)
    prepared = prepare_or_report(kernel, script, spec, None)
    try:
        theirs.send(b"r")
        message, fds, _, _ = socket.recv_fds(theirs, 1 << 20, MAX_FDS)
    except BaseException:
        prepared.abandon()
        os._exit(0)
    if not message:
        prepared.abandon()
        os._exit(0)
    theirs.close()
    kernel.set_name(RUN_NAME)
    prepared.run(message, fds)


def take_spare(spares: list[tuple[int, socket.socket]], message: bytes, fds: list[int]) -> bool:
    """Hand a request to a ready spare, the first to be ready if none is yet; ``False``
    when every spare failed or none became ready within :data:`SPARE_WAIT_S`.

    A spare still preparing is ahead of a fresh C1 that would start now, so waiting for
    one is worth it; with as many spares as runs in flight that wait is rare.
    """
    import select

    wait = 0.0
    while spares:
        channels = [channel for _, channel in spares]
        ready, _, _ = select.select(channels, [], [], wait)
        if not ready:
            if wait:
                return False
            wait = SPARE_WAIT_S
            continue
        for index, (_, channel) in enumerate(spares):
            if channel in ready:
                del spares[index]
                break
        handed = False
        try:
            if channel.recv(1) == b"r":
                socket.send_fds(channel, [message], fds)
                handed = True
        except OSError:
            pass
        channel.close()
        if handed:
            return True
    return False


def dispatch(
    kernel: Kernel,
    script: ModuleType,
    spec: dict[str, Any],
    control: socket.socket,
    spares: list[tuple[int, socket.socket]],
    message: bytes,
    request: dict[str, Any],
    fds: list[int],
) -> None:
    """Hand a request to a spare C1, else to a fresh one; then keep enough spares.

    ``request["in_flight"]`` (the parent's runs of this template under way, this one
    included) is how many spares to keep, up to :data:`MAX_SPARES`: when every run in
    flight asks for its next evaluation at once, each finds one prepared.
    """
    if not take_spare(spares, message, fds):
        child = kernel.fork_into_new_pid_namespace()
        if child == 0:
            control.close()
            for _, channel in spares:
                channel.close()
            kernel.set_name(RUN_NAME)
            prepare_or_report(kernel, script, spec, fds[0]).run(message, fds)
    for fd in fds:
        os.close(fd)
    in_flight = request.get("in_flight")
    wanted = min(MAX_SPARES, in_flight) if type(in_flight) is int and in_flight > 1 else 1
    while len(spares) < wanted:
        spares.append(start_spare(kernel, script, spec, [control, *(c for _, c in spares)]))


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


def has_one_thread() -> bool:
    """Whether this process runs a single thread (its own; none of Python's, none that a
    native library started); False when that cannot be read."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[1]))
    spec = json.loads(argv[2])
    kernel = Kernel()
    kernel.drop_bounding_set()
    here = os.path.dirname(os.path.abspath(__file__))
    scripts = os.path.dirname(here)
    load(os.path.join(scripts, "channel.py"), "_evoforge_channel")
    filters = load(os.path.join(here, "syscall_filter.py"), "_evoforge_syscall_filter")
    kernel.keyring_filter = filters.KeyringFilter()
    script = load(spec["script"], "_evoforge_side")
    spec["shm_mounts"] = mounts_below("/dev/shm")  # the same for every C1: read once
    import random  # noqa: F401 - each child reseeds it

    try:
        import numpy
        import numpy.random  # noqa: F401 - imported lazily otherwise, in every child
    except ImportError:
        pass
    sys.dont_write_bytecode = True  # no cache files in a run's working directory
    preload = spec.get("preload_evaluator")
    if preload and hasattr(script, "preload_evaluator"):
        try:
            script.preload_evaluator(preload)
        except BaseException:
            pass
    warm_up()
    kernel.bare_forks = has_one_thread()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    kernel.command_interrupt = signal.signal(signal.SIGINT, signal.SIG_DFL)
    gc.freeze()  # what the template made is never collected in a child: no copies of it
    spares = [start_spare(kernel, script, spec, [control])]
    send(control, {"ready": True, "threads": not kernel.bare_forks})
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
        dispatch(kernel, script, spec, control, spares, message, request, fds)
        while True:  # reap the C1s that have finished
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


if __name__ == "__main__":
    main(sys.argv)
