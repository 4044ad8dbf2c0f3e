"""A command that needs an extra the user did not install (``pip install evoforge``
alone) ends with one line naming the command that brings it (``pip install
'evoforge[EXTRA]'``; from a clone, as here, ``pip install -e 'CLONE[EXTRA]'``), and exit
status 2: no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evoforge.cli import main
from evoforge.source_tree import install_command

CURVE_FIT = Path(__file__).parent / "e2e" / "problems" / "curve_fit"


def _one_line_naming(extra: str, capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert install_command(extra) in err
    return err


def test_a_model_without_the_llm_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # `import openai` fails as if absent
    argv = ["run", str(CURVE_FIT), "--iterations", "1", "--out", str(tmp_path / "run")]
    argv += ["--llm-base-url", "http://127.0.0.1:9/v1", "--model", "m", "--quiet"]
    assert main(argv) == 2
    assert "need the openai package" in _one_line_naming("llm", capsys)


def test_serve_without_the_web_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve", str(tmp_path)]) == 2
    assert "needs fastapi" in _one_line_naming("web", capsys)


def test_the_ray_backend_without_the_ray_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evoforge.evaluation.backends import ray_backend

    monkeypatch.setattr(ray_backend, "ray", None)
    argv = ["run", str(CURVE_FIT), "--iterations", "1", "--out", str(tmp_path / "run")]
    assert main([*argv, "--executor", "ray", "--quiet"]) == 2
    assert "needs Ray" in _one_line_naming("ray", capsys)


def test_bench_without_the_bench_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "scipy", None)
    argv = ["bench", "--problems", str(CURVE_FIT), "--out", str(tmp_path / "out")]
    assert main([*argv, "--engines", "evoforge"]) == 2
    assert "needs scipy" in _one_line_naming("bench", capsys)
