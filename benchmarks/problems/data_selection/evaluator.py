"""Trusted evaluator for data selection ("data diet") on scikit-learn's digits.

The isolated form: the candidate runs in its own process and this evaluator reaches it only
through ``candidate`` (plain values by copy), so it sees the training split and the early
model's outputs on it, never the test split, the classifier or the accuracy helpers here.

* ``evaluate_candidate(candidate)`` runs in the sandbox. It gives the candidate's
  ``score(examples, early_model_outputs)`` the training split and the class probabilities
  of an early model (a few steps of training on the whole split), keeps the half of the
  examples with the highest scores (ties: lower index first) and returns their indices as
  plain data under ``"construction"`` (one call).
* ``verify(output)`` is the trusted check, run by evoforge in its own process: it checks
  the indices (exactly half the split, distinct, in range), trains the classifier on those
  examples itself and measures its test accuracy.

Data: the 1,797 8x8 digits bundled with scikit-learn (pixels scaled to [0, 1]), shuffled
with seed 0: the first 300 are the training split, the other 1,497 the test split. A small
training split keeps the regime data-limited, where the choice of examples matters.

Classifier: multinomial logistic regression with a bias and L2 penalty 1e-3, trained by
200 steps of Nesterov gradient descent (step 1.0, momentum 0.9) from zero; deterministic.

Score: test accuracy of the classifier trained on the kept half. Normalised:
``(acc - acc_random) / (acc_full - acc_random)`` clipped to [0, 1], where ``acc_random``
is the mean over 10 fixed random halves and ``acc_full`` trains on the whole split: 1 means
the kept half does as well as the whole split, not a known best selection.

Instance splits (``split=``, chosen by evoforge on the trusted side). One *task* is a pool of
300 training examples and the evaluation set of every other digit (1,497). ``search`` is
the one task above (the single set this problem was scored on before splits); ``holdout``
is 8 tasks whose pools are drawn (seeded) from shuffled digits 300-1,047 and ``test`` 12
tasks whose pools come from digits 1,048-1,796, so no pool of one split shares an example
with a pool of another (:func:`task_split`). Each task has its own early model and its own
references; a split's ``combined_score`` is the mean over its tasks. Each task is scored
by a fresh candidate (:func:`split_tasks`: evoforge starts one candidate and one evaluator
process per task and calls ``evaluate_candidate(candidate, split, task)``), since each pool
lies in the other tasks' evaluation sets: a program that saw one pool would know labelled
examples of the next task's evaluation set. ``verify`` gets the list of every task's
output, each ``{"construction": kept list}``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

TRAIN_SIZE = 300
KEEP = TRAIN_SIZE // 2
CLASSES = 10
TRAIN_STEPS = 200
EARLY_STEPS = 10
RANDOM_HALVES = 10

SPLITS = ("search", "holdout", "test")
SPLIT_TASKS = {"search": 1, "holdout": 8, "test": 12}
SPLIT_POOLS = {"holdout": (300, 1048), "test": (1048, 1797)}
"""Where each split's pools are drawn from, as positions in the shuffled digits."""

Score = Callable[[dict[str, Any], np.ndarray], Any]
"""``score(examples, early_model_outputs) -> scores``, as the candidate defines it."""


