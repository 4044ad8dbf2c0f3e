"""Degenerate programs tried against a problem's evaluator: does it score a non-answer?

A search finds any path to a higher score, including one that skips the problem: an
evaluator that accepts ``None``, a NaN, an empty list, a process that exits with status 0
half-way, or a score printed on standard output, will be rewarded for exactly that. This
module writes such programs from a problem's seed and scores them the way a run scores a
child (the problem's own evaluator and evaluation settings, the sandbox, ``verify``), so
that a problem's author sees the holes before a search finds them.

Each probe changes the seed's evolve blocks only (the frozen code stays as it is, as in any
child): every function defined at the top of a block, or in a class there, gets the probe's
body; a block that defines no function gets the probe's statements at its top (for the
probes that act while the program loads). A probe whose program is one written before it
(``echo-argument`` where no function takes an argument) is left out. The probes:

* ``return-none``, ``return-zero``, ``return-empty``, ``return-nan``, ``return-inf``,
  ``return-huge``: each function returns that constant (``None``, ``0``, ``[]``, NaN,
  infinity, ``1e308``);
* ``echo-argument``: each function returns its first argument (``None`` without one);
* ``raise``: each function raises ``RuntimeError``;
* ``exit-zero``: each function ends its process at once with status 0 (``os._exit(0)``);
* ``system-exit``: each function raises ``SystemExit(0)``;
* ``printed-score``: each function first prints a line claiming a huge score, then does
  what the seed's does.

A probe **scores above the seed** (a hole: a search would be rewarded for a non-answer)
when its evaluation is ``ok`` with a finite score above the seed's. A probe that *ties* the
seed is reported, not counted as a hole: a tie gives a search no pull towards the probe,
and constants tie many honest seeds (a score with a floor or a few discrete levels, frozen
code that falls back to the seed's flat answer); ``printed-score``, which runs the seed's
code after its print, ties it unless the evaluator reads the print. A probe
accepted with a lower score is reported as such: a constant answer can be a valid, poor
program (a priority function returning 0 is first fit).
"""

from __future__ import annotations

import ast
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from evoforge.blocks import block_indent, dedent_block, indent_block, replace_blocks, split_blocks
from evoforge.program import EvalStatus, EvaluationResult
from evoforge.splits import last_line

__all__ = [
    "ABOVE_THE_SEED",
    "PROBES",
    "TIES_THE_SEED",
    "Probe",
    "ProbeOutcome",
    "ProbeReport",
    "degenerate_programs",
    "probe_problem",
]

#: The verdicts that a probe scored above the seed (a hole), and that it tied it.
ABOVE_THE_SEED = "scores above the seed"
TIES_THE_SEED = "ties the seed"

_FAKE_SCORE_LINE = '{"combined_score": 1e300, "score": 1e300, "error": 0.0}'


@dataclass(frozen=True)
class Probe:
    """One degenerate program: its name, what it does, and its code."""

    name: str
    description: str
    code: str


_Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class _Kind:
    name: str
    description: str
    body: Callable[[_Function | None], list[ast.stmt]]  # None: a block's top
    at_load: bool = False  # also acts from a block that defines no function
    keeps_seed: bool = False  # the seed's behaviour follows the probe's statements


def _statements(source: str) -> list[ast.stmt]:
    return ast.parse(source).body


def _returns(expression: str) -> Callable[[_Function | None], list[ast.stmt]]:
    return lambda _function: _statements(f"return {expression}")


def _first_argument(function: _Function | None) -> list[ast.stmt]:
    arguments = [*function.args.posonlyargs, *function.args.args] if function else []
    if arguments and arguments[0].arg in ("self", "cls"):
        arguments = arguments[1:]
    name = arguments[0].arg if arguments else "None"
    return _statements(f"return {name}")


