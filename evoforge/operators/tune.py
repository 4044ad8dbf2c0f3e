"""``tune``: perturb the numeric literals of the evolve blocks.

Each child first draws its relative step ``s`` in ``[sigma * 10**-step_decades, sigma]``:
the scale at which a program's literals can still improve ranges from a tenth of the value
(a rough seed) to a millionth (a polynomial already fitted to a few digits), and no fixed
step serves both. The step is recorded with the child (``Program.params["step"]``, and
in its note for people: ``step 3.2e-05``), and the lineage serves as the step's memory,
*without hidden state*: the successful steps are those of the ``tune`` children among
the relatives that scored above their parent (itself a relative). Three children in
four (``_EXPLOIT_SHARE``) exploit: they reuse one of the latest ``_STEP_MEMORY``
successful steps, jittered by ``10**N(0, _STEP_JITTER_DECADES)``.
A step's odds are the gain it made divided by the number of ``tune`` relatives tried at
about its scale (within ``_ATTEMPT_SCALE_DECADES``), failed evaluations included: the gain
per attempt at that scale, so a step that gained 1e-3 outweighs one that polished the
sixth digit, unless most children at its scale broke the program (a layout pushed out of
its domain). While the lineage has no successful step, an exploiting child takes
``sigma`` itself with probability ``1 / n`` (``n`` the tries at sigma's scale so far, at
least one), else explores. The others explore: ``s = sigma * 10**-u`` with ``u`` uniform
in ``[0, step_decades]``, so every scale keeps being tried. Then one of two modes, both
drawing only from ``context.rng``:

* **CMA-ES** (``use_cma``, at least two scored relatives and two tunable float literals):
  the covariance is adapted *without hidden state*. A fresh
  :class:`cma.CMAEvolutionStrategy` starts at the parent's float literals (per-coordinate
  scale ``|x|``, step ``s``), is told the relatives' literal vectors (oldest first,
  fitness ``-score``) in population-sized batches, and one sample is asked of it.
* **Gaussian**: a random subset (one plus a third of the rest on average, at most
  ``max_literals``) of the literals moves by
  ``s * |x|`` (``s`` for zeros) times a standard normal draw. Ints stay ints and
  move by at least 1.

Where a program has from two to ``_SINGLE_MAX_LITERALS`` tunable literals (and
``single_moves`` is on), a share of the children instead move **one literal** alone,
chosen uniformly, by the Gaussian rule. Such a child records the literal's position
(``Program.params["literal"]``), and its step is drawn as above from the memory of *that
literal's* single moves only: literals whose sensitivities differ by orders of magnitude
(the constant and the top coefficient of a fitted polynomial) each find their own scale,
which one step over all of them (the per-coordinate scale ``|x|`` of CMA-ES and the
Gaussian subsets) cannot. Children that move several literals draw from the memory of
multi-literal children only. The share of single moves is the lineage's gain per try of
single moves over that of both kinds (tries include failed evaluations), held within
``[_SINGLE_SHARE_LOW, _SINGLE_SHARE_HIGH]``, and ``_SINGLE_SHARE_PRIOR`` until either kind
has gained. CMA-ES replays the relatives *other than* single-literal children: those are
not samples of any covariance, and a history made mostly of moves along the axes teaches
CMA-ES an axis-aligned covariance exactly where literals act together (an intercept and a
slope along a diagonal ridge, where only a joint move climbs). Past
``_SINGLE_MAX_LITERALS`` literals a literal's own memory would rarely hold a try: the
engine passes the last 32 scored relatives, so with a half share each of ``n`` literals
has ``16 / n`` single moves among them, two at eight.

Literals inside indexes and slices (``x[0]``, ``x[1:]``) are never tuned; booleans are
not numbers. Floats are rounded to 6 significant digits, or to three digits of the step
where it is finer, so children stay readable.
"""

from __future__ import annotations

import ast
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from evoforge.config import OperatorsConfig, TuneConfig
from evoforge.operators.ast_tools import (
    LiteralSite,
    Number,
    ParsedProgram,
    literal_sites,
    literal_vector,
    make_number,
    parse_program,
    replace_nodes,
)
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.program import Program

