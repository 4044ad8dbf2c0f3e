"""``evoforge report``: the web view's pages as one self-contained HTML file.

The file carries the viewer's own script and style sheet inline, the answers the pages
need as one JSON block (``type="application/json"``: data, never executed), and a content
security policy that allows exactly that script and that style sheet by their SHA-256
hashes and nothing else: no network, no other script. Candidate text inside the JSON has
every ``<``, ``>`` and ``&`` escaped, so it cannot close the block.

The programs included are the final choice of a run with instance splits, the best
program's lineage, the archive's elites, the latest programs and the examples of the top
failure reasons (at most :data:`MAX_PROGRAMS`). A program whose parent is included too
carries its code as the lines it changed (:func:`_share_code`), so the report of a long
program grows with what evolution changed, not with the program's size times the programs
shown.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from evoforge.atomic_files import write_text_atomically
from evoforge.report import views
from evoforge.report.archive_view import ArchiveReplay
from evoforge.report.reader import RunReader

MAX_PROGRAMS = 150
RECENT_PROGRAMS = 20


def _static(name: str) -> str:
    return (resources.files("evoforge.web") / "static" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _json_for_html(data: Any) -> str:
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def report_data(reader: RunReader) -> dict[str, Any]:
    """The API answers the report's pages read, keyed by their API path."""
    base = "/api/runs/0"
    overview = views.overview(reader)
    islands = ArchiveReplay(reader).islands()
    lineage = views.lineage(reader)
    recent = views.programs(reader, limit=RECENT_PROGRAMS)
    data: dict[str, Any] = {
        "written_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "/api/runs": [
            {
                "index": 0,
                "run": overview["run"],
                "problem": overview["problem"],
                "best_score": overview["best_score"],
                "programs": overview["programs"],
                "stop_reason": overview["stop_reason"],
            }
        ],
        "/api/compare": [
            {
                "index": 0,
                "run": overview["run"],
                "problem": overview["problem"],
                "best_score": overview["best_score"],
                "curve": overview["best_curve"],
            }
        ],
        f"{base}/overview": overview,
        f"{base}/archive": islands,
        f"{base}/operators": views.operators(reader),
        f"{base}/models": views.models(reader),
        f"{base}/programs?limit={RECENT_PROGRAMS}": recent,
    }
    final = overview["final_choice"]
    wanted: list[str] = (  # the overview links the final choice and the best by search score
        [] if final is None else [final["program_id"], final["best_search_program_id"]]
    )
    if lineage is not None:
        data[f"{base}/lineage"] = lineage
        wanted += [node["id"] for node in reversed(lineage["nodes"])]
    wanted += [entry["example_id"] for side in overview["reasons"].values() for entry in side]
    wanted += [p["id"] for p in recent]
    elites = sorted(
        (cell for island in islands for cell in island["cells"]),
        key=lambda cell: -(cell["score"] or 0.0),
    )
    wanted += [cell["program_id"] for cell in elites]
    for program_id in dict.fromkeys(wanted):
        if sum(key.startswith(f"{base}/programs/") for key in data) >= MAX_PROGRAMS:
            break
        program = views.program(reader, program_id)
        if program is not None:
            data[f"{base}/programs/{program_id}"] = program
            chain = views.lineage(reader, program_id)
            if chain is not None:
                data[f"{base}/lineage?program={program_id}"] = chain
    return data


def _share_code(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the code of each program whose parent is in the report too given as
    a ``code_patch``: the parent's key, how many of the parent's lines (split at each
    newline) start and end the child (``head``, ``tail``) and the child's lines between
    them. The viewer rebuilds the code exactly (``rebuildCode`` in ``app.js``); a
    program of many lines, changed in a few, is stored about once, not once per program."""
    prefix = "/api/runs/0/programs/"
    codes = {key: value["code"] for key, value in data.items() if key.startswith(prefix)}
    shared = dict(data)
    for key, code in codes.items():
        parent_key = f"{prefix}{data[key]['parent_id']}"
        if data[key]["parent_id"] is None or parent_key not in codes:
            continue
        lines, parent_lines = code.split("\n"), codes[parent_key].split("\n")
        most = min(len(lines), len(parent_lines))
        head = 0
        while head < most and lines[head] == parent_lines[head]:
            head += 1
        tail = 0
        while tail < most - head and lines[-1 - tail] == parent_lines[-1 - tail]:
            tail += 1
        program = {name: value for name, value in data[key].items() if name != "code"}
        program["code_patch"] = {
            "parent": parent_key,
            "head": head,
            "tail": tail,
            "lines": lines[head : len(lines) - tail],
        }
        shared[key] = program
    return shared


LINEAGE_NODES = "lineage_nodes"
"""The key of the report's table of lineage nodes (:func:`_share_lineages`)."""


def _share_lineages(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every lineage answer given as ``{"program_id", "lineage_from"}`` and
    its nodes in one table under :data:`LINEAGE_NODES`, keyed by program id. The viewer
    rebuilds an answer (``rebuildLineage`` in ``app.js``) by following ``parent_id``
    from ``lineage_from`` through the table while a node is found, seed last, then
    reversing: a node's fields (its ``gain`` over its parent included) are the same in
    every lineage that holds it, so the rebuilt answer is the one given."""
    prefix = "/api/runs/0/lineage"
    shared = dict(data)
    nodes: dict[str, dict[str, Any]] = {}
    for key, answer in data.items():
        if key != prefix and not key.startswith(prefix + "?"):
            continue
        chain = answer["nodes"]
        for node in chain:
            nodes.setdefault(node["id"], node)
        shared[key] = {"program_id": answer["program_id"], "lineage_from": chain[-1]["id"]}
    if nodes:
        shared[LINEAGE_NODES] = nodes
    return shared


def render_report(run_dir: Path) -> str:
    """The report of ``run_dir`` as one HTML document (read-only on the run)."""
    reader = RunReader(run_dir)
    try:
        data = report_data(reader)
    finally:
        reader.close()
    script = _static("app.js")
    style = _static("app.css")
    policy = (
        f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    title = f"evoforge report: {data['/api/runs'][0]['run']}"
    escaped_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escaped_title}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f"<style>{style}</style>\n"
        "</head>\n<body>\n"
        '<header><a class="brand" href="#/">evoforge</a><nav id="nav"></nav>'
        '<span id="live" class="live"></span></header>\n'
        '<main id="view"><p class="muted">loading…</p></main>\n'
        '<script type="application/json" id="evoforge-data">'
        f"{_json_for_html(_share_lineages(_share_code(data)))}</script>\n"
        f"<script>{script}</script>\n"
        "</body>\n</html>\n"
    )


def write_report(run_dir: Path, out: Path) -> Path:
    """Write the report of ``run_dir`` to ``out`` (whole: a reader never finds part of
    it) and return ``out``."""
    write_text_atomically(out, render_report(run_dir))
    return out
