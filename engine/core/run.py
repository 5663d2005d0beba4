"""Driving the engine's step-yielding computations for callers that only want the result."""
from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

StepT = TypeVar("StepT")
ResultT = TypeVar("ResultT")


def run_to_end(run: Generator[StepT, None, ResultT], on_step: Callable[[StepT], None] | None = None) -> ResultT:
    """Drive a generator to its return value, calling `on_step` for each yielded step (progress bars)."""
    while True:
        try:
            step = next(run)
        except StopIteration as done:
            return done.value
        if on_step:
            on_step(step)


def relay(run: Generator[StepT, None, ResultT], wrap: Callable[[StepT], object]) -> Generator[object, None, ResultT]:
    """Yield `wrap(step)` for each step of `run` and return its result: a computation made of computations
    (a gallery of targeted images, a table of universal perturbations) reports progress with `yield from`."""
    while True:
        try:
            step = next(run)
        except StopIteration as done:
            return done.value
        yield wrap(step)
