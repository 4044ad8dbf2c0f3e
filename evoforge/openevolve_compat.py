"""Translate an OpenEvolve config: a problem's ``config.yaml`` or a ``--config`` file.

OpenEvolve problem directories must run unchanged, and many carry an OpenEvolve config
(its examples also ship configs under other names, such as ``config_phase_1.yaml``).
Settings with an evoforge equivalent are translated; the rest (language-model settings,
prompts, logging, checkpoints, ...) are returned by name so the caller can say, loudly,
that they are not applied. Nothing is ignored silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evoforge.config import (
    Config,
    ConfigError,
    EvaluatorConfig,
    LLMConfig,
    PromptConfig,
    load_yaml_mapping,
    repeated_keys,
)

# OpenEvolve 0.4.0's settings (openevolve/config.py) that evoforge's layout does not have:
# one of them, at the top or inside a section, marks a config as OpenEvolve's.
_OPENEVOLVE_TOP_KEYS = {
    "max_iterations",
    "checkpoint_interval",
    "log_level",
    "log_dir",
    "random_seed",
    "language",
    "file_suffix",
    "database",
    "diff_based_evolution",
    "diff_pattern",
    "max_code_length",
    "max_tasks_per_child",
    "enforce_evolve_blocks",
    "early_stopping_patience",
    "convergence_threshold",
    "early_stopping_metric",
    "evolution_trace",
}
_OPENEVOLVE_SECTION_KEYS = {
    "evaluator": {
        "timeout",
        "max_retries",
        "memory_limit_mb",
        "cpu_limit",
        "cascade_evaluation",
        "cascade_thresholds",
        "parallel_evaluations",
        "distributed",
        "use_llm_feedback",
        "llm_feedback_weight",
        "enable_artifacts",
        "max_artifact_storage",
    },
    "llm": {
        "api_base",
        "api_key",
        "name",
        "primary_model",
        "primary_model_weight",
        "secondary_model",
        "secondary_model_weight",
        "evaluator_models",
        "system_message",
        "temperature",
        "top_p",
        "max_tokens",
        "timeout",
        "retries",
        "retry_delay",
        "random_seed",
        "reasoning_effort",
        "weight",
        "provider",
        "manual_mode",
        "init_client",
        "allow_all_tools",
        "max_ai_credits",
        "max_budget_usd",
    },
    "prompt": {
        "template_dir",
        "system_message",
        "evaluator_system_message",
        "num_top_programs",
        "num_diverse_programs",
        "use_template_stochasticity",
        "template_variations",
        "use_meta_prompting",
        "meta_prompt_weight",
        "include_artifacts",
        "max_artifact_bytes",
        "artifact_security_filter",
        "suggest_simplification_after_chars",
        "include_changes_under_chars",
        "concise_implementation_max_lines",
        "comprehensive_implementation_min_lines",
        "code_length_threshold",
        "diff_summary_max_line_len",
        "diff_summary_max_lines",
        "programs_as_changes_description",
        "system_message_changes_description",
        "initial_changes_description",
    },
}
_EVOFORGE_SECTION_KEYS = {
    "evaluator": set(EvaluatorConfig.model_fields),
    "llm": set(LLMConfig.model_fields),
    "prompt": set(PromptConfig.model_fields),
}

#: Top-level sections of evoforge's layout that OpenEvolve's lacks.
_EVOFORGE_ONLY_TOP_KEYS = (
    frozenset(Config.model_fields)
    - _OPENEVOLVE_TOP_KEYS
    - {
        "evaluator",
        "llm",
        "prompt",
    }
)

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
    ("prompt", "system_message"): "prompt.system_message",
}
_HANDLED_SPECIALLY = {("database", "feature_dimensions"), ("database", "feature_bins")}


def looks_like_openevolve(data: Mapping[str, Any]) -> bool:
    """True when the mapping uses OpenEvolve's layout rather than evoforge's: it has a
    setting of OpenEvolve's that evoforge's layout lacks, at the top level or inside the
    ``evaluator``, ``llm`` or ``prompt`` section."""
    if (_OPENEVOLVE_TOP_KEYS - set(Config.model_fields)).intersection(data):
        return True
    for section, keys in _OPENEVOLVE_SECTION_KEYS.items():
        value = data.get(section)
        if isinstance(value, Mapping) and (keys - _EVOFORGE_SECTION_KEYS[section]).intersection(
            value
        ):
            return True
    return False


def read_config_file(path: Path, *, staged: bool | None = None) -> tuple[dict[str, Any], list[str]]:
    """A config layer from a YAML file, translated when it is OpenEvolve's, with the
    notices to show the user (what was not applied or applies differently);
    :class:`ConfigError` when unusable. ``staged``: whether the problem's evaluator has
    cascade stages (None: not known)."""
    raw = load_yaml_mapping(path)
    repeats = repeated_keys(path)
    if not looks_like_openevolve(raw):
        if repeats:
            key, first, line = repeats[0]
            raise ConfigError(
                f"{path}: line {line}: {key} is given a second time (first at line {first}); "
                "keep one of them"
            )
        return raw, []
    _refuse_mixed_layouts(path, raw)
    layer, not_applied, notes = translate_openevolve(raw, staged=staged)
    notices = [  # OpenEvolve's loader keeps the last of them: so does this translation
        f"{path.name} is an OpenEvolve config; line {line}: {key} is given a second time "
        f"(first at line {first}): the last one counts"
        for key, first, line in repeats
    ]
    if not_applied:
        notices.append(
            f"{path.name} is an OpenEvolve config; settings evoforge does not apply: "
            f"{', '.join(not_applied)}"
        )
    notices.extend(f"{path.name} is an OpenEvolve config; {note}" for note in notes)
    return layer, notices


def _refuse_mixed_layouts(path: Path, data: Mapping[str, Any]) -> None:
    """:class:`ConfigError` when a file read as OpenEvolve's also has a top-level section
    only evoforge's layout has (``archive``, ``operators``, ...): its settings would be
    dropped as OpenEvolve's unknown keys, while its writer meant them."""
    ours = sorted(key for key in data if key in _EVOFORGE_ONLY_TOP_KEYS)
    if not ours:
        return
    theirs = sorted(key for key in data if key in _OPENEVOLVE_TOP_KEYS - set(Config.model_fields))
    if not theirs:  # OpenEvolve's keys inside a section: name the first section holding one
        theirs = [
            f"{section}.{key}"
            for section, keys in _OPENEVOLVE_SECTION_KEYS.items()
            if isinstance(data.get(section), Mapping)
            for key in data[section]
            if key in keys - _EVOFORGE_SECTION_KEYS[section]
        ][:1]
    named = ", ".join(_with_evoforge_name(key) for key in theirs)
    raise ConfigError(
        f"{path}: mixes OpenEvolve's layout ({named}) with evoforge's "
        f"({', '.join(ours)}); write it in one of the two (evoforge's keys: docs/CONFIG.md)"
    )


