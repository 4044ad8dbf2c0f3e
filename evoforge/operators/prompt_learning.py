"""Prompts that learn during a run: evolved instructions, chosen exemplars, run notes.

:class:`PromptLearner` holds what the three options know, as plain data:

* **instruction evolution** (``prompt.instructions.evolve``): an archive of system
  instructions, starting from the run's own (``instr-0``, never removed), and a bandit
  over them (:mod:`evoforge.selection.bandits`, the run's ``bandit`` settings). Every
  ``propose_every`` iterations the model is asked for a new instruction
  (:mod:`.meta_prompts`); it joins the archive as a new arm, and when the archive is
  full it replaces the instruction with the lowest mean reward;
* **exemplar choice** (``prompt.exemplars.adaptive``): a bandit whose arms are
  inspiration policies (top, diverse, novel, nearest);
* **run notes** (``prompt.notes.every_generations`` N > 0): every N generations (N x
  islands iterations) the model writes a note on what helped and what failed; the
  latest goes into every later prompt.

Both bandits are paid the step's reward (:func:`evoforge.selection.rewards.
reward_from_outcome`, what the operator bandit gets) for every language-model child
whose request was answered. Choices draw only from the ``rng`` the engine derives from
the seed and the iteration, and :meth:`PromptLearner.state` is committed with every
step, so a resumed run continues exactly and a sequential run is reproducible. The
window of recent results the requests describe is rebuilt from the committed steps
(:meth:`observe`), so it is not part of the state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from evoforge.config import BanditConfig, PromptConfig
from evoforge.operators.base import PromptGuidance
from evoforge.operators.meta_prompts import (
    InstructionRecord,
    instruction_request,
    note_request,
    parse_text_answer,
)
from evoforge.operators.run_digest import ResultEntry, describe_results
from evoforge.selection.bandits import Bandit, make_bandit

__all__ = ["TASK_INSTRUCTION", "TASK_NOTE", "MetaRequest", "PromptLearner", "summarise"]

TASK_INSTRUCTION = "instruction"
TASK_NOTE = "note"
FIRST_INSTRUCTION = "instr-0"
_MIN_WINDOW = 12
_MAX_WINDOW = 400
_PREVIEW_CHARS = 160


@dataclass(frozen=True)
class MetaRequest:
    """A request about the run, prepared at ask time: ``kind`` is :data:`TASK_INSTRUCTION`
    or :data:`TASK_NOTE`."""

    kind: str
    messages: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class _Instruction:
    instruction_id: str
    text: str
    iteration: int


class PromptLearner:
    """The state of the prompt-learning options of one run (see the module docstring)."""

    def __init__(
        self,
        config: PromptConfig,
        bandit_config: BanditConfig,
        first_instruction: str,
        num_islands: int,
        task: str,
    ) -> None:
        self.config = config
        self._bandit_config = bandit_config
        self._task = task
        self.note_every = config.notes.every_generations * num_islands
        first = _Instruction(FIRST_INSTRUCTION, first_instruction, 0)
        self._instructions: dict[str, _Instruction] = {first.instruction_id: first}
        self._next_instruction = 1
        self.instruction_bandit: Bandit | None = (
            make_bandit([first.instruction_id], bandit_config)
            if config.instructions.evolve
            else None
        )
        self.exemplar_bandit: Bandit | None = (
            make_bandit(list(config.exemplars.arms), bandit_config)
            if config.exemplars.adaptive
            else None
        )
        self.note: str = ""
        self.note_iteration = 0
        self.notes_written = 0
        self.last_instruction = FIRST_INSTRUCTION
        window = max(_MIN_WINDOW, self.note_every)
        if self.instruction_bandit is not None:
            window = max(window, config.instructions.propose_every)
        self.window_size = min(window, _MAX_WINDOW)
        self._window: deque[ResultEntry] = deque(maxlen=self.window_size)
        self._best: float | None = None
        self._seed: float | None = None

    @staticmethod
    def wanted(config: PromptConfig) -> bool:
        """Whether any of the three options is on."""
        return (
            config.instructions.evolve
            or config.exemplars.adaptive
            or config.notes.every_generations > 0
        )

    # -- choosing ---------------------------------------------------------------------

    def guidance(self, rng: np.random.Generator, uses_inspirations: bool) -> PromptGuidance:
        """The instruction, inspiration policy and note for one language-model prompt."""
        instruction: str | None = None
        instruction_id = ""
        if self.instruction_bandit is not None:
            instruction_id = self.instruction_bandit.select(rng)
            instruction = self._instructions[instruction_id].text
        policy = None
        if self.exemplar_bandit is not None and uses_inspirations:
            policy = self.exemplar_bandit.select(rng)
        return PromptGuidance(
            instruction=instruction,
            instruction_id=instruction_id,
            exemplar_policy=policy,
            note=self.note,
        )

    def requests_due(self, iteration: int) -> tuple[MetaRequest, ...]:
        """The requests about the run that iteration ``iteration`` carries: a new
        instruction every ``propose_every`` iterations, a note every N generations."""
        due: list[MetaRequest] = []
        if (
            self.instruction_bandit is not None
            and iteration % self.config.instructions.propose_every == 0
        ):
            digest = self._digest(self.config.instructions.propose_every)
            messages = instruction_request(
                self._task,
                self.instruction_records(),
                digest,
                self.config.instructions.max_chars,
            )
            due.append(MetaRequest(TASK_INSTRUCTION, messages))
        if self.note_every > 0 and iteration % self.note_every == 0:
            digest = self._digest(self.note_every)
            messages = note_request(self._task, self.note, digest, self.config.notes.max_chars)
            due.append(MetaRequest(TASK_NOTE, messages))
        return tuple(due)

    def _digest(self, last: int) -> str:
        entries = list(self._window)[-last:]
        return describe_results(entries, self._best, self._seed)

    def instruction_records(self) -> list[InstructionRecord]:
        """The archive, best mean reward first (unused ones after, oldest first)."""
        stats = self.instruction_bandit.stats() if self.instruction_bandit is not None else {}
        records = [
            InstructionRecord(
                instruction_id=item.instruction_id,
                text=item.text,
                uses=int(stats.get(item.instruction_id, {}).get("uses", 0)),
                mean_reward=float(stats.get(item.instruction_id, {}).get("mean_reward", 0.0)),
            )
            for item in self._instructions.values()
        ]
        order = {item: index for index, item in enumerate(self._instructions)}
        return sorted(
            records,
            key=lambda r: (r.uses == 0, -r.mean_reward, order[r.instruction_id]),
        )

    # -- learning ---------------------------------------------------------------------

    def pay(self, guidance: PromptGuidance, reward: float) -> None:
        """Pay the arms ``guidance`` used (an arm replaced meanwhile is skipped)."""
        bandit = self.instruction_bandit
        if bandit is not None and guidance.instruction_id in bandit.arms:
            bandit.update(guidance.instruction_id, reward)
            self.last_instruction = guidance.instruction_id
        exemplars = self.exemplar_bandit
        if exemplars is not None and guidance.exemplar_policy in exemplars.arms:
            exemplars.update(str(guidance.exemplar_policy), reward)

    def observe(self, entry: ResultEntry, best: float | None, seed: float | None) -> None:
        """Add a committed child to the window of recent results."""
        self._window.append(entry)
        self._best, self._seed = best, seed

    def apply(self, kind: str, answer: str, iteration: int) -> tuple[str, dict[str, Any]] | None:
        """Take the model's answer to a request: an event to commit, or None when the
        answer held nothing usable (empty, or an instruction the archive has already)."""
        if kind == TASK_INSTRUCTION and self.instruction_bandit is not None:
            text = parse_text_answer(answer, self.config.instructions.max_chars)
            if text is None or any(item.text == text for item in self._instructions.values()):
                return None
            replaced = self._make_room()
            instruction_id = f"instr-{self._next_instruction}"
            self._next_instruction += 1
            self._instructions[instruction_id] = _Instruction(instruction_id, text, iteration)
            self.instruction_bandit.add_arm(instruction_id)
            return (
                "instruction",
                {"instruction_id": instruction_id, "text": text, "replaced": replaced},
            )
        if kind == TASK_NOTE and self.note_every > 0:
            text = parse_text_answer(answer, self.config.notes.max_chars)
            if text is None:
                return None
            self.note, self.note_iteration = text, iteration
            self.notes_written += 1
            return ("run_note", {"iteration": iteration, "text": text})
        return None

    def _make_room(self) -> str | None:
        """Remove the weakest instruction when the archive is full; its id, or None."""
        if len(self._instructions) < self.config.instructions.archive_size:
            return None
        assert self.instruction_bandit is not None
        stats = self.instruction_bandit.stats()
        candidates = [key for key in self._instructions if key != FIRST_INSTRUCTION]
        order = {key: index for index, key in enumerate(self._instructions)}
        weakest = min(
            candidates,
            key=lambda key: (stats[key]["uses"] > 0, stats[key]["mean_reward"], order[key]),
        )
        del self._instructions[weakest]
        self.instruction_bandit.remove_arm(weakest)
        return weakest

    # -- state ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the learner knows but the window, as JSON-serialisable data."""
        return {
            "instructions": [
                {"id": item.instruction_id, "text": item.text, "iteration": item.iteration}
                for item in self._instructions.values()
            ],
            "next_instruction": self._next_instruction,
            "instruction_bandit": None
            if self.instruction_bandit is None
            else self.instruction_bandit.state(),
            "exemplar_bandit": None
            if self.exemplar_bandit is None
            else self.exemplar_bandit.state(),
            "last_instruction": self.last_instruction,
            "note": {"text": self.note, "iteration": self.note_iteration},
            "notes_written": self.notes_written,
        }

    def load_state(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state` output. Parts for options that are now off are ignored;
        an option turned on at resume starts from scratch."""
        if not state:
            return
        instructions = state.get("instructions") or []
        bandit_state = state.get("instruction_bandit")
        if self.instruction_bandit is not None and bandit_state and instructions:
            first = self._instructions[FIRST_INSTRUCTION]
            self._instructions = {
                item["id"]: _Instruction(item["id"], item["text"], int(item["iteration"]))
                for item in instructions
            }
            self._instructions[FIRST_INSTRUCTION] = _Instruction(
                FIRST_INSTRUCTION, first.text, 0
            )  # the run's own instruction as configured now
            self.instruction_bandit = make_bandit(list(self._instructions), self._bandit_config)
            self.instruction_bandit.load_state(bandit_state)
            self._next_instruction = int(state.get("next_instruction", len(instructions)))
            self.last_instruction = str(state.get("last_instruction", FIRST_INSTRUCTION))
        exemplar_state = state.get("exemplar_bandit")
        if (
            self.exemplar_bandit is not None
            and exemplar_state
            and list(exemplar_state.get("arms", [])) == list(self.exemplar_bandit.arms)
        ):
            self.exemplar_bandit.load_state(exemplar_state)
        note = state.get("note") or {}
        if self.note_every > 0:
            self.note = str(note.get("text", ""))
            self.note_iteration = int(note.get("iteration", 0))
            self.notes_written = int(state.get("notes_written", 0))


def summarise(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``evoforge status`` shows of a stored learner state (None: none stored)."""
    if not state:
        return None
    bandit = state.get("instruction_bandit") or {}
    records = bandit.get("records") or {}
    instructions: list[dict[str, Any]] = []
    stored = state.get("instructions") or []
    first_lines = set(stored[0]["text"].splitlines()) if stored else set()
    for item in stored:
        record = records.get(item["id"]) or {}
        uses = int(record.get("uses", 0))
        instructions.append(
            {
                "id": item["id"],
                "uses": uses,
                "mean_reward": float(record.get("total_reward", 0.0)) / uses if uses else 0.0,
                "iteration": int(item.get("iteration", 0)),
                "preview": _preview(item["text"], first_lines if item is not stored[0] else set()),
            }
        )
    exemplars: dict[str, dict[str, Any]] = {}
    exemplar_state = state.get("exemplar_bandit") or {}
    for arm, record in (exemplar_state.get("records") or {}).items():
        uses = int(record.get("uses", 0))
        exemplars[arm] = {
            "uses": uses,
            "mean_reward": float(record.get("total_reward", 0.0)) / uses if uses else 0.0,
        }
    note = state.get("note") or {}
    return {
        "instruction_in_use": state.get("last_instruction") if bandit else None,
        "instructions": instructions if bandit else [],
        "exemplars": exemplars,
        "notes_written": int(state.get("notes_written", 0)),
        "latest_note": {"iteration": int(note.get("iteration", 0)), "text": note["text"]}
        if note.get("text")
        else None,
    }


def _preview(text: str, known_lines: set[str]) -> str:
    """One short line: the instruction's lines that the first one lacks (all when it
    has no new line), so that evolved instructions are told apart at a glance."""
    new = [line for line in text.splitlines() if line not in known_lines]
    line = " ".join(" ".join(new or text.splitlines()).split())
    return line if len(line) <= _PREVIEW_CHARS else line[: _PREVIEW_CHARS - 3] + "..."
