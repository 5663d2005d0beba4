"""Comparing models: the robustness table of the ADef talk (model, defense, clean accuracy, FGSM / PGD / ADef
success, DeepFool's median size) and the transferability matrix (Szegedy et al. 2013; Papernot et al. 2016):
adversarial images made on one model (rows) shown to every model (columns), with a row of Gaussian noise of the
same average L2 size as the first row's perturbations."""
from __future__ import annotations

import csv
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..attacks import get_attack
from ..attacks.base import RunControl
from ..core.errors import ParameterError
from ..core.files import atomic_open
from ..core.run import relay
from ..data import ImageBatch
from ..experiments import DatasetProgress, attack_dataset
from ..export import save_image, table_image
from ..models import LoadedModel

ROBUSTNESS_ATTACKS = ("fgsm", "pgd", "adef", "deepfool")


@dataclass(frozen=True)
class ComparisonProgress:
    """Which model (and attack) is being worked on, with the dataset run's progress."""

    model: str
    attack: str
    done: int  # models (or rows) finished
    total: int
    step: DatasetProgress | None = None


def _check_models(models: Sequence[LoadedModel], images: ImageBatch) -> None:
    if not models:
        raise ParameterError("compare at least one model")
    shapes = {tuple(model.input_shape) for model in models}
    if len(shapes) != 1:
        inputs = ", ".join(f"{m.name}: {'x'.join(map(str, m.input_shape))}" for m in models)
        raise ParameterError(f"the models take different inputs ({inputs}); compare models of one input shape")
    if images.labels is None:
        raise ParameterError("these images have no true labels; use `samples` or labelled data")


# --- the robustness table --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RobustnessRow:
    model: str
    defense: str
    accuracy: float
    success: dict[str, float]  # attack -> success on the correctly classified images
    deepfool_median_l2: float | None


def defense_of(model: LoadedModel) -> str:
    return model.training.get("defense", "none") if model.training else "unknown"


def robustness_table(models: Sequence[LoadedModel], images: ImageBatch, params: Mapping[str, Mapping] | None = None,
                     control: RunControl | None = None
                     ) -> Generator[ComparisonProgress, None, list[RobustnessRow]]:
    """Per model: clean accuracy and the success of each attack of ROBUSTNESS_ATTACKS (its domain's defaults,
    overridden by `params[attack]`) on the images it classifies correctly, as the papers count it (ADef: with
    ||tau||_T <= 3 pixels)."""
    _check_models(models, images)
    rows = []
    for index, model in enumerate(models):
        success, median, accuracy = {}, None, 0.0
        for name in ROBUSTNESS_ATTACKS:
            spec = get_attack(name)
            values = spec.resolve(dict((params or {}).get(name, {})), model.domain)
            run = attack_dataset(spec, model, images, values, only_correct=True, control=control)
            stats = yield from relay(run, lambda step, m=model.name, a=name: ComparisonProgress(
                m, a, index, len(models), step))
            accuracy = stats.accuracy
            # deformations count when ||tau||_T <= 3 pixels, as the ADef talk's table of defended models does
            success[name] = stats.success_under(stats.default_threshold) if stats.default_threshold else \
                stats.success_rate
            if name == "deepfool" and stats.fooled.any():
                median = float(np.median(stats.sizes[stats.fooled]))
            if control is not None and control.stop_requested:
                break
        rows.append(RobustnessRow(model.name, defense_of(model), accuracy, success, median))
        if control is not None and control.stop_requested:
            break
    return rows


