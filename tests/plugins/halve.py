"""A third-party operator for the registry tests: one module, registered by name."""

from __future__ import annotations

from evoforge.operators.ast_tools import literal_sites, make_number, parse_program, replace_nodes
from evoforge.operators.base import Operator, Proposal, ProposalContext


class HalveOperator(Operator):
    """Halves the first numeric literal of the evolve blocks."""

    name = "halve"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        parsed = parse_program(context.parent.code)
        if parsed is None:
            return None
        trees = parsed.fresh_trees()
        for index, tree in enumerate(trees):
            if tree is None:
                continue
            for site in literal_sites(tree):
                replace_nodes(tree, {id(site.node): make_number(site.value / 2)})
                return Proposal(parsed.render(trees, [index]), self.name, note="halved")
        return None
