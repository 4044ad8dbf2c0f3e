"""The real openai client against a real HTTP server: retries, backoff, accounting."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from evoforge.config import LLMConfig, LLMModelConfig
from evoforge.kinds import StopReason
from evoforge.llm.client import (
    ChatRequest,
    ChatResponse,
    LLMCallError,
    OpenAIChatClient,
    RetryPolicy,
    parse_retry_after,
)
from evoforge.llm.records import CallOutcome
from evoforge.llm.router import BudgetExhausted, ModelRouter

from .conftest import ScriptedServer, answer, drop, hang, raw, status

REQUEST = ChatRequest(messages=({"role": "user", "content": "hello"},), operator="test")


def _client(
    url: str, delays: list[float] | None = None, *, retries: int = 2, price: float = 0.0
) -> OpenAIChatClient:
    async def record_sleep(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)

    model = LLMModelConfig(
        model="m",
        base_url=url,
        timeout_s=1.0,
        price_input_per_mtok=price,
        price_output_per_mtok=2 * price,
    )
    return OpenAIChatClient(model, RetryPolicy(retries, 0.01, 5.0), sleep=record_sleep)


def test_answer_is_returned_with_tokens_and_cost(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(answer("hi there"))
    response = asyncio.run(_client(scripted_server.url, price=1.0).complete(REQUEST))
    assert response.texts == ("hi there",)
    (record,) = response.records
    assert record.outcome is CallOutcome.OK
    assert (record.tokens_in, record.tokens_out) == (100, 20)
    assert record.cost == pytest.approx((100 * 1.0 + 20 * 2.0) / 1e6)
    assert "hello" in record.prompt and record.response == "hi there"


def test_n_completions_are_requested(scripted_server: ScriptedServer) -> None:
    request = ChatRequest(messages=REQUEST.messages, n=3)
    response = asyncio.run(_client(scripted_server.url).complete(request))
    assert len(response.texts) == 3
    assert scripted_server.requests[-1]["n"] == 3


def test_429_honours_retry_after(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(status(429, Retry_After="2"), answer("ok"))
    delays: list[float] = []
    response = asyncio.run(_client(scripted_server.url, delays).complete(REQUEST))
    assert [r.outcome for r in response.records] == [CallOutcome.RATE_LIMITED, CallOutcome.OK]
    assert delays and delays[0] >= 2.0


def test_500_then_success_backs_off(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(status(500), status(503), answer("ok"))
    delays: list[float] = []
    response = asyncio.run(_client(scripted_server.url, delays).complete(REQUEST))
    outcomes = [r.outcome for r in response.records]
    assert outcomes == [CallOutcome.SERVER_ERROR, CallOutcome.SERVER_ERROR, CallOutcome.OK]
    assert len(delays) == 2 and all(d <= 5.0 for d in delays)


def test_hang_times_out_and_is_retried(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(hang(5.0), answer("late but fine"))
    response = asyncio.run(_client(scripted_server.url).complete(REQUEST))
    assert [r.outcome for r in response.records] == [CallOutcome.TIMEOUT, CallOutcome.OK]
    assert 0.9 < response.records[0].latency_s < 3.0


def test_broken_connection_is_a_connection_error(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(drop(), drop(), drop())
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(_client(scripted_server.url).complete(REQUEST))
    assert raised.value.outcome is CallOutcome.CONNECTION_ERROR
    assert len(raised.value.records) == 3  # the first attempt and two retries


def test_auth_error_is_fatal_and_not_retried(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(status(401))
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(_client(scripted_server.url).complete(REQUEST))
    assert raised.value.fatal and raised.value.outcome is CallOutcome.AUTH_ERROR
    assert len(raised.value.records) == 1


MAX_TOKENS_REFUSED = (
    "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead."
)
TEMPERATURE_REFUSED = (
    "Unsupported value: 'temperature' does not support 0.8 with this model. "
    "Only the default (1) value is supported."
)


def test_parameters_a_model_refuses_are_adapted_once_and_for_good(
    scripted_server: ScriptedServer,
) -> None:
    """As OpenAI's reasoning models answer: max_tokens goes by its newer name, a refused
    temperature is left to the model; both at once for every later request."""
    scripted_server.extend(
        status(400, MAX_TOKENS_REFUSED), status(400, TEMPERATURE_REFUSED), answer("first")
    )
    client = _client(scripted_server.url, retries=0)

    async def twice() -> tuple[str, str]:
        first = await client.complete(REQUEST)
        second = await client.complete(REQUEST)
        assert [r.outcome for r in first.records] == [CallOutcome.BAD_REQUEST] * 2 + [
            CallOutcome.OK
        ]
        assert len(second.records) == 1
        return first.texts[0], second.texts[0]

    assert asyncio.run(twice()) == ("first", "I have nothing to add.")
    sent = scripted_server.requests
    assert "max_tokens" in sent[0] and "max_completion_tokens" not in sent[0]
    assert sent[1]["max_completion_tokens"] == 4096 and "max_tokens" not in sent[1]
    assert sent[1]["temperature"] == 0.8
    for later in sent[2:]:
        assert "max_tokens" not in later and "temperature" not in later
        assert later["max_completion_tokens"] == 4096 and later["top_p"] == 0.95


def test_other_bad_requests_and_a_second_refusal_are_not_adapted(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.extend(status(400, "Unsupported parameter: 'logprobs'"))
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(_client(scripted_server.url, retries=0).complete(REQUEST))
    assert raised.value.outcome is CallOutcome.BAD_REQUEST and len(raised.value.records) == 1
    scripted_server.extend(status(400, MAX_TOKENS_REFUSED), status(400, MAX_TOKENS_REFUSED))
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(_client(scripted_server.url, retries=0).complete(REQUEST))
    assert len(raised.value.records) == 2  # adapted once, then refused for good
    unknown_seed = 'Invalid JSON payload received. Unknown name "seed": Cannot find field.'
    scripted_server.extend(status(400, unknown_seed), answer("without a seed"))
    seeded = ChatRequest(messages=REQUEST.messages, seed=7)
    response = asyncio.run(_client(scripted_server.url, retries=0).complete(seeded))
    assert response.texts == ("without a seed",)
    assert scripted_server.requests[-2]["seed"] == 7 and "seed" not in scripted_server.requests[-1]


@pytest.mark.parametrize(
    "refusal",
    [
        "This model's maximum context length is 8192 tokens. However, you requested 9000 "
        "tokens (4904 in the messages, 4096 in the completion). Please reduce the length of "
        "the messages or completion.",
        "'max_tokens' or 'max_completion_tokens' is too large: 4096. This model's maximum "
        "context length is 8192 tokens and your request has 4904 input tokens "
        "(4096 > 8192 - 4904).",
    ],
)
def test_a_completion_too_long_for_the_context_is_asked_again_with_what_fits(
    scripted_server: ScriptedServer, refusal: str
) -> None:
    """vLLM refuses a prompt and max_tokens that pass the model's context together: the
    request goes again at once with the tokens left (less a margin), and only it."""
    scripted_server.extend(status(400, refusal), answer("fits"))
    client = _client(scripted_server.url, retries=0)

    async def twice() -> ChatResponse:
        first = await client.complete(REQUEST)
        await client.complete(REQUEST)
        return first

    assert asyncio.run(twice()).texts == ("fits",)
    sent = [request["max_tokens"] for request in scripted_server.requests]
    assert sent == [4096, 8192 - 4904 - 16, 4096]


@pytest.mark.parametrize(
    ("refusal", "prompt", "context"),
    [
        (
            "This model's maximum context length is 8192 tokens. However, you requested "
            "12200 tokens (8100 in the messages, 4096 in the completion).",
            8100,
            8192,
        ),
        (  # OpenAI
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 130512 tokens. Please reduce the length of the messages.",
            130512,
            128000,
        ),
        (  # llama.cpp
            "request (4476 tokens) exceeds the available context size (4096 tokens), try "
            "increasing it",
            4476,
            4096,
        ),
    ],
)
def test_no_second_try_when_too_little_would_fit(
    scripted_server: ScriptedServer, refusal: str, prompt: int, context: int
) -> None:
    """A prompt that leaves the completion less than MIN_COMPLETION_TOKENS is not sent
    again; the error says what it takes of the context and what to change."""
    scripted_server.extend(status(400, refusal))
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(_client(scripted_server.url, retries=0).complete(REQUEST))
    assert len(raised.value.records) == 1
    assert (
        f"the prompt alone takes {prompt} of the model's {context} tokens of context: lower "
        "prompt.max_prompt_tokens" in str(raised.value)
    )


def test_other_refusals_get_no_context_hint(scripted_server: ScriptedServer) -> None:
    scripted_server.extend(status(400, "messages: field required"))
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(_client(scripted_server.url, retries=0).complete(REQUEST))
    assert "messages: field required" in str(raised.value)
    assert "of context" not in str(raised.value)


SECRET = "sk-test-0123456789abcdef"


def test_a_key_a_server_echoes_is_redacted_everywhere(
    scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error that quotes the key and an answer that repeats it: neither the records,
    the error's message nor the answer (a child's code) hold the key."""
    monkeypatch.setenv("EVOFORGE_TEST_KEY", SECRET)
    model = LLMModelConfig(
        model="m", base_url=scripted_server.url, timeout_s=1.0, api_key_env="EVOFORGE_TEST_KEY"
    )
    client = OpenAIChatClient(model, RetryPolicy(1, 0.01, 0.05))
    scripted_server.extend(
        status(500, "Incorrect API key provided: {bearer}"),
        answer("x = '{bearer}'"),
        status(400, "bad request from {bearer}"),
    )
    response = asyncio.run(client.complete(REQUEST))
    assert scripted_server.authorizations[0] == f"Bearer {SECRET}"  # it was sent
    assert response.texts == ("x = '<redacted>'",)
    assert "<redacted>" in response.records[0].error
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(client.complete(REQUEST))
    everything = [str(raised.value), *(r.error for r in raised.value.records)]
    everything += [r.error + r.response for r in response.records]
    assert all(SECRET not in text for text in everything)
    assert "<redacted>" in str(raised.value)


