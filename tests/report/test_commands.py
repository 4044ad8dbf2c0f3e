"""The viewing commands through the real ``evoforge`` command line."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evoforge import run as run_problem

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "circle_packing"


def evoforge(
    *args: str, timeout: float = 120, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "evoforge.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def best(small_run: Path) -> dict:
    done = evoforge("best", str(small_run), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_best_text_shows_the_lineage_and_writes_the_program(
    small_run: Path, best: dict, tmp_path: Path
) -> None:
    out = tmp_path / "best.py"
    done = evoforge("best", str(small_run), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == best["code"]
    assert f"lineage ({len(best['lineage'])} programs, seed first):" in done.stdout
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("lineage ("))
    listed = [line.split()[0] for line in lines[start + 1 : start + 1 + len(best["lineage"])]]
    assert listed == best["lineage"]
    assert f"wrote {out}" in done.stdout


def test_best_json_with_output_still_prints_one_object(
    small_run: Path, best: dict, tmp_path: Path
) -> None:
    out = tmp_path / "b.py"
    done = evoforge("best", str(small_run), "--json", "-o", str(out))
    assert json.loads(done.stdout)["program_id"] == best["program_id"]
    assert out.read_text(encoding="utf-8") == best["code"]


def test_show_prints_the_diff_against_the_parent(small_run: Path, best: dict) -> None:
    done = evoforge("show", str(small_run), best["program_id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{best['program_id']}: ok, score ")
    assert f"--- {best['parent_id']}\n+++ {best['program_id']}\n@@" in done.stdout
    as_json = json.loads(evoforge("show", str(small_run), best["program_id"], "--json").stdout)
    assert as_json["code"] == best["code"]
    assert as_json["diff"] in done.stdout


def test_show_seed_prints_its_code(small_run: Path) -> None:
    done = evoforge("show", str(small_run), "seed")
    assert done.returncode == 0
    assert done.stdout.startswith("seed: ok, score ")
    assert "; the seed program, iteration 0, island 0," in done.stdout.splitlines()[0]
    assert "EVOLVE-BLOCK-START" in done.stdout


def test_status_lists_top_reasons(small_run: Path) -> None:
    status = json.loads(evoforge("status", str(small_run), "--json").stdout)
    reasons = status["reasons"]
    assert set(reasons) == {"failures", "rejections"}
    failed = sum(count for name, count in status["failures"].items() if name != "rejected")
    assert sum(r["count"] for r in reasons["failures"]) == failed
    text = evoforge("status", str(small_run)).stdout
    for side, title in (("failures", "top failure reasons"), ("rejections", "top rejections")):
        if reasons[side]:
            assert title in text
            assert reasons[side][0]["reason"][:40] in text


def test_a_reason_kind_shows_its_first_programs_own_words() -> None:
    """The kind blanks numbers ("shape (N, N), got (N, N)" reads as a contradiction), so
    the table adds the first program's line as written, unless it is the kind itself."""
    from io import StringIO

    from rich.console import Console

    from evoforge.report.commands import print_reasons

    entry = {"reason": "ValueError: shape (N, N), got (N, N)", "count": 29}
    reasons = {
        "failures": [
            {
                **entry,
                "example_id": "i000011",
                "example_reason": "ValueError: shape (26, 2), got (25, 2)",
            },
            {"reason": "bad [x]", "count": 1, "example_id": "i000012", "example_reason": "bad [x]"},
        ]
    }
    out = StringIO()
    print_reasons(Console(file=out, width=200, highlight=False), reasons)
    text = out.getvalue()
    assert "e.g. ValueError: shape (26, 2), got (25, 2)" in text
    assert "bad [x]" in text and text.count("e.g.") == 1


def test_status_says_how_long_the_run_ran(small_run: Path) -> None:
    status = json.loads(evoforge("status", str(small_run), "--json").stdout)
    seconds = status["running_seconds"]
    assert seconds > 0 and status["invocations"] == 1
    text = evoforge("status", str(small_run)).stdout
    rate = status["evaluations"] / seconds
    assert f"\nran {seconds:.1f}s, {rate:.3g} evaluations/s\n" in text or (
        seconds >= 60 and f", {rate:.3g} evaluations/s\n" in text
    )


