"""The ``evoforge`` command.

Every user error (bad arguments, a malformed problem, an invalid config, a missing or
locked run) ends with one readable line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import sqlite3
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evoforge import __version__
from evoforge.argument_types import at_least_one, port_number, seconds, share, whole_number
from evoforge.atomic_files import staged_directory, write_text_atomically
from evoforge.check_command import add_check_parser, run_check
from evoforge.config import ConfigError
from evoforge.engine import EngineError
from evoforge.kinds import StopReason
from evoforge.openevolve_compat import read_config_file
from evoforge.problem import ProblemError
from evoforge.registry import BACKENDS
from evoforge.report.commands import (
    VIEW_COMMANDS,
    ViewUsageError,
    add_reasons,
    add_view_parsers,
    print_lineage,
    print_prompt_learning,
    print_reasons,
    stagnation_lines,
)
from evoforge.report.reader import REPORT_FILENAME
from evoforge.splits import last_line
from evoforge.stop_signals import outliving_the_terminal, stopping_as_ctrl_c
from evoforge.storage.db import DatabaseError, RunDatabase
from evoforge.terminal import printable
from evoforge.wording import quantity

EXIT_USAGE = 2
#: The run stopped because no language model was usable (``llm.on_no_model: stop``).
EXIT_NO_MODEL = 3
#: Interrupted (SIGINT, SIGTERM, SIGHUP); the ``evoforge`` program then ends by SIGINT
#: itself, which a shell also reports as 130 (:mod:`evoforge.__main__`).
EXIT_INTERRUPTED = 130
#: The output's reader went away (what rich's console and Python's own recipe exit with).
EXIT_BROKEN_PIPE = 1


class UsageError(Exception):
    """A bad command line, reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evoforge", description="Evolve better programs automatically.")
    parser.add_argument("--version", action="version", version=f"evoforge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="start a run on a problem directory")
    run.add_argument("problem_dir", type=Path)
    run.add_argument("--iterations", type=whole_number, help="children to propose (budget)")
    run.add_argument("--seed", type=whole_number, help="random seed")
    run.add_argument("--workers", type=at_least_one, help="evaluations in flight at once")
    run.add_argument(
        "--executor",
        choices=BACKENDS.names(),
        help="where evaluations run (evaluator.backend; default local)",
    )
    run.add_argument(
        "--ray-address",
        help="with --executor ray: the cluster to join (auto or HOST:PORT); "
        "without it a local Ray instance starts",
    )
    run.add_argument("--config", type=Path, help="YAML config file")
    run.add_argument("--out", type=Path, help="run directory (default runs/NAME-TIMESTAMP)")
    run.add_argument("--fresh", action="store_true", help="replace a previous run in --out")
    run.add_argument(
        "--llm-base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1"
    )
    run.add_argument("--model", help="model name at that endpoint (enables the llm_* operators)")
    run.add_argument(
        "--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)"
    )
    _add_allow_unreachable(run)
    _add_log_flags(run)

    resume = commands.add_parser("resume", help="continue a run (also after a crash)")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument(
        "--iterations",
        type=whole_number,
        help="run this many more iterations (default: finish the budget)",
    )
    resume.add_argument(
        "--evaluations",
        type=whole_number,
        help="allow this many more evaluations (a run that stopped at its evaluations budget)",
    )
    resume.add_argument(
        "--llm-base-url",
        help="move the run's language models to this endpoint (a server that moved)",
    )
    resume.add_argument(
        "--ray-address",
        help="a run on the ray backend: evaluate on this cluster (auto or HOST:PORT) from now on",
    )
    _add_allow_unreachable(resume)
    _add_log_flags(resume)

    best = commands.add_parser("best", help="show the best program of a run")
    best.add_argument("run_dir", type=Path)
    best.add_argument("--json", action="store_true", help="one JSON object")
    best.add_argument("-o", "--output", type=Path, help="also write the best program to this file")

    status = commands.add_parser("status", help="summarise a run")
    status.add_argument("run_dir", type=Path)
    status.add_argument("--json", action="store_true", help="one JSON object")

    add_view_parsers(commands, whole_number)

    init = commands.add_parser("init", help="write a working example problem to start from")
    init.add_argument("directory", type=Path)

    oracle = commands.add_parser(
        "oracle", help="serve an offline stand-in language model (OpenAI-compatible)"
    )
    oracle.add_argument("--port", type=port_number, default=8765, help="0 picks a free port")
    oracle.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    oracle.add_argument("--seed", type=whole_number, default=0, help="answers depend on it")
    oracle.add_argument("--verbose", action="store_true", help="log every request")
    oracle.add_argument(
        "--near-miss-rate",
        type=share,
        default=0.0,
        help="share of SEARCH/REPLACE answers whose SEARCH text is copied imperfectly",
    )
    oracle.add_argument(
        "--unparseable-rate",
        type=share,
        default=0.0,
        help="share of answers that hold no code at all",
    )

    _add_bench_parser(commands)
    _add_export_parser(commands)
    add_check_parser(commands, whole_number)

    config = commands.add_parser("config", help="print the default config or its reference")
    config.add_argument(
        "--reference", action="store_true", help="every key with default and meaning (Markdown)"
    )
    return parser


def _add_bench_parser(commands: Any) -> None:
    from evoforge.bench.engines import DEFAULT_ENGINES, ENGINES

    bench = commands.add_parser(
        "bench", help="compare engines on problems under one evaluation budget"
    )
    bench.add_argument(
        "--problems",
        nargs="+",
        required=True,
        metavar="PROBLEM",
        help="names under benchmarks/problems, or problem directories",
    )
    bench.add_argument(
        "--engines",
        nargs="+",
        metavar="ENGINE",
        default=list(DEFAULT_ENGINES),
        help=f"any of {', '.join(ENGINES)} (default: {', '.join(DEFAULT_ENGINES)})",
    )
    bench.add_argument("--seeds", type=at_least_one, default=3, help="seeds 0..N-1 (default 3)")
    bench.add_argument(
        "--evaluations",
        type=at_least_one,
        default=100,
        help="evaluation budget per run, the seed's included (default 100)",
    )
    bench.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/results/latest"),
        help="output directory (default benchmarks/results/latest)",
    )
    bench.add_argument(
        "--jobs",
        type=at_least_one,
        default=None,
        help="runs at once (default: the CPUs it may use)",
    )
    bench.add_argument(
        "--max-run-seconds",
        type=seconds,
        default=None,
        help="wall-time safety limit per run (default: none)",
    )
    bench.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: write the report from the runs already in OUT/runs.jsonl",
    )


