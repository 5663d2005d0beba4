"""Networks a user can train from scratch, by name: the built-in digit CNN, Madry's MNIST CNN, Szegedy's
fully connected net, a RePU^n net (Krotov & Hopfield 2017), and any torchvision classifier for image folders.
Every one takes *normalised* input (the loaded model's `Normalize` goes in front) and returns logits; a trained
model's sidecar JSON names its architecture and options, so `load_model(file)` builds the same net again."""
from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from .builtin_mnist import MnistNet
from .core.errors import ModelError, ParameterError, first_line
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


class DenseAssociativeMemory(nn.Module):
    """Krotov & Hopfield's dense associative memory classifier (2016, 2017): K memories over the pixels and the
    class units, an energy of rectified polynomials F_n(x) = max(x, 0)^n, and class alpha's score
    sum_mu [F_n(xi_mu . v_alpha+) - F_n(xi_mu . v_alpha-)] / T^n, where v_alpha+- is the image with class unit
    alpha at +1 or -1 and the other class units at -1. Pixels come in [-1, 1] (the architecture's normalisation).
    The score is returned as the logit; Krotov's output is tanh(score), and `loss` is his (t - tanh(score))^(2m).
    F_n(x / T) is computed instead of F_n(x) / T^n: the latter overflows float32 for n = 30."""

    def __init__(self, inputs: int, classes: int, memories: int, power: float, loss_power: int,
                 temperatures: tuple[float, float, int]):
        super().__init__()
        self.inputs, self.power, self.loss_power = inputs, power, loss_power
        self.temperatures = temperatures  # (start, end, epochs of the linear ramp)
        self.memories = nn.Parameter(torch.randn(memories, inputs + classes) * 0.3 - 0.3)  # Krotov's N(-0.3, 0.3)
        self.register_buffer("temperature", torch.tensor(float(temperatures[1])))  # saved with the weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels, labels = self.memories[:, : self.inputs], self.memories[:, self.inputs:]
        h = x.flatten(1) @ pixels.T - labels.sum(dim=1)  # every class unit at -1: (batch, K)
        rest = (torch.relu(h) / self.temperature) ** self.power
        raised = (torch.relu(h[:, :, None] + 2 * labels) / self.temperature) ** self.power  # unit alpha at +1
        return (raised - rest[:, :, None]).sum(dim=1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Krotov's loss: sum over classes of (t - tanh(score))^(2m), t = +1 for the label and -1 elsewhere; a
        large m makes it care only about the worst class, like a margin."""
        targets = nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype) * 2 - 1
        return ((targets - torch.tanh(logits)) ** (2 * self.loss_power)).sum(dim=1).mean()

    def epoch_started(self, epoch: int) -> None:
        """The temperature ramp of Krotov's recipe: from `start` to `end` over the first `ramp` epochs."""
        start, end, ramp = self.temperatures
        self.temperature.fill_(start + (end - start) * min(epoch, ramp) / max(ramp, 1))

    def extra_repr(self) -> str:
        return f"memories={self.memories.shape[0]}, power={self.power:g}, temperature={float(self.temperature):g}"


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
    normalization: tuple[float, float] | None = None  # (mean, std) of every channel instead of the data's
    training_defaults: Mapping[str, Any] = field(default_factory=dict)  # its recipe's training settings

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


def repu_temperatures(n: float, t_start: float = 0.0, t_end: float = 0.0) -> tuple[float, float]:
    """Krotov's recipe ramps T from 700 to 400 for n = 20 on 60,000 digits; on the 4,000 shipped ones the final
    T that trains grew with n (measured with seeds 0 and 1: n = 2 stayed at 10-17% for 125 epochs at T = 250
    with one seed, and trains at 350; n = 30 fell from 92% to 59% at T = 400, and trains at 650), hence the line
    through those, and a start 1.5 times higher. Given values win."""
    t_end = t_end or 350.0 + 300.0 * max(n - 2.0, 0.0) / 28.0
    return t_start or 1.5 * t_end, t_end


def _repu(shape, classes, n, memories, m, t_start, t_end, t_ramp):
    t_start, t_end = repu_temperatures(n, t_start, t_end)
    return DenseAssociativeMemory(shape[0] * shape[1] * shape[2], classes, memories, n, m, (t_start, t_end, t_ramp))


ARCHITECTURES: dict[str, Architecture] = {spec.name: spec for spec in (
    Architecture("mnist-cnn", "the built-in digit CNN (4 conv, 2 pool, fc 128, dropout 0.3)", _mnist_cnn,
                 ParamSet("mnist-cnn", ()), digits_only=True),
    Architecture("madry-cnn", "Madry et al.'s MNIST CNN: conv 5x5x32, pool, conv 5x5x64, pool, fc 1024", _madry,
                 ParamSet("madry-cnn", ())),
    Architecture("mlp", "fully connected ReLU net (Szegedy et al.'s FC100-100-10 by default)", _mlp,
                 ParamSet("mlp", (Param("hidden", str, (100, 100), "hidden layer widths, e.g. 100,100",
                                        convert=layer_widths, format=lambda w: ",".join(map(str, w))),))),
    Architecture("repu", "Krotov & Hopfield's dense associative memory: K memories, rectified polynomial "
                 "energy max(x, 0)^n, trained with their recipe", _repu,
                 ParamSet("repu", (Param("n", float, 20.0, "the power n of the rectified polynomial", 1.0, 100.0),
                                   Param("memories", int, 1000, "memories K", 1, 100_000),
                                   Param("m", int, 30, "power of the loss (t - tanh(score))^(2m)", 1, 100),
                                   Param("t_start", float, 0.0, "temperature T at the start (0: 1.5 t_end)",
                                         0.0, 1e6),
                                   Param("t_end", float, 0.0, "temperature T after the ramp (0: by n, "
                                         "350 + 300 (n - 2) / 28)", 0.0, 1e6),
                                   Param("t_ramp", int, 100, "epochs of the linear temperature ramp", 0, 100_000))),
                 normalization=(0.5, 0.5),  # pixels in [-1, 1], as Krotov's
                 training_defaults={"epochs": 300, "batch_size": 100, "optimizer": "krotov", "lr": 0.04,
                                    "lr_decay": 0.998, "augment": True}),
)}


@lru_cache(maxsize=1)
def torchvision_names() -> tuple[str, ...]:
    """The classification networks of torchvision (not its detection or segmentation ones), sorted."""
    import torchvision.models as tvm
    return tuple(sorted(tvm.list_models(module=tvm)))


def _torchvision_options(name: str, shape: tuple[int, int, int]) -> dict[str, Any]:
    """What a torchvision constructor needs beyond num_classes to train from scratch at `shape`: no auxiliary
    heads (Inception's need 299x299 in training and change the output), the vision transformers' image size."""
    if name in ("inception_v3", "googlenet"):
        return {"aux_logits": False, "init_weights": True}  # init_weights given: torchvision warns otherwise
    if name.startswith("vit_"):
        return {"image_size": shape[1]}
    if name.startswith("maxvit"):
        return {"input_size": shape[1:]}
    return {}


def _torchvision_architecture(name: str) -> Architecture:
    def build(shape, classes):
        import torchvision.models as tvm
        if shape[0] != 3:
            raise ModelError(f"{name} takes 3-channel (RGB) images, not {'x'.join(map(str, shape))}; train it on "
                             "an image folder (its option channels=rgb turns grey images into RGB)")
        try:  # weights=None: random initial weights, never a download
            net = tvm.get_model(name, weights=None, num_classes=classes, **_torchvision_options(name, shape))
        except (ValueError, AssertionError, RuntimeError, TypeError) as exc:
            raise ModelError(f"{name} cannot be built for {'x'.join(map(str, shape))} images: {first_line(exc)}")
        _probe(net, shape, name)
        return net
    return Architecture(name, f"torchvision's {name}, random initial weights (for image folders)", build,
                        ParamSet(name, ()))


def _probe(net: nn.Module, shape: tuple[int, int, int], name: str) -> None:
    """A forward pass on two grey images in eval mode (batch norm statistics untouched), so that an input the
    net cannot take (too small for its pooling, a size its patches do not divide) fails before any training."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.full((2, *shape), 0.5))
    except Exception as exc:
        raise ModelError(f"{name} does not take {'x'.join(map(str, shape))} images ({first_line(exc)}); resize "
                         "them with the folder option size=N, e.g. size=224") from None
    finally:
        net.train(was_training)


def get_architecture(name: str) -> Architecture:
    """A built-in architecture, or a torchvision classification network by name (e.g. resnet18)."""
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    if name in torchvision_names():
        return _torchvision_architecture(name)
    close = difflib.get_close_matches(name, [*ARCHITECTURES, *torchvision_names()], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ModelError(f"unknown architecture {name!r}{hint}; use one of {', '.join(ARCHITECTURES)}, or a torchvision "
                     "classification network for image folders, such as resnet18 or mobilenet_v3_small")
