"""Make docs/web-overview.png: the web view's overview page of a run, as the README shows it.

    python docs/web_overview.py RUN_DIR [--out docs/web-overview.png]

Serves RUN_DIR with ``evoforge serve`` on a free loopback port, opens the overview in
headless Chromium (Debian's ``chromium``, or the binary named by ``EVOFORGE_CHROMIUM``)
through Playwright (the ``dev`` extra), waits for its charts, and saves a 1200 x 760
screenshot. The README's picture is of a ``make demo`` run (``runs/demo``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WIDTH, HEIGHT = 1200, 760


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def chromium() -> str:
    """The Chromium binary to drive, or exit 2 saying how to get one."""
    named = os.environ.get("EVOFORGE_CHROMIUM")
    found = named or next(
        (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
    )
    if not found:
        sys.exit("error: no Chromium found (apt-get install chromium, or set EVOFORGE_CHROMIUM)")
    return found


def wait_until_up(url: str, seconds: float = 30.0) -> None:
    """Return once ``url`` answers; exit 2 when it does not within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"error: {url} did not answer within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("web-overview.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    evoforge = [sys.executable, "-m", "evoforge"]
    server = subprocess.Popen(
        [*evoforge, "serve", str(args.run_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        wait_until_up(base)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium(), args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(base)
            page.wait_for_selector("svg")
            page.wait_for_timeout(500)  # the last chart's drawing
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