def _with_evoforge_name(dotted: str) -> str:
    """An OpenEvolve key (``evaluator.timeout``), followed by the evoforge key it becomes
    when there is one: in an evoforge config it is most often a slip of the name."""
    section, _, key = dotted.rpartition(".")
    ours = _DIRECT.get((section or None, key))
    return dotted if ours is None else f"{dotted}, which evoforge calls {ours}"


# OpenEvolve's defaults (openevolve/config.py) where they differ from evoforge's and a
# translated setting depends on them.
_OPENEVOLVE_EXPLORATION_RATIO = 0.2
_OPENEVOLVE_EXPLOITATION_RATIO = 0.7
_OPENEVOLVE_CASCADE_THRESHOLDS = [0.5, 0.75, 0.9]
_OPENEVOLVE_TIMEOUT_S = 300
_OPENEVOLVE_FEATURE_DIMENSIONS = ["complexity", "diversity"]  # registered features here too
_OPENEVOLVE_FEATURE_BINS = 10
# prompt.system_message may name one of OpenEvolve's templates instead of holding text
_OPENEVOLVE_DEFAULT_SYSTEM_MESSAGE = "system_message"
_OPENEVOLVE_TEMPLATE_NAMES = {
    "diff_user",
    "evaluation",
    "evaluator_system_message",
    "evolution_history",
    "full_rewrite_user",
    "inspiration_program",
    "inspirations_section",
    "previous_attempt",
    "system_message",
    "system_message_changes_description",
    "system_message_with_changes_description",
    "top_program",
    "user_message_with_changes_description",
}


