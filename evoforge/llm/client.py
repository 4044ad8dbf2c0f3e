"""The one network boundary to language models: ``complete(request) -> response``.

:class:`OpenAIChatClient` puts the official ``openai`` SDK (async) behind that one method
for one configured model. The SDK's own retries are off; this module retries 429, 5xx,
timeouts and connection errors itself, with exponential backoff and jitter, honouring a
server's ``Retry-After``, so that every HTTP attempt becomes one
:class:`~evoforge.llm.records.LLMCallRecord` (the run database keeps them all).

This is the only module of evoforge that imports ``openai``. The API key is read from
the environment variable the model config names, at client creation, and is held only by
the SDK client; it never appears in a record, an error message or a log line.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evoforge.config import LLMConfig, LLMModelConfig, NoveltyConfig
from evoforge.llm.records import RETRYABLE, CallOutcome, EmbeddingError, LLMCallRecord
from evoforge.source_tree import install_command

__all__ = [
    "ChatClient",
    "ChatRequest",
    "ChatResponse",
    "EmbeddingClient",
    "LLMCallError",
    "LLMSetupError",
    "OpenAIChatClient",
    "ProbeAnswer",
    "RetryPolicy",
    "is_listed",
    "probe",
    "probe_embeddings",
    "render_prompt",
]

#: Placed between completions when ``n > 1`` answers are stored as one response text.
COMPLETION_SEPARATOR = "\n\n===== evoforge: next completion =====\n\n"
#: Sent when the key variable is unset: local servers (vLLM, Ollama, llama.cpp) ignore it.
PLACEHOLDER_KEY = "not-needed"


class LLMSetupError(RuntimeError):
    """The LLM path cannot be used at all (the ``openai`` package is missing)."""


class LLMCallError(Exception):
    """A request failed for good (after its retries). ``fatal``: the model is unusable
    (bad key, unknown model) rather than temporarily failing."""

    def __init__(
        self,
        outcome: CallOutcome,
        message: str,
        records: Sequence[LLMCallRecord] = (),
        *,
        fatal: bool = False,
        retry_after: float | None = None,
        unsupported: str | None = None,
        room: int | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.records = tuple(records)
        self.fatal = fatal
        self.retry_after = retry_after
        self.unsupported = unsupported  # a request parameter the model refused (400)
        self.room = room  # the completion tokens that would fit the model's context (400)


@dataclass(frozen=True)
class ChatRequest:
    """Messages (``{"role": ..., "content": ...}``), completions wanted, and a seed that
    servers supporting it use for reproducible sampling. ``operator`` labels records."""

    messages: tuple[Mapping[str, str], ...]
    n: int = 1
    seed: int | None = None
    operator: str = ""


@dataclass(frozen=True)
class ChatResponse:
    """The completions (possibly fewer than asked for) and every attempt it took."""

    texts: tuple[str, ...]
    model: str
    records: tuple[LLMCallRecord, ...] = field(default_factory=tuple)
    cut_off: tuple[bool, ...] = ()
    """Per text: the server stopped it at the model's ``max_tokens`` (finish reason
    ``length``), so it may end mid-answer."""


class ChatClient(Protocol):
    """The whole interface the operators need. Raises :class:`LLMCallError` on failure."""

    label: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt k waits ``base * 2**(k-1)`` scaled by a
    random factor in [0.5, 1], at least a server's Retry-After, at most ``max_s``."""

    max_retries: int = 4
    base_s: float = 1.0
    max_s: float = 30.0

    @classmethod
    def from_config(cls, config: LLMConfig) -> RetryPolicy:
        return cls(config.max_retries, config.backoff_base_s, config.backoff_max_s)

    def delay(self, attempt: int, retry_after: float | None, jitter: random.Random) -> float:
        backoff = self.base_s * (2 ** (attempt - 1)) * jitter.uniform(0.5, 1.0)
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return max(0.0, min(backoff, self.max_s))


def render_prompt(messages: Sequence[Mapping[str, str]]) -> str:
    """The messages as one text for the record (role headings, then content)."""
    return "\n\n".join(f"[{m.get('role', '')}]\n{m.get('content', '')}" for m in messages)


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:  # without the llm extra (tests/test_missing_extras.py)
        raise LLMSetupError(
            "language-model operators need the openai package: " + install_command("llm")
        ) from exc
    return openai


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


