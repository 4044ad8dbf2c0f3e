"""Trusted verifier for exp2_approximation: a straight-line program of at most 10
operations from {+, -, *, /} that approximates 2**x on [0, 1].

Two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's own jail; the candidate program
  runs in a separate process and is never imported here. It calls
  ``candidate.construct_program()`` (no arguments; the steps come back by value through the
  channel) and returns them as plain JSON data under ``"construction"``
  (``{"steps": [[op, a, b], ...]}``), together with the metrics ``verify`` gives for them,
  so a malformed answer already fails here with the same reason.
* ``verify(output)`` is the trusted check. evoforge sees the top-level ``def verify``,
  drops whatever metrics ``evaluate_candidate`` reported and calls ``verify`` in its own
  process on the returned data; only ``output["construction"]`` is read. The steps are
  data, interpreted here by a four-operation interpreter: nothing the candidate wrote is
  executed.

Format: 1 to 10 steps ``[op, a, b]``; ``op`` in ``+ - * /``; an operand is ``"x"``,
``"r<k>"`` (the result of an earlier step k, from 0) or a real number (int or float,
finite, not bool, not subnormal). The last step's result is the approximation p(x).

Checks (any failure raises ``ValueError``):

* the format above;
* executed in float64 on the grid ``np.linspace(0, 1, 100_001)`` (both endpoints
  included), every intermediate value is finite and no divisor is zero;
* no divisor can vanish anywhere in [0, 1], not only on the grid: the program is also run
  in interval arithmetic (outward-rounded) over the 100,000 cells between grid points, and
  every divisor's enclosure must exclude 0. A pole hidden between grid points is thus
  impossible; between grid points p is a smooth rational function of low degree.

Score: ``max_rel_error = max |p(x) - 2**x| / 2**x`` on the grid, with 2**x and the error
computed in ``np.longdouble`` (80-bit on x86-64; float64 elsewhere, where the
measurement floor is about 1e-16 instead of 1e-19); ``digits = -log10(max_rel_error)``
(17 when the error is exactly 0); ``combined_score = max(digits, 0) / 14`` (1.0 is the
about 14 digits AutoNumerics-Zero reports with 10 operations; not clipped above, so a
program closer to the float64 limit of about 15.9 digits scores above 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_OPERATIONS = 10
GRID_POINTS = 100_001
REFERENCE_DIGITS = 14.0  # AutoNumerics-Zero, 10 operations
DIGITS_IF_EXACT = 17.0
OPERATIONS = ("+", "-", "*", "/")
_RESULT_NAME = re.compile(r"r(0|[1-9][0-9]*)")

Operand = tuple[str, Any]  # ("x", None), ("result", index) or ("constant", value)


def plain_data(value: Any) -> Any:
    """``value`` with numpy arrays, numpy scalars and tuples turned into JSON-ready lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [plain_data(item) for item in value]
    return value


def parse_operand(value: Any, step: int) -> Operand:
    """One operand of step ``step``, checked; ValueError saying why it is not valid."""
    if isinstance(value, str):
        if value == "x":
            return ("x", None)
        match = _RESULT_NAME.fullmatch(value)
        if match is None:
            raise ValueError(f"step {step}: operand {value!r} is not 'x', 'r<k>' or a number")
        index = int(match.group(1))
        if index >= step:
            raise ValueError(f"step {step}: operand {value!r} is not an earlier step")
        return ("result", index)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"step {step}: operand {value!r} is not 'x', 'r<k>' or a real number")
    try:
        constant = float(value)
    except OverflowError as exc:
        raise ValueError(f"step {step}: constant {value!r} does not fit in float64") from exc
    if not math.isfinite(constant):
        raise ValueError(f"step {step}: constant {value!r} is not finite")
    if constant != 0.0 and abs(constant) < np.finfo(np.float64).tiny:
        raise ValueError(f"step {step}: constant {value!r} is subnormal")
    return ("constant", constant)


def parse_steps(steps: Any) -> list[tuple[str, Operand, Operand]]:
    """The program as ``(op, a, b)`` with parsed operands, or ValueError naming the fault."""
    if not isinstance(steps, list | tuple):
        raise ValueError(f"steps must be a list, got {type(steps).__name__}")
    if not 1 <= len(steps) <= MAX_OPERATIONS:
        raise ValueError(f"the program must have 1 to {MAX_OPERATIONS} steps, got {len(steps)}")
    parsed = []
    for index, step in enumerate(steps):
        if not isinstance(step, list | tuple) or len(step) != 3:
            raise ValueError(f"step {index} must be [op, a, b], got {step!r}"[:200])
        op, a, b = step
        if not isinstance(op, str) or op not in OPERATIONS:
            raise ValueError(f"step {index}: operation {op!r} is not one of + - * /"[:200])
        parsed.append((op, parse_operand(a, index), parse_operand(b, index)))
    return parsed


