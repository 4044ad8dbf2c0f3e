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
import concurrent.futures
import contextlib
import pickle
import queue
import sys
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from evoforge.config import OperatorsConfig
from evoforge.facts import ChildFacts, FactsSettings, child_facts
from evoforge.operators.answers import AnswerRequest, AppliedAnswer, FailedAnswer, apply_answers
from evoforge.operators.base import Operator, Proposal, ProposalContext, run_operator
from evoforge.operators.prompts import Prompt, PromptBuilder
from evoforge.operators.registry import build_operators
from evoforge.pipe_frames import FramedChild, read_frame, write_frame
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
            return apply_answers(answer_request)
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
    """The driver's end of one worker: a child process and its two pipes."""

    def __init__(self, config: OperatorsConfig, settings: FactsSettings) -> None:
        super().__init__(_WORKER_COMMAND)
        # a worker builds evoforge's own operators only, and may not import a plugin
        self._send((config.builtin_only(), settings))

    def _send(self, payload: Any) -> None:
        try:
            write_frame(self.stdin, payload)
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise WorkerDied(f"proposal worker {self.process.pid} is gone: {exc}") from exc

    def call(self, request: tuple[str, tuple[Any, ...]]) -> Any:
        """Send one request and wait for its answer (blocking)."""
        self._send(request)
        try:
            ok, answer = read_frame(self.stdout)
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
    :meth:`close` stops them. Calls may come from
    any event loop (one after the other or concurrently): each is carried by one of the
    pool's own threads (one per process, so calls never queue behind the evaluations in
    the loop's default executor), and the loop itself never blocks."""

    def __init__(self, config: OperatorsConfig, settings: FactsSettings, processes: int) -> None:
        if processes < 1:
            raise ValueError("a proposal pool needs at least one process")
        self.config = config
        self.settings = settings
        self.processes = processes
        self._symbolic = frozenset(name for name in config.enabled if runs_apart(name))
        self._idle: queue.Queue[_WorkerProcess | None] | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._workers: list[_WorkerProcess] = []

    def runs(self, operator: str) -> bool:
        """Whether this pool runs ``operator`` (the symbolic ones)."""
        return operator in self._symbolic

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers started so far (and still owned)."""
        return [worker.process.pid for worker in self._workers]

    def start(self) -> None:
        """Start every worker process now, without waiting for it: a worker imports
        evoforge and builds its operators while the driver does something else (scores
        the seed), and the first proposals find it ready. Without this call each worker
        starts on its first request."""
        idle, _ = self._start()
        slots: list[_WorkerProcess | None] = []
        while True:
            try:
                slots.append(idle.get_nowait())
            except queue.Empty:
                break
        try:
            for index, worker in enumerate(slots):
                if worker is None:
                    slots[index] = worker = _WorkerProcess(self.config, self.settings)
                    self._workers.append(worker)
        finally:
            for worker in slots:
                idle.put(worker)

    async def propose(self, operator: str, context: ProposalContext) -> Proposal | None:
        """The child ``operator`` proposes from ``context``, with its facts; None when
        it proposes nothing, raises, or its worker dies."""
        shipped = replace(context, pool=(), recent=(), call_log=None, offload=None)
        answer: Proposal | None = await self._call(("propose", (operator, shipped)))
        return answer

    async def facts(self, parent_code: str, code: str) -> ChildFacts | None:
        """The facts of ``code``, a child of ``parent_code`` (None if its worker died)."""
        answer: ChildFacts | None = await self._call(("facts", (parent_code, code)))
        return answer

    async def apply_answers(
        self, request: AnswerRequest
    ) -> AppliedAnswer | list[FailedAnswer] | None:
        """A language model's answers applied to their parent in a worker
        (:func:`~evoforge.operators.answers.apply_answers`); None if its worker died."""
        answer: AppliedAnswer | list[FailedAnswer] | None = await self._call(
            ("answers", (request,))
        )
        return answer

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
        idle, threads = self._start()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(threads, self._call_blocking, idle, request)

    def _start(
        self,
    ) -> tuple[queue.Queue[_WorkerProcess | None], concurrent.futures.ThreadPoolExecutor]:
        if self._idle is None or self._threads is None:
            self._idle = queue.Queue()
            for _ in range(self.processes):
                self._idle.put(None)  # a slot: its worker starts on first use
            self._threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.processes, thread_name_prefix="evoforge-proposals"
            )
        return self._idle, self._threads

    def _call_blocking(
        self, idle: queue.Queue[_WorkerProcess | None], request: tuple[str, tuple[Any, ...]]
    ) -> Any:
        worker = idle.get()
        try:
            if worker is None:
                worker = _WorkerProcess(self.config, self.settings)
                self._workers.append(worker)
            return worker.call(request)
        except WorkerDied:
            self._retire(worker)
            worker = None  # the next call on this slot starts a fresh one
            return None
        except RuntimeError:  # the request failed in the worker: no child
            return None
        finally:
            idle.put(worker)

    def _retire(self, worker: _WorkerProcess | None) -> None:
        if worker is None:
            return
        with contextlib.suppress(ValueError):
            self._workers.remove(worker)
        worker.process.kill()
        worker.stop()

    def close(self) -> None:
        """Stop the workers. Safe to call more than once; a later call starts new ones."""
        workers, self._workers = self._workers, []
        threads, self._threads = self._threads, None
        self._idle = None
        for worker in workers:
            worker.stop()
        if threads is not None:
            threads.shutdown(wait=True)