if TYPE_CHECKING:
    from evoforge.operators.llm import LLMServices

_ATTEMPTS = 6
_EXPLOIT_SHARE = 0.75  # children that take a step that paid (or sigma) rather than explore
_STEP_MEMORY = 8  # successful steps remembered (the latest ones)
_STEP_JITTER_DECADES = 0.25  # spread of a reused step, in decades (log10)
_ATTEMPT_SCALE_DECADES = 0.5  # tries within this many decades of a step count as its own
_CMA_ATTEMPTS = 2
_SINGLE_SHARE_LOW = 0.2  # the least share of single-literal children
_SINGLE_SHARE_HIGH = 0.8  # the most
_SINGLE_SHARE_PRIOR = 0.5  # the share while neither kind has gained
_SINGLE_MAX_LITERALS = 8  # more tunable literals than this: no single-literal moves
MULTI_LANE = -1  # the step-memory lane of children that move several literals
_SIGNIFICANT_DIGITS = 6
_ZERO_SCALE_BELOW = 1e-12


@dataclass(frozen=True)
class _Site:
    block: int
    position: int  # index into the program's literal_vector
    site: LiteralSite


class TuneOperator(Operator):
    """Perturb numeric literals; CMA-ES over float literals when relatives allow it."""

    name = "tune"
    uses_relatives = True

    @classmethod
    def from_settings(cls, settings: OperatorsConfig, llm: LLMServices | None) -> Operator:
        return cls(settings.tune)

    def __init__(self, config: TuneConfig | None = None) -> None:
        self.config = config if config is not None else TuneConfig.model_validate({})

    async def propose(self, context: ProposalContext) -> Proposal | None:
        """A child with some literals changed, or None when the blocks hold none."""
        parsed = parse_program(context.parent.code)
        if parsed is None:
            return None
        for attempt in range(_ATTEMPTS):
            try:
                proposal = self._attempt(parsed, context, allow_cma=attempt < _CMA_ATTEMPTS)
            except Exception:  # one failed attempt must never fail the proposal
                continue
            if proposal is not None:
                return proposal
        return None

    def _attempt(
        self, parsed: ParsedProgram, context: ProposalContext, *, allow_cma: bool
    ) -> Proposal | None:
        trees = parsed.fresh_trees()
        sites: list[_Site] = []
        for block_index, tree in enumerate(trees):
            if tree is None:
                continue
            for site in literal_sites(tree):
                sites.append(_Site(block=block_index, position=len(sites), site=site))
        tunable = [site for site in sites if not site.site.in_subscript]
        if not tunable:
            return None

        rng = context.rng
        new_values: dict[int, Number] = {}
        params: dict[str, float] = {}
        single = (
            self.config.single_moves
            and 2 <= len(tunable) <= _SINGLE_MAX_LITERALS
            and rng.random() < single_share(context.relatives)
        )
        if single:
            moved = tunable[int(rng.integers(len(tunable)))]
            step = self._draw_step(context, lane=moved.position)
            new_values = {moved.position: _perturb(moved.site.value, step, rng)}
            mode = "single"
            params["literal"] = float(moved.position)
        else:
            step = self._draw_step(context, lane=MULTI_LANE)
            mode = "gauss"
            if allow_cma and self.config.use_cma:
                cma_values = self._cma_values(tunable, len(sites), context, step)
                if cma_values is not None:
                    new_values, mode = cma_values, "cma"
            if not new_values:
                new_values = self._gaussian_values(tunable, rng, step)

        mapping: dict[int, ast.AST] = {}
        edited: set[int] = set()
        for tunable_site in tunable:
            value = new_values.get(tunable_site.position)
            old = tunable_site.site.value
            if value is None or (value == old and type(value) is type(old)):
                continue
            mapping[id(tunable_site.site.node)] = make_number(value)
            edited.add(tunable_site.block)
        if not mapping:
            return None
        for block_index in sorted(edited):
            tree = trees[block_index]
            if tree is not None:
                replace_nodes(tree, mapping)
        child = parsed.render(trees, sorted(edited))
        if not parsed.accepts(child, numbers_only=True):
            return None
        count = len(mapping)
        shown = f"{step:.1e}"
        what = f"literal #{int(params['literal'])}" if single else f"{count} literal"
        plural = "s" if count != 1 and not single else ""
        return Proposal(
            code=child,
            operator=self.name,
            note=f"tune: {what}{plural}, {mode}, step {shown}",
            # the step as shown, so the note and the memory agree
            params={"step": float(shown), **params},
        )

    # ------------------------------------------------------------------ step

    def _draw_step(self, context: ProposalContext, lane: int) -> float:
        """This child's relative step: mostly a remembered successful one of its ``lane``
        (or ``sigma`` while the lane has none), else log-uniform over the decades."""
        largest = self.config.sigma
        smallest = largest * 10.0**-self.config.step_decades
        rng = context.rng
        if rng.random() < _EXPLOIT_SHARE:
            remembered = successful_steps(context.relatives, lane)[-_STEP_MEMORY:]
            attempts = attempted_steps(context.relatives, lane)
            if remembered:
                odds = step_odds(remembered, attempts)
                index = int(rng.choice(len(remembered), p=odds / odds.sum()))
                base = remembered[index][0]
                jittered = base * 10.0 ** float(rng.normal(0.0, _STEP_JITTER_DECADES))
                return min(largest, max(smallest, jittered))
            # sigma is worth one success until tries at its scale say otherwise
            if rng.random() < step_odds([(largest, 1.0)], attempts)[0]:
                return largest
        return largest * 10.0 ** -float(rng.uniform(0.0, self.config.step_decades))

    # ------------------------------------------------------------------ Gaussian

    def _gaussian_values(
        self, tunable: Sequence[_Site], rng: np.random.Generator, step: float
    ) -> dict[int, Number]:
        limit = min(len(tunable), self.config.max_literals)
        count = 1 + int(rng.binomial(limit - 1, 1 / 3))
        chosen = sorted(int(i) for i in rng.choice(len(tunable), size=count, replace=False))
        values: dict[int, Number] = {}
        for index in chosen:
            site = tunable[index]
            values[site.position] = _perturb(site.site.value, step, rng)
        return values

    # ------------------------------------------------------------------ CMA-ES

    def _cma_values(
        self,
        tunable: Sequence[_Site],
        vector_length: int,
        context: ProposalContext,
        step: float,
    ) -> dict[int, Number] | None:
        floats = [site for site in tunable if isinstance(site.site.value, float)]
        if len(floats) < 2 or len(floats) > self.config.max_literals:
            return None
        if not all(math.isfinite(site.site.value) for site in floats):
            return None
        history = _relative_history(context.relatives, vector_length, [s.position for s in floats])
        if len(history) < 2:
            return None
        x0 = np.array([float(site.site.value) for site in floats])
        sample = _cma_sample(x0, step, history, context.rng)
        if sample is None:
            return None
        digits = _digits_for(step)
        return {
            site.position: _round(float(x), digits) for site, x in zip(floats, sample, strict=True)
        }