def _digits_table() -> np.ndarray:
    """The digits as rows of 64 pixel values (0-16) and the label, as scikit-learn ships
    them; read from the bundled file without importing scikit-learn (a slow import)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location) / "datasets" / "data" / "digits.csv.gz"
            if path.is_file():
                return np.loadtxt(path, delimiter=",")
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]  # file moved

    digits = load_digits()
    return np.column_stack([digits.data, digits.target])


@cache
def _shuffled() -> tuple[np.ndarray, np.ndarray]:
    """Every digit (pixels in [0, 1], integer labels), shuffled with seed 0."""
    table = _digits_table()
    order = np.random.default_rng(0).permutation(len(table))
    return table[order, :-1] / 16.0, table[order, -1].astype(np.int64)


# Read at import: evoforge imports this file once in a template process and forks every
# evaluation (and, here, every task) from it, which then starts with the digits read.
_shuffled()


@cache
def task_split(
    split: str = "search", task: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)`` of one task of one split: the pool of
    TRAIN_SIZE examples and every other digit. The search pool is the first TRAIN_SIZE
    shuffled digits; task ``k`` of another split draws its pool with seed ``(split, k)``
    from that split's range (:data:`SPLIT_POOLS`)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if not 0 <= task < SPLIT_TASKS[split]:
        raise ValueError(f"split {split!r} has {SPLIT_TASKS[split]} tasks, not task {task}")
    x, y = _shuffled()
    if split == "search":
        pool = np.arange(TRAIN_SIZE)
    else:
        low, high = SPLIT_POOLS[split]
        rng = np.random.default_rng([SPLITS.index(split), task])
        pool = np.sort(rng.choice(np.arange(low, high), TRAIN_SIZE, replace=False))
    rest = np.setdiff1d(np.arange(len(y)), pool)
    parts = (x[pool], y[pool], x[rest], y[rest])
    for part in parts:
        part.flags.writeable = False
    return parts


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)`` of the search task."""
    return task_split("search", 0)


def _with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities


def train(x: np.ndarray, y: np.ndarray, steps: int = TRAIN_STEPS) -> np.ndarray:
    """Weights of multinomial logistic regression after ``steps`` Nesterov steps."""
    design = _with_bias(x)
    targets = np.eye(CLASSES)[y]
    weights = np.zeros((design.shape[1], CLASSES))
    velocity = np.zeros_like(weights)
    for _ in range(steps):
        ahead = weights + 0.9 * velocity
        error = _softmax(design @ ahead) - targets
        velocity = 0.9 * velocity - (design.T @ error / len(y) + 1e-3 * ahead)
        weights = weights + velocity
    return weights