ADAPTABLE_PARAMETERS: dict[str, str | None] = {
    "max_tokens": "max_completion_tokens",
    "temperature": None,
    "top_p": None,
    "seed": None,
}
"""Request parameters a model may refuse with HTTP 400 and what is sent instead from
then on: OpenAI's reasoning models (the o-series, gpt-5) want ``max_completion_tokens``
for ``max_tokens`` and refuse any sampling temperature or nucleus mass but their own
(left out: the model's default); some servers refuse ``seed``."""


class OpenAIChatClient:
    """One model over an OpenAI-compatible ``/chat/completions`` endpoint.

    Safe to use from several tasks of one event loop at once. The SDK client is created
    per event loop (each ``evoforge run``/``resume`` invocation runs its own loop). A
    request refused for one of :data:`ADAPTABLE_PARAMETERS` is sent again at once
    without it (or under its replacement name), and so is every later request; the
    refused attempt is recorded like any other.
    """

    def __init__(
        self,
        model: LLMModelConfig,
        retry: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter_seed: int = 0,
    ) -> None:
        self._openai = _import_openai()
        self.model = model
        self.label = model.label
        self.retry = retry
        self._sleep = sleep
        self._jitter = random.Random(jitter_seed)
        self._api_key = os.environ.get(model.api_key_env) or PLACEHOLDER_KEY
        self._redact = key_redactor(self._api_key)
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._refused: set[str] = set()  # parameters this model refused

    def _sdk_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self._openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.model.base_url,
                timeout=self.model.timeout_s,
                max_retries=0,
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the SDK client's connections, from the event loop that made it (a
        kept-alive connection left open would be closed by the SDK from whichever loop
        runs when the client is collected, and fail there). A client made in another,
        finished loop is only dropped. Safe to call more than once; a later request
        opens a new client."""
        client, loop = self._client, self._client_loop
        self._client = self._client_loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()

    def cost_of(self, tokens_in: int, tokens_out: int) -> float:
        return (
            tokens_in * self.model.price_input_per_mtok
            + tokens_out * self.model.price_output_per_mtok
        ) / 1e6

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send the request, retrying transient failures; every attempt is recorded."""
        prompt = render_prompt(request.messages)
        records: list[LLMCallRecord] = []
        attempt = 0
        max_tokens = self.model.max_tokens
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                texts, tokens_in, tokens_out, cut_off = await self._attempt(
                    request, prompt, max_tokens
                )
            except LLMCallError as exc:
                latency = time.monotonic() - started
                error = self._redact(str(exc))  # a server may echo the key it was sent
                records.append(
                    self._record(request, prompt, "", 0, 0, latency, exc.outcome, error, attempt)
                )
                if exc.unsupported is not None and exc.unsupported not in self._refused:
                    self._refused.add(exc.unsupported)  # at most once per parameter
                    continue
                if exc.room is not None and MIN_COMPLETION_TOKENS <= exc.room < max_tokens:
                    max_tokens = exc.room  # this request only: the next prompt differs
                    continue
                retry_after = exc.retry_after
                if exc.outcome not in RETRYABLE or attempt > self.retry.max_retries:
                    raise LLMCallError(
                        exc.outcome,
                        f"{self.label}: {error} (after {attempt} attempt{'s' * (attempt > 1)})",
                        records,
                        fatal=exc.fatal,
                    ) from None
                await self._sleep(self.retry.delay(attempt, retry_after, self._jitter))
                continue
            latency = time.monotonic() - started
            texts = [self._redact(text) for text in texts]  # never into a child's code
            records.append(
                self._record(
                    request,
                    prompt,
                    COMPLETION_SEPARATOR.join(texts),
                    tokens_in,
                    tokens_out,
                    latency,
                    CallOutcome.OK,
                    "",
                    attempt,
                    completions=len(texts),
                )
            )
            return ChatResponse(
                texts=tuple(texts), model=self.label, records=tuple(records), cut_off=cut_off
            )

    def _record(
        self,
        request: ChatRequest,
        prompt: str,
        response: str,
        tokens_in: int,
        tokens_out: int,
        latency: float,
        outcome: CallOutcome,
        error: str,
        attempt: int,
        *,
        completions: int = 0,
    ) -> LLMCallRecord:
        return LLMCallRecord(
            model=self.label,
            operator=request.operator,
            prompt=prompt,
            response=response,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_s=latency,
            cost=self.cost_of(tokens_in, tokens_out),
            outcome=outcome,
            error=error,
            attempt=attempt,
            completions=completions,
            created_at=time.time(),
        )

    async def _attempt(
        self, request: ChatRequest, prompt: str, max_tokens: int
    ) -> tuple[list[str], int, int, tuple[bool, ...]]:
        openai = self._openai
        arguments: dict[str, Any] = {
            "model": self.model.model,
            "messages": [dict(message) for message in request.messages],
            "temperature": self.model.temperature,
            "top_p": self.model.top_p,
            "max_tokens": max_tokens,
        }
        if request.n > 1:
            arguments["n"] = request.n
        if request.seed is not None:
            arguments["seed"] = request.seed
        for name in self._refused:
            value = arguments.pop(name, None)
            replacement = ADAPTABLE_PARAMETERS[name]
            if replacement is not None and value is not None:
                arguments[replacement] = value
        try:
            # the body is plain JSON already: posting it skips the SDK's recursive
            # transform of typed parameters (about a third of the client's CPU time per
            # request), which leaves such a body unchanged; the response is parsed and
            # errors raised exactly as ``chat.completions.create`` does
            completion = await self._sdk_client().post(
                "/chat/completions", cast_to=openai.types.chat.ChatCompletion, body=arguments
            )
        except openai.APITimeoutError:
            raise LLMCallError(
                CallOutcome.TIMEOUT, f"no answer within {self.model.timeout_s:g} s"
            ) from None
        except openai.APIConnectionError as exc:
            detail = _root_cause(exc)
            message = _one_line(exc) if detail == _one_line(exc) else f"{_one_line(exc)} {detail}"
            raise LLMCallError(CallOutcome.CONNECTION_ERROR, message) from None
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except openai.APIResponseValidationError as exc:
            raise LLMCallError(CallOutcome.CONNECTION_ERROR, _one_line(exc)) from None
        except (ValueError, TypeError, KeyError) as exc:  # a body that is not a completion
            raise LLMCallError(
                CallOutcome.CONNECTION_ERROR, f"malformed response: {_one_line(exc)}"
            ) from None
        if isinstance(completion, str | bytes) or not hasattr(completion, "choices"):
            # e.g. a web page at the wrong URL: the SDK hands back the body undecoded
            raise LLMCallError(
                CallOutcome.CONNECTION_ERROR, "malformed response: not a chat completion"
            )
        try:
            return _read_completion(completion, prompt)
        except (AttributeError, TypeError, ValueError, OverflowError) as exc:
            # a completion of the right outline whose parts are not what they must be (a
            # message that is a string, token counts that are not numbers)
            raise LLMCallError(
                CallOutcome.CONNECTION_ERROR, f"malformed response: {_one_line(exc)}"
            ) from None


