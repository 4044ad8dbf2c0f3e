"""The isolated form: the candidate's model() is called through the channel, never imported."""

import math


def _target(x):
    return 1.5 * x * x - 2.0 * x + 0.75


def evaluate_candidate(candidate):
    xs = [i / 10.0 for i in range(21)]
    values = candidate.batch("model", [(x,) for x in xs])
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"model must return a number, got {type(value).__name__}")
    error = sum((float(v) - _target(x)) ** 2 for x, v in zip(xs, values, strict=True)) / len(xs)
    if not math.isfinite(error):
        raise ValueError("non-finite prediction")
    return {"combined_score": -error, "mse": error}
