"""The web view in a real headless Chromium: every page, its content, live updates,
hostile candidate output, and the single-file report."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evoforge.engine import Engine
from evoforge.report import views
from evoforge.report.reader import RunReader
from evoforge.storage.db import RunDatabase

from .support import EXAMPLE, Server, Watched, evoforge_command

PAGES = {
    "overview": "[data-testid=best-score]",
    "archive": "svg[data-testid=heatmap]",
    "lineage": "svg[data-testid=lineage]",
    "operators": "table[data-testid=operators]",
    "models": "[data-testid=no-models], table[data-testid=models]",
}


def best_json(run_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        evoforge_command("best", str(run_dir), "--json"),
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return json.loads(done.stdout)


def occupied_cells(run_dir: Path) -> int:
    engine = Engine.open(run_dir)
    try:
        return sum(row["cells"] for row in engine.archive.summary())
    finally:
        engine.close()


def open_view(watched: Watched, url: str, route: str, selector: str) -> Any:
    watched.page.goto(f"{url}#/{route}" if "?" not in url else url.replace("?", f"#/{route}?"))
    watched.page.wait_for_selector(selector)
    return watched.page


def test_overview_shows_the_best_score_of_best_json(
    server: Server, small_run: Path, watched: Watched
) -> None:
    page = open_view(watched, server.url, "run/0/overview", PAGES["overview"])
    best = best_json(small_run)
    # six significant digits, as every other figure on the page; the exact value on hover
    assert float(f"{best['score']:.6g}") != best["score"], "a score that shows the rounding"
    shown = page.locator("[data-testid=best-score]")
    assert float(shown.inner_text()) == float(f"{best['score']:.6g}")
    assert float(shown.get_attribute("title")) == best["score"]
    assert page.inner_text("[data-testid=iterations]") == "60"
    assert page.inner_text("[data-testid=stop-reason]") == "iterations budget reached"
    # a stopped run's time is the time it ran, labelled so that it does not read as running
    elapsed = page.locator(".card", has=page.locator("[data-testid=elapsed]")).inner_text()
    assert elapsed.startswith("time running") and "(running)" not in elapsed
    assert page.locator("svg[data-testid=score-by-evaluations] polyline").count() == 3
    # the run's scores differ in the fifth decimal: each tick shows enough digits to differ
    for chart in ("score-by-evaluations", "score-over-time"):
        ticks = page.locator(f"svg[data-testid={chart}] text.tick-y").all_text_contents()
        assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), ticks
        assert all(float(tick) for tick in ticks)
        label = page.locator(f"svg[data-testid={chart}] text.axis-label-y").bounding_box()
        lefts = [
            box["x"]
            for tick in page.locator(f"svg[data-testid={chart}] text.tick-y").all()
            if (box := tick.bounding_box()) is not None
        ]
        assert label is not None and label["x"] + label["width"] < min(lefts), "no overlap"
    watched.shot("overview")
    assert watched.errors == []


def test_every_page_renders_its_content(server: Server, small_run: Path, watched: Watched) -> None:
    best = best_json(small_run)
    for view, selector in PAGES.items():
        page = open_view(watched, server.url, f"run/0/{view}", selector)
        assert page.locator("main").get_attribute("data-view") == view
        watched.shot(view)
    page = open_view(
        watched, server.url, f"run/0/program/{best['program_id']}", "[data-testid=program-id]"
    )
    assert page.inner_text("[data-testid=program-id]") == best["program_id"]
    assert float(page.inner_text("[data-testid=program-score]")) == best["score"]
    assert page.inner_text("[data-testid=code]").strip() == best["code"].strip()
    diff = page.inner_text("[data-testid=diff]")
    assert diff.startswith(f"--- {best['parent_id']}\n+++ {best['program_id']}")
    watched.shot("program")
    page = open_view(watched, server.url, "compare", "svg[data-testid=compare]")
    assert page.locator("svg[data-testid=compare] polyline").count() == 1
    operators = page.goto(server.url.rstrip("/") + "/api/runs/0/operators")
    assert operators is not None and operators.ok
    assert watched.errors == []


def test_an_unknown_program_says_so_in_the_page_and_the_header(
    server: Server, watched: Watched
) -> None:
    """The server answered (404): the header says what is missing, not that the server
    is unreachable, and does not stay at "connecting"."""
    page = open_view(watched, server.url, "run/0/program/nope", "[data-testid=error]")
    assert "no program nope" in page.inner_text("[data-testid=error]")
    header = page.inner_text("#live")
    assert "no program nope" in header
    assert "unreachable" not in header and "connecting" not in header


def test_a_broken_address_is_refused_and_the_next_page_still_renders(
    server: Server, watched: Watched
) -> None:
    """A fragment with a broken escape names the program as written, and the view goes on
    rendering the pages asked for afterwards; a run index that is not a number gets the
    server's reason in words."""
    page = open_view(watched, server.url, "run/0/program/%E0%A4%A", "[data-testid=error]")
    assert "no program %E0%A4%A" in page.inner_text("[data-testid=error]")
    open_view(watched, server.url, "run/0/archive", PAGES["archive"])
    assert page.locator("main").get_attribute("data-view") == "archive"
    page = open_view(watched, server.url, "run/abc/overview", "[data-testid=error]")
    message = page.inner_text("[data-testid=error]")
    assert "[object Object]" not in message and message.strip(), message
    # the refusals (404, 422) are logged by the browser; nothing else went wrong
    assert [e for e in watched.errors if not e.startswith("Failed to load resource")] == []


