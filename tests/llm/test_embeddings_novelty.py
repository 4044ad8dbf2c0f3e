"""Novelty by embeddings: the oracle's deterministic vectors through the openai SDK, a run
that refuses near copies by cosine similarity and keeps every vector for its resume,
and an embeddings endpoint that is not there."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from openai import OpenAI

from evoforge.cli import main
from evoforge.llm.oracle import EMBEDDING_DIMENSIONS, start_oracle
from evoforge.novelty import decode_vector
from evoforge.storage.db import RunDatabase

from .conftest import PROBLEMS

SEED_CODE = (PROBLEMS / "curve_fit" / "initial_program.py").read_text()


def _config(tmp_path: Path, url: str, **novelty: Any) -> Path:
    settings: dict[str, Any] = {
        "method": "embeddings",
        "embedding_model": "oracle",
        "embedding_base_url": url,
        "embedding_threshold": 0.9,
        "embedding_timeout_s": 2.0,
        "operators": "all",
    }
    settings.update(novelty)
    config = {
        "seed": 3,
        "run": {"workers": 1},
        "archive": {"num_islands": 1},
        "operators": {"enabled": ["tune", "mutate"]},
        "novelty": settings,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(problem: Path, config: Path, out: Path, iterations: int, *flags: str) -> list[str]:
    return [
        "run", str(problem), "--config", str(config), "--out", str(out),
        "--iterations", str(iterations), "--quiet", *flags,
    ]  # fmt: skip


def _steps(run_dir: Path) -> list[tuple[str, str, bool, str]]:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        return [
            (s.program.id, s.program.code_hash, s.evaluated, s.program.reason) for s in db.steps()
        ]
    finally:
        db.close()


def _events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        return [event.payload for event in db.events(kind)]
    finally:
        db.close()


def test_the_oracle_serves_deterministic_embeddings_through_the_sdk() -> None:
    near = SEED_CODE.replace("a = 0.5", "a = 0.55")
    other = "def solve(items):\n    return sorted(items, key=len)[::-1]\n"
    oracle = start_oracle()
    try:
        client = OpenAI(base_url=oracle.url, api_key="not-needed", max_retries=0)
        floats = client.embeddings.create(
            model="oracle", input=[SEED_CODE, near, other], encoding_format="float"
        )
        again = client.embeddings.create(model="oracle", input=[SEED_CODE, near, other])
        assert oracle.embedding_requests == 2 and oracle.embedded_texts == 6
    finally:
        oracle.close()
    vectors = np.array([item.embedding for item in floats.data])
    assert vectors.shape == (3, EMBEDDING_DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    # the SDK's default base64 form decodes to the same vectors (float32)
    assert np.allclose(np.array([item.embedding for item in again.data]), vectors, atol=1e-6)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.9 > similarity[0, 2]


def test_a_run_refuses_near_copies_by_cosine_and_resumes_from_stored_vectors(
    tmp_path: Path,
) -> None:
    """Sequential runs with embeddings: near copies are refused with their similarity,
    every evaluated program's vector is stored with its step, and a run interrupted and
    resumed makes exactly the decisions of one that was not, without asking again for
    the vectors it stored."""
    problem = PROBLEMS / "curve_fit"
    oracle = start_oracle()
    try:
        config = _config(tmp_path, oracle.url)
        whole = tmp_path / "whole"
        assert main(_run(problem, config, whole, 16)) == 0
        halves = tmp_path / "halves"
        assert main(_run(problem, config, halves, 8)) == 0
        asked_before = oracle.embedded_texts
        assert main(["resume", str(halves), "--iterations", "8", "--quiet"]) == 0
        asked_on_resume = oracle.embedded_texts - asked_before
    finally:
        oracle.close()
    steps = _steps(whole)
    assert _steps(halves) == steps
    refused = [reason for _, _, evaluated, reason in steps if "cosine similarity" in reason]
    assert refused, steps
    evaluated = [program_id for program_id, _, was_evaluated, _ in steps if was_evaluated]
    stored = _events(whole, "embedding")
    assert [event["program_id"] for event in stored] == evaluated
    assert {decode_vector(event["vector"]).shape for event in stored} == {(EMBEDDING_DIMENSIONS,)}
    # one check request, then at most one text per new child: nothing stored was re-asked
    assert asked_on_resume <= 1 + 8


def test_an_unreachable_embeddings_endpoint_stops_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    config = _config(tmp_path, url)
    run_dir = tmp_path / "run"
    assert main(_run(PROBLEMS / "curve_fit", config, run_dir, 6)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert f"embeddings model 'oracle' at {url} is unreachable" in lines[0]
    assert "--allow-unreachable" in lines[0]
    assert not (run_dir / RunDatabase.FILENAME).exists()

    # started anyway: the near-duplicate check falls back to MinHash, said once
    assert main(_run(PROBLEMS / "curve_fit", config, run_dir, 6, "--allow-unreachable")) == 0
    assert len(_steps(run_dir)) == 7
    (fallback,) = _events(run_dir, "novelty_fallback")
    assert "unreachable" in fallback["reason"]
    assert not _events(run_dir, "embedding")
    capsys.readouterr()
    assert main(["status", str(run_dir)]) == 0
    assert "embeddings gave up, MinHash used instead" in capsys.readouterr().out


def test_embeddings_need_a_model_and_an_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"novelty": {"method": "embeddings"}}))
    out = tmp_path / "run"
    assert main(_run(PROBLEMS / "curve_fit", config, out, 1)) == 2
    err = capsys.readouterr().err
    assert "novelty.embedding_model" in err and "Traceback" not in err
