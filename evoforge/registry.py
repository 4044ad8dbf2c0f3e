"""Named parts by kind: operators, archive features, archives and evaluation backends.

A part is registered once, by name, with the dotted path of the object that builds it
(``"package.module:attribute"``) and a few tags. Nothing is imported until the part is
built, so the configuration can validate names against these tables without importing
the operators, the archive or Ray. Adding a part is one new module plus one
``register`` call; the configuration, the engine's factory and ``evoforge config
--reference`` all read the same table, so a name is never copied anywhere else.

This module imports nothing from evoforge: it sits at the bottom with ``program`` and
``config``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ARCHIVES", "BACKENDS", "FEATURES", "OPERATORS", "Registration", "Registry"]


@dataclass(frozen=True)
class Registration:
    """One named part: where its builder lives and what it is (``tags``)."""

    name: str
    target: str
    tags: frozenset[str]
    summary: str


class Registry:
    """The parts of one kind, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Registration] = {}

    def register(
        self, name: str, target: str, *, tags: Iterable[str] = (), summary: str = ""
    ) -> None:
        """Register ``name`` as built by ``target`` (``"module:attribute"``).

        Registering a name again replaces the earlier entry (a plugin may override a
        built-in); ``target`` is only imported when the part is built.
        """
        module, _, attribute = target.partition(":")
        if not name or not module or not attribute:
            raise ValueError(f"{self.kind} {name!r}: target must be 'module:attribute'")
        self._entries[name] = Registration(name, target, frozenset(tags), summary)

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a plugin unloading itself; tests). Unknown names are ignored."""
        self._entries.pop(name, None)

    def names(self, tag: str | None = None) -> tuple[str, ...]:
        """Registered names (those carrying ``tag`` when given), in registration order."""
        return tuple(
            name for name, entry in self._entries.items() if tag is None or tag in entry.tags
        )

    def has(self, name: str, tag: str | None = None) -> bool:
        entry = self._entries.get(name)
        return entry is not None and (tag is None or tag in entry.tags)

    def entry(self, name: str) -> Registration:
        """The registration of ``name``; ValueError naming the known ones if there is none."""
        found = self._entries.get(name)
        if found is None:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {sorted(self._entries)}")
        return found

    def load(self, name: str) -> Any:
        """The builder registered under ``name`` (imports its module on first use). The
        attribute may be dotted (``"module:Class.from_settings"``)."""
        module_name, _, attribute = self.entry(name).target.partition(":")
        return functools.reduce(getattr, attribute.split("."), importlib.import_module(module_name))


OPERATORS = Registry("operator")
"""Operator builders ``(operators_config, llm_services_or_None) -> Operator``. Tags:
``llm`` (needs language models), ``symbolic`` (needs none)."""

FEATURES = Registry("feature")
"""Feature functions ``(code, metrics, score, references) -> float``; a name that is not
registered is read from the evaluator's metrics. Tag ``references``: reads the island's
reference programs."""

ARCHIVES = Registry("archive")
"""Archive classes, built with ``cls(archive_config)``."""

BACKENDS = Registry("evaluation backend")
"""Evaluation backends, built with ``cls.from_config(evaluator_config, judge)``."""

for _name, _kind, _summary in (
    ("tune", "tune:TuneOperator", "perturb numeric literals (CMA-ES-adapted steps)"),
    ("mutate", "mutate:MutateOperator", "genetic-programming edits of the evolve blocks"),
    ("crossover", "crossover:CrossoverOperator", "combine the parent with an inspiration"),
    ("simplify", "simplify:SimplifyOperator", "shorten the code, kept only if no worse"),
):
    OPERATORS.register(
        _name,
        f"evoforge.operators.{_kind}.from_settings",
        tags=("symbolic",),
        summary=_summary,
    )
for _name, _summary in (
    ("llm_diff", "a model's SEARCH/REPLACE edit of the parent"),
    ("llm_rewrite", "a model's rewrite of the evolve blocks"),
    ("llm_crossover", "a model's combination of two parents"),
):
    OPERATORS.register(_name, f"evoforge.operators.llm:{_name}", tags=("llm",), summary=_summary)

for _name, _tags, _summary in (
    ("complexity", (), "AST nodes of the evolve blocks"),
    ("diversity", ("references",), "mean token distance to the island's elites"),
    ("score", (), "the fitness"),
    ("behaviour", (), "the evaluator's first non-score metric by name, or the score"),
):
    FEATURES.register(
        _name, f"evoforge.archive.features:{_name}_feature", tags=_tags, summary=_summary
    )

ARCHIVES.register(
    "islands",
    "evoforge.archive.islands:Archive",
    summary="islands of MAP-Elites grids with ring migration and a global elite set",
)

BACKENDS.register(
    "local",
    "evoforge.evaluation.backends.local:LocalBackend",
    summary="the sandbox on this machine, a thread per evaluation in flight",
)
BACKENDS.register(
    "ray",
    "evoforge.evaluation.backends.ray_backend:RayBackend",
    summary="the same sandbox on Ray workers, local or a cluster (pip install 'evoforge[ray]')",
)
