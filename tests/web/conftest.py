"""Real runs, a real ``evoforge serve`` process and headless Chromium for the web tests.

The browser is Debian's ``chromium`` (``.ci/run`` installs it when missing), driven by
Playwright's Python package with ``executable_path``: no browser is ever downloaded. The
browser tests skip, saying why, only when no Chromium binary can be found. Screenshots go
to ``$EVOFORGE_TEST_ARTIFACTS`` (default ``runs/test-artifacts/web``, not committed).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evoforge.program import EvalStatus, Program, code_hash
from evoforge.storage.db import RunDatabase

from .support import (
    CHROMIUM_FLAGS,
    DEEP_FLAT,
    EXAMPLE,
    HOSTILE,
    SPLITS,
    Server,
    Watched,
    deep_scores,
    evoforge_command,
    find_chromium,
)


def _run(*args: str, env: dict[str, str] | None = None) -> None:
    """A run through the real command, in its own process (Playwright's sync API holds
    this process's event loop, so a run may not start one here)."""
    subprocess.run(
        evoforge_command(*args, "--quiet"),
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished demo-sized run of the circle-packing example (60 children, 2 islands).

    One worker makes it the same run every time: its best program is a child of another
    (the pages with a diff and a lineage need one); on two workers the order of the
    children depends on timing, and a loaded machine once left the seed the best."""
    run_dir = tmp_path_factory.mktemp("web") / "circles"
    _run(
        "run", str(EXAMPLE), "--iterations", "60", "--seed", "1", "--workers", "1",
        "--out", str(run_dir),
    )  # fmt: skip
    return run_dir


@pytest.fixture(scope="session")
def deep_run(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``small_run`` whose best has a line of 600 more descendants
    (:func:`deep_scores`), the last of them the run's best: a lineage as deep as a long
    run's, written in a second."""
    run_dir = tmp_path_factory.mktemp("web") / "deep"
    shutil.copytree(small_run, run_dir)
    conn = sqlite3.connect(run_dir / RunDatabase.FILENAME)
    parent, start = conn.execute(
        "SELECT id, score FROM programs WHERE status = 'ok' ORDER BY score DESC LIMIT 1"
    ).fetchone()
    seq, iteration = conn.execute("SELECT MAX(seq), MAX(iteration) FROM programs").fetchone()
    conn.close()
    writer = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        for k, score in enumerate(deep_scores(start), start=1):
            code = f"# deep {k}\n"
            child = Program(
                id=f"d{k:04d}",
                code=code,
                code_hash=code_hash(code),
                seq=seq + k,
                iteration=iteration + k,
                parent_id=parent,
                operator="tune" if k > DEEP_FLAT and k % 5 == 0 else "mutate",
                status=EvalStatus.OK,
                score=score,
            )
            writer.commit_step(child, evaluated=True, outcome=None, reward=0.0)
            parent = child.id
    finally:
        writer.close()
    return run_dir


@pytest.fixture(scope="session")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run whose llm_* operators asked the offline oracle model (16 children)."""
    from evoforge.llm.oracle import start_oracle

    run_dir = tmp_path_factory.mktemp("web") / "with-model"
    oracle = start_oracle(port=0, seed=7)
    try:
        _run(
            "run", str(EXAMPLE), "--iterations", "16", "--out", str(run_dir),
            "--llm-base-url", oracle.url, "--model", "oracle",
            env={"OPENAI_API_KEY": "not-needed-by-the-oracle"},
        )  # fmt: skip
    finally:
        oracle.close()
    return run_dir


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run whose code, stdout and failure reasons carry markup."""
    run_dir = tmp_path_factory.mktemp("web") / "hostile"
    _run("run", str(HOSTILE), "--out", str(run_dir))
    return run_dir


@pytest.fixture(scope="session")
def split_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of a problem with instance splits: it made its final choice."""
    run_dir = tmp_path_factory.mktemp("web") / "splits"
    _run(
        "run", str(SPLITS), "--iterations", "10", "--seed", "3", "--workers", "1",
        "--out", str(run_dir),
    )  # fmt: skip
    return run_dir


@pytest.fixture
def pending_split_run(split_run: Path, tmp_path: Path) -> Path:
    """A copy of ``split_run`` as it is when the run stopped before its final choice (a
    SIGTERM while the holdout was scored): stopped, and no choice stored."""
    run_dir = tmp_path / "pending"
    shutil.copytree(split_run, run_dir)
    conn = sqlite3.connect(run_dir / RunDatabase.FILENAME)
    with conn:
        conn.execute("DELETE FROM state WHERE key = 'final_choice'")
    conn.close()
    return run_dir


@pytest.fixture(scope="module")
def server(small_run: Path) -> Iterator[Server]:
    started = Server(str(small_run))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium binary found (apt-get install chromium, or set EVOFORGE_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    result = Watched(page)
    page.on(
        "console",
        lambda m: result.errors.append(m.text) if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: result.errors.append(f"page error: {e}"))

    def on_dialog(dialog: Any) -> None:
        result.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield result
    context.close()
