"""The oracle: an offline stand-in for a language model, over OpenAI's HTTP API.

``evoforge oracle --port P`` serves ``GET /v1/models`` and ``POST /v1/chat/completions``
on 127.0.0.1. For a chat request it finds the program in the prompt (the first fenced
code block under a ``## Current program`` heading, the convention of evoforge's prompt
templates; failing that, the last fenced block holding evolve markers), makes a child
with evoforge's symbolic operators (``tune`` or ``mutate``; ``crossover`` when the
prompt also has a ``## Second parent``, or ShinkaEvolve's ``# Crossover Inspiration
Programs``), and answers as the prompt asks: SEARCH/REPLACE
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

It can also play a weak model (:class:`WeakModel`, ``--near-miss-rate`` and
``--unparseable-rate``): a share of its SEARCH/REPLACE answers copy the SEARCH text
imperfectly (trailing spaces, a blank line, shifted indentation, one changed token),
and a share of all its answers hold no code at all. Both are drawn from their own
random stream, so with both rates at zero the answers are exactly those of the plain
oracle.

``POST /v1/embeddings`` answers with deterministic vectors: token unigrams and bigrams
hashed into :data:`EMBEDDING_DIMENSIONS` signed buckets, normalised to unit length, so
that near copies of a program get a cosine similarity near 1 and the embeddings path of
the novelty check runs offline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import difflib
import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from evoforge.blocks import BlockError, split_blocks
from evoforge.config import MutateConfig, OperatorsConfig, TuneConfig
from evoforge.llm.oracle_meta import (
    HINT_BORROW,
    HINT_STRUCTURE,
    HINT_TUNE,
    hint_in,
    inspiration_code,
    meta_answer,
)
from evoforge.operators.base import Operator, ProposalContext
from evoforge.operators.diff import AnswerError, Edit, child_from_diff, code_blocks, parse_edits
from evoforge.operators.registry import build_operators
from evoforge.program import Program, code_hash

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "NEAR_MISS_KINDS",
    "ORACLE_MODEL",
    "OracleServer",
    "WeakModel",
    "answer_prompt",
    "diff_answer",
    "embed_text",
    "near_miss",
    "start_oracle",
]

ORACLE_MODEL = "oracle"
# the heading names the program itself: "Current program", "Current Program (score 1)",
# but not "Current Program Information" (OpenEvolve's metrics section, before its history);
# ShinkaEvolve's crossover prompt names its second program "Crossover Inspiration Programs"
_HEADING_RE = re.compile(
    r"^#{1,6}[ \t]*(current program|second parent|crossover inspiration programs?)"
    r"(?![ \t]*\w)[^\n]*$",
    re.I | re.M,
)
_CURRENT_HEADINGS = ("current program",)
_SECOND_PARENT_HEADINGS = (
    "second parent",
    "crossover inspiration program",
    "crossover inspiration programs",
)
_MARKER = "EVOLVE-BLOCK-START"
_ATTEMPTS = 6
EMBEDDING_DIMENSIONS = 256
_EMBED_TOKEN_RE = re.compile(r"[A-Za-z_]\w*|\d+\.?\d*(?:[eE][-+]?\d+)?|\S")
#: How a weak model's SEARCH text may differ from the program.
NEAR_MISS_KINDS = ("trailing", "blank", "indent", "token")
_NO_CODE_ANSWER = (
    "The model would probably fit better with a different functional form; I would "
    "adjust the constants and try again."
)


@dataclass(frozen=True)
class WeakModel:
    """How often the oracle answers like a weak model. ``near_miss_rate``: share of
    SEARCH/REPLACE answers whose first SEARCH text is copied imperfectly (one of
    :data:`NEAR_MISS_KINDS`); ``unparseable_rate``: share of answers with no code."""

    near_miss_rate: float = 0.0
    unparseable_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("near_miss_rate", "unparseable_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")

    @property
    def active(self) -> bool:
        return self.near_miss_rate > 0 or self.unparseable_rate > 0


def _serialise(edits: list[Edit]) -> str:
    return "\n\n".join(
        f"<<<<<<< SEARCH\n{edit.search.rstrip(chr(10))}\n=======\n"
        f"{edit.replace.rstrip(chr(10))}\n>>>>>>> REPLACE"
        for edit in edits
    )


def _change_one_token(line: str, rng: np.random.Generator) -> str | None:
    tokens = [m for m in _EMBED_TOKEN_RE.finditer(line) if m.group()[0].isalnum()]
    if not tokens:
        return None
    token = tokens[int(rng.integers(len(tokens)))]
    text = token.group()
    if text[0].isdigit():
        digits = [i for i, ch in enumerate(text) if ch.isdigit()]
        at = digits[int(rng.integers(len(digits)))]
        changed = text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :]
    else:
        changed = text + "s"
    return line[: token.start()] + changed + line[token.end() :]


def near_miss(edits_text: str, kind: str, rng: np.random.Generator) -> str:
    """The edits with the first SEARCH text copied imperfectly in the way ``kind`` says:
    ``trailing`` spaces after its lines, a ``blank`` line inside it (trailing spaces for a
    one-line text), its ``indent`` shifted (with the replacement's), one ``token``
    changed. Unchanged when the kind cannot apply (a text with no token)."""
    edits = parse_edits(edits_text)
    if not edits:
        return edits_text
    first = edits[0]
    lines = first.search.rstrip("\n").split("\n")
    replace = first.replace
    if kind == "trailing":
        lines = [line + "  " if line.strip() else line for line in lines]
    elif kind == "blank" and len(lines) > 1:
        lines.insert(int(rng.integers(1, len(lines))), "")
    elif kind == "blank":  # one line has no inside: trailing spaces instead
        lines = [line + "  " for line in lines]
    elif kind == "indent":
        indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
        cut = min(indents) if indents else 0
        if cut == 0:
            lines = ["    " + line if line.strip() else line for line in lines]
            replace = "".join(
                "    " + line if line.strip() else line
                for line in replace.splitlines(keepends=True)
            )
        else:
            lines = [line[cut:] for line in lines]
            replace = "".join(
                line[cut:] if line[:cut].strip() == "" else line.lstrip()
                for line in replace.splitlines(keepends=True)
            )
    elif kind == "token":
        candidates = [i for i, line in enumerate(lines) if line.strip()]
        order = [candidates[int(i)] for i in rng.permutation(len(candidates))]
        for index in order:
            changed = _change_one_token(lines[index], rng)
            if changed is not None:
                lines[index] = changed
                break
    edits[0] = Edit(search="\n".join(lines) + "\n", replace=replace)
    return _serialise(edits)


def embed_text(text: str) -> list[float]:
    """The oracle's deterministic embedding of a text (unit length)."""
    tokens = _EMBED_TOKEN_RE.findall(text)
    vector = np.zeros(EMBEDDING_DIMENSIONS)
    features = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    for feature in features:
        digest = hashlib.blake2b(feature.encode("utf-8", "replace"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vector[value % EMBEDDING_DIMENSIONS] += 1.0 if (value >> 63) & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        vector[0] = 1.0
        norm = 1.0
    return [float(x) for x in vector / norm]


def _program_after(text: str, headings: tuple[str, ...]) -> str | None:
    for match in _HEADING_RE.finditer(text):
        if match.group(1).lower() in headings:
            blocks = code_blocks(text[match.end() :])
            if blocks:
                return blocks[0][1]
    return None


def find_programs(prompt: str) -> tuple[str | None, str | None]:
    """The current program and the second parent (for crossover) found in a prompt."""
    current = _program_after(prompt, _CURRENT_HEADINGS)
    if current is None:
        with_markers = [body for _, body in code_blocks(prompt) if _MARKER in body]
        current = with_markers[-1] if with_markers else None
    return current, _program_after(prompt, _SECOND_PARENT_HEADINGS)


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
        # difflib's heuristic for lines that recur often (blank ones) applies only to a
        # block of 200 lines or more, where without it the diff costs time quadratic in
        # the block; below that the answer is what it always was
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=True)
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


# The oracle stands for one fixed model: its operators keep the proposal distribution of
# the recorded benchmark runs, so the rows of every engine that asks it (the seed-only
# baselines, OpenEvolve, evoforge-oracle) stay comparable across revisions. ``tune``'s
# single-literal moves (on by default since they were added) are therefore off here, and
# ``mutate``'s hoist may drop an input's last read as it could when those runs were made.
ORACLE_OPERATORS = OperatorsConfig(
    enabled=["tune", "mutate", "crossover"],
    tune=TuneConfig(single_moves=False),
    mutate=MutateConfig(hoist_keeps_reads=False),
)


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
    weak: WeakModel | None = None,
) -> list[str]:
    """The oracle's ``n`` answers to a chat request (pure function of its arguments).

    ``repeat`` (how many identical unseeded requests came before) and ``model`` only
    matter when ``request_seed`` is ``None``; the first unseeded request to the model
    ``oracle`` is answered as it always was. ``weak`` makes some answers those of a weak
    model (see :class:`WeakModel`).
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
    oracle = _Oracle(oracle_seed, build_operators(ORACLE_OPERATORS))
    answers = []
    for index in range(n):
        rng = np.random.default_rng([oracle_seed, int.from_bytes(digest[:8], "little"), index])
        weak_rng = np.random.default_rng(
            [oracle_seed, int.from_bytes(digest[:8], "little"), index, 1]
        )
        if weak is not None and weak_rng.random() < weak.unparseable_rate:
            answers.append(_NO_CODE_ANSWER)
            continue
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
            if weak is not None and weak_rng.random() < weak.near_miss_rate:
                kind = NEAR_MISS_KINDS[int(weak_rng.integers(len(NEAR_MISS_KINDS)))]
                edits = near_miss(edits, kind, weak_rng)
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
    # keep-alive: a client's requests share one connection (and one server thread)
    # instead of a new TCP connection and thread each; every answer says its length
    protocol_version = "HTTP/1.1"
    # headers and body leave as two writes: without this the body waited for the
    # client's delayed acknowledgement of the headers on a kept-alive connection
    disable_nagle_algorithm = True

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

    def _embeddings(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            given = request.get("input")
            texts = [given] if isinstance(given, str) else list(given or [])
            if not texts or not all(isinstance(text, str) for text in texts):
                raise ValueError("input must be a string or a list of strings")
        except (ValueError, TypeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": {"message": f"bad request: {exc}"}})
            return
        self.server.count_embeddings(len(texts))
        as_base64 = request.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed_text(text)
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(text) for text in texts) // 4
        self._send(
            HTTPStatus.OK,
            {
                "object": "list",
                "data": data,
                "model": str(request.get("model") or ORACLE_MODEL),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def do_POST(self) -> None:
        if self.path.rstrip("/") in ("/v1/embeddings", "/embeddings"):
            self._embeddings()
            return
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
        with self.server.answer_lock:
            answers = answer_prompt(
                self.server.seed,
                messages,
                request_seed,
                n,
                model=model,
                repeat=repeat,
                weak=self.server.weak,
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


class _OneRequestPerConnection(_Handler):
    """HTTP/1.0: the connection closes after each answer."""

    protocol_version = "HTTP/1.0"


class OracleServer(ThreadingHTTPServer):
    """The oracle's HTTP server; :attr:`url` is its ``/v1`` base URL. ``keep_alive``
    False closes every connection after one answer (a server that counts connections
    then counts requests)."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        seed: int = 0,
        *,
        verbose: bool = False,
        weak: WeakModel | None = None,
        keep_alive: bool = True,
    ) -> None:
        super().__init__((host, port), _Handler if keep_alive else _OneRequestPerConnection)
        self.seed = seed
        self.verbose = verbose
        self.weak = weak if weak is not None and weak.active else None
        self._thread: threading.Thread | None = None
        self._repeats: dict[str, int] = {}
        self._repeats_lock = threading.Lock()
        #: Held while an answer is computed. Answers are pure CPU work, so serving them one
        #: at a time costs no throughput under the GIL, and CPython 3.11's ``ast.parse`` is
        #: not safe in concurrent threads (it can raise a spurious ``SystemError: AST
        #: constructor recursion depth mismatch``, CPython issue 106905).
        self.answer_lock = threading.Lock()
        #: Embeddings requests answered so far, and the texts they held.
        self.embedding_requests = 0
        self.embedded_texts = 0
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request that failed, said in one line on stderr (socketserver prints the whole
        traceback); a connection the client cut, or that :meth:`close` ended, is no error
        and says nothing."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        host, port = client_address[:2]
        print(
            f"evoforge oracle: a request from {host}:{port} failed: "
            f"{type(error).__name__}: {error}",
            file=sys.stderr,
            flush=True,
        )

    def count_embeddings(self, texts: int) -> None:
        """Count one embeddings request (:attr:`embedded_texts` says how many texts)."""
        with self._repeats_lock:
            self.embedding_requests += 1
            self.embedded_texts += texts

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
        """Stop serving, and end the connections kept alive: a closed oracle answers no
        one, as a stopped server would not."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_oracle(
    port: int = 0, seed: int = 0, host: str = "127.0.0.1", *, weak: WeakModel | None = None
) -> OracleServer:
    """Serve the oracle in a background thread (tests, notebooks); close() stops it."""
    return OracleServer(host, port, seed, weak=weak).start_background()
