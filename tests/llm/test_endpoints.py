"""Dead, hanging, unauthorised and broken model endpoints, through the real command line.

Every server here is a real HTTP server on 127.0.0.1. A model that fails the start-up
check stops ``evoforge run`` with one line and exit status 2 before anything is created
(unless ``--allow-unreachable``); a model that dies during a run is announced, and the
run either carries on with the symbolic operators or ends with exit status 3. In every
case the committed steps stay intact and ``evoforge resume`` carries on.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from evoforge.cli import main
from evoforge.llm.oracle import OracleServer, start_oracle
from evoforge.storage.db import RunDatabase

ITERATIONS = 10


class FaultServer(ThreadingHTTPServer):
    """Answers every request the same broken way: ``401``, ``hang`` (no answer until
    closed) or ``garbage`` (200 with a web page). ``hang_chat`` and ``garbage_chat``
    pass the start-up check (``GET /models`` lists a model) and break only on chat
    requests, like a server that goes wrong once the run is under way."""

    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.mode = mode
        self.requests = 0
        self.released = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def close(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class _FaultHandler(BaseHTTPRequestHandler):
    server: FaultServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.server.mode.endswith("_chat"):
            self._models()
            return
        self._broken(self.server.mode)

    def _models(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "oracle", "object": "model"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def _broken(self, mode: str) -> None:
        if mode == "hang":
            self.server.released.wait(10)
            return
        if mode == "401":
            body = json.dumps({"error": {"message": "invalid key", "type": "auth"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
        else:
            body = b"<html><body>It works!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1
        self._broken(self.server.mode.removesuffix("_chat"))


class DyingOracle(OracleServer):
    """The oracle, which stops listening after ``connections`` connections (the start-up
    check and the first answers): later requests find nothing there."""

    def __init__(self, connections: int) -> None:
        super().__init__("127.0.0.1", 0, seed=5, keep_alive=False)  # a request each
        self.connections_left = connections
        self.died = threading.Event()

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.connections_left <= 0:
            self.shutdown_request(request)  # dying: no answer at all
            return
        self.connections_left -= 1
        super().process_request(request, client_address)
        if self.connections_left == 0:
            threading.Thread(target=self._die, daemon=True).start()

    def _die(self) -> None:
        self.shutdown()
        self.server_close()
        self.died.set()


@pytest.fixture
def problem(tmp_path: Path) -> Path:
    import shutil

    from .conftest import PROBLEMS

    target = tmp_path / "curve_fit"
    shutil.copytree(PROBLEMS / "curve_fit", target)
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp_path: Path, url: str, **llm: Any) -> Path:
    """Quick retries and a quick circuit breaker: a failing model is rested (for no time,
    so that no pick is swapped for a symbolic one while it rests) after one failed
    request and dropped after the next. A large exploration constant makes the
    operator bandit take its arms in turn, so the llm_* ones come up twice every four
    iterations (3, 4, 7, 8, ...)."""
    settings: dict[str, Any] = {
        "models": [{"model": "oracle", "base_url": url, "timeout_s": 0.5}],
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "circuit_failures": 1,
        "circuit_cooldown_s": 0.0,
        "max_rests": 2,
    }
    settings.update(llm)
    config = {
        "seed": 3,
        "run": {"workers": 1},
        "archive": {"num_islands": 1},
        "operators": {"enabled": ["tune", "mutate", "llm_diff", "llm_rewrite"]},
        "bandit": {"exploration": 50.0},
        "llm": settings,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(problem: Path, config: Path, out: Path, *flags: str) -> list[str]:
    return [
        "run", str(problem), "--config", str(config), "--out", str(out),
        "--iterations", str(ITERATIONS), *flags,
    ]  # fmt: skip


def _steps(run_dir: Path) -> list[tuple[int, str]]:
    """(iteration, operator) of every committed child, in order."""
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        return [(s.program.iteration, s.program.operator) for s in db.steps() if s.program.seq]
    finally:
        db.close()


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("evoforge: error: ")
    return lines[0]


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def fault() -> Iterator[dict[str, FaultServer]]:
    servers: dict[str, FaultServer] = {}
    try:
        yield servers
    finally:
        for server in servers.values():
            server.close()


def test_no_server_stops_at_start_up_with_one_line(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    config = _config(tmp_path, url)
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet")) == 2
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert f"model 'oracle' at {url} is unreachable: [Errno 111]" in line  # the real cause
    assert "--allow-unreachable" in line
    assert captured.out == ""
    assert not (run_dir / RunDatabase.FILENAME).exists()  # nothing begun, nothing lost

    # allowed to start anyway: the model is dropped, the run carries on without it
    assert main(_run(problem, config, run_dir, "--quiet", "--allow-unreachable")) == 0
    captured = capsys.readouterr()
    assert "warning: model 'oracle'" in captured.err
    assert "language model oracle dropped" in captured.err
    assert "no usable language model left: carrying on with the symbolic operators" in (
        captured.err
    )
    assert "iterations budget reached" in captured.out
    steps = _steps(run_dir)
    assert [iteration for iteration, _ in steps] == list(range(1, ITERATIONS + 1))
    assert steps[-1][1] in ("tune", "mutate")


def test_no_server_with_on_no_model_stop_ends_with_exit_status_3(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    config = _config(tmp_path, url, on_no_model="stop")
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--jsonl", "--allow-unreachable")) == 3
    captured = capsys.readouterr()
    events = _events(captured.out)
    kinds = [event["event"] for event in events]
    assert kinds[0] == "note" and "warning: model 'oracle'" in events[0]["message"]
    model_events = [event for event in events if event["event"] == "llm_model"]
    assert [event["state"] for event in model_events] == ["rested", "dropped"]
    assert model_events[-1]["model"] == "oracle" and model_events[-1]["usable_left"] == 0
    assert {"event": "llm_no_model", "action": "stop"}.items() <= next(
        event for event in events if event["event"] == "llm_no_model"
    ).items()
    assert kinds[-1] == "end"
    committed = _steps(run_dir)
    assert 0 < len(committed) < ITERATIONS
    assert events[-1]["iterations"] == len(committed)

    # the committed steps are kept: a resume with a live model completes the budget
    oracle = start_oracle(port=0, seed=5)
    try:
        status = main(["resume", str(run_dir), "--llm-base-url", oracle.url, "--quiet"])
    finally:
        oracle.close()
    assert status == 0, capsys.readouterr().err
    steps = _steps(run_dir)
    assert steps[: len(committed)] == committed
    assert [iteration for iteration, _ in steps] == list(range(1, ITERATIONS + 1))


def test_a_server_that_dies_mid_run_is_announced_and_the_run_carries_on(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oracle = DyingOracle(connections=3)  # the check, then answers at iterations 3 and 4
    oracle.start_background()
    try:
        config = _config(tmp_path, oracle.url)
        run_dir = tmp_path / "run"
        assert main(_run(problem, config, run_dir, "--jsonl")) == 0
        assert oracle.died.is_set()
    finally:
        oracle.died.wait(5)
    captured = capsys.readouterr()
    events = _events(captured.out)
    states = [event["state"] for event in events if event["event"] == "llm_model"]
    assert states == ["rested", "dropped"]
    (gone,) = [event for event in events if event["event"] == "llm_no_model"]
    assert gone["action"] == "symbolic"
    assert events[-1] == {
        "event": "end",
        "iterations": ITERATIONS,
        "evaluations": events[-1]["evaluations"],
        "best_score": events[-1]["best_score"],
    }
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        outcomes = [record.outcome.value for _, record in db.llm_calls()]
    finally:
        db.close()
    assert outcomes.count("ok") == 2  # what the model answered before it died is kept
    assert "connection_error" in outcomes

    # resuming against the dead endpoint stops at start-up; moved to a live one, it goes on
    before = _steps(run_dir)
    assert main(["resume", str(run_dir), "--iterations", "2", "--quiet"]) == 2
    assert "is unreachable" in _one_error_line(capsys.readouterr().err)
    assert _steps(run_dir) == before
    live = start_oracle(port=0, seed=5)
    try:
        status = main(
            ["resume", str(run_dir), "--iterations", "2", "--llm-base-url", live.url, "--quiet"]
        )
    finally:
        live.close()
    assert status == 0
    assert _steps(run_dir)[: len(before)] == before
    assert len(_steps(run_dir)) == ITERATIONS + 2


def test_a_server_that_answers_401_stops_at_start_up(
    problem: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, FaultServer],
) -> None:
    server = fault.setdefault("401", FaultServer("401"))
    config = _config(tmp_path, server.url, on_no_model="stop")
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet")) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is unauthorised: HTTP 401 (check OPENAI_API_KEY)" in line
    assert server.requests == 1  # one cheap request, no retries
    assert not run_dir.exists() or not (run_dir / RunDatabase.FILENAME).exists()

    # started anyway: the first 401 drops the model (no retries), and the run stops
    assert main(_run(problem, config, run_dir, "--quiet", "--allow-unreachable")) == 3
    captured = capsys.readouterr()
    assert "language model oracle dropped: oracle: HTTP 401" in captured.err
    assert "no usable language model left: stopping the run" in captured.err
    assert captured.out.startswith("no usable language model: oracle")
    assert server.requests == 3  # two checks and one chat request
    committed = _steps(run_dir)
    assert len(committed) >= 1

    # the run is intact: moved to a live model, a resume completes it
    live = start_oracle(port=0, seed=5)
    try:
        status = main(["resume", str(run_dir), "--llm-base-url", live.url, "--quiet"])
    finally:
        live.close()
    assert status == 0
    steps = _steps(run_dir)
    assert steps[: len(committed)] == committed
    assert len(steps) == ITERATIONS


def test_a_server_that_hangs_stops_at_start_up_within_its_timeout(
    problem: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, FaultServer],
) -> None:
    server = fault.setdefault("hang", FaultServer("hang"))
    config = _config(tmp_path, server.url, max_rests=1, max_retries=0)
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet")) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is unreachable: no answer within 0.5 s" in line

    assert main(_run(problem, config, run_dir, "--quiet", "--allow-unreachable")) == 0
    captured = capsys.readouterr()
    assert "language model oracle dropped: kept failing" in captured.err
    assert "no answer within 0.5 s" in captured.err
    steps = _steps(run_dir)
    assert len(steps) == ITERATIONS
    assert main(["resume", str(run_dir), "--iterations", "1", "--quiet"]) == 2  # still hangs
    assert _steps(run_dir) == steps


def test_a_server_that_answers_garbage_stops_at_start_up(
    problem: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, FaultServer],
) -> None:
    server = fault.setdefault("garbage", FaultServer("garbage"))
    config = _config(tmp_path, server.url)
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet")) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is not an OpenAI-compatible endpoint" in line

    assert main(_run(problem, config, run_dir, "--jsonl", "--allow-unreachable")) == 0
    events = _events(capsys.readouterr().out)
    dropped = [e for e in events if e["event"] == "llm_model" and e["state"] == "dropped"]
    assert len(dropped) == 1 and "malformed response" in dropped[0]["reason"]
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        outcomes = {record.outcome.value for _, record in db.llm_calls()}
    finally:
        db.close()
    assert outcomes == {"connection_error"}  # a web page is never taken for an answer
    assert len(_steps(run_dir)) == ITERATIONS


def test_while_every_model_rests_the_run_works_on_symbolically(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long rest does not stall the run: the llm_* picks made while the only model
    rests become symbolic children, and the model is not asked again meanwhile."""
    oracle = DyingOracle(connections=3)  # the check, then answers at iterations 3 and 4
    oracle.start_background()
    try:
        config = _config(tmp_path, oracle.url, circuit_cooldown_s=600.0)
        run_dir = tmp_path / "run"
        assert main(_run(problem, config, run_dir, "--jsonl")) == 0
    finally:
        oracle.died.wait(5)
    events = _events(capsys.readouterr().out)
    (rested,) = [event for event in events if event["event"] == "llm_model"]
    assert rested["state"] == "rested" and rested["usable_left"] == 1
    assert "rested for 600 s" in rested["message"]
    assert not [event for event in events if event["event"] == "llm_no_model"]
    steps = _steps(run_dir)
    assert len(steps) == ITERATIONS
    assert [operator for iteration, operator in steps if iteration > 7] == [
        operator
        for iteration, operator in steps
        if iteration > 7 and not operator.startswith("llm")
    ]
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        attempts = [record.attempt for _, record in db.llm_calls() if record.outcome.value != "ok"]
    finally:
        db.close()
    assert attempts == [1, 2]  # one failed request (with its retry), then no more


