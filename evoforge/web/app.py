"""The web view's HTTP side: a FastAPI app over read-only runs, served by uvicorn.

This is the only module that imports the web framework (the ``web`` extra). The app
serves one page (``index.html``), its own script and style sheet (nothing from another
origin: it works offline), and a JSON API that the page polls to update itself while a
run is writing:

``/api/runs``, ``/api/compare``, and per run ``/api/runs/{run}/`` + ``version``,
``overview``, ``archive``, ``lineage[?program=ID]``, ``operators``, ``models``,
``programs[?status=S&operator=OP&order=newest|best&limit=N&before=SEQ|after=SEQ]``
(newest first, or best score first; ``before`` pages on from the last row's ``seq``,
``after`` back from the first row's: see :func:`evoforge.report.views.programs`),
``programs/{id}``, ``program-counts`` (how many programs by status and operator:
:func:`evoforge.report.views.program_counts`).

Every answer carries the security headers of :mod:`evoforge.web.security` and a
``Server-Timing: app;dur=MS`` header (the time spent answering, for the benchmark).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evoforge.program import EvalStatus
from evoforge.report import views
from evoforge.stop_signals import stop_signals, when_received
from evoforge.web.runs import RunSet, ServedRun
from evoforge.web.security import (
    SECURITY_HEADERS,
    TOKEN_COOKIE,
    TOKEN_PARAM,
    host_header_allowed,
    is_loopback,
    token_matches,
)

STATIC_DIR = Path(str(resources.files("evoforge.web") / "static"))
MAX_PROGRAMS_LISTED = views.MAX_PROGRAMS_LISTED
PROGRAM_STATUSES = tuple(status.value for status in EvalStatus)
MAX_OPERATOR_CHARS = 200  # an operator filter longer than this names no operator


class _Guard:
    """ASGI middleware: access control (token or loopback Host) and response headers.

    HEAD is answered as GET without the body, for every path (uptime checks and link
    checkers ask HEAD first): the headers, ``content-length`` included, are GET's.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", [])
        }
        set_cookie: str | None = None
        if self.token is None:
            if not host_header_allowed(headers.get("host")):
                await _plain(send, 403, "this server answers only to a loopback host name")
                return
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            from_query = (query.get(TOKEN_PARAM) or [None])[0]
            bearer = headers.get("authorization", "")
            from_header = bearer[7:] if bearer.lower().startswith("bearer ") else None
            cookies = SimpleCookie()
            try:
                cookies.load(headers.get("cookie", ""))
            except Exception:  # a malformed cookie header is simply no token
                cookies = SimpleCookie()
            from_cookie = cookies[TOKEN_COOKIE].value if TOKEN_COOKIE in cookies else None
            if token_matches(from_query, self.token):
                set_cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            elif not (
                token_matches(from_header, self.token) or token_matches(from_cookie, self.token)
            ):
                await _plain(send, 401, "a valid token is required (see evoforge serve's output)")
                return

        head_only = scope.get("method") == "HEAD"
        if head_only:
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: Message) -> None:
            if head_only and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                elapsed_ms = (time.perf_counter() - started) * 1000.0
                extra.append((b"server-timing", f"app;dur={elapsed_ms:.2f}".encode()))
                if set_cookie is not None:
                    extra.append((b"set-cookie", set_cookie.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(run_dirs: Sequence[Path], *, token: str | None = None, warm_up: bool = False) -> Any:
    """The ASGI app serving ``run_dirs`` read-only.

    ``token`` ``None``: loopback Host names only. Otherwise every request must present
    the token. ``warm_up``: read each run once in a background thread right away (what
    :func:`serve` does), so the first page opened is quick on a large run. Raises
    :class:`evoforge.storage.db.DatabaseError` for a missing run.
    """
    runs = RunSet(run_dirs)
    if warm_up:
        runs.warm_up_in_background()
    api = FastAPI(title="evoforge", docs_url=None, redoc_url=None, openapi_url=None)
    api.state.runs = runs

    def served(run: int) -> ServedRun:
        found = runs.get(run)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no run {run}")
        return found

    @api.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @api.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @api.get("/api/runs")
    def list_runs() -> JSONResponse:
        return JSONResponse(runs.listing())

    @api.get("/api/compare")
    def compare() -> JSONResponse:
        return JSONResponse(runs.compare())

    @api.get("/api/runs/{run}/version")
    def version(run: int) -> JSONResponse:
        return JSONResponse(served(run).reader.version())

    @api.get("/api/runs/{run}/overview")
    def overview(run: int) -> JSONResponse:
        return JSONResponse(served(run).overview())

    @api.get("/api/runs/{run}/archive")
    def archive(run: int) -> JSONResponse:
        target = served(run)
        return JSONResponse(target.islands())

    @api.get("/api/runs/{run}/lineage")
    def lineage(run: int, program: str | None = None) -> JSONResponse:
        target = served(run)
        data = target.cached(f"lineage:{program}", lambda: views.lineage(target.reader, program))
        if data is None:
            raise HTTPException(status_code=404, detail="no such program (or none scored yet)")
        return JSONResponse(data)

    @api.get("/api/runs/{run}/operators")
    def operators(run: int) -> JSONResponse:
        return JSONResponse(served(run).operators())

    @api.get("/api/runs/{run}/models")
    def models(run: int) -> JSONResponse:
        target = served(run)
        return JSONResponse(target.cached("models", lambda: views.models(target.reader)))

    @api.get("/api/runs/{run}/programs")
    def program_list(
        run: int,
        status: str | None = None,
        operator: str | None = None,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        order: str = "newest",
    ) -> JSONResponse:
        if not 1 <= limit <= MAX_PROGRAMS_LISTED:
            raise HTTPException(
                status_code=400, detail=f"limit must be from 1 to {MAX_PROGRAMS_LISTED}"
            )
        if status is not None and status not in PROGRAM_STATUSES:
            raise HTTPException(
                status_code=400, detail=f"status must be one of {', '.join(PROGRAM_STATUSES)}"
            )
        if operator is not None and not 1 <= len(operator) <= MAX_OPERATOR_CHARS:
            raise HTTPException(
                status_code=400,
                detail=f"operator must be a name of 1 to {MAX_OPERATOR_CHARS} characters",
            )
        if order not in views.PROGRAM_ORDERS:
            raise HTTPException(
                status_code=400, detail=f"order must be one of {', '.join(views.PROGRAM_ORDERS)}"
            )
        for name, cursor in (("before", before), ("after", after)):
            if cursor is not None and cursor < 0:
                raise HTTPException(status_code=400, detail=f"{name} must be a seq (0 or more)")
        if before is not None and after is not None:
            raise HTTPException(status_code=400, detail="give before or after, not both")
        target = served(run)
        try:
            return JSONResponse(
                target.cached(
                    f"programs:{status}:{operator}:{order}:{limit}:{before}:{after}",
                    lambda: views.programs(
                        target.reader,
                        status=status,
                        operator=operator,
                        limit=limit,
                        before=before,
                        after=after,
                        order=order,
                    ),
                )
            )
        except views.ListingError as error:
            raise HTTPException(status_code=400, detail=str(error)) from None

    @api.get("/api/runs/{run}/program-counts")
    def program_counts(run: int) -> JSONResponse:
        return JSONResponse(served(run).program_counts())

    @api.get("/api/runs/{run}/programs/{program_id}")
    def program(run: int, program_id: str) -> JSONResponse:
        target = served(run)
        data = target.cached(
            f"program:{program_id}", lambda: views.program(target.reader, program_id)
        )
        if data is None:
            raise HTTPException(status_code=404, detail=f"no program {program_id}")
        return JSONResponse(data)

    api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return _Guard(api, token)


def serve(
    run_dirs: Sequence[Path],
    *,
    host: str,
    port: int,
    token: str | None,
    announce: Callable[[str], None],
) -> None:
    """Serve ``run_dirs`` until interrupted, then raise :class:`KeyboardInterrupt` (also
    for SIGTERM and SIGHUP: :func:`_stopping`), once the server has shut down. ``announce``
    receives the URL to open (with the token when there is one) once the socket is bound;
    port 0 picks a free port.

    Raises ValueError when a non-loopback ``host`` is given without a token, and OSError
    when the address cannot be bound.
    """
    if token is None and not is_loopback(host):
        raise ValueError(f"binding {host} needs a token")
    app = create_app(run_dirs, token=token, warm_up=True)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host.strip('[]')}]" if family == socket.AF_INET6 else host
    url = f"http://{shown_host}:{bound_port}/"
    if token is not None:
        url += f"?{TOKEN_PARAM}={token}"
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    with _stopping(server) as received:
        announce(url)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _stopping(server: uvicorn.Server) -> Iterator[list[int]]:
    """While the block runs, a stop signal (SIGINT, SIGTERM, SIGHUP:
    :func:`evoforge.stop_signals.stop_signals`) asks ``server`` to shut down, as uvicorn
    does with the first two while it serves; so does one that comes before uvicorn takes
    them over or after it gives them back (a :class:`KeyboardInterrupt` raised in
    between leaves the server's coroutine never awaited, which Python warns of). The
    list yielded holds the signals received; the handlers before are put back after."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def ask_to_exit() -> None:
        server.should_exit = True

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        when_received(signum, ask_to_exit)()

    taken = stop_signals()
    previous = [signal.signal(sig, on_signal) for sig in taken]
    try:
        yield received
    finally:
        for sig, handler in zip(taken, previous, strict=True):
            if handler is not None:  # None: not set from Python, nothing to restore
                signal.signal(sig, handler)
