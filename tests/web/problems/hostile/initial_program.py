"""A candidate that tries to inject markup into the run viewers.

Its code, its output and its evaluator's error messages carry script tags and an image
with an ``onerror`` handler: a viewer must show them as text and run none of them. Its
output also holds a right-to-left override, which a viewer must show as its escape.
"""
# </script><script>alert("code")</script><img src=x onerror="alert('code-img')">

import numpy as np

print("<script>alert('stdout')</script><img src=x onerror=\"alert('stdout-img')\">")
print("right-to-left override: \u202egnp.exe")  # shown as the escape, not obeyed


# EVOLVE-BLOCK-START
def model(x: np.ndarray) -> np.ndarray:
    """Predict the target curve at the points ``x``."""
    c0, c1, c2 = 0.2, 1.0, 0.5
    return c0 + c1 * x + c2 * x**2


# EVOLVE-BLOCK-END


def predict(x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x), dtype=float)
