"""The web view's API through httpx against the ASGI app (no server process)."""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from evoforge.program import EvalStatus, Program, code_hash
from evoforge.report import views
from evoforge.report.reader import RunReader
from evoforge.runs import resume_run
from evoforge.splits import read_final
from evoforge.storage.db import RunDatabase
from evoforge.web.app import STATIC_DIR, create_app
from evoforge.web.security import TOKEN_COOKIE

from .support import DEEP_CLIMB, DEEP_FLAT, EXAMPLE

LOCAL = "http://127.0.0.1:8000"


def get(app: Any, path: str, *, base: str = LOCAL, **kwargs: Any) -> httpx.Response:
    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            return await client.get(path, **kwargs)

    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def app(small_run: Path) -> Any:
    return create_app([small_run])


@pytest.fixture(scope="module")
def reader(small_run: Path) -> Any:
    opened = RunReader(small_run)
    yield opened
    opened.close()


def test_every_endpoint_answers_what_the_views_compute(app: Any, reader: RunReader) -> None:
    best_id = views.overview(reader)["best_id"]
    expected = {
        "/api/runs/0/overview": {**views.overview(reader), "running_in": None},
        "/api/runs/0/lineage": views.lineage(reader),
        f"/api/runs/0/lineage?program={best_id}": views.lineage(reader, best_id),
        f"/api/runs/0/programs/{best_id}": views.program(reader, best_id),
        "/api/runs/0/programs?limit=7": views.programs(reader, limit=7),
        "/api/runs/0/operators": views.operators(reader),
        "/api/runs/0/models": views.models(reader),
        "/api/runs/0/program-counts": views.program_counts(reader),
    }
    for path, data in expected.items():
        response = get(app, path)
        assert response.status_code == 200, path
        assert response.json() == data, path


def test_runs_compare_archive_and_version(app: Any, small_run: Path, reader: RunReader) -> None:
    runs = get(app, "/api/runs").json()
    assert runs == [
        {
            "index": 0,
            "run": small_run.name,
            "problem": "circle_packing",
            "best_score": views.overview(reader)["best_score"],
            "programs": 61,
            "stop_reason": "iterations budget reached",
            "running_in": None,
        }
    ]
    compare = get(app, "/api/compare").json()
    assert compare[0]["curve"] == views.overview(reader)["best_curve"]
    archive = get(app, "/api/runs/0/archive").json()
    assert len(archive) == 2
    assert all(island["occupied"] == len(island["cells"]) > 0 for island in archive)
    version = get(app, "/api/runs/0/version").json()
    assert version["seq"] == 60


def test_unknown_run_or_program_is_404(app: Any) -> None:
    assert get(app, "/api/runs/3/overview").status_code == 404
    assert get(app, "/api/runs/0/programs/nope").status_code == 404
    assert get(app, "/api/runs/0/lineage?program=nope").status_code == 404


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=-1", "limit=501", "status=bogus", "status=", "limit=x", "before=-1"],
)
def test_a_bad_program_listing_query_is_a_client_error(app: Any, query: str) -> None:
    answer = get(app, f"/api/runs/0/programs?{query}")
    assert answer.status_code in (400, 422), answer.text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("order=worst", "order must be one of newest, best"),
        ("operator=", "operator must be a name of 1 to 200 characters"),
        ("operator=" + "x" * 201, "operator must be a name of 1 to 200 characters"),
        ("after=-3", "after must be a seq (0 or more)"),
        ("before=5&after=3", "give before or after, not both"),
        ("order=best&before=999999", "before must be the seq of a program with a score"),
        ("order=best&after=999999", "after must be the seq of a program with a score"),
    ],
)
def test_a_bad_browser_query_is_a_400_that_says_why(app: Any, query: str, says: str) -> None:
    answer = get(app, f"/api/runs/0/programs?{query}")
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["detail"]


def test_a_best_cursor_on_an_unscored_program_is_refused(app: Any, reader: RunReader) -> None:
    unscored = reader.one("SELECT seq FROM programs WHERE score IS NULL LIMIT 1")
    assert unscored is not None
    answer = get(app, f"/api/runs/0/programs?order=best&before={unscored[0]}")
    assert answer.status_code == 400 and "with a score" in answer.json()["detail"]