def _add_export_parser(commands: Any) -> None:
    from evoforge.export.command import add_export_parser

    add_export_parser(commands)


def _add_allow_unreachable(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-unreachable",
        action="store_true",
        help="start even if a language model fails the start-up check",
    )


def _exit_status(stop_reason: StopReason) -> int:
    """0, or 130 for an interrupted run, or 3 when no language model was usable."""
    if stop_reason is StopReason.INTERRUPTED:
        return EXIT_INTERRUPTED
    if stop_reason is StopReason.NO_MODEL:
        return EXIT_NO_MODEL
    return 0


def _add_log_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="print only the final result")
    group.add_argument("--jsonl", action="store_true", help="one JSON object per event on stdout")


def _log_mode(args: argparse.Namespace) -> str | None:
    if args.quiet:
        return "quiet"
    if args.jsonl:
        return "jsonl"
    return None


def _cmd_run(args: argparse.Namespace) -> int:
    from evoforge.runs import start_run

    cli_layer: dict[str, Any] = {}
    if args.iterations is not None:
        cli_layer.setdefault("run", {})["iterations"] = args.iterations
    if args.workers is not None:
        cli_layer.setdefault("run", {})["workers"] = args.workers
    if args.seed is not None:
        cli_layer["seed"] = args.seed
    if args.executor is not None:
        cli_layer.setdefault("evaluator", {})["backend"] = args.executor
    if args.ray_address is not None:
        if args.executor not in (None, "ray"):
            raise UsageError("evoforge run: --ray-address needs --executor ray")
        cli_layer.setdefault("evaluator", {}).update(backend="ray", ray_address=args.ray_address)
    mode = _log_mode(args)
    if mode is not None:
        cli_layer.setdefault("run", {})["log_mode"] = mode
    file_layer: dict[str, Any] | None = None
    file_notices: list[str] = []
    if args.config is not None:
        file_layer, file_notices = read_config_file(args.config)
    if args.model is not None:
        model: dict[str, Any] = {"model": args.model}
        if args.llm_base_url is not None:
            model["base_url"] = args.llm_base_url
        if args.api_key_env is not None:
            model["api_key_env"] = args.api_key_env
        cli_layer["llm"] = {"models": [model]}
    elif args.llm_base_url is not None or args.api_key_env is not None:
        raise UsageError("evoforge run: --llm-base-url and --api-key-env need --model")
    result = start_run(
        args.problem_dir,
        config_file_layer=file_layer,
        config_file_source=None if args.config is None else str(args.config),
        config_file_notices=file_notices,
        cli_layer=cli_layer,
        run_dir=args.out,
        fresh=args.fresh,
        allow_unreachable=args.allow_unreachable,
    )
    _print_result(result, mode)
    return _exit_status(result.stop_reason)


