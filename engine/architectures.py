"""Networks a user can train from scratch, by name: the built-in digit CNN, Madry's MNIST CNN, Szegedy's
fully connected net, a RePU^n net (Krotov & Hopfield 2017), and any torchvision classifier for image folders.
Every one takes *normalised* input (the loaded model's `Normalize` goes in front) and returns logits; a trained
model's sidecar JSON names its architecture and options, so `load_model(file)` builds the same net again."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .builtin_mnist import MnistNet
from .core.errors import ModelError, ParameterError
from .core.params import Param, ParamSet


class MadryNet(nn.Module):
    """Madry et al.'s MNIST challenge network: conv 5x5x32, pool, conv 5x5x64, pool, fc 1024, fc classes."""

    def __init__(self, channels: int = 1, side: int = 28, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * (side // 4) ** 2, 1024), nn.ReLU(),
                                        nn.Linear(1024, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class RePUMemory(nn.Module):
    """One hidden layer of rectified polynomial units, max(h, 0)^n, read out linearly (Krotov & Hopfield's
    dense associative memory). `h` is the cosine between the input and each unit's weights, and the units'
    outputs are divided by their sum, computed in log space as softmax(n log max(h, 0)): plain max(h, 0)^n
    overflows for n = 20 or 30 (the loss reached 1e15 in training), and the division keeps the net's
    non-linearity, which is the power n, while bounding every activation by 1."""

    def __init__(self, inputs: int, hidden: int, classes: int, power: float):
        super().__init__()
        self.power = power
        self.memories = nn.Parameter(torch.randn(hidden, inputs))
        self.readout = nn.Linear(hidden, classes)
        self.scale = nn.Parameter(torch.tensor(10.0))  # the readout's temperature, learned

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.normalize(x.flatten(1), dim=1) @ nn.functional.normalize(self.memories, dim=1).T
        activity = torch.softmax(self.power * torch.log(torch.relu(h) + 1e-6), dim=1)
        return self.readout(activity) * self.scale

    def extra_repr(self) -> str:
        return f"power={self.power:g}"


def fully_connected(inputs: int, hidden: tuple[int, ...], classes: int, activation: Callable[[], nn.Module]
                    ) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(inputs, width), activation()]
        inputs = width
    layers.append(nn.Linear(inputs, classes))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Architecture:
    """A buildable network: `build(input_shape, classes, **options)`; `digits_only` nets need 1x28x28."""

    name: str
    summary: str
    build: Callable[..., nn.Module]
    options: ParamSet
    digits_only: bool = False

    def create(self, input_shape: tuple[int, int, int], classes: int, options: Mapping[str, Any] | None = None
               ) -> nn.Module:
        if self.digits_only and tuple(input_shape) != (1, 28, 28):
            raise ModelError(f"{self.name} is made for 1x28x28 digits, not {'x'.join(map(str, input_shape))} "
                             "images; choose mlp, madry-cnn or a torchvision network")
        return self.build(tuple(input_shape), int(classes), **self.options.resolve(dict(options or {})))


def _mnist_cnn(shape, classes):
    if classes != 10:
        raise ModelError("mnist-cnn has 10 outputs (the digits); choose madry-cnn or mlp for other class counts")
    return MnistNet()


def _madry(shape, classes):
    if shape[1] != shape[2] or shape[1] % 4:
        raise ModelError(f"madry-cnn needs square images with a side divisible by 4, not {shape[1]}x{shape[2]}")
    return MadryNet(shape[0], shape[1], classes)


def _mlp(shape, classes, hidden):
    return fully_connected(shape[0] * shape[1] * shape[2], hidden, classes, nn.ReLU)


def layer_widths(value) -> tuple[int, ...]:
    """"100,100" (or a sequence of ints) -> (100, 100); each width in 1..100000."""
    parts = value.replace("-", ",").split(",") if isinstance(value, str) else list(value)
    try:
        widths = tuple(int(str(part).strip()) for part in parts if str(part).strip())
    except ValueError:
        raise ParameterError(f"hidden: expected widths such as 100,100, not {value!r}") from None
    if not widths or not all(1 <= width <= 100_000 for width in widths):
        raise ParameterError(f"hidden: one or more widths in 1..100000, e.g. 100,100, not {value!r}")
    return widths


def _repu(shape, classes, n, hidden):
    return RePUMemory(shape[0] * shape[1] * shape[2], hidden, classes, n)


ARCHITECTURES: dict[str, Architecture] = {spec.name: spec for spec in (
    Architecture("mnist-cnn", "the built-in digit CNN (4 conv, 2 pool, fc 128, dropout 0.3)", _mnist_cnn,
                 ParamSet("mnist-cnn", ()), digits_only=True),
    Architecture("madry-cnn", "Madry et al.'s MNIST CNN: conv 5x5x32, pool, conv 5x5x64, pool, fc 1024", _madry,
                 ParamSet("madry-cnn", ())),
    Architecture("mlp", "fully connected ReLU net (Szegedy et al.'s FC100-100-10 by default)", _mlp,
                 ParamSet("mlp", (Param("hidden", str, (100, 100), "hidden layer widths, e.g. 100,100",
                                        convert=layer_widths, format=lambda w: ",".join(map(str, w))),))),
    Architecture("repu", "one hidden layer of rectified polynomial units max(h, 0)^n, normalised (Krotov & "
                 "Hopfield's dense associative memory)", _repu,
                 ParamSet("repu", (Param("n", float, 2.0, "the power n", 1.0, 100.0),
                                   Param("hidden", int, 1000, "hidden units", 1, 100_000)))),
)}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ModelError(f"unknown architecture {name!r}; use one of {', '.join(ARCHITECTURES)}, or a "
                         "torchvision network name for image folders") from None