def run_on_grid(program: list[tuple[str, Operand, Operand]], x: np.ndarray) -> np.ndarray:
    """Execute the program in float64 at the points ``x``; ValueError on 0-division or NaN/inf."""
    results: list[np.ndarray] = []

    def value(operand: Operand) -> np.ndarray | float:
        kind, payload = operand
        return x if kind == "x" else results[payload] if kind == "result" else payload

    for index, (op, a, b) in enumerate(program):
        left, right = value(a), value(b)
        with np.errstate(all="ignore"):
            if op == "/":
                if np.any(np.asarray(right) == 0.0):
                    raise ValueError(f"step {index}: division by zero on the grid")
                out = np.true_divide(left, right)
            elif op == "*":
                out = np.multiply(left, right)
            elif op == "+":
                out = np.add(left, right)
            else:
                out = np.subtract(left, right)
        out = np.broadcast_to(np.asarray(out, dtype=np.float64), x.shape)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"step {index}: non-finite value (overflow or NaN) on the grid")
        results.append(out)
    return results[-1]


def check_divisors(program: list[tuple[str, Operand, Operand]], x: np.ndarray) -> None:
    """Prove with interval arithmetic that no divisor vanishes on any cell [x_i, x_i+1]."""
    cells = (x[:-1], x[1:])
    intervals: list[tuple[np.ndarray, np.ndarray]] = []

    def enclosure(operand: Operand) -> tuple[np.ndarray, np.ndarray]:
        kind, payload = operand
        if kind == "x":
            return cells
        if kind == "result":
            return intervals[payload]
        constant = np.full(cells[0].shape, payload)
        return constant, constant

    for index, (op, a, b) in enumerate(program):
        (a_lo, a_hi), (b_lo, b_hi) = enclosure(a), enclosure(b)
        with np.errstate(all="ignore"):
            if op == "/":
                if not (np.all(np.isfinite(b_lo)) and np.all(np.isfinite(b_hi))):
                    raise ValueError(f"step {index}: cannot bound the divisor on [0, 1]")
                if np.any((b_lo <= 0.0) & (b_hi >= 0.0)):
                    cell = int(np.argmax((b_lo <= 0.0) & (b_hi >= 0.0)))
                    raise ValueError(
                        f"step {index}: the divisor may vanish between x = {x[cell]!r} "
                        f"and {x[cell + 1]!r} (pole in [0, 1])"
                    )
                b_lo, b_hi = 1.0 / b_hi, 1.0 / b_lo
                op = "*"
            if op == "+":
                lo, hi = a_lo + b_lo, a_hi + b_hi
            elif op == "-":
                lo, hi = a_lo - b_hi, a_hi - b_lo
            else:
                products = np.stack([a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi])
                lo, hi = products.min(axis=0), products.max(axis=0)
        intervals.append((np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)))


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]``, run it and score it (trusted).

    Raises ValueError, naming the problem, when the program is malformed or unsafe.
    """
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"steps": [[op, a, b], ...]}}')
    program = parse_steps(output["construction"].get("steps"))
    x = np.linspace(0.0, 1.0, GRID_POINTS)
    approximation = run_on_grid(program, x)
    check_divisors(program, x)
    exact = np.exp2(x.astype(np.longdouble))
    relative = np.abs(approximation.astype(np.longdouble) - exact) / exact
    worst = int(np.argmax(relative))
    max_error = float(relative[worst])
    digits = DIGITS_IF_EXACT if max_error == 0.0 else -math.log10(max_error)
    return {
        "combined_score": max(digits, 0.0) / REFERENCE_DIGITS,
        "digits": digits,
        "max_rel_error": max_error,
        "worst_x": float(x[worst]),
        "num_ops": len(program),
        "num_divisions": sum(op == "/" for op, _, _ in program),
    }


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Call the candidate's ``construct_program()``; return its metrics and the construction."""
    if "construct_program" not in candidate.functions:
        raise AttributeError("the program must define construct_program()")
    construction = {"steps": plain_data(candidate.construct_program())}
    return {**verify({"construction": construction}), "construction": construction}