def _read_completion(completion: Any, prompt: str) -> tuple[list[str], int, int, tuple[bool, ...]]:
    """The texts and token counts of a chat completion, and per text whether it was cut
    off at ``max_tokens``; AttributeError, TypeError or ValueError when its parts are
    malformed."""
    choices = [
        choice
        for choice in getattr(completion, "choices", None) or []
        if getattr(choice, "message", None) is not None
    ]
    texts = [str(choice.message.content or "") for choice in choices]
    cut_off = tuple(getattr(choice, "finish_reason", None) == "length" for choice in choices)
    usage = getattr(completion, "usage", None)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else 0
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0) if usage else 0
    if usage is None:  # some servers omit usage: estimate at 4 characters a token
        tokens_in = len(prompt) // 4
        tokens_out = sum(len(text) for text in texts) // 4
    if tokens_in < 0 or tokens_out < 0:
        raise ValueError(f"negative token counts ({tokens_in}, {tokens_out})")
    return texts, tokens_in, tokens_out, cut_off


REDACTED = "<redacted>"


def key_redactor(key: str) -> Callable[[str], str]:
    """A function that replaces every occurrence of ``key`` in a text by ``<redacted>``:
    what a server says (an error that quotes the key it was sent, an answer that repeats
    it) must not carry the key into the run database, the console, a later prompt or a
    child's code. The placeholder sent when no key is set is no secret."""
    if not key or key == PLACEHOLDER_KEY:
        return lambda text: text
    return lambda text: text.replace(key, REDACTED) if key in text else text


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _status_error(exc: Any) -> LLMCallError:
    status = int(getattr(exc, "status_code", 0) or 0)
    response = getattr(exc, "response", None)
    headers = dict(response.headers) if response is not None else {}
    message = str(getattr(exc, "message", "") or exc)
    detail = f"HTTP {status}: {_one_line(exc)}"
    if status == 400:
        detail += _prompt_too_long_hint(message)
    retry_after = parse_retry_after(headers)
    if status == 429:
        outcome, fatal = CallOutcome.RATE_LIMITED, False
    elif status >= 500:
        outcome, fatal = CallOutcome.SERVER_ERROR, False
    elif status in (401, 403):
        outcome, fatal = CallOutcome.AUTH_ERROR, True
    else:  # 404 (unknown model or path) makes the model unusable; other 4xx only this request
        outcome, fatal = CallOutcome.BAD_REQUEST, status == 404
    return LLMCallError(
        outcome,
        detail,
        fatal=fatal,
        retry_after=retry_after,
        unsupported=_refused_parameter(exc) if status == 400 else None,
        room=_room_in_context(message) if status == 400 else None,
    )


