"""The proposal pool: symbolic operators, children's facts and models' answers, off the driver.

The driver of a run (the event loop around ask/tell) must stay free for ask, check and
tell. The symbolic operators (``tune``, ``mutate``, ``crossover``, ``simplify``) parse,
edit and unparse a program, and every child's :class:`~evoforge.facts.ChildFacts` cost a
few more parses: tens of milliseconds of CPU per child that would otherwise stall every
other evaluation in flight. :class:`ProposalPool` runs both in worker processes, and
does a language-model operator's CPU work there too (building its prompt, applying the
model's answers to the parent: :mod:`evoforge.operators.offload`); the request to the
model itself goes out from a process of its own (:mod:`evoforge.llm.request_process`).

Contract:

* an operator runs on a copy of the job's context, with the same random generator state,
  so it proposes exactly the child it would propose in the driver: a run is the same
  (with one worker, identical) whether its operators run here or there. The prompt
  material of a context (``pool``, ``recent``) and its ``call_log`` stay on the driver:
  the symbolic operators do not read them;
* an operator that raises yields a failed proposal saying why, as in the driver;
* a worker that dies (a parse that exhausts memory, a signal) costs the job it was
  running, which yields no child; the pool starts fresh workers for the next jobs.

Each worker is a fresh interpreter (``python -c``) that talks to the driver through two
pipes, one pickled request and one pickled answer at a time: it never re-runs the
user's main script (as ``multiprocessing``'s spawn and forkserver methods do), never
inherits the driver's threads (as fork does), and exits as soon as the driver goes away
(its stdin reaches end of file), ``kill -9`` included. Both ends are evoforge's own
code; a worker never runs a candidate, it only reads candidates' text.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import sys
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Any

from evoforge.config import OperatorsConfig
from evoforge.facts import ChildFacts, FactsSettings, child_facts
from evoforge.operators.answers import AnswerRequest, AppliedAnswer, FailedAnswer, apply_answers
from evoforge.operators.base import Operator, Proposal, ProposalContext, run_operator
from evoforge.operators.prompts import Prompt, PromptBuilder
from evoforge.operators.registry import build_operators
from evoforge.pipe_frames import (
    FramedChild,
    frame_bytes,
    read_frame,
    receive_frame,
    send_frame,
    write_frame,
)
from evoforge.program import Program
from evoforge.registry import OPERATORS, forgo_plugins

__all__ = ["ProposalPool", "WorkerDied", "propose_with_facts", "runs_apart", "serve"]

_WORKER_COMMAND = "from evoforge.operators.pool import serve; serve()"
_STOP_TIMEOUT_S = 5.0


def runs_apart(operator: str) -> bool:
    """Whether ``operator`` runs in the pool: a symbolic operator that evoforge itself
    registers (a worker is a fresh interpreter and knows only those)."""
    return OPERATORS.has(operator, "symbolic") and OPERATORS.entry(operator).target.startswith(
        "evoforge."
    )


class WorkerDied(RuntimeError):
    """A worker process ended (or its pipe broke) before answering."""


_MEMO_SIZE = 256  # proposals of code-only operators a worker remembers
_KNOWN_FACTS = 64  # facts of applied answers the pool keeps until the step asks for them


@dataclass
class _WorkerState:
    """What one worker process holds: its operators, the facts settings, an event loop,
    and the latest proposals of operators that depend on the parent's code alone."""

    operators: dict[str, Operator]
    settings: FactsSettings
    loop: asyncio.AbstractEventLoop
    memo: OrderedDict[tuple[str, str, frozenset[str]], Proposal | None] = field(
        default_factory=OrderedDict
    )

    def answer(self, request: tuple[str, tuple[Any, ...]]) -> Any:
        kind, args = request
        if kind == "propose":
            name, context = args
            return self._propose(self.operators[name], context)
        if kind == "facts":
            parent_code, code = args
            return child_facts(parent_code, code, self.settings)
        if kind == "answers":
            (answer_request,) = args
            found = apply_answers(answer_request)
            if not isinstance(found, AppliedAnswer):
                return found, None
            return found, child_facts(answer_request.parent_code, found.code, self.settings)
        if kind == "prompt":
            builder, prompt_kind, context, second = args
            return builder.build(prompt_kind, context, second)
        raise ValueError(f"unknown request {kind!r}")

    def _propose(self, operator: Operator, context: ProposalContext) -> Proposal | None:
        """The operator's proposal with its facts; for an operator that depends on the
        parent's code alone, the one it made for the same code before when remembered
        (the same proposal, without the parse and edits: a parent is often picked again)."""
        if not operator.depends_on_code_only:
            return self.loop.run_until_complete(
                propose_with_facts(operator, context, self.settings)
            )
        key = (operator.name, context.parent.code, context.protected_names)
        if key in self.memo:
            self.memo.move_to_end(key)
            return self.memo[key]
        proposal = self.loop.run_until_complete(
            propose_with_facts(operator, context, self.settings)
        )
        self.memo[key] = proposal
        if len(self.memo) > _MEMO_SIZE:
            self.memo.popitem(last=False)
        return proposal


