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

Two passes, so that an export holds the records of one batch at a time:
:func:`select_candidates` chooses on the run's index (scores, statuses, lineage: no code)
which examples to try, builds them a batch at a time from programs fetched for the
batch, counts what it drops, and keeps each survivor as a
:class:`~evoforge.export.example.Candidate` without its record;
:func:`build_records` builds the records of the candidates left after deduplication, the
cap and the split again, the same way and so byte for byte the same, as they are
written.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from evoforge.export.counting import Count, counted
from evoforge.export.example import Candidate, Example, ProgramRef, Spec
from evoforge.export.index import Node
from evoforge.export.options import ExportError, ExportOptions
from evoforge.export.selection import (
    FAILED_STATUSES,
    difficulty,
    improves,
    improving_children,
    rejected_siblings,
    required_margin,
    same_code,
)
from evoforge.export.source import RunSource, RunView
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
from evoforge.storage.db import RunDatabase

__all__ = ["BATCH", "DROP_REASONS", "build_records", "select_candidates"]

DROP_REASONS = {
    "quota": "beyond the parent's difficulty quota",
    "unparsable": "no answer that parses back to the child exactly",
    "sensitive": "program code holds a secret, path or private text",
    "duplicate": "duplicate of an earlier example (normalised code)",
    "lineage_cap": "beyond the per-lineage cap",
    "split_boundary": "its programs straddle the train/validation split",
}


BATCH = 64
"""Parents (sft, preference) or children (traces, and every format's writing) whose
programs are fetched together: one batch's programs and records are held at a time."""

T = TypeVar("T")
Prompt = tuple[str, str, str]
"""A preference example's scrubbed system and user turns and its chosen answer."""


def select_candidates(
    source: RunSource,
    run: int,
    options: ExportOptions,
    drops: Counter[str],
    count: Count | None = None,
) -> list[Candidate]:
    """The run's candidate examples in ``options.format``, in the run's commit order,
    each built once (and let go) to learn that it passes every check; ``run``: the
    run's position in the export. ``count`` is told ``(done, total)`` as the work goes
    (:func:`counted`): parents for ``sft`` and ``preference``, children for ``traces``."""
    if options.format == "sft":
        return _sft(source, run, options, drops, count)
    if options.format == "preference":
        return _preference(source, run, options, drops, count)
    return _traces(source, run, drops, count)


def build_records(
    source: RunSource, options: ExportOptions, candidates: Iterable[Candidate]
) -> Iterator[dict[str, Any]]:
    """The records of ``candidates`` (this run's, from :func:`select_candidates`), in
    their order, built a batch at a time from programs fetched for the batch."""
    with source.reading() as db:
        for batch in _batches(candidates, BATCH):
            specs = [candidate.spec for candidate in batch]
            view = _view(source, db, options, specs)
            prompts: dict[tuple[str, str], Prompt | str] = {}
            for spec in specs:
                example = _build(view, options, spec, prompts)
                if example is None:
                    raise ExportError(f"run {source.label} changed while it was exported")
                yield example.record


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _view(source: RunSource, db: RunDatabase, options: ExportOptions, specs: list[Spec]) -> RunView:
    """The programs (and model exchanges) that building ``specs`` reads."""
    ids = {i for spec in specs for i in (spec.parent, spec.child, spec.other) if i is not None}
    nodes = source.index.nodes
    if options.format == "sft":
        # improvements: the child's model exchange, else a prompt with its inspirations;
        # a failure_fix: a prompt with the fixing child's inspirations
        seqs = {nodes[spec.child].seq for spec in specs if spec.other is None}
        return source.view(db, ids, {spec.child for spec in specs}, seqs)
    if options.format == "preference":
        return source.view(db, ids, {spec.child for spec in specs})
    return source.view(db, ids, (), {nodes[spec.child].seq for spec in specs})


