"""A plugin operator declares a settings model when it registers: the config takes its
settings under ``operators.<name>``, strictly, the run stores them, its builder gets them,
and a run that names them cannot go on without the plugin."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from evoforge import Engine, load_problem
from evoforge.config import ConfigError, config_reference, resolve_config, validate_config
from evoforge.registry import BACKENDS, OPERATORS
from tests.plugins.scale import ScaleOperator, ScaleSettings

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "curve_fit"
SCALE = "tests.plugins.scale:ScaleOperator.build"


@pytest.fixture
def scale_registered() -> Iterator[None]:
    OPERATORS.register("scale", SCALE, tags=("symbolic",), settings=ScaleSettings)
    yield
    OPERATORS.unregister("scale")


def _scale_of(engine: Engine) -> float:
    operator = engine.operators["scale"]
    assert isinstance(operator, ScaleOperator)
    return operator.settings.factor


def test_a_plugin_operator_is_built_with_its_settings_and_the_run_keeps_them(
    tmp_path: Path, scale_registered: None
) -> None:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    problem = load_problem(tmp_path / "problem")
    config = resolve_config(
        problem_layer=problem.config_layer,
        file_layer={"operators": {"enabled": ["scale", "tune"], "scale": {"factor": 0.25}}},
    )
    engine = Engine.create(problem, config, tmp_path / "run")
    try:
        assert _scale_of(engine) == 0.25
        reports = [asyncio.run(engine.run_job(engine.ask())) for _ in range(4)]
        scaled = [r.program for r in reports if r.program.operator == "scale"]
        assert scaled and "a = 0.125" in scaled[0].code  # the seed's a = 0.5, times 0.25
        stored = json.loads(engine.db.get_meta("config") or "{}")
        assert stored["operators"]["scale"] == {"factor": 0.25}
        assert "scale:\n    factor: 0.25" in (engine.db.get_meta("config_yaml") or "")
    finally:
        engine.close()
    engine = Engine.open(tmp_path / "run")  # the stored settings, not the defaults
    try:
        assert _scale_of(engine) == 0.25
        asyncio.run(engine.run_job(engine.ask()))
    finally:
        engine.close()

    OPERATORS.unregister("scale")  # the plugin is gone: resume says why, in one line
    with pytest.raises(ConfigError) as refused:
        Engine.open(tmp_path / "run")
    assert str(refused.value).startswith(
        "stored config: operators.scale: settings of an unknown operator 'scale'; known: "
    )
    assert "\n" not in str(refused.value)


def test_the_proposal_workers_run_beside_settings_they_cannot_import(tmp_path: Path) -> None:
    """The workers build evoforge's own operators only: a plugin's settings (here of a
    class no other process can import) stay with the driver."""

    class LocalSettings(ScaleSettings):
        """Settings defined where no worker can import them."""

    OPERATORS.register("scale", SCALE, tags=("symbolic",), settings=LocalSettings)
    try:
        shutil.copytree(PROBLEM, tmp_path / "problem")
        problem = load_problem(tmp_path / "problem")
        config = resolve_config(
            problem_layer=problem.config_layer,
            cli_layer={
                "operators": {"enabled": ["scale", "tune"], "scale": {"factor": 2.0}},
                "run": {"proposal_processes": 1},
            },
        )
        with Engine.create(problem, config, tmp_path / "run") as engine:
            assert engine.proposals is not None and engine.proposals.runs("tune")
            reports = [asyncio.run(engine.run_job(engine.ask())) for _ in range(4)]
        assert {r.program.operator for r in reports} == {"scale", "tune"}
        assert all(not r.program.reason.startswith("operator") for r in reports)
    finally:
        OPERATORS.unregister("scale")


def test_an_enabled_plugin_operator_without_settings_in_the_config_gets_the_defaults(
    scale_registered: None,
) -> None:
    config = validate_config({"operators": {"enabled": ["scale"]}})
    assert config.operators.settings_of("scale") == ScaleSettings(factor=0.5)
    assert json.loads(config.model_dump_json())["operators"]["scale"] == {"factor": 0.5}
    # installed but not enabled: nothing is added to the config
    assert "scale" not in json.loads(validate_config({}).model_dump_json())["operators"]


@pytest.mark.parametrize(
    ("operators", "message"),
    [
        ({"scale": {"factr": 2}}, "config: operators.scale.factr: unknown key"),
        ({"scale": {"factor": -1}}, "config: operators.scale.factor: Input should be greater"),
        ({"scale": 3}, "config: operators.scale: must be a section of keys (indented under it)"),
        ({"crossover": {}}, "config: operators.crossover: unknown key (operator 'crossover' "),
        ({"scael": {}}, "config: operators.scael: settings of an unknown operator 'scael'; "),
        ({"tune": {"sigmaa": 1}}, "config: operators.tune.sigmaa: unknown key"),
    ],
)
def test_operator_settings_are_checked_strictly_naming_the_operator(
    scale_registered: None, operators: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        validate_config({"operators": operators})
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_a_stored_run_with_settings_of_a_missing_plugin_reads_for_the_views() -> None:
    stored = {"operators": {"enabled": ["scale"], "scale": {"factor": 0.25}}}
    with pytest.raises(ConfigError, match=r"operators\.scale: settings of an unknown operator"):
        validate_config(stored, "stored config")
    config = validate_config(stored, "stored config", unregistered_parts=True)
    assert json.loads(config.model_dump_json())["operators"]["scale"] == {"factor": 0.25}


def test_the_reference_documents_a_registered_operators_settings() -> None:
    assert "operators.scale" not in config_reference()
    OPERATORS.register("scale", SCALE, settings=ScaleSettings)
    try:
        text = config_reference()
    finally:
        OPERATORS.unregister("scale")
    assert "## `operators.scale`" in text
    assert "| `operators.scale.factor` | `0.5` | What the literal is multiplied by. |" in text


class _Lenient(BaseModel):
    factor: float = 0.5


class _Nested(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inner: list[_Lenient] = []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (_Lenient, "settings model _Lenient must refuse unknown keys"),
        (_Nested, "settings model _Lenient must refuse unknown keys"),
        (dict, "settings must be a pydantic model class"),
    ],
)
def test_registration_refuses_settings_that_would_ignore_unknown_keys(
    settings: type[BaseModel], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OPERATORS.register("scale", SCALE, settings=settings)
    assert not OPERATORS.has("scale")
    with pytest.raises(ValueError, match="only operators declare settings"):
        BACKENDS.register("scaled", "tests.plugins.scale:ScaleSettings", settings=ScaleSettings)


def test_a_plugin_operator_with_settings_cannot_take_a_builtin_section(
    scale_registered: None,
) -> None:
    builtin = OPERATORS.entry("mutate")
    OPERATORS.register("mutate", SCALE, tags=("symbolic",), settings=ScaleSettings)
    try:
        with pytest.raises(ConfigError, match=r"operators\.mutate is evoforge's own key"):
            validate_config({})  # mutate is enabled by default
    finally:
        OPERATORS.register("mutate", builtin.target, tags=builtin.tags, summary=builtin.summary)
    assert validate_config({}).operators.mutate.max_edits == 2
