"""OpenEvolve configs in problem dirs are translated, and what is not applied is named."""

from __future__ import annotations

from evoforge.config import resolve_config
from evoforge.openevolve_compat import looks_like_openevolve, translate_openevolve

OPENEVOLVE = {
    "max_iterations": 50,
    "random_seed": 3,
    "llm": {"primary_model": "gpt-4o", "temperature": 0.7},
    "database": {
        "num_islands": 3,
        "feature_dimensions": ["complexity", "diversity"],
        "feature_bins": 8,
        "population_size": 100,
    },
    "evaluator": {"timeout": 12, "cascade_evaluation": True, "parallel_evaluations": 2},
}


def test_detection() -> None:
    assert looks_like_openevolve(OPENEVOLVE)
    assert not looks_like_openevolve({"run": {"iterations": 3}, "evaluator": {"timeout_s": 3}})


def test_translation_applies_equivalents_and_names_the_rest() -> None:
    layer, not_applied = translate_openevolve(OPENEVOLVE)
    config = resolve_config(problem_layer=layer)
    assert config.run.iterations == 50
    assert config.seed == 3
    assert config.archive.num_islands == 3
    assert [f.name for f in config.archive.features] == ["complexity", "diversity"]
    assert all(f.bins == 8 for f in config.archive.features)
    assert config.evaluator.timeout_s == 12
    assert config.run.workers == 2
    assert "llm.primary_model" in not_applied
    assert "database.population_size" in not_applied


def test_selection_ratios_become_fixed_parent_shares() -> None:
    database = dict(OPENEVOLVE["database"])
    database.update(exploration_ratio=0.3, exploitation_ratio=0.5)
    layer, _ = translate_openevolve({**OPENEVOLVE, "database": database})
    config = resolve_config(problem_layer=layer)
    assert config.archive.parents.adaptive is False  # the stated mix is honoured
    assert (config.archive.exploration_rate, config.archive.exploitation_rate) == (0.3, 0.5)
    assert abs(config.archive.tournament_rate - 0.2) < 1e-12
    plain = resolve_config(problem_layer=translate_openevolve(OPENEVOLVE)[0])
    assert plain.archive.parents.adaptive is True


def test_settings_inside_a_section_mark_an_openevolve_config() -> None:
    for evaluator in (
        {"cascade_evaluation": True},
        {"parallel_evaluations": 2},
        {"memory_limit_mb": 512},
        {"max_retries": 3},
        {"use_llm_feedback": False},
        {"enable_artifacts": True},
    ):
        assert looks_like_openevolve({"evaluator": evaluator}), evaluator
    assert looks_like_openevolve({"llm": {"primary_model": "gpt-4o"}})
    assert looks_like_openevolve({"prompt": {"num_top_programs": 3}})


def test_evoforge_sections_of_the_same_name_are_not_openevolve() -> None:
    evoforge_layout = {
        "llm": {"models": [{"model": "m", "base_url": "http://127.0.0.1:1/v1"}]},
        "prompt": {"system_message": "Be brief."},
        "evaluator": {"cascade_thresholds": [0.1], "memory_mb": 512},
    }
    assert not looks_like_openevolve(evoforge_layout)
