"""A scripted OpenAI-compatible server on 127.0.0.1 for the language-model tests.

The real ``openai`` client talks to it over real HTTP. Each request takes the next
scripted reply (an answer text, an HTTP error, a hang, a dropped connection); when the
script runs out, the default reply is used. Hangs are bounded and end at teardown.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PROBLEMS = Path(__file__).resolve().parent.parent / "e2e" / "problems"


@dataclass(frozen=True)
class Reply:
    """``kind``: answer (200 with ``text``), status (``status`` with ``headers``, and
    ``text`` as the error's message), hang (no answer for ``seconds``), drop (close the
    connection without a response), raw (a 200 answer whose body is ``text``).
    ``{bearer}`` in ``text`` is replaced by the request's key; ``finish_reason`` is an
    answer's (``length``: stopped at ``max_tokens``)."""

    kind: str
    text: str = ""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    finish_reason: str = "stop"


def answer(text: str, finish_reason: str = "stop") -> Reply:
    return Reply("answer", text=text, finish_reason=finish_reason)


def status(code: int, text: str = "", **headers: str) -> Reply:
    return Reply(
        "status",
        text=text,
        status=code,
        headers=tuple((k.replace("_", "-"), v) for k, v in headers.items()),
    )


def raw(body: str) -> Reply:
    """A 200 answer whose JSON body is ``body`` as given (a malformed completion)."""
    return Reply("raw", text=body)


def hang(seconds: float = 5.0) -> Reply:
    return Reply("hang", seconds=seconds)


def drop() -> Reply:
    return Reply("drop")


@dataclass
class ScriptedServer:
    server: ThreadingHTTPServer
    script: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: answer("I have nothing to add."))
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    prompt_tokens: int | None = 100
    """The prompt tokens every answer reports; None: the request's messages counted at
    4 characters a token (a server that reads the whole prompt)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def next_reply(self, request: dict[str, Any], authorization: str = "") -> Reply:
        with self.lock:
            self.requests.append(request)
            self.authorizations.append(authorization)
            return self.script.popleft() if self.script else self.default

    def extend(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)


def _handler(scripted: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(
            self, code: int, body: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            reply = scripted.next_reply(request, self.headers.get("Authorization") or "")
            if reply.kind == "hang":
                scripted.stop.wait(reply.seconds)
                self.close_connection = True
                return
            if reply.kind == "drop":
                self.close_connection = True
                self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"trunc')
                return
            # "{bearer}" in a reply's text stands for the key the request came with (a
            # server that echoes it)
            bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            text = reply.text.replace("{bearer}", bearer)
            if reply.kind == "raw":
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if reply.kind == "status":
                message = text or f"scripted {reply.status}"
                self._json(
                    reply.status, {"error": {"message": message, "type": "scripted"}}, reply.headers
                )
                return
            n = int(request.get("n") or 1)
            prompt_tokens = scripted.prompt_tokens
            if prompt_tokens is None:
                read = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
                prompt_tokens = read // 4
            self._json(
                200,
                {
                    "id": "scripted",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "scripted"),
                    "choices": [
                        {
                            "index": i,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": reply.finish_reason,
                        }
                        for i in range(n)
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": 20,
                        "total_tokens": prompt_tokens + 20,
                    },
                },
            )

    return Handler


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    scripted = ScriptedServer(server=server)
    server.RequestHandlerClass = _handler(scripted)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield scripted
    finally:
        scripted.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def curve_fit(tmp_path: Path) -> Path:
    target = tmp_path / "curve_fit"
    shutil.copytree(PROBLEMS / "curve_fit", target)
    return target


def llm_config(url: str, **llm: Any) -> dict[str, Any]:
    """A fast config for runs against a test server: one worker, quick retries."""
    settings: dict[str, Any] = {
        "models": [{"model": "scripted", "base_url": url, "timeout_s": 1.0}],
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.2,
        "circuit_cooldown_s": 0.1,
    }
    settings.update(llm)
    return {
        "seed": 3,
        "run": {"workers": 1},
        "operators": {"enabled": ["llm_diff", "llm_rewrite"]},
        "llm": settings,
    }