def step_of(program: Program) -> float | None:
    """The relative step a ``tune`` child was made with (``Program.params["step"]``), or
    None when it is no ``tune`` child or has no usable step."""
    if program.operator != TuneOperator.name:
        return None
    step = program.params.get("step")
    if not isinstance(step, int | float) or isinstance(step, bool):
        return None
    return float(step) if math.isfinite(step) and step > 0 else None


def lane_of(program: Program) -> int:
    """The step-memory lane of a ``tune`` child: the position of the one literal it moved
    alone (``Program.params["literal"]``), else :data:`MULTI_LANE`."""
    literal = program.params.get("literal")
    if not isinstance(literal, int | float) or isinstance(literal, bool):
        return MULTI_LANE
    if math.isfinite(literal) and literal >= 0 and literal == int(literal):
        return int(literal)
    return MULTI_LANE


def _in_lane(program: Program, lane: int | None) -> bool:
    return lane is None or lane_of(program) == lane


def _gain_over_parent(program: Program, scores: dict[str, float | None]) -> float | None:
    """How much ``program`` scored above its parent (a key of ``scores``), if both scored."""
    parent_score = scores.get(program.parent_id or "")
    if program.score is None or parent_score is None:
        return None
    gain = program.score - parent_score
    return gain if math.isfinite(gain) else None


