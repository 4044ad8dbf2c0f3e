"""A problem's ``verify`` run in processes of its own, each call within a time limit.

``verify(output)`` is trusted problem code, but the output it checks is the candidate's
choice (up to :data:`~evoforge.evaluation.evaluator.MAX_RESULT_BYTES` of it), and a
candidate that finds an output on which ``verify`` runs for an hour (a million points for
an all-pairs check, a number with a million digits) would hold an evaluation slot, and
with a few such children the whole run. So ``verify`` never runs in evoforge's own
interpreter: :class:`VerifyProcesses` keeps one process per concurrent caller, each of
which imports ``evaluator.py`` once and answers one call at a time, and a call that runs
past its time limit costs that process (killed; the next call starts a fresh one) and
fails its evaluation with the reason. So does a ``verify`` that ends its process
(``os._exit``, a crash); ``sys.exit`` and exceptions are its rejection of the output, as
in the caller's process.

A process prints nothing on the pipe it answers on (``print`` in ``verify`` or in
``evaluator.py`` goes to standard error), ignores a terminal's Ctrl-C (the driver ends it
by closing its input) and ends itself once the driver is gone, even in the middle of a
call. Requests and answers are frames of :mod:`evoforge.pipe_frames`: both ends are
evoforge's code, and the candidate's output travels as the plain values the judge read.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import numbers
import os
import select
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from evoforge.pipe_frames import FramedChild, read_frame, write_frame

__all__ = ["VerifyFailed", "VerifyProcesses", "import_trusted", "serve", "verify_result"]

_COMMAND = "from evoforge.evaluation.verify_process import serve; serve()"
_STOP_TIMEOUT_S = 2.0
_PARENT_POLL_S = 0.5
_IMPORT_TIMEOUT_S = 60.0
"""The longest a verify process may take to import ``evaluator.py`` (trusted code, which
no candidate can slow down)."""


class VerifyFailed(Exception):
    """``verify`` gave no verdict: it raised (the message says what), ran past its time
    limit, or its process ended."""


_import_lock = threading.Lock()


def import_trusted(path: Path) -> ModuleType:
    """Import the problem's ``evaluator.py`` in this process under a private module name.

    Its directory is on ``sys.path`` only while it is imported (for sibling modules).
    """
    name = f"_evoforge_verify_{abs(hash(str(path))):x}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    with _import_lock:
        directory = str(path.parent)
        sys.path.insert(0, directory)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(directory)
    return module


def verify_result(verdict: object) -> tuple[dict[str, object], dict[str, str]]:
    """Metrics and artifacts from what ``verify`` returned (a dict or ``.metrics`` object)."""
    if isinstance(verdict, Mapping):
        raw_metrics: object = verdict
        raw_artifacts: object = {}
    elif hasattr(verdict, "metrics"):
        raw_metrics = verdict.metrics
        raw_artifacts = getattr(verdict, "artifacts", None) or {}
    else:
        raise TypeError(f"verify must return a dict of metrics, got {type(verdict).__name__}")
    if not isinstance(raw_metrics, Mapping) or not isinstance(raw_artifacts, Mapping):
        raise TypeError("verify's metrics and artifacts must be dicts")
    metrics: dict[str, object] = {}
    for key, value in raw_metrics.items():
        if isinstance(value, numbers.Real) and not isinstance(value, bool | int | float):
            try:
                value = float(value)  # numpy scalars
            except (OverflowError, TypeError, ValueError):
                value = repr(value)
        metrics[str(key)] = value if isinstance(value, bool | int | float | str) else repr(value)
    return metrics, {str(k): str(v) for k, v in raw_artifacts.items()}


def _verdict(module: ModuleType, output: Any, split: str | None) -> tuple[bool, Any]:
    """``(True, (metrics, artifacts))``, or ``(False, why)`` when ``verify`` rejects."""
    try:
        function = getattr(module, "verify", None)
        if not callable(function):
            raise TypeError("evaluator.py's verify is not callable")
        verdict = function(output) if split is None else function(output, split=split)
        return True, verify_result(verdict)
    except (Exception, SystemExit) as exc:  # sys.exit in verify is its rejection
        return False, f"{type(exc).__name__}: {exc}"


def _end_with_parent(parent: int) -> None:
    """End this process once ``parent`` has gone (a driver killed with ``kill -9``
    while a call runs: nothing would ever read its answer)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def serve() -> None:
    """A verify process's main loop: the first frame names ``evaluator.py``, which it
    imports and answers ``(True, "")`` (or ``(False, why)``: every later call gets that
    answer); every later frame is ``(output, split)``, one answer each, until end of
    input."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers may reach the driver's pipe
    parent = os.getppid()
    threading.Thread(target=_end_with_parent, args=(parent,), daemon=True).start()
    try:
        path = read_frame(stdin)
    except EOFError:
        return
    module: ModuleType | None = None
    try:
        module = import_trusted(Path(path))
        answer: tuple[bool, Any] = (True, "")
    except (Exception, SystemExit) as exc:
        answer = (False, f"importing evaluator.py raised {type(exc).__name__}: {exc}")
    while True:
        try:
            write_frame(stdout, answer)
            output, split = read_frame(stdin)
        except (EOFError, OSError):
            return
        if module is not None:
            answer = _verdict(module, output, split)


class _VerifyProcess(FramedChild):
    """The driver's end of one verify process."""

    def __init__(self, evaluator_path: Path) -> None:
        super().__init__(_COMMAND)
        self.imported = False
        write_frame(self.stdin, str(evaluator_path))

    def call(self, output: Any, split: str | None, timeout_s: float) -> tuple[bool, Any]:
        """Send one request and wait up to ``timeout_s`` for its answer (the first call
        waits for ``evaluator.py``'s import first, up to :data:`_IMPORT_TIMEOUT_S` more);
        raises :class:`TimeoutError`, or :class:`EOFError`/:class:`OSError` when the
        process ended."""
        if not self.imported:
            imported = self._answer(max(timeout_s, _IMPORT_TIMEOUT_S))
            if not imported[0]:
                return imported
            self.imported = True
        write_frame(self.stdin, (output, split))
        return self._answer(timeout_s)

    def _answer(self, timeout_s: float) -> tuple[bool, Any]:
        poller = select.poll()  # not select(): a descriptor may be numbered past 1023
        poller.register(self.stdout, select.POLLIN)
        if not poller.poll(max(0, math.ceil(timeout_s * 1000))):
            raise TimeoutError
        answer: tuple[bool, Any] = read_frame(self.stdout)
        return answer

    def stop(self, kill: bool = False) -> None:
        if kill:
            with contextlib.suppress(OSError):
                self.process.kill()
        self.end(_STOP_TIMEOUT_S)
        self.close_output()


