"""Trusted evaluator for symbolic optimiser discovery: evolve ``update(grad, state, step)``.

The isolated form: the candidate runs in its own process and this evaluator reaches it only
through ``candidate`` (plain values by copy), so it sees gradients, its own state and the
step number, never the tasks, the losses or this file.

* ``evaluate_candidate(candidate)`` runs in the sandbox. For each task (:func:`make_tasks`)
  and each learning rate of the fixed sweep it trains from the task's fixed starting point
  for :data:`STEPS` steps: ``delta, state = update(grad, state, step)`` (``step`` counts
  from 1, ``state`` starts as an empty dict), then ``params -= lr * delta``. The runs are
  independent, so they advance in lockstep: one ``candidate.batch("update", ...)`` per step
  holds the calls of every run still going. It checks every ``delta`` (same shape as the
  parameters, real, finite) and returns the final parameters of every run as plain data
  under ``"construction"`` (``None`` for a run that diverged: a parameter beyond 1e6 in
  size).
* ``verify(output)`` is the trusted check, run by evoforge in its own process: it checks
  the parameter vectors and computes every final loss itself.

Tasks (fixed seeds; the loss minimum ``loss*`` is known for each):

* ``logistic``: L2-regularised logistic regression, 512 examples x 20 features with scales
  from 0.1 to 10, minibatches of 64 in a fixed order; ``loss*`` from Newton's method.
* ``two_layer``: a 8-16-1 tanh network fitted (full batch, mean squared error / 2) to the
  outputs of a teacher network of the same shape, so ``loss* = 0``.
* ``quadratic``: 0.5 (x - c)' A (x - c) in 40 dimensions, eigenvalues from 1e-4 to 1 in a
  random basis (condition number 10^4); ``loss* = 0``.

Score: per task, the gap ``loss - loss*`` of the best learning rate, floored at 1e-12;
``mean_log10_gap`` is the mean of log10(gap) over the tasks (lower is better). Normalised
per task: ``progress = (log10 gap0 - log10 gap) / (log10 gap0 + 12)`` clipped to [0, 1],
the share of the way from the starting gap ``gap0`` to the floor 1e-12 on a log scale;
``combined_score`` is the mean progress: 1 would mean every task solved to the floor
1e-12, the limit of this measure, not a known achievable value.

Instance splits (``split=``, chosen by evoforge on the trusted side): ``search`` is the
three tasks above (the single set this problem was scored on before splits); ``holdout``
draws each of the three kinds again from 2 fresh seeds (6 tasks) and ``test`` from 3 more
(9 tasks): new data, teachers, starting points, bases and centres, same shapes and
spectra (:func:`make_tasks`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

STEPS = 300
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
GAP_FLOOR = 1e-12
DIVERGED_ABOVE = 1e6

Update = Callable[[np.ndarray, Any, int], Any]
UpdateBatch = Callable[[list[tuple[np.ndarray, Any, int]]], Sequence[object]]
"""Many independent ``update(grad, state, step)`` calls at once; their results in order."""


@dataclass(frozen=True)
class Task:
    """A loss with its gradient oracle, a starting point and the loss minimum."""

    name: str
    start: np.ndarray
    loss: Callable[[np.ndarray], float]
    gradient: Callable[[np.ndarray, int], np.ndarray]  # (params, step) -> gradient
    optimum_loss: float


def _logistic_task(seed: int = 2001, name: str = "logistic") -> Task:
    rng = np.random.default_rng(seed)
    features, batch, l2 = 20, 64, 1e-3
    x = rng.normal(size=(512, features)) * np.logspace(-1, 1, features)
    true_w = rng.normal(size=features) / np.logspace(-1, 1, features)
    y = np.where(x @ true_w + rng.normal(scale=1.0, size=512) > 0, 1.0, -1.0)
    batches = [rng.choice(512, size=batch, replace=False) for _ in range(STEPS)]

    def loss(w: np.ndarray) -> float:
        return float(np.mean(np.logaddexp(0.0, -y * (x @ w))) + 0.5 * l2 * w @ w)

    def batch_gradient(w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        margin = y[rows] * (x[rows] @ w)
        weight = -y[rows] * np.exp(-np.logaddexp(0.0, margin))  # -y * sigmoid(-margin)
        return x[rows].T @ weight / len(rows) + l2 * w

    def gradient(w: np.ndarray, step: int) -> np.ndarray:
        return batch_gradient(w, batches[step - 1])

    w = np.zeros(features)  # Newton's method for the exact minimum
    for _ in range(50):
        p = np.exp(-np.logaddexp(0.0, -y * (x @ w)))  # sigmoid(margin)
        hessian = (x.T * (p * (1 - p))) @ x / len(y) + l2 * np.eye(features)
        w = w - np.linalg.solve(hessian, batch_gradient(w, np.arange(len(y))))
    return Task(name, np.zeros(features), loss, gradient, loss(w))


def _two_layer_task(seed: int = 2002, name: str = "two_layer") -> Task:
    rng = np.random.default_rng(seed)
    inputs, hidden = 8, 16
    x = rng.normal(size=(256, inputs))
    teacher_1 = rng.normal(scale=1.0 / math.sqrt(inputs), size=(inputs, hidden))
    teacher_2 = rng.normal(scale=1.0 / math.sqrt(hidden), size=hidden)
    target = np.tanh(x @ teacher_1) @ teacher_2
    start = np.concatenate(
        [
            rng.normal(scale=1.0 / math.sqrt(inputs), size=inputs * hidden),
            rng.normal(scale=1.0 / math.sqrt(hidden), size=hidden),
        ]
    )

    def unpack(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return params[: inputs * hidden].reshape(inputs, hidden), params[inputs * hidden :]

    def loss(params: np.ndarray) -> float:
        w1, w2 = unpack(params)
        return float(0.5 * np.mean((np.tanh(x @ w1) @ w2 - target) ** 2))

    def gradient(params: np.ndarray, step: int) -> np.ndarray:
        w1, w2 = unpack(params)
        activation = np.tanh(x @ w1)
        error = (activation @ w2 - target) / len(x)
        grad_w2 = activation.T @ error
        grad_w1 = x.T @ (np.outer(error, w2) * (1.0 - activation**2))
        return np.concatenate([grad_w1.ravel(), grad_w2])

    return Task(name, start, loss, gradient, 0.0)


def _quadratic_task(seed: int = 2003, name: str = "quadratic") -> Task:
    rng = np.random.default_rng(seed)
    dimension = 40
    basis, _ = np.linalg.qr(rng.normal(size=(dimension, dimension)))
    matrix = (basis * np.logspace(-4, 0, dimension)) @ basis.T
    centre = rng.normal(size=dimension)

    def loss(params: np.ndarray) -> float:
        offset = params - centre
        return float(0.5 * offset @ matrix @ offset)

    def gradient(params: np.ndarray, step: int) -> np.ndarray:
        return matrix @ (params - centre)

    return Task(name, np.zeros(dimension), loss, gradient, 0.0)


SPLITS = ("search", "holdout", "test")
SPLIT_DRAWS = {"search": (0,), "holdout": (1, 2), "test": (3, 4, 5)}
"""Draw ``k`` of a task kind uses the kind's search seed plus ``100 * k``."""
_KINDS = (
    (_logistic_task, 2001, "logistic"),
    (_two_layer_task, 2002, "two_layer"),
    (_quadratic_task, 2003, "quadratic"),
)


