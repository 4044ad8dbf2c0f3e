"""How many language-model children fail to parse or apply, with and without the
weak-model measures (lenient SEARCH matching and the correction prompt).

Whole sequential runs (real sandbox, real run database) whose model is the oracle
playing a weak model: a share of its SEARCH/REPLACE answers copy the SEARCH text
imperfectly (``--near-miss-rate``) and a share of all its answers hold no code
(``--unparseable-rate``). Each run is made under three settings:

* ``strict``: exact SEARCH matching only, no correction prompt;
* ``indent``: exact, then ignoring trailing whitespace and indentation, no correction
  prompt (the matching evoforge had before fuzzy matching and the correction prompt);
* ``lenient``: the defaults (up to a unique fuzzy match, one correction prompt).

For every run it reads the ``llm_answer`` records and reports the share of answers that
failed (unparseable, ambiguous, not applied), the match kinds and the corrections.

    python benchmarks/weak_models.py                      # writes benchmarks/results/llm-weak/
    python benchmarks/weak_models.py --iterations 20 --seeds 1 --out /tmp/weak
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import evoforge
from evoforge.llm.oracle import WeakModel, start_oracle
from evoforge.report.summary import answers_summary
from evoforge.storage.db import RunDatabase

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = {
    "curve_fit": ROOT / "tests" / "e2e" / "problems" / "curve_fit",
    "circle_packing": ROOT / "examples" / "circle_packing",
}
SETTINGS: dict[str, dict[str, Any]] = {
    "strict": {"match_leniency": "exact", "correction_prompt": False},
    "indent": {"match_leniency": "indent", "correction_prompt": False},
    "lenient": {},
}


def one_run(
    problem: Path, url: str, seed: int, iterations: int, llm: dict[str, Any]
) -> dict[str, Any]:
    """One sequential run; the answers' summary and the run's best score."""
    config = {
        "seed": seed,
        "run": {"workers": 1, "log_mode": "quiet"},
        "operators": {"enabled": ["llm_diff", "llm_rewrite"]},
        "llm": {"models": [{"model": "oracle", "base_url": url}], **llm},
    }
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        result = evoforge.run(problem, iterations=iterations, config=config, out=out)
        db = RunDatabase(out / RunDatabase.FILENAME)
        try:
            answers = answers_summary(db)
            forms = {"diff": [0, 0], "rewrite": [0, 0]}
            for event in db.events("llm_answer"):
                counts = forms[str(event.payload["form"])]
                counts[0] += 1
                counts[1] += int(event.payload["outcome"] != "applied")
        finally:
            db.close()
    return {
        **answers,
        "failed_by_form": {form: {"answers": a, "failed": f} for form, (a, f) in forms.items()},
        "best_score": result.best_score,
        "initial_score": result.initial_score,
    }


def total(runs: list[dict[str, Any]]) -> dict[str, Any]:
    answers = sum(run["answers"] for run in runs)
    outcomes: dict[str, int] = {}
    match: dict[str, int] = {}
    for run in runs:
        for name, count in run["outcomes"].items():
            outcomes[name] = outcomes.get(name, 0) + count
        for name, count in run["match"].items():
            match[name] = match.get(name, 0) + count
    diff = [run["failed_by_form"]["diff"] for run in runs]
    diff_answers = sum(item["answers"] for item in diff)
    return {
        "answers": answers,
        "failed": answers - outcomes.get("applied", 0),
        "failed_share": (answers - outcomes.get("applied", 0)) / answers if answers else None,
        "diff_failed_share": (
            sum(item["failed"] for item in diff) / diff_answers if diff_answers else None
        ),
        "outcomes": dict(sorted(outcomes.items())),
        "match": match,
        "corrections_sent": sum(run["corrections"]["sent"] for run in runs),
        "corrections_succeeded": sum(run["corrections"]["succeeded"] for run in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--near-miss-rate", type=float, default=0.3)
    parser.add_argument("--unparseable-rate", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "llm-weak")
    args = parser.parse_args()
    weak = WeakModel(args.near_miss_rate, args.unparseable_rate)
    # the driver's own CPU; sandboxed evaluations run in processes it does not wait for
    started, cpu_started = time.time(), time.process_time()
    children_cpu = os.times()
    runs: list[dict[str, Any]] = []
    oracle = start_oracle(seed=0, weak=weak)
    try:
        for name, problem in PROBLEMS.items():
            for seed in range(args.seeds):
                for setting, llm in SETTINGS.items():
                    record = one_run(problem, oracle.url, seed, args.iterations, llm)
                    runs.append({"problem": name, "seed": seed, "setting": setting, **record})
                    print(
                        f"{name} seed {seed} {setting}: {record['answers']} answers, "
                        f"failed share {record['failed_share']:.3f}",
                        flush=True,
                    )
    finally:
        oracle.close()
    after = os.times()
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    totals = {
        setting: total([run for run in runs if run["setting"] == setting]) for setting in SETTINGS
    }
    report: dict[str, Any] = {
        "command": "python benchmarks/weak_models.py "
        + f"--iterations {args.iterations} --seeds {args.seeds} "
        + f"--near-miss-rate {args.near_miss_rate} --unparseable-rate {args.unparseable_rate}",
        "oracle": {
            "near_miss_rate": args.near_miss_rate,
            "unparseable_rate": args.unparseable_rate,
        },
        "operators": ["llm_diff", "llm_rewrite"],
        "settings": SETTINGS,
        "totals": totals,
        "runs": runs,
        "machine": f"{platform.system()} {platform.release()} ({platform.machine()}), "
        f"{os.cpu_count()} cores; Python {platform.python_version()}",
        "evoforge_commit": commit,
        "wall_s": round(time.time() - started, 1),
        "driver_cpu_s": round(
            time.process_time()
            - cpu_started
            + (after.children_user - children_cpu.children_user)
            + (after.children_system - children_cpu.children_system),
            1,
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "weak_models.json").write_text(json.dumps(report, indent=2) + "\n")
    for setting, figures in totals.items():
        print(
            f"{setting}: {figures['failed']} of {figures['answers']} answers failed "
            f"({figures['failed_share']:.1%}); diffs {figures['diff_failed_share']:.1%}; "
            f"{figures['outcomes']}; matched {figures['match']}; corrections "
            f"{figures['corrections_succeeded']}/{figures['corrections_sent']}"
        )
    print(f"wall {report['wall_s']} s, driver cpu {report['driver_cpu_s']} s")


if __name__ == "__main__":
    main()
