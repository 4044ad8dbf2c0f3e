"""The part of a model's answer that is its answer, not its reasoning.

Reasoning models served through an OpenAI-compatible endpoint (Qwen3, QwQ, DeepSeek-R1
and their distills on Ollama, llama.cpp or vLLM without a reasoning parser) put their
chain of thought in the answer's text, between ``<think>`` and ``</think>``. It often
holds drafts: SEARCH/REPLACE blocks or fenced programs the model later rejects, which
must never be applied. Some chat templates open the section in the prompt, so the answer
holds only its closing tag.

Contract of :func:`after_reasoning`: an answer that starts (after white space) with
``<think>`` or ``<thinking>`` keeps only what follows the first matching closing tag; an
answer with no opening tag whose line starts with ``</think>`` (or ``</thinking>``)
keeps only what follows that line's tag; any other answer is returned unchanged (a tag
inside the answer's code is code). A reasoning section never closed is the whole answer
(:class:`UnfinishedReasoning`): the model stopped, or was stopped by ``max_tokens``,
before it answered.
"""

from __future__ import annotations

import re

__all__ = ["UnfinishedReasoning", "after_reasoning", "split_reasoning"]

_OPENING_RE = re.compile(r"\A\s*<(?P<tag>think|thinking)>", re.IGNORECASE)
_CLOSING_ALONE_RE = re.compile(r"^[ \t]*</(?:think|thinking)>", re.IGNORECASE | re.MULTILINE)


class UnfinishedReasoning(ValueError):
    """The answer opens a reasoning section and never closes it: it holds no answer."""


def after_reasoning(answer: str) -> str:
    """``answer`` without its leading reasoning section (see the module docstring);
    raises :class:`UnfinishedReasoning` when the section never ends."""
    return split_reasoning(answer)[1]


def split_reasoning(answer: str) -> tuple[str, str]:
    """``(reasoning, rest)`` with ``reasoning + rest == answer``: ``reasoning`` is the
    leading section up to and including its closing tag ("" when there is none), ``rest``
    is :func:`after_reasoning`'s result; raises :class:`UnfinishedReasoning` likewise."""
    opening = _OPENING_RE.match(answer)
    if opening is not None:
        closing = re.compile(rf"</{opening['tag']}>", re.IGNORECASE).search(answer, opening.end())
        if closing is None:
            raise UnfinishedReasoning(
                f"the answer is all reasoning: <{opening['tag']}> is never closed "
                "(the model stopped before answering)"
            )
        return answer[: closing.end()], answer[closing.end() :]
    closing_alone = _CLOSING_ALONE_RE.search(answer)
    if closing_alone is not None and "<think" not in answer[: closing_alone.start()].lower():
        return answer[: closing_alone.end()], answer[closing_alone.end() :]
    return "", answer
