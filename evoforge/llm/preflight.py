"""The start-up check of a run's language models: one cheap request per model.

Before the first iteration of ``evoforge run`` or ``resume``, every configured model's
endpoint gets one ``GET /models`` (no tokens spent, nothing stored), and the embeddings
endpoint of ``novelty.method: embeddings`` one tiny embeddings request. An endpoint that
is unreachable, unauthorised, failing or not an OpenAI-compatible server is a problem;
the caller stops the run with one line, unless told to start anyway.
"""

from __future__ import annotations

import asyncio

from evoforge.config import Config
from evoforge.registry import OPERATORS

__all__ = ["CHECK_TIMEOUT_S", "check_models", "problems_line"]

#: The check waits at most this long (or the model's own timeout, if shorter).
CHECK_TIMEOUT_S = 30.0


def check_models(config: Config) -> list[str]:
    """One line per configured model (and embeddings endpoint) whose endpoint fails the
    check (empty: all answer).

    No model is checked when no ``llm_*`` operator is enabled. Models are checked at
    once, so the check takes at most the longest timeout among them.
    """
    return _check_chat_models(config) + _check_embeddings(config)


def _check_embeddings(config: Config) -> list[str]:
    novelty = config.novelty
    if not novelty.near_duplicates or novelty.method != "embeddings":
        return []
    from evoforge.llm.client import EmbeddingClient, LLMSetupError, probe_embeddings

    timeout = min(novelty.embedding_timeout_s, CHECK_TIMEOUT_S)
    try:
        client = EmbeddingClient(
            novelty.model_copy(update={"embedding_timeout_s": timeout}), retries=0
        )
    except LLMSetupError:
        return []  # the engine reports the missing package when it builds the index
    problem = probe_embeddings(client)
    if problem is None:
        return []
    return [f"embeddings model {client.model!r} at {client.base_url} is {problem}"]


def _check_chat_models(config: Config) -> list[str]:
    if not config.llm.models or not any(
        OPERATORS.has(name, "llm") for name in config.operators.enabled
    ):
        return []
    from evoforge.llm.client import LLMSetupError, OpenAIChatClient, RetryPolicy, probe

    try:
        clients = [
            OpenAIChatClient(model, RetryPolicy(max_retries=0)) for model in config.llm.models
        ]
    except LLMSetupError:
        return []  # the engine reports the missing package when it builds the operators

    async def check_all() -> list[str | None]:
        checks = [probe(client, min(client.model.timeout_s, CHECK_TIMEOUT_S)) for client in clients]
        try:
            return list(await asyncio.gather(*checks))
        finally:
            for client in clients:
                await client.aclose()

    found = asyncio.run(check_all())
    return [
        f"model {model.label!r} at {model.base_url} is {problem}"
        for model, problem in zip(config.llm.models, found, strict=True)
        if problem is not None
    ]


def problems_line(problems: list[str]) -> str:
    """The one line that stops a run whose models failed the check."""
    return (
        "; ".join(problems)
        + " (start the server or fix its URL or key, or pass --allow-unreachable to run anyway)"
    )
