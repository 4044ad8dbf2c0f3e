"""Helpers of the web tests: finding Chromium, a served run, a watched page."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "circle_packing"
HOSTILE = Path(__file__).resolve().parent / "problems" / "hostile"
SPLITS = REPO / "tests" / "e2e" / "problems" / "split_curve_fit"
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

DEEP_FLAT = 300
DEEP_CLIMB = 300
"""The programs :func:`deep_run` adds under the best of ``small_run``: a flat stretch
that never raises the best, then a climb that raises it every fifth program."""


def deep_scores(start: float) -> list[float]:
    """The scores of :func:`deep_run`'s chain, below a best of ``start``: the flat stretch
    below it, then the climb, whose rises (0.001 to 0.013) differ so that the largest can
    be told apart; the last program is the best of the run."""
    scores: list[float] = []
    best = start
    for j in range(1, DEEP_FLAT + 1):
        scores.append(start - 0.01 * (1 + j % 7))
    for j in range(1, DEEP_CLIMB + 1):
        if j % 5 == 0:
            best += 0.001 * (1 + (j // 5 * 7) % 13)
            scores.append(best)
        else:
            scores.append(best - 0.002 * (1 + j % 3))
    return scores


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


@dataclass
class Watched:
    """A page with everything it reported: console errors, page errors, dialogs."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)