def _build(
    view: RunView, options: ExportOptions, spec: Spec, prompts: dict[tuple[str, str], Prompt | str]
) -> Example | None:
    """The example of ``spec`` as :func:`select_candidates` built it (drops uncounted)."""
    drops: Counter[str] = Counter()
    parent, child = view.programs[spec.parent], view.programs[spec.child]
    if options.format == "sft":
        return _sft_build(view, options, spec, drops)
    if options.format == "preference":
        key = (spec.parent, spec.child)
        if key not in prompts:
            prompts[key] = _preference_prompt(view, parent, child)
        prompt = prompts[key]
        if isinstance(prompt, str) or spec.other is None:
            return None
        rejected = view.programs[spec.other]
        return _preference_example(
            view, options, parent, child, rejected, spec.difficulty, prompt, drops
        )
    return _trace_example(view, options, parent, child)


def _ref(source: RunSource | RunView, program: Program | Node) -> ProgramRef:
    return ProgramRef(source.lineage_key(program), program.code_hash)


def _score(program: Program) -> float | None:
    return None if program.score is None else float(program.score)


def _relative_gain(child: Program, parent: Program) -> float:
    gain = float(child.score or 0.0) - float(parent.score or 0.0)
    return gain / max(abs(float(parent.score or 0.0)), 1e-12)


def _completion(source: RunView, answer: str, reasoning: str, options: ExportOptions) -> str:
    """A model's answer as exported: without its reasoning section, or (``reasoning``
    ``keep``) with it in front, scrubbed as free text."""
    if options.reasoning == "keep" and reasoning:
        return source.scrubber.scrub(reasoning) + answer
    return answer


