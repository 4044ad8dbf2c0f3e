"""Where could skipping the render round trip change a block? Over run databases.

    python benchmarks/results/scale/proposal-cpu-ab2/round_trip_check.py OUT ...

``OUT``: ``evoforge bench`` output directories with their run databases (those of
suite-evoforge-d6b0d1b-500 for the README's figure; not committed). For every distinct
parsed evolve block of every program: unparse it, re-indent it as a render does, and
count the blocks where dedenting gives the unparsed text back (the shortcut skips the
round trip) but the round trip would still read back different text.
"""

from __future__ import annotations

import ast
import sqlite3
import sys
from pathlib import Path

from evoforge.blocks import dedent_block, indent_block
from evoforge.operators.ast_tools import parse_program


def main(outs: list[str]) -> None:
    seen: set[str] = set()
    disagree = 0
    for out in outs:
        for database in sorted(Path(out).glob("runs/*/evoforge/*/run/run.sqlite")):
            for (code,) in sqlite3.connect(database).execute("select code from programs"):
                parsed = parse_program(code)
                for block in parsed.blocks if parsed is not None else ():
                    if block.tree is None or block.text in seen:
                        continue
                    seen.add(block.text)
                    source = ast.unparse(block.tree)
                    text = indent_block(source, block.indent)
                    skipped = dedent_block(text).rstrip("\n") == source.rstrip("\n")
                    if skipped and ast.unparse(ast.parse(dedent_block(text))) != source:
                        disagree += 1
    print(f"{len(seen)} distinct blocks; shortcut and round trip disagree on {disagree}")


if __name__ == "__main__":
    main(sys.argv[1:])
