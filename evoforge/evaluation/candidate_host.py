"""The candidate side of an isolated evaluation: load the program, answer calls, nothing else.

A standalone script, run inside the candidate's jail (no problem directory, no evaluator,
no run database there) with whatever interpreter the user configured::

    python -I candidate_host.py PROGRAM REQUEST_FD REPLY_FD MAX_MESSAGE_BYTES [SPIN_S]

It imports the program, sends a hello naming the program's public functions (or why the
program could not be loaded), then answers each ``call`` / ``batch`` request on
``REQUEST_FD`` with the result or the exception on ``REPLY_FD`` until the evaluator side
closes the request pipe (see :mod:`evoforge.evaluation.channel` for the format; ``SPIN_S``
is how long a read polls before it blocks, 0 by default). The
program runs in this process, so everything here is untrusted: the evaluator side checks
every answer, and this process is killed as soon as the evaluator side is done.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import Any


def _load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _module_name(path: str) -> str:
    """The name to import the program under: its file's stem, importable again.

    ``multiprocessing`` with ``spawn`` or ``forkserver`` (the default on Linux from Python
    3.14) sends a pool's work as references such as ``program.work`` that each fresh worker
    imports by name: the program's directory (its own working directory) goes last on
    ``sys.path`` so that they find it. A stem that is no identifier or that names a module
    already there (``numpy.py``, ``random.py``) would shadow it, so such a program stays
    ``candidate`` (whose workers fail with "No module named 'candidate'").
    """
    directory, name = os.path.split(path)
    stem = name[:-3] if name.endswith(".py") else ""
    taken = stem in sys.modules or stem in getattr(sys, "stdlib_module_names", ())
    if not stem.isidentifier() or taken:
        return "candidate"
    try:
        if importlib.util.find_spec(stem) is not None:
            return "candidate"
    except (ImportError, ValueError):
        return "candidate"
    if directory not in sys.path:
        sys.path.append(directory)
    return stem


def _public_functions(module: ModuleType) -> list[str]:
    names = []
    for name, value in list(vars(module).items()):
        if name.startswith("_") or not callable(value):
            continue
        if getattr(value, "__module__", None) == module.__name__:
            names.append(name)
    return names


def _answer(
    channel: Any, module: ModuleType, functions: list[str], message: dict[str, Any]
) -> dict[str, Any]:
    """The reply to one request: ``{"ok": result}`` or ``{"error": record}``."""
    name = message.get("name")
    if message.get("op") not in ("call", "batch") or name not in functions:
        return {
            "error": {
                "type": "AttributeError",
                "message": "the program defines no function %r" % (name,),
                "traceback_tail": "",
            }
        }
    function = getattr(module, name)
    try:
        if message["op"] == "call":
            args, kwargs = message.get("args") or (), message.get("kwargs") or {}
            result = function(*args, **kwargs)
        else:
            result = [function(*args) for args in message.get("calls") or ()]
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are answers too
        return {"error": channel.error_record(exc)}
    return {"ok": result}


def main(argv: list[str]) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    channel = sys.modules.get("_evoforge_channel") or _load(
        os.path.join(here, "channel.py"), "_evoforge_channel"
    )
    program, request_fd, reply_fd, max_bytes = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    spin_s = float(argv[5]) if len(argv) > 5 else 0.0
    try:
        path = os.path.abspath(program)
        module = _load(path, _module_name(path))
    except BaseException as exc:
        channel.write_frame(reply_fd, {"load_error": channel.error_record(exc)})
        os._exit(0)
    functions = _public_functions(module)
    channel.write_frame(reply_fd, {"functions": functions})
    reader = channel.FrameReader(request_fd, max_bytes, spin_s)
    while True:
        try:
            message = reader.read()
        except EOFError:
            os._exit(0)
        reply = _answer(channel, module, functions, message)
        try:
            channel.write_frame(reply_fd, reply)
        except ValueError as exc:  # ChannelError, or JSON refusing an int of 4300+ digits
            error = {
                "type": "TypeError",
                "message": "%s returned a value that cannot be sent: %s"
                % (message.get("name"), exc),
                "traceback_tail": "",
            }
            channel.write_frame(reply_fd, {"error": error})


if __name__ == "__main__":
    main(sys.argv)