def _clean_turns(
    source: RunView, parent: Program, child: Program, turns: Turns, options: ExportOptions
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


def _scored_parents(
    batch: Iterable[tuple[str, list[Node]]], nodes: Mapping[str, Node]
) -> Iterator[tuple[Node, list[Node]]]:
    """The ``(parent, children)`` of ``batch`` whose parent is known and scored: the
    parents an improvement can be measured against."""
    for parent_id, children in batch:
        parent = nodes.get(parent_id)
        if parent is not None and parent.is_scored:
            yield parent, children


def _quota(
    parent: Node, children: list[Node], options: ExportOptions
) -> tuple[float, list[Node], int]:
    """``parent``'s difficulty, the improving children its quota keeps, and how many
    improving children the quota leaves out."""
    chosen = improving_children(parent, children, options)
    beyond = sum(1 for child in children if improves(child, parent)) - len(chosen)
    return difficulty(parent, children), chosen, beyond


def _sft(
    source: RunSource, run: int, options: ExportOptions, drops: Counter[str], count: Count | None
) -> list[Candidate]:
    candidates: list[Candidate] = []
    nodes = source.index.nodes
    parents = source.children.items()
    with source.reading() as db:
        for batch in _batches(counted(parents, len(parents), count), BATCH):
            specs: list[tuple[Spec, int]] = []  # with the seq that orders it
            for parent, children in _scored_parents(batch, nodes):
                hardness, chosen, beyond = _quota(parent, children, options)
                drops["quota"] += beyond
                specs += [
                    (Spec(parent.id, child.id, None, hardness), child.seq) for child in chosen
                ]
                if not chosen or options.failure_examples == 0:
                    continue
                failed = [
                    child
                    for child in children
                    if child.status in FAILED_STATUSES and not same_code(child, parent)
                ][: options.failure_examples]
                fixed = chosen[0]
                specs += [
                    (Spec(parent.id, fixed.id, failure.id, hardness), failure.seq)
                    for failure in failed
                ]
            view = _view(source, db, options, [spec for spec, _ in specs])
            for spec, seq in specs:
                example = _sft_build(view, options, spec, drops)
                if example is not None:
                    order = (seq, 0 if spec.other is None else 1)
                    candidates.append(Candidate.of(example, run, spec, order))
    candidates.sort(key=lambda candidate: candidate.order)
    return candidates


def _sft_build(
    view: RunView, options: ExportOptions, spec: Spec, drops: Counter[str]
) -> Example | None:
    parent, child = view.programs[spec.parent], view.programs[spec.child]
    if spec.other is None:
        turns = improvement_turns(view, parent, child)
        return _sft_example(view, options, parent, child, None, turns, spec.difficulty, drops)
    failure = view.programs[spec.other]
    turns = failure_turns(view, parent, failure, child)
    return _sft_example(view, options, parent, child, failure, turns, spec.difficulty, drops)


def _sft_example(
    source: RunView,
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


def _error_text(source: RunView, program: Program) -> str:
    if program.status not in FAILED_STATUSES:
        return ""
    error = str(program.artifacts.get("traceback") or program.reason)
    error = source.scrubber.scrub(error).strip()
    limit = max(source.artifact_chars, 200)
    return error if len(error) <= limit else "[...]" + error[-limit:]


def _preference(
    source: RunSource, run: int, options: ExportOptions, drops: Counter[str], count: Count | None
) -> list[Candidate]:
    candidates: list[Candidate] = []
    nodes = source.index.nodes
    parents = source.children.items()
    with source.reading() as db:
        for batch in _batches(counted(parents, len(parents), count), BATCH):
            # per parent: its quota's drops, its difficulty, each chosen child's rejected
            plans: list[tuple[Node, int, float, list[tuple[Node, list[Node]]]]] = []
            for node, children in _scored_parents(batch, nodes):
                hardness, chosen_children, beyond = _quota(node, children, options)
                pairs = [
                    (chosen, rejected_siblings(chosen, node, children, options, offset))
                    for offset, chosen in enumerate(chosen_children)
                ]
                plans.append((node, beyond, hardness, pairs))
            chosen_ids = {chosen.id for *_, pairs in plans for chosen, _ in pairs}
            ids = {plan[0].id for plan in plans} | chosen_ids
            ids.update(r.id for *_, pairs in plans for _, rejected in pairs for r in rejected)
            view = source.view(db, ids, chosen_ids)
            for parent_node, beyond, hardness, pairs in plans:
                parent = view.programs[parent_node.id]
                if not view.scrubber.is_clean(parent.code):
                    continue
                drops["quota"] += beyond
                for chosen_node, rejected_nodes in pairs:
                    chosen = view.programs[chosen_node.id]
                    prompt = _preference_prompt(view, parent, chosen)
                    if isinstance(prompt, str):
                        drops[prompt] += 1
                        continue
                    for rejected_node in rejected_nodes:
                        rejected = view.programs[rejected_node.id]
                        example = _preference_example(
                            view, options, parent, chosen, rejected, hardness, prompt, drops
                        )
                        if example is not None:
                            spec = Spec(parent.id, chosen.id, rejected.id, hardness)
                            candidates.append(Candidate.of(example, run, spec))
    return candidates


def _preference_prompt(view: RunView, parent: Program, chosen: Program) -> Prompt | str:
    """The scrubbed (system, user) turns for ``parent`` and ``chosen``'s answer, or the
    drop reason that rules out every pair of ``chosen``."""
    scrubber = view.scrubber
    chosen_answer = edit_answer(chosen.operator, parent.code, chosen.code)
    if chosen_answer is None:
        return "unparsable"
    system, user = rebuilt_prompt(view, parent, chosen)
    system, user = scrubber.scrub(system), scrubber.scrub(user)
    if not scrubber.is_clean(chosen_answer) or parent.code.rstrip() not in user:
        return "sensitive"
    return system, user, chosen_answer


def _preference_example(
    view: RunView,
    options: ExportOptions,
    parent: Program,
    chosen: Program,
    rejected: Program,
    hardness: float,
    prompt: Prompt,
    drops: Counter[str],
) -> Example | None:
    system, user, chosen_answer = prompt
    rejected_answer = edit_answer(rejected.operator, parent.code, rejected.code)
    if rejected_answer is None:
        drops["unparsable"] += 1
        return None
    if not view.scrubber.is_clean(rejected_answer):
        drops["sensitive"] += 1
        return None
    record = {
        "prompt": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
        "chosen": [{"role": "assistant", "content": chosen_answer}],
        "rejected": [{"role": "assistant", "content": rejected_answer}],
        "answer_format": SEARCH_REPLACE,
        "problem": view.problem,
        "run": view.label,
        "parent_id": parent.id,
        "chosen_id": chosen.id,
        "rejected_id": rejected.id,
        "chosen_operator": chosen.operator,
        "rejected_operator": rejected.operator,
        "parent_score": _score(parent),
        "chosen_score": _score(chosen),
        "rejected_score": _score(rejected),
        "rejected_status": rejected.status.value,
        "rejected_error": _error_text(view, rejected),
        "margin": required_margin(parent, options),
        "difficulty": round(hardness, 6),
        "lineage": view.lineage_key(chosen)[2],
    }
    return Example(
        record=record,
        programs=(_ref(view, parent), _ref(view, chosen), _ref(view, rejected)),
        lineage=view.lineage_key(chosen),
        dedup_key=("preference", parent.code_hash, chosen.code_hash, rejected.code_hash),
        priority=(hardness, _relative_gain(chosen, parent)),
        operator=chosen.operator,
        problem=view.problem,
    )


def _finite(values: Mapping[str, Any]) -> dict[str, float | None]:
    result: dict[str, float | None] = {}
    for name, value in sorted(values.items()):
        number = float(value) if isinstance(value, int | float) else math.nan
        result[str(name)] = number if math.isfinite(number) else None
    return result


def _model_exchange(
    source: RunView, parent: Program, program: Program, options: ExportOptions
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
    source: RunSource, run: int, drops: Counter[str], count: Count | None
) -> list[Candidate]:
    candidates: list[Candidate] = []
    nodes = source.index.nodes
    programs = sorted(nodes.values(), key=lambda node: node.seq)
    with source.reading() as db:
        for batch in _batches(counted(programs, len(programs), count), BATCH):
            pairs = [
                (parent, node)
                for node in batch
                if node.parent_id is not None and (parent := nodes.get(node.parent_id))
            ]
            ids = {node.id for pair in pairs for node in pair}
            view = source.view(db, ids)
            clean: dict[str, bool] = {}  # a parent of many children is scrubbed once
            for parent, node in pairs:
                if not (_is_clean(view, parent, clean) and _is_clean(view, node, clean)):
                    drops["sensitive"] += 1
                    continue
                candidates.append(
                    Candidate(
                        run=run,
                        spec=Spec(parent.id, node.id),
                        programs=(_ref(source, parent), _ref(source, node)),
                        lineage=source.lineage_key(node),
                        dedup_key=("traces", parent.code_hash, node.code_hash, node.status.value),
                        priority=(0.0,),
                        operator=node.operator,
                        problem=source.problem,
                        kind=None,
                        order=(node.seq, 0),
                    )
                )
    return candidates


def _is_clean(view: RunView, node: Node, known: dict[str, bool]) -> bool:
    """Whether the program's code is clean, remembered in ``known``."""
    if node.id not in known:
        known[node.id] = view.scrubber.is_clean(view.programs[node.id].code)
    return known[node.id]


def _trace_example(
    view: RunView, options: ExportOptions, parent: Program, program: Program
) -> Example:
    scrubber = view.scrubber
    diff = "".join(
        difflib.unified_diff(
            parent.code.splitlines(keepends=True),
            program.code.splitlines(keepends=True),
            fromfile="parent.py",
            tofile="child.py",
        )
    )
    prompt, answer = _model_exchange(view, parent, program, options)
    record = {
        "problem": view.problem,
        "run": view.label,
        "id": program.id,
        "parent_id": parent.id,
        "inspiration_ids": list(program.inspiration_ids),
        "operator": program.operator,
        "iteration": program.iteration,
        "generation": program.generation,
        "island": program.island,
        "status": program.status.value,
        "reason": scrubber.scrub(program.reason),
        "error": _error_text(view, program),
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
        "lineage": view.lineage_key(program)[2],
    }
    return Example(
        record=record,
        programs=(_ref(view, parent), _ref(view, program)),
        lineage=view.lineage_key(program),
        dedup_key=("traces", parent.code_hash, program.code_hash, program.status.value),
        priority=(0.0,),
        operator=program.operator,
        problem=view.problem,
    )