@cache
def make_tasks(split: str = "search") -> tuple[Task, ...]:
    """The training tasks of one split (deterministic), kind by kind."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return tuple(
        make(seed + 100 * k, name if k == 0 else f"{name}#{split}{k}")
        for make, seed, name in _KINDS
        for k in SPLIT_DRAWS[split]
    )


def checked_delta(result: object, shape: tuple[int, ...], step: int) -> tuple[np.ndarray, Any]:
    """Split ``update``'s result into a finite real delta of ``shape`` and the new state."""
    if not isinstance(result, tuple) or len(result) != 2:
        raise ValueError(f"update must return a pair (delta, state), got {type(result).__name__}")
    try:
        delta = np.asarray(result[0])
    except Exception as exc:
        raise ValueError(f"delta is not an array: {exc}") from exc
    if delta.dtype == object or not np.issubdtype(delta.dtype, np.number):
        raise ValueError(f"delta must be real numbers, got dtype {delta.dtype}")
    if np.iscomplexobj(delta):
        raise ValueError("delta must be real, got complex values")
    if delta.shape != shape:
        raise ValueError(f"delta must have shape {shape}, got {delta.shape} (step {step})")
    delta = delta.astype(np.float64)
    if not np.all(np.isfinite(delta)):
        raise ValueError(f"delta contains NaN or infinite values at step {step}")
    return delta, result[1]


def train_all(
    update_batch: UpdateBatch, split: str = "search"
) -> dict[str, list[np.ndarray | None]]:
    """Final parameters of every (task, learning rate) run after STEPS steps (None for a run
    that diverged).

    The runs are independent, so they advance in lockstep: at each step one
    ``update_batch`` call holds the ``(grad, state, step)`` of every run still going, in
    task then learning-rate order. Each run sees only its own gradients and state, exactly
    as if it were trained alone.
    """
    runs = [(task, rate) for task in make_tasks(split) for rate in LEARNING_RATES]
    params: list[np.ndarray | None] = [task.start.copy() for task, _ in runs]
    states: list[Any] = [{} for _ in runs]
    with np.errstate(all="ignore"):
        for step in range(1, STEPS + 1):
            going = [(index, p) for index, p in enumerate(params) if p is not None]
            if not going:
                break
            calls = [(runs[index][0].gradient(p, step), states[index], step) for index, p in going]
            results = update_batch(calls)
            if len(results) != len(calls):
                raise ValueError(f"expected {len(calls)} update results, got {len(results)}")
            for (index, current), result in zip(going, results, strict=True):
                delta, states[index] = checked_delta(result, current.shape, step)
                moved = current - runs[index][1] * delta
                params[index] = moved if np.all(np.abs(moved) <= DIVERGED_ABOVE) else None
    finals: dict[str, list[np.ndarray | None]] = {task.name: [] for task in make_tasks(split)}
    for (task, _), final in zip(runs, params, strict=True):
        finals[task.name].append(final)
    return finals


