"""A third-party operator with settings: the config gives them under ``operators.scale``.

Nothing here registers itself; a test registers it (with :class:`ScaleSettings`) and
forgets it after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from evoforge.operators.ast_tools import literal_sites, make_number, parse_program, replace_nodes
from evoforge.operators.base import Operator, Proposal, ProposalContext

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
        parsed = parse_program(context.parent.code)
        if parsed is None:
            return None
        trees = parsed.fresh_trees()
        for index, tree in enumerate(trees):
            if tree is None:
                continue
            for site in literal_sites(tree):
                scaled = make_number(site.value * self.settings.factor)
                replace_nodes(tree, {id(site.node): scaled})
                return Proposal(parsed.render(trees, [index]), self.name)
        return None
