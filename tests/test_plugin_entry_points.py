"""Installed plugins: a package's ``evoforge.plugins`` entry point registers its parts in
every command, and a run made with them reads back without them.

The plugin is a real distribution on ``PYTHONPATH`` (a module and its ``.dist-info``), found
by importlib.metadata in a real ``evoforge`` process."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "curve_fit"

PLUGIN = '''
from evoforge import registry
from evoforge.evaluation.backends.local import LocalBackend


class CountingBackend(LocalBackend):
    """The local backend under another name."""


def register():
    registry.BACKENDS.register("counting", "tinyplug:CountingBackend", summary="counted")
'''


def _distribution(site: Path, name: str, entry_point: str, module: str = "") -> None:
    """A distribution ``name`` in ``site``: its module (when given) and its metadata."""
    site.mkdir(parents=True, exist_ok=True)
    if module:
        (site / f"{name}.py").write_text(module)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[evoforge.plugins]\n{name} = {entry_point}\n")


def _evoforge(cwd: Path, *args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("PYTHONPATH", None)
    if site is not None:
        environment["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-m", "evoforge.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_installed_plugin_serves_every_command_and_its_run_reads_without_it(
    tmp_path: Path,
) -> None:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    site = tmp_path / "site"
    _distribution(site, "tinyplug", "tinyplug:register", PLUGIN)
    (tmp_path / "config.yaml").write_text("evaluator:\n  backend: counting\n")

    started = _evoforge(
        tmp_path, "run", "problem", "--out", "run", "--iterations", "2",
        "--config", "config.yaml", site=site,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    reference = _evoforge(tmp_path, "config", "--reference", site=site)
    assert "counting" in reference.stdout
    resumed = _evoforge(tmp_path, "resume", "run", "--iterations", "1", site=site)
    assert resumed.returncode == 0, resumed.stderr
    assert "after 3 iterations" in resumed.stdout + resumed.stderr

    # without the plugin the run cannot go on, and says why in one line
    refused = _evoforge(tmp_path, "resume", "run", "--iterations", "1")
    assert refused.returncode == 2
    assert refused.stderr.startswith("evoforge: error: stored config: evaluator.backend: ")
    assert "unknown evaluation backend 'counting'" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    # but it reads: the views never build its parts
    report = _evoforge(tmp_path, "report", "run")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "run" / "report.html").is_file()
    exported = _evoforge(tmp_path, "export", "run", "--format", "sft", "--out", "data")
    assert exported.returncode == 0, exported.stderr


def test_a_plugin_that_fails_to_load_is_named_and_the_rest_works(tmp_path: Path) -> None:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    site = tmp_path / "site"
    _distribution(site, "brokenplug", "brokenplug", "raise ImportError('needs numpy 9')\n")
    (tmp_path / "config.yaml").write_text("evaluator:\n  backend: counting\n")

    refused = _evoforge(
        tmp_path, "run", "problem", "--out", "run", "--config", "config.yaml", site=site
    )
    assert refused.returncode == 2
    failure = "plugin 'brokenplug' (brokenplug) failed to load: ImportError: needs numpy 9"
    assert refused.stderr.splitlines() == [
        f"evoforge: warning: {failure}",
        "evoforge: error: config.yaml: evaluator.backend: unknown evaluation "
        f"backend 'counting'; known: ['local', 'ray'] ({failure}) (got 'counting')",
    ]
    listed = _evoforge(tmp_path, "config", "--reference", site=site)
    assert listed.returncode == 0
    assert "local" in listed.stdout


def test_a_plugin_that_fails_to_load_is_named_once_per_run(tmp_path: Path) -> None:
    """The proposal workers (evoforge's own operators only) load no plugin, so they do not
    repeat the driver's warning."""
    shutil.copytree(PROBLEM, tmp_path / "problem")
    site = tmp_path / "site"
    _distribution(site, "brokenplug", "brokenplug", "raise ImportError('needs numpy 9')\n")
    done = _evoforge(
        tmp_path, "run", "problem", "--out", "run", "--iterations", "6", "--workers", "2",
        "--quiet", site=site,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("plugin 'brokenplug' (brokenplug) failed to load") == 1, done.stderr


SETTINGS_PLUGIN = '''
from pydantic import BaseModel, ConfigDict, Field

from evoforge import registry
from evoforge.operators.base import Operator, Proposal


class NudgeSettings(BaseModel):
    """The nudge operator: add a constant to b."""

    model_config = ConfigDict(extra="forbid")
    step: float = Field(0.1, description="What is added to b.")


class NudgeOperator(Operator):
    name = "nudge"

    def __init__(self, settings):
        self.settings = settings

    async def propose(self, context):
        code = context.parent.code
        line = next(line for line in code.splitlines() if line.strip().startswith("b = "))
        value = float(line.split("=")[1]) + self.settings.step
        return Proposal(code.replace(line, f"    b = {value!r}", 1), self.name)


def build(settings, llm):
    return NudgeOperator(settings)


def register():
    registry.OPERATORS.register(
        "nudge", "nudgeplug:build", tags=("symbolic",), summary="adds to b", settings=NudgeSettings
    )
'''


def test_an_installed_operator_takes_its_settings_from_the_config_file(tmp_path: Path) -> None:
    shutil.copytree(PROBLEM, tmp_path / "problem")
    site = tmp_path / "site"
    _distribution(site, "nudgeplug", "nudgeplug:register", SETTINGS_PLUGIN)
    (tmp_path / "typo.yaml").write_text("operators:\n  nudge:\n    stepp: 0.5\n")
    (tmp_path / "config.yaml").write_text(
        "operators:\n  enabled: [nudge]\n  nudge:\n    step: 0.5\n"
    )

    typo = _evoforge(tmp_path, "run", "problem", "--out", "run", "--config", "typo.yaml", site=site)
    assert typo.returncode == 2
    assert typo.stderr == "evoforge: error: typo.yaml: operators.nudge.stepp: unknown key\n"
    reference = _evoforge(tmp_path, "config", "--reference", site=site)
    assert "| `operators.nudge.step` | `0.1` | What is added to b. |" in reference.stdout
    started = _evoforge(
        tmp_path, "run", "problem", "--out", "run", "--iterations", "2",
        "--config", "config.yaml", site=site,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    resumed = _evoforge(tmp_path, "resume", "run", "--iterations", "1", site=site)
    assert resumed.returncode == 0, resumed.stderr
    # every child was nudged by the configured step: b = 0.1, 0.6, 1.1, ...
    database = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    try:
        codes = [row[0] for row in database.execute("SELECT code FROM programs WHERE seq > 0")]
    finally:
        database.close()
    nudged = {line.strip() for code in codes for line in code.splitlines() if "b = " in line}
    assert len(codes) == 3 and "b = 0.6" in nudged
    assert nudged <= {"b = 0.6", "b = 1.1", "b = 1.6"}

    refused = _evoforge(tmp_path, "resume", "run", "--iterations", "1")
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "evoforge: error: stored config: operators.nudge: settings of an unknown operator "
        "'nudge'; known: "
    )
    assert len(refused.stderr.splitlines()) == 1
    report = _evoforge(tmp_path, "report", "run")
    assert report.returncode == 0, report.stderr
