"""A third-party operator for the registry tests: one module, registered by name."""

from __future__ import annotations

from evoforge.operators.ast_tools import literal_sites, make_number, parse_program, replace_nodes
from evoforge.operators.base import Operator, Proposal, ProposalContext


def scale_first_literal(code: str, factor: float) -> str | None:
    """``code`` with the first numeric literal of its evolve blocks multiplied by
    ``factor`` (None when it has none, or does not parse)."""
    parsed = parse_program(code)
    if parsed is None:
        return None
    trees = parsed.fresh_trees()
    for index, tree in enumerate(trees):
        if tree is None:
            continue
        for site in literal_sites(tree):
            replace_nodes(tree, {id(site.node): make_number(site.value * factor)})
            return parsed.render(trees, [index])
    return None


class HalveOperator(Operator):
    """Halves the first numeric literal of the evolve blocks."""

    name = "halve"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        child = scale_first_literal(context.parent.code, 0.5)
        return None if child is None else Proposal(child, self.name, note="halved")