def test_lineage_has_one_node_per_ancestor(
    server: Server, small_run: Path, watched: Watched
) -> None:
    best = best_json(small_run)
    page = open_view(watched, server.url, "run/0/lineage", "svg[data-testid=lineage]")
    nodes = page.locator("svg[data-testid=lineage] g.node")
    assert nodes.count() == len(best["lineage"])
    shown = [nodes.nth(i).get_attribute("data-program") for i in range(nodes.count())]
    assert shown == best["lineage"]
    nodes.nth(0).click()
    page.wait_for_selector("[data-testid=program-id]")
    assert page.inner_text("[data-testid=program-id]") == "seed"
    assert watched.errors == []


LINEAGE_ROWS = "svg[data-testid=lineage] g.node, svg[data-testid=lineage] button.fold"
LINEAGE_STEPS = 20  # the steps that raised the best that a folded lineage draws, at most
LINEAGE_LAST = 6  # the program and its last ancestors, always drawn


def drawn_lineage(page: Any) -> list[dict[str, Any]]:
    """The lineage page's rows in order: a program's id, or a fold's ends, count and text."""
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        LINEAGE_ROWS,
        """rows => rows.map((row) => row.tagName.toLowerCase() === "button"
            ? { first: row.dataset.first, last: row.dataset.last,
                count: Number(row.dataset.count), text: row.textContent }
            : { id: row.getAttribute("data-program") })""",
    )


def check_folded(
    rows: list[dict[str, Any]], nodes: list[dict[str, Any]], opened: frozenset[str] = frozenset()
) -> list[str]:
    """Assert that ``rows`` draw ``nodes`` (the API's lineage) folded: each program once, in
    order, drawn or inside a fold that counts it and gives its scores' range; the seed,
    the last ones, the largest steps that raised the best and those ``opened`` drawn,
    nothing else but a program between two of those. Returns the ids drawn."""
    ids = [node["id"] for node in nodes]
    at = {program_id: index for index, program_id in enumerate(ids)}
    covered: list[str] = []
    for row in rows:
        if "id" in row:
            covered.append(row["id"])
            continue
        first, last = at[row["first"]], at[row["last"]]
        members = nodes[first : last + 1]
        assert row["count"] == len(members) >= 2, row
        assert row["text"].startswith(f"▸ {len(members)} programs folded (scores "), row
        low, high = re.search(r"scores (\S+) – (\S+) ·", row["text"]).groups()  # type: ignore[union-attr]
        scores = [node["score"] for node in members]
        assert float(low) == pytest.approx(min(scores), rel=1e-5)
        assert float(high) == pytest.approx(max(scores), rel=1e-5)
        covered += ids[first : last + 1]
    assert covered == ids
    drawn = [row["id"] for row in rows if "id" in row]
    rises: list[tuple[float, int]] = []
    best = None
    for index, node in enumerate(nodes):
        if node["improved"]:
            rises.append((node["score"] - best, index))
        if node["score"] is not None and (best is None or node["score"] > best):
            best = node["score"]
    largest = sorted(rises, key=lambda rise: (-rise[0], rise[1]))[:LINEAGE_STEPS]
    must = {0, *range(len(ids) - LINEAGE_LAST, len(ids)), *(index for _, index in largest)}
    must |= {at[program_id] for program_id in opened}
    assert must <= {at[program_id] for program_id in drawn}
    for program_id in drawn:
        index = at[program_id]
        assert index in must or {index - 1, index + 1} <= must, program_id
    return drawn


