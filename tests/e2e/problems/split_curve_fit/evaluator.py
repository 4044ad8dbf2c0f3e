"""A tiny isolated problem with instance splits: fit a curve to noisy points.

Each split is its own draw of noisy points of the same curve (search 12, holdout 40,
test 60), so a program tuned to the 12 search points fits their noise.
"""

import math
import random

SPLITS = {"search": (1, 12), "holdout": (2, 40), "test": (3, 60)}


def _target(x):
    return 1.5 * x * x - 2.0 * x + 0.75


def points(split):
    seed, count = SPLITS[split]
    rng = random.Random(seed)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(count)]
    return xs, [_target(x) + rng.gauss(0.0, 0.3) for x in xs]


def evaluate_candidate(candidate, split="search"):
    xs, _ = points(split)
    return {"predictions": candidate.batch("model", [(x,) for x in xs])}


def verify(output, split="search"):
    xs, ys = points(split)
    predictions = output["predictions"]
    if len(predictions) != len(xs):
        raise ValueError(f"expected {len(xs)} predictions")
    if any(isinstance(p, bool) or not isinstance(p, int | float) for p in predictions):
        raise ValueError("model must return numbers")
    error = sum((p - y) ** 2 for p, y in zip(predictions, ys, strict=True)) / len(xs)
    if not math.isfinite(error):
        raise ValueError("non-finite prediction")
    return {"combined_score": -error, "mse": error, "points": len(xs)}
