"""Trusted evaluator for learning to relax: choose SOR's omega across a sequence of systems.

The isolated form: the candidate runs in its own process and this evaluator reaches it only
through ``candidate`` (plain values by copy), so it sees the features of the coming system
and the history of the sequence, never the systems' coefficients beyond those features, the
reference omegas (data/reference.json) or this file.

* ``evaluate_candidate(candidate)`` runs in the sandbox. For each system of the fixed
  sequence (:func:`make_systems`) it calls the candidate's ``choose_omega(features,
  history)``, checks that 0 < omega < 2, solves the system by red-black SOR with that omega
  and appends ``{"features", "omega", "iterations"}`` to the history the next call sees
  (one call per system, in order: each call depends on the solves before it). It returns
  the chosen omegas as plain data under ``"construction"``.
* ``verify(output)`` is the trusted check, run by evoforge in its own process: it checks
  the omegas (one per system, finite, 0 < omega < 2) and solves every system again itself
  to count the iterations.

The systems: -div(k grad u) = f on the unit square, zero Dirichlet boundary, an n x n
interior grid (n from 12 to 24), the 5-point finite-volume stencil with harmonic means of k
on the cell faces; k = exp(s * g) for a smooth random field g, so the contrast
max k / min k differs from system to system. SOR sweeps the red points, then the black
points (a consistent ordering, so Young's theory applies), and stops when the relative
residual ||f - A u|| / ||f|| is at most 1e-6, or after 2000 sweeps (counted as 2000).

Score: total sweeps over the sequence, lower is better. ``combined_score = limit / total``
where ``limit`` is the total with the best omega of a 0.005-spaced grid chosen separately
for every system (data/reference.json, made by ``python make_reference.py``); 1 means
every system got its best grid omega, a per-system oracle an online policy is not expected
to reach (values above 1 are clipped: a finer omega can beat the grid by a sweep or two).

Instance splits (``split=``, chosen by evoforge on the trusted side): ``search`` is the one
sequence of :data:`SYSTEM_SPECS` (the single set this problem was scored on before splits);
``holdout`` is 2 more sequences and ``test`` 3 more, each the same ten (n, s, length)
specs with fresh field seeds (:func:`split_specs`). Each sequence starts with an empty
history; the omegas of all of a split's sequences are returned in order, and its limit is
in ``data/reference_<split>.json`` (search: ``data/reference.json``).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

TOLERANCE = 1e-6
MAX_SWEEPS = 2000
REFERENCE_FILE = Path(__file__).parent / "data" / "reference.json"
# (grid size n, log-contrast scale s, correlation length of the random field, seed)
SYSTEM_SPECS = (
    (16, 0.5, 0.3, 101),
    (16, 1.0, 0.3, 102),
    (20, 0.5, 0.2, 103),
    (12, 1.2, 0.3, 104),
    (24, 0.8, 0.3, 105),
    (20, 1.0, 0.15, 106),
    (16, 0.2, 0.5, 107),
    (24, 1.2, 0.2, 108),
    (12, 0.8, 0.4, 109),
    (20, 0.7, 0.25, 110),
)

SPLITS = ("search", "holdout", "test")
SPLIT_SEQUENCES = {"search": (0,), "holdout": (1, 2), "test": (3, 4, 5)}
"""Sequence ``k`` uses the seeds of :data:`SYSTEM_SPECS` plus ``1000 * k``."""


def split_specs(split: str) -> tuple[tuple[tuple[int, float, float, int], ...], ...]:
    """The sequences of one split, each a tuple of system specs in solving order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return tuple(
        tuple((n, scale, length, seed + 1000 * k) for n, scale, length, seed in SYSTEM_SPECS)
        for k in SPLIT_SEQUENCES[split]
    )


def reference_file(split: str) -> Path:
    """Where the reference totals of ``split`` are kept (made by ``make_reference.py``)."""
    return (
        REFERENCE_FILE if split == "search" else REFERENCE_FILE.with_name(f"reference_{split}.json")
    )


