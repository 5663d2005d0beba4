"""How universal a universal perturbation is across networks (Moosavi-Dezfooli et al. 2017, table 2): compute
`v` on each model and measure its fooling rate on every model; rows are the model `v` was computed on, columns
the model it was tested on. Beside them, each model's clean accuracy on the images the rates are measured on
(without v), when their true labels are known: a high fooling rate on a model that gets the images wrong anyway
says less."""
from __future__ import annotations

import csv
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..attacks.base import RunControl, Step
from .batches import EVAL_BATCH
from .uap import fooling_rate, universal
from ..core.errors import ParameterError
from ..core.files import atomic_open
from ..export import _font, save_image
from ..core.run import relay
from ..models import LoadedModel


@dataclass(frozen=True)
class CrossModelProgress:
    row: int  # the model whose perturbation is being computed
    rows: int
    step: Step


@dataclass(frozen=True)
class CrossModelTable:
    names: list[str]
    rates: np.ndarray  # (models, models): rates[i, j] = fooling rate on model j of the v computed on model i
    perturbations: list[np.ndarray]  # one (C, H, W) per row
    stopped: bool = False
    accuracies: np.ndarray | None = None  # (models,) clean accuracy without v, NaN where no labels were given

    def rows(self) -> list[dict[str, Any]]:
        """One row per model: the rates of its v on every model, then its own clean accuracy ("" unknown)."""
        accuracies = self.accuracies if self.accuracies is not None else np.full(len(self.names), np.nan)
        return [{"computed on": name, **{tested: f"{self.rates[i, j]:.4f}" for j, tested in enumerate(self.names)},
                 ACCURACY: "" if np.isnan(accuracies[i]) else f"{accuracies[i]:.4f}"}
                for i, name in enumerate(self.names)]


ACCURACY = "clean accuracy"  # the column of each model's accuracy without v


def clean_accuracy(model: LoadedModel, images: torch.Tensor, labels: torch.Tensor | None) -> float:
    """The fraction of `images` the model gives their true `labels`, batched; NaN without labels."""
    if labels is None or not len(images):
        return float("nan")
    _, predicted = model.predict(images, EVAL_BATCH)
    return float((predicted == labels.cpu()).float().mean())


def cross_model_table(models: Sequence[LoadedModel], images: torch.Tensor, heldout: torch.Tensor | None = None,
                      params: dict[str, Any] | None = None, control: RunControl | None = None,
                      labels: torch.Tensor | None = None) -> Generator[CrossModelProgress, None, CrossModelTable]:
    """One universal perturbation per model on `images`, each tested on every model over `heldout` (the
    images themselves when None), whose true `labels` (when known) give each model's clean accuracy. Models
    must share their input shape."""
    if len(models) < 2:
        raise ParameterError("a cross-model table needs at least two models")
    shapes = {tuple(m.input_shape) for m in models}
    if len(shapes) > 1:
        raise ParameterError(f"the models take different input shapes {sorted(shapes)}; choose models of one kind")
    tested_on = images if heldout is None else heldout
    if labels is not None and len(labels) != len(tested_on):
        raise ParameterError(f"{len(labels)} labels for {len(tested_on)} images to test on")
    accuracies = np.array([clean_accuracy(model, tested_on, labels) for model in models], dtype=np.float64)
    rates = np.full((len(models), len(models)), np.nan, dtype=np.float32)
    perturbations, stopped = [], False
    for row, model in enumerate(models):
        run = universal(model, images, control=control, **(params or {}))
        result = yield from relay(run, lambda step: CrossModelProgress(row, len(models), step))
        if result.stopped:
            stopped = True
            break
        v = torch.from_numpy(result.extras["perturbation"])
        perturbations.append(v[0].numpy())
        for column, other in enumerate(models):
            rates[row, column] = fooling_rate(other, tested_on, v)  # batched onto the model's device
    return CrossModelTable([m.name for m in models], rates, perturbations, stopped, accuracies)


def export_table(table: CrossModelTable, directory: str | Path) -> list[Path]:
    """cross_model.csv and cross_model.png (the table as a heat map with the rates written in), each with the
    models' clean accuracy in a last column."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / "cross_model.csv"
    with atomic_open(csv_path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["computed on", *table.names, ACCURACY])
        writer.writeheader()
        writer.writerows(table.rows())
    png_path = directory / "cross_model.png"
    save_image(png_path, table_picture(table))
    return [csv_path, png_path]


def table_picture(table: CrossModelTable, cell: int = 110) -> Image.Image:
    """Rows: computed on; columns: tested on; each cell shaded from white (0%) to red (100%); then, apart and
    unshaded (it is not a fooling rate), each row's model's clean accuracy."""
    count = len(table.names)
    label_w, header_h, gap = 170, 60, 16
    accuracy_x = label_w + count * cell + gap
    picture = Image.new("RGB", (accuracy_x + cell + 10, header_h + count * (cell // 2) + 30), "white")
    draw = ImageDraw.Draw(picture)
    font = _font(13)
    draw.text((label_w, 6), "tested on →", fill="dimgray", font=font)
    draw.text((6, header_h - 18), "computed on ↓", fill="dimgray", font=font)
    for j, name in enumerate(table.names):
        draw.text((label_w + j * cell + 6, 28), name[:16], fill="black", font=font)
    draw.text((accuracy_x + 6, 28), ACCURACY, fill="dimgray", font=font)
    accuracies = table.accuracies if table.accuracies is not None else np.full(count, np.nan)
    for i, name in enumerate(table.names):
        top = header_h + i * (cell // 2)
        draw.text((6, top + cell // 4 - 7), name[:22], fill="black", font=font)
        for j in range(count):
            rate = float(table.rates[i, j])
            known = not np.isnan(rate)
            shade = (255, int(255 - 200 * rate), int(255 - 200 * rate)) if known else (230, 230, 230)
            box = (label_w + j * cell, top, label_w + (j + 1) * cell - 2, top + cell // 2 - 2)
            draw.rectangle(box, fill=shade, outline="gray")
            draw.text((box[0] + cell // 3, top + cell // 4 - 7), f"{rate:.1%}" if known else "-", fill="black",
                      font=font)
        box = (accuracy_x, top, accuracy_x + cell - 2, top + cell // 2 - 2)
        draw.rectangle(box, fill="white", outline="gray")
        accuracy = float(accuracies[i])
        draw.text((box[0] + cell // 3, top + cell // 4 - 7), "-" if np.isnan(accuracy) else f"{accuracy:.1%}",
                  fill="black", font=font)
    return picture