def _resume_on_a_live_model(run_dir: Path, extra: int) -> None:
    """No work was lost: moved to a live oracle, a resume keeps every committed step
    and adds ``extra`` more."""
    before = _steps(run_dir)
    live = start_oracle(port=0, seed=5)
    command = ["resume", str(run_dir), "--iterations", str(extra), "--quiet"]
    try:
        status = main([*command, "--llm-base-url", live.url])
    finally:
        live.close()
    assert status == 0
    after = _steps(run_dir)
    assert after[: len(before)] == before and len(after) == len(before) + extra


@pytest.mark.parametrize(
    ("mode", "outcome", "said"),
    [
        ("hang_chat", "timeout", "no answer within 0.5 s"),
        ("garbage_chat", "connection_error", "malformed response"),
    ],
)
def test_a_server_that_breaks_after_the_check_is_dropped_and_no_work_is_lost(
    problem: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, FaultServer],
    mode: str,
    outcome: str,
    said: str,
) -> None:
    """The start-up check passes; every chat request then hangs (bounded by the model's
    timeout) or answers a web page. The model is dropped with its reason on the
    console, the run completes its budget on the symbolic operators with exit status 0,
    every request is recorded, and a resume carries on."""
    server = fault.setdefault(mode, FaultServer(mode))
    config = _config(tmp_path, server.url, max_retries=0, max_rests=1)
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet")) == 0
    captured = capsys.readouterr()
    assert "language model oracle dropped" in captured.err and said in captured.err
    assert "carrying on with the symbolic operators" in captured.err
    assert "iterations budget reached" in captured.out
    steps = _steps(run_dir)
    assert [iteration for iteration, _ in steps] == list(range(1, ITERATIONS + 1))
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        outcomes = [record.outcome.value for _, record in db.llm_calls()]
        rejected = [s.program.reason for s in db.steps() if s.program.operator.startswith("llm")]
    finally:
        db.close()
    assert outcomes and set(outcomes) == {outcome}
    assert server.requests == 1 + len(outcomes)  # the check, then each recorded request
    assert rejected and all("language model call failed" in reason for reason in rejected)
    _resume_on_a_live_model(run_dir, 3)