ChooseOmega = Callable[[dict[str, float], list[dict[str, Any]]], Any]
"""``choose_omega(features, history) -> omega``, as the candidate defines it."""


@dataclass(frozen=True)
class System:
    """One linear system A u = b in stencil form, with the features the candidate sees."""

    n: int
    east: np.ndarray  # coupling to the east neighbour of each cell (n x n; 0 at the wall)
    west: np.ndarray
    north: np.ndarray
    south: np.ndarray
    diagonal: np.ndarray  # A_ii: the sum of the four face coefficients (walls included)
    rhs: np.ndarray  # b = h^2 f
    features: dict[str, float]


def smooth_field(rng: np.random.Generator, n: int, length: float) -> np.ndarray:
    """A smooth random field on the n x n cell centres, zero mean and unit variance
    (random cosine modes with a Gaussian spectrum of correlation length ``length``)."""
    centres = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(centres, centres, indexing="ij")
    field = np.zeros((n, n))
    for _ in range(24):
        frequency = rng.normal(0.0, 1.0 / length, size=2)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        field += np.cos(2.0 * np.pi * (frequency[0] * x + frequency[1] * y) + phase)
    return (field - field.mean()) / field.std()


def harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The harmonic mean of two positive arrays (the face coefficient between two cells)."""
    return 2.0 * a * b / (a + b)


def build_system(n: int, scale: float, length: float, seed: int) -> System:
    """The finite-volume system of one spec (deterministic)."""
    rng = np.random.default_rng(seed)
    k = np.exp(scale * smooth_field(rng, n, length))
    east = np.zeros((n, n))
    east[:-1, :] = harmonic(k[:-1, :], k[1:, :])
    west = np.zeros((n, n))
    west[1:, :] = east[:-1, :]
    north = np.zeros((n, n))
    north[:, :-1] = harmonic(k[:, :-1], k[:, 1:])
    south = np.zeros((n, n))
    south[:, 1:] = north[:, :-1]
    # a wall face couples to the boundary value 0 with twice the cell's own coefficient
    walls = np.zeros((n, n))
    walls[0, :] += 2 * k[0, :]
    walls[-1, :] += 2 * k[-1, :]
    walls[:, 0] += 2 * k[:, 0]
    walls[:, -1] += 2 * k[:, -1]
    diagonal = east + west + north + south + walls
    rhs = (1.0 + 0.5 * smooth_field(rng, n, 0.5)) / (n * n)
    features = {
        "n": float(n),
        "h": 1.0 / n,
        "contrast": float(k.max() / k.min()),
        "mean_coefficient": float(k.mean()),
    }
    return System(n, east, west, north, south, diagonal, rhs, features)


@cache
def make_sequences(split: str = "search") -> tuple[tuple[System, ...], ...]:
    """The sequences of systems of one split, each in the order it is solved."""
    return tuple(tuple(build_system(*spec) for spec in sequence) for sequence in split_specs(split))


def make_systems(split: str = "search") -> tuple[System, ...]:
    """Every system of one split, sequence after sequence."""
    return tuple(system for sequence in make_sequences(split) for system in sequence)


def sor_sweeps(system: System, omega: float) -> int:
    """Red-black SOR sweeps until the relative residual is <= TOLERANCE (MAX_SWEEPS if
    never). One sweep updates every unknown once."""
    n = system.n
    u = np.zeros((n + 2, n + 2))  # with a ring of boundary zeros
    inner = u[1:-1, 1:-1]
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    colours = [(i + j) % 2 == 0, (i + j) % 2 == 1]
    inverse_diagonal = 1.0 / system.diagonal
    b_norm = float(np.linalg.norm(system.rhs))
    e, w, no, so, rhs = system.east, system.west, system.north, system.south, system.rhs
    for sweep in range(1, MAX_SWEEPS + 1):
        for colour in colours:
            neighbours = e * u[2:, 1:-1] + w * u[:-2, 1:-1] + no * u[1:-1, 2:] + so * u[1:-1, :-2]
            target = (rhs + neighbours) * inverse_diagonal
            inner[colour] += omega * (target[colour] - inner[colour])
        neighbours = e * u[2:, 1:-1] + w * u[:-2, 1:-1] + no * u[1:-1, 2:] + so * u[1:-1, :-2]
        residual = rhs + neighbours - system.diagonal * inner
        if not np.isfinite(residual).all():
            return MAX_SWEEPS
        if np.linalg.norm(residual) <= TOLERANCE * b_norm:
            return sweep
    return MAX_SWEEPS


@cache
def reference(split: str = "search") -> dict[str, Any]:
    """The precomputed baselines and limit of one split (:func:`reference_file`)."""
    data: dict[str, Any] = json.loads(reference_file(split).read_text(encoding="utf-8"))
    return data


def checked_omega(value: object, where: str) -> float:
    """``value`` as a float in the open interval (0, 2), or ValueError saying why not."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: omega must be a real number, got {value!r}")
    omega = float(value)
    if not np.isfinite(omega) or not 0.0 < omega < 2.0:
        raise ValueError(f"{where}: omega must satisfy 0 < omega < 2, got {omega!r}")
    return omega


