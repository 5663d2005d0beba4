"""Training a classifier live: a generator that yields one record per batch (loss) and per epoch (clean and
robust held-out accuracy), stops within one batch when asked, and returns a `Trainer` that a later call
continues from (the weights, the optimizer's state, the epochs done and the curves so far)."""
from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import time

import numpy as np
import torch

from .. import builtin_mnist
from ..architectures import get_architecture
from ..attacks import get_attack
from ..attacks.base import RunControl, logits_in_batches
from ..core.errors import ParameterError
from ..core.params import Param, ParamSet
from ..core.run import run_to_end
from ..models import Classifier, LoadedModel
from .defenses import batch_loss, defense_params

TRAINING = ParamSet("train", (
    Param("epochs", int, 10, "passes over the training images", 1, 10_000),
    Param("batch_size", int, 64, "images per optimizer step", 1, 65_536),
    Param("optimizer", str, "adam", "Adam or SGD with momentum 0.9", choices=("adam", "sgd"),
          titles=("Adam", "SGD (momentum 0.9)")),
    Param("lr", float, 1e-3, "learning rate", 0.0, 10.0, above=True),
    Param("seed", int, 0, "seed of the initial weights, the batches and the attacks' random starts", 0, 2**31 - 1),
    Param("robust_steps", int, 10, "PGD steps of the robust accuracy measured after each epoch (0: none)", 0,
          1000),
    Param("eval_images", int, 500, "held-out images the accuracies are measured on", 1, 1_000_000),
), summary="training from scratch, with an optional defense")


@dataclass
class TrainingData:
    """Images in [0, 1] (N, C, H, W) with labels, the held-out part to measure on, and the class names."""

    images: torch.Tensor
    labels: torch.Tensor
    heldout_images: torch.Tensor
    heldout_labels: torch.Tensor
    class_names: tuple[str, ...]
    name: str
    domain: str = "custom"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])


def training_digits() -> TrainingData:
    """The 4,000 digits the built-in model was trained on, and its 1,000 held-out digits (shipped)."""
    images, labels = builtin_mnist.load_training_digits()
    heldout, heldout_labels = builtin_mnist.load_heldout()
    return TrainingData(torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(heldout),
                        torch.from_numpy(heldout_labels), builtin_mnist.DIGIT_NAMES, "samples", "mnist",
                        builtin_mnist.MNIST_MEAN, builtin_mnist.MNIST_STD)


