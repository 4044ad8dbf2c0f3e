"""Plots of best score against evaluations, with bootstrap confidence bands (matplotlib).

The only module of the harness that imports matplotlib (the ``bench`` extra); it draws
with the Agg backend so it works without a display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evoforge.atomic_files import write_bytes_atomically
from evoforge.bench.records import STATUS_OK, RunRecord

BOOTSTRAP_SAMPLES = 1000


def trajectory_matrix(records: Sequence[RunRecord], budget: int) -> np.ndarray:
    """Seeds x evaluations of best-so-far scores; a run that stopped early keeps its last
    value, evaluations before the first score are NaN."""
    matrix = np.full((len(records), budget), np.nan)
    for row, record in enumerate(records):
        values = [np.nan if v is None else float(v) for v in record.trajectory[:budget]]
        if not values:
            continue
        matrix[row, : len(values)] = values
        matrix[row, len(values) :] = values[-1]
    return matrix


def bootstrap_band(
    matrix: np.ndarray, rng: np.random.Generator, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median over rows and a 95 % percentile-bootstrap band of the median (rows resampled)."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(matrix, axis=0)
            picks = rng.integers(0, matrix.shape[0], size=(samples, matrix.shape[0]))
            medians = np.nanmedian(matrix[picks], axis=1)
            low = np.nanpercentile(medians, 2.5, axis=0)
            high = np.nanpercentile(medians, 97.5, axis=0)
    return median, low, high


def plot_problem(
    directory: Path, problem: str, records: Sequence[RunRecord], engines: Sequence[str], budget: int
) -> Path | None:
    """Write ``directory/PROBLEM.png``; ``None`` when no engine has a finished run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [r for r in records if r.status == STATUS_OK and r.trajectory]
    if not finished:
        return None
    rng = np.random.default_rng(0)
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    x = np.arange(1, budget + 1)
    for index, engine in enumerate(engines):
        mine = sorted((r for r in finished if r.engine == engine), key=lambda r: r.seed)
        if not mine:
            continue
        median, low, high = bootstrap_band(trajectory_matrix(mine, budget), rng)
        colour = f"C{index}"
        axes.plot(
            x,
            median,
            color=colour,
            label=f"{engine} (n={len(mine)})",
            linewidth=1.6,
            drawstyle="steps-post",
        )
        axes.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0, step="post")
    axes.set_title(f"{problem}: best score so far (median over seeds, 95 % bootstrap CI)")
    axes.title.set_fontsize(10)
    axes.set_xlabel("evaluations")
    axes.set_ylabel("best normalised score")
    axes.set_xlim(1, max(budget, 2))
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{problem}.png"
    image = io.BytesIO()
    figure.savefig(image, format="png")
    plt.close(figure)
    write_bytes_atomically(path, image.getvalue())  # whole, or the old plot kept
    return path
