"""Build the enabled operators from the configuration, by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from evoforge.config import LLM_OPERATOR_NAMES, OperatorsConfig
from evoforge.operators.base import Operator
from evoforge.operators.crossover import CrossoverOperator
from evoforge.operators.mutate import MutateOperator
from evoforge.operators.simplify import SimplifyOperator
from evoforge.operators.tune import TuneOperator

if TYPE_CHECKING:
    from evoforge.operators.llm import LLMServices

_FACTORIES: dict[str, Callable[[OperatorsConfig], Operator]] = {
    TuneOperator.name: lambda config: TuneOperator(config.tune),
    MutateOperator.name: lambda config: MutateOperator(config.mutate),
    CrossoverOperator.name: lambda config: CrossoverOperator(),
    SimplifyOperator.name: lambda config: SimplifyOperator(),
}

#: Names of the built-in symbolic operators.
BUILTIN_OPERATORS: tuple[str, ...] = tuple(_FACTORIES)


def build_operators(config: OperatorsConfig, llm: LLMServices | None = None) -> dict[str, Operator]:
    """One operator per name in ``config.enabled``, in that order.

    ``llm`` is required when a language-model operator (``llm_*``) is enabled. Raises
    ValueError for a name that is not a built-in operator (the config model already
    rejects those, so this only guards hand-built configs) or an llm_* name without
    ``llm``.
    """
    operators: dict[str, Operator] = {}
    for name in config.enabled:
        if name in LLM_OPERATOR_NAMES:
            if llm is None:
                raise ValueError(f"operator {name!r} needs language models (llm.models)")
            from evoforge.operators.llm import Kind, LLMOperator

            kinds: dict[str, Kind] = {
                "llm_diff": "diff",
                "llm_rewrite": "rewrite",
                "llm_crossover": "crossover",
            }
            operators[name] = LLMOperator(kinds[name], llm)
            continue
        factory = _FACTORIES.get(name)
        if factory is None:
            raise ValueError(f"unknown operator {name!r}; known: {sorted(_FACTORIES)}")
        operators[name] = factory(config)
    return operators
