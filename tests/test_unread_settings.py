"""Settings a user gave that the resolved configuration never reads are named at the
start of a run, with the layer that gave them and what would make them act."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evoforge.cli import main
from evoforge.config import resolve_config
from evoforge.unread_settings import dotted_keys, unread_settings
from tests.problem_files import write_problem


def notes_for(**layers: dict[str, Any]) -> list[str]:
    """The notes for one ``--config file`` layer per keyword (its name is the source)."""
    pairs = list(layers.items())
    merged = resolve_config(file_layer={k: v for _, layer in pairs for k, v in layer.items()})
    return unread_settings(pairs, merged)


def test_leaf_keys_are_dotted_paths_and_lists_are_leaves() -> None:
    layer = {"archive": {"parents": {"sources": ["seed"]}, "num_islands": 2}, "seed": 1}
    assert list(dotted_keys(layer)) == ["archive.parents.sources", "archive.num_islands", "seed"]


def test_every_key_that_acts_gives_no_note() -> None:
    layer = {
        "archive": {"num_islands": 2, "migration_interval": 5, "parents": {"sources": ["seed"]}},
        "operators": {"enabled": ["tune"], "tune": {"sigma": 0.2}},
        "evaluator": {"cascade_thresholds": [0.5, 0.5]},
    }
    assert notes_for(file=layer) == []


def test_fixed_parent_rates_under_the_parent_bandit_are_named_with_the_way_out() -> None:
    (note,) = notes_for(file={"archive": {"exploitation_rate": 0.9, "tournament_rate": 0.1}})
    assert note.startswith(
        "note: archive.exploitation_rate (in file), archive.tournament_rate (in file) are not read"
    )
    assert "archive.parents.adaptive is true" in note and "false for fixed rates" in note
    fixed = {"archive": {"exploitation_rate": 0.9, "parents": {"adaptive": False}}}
    assert notes_for(file=fixed) == []


def test_parent_sources_without_the_bandit_are_named() -> None:
    (note,) = notes_for(file={"archive": {"parents": {"adaptive": False, "sources": ["seed"]}}})
    assert "archive.parents.sources (in file) is not read" in note


@pytest.mark.parametrize(
    ("layer", "named", "because"),
    [
        ({"evaluator": {"ray_address": "auto"}}, "evaluator.ray_address", "not ray"),
        (
            {"archive": {"num_islands": 1, "migration_count": 3}},
            "archive.migration_count",
            "num_islands is 1",
        ),
        (
            {"archive": {"stagnation": {"enabled": False, "patience": 5}}},
            "archive.stagnation.patience",
            "stagnation.enabled is false",
        ),
        (
            {"archive": {"stagnation": {"restart": False, "restart_elites": 2}}},
            "archive.stagnation.restart_elites",
            "restart is false",
        ),
        (
            {"operators": {"enabled": ["mutate"], "tune": {"sigma": 0.3}}},
            "operators.tune.sigma",
            "tune is not in operators.enabled",
        ),
        (
            {"operators": {"enabled": ["tune"], "mutate": {"max_edits": 4}}},
            "operators.mutate.max_edits",
            "mutate is not in operators.enabled",
        ),
        ({"bandit": {"policy": "thompson", "exploration": 2.0}}, "bandit.exploration", "ucb1"),
        ({"bandit": {"exp3_gamma": 0.3}}, "bandit.exp3_gamma", "not exp3"),
        ({"llm": {"max_total_tokens": 1000}}, "llm.max_total_tokens", "no llm_* operator"),
        (
            {"novelty": {"near_duplicates": False, "threshold": 0.9}},
            "novelty.threshold",
            "near_duplicates is false",
        ),
        (
            {"novelty": {"embedding_threshold": 0.9}},
            "novelty.embedding_threshold",
            "novelty.method is not embeddings",
        ),
        (
            {"splits": {"thresholdout": {"budget": 4}}},
            "splits.thresholdout.budget",
            "no instance splits",
        ),
    ],
)
def test_each_setting_that_acts_only_with_another_is_named_when_it_does_not(
    layer: dict[str, Any], named: str, because: str
) -> None:
    (note,) = notes_for(file=layer)
    assert note.startswith(f"note: {named} (in file) is not read: ")
    assert because in note


def test_a_key_is_named_once_with_the_layer_that_won() -> None:
    problem = {"operators": {"tune": {"sigma": 0.2}}}
    user = {"operators": {"enabled": ["mutate"], "tune": {"sigma": 0.3}}}
    merged = resolve_config(problem_layer=problem, file_layer=user)
    assert unread_settings([("problem", problem), ("mine.yaml", user)], merged) == [
        "note: operators.tune.sigma (in mine.yaml) is not read: tune is not in operators.enabled"
    ]


def test_models_that_enable_the_llm_operators_make_their_settings_act() -> None:
    layer = {
        "llm": {
            "models": [{"model": "m", "base_url": "http://127.0.0.1:9/v1"}],
            "max_total_tokens": 1000,
        }
    }
    assert notes_for(file=layer) == []


def test_a_run_names_an_unread_setting_of_its_config_file_at_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = write_problem(
        tmp_path / "problem",
        program="# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n",
        evaluator="def evaluate(program_path):\n    return {'combined_score': 1.0}\n",
    )
    config = tmp_path / "mine.yaml"
    config.write_text("evaluator:\n  ray_address: auto\n")
    argv = ["run", str(problem), "--iterations", "1", "--config", str(config)]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"note: evaluator.ray_address (in {config}) is not read" in err