def _cmd_resume(args: argparse.Namespace) -> int:
    from evoforge.runs import resume_run

    mode = _log_mode(args)
    result = resume_run(
        args.run_dir,
        extra_iterations=args.iterations,
        extra_evaluations=args.evaluations,
        log_mode=mode,
        llm_base_url=args.llm_base_url,
        ray_address=args.ray_address,
        allow_unreachable=args.allow_unreachable,
    )
    _print_result(result, mode)
    return _exit_status(result.stop_reason)


def _print_result(result: Any, mode: str | None) -> None:
    if mode == "jsonl":
        return
    best = "-" if result.best_score is None else f"{result.best_score:.6g}"
    initial = "-" if result.initial_score is None else f"{result.initial_score:.6g}"
    go_on = (
        f"; 'evoforge resume {result.run_dir}' continues it"
        if result.stop_reason is StopReason.INTERRUPTED
        else ""
    )
    print(  # the stop may quote a model server's error
        f"{printable(result.stop_description)}: best {best} (seed {initial}) after "
        f"{result.iterations} iterations, {result.evaluations} evaluations; "
        f"run in {result.run_dir}{go_on}"
    )


def _open_db(run_dir: Path) -> RunDatabase:
    path = run_dir / RunDatabase.FILENAME
    if not path.is_file():
        raise DatabaseError(f"{run_dir} holds no run (no {RunDatabase.FILENAME})")
    return RunDatabase.open_for_reading(path)


def _summarise(run_dir: Path, summarise: Callable[[RunDatabase], dict[str, Any]]) -> dict[str, Any]:
    """Open the run database, summarise it, close it."""
    db = _open_db(run_dir)
    try:
        return summarise(db)
    finally:
        db.close()


def _cmd_best(args: argparse.Namespace) -> int:
    from evoforge.report.summary import best_summary

    summary = _summarise(args.run_dir, best_summary)
    if args.output is not None:
        if summary["program_id"] is None:
            raise UsageError(f"{args.run_dir} has no scored program yet: nothing to write")
        write_text_atomically(args.output, summary["code"])  # whole, or the old file kept
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    console = Console(soft_wrap=True)  # text lines are not cut at 80 columns when piped
    if summary["program_id"] is None:
        console.print("no scored program yet")
        return 0
    console.print(
        f"[bold]best[/bold] {summary['program_id']}: score {summary['score']:.6g} "
        f"(seed {summary['initial_score']:.6g}), found at iteration {summary['iteration_found']} "
        f"by {summary['operator']}"
    )
    for name, value in sorted(summary["metrics"].items()):
        console.print(f"  {escape(printable(name))} = {value:.6g}")
    if summary["splits"] is not None:
        console.print(printable(splits_line(summary["splits"], args.run_dir)), markup=False)
    print_lineage(args.run_dir)
    if args.output is not None:
        console.print(f"wrote {args.output}")
        return 0
    console.print("")
    print(printable(summary["code"]))  # -o writes it as it is
    return 0