_KINDS = (
    _Kind("return-none", "every function returns None", _returns("None")),
    _Kind("return-zero", "every function returns 0", _returns("0")),
    _Kind("return-empty", "every function returns []", _returns("[]")),
    _Kind("return-nan", "every function returns NaN", _returns("float('nan')")),
    _Kind("return-inf", "every function returns infinity", _returns("float('inf')")),
    _Kind("return-huge", "every function returns 1e308", _returns("1e308")),
    _Kind("echo-argument", "every function returns its first argument", _first_argument),
    _Kind(
        "raise",
        "every function raises RuntimeError",
        lambda _f: _statements("raise RuntimeError('a degenerate program')"),
    ),
    _Kind(
        "exit-zero",
        "the process ends with status 0 when the program runs (os._exit(0))",
        lambda _f: _statements("import os as _os\n_os._exit(0)"),
        at_load=True,
    ),
    _Kind(
        "system-exit",
        "SystemExit(0) is raised when the program runs",
        lambda _f: _statements("raise SystemExit(0)"),
        at_load=True,
    ),
    _Kind(
        "printed-score",
        "a huge score is printed on standard output, then the seed's code runs",
        lambda _f: _statements(f"print({_FAKE_SCORE_LINE!r}, flush=True)"),
        at_load=True,
        keeps_seed=True,
    ),
)

#: The probes' names, in the order they are tried.
PROBES = tuple(kind.name for kind in _KINDS)


