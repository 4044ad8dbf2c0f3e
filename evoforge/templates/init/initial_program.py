"""A tiny evoforge problem: fit a curve with a polynomial.

evoforge only changes the code between the ``EVOLVE-BLOCK-START`` and ``EVOLVE-BLOCK-END``
markers below; everything outside them is frozen, and every child program is checked
against it. Here the evolve block holds a cubic polynomial: the symbolic ``tune``
operator nudges its coefficients, and ``mutate`` can change the formula itself (swap an
operator, wrap a term in a function, drop or duplicate a line).

To make this your own problem, keep the idea: put what should evolve inside the markers
(here ``model``), keep the entry point the evaluator calls (here ``predict``) outside
them, so its name and signature never change, and let ``evaluator.py`` score what the
program returns.
"""

import numpy as np


# EVOLVE-BLOCK-START
def model(x: np.ndarray) -> np.ndarray:
    """Predict the target curve at the points ``x`` (a 1-D array)."""
    c0, c1, c2, c3 = 0.2, 1.0, 0.5, -0.1
    return c0 + c1 * x + c2 * x**2 + c3 * x**3


# EVOLVE-BLOCK-END


def predict(x: np.ndarray) -> np.ndarray:
    """The entry point the evaluator calls (frozen, so its contract never changes)."""
    return np.asarray(model(x), dtype=float)
