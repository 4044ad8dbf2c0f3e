"""The ``evoforge export`` subcommand: its flags and what it prints.

Kept here so that the command line stays a thin layer: :mod:`evoforge.cli` only adds
the parser and calls :func:`run_export`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from evoforge.argument_types import number, whole_number
from evoforge.export.options import DIFFICULTY_MODES, FORMATS, REASONING_MODES, ExportOptions
from evoforge.terminal import printable

__all__ = ["add_export_parser", "run_export"]

_DEFAULTS = ExportOptions(format="sft")


def add_export_parser(commands: Any) -> None:
    """Add ``export`` to the subcommands of the ``evoforge`` parser."""
    export = commands.add_parser(
        "export", help="write training data (JSONL and a dataset card) distilled from runs"
    )
    export.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    export.add_argument("--format", required=True, choices=FORMATS, help="record format")
    export.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    export.add_argument(
        "--difficulty",
        choices=DIFFICULTY_MODES,
        default=_DEFAULTS.difficulty,
        help="improving children kept per parent: proportional to how rarely the parent "
        "improved, uniform, or off (default proportional)",
    )
    export.add_argument(
        "--per-parent",
        type=whole_number,
        metavar="N",
        default=_DEFAULTS.per_parent,
        help=f"most improving children per parent (default {_DEFAULTS.per_parent})",
    )
    export.add_argument(
        "--failure-examples",
        type=whole_number,
        metavar="N",
        default=_DEFAULTS.failure_examples,
        help="failed children per parent turned into fix examples, sft only "
        f"(default {_DEFAULTS.failure_examples}; 0: none)",
    )
    export.add_argument(
        "--per-lineage",
        type=whole_number,
        metavar="N",
        default=_DEFAULTS.per_lineage,
        help=f"most examples per lineage (default {_DEFAULTS.per_lineage}; 0: no cap)",
    )
    export.add_argument(
        "--margin",
        type=number,
        metavar="M",
        default=_DEFAULTS.margin,
        help="preference: chosen beats rejected by more than M x |parent score| "
        f"(default {_DEFAULTS.margin})",
    )
    export.add_argument(
        "--rejected-per-chosen",
        type=whole_number,
        metavar="N",
        default=_DEFAULTS.rejected_per_chosen,
        help=f"preference: pairs per chosen child (default {_DEFAULTS.rejected_per_chosen})",
    )
    export.add_argument(
        "--validation",
        type=number,
        metavar="SHARE",
        default=_DEFAULTS.validation,
        help=f"share of examples held out, whole lineages (default {_DEFAULTS.validation})",
    )
    export.add_argument(
        "--seed",
        type=whole_number,
        metavar="S",
        default=_DEFAULTS.seed,
        help="which lineages are held out (default 0)",
    )
    export.add_argument(
        "--reasoning",
        choices=REASONING_MODES,
        default=_DEFAULTS.reasoning,
        help="a reasoning model's <think> section before its answer: drop it from the "
        "completions, or keep it (default drop)",
    )


class _Progress:
    """What the export is doing, on one line of a terminal's stderr that each step
    overwrites and :meth:`clear` empties; nothing when stderr is no terminal."""

    def __init__(self) -> None:
        self._shown = sys.stderr.isatty()

    def __call__(self, line: str) -> None:
        if self._shown:
            sys.stderr.write(f"\r\x1b[Kevoforge export: {printable(line)}")
            sys.stderr.flush()

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def run_export(args: argparse.Namespace) -> int:
    """Run the export the parsed flags describe and print one summary line, showing its
    progress on a terminal's stderr meanwhile (gone before any result or error).
    Raises :class:`~evoforge.export.options.ExportError` on bad input."""
    from evoforge.export.pipeline import export_runs

    options = ExportOptions(
        format=args.format,
        difficulty=args.difficulty,
        per_parent=args.per_parent,
        failure_examples=args.failure_examples,
        per_lineage=args.per_lineage,
        margin=args.margin,
        rejected_per_chosen=args.rejected_per_chosen,
        validation=args.validation,
        seed=args.seed,
        reasoning=args.reasoning,
    )
    progress = _Progress()
    try:
        result = export_runs(args.run_dirs, args.out, options, progress)
    finally:
        progress.clear()
    counts = ", ".join(f"{count} {split}" for split, count in result.counts.items())
    running = "".join(f"; {label} is still running: exported so far" for label in result.running)
    print(
        f"{options.format}: {counts} examples from {result.candidates} candidates; "
        f"card in {result.card}{running}"
    )
    return 0