def test_a_model_that_refuses_every_request_is_rested(scripted_server: ScriptedServer) -> None:
    """HTTP 400 on every request (parameters the model does not take): the model is
    rested like one that fails otherwise, not asked again and again."""
    config = LLMConfig(
        models=[LLMModelConfig(model="m", base_url=scripted_server.url, timeout_s=1)],
        max_retries=0,
        circuit_failures=2,
        circuit_cooldown_s=60,
    )
    retry = RetryPolicy.from_config(config)
    router = ModelRouter(config, {m.label: OpenAIChatClient(m, retry) for m in config.models})
    scripted_server.default = status(400, "unsupported parameter: max_tokens")

    async def twice() -> None:
        for _ in range(2):
            with pytest.raises(LLMCallError):
                await router.complete(REQUEST, np.random.default_rng(0))

    asyncio.run(twice())
    assert router.health()["m"]["resting_s"] > 0
    assert not router.usable_now()


@pytest.mark.parametrize(
    "body",
    [
        '{"id": "x", "object": "chat.completion", "created": 0, "model": "m",'
        ' "choices": [{"index": 0, "message": "hello", "finish_reason": "stop"}]}',
        '{"id": "x", "object": "chat.completion", "created": 0, "model": "m",'
        ' "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},'
        ' "finish_reason": "stop"}], "usage": {"prompt_tokens": "many", "completion_tokens": 1,'
        ' "total_tokens": 1}}',
    ],
)
def test_a_malformed_completion_is_a_recorded_failure(
    scripted_server: ScriptedServer, body: str
) -> None:
    """A 200 answer of the right outline with parts that are not what they must be: a
    failed request with its reason and a record of every attempt, never a crash."""
    scripted_server.extend(raw(body), raw(body), raw(body))
    with pytest.raises(LLMCallError) as raised:
        asyncio.run(_client(scripted_server.url).complete(REQUEST))
    assert raised.value.outcome is CallOutcome.CONNECTION_ERROR
    assert "malformed response" in str(raised.value)
    assert len(raised.value.records) == 3  # the first attempt and two retries


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None


