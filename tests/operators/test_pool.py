"""The proposal pool runs the symbolic operators in worker processes, exactly as in the
driver, attaches each child's facts, and survives a worker that dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from operator_cases import PROGRAMS, make_program

from evoforge.config import NoveltyConfig, OperatorsConfig, PromptConfig
from evoforge.facts import FactsSettings, child_facts
from evoforge.operators.answers import AnswerRequest, AppliedAnswer, apply_answers
from evoforge.operators.base import Proposal, ProposalContext
from evoforge.operators.pool import ProposalPool, _WorkerState, propose_with_facts
from evoforge.operators.prompts import PromptBuilder
from evoforge.operators.registry import build_operators
from evoforge.operators.simplify import SimplifyOperator
from evoforge.registry import OPERATORS

CODE = PROGRAMS["two_blocks"]
SETTINGS = FactsSettings(
    initial_code=CODE, static_check=True, novelty=NoveltyConfig(), complexity=True
)


def _partner() -> str:
    return CODE.replace("delta = rate * (1.0 - value)", "delta = rate * (2.0 - value) ** 2")


def _context(seed: int) -> ProposalContext:
    parent = make_program(CODE)
    partner = make_program(_partner(), program_id="partner")
    relatives = tuple(
        make_program(CODE.replace("0.25", str(0.25 + k / 100)), program_id=f"r{k}")
        for k in range(3)
    )
    return ProposalContext(
        parent=parent,
        rng=np.random.default_rng(seed),
        inspirations=(partner,),
        relatives=relatives,
        pool=(partner,),
        recent=(partner,),
    )


@pytest.fixture
def pool() -> Iterator[ProposalPool]:
    proposal_pool = ProposalPool(OperatorsConfig(), SETTINGS, processes=1)
    try:
        yield proposal_pool
    finally:
        proposal_pool.close()


def test_every_symbolic_operator_proposes_in_the_pool_what_it_proposes_here(
    pool: ProposalPool,
) -> None:
    operators = build_operators(OperatorsConfig())
    assert set(operators) == set(OPERATORS.names("symbolic"))
    for name, operator in operators.items():
        assert pool.runs(name)
        for seed in range(3):
            here = asyncio.run(propose_with_facts(operator, _context(seed), SETTINGS))
            there = asyncio.run(pool.propose(name, _context(seed)))
            assert (here is None) == (there is None), (name, seed)
            if here is None or there is None:
                continue
            assert there == here, (name, seed)
            assert here.facts is not None and there.facts is not None
            expected = child_facts(CODE, here.code, SETTINGS)
            for facts in (here.facts, there.facts):
                assert facts.code_hash == expected.code_hash
                assert facts.skeleton == expected.skeleton
                assert facts.complexity == expected.complexity
                assert facts.undefined_names == expected.undefined_names
                assert expected.signature is not None and facts.signature is not None
                assert np.array_equal(facts.signature, expected.signature)


def test_language_model_operators_are_left_to_the_driver(pool: ProposalPool) -> None:
    assert not pool.runs("llm_diff")
    assert not pool.runs("no_such_operator")


def test_facts_of_a_model_child_are_computed_in_the_pool(pool: ProposalPool) -> None:
    child = CODE.replace("0.25", "0.3")
    facts = asyncio.run(pool.facts(CODE, child))
    assert facts is not None
    assert facts.code_hash == child_facts(CODE, child, SETTINGS).code_hash
    broken = asyncio.run(pool.facts(CODE, CODE + "\ndef (:\n"))
    assert broken is not None and broken.syntax_error is not None


def test_a_worker_that_dies_costs_one_child_and_is_replaced(pool: ProposalPool) -> None:
    async def scenario() -> tuple[object, object]:
        await pool.propose("tune", _context(0))  # starts the worker
        (pid,) = pool.pids
        os.kill(pid, signal.SIGSTOP)  # hold it mid-way, then kill it with a request pending
        pending = asyncio.ensure_future(pool.propose("tune", _context(1)))
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        lost = await pending
        after = await pool.propose("tune", _context(2))
        return lost, after

    lost, after = asyncio.run(scenario())
    assert lost is None
    assert after is not None
    assert len(pool.pids) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl_c", "hangup"])
def test_a_worker_ignores_a_terminals_ctrl_c_and_hangup(
    pool: ProposalPool, capfd: pytest.CaptureFixture[str], sig: signal.Signals
) -> None:
    """A terminal's Ctrl-C, and its SIGHUP when it closes, reach every process of the
    foreground group; the driver decides when a run stops, so a worker keeps serving and
    prints no traceback."""

    async def scenario() -> tuple[int, object]:
        await pool.propose("tune", _context(0))  # starts the worker
        (pid,) = pool.pids
        os.kill(pid, sig)
        await asyncio.sleep(0.2)
        return pid, await pool.propose("tune", _context(1))

    pid, after = asyncio.run(scenario())
    assert after is not None
    assert pool.pids == [pid]  # the same worker answered
    assert "KeyboardInterrupt" not in capfd.readouterr().err


def test_close_stops_the_workers(pool: ProposalPool) -> None:
    asyncio.run(pool.propose("mutate", _context(0)))
    (pid,) = pool.pids
    pool.close()
    assert pool.pids == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_models_answers_are_applied_in_the_pool_as_they_are_here(pool: ProposalPool) -> None:
    edit = (
        "<<<<<<< SEARCH\n    delta = rate * (1.0 - value)\n=======\n"
        "    delta = rate * (2.0 - value)\n>>>>>>> REPLACE\n"
    )
    for texts in (("prose", edit), ("prose",), ("```python\nx = (\n```",)):
        request = AnswerRequest("diff" if edit in texts else "rewrite", CODE, texts)
        assert asyncio.run(pool.apply_answers(request)) == apply_answers(request)


def test_answers_whose_worker_dies_are_lost_not_the_run(pool: ProposalPool) -> None:
    request = AnswerRequest("rewrite", CODE, ("```python\n" + _partner() + "\n```",))

    async def scenario() -> tuple[object, object]:
        await pool.apply_answers(request)  # starts the worker
        (pid,) = pool.pids
        os.kill(pid, signal.SIGSTOP)
        pending = asyncio.ensure_future(pool.apply_answers(request))
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        return await pending, await pool.apply_answers(request)

    lost, after = asyncio.run(scenario())
    assert lost is None
    assert isinstance(after, AppliedAnswer)


@pytest.mark.parametrize("policy", ["top", "diverse", "nearest"])
def test_a_prompt_is_built_in_the_pool_as_it_is_here(pool: ProposalPool, policy: str) -> None:
    builder = PromptBuilder(
        PromptConfig(inspirations=2, inspiration_policy=policy), "Fit a curve.", CODE
    )
    partner = make_program(_partner(), program_id="partner", score=0.5, seq=1)
    context = replace(_context(0), inspirations=(partner,), pool=(partner,))
    for kind, second in (("diff", None), ("rewrite", None), ("crossover", partner)):
        here = builder.build(kind, context, second)
        there = asyncio.run(pool.build_prompt(builder, kind, context, second))
        assert there == here, (kind, policy)
        assert "2.0 - value" in here.user  # the prompt material (the partner) travelled


def test_start_launches_every_worker_before_the_first_request() -> None:
    pool = ProposalPool(OperatorsConfig(), SETTINGS, processes=2)
    try:
        assert pool.pids == []
        pool.start()
        started = sorted(pool.pids)
        assert len(started) == 2
        for pid in started:
            os.kill(pid, 0)  # alive

        async def both() -> list[object]:
            return list(
                await asyncio.gather(pool.propose("tune", _context(0)), pool.facts(CODE, CODE))
            )

        answers = asyncio.run(both())
        assert all(answer is not None for answer in answers)
        assert sorted(pool.pids) == started  # the requests went to the started workers
        pool.start()  # again: nothing more to start
        assert sorted(pool.pids) == started
    finally:
        pool.close()
    assert pool.pids == []


class _CountingSimplify(SimplifyOperator):
    """Simplify, counting the proposals it really made."""

    calls = 0

    async def propose(self, context: ProposalContext) -> Proposal | None:
        type(self).calls += 1
        return await super().propose(context)


def _worker(operator: SimplifyOperator) -> _WorkerState:
    return _WorkerState(
        operators={operator.name: operator}, settings=SETTINGS, loop=asyncio.new_event_loop()
    )


def test_a_worker_answers_a_code_only_operator_from_memory_for_a_parent_it_has_seen() -> None:
    operator = _CountingSimplify()
    _CountingSimplify.calls = 0
    state = _worker(operator)
    try:
        first = state.answer(("propose", ("simplify", _context(0))))
        again = state.answer(("propose", ("simplify", _context(1))))  # another generator
        protected = replace(_context(2), protected_names=frozenset({"step"}))
        other = state.answer(("propose", ("simplify", protected)))
    finally:
        state.loop.close()
    here = asyncio.run(propose_with_facts(SimplifyOperator(), _context(0), SETTINGS))
    assert first == again == here
    # the same code and protected names: made once; other protected names: made again
    assert _CountingSimplify.calls == 2
    assert other == asyncio.run(propose_with_facts(SimplifyOperator(), protected, SETTINGS))


def test_operators_that_say_they_depend_on_code_only_do() -> None:
    """Whatever else the context holds (generator, inspirations, relatives), an operator
    declaring ``depends_on_code_only`` proposes the same child from the same code."""
    operators = build_operators(OperatorsConfig())
    code_only = [op for op in operators.values() if op.depends_on_code_only]
    assert [op.name for op in code_only] == ["simplify"]
    for operator in code_only:
        for code in PROGRAMS.values():
            proposals = [
                asyncio.run(
                    propose_with_facts(
                        operator, replace(_context(seed), parent=make_program(code)), SETTINGS
                    )
                )
                for seed in range(3)
            ]
            assert proposals[0] == proposals[1] == proposals[2], operator.name


def test_the_facts_of_an_applied_answer_come_with_it_and_need_no_second_request(
    pool: ProposalPool,
) -> None:
    """The worker that applies a model's answer computes the child's facts there; the
    step's request for them is answered from memory (here with the worker gone), once."""
    request = AnswerRequest("rewrite", CODE, ("```python\n" + _partner() + "\n```",))

    async def scenario() -> tuple[object, object, object]:
        found = await pool.apply_answers(request)
        assert isinstance(found, AppliedAnswer)
        (pid,) = pool.pids
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        remembered = await pool.facts(CODE, found.code)
        asked_again = await pool.facts(CODE, found.code)  # forgotten once given: a request
        return found, remembered, asked_again

    found, remembered, asked_again = asyncio.run(scenario())
    assert isinstance(found, AppliedAnswer)
    expected = child_facts(CODE, found.code, SETTINGS)
    assert remembered is not None and asked_again is None  # the dead worker's request
    assert remembered.code_hash == expected.code_hash
    assert remembered.skeleton == expected.skeleton