MIN_COMPLETION_TOKENS = 256
"""The least completion a request is sent again with when its ``max_tokens`` did not fit
the model's context beside its prompt: less would cut off almost any answer."""

_CONTEXT_PATTERNS = (
    # vLLM and OpenAI: "maximum context length is 8192 tokens. However, you requested 9000
    # tokens (4904 in the messages, ...)" / "... your request has 4904 input tokens" /
    # "... However, your messages resulted in 9000 tokens"
    re.compile(
        r"maximum context length is (?P<context>\d+) tokens.*?(?:\((?P<prompt>\d+) in the "
        r"messages|request has (?P<input>\d+) input tokens|messages resulted in "
        r"(?P<messages>\d+) tokens)",
        re.IGNORECASE | re.DOTALL,
    ),
    # llama.cpp: "request (4476 tokens) exceeds the available context size (4096 tokens)"
    re.compile(
        r"request \((?P<request>\d+) tokens\) exceeds the available context size "
        r"\((?P<context>\d+) tokens\)",
        re.IGNORECASE,
    ),
)


def _context_overflow(message: str) -> tuple[int, int] | None:
    """``(context, prompt)`` tokens from a 400 answer saying a request does not fit the
    model's context (the wordings of vLLM, OpenAI and llama.cpp); None for any other."""
    for pattern in _CONTEXT_PATTERNS:
        found = pattern.search(message)
        if found is None:
            continue
        groups = found.groupdict()
        prompt = next(
            (
                groups[name]
                for name in ("prompt", "input", "messages", "request")
                if groups.get(name)
            ),
            None,
        )
        if prompt is not None:
            return int(groups["context"]), int(prompt)
    return None


def _room_in_context(message: str) -> int | None:
    """The completion tokens that fit beside the prompt, read from a 400 answer saying
    the prompt and ``max_tokens`` together pass the model's context
    (:func:`_context_overflow`), less a margin of 16; None for any other answer."""
    overflow = _context_overflow(message)
    return None if overflow is None else overflow[0] - overflow[1] - 16


def _prompt_too_long_hint(message: str) -> str:
    """What to do, said after a 400 answer whose prompt leaves a completion no room
    (fewer than :data:`MIN_COMPLETION_TOKENS` tokens), or "" for any other answer."""
    overflow = _context_overflow(message)
    if overflow is None or overflow[0] - overflow[1] - 16 >= MIN_COMPLETION_TOKENS:
        return ""
    context, prompt = overflow
    return (
        f" (the prompt alone takes {prompt} of the model's {context} tokens of context: "
        "lower prompt.max_prompt_tokens, or serve the model with a longer context)"
    )


_REFUSAL_WORDS = ("unsupported", "not supported", "does not support", "unknown name")


def _refused_parameter(exc: Any) -> str | None:
    """The :data:`ADAPTABLE_PARAMETERS` entry a 400 answer refuses as unsupported: named
    as the error's ``param`` or quoted in its message (``Unsupported parameter:
    'max_tokens' ...``, ``'temperature' does not support 0.8 ...``, ``Unknown name
    "seed"``), else None."""
    message = str(getattr(exc, "message", "") or exc)
    if not any(word in message.lower() for word in _REFUSAL_WORDS):
        return None
    named = getattr(exc, "param", None)
    for name in ADAPTABLE_PARAMETERS:
        if named == name or f"'{name}'" in message or f'"{name}"' in message:
            return name
    return None


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's one-line text (e.g. ``[Errno 111] Connection refused``)."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    return _one_line(inner)


@dataclass(frozen=True)
class ProbeAnswer:
    """What the start-up request learned: ``problem`` (None: the endpoint answers as an
    OpenAI-compatible server) and the model ids it lists (empty: none listed)."""

    problem: str | None
    listed: tuple[str, ...] = ()


