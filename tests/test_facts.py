"""A child's facts say what the checks before evaluation would find, and the values the
engine would otherwise compute itself."""

from __future__ import annotations

import numpy as np

from evoforge.archive.features import complexity
from evoforge.config import NoveltyConfig
from evoforge.facts import FactsSettings, child_facts
from evoforge.novelty import minhash_signature
from evoforge.operators.ast_tools import literal_skeleton
from evoforge.program import code_hash

SEED = """import math

# EVOLVE-BLOCK-START
def f(x):
    a = 0.5
    return a * x + 1.0
# EVOLVE-BLOCK-END

def main():
    return f(2.0)
"""


def _settings(*, static_check: bool = True, novelty: bool = True) -> FactsSettings:
    return FactsSettings(
        initial_code=SEED,
        static_check=static_check,
        novelty=NoveltyConfig() if novelty else None,
        complexity=True,
    )


def test_a_good_child_gets_every_fact() -> None:
    child = SEED.replace("a = 0.5", "a = 0.75")
    facts = child_facts(SEED, child, _settings())
    assert facts.syntax_error is None
    assert facts.frozen_violation is None
    assert facts.undefined_names == ()
    assert facts.code_hash == code_hash(child)
    assert facts.complexity == complexity(child)
    assert facts.skeleton == literal_skeleton(child) == literal_skeleton(SEED)
    assert facts.signature is not None
    assert np.array_equal(facts.signature, minhash_signature(child, NoveltyConfig()))


def test_a_child_that_does_not_parse_is_refused_with_its_line() -> None:
    facts = child_facts(SEED, SEED.replace("return a * x + 1.0", "return a * x +"), _settings())
    assert facts.syntax_error is not None and "line 6" in facts.syntax_error
    assert facts.signature is None and facts.complexity is None and facts.skeleton == ""


def test_frozen_code_and_undefined_names_are_found() -> None:
    frozen = child_facts(SEED, SEED.replace("return f(2.0)", "return 99"), _settings())
    assert frozen.frozen_violation is not None
    undefined = SEED.replace("return a * x + 1.0", "return a * x + bias")
    facts = child_facts(SEED, undefined, _settings())
    assert facts.undefined_names == ("undefined name 'bias'",)
    assert facts.signature is None
    assert child_facts(SEED, undefined, _settings(static_check=False)).undefined_names == ()


def test_no_signature_without_a_near_copy_index() -> None:
    child = SEED.replace("a = 0.5", "a = 0.25")
    assert child_facts(SEED, child, _settings(novelty=False)).signature is None
