"""Foreign engines' virtual environments: reused while installed, and a failed install
turned into skipped runs that say why (a real venv and a real pip, pointed at a closed
port on loopback, so nothing leaves the machine)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from evoforge.bench import foreign
from evoforge.bench.engines import ENGINE_EVOFORGE, ENGINE_SHINKA, RunTask
from evoforge.bench.foreign import STAMP, EngineUnavailable, ForeignEngine, ensure_venv
from evoforge.bench.harness import _prepare_foreign_engines
from evoforge.bench.records import STATUS_SKIPPED

ENGINE = ForeignEngine(venv="other", requirement="other-engine==1.0", command="other-run")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip asks an index on a loopback port nobody listens on, once."""
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{_closed_port()}/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")


@pytest.mark.usefixtures("unreachable_index")
def test_an_installed_engine_is_reused_and_a_stale_stamp_is_not(tmp_path: Path) -> None:
    bin_dir = tmp_path / "other" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "other-run").write_text("#!/bin/sh\n")
    (tmp_path / "other" / STAMP).write_text("other-engine==1.0\n")
    announced: list[str] = []
    assert ensure_venv(ENGINE, tmp_path, tmp_path / "log", lambda: announced.append("x")) == bin_dir
    assert announced == []
    newer = ForeignEngine(venv="other", requirement="other-engine==2.0", command="other-run")
    with pytest.raises(EngineUnavailable):
        # another version is asked for: the venv is made again (and fails offline)
        ensure_venv(newer, tmp_path, tmp_path / "log", lambda: announced.append("x"))
    assert announced == ["x"]


@pytest.mark.usefixtures("unreachable_index")
def test_a_failed_install_names_pips_last_line(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable) as caught:
        ensure_venv(ENGINE, tmp_path / "venvs", tmp_path / "install.log")
    message = str(caught.value)
    assert message.startswith("installing other-engine==1.0 failed: ")
    assert "other-engine" in message.split(" failed: ", 1)[1]  # pip's own last line
    assert str(tmp_path / "install.log") in message and "\n" not in message
    assert not (tmp_path / "venvs" / "other" / STAMP).exists()


@pytest.mark.usefixtures("unreachable_index")
def test_runs_of_an_engine_that_cannot_be_installed_are_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def task(engine: str, seed: int) -> RunTask:
        return RunTask(
            problem="p",
            problem_dir=tmp_path,
            engine=engine,
            seed=seed,
            budget=5,
            run_dir=tmp_path / engine / str(seed),
        )

    monkeypatch.setattr(foreign, "_INSTALL_TIMEOUT_S", 120)
    pending = [task(ENGINE_SHINKA, 0), task(ENGINE_EVOFORGE, 0), task(ENGINE_SHINKA, 1)]
    lines: list[str] = []
    kept, skipped = _prepare_foreign_engines(pending, tmp_path / "out", lines.append)
    assert [t.engine for t in kept] == [ENGINE_EVOFORGE]
    assert [(r.engine, r.seed, r.status) for r in skipped] == [
        (ENGINE_SHINKA, 0, STATUS_SKIPPED),
        (ENGINE_SHINKA, 1, STATUS_SKIPPED),
    ]
    assert all("installing shinka-evolve==0.0.7 failed" in (r.reason or "") for r in skipped)
    assert lines[0] == "installing ShinkaEvolve into its own virtual environment (once) ..."
    assert lines[1].startswith("shinkaevolve runs skipped: installing shinka-evolve==0.0.7")
