"""A program that remembers what earlier tasks of a split showed it gains nothing.

data_selection's holdout and test splits hold several tasks, and each task's pool of
training examples lies in the evaluation set of the split's other tasks. Were one candidate
process to score every task, a program could keep the pixels and labels of each pool it is
shown and, at a later task, choose the half whose classifier is most accurate on the
remembered examples that are not in the current pool: labelled examples of the current
task's evaluation set. The problem declares ``split_tasks``, so evoforge scores each task
with a fresh candidate: the program below never sees a second pool and keeps exactly the
seed's half, on every split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.program import EvalStatus

PROBLEM = Path(__file__).resolve().parents[2] / "benchmarks" / "problems" / "data_selection"

# The seed's score while fewer than 50 remembered examples lie outside the current pool;
# after that, the half (the seed's or one of 24 random ones) whose classifier, trained as
# the evaluator trains it, classifies those examples best.
REMEMBERING_PROGRAM = """
import numpy as np

MEMORY = {}


def _train(x, y, steps=200):
    design = np.hstack([x, np.ones((len(x), 1))])
    targets = np.eye(10)[y]
    weights = np.zeros((design.shape[1], 10))
    velocity = np.zeros_like(weights)
    for _ in range(steps):
        ahead = weights + 0.9 * velocity
        logits = design @ ahead
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        error = shifted / shifted.sum(axis=1, keepdims=True) - targets
        velocity = 0.9 * velocity - (design.T @ error / len(y) + 1e-3 * ahead)
        weights = weights + velocity
    return weights


def score(examples, early_model_outputs):
    x, y = examples["features"], examples["labels"]
    one_hot = np.eye(examples["num_classes"])[y]
    seed = -np.abs(np.linalg.norm(early_model_outputs - one_hot, axis=1) - 1.5)
    pool = {row.tobytes() for row in x}
    known = [(key, label) for key, label in MEMORY.items() if key not in pool]
    for row, label in zip(x, y):
        MEMORY[row.tobytes()] = int(label)
    if len(known) < 50:
        return seed
    seen_x = np.array([np.frombuffer(key) for key, _ in known])
    seen_y = np.array([label for _, label in known])
    rng = np.random.default_rng(0)
    halves = [np.argsort(-seed, kind="stable")[:150]]
    halves += [rng.choice(len(y), 150, replace=False) for _ in range(24)]

    def accuracy(half):
        weights = _train(x[half], y[half])
        design = np.hstack([seen_x, np.ones((len(seen_x), 1))])
        return float(np.mean((design @ weights).argmax(axis=1) == seen_y))

    best = max(halves, key=accuracy)
    scores = np.zeros(len(y))
    scores[best] = 1.0
    return scores
"""


@pytest.fixture(scope="module")
def evaluator() -> Iterator[ProblemEvaluator]:
    settings = yaml.safe_load((PROBLEM / "config.yaml").read_text())["evaluator"]
    made = ProblemEvaluator(PROBLEM / "evaluator.py", EvaluatorConfig(**settings))
    yield made
    made.close()


@pytest.mark.parametrize("split", ["holdout", "test"])
def test_remembering_earlier_tasks_scores_exactly_as_the_seed(
    evaluator: ProblemEvaluator, split: str
) -> None:
    seed = evaluator.evaluate((PROBLEM / "initial_program.py").read_text(), split)
    remembering = evaluator.evaluate(REMEMBERING_PROGRAM, split)
    assert seed.status is EvalStatus.OK and remembering.status is EvalStatus.OK, (
        seed.reason,
        remembering.reason,
    )
    assert remembering.metrics == seed.metrics
