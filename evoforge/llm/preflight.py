"""The start-up check of a run's language models: one cheap request per model.

Before the first iteration of ``evoforge run`` or ``resume``, every configured model's
endpoint gets one ``GET /models`` (no tokens spent, nothing stored), and the embeddings
endpoint of ``novelty.method: embeddings`` one tiny embeddings request. An endpoint that
is unreachable, unauthorised, failing or not an OpenAI-compatible server is a problem;
the caller stops the run with one line, unless told to start anyway. A model name the
endpoint does not list is a warning only (servers answer to aliases they do not list).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from evoforge.blocking import run_to_completion
from evoforge.config import Config
from evoforge.registry import OPERATORS

__all__ = ["CHECK_TIMEOUT_S", "ModelCheck", "check_models", "problems_line"]

#: The check waits at most this long (or the model's own timeout, if shorter).
CHECK_TIMEOUT_S = 30.0
_LISTED_SHOWN = 5  # model ids a warning names


@dataclass
class ModelCheck:
    """The check's findings, one line each: ``problems`` stop a run, ``warnings`` do not."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_models(config: Config) -> ModelCheck:
    """Check every configured model (and embeddings endpoint).

    No model is checked when no ``llm_*`` operator is enabled. Models are checked at
    once, so the check takes at most the longest timeout among them.
    """
    check = _check_chat_models(config)
    check.problems += _check_embeddings(config)
    return check


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


def _check_chat_models(config: Config) -> ModelCheck:
    if not config.llm.models or not any(
        OPERATORS.has(name, "llm") for name in config.operators.enabled
    ):
        return ModelCheck()
    from evoforge.llm.client import (
        LLMSetupError,
        OpenAIChatClient,
        ProbeAnswer,
        RetryPolicy,
        is_listed,
        probe,
    )

    try:
        clients = [
            OpenAIChatClient(model, RetryPolicy(max_retries=0)) for model in config.llm.models
        ]
    except LLMSetupError:
        return ModelCheck()  # the engine reports the missing package when it builds them

    async def check_all() -> list[ProbeAnswer]:
        checks = [probe(client, min(client.model.timeout_s, CHECK_TIMEOUT_S)) for client in clients]
        try:
            return list(await asyncio.gather(*checks))
        finally:
            for client in clients:
                await client.aclose()

    check = ModelCheck()
    for model, answer in zip(config.llm.models, run_to_completion(check_all), strict=True):
        if answer.problem is not None:
            check.problems.append(f"model {model.label!r} at {model.base_url} is {answer.problem}")
        elif not is_listed(model.model, answer.listed):
            shown = ", ".join(answer.listed[:_LISTED_SHOWN])
            more = len(answer.listed) - _LISTED_SHOWN
            check.warnings.append(
                f"model {model.model!r} is not among the models {model.base_url} lists "
                f"({shown}{f' and {more} more' if more > 0 else ''}); its requests may fail"
            )
    return check


def problems_line(problems: list[str]) -> str:
    """The one line that stops a run whose models failed the check."""
    return (
        "; ".join(problems)
        + " (start the server or fix its URL or key, or pass --allow-unreachable to run anyway)"
    )
