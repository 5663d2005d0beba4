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
from .recipes import KrotovSteps, random_affine

TRAINING = ParamSet("train", (
    Param("epochs", int, 10, "passes over the training images", 1, 10_000),
    Param("batch_size", int, 64, "images per optimizer step", 1, 65_536),
    Param("optimizer", str, "adam", "Adam, SGD with momentum 0.9, or Krotov's normalised steps (momentum 0.6, "
          "each row's largest step = lr, weights clipped to [-1, 1]; repu's recipe)", choices=("adam", "sgd", "krotov"),
          titles=("Adam", "SGD (momentum 0.9)", "Krotov (normalised steps)")),
    Param("lr", float, 1e-3, "learning rate", 0.0, 10.0, above=True),
    Param("lr_decay", float, 1.0, "factor of the learning rate after each epoch", 0.0, 1.0, above=True),
    Param("augment", bool, False, "random shifts (up to 2 px), rotations (10 degrees) and scalings (10%) of each "
          "training image"),
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
    notes: list[str] = field(default_factory=list)  # what reading skipped or converted, one line each
    recipe: dict[str, Any] = field(default_factory=dict)  # how to read it again ({"data": ...}), when known

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])


def training_digits() -> TrainingData:
    """The 4,000 digits the built-in model was trained on, and its 1,000 held-out digits (shipped)."""
    images, labels = builtin_mnist.load_training_digits()
    heldout, heldout_labels = builtin_mnist.load_heldout()
    return TrainingData(torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(heldout),
                        torch.from_numpy(heldout_labels), builtin_mnist.DIGIT_NAMES, "samples", "mnist",
                        builtin_mnist.MNIST_MEAN, builtin_mnist.MNIST_STD, recipe={"data": "samples"})


