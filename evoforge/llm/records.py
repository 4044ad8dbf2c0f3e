"""What one request to a language model cost and returned: the unit of LLM accounting.

Plain data with no SDK import, so operators, the engine and the run database can carry
records without depending on the ``openai`` package.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CallOutcome(StrEnum):
    """How one HTTP attempt ended.

    ``ok``: choices returned. ``rate_limited``: 429. ``server_error``: 5xx.
    ``timeout``: no answer within the model's timeout. ``connection_error``: refused, reset
    or a broken response. ``auth_error``: 401/403 (the model is unusable). ``bad_request``:
    another 4xx (the request itself is wrong; not retried). ``skipped``: not sent because
    a token or cost budget was reached or no model was available.
    """

    OK = "ok"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    AUTH_ERROR = "auth_error"
    BAD_REQUEST = "bad_request"
    SKIPPED = "skipped"


#: Outcomes worth retrying after a backoff.
RETRYABLE = frozenset(
    {
        CallOutcome.RATE_LIMITED,
        CallOutcome.SERVER_ERROR,
        CallOutcome.TIMEOUT,
        CallOutcome.CONNECTION_ERROR,
    }
)


@dataclass(frozen=True)
class LLMCallRecord:
    """One HTTP attempt: the prompt sent, what came back and what it cost.

    ``response`` holds the completions joined by a separator line when ``n > 1``;
    ``error`` is a one-line description for failed attempts (never a header or a key).
    ``attempt`` counts from 1 within one logical request.
    """

    model: str
    operator: str
    prompt: str
    response: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    cost: float
    outcome: CallOutcome
    error: str = ""
    attempt: int = 1
    completions: int = 0
    created_at: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class EmbeddingError(RuntimeError):
    """An embeddings request failed (unreachable, refused, malformed); one-line message."""