def translate_openevolve(
    data: Mapping[str, Any], *, staged: bool | None = None
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Return (evoforge config layer, dotted names of settings not applied, notes on
    settings applied with a difference). :class:`ConfigError` for a setting that cannot
    mean anything (a ``feature_bins`` entry naming no dimension). ``staged``: whether the
    evaluator has cascade stages (``False``: a timeout means the same in both engines, so
    no note on it; None: not known)."""
    layer: dict[str, Any] = {}
    not_applied: list[str] = []
    notes: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and key in {"database", "evaluator", "llm", "prompt"}:
            for sub_key, sub_value in value.items():
                _translate_one(key, str(sub_key), sub_value, layer, not_applied)
        else:
            _translate_one(None, str(key), value, layer, not_applied)
    database = data.get("database")
    database = database if isinstance(database, Mapping) else {}
    features = _features(database.get("feature_dimensions"), database.get("feature_bins"))
    if features is not None:
        layer.setdefault("archive", {})["features"] = features
    _selection_ratios(database, layer)
    evaluator = data.get("evaluator")
    evaluator = evaluator if isinstance(evaluator, Mapping) else {}
    cascade = evaluator.get("cascade_evaluation")
    if cascade is not False and evaluator.get("cascade_thresholds") is None:
        # OpenEvolve cascades by default, and gates its stages at these thresholds
        layer.setdefault("evaluator", {})["cascade_thresholds"] = list(
            _OPENEVOLVE_CASCADE_THRESHOLDS
        )
    if evaluator.get("timeout") is None:  # OpenEvolve's default, not evoforge's 60 s
        layer.setdefault("evaluator", {})["timeout_s"] = _OPENEVOLVE_TIMEOUT_S
    if evaluator.get("timeout") is not None and cascade is not False and staged is not False:
        notes.append(
            "evaluator.timeout limits each cascade stage in OpenEvolve, the whole evaluation "
            "(every stage together) here"
        )
    return layer, not_applied, notes


def _translate_one(
    section: str | None, key: str, value: Any, layer: dict[str, Any], not_applied: list[str]
) -> None:
    if (section, key) in _HANDLED_SPECIALLY:
        return
    name = key if section is None else f"{section}.{key}"
    if (section, key) == ("prompt", "system_message"):
        if value is None or value == _OPENEVOLVE_DEFAULT_SYSTEM_MESSAGE:
            return  # OpenEvolve's built-in system message: evoforge's built-in one here
        if value in _OPENEVOLVE_TEMPLATE_NAMES:
            not_applied.append(f"{name} (OpenEvolve's template {value!r})")
            return
    dotted = _DIRECT.get((section, key))
    if dotted is None:
        not_applied.append(name)
        return
    if value is None:
        not_applied.append(f"{name}: null (taken as not set)")
        return
    target = layer
    *parents, leaf = dotted.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[leaf] = value


def _features(dimensions: Any, bins: Any) -> list[dict[str, Any]] | None:
    """The archive's features for OpenEvolve's ``feature_dimensions`` and ``feature_bins``
    (``None``: neither is set, evoforge's own features stay). Bins alone apply to
    OpenEvolve's default dimensions, complexity and diversity."""
    if dimensions is None and bins is None:
        return None
    if dimensions is None:
        dimensions = _OPENEVOLVE_FEATURE_DIMENSIONS
    if not isinstance(dimensions, list) or not dimensions:
        raise ConfigError(
            f"database.feature_dimensions must be a non-empty list of names, got {dimensions!r}"
        )
    names = [str(name) for name in dimensions]
    if bins is None:
        bins = _OPENEVOLVE_FEATURE_BINS
    if isinstance(bins, Mapping):
        unknown = [str(name) for name in bins if str(name) not in names]
        if unknown:
            raise ConfigError(
                f"database.feature_bins names {', '.join(unknown)}, which is not among "
                f"feature_dimensions {names}"
            )
        counts = {name: bins.get(name, _OPENEVOLVE_FEATURE_BINS) for name in names}
    else:
        counts = dict.fromkeys(names, bins)
    return [{"name": name, "bins": count} for name, count in counts.items()]


def _selection_ratios(database: Mapping[str, Any], layer: dict[str, Any]) -> None:
    """OpenEvolve's parent choice as evoforge's fixed shares: exploration, exploitation
    and the rest (OpenEvolve's random parent; a tournament here). A ratio left out takes
    OpenEvolve's default, not evoforge's."""
    given = [database.get(key) is not None for key in ("exploration_ratio", "exploitation_ratio")]
    if not any(given):
        return
    archive = layer.setdefault("archive", {})
    archive.setdefault("exploration_rate", _OPENEVOLVE_EXPLORATION_RATIO)
    archive.setdefault("exploitation_rate", _OPENEVOLVE_EXPLOITATION_RATIO)
    try:
        rest = 1.0 - float(archive["exploration_rate"]) - float(archive["exploitation_rate"])
    except (TypeError, ValueError):
        return  # the config's validation names the bad value
    archive["tournament_rate"] = max(0.0, rest)
    # the ratios are a fixed mix of parent choices: honour them instead of learning one
    archive["parents"] = {"adaptive": False}