def splits_line(final: dict[str, Any], run_dir: Path) -> str:
    """One line on the final choice of a run with instance splits (plain text: the
    failures' reasons are the evaluations' own words)."""
    test = final["test_score"]
    if test is not None:
        shown_test = f"{test:.6g}"
    else:
        reason = last_line(final.get("test_reason") or "", "")
        shown_test = f"not scored ({final['test_status']}" + (f": {reason})" if reason else ")")
    gap = final["gap"]
    spent = (
        "; holdout budget spent, answers fell back to search scores"
        if final["holdout_spent"]
        else ""
    )
    failed = final.get("holdout_failed") or 0
    failures = (
        f"; holdout failed for {failed} of {final['candidates']} candidates "
        f"({last_line(final.get('holdout_failure') or '', '')})"
        if failed
        else ""
    )
    return (
        f"final choice {final['program_id']}: search {final['search_score']:.6g}, holdout "
        f"estimate {final['holdout_estimate']:.6g} (Thresholdout: {final['holdout_source']}), "
        f"test {shown_test}"
        + ("" if gap is None else f", gap search-test {gap:+.6g}")
        + spent
        + failures
        + (
            "; outdated: the search went on after it, and chooses again when it ends "
            f"('evoforge resume {run_dir}' if it was stopped)"
            if final.get("outdated")
            else ""
        )
    )


def _cmd_status(args: argparse.Namespace) -> int:
    from evoforge.report.summary import status_summary
    from evoforge.runs import lock_holder

    summary = _summarise(args.run_dir, status_summary)
    add_reasons(args.run_dir, summary)
    summary["running_in"] = lock_holder(args.run_dir)
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    console = Console(soft_wrap=True)  # text lines are not cut at 80 columns when piped
    best = summary["best_score"]
    initial = summary["initial_score"]
    console.print(
        f"[bold]{escape(printable(str(summary['problem'])))}[/bold]: "
        f"{summary['iterations']} iterations, "
        f"{summary['evaluations']} evaluations, {summary['programs']} programs; "
        f"best {best:.6g} (seed {initial:.6g})"
        if best is not None and initial is not None
        else f"{summary['iterations']} iterations"
    )
    console.print(_state_line(summary, args.run_dir), markup=False)
    console.print(_running_line(summary))
    console.print(f"isolation: {summary['isolation']}")
    if summary["splits"] is not None:
        console.print(printable(splits_line(summary["splits"], args.run_dir)), markup=False)
    elif summary["final_choice_pending"]:
        console.print(
            f"final choice: not made yet (stopped before it); 'evoforge resume {args.run_dir}' "
            "makes it",
            markup=False,
        )
    if summary["failures"]:
        console.print("failures: " + ", ".join(f"{k} {v}" for k, v in summary["failures"].items()))
    print_reasons(console, summary["reasons"])
    table = Table("operator", "uses", "successes", "success rate", "mean reward")
    for name, stats in summary["operators"].items():
        table.add_row(
            name,
            str(stats["uses"]),
            str(stats["successes"]),
            f"{stats['success_rate']:.1%}",
            f"{stats['mean_reward']:.3f}",
        )
    console.print(table)
    sources = Table("parent source", "uses", "successes", "success rate", "mean reward")
    for name, stats in summary["parent_sources"].items():
        sources.add_row(
            name,
            str(stats["uses"]),
            str(stats["successes"]),
            f"{stats['success_rate']:.1%}",
            f"{stats['mean_reward']:.3f}",
        )
    console.print(sources)
    for line in stagnation_lines(summary["stagnation_events"]):
        console.print(line)
    simplified = summary["best_simplified"]
    if simplified:
        console.print(
            f"best simplified: {simplified['program_id']} replaces "
            f"{simplified['from']} (score {simplified['score']:.6g})"
        )
    islands = Table("island", "children", "best child")  # its own children: not migrants
    for island in summary["islands"]:
        score = island["best_score"]
        islands.add_row(
            str(island["island"]), str(island["children"]), "-" if score is None else f"{score:.6g}"
        )
    console.print(islands)
    if len(summary["islands"]) > 1 or summary["migrations"]:
        console.print(f"migrations between islands: {summary['migrations']}")
    llm = summary.get("llm") or {}
    if llm.get("calls"):
        console.print(
            f"language models: {llm['calls']} calls, {llm['tokens_in']} tokens in, "
            f"{llm['tokens_out']} out, cost {llm['cost']:.4g}"
            + (
                "; failures: " + ", ".join(f"{k} {v}" for k, v in llm["failures"].items())
                if llm["failures"]
                else ""
            )
        )
        for name, stats in llm["models"].items():
            if stats.get("prompts_cut"):
                console.print(_cut_prompts_line(name, stats), markup=False)
        models = Table("model", "calls", "tokens in", "tokens out", "cost", "outcomes")
        for name, stats in llm["models"].items():
            models.add_row(
                name,
                str(stats["calls"]),
                str(stats["tokens_in"]),
                str(stats["tokens_out"]),
                f"{stats['cost']:.4g}",
                ", ".join(f"{k} {v}" for k, v in stats["outcomes"].items()),
            )
        console.print(models)
    print_prompt_learning(console, summary.get("prompt_learning"))
    answers = summary.get("llm_answers") or {}
    if answers.get("answers"):
        console.print(_answers_line(answers))
    novelty = summary.get("novelty") or {}
    if novelty.get("exact_duplicates") or novelty.get("near_duplicates"):
        console.print(
            f"rejected before evaluation: {novelty['exact_duplicates']} exact duplicates, "
            f"{novelty['near_duplicates']} near duplicates"
        )
    for fallback in novelty.get("embedding_fallbacks") or []:
        console.print(  # the embedding server's error, as it wrote it
            f"embeddings gave up, MinHash used instead: {printable(str(fallback.get('reason')))}",
            markup=False,
        )
    return 0


