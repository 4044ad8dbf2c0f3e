"""Settings a user gave that the resolved configuration never reads.

Some keys act only together with others: the fixed parent rates only when the parent
bandit is off, ``evaluator.ray_address`` only on the ray backend, an operator's settings
only when it is enabled. A key given in one of the config layers (the problem's
``config.yaml``, ``--config FILE``, the command line) where the merged configuration
leaves it unread is not an error (a problem's file may tune an operator that a user then
turns off), but a run that quietly ignores it misleads: :func:`unread_settings` names
each such key, the layer that gave it and what would make it act, one line per reason.
(``evaluator.cascade_thresholds`` under ``cascade: false`` is not named: an OpenEvolve
config file gives it whether its user wrote it or not, as OpenEvolve's default.)

Only the layers' own keys are looked at, never the defaults, so a run's stored config
(every key present) is never checked this way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evoforge.config import Config
from evoforge.registry import OPERATORS


@dataclass(frozen=True)
class _Rule:
    """Keys (dotted; a trailing ``.`` covers a whole section) that go unread while
    ``unread`` holds of the merged config, and why, said so that it ends a sentence."""

    keys: tuple[str, ...]
    unread: Callable[[Config], bool]
    because: str
    except_keys: tuple[str, ...] = ()

    def covers(self, key: str) -> bool:
        """Whether dotted ``key`` is one of this rule's keys (or inside one of its sections)."""
        if key in self.except_keys:
            return False
        return any(key == k or (k.endswith(".") and key.startswith(k)) for k in self.keys)


def _uses_llm(config: Config) -> bool:
    return any(OPERATORS.has(name, "llm") for name in config.operators.enabled)


_RULES: tuple[_Rule, ...] = (
    _Rule(
        ("archive.exploitation_rate", "archive.exploration_rate", "archive.tournament_rate"),
        lambda c: c.archive.parents.adaptive,
        "archive.parents.adaptive is true, so a bandit chooses where parents come from "
        "(set it to false for fixed rates)",
    ),
    _Rule(
        ("archive.parents.sources",),
        lambda c: not c.archive.parents.adaptive,
        "archive.parents.adaptive is false, so the fixed archive.*_rate shares choose parents",
    ),
    _Rule(
        ("archive.migration_interval", "archive.migration_count"),
        lambda c: c.archive.num_islands == 1,
        "archive.num_islands is 1, so there is no island to migrate to",
    ),
    _Rule(
        ("archive.stagnation.",),
        lambda c: not c.archive.stagnation.enabled,
        "archive.stagnation.enabled is false",
        except_keys=("archive.stagnation.enabled",),
    ),
    _Rule(
        ("archive.stagnation.restart_elites",),
        lambda c: c.archive.stagnation.enabled and not c.archive.stagnation.restart,
        "archive.stagnation.restart is false, so no island is restarted",
    ),
    _Rule(
        ("evaluator.ray_address",),
        lambda c: c.evaluator.backend != "ray",
        "evaluations run on the evaluator.backend named, not ray (set evaluator.backend: ray, "
        "or pass --executor ray)",
    ),
    _Rule(
        ("operators.tune.",),
        lambda c: "tune" not in c.operators.enabled,
        "tune is not in operators.enabled",
    ),
    _Rule(
        ("operators.mutate.",),
        lambda c: "mutate" not in c.operators.enabled,
        "mutate is not in operators.enabled",
    ),
    _Rule(
        ("bandit.exploration",),
        lambda c: c.bandit.policy != "ucb1",
        "bandit.policy is not ucb1",
    ),
    _Rule(
        ("bandit.exp3_gamma",),
        lambda c: c.bandit.policy != "exp3",
        "bandit.policy is not exp3",
    ),
    _Rule(
        ("llm.",),
        lambda c: not _uses_llm(c),
        "no llm_* operator is enabled (add one to operators.enabled, or give llm.models "
        "with llm.auto_enable_operators true)",
    ),
    _Rule(
        (
            "novelty.threshold",
            "novelty.shingle_size",
            "novelty.num_permutations",
            "novelty.embedding_model",
            "novelty.embedding_base_url",
            "novelty.embedding_api_key_env",
            "novelty.embedding_threshold",
            "novelty.embedding_timeout_s",
            "novelty.operators",
            "novelty.method",
        ),
        lambda c: not c.novelty.near_duplicates,
        "novelty.near_duplicates is false",
    ),
    _Rule(
        (
            "novelty.embedding_model",
            "novelty.embedding_base_url",
            "novelty.embedding_api_key_env",
            "novelty.embedding_threshold",
            "novelty.embedding_timeout_s",
        ),
        lambda c: c.novelty.near_duplicates and c.novelty.method != "embeddings",
        "novelty.method is not embeddings",
    ),
    _Rule(
        ("novelty.threshold", "novelty.shingle_size", "novelty.num_permutations"),
        lambda c: c.novelty.near_duplicates and c.novelty.method != "minhash",
        "novelty.method is not minhash",
    ),
    _Rule(
        ("splits.final_candidates", "splits.thresholdout."),
        lambda c: not c.splits.enabled,
        "the problem has no instance splits (splits.enabled is false)",
    ),
)


def dotted_keys(layer: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every leaf key of ``layer`` as a dotted path (``archive.parents.adaptive``); a
    list or any other non-mapping value is a leaf."""
    for name, value in layer.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            yield from dotted_keys(value, f"{key}.")
        else:
            yield key


def unread_settings(
    layers: Sequence[tuple[str, Mapping[str, Any] | None]], config: Config
) -> list[str]:
    """One line per reason naming the keys of ``layers`` (``(source, mapping)`` pairs, as
    given to :func:`evoforge.config.resolve_config`) that ``config``, the merged result,
    never reads, each with the layer that set it; empty when every given key acts. A key
    given in several layers is named once, with the last (winning) layer."""
    given: dict[str, str] = {}
    for source, layer in layers:
        for key in dotted_keys(layer or {}):
            given.pop(key, None)
            given[key] = source
    lines = []
    for rule in _RULES:
        if not rule.unread(config):
            continue
        keys = [key for key in given if rule.covers(key)]
        if keys:
            named = ", ".join(f"{key} (in {given[key]})" for key in keys)
            verb = "is" if len(keys) == 1 else "are"
            lines.append(f"note: {named} {verb} not read: {rule.because}")
            for key in keys:
                given.pop(key)
    return lines
