"""Named parts by kind: operators, archive features, archives and evaluation backends.

A part is registered once, by name, with the dotted path of the object that builds it
(``"package.module:attribute"``) and a few tags. Nothing is imported until the part is
built, so the configuration can validate names against these tables without importing
the operators, the archive or Ray. Adding a part is one new module plus one
``register`` call; the configuration, the engine's factory and ``evoforge config
--reference`` all read the same table, so a name is never copied anywhere else.

An operator may also declare a settings model (a pydantic model) when it registers: the
configuration then takes its settings under ``operators.<name>``, validates them with
that model and stores them with the run, and its builder receives them.

This module imports nothing from evoforge: it sits at the bottom with ``program`` and
``config``.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel

__all__ = [
    "ARCHIVES",
    "BACKENDS",
    "FEATURES",
    "OPERATORS",
    "PLUGIN_GROUP",
    "PartError",
    "Registration",
    "Registry",
    "forgo_plugins",
    "load_plugins",
]

PLUGIN_GROUP = "evoforge.plugins"
"""The entry-point group an installed package adds parts through."""

_T = TypeVar("_T")
_log = logging.getLogger("evoforge")


class PartError(ValueError):
    """A registered part cannot be built: its target does not import, or building it
    raised. The message is one line that names the entry and its target."""


@dataclass
class _Plugins:
    loaded: bool = False
    failures: tuple[str, ...] = ()


_PLUGINS = _Plugins()


def load_plugins() -> tuple[str, ...]:
    """Load the installed plugins (entry points of :data:`PLUGIN_GROUP`) unless done
    already in this process; returns one line per plugin that failed to load.

    Every table calls this before it is read, so calling it is only needed to see the
    failures early. A plugin that raises is skipped and logged; the others still load.
    """
    if _PLUGINS.loaded:
        return _PLUGINS.failures
    _PLUGINS.loaded = True  # first: a plugin that reads a table must not load itself again
    failures: list[str] = []
    for point in sorted(entry_points(group=PLUGIN_GROUP), key=lambda point: point.name):
        try:
            loaded = point.load()
            if callable(loaded) and not isinstance(loaded, ModuleType):
                loaded()
        except Exception as exc:  # a broken plugin must not break the commands that skip it
            message = f"plugin {point.name!r} ({point.value}) failed to load: {_one_line(exc)}"
            failures.append(message)
            _log.warning("evoforge: warning: %s", message)
    _PLUGINS.failures = tuple(failures)
    return _PLUGINS.failures


def forgo_plugins() -> None:
    """Never load the installed plugins in this process (one that only ever builds
    evoforge's own parts, such as a proposal worker: loading them there would cost their
    imports and repeat the driver's warnings about those that fail)."""
    _PLUGINS.loaded = True


def _check_settings_model(owner: str, model: object) -> None:
    """ValueError unless ``model`` is a pydantic model class that refuses unknown keys,
    as do the models its fields hold."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"{owner}: settings must be a pydantic model class, got {model!r}")
    pending: list[type[BaseModel]] = [model]
    seen: set[type[BaseModel]] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.model_config.get("extra") != "forbid":
            raise ValueError(
                f"{owner}: settings model {current.__name__} must refuse unknown keys "
                "(model_config = ConfigDict(extra='forbid'))"
            )
        for field in current.model_fields.values():
            pending.extend(_models_in(field.annotation))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (itself, or inside ``list[...]``, ``X | None``
    and the like)."""
    if (
        get_origin(annotation) is None
        and isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
    ):
        return [annotation]
    return [model for argument in get_args(annotation) for model in _models_in(argument)]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass(frozen=True)
class Registration:
    """One named part: where its builder lives and what it is (``tags``)."""

    name: str
    target: str
    tags: frozenset[str]
    summary: str
    settings: type[BaseModel] | None = None


class Registry:
    """The parts of one kind, in registration order."""

    def __init__(self, kind: str, *, takes_settings: bool = False) -> None:
        self.kind = kind
        self.takes_settings = takes_settings
        self._entries: dict[str, Registration] = {}

    def register(
        self,
        name: str,
        target: str,
        *,
        tags: Iterable[str] = (),
        summary: str = "",
        settings: type[BaseModel] | None = None,
    ) -> None:
        """Register ``name`` as built by ``target`` (``"module:attribute"``).

        Registering a name again replaces the earlier entry (a plugin may override a
        built-in); ``target`` is only imported when the part is built. ``settings``
        (operators only): the pydantic model of the part's settings, which must refuse
        unknown keys (``extra="forbid"``, in every model it nests) so that a mistyped
        key is an error, as everywhere in a config.
        """
        module, _, attribute = target.partition(":")
        if not name or not module or not attribute:
            raise ValueError(f"{self.kind} {name!r}: target must be 'module:attribute'")
        if settings is not None:
            if not self.takes_settings:
                raise ValueError(f"{self.kind} {name!r}: only operators declare settings")
            _check_settings_model(f"{self.kind} {name!r}", settings)
        self._entries[name] = Registration(name, target, frozenset(tags), summary, settings)

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a plugin unloading itself; tests). Unknown names are ignored."""
        self._entries.pop(name, None)

    def names(self, tag: str | None = None) -> tuple[str, ...]:
        """Registered names (those carrying ``tag`` when given), in registration order."""
        load_plugins()
        return tuple(
            name for name, entry in self._entries.items() if tag is None or tag in entry.tags
        )

    def has(self, name: str, tag: str | None = None) -> bool:
        load_plugins()
        entry = self._entries.get(name)
        return entry is not None and (tag is None or tag in entry.tags)

    def settings_model(self, name: str) -> type[BaseModel] | None:
        """The settings model ``name`` registered with; None when it declared none or is
        not registered."""
        load_plugins()
        entry = self._entries.get(name)
        return None if entry is None else entry.settings

    def entry(self, name: str) -> Registration:
        """The registration of ``name``; ValueError naming the known ones if there is none."""
        load_plugins()
        found = self._entries.get(name)
        if found is None:
            raise ValueError(self.unknown(name))
        return found

    def unknown(self, names: str | list[str]) -> str:
        """The one-line error for a name (or a list of names) that is not registered: the
        known ones, and the plugins that failed to load (one of them may have been meant
        to register it)."""
        what = f"{self.kind} {names!r}" if isinstance(names, str) else f"{self.kind}(s) {names}"
        message = f"unknown {what}; known: {sorted(self.names())}"
        failures = load_plugins()
        return f"{message} ({'; '.join(failures)})" if failures else message

    def load(self, name: str) -> Any:
        """The builder registered under ``name`` (imports its module on first use). The
        attribute may be dotted (``"module:Class.from_settings"``). Raises
        :class:`PartError` naming the entry when the target does not import or lacks the
        attribute."""
        target = self.entry(name).target
        module_name, _, attribute = target.partition(":")
        try:
            return functools.reduce(
                getattr, attribute.split("."), importlib.import_module(module_name)
            )
        except Exception as exc:  # ImportError, AttributeError, or the module's own error
            raise PartError(
                f"{self.kind} {name!r} ({target}) does not load: {_one_line(exc)}"
            ) from exc

    def build(
        self,
        name: str,
        construct: Callable[[Any], _T],
        *,
        passthrough: tuple[type[BaseException], ...] = (),
    ) -> _T:
        """``construct(builder)`` for the builder registered under ``name``: any exception
        but those in ``passthrough`` becomes a :class:`PartError` naming the entry, its
        target and the error."""
        builder = self.load(name)
        try:
            return construct(builder)
        except passthrough:
            raise
        except Exception as exc:
            target = self._entries[name].target
            raise PartError(
                f"{self.kind} {name!r} ({target}) could not be built: {_one_line(exc)}"
            ) from exc


OPERATORS = Registry("operator", takes_settings=True)
"""Operator builders ``(settings, llm_services_or_None) -> Operator``: ``settings`` is an
instance of the settings model the operator registered with (validated from
``operators.<name>``, or its defaults), or the whole ``operators`` section
(:class:`~evoforge.config.OperatorsConfig`) for an operator registered without one.
Tags: ``llm`` (needs language models), ``symbolic`` (needs none)."""

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