def _walk(app: Any, query: str, limit: int) -> tuple[list[str], list[list[dict[str, Any]]]]:
    """Every page of a listing, oldest-bound with before=; the ids in order and the pages."""
    pages = []
    page = get(app, f"/api/runs/0/programs?limit={limit}&{query}").json()
    while page:
        assert len(page) <= limit
        pages.append(page)
        page = get(app, f"/api/runs/0/programs?limit={limit}&{query}&before={page[-1]['seq']}")
        assert page.status_code == 200, page.text
        page = page.json()
    return [row["id"] for p in pages for row in p], pages


@pytest.mark.parametrize(
    ("query", "where", "sort"),
    [
        ("order=newest", "1", "seq DESC"),
        ("operator=mutate", "operator = 'mutate'", "seq DESC"),
        ("status=ok&operator=tune", "status = 'ok' AND operator = 'tune'", "seq DESC"),
        ("order=best", "score IS NOT NULL", "score DESC, seq DESC"),
        (
            "order=best&operator=mutate",
            "score IS NOT NULL AND operator = 'mutate'",
            "score DESC, seq DESC",
        ),
        ("order=best&status=ok", "score IS NOT NULL AND status = 'ok'", "score DESC, seq DESC"),
        (
            "order=best&status=failed",
            "score IS NOT NULL AND status = 'failed'",
            "score DESC, seq DESC",
        ),
    ],
)
def test_the_browser_pages_through_filters_and_orders_forth_and_back(
    app: Any, reader: RunReader, query: str, where: str, sort: str
) -> None:
    """Paging on (before=) lists each matching program once, in order; paging back
    (after= the first row's seq) gives each page as it was."""
    expected = [r[0] for r in reader.rows(f"SELECT id FROM programs WHERE {where} ORDER BY {sort}")]
    seen, pages = _walk(app, query, 4)
    assert seen == expected
    for newer, older in itertools.pairwise(pages):
        back = get(app, f"/api/runs/0/programs?limit=4&{query}&after={older[0]['seq']}").json()
        assert back == newer


def test_programs_written_between_pages_move_no_page(small_run: Path, tmp_path: Path) -> None:
    """A page keyed by a cursor is the same before and after the run writes programs
    (even a new best score, in the best-first order); only the first page shows them."""
    copy = tmp_path / "copy"
    shutil.copytree(small_run, copy)
    live = create_app([copy])
    queries = ("limit=5", "limit=5&order=best", "limit=5&operator=mutate", "limit=5&status=ok")
    first = {q: get(live, f"/api/runs/0/programs?{q}").json() for q in queries}
    second = {
        q: get(live, f"/api/runs/0/programs?{q}&before={first[q][-1]['seq']}").json()
        for q in queries
    }
    back = {
        q: get(live, f"/api/runs/0/programs?{q}&after={second[q][0]['seq']}").json()
        for q in queries
    }
    overview = get(live, "/api/runs/0/overview").json()
    writer = RunDatabase(copy / RunDatabase.FILENAME)
    try:
        for k in range(3):
            code = f"better = {k}\n"
            writer.commit_step(
                Program(
                    id=f"new{k}",
                    code=code,
                    code_hash=code_hash(code),
                    seq=overview["programs"] + k,
                    iteration=overview["iterations"] + 1 + k,
                    parent_id=overview["best_id"],
                    operator="mutate",
                    status=EvalStatus.OK,
                    score=overview["best_score"] + 1.0 + k,
                ),
                evaluated=True,
                outcome=None,
                reward=1.0,
            )
    finally:
        writer.close()
    for q in queries:
        assert get(live, f"/api/runs/0/programs?{q}").json()[0]["id"] == "new2"
        again = get(live, f"/api/runs/0/programs?{q}&before={first[q][-1]['seq']}").json()
        assert again == second[q]
        assert get(live, f"/api/runs/0/programs?{q}&after={second[q][0]['seq']}").json() == back[q]
        assert back[q] == first[q]