def test_calls_run_on_the_loop_with_no_thread_and_queue_for_a_busy_worker(
    pool: ProposalPool,
) -> None:
    """Requests and answers travel on the caller's event loop: no thread is started,
    and five calls at once on one worker are all answered."""
    before = threading.active_count()

    async def five() -> list[object]:
        return list(
            await asyncio.gather(*(pool.propose("tune", _context(seed)) for seed in range(5)))
        )

    answers = asyncio.run(five())
    assert all(answer is not None for answer in answers)
    assert len(pool.pids) == 1
    assert threading.active_count() == before


def test_calls_from_two_event_loops_at_once_share_the_workers(pool: ProposalPool) -> None:
    results: list[object] = []

    def run_loop(seed: int) -> None:
        async def three() -> list[object]:
            return [await pool.propose("mutate", _context(seed + k)) for k in range(3)]

        results.extend(asyncio.run(three()))

    threads = [threading.Thread(target=run_loop, args=(seed,)) for seed in (0, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 6 and all(result is not None for result in results)
    assert len(pool.pids) == 1


def test_a_large_request_to_a_stalled_worker_never_blocks_the_loop(pool: ProposalPool) -> None:
    """A request larger than a pipe holds, sent to a worker that does not read (still
    starting, or stopped), waits on the loop while the loop goes on; cancelling the call
    costs that worker, and the next call gets a fresh one."""
    big = make_program(CODE + "\n# " + "x" * 400_000, program_id="big")
    builder = PromptBuilder(PromptConfig(), "Fit a curve.", CODE)
    context = replace(_context(0), pool=(big,), recent=(big,))

    async def scenario() -> tuple[int, int, object]:
        await pool.propose("tune", _context(0))  # starts the worker
        (stalled,) = pool.pids
        os.kill(stalled, signal.SIGSTOP)
        pending = asyncio.ensure_future(pool.build_prompt(builder, "diff", context, None))
        ticks = 0
        for _ in range(10):  # the loop keeps running while the request waits
            await asyncio.sleep(0.02)
            ticks += 1
        assert not pending.done()
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        return stalled, ticks, await pool.propose("tune", _context(1))

    stalled, ticks, after = asyncio.run(scenario())
    assert ticks == 10
    assert after is not None
    assert pool.pids != [stalled]  # the stalled worker was stopped and replaced
    with pytest.raises(ProcessLookupError):
        os.kill(stalled, 0)


def test_calls_waiting_for_a_busy_worker_get_it_in_the_order_they_came(
    pool: ProposalPool,
) -> None:
    finished: list[int] = []

    async def one(seed: int) -> None:
        await pool.propose("tune", _context(seed))
        finished.append(seed)

    async def six() -> None:
        await pool.propose("tune", _context(0))  # the worker is up
        await asyncio.gather(*(one(seed) for seed in range(1, 7)))

    asyncio.run(six())
    assert finished == [1, 2, 3, 4, 5, 6]


def test_a_call_cancelled_while_it_waits_passes_the_worker_on(pool: ProposalPool) -> None:
    async def scenario() -> list[object]:
        await pool.propose("tune", _context(0))
        first = asyncio.ensure_future(pool.propose("tune", _context(1)))
        waiting = asyncio.ensure_future(pool.propose("tune", _context(2)))
        last = asyncio.ensure_future(pool.propose("tune", _context(3)))
        await asyncio.sleep(0)  # all three have asked for the one worker
        waiting.cancel()
        return [await first, await last]

    answers = asyncio.run(scenario())
    assert all(answer is not None for answer in answers)
    assert len(pool.pids) == 1
