"""The playground's classifier: a small MLP on two-pixel images, wrapped as the engine's `LoadedModel` (input
1 x 1 x 2: one grey row of two pixels) so that the engine's own attacks run on it unchanged; full-batch training
as a computation that yields its progress and, a few dozen times a second, the probability over the plane."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import Declared, Param, ParamSet, RunControl
from ..core.errors import ParameterError
from ..models import Classifier, LoadedModel
from .regions import CLASS_NAMES, RESOLUTION, Points, grid_points

INPUT_SHAPE = (1, 1, 2)
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU, "gelu": nn.GELU}
MAX_WIDTH = 1024


def parse_hidden(value) -> tuple[int, ...]:
    """"32, 32" (as the user types them) or (32, 32) -> (32, 32): the hidden widths, each in 1..MAX_WIDTH."""
    if isinstance(value, str):
        try:
            widths = tuple(int(part) for part in value.replace(";", ",").replace(" ", ",").split(",") if part)
        except ValueError:
            raise ParameterError(f"hidden layers: whole numbers separated by commas, like 32, 32 (not {value!r})")
    else:
        widths = tuple(value)
    if not widths:
        raise ParameterError("hidden layers: give at least one width, like 32")
    if any(not isinstance(width, int) or not 1 <= width <= MAX_WIDTH for width in widths):
        raise ParameterError(f"hidden layers: one or more widths between 1 and {MAX_WIDTH}")
    return widths


TRAINING_PARAMS = ParamSet("training", (
    Param("hidden", str, (32, 32), "hidden layer widths, like 32, 32", convert=parse_hidden,
          format=lambda widths: ", ".join(map(str, widths))),
    Param("activation", str, "relu", "activation after every hidden layer", choices=tuple(ACTIVATIONS)),
    Param("steps", int, 600, "full-batch Adam steps", 1, 100_000),
    Param("learning_rate", float, 0.01, "Adam's learning rate", 0.0, 1.0, above=True),
    Param("seed", int, 0, "seed of the initial weights (another seed, another boundary)", 0, 1_000_000),
), summary="train the playground's MLP on the points")


@dataclass(frozen=True)
class MlpConfig(Declared):
    """What the user chooses (declared in `TRAINING_PARAMS`): hidden layer widths, activation, Adam steps and
    learning rate, and the seed of the initial weights (another seed, another boundary through the same data)."""

    PARAMS: ClassVar[ParamSet] = TRAINING_PARAMS

    hidden: tuple[int, ...] = (32, 32)
    activation: str = "relu"
    steps: int = 600
    learning_rate: float = 0.01
    seed: int = 0

    def describe(self) -> str:
        return f"2-{'-'.join(map(str, self.hidden))}-2 {self.activation}, seed {self.seed}"


def build_model(config: MlpConfig, class_names: tuple[str, str] = CLASS_NAMES) -> LoadedModel:
    """An untrained MLP with the config's seeded weights. The plane [0, 1] is centred and scaled to [-2, 2]
    by the wrapper's normalisation, as for images."""
    config.check()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)  # seeded initial weights without leaving the global generator changed
    try:
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = 2
        for width in config.hidden:
            layers += [nn.Linear(width_in, width), ACTIVATIONS[config.activation]()]
            width_in = width
        layers.append(nn.Linear(width_in, 2))
    finally:
        torch.random.set_rng_state(generator_state)
    module = Classifier(nn.Sequential(*layers), mean=(0.5,), std=(0.25,))
    return LoadedModel(module.eval(), "playground MLP", INPUT_SHAPE, tuple(class_names),
                       f"trained in the playground: {config.describe()}", "custom")


def as_images(xy: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, 2) points -> (N, 1, 1, 2) two-pixel images."""
    return torch.as_tensor(np.asarray(xy, dtype=np.float32)).reshape(-1, *INPUT_SHAPE)


def as_points(images: torch.Tensor) -> np.ndarray:
    return images.detach().cpu().reshape(-1, 2).numpy().copy()


@torch.no_grad()
def dog_probability(model: LoadedModel, xy: np.ndarray) -> np.ndarray:
    """p(second class) at each point (N,), float32."""
    logits = model(as_images(xy)).float()
    return torch.softmax(logits, dim=1)[:, 1].numpy().copy()


def probability_grid(model: LoadedModel, resolution: int = RESOLUTION) -> np.ndarray:
    """p(second class) over the whole plane, (R, R) row-major like the regions: the boundary is its 0.5 level."""
    return dog_probability(model, grid_points(resolution)).reshape(resolution, resolution)


def check_training_set(points: Points, class_names: tuple[str, str] = CLASS_NAMES) -> None:
    if len(points) == 0:
        raise ParameterError("there are no training points: sample some or click on the plane to add them")
    for code, name in enumerate(class_names):
        if not np.any(points.labels == code):
            raise ParameterError(f"the training points have no {name}: a classifier needs both classes")
    if not np.isfinite(points.xy).all():
        raise ParameterError("a training point has a coordinate that is not a number")


@dataclass(frozen=True)
class TrainStep:
    """One optimisation step; `grid` (the probability over the plane) only when a frame is due."""

    iteration: int
    total: int
    loss: float
    accuracy: float
    grid: np.ndarray | None = None


@dataclass
class Training:
    """A finished (or stopped) training run: the model and how well it fits its points."""

    model: LoadedModel
    config: MlpConfig
    points: Points
    loss: float
    accuracy: float
    steps_done: int
    seconds: float
    grid: np.ndarray = field(repr=False, default=None)


def accuracy_on(model: LoadedModel, points: Points) -> float:
    with torch.no_grad():
        predicted = model(as_images(points.xy)).argmax(dim=1).numpy()
    return float(np.mean(predicted == points.labels)) if len(points) else 0.0


def train(points: Points, config: MlpConfig, class_names: tuple[str, str] = CLASS_NAMES,
          control: RunControl | None = None, resolution: int = RESOLUTION):
    """Full-batch Adam on the cross-entropy from the config's seeded initial weights. Yields a `TrainStep` per
    step (with the probability grid when `control` says a frame is due) and returns a `Training`."""
    config.check()
    check_training_set(points, class_names)
    started = time.perf_counter()
    model = build_model(config, class_names)
    x, labels = as_images(points.xy), torch.as_tensor(points.labels)
    optimiser = torch.optim.Adam(model.module.parameters(), lr=config.learning_rate)
    loss_value, done = math.nan, 0
    with torch.enable_grad():  # grad mode is thread-local: set it here, in the thread that trains
        for iteration in range(1, config.steps + 1):
            if control is not None and control.stop_requested:
                break
            logits = model(x)
            loss = F.cross_entropy(logits, labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            loss_value, done = float(loss.detach()), iteration
            accuracy = float((logits.detach().argmax(dim=1) == labels).float().mean())
            due = control is not None and control.frame_due(final=iteration == config.steps)
            yield TrainStep(iteration, config.steps, loss_value, accuracy,
                            probability_grid(model, resolution) if due else None)
    return Training(model, config, points, loss_value, accuracy_on(model, points), done,
                    time.perf_counter() - started, probability_grid(model, resolution))