def log10_gap(task: Task, params: np.ndarray | None) -> float:
    """log10 of the loss gap of ``params`` (floored at GAP_FLOOR; +inf for a diverged run)."""
    if params is None:
        return math.inf
    gap = task.loss(params) - task.optimum_loss
    return math.log10(max(gap, GAP_FLOOR)) if math.isfinite(gap) else math.inf


def score_runs(
    runs: Mapping[str, list[np.ndarray | None]], split: str = "search"
) -> dict[str, float]:
    """Metrics of the final parameters of every (task, learning rate) run of ``split``."""
    metrics: dict[str, float] = {}
    progress = []
    logs = []
    for task in make_tasks(split):
        gaps = [log10_gap(task, params) for params in runs[task.name]]
        best = int(np.argmin(gaps))
        start = log10_gap(task, task.start)
        log_gap = gaps[best] if math.isfinite(gaps[best]) else start
        share = (start - log_gap) / (start - math.log10(GAP_FLOOR))
        progress.append(min(1.0, max(0.0, share)))
        logs.append(log_gap)
        metrics[f"{task.name}_log10_gap"] = log_gap
        metrics[f"{task.name}_best_learning_rate"] = LEARNING_RATES[best]
        metrics[f"{task.name}_progress"] = progress[-1]
    metrics["mean_log10_gap"] = float(np.mean(logs))
    metrics["combined_score"] = float(np.mean(progress))
    return metrics


def verify(output: Any, split: str = "search") -> dict[str, float]:
    """Check ``output["construction"]`` (final parameters per task and learning rate) and
    score it (trusted)."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {task: [final params per learning rate]}}')
    construction = output["construction"]
    runs: dict[str, list[np.ndarray | None]] = {}
    for task in make_tasks(split):
        finals = construction.get(task.name)
        if not isinstance(finals, list) or len(finals) != len(LEARNING_RATES):
            raise ValueError(f"{task.name}: expected {len(LEARNING_RATES)} runs")
        runs[task.name] = []
        for params in finals:
            if params is None:
                runs[task.name].append(None)
                continue
            if not isinstance(params, list) or not all(type(v) in (int, float) for v in params):
                raise ValueError(f"{task.name}: parameters must be a list of numbers or null")
            array = np.asarray(params, dtype=np.float64)
            if array.shape != task.start.shape or not np.all(np.isfinite(array)):
                raise ValueError(f"{task.name}: parameters must be {task.start.size} finite floats")
            runs[task.name].append(array)
    return score_runs(runs, split)


def run_all(
    update_batch: UpdateBatch, split: str = "search"
) -> dict[str, list[list[float] | None]]:
    """Train every task at every learning rate; the final parameters as plain lists."""
    return {
        name: [None if p is None else p.tolist() for p in finals]
        for name, finals in train_all(update_batch, split).items()
    }


def in_process(update: Update) -> UpdateBatch:
    """An :data:`UpdateBatch` that calls ``update`` here (for the trusted baselines)."""

    def update_batch(calls: list[tuple[np.ndarray, Any, int]]) -> list[object]:
        return [update(grad.copy(), state, step) for grad, state, step in calls]

    return update_batch


def sgd_momentum(grad: np.ndarray, state: dict[str, Any], step: int) -> tuple[np.ndarray, Any]:
    """Baseline: heavy-ball momentum 0.9 (the seed program's rule)."""
    velocity = 0.9 * state.get("velocity", 0.0) + grad
    return velocity, {"velocity": velocity}


def adam(grad: np.ndarray, state: dict[str, Any], step: int) -> tuple[np.ndarray, Any]:
    """Baseline: Adam (beta1 0.9, beta2 0.999, eps 1e-8)."""
    m = 0.9 * state.get("m", 0.0) + 0.1 * grad
    v = 0.999 * state.get("v", 0.0) + 0.001 * grad**2
    delta = (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return delta, {"m": m, "v": v}


def baseline_metrics() -> dict[str, dict[str, float]]:
    """The metrics of the SGD-with-momentum and Adam baselines (for the README and tests)."""
    return {
        "sgd_momentum": score_runs(train_all(in_process(sgd_momentum))),
        "adam": score_runs(train_all(in_process(adam))),
    }


def evaluate_candidate(candidate: Any, split: str = "search") -> dict[str, Any]:
    """Train every task with the candidate's ``update``; return the final parameters (the
    output ``verify`` scores)."""
    if "update" not in candidate.functions:
        raise AttributeError("the program must define update(grad, state, step)")
    return {"construction": run_all(lambda calls: candidate.batch("update", calls), split)}
