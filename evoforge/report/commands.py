"""The viewing commands of the ``evoforge`` CLI: ``serve``, ``report`` and ``show``, and
the reason and lineage parts of ``status`` and ``best``.

All of them only read the run (through :class:`RunReader`), so they work on a run that is
still being written. Bad input raises :class:`ViewUsageError` (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evoforge.report import views
from evoforge.report.reader import REPORT_FILENAME, RunReader
from evoforge.report.tracker import top_reasons
from evoforge.source_tree import install_command
from evoforge.terminal import printable
from evoforge.wording import quantity

DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"


class ViewUsageError(Exception):
    """A bad command line for a viewing command."""


def add_view_parsers(commands: Any, non_negative_int: Callable[[str], int]) -> None:
    """Register ``serve``, ``report`` and ``show`` on the CLI's subcommand parsers."""
    serve = commands.add_parser("serve", help="open a live web view of one or more runs")
    serve.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    serve.add_argument(
        "--port", type=non_negative_int, default=DEFAULT_PORT, help="0 picks a free port"
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to bind (default loopback; an address that is not loopback requires "
        "the printed token)",
    )
    report = commands.add_parser("report", help="write a run's web view as one HTML file")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--out", type=Path, help="HTML file to write (default RUN_DIR/report.html)")
    show = commands.add_parser("show", help="print one program and its diff against its parent")
    show.add_argument("run_dir", type=Path)
    show.add_argument("program_id")
    show.add_argument("--json", action="store_true", help="one JSON object")


def _cmd_serve(args: argparse.Namespace) -> int:
    if args.port > 65535:
        raise ViewUsageError(f"evoforge serve: --port must be at most 65535, got {args.port}")
    if not args.host.strip("[] "):  # it bound every address and announced "http://:PORT/"
        raise ViewUsageError(
            "evoforge serve: --host is empty; give an address to bind (0.0.0.0: every one)"
        )
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise ViewUsageError(
            f"evoforge serve needs {' and '.join(missing)}: {install_command('web')}"
        )
    from evoforge.web.app import serve
    from evoforge.web.security import is_loopback, new_token

    for run_dir in args.run_dirs:  # fail on a bad directory before binding anything
        RunReader(run_dir).close()
    token = None if is_loopback(args.host) else new_token()

    def announce(url: str) -> None:
        note = "" if token is None else " (the token in it is required: keep it private)"
        print(
            f"evoforge serving {quantity(len(args.run_dirs), 'run')} at {url}{note}; "
            "Ctrl-C stops it"
        )
        print(f"open: {url}", flush=True)

    # until interrupted (KeyboardInterrupt): the line for that is the CLI's
    serve(args.run_dirs, host=args.host, port=args.port, token=token, announce=announce)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from evoforge.report.html import write_report

    out = args.out or args.run_dir / REPORT_FILENAME
    reader = RunReader(args.run_dir)  # a missing run fails here, before anything is written
    reader.close()
    write_report(args.run_dir, out)
    print(f"wrote {out}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    reader = RunReader(args.run_dir)
    try:
        program = views.program(reader, args.program_id)
    finally:
        reader.close()
    if program is None:
        raise ViewUsageError(f"evoforge show: {args.run_dir} has no program {args.program_id!r}")
    if args.json:
        print(json.dumps(program))
        return 0
    console = Console(highlight=False, soft_wrap=True)
    score = "-" if program["score"] is None else f"{program['score']:.6g}"
    gain = "" if program["gain"] is None else f" ({program['gain']:+.4g} over its parent)"
    made = (
        "the seed program"
        if program["parent_id"] is None
        else f"{escape(program['operator'])} on {escape(str(program['parent_id']))}"
    )
    console.print(
        f"[bold]{escape(program['id'])}[/bold]: {program['status']}, score {score}{gain}; "
        f"{made}, iteration {program['iteration']}, island {program['island']}, "
        f"outcome {program['outcome'] or 'not inserted'}"
    )
    if program["reason"]:
        console.print("reason:", escape(printable(program["reason"])))
    for name, value in sorted(program["metrics"].items()):
        shown = "-" if value is None else f"{value:.6g}"
        console.print(f"  {escape(printable(name))} = {shown}")
    print()
    if program["parent_id"] is None:
        print(printable(program["code"]), end="" if program["code"].endswith("\n") else "\n")
    elif program["diff"]:
        print(printable(program["diff"]), end="" if program["diff"].endswith("\n") else "\n")
    else:
        print(f"(same code as {program['parent_id']})")
    return 0


def add_reasons(run_dir: Path, summary: dict[str, Any]) -> None:
    """Add ``reasons`` (top failure and rejection kinds) to a status summary."""
    reader = RunReader(run_dir)
    try:
        summary["reasons"] = top_reasons(reader)
    finally:
        reader.close()


def print_reasons(console: Console, reasons: dict[str, list[dict[str, Any]]]) -> None:
    """The top failure and rejection reasons as two small tables (nothing when none)."""
    for side, title in (("failures", "top failure reasons"), ("rejections", "top rejections")):
        if not reasons.get(side):
            continue
        table = Table("count", title, "example", title_justify="left")
        for entry in reasons[side]:
            reason = escape(printable(entry["reason"]))
            example = entry.get("example_reason")
            if example and example != entry["reason"]:
                reason += f"\n[dim]e.g. {escape(printable(example))}[/dim]"
            table.add_row(str(entry["count"]), reason, escape(entry["example_id"]))
        console.print(table)


def print_prompt_learning(console: Console, learning: dict[str, Any] | None) -> None:
    """The prompt-learning options' state in a few lines: the instruction in use and the
    archive, the exemplar arms' counts, the latest run note (nothing when all are off)."""
    if not learning:
        return
    instructions = learning.get("instructions") or []
    if instructions:
        in_use = learning.get("instruction_in_use")
        console.print(f"instructions: {len(instructions)} in the archive, in use: {in_use}")
        table = Table("instruction", "from iteration", "uses", "mean reward", "text")
        for item in instructions:
            table.add_row(
                escape(item["id"]),
                str(item["iteration"]),
                str(item["uses"]),
                f"{item['mean_reward']:.3f}",
                escape(printable(item["preview"][:80])),  # a model's words
            )
        console.print(table)
    exemplars = learning.get("exemplars") or {}
    if exemplars:
        console.print(
            "exemplar choice: "
            + ", ".join(
                f"{escape(arm)} {stats['uses']} uses ({stats['mean_reward']:.3f})"
                for arm, stats in exemplars.items()
            )
        )
    note = learning.get("latest_note")
    if note:
        text = " ".join(note["text"].split())
        text = text if len(text) <= 200 else text[:197] + "..."
        console.print(
            f"run note (iteration {note['iteration']}, {learning['notes_written']} written): "
            + escape(printable(text))
        )


LINEAGE_HEAD = 5
LINEAGE_TAIL = 30
"""A lineage longer than these two together is printed as its first ``LINEAGE_HEAD``
programs and its last ``LINEAGE_TAIL`` (a long run's best descends from hundreds)."""
STAGNATION_SHOWN = 10
"""How many stagnation responses ``status`` prints (the latest; ``--json`` has all)."""


def lineage_lines(nodes: list[dict[str, Any]]) -> list[str]:
    """The lines (rich markup) of a lineage, seed first: id, operator, score, gain per
    step; a long one without its middle, one line saying how many were left out."""
    lines = [f"lineage ({len(nodes)} programs, seed first):"]
    left_out = len(nodes) - LINEAGE_HEAD - LINEAGE_TAIL
    shown = nodes if left_out <= 1 else [*nodes[:LINEAGE_HEAD], None, *nodes[-LINEAGE_TAIL:]]
    for node in shown:
        if node is None:
            lines.append(
                f"  ... {left_out} programs left out (evoforge best --json lists them all)"
            )
            continue
        score = "-" if node["score"] is None else f"{node['score']:.6g}"
        gain = "" if node["gain"] is None else f" ({node['gain']:+.4g})"
        lines.append(f"  {escape(node['id'])}  {escape(node['operator'])}  {score}{gain}")
    return lines


def print_lineage(run_dir: Path) -> None:
    """The best program's lineage (:func:`lineage_lines`)."""
    reader = RunReader(run_dir)
    try:
        chain = views.lineage(reader)
    finally:
        reader.close()
    if chain is None:
        return
    console = Console(highlight=False, soft_wrap=True)
    for line in lineage_lines(chain["nodes"]):
        console.print(line)


def stagnation_lines(events: list[dict[str, Any]]) -> list[str]:
    """One line per stagnation response (anneal, island restart), the latest
    :data:`STAGNATION_SHOWN` only, after one line counting those left out: a long run
    anneals its islands again and again."""
    lines = []
    left_out = len(events) - STAGNATION_SHOWN
    if left_out > 0:
        lines.append(
            f"{left_out} earlier stagnation responses left out "
            "(evoforge status --json lists them all)"
        )
    for event in events[max(0, left_out) :]:
        if event["kind"] == "anneal":
            lines.append(
                f"step {event['seq']}: island {event['island']} annealed to temperature "
                f"{event['temperature']:g} (entropy {event['entropy']:.2f}, "
                f"{event['stagnation']} children without progress)"
            )
        else:
            lines.append(
                f"step {event['seq']}: island {event['island']} restarted from "
                f"{len(event['program_ids'])} global elites"
            )
    return lines


VIEW_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _cmd_serve,
    "report": _cmd_report,
    "show": _cmd_show,
}