def check_deep_lineage(page: Any, nodes: list[dict[str, Any]]) -> None:
    """The deep lineage drawn folded, bounded; a large fold opened from the keyboard
    (the nearest of each end), a small one by a click (whole), all folded again."""
    rows = drawn_lineage(page)
    drawn = check_folded(rows, nodes)
    folds = [row for row in rows if "count" in row]
    assert len(nodes) == 605 and len(drawn) <= 40 and folds
    elements = page.locator("svg[data-testid=lineage] *").count()
    assert elements <= 300, elements  # drawn whole: 7 per program, over 4,000
    large = next(row for row in folds if row["count"] > 40)
    button = page.locator(f"button.fold[data-first='{large['first']}']")
    button.focus()
    page.keyboard.press("Enter")
    ids = [node["id"] for node in nodes]
    start, end = ids.index(large["first"]), ids.index(large["last"])
    page.wait_for_selector(f"svg[data-testid=lineage] g.node[data-program='{large['first']}']")
    opened = drawn_lineage(page)
    revealed = frozenset(ids[start : start + 20] + ids[end - 19 : end + 1])
    check_folded(opened, nodes, revealed)
    assert len([row for row in opened if "id" in row]) == len(drawn) + 40
    rest = next(row for row in opened if row.get("first") == nodes[start + 20]["id"])
    assert rest["count"] == large["count"] - 40
    focused = page.evaluate("document.activeElement.getAttribute('data-program')")
    assert focused == large["first"]
    small = next(row for row in opened if "count" in row and row["count"] <= 40)
    page.click(f"button.fold[data-first='{small['first']}']")
    page.wait_for_selector(f"svg[data-testid=lineage] g.node[data-program='{small['last']}']")
    after = drawn_lineage(page)
    small_start = ids.index(small["first"])
    check_folded(after, nodes, revealed | set(ids[small_start : small_start + small["count"]]))
    assert len([row for row in after if "id" in row]) == len(drawn) + 40 + small["count"]
    page.click("[data-testid=lineage-fold-all]")
    page.wait_for_selector("[data-testid=lineage-show-all]")
    assert drawn_lineage(page) == rows


