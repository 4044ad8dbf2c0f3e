"""The oracle: an offline stand-in for a language model, over OpenAI's HTTP API.

``evoforge oracle --port P`` serves ``GET /v1/models`` and ``POST /v1/chat/completions``
on 127.0.0.1. For a chat request it finds the program in the prompt (the first fenced
code block under a ``## Current program`` heading, the convention of evoforge's prompt
templates; failing that, the last fenced block holding evolve markers), makes a child
with evoforge's symbolic operators (``tune`` or ``mutate``; ``crossover`` when the
prompt also has a ``## Second parent``), and answers as the prompt asks: SEARCH/REPLACE
edits when it says ``Answer format: SEARCH/REPLACE``, otherwise the whole program in a
fenced block. A prompt without a program gets a polite answer with no code.
Requests about the run (a new system instruction, a run note) get the deterministic
answers of :mod:`evoforge.llm.oracle_meta`, and a system instruction holding one of its
hints steers which symbolic operator makes the child.

So anyone can run the whole language-model path offline, and an engine that only speaks
to language models can be compared with evoforge under the very same proposal
distribution. Answers are deterministic given ``--seed`` and the request (messages,
``seed`` and ``n``). A request *without* a ``seed`` is answered as a sampling model
would: the k-th identical unseeded request (same model name, messages and ``n``) gets
the k-th fresh draw, so an engine that repeats a prompt is not handed the same child
again (answers stay a function of the sequence of requests). Token counts are estimates
(4 characters a token).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from evoforge.blocks import BlockError, split_blocks
from evoforge.config import OperatorsConfig
from evoforge.llm.oracle_meta import (
    HINT_BORROW,
    HINT_STRUCTURE,
    HINT_TUNE,
    hint_in,
    inspiration_code,
    meta_answer,
)
from evoforge.operators.base import Operator, ProposalContext
from evoforge.operators.diff import AnswerError, child_from_diff, code_blocks
from evoforge.operators.registry import build_operators
from evoforge.program import Program, code_hash

__all__ = ["ORACLE_MODEL", "OracleServer", "answer_prompt", "diff_answer", "start_oracle"]

ORACLE_MODEL = "oracle"
# the heading names the program itself: "Current program", "Current Program (score 1)",
# but not "Current Program Information" (OpenEvolve's metrics section, before its history)
_HEADING_RE = re.compile(
    r"^#{1,6}[ \t]*(current program|second parent)(?![ \t]*\w)[^\n]*$", re.I | re.M
)
_MARKER = "EVOLVE-BLOCK-START"
_ATTEMPTS = 6


def _program_after(text: str, heading: str) -> str | None:
    for match in _HEADING_RE.finditer(text):
        if match.group(1).lower() == heading:
            blocks = code_blocks(text[match.end() :])
            if blocks:
                return blocks[0][1]
    return None


def find_programs(prompt: str) -> tuple[str | None, str | None]:
    """The current program and the second parent (for crossover) found in a prompt."""
    current = _program_after(prompt, "current program")
    if current is None:
        with_markers = [body for _, body in code_blocks(prompt) if _MARKER in body]
        current = with_markers[-1] if with_markers else None
    return current, _program_after(prompt, "second parent")


def wants_diff(prompt: str) -> bool:
    """Whether the prompt asks for SEARCH/REPLACE edits rather than a whole program."""
    if "Answer format: SEARCH/REPLACE" in prompt:
        return "Answer format: FULL PROGRAM" not in prompt
    if "Answer format: FULL PROGRAM" in prompt:
        return False
    return "<<<<<<< SEARCH" in prompt or "SEARCH/REPLACE" in prompt


def diff_answer(parent: str, child: str) -> str:
    """SEARCH/REPLACE edits that turn ``parent``'s evolve blocks into ``child``'s.

    One edit per changed block, covering the changed lines plus context until the
    SEARCH text is unique in the program; falls back to the whole block when needed.
    """
    before, after = split_blocks(parent).blocks, split_blocks(child).blocks
    edits: list[str] = []
    for old, new in zip(before, after, strict=True):
        if old == new:
            continue
        old_lines = old.splitlines(keepends=True)
        new_lines = new.splitlines(keepends=True)
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        changed = [op for op in matcher.get_opcodes() if op[0] != "equal"]
        first_a, last_a = changed[0][1], changed[-1][2]
        first_b, last_b = changed[0][3], changed[-1][4]
        while True:
            search = "".join(old_lines[first_a:last_a])
            if search.strip() and parent.count(search) == 1:
                break
            if first_a == 0 and last_a == len(old_lines):
                break
            if first_a > 0:
                first_a, first_b = first_a - 1, first_b - 1
            if last_a < len(old_lines):
                last_a, last_b = last_a + 1, last_b + 1
        replace = "".join(new_lines[first_b:last_b])
        edits.append(
            f"<<<<<<< SEARCH\n{search.rstrip(chr(10))}\n=======\n"
            f"{replace.rstrip(chr(10))}\n>>>>>>> REPLACE"
        )
    return "\n\n".join(edits)


@dataclass
class _Oracle:
    seed: int
    operators: dict[str, Operator]

    def child(
        self,
        parent: str,
        second: str | None,
        rng: np.random.Generator,
        hint: str | None = None,
        inspiration: str | None = None,
    ) -> str | None:
        """A child of ``parent`` (crossed with ``second`` when given); ``hint`` (one of
        the oracle's hints) shifts the operator mix, and with the borrowing hint the
        child may be crossed with ``inspiration``."""
        parent_program = Program(id="parent", code=parent, code_hash=code_hash(parent), score=0.0)
        inspirations: tuple[Program, ...] = ()
        names = ["tune", "mutate"]
        if hint == HINT_TUNE:
            names = ["tune", "tune", "tune", "mutate"]
        elif hint == HINT_STRUCTURE:
            names = ["mutate", "mutate", "mutate", "tune"]
        elif hint == HINT_BORROW and inspiration is not None and second is None:
            second = inspiration
        if second is not None:
            inspirations = (
                Program(id="second", code=second, code_hash=code_hash(second), score=0.0),
            )
            names = ["crossover", "crossover", "tune", "mutate"]
        for _ in range(_ATTEMPTS):
            name = names[int(rng.integers(len(names)))]
            context = ProposalContext(parent=parent_program, rng=rng, inspirations=inspirations)
            proposal = asyncio.run(self.operators[name].propose(context))
            if proposal is not None and code_hash(proposal.code) != parent_program.code_hash:
                return proposal.code
        return None


def answer_prompt(
    oracle_seed: int,
    messages: Sequence[dict[str, Any]],
    request_seed: int | None,
    n: int,
    *,
    model: str = ORACLE_MODEL,
    repeat: int = 0,
) -> list[str]:
    """The oracle's ``n`` answers to a chat request (pure function of its arguments).

    ``repeat`` (how many identical unseeded requests came before) and ``model`` only
    matter when ``request_seed`` is ``None``; the first unseeded request to the model
    ``oracle`` is answered as it always was.
    """
    prompt = "\n\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    about_run = meta_answer(oracle_seed, prompt)
    if about_run is not None:
        return [about_run] * n
    system = "\n\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    hint = hint_in(system)
    inspiration = inspiration_code(prompt) if hint == HINT_BORROW else None
    parent, second = find_programs(prompt)
    if parent is None:
        return ["I could not find a program in your message, so there is nothing to change."] * n
    try:
        split_blocks(parent)
    except BlockError:
        return ["The program has no evolve blocks that I may change."] * n
    material: list[Any] = [prompt, request_seed]
    if request_seed is None and (repeat or model not in ("", ORACLE_MODEL)):
        material += [model, repeat]
    digest = hashlib.sha256(json.dumps(material).encode()).digest()
    oracle = _Oracle(
        oracle_seed, build_operators(OperatorsConfig(enabled=["tune", "mutate", "crossover"]))
    )
    answers = []
    for index in range(n):
        rng = np.random.default_rng([oracle_seed, int.from_bytes(digest[:8], "little"), index])
        child = oracle.child(parent, second, rng, hint, inspiration)
        if child is None:
            answers.append("I have no further idea for this program.")
        elif wants_diff(prompt):
            edits = diff_answer(parent, child)
            try:
                exact = child_from_diff(parent, edits) == child
            except AnswerError:
                exact = False
            if not exact:  # fall back to replacing each changed block whole
                edits = _whole_block_edits(parent, child)
            answers.append(f"Here is a change that may raise the score.\n\n{edits}\n")
        else:
            answers.append(f"Here is the improved program.\n\n```python\n{child.rstrip()}\n```\n")
    return answers


def _whole_block_edits(parent: str, child: str) -> str:
    before, after = split_blocks(parent).blocks, split_blocks(child).blocks
    return "\n\n".join(
        f"<<<<<<< SEARCH\n{old.rstrip(chr(10))}\n=======\n{new.rstrip(chr(10))}\n>>>>>>> REPLACE"
        for old, new in zip(before, after, strict=True)
        if old != new
    )


class _Handler(BaseHTTPRequestHandler):
    server: OracleServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(
                HTTPStatus.OK,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": ORACLE_MODEL,
                            "object": "model",
                            "created": 0,
                            "owned_by": "evoforge",
                        }
                    ],
                },
            )
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send(HTTPStatus.NOT_FOUND, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            messages = list(request.get("messages") or [])
            n = max(1, min(int(request.get("n") or 1), 16))
            seed = request.get("seed")
            request_seed = int(seed) if seed is not None else None
        except (ValueError, TypeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": {"message": f"bad request: {exc}"}})
            return
        model = str(request.get("model") or ORACLE_MODEL)
        repeat = 0 if request_seed is not None else self.server.count_request(model, messages, n)
        answers = answer_prompt(
            self.server.seed, messages, request_seed, n, model=model, repeat=repeat
        )
        prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
        completion_tokens = sum(len(a) for a in answers) // 4
        self._send(
            HTTPStatus.OK,
            {
                "id": f"oracle-{hashlib.sha1(json.dumps(messages).encode()).hexdigest()[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(request.get("model") or ORACLE_MODEL),
                "choices": [
                    {
                        "index": index,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                    for index, answer in enumerate(answers)
                ],
                "usage": {
                    "prompt_tokens": prompt_chars // 4,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_chars // 4 + completion_tokens,
                },
            },
        )


class OracleServer(ThreadingHTTPServer):
    """The oracle's HTTP server; :attr:`url` is its ``/v1`` base URL."""

    daemon_threads = True

    def __init__(self, host: str, port: int, seed: int = 0, *, verbose: bool = False) -> None:
        super().__init__((host, port), _Handler)
        self.seed = seed
        self.verbose = verbose
        self._thread: threading.Thread | None = None
        self._repeats: dict[str, int] = {}
        self._repeats_lock = threading.Lock()

    def count_request(self, model: str, messages: Sequence[dict[str, Any]], n: int) -> int:
        """How many identical unseeded requests came before this one (and count it)."""
        key = hashlib.sha256(json.dumps([model, list(messages), n], default=str).encode())
        with self._repeats_lock:
            seen = self._repeats.get(key.hexdigest(), 0)
            self._repeats[key.hexdigest()] = seen + 1
        return seen

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start_background(self) -> OracleServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_oracle(port: int = 0, seed: int = 0, host: str = "127.0.0.1") -> OracleServer:
    """Serve the oracle in a background thread (tests, notebooks); close() stops it."""
    return OracleServer(host, port, seed).start_background()
