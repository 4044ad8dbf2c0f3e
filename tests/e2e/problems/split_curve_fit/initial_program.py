"""A tiny isolated problem with splits for end-to-end tests: fit a curve."""


# EVOLVE-BLOCK-START
def model(x):
    a = 0.5
    b = 0.1
    c = 0.0
    return a * x + b + c * x * x


# EVOLVE-BLOCK-END