def test_a_deep_lineage_is_drawn_folded_and_opens_in_place(
    deep_run: Path, tmp_path: Path, watched: Watched
) -> None:
    reader = RunReader(deep_run)
    try:
        nodes = views.lineage(reader)["nodes"]  # type: ignore[index]
    finally:
        reader.close()
    served = Server(str(deep_run))
    try:
        page = open_view(watched, served.url, "run/0/lineage", PAGES["lineage"])
        check_deep_lineage(page, nodes)
        watched.shot("lineage-deep")
        page.click("[data-testid=lineage-show-all]")
        page.wait_for_selector("[data-testid=lineage-fold-all]")
        assert page.locator("svg[data-testid=lineage] g.node").count() == len(nodes)
        assert watched.errors == []
        page.goto("about:blank")  # no poll of the stopped server
    finally:
        served.stop()
    out = tmp_path / "deep.html"
    subprocess.run(
        evoforge_command("report", str(deep_run), "--out", str(out)),
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    page = open_view(watched, out.as_uri(), "run/0/lineage", PAGES["lineage"])
    check_deep_lineage(page, nodes)
    assert watched.errors == []


def test_heatmap_has_the_archive_occupied_cells(
    server: Server, small_run: Path, watched: Watched
) -> None:
    page = open_view(watched, server.url, "run/0/archive", "svg[data-testid=heatmap]")
    expected = occupied_cells(small_run)
    assert page.locator("svg[data-testid=heatmap]").count() == 2
    assert page.locator("rect.cell").count() == expected
    assert page.inner_text("[data-testid=occupied]") == str(expected)
    cell = page.locator("rect.cell").first
    program_id = cell.get_attribute("data-program")
    cell.click()
    page.wait_for_selector("[data-testid=program-id]")
    assert page.inner_text("[data-testid=program-id]") == program_id
    assert watched.errors == []


@pytest.fixture
def writing_run(tmp_path: Path) -> Iterator[Path]:
    """A run in progress in a child process (stopped with SIGINT afterwards)."""
    run_dir = tmp_path / "live"
    process = subprocess.Popen(
        evoforge_command(
            "run", str(EXAMPLE), "--iterations", "2000", "--workers", "1",
            "--out", str(run_dir), "--quiet",
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (run_dir / "run.sqlite").is_file():
                try:
                    reader = RunReader(run_dir)
                except Exception:  # the schema is still being written
                    reader = None
                if reader is not None:
                    seq = reader.version()["seq"]
                    reader.close()
                    if seq >= 2:
                        break
            time.sleep(0.2)
        assert process.poll() is None, "the run ended before the test could watch it"
        yield run_dir
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_page_updates_while_the_run_is_writing(writing_run: Path, watched: Watched) -> None:
    live = Server(str(writing_run))
    try:
        page = open_view(watched, live.url, "run/0/overview", PAGES["overview"])
        page.evaluate("window.__notReloaded = true")
        first = int(page.inner_text("[data-testid=iterations]"))
        page.wait_for_function(
            "n => Number(document.querySelector('[data-testid=iterations]').textContent) > n + 2",
            arg=first,
            timeout=90_000,
        )
        assert page.evaluate("window.__notReloaded") is True, "updated without a reload"
        stop = page.inner_text("[data-testid=stop-reason]")
        assert stop.startswith("running")
        watched.shot("overview-live")
        assert watched.errors == []
    finally:
        live.stop()


def test_hostile_candidate_output_executes_nothing(hostile_run: Path, watched: Watched) -> None:
    served = Server(str(hostile_run))
    try:
        with RunReader(hostile_run) as reader:
            failed = reader.rows("SELECT id FROM programs WHERE status = 'failed' LIMIT 1")
        page = open_view(watched, served.url, "run/0/program/seed", "[data-testid=code]")
        stdout = page.inner_text("[data-testid=artifact-stdout]")
        assert "<script>alert('stdout')</script>" in stdout
        assert "onerror=\"alert('stdout-img')\"" in stdout
        assert "right-to-left override: \\u202egnp.exe" in stdout and "\u202e" not in stdout
        assert '</script><script>alert("code")</script>' in page.inner_text("[data-testid=code]")
        watched.shot("hostile-program")
        assert failed, "the hostile problem's mutants fail with markup in their reason"
        page = open_view(
            watched, served.url, f"run/0/program/{failed[0][0]}", "[data-testid=reason]"
        )
        assert "<img src=x onerror=" in page.inner_text("[data-testid=reason]")
        page = open_view(watched, served.url, "run/0/overview", "[data-testid=failure-reasons]")
        assert "<script>alert('reason')</script>" in page.inner_text(
            "[data-testid=failure-reasons]"
        )
        # "rmse N" is the kind; the first program's own line, number and markup kept, as text
        example = page.locator("[data-testid=failure-reasons] [data-testid=reason-example]")
        assert example.count() >= 1
        assert re.fullmatch(
            r"e\.g\. .*<script>alert\('reason'\)</script> worse than the seed's fit "
            r"\(rmse [0-9.e+-]+\)",
            example.first.inner_text(),
        )
        for view in ("archive", "lineage", "operators"):
            open_view(watched, served.url, f"run/0/{view}", PAGES[view])
        page.wait_for_timeout(500)  # let any injected image fail to load (it must not exist)
        assert page.evaluate("document.querySelectorAll('main img, main script').length") == 0
        assert watched.dialogs == []
        assert watched.errors == []
    finally:
        served.stop()


def test_compare_shows_one_curve_per_run(
    small_run: Path, hostile_run: Path, watched: Watched
) -> None:
    served = Server(str(small_run), str(hostile_run))
    try:
        page = open_view(watched, served.url, "compare", "svg[data-testid=compare]")
        assert page.locator("svg[data-testid=compare] polyline").count() == 2
        rows = page.locator("table[data-testid=compare-table] tbody tr")
        assert rows.count() == 2
        assert rows.nth(0).inner_text().startswith(small_run.name)
        page = open_view(watched, served.url, "", "table[data-testid=runs]")
        assert page.locator("table[data-testid=runs] tbody tr").count() == 2
        page = open_view(watched, served.url, "run/1/overview", PAGES["overview"])
        shown = page.get_attribute("[data-testid=best-score]", "title")
        assert float(shown) == best_json(hostile_run)["score"]
        watched.shot("compare")
        assert watched.errors == []
    finally:
        served.stop()


def test_report_file_shows_the_same_views_offline(
    small_run: Path, hostile_run: Path, tmp_path: Path, watched: Watched
) -> None:
    for run_dir in (small_run, hostile_run):
        out = tmp_path / f"{run_dir.name}.html"
        subprocess.run(
            evoforge_command("report", str(run_dir), "--out", str(out)),
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        best = best_json(run_dir)
        url = out.as_uri()
        page = open_view(watched, url, "run/0/overview", PAGES["overview"])
        assert float(page.get_attribute("[data-testid=best-score]", "title")) == best["score"]
        page = open_view(watched, url, "run/0/archive", PAGES["archive"])
        assert page.locator("rect.cell").count() == occupied_cells(run_dir)
        page = open_view(watched, url, "run/0/lineage", PAGES["lineage"])
        assert page.locator("g.node").count() == len(best["lineage"])
        # another program's lineage, rebuilt from the report's shared table of nodes
        parent = best["lineage"][-2]
        page = open_view(watched, url, f"run/0/lineage/{parent}", PAGES["lineage"])
        shown = [node.get_attribute("data-program") for node in page.locator("g.node").all()]
        assert shown == best["lineage"][:-1]
        # the best's code is stored as its change from its parent and rebuilt: exactly
        best_view = f"run/0/program/{best['program_id']}"
        page = open_view(watched, url, best_view, "[data-testid=code]")
        assert page.text_content("[data-testid=code]") == best["code"]
        page = open_view(watched, url, "run/0/program/seed", "[data-testid=code]")
        if run_dir == hostile_run:
            assert "<script>alert('stdout')</script>" in page.inner_text(
                "[data-testid=artifact-stdout]"
            )
        for view in ("operators", "models"):
            open_view(watched, url, f"run/0/{view}", PAGES[view])
        watched.shot(f"report-{run_dir.name}")
    assert watched.dialogs == []
    assert watched.errors == []


def test_model_calls_and_the_prompt_and_answer_of_a_model_made_program(
    llm_run: Path, watched: Watched
) -> None:
    with RunReader(llm_run) as reader:
        per_model = reader.rows(
            "SELECT model, COUNT(*), SUM(tokens_in), SUM(tokens_out) FROM llm_calls GROUP BY model"
        )
        made = reader.rows(
            "SELECT p.id, c.prompt, c.response FROM programs p JOIN llm_calls c ON c.seq = p.seq "
            "WHERE p.operator LIKE 'llm_%' ORDER BY p.seq LIMIT 1"
        )
    assert per_model and made, "the run asked the oracle"
    served = Server(str(llm_run))
    try:
        page = open_view(watched, served.url, "run/0/models", "table[data-testid=models]")
        cells = page.locator("table[data-testid=models] tbody tr").first.locator("td")
        model, calls, tokens_in, tokens_out = per_model[0]
        assert [cells.nth(i).inner_text() for i in range(4)] == [
            model,
            str(calls),
            str(tokens_in),
            str(tokens_out),
        ]
        program_id, prompt, response = made[0]
        page = open_view(
            watched, served.url, f"run/0/program/{program_id}", "[data-testid=llm-calls]"
        )
        assert page.locator("[data-testid=prompt]").first.text_content() == prompt
        assert page.locator("[data-testid=answer]").first.text_content() == response
        watched.shot("model-made-program")
        assert watched.errors == []
    finally:
        served.stop()


def test_the_final_choice_of_a_run_with_splits_is_shown_and_linked(
    split_run: Path, pending_split_run: Path, tmp_path: Path, watched: Watched
) -> None:
    """The overview of a run with instance splits shows its final choice, linked to the
    chosen program, live and in the report; a run stopped before making it says so and
    names the command that makes it."""
    final = best_json(split_run)["splits"]
    report = tmp_path / "splits.html"
    subprocess.run(
        evoforge_command("report", str(split_run), "--out", str(report)),
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    outdated_run = tmp_path / "outdated"  # the search went on after the choice
    shutil.copytree(split_run, outdated_run)
    db = RunDatabase(outdated_run / RunDatabase.FILENAME)
    try:
        db.set_state({"final_choice": {**final, "last_seq": final["last_seq"] - 1}})
    finally:
        db.close()
    served = Server(str(split_run), str(pending_split_run), str(outdated_run))
    try:
        page = open_view(watched, served.url, "run/0/overview", "[data-testid=final-choice]")
        assert page.locator("[data-testid=final-choice-outdated]").count() == 0
        shown = page.inner_text("[data-testid=final-choice]")
        assert final["program_id"] in shown and final["holdout_source"] in shown
        assert page.inner_text("[data-testid=final-test]") == f"{final['test_score']:.6g}"
        watched.shot("final-choice")
        page.locator("[data-testid=final-choice] a", has_text=final["program_id"]).first.click()
        page.wait_for_selector("[data-testid=program-id]")
        assert page.inner_text("[data-testid=program-id]") == final["program_id"]
        page = open_view(
            watched, served.url, "run/1/overview", "[data-testid=final-choice-pending]"
        )
        pending = page.inner_text("[data-testid=final-choice-pending]")
        assert f"evoforge resume {pending_split_run} makes it" in pending
        assert page.locator("[data-testid=final-choice]").count() == 0
        page = open_view(
            watched, served.url, "run/2/overview", "[data-testid=final-choice-outdated]"
        )
        outdated = page.inner_text("[data-testid=final-choice-outdated]")
        assert "the search went on after this choice, and chooses again" in outdated
        assert f"(evoforge resume {outdated_run} if it was stopped)" in outdated
        assert page.locator("[data-testid=final-choice]").count() == 1
        # the report, offline (the page leaves the server before it stops)
        page = open_view(watched, report.as_uri(), "run/0/overview", "[data-testid=final-choice]")
        page.locator("[data-testid=final-choice] a", has_text=final["program_id"]).first.click()
        page.wait_for_selector("[data-testid=code]")
        assert page.inner_text("[data-testid=program-id]") == final["program_id"]
    finally:
        served.stop()
    assert watched.errors == []


def _shown(page: Any) -> list[tuple[str, str]]:
    rows = page.locator("table[data-testid=programs] tbody tr")
    return [
        (row.get_attribute("data-program"), row.locator("td").nth(1).inner_text())
        for row in rows.all()
    ]


def _ids(run_dir: Path, sql: str) -> list[str]:
    reader = RunReader(run_dir)
    try:
        return [row[0] for row in reader.rows(sql)]
    finally:
        reader.close()


def _wait_for_route(page: Any, fragment: str) -> None:
    """Until the page shows the address it is at, and that holds ``fragment`` (is it,
    for one that starts with ``#``)."""
    page.wait_for_function(
        "f => (f.startsWith('#') ? location.hash === f : location.hash.includes(f))"
        " && document.getElementById('view').dataset.route"
        " === location.hash && document.querySelector('table[data-testid=programs]')",
        arg=fragment,
    )


def test_the_program_browser_pages_filters_and_opens_a_program(
    server: Server, small_run: Path, watched: Watched
) -> None:
    """61 programs are two pages of 50: Older and Newer (a button, also by keyboard) page
    with the cursor, the filters and the best-first order list what the database holds,
    and a click on a row opens that program."""
    every = _ids(small_run, "SELECT id FROM programs ORDER BY seq DESC")
    assert len(every) > 50
    page = open_view(watched, server.url, "run/0/programs", "table[data-testid=programs] tbody tr")
    first = [pid for pid, _ in _shown(page)]
    assert first == every[:50]
    assert page.locator("[data-testid=page-newer]").is_disabled()
    shown_text = page.inner_text("[data-testid=programs-shown]")
    assert "newest first" in shown_text and f"Showing 50 of {len(every)} programs" in shown_text
    failed_count = len(_ids(small_run, "SELECT id FROM programs WHERE status = 'failed'"))
    labels = page.locator("[data-testid=status] option").all_inner_texts()
    assert f"any ({len(every)})" in labels and f"failed ({failed_count})" in labels
    page.click("[data-testid=page-older]")
    _wait_for_route(page, "before=")
    assert [pid for pid, _ in _shown(page)] == every[50:]
    assert page.locator("[data-testid=page-older]").is_disabled()
    assert "held" in page.inner_text("[data-testid=programs-where]")
    page.focus("[data-testid=page-newer]")
    page.keyboard.press("Enter")
    # after= the first row: fewer than a page above it, so the first page, which follows
    page.wait_for_function(
        "() => location.hash === '#/run/0/programs'"
        " && document.getElementById('view').dataset.route === location.hash"
    )
    page.wait_for_selector("[data-testid=page-newer][disabled]")
    assert [pid for pid, _ in _shown(page)] == first

    # filters: status, then operator too; every row matches and none is missing
    page.select_option("[data-testid=status]", "failed")
    _wait_for_route(page, "status=failed")
    failed = _ids(small_run, "SELECT id FROM programs WHERE status = 'failed' ORDER BY seq DESC")
    assert failed and [pid for pid, _ in _shown(page)] == failed
    page.select_option("[data-testid=status]", "ok")
    _wait_for_route(page, "status=ok")
    page.select_option("[data-testid=operator]", "mutate")
    _wait_for_route(page, "operator=mutate")
    mutated = _ids(
        small_run,
        "SELECT id FROM programs WHERE status = 'ok' AND operator = 'mutate' ORDER BY seq DESC",
    )
    assert mutated and [pid for pid, _ in _shown(page)] == mutated
    text = page.inner_text("[data-testid=programs-shown]")
    assert "status ok" in text and "operator mutate" in text
    assert f"Showing {len(mutated)} of {len(mutated)} programs" in text
    operator_labels = page.locator("[data-testid=operator] option").all_inner_texts()
    assert f"mutate ({len(mutated)})" in operator_labels  # counted within status ok

    # best first, and says so
    page.select_option("[data-testid=operator]", "")
    _wait_for_route(page, "#/run/0/programs?status=ok")
    page.select_option("[data-testid=order]", "best")
    _wait_for_route(page, "order=best")
    best = _ids(
        small_run,
        "SELECT id FROM programs WHERE status = 'ok' AND score IS NOT NULL "
        "ORDER BY score DESC, seq DESC",
    )
    assert [pid for pid, _ in _shown(page)] == best[:50]
    assert "best score first" in page.inner_text("[data-testid=programs-shown]")

    # a click on a row (not its link) opens the program view
    target = best[1]
    page.locator(f"table[data-testid=programs] tr[data-program='{target}'] td").nth(2).click()
    page.wait_for_selector("[data-testid=program-id]")
    assert page.inner_text("[data-testid=program-id]") == target
    page.go_back()
    _wait_for_route(page, "order=best")
    watched.shot("programs")
    assert watched.errors == [] and watched.dialogs == []


def test_the_report_browses_the_programs_it_embeds_and_says_so(
    small_run: Path, tmp_path: Path, watched: Watched
) -> None:
    out = tmp_path / "report.html"
    subprocess.run(
        evoforge_command("report", str(small_run), "--out", str(out)),
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    embedded = json.loads(
        re.search(r'id="evoforge-data"[^>]*>(.*?)</script>', out.read_text(), re.S).group(1)
    )
    held = [k.rsplit("/", 1)[1] for k in embedded if k.startswith("/api/runs/0/programs/")]
    page = open_view(watched, out.as_uri(), "run/0/programs", "table[data-testid=programs] tr")
    assert f"embeds {len(held)} of the run's" in page.inner_text("[data-testid=programs-where]")
    shown = [pid for pid, _ in _shown(page)]
    order = _ids(small_run, "SELECT id FROM programs ORDER BY seq DESC")
    assert shown == [pid for pid in order if pid in held][:50]
    page.select_option("[data-testid=status]", "failed")
    _wait_for_route(page, "status=failed")
    statuses = page.locator("table[data-testid=programs] tbody td:nth-child(4)").all_inner_texts()
    assert statuses and set(statuses) == {"failed"}
    held_failed = [
        pid
        for pid in _ids(small_run, "SELECT id FROM programs WHERE status = 'failed'")
        if pid in held
    ]
    labels = page.locator("[data-testid=status] option").all_inner_texts()
    assert f"any ({len(held)})" in labels and f"failed ({len(held_failed)})" in labels
    page.locator("table[data-testid=programs] tbody tr td").nth(1).click()
    page.wait_for_selector("[data-testid=code]")
    assert watched.errors == [] and watched.dialogs == []
