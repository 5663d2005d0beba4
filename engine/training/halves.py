"""The cross-training-set case of transferability (Szegedy et al. 2013): one architecture trained on each of two
disjoint halves of the shipped training digits, so that the transfer matrix can show whether adversarial images
made on one net fool a net of the same kind that never saw its training images. One function for the Compare
workspace and `main.py transfer --cross-halves ARCH`."""
from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

from ..architectures import get_architecture
from ..attacks.base import RunControl
from ..builtin_mnist import IMAGE_SIDE
from ..core.errors import ParameterError
from ..core.run import relay
from ..models import LoadedModel
from .loop import TRAINING, TrainProgress, disjoint_halves, new_trainer, train_steps, training_digits

# No robust accuracy after each epoch unless asked: the transfer matrix measures the attack afterwards.
HALF_DEFAULTS = {"robust_steps": 0}
DIGITS = (1, IMAGE_SIDE, IMAGE_SIDE)  # the input shape of nets trained on the training digits


@dataclass(frozen=True)
class HalfProgress:
    """A batch or an epoch of the net trained on half `half` (0 or 1) of the training digits."""

    half: int
    step: TrainProgress

    @property
    def fraction(self) -> float:
        """How much of both trainings is done, in [0, 1]."""
        step = self.step
        done = (step.epoch - 1 + step.batch / max(1, step.batches)) / max(1, step.epochs)
        return (self.half + min(1.0, done)) / 2


def half_settings(arch: str, given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`given` values (text or typed) split into the training's and the architecture's, each validated; an
    unknown name is a ParameterError naming both sets' parameters."""
    architecture = get_architecture(arch)
    options = architecture.options
    training, arch_options = {**architecture.training_defaults, **HALF_DEFAULTS}, {}
    for name, value in given.items():
        if name in TRAINING.names:
            training[name] = value
        elif name in options.names:
            arch_options[name] = value
        else:
            known = ", ".join(TRAINING.names + options.names)
            raise ParameterError(f"unknown parameter {name!r} for training {arch} on the halves; the parameters "
                                 f"are {known}")
    return TRAINING.resolve(training), options.resolve(arch_options)


def train_halves(arch: str, training: Mapping[str, Any] | None = None,
                 arch_options: Mapping[str, Any] | None = None, device: str = "cpu",
                 control: RunControl | None = None) -> Generator[HalfProgress, None, list[LoadedModel]]:
    """Train `arch` on each disjoint half of the training digits (split by the training seed), named
    "<arch> half 1" and "<arch> half 2". A stop request ends the run within one batch and returns the nets
    finished so far (and none of the one being trained)."""
    # the architecture's recipe (repu: Krotov's) under the halves' defaults, under what the caller set
    training = TRAINING.resolve({**get_architecture(arch).training_defaults, **HALF_DEFAULTS, **dict(training or {})})
    halves = disjoint_halves(training_digits(), training["seed"])
    models = []
    for index, half in enumerate(halves):
        trainer = new_trainer(arch, half, training, arch_options, device=device)
        trainer = yield from relay(train_steps(trainer, half, control=control),
                                   lambda step, i=index: HalfProgress(i, step))
        if trainer.stopped:
            break
        trainer.model.name = f"{arch} half {index + 1}"
        models.append(trainer.model)
    return models


def check_fits_halves(models: list[LoadedModel]) -> None:
    """The halves are nets for 1x28x28 digits: refuse other models before any training, since the matrix
    compares models of one input shape only."""
    for model in models:
        if tuple(model.input_shape) != DIGITS:
            shape = "x".join(map(str, model.input_shape))
            raise ParameterError(f"{model.name} takes {shape} images, but the halves are trained on "
                                 f"{'x'.join(map(str, DIGITS))} digits; compare them with digit models only")
