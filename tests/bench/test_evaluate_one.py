"""The scoring server OpenEvolve's evaluator wrapper talks to, through that very wrapper."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from types import ModuleType

import pytest

from evoforge.bench.evaluate_one import ProgramScorer, ScoringServer, best_path, main
from evoforge.bench.openevolve import _WRAPPER

CURVE_FIT = Path(__file__).parents[1] / "e2e" / "problems" / "curve_fit"


def _wrapper(tmp_path: Path, socket_path: Path) -> ModuleType:
    path = tmp_path / "wrapper_evaluator.py"
    path.write_text(_WRAPPER.format(socket_path=str(socket_path), timeout=60), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("wrapper_evaluator", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrapper_scores_through_the_server_like_evoforge(tmp_path: Path) -> None:
    seed = tmp_path / "seed.py"
    seed.write_text((CURVE_FIT / "initial_program.py").read_text())
    broken = tmp_path / "broken.py"
    broken.write_text("def nope(:\n")
    log = tmp_path / "evaluations.jsonl"
    expected = ProgramScorer(CURVE_FIT, tmp_path / "direct.jsonl").score(seed)

    with ScoringServer(CURVE_FIT, log) as server:
        wrapper = _wrapper(tmp_path, server.socket_path)
        metrics = wrapper.evaluate(str(seed))
        with pytest.raises(RuntimeError, match=r"^(failed|invalid): "):
            wrapper.evaluate(str(broken))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(server.socket_path))
            connection.sendall(b"not json\n")
            answer = json.loads(connection.makefile("rb").readline())
        directory = server.socket_path.parent
        assert directory.stat().st_mode & 0o077 == 0  # private to this user

    assert metrics["combined_score"] == expected["score"]
    assert answer["status"] == "failed" and "scoring server" in answer["reason"]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["is_seed"] for line in lines] == [True, False]
    assert lines[0]["score"] == expected["score"] and lines[1]["score"] is None
    # a failure's reason is kept, one line of it; a scored evaluation has none
    assert "reason" not in lines[0]
    assert "SyntaxError" in lines[1]["reason"] and "\n" not in lines[1]["reason"]
    assert not directory.exists()  # the socket's directory is removed on close
    assert best_path(log).read_text() == seed.read_text()  # the best program, for audit


def test_one_shot_command_prints_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log.jsonl"
    status = main(
        [
            "--problem",
            str(CURVE_FIT),
            "--program",
            str(CURVE_FIT / "initial_program.py"),
            "--log",
            str(log),
        ]
    )
    verdict = json.loads(capsys.readouterr().out)
    assert status == 0 and verdict["status"] == "ok" and verdict["score"] is not None
    assert json.loads(log.read_text())["is_seed"] is True