def test_router_rests_a_failing_model_and_uses_the_other(scripted_server: ScriptedServer) -> None:
    config = LLMConfig(
        models=[
            LLMModelConfig(model="bad", name="bad", base_url="http://127.0.0.1:9/v1", timeout_s=1),
            LLMModelConfig(model="good", name="good", base_url=scripted_server.url, timeout_s=1),
        ],
        max_retries=0,
        circuit_failures=1,
        circuit_cooldown_s=60,
    )
    retry = RetryPolicy.from_config(config)
    clients = {m.label: OpenAIChatClient(m, retry) for m in config.models}
    router = ModelRouter(config, clients)

    async def many() -> list[str]:
        used = []
        rng = np.random.default_rng(0)
        for _ in range(6):
            try:
                used.append((await router.complete(REQUEST, rng)).model)
            except LLMCallError as exc:
                used.append(f"failed {exc.outcome.value}")
        return used

    used = asyncio.run(many())
    assert used.count("failed connection_error") <= 1
    assert used[-3:] == ["good", "good", "good"]
    assert router.health()["bad"]["resting_s"] > 0


def test_router_stops_at_the_token_budget(scripted_server: ScriptedServer) -> None:
    config = LLMConfig(
        models=[LLMModelConfig(model="m", base_url=scripted_server.url, timeout_s=1)],
        max_total_tokens=200,
    )
    router = ModelRouter(config, {"m": OpenAIChatClient(config.models[0], RetryPolicy())})

    async def until_stopped() -> int:
        calls = 0
        rng = np.random.default_rng(0)
        with pytest.raises(BudgetExhausted):
            while True:
                await router.complete(REQUEST, rng)
                calls += 1
        return calls

    assert asyncio.run(until_stopped()) == 2  # 120 tokens a call
    assert router.stop_reason() == (StopReason.TOKENS, "240 of 200 tokens")


