"""The run's progress display: what it prints besides the bar."""

from __future__ import annotations

import pytest

from evoforge.report.progress import RichReporter

NOTICE = (
    "isolation: isolated (the candidate runs in its own jailed process and reaches the "
    "evaluator only through the channel)"
)


def test_a_note_stays_on_one_line_in_a_narrow_pipe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    reporter = RichReporter()
    assert reporter.console.width == 30
    reporter.note(NOTICE)
    assert capsys.readouterr().err.splitlines() == [NOTICE]
