import importlib.util
import math

from openevolve.evaluation_result import EvaluationResult


def _load(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate_stage1(program_path):
    module = _load(program_path)
    value = module.approx_sqrt(4.0)
    ok = 1.0 if abs(value - 2.0) < 1.0 else 0.0
    return EvaluationResult(metrics={"combined_score": ok}, artifacts={"stage1": f"sqrt(4)~{value}"})


def evaluate(program_path):
    module = _load(program_path)
    values = module.run_search()
    errors = [abs(v - math.sqrt(x)) / math.sqrt(x) for x, v in zip(range(1, 101), values)]
    worst = max(errors)
    return EvaluationResult(
        metrics={"combined_score": 1.0 / (1.0 + 100.0 * worst), "max_rel_error": worst},
        artifacts={"note": f"worst relative error {worst:.3g}"},
    )


def evaluate_stage2(program_path):
    return evaluate(program_path)
