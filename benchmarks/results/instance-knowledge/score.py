"""Score the programs of this folder, and each problem's seed, on every split of their
problem, through the real sandbox with the problem's own evaluator settings.

    python benchmarks/results/instance-knowledge/score.py

Each program was written by hand from what the problem's files show (the seeds its
evaluator draws instances from, the reference answers in its data, the data set an
installed package ships): it answers the instances it recognises rather than solving
them. The table it prints is the record in this folder's README.
"""

from __future__ import annotations

from pathlib import Path

from evoforge.config import load_yaml_mapping, validate_config
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.program import EvaluationResult

HERE = Path(__file__).resolve().parent
PROBLEMS = HERE.parents[1] / "problems"
PROGRAMS = {
    "optimizer_update_rule": "optimizer_update_rule_rebuilt.py",
    "sor_relaxation": "sor_relaxation_lookup.py",
    "data_selection": "data_selection_reads_digits.py",
}
SPLITS = ("search", "holdout", "test")


def _shown(result: EvaluationResult) -> str:
    if result.score is not None:
        return f"{result.score:.4f}"
    reason = result.reason.strip().splitlines()
    return f"{result.status.value} ({reason[-1][:60] if reason else ''})"


def main() -> None:
    print("| problem | program | " + " | ".join(SPLITS) + " |")
    print("|---|---|" + "---:|" * len(SPLITS))
    for problem, program in PROGRAMS.items():
        directory = PROBLEMS / problem
        config = validate_config(load_yaml_mapping(directory / "config.yaml"), str(directory))
        evaluator = ProblemEvaluator(directory / "evaluator.py", config.evaluator)
        try:
            for name, path in (
                ("seed", directory / "initial_program.py"),
                (program, HERE / program),
            ):
                code = path.read_text(encoding="utf-8")
                cells = [_shown(evaluator.evaluate(code, split)) for split in SPLITS]
                print(f"| {problem} | {name} | " + " | ".join(cells) + " |")
        finally:
            evaluator.close()


if __name__ == "__main__":
    main()
