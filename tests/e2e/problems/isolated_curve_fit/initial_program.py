"""A tiny isolated problem for end-to-end tests: fit a curve with a few coefficients."""


# EVOLVE-BLOCK-START
def model(x):
    a = 0.5
    b = 0.1
    c = 0.0
    return a * x + b + c * x * x


# EVOLVE-BLOCK-END
