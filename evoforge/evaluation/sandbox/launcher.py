"""Set up one sandboxed process, then ``exec`` its command: run in the child, never imported.

Usage (by :mod:`evoforge.evaluation.sandbox.core` only)::

    python -I -S launcher.py STATUS_FD SPEC_JSON COMMAND...

The launcher runs between the parent's ``fork`` and the command's ``exec`` so that the
parent never runs Python code in a forked child (unsafe when the parent has threads). It
uses the standard library only and no ``site``, so it works with any Python 3 the user
points evoforge at. In order, it:

1. joins the run's cgroups (``spec["cgroups"]``: paths of ``cgroup.procs`` files), so every
   descendant is counted against the run's process and memory limits;
2. sets the resource limits (``spec["limits"]``: ``[name, soft, hard]`` triples);
3. creates the network namespace (``spec["network"]``: ``netns``, ``userns+netns`` or
   ``none``);
4. with ``spec["filesystem"] == "mountns"``: a user namespace where ``RLIMIT_NPROC`` counts
   the run's processes only (the kernel exempts root from it), private mount and pid
   namespaces, and then a **jail**: a new root
   (``pivot_root``) holding only what ``spec["jail"]`` names (read-only binds of the
   interpreter and its packages, read-only extra directories, the working directory
   read-write, a few device nodes, a fresh ``/proc`` that shows only the run's processes, a
   small ``/tmp`` and ``/dev/shm``). Nothing else of the host's files exists in there: no
   problem directory unless bound, no run database, no other run's working directory;
5. drops every capability and sets ``no_new_privs`` (unless ``spec["keep_capabilities"]``:
   a template process, which drops them in every child it forks), then ``exec``\\ s the
   command.

A setup failure is written to ``STATUS_FD`` (close-on-exec): end-of-file with no data tells
the parent the command was exec'd. With a mount namespace the launcher stays as the parent
of the namespace's init and relays how the command ended (same exit status or signal).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
KEPT_MOUNT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": 1024,
    "nodiratime": 2048,
    "relatime": 1 << 21,
}
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41}
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
DEVICE_NODES = ("null", "zero", "full", "random", "urandom")
USERNS_LIMIT_REACHED = "the limit on user namespaces is reached (sysctl user.max_user_namespaces)"
USERNS_NOT_PERMITTED = (
    "unprivileged user namespaces are disabled or restricted here (sysctls "
    "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns, or a "
    "container's seccomp profile; see SECURITY.md)"
)


def namespace_failure(flags: int, errno: int) -> str:
    """Why ``unshare(flags)`` failed with ``errno``, in words naming the machine's setting
    where one is the cause (``ENOSPC`` alone says "No space left on device")."""
    import errno as codes

    text = os.strerror(errno)
    if errno == codes.ENOSPC and flags & CLONE_NEWUSER:
        return USERNS_LIMIT_REACHED
    if errno in (codes.EPERM, codes.EACCES) and flags & CLONE_NEWUSER and os.getuid() != 0:
        return "%s: %s" % (text, USERNS_NOT_PERMITTED)
    return text


class Setup:
    """The state of one launch: the status pipe and, once needed, libc."""

    def __init__(self, status_fd: int, spec: dict[str, Any]) -> None:
        self.status_fd = status_fd
        self.spec = spec
        self._libc: Any = None

    def fail(self, message: str) -> NoReturn:
        os.write(self.status_fd, str(message).encode("utf-8", "replace"))
        os._exit(127)

    @property
    def libc(self) -> Any:
        if self._libc is None:
            import ctypes

            self._libc = ctypes.CDLL(None, use_errno=True)
            self._libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        return self._libc

    def errno_text(self) -> str:
        import ctypes

        return os.strerror(ctypes.get_errno())

    def mount(
        self,
        source: str | None,
        target: str,
        fstype: str | None,
        flags: int,
        data: str | None = None,
    ) -> int:
        """``mount(2)``; returns 0 or the errno."""
        import ctypes

        def encode(text: str | None) -> bytes | None:
            return None if text is None else text.encode("utf-8", "surrogateescape")

        result = self.libc.mount(
            encode(source), encode(target), encode(fstype), flags, encode(data)
        )
        return ctypes.get_errno() if result != 0 else 0

    def unshare(self, flags: int, what: str) -> None:
        if self.libc.unshare(flags) != 0:
            import ctypes

            self.fail("cannot create %s: %s" % (what, namespace_failure(flags, ctypes.get_errno())))

    def map_ids(self, strict: bool) -> None:
        """Map our uid and gid to themselves in a fresh user namespace."""
        uid, gid = self.spec["uid"], self.spec["gid"]
        for path, text in (
            ("/proc/self/setgroups", "deny"),
            ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
            ("/proc/self/gid_map", "%d %d 1" % (gid, gid)),
        ):
            try:
                with open(path, "w") as handle:
                    handle.write(text)
            except OSError as exc:
                if strict:
                    self.fail("cannot write %s: %s" % (path, exc))


def join_cgroups(setup: Setup) -> None:
    for procs in setup.spec.get("cgroups") or ():
        try:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        except OSError as exc:
            setup.fail("cannot join cgroup %s: %s" % (procs, exc))


def set_limits(setup: Setup) -> None:
    """Each limit of the spec, or a failure that names the one refused and the hard limit
    evoforge was started under (a ``ulimit`` lower than the configured limit)."""
    for name, soft, hard in setup.spec["limits"]:
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        except (OSError, ValueError) as exc:
            held = resource.getrlimit(getattr(resource, name))[1]
            setup.fail(
                "cannot set resource limit %s to %s: %s (evoforge runs under a hard limit "
                "of %s: raise it, or lower the configured limit)"
                % (name, hard, exc, "unlimited" if held == resource.RLIM_INFINITY else held)
            )


def isolate_network(setup: Setup) -> None:
    mode = setup.spec["network"]
    if mode == "none":
        return
    flags = CLONE_NEWNET if mode == "netns" else CLONE_NEWUSER | CLONE_NEWNET
    setup.unshare(flags, "network namespace (%s)" % mode)
    if mode == "userns+netns":
        setup.map_ids(strict=False)


def enter_namespaces(setup: Setup) -> None:
    """User namespace (RLIMIT_NPROC counts the run's processes there; root is exempt), then
    mount and pid namespaces."""
    setup.unshare(CLONE_NEWUSER, "a user namespace")
    setup.map_ids(strict=True)
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (setup.spec["max_processes"],) * 2)
    except (OSError, ValueError) as exc:
        setup.fail("cannot limit processes: %s" % (exc,))
    setup.unshare(CLONE_NEWNS | CLONE_NEWPID, "mount and pid namespaces")
    if setup.mount(None, "/", None, MS_REC | MS_PRIVATE):
        setup.fail("cannot make mounts private: %s" % setup.errno_text())


def read_only_flags(options: list[str]) -> int:
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY
    for option in options:
        flags |= KEPT_MOUNT_FLAGS.get(option, 0)
    return flags


def mount_table() -> list[tuple[str, list[str]]]:
    """``(mount point, options)`` of every mount, from ``/proc/self/mountinfo``."""
    import re

    def unescape(text: str) -> str:
        return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)

    # a mount point's name is bytes, in whatever encoding named it (a volume label, say)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        rows = [line.split() for line in handle]
    return [(unescape(fields[4]), fields[5].split(",")) for fields in rows]


def make_node(path: str, directory: bool) -> None:
    if directory:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            with open(path, "w"):
                pass


def build_jail(setup: Setup, jail: dict[str, Any]) -> None:
    """Assemble the new root under ``jail["root"]`` and ``pivot_root`` into it.

    Runs as pid 1 of the new pid namespace (so the fresh ``/proc`` is the run's own).
    """
    root = jail["root"]
    workdir = jail["workdir"]
    if setup.mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1024k,mode=755"):
        setup.fail("cannot mount the jail's root: %s" % setup.errno_text())
    # The small writable places first: binds below them (a problem directory under /tmp,
    # the working directory) must land on top of them, not be hidden by them.
    small = "size=%dk,mode=1777" % setup.spec["shm_kib"]
    for point in ("/dev/shm", "/tmp"):
        make_node(root + point, True)
        if setup.mount("tmpfs", root + point, "tmpfs", MS_NOSUID | MS_NODEV, small):
            setup.fail("cannot mount %s: %s" % (point, setup.errno_text()))
    for link, target in jail.get("symlinks", ()):
        make_node(os.path.dirname(root + link), True)
        if not os.path.lexists(root + link):
            os.symlink(target, root + link)
    for source, target in jail.get("binds", ()):
        directory = os.path.isdir(source)
        make_node(root + target, directory)
        if setup.mount(source, root + target, None, MS_BIND | MS_REC):
            setup.fail("cannot bind %s: %s" % (source, setup.errno_text()))
    for hidden in jail.get("hidden", ()):  # covered by an empty tmpfs, made read-only below
        cover = "size=4k,mode=555"
        if os.path.isdir(root + hidden) and setup.mount(
            "tmpfs", root + hidden, "tmpfs", MS_NOSUID | MS_NODEV, cover
        ):
            setup.fail("cannot hide %s: %s" % (hidden, setup.errno_text()))
    make_node(root + "/dev", True)
    for name in DEVICE_NODES:
        device = "/dev/" + name
        if os.path.exists(device):
            make_node(root + device, False)
            if setup.mount(device, root + device, None, MS_BIND):
                setup.fail("cannot bind %s: %s" % (device, setup.errno_text()))
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, root + "/dev/" + name)
    make_node(root + workdir, True)
    if setup.mount(workdir, root + workdir, None, MS_BIND | MS_REC):
        setup.fail("cannot bind the working directory: %s" % setup.errno_text())
    for directory in jail.get("mountpoints", ()):  # empty, for a template's children
        make_node(root + directory, True)
    make_node(root + "/proc", True)
    proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if setup.mount("proc", root + "/proc", "proc", proc_flags):
        setup.fail("cannot mount /proc: %s" % setup.errno_text())
    writable = {root + workdir, root + "/dev/shm", root + "/proc"}
    if not jail.get("readonly_tmp"):
        writable.add(root + "/tmp")
    for point, options in mount_table():
        inside = point == root or point.startswith(root + "/")
        if not inside or point in writable or "ro" in options:
            continue
        if point.startswith(root + workdir.rstrip("/") + "/"):
            continue
        error = setup.mount(None, point, None, read_only_flags(options))
        if error and error not in (2, 13):  # ENOENT, EACCES: a mount nobody can reach
            setup.fail("cannot make %s read-only: %s" % (point, os.strerror(error)))
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        setup.fail("pivot_root: unknown system call number on %s" % os.uname().machine)
    os.chdir(root)
    if setup.libc.syscall(number, b".", b".") != 0:
        setup.fail("cannot pivot_root: %s" % setup.errno_text())
    if setup.libc.umount2(b".", MNT_DETACH) != 0:
        setup.fail("cannot detach the old root: %s" % setup.errno_text())
    os.chdir("/")
    if setup.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV):
        setup.fail("cannot make the jail's root read-only: %s" % setup.errno_text())
    os.chdir(workdir)


def lock_filesystem(setup: Setup) -> None:
    """Without a jail: every mount read-only except the working directory (and /dev/shm)."""
    work = os.getcwd()
    if setup.mount(work, work, None, MS_BIND | MS_REC):
        setup.fail("cannot bind the working directory: %s" % setup.errno_text())
    os.chdir(work)  # the cwd must resolve through the new, writable mount
    for point, options in mount_table():
        if point == work or point.startswith(work.rstrip("/") + "/") or "ro" in options:
            continue
        error = setup.mount(None, point, None, read_only_flags(options))
        if error and error not in (2, 13):
            setup.fail("cannot make %s read-only: %s" % (point, os.strerror(error)))
    if os.path.isdir("/dev/shm"):  # POSIX semaphores (multiprocessing) need a writable one
        shm = "size=%dk,mode=1777" % setup.spec["shm_kib"]
        setup.mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, shm)


def relay(setup: Setup, init: int, report_read: int) -> NoReturn:
    """The launcher's last job: wait for the namespace's init, end as the command ended."""
    import signal

    os.close(setup.status_fd)
    chunks = []
    while True:
        chunk = os.read(report_read, 64)
        if not chunk:
            break
        chunks.append(chunk)
    _, init_status = os.waitpid(init, 0)
    status = int(b"".join(chunks)) if chunks else init_status
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:  # die of the same signal (SIGKILL and SIGSTOP cannot be handled anyway)
            signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 127)


def run_init(setup: Setup, report_write: int, keep_fds: list[int]) -> None:
    """pid 1 of the run: fork the command, reap orphans, report the command's status."""
    command = os.fork()
    if command == 0:
        os.close(report_write)
        return
    os.close(setup.status_fd)
    for fd in keep_fds:  # the command's pipes must see end-of-file when the command dies
        try:
            os.close(fd)
        except OSError:
            pass
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(127)
        if pid == command:
            os.write(report_write, str(status).encode())
            os._exit(0)


def drop_privileges(setup: Setup, keyring_filter: Any) -> None:
    """No capabilities at all, so the command can neither remount nor leave, and no
    keyrings (:mod:`syscall_filter`)."""
    import ctypes

    libc = setup.libc
    for capability in range(64):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            setup.fail("cannot drop capability %d: %s" % (capability, setup.errno_text()))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        setup.fail("cannot set no_new_privs: %s" % setup.errno_text())
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        setup.fail("cannot clear capabilities: %s" % setup.errno_text())
    try:  # keyrings are behind no namespace: the command gets none
        keyring_filter.install(libc)
    except OSError as exc:
        setup.fail(str(exc))


def load_sibling(name: str) -> Any:
    """The module ``name.py`` beside this file (this script runs with ``python -I``)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    spec = importlib.util.spec_from_file_location("_evoforge_" + name, path)
    if spec is None or spec.loader is None:
        raise OSError("cannot load %s" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> None:
    status_fd = int(argv[1])
    os.set_inheritable(status_fd, False)  # closes on exec: EOF tells the parent it happened
    setup = Setup(status_fd, json.loads(argv[2]))
    command = argv[3:]
    spec = setup.spec
    join_cgroups(setup)
    if spec.get("cpu") is not None:  # see SideRequest.cpu
        try:
            os.sched_setaffinity(0, {int(spec["cpu"])})
        except OSError:
            pass
    set_limits(setup)
    isolate_network(setup)
    if spec.get("filesystem", "none") == "mountns":
        # loaded while this file's directory is still there (the jail does not hold it)
        keyring_filter = load_sibling("syscall_filter").KeyringFilter()
        enter_namespaces(setup)
        jail = spec.get("jail")
        if jail is None:
            lock_filesystem(setup)
        report_read, report_write = os.pipe()
        init = os.fork()  # the first child is pid 1 of the new pid namespace
        if init > 0:
            os.close(report_write)
            for fd in spec.get("pass_fds") or ():
                try:
                    os.close(fd)
                except OSError:
                    pass
            relay(setup, init, report_read)
        os.close(report_read)
        if jail is not None:
            build_jail(setup, jail)
        else:  # a fresh /proc shows only the run's own processes (best effort)
            setup.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
        run_init(setup, report_write, list(spec.get("pass_fds") or ()))
        if not spec.get("keep_capabilities"):  # a template drops them in each child
            drop_privileges(setup, keyring_filter)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        setup.fail("cannot execute %r: %s" % (command[0], exc))


if __name__ == "__main__":
    main(sys.argv)
