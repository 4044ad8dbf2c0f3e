"""OpenEvolve configs in problem dirs are translated, and what is not applied is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from evoforge.config import Config, ConfigError, resolve_config
from evoforge.openevolve_compat import looks_like_openevolve, translate_openevolve
from tests.problem_files import write_problem

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
    layer, not_applied, _ = translate_openevolve(OPENEVOLVE)
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
    layer, _, _ = translate_openevolve({**OPENEVOLVE, "database": database})
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


def _config(data: dict[str, object]) -> tuple[Config, list[str], list[str]]:
    layer, not_applied, notes = translate_openevolve(data)
    return resolve_config(problem_layer=layer), not_applied, notes


def test_feature_bins_alone_apply_to_openevolves_default_dimensions() -> None:
    config, not_applied, _ = _config({"max_iterations": 2, "database": {"feature_bins": 4}})
    assert [(f.name, f.bins) for f in config.archive.features] == [
        ("complexity", 4),
        ("diversity", 4),
    ]
    assert not not_applied


def test_feature_bins_per_dimension() -> None:
    database = {
        "feature_dimensions": ["complexity", "diversity"],
        "feature_bins": {"complexity": 3},
    }
    config, _, _ = _config({"database": database})
    assert [(f.name, f.bins) for f in config.archive.features] == [
        ("complexity", 3),
        ("diversity", 10),
    ]


def test_feature_bins_naming_no_dimension_is_an_error() -> None:
    database = {
        "feature_dimensions": ["complexity", "diversity"],
        "feature_bins": {"complexity": 3, "divrsity": 7},
    }
    with pytest.raises(ConfigError, match="feature_bins names divrsity, which is not among"):
        translate_openevolve({"database": database})
    with pytest.raises(ConfigError, match="feature_dimensions must be a non-empty list"):
        translate_openevolve({"database": {"feature_dimensions": "complexity"}})


def test_null_settings_are_named() -> None:
    config, not_applied, _ = _config({"random_seed": None, "max_iterations": 2, "log_dir": None})
    assert config.seed == 0
    assert "random_seed: null (taken as not set)" in not_applied
    assert "log_dir" in not_applied


def test_a_missing_ratio_takes_openevolves_default() -> None:
    config, _, _ = _config({"database": {"exploration_ratio": 0.1}})
    assert config.archive.exploration_rate == 0.1
    assert config.archive.exploitation_rate == 0.7  # OpenEvolve's default, not evoforge's 0.6
    assert config.archive.tournament_rate == pytest.approx(0.2)


def test_system_message_is_translated_unless_it_names_a_template() -> None:
    config, not_applied, _ = _config({"prompt": {"system_message": "You write fast code."}})
    assert config.prompt.system_message == "You write fast code."
    assert not not_applied
    config, not_applied, _ = _config({"prompt": {"system_message": "system_message"}})
    assert config.prompt.system_message is None and not not_applied
    _, not_applied, _ = _config({"prompt": {"system_message": "evaluator_system_message"}})
    assert not_applied == [
        "prompt.system_message (OpenEvolve's template 'evaluator_system_message')"
    ]


def test_the_cascade_gets_openevolves_default_thresholds() -> None:
    config, _, notes = _config({"evaluator": {"cascade_evaluation": True, "timeout": 30}})
    assert config.evaluator.cascade_thresholds == [0.5, 0.75, 0.9]
    assert config.evaluator.timeout_s == 30
    assert any("evaluator.timeout limits each cascade stage" in note for note in notes)
    config, _, notes = _config({"evaluator": {"cascade_evaluation": False, "timeout": 30}})
    assert config.evaluator.cascade is False and not notes
    config, _, _ = _config({"evaluator": {"cascade_thresholds": [0.3]}})
    assert config.evaluator.cascade_thresholds == [0.3]
    assert config.evaluator.timeout_s == 300  # OpenEvolve's default, not evoforge's 60 s


def test_the_timeout_note_is_given_only_where_a_cascade_can_run(tmp_path: Path) -> None:
    """Without cascade stages OpenEvolve's timeout limits the one evaluation, as here."""
    from evoforge.problem import load_problem

    config = "evaluator:\n  timeout: 30\n  cascade_evaluation: true\n"
    for stages, noted in (
        ("", False),
        ("\ndef evaluate_stage1(program_path):\n    return {}\n", True),
    ):
        problem = write_problem(
            tmp_path / f"problem-{noted}",
            program="# EVOLVE-BLOCK-START\nX = 1\n# EVOLVE-BLOCK-END\n",
            evaluator="def evaluate(program_path):\n    return {'combined_score': 1.0}\n" + stages,
            config=config,
        )
        notices = load_problem(problem).notices
        assert any("evaluator.timeout limits each cascade stage" in n for n in notices) is noted


@pytest.mark.parametrize(
    ("text", "theirs", "ours"),
    [
        (
            "max_iterations: 5\narchive:\n  num_islands: 3\n",
            "max_iterations, which evoforge calls run.iterations",
            "archive",
        ),
        (  # OpenEvolve's name for an evoforge setting, in an evoforge config
            "run:\n  iterations: 3\nevaluator:\n  timeout: 20\n",
            "evaluator.timeout, which evoforge calls evaluator.timeout_s",
            "run",
        ),
        (
            "llm:\n  primary_model: m\nrun:\n  iterations: 3\nseed: 2\n",
            "llm.primary_model",
            "run, seed",
        ),
    ],
)
def test_a_file_mixing_both_layouts_is_refused_naming_a_key_of_each(
    tmp_path: Path, text: str, theirs: str, ours: str
) -> None:
    """Read as OpenEvolve's, its evoforge sections would be dropped as unknown keys."""
    from evoforge.openevolve_compat import read_config_file

    path = tmp_path / "mixed.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        read_config_file(path)
    assert str(error.value) == (
        f"{path}: mixes OpenEvolve's layout ({theirs}) with evoforge's ({ours}); "
        "write it in one of the two (evoforge's keys: docs/CONFIG.md)"
    )
    path.write_text("max_iterations: 5\ndatabase:\n  num_islands: 3\n")  # OpenEvolve's alone
    assert read_config_file(path)[0]["archive"] == {"num_islands": 3}


def test_a_key_repeated_in_an_openevolve_config_is_noted_and_the_last_one_counts(
    tmp_path: Path,
) -> None:
    """OpenEvolve's loader keeps the last of two equal keys: its configs run unchanged,
    with a notice naming the repeat."""
    from evoforge.openevolve_compat import read_config_file

    path = tmp_path / "config.yaml"
    path.write_text("max_iterations: 5\nrandom_seed: 1\nmax_iterations: 7\n")
    layer, notices = read_config_file(path)
    assert layer["run"] == {"iterations": 7}
    assert notices == [
        "config.yaml is an OpenEvolve config; line 3: max_iterations is given a second "
        "time (first at line 1): the last one counts"
    ]