def accuracy(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``x`` classified as ``y``."""
    return float(np.mean((_with_bias(x) @ weights).argmax(axis=1) == y))


def test_accuracy(indices: np.ndarray, split: str = "search", task: int = 0) -> float:
    """Test accuracy of the classifier trained on the training examples ``indices`` of one
    task."""
    train_x, train_y, test_x, test_y = task_split(split, task)
    return accuracy(train(train_x[indices], train_y[indices]), test_x, test_y)


@cache
def reference_accuracies(split: str = "search", task: int = 0) -> tuple[float, float]:
    """``(acc_random, acc_full)`` of one task: mean over fixed random halves, and the whole
    pool."""
    rng = np.random.default_rng(12345)
    halves = [rng.choice(TRAIN_SIZE, KEEP, replace=False) for _ in range(RANDOM_HALVES)]
    random_mean = float(np.mean([test_accuracy(np.sort(h), split, task) for h in halves]))
    return random_mean, test_accuracy(np.arange(TRAIN_SIZE), split, task)


def early_model_outputs(split: str = "search", task: int = 0) -> np.ndarray:
    """Class probabilities on one task's pool of a model trained for a few steps on it."""
    train_x, train_y, _, _ = task_split(split, task)
    return _softmax(_with_bias(train_x) @ train(train_x, train_y, EARLY_STEPS))


def checked_scores(scores: object) -> np.ndarray:
    """The candidate's scores as a finite real vector with one entry per example."""
    try:
        array = np.asarray(scores)
    except Exception as exc:
        raise ValueError(f"score must return an array of numbers: {exc}") from exc
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"score must return real numbers, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ValueError("score must return real numbers, got complex values")
    if array.shape != (TRAIN_SIZE,):
        raise ValueError(f"score must return shape ({TRAIN_SIZE},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("score returned NaN or infinite values")
    return array.astype(np.float64)


def select(scores: np.ndarray) -> list[int]:
    """The indices of the KEEP highest scores (ties: lower index first), ascending."""
    return sorted(np.argsort(-scores, kind="stable")[:KEEP].tolist())


def split_tasks(split: str) -> int:
    """How many tasks ``split`` has (trusted): evoforge scores each with a fresh candidate
    and hands :func:`verify` every task's output, so that no program can carry what one
    task showed it (pools that lie in the other tasks' evaluation sets) into another."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return SPLIT_TASKS[split]


def _kept_list(output: Any) -> Any:
    """The kept indices in one task's output, ``{"construction": [indices]}``."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), list):
        raise ValueError('expected {"construction": [kept training indices]}')
    return output["construction"]


def verify(output: Any, split: str = "search") -> dict[str, float]:
    """Check the kept indices of each task of ``split``, train, and score (trusted).

    ``output`` is the list of every task's output, in task order, as evoforge gives it
    (:func:`split_tasks`), or, for the search split alone, that one task's output."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if isinstance(output, list):
        kept_lists = [_kept_list(task_output) for task_output in output]
    elif split == "search":
        kept_lists = [_kept_list(output)]
    else:
        raise ValueError(f"expected a list of every {split} task's output")
    if len(kept_lists) != SPLIT_TASKS[split]:
        raise ValueError(f"expected one output per task of the {split} split")
    if split == "search":
        return task_metrics(kept_lists[0], split, 0)
    per_task = [task_metrics(kept, split, k) for k, kept in enumerate(kept_lists)]
    metrics = {key: float(np.mean([task[key] for task in per_task])) for key in per_task[0]}
    for k, task in enumerate(per_task):
        metrics[f"task{k}_combined_score"] = task["combined_score"]
    return metrics


def task_metrics(kept: Any, split: str, task: int) -> dict[str, float]:
    """Check the kept indices of one task, train on them, and score (trusted)."""
    if not isinstance(kept, list):
        raise ValueError("expected a list of kept training indices")
    if len(kept) != KEEP or not all(type(index) is int for index in kept):
        raise ValueError(f"expected exactly {KEEP} integer indices")
    indices = np.asarray(kept, dtype=np.int64)
    if indices.min() < 0 or indices.max() >= TRAIN_SIZE:
        raise ValueError(f"indices must lie in [0, {TRAIN_SIZE})")
    if len(np.unique(indices)) != KEEP:
        raise ValueError("an index is kept twice")
    acc = test_accuracy(np.sort(indices), split, task)
    acc_random, acc_full = reference_accuracies(split, task)
    normalised = (acc - acc_random) / (acc_full - acc_random)
    _, train_y, _, _ = task_split(split, task)
    return {
        "combined_score": min(1.0, max(0.0, normalised)),
        "test_accuracy": acc,
        "normalised_unclipped": normalised,
        "random_half_accuracy": acc_random,
        "full_data_accuracy": acc_full,
        "smallest_class_kept": float(np.bincount(train_y[indices], minlength=CLASSES).min()),
    }


def training_examples(split: str = "search", task: int = 0) -> dict[str, Any]:
    """What ``score`` gets as ``examples``: one task's pool, pixels and labels only."""
    train_x, train_y, _, _ = task_split(split, task)
    return {"features": train_x.copy(), "labels": train_y.copy(), "num_classes": CLASSES}


def kept_indices(score: Score, split: str = "search", task: int = 0) -> list[int]:
    """The pool indices ``score`` keeps (checked), ascending."""
    examples = training_examples(split, task)
    return select(checked_scores(score(examples, early_model_outputs(split, task))))


def evaluate_candidate(candidate: Any, split: str = "search", task: int = 0) -> dict[str, Any]:
    """Select with the candidate's ``score`` on one task of ``split``; return the kept
    indices (one task's output, which ``verify`` scores with the other tasks')."""
    if "score" not in candidate.functions:
        raise AttributeError("the program must define score(examples, early_model_outputs)")
    return {"construction": kept_indices(candidate.score, split, task)}
