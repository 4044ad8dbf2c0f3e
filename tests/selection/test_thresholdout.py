"""Thresholdout: the mechanism's rules, its reproducibility, and the acceptance experiment.

The acceptance experiment is the one of Dwork et al. (Science 2015, figure 2), smaller:
labels independent of every feature, so no classifier can beat 50 % on fresh data. An
analyst keeps the features whose correlation with the label has the same sign, and is
large enough, on the training set and on the holdout, builds a sign classifier from the
strongest of them, and asks the holdout for its accuracy. Asking the plain holdout, the
selection fits it: the holdout accuracy is far above the test accuracy. Asking it through
Thresholdout (every correlation, then the accuracy), the estimate stays within the
mechanism's stated tolerance of the test accuracy. Fixed seeds; deterministic; not timed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from evoforge.selection.thresholdout import Thresholdout, tolerance


def test_a_close_holdout_answers_the_search_estimate() -> None:
    mechanism = Thresholdout(threshold=0.05, noise=0.0, budget=3, seed=0)
    answer = mechanism.query(search=0.70, holdout=0.68)
    assert (answer.answer, answer.source, answer.budget_left) == (0.70, "search", 3)


def test_a_distant_holdout_answers_itself_and_spends_budget() -> None:
    mechanism = Thresholdout(threshold=0.05, noise=0.0, budget=3, seed=0)
    answer = mechanism.query(search=0.90, holdout=0.60)
    assert (answer.answer, answer.source, answer.budget_left) == (0.60, "holdout", 2)
    assert mechanism.holdout_answers == 1


def test_a_spent_budget_falls_back_to_the_search_estimate() -> None:
    mechanism = Thresholdout(threshold=0.05, noise=0.0, budget=1, seed=0)
    mechanism.query(search=0.90, holdout=0.60)
    assert mechanism.exhausted
    answer = mechanism.query(search=0.95, holdout=0.55)
    assert (answer.answer, answer.source, answer.budget_left) == (0.95, "exhausted", 0)


def test_answers_from_the_holdout_carry_laplace_noise_of_the_stated_scale() -> None:
    mechanism = Thresholdout(threshold=0.0, noise=0.01, budget=100_000, seed=3)
    errors = [mechanism.query(1.0, 0.0).answer for _ in range(4000)]
    # Lap(b): mean |X| = b
    assert np.mean(np.abs(errors)) == pytest.approx(0.01, rel=0.1)


def test_answers_are_reproducible_from_the_seed_and_resume_exactly() -> None:
    rng = np.random.default_rng(7)
    pairs = [
        (float(a), float(a + d))
        for a, d in zip(rng.random(60), rng.normal(0, 0.05, 60), strict=True)
    ]

    def answers(seed: int) -> list[float]:
        mechanism = Thresholdout(0.03, 0.01, 20, seed)
        return [mechanism.query(s, h).answer for s, h in pairs]

    assert answers(1) == answers(1)
    assert answers(1) != answers(2)
    first = Thresholdout(0.03, 0.01, 20, seed=1)
    earlier = [first.query(s, h) for s, h in pairs[:30]]
    resumed = Thresholdout.resume(0.03, 0.01, 20, 1, earlier)
    assert [resumed.query(s, h).answer for s, h in pairs[30:]] == answers(1)[30:]


def test_bad_settings_and_estimates_are_refused() -> None:
    with pytest.raises(ValueError):
        Thresholdout(-0.1, 0.01, 5, 0)
    with pytest.raises(ValueError):
        Thresholdout(0.1, 0.01, 5, 0).query(math.nan, 0.5)
    with pytest.raises(ValueError):
        tolerance(0.1, 0.01, beta=0.0)


# -- the acceptance experiment ---------------------------------------------------------

ROWS = 1000  # examples in each of training, holdout and test
FEATURES = 2000
KEPT = 200  # features in the classifier
THRESHOLD = 0.12  # about 3.8 standard deviations of a training-holdout difference
NOISE = 0.005
BUDGET = 128
TOLERANCE = tolerance(THRESHOLD, NOISE, beta=0.05)


@dataclass(frozen=True)
class Outcome:
    """Accuracies of the selected classifier, and the holdout's estimate of it."""

    training: float
    estimate: float
    test: float


def _data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((ROWS, FEATURES), dtype=np.float32)
    y = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), ROWS)
    return x, y


def _select_and_estimate(seed: int, through_thresholdout: bool) -> Outcome:
    """The analyst of the module docstring, on one draw of the three sets."""
    rng = np.random.default_rng(seed)
    (x_train, y_train), (x_hold, y_hold), (x_test, y_test) = _data(rng), _data(rng), _data(rng)
    train_corr = x_train.T @ y_train / ROWS
    hold_corr = x_hold.T @ y_hold / ROWS
    mechanism = Thresholdout(THRESHOLD, NOISE, BUDGET, seed)
    if through_thresholdout:
        seen = np.array(
            [
                mechanism.query(float(t), float(h)).answer
                for t, h in zip(train_corr, hold_corr, strict=True)
            ]
        )
    else:
        seen = hold_corr
    floor = 1.0 / math.sqrt(ROWS)
    keep = np.nonzero(
        (np.abs(train_corr) > floor)
        & (np.abs(seen) > floor)
        & (np.sign(train_corr) == np.sign(seen))
    )[0]
    chosen = keep[np.argsort(-np.abs(train_corr[keep]))[:KEPT]]
    signs = np.sign(train_corr[chosen])

    def accuracy(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.sign(x[:, chosen] @ signs) == y))

    training, holdout = accuracy(x_train, y_train), accuracy(x_hold, y_hold)
    estimate = mechanism.query(training, holdout).answer if through_thresholdout else holdout
    assert not through_thresholdout or not mechanism.exhausted, "the budget must not run out"
    return Outcome(training, estimate, accuracy(x_test, y_test))


@pytest.mark.parametrize("seed", range(4))
def test_adaptive_selection_overfits_a_reused_holdout_but_not_thresholdout(seed: int) -> None:
    # one standard error of a difference of two accuracies near 1/2 on ROWS examples each
    standard_error = math.sqrt(2 * 0.25 / ROWS)
    plain = _select_and_estimate(seed, through_thresholdout=False)
    assert plain.estimate - plain.test > 5 * standard_error, plain  # clearly overfit

    guarded = _select_and_estimate(seed, through_thresholdout=True)
    assert abs(guarded.estimate - guarded.test) <= TOLERANCE, guarded
    # The tolerance is tight enough to matter: the training estimate, which a mechanism
    # that never consulted the holdout would report, lies far outside it.
    assert guarded.training - guarded.test > TOLERANCE, guarded
