"""Real runs, a real ``evoforge serve`` process and headless Chromium for the web tests.

The browser is Debian's ``chromium`` (``.ci/run`` installs it when missing), driven by
Playwright's Python package with ``executable_path``: no browser is ever downloaded. The
browser tests skip, saying why, only when no Chromium binary can be found. Screenshots go
to ``$EVOFORGE_TEST_ARTIFACTS`` (default ``runs/test-artifacts/web``, not committed).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import evoforge

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "circle_packing"
HOSTILE = Path(__file__).resolve().parent / "problems" / "hostile"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The Chromium binary to drive: $EVOFORGE_CHROMIUM, then the usual names on PATH."""
    given = os.environ.get("EVOFORGE_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def artifacts_dir() -> Path:
    target = Path(
        os.environ.get("EVOFORGE_TEST_ARTIFACTS", REPO / "runs" / "test-artifacts" / "web")
    )
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished demo-sized run of the circle-packing example (60 children, 2 islands)."""
    run_dir = tmp_path_factory.mktemp("web") / "circles"
    evoforge.run(EXAMPLE, iterations=60, seed=1, out=run_dir, fresh=True)
    return run_dir


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run whose code, stdout and failure reasons carry markup."""
    run_dir = tmp_path_factory.mktemp("web") / "hostile"
    evoforge.run(HOSTILE, out=run_dir, fresh=True)
    return run_dir


def evoforge_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "evoforge.cli", *args]


class Server:
    """``evoforge serve`` in a child process; ``url`` is what it printed to open."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            evoforge_command("serve", *args, "--port", "0"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stream = self.process.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
        self.output: list[str] = []
        while True:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"evoforge serve printed no URL: {self.output}") from None
            self.output.append(line)
            if line.startswith("open: "):
                self.url = line.removeprefix("open: ").strip()
                return

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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


@dataclass
class Watched:
    """A page with everything it reported: console errors, page errors, dialogs."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)


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