def test_status_tells_a_running_run_from_a_stopped_and_a_killed_one(
    small_run: Path, tmp_path: Path
) -> None:
    from evoforge.runs import RunLock
    from evoforge.storage.db import RunDatabase

    done = evoforge("status", str(small_run))
    assert "\nstopped: iterations budget reached\n" in done.stdout
    assert json.loads(evoforge("status", str(small_run), "--json").stdout)["running_in"] is None
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    with RunLock(copy):  # as a process driving the run holds it
        assert f"\nrunning: in pid {os.getpid()}\n" in evoforge("status", str(copy)).stdout
        status = json.loads(evoforge("status", str(copy), "--json").stdout)
        assert status["running_in"] == f"pid {os.getpid()}"
    db = RunDatabase(copy / RunDatabase.FILENAME)
    try:
        db.delete_state(["stop_reason"])  # a loop killed before it could record its stop
    finally:
        db.close()
    assert (
        "\nstopped without a clean stop (killed, crashed or its machine lost); "
        f"'evoforge resume {copy}' continues it\n"
    ) in evoforge("status", str(copy)).stdout


def test_status_text_shows_the_migrations_that_json_counts(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    migrating = {"archive": {"migration_interval": 3}}
    run_problem(EXAMPLE, iterations=12, seed=2, workers=1, out=run_dir, config=migrating)
    status = json.loads(evoforge("status", str(run_dir), "--json").stdout)
    assert len(status["islands"]) == 2 and status["migrations"] > 0
    text = evoforge("status", str(run_dir)).stdout
    assert f"migrations between islands: {status['migrations']}\n" in text
    # an island's figure is its own children's best: a migrant may hold a better one
    assert "best child" in text and "best score" not in text


def test_text_lines_stay_whole_in_a_narrow_pipe(small_run: Path, best: dict) -> None:
    """Piped output (to a file, to grep) keeps each line of text on one line, whatever the
    width the console guesses."""
    status = json.loads(evoforge("status", str(small_run), "--json").stdout)
    text = evoforge("status", str(small_run), columns=30).stdout
    first = text.splitlines()[0]
    assert first.endswith(f"(seed {status['initial_score']:.6g})"), first
    assert f"{status['evaluations']} evaluations" in first
    shown = evoforge("best", str(small_run), columns=30).stdout.splitlines()[0]
    assert shown.startswith(f"best {best['program_id']}: score "), shown
    assert shown.endswith(f"by {best['operator']}"), shown
    lineage = evoforge("show", str(small_run), best["program_id"], columns=30).stdout
    assert lineage.splitlines()[0].startswith(f"{best['program_id']}: ok, score ")
    assert "island" in lineage.splitlines()[0]


@pytest.mark.parametrize("command", [["best"], ["best", "--json"], ["status", "--json"]])
def test_a_reader_that_went_away_ends_the_command_quietly(
    small_run: Path, command: list[str]
) -> None:
    """``evoforge best RUN | head -1``: once the pipe's reader is gone the command stops
    with status 1 and prints no error or traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "evoforge.cli", command[0], str(small_run), *command[1:]],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == ""


def test_report_writes_one_html_file(small_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = evoforge("report", str(small_run), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "{run}", "no-such-id"], "has no program 'no-such-id'"),
        (["show", "{missing}", "seed"], "holds no run"),
        (["report", "{missing}"], "holds no run"),
        (["serve", "{missing}"], "holds no run"),
        (["serve", "{run}", "--port", "70000"], "at most 65535"),
        (["serve", "{run}", "--port", "-1"], "must not be negative"),
        (["serve", "{run}", "--host", "", "--port", "0"], "--host is empty"),
        (["best", "{missing}", "-o", "x.py"], "holds no run"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    small_run: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    filled = [a.format(run=small_run, missing=tmp_path / "missing") for a in args]
    done = evoforge(*filled)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("damage", "commands"),
    [
        ("UPDATE programs SET metrics = '{x' WHERE id = 'seed'", ["status", "best", "report"]),
        ("UPDATE meta SET value = '{x' WHERE key = 'config'", ["status", "report", "resume"]),
        ("UPDATE programs SET features = '[1, 2' WHERE id = 'seed'", ["status", "best"]),
        ("UPDATE programs SET code = CAST(X'FFFE00' AS TEXT) WHERE id = 'seed'", ["status"]),
    ],
)
def test_damaged_stored_data_is_one_line_and_status_2(
    small_run: Path, tmp_path: Path, damage: str, commands: list[str]
) -> None:
    """A run database that opens but holds rows that do not read back (damaged after it
    was written): every command says so in one line, never with a traceback."""
    copy = tmp_path / "damaged"
    shutil.copytree(small_run, copy)
    with sqlite3.connect(copy / "run.sqlite") as connection:
        connection.execute(damage)
    for command in commands:
        done = evoforge(command, str(copy))
        assert done.returncode == 2, (command, done.stderr[-2000:])
        assert len(done.stderr.strip().splitlines()) == 1, (command, done.stderr[-2000:])
        assert "Traceback" not in done.stderr


def test_jsonl_steps_carry_the_reason(tmp_path: Path) -> None:
    done = evoforge(
        "run", str(EXAMPLE), "--iterations", "12", "--out", str(tmp_path / "r"), "--jsonl"
    )
    assert done.returncode == 0, done.stderr
    steps = [json.loads(line) for line in done.stdout.splitlines()]
    steps = [s for s in steps if s["event"] == "step"]
    assert len(steps) == 12
    assert all(isinstance(s["reason"], str) for s in steps)
    assert any(s["reason"] for s in steps), "operators describe what they did"


def test_status_counts_the_seed_on_every_island_as_the_web_view_does(tmp_path: Path) -> None:
    """The seed enters every island, so an island whose children all scored lower (or
    that has none) still has the seed's score as its best; the problem's name is shown
    as written, markup and all."""
    problem = tmp_path / "v[b]2"
    shutil.copytree(EXAMPLE, problem)
    run_dir = tmp_path / "run"
    done = evoforge(
        "run", str(problem), "--iterations", "1", "--workers", "1", "--out", str(run_dir),
        "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads(sqlite3.connect(run_dir / "run.sqlite").execute(
        "SELECT value FROM meta WHERE key = 'config'").fetchone()[0])  # fmt: skip
    status = json.loads(evoforge("status", str(run_dir), "--json").stdout)
    islands = status["islands"]
    assert [island["island"] for island in islands] == list(range(config["archive"]["num_islands"]))
    assert len(islands) >= 2 and sum(island["children"] for island in islands) == 1
    for island in islands:
        assert island["best_score"] >= status["initial_score"]
    text = evoforge("status", str(run_dir)).stdout
    assert text.startswith("v[b]2: 1 iterations"), text


@pytest.mark.parametrize(
    ("seconds", "invocations", "line"),
    [
        (0.0, 0, "ran 0.0s"),
        (45.25, 1, "ran 45.2s, 2.21 evaluations/s"),
        (187.0, 2, "ran 3m 07s over 2 invocations, 0.535 evaluations/s"),
        (7509.0, 3, "ran 2h 05m 09s over 3 invocations, 0.0133 evaluations/s"),
    ],
)
def test_the_running_line(seconds: float, invocations: int, line: str) -> None:
    from evoforge.cli import _running_line

    summary = {"running_seconds": seconds, "invocations": invocations, "evaluations": 100}
    assert _running_line(summary) == line


HOSTILE = "\x1b]0;owned\x07\x1b[2J\u202e[link=http://evil.example/]x[/link]"
"""Text that would act on a terminal: a window title, a screen clear, a right-to-left
override, and Rich markup for a hyperlink."""
SHOWN = "\\x1b]0;owned\\x07\\x1b[2J\\u202e[link=http://evil.example/]x[/link]"

HOSTILE_EVALUATOR = """\
import importlib.util


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.result()
"""


@pytest.fixture(scope="module")
def hostile_text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run (the seed only) whose seed names a metric with :data:`HOSTILE`, whose stop
    reason, prompt-learning texts and embedding fallback (a model server's and a model's
    words) hold it too."""
    root = tmp_path_factory.mktemp("hostile_text")
    problem = root / "problem"
    problem.mkdir()
    (problem / "evaluator.py").write_text(HOSTILE_EVALUATOR)
    metrics = {"combined_score": 1.0, f"m{HOSTILE}": 2.0}
    (problem / "initial_program.py").write_text(
        f"# EVOLVE-BLOCK-START\ndef result():\n    return {metrics!r}\n# EVOLVE-BLOCK-END\n"
    )
    run_dir = root / "run"
    run_problem(problem, iterations=0, workers=1, out=run_dir)
    from evoforge.storage.db import RunDatabase

    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        db.set_state(
            {
                "stop_reason": f"no usable language model: m: HTTP 404: {HOSTILE}",
                "prompt_learning": {
                    "instructions": [
                        {"id": "instr-0", "text": "the run's own", "iteration": 0},
                        {"id": "instr-1", "text": f"evolved {HOSTILE}", "iteration": 4},
                    ],
                    "instruction_bandit": {"records": {"instr-1": {"uses": 1}}},
                    "last_instruction": "instr-1",
                    "note": {"text": f"note {HOSTILE}", "iteration": 2},
                    "notes_written": 1,
                },
            }
        )
        db.add_event(0, "novelty_fallback", {"reason": f"HTTP 500: {HOSTILE}"})
    finally:
        db.close()
    return run_dir


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["show", "seed"], [f"  m{SHOWN} = 2"]),
        (["best"], [f"  m{SHOWN} = 2"]),
        (
            ["status"],
            [
                f"stopped: no usable language model: m: HTTP 404: {SHOWN}",
                f"run note (iteration 2, 1 written): note {SHOWN}",
                f"embeddings gave up, MinHash used instead: HTTP 500: {SHOWN}",
            ],
        ),
    ],
    ids=["show", "best", "status"],
)
def test_text_from_candidates_and_models_never_acts_on_the_terminal(
    hostile_text_run: Path, command: list[str], expected: list[str]
) -> None:
    """Metric names, a stop reason quoting a model server, a model's instruction and run
    note, an embedding server's error: shown with their control characters and bidi
    overrides as escapes and their markup as text, never obeyed."""
    done = evoforge(command[0], str(hostile_text_run), *command[1:], columns=400)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\u202e" not in done.stdout
    lines = done.stdout.splitlines()
    for line in expected:
        assert line in lines, (line, done.stdout)
    if command == ["status"]:
        assert f"evolved {SHOWN}"[:40] in done.stdout