def successful_steps(
    relatives: Sequence[Program], lane: int | None = None
) -> list[tuple[float, float]]:
    """``(step, gain over the parent)`` of the ``tune`` children among ``relatives`` that
    scored above their parent (which must be among the relatives too), oldest first; of
    one ``lane`` only (see :func:`lane_of`) unless it is None."""
    scores = {program.id: program.score for program in relatives}
    found: list[tuple[int, float, float]] = []
    for program in relatives:
        step = step_of(program)
        if step is None or not _in_lane(program, lane):
            continue
        gain = _gain_over_parent(program, scores)
        if gain is not None and gain > 0:
            found.append((program.seq, step, gain))
    found.sort()
    return [(step, gain) for _, step, gain in found]


def attempted_steps(relatives: Sequence[Program], lane: int | None = None) -> list[float]:
    """The steps of every ``tune`` child among ``relatives`` whose step is known, whatever
    came of it (better, worse, or failed in evaluation); of one ``lane`` unless None."""
    return [
        step
        for program in relatives
        if (step := step_of(program)) is not None and _in_lane(program, lane)
    ]


def single_share(relatives: Sequence[Program]) -> float:
    """The share of children (of programs with two or more tunable literals) that move one
    literal alone: the gain per try of the single-literal ``tune`` children among
    ``relatives`` over the sum of both kinds' gains per try, within
    ``[_SINGLE_SHARE_LOW, _SINGLE_SHARE_HIGH]``; ``_SINGLE_SHARE_PRIOR`` while neither
    kind gained."""
    scores = {program.id: program.score for program in relatives}
    gains = {True: 0.0, False: 0.0}
    tries = {True: 0, False: 0}
    for program in relatives:
        if step_of(program) is None:
            continue
        single = lane_of(program) != MULTI_LANE
        tries[single] += 1
        gain = _gain_over_parent(program, scores)
        if gain is not None and gain > 0:
            gains[single] += gain
    rates = {kind: gains[kind] / tries[kind] if tries[kind] else 0.0 for kind in (True, False)}
    total = rates[True] + rates[False]
    if total <= 0:
        return _SINGLE_SHARE_PRIOR
    return min(_SINGLE_SHARE_HIGH, max(_SINGLE_SHARE_LOW, rates[True] / total))


def step_odds(remembered: Sequence[tuple[float, float]], attempts: Sequence[float]) -> np.ndarray:
    """Odds of reusing each remembered ``(step, gain)``: its gain divided by the number of
    ``attempts`` within ``_ATTEMPT_SCALE_DECADES`` of its step (at least one)."""
    tried = np.log10(np.asarray(attempts, dtype=float)) if attempts else np.zeros(0)
    odds = []
    for step, gain in remembered:
        near = int(np.count_nonzero(np.abs(tried - math.log10(step)) <= _ATTEMPT_SCALE_DECADES))
        odds.append(gain / max(1, near))
    return np.asarray(odds, dtype=float)


def _relative_history(
    relatives: Sequence[Program], vector_length: int, positions: Sequence[int]
) -> list[tuple[np.ndarray, float]]:
    """(literal sub-vector, score) of each usable relative, oldest first; single-literal
    ``tune`` children are left out (see the module's docstring)."""
    usable: list[tuple[int, np.ndarray, float]] = []
    for relative in relatives:
        score = relative.score
        if score is None or not math.isfinite(score):
            continue
        if step_of(relative) is not None and lane_of(relative) != MULTI_LANE:
            continue
        vector = literal_vector(relative.code)
        if len(vector) != vector_length:
            continue
        sub = np.array([vector[p] for p in positions], dtype=float)
        if not np.all(np.isfinite(sub)):
            continue
        usable.append((relative.seq, sub, float(score)))
    usable.sort(key=lambda item: item[0])
    return [(sub, score) for _, sub, score in usable]


