"""Seed program: an optimiser's update rule (heavy-ball SGD with momentum).

The evaluator trains three small models with it. At every step it calls
``update(grad, state, step)`` with a copy of the gradient (a 1-D float array), the state
this function returned last time (an empty dict at step 1) and the step number (from 1),
and applies ``params -= learning_rate * delta``. The learning rate comes from a fixed
sweep (the best one per task counts), so the rule's overall scale does not matter much.
``delta`` must have the gradient's shape and be finite. The runs are stepped together, so
calls for different runs are interleaved: keep everything a run needs in ``state`` (plain
values: numbers, strings, lists, dicts, numpy arrays).
"""

import numpy as np


# EVOLVE-BLOCK-START
def update(grad: np.ndarray, state: dict, step: int) -> tuple[np.ndarray, dict]:
    """The step direction for this gradient, and the state to pass to the next call."""
    momentum = 0.9
    velocity = momentum * state.get("velocity", np.zeros_like(grad)) + grad
    return velocity, {"velocity": velocity}


# EVOLVE-BLOCK-END
