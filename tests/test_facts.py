"""A child's facts say what the checks before evaluation would find, and the values the
engine would otherwise compute itself."""

from __future__ import annotations

import ast
import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np

from evoforge import program, static_check
from evoforge.archive.features import complexity
from evoforge.blocks import frozen_violation
from evoforge.config import NoveltyConfig, OperatorsConfig
from evoforge.facts import ChildFacts, FactsSettings, child_facts, syntax_problem
from evoforge.novelty import minhash_signature
from evoforge.operators import ast_tools
from evoforge.operators.ast_tools import literal_skeleton
from evoforge.operators.base import ProposalContext
from evoforge.operators.registry import build_operators
from evoforge.program import Program, code_hash
from evoforge.static_check import new_name_problems

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


# --------------------------------------------------------------------- one parse, same facts

EXAMPLES = sorted(Path(__file__).resolve().parents[1].glob("examples/*/initial_program.py"))


def _reference_facts(parent_code: str, code: str, settings: FactsSettings) -> ChildFacts:
    """The facts as each fact's own function gives them, one after the other (each
    parsing the code itself): what :func:`child_facts` must reproduce."""
    syntax_error = syntax_problem(code)
    violation: str | None = None
    undefined: tuple[str, ...] = ()
    names_checked = False
    if syntax_error is None:
        violation = frozen_violation(settings.initial_code, code)
        if violation is None and settings.static_check:
            undefined = tuple(new_name_problems(parent_code, code))
            names_checked = True
    passes = syntax_error is None and violation is None and not undefined
    signature = None
    if passes and settings.novelty is not None:
        signature = minhash_signature(code, settings.novelty)
    return ChildFacts(
        code_hash=code_hash(code),
        syntax_error=syntax_error,
        frozen_violation=violation,
        names_checked=names_checked,
        undefined_names=undefined,
        signature=signature,
        complexity=complexity(code) if passes and settings.complexity else None,
        skeleton=literal_skeleton(code) if passes else "",
    )


def _forget_parses() -> None:
    """Empty every cache keyed by code text, so that nothing computed for one side of a
    comparison is read back by the other."""
    ast_tools._PARSED.clear()
    ast_tools._SKELETONS.clear()
    program._NORMAL_FORMS.clear()
    static_check._PROBLEMS.clear()


def _children(seed_code: str) -> list[str]:
    """Children of ``seed_code`` (and of its children) by the four symbolic operators."""
    operators = build_operators(
        OperatorsConfig(enabled=["mutate", "tune", "crossover", "simplify"])
    )
    codes = [seed_code]
    parent = Program(id="p0", code=seed_code, code_hash=code_hash(seed_code), score=1.0)
    for step in range(12):
        operator = list(operators.values())[step % len(operators)]
        other = Program(id=f"o{step}", code=codes[-1], code_hash=code_hash(codes[-1]), score=0.5)
        context = ProposalContext(
            parent=parent, rng=np.random.default_rng(step), inspirations=(other,)
        )
        proposal = asyncio.run(operator.propose(context))
        if proposal is not None and not proposal.rejection:
            codes.append(proposal.code)
            if step % 3 == 2:
                parent = Program(
                    id=f"p{step}", code=proposal.code, code_hash=code_hash(proposal.code)
                )
    return codes


def _variants(code: str) -> list[str]:
    """Texts around ``code`` that take every branch of the facts: broken syntax, broken
    markers, changed frozen code, an undefined name, a block that is part of an
    expression, no markers, layout and comments only, a lone surrogate, deep nesting."""
    lines = code.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if "EVOLVE-BLOCK-START" in line)
    end = next(i for i, line in enumerate(lines) if "EVOLVE-BLOCK-END" in line)
    inside = start + 1 if start + 1 < end else start
    return [
        code,
        code + "\n# a comment\n\n",
        code.replace("EVOLVE-BLOCK-END", "EVOLVE-BLOK-END"),
        code.replace("# EVOLVE-BLOCK-START", "").replace("# EVOLVE-BLOCK-END", ""),
        "".join(lines[:inside]) + "    return (\n" + "".join(lines[inside:]),
        "".join(lines[:inside]) + "x = undefined_thing + 1\n" + "".join(lines[inside:]),
        "".join(lines[: end + 1]) + "extra_frozen = 1\n" + "".join(lines[end + 1 :]),
        code.replace("\n", "\n\n", 3) + "\ns = '\ud800'\n",
        code + "\ny = " + "(" * 300 + "1" + ")" * 300 + "\n",
        code + "\nz = " + "-" * 5000 + "1\n",
        "\x00" + code,
        "",
    ]