def _state_line(summary: dict[str, Any], run_dir: Path) -> str:
    """Whether the run is running (its lock held), stopped (why), or was killed."""
    if summary["running_in"] is not None:
        return f"running: in {printable(summary['running_in'])}"
    if summary["stop_reason"]:  # may quote a model server's error
        return f"stopped: {printable(summary['stop_reason'])}"
    return (
        "stopped without a clean stop (killed, crashed or its machine lost); "
        f"'evoforge resume {run_dir}' continues it"
    )


def _cut_prompts_line(model: str, stats: dict[str, Any]) -> str:
    """The warning for a model whose server dropped part of its prompts."""
    return (
        f"warning: {printable(model)}: the server cut {stats['prompts_cut']} of the prompts "
        f"it answered (it counted at most {stats['cut_prompt_tokens']} tokens of each): its "
        "context window is smaller than the prompts, so the model did not see all of the "
        "program (Ollama: raise OLLAMA_CONTEXT_LENGTH; llama.cpp: --ctx-size)"
    )


def _running_line(summary: dict[str, Any]) -> str:
    """``ran 1h 02m 05s over 2 invocations, 12.3 evaluations/s``: time spent running, the
    idle time between a stop and its resume left out."""
    seconds = summary["running_seconds"]
    invocations = summary["invocations"]
    over = "" if invocations < 2 else f" over {invocations} invocations"
    rate = summary["evaluations"] / seconds if seconds > 0 else None
    return f"ran {_duration(seconds)}{over}" + (
        "" if rate is None else f", {rate:.3g} evaluations/s"
    )


def _duration(seconds: float) -> str:
    """``45.2s``, ``3m 07s``, ``2h 05m 09s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _answers_line(answers: dict[str, Any]) -> str:
    """One line on the models' answers: applied by match kind, failures, corrections."""
    outcomes = answers["outcomes"]
    applied = outcomes.get("applied", 0)
    kinds = ", ".join(f"{kind} {count}" for kind, count in answers["match"].items())
    failures = ", ".join(
        f"{name.replace('_', ' ')} {count}" for name, count in outcomes.items() if name != "applied"
    )
    corrections = answers["corrections"]
    return (
        f"model answers: {answers['answers']}, applied {applied}"
        + (f" (diffs matched: {kinds})" if kinds else "")
        + (f"; failed: {failures} ({answers['failed_share']:.1%})" if failures else "")
        + (
            f"; correction prompts {corrections['sent']}, {corrections['succeeded']} succeeded"
            if corrections["sent"]
            else ""
        )
    )


