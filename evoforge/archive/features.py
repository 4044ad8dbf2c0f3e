"""Feature descriptors: the raw coordinates of a program in a MAP-Elites grid.

Feature values are computed once, when a child is scored, and stored in
``Program.features``; grids bin those raw values and never recompute them. Everything
here is a pure function of its arguments (token sets are memoised by code text only).
"""

from __future__ import annotations

import ast
import math
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache

from evoforge.blocks import BlockError, evolve_blocks
from evoforge.config import FeatureConfig
from evoforge.program import Program
from evoforge.registry import FEATURES

FeatureFunction = Callable[[str, Mapping[str, float], float | None, Sequence[Program]], float]
"""``(code, metrics, score, reference programs) -> value``: how a registered feature is
computed (see :data:`evoforge.registry.FEATURES`)."""

_TOKEN_RE = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|[^\w\s]")
_SCORE_METRIC = "combined_score"


def _evolvable_text(code: str) -> list[str]:
    """The evolve blocks of ``code``, or the whole code when it has no (valid) markers."""
    try:
        return list(evolve_blocks(code))
    except BlockError:
        return [code]


def _count_nodes(source: str) -> int:
    """AST nodes of ``source`` (dedented), without the module wrapper and contexts."""
    return count_nodes(ast.parse(textwrap.dedent(source)))


def count_nodes(tree: ast.AST) -> int:
    """AST nodes of ``tree``, without the module wrapper and contexts: :func:`complexity`
    counts each evolve block's tree (the block dedented and parsed) this way."""
    return sum(1 for node in ast.walk(tree) if not isinstance(node, ast.Module | ast.expr_context))


def _tokens(code: str) -> list[str]:
    return _TOKEN_RE.findall(code)


def complexity(code: str) -> float:
    """Size of the evolvable code: AST node count of the evolve blocks.

    Falls back, in order, to the AST node count of the whole program when a block does
    not parse on its own (or there are no markers), then to the token count of the
    evolve blocks when nothing parses. Always finite and >= 0.
    """
    blocks = _evolvable_text(code)
    try:
        return float(sum(_count_nodes(block) for block in blocks))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    try:
        return float(_count_nodes(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return float(sum(len(_tokens(block)) for block in blocks))


@lru_cache(maxsize=2048)
def token_set(code: str) -> frozenset[str]:
    """Distinct lexical tokens (names, numbers, punctuation) of the evolve blocks.

    Frozen code is the same in every program of a run, so it is left out (it would only
    dilute distances); code without valid markers is tokenised whole. Memoised by text.
    """
    return frozenset(token for block in _evolvable_text(code) for token in _tokens(block))


def jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    """1 - |a ∩ b| / |a ∪ b|; two empty sets are at distance 0."""
    union = len(a | b)
    if union == 0:
        return 0.0
    return 1.0 - len(a & b) / union


def diversity(code: str, others: Iterable[str | Program]) -> float:
    """Mean Jaccard distance between the token set of ``code`` and those of ``others``.

    ``others`` are program texts or :class:`Program` records; 0.0 when there are none.
    Cost is linear in ``len(others)``: callers pass a bounded reference set (see
    ``Archive.features_reference``), never the whole history.
    """
    mine = token_set(code)
    distances = [
        jaccard_distance(mine, token_set(other.code if isinstance(other, Program) else other))
        for other in others
    ]
    return float(sum(distances) / len(distances)) if distances else 0.0


def behaviour_metric(metrics: Mapping[str, float]) -> str | None:
    """Name of the metric used as ``behaviour``: the first by sorted name that is not
    ``combined_score``, or None when the evaluator reports nothing else."""
    names = sorted(name for name in metrics if name != _SCORE_METRIC)
    return names[0] if names else None


def _finite(value: object) -> float:
    """``value`` as a float, with anything non-numeric or non-finite mapped to 0.0."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def complexity_feature(
    code: str, metrics: Mapping[str, float], score: float | None, references: Sequence[Program]
) -> float:
    """The registered ``complexity`` feature: :func:`complexity`."""
    return complexity(code)


def diversity_feature(
    code: str, metrics: Mapping[str, float], score: float | None, references: Sequence[Program]
) -> float:
    """The registered ``diversity`` feature: :func:`diversity` against ``references``."""
    return diversity(code, references)


def score_feature(
    code: str, metrics: Mapping[str, float], score: float | None, references: Sequence[Program]
) -> float:
    """The registered ``score`` feature: the fitness."""
    return _finite(score)


def behaviour_feature(
    code: str, metrics: Mapping[str, float], score: float | None, references: Sequence[Program]
) -> float:
    """The registered ``behaviour`` feature: the metric named by :func:`behaviour_metric`,
    or the score when there is none."""
    metric = behaviour_metric(metrics)
    return _finite(score if metric is None else metrics[metric])


class FeatureExtractor:
    """Computes the configured feature values of one scored program.

    A name registered in :data:`evoforge.registry.FEATURES` is computed by its function
    (built in: ``complexity``, ``diversity`` against ``reference_programs``, ``score``
    and ``behaviour``); any other name is read from the evaluator's metrics. A metric the
    evaluator did not report, and any non-finite or non-numeric value, becomes 0.0 (so
    one odd metric cannot break the grid).
    """

    def __init__(self, features: Sequence[FeatureConfig]) -> None:
        self.features: tuple[FeatureConfig, ...] = tuple(features)
        self.names: tuple[str, ...] = tuple(feature.name for feature in self.features)
        self._functions: dict[str, FeatureFunction] = {
            name: FEATURES.load(name) for name in self.names if FEATURES.has(name)
        }
        self._needs_references = any(FEATURES.has(name, "references") for name in self._functions)

    @property
    def needs_references(self) -> bool:
        """Whether ``compute`` reads ``reference_programs`` (a feature tagged so does)."""
        return self._needs_references

    def unknown(self, metrics: Mapping[str, object]) -> list[str]:
        """The configured names that are neither a registered feature nor among
        ``metrics`` (the seed's): a misspelled feature, or a metric the evaluator never
        reports, would put every program at 0.0 on that dimension."""
        return [name for name in self.names if name not in self._functions and name not in metrics]

    def compute(
        self,
        code: str,
        metrics: Mapping[str, float],
        score: float | None,
        reference_programs: Sequence[Program] = (),
        known_complexity: float | None = None,
        errors: list[str] | None = None,
    ) -> dict[str, float]:
        """Raw value of every configured feature, keyed by feature name, all finite.

        ``known_complexity``: :func:`complexity` of ``code`` when already computed (where
        the child was made), so that it is not parsed again here. A registered feature
        that raises takes 0.0 for this program (a plugin's bug on one child must not end
        the run) and, when ``errors`` is given, one line naming it and the exception is
        appended there.
        """
        values: dict[str, float] = {}
        for name in self.names:
            function = self._functions.get(name)
            if name == "complexity" and known_complexity is not None:
                values[name] = known_complexity
            elif function is None:
                values[name] = _finite(metrics.get(name, 0.0))
            else:
                try:
                    values[name] = _finite(function(code, metrics, score, reference_programs))
                except Exception as exc:
                    values[name] = 0.0
                    if errors is not None:
                        message = str(exc).strip().splitlines()
                        detail = f": {message[0]}" if message else ""
                        errors.append(
                            f"feature {name!r} failed, 0.0 used: {type(exc).__name__}{detail}"
                        )
        return values
