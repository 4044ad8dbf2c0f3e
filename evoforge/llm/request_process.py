"""Model requests sent from a process of their own, off the driver's event loop.

The ``openai`` SDK spends a few milliseconds of CPU on every request: building it, the
HTTP exchange, parsing the completion into typed objects. In the driver that is time that
ask, check and tell wait for, and with a fast model (a local server, the offline oracle)
it is most of the driver's work per child. :class:`RequestProcess` runs one
:class:`~evoforge.llm.client.OpenAIChatClient` per configured model in a child process
with an event loop of its own, any number of requests in flight. The driver sends each
request as one frame (:mod:`evoforge.pipe_frames`) and gets back the response or the
failure. :class:`ProcessChatClient` is one model's
:class:`~evoforge.llm.client.ChatClient` on that process.

Contract:

* the same answers, records and failures as the clients would give in the driver: they
  are the same clients (retries, backoff, each model's jitter seed), only elsewhere;
* the child reads the API keys from the environment it inherits: it is evoforge's own
  code, never a candidate's, and no key crosses the pipe;
* a child that dies fails the requests it had in flight with a connection error (the
  router counts it as any failed request) and the next request starts a fresh one;
* the child ignores SIGINT and SIGHUP (the driver decides when a run stops) and exits when its
  input reaches end of file: when the driver closes it, or goes away (``kill -9`` too).
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from evoforge.config import LLMModelConfig
from evoforge.cpus import usable_cpus
from evoforge.llm.client import (
    ChatRequest,
    ChatResponse,
    LLMCallError,
    OpenAIChatClient,
    RetryPolicy,
)
from evoforge.llm.records import CallOutcome
from evoforge.pipe_frames import FramedChild, FrameOutbox, frame_bytes, read_frame, write_frame

__all__ = ["MIN_CORES", "ProcessChatClient", "RequestProcess", "requests_apart", "serve"]

_COMMAND = "from evoforge.llm.request_process import serve; serve()"
_STOP_TIMEOUT_S = 5.0
_GONE = "the model request process exited"

#: What a failure crosses the pipe as: outcome, message, records, fatal, retry_after.
_Failure = tuple[CallOutcome, str, tuple[Any, ...], bool, float | None]


#: Usable CPUs (:func:`evoforge.cpus.usable_cpus`) from which ``llm.request_process: auto``
#: sends the requests from their process: on fewer, that process's CPU (more than the driver
#: saves) competes with the evaluations.
MIN_CORES = 4


def requests_apart(setting: bool | str) -> bool:
    """Whether a run's model requests go out from their own process, for the setting
    ``llm.request_process`` (true, false or ``"auto"``) on this machine."""
    if setting == "auto":
        return usable_cpus() >= MIN_CORES
    return bool(setting)


def _settle(future: asyncio.Future[tuple[bool, Any]], result: tuple[bool, Any]) -> None:
    """Give ``future`` its result from any thread; a no-op once it is done or its loop
    has closed (the run it belonged to ended)."""

    def give() -> None:
        if not future.done():
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed
        future.get_loop().call_soon_threadsafe(give)


class _Child(FramedChild):
    """The driver's end of one request process: the process, its pipes, the requests in
    flight, and the thread that reads its answers."""

    def __init__(self, setup: tuple[Any, ...], lock: threading.Lock) -> None:
        super().__init__(_COMMAND)
        self.lock = lock
        self.alive = True
        self.pending: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        # Written by the driver's loop as the child reads: a request larger than the
        # pipe holds, sent while the child is still importing (or stalled), never holds
        # the loop.
        self.outbox = FrameOutbox(self.stdin.fileno())
        self.outbox.put(frame_bytes(setup))
        self.reader = threading.Thread(
            target=self._read_answers, name="evoforge-model-requests", daemon=True
        )
        self.reader.start()

    def _read_answers(self) -> None:
        while True:
            try:
                number, ok, payload = read_frame(self.stdout)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                break
            with self.lock:
                future = self.pending.pop(number, None)
            if future is not None:
                _settle(future, (ok, payload))
        with self.lock:
            self.alive = False
            pending, self.pending = self.pending, {}
        failure: _Failure = (CallOutcome.CONNECTION_ERROR, _GONE, (), False, None)
        for future in pending.values():
            _settle(future, (False, failure))

    def send(self, number: int, label: str, request: ChatRequest) -> None:
        """Queue one request (on the driver's loop; it never waits for the pipe)."""
        self.outbox.put(frame_bytes((number, label, request)))

    def stop(self) -> None:
        """Close its input (it exits), wait a little, then kill it; then let the reader
        thread finish before the output is closed. The caller has discarded the outbox
        on its loop first."""
        self.end(_STOP_TIMEOUT_S)
        self.reader.join(timeout=_STOP_TIMEOUT_S)
        self.close_output()


class RequestProcess:
    """The models of one run, called from a child process (started on the first request,
    stopped by :meth:`aclose`, started again by a later request).

    ``models[i]`` retries with ``retry`` and jitter seed ``jitter_seeds[i]``, as the
    client made in the driver would.
    """

    def __init__(
        self,
        models: Sequence[LLMModelConfig],
        retry: RetryPolicy,
        jitter_seeds: Sequence[int],
    ) -> None:
        if len(models) != len(jitter_seeds):
            raise ValueError("one jitter seed per model")
        self.labels = [model.label for model in models]
        self._setup = (tuple(models), retry, tuple(jitter_seeds))
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._requests = 0

    def clients(self) -> dict[str, ProcessChatClient]:
        """One :class:`ProcessChatClient` per model, by label."""
        return {label: ProcessChatClient(label, self) for label in self.labels}

    @property
    def pid(self) -> int | None:
        """The process id of the running child (None before the first request)."""
        child = self._child
        return child.process.pid if child is not None and child.alive else None

    async def complete(self, label: str, request: ChatRequest) -> ChatResponse:
        """``request`` answered by model ``label``; raises :class:`LLMCallError`."""
        future: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        with self._lock:
            child = self._child
            if child is None or not child.alive:
                child = self._child = _Child(self._setup, self._lock)
            self._requests += 1
            number = self._requests
            child.pending[number] = future
        try:
            child.send(number, label, request)
        except (OSError, ValueError):
            with self._lock:
                child.pending.pop(number, None)
            raise LLMCallError(CallOutcome.CONNECTION_ERROR, _GONE) from None
        ok, payload = await future
        if ok:
            response: ChatResponse = payload
            return response
        outcome, message, records, fatal, retry_after = payload
        raise LLMCallError(outcome, message, records, fatal=fatal, retry_after=retry_after)

    async def aclose(self) -> None:
        """Stop the child (its requests in flight fail). Safe to call more than once."""
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.outbox.discard()
            await asyncio.to_thread(child.stop)


class ProcessChatClient:
    """One model's :class:`~evoforge.llm.client.ChatClient` on a :class:`RequestProcess`."""

    def __init__(self, label: str, process: RequestProcess) -> None:
        self.label = label
        self.process = process

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.process.complete(self.label, request)

    async def aclose(self) -> None:
        await self.process.aclose()


def serve() -> None:
    """The child's main: the first frame holds the models, the retry policy and the
    jitter seeds; every later one a request ``(number, label, ChatRequest)``, answered by
    ``(number, True, ChatResponse)`` or ``(number, False, failure)`` when it is done, in
    any order, until end of input."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal: the driver's too
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers may reach the driver's pipe
    try:
        models, retry, jitter_seeds = read_frame(stdin)
    except EOFError:
        return
    clients = {
        model.label: OpenAIChatClient(model, retry, jitter_seed=seed)
        for model, seed in zip(models, jitter_seeds, strict=True)
    }
    asyncio.run(_serve(clients, stdin, stdout))


async def _serve(clients: dict[str, OpenAIChatClient], stdin: IO[bytes], stdout: IO[bytes]) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    in_flight: set[asyncio.Task[None]] = set()

    async def answer(number: int, label: str, request: ChatRequest) -> None:
        reply: tuple[int, bool, Any]
        try:
            reply = (number, True, await clients[label].complete(request))
        except LLMCallError as exc:
            failure: _Failure = (
                exc.outcome,
                str(exc),
                exc.records,
                exc.fatal,
                exc.retry_after,
            )
            reply = (number, False, failure)
        except Exception as exc:  # a bug here must not leave the driver waiting
            message = f"{label}: request failed in the model request process: {exc}"
            reply = (number, False, (CallOutcome.CONNECTION_ERROR, message[:300], (), False, None))
        try:
            write_frame(stdout, reply)
        except (OSError, ValueError):
            done.set()  # the driver is gone

    def arrive(frame: tuple[int, str, ChatRequest]) -> None:
        task = loop.create_task(answer(*frame))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    def read_requests() -> None:
        while True:
            try:
                frame = read_frame(stdin)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                break
            loop.call_soon_threadsafe(arrive, frame)
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=read_requests, name="requests", daemon=True).start()
    await done.wait()
    for task in list(in_flight):
        task.cancel()
    await asyncio.gather(*in_flight, return_exceptions=True)
    for client in clients.values():
        with contextlib.suppress(Exception):
            await client.aclose()
