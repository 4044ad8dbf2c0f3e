"""The oracle's answers to requests about the run (a new instruction, a run note), over
real HTTP through the openai SDK, and the hints it follows in a system instruction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from evoforge.llm.oracle import OracleServer, answer_prompt, start_oracle
from evoforge.llm.oracle_meta import HINT_BORROW, HINT_STRUCTURE, HINT_TUNE, HINTS
from evoforge.operators.ast_tools import literal_skeleton
from evoforge.operators.diff import child_from_rewrite
from evoforge.operators.meta_prompts import (
    InstructionRecord,
    instruction_request,
    note_request,
    parse_text_answer,
)
from evoforge.operators.prompts import ANSWER_FULL, CURRENT_PROGRAM_HEADING
from evoforge.operators.run_digest import ResultEntry, describe_results

from .conftest import PROBLEMS

SEED_CODE = (PROBLEMS / "curve_fit" / "initial_program.py").read_text()
BASE = "You improve programs. Keep them runnable."


@pytest.fixture
def oracle() -> Iterator[OracleServer]:
    server = start_oracle(port=0, seed=5)
    try:
        yield server
    finally:
        server.close()


def _client(oracle: OracleServer) -> OpenAI:
    return OpenAI(base_url=oracle.url, api_key="unused", max_retries=0, timeout=10)


def _ask(oracle: OracleServer, messages: tuple[dict[str, str], ...], seed: int = 1) -> str:
    reply = _client(oracle).chat.completions.create(
        model="oracle",
        messages=list(messages),
        seed=seed,  # type: ignore[arg-type]
    )
    return reply.choices[0].message.content or ""


def _entries() -> list[ResultEntry]:
    return [
        ResultEntry(1, "llm_diff", "rejected", "llm_diff: SEARCH text not found", None, 0.0),
        ResultEntry(2, "llm_diff", "rejected", "llm_diff: SEARCH text not found", None, 0.0),
        ResultEntry(3, "llm_rewrite", "ok", "", 0.2, 0.7, "-a = 1\n+a = 2\n"),
        ResultEntry(4, "llm_rewrite", "ok", "", -0.1, 0.0),
    ]


def test_an_instruction_request_gets_the_best_instruction_with_a_hint_not_yet_tried(
    oracle: OracleServer,
) -> None:
    listed = [
        InstructionRecord("instr-1", f"{BASE}\n{HINT_TUNE}", 5, 0.4),
        InstructionRecord("instr-0", BASE, 9, 0.1),
    ]
    digest = describe_results(_entries(), 2.0, 1.0)
    messages = instruction_request("# Task\nfit", listed, digest, 2000)
    text = parse_text_answer(_ask(oracle, messages), 2000)
    assert text is not None
    assert text.startswith(BASE) and HINT_TUNE not in text
    assert text.splitlines()[-1] in (HINT_STRUCTURE, HINT_BORROW)
    assert _ask(oracle, messages) == _ask(oracle, messages)  # deterministic
    assert answer_prompt(5, list(messages), 1, 1)[0] == _ask(oracle, messages)
    every = [
        InstructionRecord(f"instr-{i}", f"{BASE}\n{hint}", 1, 0.1) for i, hint in enumerate(HINTS)
    ]
    full = parse_text_answer(_ask(oracle, instruction_request("t", every, digest, 2000)), 2000)
    assert full is not None and full.splitlines()[-1] in HINTS


def test_a_note_request_gets_a_note_from_the_digest(oracle: OracleServer) -> None:
    digest = describe_results(_entries(), 2.0, 1.0)
    answer = _ask(oracle, note_request("# Task\nfit", "", digest, 800))
    note = parse_text_answer(answer, 800)
    assert note is not None
    assert "Helped most: llm_rewrite (1 of 2 children improved the archive)" in note
    assert "Failed most: llm_diff (2 refused before evaluation, 0 failed in evaluation)" in note
    assert "SEARCH text not found (2x)" in note
    assert "copy SEARCH text exactly" in note
    assert _ask(oracle, note_request("# Task\nfit", "", digest, 800), seed=9) == answer
    empty = parse_text_answer(
        _ask(oracle, note_request("t", "", describe_results([], None, None), 80)), 80
    )
    assert empty == "Nothing to note yet: no children so far."


def _children(system: str, user: str) -> list[str]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return [
        child_from_rewrite(SEED_CODE, answer_prompt(3, messages, seed, 1)[0]) for seed in range(30)
    ]


def test_the_oracle_follows_its_hints_and_answers_unhinted_prompts_as_before() -> None:
    user = f"# Task\nfit\n\n{CURRENT_PROGRAM_HEADING}\n```python\n{SEED_CODE}```\n\n{ANSWER_FULL}\n"
    skeleton = literal_skeleton(SEED_CODE)

    def tuned(children: list[str]) -> int:
        return sum(literal_skeleton(child) == skeleton for child in children)

    plain = _children(BASE, user)
    assert plain == _children(
        "another instruction without hints", user
    )  # the system text alone changes nothing
    assert tuned(_children(f"{BASE}\n{HINT_TUNE}", user)) > tuned(plain)
    assert tuned(_children(f"{BASE}\n{HINT_STRUCTURE}", user)) < tuned(plain)
    inspiration = SEED_CODE.replace("c = 0.0", "c = 1.5").replace("a = 0.5", "a = -2.0")
    with_inspiration = user.replace(
        ANSWER_FULL,
        f"## Other programs for inspiration\n\n### Inspiration 1 (score 1)\n```python\n"
        f"{inspiration}```\n\n{ANSWER_FULL}",
    )
    borrowed = _children(f"{BASE}\n{HINT_BORROW}", with_inspiration)
    assert any("c = 1.5" in child for child in borrowed)
    assert not any("c = 1.5" in child for child in _children(BASE, with_inspiration))
