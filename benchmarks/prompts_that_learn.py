"""The prompts that learn against the default prompts, with the oracle as the model.

For each problem, option and seed: one run of ``--iterations`` children with the three
language-model operators only, one worker (so each run is reproducible from its seed)
and the oracle (``evoforge.llm.oracle``) on 127.0.0.1 as the model. The options:

* ``default``: none of them;
* ``instructions``: ``prompt.instructions.evolve`` (the documented defaults otherwise);
* ``exemplars``: ``prompt.exemplars.adaptive``;
* ``notes``: ``prompt.notes.every_generations`` = ``--note-every``;
* ``all``: the three together.

Per run it records the best score and its gain over the seed program, the share of
model children whose answer could not become a child (it did not parse or its edits did
not apply: a rejection the operator itself gave), the share of the model's answers that
failed to parse or apply even after the correction prompt (``llm_answer`` records), the
share refused
as duplicates, the requests and tokens spent (the requests about the run included) and
the wall time. ``--near-miss-rate`` and ``--unparseable-rate`` make the oracle play a
weak model (:class:`evoforge.llm.oracle.WeakModel`); those runs are recorded under the
problem's name with the rates added.

    python benchmarks/prompts_that_learn.py    # into benchmarks/results/prompts-that-learn/
    python benchmarks/prompts_that_learn.py --problems min_max_distance_16 --options default all

Each invocation updates ``results.json`` in ``--out``: the figures of the problems and
options it measured replace earlier ones, the rest stay, and its command is added to
the record's ``commands`` (so the measurement can be split into short invocations).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import evoforge
from evoforge.llm.oracle import WeakModel, start_oracle
from evoforge.registry import OPERATORS
from evoforge.report.summary import answers_summary
from evoforge.storage.db import RunDatabase

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "benchmarks" / "problems"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "prompts-that-learn"


def option_settings(note_every: int, propose_every: int | None) -> dict[str, dict[str, Any]]:
    """The ``prompt`` section of each measured option. With ``propose_every`` the
    instruction option is measured with that setting too, as ``instructions-every-N``."""
    instructions: dict[str, Any] = {"instructions": {"evolve": True}}
    exemplars = {"exemplars": {"adaptive": True}}
    notes = {"notes": {"every_generations": note_every}}
    options = {
        "default": {},
        "instructions": instructions,
        "exemplars": exemplars,
        "notes": notes,
        "all": {**instructions, **exemplars, **notes},
    }
    if propose_every is not None:
        every = {"instructions": {"evolve": True, "propose_every": propose_every}}
        options[f"instructions-every-{propose_every}"] = every
    return options


def measure_run(
    problem: Path,
    url: str,
    prompt: dict[str, Any],
    seed: int,
    iterations: int,
    llm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run in a temporary directory; its figures."""
    config = {
        "seed": seed,
        "run": {"workers": 1},
        "operators": {"enabled": list(OPERATORS.names("llm"))},
        "llm": {"models": [{"model": "oracle", "base_url": url, "timeout_s": 30}], **(llm or {})},
        "prompt": prompt,
    }
    with tempfile.TemporaryDirectory(prefix="ptl-") as tmp:
        started = time.monotonic()
        result = evoforge.run(problem, iterations=iterations, config=config, out=Path(tmp) / "run")
        wall = time.monotonic() - started
        db = RunDatabase(Path(tmp) / "run" / RunDatabase.FILENAME)
        try:
            children = [step.program for step in db.steps() if step.program.seq > 0]
            usage = db.llm_usage()
            answers = answers_summary(db)
            meta_calls = sum(
                1 for _, call in db.llm_calls() if call.operator not in OPERATORS.names("llm")
            )
        finally:
            db.close()
    unusable = sum(
        1
        for child in children
        if child.status.value == "rejected" and child.reason.startswith(f"{child.operator}: ")
    )
    duplicates = sum(
        1
        for child in children
        if child.status.value == "rejected" and "duplicate of" in child.reason.split("\n")[0]
    )
    best = result.best_score
    initial = result.initial_score
    return {
        "seed": seed,
        "iterations": len(children),
        "best_score": best,
        "initial_score": initial,
        "gain": None if best is None or initial is None else best - initial,
        "unusable_answers": unusable,
        "unusable_share": unusable / len(children) if children else 0.0,
        "answers": answers["answers"],
        "answers_failed_share": answers["failed_share"],
        "answer_outcomes": answers["outcomes"],
        "duplicates": duplicates,
        "duplicate_share": duplicates / len(children) if children else 0.0,
        "failed_in_evaluation": sum(
            1 for child in children if child.status.value not in ("ok", "rejected")
        ),
        "llm_calls": usage["calls"],
        "meta_calls": meta_calls,
        "tokens": usage["tokens_in"] + usage["tokens_out"],
        "wall_s": round(wall, 2),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds (and the per-seed gains)."""

    def mean(key: str) -> float:
        return statistics.fmean(float(run[key]) for run in runs if run[key] is not None)

    return {
        "runs": len(runs),
        "mean_gain": mean("gain"),
        "gains": [run["gain"] for run in runs],
        "mean_best_score": mean("best_score"),
        "mean_unusable_share": mean("unusable_share"),
        "mean_answers_failed_share": mean("answers_failed_share"),
        "mean_duplicate_share": mean("duplicate_share"),
        "mean_llm_calls": mean("llm_calls"),
        "mean_tokens": mean("tokens"),
        "mean_wall_s": mean("wall_s"),
    }


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the evaluations) so far."""
    return _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--problems", nargs="+", default=["exp2_approximation", "min_max_distance_16"]
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--note-every", type=int, default=2, help="generations between notes")
    parser.add_argument(
        "--propose-every",
        type=int,
        default=None,
        help="also measure instruction evolution with this prompt.instructions.propose_every",
    )
    parser.add_argument("--options", nargs="+", default=None, help="a subset of the options")
    parser.add_argument("--oracle-seed", type=int, default=0)
    parser.add_argument(
        "--strict-matching",
        action="store_true",
        help="exact SEARCH matching and no correction prompt (llm.match_leniency: exact, "
        "llm.correction_prompt: false), so that every failed answer shows",
    )
    parser.add_argument(
        "--near-miss-rate",
        type=float,
        default=0.0,
        help="the oracle plays a weak model: this share of its SEARCH texts copied imperfectly",
    )
    parser.add_argument(
        "--unparseable-rate",
        type=float,
        default=0.0,
        help="the oracle plays a weak model: this share of its answers hold no code",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    settings = option_settings(args.note_every, args.propose_every)
    chosen = args.options or list(settings)
    unknown = [name for name in chosen if name not in settings]
    if unknown:
        parser.error(f"unknown option(s) {unknown}; known: {list(settings)}")
    weak = WeakModel(args.near_miss_rate, args.unparseable_rate)
    oracle = start_oracle(seed=args.oracle_seed, weak=weak)
    suffix = (
        f" (weak oracle: near misses {weak.near_miss_rate:g}, unparseable "
        f"{weak.unparseable_rate:g})"
        if weak.active
        else ""
    )
    llm: dict[str, Any] = {}
    if args.strict_matching:
        llm = {"match_leniency": "exact", "correction_prompt": False}
        suffix += " (strict matching, no correction prompt)"
    started = time.monotonic()
    cpu_started = time.process_time()
    children_started = resource.getrusage(resource.RUSAGE_CHILDREN)
    records: dict[str, dict[str, Any]] = {}
    try:
        for problem in args.problems:
            key = problem + suffix
            records[key] = {}
            for option in chosen:
                runs = [
                    measure_run(
                        PROBLEMS / problem, oracle.url, settings[option], seed, args.iterations, llm
                    )
                    for seed in range(args.seeds)
                ]
                records[key][option] = {
                    "settings": settings[option],
                    "llm_settings": llm,
                    "summary": summarise(runs),
                    "runs": runs,
                }
                summary = records[key][option]["summary"]
                print(
                    f"{problem:22s} {option:13s} gain {summary['mean_gain']:+.4g}  "
                    f"unusable {summary['mean_unusable_share']:.1%}  "
                    f"failed answers {summary['mean_answers_failed_share']:.1%}  "
                    f"duplicates {summary['mean_duplicate_share']:.1%}  "
                    f"calls {summary['mean_llm_calls']:.1f}  {summary['mean_wall_s']:.1f} s",
                    flush=True,
                )
    finally:
        oracle.close()
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "results.json"
    earlier = json.loads(target.read_text()) if target.is_file() else {}
    merged: dict[str, dict[str, Any]] = earlier.get("results", {})
    for problem, options in records.items():
        merged.setdefault(problem, {}).update(options)
    command = "python benchmarks/prompts_that_learn.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    invocation = {
        "command": command,
        "wall_s": round(time.monotonic() - started, 1),
        "cpu_s_this_process": round(time.process_time() - cpu_started, 1),
        "cpu_s_child_processes": round(_children_cpu() - _cpu(children_started), 1),
        "load_average_at_end": list(os.getloadavg()),
    }
    document = {
        "commands": [*earlier.get("commands", []), invocation],
        "iterations": args.iterations,
        "seeds": args.seeds,
        "note_every_generations": args.note_every,
        "oracle_seed": args.oracle_seed,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "results": merged,
    }
    target.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