def serve() -> None:
    """A worker's main loop: the first frame holds the operators' config and the facts
    settings, every later one a request; one answer per request, until end of input."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers may reach the driver's pipe
    forgo_plugins()  # a worker runs evoforge's own operators only (runs_apart)
    try:
        config, settings = read_frame(stdin)
    except EOFError:
        return
    symbolic = [name for name in config.enabled if runs_apart(name)]
    state = _WorkerState(
        operators=build_operators(config.model_copy(update={"enabled": symbolic})),
        settings=settings,
        loop=asyncio.new_event_loop(),
    )
    while True:
        try:
            request = read_frame(stdin)
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, state.answer(request))
        except Exception as exc:  # reported to the driver, which yields no child
            answer = (False, f"{type(exc).__name__}: {exc}")
        try:
            write_frame(stdout, answer)
        except (BrokenPipeError, OSError):
            return


async def propose_with_facts(
    operator: Operator, context: ProposalContext, settings: FactsSettings
) -> Proposal | None:
    """Run ``operator`` (:func:`~evoforge.operators.base.run_operator`: one that raises
    or answers with something else yields a failed proposal) and attach the child's
    facts; None when it proposes nothing. A refused proposal (``rejection``) gets no
    facts."""
    proposal = await run_operator(operator, context)
    if proposal is None or proposal.rejection:
        return proposal
    return replace(proposal, facts=child_facts(context.parent.code, proposal.code, settings))


class _WorkerProcess(FramedChild):
    """The driver's end of one worker: a child process and its two pipes, both
    non-blocking, read and written by coroutines on the caller's event loop."""

    def __init__(self, config: OperatorsConfig, settings: FactsSettings) -> None:
        super().__init__(_WORKER_COMMAND)
        self._in = self.stdin.fileno()
        self._out = self.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        # a worker builds evoforge's own operators only, and may not import a plugin;
        # its setup goes out with the first request (the worker may still be starting)
        self._setup: bytes = frame_bytes((config.builtin_only(), settings))

    async def call(self, request: tuple[str, tuple[Any, ...]]) -> Any:
        """Send one request and wait for its answer, on the running loop."""
        data, self._setup = self._setup + frame_bytes(request), b""
        try:
            await send_frame(self._in, data)
        except (OSError, ValueError) as exc:
            raise WorkerDied(f"proposal worker {self.process.pid} is gone: {exc}") from exc
        try:
            ok, answer = await receive_frame(self._out)
        except (EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
            raise WorkerDied(f"proposal worker {self.process.pid} died: {exc}") from exc
        if not ok:
            raise RuntimeError(f"proposal worker failed: {answer}")
        return answer

    def stop(self) -> None:
        """Close its input (it exits), wait a little, then kill it."""
        self.end(_STOP_TIMEOUT_S)
        self.close_output()


class ProposalPool:
    """``processes`` worker processes for the symbolic operators of ``config`` and for
    children's facts, started on first use (or all at once by :meth:`start`);
    :meth:`close` stops them. Calls may come from any event loop (one after the other or
    concurrently, from any thread): a call takes an idle worker (or waits for one),
    writes its request and reads the answer on its own loop, which never blocks, and
    needs no thread. A call cancelled while its worker works costs that worker (it is
    stopped, and the next call on its slot starts a fresh one).

    The facts of a model's applied answer are computed in the worker that applied it
    and kept for :meth:`facts` (the next step asks for exactly them): one round trip
    per child instead of two."""

    def __init__(self, config: OperatorsConfig, settings: FactsSettings, processes: int) -> None:
        if processes < 1:
            raise ValueError("a proposal pool needs at least one process")
        self.config = config
        self.settings = settings
        self.processes = processes
        self._symbolic = frozenset(name for name in config.enabled if runs_apart(name))
        self._lock = threading.Lock()
        self._idle: deque[_WorkerProcess | None] = deque([None] * processes)
        self._waiters: deque[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[_WorkerProcess | None]]
        ] = deque()
        self._workers: list[_WorkerProcess] = []
        self._known_facts: dict[tuple[str, str], ChildFacts] = {}

    def runs(self, operator: str) -> bool:
        """Whether this pool runs ``operator`` (the symbolic ones)."""
        return operator in self._symbolic

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers started so far (and still owned)."""
        return [worker.process.pid for worker in self._workers]

    def start(self) -> None:
        """Start every idle slot's worker process now, without waiting for it: a worker
        imports evoforge and builds its operators while the driver does something else
        (scores the seed), and the first proposals find it ready. Without this call each
        worker starts on its first request."""
        with self._lock:
            for index, worker in enumerate(self._idle):
                if worker is None:
                    self._idle[index] = worker = _WorkerProcess(self.config, self.settings)
                    self._workers.append(worker)

    async def propose(self, operator: str, context: ProposalContext) -> Proposal | None:
        """The child ``operator`` proposes from ``context``, with its facts; None when
        it proposes nothing, raises, or its worker dies."""
        shipped = replace(context, pool=(), recent=(), call_log=None, offload=None)
        answer: Proposal | None = await self._call(("propose", (operator, shipped)))
        return answer

    async def facts(self, parent_code: str, code: str) -> ChildFacts | None:
        """The facts of ``code``, a child of ``parent_code`` (None if its worker died);
        those of an answer this pool applied come from memory."""
        with self._lock:
            known = self._known_facts.pop((parent_code, code), None)
        if known is not None:
            return known
        answer: ChildFacts | None = await self._call(("facts", (parent_code, code)))
        return answer

    async def apply_answers(
        self, request: AnswerRequest
    ) -> AppliedAnswer | list[FailedAnswer] | None:
        """A language model's answers applied to their parent in a worker
        (:func:`~evoforge.operators.answers.apply_answers`); None if its worker died.
        The child's facts, computed there too, wait for :meth:`facts`."""
        answer: (
            tuple[AppliedAnswer | list[FailedAnswer], ChildFacts | None] | None
        ) = await self._call(("answers", (request,)))
        if answer is None:
            return None
        found, facts = answer
        if isinstance(found, AppliedAnswer) and facts is not None:
            with self._lock:
                self._known_facts[(request.parent_code, found.code)] = facts
                while len(self._known_facts) > _KNOWN_FACTS:
                    del self._known_facts[next(iter(self._known_facts))]
        return found

    async def build_prompt(
        self,
        builder: PromptBuilder,
        kind: str,
        context: ProposalContext,
        second: Program | None,
    ) -> Prompt | None:
        """``builder.build(kind, context, second)`` in a worker (the context's prompt
        material travels with it); None if its worker died."""
        shipped = replace(context, call_log=None, offload=None)
        prompt: Prompt | None = await self._call(("prompt", (builder, kind, shipped, second)))
        return prompt

    async def _call(self, request: tuple[str, tuple[Any, ...]]) -> Any:
        """``request`` answered by an idle worker; None when the worker dies or the
        request fails in it."""
        worker = await self._acquire()
        try:
            if worker is None:
                worker = _WorkerProcess(self.config, self.settings)
                with self._lock:
                    self._workers.append(worker)
            return await worker.call(request)
        except WorkerDied:
            self._retire(worker)
            worker = None  # the next call on this slot starts a fresh one
            return None
        except RuntimeError:  # the request failed in the worker: no child
            return None
        except BaseException:  # cancelled (or interrupted) with its answer still coming
            self._retire(worker)
            worker = None
            raise
        finally:
            self._release(worker)

    async def _acquire(self) -> _WorkerProcess | None:
        """An idle slot's worker (None: start one); while every worker works, wait for
        the first one released, handed over in the order the calls came."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._idle:
                return self._idle.popleft()
            waiter: asyncio.Future[_WorkerProcess | None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            return await waiter
        except BaseException:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove((loop, waiter))
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed over as this call was cancelled
            raise

    def _release(self, worker: _WorkerProcess | None) -> None:
        """Hand ``worker`` (its slot) to the longest waiting call whose loop still runs,
        or put it back among the idle ones."""
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                if _running_here(loop):
                    loop.call_soon(_hand_over, self, waiter, worker)
                    return
                with contextlib.suppress(RuntimeError):  # its loop is closed
                    loop.call_soon_threadsafe(_hand_over, self, waiter, worker)
                    return
            self._idle.append(worker)

    def _retire(self, worker: _WorkerProcess | None) -> None:
        if worker is None:
            return
        with self._lock, contextlib.suppress(ValueError):
            self._workers.remove(worker)
        worker.process.kill()
        worker.stop()

    def close(self) -> None:
        """Stop the workers. Safe to call more than once; a later call starts new ones."""
        with self._lock:
            workers, self._workers = self._workers, []
            self._idle = deque([None] * self.processes)
            self._known_facts.clear()
        for worker in workers:
            worker.stop()


def _hand_over(
    pool: ProposalPool,
    waiter: asyncio.Future[_WorkerProcess | None],
    worker: _WorkerProcess | None,
) -> None:
    """Give ``worker`` to the call waiting on ``waiter``; one that was cancelled in the
    meantime passes it on."""
    if waiter.done():
        pool._release(worker)
    else:
        waiter.set_result(worker)


def _running_here(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` is the loop running in this thread."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
