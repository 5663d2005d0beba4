"""The Fooling workspace's jobs, run in the worker thread by its job slots: continuing an archive read from a
file, loading the second model, its verdict on the elites, the real images of the classes, and the export.
Arrays handed to the GUI thread are copies, never views of tensors a run keeps changing."""
from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core import RunControl
from engine.core.errors import ParameterError
from engine.core.files import check_output_dir
from engine.data import heldout_digits, to_model_input
from engine.fooling.archive import EMPTY, Archive
from engine.fooling.export import SecondOpinion, export_fooling, second_opinion
from engine.fooling.runs import FoolingResult, fooling_run, load_archive
from engine.models import LoadedModel, load_model


@dataclass(frozen=True)
class ArchiveRead:
    """The first step of Resume from file: the archive as read, drawn before the evolution continues. (Its
    pictures are not in a field the job bridge may drop when frames pile up: this step is drawn only once.)"""

    path: str
    method: str
    classes: np.ndarray  # (K,) int64
    elites: np.ndarray  # (K, C, H, W) float32
    confidence: np.ndarray  # (K,)
    history: np.ndarray  # (G, K): the cells' confidence per generation done
    generation: int


@dataclass(frozen=True)
class RealImages:
    """Real images of the model's data with their true labels (or, for loaded images without labels, the
    model's predictions) and the model's probabilities: what a clicked elite is shown next to."""

    images: torch.Tensor  # (N, C, H, W)
    labels: torch.Tensor  # (N,)
    probs: torch.Tensor  # (N, classes)
    what: str  # "held-out digits", "loaded images"


def snapshot(archive: Archive, method: str, path: str = "") -> ArchiveRead:
    history = np.stack(archive.history) if archive.history else np.zeros((0, len(archive)), np.float32)
    return ArchiveRead(path, method, archive.classes.numpy().copy(), archive.images.numpy().copy(),
                       archive.confidence.numpy().copy(), history.astype(np.float32), archive.generation)


def resumed_from_file(path: str, method: str, model: LoadedModel, params: Mapping[str, Any],
                      control: RunControl) -> Generator[object, None, FoolingResult]:
    """Read a saved archive (checked against the method, its settings and the model), show it, and continue its
    evolution up to `params["generations"]` (nothing more to do when it got there already)."""
    archive = load_archive(path, method, model, params)
    yield snapshot(archive, method, path)
    return (yield from fooling_run(model, method, archive.classes.tolist(), params, control, archive))


def second_model(spec: str, device: str, model: LoadedModel) -> LoadedModel:
    """The model the elites are shown to. As in the Compare workspace, a file that would run code when read is
    refused (its error says so) rather than trusted from here."""
    other = load_model(spec, device)
    check_second_model(other, model)
    return other


def check_second_model(other: LoadedModel, model: LoadedModel) -> None:
    if other.num_classes != model.num_classes:
        raise ParameterError(f"the second model {other.name} has {other.num_classes} classes, {model.name} "
                             f"{model.num_classes}: the elites can only be shown to a model of the same classes")


def opinion_of(other: LoadedModel, images: torch.Tensor, classes: torch.Tensor) -> SecondOpinion:
    """The second model's verdict on the elites, converted to its input (channels, size) first."""
    return second_opinion(other, to_model_input(images, other), classes)


def real_images(model: LoadedModel) -> RealImages:
    """The held-out digits with their labels and the model's probabilities (digit models only)."""
    batch = heldout_digits(model)
    probs, _ = model.predict(batch.images)
    return RealImages(batch.images, batch.labels, probs, "held-out digits")


def of_class(real: RealImages, index: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` real images of class `index` and the model's probability of that class for each."""
    members = torch.nonzero(real.labels == index)[:, 0][:count]
    return real.images[members], real.probs[members, index]


def export_run(result: FoolingResult, names: Sequence[str], directory: str | Path, other: LoadedModel | None
               ) -> list[Path]:
    """The folder checked first, the second model's verdict on the elites taken now (so that it is the
    archive's), then every file of `export_fooling`."""
    directory = check_output_dir(directory, "the export folder")
    archive = result.archive
    opinion = None if other is None else opinion_of(other, archive.images, archive.classes)
    return export_fooling(result, names, directory, opinion, other.name if other else "")


def history_summary(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G,) mean and median of the reached cells per row of a (G, K) history, as the archive's own summary
    counts them: torch's median, the lower of the two middle values (0 for a row where no cell was reached)."""
    if history.size == 0:
        return np.zeros(0), np.zeros(0)
    reached = history > EMPTY
    count = reached.sum(1)
    total = np.where(reached, history, 0).sum(1, dtype=np.float64)
    mean = np.divide(total, count, out=np.zeros(len(history)), where=count > 0)
    ordered = np.sort(np.where(reached, history, np.inf), axis=1)  # cells not reached sort last
    middle = ordered[np.arange(len(history)), np.maximum(count - 1, 0) // 2]
    return mean, np.where(count > 0, middle, 0.0)