class VerifyProcesses:
    """The ``verify`` of one problem's ``evaluator.py``, called from any thread: each call
    takes an idle process (or starts one) and waits for its verdict for up to
    ``timeout_s``. Thread-safe; :meth:`close` stops the processes (a later call starts
    new ones)."""

    def __init__(self, evaluator_path: Path, timeout_s: float) -> None:
        self.evaluator_path = evaluator_path
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._idle: list[_VerifyProcess] = []
        self._all: list[_VerifyProcess] = []

    @property
    def pids(self) -> list[int]:
        """Process ids of the verify processes now running."""
        with self._lock:
            return [process.process.pid for process in self._all]

    def verify(
        self, output: Any, split: str | None = None
    ) -> tuple[dict[str, object], dict[str, str]]:
        """``verify(output)`` (``verify(output, split=split)``) as metrics and artifacts;
        raises :class:`VerifyFailed` saying why there is no verdict."""
        with self._lock:
            process = self._idle.pop() if self._idle else None
        if process is not None and process.process.poll() is not None:
            self._retire(process)  # ended while idle (killed from outside): start afresh
            process = None
        if process is None:
            process = _VerifyProcess(self.evaluator_path)
            with self._lock:
                self._all.append(process)
        try:
            ok, answer = process.call(output, split, self.timeout_s)
        except TimeoutError:
            self._retire(process)
            raise VerifyFailed(
                f"verify ran past its time limit of {self.timeout_s:g}s on this output "
                "(the evaluation's timeout_s)"
            ) from None
        except (EOFError, OSError, ValueError) as exc:
            self._retire(process)
            code = process.process.poll()
            detail = f" (exit status {code})" if code is not None else ""
            raise VerifyFailed(f"verify's process ended without a verdict{detail}") from exc
        if process.imported:
            with self._lock:
                self._idle.append(process)
        else:  # evaluator.py did not import: the next call tries again, in a fresh process
            self._retire(process)
        if not ok:
            raise VerifyFailed(str(answer))
        metrics, artifacts = answer
        return metrics, artifacts

    def _retire(self, process: _VerifyProcess) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._all.remove(process)
        process.stop(kill=True)

    def close(self) -> None:
        """Stop every process (idle ones at once; one that is answering, when killed)."""
        with self._lock:
            processes, self._all, self._idle = self._all, [], []
        for process in processes:
            process.stop(kill=True)
