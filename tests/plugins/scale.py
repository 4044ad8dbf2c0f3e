"""A third-party operator with settings: the config gives them under ``operators.scale``.

Nothing here registers itself; a test registers it (with :class:`ScaleSettings`) and
forgets it after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from evoforge.operators.base import Operator, Proposal, ProposalContext
from tests.plugins.halve import scale_first_literal

if TYPE_CHECKING:
    from evoforge.operators.llm import LLMServices


class ScaleSettings(BaseModel):
    """The scale operator: multiply the first numeric literal of the evolve blocks."""

    model_config = ConfigDict(extra="forbid")

    factor: float = Field(0.5, gt=0, description="What the literal is multiplied by.")


class ScaleOperator(Operator):
    """Multiplies the first numeric literal of the evolve blocks by its factor."""

    name = "scale"

    def __init__(self, settings: ScaleSettings) -> None:
        self.settings = settings

    @classmethod
    def build(cls, settings: ScaleSettings, llm: LLMServices | None) -> ScaleOperator:
        return cls(settings)

    async def propose(self, context: ProposalContext) -> Proposal | None:
        child = scale_first_literal(context.parent.code, self.settings.factor)
        return None if child is None else Proposal(child, self.name)
