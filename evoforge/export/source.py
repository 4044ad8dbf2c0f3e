"""Reading one run for export: its compact index, prompt builder and scrubber, and the
programs and model exchanges of a batch of examples, fetched when they are built.

Read-only. :func:`load_run` reads every program once, one row at a time, keeping only
the :mod:`~evoforge.export.index` (no code, prompt or artifact) and what the scrubber
learns from the codes; the database is then closed. Building examples opens it again
(:meth:`RunSource.reading`) and fetches, per batch, the programs and model exchanges
the batch's examples are made of (:meth:`RunSource.view`), so an export's memory is
bounded by its batches and the index, not by the run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evoforge.config import ConfigError, validate_config
from evoforge.export.counting import Count, counted
from evoforge.export.hygiene import Scrubber
from evoforge.export.index import Node, RunIndex, read_index
from evoforge.export.options import ExportError
from evoforge.llm.client import COMPLETION_SEPARATOR
from evoforge.llm.records import CallOutcome, LLMCallRecord
from evoforge.operators.meta_prompts import META_OPERATORS
from evoforge.operators.prompts import PromptBuilder
from evoforge.program import EvalStatus, Program
from evoforge.runs import lock_holder
from evoforge.storage.db import DatabaseError, RunDatabase

__all__ = ["ModelExchange", "RunSource", "RunView", "load_run", "split_rendered_prompt"]

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
    """What an export keeps of one run while it selects, and how it reads the rest.

    ``label``: the run directory's name (made unique among the runs of one export); no
    path of the user's machine. ``path``: the run database. ``seed``: the first program
    committed, whole. ``index``: every program as a :class:`~evoforge.export.index.Node`
    (no code), with the family trees and lineages. ``running``: who held the run's lock
    when it was read (``pid N``), None when nobody did: a running run is exported as far
    as it had got (the programs of its index; later ones are never fetched).
    """

    label: str
    problem: str
    path: Path
    seed: Program
    index: RunIndex
    prompts: PromptBuilder
    scrubber: Scrubber
    artifact_chars: int = 1200
    counts: dict[str, int] = field(default_factory=dict)
    running: str | None = None

    @property
    def children(self) -> dict[str, list[Node]]:
        """Parent id -> its children (see :class:`~evoforge.export.index.RunIndex`)."""
        return self.index.children

    def lineage_key(self, program: Program | Node) -> tuple[str, str, str]:
        """(problem, run, lineage): the unit that a split keeps on one side."""
        return (self.problem, self.label, self.index.lineage.get(program.id, program.id))

    @contextlib.contextmanager
    def reading(self) -> Iterator[RunDatabase]:
        """The run database, open for reading while the block runs."""
        try:
            db = RunDatabase.open_for_reading(self.path)
        except DatabaseError as exc:
            raise ExportError(str(exc)) from None
        try:
            yield db
        finally:
            db.close()

    def view(
        self,
        db: RunDatabase,
        ids: Iterable[str],
        shown: Iterable[str] = (),
        seqs: Iterable[int] = (),
    ) -> RunView:
        """The programs ``ids`` (those the run holds), the inspirations of the programs
        ``shown`` (ids among ``ids``) and the model exchanges of the steps ``seqs``, read
        from ``db`` (this run's, from :meth:`reading`)."""
        programs = db.programs_by_id(ids)
        wanted = {
            inspiration
            for program_id in shown
            if program_id in programs
            for inspiration in programs[program_id].inspiration_ids
        }
        programs.update(db.programs_by_id(wanted - programs.keys()))
        seqs = set(seqs)
        exchanges = _exchanges(db.iter_llm_calls_for(seqs)) if seqs else {}
        return RunView(self, programs, exchanges)

    @property
    def exchanges(self) -> dict[int, list[ModelExchange]]:
        """Every answered model request for a child, by step seq, in the order they were
        made (requests about the run left out), read from the database now. An export
        never holds them all: it reads those of a batch (:meth:`view`)."""
        with self.reading() as db:
            return _exchanges(db.iter_llm_calls())


@dataclass(frozen=True)
class RunView:
    """The part of one run that a batch of examples is built from: ``programs`` (whole,
    by id) and ``exchanges`` (step seq -> answered model requests for that child), with
    the run's prompt builder and scrubber. A program or exchange outside the batch is
    simply absent."""

    source: RunSource
    programs: Mapping[str, Program]
    exchanges: Mapping[int, list[ModelExchange]]

    @property
    def label(self) -> str:
        return self.source.label

    @property
    def problem(self) -> str:
        return self.source.problem

    @property
    def prompts(self) -> PromptBuilder:
        return self.source.prompts

    @property
    def scrubber(self) -> Scrubber:
        return self.source.scrubber

    @property
    def artifact_chars(self) -> int:
        return self.source.artifact_chars

    def lineage_key(self, program: Program | Node) -> tuple[str, str, str]:
        return self.source.lineage_key(program)

    def parent_of(self, program: Program) -> Program | None:
        return None if program.parent_id is None else self.programs.get(program.parent_id)


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
    is told ``(programs read, programs)`` as they are read (:func:`counted`). Every
    program is read once, one row at a time; only its index entry is kept."""
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
        files = db.problem_files()
        stored_config = db.get_meta("config")
        problem = db.get_meta("problem_name") or label
        problem_dir = db.get_meta("problem_dir") or ""
        # "~" itself where no home is known (no HOME, no password entry: a container's user)
        known_paths = [str(run_dir.resolve()), problem_dir, os.path.expanduser("~")]
        scrubbers: list[Scrubber] = []

        def learn(codes: Iterator[str]) -> None:
            scrubbers.append(
                Scrubber(
                    problem_files=files,
                    program_codes=codes,
                    environment=os.environ,
                    known_paths=[p for p in known_paths if p.startswith("/") and p != "/"],
                )
            )

        total = db.count_programs()
        index = seed = None
        if total and stored_config is not None:
            index = read_index(counted(db.program_outlines(), total, count), learn)
            seed = db.program(index.seed.id)
    finally:
        db.close()
    if index is None or seed is None or stored_config is None:
        raise ExportError(f"{run_dir} holds an empty run")
    try:
        config = validate_config(
            json.loads(stored_config), "stored config", unregistered_parts=True
        )
    except (ConfigError, ValueError) as exc:
        raise ExportError(f"{run_dir}: unreadable stored config: {exc}") from None

    seed_code = files.get("initial_program.py", b"").decode("utf-8", "replace") or seed.code
    description = files.get("README.md", b"").decode("utf-8", "replace")
    scored = sum(1 for node in index.nodes.values() if node.status is EvalStatus.OK)
    return RunSource(
        label=label,
        problem=problem,
        path=path,
        seed=seed,
        index=index,
        prompts=PromptBuilder(config.prompt, description, seed_code),
        scrubber=scrubbers[0],
        artifact_chars=config.prompt.artifact_chars,
        counts={
            "programs": len(index.nodes),
            "children": len(index.nodes) - 1,
            "scored": scored,
        },
        running=running,
    )


def _exchanges(calls: Iterable[tuple[int, LLMCallRecord]]) -> dict[int, list[ModelExchange]]:
    """The answered requests for children among ``calls``, by step seq, taken one
    request at a time (the whole rendered prompt of each is let go once its messages are
    taken) and with one copy of each distinct system message, which most requests of a
    run share."""
    exchanges: dict[int, list[ModelExchange]] = defaultdict(list)
    systems: dict[str, str] = {}
    for seq, record in calls:
        if record.outcome is not CallOutcome.OK or record.operator in META_OPERATORS:
            continue  # failed, or a request about the run (an instruction, a note)
        messages = split_rendered_prompt(record.prompt)
        if messages is None:
            continue
        system = systems.setdefault(messages[0], messages[0])
        answers = tuple(record.response.split(COMPLETION_SEPARATOR))
        exchanges[seq].append(ModelExchange(system, messages[1], answers))
    return dict(exchanges)
