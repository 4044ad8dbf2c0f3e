"""How fast the web view answers on a large run (a benchmark, not a test).

Builds a run database of 20,000 programs cheaply, through the storage API (the real
schema, real archive inserts for the outcomes and a real bandit state, no evaluations),
serves it with the real ``evoforge serve`` process, and measures:

* each API answer's server time (its ``Server-Timing`` header): the first answer, a
  cached one, and one after a writer committed new steps (what each poll of a live run
  costs);
* each answer computed from nothing, in-process (what the server does once at start);
* the overview page in headless Chromium: first contentful paint and the moment the
  overview's content is on screen (the page's ``evoforge-first-view`` mark).

Goals: every API answer <= 200 ms of server time; the overview on screen <= 1 s.

    python benchmarks/web_pages.py                        # 20,000 programs
    python benchmarks/web_pages.py --programs 2000 --out /tmp/web-bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from evoforge.archive.islands import Archive
from evoforge.config import resolve_config
from evoforge.llm.records import CallOutcome, LLMCallRecord
from evoforge.problem import load_problem
from evoforge.program import EvalStatus, InsertOutcome, Program, code_hash
from evoforge.report import views
from evoforge.report.archive_view import ArchiveReplay
from evoforge.report.reader import RunReader
from evoforge.report.tracker import RunTracker
from evoforge.selection.bandits import make_bandit
from evoforge.storage.db import RunDatabase

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = ROOT / "examples" / "circle_packing"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "web"
OPERATORS = ["tune", "mutate", "crossover", "simplify", "llm_diff"]
FAILURES = [
    (EvalStatus.FAILED, "ValueError: disks {a} and {b} overlap"),
    (EvalStatus.FAILED, "ValueError: negative radius at index {a}"),
    (EvalStatus.TIMEOUT, "timed out after 10 s"),
    (EvalStatus.INVALID, "combined_score is NaN"),
    (EvalStatus.REJECTED, "duplicate of i{a:06d}"),
    (EvalStatus.REJECTED, "simplify produced no change"),
]
GOAL_API_MS = 200.0
GOAL_PAINT_MS = 1000.0


def build_run(run_dir: Path, programs: int, seed: int) -> None:
    """A run database of ``programs`` programs with realistic shapes and outcomes."""
    rng = random.Random(seed)
    problem = load_problem(PROBLEM)
    config = resolve_config(problem_layer=problem.config_layer)
    run_dir.mkdir(parents=True, exist_ok=True)
    db = RunDatabase(run_dir / RunDatabase.FILENAME, create=True)
    db.set_meta(
        {
            "config": config.model_dump_json(),
            "problem_name": "circle_packing (synthetic)",
            "problem_dir": str(PROBLEM),
            "created_at": repr(time.time()),
        }
    )
    archive = Archive(config.archive)
    bandit = make_bandit(OPERATORS, config.bandit)
    base = problem.initial_code
    started = time.time() - programs * 0.05
    scored: list[Program] = []
    for seq in range(programs):
        code = base + f"\n# variant {seq}\n"
        parent = None if seq == 0 else rng.choice(scored[-500:])
        failure = None if seq == 0 or rng.random() < 0.7 else rng.choice(FAILURES)
        score = None
        if failure is None:
            drift = 0.0 if parent is None else float(parent.score or 0.0)
            score = max(0.1, (drift or 2.0) + rng.gauss(0.0, 0.01))
        reason = "" if failure is None else failure[1].format(a=rng.randrange(seq or 1), b=seq)
        program = Program(
            id="seed" if seq == 0 else f"i{seq:06d}",
            code=code,
            code_hash=code_hash(code),
            seq=seq,
            iteration=seq,
            parent_id=None if parent is None else parent.id,
            operator="seed" if seq == 0 else rng.choice(OPERATORS),
            island=0 if seq == 0 else seq % config.archive.num_islands,
            generation=0 if parent is None else parent.generation + 1,
            status=EvalStatus.OK if failure is None else failure[0],
            reason=reason,
            score=score,
            metrics={} if score is None else {"combined_score": score, "min_radius": score / 30},
            features={"complexity": 200.0 + rng.random() * 80, "min_radius": rng.random() * 0.12},
            artifacts={} if failure is None else {"stderr": reason * 3},
            eval_time_s=0.2,
            created_at=started + seq * 0.05,
        )
        outcome: InsertOutcome | None = None
        if score is not None:
            outcome = archive.insert(program, program.island)
            if seq == 0:
                for island in range(1, config.archive.num_islands):
                    archive.insert(program, island)
            scored.append(program)
        calls = []
        if program.operator == "llm_diff":
            calls.append(
                LLMCallRecord(
                    model=rng.choice(["small-model", "large-model"]),
                    operator="llm_diff",
                    prompt="improve this program\n" + code[:2000],
                    response="<<<<<<< SEARCH\n=======\n>>>>>>> REPLACE",
                    tokens_in=1500,
                    tokens_out=200,
                    latency_s=rng.uniform(0.5, 4.0),
                    cost=0.001,
                    outcome=CallOutcome.OK if rng.random() < 0.9 else CallOutcome.TIMEOUT,
                    error="",
                    attempt=1,
                    completions=1,
                    created_at=program.created_at,
                )
            )
        reward = None if seq == 0 else (0.5 if outcome and outcome.improvement > 0 else 0.0)
        if reward is not None:
            bandit.update(program.operator, reward)
        db.commit_step(
            program,
            evaluated=failure is None or failure[0] is not EvalStatus.REJECTED,
            outcome=outcome,
            reward=reward,
            llm_calls=calls,
            state={"bandit": bandit.state()} if seq % 100 == 0 else None,
        )
    db.set_state({"bandit": bandit.state(), "budget_iterations": programs + 99})
    db.close()


def append_steps(run_dir: Path, count: int) -> None:
    """Commit ``count`` more children, as a run still writing would."""
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    first = db.max_seq() + 1
    for seq in range(first, first + count):
        code = f"x = {seq}\n"
        db.commit_step(
            Program(
                id=f"i{seq:06d}",
                code=code,
                code_hash=code_hash(code),
                seq=seq,
                iteration=seq,
                parent_id="seed",
                operator="mutate",
                status=EvalStatus.FAILED,
                reason=f"ValueError: negative radius at index {seq % 26}",
                created_at=time.time(),
            ),
            evaluated=True,
            outcome=None,
            reward=0.0,
        )
    db.close()


def serve(run_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "evoforge.cli", "serve", str(run_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("open: "):
            return process, line.removeprefix("open: ").strip()
    raise RuntimeError("evoforge serve printed no URL")


def server_ms(response: httpx.Response) -> float:
    return float(response.headers["server-timing"].split("dur=")[1])


def time_api(url: str, best_id: str, run_dir: Path) -> dict[str, dict[str, float]]:
    paths = {
        "overview": "api/runs/0/overview",
        "archive": "api/runs/0/archive",
        "lineage": "api/runs/0/lineage",
        "program": f"api/runs/0/programs/{best_id}",
        "programs": "api/runs/0/programs?limit=20",
        "program-counts": "api/runs/0/program-counts",
        "operators": "api/runs/0/operators",
        "models": "api/runs/0/models",
        "compare": "api/compare",
        "version": "api/runs/0/version",
    }
    result = {}
    with httpx.Client(timeout=60) as client:
        for name, path in paths.items():
            first = client.get(url + path)
            first.raise_for_status()
            again = [server_ms(client.get(url + path)) for _ in range(5)]
            result[name] = {
                "first_ms": round(server_ms(first), 1),
                "cached_median_ms": round(statistics.median(again), 2),
                "bytes": len(first.content),
            }
        live: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(5):
            append_steps(run_dir, 10)
            for name, path in paths.items():
                live[name].append(server_ms(client.get(url + path)))
    for name, times in live.items():
        result[name]["after_new_steps_median_ms"] = round(statistics.median(times), 1)
    return result


def time_recompute(run_dir: Path, best_id: str, repeats: int) -> dict[str, float]:
    """Median in-process time of each answer computed from nothing (a whole-run read)."""
    reader = RunReader(run_dir)
    work = {
        "overview (whole run)": lambda: RunTracker(reader).overview(),
        "archive (whole run)": lambda: ArchiveReplay(reader).islands(),
        "operators (whole run)": lambda: RunTracker(reader).operators(),
        "lineage": lambda: views.lineage(reader),
        "program": lambda: views.program(reader, best_id),
        "models": lambda: views.models(reader),
    }
    result = {}
    for name, compute in work.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            compute()
            times.append((time.perf_counter() - started) * 1000.0)
        result[name] = round(statistics.median(times), 1)
    reader.close()
    return result


def time_paint(url: str, chromium: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    samples: list[dict[str, float]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=flags)
        for _ in range(5):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(url + "#/run/0/overview")
            page.wait_for_selector("[data-testid=best-score]")
            samples.append(
                page.evaluate(
                    """() => ({
                        fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
                        view: performance.getEntriesByName('evoforge-first-view')[0].startTime,
                    })"""
                )
            )
            context.close()
        browser.close()
    return {
        "first_contentful_paint_ms": round(statistics.median(s["fcp"] for s in samples), 1),
        "overview_on_screen_ms": round(statistics.median(s["view"] for s in samples), 1),
        "overview_on_screen_worst_ms": round(max(s["view"] for s in samples), 1),
    }


def write_record(out: Path, record: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    api = record["api"]
    lines = [
        "# Web view timings",
        "",
        f"`python benchmarks/web_pages.py` on {record['machine']}, {record['date']}: a run of "
        f"{record['programs']:,} programs (built through the storage API), served by "
        "`evoforge serve` and opened in headless Chromium. Goals: every API answer "
        f"<= {GOAL_API_MS:.0f} ms of server time, the overview on screen <= "
        f"{GOAL_PAINT_MS:.0f} ms.",
        "",
        f"Server time per answer (ms, from its `Server-Timing` header; the first request "
        f"{record['settle_s']:g} s after the server started; 'after new steps': median over 5 "
        "rounds of 10 steps committed by a writer, then one request):",
        "",
        "| API answer | first | cached (median) | after new steps | size (bytes) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in api.items():
        lines.append(
            f"| {name} | {row['first_ms']} | {row['cached_median_ms']} | "
            f"{row['after_new_steps_median_ms']} | {row['bytes']:,} |"
        )
    lines += [
        "",
        "Each answer computed from nothing in-process (median of 3; what `serve` does once per"
        " run at start, in the background, and `report` once):",
        "",
        "| answer | ms |",
        "| --- | ---: |",
        *[f"| {name} | {ms} |" for name, ms in record["recompute_ms"].items()],
        "",
        "| overview page in Chromium | ms |",
        "| --- | ---: |",
        *[f"| {name} | {ms} |" for name, ms in record["paint"].items()],
        "",
        f"Slowest served answer: {record['slowest_api_ms']} ms "
        f"({'meets' if record['slowest_api_ms'] <= GOAL_API_MS else 'misses'} the goal); "
        f"overview on screen: {record['paint']['overview_on_screen_ms']} ms "
        f"({'meets' if record['paint']['overview_on_screen_ms'] <= GOAL_PAINT_MS else 'misses'}"
        " the goal). Building the database took "
        f"{record['build_s']} s.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds between starting the server and the first request (it reads the run)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evoforge-web-bench-"))
    try:
        run_dir = work / "run"
        started = time.perf_counter()
        build_run(run_dir, args.programs, args.seed)
        build_s = round(time.perf_counter() - started, 1)
        reader = RunReader(run_dir)
        best_id = str(views.overview(reader)["best_id"])
        reader.close()
        recompute = time_recompute(run_dir, best_id, repeats=3)
        process, url = serve(run_dir)
        try:
            time.sleep(args.settle)
            api = time_api(url, best_id, run_dir)
            paint = time_paint(url, args.chromium)
        finally:
            process.terminate()
            process.wait(timeout=30)
        record = {
            "programs": args.programs,
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "build_s": build_s,
            "api": api,
            "slowest_api_ms": max(
                max(row["first_ms"], row["after_new_steps_median_ms"]) for row in api.values()
            ),
            "settle_s": args.settle,
            "recompute_ms": recompute,
            "paint": paint,
        }
        write_record(args.out, record)
        print(json.dumps(record, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