def test_the_request_body_is_the_one_the_sdk_create_method_sends(
    scripted_server: ScriptedServer,
) -> None:
    """The client posts its arguments as they are; ``chat.completions.create`` with the
    same arguments sends the same JSON body to the server."""
    import openai

    request = ChatRequest(
        messages=(
            {"role": "system", "content": "You improve programs."},
            {"role": "user", "content": "## Current program\n```python\nx = 1\n```"},
        ),
        n=2,
        seed=7,
    )
    client = _client(scripted_server.url)
    response = asyncio.run(client.complete(request))
    assert len(response.texts) == 2
    sent_by_client = scripted_server.requests[-1]

    async def through_create() -> None:
        sdk = openai.AsyncOpenAI(api_key="k", base_url=scripted_server.url, max_retries=0)
        await sdk.chat.completions.create(
            model="m",
            messages=[dict(message) for message in request.messages],  # type: ignore[misc]
            temperature=client.model.temperature,
            top_p=client.model.top_p,
            max_tokens=client.model.max_tokens,
            n=2,
            seed=7,
        )
        await sdk.close()

    asyncio.run(through_create())
    assert sent_by_client == scripted_server.requests[-1]
    assert sent_by_client["messages"][1]["content"].startswith("## Current program")


def test_a_closed_client_leaves_nothing_to_close_on_a_later_event_loop(
    scripted_server: ScriptedServer,
) -> None:
    """A kept-alive connection of a client whose event loop ended (the start-up check's)
    must not be closed from the next loop (the run's), where the SDK's clean-up would fail
    with "Event loop is closed": the client closes it in its own loop."""
    import gc

    holder = [_client(scripted_server.url)]

    async def one_call() -> None:
        await holder[0].complete(REQUEST)
        await holder[0].aclose()

    asyncio.run(one_call())
    gc.collect()  # what earlier tests left goes now, with no loop running (holder stays)
    errors: list[dict[str, object]] = []

    async def later_loop() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        holder.clear()  # the first loop's client goes here, while this loop runs
        gc.collect()
        await asyncio.sleep(0.1)
        gc.collect()

    asyncio.run(later_loop())
    assert errors == []