FRAGMENT = """import math

def main():
    values = [
        # EVOLVE-BLOCK-START
        1.0, 2.0,
        3.5,
        # EVOLVE-BLOCK-END
    ]
    return sum(values) * math.pi
"""


def _corpus() -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for path in EXAMPLES:
        seed_code = path.read_text()
        for child in _children(seed_code):
            pairs.extend((seed_code, variant) for variant in _variants(child))
    pairs.extend((SEED, variant) for variant in _variants(SEED))
    pairs.extend((FRAGMENT, variant) for variant in (FRAGMENT, FRAGMENT.replace("3.5", "4.5")))
    return pairs


def _assert_same(new: ChildFacts, old: ChildFacts) -> None:
    for name in ChildFacts.__dataclass_fields__:
        got, want = getattr(new, name), getattr(old, name)
        if isinstance(want, np.ndarray) or isinstance(got, np.ndarray):
            assert got is not None and want is not None, name
            assert got.dtype == want.dtype and np.array_equal(got, want), name
        else:
            assert type(got) is type(want) and got == want, name


def test_the_facts_of_one_parse_equal_each_facts_own_function() -> None:
    corpus = _corpus()
    assert len(EXAMPLES) >= 2 and len(corpus) > 200
    outcomes: set[tuple[bool, bool, bool, bool]] = set()
    for settings in (_settings(), _settings(static_check=False, novelty=False)):
        for parent_code, code in corpus:
            settings = replace(settings, initial_code=parent_code)
            _forget_parses()
            old = _reference_facts(parent_code, code, settings)
            _forget_parses()
            new = child_facts(parent_code, code, settings)
            _assert_same(new, old)
            # and again with every cache warm, as in a worker that made the child
            _assert_same(child_facts(parent_code, code, settings), old)
            outcomes.add(
                (
                    old.syntax_error is None,
                    old.frozen_violation is None,
                    not old.undefined_names,
                    old.complexity is not None,
                )
            )
    # the corpus reaches each way the checks can end
    assert (False, True, True, False) in outcomes  # does not parse
    assert (True, False, True, False) in outcomes  # frozen code changed
    assert (True, True, False, False) in outcomes  # a new undefined name
    assert (True, True, True, True) in outcomes  # passes


def test_block_usability_compares_trees_as_their_dumps_do() -> None:
    """The block check compares statements field by field; it must agree with comparing
    their ``ast.dump`` texts on every pair, near misses included."""
    sources = [path.read_text() for path in EXAMPLES] + [
        "x = 1\nx = 1.0\nx = True\nx = -0.0\nx = 0.0\nx = 'a'\nx = b'a'\nx = None\n",
        "f(a, b=1)\nf(a, b=2)\nf(a, 1)\nf(*a)\nf(**a)\nimport a.b as c\nfrom . import a\n",
        "def g(x: int = 1) -> int: return x\ndef g(x=1): return x\nglobal q\nglobal r\n",
        "for i in range(3): pass\nelse: pass\nfor i in range(3): pass\nx = [1, 2]\nx = (1, 2)\n",
    ]
    nodes: list[ast.AST] = []
    for source in sources:
        nodes.extend(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt))
    nodes = nodes[:400]
    agree = same = 0
    for first in nodes:
        for second in nodes:
            if type(first) is not type(second):
                continue
            expected = ast.dump(first) == ast.dump(second)
            assert ast_tools._same_dump(first, second) == expected
            agree += 1
            same += expected
    assert agree > 1000 and 0 < same < agree
