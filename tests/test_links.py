"""Every relative link in the project's Markdown files names a file that is committed.

The README and the records in ``benchmarks/results/`` cite each figure's record by a
link; a record left out of its commit, or moved, leaves a figure without its source.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def committed_markdown() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    return listed.stdout.split()


def relative_targets(text: str) -> list[str]:
    """The link targets of Markdown ``text`` that name a path in the repository (outside
    fenced code; no scheme, no bare ``#anchor``), without their ``#fragment``."""
    targets = []
    for match in LINK.finditer(FENCE.sub("", text)):
        target = match.group(1)
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_relative_targets_skip_addresses_anchors_and_code() -> None:
    text = (
        "[a](records/x.json) [b](https://example.org/y) [c](#section) "
        "![plot](plots/p.png) [d](../other/README.md#the-table)\n"
        "```sh\n[not a link](inside/code.md)\n```\n"
    )
    assert relative_targets(text) == ["records/x.json", "plots/p.png", "../other/README.md"]


def test_every_relative_link_names_a_committed_file() -> None:
    files = committed_markdown()
    assert "README.md" in files
    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split("\n")
    )
    broken = []
    for name in files:
        source = ROOT / name
        for target in relative_targets(source.read_text(encoding="utf-8")):
            path = (source.parent / target).resolve()
            try:
                relative = path.relative_to(ROOT).as_posix()
            except ValueError:
                broken.append(f"{name}: {target} (outside the repository)")
                continue
            is_folder = any(entry.startswith(relative + "/") for entry in tracked)
            if relative not in tracked and not is_folder:
                broken.append(f"{name}: {target}")
    assert not broken, "links to files that are not committed:\n" + "\n".join(broken)
