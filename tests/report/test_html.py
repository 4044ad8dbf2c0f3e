"""The single-file report: its embedded answers give every program's code exactly."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evoforge.report.html import render_report, report_data
from evoforge.report.reader import RunReader

PROGRAMS = "/api/runs/0/programs/"


def _embedded(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="evoforge-data">(.*?)</script>', html)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _rebuilt_code(data: dict[str, Any], key: str) -> str:
    """What the viewer's ``rebuildCode`` does: the parent's lines kept at the start and at
    the end, the child's own lines between them."""
    answer = data[key]
    patch = answer.get("code_patch")
    if patch is None:
        code: str = answer["code"]
        return code
    parent = _rebuilt_code(data, patch["parent"]).split("\n")
    kept = parent[len(parent) - patch["tail"] :]
    return "\n".join(parent[: patch["head"]] + patch["lines"] + kept)


def test_the_report_stores_a_childs_code_as_its_change_and_gives_it_back_exactly(
    small_run: Path,
) -> None:
    with RunReader(small_run) as reader:
        answers = report_data(reader)
    html = render_report(small_run)
    embedded = _embedded(html)
    programs = [key for key in answers if key.startswith(PROGRAMS)]
    assert len(programs) > 10
    patched = [key for key in programs if "code_patch" in embedded[key]]
    assert patched  # children whose parent is in the report too
    for key in programs:
        assert _rebuilt_code(embedded, key) == answers[key]["code"]
        rest = {name: value for name, value in embedded[key].items() if name != "code_patch"}
        assert rest == {name: value for name, value in answers[key].items() if name != "code"} | (
            {} if key in patched else {"code": answers[key]["code"]}
        )
    stored = sum(len(json.dumps(embedded[key])) for key in programs)
    given = sum(len(json.dumps(answers[key])) for key in programs)
    assert stored < given
