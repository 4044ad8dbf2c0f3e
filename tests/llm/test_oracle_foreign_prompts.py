"""The oracle with prompts evoforge did not write (OpenEvolve's, ShinkaEvolve's), and unseeded
requests."""

from __future__ import annotations

from evoforge.blocks import split_blocks
from evoforge.llm.oracle import answer_prompt, find_programs, start_oracle, wants_diff
from evoforge.operators.diff import child_from_diff

from .conftest import PROBLEMS

SEED_CODE = (PROBLEMS / "curve_fit" / "initial_program.py").read_text()
OTHER_CODE = SEED_CODE.replace("a = 0.5", "a = 0.75")

# the shape of OpenEvolve 0.4.0's diff prompt: a metrics section whose heading starts
# with "Current Program", the history with other programs, then the current program
OPENEVOLVE_PROMPT = f"""# Current Program Information
- Fitness: -0.37
- Focus areas: none

# Program Evolution History
## Top Performing Programs

### Program 1 (Score: -0.2)
```python
{OTHER_CODE}
```

# Current Program
```python
{SEED_CODE}
```

# Task
You MUST use the exact SEARCH/REPLACE diff format shown below to indicate changes:

<<<<<<< SEARCH
# Original code to find and replace (must match exactly)
=======
# New replacement code
>>>>>>> REPLACE
"""


# the shapes of ShinkaEvolve 0.0.7's diff and crossover prompts (its system message asks
# for SEARCH/REPLACE edits in a diff, for a whole program in <CODE> in a crossover)
SHINKA_DIFF_PROMPT = f"""# Current program

Here is the current program we are trying to improve:

```python
{SEED_CODE}
```

Here are the performance metrics of the program:

combined_score: 0.37

# Task

Describe each change with a SEARCH/REPLACE block.
"""
SHINKA_CROSS_PROMPT = f"""# Current program

Here is the current program we are trying to improve:

```python
{SEED_CODE}
```

# Task

Perform a cross-over between the code script above and the one below.

# Crossover Inspiration Programs
```python
{OTHER_CODE}
```

Performance metrics: combined_score: 0.41
"""


def test_shinkaevolve_prompts_find_the_current_program_and_the_crossover_partner() -> None:
    current, second = find_programs(SHINKA_DIFF_PROMPT)
    assert current is not None and current.strip() == SEED_CODE.strip()
    assert second is None and wants_diff(SHINKA_DIFF_PROMPT)
    current, second = find_programs(SHINKA_CROSS_PROMPT)
    assert current is not None and current.strip() == SEED_CODE.strip()
    assert second is not None and second.strip() == OTHER_CODE.strip()
    assert not wants_diff(SHINKA_CROSS_PROMPT)
    answer = answer_prompt(0, [{"role": "user", "content": SHINKA_CROSS_PROMPT}], 0, 1)[0]
    assert "```python" in answer and "EVOLVE-BLOCK-START" in answer  # a whole program


def test_openevolve_prompt_finds_the_current_program_not_the_history() -> None:
    current, second = find_programs(OPENEVOLVE_PROMPT)
    assert current is not None and current.strip() == SEED_CODE.strip()
    assert second is None
    assert wants_diff(OPENEVOLVE_PROMPT)


def test_openevolve_prompt_gets_edits_that_apply_to_the_current_program() -> None:
    messages = [{"role": "user", "content": OPENEVOLVE_PROMPT}]
    for seed in range(4):
        answer = answer_prompt(0, messages, seed, 1)[0]
        child = child_from_diff(SEED_CODE, answer)
        assert split_blocks(child).blocks != split_blocks(SEED_CODE).blocks


def test_repeated_unseeded_requests_are_fresh_draws_seeded_ones_repeat() -> None:
    from openai import OpenAI

    server = start_oracle(port=0, seed=3)
    try:
        client = OpenAI(base_url=server.url, api_key="none", max_retries=0)
        messages = [{"role": "user", "content": OPENEVOLVE_PROMPT}]

        def ask(**extra: object) -> str:
            reply = client.chat.completions.create(model="oracle", messages=messages, **extra)  # type: ignore[call-overload]
            return str(reply.choices[0].message.content)

        unseeded = [ask() for _ in range(4)]
        seeded = [ask(seed=11) for _ in range(3)]
    finally:
        server.close()
    assert len(set(unseeded)) > 1
    assert unseeded[0] == answer_prompt(3, messages, None, 1)[0]  # first one as before
    assert len(set(seeded)) == 1
