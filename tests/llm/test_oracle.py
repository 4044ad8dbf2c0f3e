"""The oracle: OpenAI-compatible answers made by the symbolic operators, whole runs
through it, and the API key never reaching a candidate or the run's files."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from evoforge.config import TuneConfig
from evoforge.llm.oracle import (
    ORACLE_OPERATORS,
    OracleServer,
    answer_prompt,
    diff_answer,
    start_oracle,
)
from evoforge.operators.diff import child_from_diff, child_from_rewrite
from evoforge.operators.prompts import ANSWER_FULL, ANSWER_SEARCH_REPLACE, CURRENT_PROGRAM_HEADING

from .conftest import PROBLEMS

SEED_CODE = (PROBLEMS / "curve_fit" / "initial_program.py").read_text()


@pytest.fixture
def oracle() -> Iterator[OracleServer]:
    server = start_oracle(port=0, seed=7)
    try:
        yield server
    finally:
        server.close()


def _prompt(answer_format: str) -> str:
    return (
        f"# Task\nfit\n\n{CURRENT_PROGRAM_HEADING}\n```python\n{SEED_CODE}```\n\n{answer_format}\n"
    )


def test_oracle_answers_in_the_form_asked(oracle: OracleServer) -> None:
    client = OpenAI(base_url=oracle.url, api_key="unused", max_retries=0, timeout=10)
    assert [m.id for m in client.models.list()] == ["oracle"]
    diff = client.chat.completions.create(
        model="oracle", messages=[{"role": "user", "content": _prompt(ANSWER_SEARCH_REPLACE)}], n=2
    )
    assert len(diff.choices) == 2 and diff.usage is not None and diff.usage.prompt_tokens > 0
    for choice in diff.choices:
        child = child_from_diff(SEED_CODE, choice.message.content or "")
        assert child != SEED_CODE
    full = client.chat.completions.create(
        model="oracle", messages=[{"role": "user", "content": _prompt(ANSWER_FULL)}]
    )
    assert child_from_rewrite(SEED_CODE, full.choices[0].message.content or "") != SEED_CODE
    prose = client.chat.completions.create(
        model="oracle", messages=[{"role": "user", "content": "hello"}]
    )
    assert "```" not in (prose.choices[0].message.content or "")


def test_oracle_is_deterministic_given_seed_and_request() -> None:
    messages = [{"role": "user", "content": _prompt(ANSWER_SEARCH_REPLACE)}]
    assert answer_prompt(1, messages, 5, 1) == answer_prompt(1, messages, 5, 1)
    many = {answer_prompt(1, messages, seed, 1)[0] for seed in range(6)}
    assert len(many) > 1


def test_the_oracle_keeps_the_proposal_distribution_of_the_recorded_runs() -> None:
    # evoforge's own tune moves single literals by default; the oracle, a fixed model
    # for every engine that asks it, does not
    assert TuneConfig().single_moves is True
    assert ORACLE_OPERATORS.tune.single_moves is False
    assert ORACLE_OPERATORS.enabled == ["tune", "mutate", "crossover"]


def test_diff_answer_round_trips() -> None:
    child = SEED_CODE.replace("    b = 0.1\n", "    b = 0.1\n    b = b * 2\n")
    assert child_from_diff(SEED_CODE, diff_answer(SEED_CODE, child)) == child


def test_diff_answer_of_a_long_block_does_work_in_proportion_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A block of thousands of lines, many of them alike (blank lines), is diffed without
    comparing every line with every like line (such a block took seconds per answer, for
    the oracle and for every example ``evoforge export`` wrote)."""
    work = 0
    original = difflib.SequenceMatcher.find_longest_match

    def counting(
        self: difflib.SequenceMatcher[str], alo: int = 0, ahi: int | None = None, *args: int
    ) -> difflib.Match:
        nonlocal work  # the inner loop's steps: each line of a's range, each place in b
        high = len(self.a) if ahi is None else ahi
        work += sum(len(self.b2j.get(line, ())) for line in self.a[alo:high])
        return original(self, alo, ahi, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(difflib.SequenceMatcher, "find_longest_match", counting)

    def edited(lines: int) -> tuple[str, str]:
        body = "".join(f"def g{i}(x):\n    return x * {i}.5\n\n\n" for i in range(lines // 4))
        parent = f"# EVOLVE-BLOCK-START\n{body}# EVOLVE-BLOCK-END\n"
        child = parent.replace("x * 7.5", "x * 7.25").replace(f"x * {lines // 4 - 3}.5", "x")
        return parent, child

    counts = []
    for lines in (400, 1600):
        parent, child = edited(lines)
        work = 0
        assert child_from_diff(parent, diff_answer(parent, child)) == child
        counts.append(work)
    assert counts[1] < 8 * counts[0]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    return env


def test_a_run_through_the_oracle_improves_and_reports_calls(
    oracle: OracleServer, curve_fit: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    config = tmp_path / "llm.yaml"
    config.write_text("operators:\n  enabled: [llm_diff, llm_rewrite, llm_crossover]\n")
    command = [sys.executable, "-m", "evoforge.cli"]
    done = subprocess.run(
        [
            *command,
            "run",
            str(curve_fit),
            "--llm-base-url",
            oracle.url,
            "--model",
            "oracle",
            "--config",
            str(config),
            "--iterations",
            "24",
            "--seed",
            "2",
            "--out",
            str(run_dir),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status = json.loads(
        subprocess.run(
            [*command, "status", str(run_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    assert status["best_score"] > status["initial_score"]
    assert status["llm"]["calls"] >= 20
    assert status["llm"]["tokens_in"] > 0 and status["llm"]["tokens_out"] > 0
    assert status["llm"]["models"]["oracle"]["outcomes"]["ok"] == status["llm"]["calls"]
    # the model operators, and the best's one final simplification pass (run.simplify_best)
    assert set(status["operators"]) <= {"llm_diff", "llm_rewrite", "llm_crossover", "simplify"}
    assert set(status["operators"]) & {"llm_diff", "llm_rewrite", "llm_crossover"}
    assert all("mean_reward" in stats for stats in status["operators"].values())


LEAKY_PROGRAM = '''"""Fit a line; the frozen code dumps the environment it runs in."""
import os
import sys


# EVOLVE-BLOCK-START
def model(x):
    a = 0.5
    return a * x
# EVOLVE-BLOCK-END


def predictions():
    dump = repr(sorted(os.environ.items()))
    sys.stderr.write("ENVIRONMENT " + dump + "\\n")
    with open("environment.txt", "w") as handle:
        handle.write(dump)
    return [model(i / 10.0) for i in range(21)]
'''


def test_a_candidate_cannot_read_the_api_key(oracle: OracleServer, tmp_path: Path) -> None:
    problem = tmp_path / "leaky"
    problem.mkdir()
    (problem / "initial_program.py").write_text(LEAKY_PROGRAM)
    (problem / "evaluator.py").write_text((PROBLEMS / "curve_fit" / "evaluator.py").read_text())
    (problem / "config.yaml").write_text(
        "evaluator:\n  timeout_s: 10\n  cascade: false\narchive:\n  num_islands: 1\n"
        "operators:\n  enabled: [llm_diff, llm_rewrite]\n"
    )
    secret = "sk-evoforge-test-" + os.urandom(8).hex()
    env = _env() | {"OPENAI_API_KEY": secret}
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evoforge.cli",
            "run",
            str(problem),
            "--llm-base-url",
            oracle.url,
            "--model",
            "oracle",
            "--iterations",
            "4",
            "--out",
            str(run_dir),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    dumped = b"".join(path.read_bytes() for path in files)
    assert b"ENVIRONMENT" in dumped  # the candidate's dump of its environment was kept
    assert secret.encode() not in dumped


def test_resume_can_move_the_run_to_an_endpoint_that_moved(curve_fit: Path, tmp_path: Path) -> None:
    """The server a run began with is gone; ``resume --llm-base-url`` carries on elsewhere
    (and remembers it), where a plain resume would only find a dead endpoint."""
    import sqlite3

    run_dir = tmp_path / "run"
    config = tmp_path / "llm.yaml"
    config.write_text("operators:\n  enabled: [llm_diff, llm_rewrite]\n")
    command = [sys.executable, "-m", "evoforge.cli"]
    first = start_oracle(port=0, seed=3)
    try:
        begun = subprocess.run(
            [*command, "run", str(curve_fit), "--llm-base-url", first.url, "--model", "oracle",
             "--config", str(config), "--iterations", "6", "--out", str(run_dir), "--quiet"],
            capture_output=True, text=True, timeout=120, env=_env(), check=False,
        )  # fmt: skip
    finally:
        first.close()
    assert begun.returncode == 0, begun.stderr
    second = start_oracle(port=0, seed=4)
    try:
        resumed = subprocess.run(
            [*command, "resume", str(run_dir), "--iterations", "6", "--llm-base-url",
             second.url, "--quiet"],
            capture_output=True, text=True, timeout=120, env=_env(), check=False,
        )  # fmt: skip
    finally:
        second.close()
    assert resumed.returncode == 0, resumed.stderr
    assert "no usable language model" not in resumed.stdout + resumed.stderr
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (stored,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        (children,) = db.execute(
            "SELECT count(*) FROM programs WHERE operator != 'seed'"
        ).fetchone()
    assert json.loads(stored)["llm"]["models"][0]["base_url"] == second.url
    assert children == 12


def test_resume_of_a_run_without_models_refuses_an_endpoint(
    curve_fit: Path, tmp_path: Path
) -> None:
    from evoforge.cli import main

    run_dir = tmp_path / "run"
    assert main(["run", str(curve_fit), "--iterations", "2", "--out", str(run_dir), "--quiet"]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "evoforge.cli", "resume", str(run_dir), "--iterations", "1",
         "--llm-base-url", "http://127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=120, env=_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "uses no language model" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_concurrent_requests_are_answered_one_at_a_time(
    oracle: OracleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers parse programs, and CPython 3.11's ``ast.parse`` is not safe in concurrent
    threads (a spurious SystemError), so the threaded server answers one request at a time."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import evoforge.llm.oracle as oracle_module

    real = oracle_module.answer_prompt
    state = {"inside": 0, "most": 0}
    guard = threading.Lock()

    def answering(*args: object, **kwargs: object) -> list[str]:
        with guard:
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
        time.sleep(0.05)  # long enough for the other requests to arrive meanwhile
        try:
            return real(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with guard:
                state["inside"] -= 1

    monkeypatch.setattr(oracle_module, "answer_prompt", answering)
    client = OpenAI(base_url=oracle.url, api_key="unused", max_retries=0, timeout=10)
    messages = [{"role": "user", "content": _prompt(ANSWER_SEARCH_REPLACE)}]

    def ask(seed: int) -> str:
        reply = client.chat.completions.create(model="oracle", messages=messages, seed=seed)
        return reply.choices[0].message.content or ""

    with ThreadPoolExecutor(4) as threads:
        answers = list(threads.map(ask, range(8)))
    assert all(answers) and state["most"] == 1


def test_one_connection_serves_many_requests_and_a_closed_oracle_serves_none() -> None:
    """Keep-alive: a client's requests share one connection; closing the oracle ends the
    connections it kept, so the next request finds no server, as after a real stop."""
    import http.client
    from urllib.parse import urlsplit

    server = start_oracle(seed=1)
    address = urlsplit(server.url)
    body = json.dumps(
        {"model": "oracle", "messages": [{"role": "user", "content": _prompt(ANSWER_FULL)}]}
    )
    headers = {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        sockets = []
        for _ in range(3):
            connection.request("POST", "/v1/chat/completions", body, headers)
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["choices"][0]["message"]["content"]
            sockets.append(connection.sock)
        assert sockets[0] is not None and sockets == [sockets[0]] * 3  # one connection
        server.close()
        with pytest.raises((OSError, http.client.HTTPException)):
            connection.request("POST", "/v1/chat/completions", body, headers)
            connection.getresponse().read()
    finally:
        connection.close()


def test_a_cut_connection_says_nothing_and_a_failed_request_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The oracle's server reports a request that failed in one line, without the
    traceback socketserver prints, and a connection reset by its client (or ended by
    ``close``) not at all."""
    server = OracleServer("127.0.0.1", 0)
    try:
        for error in (ConnectionResetError(104, "reset by peer"), BrokenPipeError(32, "pipe")):
            try:
                raise error
            except OSError:
                server.handle_error(None, ("127.0.0.1", 5555))
        assert capsys.readouterr().err == ""
        try:
            raise ValueError("a malformed request line")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 5555))
        assert capsys.readouterr().err == (
            "evoforge oracle: a request from 127.0.0.1:5555 failed: "
            "ValueError: a malformed request line\n"
        )
    finally:
        server.server_close()