def disjoint_halves(data: TrainingData, seed: int = 0) -> tuple[TrainingData, TrainingData]:
    """The training images split in two disjoint random halves (the same held-out images): one architecture
    trained on each is the cross-training-set case of transferability (Szegedy et al. 2013)."""
    order = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))
    halves = order[: len(order) // 2], order[len(order) // 2:]
    return tuple(TrainingData(data.images[half], data.labels[half], data.heldout_images, data.heldout_labels,
                              data.class_names, f"{data.name} half {i + 1}", data.domain, data.mean, data.std)
                 for i, half in enumerate(halves))


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    loss: float  # mean training loss of the epoch
    clean_accuracy: float  # on the held-out images
    robust_accuracy: float | None  # under PGD of the defense's (or MNIST's) budget, None when not measured
    seconds: float

    def describe(self) -> str:
        robust = "" if self.robust_accuracy is None else f", under PGD {self.robust_accuracy:.1%}"
        return (f"epoch {self.epoch}: loss {self.loss:.4f}, held-out accuracy {self.clean_accuracy:.1%}{robust} "
                f"({self.seconds:.0f} s)")


@dataclass(frozen=True)
class TrainProgress:
    """One batch done (`batch` of `batches` in `epoch`), or an epoch done (`record` set)."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    record: EpochRecord | None = None


@dataclass
class Trainer:
    """Everything a training run continues from."""

    model: LoadedModel
    arch: str
    arch_options: dict[str, Any]
    defense: str
    defense_options: dict[str, Any]
    params: dict[str, Any]
    optimizer: torch.optim.Optimizer
    data_generator: torch.Generator
    epochs_done: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    stopped: bool = False


def new_trainer(arch: str, data: TrainingData, params: Mapping[str, Any] | None = None,
                arch_options: Mapping[str, Any] | None = None, defense: str = "none",
                defense_options: Mapping[str, Any] | None = None, device: str = "cpu") -> Trainer:
    """A freshly initialised network of `arch` for `data`, with its optimizer, ready for `train_steps`."""
    params = TRAINING.resolve(dict(params or {}))
    architecture = get_architecture(arch)
    options = architecture.options.resolve(dict(arch_options or {}))
    torch.manual_seed(params["seed"])  # the initial weights
    net = architecture.create(data.input_shape, len(data.class_names), options)
    module = Classifier(net, data.mean, data.std).to(device)
    name = f"trained {arch}" if defense == "none" else f"{defense}-trained {arch}"  # no comma: names head CSV columns
    model = LoadedModel(module, name, data.input_shape,
                        data.class_names, f"trained here: {arch} on {data.name}", data.domain, device,
                        training={"defense": defense})
    optimizer = (torch.optim.Adam(module.parameters(), lr=params["lr"]) if params["optimizer"] == "adam" else
                 torch.optim.SGD(module.parameters(), lr=params["lr"], momentum=0.9))
    return Trainer(model, arch, options, defense, defense_params(defense, defense_options), params, optimizer,
                   torch.Generator().manual_seed(params["seed"]))


def train_steps(trainer: Trainer, data: TrainingData, epochs: int | None = None,
                control: RunControl | None = None) -> Generator[TrainProgress, None, Trainer]:
    """Train until `epochs` (default: the trainer's setting) are done in all; continue where the trainer was.
    A stop request ends the run after the current batch (the weights reached are kept; the epoch is not
    counted)."""
    _check_data(trainer, data)
    total = trainer.params["epochs"] if epochs is None else int(epochs)
    size = trainer.params["batch_size"]
    batches = -(-len(data.images) // size)
    device = trainer.model.device
    trainer.stopped = False
    while trainer.epochs_done < total:
        epoch = trainer.epochs_done + 1
        started, losses = time.perf_counter(), []
        trainer.model.module.train()
        order = torch.randperm(len(data.images), generator=trainer.data_generator)
        for index, chosen in enumerate(order.split(size)):
            if control is not None and control.stop_requested:
                trainer.stopped = True
                trainer.model.module.eval()
                return trainer
            x, y = data.images[chosen].to(device), data.labels[chosen].to(device)
            loss = batch_loss(trainer.model, x, y, trainer.defense, trainer.defense_options,
                              seed=trainer.params["seed"] * 1_000_003 + epoch * 10_007 + index)
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            trainer.optimizer.step()
            losses.append(float(loss.detach()))
            yield TrainProgress(epoch, total, index + 1, batches, losses[-1])
        trainer.model.module.eval()
        clean, robust = evaluate(trainer, data)
        record = EpochRecord(epoch, float(np.mean(losses)), clean, robust, time.perf_counter() - started)
        trainer.history.append(record)
        trainer.epochs_done = epoch
        yield TrainProgress(epoch, total, batches, batches, record.loss, record)
    trainer.model.module.eval()
    return trainer


def evaluate(trainer: Trainer, data: TrainingData) -> tuple[float, float | None]:
    """Clean accuracy on the first `eval_images` held-out images, and their accuracy under PGD (the defense's
    budget, else eps 0.3 / 0.01 for digits and 8/255 / 2/255 otherwise) with `robust_steps` steps."""
    count = trainer.params["eval_images"]
    x, y = data.heldout_images[:count], data.heldout_labels[:count]
    model = trainer.model
    predictions = logits_in_batches(model, x.to(model.device)).argmax(dim=1).cpu()
    clean = float((predictions == y).float().mean())
    steps = trainer.params["robust_steps"]
    if steps == 0:
        return clean, None
    eps, step = _robust_budget(trainer, data)
    result = run_to_end(get_attack("pgd").fn(model, x, y, eps=eps, step=step, steps=steps, random_start=True,
                                             seed=trainer.params["seed"]))
    return clean, float((result.pred_after == y).float().mean())


def _robust_budget(trainer: Trainer, data: TrainingData) -> tuple[float, float]:
    """The PGD defense's eps, else 0.3 for digits and 8/255 otherwise; steps of 2.5 eps / steps (Madry)."""
    eps = trainer.defense_options["eps"] if trainer.defense == "pgd" else 0.3 if data.domain == "mnist" else 8 / 255
    return eps, 2.5 * eps / trainer.params["robust_steps"]


def _check_data(trainer: Trainer, data: TrainingData) -> None:
    if tuple(data.input_shape) != tuple(trainer.model.input_shape):
        raise ParameterError(f"the training images are {'x'.join(map(str, data.input_shape))}, but the model "
                             f"takes {'x'.join(map(str, trainer.model.input_shape))}")
    if len(data.images) == 0 or len(data.heldout_images) == 0:
        raise ParameterError("training needs images to train on and held-out images to measure on")

