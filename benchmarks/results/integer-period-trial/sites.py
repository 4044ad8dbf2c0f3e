"""Which run databases hold programs where the trial's ``period`` wrap could apply.

    python benchmarks/results/integer-period-trial/sites.py OUT ...

Needs ``integer-period.diff`` applied (it imports ``evoforge.operators.integer_names``).
``OUT`` is an ``evoforge bench`` output directory with its run databases (those of
suite-evoforge-d6b0d1b-500 for the README's figures; not committed). Per run: how many
programs it holds, how many have an expression site ``period`` could wrap, and the most
common such sites.
"""

from __future__ import annotations

import ast
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from evoforge.operators import mutate
from evoforge.operators.ast_tools import parse_program


def integer_sites(code: str) -> list[str]:
    """The expression sites of ``code``'s blocks that hold counts or indices."""
    from evoforge.operators.integer_names import is_integer_expression  # the diff's module

    parsed = parse_program(code)
    if parsed is None:
        return []
    envs = mutate._block_envs(parsed, parsed.fresh_trees())
    return [
        ast.unparse(site.node)
        for env in envs.values()
        for site in mutate._expression_sites(env)
        if is_integer_expression(site.node, env.integer_names)
    ]


def main(outs: list[str]) -> None:
    for out in outs:
        for database in sorted(Path(out).glob("runs/*/evoforge/*/run/run.sqlite")):
            codes = [
                row[0] for row in sqlite3.connect(database).execute("select code from programs")
            ]
            found: Counter[str] = Counter()
            with_sites = 0
            for code in codes:
                sites = integer_sites(code)
                with_sites += bool(sites)
                found.update(sites)
            problem, run = database.parts[-5], database.parts[-3]
            print(
                f"{problem} {run}: {len(codes)} programs, {with_sites} with a site",
                found.most_common(3),
            )


if __name__ == "__main__":
    main(sys.argv[1:])
