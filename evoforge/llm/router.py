"""Choosing among several models, resting failing ones, and keeping the LLM budgets.

:class:`ModelRouter` is what the ``llm_*`` operators call. Per request it picks a model
(fixed weights, or a bandit paid with improvement per unit cost), sends the request
through that model's client and keeps the accounts (tokens and cost, for the budgets).

Circuit breaker: a model whose requests fail ``circuit_failures`` times in a row (each
after its own retries) is rested for ``circuit_cooldown_s``; the others carry on. A
model whose breaker trips ``max_rests`` times without a success in between (it rests
after the first ``max_rests - 1``), or one that answers 401/403/404, is dropped. Each
rest and drop is told to :attr:`ModelRouter.listener` (the run loop announces it). When
every model is dropped, :meth:`ModelRouter.no_model_left` is true and
:meth:`ModelRouter.stop_reason` says so; the engine then carries on with the symbolic
operators or stops the run, as ``llm.on_no_model`` says. Breaker state is the health of
the endpoints now, not a search policy, so it is not stored; model-bandit statistics are
(see :meth:`state`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evoforge.config import BanditConfig, LLMConfig
from evoforge.kinds import StopReason
from evoforge.llm.client import ChatClient, ChatRequest, ChatResponse, LLMCallError
from evoforge.llm.records import CallOutcome, LLMCallRecord
from evoforge.selection.bandits import Bandit, make_bandit


@dataclass(frozen=True)
class ModelChange:
    """A model was ``rested`` (for ``cooldown_s``) or ``dropped``; ``reason`` is the
    failure that did it; ``usable_left`` counts the models not dropped."""

    label: str
    state: str
    reason: str
    cooldown_s: float
    usable_left: int


class BudgetExhausted(LLMCallError):
    """A token or cost budget is reached: no further requests are sent."""


@dataclass
class _Health:
    consecutive_failures: int = 0
    rests_without_success: int = 0
    rested_until: float = 0.0
    dropped: str | None = None


class ModelRouter:
    """Routes requests to models; keeps usage totals and model-choice statistics."""

    def __init__(
        self,
        config: LLMConfig,
        clients: Mapping[str, ChatClient],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not clients:
            raise ValueError("a router needs at least one model")
        self.config = config
        self.clients = dict(clients)
        self.labels = list(self.clients)
        self._weights = {model.label: model.weight for model in config.models}
        self._clock = clock
        self._health = {label: _Health() for label in self.labels}
        self.tokens_used = 0
        self.cost_used = 0.0
        self.bandit: Bandit | None = None
        if config.selection == "bandit" and len(self.labels) > 1:
            self.bandit = make_bandit(self.labels, BanditConfig(policy="ucb1"))
        self._mean_job_cost = 0.0
        self._jobs_costed = 0
        #: Called with every rest and drop; must not raise.
        self.listener: Callable[[ModelChange], None] | None = None

    # -- accounting ---------------------------------------------------------------------

    def account(self, records: Sequence[LLMCallRecord]) -> None:
        """Add committed or in-flight records to the usage totals."""
        for record in records:
            self.tokens_used += record.tokens
            self.cost_used += record.cost

    def stop_reason(self) -> tuple[StopReason, str] | None:
        """Why no more requests may be sent (a budget reached, or no model left) and the
        details, or None."""
        if self.config.max_total_tokens is not None and (
            self.tokens_used >= self.config.max_total_tokens
        ):
            detail = f"{self.tokens_used} of {self.config.max_total_tokens} tokens"
            return StopReason.TOKENS, detail
        if self.config.max_cost is not None and self.cost_used >= self.config.max_cost:
            return StopReason.COST, f"{self.cost_used:.4g} of {self.config.max_cost:.4g}"
        if self.no_model_left():
            return StopReason.NO_MODEL, "; ".join(f"{h.dropped}" for h in self._health.values())
        return None

    def no_model_left(self) -> bool:
        """Whether every model has been dropped (none will be called again)."""
        return all(health.dropped for health in self._health.values())

    def usable_now(self) -> bool:
        """Whether some model may be called now (not dropped and not resting)."""
        now = self._clock()
        return any(h.dropped is None and h.rested_until <= now for h in self._health.values())

    # -- choosing -----------------------------------------------------------------------

    def choose(self, rng: np.random.Generator) -> str | None:
        """A model that may be called now, or None when all usable ones are resting."""
        now = self._clock()
        available = [
            label
            for label in self.labels
            if self._health[label].dropped is None and self._health[label].rested_until <= now
        ]
        if not available:
            return None
        if len(available) == 1:
            return available[0]
        if self.bandit is not None:
            choice = self.bandit.select(rng)
            if choice in available:
                return choice
        weights = np.array([self._weights.get(label, 1.0) for label in available], dtype=float)
        return str(available[int(rng.choice(len(available), p=weights / weights.sum()))])

    def _wait_s(self) -> float | None:
        """Seconds until a resting model may be called again (None: none will be)."""
        now = self._clock()
        waits = [h.rested_until - now for h in self._health.values() if h.dropped is None]
        return None if not waits else max(0.0, min(waits))

    async def complete(self, request: ChatRequest, rng: np.random.Generator) -> ChatResponse:
        """Send ``request`` to a chosen model. Waits for a rested model to come back when
        all usable ones are resting. Raises :class:`LLMCallError` (its ``records`` hold the
        attempts), or :class:`BudgetExhausted` when a budget or the models are used up."""
        while True:
            stop = self.stop_reason()
            if stop is not None:
                raise BudgetExhausted(CallOutcome.SKIPPED, stop[0].describe(stop[1]))
            label = self.choose(rng)
            if label is not None:
                break
            wait = self._wait_s()
            if wait is None:
                continue  # every model dropped: stop_reason says so on the next pass
            await asyncio.sleep(wait + 0.01)
        try:
            response = await self.clients[label].complete(request)
        except LLMCallError as exc:
            self.account(exc.records)
            self._failed(label, exc)
            raise
        self.account(response.records)
        health = self._health[label]
        health.consecutive_failures = 0
        health.rests_without_success = 0
        return response

    async def aclose(self) -> None:
        """Close the clients' connections (those that hold any: ``aclose``), from the
        event loop that used them; before that loop ends."""
        for client in self.clients.values():
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()

    def _failed(self, label: str, exc: LLMCallError) -> None:
        health = self._health[label]
        if health.dropped is not None:
            return  # a request in flight when the model was dropped
        if exc.fatal:
            health.dropped = f"{label}: {exc}"
            self._tell(label, "dropped", str(exc), 0.0)
            return
        # a refused request (HTTP 400, 422, ...) counts too: one may be this request's
        # fault, but a model that refuses every request (parameters it does not take)
        # must be rested, then dropped and announced, like one that fails otherwise
        health.consecutive_failures += 1
        if health.consecutive_failures >= self.config.circuit_failures:
            health.consecutive_failures = 0
            health.rests_without_success += 1
            if health.rests_without_success >= self.config.max_rests:
                health.dropped = f"{label}: kept failing ({exc})"
                self._tell(label, "dropped", f"kept failing ({exc})", 0.0)
            else:
                health.rested_until = self._clock() + self.config.circuit_cooldown_s
                self._tell(label, "rested", str(exc), self.config.circuit_cooldown_s)

    def _tell(self, label: str, state: str, reason: str, cooldown_s: float) -> None:
        if self.listener is None:
            return
        usable = sum(1 for health in self._health.values() if health.dropped is None)
        self.listener(ModelChange(label, state, reason, cooldown_s, usable))

    # -- model choice learning ------------------------------------------------------------

    def reward_model(self, label: str, reward: float, job_cost: float) -> None:
        """Pay the model bandit: the step's reward per unit cost relative to the running
        mean cost of a job (cost in money when prices are set, otherwise tokens)."""
        if self.bandit is None or label not in self.labels or not math.isfinite(reward):
            return
        self._jobs_costed += 1
        self._mean_job_cost += (job_cost - self._mean_job_cost) / self._jobs_costed
        scale = 1.0 if job_cost <= 0 else min(1.0, self._mean_job_cost / job_cost)
        self.bandit.update(label, max(0.0, min(1.0, reward * scale)))

    def state(self) -> dict[str, Any]:
        """What the run database stores with every step (model bandit and its cost scale)."""
        return {
            "bandit": None if self.bandit is None else self.bandit.state(),
            "mean_job_cost": self._mean_job_cost,
            "jobs_costed": self._jobs_costed,
        }

    def load_state(self, state: Mapping[str, Any] | None) -> None:
        if not state:
            return
        if self.bandit is not None and state.get("bandit"):
            self.bandit.load_state(state["bandit"])
        self._mean_job_cost = float(state.get("mean_job_cost", 0.0))
        self._jobs_costed = int(state.get("jobs_costed", 0))

    def health(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {
            label: {
                "dropped": h.dropped,
                "resting_s": max(0.0, h.rested_until - now),
                "consecutive_failures": h.consecutive_failures,
            }
            for label, h in self._health.items()
        }