def disjoint_halves(data: TrainingData, seed: int = 0) -> tuple[TrainingData, TrainingData]:
    """The training images split in two disjoint random halves (the same held-out images): one architecture
    trained on each is the cross-training-set case of transferability (Szegedy et al. 2013)."""
    order = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(seed))
    halves = order[: len(order) // 2], order[len(order) // 2:]
    return tuple(TrainingData(data.images[half], data.labels[half], data.heldout_images, data.heldout_labels,
                              data.class_names, f"{data.name} half {i + 1}", data.domain, data.mean, data.std,
                              recipe={**data.recipe, "half": i + 1, "halves_seed": seed})
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
class PartialEpoch:
    """An epoch stopped part-way: its order of the training images, the batches done, their losses, its seconds."""

    order: torch.Tensor
    batches_done: int = 0
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Trainer:
    """Everything a training run continues from (in memory, or from the file `saving.save_trained` writes)."""

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
    partial: PartialEpoch | None = None  # set while an epoch is stopped part-way: continuing finishes it
    data_recipe: dict[str, Any] = field(default_factory=dict)  # the training data, as TrainingData.recipe
    # torch's global generator (dropout draws from it) when the run last returned, so a file continues exactly
    global_rng: torch.Tensor | None = None


def new_trainer(arch: str, data: TrainingData, params: Mapping[str, Any] | None = None,
                arch_options: Mapping[str, Any] | None = None, defense: str = "none",
                defense_options: Mapping[str, Any] | None = None, device: str = "cpu") -> Trainer:
    """A freshly initialised network of `arch` for `data`, with its optimizer, ready for `train_steps`."""
    architecture = get_architecture(arch)
    params = TRAINING.resolve({**architecture.training_defaults, **dict(params or {})})  # its recipe, then the user
    options = architecture.options.resolve(dict(arch_options or {}))
    torch.manual_seed(params["seed"])  # the initial weights
    net = architecture.create(data.input_shape, len(data.class_names), options)
    if params["batch_size"] == 1 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        raise ParameterError(f"batch_size=1: {arch} has batch norm, which needs at least 2 images per batch")
    mean, std = data.mean, data.std
    if architecture.normalization is not None:
        mean, std = (tuple([value] * data.input_shape[0]) for value in architecture.normalization)
    module = Classifier(net, mean, std).to(device)
    name = f"trained {arch}" if defense == "none" else f"{defense}-trained {arch}"
    name += "".join(f" {key}={value}" for key, value in _changed_options(architecture.options, options).items())
    model = LoadedModel(module, name, data.input_shape,
                        data.class_names, f"trained here: {arch} on {data.name}", data.domain, device,
                        training={"defense": defense})
    return Trainer(model, arch, options, defense, defense_params(defense, defense_options), params,
                   new_optimizer(params, module.parameters()),
                   torch.Generator().manual_seed(params["seed"]), data_recipe=dict(data.recipe))


def _changed_options(declared: ParamSet, options: Mapping[str, Any]) -> dict[str, str]:
    """The architecture options set away from their defaults ("n=2"), to tell models apart by name; commas
    become dashes because names head CSV columns."""
    changed = {}
    for param in declared.params:
        if options.get(param.name, param.default) != param.default:
            changed[param.name] = param.text(options[param.name]).replace(",", "-")
    return changed


def new_optimizer(params: Mapping[str, Any], weights) -> torch.optim.Optimizer:
    if params["optimizer"] == "krotov":
        return KrotovSteps(weights, lr=params["lr"])
    if params["optimizer"] == "sgd":
        return torch.optim.SGD(weights, lr=params["lr"], momentum=0.9)
    return torch.optim.Adam(weights, lr=params["lr"])


def train_steps(trainer: Trainer, data: TrainingData, epochs: int | None = None,
                control: RunControl | None = None) -> Generator[TrainProgress, None, Trainer]:
    """Train until `epochs` (default: the trainer's setting) are done in all; continue where the trainer was.
    A stop request ends the run after the current batch, keeping the weights reached and where the epoch was:
    continuing finishes that epoch with the batches it had left (the same order), so a run stopped and
    continued ends where an uninterrupted one does."""
    _check_data(trainer, data)
    total = trainer.params["epochs"] if epochs is None else int(epochs)
    trainer.stopped = False
    while trainer.epochs_done < total:
        epoch = trainer.epochs_done + 1
        if trainer.partial is None:
            trainer.partial = PartialEpoch(torch.randperm(len(data.images), generator=trainer.data_generator))
        partial = trainer.partial
        started = time.perf_counter() - partial.seconds
        chunks = batches_of(partial.order, trainer.params["batch_size"])
        trainer.model.module.train()
        _epoch_started(trainer, epoch)
        for index in range(partial.batches_done, len(chunks)):
            if control is not None and control.stop_requested:
                partial.seconds = time.perf_counter() - started
                return _returned(trainer, stopped=True)
            loss = _train_batch(trainer, data, chunks[index], seed=trainer.params["seed"] * 1_000_003 +
                                epoch * 10_007 + index)
            partial.losses.append(loss)
            partial.batches_done = index + 1
            yield TrainProgress(epoch, total, index + 1, len(chunks), loss)
        trainer.model.module.eval()
        clean, robust = evaluate(trainer, data)
        record = EpochRecord(epoch, float(np.mean(partial.losses)), clean, robust, time.perf_counter() - started)
        trainer.history.append(record)
        trainer.epochs_done, trainer.partial = epoch, None
        for group in trainer.optimizer.param_groups:  # kept in the optimizer's state, so a resumed run has it
            group["lr"] *= trainer.params["lr_decay"]
        yield TrainProgress(epoch, total, len(chunks), len(chunks), record.loss, record)
    return _returned(trainer, stopped=False)


def batches_of(order: torch.Tensor, size: int) -> list[torch.Tensor]:
    """`order` in batches of `size`; a lone image left at the end joins the batch before it, because batch norm
    cannot train on a batch of one (torchvision's networks raise)."""
    chunks = list(order.split(size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2:] = [torch.cat(chunks[-2:])]
    return chunks


def _epoch_started(trainer: Trainer, epoch: int) -> None:
    """The network's own schedule, when it has one (repu's temperature ramp), for the 0-based epoch."""
    hook = getattr(trainer.model.module.net, "epoch_started", None)
    if hook is not None:
        hook(epoch - 1)


def _train_batch(trainer: Trainer, data: TrainingData, chosen: torch.Tensor, seed: int) -> float:
    device = trainer.model.device
    x, y = data.images[chosen], data.labels[chosen].to(device)
    if trainer.params["augment"]:
        x = random_affine(x, trainer.data_generator)
    x = x.to(device)
    loss = batch_loss(trainer.model, x, y, trainer.defense, trainer.defense_options, seed=seed)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    trainer.optimizer.step()
    return float(loss.detach())


def _returned(trainer: Trainer, stopped: bool) -> Trainer:
    trainer.stopped = stopped
    trainer.model.module.eval()
    trainer.global_rng = torch.get_rng_state()
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
    if tuple(data.class_names) != tuple(trainer.model.class_names):
        raise ParameterError(f"the training data has the classes {', '.join(data.class_names)}, but the model "
                             f"was made for {', '.join(trainer.model.class_names)}")
    if trainer.partial is not None and len(trainer.partial.order) != len(data.images):
        raise ParameterError(f"the stopped epoch was over {len(trainer.partial.order)} training images, but the "
                             f"training data now has {len(data.images)}; continue on the same data")

