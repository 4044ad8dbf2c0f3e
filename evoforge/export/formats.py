"""The three record formats, built from one run.

* ``sft``: ``messages`` (system, user, assistant): an improving child's prompt and the
  answer that made it (``kind`` ``improvement``), or a failed sibling's edit and error
  in the user turn answered by the parent's best improving child (``failure_fix``).
* ``preference``: ``prompt`` (system, user), ``chosen`` and ``rejected`` (one assistant
  message each), two children of the same parent, ``chosen`` ahead by the margin.
* ``traces``: one record per child: parent, operator, unified diff, metrics, status,
  reason, error, and for a model child the prompt and the answer it was made from.

Every builder drops, and counts in ``drops``, an example whose program code holds
something the scrubber would change (code is never edited) or whose answer does not
parse back to the child. Free text is scrubbed (:mod:`evoforge.export.hygiene`).
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from evoforge.export.counting import Count, counted
from evoforge.export.example import Example, ProgramRef
from evoforge.export.options import ExportOptions
from evoforge.export.selection import (
    FAILED_STATUSES,
    difficulty,
    improves,
    improving_children,
    rejected_siblings,
    required_margin,
)
from evoforge.export.source import RunSource
from evoforge.export.turns import (
    SEARCH_REPLACE,
    Turns,
    apply_answer,
    edit_answer,
    failure_turns,
    improvement_turns,
    model_turns,
    rebuilt_prompt,
    without_reasoning,
)
from evoforge.program import Program

__all__ = ["DROP_REASONS", "build_examples"]

DROP_REASONS = {
    "quota": "beyond the parent's difficulty quota",
    "unparsable": "no answer that parses back to the child exactly",
    "sensitive": "program code holds a secret, path or private text",
    "duplicate": "duplicate of an earlier example (normalised code)",
    "lineage_cap": "beyond the per-lineage cap",
    "split_boundary": "its programs straddle the train/validation split",
}


def build_examples(
    source: RunSource, options: ExportOptions, drops: Counter[str], count: Count | None = None
) -> list[Example]:
    """The run's candidate examples in ``options.format``, in the run's commit order.
    ``count`` is told ``(done, total)`` as the work goes (:func:`counted`): parents for
    ``sft`` and ``preference``, children for ``traces``."""
    if options.format == "sft":
        return _sft(source, options, drops, count)
    if options.format == "preference":
        return _preference(source, options, drops, count)
    return _traces(source, options, drops, count)


def _ref(source: RunSource, program: Program) -> ProgramRef:
    return ProgramRef(source.lineage_key(program), program.code_hash)


def _score(program: Program) -> float | None:
    return None if program.score is None else float(program.score)


def _relative_gain(child: Program, parent: Program) -> float:
    gain = float(child.score or 0.0) - float(parent.score or 0.0)
    return gain / max(abs(float(parent.score or 0.0)), 1e-12)


def _completion(source: RunSource, answer: str, reasoning: str, options: ExportOptions) -> str:
    """A model's answer as exported: without its reasoning section, or (``reasoning``
    ``keep``) with it in front, scrubbed as free text."""
    if options.reasoning == "keep" and reasoning:
        return source.scrubber.scrub(reasoning) + answer
    return answer


def _clean_turns(
    source: RunSource, parent: Program, child: Program, turns: Turns, options: ExportOptions
) -> tuple[str, str, str] | None:
    """Scrubbed (system, user, assistant) when the code-bearing parts are clean and the
    assistant turn still reproduces the child; None otherwise."""
    scrubber = source.scrubber
    if not all(scrubber.is_clean(text) for text in (parent.code, child.code, turns.assistant)):
        return None
    system, user = scrubber.scrub(turns.system), scrubber.scrub(turns.user)
    if parent.code.rstrip() not in user:
        return None
    assistant = _completion(source, turns.assistant, turns.reasoning, options)
    if apply_answer(parent.code, assistant, turns.answer_format) != child.code:
        return None
    return system, user, assistant


def _messages(system: str, user: str, assistant: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]


def _sft(
    source: RunSource, options: ExportOptions, drops: Counter[str], count: Count | None
) -> list[Example]:
    examples: list[Example] = []
    parents = source.children.items()
    for parent_id, children in counted(parents, len(parents), count):
        parent = source.programs.get(parent_id)
        if parent is None or not parent.is_scored:
            continue
        hardness = difficulty(parent, children)
        chosen = improving_children(parent, children, options)
        drops["quota"] += sum(1 for child in children if improves(child, parent)) - len(chosen)
        for child in chosen:
            turns = improvement_turns(source, parent, child)
            example = _sft_example(source, options, parent, child, None, turns, hardness, drops)
            if example is not None:
                examples.append(example)
        if not chosen or options.failure_examples == 0:
            continue
        failed = [
            child
            for child in children
            if child.status in FAILED_STATUSES and child.code != parent.code
        ][: options.failure_examples]
        fixed = chosen[0]
        for failure in failed:
            turns = failure_turns(source, parent, failure, fixed)
            example = _sft_example(source, options, parent, fixed, failure, turns, hardness, drops)
            if example is not None:
                examples.append(example)
    examples.sort(key=lambda example: example.record["_order"])
    for example in examples:
        del example.record["_order"]
    return examples


def _sft_example(
    source: RunSource,
    options: ExportOptions,
    parent: Program,
    child: Program,
    failure: Program | None,
    turns: Turns | None,
    hardness: float,
    drops: Counter[str],
) -> Example | None:
    if turns is None:
        drops["unparsable"] += 1
        return None
    if failure is not None and not source.scrubber.is_clean(failure.code):
        drops["sensitive"] += 1
        return None
    cleaned = _clean_turns(source, parent, child, turns, options)
    if cleaned is None:
        drops["sensitive"] += 1
        return None
    system, user, assistant = cleaned
    record: dict[str, Any] = {
        "messages": _messages(system, user, assistant),
        "kind": "improvement" if failure is None else "failure_fix",
        "source": turns.source,
        "answer_format": turns.answer_format,
        "problem": source.problem,
        "run": source.label,
        "operator": child.operator,
        "parent_id": parent.id,
        "child_id": child.id,
        "failed_id": None if failure is None else failure.id,
        "parent_score": _score(parent),
        "child_score": _score(child),
        "difficulty": round(hardness, 6),
        "lineage": source.lineage_key(child)[2],
        "_order": (child.seq if failure is None else failure.seq, 0 if failure is None else 1),
    }
    programs = [_ref(source, parent), _ref(source, child)]
    if failure is not None:
        programs.append(_ref(source, failure))
    return Example(
        record=record,
        programs=tuple(programs),
        lineage=source.lineage_key(child),
        dedup_key=(
            "sft",
            parent.code_hash,
            child.code_hash,
            "" if failure is None else failure.code_hash,
        ),
        priority=(hardness, _relative_gain(child, parent), 0.0 if failure is None else -1.0),
        operator=child.operator,
        problem=source.problem,
    )


def _error_text(source: RunSource, program: Program) -> str:
    if program.status not in FAILED_STATUSES:
        return ""
    error = str(program.artifacts.get("traceback") or program.reason)
    error = source.scrubber.scrub(error).strip()
    limit = max(source.artifact_chars, 200)
    return error if len(error) <= limit else "[...]" + error[-limit:]


def _preference(
    source: RunSource, options: ExportOptions, drops: Counter[str], count: Count | None
) -> list[Example]:
    examples: list[Example] = []
    scrubber = source.scrubber
    parents = source.children.items()
    for parent_id, children in counted(parents, len(parents), count):
        parent = source.programs.get(parent_id)
        if parent is None or not parent.is_scored or not scrubber.is_clean(parent.code):
            continue
        hardness = difficulty(parent, children)
        chosen_children = improving_children(parent, children, options)
        drops["quota"] += sum(1 for child in children if improves(child, parent)) - len(
            chosen_children
        )
        for offset, chosen in enumerate(chosen_children):
            chosen_answer = edit_answer(chosen.operator, parent.code, chosen.code)
            if chosen_answer is None:
                drops["unparsable"] += 1
                continue
            system, user = rebuilt_prompt(source, parent, chosen)
            system, user = scrubber.scrub(system), scrubber.scrub(user)
            if not scrubber.is_clean(chosen_answer) or parent.code.rstrip() not in user:
                drops["sensitive"] += 1
                continue
            for rejected in rejected_siblings(chosen, parent, children, options, offset):
                rejected_answer = edit_answer(rejected.operator, parent.code, rejected.code)
                if rejected_answer is None:
                    drops["unparsable"] += 1
                    continue
                if not scrubber.is_clean(rejected_answer):
                    drops["sensitive"] += 1
                    continue
                record = {
                    "prompt": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    "chosen": [{"role": "assistant", "content": chosen_answer}],
                    "rejected": [{"role": "assistant", "content": rejected_answer}],
                    "answer_format": SEARCH_REPLACE,
                    "problem": source.problem,
                    "run": source.label,
                    "parent_id": parent.id,
                    "chosen_id": chosen.id,
                    "rejected_id": rejected.id,
                    "chosen_operator": chosen.operator,
                    "rejected_operator": rejected.operator,
                    "parent_score": _score(parent),
                    "chosen_score": _score(chosen),
                    "rejected_score": _score(rejected),
                    "rejected_status": rejected.status.value,
                    "rejected_error": _error_text(source, rejected),
                    "margin": required_margin(parent, options),
                    "difficulty": round(hardness, 6),
                    "lineage": source.lineage_key(chosen)[2],
                }
                examples.append(
                    Example(
                        record=record,
                        programs=(
                            _ref(source, parent),
                            _ref(source, chosen),
                            _ref(source, rejected),
                        ),
                        lineage=source.lineage_key(chosen),
                        dedup_key=(
                            "preference",
                            parent.code_hash,
                            chosen.code_hash,
                            rejected.code_hash,
                        ),
                        priority=(hardness, _relative_gain(chosen, parent)),
                        operator=chosen.operator,
                        problem=source.problem,
                    )
                )
    return examples


def _finite(values: Mapping[str, Any]) -> dict[str, float | None]:
    result: dict[str, float | None] = {}
    for name, value in sorted(values.items()):
        number = float(value) if isinstance(value, int | float) else math.nan
        result[str(name)] = number if math.isfinite(number) else None
    return result


def _model_exchange(
    source: RunSource, parent: Program, program: Program, options: ExportOptions
) -> tuple[str, str]:
    """The user turn and answer of the model request that made ``program`` (the answer
    that reproduces it, else the last request's first answer), its reasoning section
    dropped or kept as ``options`` say; empty for other children. Unscrubbed."""
    recorded = model_turns(source, parent, program)
    if recorded is not None:
        if options.reasoning == "keep":
            return recorded.user, recorded.reasoning + recorded.assistant
        return recorded.user, recorded.assistant
    exchanges = source.exchanges.get(program.seq, [])
    if not exchanges:
        return "", ""
    answer = exchanges[-1].answers[0] if exchanges[-1].answers else ""
    if options.reasoning == "drop":
        split = without_reasoning(answer)
        answer = "" if split is None else split[1]
    return exchanges[-1].user, answer


def _traces(
    source: RunSource, options: ExportOptions, drops: Counter[str], count: Count | None
) -> list[Example]:
    examples: list[Example] = []
    scrubber = source.scrubber
    programs = sorted(source.programs.values(), key=lambda p: p.seq)
    for program in counted(programs, len(programs), count):
        parent = source.parent_of(program)
        if parent is None:
            continue
        diff = "".join(
            difflib.unified_diff(
                parent.code.splitlines(keepends=True),
                program.code.splitlines(keepends=True),
                fromfile="parent.py",
                tofile="child.py",
            )
        )
        if not (scrubber.is_clean(parent.code) and scrubber.is_clean(program.code)):
            drops["sensitive"] += 1
            continue
        prompt, answer = _model_exchange(source, parent, program, options)
        record = {
            "problem": source.problem,
            "run": source.label,
            "id": program.id,
            "parent_id": parent.id,
            "inspiration_ids": list(program.inspiration_ids),
            "operator": program.operator,
            "iteration": program.iteration,
            "generation": program.generation,
            "island": program.island,
            "status": program.status.value,
            "reason": scrubber.scrub(program.reason),
            "error": _error_text(source, program),
            "score": _score(program),
            "parent_score": _score(parent),
            "improved": improves(program, parent),
            "metrics": [
                {"name": name, "value": value} for name, value in _finite(program.metrics).items()
            ],
            "diff": diff,
            "model_prompt": scrubber.scrub(prompt),
            "model_answer": scrubber.scrub(answer),
            "code_hash": program.code_hash,
            "lineage": source.lineage_key(program)[2],
        }
        examples.append(
            Example(
                record=record,
                programs=(_ref(source, parent), _ref(source, program)),
                lineage=source.lineage_key(program),
                dedup_key=("traces", parent.code_hash, program.code_hash, program.status.value),
                priority=(0.0,),
                operator=program.operator,
                problem=source.problem,
            )
        )
    return examples