def _node(number: int) -> dict:
    return {"id": f"i{number:06d}", "operator": "tune", "score": float(number), "gain": 1.0}


def test_a_long_lineage_is_printed_without_its_middle() -> None:
    """A long run's best descends from hundreds of programs: ``best`` prints the first
    few and the latest steps, and how many it left out, so the code stays in sight."""
    from evoforge.report.commands import LINEAGE_HEAD, LINEAGE_TAIL, lineage_lines

    nodes = [_node(number) for number in range(500)]
    lines = lineage_lines(nodes)
    assert lines[0] == "lineage (500 programs, seed first):"
    assert len(lines) == 1 + LINEAGE_HEAD + 1 + LINEAGE_TAIL
    listed = [line.split()[0] for line in lines[1:] if not line.lstrip().startswith("...")]
    assert listed == [n["id"] for n in nodes[:LINEAGE_HEAD] + nodes[-LINEAGE_TAIL:]]
    left_out = 500 - LINEAGE_HEAD - LINEAGE_TAIL
    assert lines[1 + LINEAGE_HEAD] == (
        f"  ... {left_out} programs left out (evoforge best --json lists them all)"
    )
    short = [_node(number) for number in range(LINEAGE_HEAD + LINEAGE_TAIL + 1)]
    assert len(lineage_lines(short)) == 1 + len(short)  # one left out is shown instead


def test_status_prints_the_latest_stagnation_responses_and_counts_the_rest(
    small_run: Path, tmp_path: Path
) -> None:
    """A long run anneals its islands again and again: ``status`` prints the latest ten
    and one line for the earlier ones; ``--json`` keeps them all."""
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    payload = {"island": 0, "temperature": 2.0, "entropy": 0.4, "stagnation": 20}
    with sqlite3.connect(copy / "run.sqlite") as connection:
        connection.execute("DELETE FROM events WHERE kind IN ('anneal', 'island_restart')")
        connection.executemany(
            "INSERT INTO events (seq, kind, payload, created_at) VALUES (?, 'anneal', ?, 0)",
            [(seq, json.dumps(payload)) for seq in range(1, 26)],
        )
    connection.close()
    done = evoforge("status", str(copy))
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stdout.splitlines() if "annealed to temperature" in line]
    assert [line.split(":")[0] for line in shown] == [f"step {seq}" for seq in range(16, 26)]
    assert "15 earlier stagnation responses left out" in done.stdout
    status = json.loads(evoforge("status", str(copy), "--json").stdout)
    assert len(status["stagnation_events"]) == 25
