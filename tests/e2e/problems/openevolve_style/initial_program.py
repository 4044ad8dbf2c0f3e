# An OpenEvolve-style problem: evolve a function that approximates sqrt on [1, 100].
import math

# EVOLVE-BLOCK-START
def approx_sqrt(x):
    guess = x / 2.0
    for _ in range(2):
        guess = 0.5 * (guess + x / guess)
    return guess
# EVOLVE-BLOCK-END


def run_search():
    return [approx_sqrt(float(x)) for x in range(1, 101)]
