"""Evaluator in the style of OpenEvolve's k_module_problem (written for evoforge's tests).

It returns what OpenEvolve evaluators return: metrics at the top level with an
``artifacts`` mapping among them (and a text metric), or, when the configuration is
unusable, ``{"metrics": {...}, "artifacts": {...}}``.
"""

import importlib.util
import os
import sys
import time

RICH_FEEDBACK = os.environ.get("RICH_FEEDBACK", "0") == "1"
OPTIONS = {
    "loader": ["csv_reader", "json_reader", "xml_reader", "parquet_reader", "sql_reader"],
    "preprocess": ["normalize", "standardize", "minmax", "scale", "none"],
    "algorithm": ["quicksort", "mergesort", "heapsort", "bubblesort", "insertion"],
    "formatter": ["json", "xml", "csv", "yaml", "protobuf"],
}
TARGET = {"loader": 0, "preprocess": 1, "algorithm": 2, "formatter": 3}


def _failure(artifacts):
    metrics = {"correct_modules": 0, "total_modules": len(TARGET), "combined_score": 0.0}
    return {"metrics": metrics, "artifacts": artifacts}


def evaluate(program_path):
    start = time.time()
    try:
        spec = importlib.util.spec_from_file_location("program", program_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["program"] = module
        spec.loader.exec_module(module)
        config = module.run_pipeline()
    except Exception as exc:
        return _failure({"error": f"{type(exc).__name__}: {exc}", "status": "ERROR"})
    errors = []
    if not isinstance(config, dict):
        errors.append(f"configuration must be a dict, got {type(config).__name__}")
    else:
        for name, choices in OPTIONS.items():
            index = config.get(name)
            if not isinstance(index, int) or not 0 <= index < len(choices):
                errors.append(f"{name}: {index!r} is not an option index 0-{len(choices) - 1}")
    if errors:
        return _failure({"validation_errors": "\n".join(errors), "status": "VALIDATION_ERROR"})
    correct = sum(config[name] == index for name, index in TARGET.items())
    artifacts = {
        "configuration": str({name: OPTIONS[name][config[name]] for name in OPTIONS}),
        "status": f"{correct}/{len(TARGET)} modules correct",
        "search_space": f"{5 ** len(TARGET)} possible combinations",
    }
    if RICH_FEEDBACK:
        artifacts["module_feedback"] = {n: config[n] == i for n, i in TARGET.items()}
    return {
        "correct_modules": correct,
        "total_modules": len(TARGET),
        "accuracy": correct / len(TARGET),
        "combined_score": correct / len(TARGET),
        "eval_time": time.time() - start,
        "summary": "all modules correct" if correct == len(TARGET) else "keep searching",
        "artifacts": artifacts,
    }