def test_after_garbage_at_start_up_a_run_started_anyway_resumes_on_a_live_model(
    problem: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, FaultServer],
) -> None:
    server = fault.setdefault("garbage", FaultServer("garbage"))
    config = _config(tmp_path, server.url)
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet", "--allow-unreachable")) == 0
    assert "is not an OpenAI-compatible endpoint" in capsys.readouterr().err
    assert len(_steps(run_dir)) == ITERATIONS
    _resume_on_a_live_model(run_dir, 2)


def test_a_resume_refused_by_the_model_check_stores_nothing(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``resume --llm-base-url`` to an endpoint that fails the start-up check stops with
    one line and leaves the run's stored configuration as it was; a malformed URL is
    refused before anything is tried."""
    live = start_oracle(port=0, seed=5)
    try:
        config = _config(tmp_path, live.url)
        run_dir = tmp_path / "run"
        assert main(_run(problem, config, run_dir, "--quiet")) == 0
    finally:
        live.close()
    stored = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        before = (stored.get_meta("config"), stored.get_meta("config_yaml"))
    finally:
        stored.close()
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--iterations", "2", "--llm-base-url", dead]) == 2
    assert "unreachable" in _one_error_line(capsys.readouterr().err)
    bad = "http://127.0.0.1:abc/v1"
    assert main(["resume", str(run_dir), "--iterations", "2", "--llm-base-url", bad]) == 2
    assert "not a usable URL" in _one_error_line(capsys.readouterr().err)
    stored = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        assert (stored.get_meta("config"), stored.get_meta("config_yaml")) == before
    finally:
        stored.close()
    _resume_on_a_live_model(run_dir, 2)


def test_a_hanging_model_request_does_not_hold_a_run_past_its_wall_time(
    problem: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, FaultServer],
) -> None:
    """The wall time is reached while a child waits on a model that does not answer (a
    request allowed 8 s): the child is cancelled, not awaited, so no timed-out request
    is ever recorded; the run stops on its wall time, and a resume asks that iteration
    again."""
    server = fault.setdefault("hang_chat", FaultServer("hang_chat"))
    config = _config(tmp_path, server.url, max_retries=0)
    models = yaml.safe_load(config.read_text())
    models["llm"]["models"][0]["timeout_s"] = 8.0
    models["run"]["max_wall_time_s"] = 1.5
    config.write_text(yaml.safe_dump(models))
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet")) == 0
    assert "wall-time budget reached" in capsys.readouterr().out
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        outcomes = [record.outcome.value for _, record in db.llm_calls()]
        iterations = [s.program.iteration for s in db.steps() if s.program.seq]
    finally:
        db.close()
    assert "timeout" not in outcomes
    assert server.requests >= 2  # the start-up check and the request left hanging
    assert iterations == list(range(1, len(iterations) + 1))  # no gap where it was


@pytest.mark.parametrize("variable", ["LANG", "LC_ALL", "EXPOSED_FOR_CANDIDATES"])
def test_a_key_variable_the_sandbox_passes_on_is_refused(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], variable: str
) -> None:
    """The key's variable must not be one candidates inherit (by default, or through
    ``evaluator.pass_env``): one line, exit 2, before anything is created."""
    config = _config(tmp_path, f"http://127.0.0.1:{_free_port()}/v1")
    settings = yaml.safe_load(config.read_text())
    settings["llm"]["models"][0]["api_key_env"] = variable
    settings["evaluator"] = {"pass_env": ["EXPOSED_FOR_CANDIDATES"]}
    config.write_text(yaml.safe_dump(settings))
    run_dir = tmp_path / "run"
    assert main(_run(problem, config, run_dir, "--quiet", "--allow-unreachable")) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]  # after the warning it started with
    assert line.startswith("evoforge: error: ")
    assert f"api_key_env {variable!r} would reach candidate programs" in line
    assert not (run_dir / "run.sqlite").exists()


def test_a_model_name_the_server_does_not_list_is_a_warning_not_a_stop(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Servers answer to aliases they do not list (the oracle answers any name), so a
    name missing from ``GET /models`` warns at start-up and the run goes on."""
    oracle = start_oracle()
    try:
        url = oracle.url
        typo = _config(tmp_path, url, models=[{"model": "gpt-4o", "base_url": url}])
        assert main(_run(problem, typo, tmp_path / "typo", "--quiet")) == 0
        captured = capsys.readouterr()
        warning = f"warning: model 'gpt-4o' is not among the models {url} lists (oracle)"
        assert warning in captured.err and "its requests may fail" in captured.err
        assert "iterations budget reached" in captured.out
        for listed in ("oracle", "oracle:latest"):  # Ollama's tag names the same model
            config = _config(tmp_path, url, models=[{"model": listed, "base_url": url}])
            assert main(_run(problem, config, tmp_path / listed, "--quiet")) == 0
            assert "is not among the models" not in capsys.readouterr().err
    finally:
        oracle.close()