# What ``cma`` imports when installed but does without (plots; the rank statistics of
# its surrogate models): over a second of CPU in every process that tunes, before its
# first child, and tune uses neither.
_CMA_NEEDLESS = ("matplotlib", "scipy.stats")


def _import_cma() -> ModuleType:
    """The ``cma`` module, imported (once per process) without :data:`_CMA_NEEDLESS`
    unless this process loaded them already; importing them later works as ever."""
    loaded = sys.modules.get("cma")
    if loaded is not None:
        return loaded
    blocked = [name for name in _CMA_NEEDLESS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import cma
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    return cma


# cma's options, every default included, evaluated for one (dimension, population size):
# cma evaluates each option given as a text expression (``"4 + 3 * log(N)"``) whenever a
# strategy starts, about a third of a start's CPU; given as values, they are only copied.
_CMA_OPTIONS: dict[tuple[int, int], dict[str, Any]] = {}


def _cma_options(cma: ModuleType, dimension: int, popsize: int) -> dict[str, Any]:
    """A fresh copy of cma's options for ``dimension`` and ``popsize`` (quiet, no seed of
    its own), evaluated once per process and pair; the caller adds ``randn`` and
    ``CMA_stds``. The strategy started from it is the one the unevaluated options give."""
    key = (dimension, popsize)
    evaluated = _CMA_OPTIONS.get(key)
    if evaluated is None:
        options = cma.CMAOptions({"verbose": -9, "popsize": popsize, "seed": float("nan")})
        evaluated = dict(options.complement().evalall({"N": dimension}))
        _CMA_OPTIONS[key] = evaluated
    # a strategy may change a list or dict of its options in place: each gets its own
    return {
        name: value.copy() if isinstance(value, list | dict) else value
        for name, value in evaluated.items()
    }


def _cma_sample(
    x0: np.ndarray,
    sigma: float,
    history: Sequence[tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> np.ndarray | None:
    """One CMA-ES sample after replaying ``history``; randomness from ``rng`` only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cma = _import_cma()
        dimension = len(x0)
        default_popsize = 4 + int(3 * math.log(dimension))
        popsize = max(2, min(default_popsize, len(history)))
        scales = np.where(np.abs(x0) > _ZERO_SCALE_BELOW, np.abs(x0), 1.0)
        randn: Callable[..., Any] = lambda *shape: rng.standard_normal(shape)  # noqa: E731
        options = _cma_options(cma, dimension, popsize)
        options["randn"] = randn
        options["CMA_stds"] = list(scales)
        strategy = cma.CMAEvolutionStrategy(list(x0), sigma, options)
        batches = [list(history[i : i + popsize]) for i in range(0, len(history), popsize)]
        if len(batches[-1]) < popsize:
            batches[-1] = list(history[-popsize:])
        for batch in batches:
            strategy.ask()
            strategy.tell([vector.copy() for vector, _ in batch], [-score for _, score in batch])
        sample = np.asarray(strategy.ask(1)[0], dtype=float)
    if sample.shape != x0.shape or not np.all(np.isfinite(sample)):
        return None
    return sample


# ---------------------------------------------------------------------- steps


def _digits_for(step: float) -> int:
    """Significant digits that keep a relative move of ``step`` to about three digits."""
    return max(_SIGNIFICANT_DIGITS, min(15, math.ceil(-math.log10(step)) + 3))


def _round(value: float, digits: int = _SIGNIFICANT_DIGITS) -> float:
    return float(f"{value:.{digits}g}")


def _perturb(value: Number, sigma: float, rng: np.random.Generator) -> Number:
    """A scale-aware Gaussian step; ints stay ints and move by at least 1."""
    if isinstance(value, int):
        step = sigma * float(max(abs(value), 1)) * float(rng.standard_normal())
        delta = round(step)
        if delta == 0:
            delta = 1 if step >= 0 else -1
        return value + delta
    scale = abs(value) if abs(value) > _ZERO_SCALE_BELOW else 1.0
    for _ in range(4):
        candidate = _round(value + sigma * scale * float(rng.standard_normal()), _digits_for(sigma))
        if candidate != value and math.isfinite(candidate):
            return candidate
    return value
