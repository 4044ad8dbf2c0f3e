"""The scrubber on its own, and a real run whose evaluator leaks a token, a private path
and its own source into errors and stderr: none of it reaches an exported field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evoforge.export import ExportOptions, export_runs, hygiene
from evoforge.export.hygiene import Scrubber

from .conftest import EXAMPLES, INTERNAL_LINE, LEAKED_TOKEN, PRIVATE_PATH, Run

EVALUATOR = b"""import json
GOLDEN_ANSWERS = [0.125, 0.25, 0.5, 1.0, 2.0]
def evaluate(path):
    assert abs(result - GOLDEN_ANSWERS[3]) < 1e-9, "wrong"
"""
PROGRAM = "import numpy as np\n# EVOLVE-BLOCK-START\nx = np.arange(3) / 2\n# EVOLVE-BLOCK-END\n"
TRACEBACK = """Traceback (most recent call last):
  File "/tmp/evoforge-sandbox-1-abc/program.py", line 3, in <module>
    x = np.arange(3) / 2
  File "/home/bob/problems/p/evaluator.py", line 4, in evaluate
    assert abs(result - GOLDEN_ANSWERS[3]) < 1e-9, "wrong"
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
AssertionError: wrong
"""


def _scrubber(**environment: str) -> Scrubber:
    return Scrubber(
        problem_files={"evaluator.py": EVALUATOR, "initial_program.py": PROGRAM.encode()},
        program_codes=[PROGRAM],
        environment=environment,
        known_paths=["/srv/runs/demo"],
    )


def test_foreign_traceback_frames_and_evaluator_lines_are_removed() -> None:
    text = _scrubber().scrub(TRACEBACK)
    assert text == (
        "Traceback (most recent call last):\n"
        '  File "program.py", line 3, in <module>\n'
        "    x = np.arange(3) / 2\n"
        "AssertionError: wrong\n"
    )
    quoted = _scrubber().scrub("see GOLDEN_ANSWERS = [0.125, 0.25, 0.5, 1.0, 2.0]\nok\n")
    assert quoted == "see GOLDEN_ANSWERS = [0.125, 0.25, 0.5, 1.0, 2.0]\nok\n"
    alone = _scrubber().scrub("    GOLDEN_ANSWERS = [0.125, 0.25, 0.5, 1.0, 2.0]\nok\n")
    assert alone == "ok\n"


def test_secrets_paths_and_urls_are_removed_and_code_is_left_alone() -> None:
    scrubber = _scrubber(MY_SERVICE_TOKEN="tok-4f9a8b7c6d", HOME_DIR="/home/carol")
    text = scrubber.scrub(
        "token tok-4f9a8b7c6d and sk-abcdefghijklmnop0123 and ghp_abcdefghijklmnopqrstuvwx12\n"
        "password = hunter2hunter2 at http://10.0.0.5:8000/v1 in /srv/runs/demo/run.sqlite\n"
        "wrote ~/notes/today.txt and C:\\Users\\carol\\data.csv; x = a/b/c; y = 1 / 2\n"
    )
    assert "tok-4f9a8b7c6d" not in text and "sk-abc" not in text and "ghp_" not in text
    assert "hunter2" not in text and "10.0.0.5" not in text and "/srv/" not in text
    assert "carol" not in text and "~/notes" not in text
    assert "today.txt" in text and "data.csv" in text and "run.sqlite" in text
    assert "x = a/b/c; y = 1 / 2" in text
    assert scrubber.is_clean(PROGRAM)
    assert not scrubber.is_clean('open("/home/dave/data.txt")\n')


def test_code_that_names_tokens_or_divides_is_not_taken_for_a_secret_or_a_path() -> None:
    """Programs are checked with is_clean: ordinary code must pass, or its examples are
    dropped for holding a secret they do not hold."""
    scrubber = _scrubber()
    for code in (
        "token_count = len(x)\n",
        "tokens = text.split()\n",
        "secret_sauce = compute(x)\n",
        "token = self.token\n",
        "api_key_index = keys[3]\n",
        "y = (a + b) /scale/ 2\n",
    ):
        assert scrubber.is_clean(code), code
    for code in ('password = "hunter2hunter2"\n', "token=abc123def\n", "api_key: s3cr3tvalue\n"):
        assert not scrubber.is_clean(code), code


def test_nothing_private_reaches_an_exported_field(leaky_run: Run, tmp_path: Path) -> None:
    failed = [p for p in leaky_run.programs.values() if p.status.value == "failed"]
    assert failed, "the leaky evaluator must have failed some children"
    raw = json.dumps([p.to_dict() for p in failed])
    assert LEAKED_TOKEN in raw and PRIVATE_PATH in raw and "evaluator.py" in raw
    forbidden = [
        LEAKED_TOKEN,
        PRIVATE_PATH,
        "/home/",
        "/tmp/",
        "evaluator.py",
        "REFERENCE_COEFFICIENTS_FOR_GRADING",
        INTERNAL_LINE,
        str(leaky_run.directory),
        str(Path.home()),
    ]
    for fmt in ("sft", "preference", "traces"):
        out = tmp_path / fmt
        export_runs([leaky_run.directory], out, ExportOptions(format=fmt))
        for path in sorted(out.iterdir()):
            text = path.read_text()
            for secret in forbidden:
                assert secret not in text, f"{secret!r} leaked into {fmt}/{path.name}"
    traces = (tmp_path / "traces" / "train.jsonl").read_text()
    assert "first prediction too low" in traces  # the evaluator's message itself stays
    assert "<redacted>" in traces and "answers.csv" in traces


class _CountingPattern:
    """A compiled pattern that counts the substitutions asked of it."""

    def __init__(self, pattern: re.Pattern[str], calls: list[str]) -> None:
        self._pattern = pattern
        self._calls = calls
        self.flags = pattern.flags

    def sub(self, replacement: Any, text: str) -> str:
        self._calls.append(self._pattern.pattern)
        return self._pattern.sub(replacement, text)


def _count_pattern_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(
        hygiene,
        "_SECRET_PATTERNS",
        tuple(_CountingPattern(p, calls) for p in hygiene._SECRET_PATTERNS),
    )
    for name in ("_ASSIGNED_SECRET_RE", "_URL_RE", "_POSIX_PATH_RE", "_WINDOWS_PATH_RE"):
        monkeypatch.setattr(hygiene, name, _CountingPattern(getattr(hygiene, name), calls))
    return calls


def test_ordinary_code_runs_no_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """A program or prompt holding nothing a pattern could match is not scanned by it:
    each pattern's leading ``\\b`` or look-behind made the regex engine try every
    position, and an export of a run of a few thousand model children spent minutes
    there."""
    calls = _count_pattern_runs(monkeypatch)
    code = (EXAMPLES / "circle_packing" / "initial_program.py").read_text()
    assert "/" in code and "http" not in code  # divisions, no path: nothing to scrub
    scrubber = _scrubber(MY_SERVICE_TOKEN="tok-4f9a8b7c6d")
    assert scrubber.is_clean(code)
    assert scrubber.scrub("## Current program\n```python\n" + code + "```\n") != ""
    assert calls == []
    assert scrubber.scrub("see https://example.org/x and sk-abcdefghijklmnop0123") == (
        "see <url> and <redacted>"
    )
    assert len(calls) == 2  # the key's pattern and the URL's, no other


def _scrub_everywhere(text: str) -> str:
    """The rules of :meth:`Scrubber.scrub` past its frame and line removal, every
    pattern run on every text (what it did before it looked for needles)."""
    for pattern in hygiene._SECRET_PATTERNS:
        text = pattern.sub("<redacted>", text)
    text = hygiene._ASSIGNED_SECRET_RE.sub(hygiene._redact_assigned, text)
    text = hygiene._URL_RE.sub("<url>", text)
    text = re.sub(re.escape("/srv/runs/demo") + r"(?![\w.@+%-])/?", "", text)
    text = hygiene._POSIX_PATH_RE.sub(lambda m: m.group(1) or m.group(2) or "", text)
    return hygiene._WINDOWS_PATH_RE.sub(lambda m: m.group(1), text)


@pytest.mark.parametrize(
    "text",
    [
        "apı_key = 'abcdefgh12'",  # dotless i: IGNORECASE takes it for i
        "APİ_KEY = 'abcdefgh12'",  # dotted capital I
        "api_\u212aey = 'abcdefgh12'",  # Kelvin sign: IGNORECASE takes it for k
        "\u017fecret = 'abcdefgh12'",  # long s
        "BEARER abcdefghijkl0123 and Bearer   x.y.z-0123456789",
        "TOKEN: abcdefghijk, PassWd=qwertyuiop",
        "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----",
        "ghp_abcdefghijklmnopqrstuvwx12 gho_abcdefghijklmnopqrstuvwx12",
        "xoxb-0123456789ab AKIAABCDEFGHIJKLMNOP AIza" + "a" * 31,
        "hf_abcdefghijklmnopqrstu eyJabcdefghijk.abcdefghijk.abcdefghijk",
        "github_pat_abcdefghijklmnopqrstuv sk-abcdefghijklmnopq pk-abcdefghijklmnopq",
        "s3://bucket/key and git+ssh://host/x at /srv/runs/demo/run.sqlite",
        "~/notes/today.txt /home/carol x = a/b/c; y = 1 / 2; (a + b) /scale/ 2",
        "C:\\Users\\carol\\data.csv and D:\\x\\",
        "sk-<redacted>abcdefghijklmnopq token=<redacted>secretvalue",
    ],
)
def test_needles_never_skip_a_match(text: str) -> None:
    """Looking for needles first changes nothing a pattern would have found, case
    folding included."""
    assert _scrubber().scrub(text) == _scrub_everywhere(text)
