"""Reading one run for export: its programs, lineages, model exchanges and prompt builder.

Read-only: the run database is opened, read in full and closed. Everything the export
needs later (family trees, the prompts and answers of model children, the scrubber that
knows the run's private files) is gathered here once, so the formats work on plain data.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from evoforge.config import ConfigError, validate_config
from evoforge.export.counting import Count, counted
from evoforge.export.hygiene import Scrubber
from evoforge.export.options import ExportError
from evoforge.llm.client import COMPLETION_SEPARATOR
from evoforge.llm.records import CallOutcome
from evoforge.operators.meta_prompts import META_OPERATORS
from evoforge.operators.prompts import PromptBuilder
from evoforge.program import EvalStatus, Program
from evoforge.runs import lock_holder
from evoforge.storage.db import DatabaseError, RunDatabase

__all__ = ["ModelExchange", "RunSource", "load_run", "split_rendered_prompt"]

_SYSTEM_TAG = "[system]\n"
_USER_TAG = "\n\n[user]\n"
_ASSISTANT_TAG = "\n\n[assistant]\n"


@dataclass(frozen=True)
class ModelExchange:
    """One answered request for a child: the messages sent and every completion."""

    system: str
    user: str
    answers: tuple[str, ...]


@dataclass
class RunSource:
    """Everything an export reads from one run.

    ``label``: the run directory's name (made unique among the runs of one export); no
    path of the user's machine. ``lineage``: program id -> id of the seed's child it
    descends from (the seed's own id for the seed). ``exchanges``: step seq -> answered
    model requests for a child (requests about the run left out), in the order they
    were made. ``running``: who held the run's lock when it was read (``pid N``), None
    when nobody did: a running run is exported as far as it had got.
    """

    label: str
    problem: str
    seed: Program
    programs: dict[str, Program]
    children: dict[str, list[Program]]
    lineage: dict[str, str]
    exchanges: dict[int, list[ModelExchange]]
    prompts: PromptBuilder
    scrubber: Scrubber
    artifact_chars: int = 1200
    counts: dict[str, int] = field(default_factory=dict)
    running: str | None = None

    def parent_of(self, program: Program) -> Program | None:
        return None if program.parent_id is None else self.programs.get(program.parent_id)

    def lineage_key(self, program: Program) -> tuple[str, str, str]:
        """(problem, run, lineage): the unit that a split keeps on one side."""
        return (self.problem, self.label, self.lineage.get(program.id, program.id))


def split_rendered_prompt(prompt: str) -> tuple[str, str] | None:
    """(system, user) from the text the model client records for a request, or None.

    ``user`` is the first user message only: a correction request also holds the model's
    unparseable reply and the correction after it, and an example made from its answer
    pairs that answer with the original prompt.
    """
    if not prompt.startswith(_SYSTEM_TAG):
        return None
    end = prompt.find(_USER_TAG)
    if end < 0:
        return None
    user = prompt[end + len(_USER_TAG) :]
    follow_up = user.find(_ASSISTANT_TAG)
    if follow_up >= 0:
        user = user[:follow_up]
    return prompt[len(_SYSTEM_TAG) : end], user


def load_run(run_dir: Path, label: str, count: Count | None = None) -> RunSource:
    """Read the run in ``run_dir``; ExportError when it holds no readable run. ``count``
    is told ``(programs read, programs)`` as they are read (:func:`counted`)."""
    path = run_dir / RunDatabase.FILENAME
    if not run_dir.is_dir():
        raise ExportError(f"run directory {run_dir} does not exist")
    if not path.is_file():
        raise ExportError(f"{run_dir} holds no run (no {RunDatabase.FILENAME})")
    running = lock_holder(run_dir)
    try:
        db = RunDatabase.open_for_reading(path)
    except DatabaseError as exc:
        raise ExportError(str(exc)) from None
    try:
        steps = list(counted(db.steps(), db.count_programs(), count))
        exchanges = _exchanges(db)
        files = db.problem_files()
        stored_config = db.get_meta("config")
        problem = db.get_meta("problem_name") or label
        problem_dir = db.get_meta("problem_dir") or ""
    finally:
        db.close()
    if not steps or stored_config is None:
        raise ExportError(f"{run_dir} holds an empty run")
    try:
        config = validate_config(
            json.loads(stored_config), "stored config", unregistered_parts=True
        )
    except (ConfigError, ValueError) as exc:
        raise ExportError(f"{run_dir}: unreadable stored config: {exc}") from None

    programs = {step.program.id: step.program for step in steps}
    seed = steps[0].program
    children: dict[str, list[Program]] = defaultdict(list)
    for step in steps[1:]:
        if step.program.parent_id is not None:
            children[step.program.parent_id].append(step.program)

    seed_code = files.get("initial_program.py", b"").decode("utf-8", "replace") or seed.code
    description = files.get("README.md", b"").decode("utf-8", "replace")
    # "~" itself where no home is known (no HOME, no password entry: a container's user)
    known_paths = [str(run_dir.resolve()), problem_dir, os.path.expanduser("~")]
    scrubber = Scrubber(
        problem_files=files,
        program_codes=[program.code for program in programs.values()],
        environment=os.environ,
        known_paths=[path for path in known_paths if path.startswith("/") and path != "/"],
    )
    statuses: dict[str, int] = defaultdict(int)
    for program in programs.values():
        statuses[program.status.value] += 1
    return RunSource(
        label=label,
        problem=problem,
        seed=seed,
        programs=programs,
        children=dict(children),
        lineage=_lineages(programs, seed),
        exchanges=exchanges,
        prompts=PromptBuilder(config.prompt, description, seed_code),
        scrubber=scrubber,
        artifact_chars=config.prompt.artifact_chars,
        counts={
            "programs": len(programs),
            "children": len(programs) - 1,
            "scored": statuses.get(EvalStatus.OK.value, 0),
        },
        running=running,
    )


def _exchanges(db: RunDatabase) -> dict[int, list[ModelExchange]]:
    """The answered requests for children, by step seq, read one request at a time (the
    whole rendered prompt of each is let go once its messages are taken) and with one
    copy of each distinct system message, which most requests of a run share."""
    exchanges: dict[int, list[ModelExchange]] = defaultdict(list)
    systems: dict[str, str] = {}
    for seq, record in db.iter_llm_calls():
        if record.outcome is not CallOutcome.OK or record.operator in META_OPERATORS:
            continue  # failed, or a request about the run (an instruction, a note)
        messages = split_rendered_prompt(record.prompt)
        if messages is None:
            continue
        system = systems.setdefault(messages[0], messages[0])
        answers = tuple(record.response.split(COMPLETION_SEPARATOR))
        exchanges[seq].append(ModelExchange(system, messages[1], answers))
    return dict(exchanges)


def _lineages(programs: dict[str, Program], seed: Program) -> dict[str, str]:
    """Each program's lineage: the seed's child it descends from (the seed: itself; a
    program whose parent is unknown starts its own)."""
    lineage: dict[str, str] = {seed.id: seed.id}
    for program_id in programs:
        chain: list[str] = []
        current = program_id
        while current not in lineage:
            parent_id = programs[current].parent_id
            if parent_id is None or parent_id == seed.id or parent_id not in programs:
                lineage[current] = current
                break
            chain.append(current)
            current = parent_id
        for descendant in chain:
            lineage[descendant] = lineage[current]
    return lineage