def export_robustness(rows: Sequence[RobustnessRow], directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    header = ["model", "defense", "accuracy"] + [f"{name}_success" + ("_tau<=3" if name == "adef" else "")
                                                 for name in ROBUSTNESS_ATTACKS] + ["deepfool_median_l2"]
    table = [[row.model, row.defense, f"{row.accuracy:.4f}"] + [f"{row.success.get(n, float('nan')):.4f}"
                                                                 for n in ROBUSTNESS_ATTACKS]
             + ["" if row.deepfool_median_l2 is None else f"{row.deepfool_median_l2:.4f}"] for row in rows]
    csv_path = _write_csv(directory / "robustness.csv", header, table)
    shades = [[None, None, None] + [row.success.get(n) for n in ROBUSTNESS_ATTACKS] + [None] for row in rows]
    picture = save_image(directory / "robustness.png", table_image(
        "Robustness: accuracy, and attack success on the correctly classified images", header,
        [[r[0], r[1]] + [f"{float(v):.1%}" for v in r[2:-1]] + [r[-1]] for r in table], shades))
    return [csv_path, picture]


# --- the transferability matrix --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TransferMatrix:
    sources: tuple[str, ...]  # row names; the last is "noise"
    targets: tuple[str, ...]
    flip_rate: np.ndarray  # (rows, columns): share of images whose prediction changed from the clean one
    error: np.ndarray  # (rows, columns): share misclassified against the true labels
    attack: str
    params: dict[str, Any]
    noise_l2: float  # the L2 size of the noise row's perturbations (the first row's mean)


def transfer_matrix(models: Sequence[LoadedModel], images: ImageBatch, attack: str = "pgd",
                    params: Mapping[str, Any] | None = None, seed: int = 0, control: RunControl | None = None
                    ) -> Generator[ComparisonProgress, None, TransferMatrix]:
    """Adversarial images of `attack` made on each model, shown to every model; plus Gaussian noise scaled to
    the first model's mean L2 perturbation size (clipped to [0, 1])."""
    _check_models(models, images)
    spec = get_attack(attack)
    if spec.universal:
        raise ParameterError(f"{attack} is a universal attack; choose a per-image attack (fgsm, pgd, ...)")
    given = dict(params or {})
    rows, used = [], {}
    for index, model in enumerate(models):
        used = spec.resolve(given, model.domain)
        run = attack_dataset(spec, model, images, used, only_correct=False, control=control)
        stats = yield from relay(run, lambda step, m=model.name: ComparisonProgress(m, attack, index,
                                                                                     len(models), step))
        rows.append(stats.result.adversarial)
        if control is not None and control.stop_requested:
            raise ParameterError("stopped before every model's adversarial images were made")
    clean = images.images[: len(rows[0])]
    noise_l2 = float((rows[0] - clean).flatten(1).norm(dim=1).mean())
    rows.append(gaussian_noise_like(clean, noise_l2, seed))
    labels = images.labels[: len(clean)]
    baselines = [model.predict(clean)[1] for model in models]
    flips, errors = np.zeros((len(rows), len(models))), np.zeros((len(rows), len(models)))
    for r, shown in enumerate(rows):
        for c, model in enumerate(models):
            predictions = model.predict(shown)[1]
            flips[r, c] = float((predictions != baselines[c]).float().mean())
            errors[r, c] = float((predictions != labels).float().mean())
    names = tuple(model.name for model in models)
    return TransferMatrix(names + ("noise",), names, flips, errors, attack, dict(used), noise_l2)


def gaussian_noise_like(images: torch.Tensor, l2: float, seed: int = 0) -> torch.Tensor:
    """`images` plus Gaussian noise scaled to L2 norm `l2` per image, clipped to [0, 1]."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    noise = noise * (l2 / noise.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, 1, 1, 1)
    return (images + noise).clamp(0, 1)


def export_transfer(matrix: TransferMatrix, directory: str | Path) -> list[Path]:
    """matrix.csv (header: the column models; one row per source model, then `noise`; label-flip rates),
    errors.csv (the same against true labels) and matrix.png."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, values in (("matrix.csv", matrix.flip_rate), ("errors.csv", matrix.error)):
        table = [[source] + [f"{v:.4f}" for v in row] for source, row in zip(matrix.sources, values)]
        written.append(_write_csv(directory / name, ["source", *matrix.targets], table))
    body = [[source] + [f"{v:.1%}" for v in row] for source, row in zip(matrix.sources, matrix.flip_rate)]
    shades = [[None] + list(row) for row in matrix.flip_rate]
    title = (f"Label-flip rate of {matrix.attack} images made on the row's model, shown to the column's "
             f"(noise: Gaussian, L2 {matrix.noise_l2:.2f})")
    written.append(save_image(directory / "matrix.png", table_image(title, ["made on \\ shown to",
                                                                            *matrix.targets], body, shades)))
    return written


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with atomic_open(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