def test_listings_never_sort_the_matching_rows(small_run: Path) -> None:
    """Every filter and order of the browser walks an order the database keeps (the
    table's key, or the score index for best first) from its cursor: no sort of the
    matching rows, so a page costs the rows it passes, not the run's length."""
    reader = RunReader(small_run)
    plans: list[str] = []
    original = reader.rows

    def rows(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if sql.startswith("SELECT id,"):
            plans.append(
                " | ".join(str(r[3]) for r in original(f"EXPLAIN QUERY PLAN {sql}", params))
            )
        return original(sql, params)

    reader.rows = rows  # type: ignore[method-assign]
    try:
        for order in views.PROGRAM_ORDERS:
            for status in (None, "ok"):
                for operator in (None, "mutate"):
                    for cursor in ({}, {"before": 40}, {"after": 20}):
                        if order == "best" and cursor:
                            best = reader.one(
                                "SELECT seq FROM programs WHERE score IS NOT NULL LIMIT 1"
                            )
                            assert best is not None
                            cursor = {next(iter(cursor)): best[0]}
                        views.programs(
                            reader, status=status, operator=operator, order=order, limit=5, **cursor
                        )
    finally:
        reader.close()
    assert len(plans) == 24
    for plan in plans:
        assert "TEMP B-TREE" not in plan, plan
    assert all("programs_by_score" in plan for plan in plans[12:]), plans  # best first


def test_program_listings_by_status_and_limit(app: Any) -> None:
    rows = get(app, "/api/runs/0/programs?status=ok&limit=3").json()
    assert 1 <= len(rows) <= 3 and {row["status"] for row in rows} == {"ok"}


def test_program_listings_page_back_through_the_whole_run(app: Any, reader: RunReader) -> None:
    """A listing holds at most 500 programs: ``before`` (the last row's ``seq``) reaches
    the older ones of a run of any length, page by page, each program once."""
    every = [row[0] for row in reader.rows("SELECT id FROM programs ORDER BY seq DESC")]
    scored = [
        row[0]
        for row in reader.rows("SELECT id FROM programs WHERE status = 'ok' ORDER BY seq DESC")
    ]
    assert len(every) > len(scored) > 14
    for query, expected in (("limit=7", every), ("limit=7&status=ok", scored)):
        seen: list[str] = []
        page = get(app, f"/api/runs/0/programs?{query}").json()
        while page:
            assert len(page) <= 7
            seen += [row["id"] for row in page]
            page = get(app, f"/api/runs/0/programs?{query}&before={page[-1]['seq']}").json()
        assert seen == expected


def test_head_answers_as_get_without_a_body(app: Any) -> None:
    async def head(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as client:
            return await client.head(path)

    for path in ("/", "/favicon.ico", "/static/app.js", "/api/runs", "/api/runs/0/overview"):
        full = get(app, path)
        answer = asyncio.run(head(path))
        assert answer.status_code == full.status_code == 200, path
        assert answer.content == b"", path
        assert answer.headers["content-type"] == full.headers["content-type"], path
        assert answer.headers["content-length"] == str(len(full.content)), path
        assert "content-security-policy" in answer.headers, path
    missing = asyncio.run(head("/api/runs/99/overview"))
    assert missing.status_code == 404 and missing.content == b""


def test_every_answer_carries_a_strict_security_policy(app: Any) -> None:
    for path in ("/", "/static/app.js", "/static/app.css", "/api/runs/0/overview", "/nothing"):
        response = get(app, path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "default-src 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert re.fullmatch(r"app;dur=\d+\.\d+", response.headers["server-timing"])
    assert get(app, "/static/app.js").headers["content-type"].startswith("text/javascript")


def test_pages_hold_no_inline_script_or_handlers() -> None:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\ssrc=)", page) == []
    assert not re.search(r"\son\w+\s*=", page)
    assert "style=" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "everything is served locally"
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, f"app.js must not use {sink}"


def test_loopback_server_refuses_foreign_host_names(app: Any) -> None:
    assert get(app, "/api/runs", base="http://localhost:8000").status_code == 200
    assert get(app, "/api/runs", base="http://[::1]:8000").status_code == 200
    refused = get(app, "/api/runs", base="http://attacker.example:8000")
    assert refused.status_code == 403


def test_token_is_required_when_one_is_set(small_run: Path) -> None:
    token = "s3cret-token-value"
    guarded = create_app([small_run], token=token)
    base = "http://192.0.2.10:8000"
    assert get(guarded, "/api/runs", base=base).status_code == 401
    assert get(guarded, "/", base=base).status_code == 401
    assert get(guarded, "/api/runs?token=wrong", base=base).status_code == 401
    first = get(guarded, f"/?token={token}", base=base)
    assert first.status_code == 200
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}={token}")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    by_cookie = get(guarded, "/api/runs", base=base, headers={"Cookie": f"{TOKEN_COOKIE}={token}"})
    assert by_cookie.status_code == 200
    by_header = get(guarded, "/api/runs", base=base, headers={"Authorization": f"Bearer {token}"})
    assert by_header.status_code == 200
    wrong_cookie = get(guarded, "/api/runs", base=base, headers={"Cookie": f"{TOKEN_COOKIE}=x"})
    assert wrong_cookie.status_code == 401


def test_answers_follow_a_run_that_is_being_written(small_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small_run, copy)
    live = create_app([copy])
    before = get(live, "/api/runs/0/overview").json()
    counts_before = get(live, "/api/runs/0/program-counts").json()
    writer = RunDatabase(copy / RunDatabase.FILENAME)
    try:
        code = "better = True\n"
        child = Program(
            id="i999999",
            code=code,
            code_hash=code_hash(code),
            seq=before["programs"],
            iteration=before["iterations"] + 1,
            parent_id=before["best_id"],
            operator="a-new-operator",
            status=EvalStatus.OK,
            score=before["best_score"] + 1.0,
        )
        writer.commit_step(child, evaluated=True, outcome=None, reward=1.0)
        after = get(live, "/api/runs/0/overview").json()
    finally:
        writer.close()
    counts = get(live, "/api/runs/0/program-counts").json()
    assert counts["total"] == counts_before["total"] + 1
    added = [c for c in counts["counts"] if c["operator"] == "a-new-operator"]
    assert added == [{"status": "ok", "operator": "a-new-operator", "programs": 1, "scored": 1}]
    assert after["programs"] == before["programs"] + 1
    assert after["best_id"] == "i999999"
    assert after["best_score"] == before["best_score"] + 1.0
    lineage = get(live, "/api/runs/0/lineage").json()
    assert lineage["nodes"][-1]["id"] == "i999999"
    assert lineage["nodes"][-2]["id"] == before["best_id"]


def test_program_counts_are_the_databases_by_status_and_operator(
    app: Any, reader: RunReader
) -> None:
    """Every (status, operator) pair the run holds, with its programs and those scored,
    adding up to the run's programs; a listing filtered by a pair holds that many."""
    answer = get(app, "/api/runs/0/program-counts").json()
    expected = {
        (status, operator): (count, scored)
        for status, operator, count, scored in reader.rows(
            "SELECT status, operator, COUNT(*), COUNT(score) FROM programs "
            "GROUP BY status, operator"
        )
    }
    got = {(c["status"], c["operator"]): (c["programs"], c["scored"]) for c in answer["counts"]}
    assert got == expected and len(got) > 2
    assert answer["total"] == views.overview(reader)["programs"]
    (status, operator), (count, scored) = max(got.items(), key=lambda item: item[1][0])
    listed = get(app, f"/api/runs/0/programs?status={status}&operator={operator}&limit=500").json()
    best = get(
        app, f"/api/runs/0/programs?status={status}&operator={operator}&order=best&limit=500"
    ).json()
    assert (len(listed), len(best)) == (count, scored)


def test_a_run_replaced_while_served_is_read_anew(small_run: Path, tmp_path: Path) -> None:
    """``evoforge run --fresh`` into a served directory: the view shows the new run."""
    import evoforge

    copy = tmp_path / "copy"
    shutil.copytree(small_run, copy)
    live = create_app([copy])
    before = get(live, "/api/runs/0/overview").json()
    old_ids = {row["id"] for row in get(live, "/api/runs/0/programs?limit=100").json()}
    evoforge.run(EXAMPLE, iterations=3, seed=5, workers=1, out=copy, fresh=True)
    after = get(live, "/api/runs/0/overview").json()
    assert before["programs"] > 4
    assert (after["iterations"], after["programs"]) == (3, 4)
    new_ids = {row["id"] for row in get(live, "/api/runs/0/programs?limit=100").json()}
    assert len(new_ids) == 4
    gone = sorted(old_ids - new_ids)
    assert gone
    assert get(live, f"/api/runs/0/programs/{gone[-1]}").status_code == 404


def test_a_configuration_stored_after_the_server_started_is_used(
    small_run: Path, tmp_path: Path
) -> None:
    """A server started before the run stored its configuration lays the archive out by
    the run's configuration once it is there, not by the default one."""
    copy = tmp_path / "copy"
    shutil.copytree(small_run, copy)
    path = copy / RunDatabase.FILENAME
    with sqlite3.connect(path) as connection:
        (stored,) = connection.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        connection.execute("DELETE FROM meta WHERE key = 'config'")
    live = create_app([copy])
    assert len(get(live, "/api/runs/0/archive").json()) == 4  # the default's islands
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO meta(key, value) VALUES ('config', ?)", (stored,))
    assert len(get(live, "/api/runs/0/archive").json()) == 2  # the run's own


def test_model_calls_agree_with_the_run_database(llm_run: Path) -> None:
    db = RunDatabase(llm_run / RunDatabase.FILENAME)
    try:
        usage = db.llm_usage()
    finally:
        db.close()
    app = create_app([llm_run])
    models = get(app, "/api/runs/0/models").json()
    assert models["calls"] == usage["calls"] > 0
    for name, stats in usage["models"].items():
        served = models["models"][name]
        for key in ("calls", "tokens_in", "tokens_out", "outcomes"):
            assert served[key] == stats[key], key
        assert served["mean_latency_s"] > 0
    overview = get(app, "/api/runs/0/overview").json()
    assert overview["llm_calls"] == usage["calls"]
    assert overview["budgets"]["tokens"]["used"] == usage["tokens_in"] + usage["tokens_out"]


def _final_choice(run_dir: Path) -> dict[str, Any] | None:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        final = read_final(db)
    finally:
        db.close()
    return None if final is None else {**final.to_dict(), "outdated": False}


def test_the_overview_shows_the_final_choice_of_a_run_with_splits(
    app: Any, split_run: Path, pending_split_run: Path
) -> None:
    plain = get(app, "/api/runs/0/overview").json()
    assert not plain["splits_enabled"] and plain["final_choice"] is None
    assert not plain["final_choice_pending"]

    final = _final_choice(split_run)
    assert final is not None
    overview = get(create_app([split_run]), "/api/runs/0/overview").json()
    assert overview["splits_enabled"] and overview["final_choice"] == final
    assert not overview["final_choice_pending"]

    # stopped before its final choice: pending, with the command that makes it
    served = create_app([pending_split_run])
    pending = get(served, "/api/runs/0/overview").json()
    assert pending["final_choice"] is None and pending["final_choice_pending"]
    assert pending["resume_command"] == f"evoforge resume {pending_split_run}"
    resume_run(pending_split_run, log_mode="quiet")
    made = get(served, "/api/runs/0/overview").json()
    assert made["final_choice"] == _final_choice(pending_split_run) is not None
    assert made["final_choice"]["program_id"] == final["program_id"]
    assert not made["final_choice_pending"]


def test_the_overview_says_when_the_search_went_on_after_the_final_choice(
    split_run: Path, tmp_path: Path
) -> None:
    """A choice made before programs the run holds now (a resume that added iterations,
    stopped before choosing again) is marked outdated."""
    run_dir = tmp_path / "outdated"
    shutil.copytree(split_run, run_dir)
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        final = read_final(db)
        assert final is not None and final.last_seq == db.max_seq()
        db.set_state({"final_choice": {**final.to_dict(), "last_seq": final.last_seq - 1}})
    finally:
        db.close()
    outdated = get(create_app([run_dir]), "/api/runs/0/overview").json()["final_choice"]
    assert outdated["outdated"] and outdated["program_id"] == final.program_id


def test_the_overview_says_who_drives_the_run_now(small_run: Path, tmp_path: Path) -> None:
    import os

    from evoforge.runs import RunLock

    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    app = create_app([copy])
    assert get(app, "/api/runs/0/overview").json()["running_in"] is None
    with RunLock(copy):  # as the process driving a run holds it
        assert get(app, "/api/runs/0/overview").json()["running_in"] == f"pid {os.getpid()}"
    assert get(app, "/api/runs/0/overview").json()["running_in"] is None


def test_a_lineage_marks_the_programs_that_raised_the_best_along_the_line(deep_run: Path) -> None:
    reader = RunReader(deep_run)
    try:
        chain = views.lineage(reader)
        assert chain is not None
        nodes = chain["nodes"]
        best: float | None = None
        expected = []
        for index, node in enumerate(nodes):
            raised = node["score"] is not None and (best is None or node["score"] > best)
            expected.append(index > 0 and raised)
            if raised:
                best = node["score"]
        assert [node["improved"] for node in nodes] == expected
        assert nodes[0]["improved"] is False  # the seed starts the line
        assert [node["id"] for node in nodes if node["improved"] and node["id"][0] == "d"] == [
            f"d{DEEP_FLAT + step:04d}" for step in range(5, DEEP_CLIMB + 1, 5)
        ]
        # a node's mark depends on its ancestors only: the same in a shorter lineage
        shorter = views.lineage(reader, "d0310")
        assert shorter is not None and shorter["nodes"] == nodes[: len(shorter["nodes"])]
        app = create_app([deep_run])
        assert get(app, "/api/runs/0/lineage").json() == chain
        assert get(app, "/api/runs/0/lineage?program=d0310").json() == shorter
    finally:
        reader.close()