def verify(output: Any, split: str = "search") -> dict[str, float]:
    """Check ``output["construction"]`` (one omega per system of ``split``), solve again,
    score (trusted)."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), list):
        raise ValueError('expected {"construction": [omega per system]}')
    omegas = output["construction"]
    systems = make_systems(split)
    if len(omegas) != len(systems):
        raise ValueError(f"expected {len(systems)} omegas, got {len(omegas)}")
    sweeps = [
        sor_sweeps(system, checked_omega(omega, f"system {index}"))
        for index, (system, omega) in enumerate(zip(systems, omegas, strict=True))
    ]
    return score_sweeps(sweeps, omegas, split)


def score_sweeps(sweeps: list[int], omegas: list[float], split: str = "search") -> dict[str, float]:
    """Metrics of the sweeps the systems of ``split`` took with ``omegas``."""
    total = sum(sweeps)
    ref = reference(split)
    return {
        "combined_score": min(1.0, ref["limit_total_sweeps"] / total),
        "total_sweeps": float(total),
        "unconverged_systems": float(sum(s == MAX_SWEEPS for s in sweeps)),
        "mean_omega": float(np.mean(omegas)),
        "omega_one_total_sweeps": float(ref["omega_one_total_sweeps"]),
        "best_fixed_omega_total_sweeps": float(ref["best_fixed_total_sweeps"]),
        "limit_total_sweeps": float(ref["limit_total_sweeps"]),
    }


def choose_all(choose_omega: ChooseOmega, split: str = "search") -> list[float]:
    """The omega ``choose_omega`` picks for each system of each sequence of ``split``, each
    checked and solved before the next call, whose history records it (a sequence starts
    with an empty history). ``choose_omega`` gets the evaluator's own history list: it must
    not keep or change it (the candidate's channel hands it a copy)."""
    omegas: list[float] = []
    for sequence in make_sequences(split):
        history: list[dict[str, Any]] = []
        for system in sequence:
            value = choose_omega(dict(system.features), history)
            omega = checked_omega(value, f"choose_omega for system {len(omegas)}")
            sweeps = sor_sweeps(system, omega)
            history.append(
                {"features": dict(system.features), "omega": omega, "iterations": sweeps}
            )
            omegas.append(omega)
    return omegas


def evaluate_candidate(candidate: Any, split: str = "search") -> dict[str, Any]:
    """Run the candidate's ``choose_omega`` over the sequence; return the omegas (the output
    ``verify`` scores)."""
    if "choose_omega" not in candidate.functions:
        raise AttributeError("the program must define choose_omega(features, history)")
    return {"construction": choose_all(candidate.choose_omega, split)}
