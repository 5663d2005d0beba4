"""The worker-thread side of the Universal workspace: each function reads what it needs (the image set, other
models, files), runs the engine computation and writes exports, so that the GUI thread only draws."""
from __future__ import annotations

import csv
from collections.abc import Generator
from pathlib import Path

import numpy as np
import torch

import engine.universal  # noqa: F401  (registers the universal attacks)
from engine.attacks import get_attack
from engine.core import RunControl
from engine.core.errors import ParameterError
from engine.core.files import atomic_open
from engine.export import perturbation_rgb, save_npy
from engine.models import LoadedModel, load_model
from engine.universal.cross_model import cross_model_table
from engine.universal.gallery import GalleryProgress, gallery_steps, read_gallery, split_heldout
from engine.visualize import save_picture

from ...session import LOADED, DatasetSource


def perturbation_picture(delta_chw: np.ndarray) -> np.ndarray:
    """A perturbation amplified to its full range (symmetric colours, white or grey = unchanged), HWC uint8."""
    return perturbation_rgb(np.asarray(delta_chw, dtype=np.float32))


def read_set(model: LoadedModel, source: DatasetSource, loaded: torch.Tensor | None) -> torch.Tensor:
    """The images of the chosen set for `model`."""
    if source.kind == LOADED:
        if loaded is None or not len(loaded):
            raise ValueError("load some images first")
        return loaded
    return source.read(model).images


def uap_steps(model: LoadedModel, source: DatasetSource, loaded, params: dict, control: RunControl) -> Generator:
    computed_on, measured_on = split_heldout(read_set(model, source, loaded), fraction=0.5)
    return (yield from get_attack("uap").fn(model, computed_on, control=control, heldout=measured_on, **params))


def targeted_steps(model: LoadedModel, source: DatasetSource, loaded, target: int, params: dict,
                   control: RunControl, preview_of: torch.Tensor | None = None) -> Generator:
    """The targeted universal image; returns (result, `verdicts` on `preview_of` with and without it), so
    that the selected image is shown with delta as soon as the result is."""
    computed_on, measured_on = split_heldout(read_set(model, source, loaded), fraction=0.5)
    result = yield from get_attack("targeted-universal").fn(model, computed_on, target=target, control=control,
                                                            heldout=measured_on, **params)
    preview = None if preview_of is None else verdicts(model, preview_of, result.extras["perturbation"][0])
    return result, preview


def read_labelled_set(model: LoadedModel, source: DatasetSource, loaded: torch.Tensor | None,
                      loaded_labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images of the chosen set for `model`, with their true labels when the set has them."""
    if source.kind == LOADED:
        return read_set(model, source, loaded), loaded_labels
    batch = source.read(model)
    return batch.images, batch.labels


def shape_text(shape) -> str:
    return "×".join(map(str, shape))


def model_to_compare(spec: str, current: LoadedModel) -> LoadedModel:
    """Worker-thread part of adding a model to the cross-model list: the model, loaded on the device of the
    loaded one, or ParameterError when it takes images of another shape (v is added to the same images)."""
    model = load_model(spec, current.device)
    if tuple(model.input_shape) != tuple(current.input_shape):
        raise ParameterError(f"{model.name} takes {shape_text(model.input_shape)} images and {current.name} "
                             f"{shape_text(current.input_shape)}: a cross-model table compares models of one "
                             f"input shape")
    return model


def cross_model_steps(current: LoadedModel, others: list[LoadedModel], source: DatasetSource, loaded,
                      loaded_labels, params: dict, control: RunControl) -> Generator:
    """The loaded model and the others, each v computed on one half of the set and measured on the other (where
    the models' clean accuracy is measured too, when the set has true labels)."""
    images, labels = read_labelled_set(current, source, loaded, loaded_labels)
    computed_on, measured_on = split_heldout(torch.arange(len(images)), fraction=0.5)  # as the other tabs split
    measured_labels = None if labels is None else labels[measured_on]
    return (yield from cross_model_table([current, *others], images[computed_on], images[measured_on], params,
                                         control, labels=measured_labels))


def gallery_run(model: LoadedModel, source: DatasetSource, loaded, folder: str, classes: list[int] | None,
                params: dict, control: RunControl) -> Generator:
    """The classes already in the folder first (one progress record each, so they appear at once), then the
    run that learns the missing ones."""
    chosen = range(model.num_classes) if classes is None else classes
    finished = read_gallery(folder, model.input_shape).entries
    for done, class_index in enumerate(sorted(set(finished) & set(chosen)), start=1):
        yield GalleryProgress(done, len(chosen), class_index, None, finished[class_index])
    return (yield from gallery_steps(model, read_set(model, source, loaded), folder, classes, params, control))


def perturbed(images: torch.Tensor, delta: np.ndarray) -> torch.Tensor:
    return (images + torch.from_numpy(delta)).clamp(0, 1)


def verdicts(model: LoadedModel, images: torch.Tensor, delta: np.ndarray | None) -> tuple[torch.Tensor, ...]:
    """The images, then the images plus `delta` when given, and the model's probabilities for them all."""
    pictures = images if delta is None else torch.cat([images, perturbed(images, delta)])
    probs, _ = model.predict(pictures)
    return pictures, probs


def class_examples(model: LoadedModel, images: torch.Tensor, delta: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Images of a class with its perturbation added, and the classes the model then predicts."""
    applied = perturbed(images, delta)
    _, predicted = model.predict(applied)
    return applied, predicted


def write_rows(path: Path, header: list[str], rows) -> Path:
    with atomic_open(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def export_perturbation(directory: Path, stem: str, perturbation: np.ndarray) -> list[Path]:
    """The amplified picture (PNG and .npy of it) and the perturbation itself, as given, as `stem.npy`."""
    first = np.asarray(perturbation).reshape(-1, *perturbation.shape[-3:])[0]
    files = save_picture(directory, f"{stem}_amplified", perturbation_picture(first).transpose(2, 0, 1) / 255.0)
    save_npy(directory / f"{stem}.npy", perturbation)
    return files + [directory / f"{stem}.npy"]


def export_uap(directory: Path, perturbation: np.ndarray, fooling_rates: np.ndarray) -> list[Path]:
    files = export_perturbation(directory, "uap_v", perturbation)
    return files + [write_rows(directory / "uap_fooling_rates.csv", ["pass", "fooling_rate"],
                               enumerate(fooling_rates.tolist(), start=1))]
