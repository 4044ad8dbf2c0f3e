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


LINEAGES = "/api/runs/0/lineage"


def _rebuilt_lineage(data: dict[str, Any], key: str) -> dict[str, Any]:
    """What the viewer's ``rebuildLineage`` does: from the program the lineage ends at,
    follow ``parent_id`` through the shared node table, then put the seed first."""
    answer = data[key]
    table = data.get("lineage_nodes", {})
    nodes: list[dict[str, Any]] = []
    cursor = answer["lineage_from"]
    while cursor is not None and cursor in table and all(n["id"] != cursor for n in nodes):
        nodes.append(table[cursor])
        cursor = table[cursor]["parent_id"]
    return {"program_id": answer["program_id"], "nodes": nodes[::-1]}


def test_the_report_stores_each_lineage_node_once_and_gives_every_lineage_back_exactly(
    small_run: Path,
) -> None:
    """Every program shown carries its lineage, and lineages of one run share most of
    their ancestors: stored whole, they made the report grow with the programs shown
    times the lineages' depth (a megabyte at 10,000 programs, nine tenths of it
    lineages)."""
    with RunReader(small_run) as reader:
        answers = report_data(reader)
    embedded = _embedded(render_report(small_run))
    lineages = [key for key in answers if key == LINEAGES or key.startswith(LINEAGES + "?")]
    assert len(lineages) > 10
    for key in lineages:
        assert "nodes" not in embedded[key]
        assert _rebuilt_lineage(embedded, key) == answers[key]
    distinct = {node["id"] for key in lineages for node in answers[key]["nodes"]}
    given = sum(len(answers[key]["nodes"]) for key in lineages)
    assert len(embedded["lineage_nodes"]) == len(distinct) < given
