"""``evoforge check PROBLEM_DIR``: try degenerate programs against a problem's evaluator.

The command scores the problem's seed, then each probe of
:mod:`evoforge.evaluator_probes` (``None``, NaN, an empty list, an early ``os._exit(0)``, a
score printed on standard output, ...), as a run would score a child, and lists what the
evaluator made of each. Exit status: 0 when no probe scored above the seed, 1 when a
probe did (a hole a search would find) or the seed itself did not score, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evoforge.cpus import usable_cpus
from evoforge.evaluator_probes import (
    PROBES,
    TIES_THE_SEED,
    ProbeOutcome,
    ProbeReport,
    probe_problem,
)
from evoforge.terminal import printable

__all__ = ["EXIT_HOLES", "add_check_parser", "run_check"]

#: A probe scored above the seed, or the seed did not score.
EXIT_HOLES = 1


def add_check_parser(commands: Any, positive_int: Callable[[str], int]) -> None:
    """Register ``check`` on the CLI's subcommand parsers."""
    check = commands.add_parser(
        "check",
        help="try degenerate programs (None, NaN, an early exit, a printed score) against "
        "a problem's evaluator",
    )
    check.add_argument("problem_dir", type=Path, metavar="PROBLEM_DIR")
    check.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="probes scored at once (default: the CPUs it may use, at most 4)",
    )
    check.add_argument(
        "--probes",
        nargs="+",
        choices=PROBES,
        metavar="PROBE",
        help=f"only these probes (of {', '.join(PROBES)})",
    )
    check.add_argument("--json", action="store_true", help="one JSON object")


def _score_text(score: float | None) -> str:
    return "-" if score is None else f"{score:.6g}"


class _Progress:
    """One line on stderr per evaluation as it ends: ``checking: 3/12 raise: refused``."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self._lock = threading.Lock()  # probes end in the pool's threads

    def start(self, total: int) -> None:
        self.total = total

    def heard(self, name: str, outcome: ProbeOutcome | None) -> None:
        if outcome is None:
            what = "seed scored again" if name == "seed-again" else "seed scored"
        else:
            what = f"{name}: {outcome.verdict}"
        with self._lock:
            self.done += 1
            print(f"checking: {self.done}/{self.total} {what}", file=sys.stderr, flush=True)


def _print_report(report: ProbeReport) -> None:
    print(
        f"{report.problem}: seed {report.seed_status}, score {_score_text(report.seed_score)}"
        + (f" ({printable(report.seed_reason)})" if report.seed_score is None else "")
        + f", {report.seed_duration_s:.1f} s of its {report.timeout_s:g} s limit"
    )
    width = max((len(outcome.probe.name) for outcome in report.outcomes), default=5)
    for outcome in report.outcomes:
        reason = f"  {printable(outcome.reason)}" if outcome.reason else ""
        print(
            f"  {outcome.probe.name:<{width}}  {outcome.status:<8} "
            f"{_score_text(outcome.score):>10}  {outcome.verdict}{reason}"
        )
    holes = report.holes
    tied = [  # printed-score runs the seed's code: a tie is what it should get
        o.probe.name
        for o in report.outcomes
        if o.verdict == TIES_THE_SEED and o.probe.name != "printed-score"
    ]
    if report.seed_score is None:
        print("the seed does not score: the probes cannot be compared with it")
    elif holes:
        names = ", ".join(outcome.probe.name for outcome in holes)
        print(
            f"{len(holes)} of {len(report.outcomes)} probes scored above the seed ({names}): "
            "a search would be rewarded for them; make the evaluator refuse such output"
        )
    else:
        print(f"no hole: none of the {len(report.outcomes)} probes scored above the seed")
    if report.seed_score is not None and report.noisy:
        print(
            f"noisy: the seed scored {_score_text(report.seed_score)} and then "
            f"{_score_text(report.seed_score_again)}; a search would chase that noise (fix "
            "the evaluator's random seed, or average over more instances)"
        )
    if report.seed_score is not None and report.slow:
        print(
            f"slow: the seed took {report.seed_duration_s:.1f} s of its {report.timeout_s:g} s "
            "limit (evaluator.timeout_s); a child a little slower will time out"
        )
    if tied and report.seed_score is not None:
        print(
            f"tied with the seed: {', '.join(tied)} (no pull for a search; expected where the "
            "score has a floor or a few levels, or the frozen code falls back to the seed's "
            "answer; otherwise the evaluator may not look at the answer)"
        )


def run_check(args: argparse.Namespace) -> int:
    """The ``check`` command; returns its exit status (problem errors propagate)."""
    workers = args.workers if args.workers is not None else min(4, usable_cpus())
    progress = _Progress()
    quiet = bool(args.json)
    report = probe_problem(
        args.problem_dir,
        workers=max(1, workers),
        on_start=progress.start,
        on_outcome=(lambda _name, _outcome: None) if quiet else progress.heard,
        only=tuple(args.probes or ()),
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    return EXIT_HOLES if report.seed_score is None or report.holes else 0
