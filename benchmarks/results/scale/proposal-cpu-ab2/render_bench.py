"""Time one ``ParsedProgram.render`` (with the fresh trees it needs) of one program.

    PYTHONPATH=TREE python benchmarks/results/scale/proposal-cpu-ab2/render_bench.py [PROGRAM]

Without ``PROGRAM``: the scale-out benchmark's program (no triple-quoted string). Prints
the best of 15 repeats of 2,000 renders, per render: the minimum is what the code costs,
the rest is other work on the machine.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import evoforge.operators.ast_tools as ast_tools

BENCHMARKS = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(BENCHMARKS))
from scale_out import PROGRAM  # noqa: E402

code = Path(sys.argv[1]).read_text() if len(sys.argv) > 1 else PROGRAM
parsed = ast_tools.parse_program(code)
assert parsed is not None


def render_once() -> str:
    trees = parsed.fresh_trees()
    return parsed.render(trees, [0])


render_once()
best = min(timeit.repeat(render_once, number=2000, repeat=15)) / 2000
print(f"{ast_tools.__file__}: {best * 1e6:.0f} us per render")
