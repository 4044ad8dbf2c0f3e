"""Model requests sent from a process of their own: the same answers, records and failures
as the client in the driver, many in flight, and a process that dies costs only its
requests in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import evoforge
from evoforge.config import LLMModelConfig, resolve_config
from evoforge.engine import build_llm
from evoforge.llm.client import ChatRequest, LLMCallError, OpenAIChatClient, RetryPolicy
from evoforge.llm.oracle import start_oracle
from evoforge.llm.records import CallOutcome
from evoforge.llm.request_process import ProcessChatClient, RequestProcess
from evoforge.problem import load_problem
from evoforge.storage.db import RunDatabase

from .conftest import ScriptedServer, answer, hang, status

REQUEST = ChatRequest(messages=({"role": "user", "content": "hello"},), operator="test")
KEY_VARIABLE = "EVOFORGE_TEST_REQUEST_PROCESS_KEY"


def _process(url: str, *, retries: int = 0, timeout_s: float = 2.0) -> RequestProcess:
    model = LLMModelConfig(model="m", base_url=url, timeout_s=timeout_s, api_key_env=KEY_VARIABLE)
    return RequestProcess([model], RetryPolicy(retries, 0.01, 0.05), [0])


async def _ask(process: RequestProcess, request: ChatRequest = REQUEST) -> Any:
    try:
        return await process.complete("m", request)
    finally:
        await process.aclose()


def test_an_answer_comes_back_with_its_record_and_the_key_from_the_environment(
    scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "sk-test-inherited")
    scripted_server.extend(answer("hi there"))
    response = asyncio.run(_ask(_process(scripted_server.url)))
    assert response.texts == ("hi there",)
    assert response.model == "m"
    (record,) = response.records
    assert record.outcome is CallOutcome.OK
    assert (record.tokens_in, record.tokens_out) == (100, 20)
    assert "hello" in record.prompt and record.response == "hi there"
    assert scripted_server.authorizations == ["Bearer sk-test-inherited"]


def test_many_requests_are_in_flight_at_once(scripted_server: ScriptedServer) -> None:
    process = _process(scripted_server.url)

    async def ask_many() -> list[Any]:
        try:
            requests = [
                ChatRequest(messages=({"role": "user", "content": f"question {i}"},))
                for i in range(12)
            ]
            return await asyncio.gather(*(process.complete("m", r) for r in requests))
        finally:
            await process.aclose()

    responses = asyncio.run(ask_many())
    assert len(responses) == 12
    assert all(response.texts == ("I have nothing to add.",) for response in responses)
    asked = sorted(request["messages"][0]["content"] for request in scripted_server.requests)
    assert asked == sorted(f"question {i}" for i in range(12))


def test_a_failure_crosses_with_its_outcome_and_every_attempt(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.extend(status(500), status(500))
    with pytest.raises(LLMCallError) as failed:
        asyncio.run(_ask(_process(scripted_server.url, retries=1)))
    assert failed.value.outcome is CallOutcome.SERVER_ERROR and not failed.value.fatal
    assert [record.outcome for record in failed.value.records] == [CallOutcome.SERVER_ERROR] * 2
    assert "after 2 attempts" in str(failed.value)

    scripted_server.extend(status(401))
    with pytest.raises(LLMCallError) as unauthorised:
        asyncio.run(_ask(_process(scripted_server.url, retries=3)))
    assert unauthorised.value.outcome is CallOutcome.AUTH_ERROR and unauthorised.value.fatal
    assert len(unauthorised.value.records) == 1


def test_a_killed_process_fails_its_request_and_the_next_request_starts_another(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.extend(hang(10.0), answer("after the restart"))
    process = _process(scripted_server.url, timeout_s=20.0)

    async def kill_while_waiting() -> tuple[LLMCallError, Any, int, int | None]:
        try:
            waiting = asyncio.ensure_future(process.complete("m", REQUEST))
            for _ in range(500):  # until the server holds the request (at most 10 s)
                if scripted_server.requests:
                    break
                await asyncio.sleep(0.02)
            first = process.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            with pytest.raises(LLMCallError) as failed:
                await waiting
            response = await process.complete("m", REQUEST)
            return failed.value, response, first, process.pid
        finally:
            await process.aclose()

    failure, response, first, second = asyncio.run(kill_while_waiting())
    assert failure.outcome is CallOutcome.CONNECTION_ERROR
    assert "exited" in str(failure)
    assert response.texts == ("after the restart",)
    assert second is not None and second != first


def test_a_large_request_to_a_stalled_process_never_holds_the_drivers_loop(
    scripted_server: ScriptedServer,
) -> None:
    """With the request process stopped (SIGSTOP), a request far larger than a pipe holds
    is sent; the driver's loop keeps running meanwhile, and once the process goes on the
    request is answered. A watchdog lets the process go on after 20 s whatever happens,
    so a loop that was held shows as a failure, not a hang."""
    process = _process(scripted_server.url, timeout_s=20.0)
    large = ChatRequest(messages=({"role": "user", "content": "x" * 2_000_000},), operator="test")
    resumed = threading.Event()

    def resume(pid: int) -> None:
        if not resumed.is_set():
            resumed.set()
            os.kill(pid, signal.SIGCONT)

    async def scenario() -> tuple[bool, Any]:
        try:
            await process.complete("m", REQUEST)  # the process is up
            pid = process.pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            watchdog = threading.Timer(20.0, resume, args=(pid,))
            watchdog.start()
            try:
                sending = asyncio.ensure_future(process.complete("m", large))
                await asyncio.sleep(0.2)  # the loop must get here while the process is stopped
                loop_ran_while_stopped = not resumed.is_set()
                resume(pid)
                return loop_ran_while_stopped, await sending
            finally:
                watchdog.cancel()
        finally:
            await process.aclose()

    loop_ran_while_stopped, response = asyncio.run(scenario())
    assert loop_ran_while_stopped
    assert response.texts == ("I have nothing to add.",)
    assert len(scripted_server.requests[-1]["messages"][0]["content"]) == 2_000_000


def test_aclose_stops_the_process_and_a_later_request_starts_another(
    scripted_server: ScriptedServer,
) -> None:
    process = _process(scripted_server.url)

    async def ask_and_close() -> int:
        await process.complete("m", REQUEST)
        pid = process.pid
        assert pid is not None
        await process.aclose()
        await process.aclose()  # a second close is harmless
        return pid

    first = asyncio.run(ask_and_close())
    assert process.pid is None
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # reaped by aclose: the id is gone (or reused by another)
            os.kill(first, 0)
            time.sleep(0.05)
    response = asyncio.run(_ask(process))
    assert response.texts == ("I have nothing to add.",)


def test_a_run_is_the_same_with_requests_from_the_driver_or_their_process(
    curve_fit: Path, tmp_path: Path
) -> None:
    oracle = start_oracle(port=0, seed=5)
    try:
        programs = {}
        for request_process in (True, False):
            config = {
                "seed": 4,
                "run": {"workers": 1, "simplify_best": False},
                "operators": {"enabled": ["llm_diff", "llm_rewrite", "llm_crossover"]},
                "llm": {
                    "models": [{"model": "oracle", "base_url": oracle.url, "timeout_s": 30.0}],
                    "request_process": request_process,
                },
            }
            out = tmp_path / f"process-{request_process}"
            evoforge.run(curve_fit, iterations=12, config=config, out=out)
            db = RunDatabase(out / RunDatabase.FILENAME)
            try:
                programs[request_process] = [
                    (step.program.code_hash, step.program.operator, step.program.score)
                    for step in db.steps()
                ]
                calls = db.llm_calls()
            finally:
                db.close()
            assert len(calls) >= 12 and all(call.outcome is CallOutcome.OK for _, call in calls)
    finally:
        oracle.close()
    assert len(programs[True]) == 13
    assert programs[True] == programs[False]


@pytest.mark.parametrize(
    ("setting", "cores", "apart"),
    [
        ("auto", 16, True),
        ("auto", 4, True),
        ("auto", 2, False),
        (True, 2, True),
        (False, 16, False),
    ],
)
def test_requests_go_apart_when_set_or_on_machines_of_four_cores_or_more(
    curve_fit: Path, monkeypatch: pytest.MonkeyPatch, setting: Any, cores: int, apart: bool
) -> None:
    monkeypatch.setattr("evoforge.llm.request_process.usable_cpus", lambda: cores)
    config = resolve_config(
        cli_layer={
            "operators": {"enabled": ["llm_diff"]},
            "llm": {
                "models": [{"model": "m", "base_url": "http://127.0.0.1:9/v1"}],
                "request_process": setting,
            },
        }
    )
    services = build_llm(load_problem(curve_fit), config)
    assert services is not None
    (client,) = services.router.clients.values()
    assert isinstance(client, ProcessChatClient if apart else OpenAIChatClient)
    assert client.label == "m"