async def probe(client: OpenAIChatClient, timeout_s: float) -> ProbeAnswer:
    """One cheap request (``GET /models``, no tokens) to ``client``'s endpoint.

    Unreachable (refused, timeout, broken connection), unauthorised (401/403), failing
    (5xx) and an answer that is not JSON all count as problems. A server that does not
    list models (404, 405, 501) or is busy (429) did answer, so it passes.
    """
    openai = client._openai
    try:
        raw = await client._sdk_client().models.with_raw_response.list(timeout=timeout_s)
    except openai.APITimeoutError:
        return ProbeAnswer(f"unreachable: no answer within {timeout_s:g} s")
    except openai.APIConnectionError as exc:
        return ProbeAnswer(f"unreachable: {_root_cause(exc)}")
    except openai.APIStatusError as exc:
        status = int(getattr(exc, "status_code", 0) or 0)
        if status in (401, 403):
            return ProbeAnswer(f"unauthorised: HTTP {status} (check {client.model.api_key_env})")
        if status >= 500 and status != 501:
            return ProbeAnswer(f"failing: HTTP {status}")
        return ProbeAnswer(None)
    try:
        body = json.loads(raw.http_response.text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ProbeAnswer("not an OpenAI-compatible endpoint: its answer is not a JSON object")
    entries = body.get("data")
    listed = tuple(
        str(entry["id"])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("id"), str)
    )
    return ProbeAnswer(None, listed)


def is_listed(model: str, listed: tuple[str, ...]) -> bool:
    """Whether ``model`` is among the ids an endpoint lists (an empty list says nothing,
    so it counts as listed); ``name`` and ``name:latest`` are one model (Ollama)."""
    if not listed:
        return True
    names = {model, model.removesuffix(":latest"), f"{model}:latest"}
    return any(identifier in names for identifier in listed)


class EmbeddingClient:
    """Vectors for texts from an OpenAI-compatible ``/embeddings`` endpoint.

    Synchronous (the engine calls it from worker threads; the SDK's client is safe to
    share between threads). ``retries`` retries after a transient failure (the SDK's),
    then :class:`~evoforge.llm.records.EmbeddingError` with a one-line reason.
    """

    def __init__(self, config: NoveltyConfig, *, retries: int = 1) -> None:
        self._openai = _import_openai()
        self.model = str(config.embedding_model)
        self.base_url = str(config.embedding_base_url)
        self.api_key_env = config.embedding_api_key_env
        self.timeout_s = config.embedding_timeout_s
        api_key = os.environ.get(config.embedding_api_key_env) or PLACEHOLDER_KEY
        self._redact = key_redactor(api_key)
        self._client = self._openai.OpenAI(
            api_key=api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=retries,
        )

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; raises EmbeddingError (its reason never holds
        the key)."""
        try:
            return self._embed(texts)
        except EmbeddingError as exc:
            raise EmbeddingError(self._redact(str(exc))) from None

    def _embed(self, texts: list[str]) -> list[list[float]]:
        openai = self._openai
        try:
            response = self._client.embeddings.create(
                model=self.model, input=texts, encoding_format="float"
            )
        except openai.APITimeoutError:
            raise EmbeddingError(f"unreachable: no answer within {self.timeout_s:g} s") from None
        except openai.APIConnectionError as exc:
            raise EmbeddingError(f"unreachable: {_root_cause(exc)}") from None
        except openai.APIStatusError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            if status in (401, 403):
                raise EmbeddingError(
                    f"unauthorised: HTTP {status} (check {self.api_key_env})"
                ) from None
            raise EmbeddingError(f"failing: HTTP {status}: {_one_line(exc)}") from None
        except (openai.APIResponseValidationError, ValueError, TypeError, KeyError) as exc:
            raise EmbeddingError(f"not an OpenAI-compatible endpoint: {_one_line(exc)}") from None
        data = getattr(response, "data", None)
        if isinstance(response, str | bytes) or not isinstance(data, list):
            raise EmbeddingError("not an OpenAI-compatible endpoint: no embeddings in the answer")
        vectors = [list(getattr(item, "embedding", None) or []) for item in data]
        if len(vectors) != len(texts) or not all(vectors):
            raise EmbeddingError(
                f"not an OpenAI-compatible endpoint: {len(vectors)} vectors for {len(texts)} texts"
            )
        order = [int(getattr(item, "index", number)) for number, item in enumerate(data)]
        return [vector for _, vector in sorted(zip(order, vectors, strict=True))]


def probe_embeddings(client: EmbeddingClient) -> str | None:
    """One tiny embeddings request (a few tokens): None when a vector comes back, else
    a one-line reason. Unlike ``GET /models`` it also proves the model exists."""
    try:
        client.embed(["evoforge"])
    except EmbeddingError as exc:
        return str(exc)
    return None
