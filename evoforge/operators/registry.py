"""Build the enabled operators from the configuration, by their registered names."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from evoforge.config import OperatorsConfig
from evoforge.operators.base import Operator
from evoforge.registry import OPERATORS, PartError

if TYPE_CHECKING:
    from evoforge.operators.llm import LLMServices


def build_operators(config: OperatorsConfig, llm: LLMServices | None = None) -> dict[str, Operator]:
    """One operator per name in ``config.enabled``, in that order, each built by the
    builder registered under its name in :data:`evoforge.registry.OPERATORS`, given its
    settings: those of ``config.settings_of(name)`` for an operator registered with a
    settings model, the whole ``config`` for one without.

    ``llm`` is required when an operator tagged ``llm`` is enabled. Raises ValueError
    for a name that is not registered (the config model already rejects those, so this
    only guards hand-built configs) or an ``llm`` operator without ``llm``, and
    :class:`~evoforge.registry.PartError` (a ValueError) naming the entry when its
    builder does not load, raises, or builds something that is not an operator.
    """
    operators: dict[str, Operator] = {}
    for name in config.enabled:
        if OPERATORS.has(name, "llm") and llm is None:
            raise ValueError(f"operator {name!r} needs language models (llm.models)")
        settings = config.settings_of(name)
        given: object = config if settings is None else settings
        operator = OPERATORS.build(name, functools.partial(_construct, config=given, llm=llm))
        if not isinstance(operator, Operator):
            called = "operators_config" if settings is None else "its_settings"
            raise PartError(
                f"operator {name!r} ({OPERATORS.entry(name).target}) built "
                f"{type(operator).__name__}, not an Operator; a builder is called as "
                f"builder({called}, llm)"
            )
        if operator.name != name:
            raise ValueError(f"operator registered as {name!r} calls itself {operator.name!r}")
        operators[name] = operator
    return operators


def _construct(builder: object, config: object, llm: LLMServices | None) -> object:
    """``builder(config, llm)``; an Operator class registered itself (rather than its
    ``from_settings``) is refused with the registration that works."""
    if isinstance(builder, type) and issubclass(builder, Operator):
        raise TypeError(
            f"the class {builder.__name__} is registered; register its builder "
            f"'{builder.__module__}:{builder.__qualname__}.from_settings'"
        )
    if not callable(builder):
        raise TypeError(f"{type(builder).__name__} is not callable")
    return builder(config, llm)
