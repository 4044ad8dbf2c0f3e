"""The ``ray`` backend: the same sandbox, on Ray workers (``pip install 'evoforge[ray]'``).

Each worker is a Ray actor holding a :class:`~evoforge.evaluation.evaluator.
ProblemEvaluator` over its own copy of the problem directory, on whatever node Ray
places it: the candidate runs there in the sandbox with the same isolation, limits and
stripped environment as on the local backend, and the actor sends back only the
sandbox's raw records. The driver judges them (validation, ``verify``, the score), so a
worker can never report a score. An actor runs one evaluation at a time and keeps its
template processes warm; actors are started as evaluations need them, at most one per CPU
of the cluster (further evaluations wait for a free one), and reused. A new actor whose
node isolates candidates less than the driver's machine (no jail, no network namespace)
is ended unused, and its evaluation fails saying so.

Without an address the backend starts a local Ray instance (or uses the one this
process already joined); with ``auto`` or ``HOST:PORT`` it joins that cluster, whose
nodes must have evoforge installed in the same Python version.

A lost worker (its process or node died, or it stopped answering well past the
evaluation's own timeout) is replaced and the evaluation is tried again, up to
:data:`MAX_ATTEMPTS` times in all; then it comes back without a run and its reason. An
evaluation is answered once, whatever the retries, and only the driver commits it, so
nothing is counted twice; a driver killed with ``kill -9`` resumes from its run database
as with any backend (evaluations in flight are not in it and are asked again).

This is the only module that imports ``ray``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.backends.base import BackendError, EvaluationBackend, EvaluationRequest
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.raw import RawEvaluation
from evoforge.evaluation.sandbox import Sandbox, SandboxLimits
from evoforge.evaluation.sandbox.reaper import RAY_PROBLEM_PREFIX, claim_directory
from evoforge.source_tree import install_command

__all__ = ["MAX_ATTEMPTS", "RayBackend", "SandboxWorker"]

MAX_ATTEMPTS = 3
"""Tries per evaluation when workers are lost (the first and two retries)."""
_REACH_TIMEOUT_S = 5.0  # how long the head's port may take to accept a connection
_WAIT_FOR_WORKER_S = 0.05  # how often an evaluation waiting for a free worker looks again
_CAPACITY_REFRESH_S = 5.0  # how often a waiting evaluation asks Ray for the cluster's CPUs
_PLACEMENT_LIMIT_S = 600.0
"""How long a new worker may wait for Ray to find it a CPU before its evaluation fails
(the cluster's CPUs are held by other work); its answer limit starts once it is placed."""

_ANSWER_MARGIN_S = 60.0
"""How long past an evaluation's own wall-clock limit a worker may take to answer before
it counts as lost (its sandbox kills the candidate at the limit; this covers start-up)."""

_MAX_PROBLEM_BYTES = 256 * 1024 * 1024

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayError
except ImportError:  # pragma: no cover - exercised where ray is not installed
    ray = None  # type: ignore[assignment]


class SandboxWorker:
    """The body of one Ray actor: a problem directory and an evaluator on this node."""

    def __init__(self, files: dict[str, bytes], config: EvaluatorConfig) -> None:
        # named after this process, so that a worker started after this one was killed
        # (whose own cleanup never ran) removes it: remove_stale_workdirs
        self._directory = tempfile.TemporaryDirectory(prefix=f"{RAY_PROBLEM_PREFIX}{os.getpid()}-")
        root = Path(self._directory.name)
        self._claim = claim_directory(root)  # kept from another pid namespace's sweep too
        for relative, content in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        self.evaluator = ProblemEvaluator(root / "evaluator.py", config)

    def run(self, code: str, split: str | None = None) -> RawEvaluation:
        """Run ``code`` in this node's sandbox (on ``split``); the raw records, never a
        score."""
        return self.evaluator.run_raw(code, split)

    def pid(self) -> int:
        """This worker's process id (for operators and tests that need to find it)."""
        return os.getpid()

    def isolation(self) -> tuple[str, str]:
        """The filesystem and network isolation candidates get on this node (as
        :attr:`~evoforge.evaluation.sandbox.Sandbox.filesystem` and ``network`` say)."""
        sandbox = self.evaluator.sandbox
        return sandbox.filesystem, sandbox.network

    def node(self) -> str:
        """The address of the node this worker runs on."""
        return str(ray.util.get_node_ip_address())

    def close(self) -> None:
        self.evaluator.close()
        self._directory.cleanup()
        if self._claim is not None:
            os.close(self._claim)
            self._claim = None


class RayBackend(EvaluationBackend):
    """Evaluations on Ray actors, one evaluation per actor at a time."""

    name = "ray"

    def __init__(
        self,
        files: dict[str, bytes],
        config: EvaluatorConfig,
        address: str | None,
        *,
        expected_isolation: tuple[str, str] | None = None,
        worker_body: type[SandboxWorker] = SandboxWorker,
        tasks_in: Callable[[str | None], int] | None = None,
    ) -> None:
        """``expected_isolation``: the (filesystem, network) isolation the run reported to
        its user, which every worker's node must give as well (default: this machine's);
        ``worker_body``: the actors' class; ``tasks_in``: how many sandboxed runs an
        evaluation on a split makes, one after the other (the judge's
        :meth:`~evoforge.evaluation.evaluator.ProblemEvaluator.tasks_in`; default 1), which
        the wait for a worker's answer allows for."""
        if ray is None:
            raise BackendError(
                f"the ray backend needs Ray: {install_command('ray')} (or choose "
                "evaluator.backend: local)"
            )
        self.config = config
        self._tasks_in = tasks_in or (lambda split: 1)
        self._started_ray = False
        if not ray.is_initialized():
            _check_reachable(address)
            try:
                # a local instance is this run's own: its set-up notes (token
                # authentication and the like) are no business of the user's, and
                # ``--quiet`` prints only the result; joining a cluster, Ray's warnings
                # are the user's to see
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR if address is None else logging.WARNING,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = address or "a local instance"
                raise BackendError(f"cannot start Ray ({where}): {exc}") from None
            self._started_ray = True
        # one evaluation at a time per actor (the pool sees to it); the second thread
        # answers ``pid`` while an evaluation runs
        remote: Any = ray.remote  # its stubs do not know max_concurrency
        self._actor_class = remote(num_cpus=1, max_restarts=0, max_concurrency=2)(worker_body)
        if expected_isolation is None:
            sandbox = Sandbox(SandboxLimits.from_config(config))
            expected_isolation = (sandbox.filesystem, sandbox.network)
        self._expected_isolation = expected_isolation
        self._files = ray.put(files)
        self._idle: list[Any] = []
        self._busy: dict[str, Any] = {}
        self._closed = False
        # at most one actor per CPU of the cluster: evaluations beyond them wait here for
        # a free worker, not in Ray's queue where their answer limit would run out
        self._actors = 0
        self._capacity = _cluster_cpus()
        self._capacity_read_at = time.monotonic()

    @classmethod
    def from_config(cls, config: EvaluatorConfig, evaluator: ProblemEvaluator) -> RayBackend:
        """Workers get a copy of the directory holding ``evaluator``'s ``evaluator.py``, and
        must isolate candidates as well as ``evaluator``'s sandbox does."""
        sandbox = evaluator.sandbox
        return cls(
            _problem_files(evaluator.evaluator_path.parent),
            config,
            config.ray_address,
            expected_isolation=(sandbox.filesystem, sandbox.network),
            tasks_in=evaluator.tasks_in,
        )

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        if self._closed:
            raise RuntimeError("the ray backend is closed")
        key = request.key or f"request-{id(request):x}"
        lost: list[str] = []
        started = time.monotonic()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            worker, new = await self._take_worker()
            self._busy[key] = worker
            try:
                refusal = await self._check_new_worker(worker) if new else None
                if refusal is not None:
                    self._drop(key, worker)
                    return RawEvaluation(
                        run=None,
                        error=refusal,
                        duration_s=time.monotonic() - started,
                        attempts=attempt,
                    )
                raw = await asyncio.wait_for(
                    worker.run.remote(request.code, request.split),
                    timeout=self._answer_limit_s(request.split),
                )
            except (RayActorError, RayError, GetTimeoutError, TimeoutError) as exc:
                lost.append(f"attempt {attempt}: {_lost_reason(exc)}")
                self._drop(key, worker)
                continue
            self._busy.pop(key, None)
            self._idle.append(worker)
            if not isinstance(raw, RawEvaluation):
                return RawEvaluation(run=None, error="a Ray worker answered with no record")
            if lost:
                note = f"retried after a lost Ray worker ({'; '.join(lost)})"
                return replace(raw, attempts=attempt, notes=(note,))
            return raw
        return RawEvaluation(
            run=None,
            error=f"lost the Ray worker {MAX_ATTEMPTS} times: {'; '.join(lost)}"[:1000],
            duration_s=time.monotonic() - started,
            attempts=MAX_ATTEMPTS,
        )

    def busy_keys(self) -> list[str]:
        """The keys of the evaluations in flight now."""
        return list(self._busy)

    def worker_pid(self, key: str) -> int | None:
        """The process id of the worker running evaluation ``key`` (None when it is not in
        flight). Blocks; call it from a thread other than the one whose event loop awaits
        the evaluations (a monitor, a test that kills a worker)."""
        worker = self._busy.get(key)
        if worker is None:
            return None
        return int(ray.get(worker.pid.remote(), timeout=60))

    def close(self) -> None:
        """End every worker, and the local Ray instance when this backend started it."""
        if self._closed:
            return
        self._closed = True
        workers = [*self._idle, *self._busy.values()]
        with contextlib.suppress(Exception):
            ray.get([worker.close.remote() for worker in workers], timeout=30)
        for worker in workers:
            with contextlib.suppress(Exception):
                ray.kill(worker, no_restart=True)
        self._idle.clear()
        self._busy.clear()
        if self._started_ray:
            with contextlib.suppress(Exception):
                ray.shutdown()

    async def _take_worker(self) -> tuple[Any, bool]:
        """An idle actor, else a new one while the cluster has a CPU for it, else the first
        one an evaluation in flight gives back; and whether it is new."""
        while True:
            if self._idle:
                return self._idle.pop(), False
            if self._actors >= self._capacity:
                now = time.monotonic()
                if now - self._capacity_read_at >= _CAPACITY_REFRESH_S:
                    self._capacity = _cluster_cpus()  # nodes may have joined or left
                    self._capacity_read_at = now
            if self._actors < self._capacity:
                self._actors += 1
                return self._actor_class.remote(self._files, self.config), True
            await asyncio.sleep(_WAIT_FOR_WORKER_S)

    async def _check_new_worker(self, worker: Any) -> str | None:
        """Why the new ``worker`` cannot evaluate (None when it can): Ray found it no CPU
        within the placement limit, or its node isolates candidates less than the run
        promised. A worker that dies while starting raises, as a lost one does."""
        try:
            isolation = await asyncio.wait_for(
                worker.isolation.remote(), timeout=_PLACEMENT_LIMIT_S
            )
        except (GetTimeoutError, TimeoutError):
            return (
                f"no CPU of the Ray cluster came free for a worker in {_PLACEMENT_LIMIT_S:.0f} s "
                "(other work holds them; 'ray status' shows what does)"
            )
        missing = _missing_isolation(self._expected_isolation, tuple(isolation))
        if not missing:
            return None
        node = await asyncio.wait_for(worker.node.remote(), timeout=60)
        return (
            f"the Ray worker on node {node} gives candidates {missing}, which the run "
            "reported as isolated: give every node unprivileged user namespaces (or run "
            "without that node)"
        )

    def _drop(self, key: str, worker: Any) -> None:
        """Forget and end a worker that is lost or could not be placed."""
        self._busy.pop(key, None)
        self._actors -= 1
        with contextlib.suppress(Exception):
            ray.kill(worker, no_restart=True)

    def _answer_limit_s(self, split: str | None = None) -> float:
        return self.config.timeout_s * self._tasks_in(split) + _ANSWER_MARGIN_S


def _missing_isolation(expected: tuple[str, str], node: tuple[str, ...]) -> str:
    """What a node's (filesystem, network) isolation lacks of ``expected`` ('' if none)."""
    missing = []
    if expected[0] == "mountns" and node[0] != "mountns":
        missing.append(f"no filesystem jail ({node[0]})")
    if not expected[1].startswith("none") and node[1].startswith("none"):
        missing.append(f"no network isolation ({node[1]})")
    return " and ".join(missing)


def _cluster_cpus() -> int:
    """How many CPUs the Ray cluster has in all (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _check_reachable(address: str | None) -> None:
    """BackendError, within seconds, when ``address`` names a host and port where nothing
    listens: Ray itself would wait for the cluster without end."""
    if address is None or address == "auto" or "://" in address:
        return
    host, _, port_text = address.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        return  # Ray says what is wrong with the format
    if not host or not 0 < port < 65536:
        raise BackendError(f"cannot start Ray ({address}): not a HOST:PORT address")
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=_REACH_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise BackendError(
            f"cannot reach Ray at {address}: {reason} (is the cluster up? "
            "'ray status' on its head node says)"
        ) from None


def _lost_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | GetTimeoutError):
        return "the worker did not answer in time"
    first = str(exc).strip().splitlines()
    detail = first[0] if first else type(exc).__name__
    return f"{type(exc).__name__}: {detail}"[:300]


def _problem_files(directory: Path) -> dict[str, bytes]:
    """Every regular file under the problem directory, by relative path (bounded)."""
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
            continue
        content = path.read_bytes()
        total += len(content)
        if total > _MAX_PROBLEM_BYTES:
            raise BackendError(
                f"the problem directory {directory} is larger than "
                f"{_MAX_PROBLEM_BYTES // (1024 * 1024)} MiB; too large to ship to Ray workers"
            )
        files[path.relative_to(directory).as_posix()] = content
    return files