class _Rewrite(ast.NodeTransformer):
    """Give every function at the top of a block (or of a class there) the probe's body."""

    def __init__(self, kind: _Kind) -> None:
        self.kind = kind
        self.functions = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> _Function:
        return self._rewrite(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> _Function:
        return self._rewrite(node)

    def _rewrite(self, node: _Function) -> _Function:
        self.functions += 1
        statements = self.kind.body(node)
        node.body = [*statements, *node.body] if self.kind.keeps_seed else statements
        return node  # functions nested in it are not visited: they are gone or unchanged

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        node.body = [self.visit(statement) for statement in node.body]
        return node


def _probe_block(block: str, kind: _Kind) -> tuple[str, bool]:
    """``block`` with the probe applied, and whether the probe acts in it."""
    if not block.strip():
        return block, False
    tree = ast.parse(dedent_block(block))
    rewrite = _Rewrite(kind)
    tree.body = [
        rewrite.visit(statement)
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        else statement
        for statement in tree.body
    ]
    acts = rewrite.functions > 0
    if not acts and kind.at_load:
        tree.body = [*kind.body(None), *tree.body]
        acts = True
    if not acts:
        return block, False
    return indent_block(ast.unparse(ast.fix_missing_locations(tree)), block_indent(block)), True


def degenerate_programs(code: str) -> list[Probe]:
    """The probes of :data:`PROBES` written from ``code`` (a seed with evolve blocks), in
    that order; a probe that would change nothing (no function to give its body, and it
    does not act while the program loads) is left out. Raises :class:`SyntaxError` for a
    block that does not parse and :class:`~evoforge.blocks.BlockError` for broken markers."""
    blocks = split_blocks(code).blocks
    probes: list[Probe] = []
    for kind in _KINDS:
        changed = [_probe_block(block, kind) for block in blocks]
        if any(acts for _, acts in changed):
            probe_code = replace_blocks(code, [block for block, _ in changed])
            if all(probe.code != probe_code for probe in probes):
                probes.append(Probe(kind.name, kind.description, probe_code))
    return probes


@dataclass(frozen=True)
class ProbeOutcome:
    """How the evaluator scored one probe."""

    probe: Probe
    status: str
    score: float | None
    reason: str
    verdict: str  # in words: see :func:`_verdict`

    @property
    def hole(self) -> bool:
        """Whether it scored above the seed (see the module docstring)."""
        return self.verdict == ABOVE_THE_SEED


@dataclass(frozen=True)
class ProbeReport:
    """The seed's evaluation and every probe's; the seed is scored twice (an evaluator
    whose score moves between two evaluations of one program has a search chase noise),
    and ``seed_duration_s`` is the first evaluation's wall time, against ``timeout_s``."""

    problem: str
    seed_status: str
    seed_score: float | None
    seed_reason: str
    outcomes: tuple[ProbeOutcome, ...]
    seed_score_again: float | None = None
    seed_duration_s: float = 0.0
    timeout_s: float = 0.0

    @property
    def noisy(self) -> bool:
        """Whether the seed's two scores differ (or only one of them is a score)."""
        return self.seed_score != self.seed_score_again

    @property
    def slow(self) -> bool:
        """Whether the seed took more than half its time limit: a child a little slower
        times out."""
        return self.seed_duration_s > 0.5 * self.timeout_s

    @property
    def holes(self) -> list[ProbeOutcome]:
        """The probes that scored above the seed."""
        return [outcome for outcome in self.outcomes if outcome.hole]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON data: the seed, then one entry per probe."""
        return {
            "problem": self.problem,
            "seed": {
                "status": self.seed_status,
                "score": self.seed_score,
                "score_again": self.seed_score_again,
                "reason": self.seed_reason,
                "duration_s": self.seed_duration_s,
                "timeout_s": self.timeout_s,
            },
            "probes": [
                {
                    "name": outcome.probe.name,
                    "description": outcome.probe.description,
                    "status": outcome.status,
                    "score": outcome.score,
                    "verdict": outcome.verdict,
                    "reason": outcome.reason,
                }
                for outcome in self.outcomes
            ],
            "holes": [outcome.probe.name for outcome in self.holes],
        }


def _verdict(score: float | None, seed_score: float | None) -> str:
    """``scores above the seed`` (a hole), ``ties the seed``, ``accepted, below the seed``,
    ``accepted`` (the seed did not score) or ``refused``."""
    if score is None:
        return "refused"
    if seed_score is None:
        return "accepted"
    if score > seed_score:
        return ABOVE_THE_SEED
    return TIES_THE_SEED if score == seed_score else "accepted, below the seed"


def _score(result: EvaluationResult) -> float | None:
    score = result.score
    if result.status is not EvalStatus.OK or score is None or not math.isfinite(score):
        return None
    return score


def probe_problem(
    problem_dir: Path | str,
    *,
    workers: int = 1,
    on_start: Callable[[int], None] = lambda _count: None,
    on_outcome: Callable[[str, ProbeOutcome | None], None] = lambda _name, _outcome: None,
    only: Sequence[str] = (),
) -> ProbeReport:
    """Score the seed of the problem in ``problem_dir``, then every probe (``only``: those
    named), ``workers`` at a time, as a run of that problem would score a child (its
    config's evaluator settings; on the search split for a problem with instance splits).
    The seed is scored a second time beside the probes. ``on_start`` hears how many
    evaluations that is (the seed's two included), ``on_outcome`` of each as it ends
    (``"seed"`` with None first, ``"seed-again"`` with None when the second ends). Raises
    what loading the problem raises."""
    from evoforge.config import resolve_config
    from evoforge.evaluation.evaluator import ProblemEvaluator
    from evoforge.problem import load_problem
    from evoforge.splits import search_split

    problem = load_problem(Path(problem_dir))
    config = resolve_config(problem_layer=problem.config_layer)
    probes = degenerate_programs(problem.initial_code)
    if only:
        probes = [probe for probe in probes if probe.name in only]
    split = search_split(config.splits)
    evaluator = ProblemEvaluator(
        problem.evaluator_path,
        config.evaluator,
        program_filename=problem.program_filename,
        feature_names=[feature.name for feature in config.archive.features],
    )
    try:
        on_start(2 + len(probes))
        seed = evaluator.evaluate(problem.initial_code, split)
        seed_score = _score(seed)
        on_outcome("seed", None)

        def judge(probe: Probe) -> ProbeOutcome | None:
            result = evaluator.evaluate(probe.code, split)
            if stopping.is_set():  # the check was interrupted: its end is no verdict
                return None
            score = _score(result)
            outcome = ProbeOutcome(
                probe,
                result.status.value,
                score,
                last_line(result.reason, default=""),
                _verdict(score, seed_score),
            )
            on_outcome(probe.name, outcome)
            return outcome

        def score_seed_again() -> float | None:
            again = _score(evaluator.evaluate(problem.initial_code, split))
            if not stopping.is_set():
                on_outcome("seed-again", None)
            return again

        stopping = threading.Event()
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            second = pool.submit(score_seed_again)
            outcomes = tuple(outcome for outcome in pool.map(judge, probes) if outcome)
            seed_score_again = second.result()
        except BaseException:  # interrupted: the probes under way are told, and those not
            stopping.set()  # started yet never start
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    finally:
        evaluator.close()
    return ProbeReport(
        problem=problem.name,
        seed_status=seed.status.value,
        seed_score=seed_score,
        seed_reason=last_line(seed.reason, default=""),
        outcomes=outcomes,
        seed_score_again=seed_score_again,
        seed_duration_s=seed.duration_s,
        timeout_s=config.evaluator.timeout_s,
    )
