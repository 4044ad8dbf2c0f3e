"""Seed program: approximate 2**x on [0, 1] with a straight-line program of at most 10
arithmetic operations.

The program is a list of steps ``(op, a, b)``: ``op`` is one of ``"+"``, ``"-"``, ``"*"``,
``"/"``; each operand is ``"x"`` (the input), ``"r<k>"`` (the result of step k, counting
from 0, an earlier step) or a number (a float64 constant). The last step's result is the
approximation. The score is the number of correct significant digits,
-log10(max relative error), measured on a dense grid of [0, 1].

The seed is the degree-5 Taylor polynomial of 2**x = exp(x ln 2) at 0 in Horner form
(5 multiplications and 5 additions, about 4 digits). Every coefficient is a literal the
numeric ``tune`` operator can move (a minimax fit of the same shape gives about 7
digits); reaching further needs a different structure (rational functions, range
reduction by squaring, ...).
"""

Step = tuple[str, str | float, str | float]


# EVOLVE-BLOCK-START
def straight_line_program() -> list[Step]:
    """Horner evaluation of 1 + c1 x + c2 x^2 + ... + c5 x^5 with c_k = (ln 2)^k / k!."""
    return [
        ("*", "x", 0.0013333558146428443),
        ("+", "r0", 0.009618129107628477),
        ("*", "r1", "x"),
        ("+", "r2", 0.05550410866482158),
        ("*", "r3", "x"),
        ("+", "r4", 0.2402265069591007),
        ("*", "r5", "x"),
        ("+", "r6", 0.6931471805599453),
        ("*", "r7", "x"),
        ("+", "r8", 1.0),
    ]


# EVOLVE-BLOCK-END


def construct_program() -> list[Step]:
    """Return the straight-line program: a list of at most 10 ``(op, a, b)`` steps."""
    return list(straight_line_program())


if __name__ == "__main__":
    for index, step in enumerate(construct_program()):
        print(f"r{index} = {step[1]} {step[0]} {step[2]}")