def _cmd_oracle(args: argparse.Namespace) -> int:
    from evoforge.llm.oracle import OracleServer, WeakModel

    weak = WeakModel(args.near_miss_rate, args.unparseable_rate)
    try:
        server = OracleServer(args.host, args.port, args.seed, verbose=args.verbose, weak=weak)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = f"evoforge oracle: cannot listen on {args.host}:{args.port}: {reason}"
        raise UsageError(message) from None
    print(
        f"evoforge oracle listening on {server.url} (model 'oracle'); Ctrl-C stops it", flush=True
    )
    try:  # until interrupted: the line for that is _interrupted_line's
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import shlex

    from evoforge.bench.harness import BenchError, BenchInterrupted, BenchOptions, run_bench
    from evoforge.cpus import usable_cpus

    words = ["--problems", *args.problems, "--engines", *args.engines]
    words += ["--seeds", str(args.seeds), "--evaluations", str(args.evaluations)]
    words += ["--out", str(args.out)]
    if args.jobs is not None:
        words += ["--jobs", str(args.jobs)]
    if args.max_run_seconds is not None:
        words += ["--max-run-seconds", str(args.max_run_seconds)]
    command = "evoforge bench " + shlex.join(words)
    options = BenchOptions(
        problems=args.problems,
        engines=args.engines,
        seeds=args.seeds,
        evaluations=args.evaluations,
        out=args.out,
        jobs=args.jobs or usable_cpus(),
        max_run_seconds=args.max_run_seconds,
        command=command,
        report_only=args.report_only,
    )
    try:
        result = run_bench(options, log=lambda line: print(line, flush=True))
    except BenchError as exc:
        raise UsageError(f"evoforge bench: {exc}") from None
    except BenchInterrupted as exc:
        print(f"evoforge bench: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    from evoforge.bench.records import STATUS_OK

    unfinished = [record for record in result.records if record.status != STATUS_OK]
    counts: dict[str, int] = {}
    for record in unfinished:
        counts[record.status] = counts.get(record.status, 0) + 1
    not_ok = "".join(f", {count} {status}" for status, count in sorted(counts.items()))
    print(
        f"{quantity(result.ran, 'run')} recorded{not_ok}, "
        f"{result.skipped_finished} already finished, in {result.wall_time_s:.1f} s; "
        f"report in {result.readme}"
    )
    if unfinished and not args.report_only:
        # a bench whose runs failed must not end as if all were well
        first = unfinished[0]
        print(
            f"evoforge bench: {quantity(len(unfinished), 'run')} without a result "
            f"({first.problem} / {first.engine} / seed {first.seed}: {first.status}: "
            f"{first.reason[:200]}); the report lists every reason, and the same command "
            "tries them again",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from evoforge.export import ExportError
    from evoforge.export.command import run_export

    try:
        return run_export(args)
    except ExportError as exc:
        raise UsageError(f"evoforge export: {exc}") from None


def _cmd_init(args: argparse.Namespace) -> int:
    target: Path = args.directory
    if target.exists() and not target.is_dir():
        raise UsageError(f"evoforge init: {target} is a file; name a new or empty directory")
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"evoforge init: {target} exists and is not empty")
    template = resources.files("evoforge") / "templates" / "init"
    try:  # whole or not at all: an init that fails or is killed leaves no half problem
        with staged_directory(target) as (staged, put_in_place):
            for entry in template.iterdir():
                if entry.is_file() and not entry.name.endswith(".pyc"):
                    (staged / entry.name).write_bytes(entry.read_bytes())
            put_in_place()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"evoforge init: cannot write {target}: {reason}") from None
    command = f"evoforge run {shlex.quote(str(target))} --iterations 100"  # to paste as is
    print(f"wrote a problem to {target}; try: {command}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from evoforge.config import Config, config_reference, config_to_yaml

    print(config_reference() if args.reference else config_to_yaml(Config()), end="")
    return 0


_COMMANDS = {
    "config": _cmd_config,
    "run": _cmd_run,
    "resume": _cmd_resume,
    "best": _cmd_best,
    "status": _cmd_status,
    "init": _cmd_init,
    "oracle": _cmd_oracle,
    "bench": _cmd_bench,
    "export": _cmd_export,
    "check": run_check,
    **VIEW_COMMANDS,
}


def tolerate_unencodable_output() -> None:
    """Let stdout and stderr write any text: a character their encoding cannot hold (an
    ASCII or Latin-1 locale such as ``LC_ALL=C`` reading a program with ``π`` in it) is
    written as a backslash escape (``\\u03c0``) instead of raising UnicodeEncodeError.
    Files written for the user (``best -o``, exports, reports) are UTF-8 and unaffected."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors in ("strict", "surrogateescape"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script. Returns the exit status. Output that a closed
    terminal refuses is dropped (:func:`evoforge.stop_signals.outliving_the_terminal`)."""
    tolerate_unencodable_output()
    with outliving_the_terminal():
        return _command(argv)


def _interrupted_line(args: argparse.Namespace | None) -> str:
    """The one line an interrupted command ends with: what it kept, how to go on. (An
    interrupted ``run`` or ``resume`` has said that already, unless it stopped before it
    had a run to say it of; ``bench`` says it itself.)"""
    if args is None:  # stopped while the command line was read
        return "evoforge: interrupted"
    command = args.command
    run_dir = {"run": getattr(args, "out", None), "resume": getattr(args, "run_dir", None)}
    ran = run_dir.get(command)
    if ran is not None and (ran / RunDatabase.FILENAME).is_file():  # (a start that failed
        # removed it): the run was stopped as it started, or a second signal abandoned
        # the evaluations in flight
        return (
            f"evoforge {command}: interrupted; its committed steps are kept, and "
            f"'evoforge resume {ran}' continues the run"
        )
    if command == "export":
        return (
            f"evoforge export: interrupted; an export in {args.out} is whole only with its "
            "card (README.md), and the same command writes it again"
        )
    if command == "report":
        out = args.out or args.run_dir / REPORT_FILENAME
        return f"evoforge report: interrupted; {out} was not written (an earlier one is kept)"
    if command == "serve":
        return "evoforge serve: interrupted (it only reads the runs: nothing to keep)"
    if command == "oracle":
        return "evoforge oracle: interrupted (it keeps nothing between starts)"
    if command == "check":
        return "evoforge check: interrupted (it writes nothing; run it again to see every probe)"
    return "evoforge: interrupted"


def _command(argv: Sequence[str] | None) -> int:
    """The command of ``argv``, its errors said in one line: the exit status. SIGTERM and
    SIGHUP stop every command as Ctrl-C does (:func:`stopping_as_ctrl_c`): one line, and
    :data:`EXIT_INTERRUPTED`."""
    args: argparse.Namespace | None = None
    try:
        with stopping_as_ctrl_c():
            args = build_parser().parse_args(argv)
            return _COMMANDS[args.command](args)
    except (
        UsageError,
        ConfigError,
        ProblemError,
        EngineError,
        DatabaseError,
        ViewUsageError,
    ) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"evoforge: error: {printable(message)}", file=sys.stderr)
        return EXIT_USAGE
    except (sqlite3.DatabaseError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        # stored data that does not read back: a run database damaged after it was opened
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        print(
            f"evoforge: error: unreadable stored data (a damaged run.sqlite?): {detail}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except BrokenPipeError:
        # the reader went away (``evoforge best RUN | head -1``): nothing left to say to
        # it, and nothing more may reach the closed pipe when the interpreter flushes
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        print(
            f"evoforge: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(printable(_interrupted_line(args)), file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # python -m evoforge.cli: as the console script ends
    from evoforge.__main__ import end_by_sigint

    _status = main()
    if _status == EXIT_INTERRUPTED:
        end_by_sigint()
    sys.exit(_status)
