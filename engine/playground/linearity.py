"""Why small steps fool models that are too linear (the lecture's dot-product example, seed 002): a class score
w . x changes by eps * ||w||_1 when every input moves by eps along the sign of its weight, so the step that flips
the sign of the score is |w . x| / ||w||_1. With many inputs |w . x| grows like sqrt(n) and ||w||_1 like n:
the step needed shrinks like 1 / sqrt(n)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import ParameterError

SEED_INPUTS = (2, -1, 3, -2, 2, 2, 1, -4, 5, 1)
SEED_WEIGHTS = (-1, -1, 1, -1, 1, -1, 1, 1, -1, 1)
SEED_STEP = 0.5


@dataclass(frozen=True)
class DotProduct:
    """A score w . x before and after every input moved by `step` along the sign of its weight."""

    inputs: np.ndarray
    weights: np.ndarray
    step: float

    @property
    def moved_inputs(self) -> np.ndarray:
        return self.inputs + self.step * np.sign(self.weights)

    @property
    def terms_before(self) -> np.ndarray:
        return self.weights * self.inputs

    @property
    def terms_after(self) -> np.ndarray:
        return self.weights * self.moved_inputs

    @property
    def score_before(self) -> float:
        return float(self.terms_before.sum())

    @property
    def score_after(self) -> float:
        return float(self.terms_after.sum())

    @property
    def flip_step(self) -> float:
        """The smallest per-input step that brings the score to 0 (moving along sign(w) raises it, so this is
        the step for a negative score; for a positive one it is the step against the sign)."""
        return flip_step(self.inputs, self.weights)


def seed_example(step: float = SEED_STEP) -> DotProduct:
    """The lecture's numbers: -2 + 1 + 3 + 2 + 2 - 2 + 1 - 4 - 5 + 1 = -3, and 2 after a step of 0.5."""
    if not np.isfinite(step):
        raise ParameterError(f"the step must be a number, not {step}")
    return DotProduct(np.array(SEED_INPUTS, dtype=np.float64), np.array(SEED_WEIGHTS, dtype=np.float64), step)


def flip_step(inputs: np.ndarray, weights: np.ndarray) -> float:
    l1 = float(np.abs(weights).sum())
    if l1 == 0:
        raise ParameterError("all weights are zero: no step changes the score")
    return abs(float(np.dot(weights, inputs))) / l1


def sum_terms(terms: np.ndarray) -> str:
    """"-2 + 1 + 3 - 4": a sum written the way the lecture writes it."""
    text = ""
    for index, term in enumerate(terms):
        number = f"{abs(term):g}"
        text += (f"-{number}" if term < 0 else number) if index == 0 else f" {'-' if term < 0 else '+'} {number}"
    return text


@dataclass(frozen=True)
class FlipSteps:
    """For each number of inputs, the median step that flips the score of random inputs and weights (both
    standard normal), and the fitted 1 / sqrt(n) law through the first point."""

    dims: np.ndarray
    median_step: np.ndarray

    @property
    def sqrt_law(self) -> np.ndarray:
        return self.median_step[0] * np.sqrt(self.dims[0] / self.dims)


def flip_steps(dims=(1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000), trials: int = 128,
               seed: int = 0) -> FlipSteps:
    """The needed step as the number of inputs grows (one image has 268,203 of them at 299 x 299 x 3)."""
    if trials < 1 or any(n < 1 for n in dims):
        raise ParameterError("at least one trial and one input")
    rng = np.random.default_rng(seed)
    medians = []
    for n in dims:
        inputs, weights = rng.standard_normal((trials, n)), rng.standard_normal((trials, n))
        steps = np.abs((inputs * weights).sum(axis=1)) / np.abs(weights).sum(axis=1)
        medians.append(float(np.median(steps)))
    return FlipSteps(np.asarray(dims, dtype=np.float64), np.asarray(medians))
