"""Whole runs with the prompts that learn, against the oracle over real HTTP: each option
changes the prompts actually sent as documented, is stored in the run, survives a
resume (close and reopen, and kill -9) and is reproducible with one worker."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import evoforge
from evoforge.export.source import load_run
from evoforge.llm.oracle import OracleServer, start_oracle
from evoforge.operators.meta_prompts import ANSWER_INSTRUCTION, ANSWER_RUN_NOTE
from evoforge.operators.prompts import RUN_NOTE_HEADING, load_templates
from evoforge.registry import OPERATORS
from evoforge.runs import resume_run
from evoforge.storage.db import DatabaseError, RunDatabase

DEFAULT_SYSTEM = load_templates(None)["system"].strip()
ALL_OPTIONS = {
    "instructions": {"evolve": True, "propose_every": 4},
    "exemplars": {"adaptive": True},
    "notes": {"every_generations": 2, "max_chars": 300},
}


@pytest.fixture
def oracle() -> Iterator[OracleServer]:
    server = start_oracle(port=0, seed=11)
    try:
        yield server
    finally:
        server.close()


def _config(url: str, prompt: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": 4,
        "run": {"workers": 1},
        "operators": {"enabled": list(OPERATORS.names("llm"))},
        "llm": {"models": [{"model": "oracle", "base_url": url, "timeout_s": 10}]},
        "prompt": prompt,
    }


class Record:
    """What a finished run stored: programs, model calls, events, learner state."""

    def __init__(self, run_dir: Path) -> None:
        db = RunDatabase(run_dir / RunDatabase.FILENAME)
        try:
            self.codes = [step.program.code for step in db.steps()]
            self.operators = {step.program.seq: step.program.operator for step in db.steps()}
            self.calls = db.llm_calls()
            self.events = [(e.seq, e.kind, e.payload) for e in db.events() if e.kind != "new_best"]
            self.state = db.get_state("prompt_learning")
        finally:
            db.close()

    def of_kind(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        return [(seq, payload) for seq, k, payload in self.events if k == kind]

    def operator_calls(self) -> list[tuple[int, str, str]]:
        """(step seq, system text, user text) of every answered request for a child."""
        found = []
        for seq, call in self.calls:
            if call.operator in OPERATORS.names("llm") and call.outcome.value == "ok":
                system, user = call.prompt.split("\n\n[user]\n", 1)
                found.append((seq, system.removeprefix("[system]\n"), user))
        return found

    def sent(self) -> list[tuple[int, str, str, str]]:
        return [(seq, c.operator, c.prompt, c.response) for seq, c in self.calls]


def _run(curve_fit: Path, out: Path, url: str, prompt: dict[str, Any], iterations: int) -> Record:
    evoforge.run(curve_fit, iterations=iterations, config=_config(url, prompt), out=out)
    return Record(out)


def test_without_the_options_prompts_are_as_before_and_nothing_is_stored(
    oracle: OracleServer, curve_fit: Path, tmp_path: Path
) -> None:
    record = _run(curve_fit, tmp_path / "plain", oracle.url, {}, 10)
    assert record.operator_calls()
    assert all(system == DEFAULT_SYSTEM for _, system, _ in record.operator_calls())
    assert all(RUN_NOTE_HEADING not in user for _, _, user in record.operator_calls())
    assert {call.operator for _, call in record.calls} <= set(OPERATORS.names("llm"))
    assert record.state is None and not record.of_kind("prompt_choice")


def test_instruction_evolution_sends_the_chosen_instruction_and_stores_the_archive(
    oracle: OracleServer, curve_fit: Path, tmp_path: Path
) -> None:
    prompt = {"instructions": {"evolve": True, "propose_every": 4, "archive_size": 3}}
    record = _run(curve_fit, tmp_path / "run", oracle.url, prompt, 24)
    proposals = [(seq, c) for seq, c in record.calls if c.operator == "prompt_instruction"]
    # iterations 4, 8, ..., 24, but the run's final simplification pass asks no model
    asked = [seq for seq in range(4, 25, 4) if record.operators.get(seq) != "simplify"]
    assert [seq for seq, _ in proposals] == asked and len(asked) >= 5
    assert all(ANSWER_INSTRUCTION in call.prompt for _, call in proposals)
    texts = {"instr-0": DEFAULT_SYSTEM}
    for _, payload in record.of_kind("instruction"):
        texts[payload["instruction_id"]] = payload["text"]
    assert len(texts) >= 3
    chosen = dict(record.of_kind("prompt_choice"))
    systems = record.operator_calls()
    for seq, system, _ in systems:
        assert system == texts[chosen[seq]["instruction_id"]]
    assert any(chosen[seq]["instruction_id"] != "instr-0" for seq, _, _ in systems)
    # stored: at most archive_size instructions, the first kept, the bandit paid per answer
    state = record.state
    assert state is not None
    kept = [item["id"] for item in state["instructions"]]
    assert len(kept) == 3 and kept[0] == "instr-0"
    assert any(payload["replaced"] for _, payload in record.of_kind("instruction"))
    uses = sum(r["uses"] for r in state["instruction_bandit"]["records"].values())
    replaced_uses = len(systems) - uses
    assert 0 <= replaced_uses < len(systems)


def test_exemplar_choice_picks_the_inspiration_policy_per_prompt(
    oracle: OracleServer, curve_fit: Path, tmp_path: Path
) -> None:
    record = _run(curve_fit, tmp_path / "run", oracle.url, {"exemplars": {"adaptive": True}}, 24)
    chosen = dict(record.of_kind("prompt_choice"))
    for seq, operator in record.operators.items():
        if operator in ("llm_diff", "llm_rewrite"):
            assert chosen[seq]["exemplar_policy"] in ("top", "diverse", "nearest")
        else:
            assert seq not in chosen  # crossover shows no inspirations
    assert len({choice["exemplar_policy"] for choice in chosen.values()}) == 3
    for seq, system, user in record.operator_calls():
        assert system == DEFAULT_SYSTEM
        scores = [float(s) for s in re.findall(r"### Inspiration \d+ \(score (\S+)\)", user)]
        if chosen.get(seq, {}).get("exemplar_policy") == "top":
            assert scores == sorted(scores, reverse=True)
    state = record.state
    assert state is not None and state["instruction_bandit"] is None
    counts = {arm: r["uses"] for arm, r in state["exemplar_bandit"]["records"].items()}
    expected = {arm: 0 for arm in counts}
    for choice in chosen.values():
        expected[choice["exemplar_policy"]] += 1
    assert counts == expected


def test_run_notes_are_written_on_schedule_and_go_into_later_prompts(
    oracle: OracleServer, curve_fit: Path, tmp_path: Path
) -> None:
    prompt = {"notes": {"every_generations": 2, "max_chars": 150}}
    record = _run(curve_fit, tmp_path / "run", oracle.url, prompt, 20)
    requests = [(seq, c) for seq, c in record.calls if c.operator == "run_note"]
    # every 2 generations x 2 islands, but the run's final simplification pass asks no model
    due = [seq for seq in (4, 8, 12, 16, 20) if record.operators.get(seq) != "simplify"]
    assert [seq for seq, _ in requests] == due and len(due) >= 4
    assert all(ANSWER_RUN_NOTE in call.prompt for _, call in requests)
    notes = record.of_kind("run_note")
    assert [seq for seq, _ in notes] == due
    assert all(len(payload["text"]) <= 150 for _, payload in notes)
    assert "Helped most" in notes[0][1]["text"]
    for seq, system, user in record.operator_calls():
        assert system == DEFAULT_SYSTEM
        earlier = [payload["text"] for note_seq, payload in notes if note_seq < seq]
        if not earlier:
            assert RUN_NOTE_HEADING not in user
        else:
            section = user[user.index(RUN_NOTE_HEADING) :]
            assert f"```text\n{earlier[-1]}\n```" in section
    assert record.state is not None and record.state["note"]["text"] == notes[-1][1]["text"]
    # an export takes the requests for children as the model's turns, never a note request
    source = load_run(tmp_path / "run", "run")
    exchanges = [exchange for items in source.exchanges.values() for exchange in items]
    assert len(exchanges) == len(record.operator_calls())
    assert not any(ANSWER_RUN_NOTE in exchange.user for exchange in exchanges)


def test_all_options_are_reproducible_and_survive_close_and_reopen(
    oracle: OracleServer, curve_fit: Path, tmp_path: Path
) -> None:
    first = _run(curve_fit, tmp_path / "first", oracle.url, ALL_OPTIONS, 20)
    second = _run(curve_fit, tmp_path / "second", oracle.url, ALL_OPTIONS, 20)
    assert first.sent() == second.sent()
    assert first.codes == second.codes and first.events == second.events
    assert first.state == second.state
    assert first.of_kind("instruction") and first.of_kind("run_note")
    resumed_dir = tmp_path / "resumed"
    evoforge.run(curve_fit, iterations=9, config=_config(oracle.url, ALL_OPTIONS), out=resumed_dir)
    resume_run(resumed_dir, extra_iterations=11, log_mode="quiet")
    resumed = Record(resumed_dir)
    assert resumed.sent() == first.sent()
    assert resumed.codes == first.codes and resumed.events == first.events
    assert resumed.state == first.state


def _committed(run_dir: Path) -> int:
    """Steps committed so far (0 while the run database is still being set up)."""
    try:
        db = RunDatabase(run_dir / RunDatabase.FILENAME)
    except DatabaseError:
        return 0
    try:
        return db.count_programs()
    finally:
        db.close()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "evoforge.cli", *args]


def test_a_killed_run_resumes_to_the_same_prompts_and_status_shows_the_options(
    oracle: OracleServer, curve_fit: Path, tmp_path: Path
) -> None:
    straight = _run(curve_fit, tmp_path / "straight", oracle.url, ALL_OPTIONS, 24)
    config = tmp_path / "options.yaml"
    config.write_text(yaml.safe_dump(_config(oracle.url, ALL_OPTIONS)))
    run_dir = tmp_path / "killed"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    command = _cli("run", str(curve_fit), "--config", str(config), "--iterations", "24")
    process = subprocess.Popen(
        [*command, "--out", str(run_dir), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _committed(run_dir) >= 11:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    partial = Record(run_dir)
    assert 11 <= len(partial.codes) < 25
    done = subprocess.run(
        _cli("resume", str(run_dir), "--quiet"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    resumed = Record(run_dir)
    assert resumed.codes == straight.codes
    assert resumed.sent() == straight.sent()
    assert resumed.events == straight.events and resumed.state == straight.state
    status = subprocess.run(
        _cli("status", str(run_dir), "--json"), env=env, capture_output=True, text=True, timeout=60
    )
    learning = json.loads(status.stdout)["prompt_learning"]
    assert learning["instruction_in_use"] in {item["id"] for item in learning["instructions"]}
    assert set(learning["exemplars"]) == {"top", "diverse", "nearest"}
    assert learning["latest_note"]["text"] == straight.state["note"]["text"]  # type: ignore[index]
    console = subprocess.run(
        _cli("status", str(run_dir)), env=env, capture_output=True, text=True, timeout=60
    ).stdout
    assert "instructions:" in console and "in use: instr-" in console
    assert "exemplar choice: diverse" in console
    assert "run note (iteration 24" in console
