"""Build the enabled operators from the configuration, by their registered names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evoforge.config import OperatorsConfig
from evoforge.operators.base import Operator
from evoforge.registry import OPERATORS

if TYPE_CHECKING:
    from evoforge.operators.llm import LLMServices


def build_operators(config: OperatorsConfig, llm: LLMServices | None = None) -> dict[str, Operator]:
    """One operator per name in ``config.enabled``, in that order, each built by the
    builder registered under its name in :data:`evoforge.registry.OPERATORS`.

    ``llm`` is required when an operator tagged ``llm`` is enabled. Raises ValueError
    for a name that is not registered (the config model already rejects those, so this
    only guards hand-built configs) or an ``llm`` operator without ``llm``.
    """
    operators: dict[str, Operator] = {}
    for name in config.enabled:
        builder = OPERATORS.load(name)
        if OPERATORS.has(name, "llm") and llm is None:
            raise ValueError(f"operator {name!r} needs language models (llm.models)")
        operator = builder(config, llm)
        if operator.name != name:
            raise ValueError(f"operator registered as {name!r} calls itself {operator.name!r}")
        operators[name] = operator
    return operators
