"""Translate an OpenEvolve ``config.yaml`` found in a problem directory.

OpenEvolve problem directories must run unchanged, and many carry an OpenEvolve config.
Settings with an evoforge equivalent are translated; the rest (language-model settings,
prompts, logging, checkpoints, ...) are returned by name so the caller can say, loudly,
that they are not applied. Nothing is ignored silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_OPENEVOLVE_ONLY_KEYS = {
    "max_iterations",
    "llm",
    "prompt",
    "database",
    "random_seed",
    "checkpoint_interval",
    "log_level",
    "log_dir",
    "diff_based_evolution",
    "language",
    "file_suffix",
    "max_code_length",
    "early_stopping_patience",
    "convergence_threshold",
    "early_stopping_metric",
    "evolution_trace",
}

# (section or None, OpenEvolve key) -> dotted evoforge key
_DIRECT = {
    (None, "max_iterations"): "run.iterations",
    (None, "random_seed"): "seed",
    ("database", "num_islands"): "archive.num_islands",
    ("database", "migration_interval"): "archive.migration_interval",
    ("database", "exploration_ratio"): "archive.exploration_rate",
    ("database", "exploitation_ratio"): "archive.exploitation_rate",
    ("evaluator", "timeout"): "evaluator.timeout_s",
    ("evaluator", "cascade_evaluation"): "evaluator.cascade",
    ("evaluator", "cascade_thresholds"): "evaluator.cascade_thresholds",
    ("evaluator", "parallel_evaluations"): "run.workers",
    ("evaluator", "memory_limit_mb"): "evaluator.memory_mb",
}
_HANDLED_SPECIALLY = {("database", "feature_dimensions"), ("database", "feature_bins")}


def looks_like_openevolve(data: Mapping[str, Any]) -> bool:
    """True when the mapping uses OpenEvolve's layout rather than evoforge's."""
    if _OPENEVOLVE_ONLY_KEYS.intersection(data):
        return True
    evaluator = data.get("evaluator")
    return isinstance(evaluator, Mapping) and "timeout" in evaluator


def translate_openevolve(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (evoforge config layer, dotted names of settings not applied)."""
    layer: dict[str, Any] = {}
    not_applied: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and key in {"database", "evaluator", "llm", "prompt"}:
            for sub_key, sub_value in value.items():
                _translate_one(key, str(sub_key), sub_value, layer, not_applied)
        else:
            _translate_one(None, str(key), value, layer, not_applied)
    database = data.get("database")
    if isinstance(database, Mapping) and database.get("feature_dimensions"):
        layer.setdefault("archive", {})["features"] = _features(
            database["feature_dimensions"], database.get("feature_bins", 10)
        )
    archive = layer.get("archive", {})
    if "exploration_rate" in archive or "exploitation_rate" in archive:
        rest = (
            1.0
            - float(archive.get("exploration_rate", 0.2))
            - float(archive.get("exploitation_rate", 0.6))
        )
        archive["tournament_rate"] = max(0.0, rest)
        # the ratios are a fixed mix of parent choices: honour them instead of learning one
        archive["parents"] = {"adaptive": False}
    return layer, not_applied


def _translate_one(
    section: str | None, key: str, value: Any, layer: dict[str, Any], not_applied: list[str]
) -> None:
    if (section, key) in _HANDLED_SPECIALLY:
        return
    dotted = _DIRECT.get((section, key))
    name = key if section is None else f"{section}.{key}"
    if dotted is None:
        if value is not None:
            not_applied.append(name)
        return
    if value is None:
        return
    target = layer
    *parents, leaf = dotted.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = value


def _features(dimensions: Any, bins: Any) -> list[dict[str, Any]]:
    names = [str(name) for name in dimensions] if isinstance(dimensions, list) else []
    features = []
    for name in names:
        count = bins.get(name, 10) if isinstance(bins, Mapping) else bins
        features.append({"name": name, "bins": int(count)})
    return features
