"""Comparing models: the robustness table of the ADef talk (model, defense, clean accuracy, FGSM / PGD / ADef
success, DeepFool's median size) and the transferability matrix (Szegedy et al. 2013; Papernot et al. 2016):
adversarial images made on one model (rows) shown to every model (columns), with a row of Gaussian noise of the
same average L2 size as the first row's perturbations. Both keep what each cell counted, image by image
(`CellImages`: references to the runs' CPU tensors, never copies), for a front door that opens a cell."""
from __future__ import annotations

import csv
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..attacks import get_attack
from ..attacks.base import RunControl
from ..core.errors import ImageError, ParameterError
from ..core.files import atomic_open
from ..core.params import Param, ParamSet
from ..core.run import relay
from ..data import ImageBatch, load_images
from ..experiments import DatasetProgress, DatasetStats, attack_dataset
from ..export import save_image, table_image
from ..models import LoadedModel

ROBUSTNESS_ATTACKS = ("fgsm", "pgd", "adef", "deepfool")
COMPARISON = ParamSet("compare", (
    Param("count", int, 200, "compare on the first COUNT images (the classes taking turns)", 1, 1_000_000,
          auto="all the images"),
    Param("seed", int, 0, "seed of the transfer matrix's Gaussian-noise row", 0, 2**31 - 1),
), summary="the images models are compared on")


@dataclass(frozen=True)
class ComparisonProgress:
    """Which model (and attack) is being worked on, with the dataset run's progress."""

    model: str
    attack: str
    done: int  # models (or rows) finished
    total: int
    step: DatasetProgress | None = None


@dataclass(frozen=True)
class CellImages:
    """What one cell of a table counted, image by image: the natural and the adversarial images, the judging
    model's probabilities on both, the true labels, and which images the cell counts as fooled. The tensors are
    the run's own (on the CPU), shared rather than copied: they are read only when a front door opens a cell."""

    title: str  # "mnist-cnn · pgd", "made on mlp half 1 · shown to mlp half 2"
    counted: str  # what `fooled` means in this cell
    names: Sequence[str]
    clean: torch.Tensor  # (N, C, H, W) in [0, 1]
    adversarial: torch.Tensor
    labels: torch.Tensor  # (N,) true labels
    probs_before: torch.Tensor  # (N, classes) of the judging model on the clean images
    probs_after: torch.Tensor  # and on the adversarial ones
    fooled: torch.Tensor  # (N,) bool
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.clean)


def check_models(models: Sequence[LoadedModel], images: ImageBatch | None = None) -> None:
    """One input shape for all models, and true labels for the images (when given): before any work."""
    if not models:
        raise ParameterError("compare at least one model")
    shapes = {tuple(model.input_shape) for model in models}
    if len(shapes) != 1:
        inputs = ", ".join(f"{m.name}: {'x'.join(map(str, m.input_shape))}" for m in models)
        raise ParameterError(f"the models take different inputs ({inputs}); compare models of one input shape")
    if images is not None and images.labels is None:
        raise ParameterError("these images have no true labels; use `samples` or labelled data")


def labelled_folder(folder: str | Path, model: LoadedModel) -> ImageBatch:
    """The images of a folder with one subfolder per class (the ImageFolder layout), each subfolder named as
    one of the model's classes (or its index), with the true labels the subfolders give, the classes taking
    turns (the first N images cover every class). A subfolder without readable images is skipped with a note;
    a subfolder naming no class of the model is an error."""
    folder = Path(folder)
    try:
        subfolders = sorted(path for path in folder.iterdir() if path.is_dir())
    except OSError as exc:
        raise ImageError(f"{folder}: cannot list this folder: {exc.strerror or exc}") from None
    if not subfolders:
        raise ImageError(f"{folder}: no class subfolders; comparing models needs true labels: one subfolder per "
                         "class, named as the model's classes")
    parts, skipped = [], []
    for subfolder in subfolders:
        label = class_index(subfolder.name, model.class_names)
        if label is None:
            raise ImageError(f"{subfolder}: {model.name} has no class called {subfolder.name!r} (its classes: "
                             f"{', '.join(model.class_names[:10])}{', ...' if model.num_classes > 10 else ''})")
        try:
            batch = load_images(subfolder, model)
        except ImageError as exc:
            skipped.append(str(exc))
            continue
        parts.append(ImageBatch(batch.images, batch.names, torch.full((len(batch),), label), batch.skipped))
    if not parts:
        raise ImageError(f"{folder}: no readable images in any class subfolder ({skipped[0]})")
    batch = parts[0]
    for part in parts[1:]:
        batch = batch.extend(part)
    # the classes interleaved, so that the first COUNT images cover them all (as the held-out digits do)
    ranks = torch.cat([torch.arange(len(part)) for part in parts])
    balanced = batch.select(np.lexsort((batch.labels.numpy(), ranks.numpy())).tolist())
    balanced.skipped = skipped + batch.skipped
    return balanced


def class_index(name: str, class_names: Sequence[str]) -> int | None:
    """The class a folder name stands for: one of the names (case aside), else an index; None for neither."""
    lowered = [known.lower() for known in class_names]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    return int(name) if name.isdigit() and int(name) < len(class_names) else None


# --- the robustness table --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RobustnessRow:
    model: str
    defense: str
    accuracy: float
    success: dict[str, float]  # attack -> success on the correctly classified images
    deepfool_median_l2: float | None
    runs: dict[str, DatasetStats] = field(default_factory=dict, repr=False, compare=False)  # attack -> its run
    class_names: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def cell(self, attack: str) -> CellImages | None:
        """The images behind `success[attack]`: the correctly classified images, attacked (None when the run
        was stopped before that attack)."""
        stats = self.runs.get(attack)
        if stats is None or stats.result is None:
            return None
        result = stats.result
        fooled = torch.from_numpy(counted_as_fooled(stats))
        counted = f"fooled with {stats.size_name} <= {stats.default_threshold:g}" if stats.default_threshold \
            else "fooled"
        return CellImages(f"{self.model} · {attack}", counted, stats.names, result.original, result.adversarial,
                          result.labels, result.probs_before, result.probs_after, fooled, self.class_names)


def counted_as_fooled(stats: DatasetStats) -> np.ndarray:
    """Per attacked image, whether the table counts it: fooled, and for deformations with ||tau||_T within the
    paper's threshold (the ADef talk's table of defended models)."""
    if stats.default_threshold:
        return stats.fooled & (stats.sizes <= stats.default_threshold)
    return stats.fooled


def defense_of(model: LoadedModel) -> str:
    return model.training.get("defense", "none") if model.training else "unknown"


def robustness_table(models: Sequence[LoadedModel], images: ImageBatch, params: Mapping[str, Mapping] | None = None,
                     control: RunControl | None = None
                     ) -> Generator[ComparisonProgress, None, list[RobustnessRow]]:
    """Per model: clean accuracy and the success of each attack of ROBUSTNESS_ATTACKS (its domain's defaults,
    overridden by `params[attack]`) on the images it classifies correctly, as the papers count it (ADef: with
    ||tau||_T <= 3 pixels)."""
    check_models(models, images)
    rows = []
    for index, model in enumerate(models):
        success, median, accuracy, runs = {}, None, 0.0, {}
        for name in ROBUSTNESS_ATTACKS:
            spec = get_attack(name)
            values = spec.resolve(dict((params or {}).get(name, {})), model.domain)
            run = attack_dataset(spec, model, images, values, only_correct=True, control=control)
            stats = yield from relay(run, lambda step, m=model.name, a=name: ComparisonProgress(
                m, a, index, len(models), step))
            accuracy, runs[name] = stats.accuracy, stats
            success[name] = float(counted_as_fooled(stats).mean()) if len(stats.fooled) else 0.0
            if name == "deepfool" and stats.fooled.any():
                median = float(np.median(stats.sizes[stats.fooled]))
            if control is not None and control.stop_requested:
                break
        rows.append(RobustnessRow(model.name, defense_of(model), accuracy, success, median, runs,
                                  tuple(model.class_names)))
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
    # what the cells counted, kept for `cell` (CPU tensors of the run, not copies):
    names: tuple[str, ...] = field(default=(), repr=False, compare=False)  # the images'
    clean: torch.Tensor | None = field(default=None, repr=False, compare=False)  # (N, C, H, W)
    labels: torch.Tensor | None = field(default=None, repr=False, compare=False)  # (N,) true labels
    shown: tuple[torch.Tensor, ...] = field(default=(), repr=False, compare=False)  # per row: the images shown
    clean_probs: tuple[torch.Tensor, ...] = field(default=(), repr=False, compare=False)  # per column (N, classes)
    probs: tuple[tuple[torch.Tensor, ...], ...] = field(default=(), repr=False, compare=False)  # [row][column]
    class_names: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def clean_error(self) -> np.ndarray:
        """(columns,): each column model's error on the clean images, the baseline of its errors column."""
        return np.array([float((probs.argmax(dim=1) != self.labels).float().mean()) for probs in self.clean_probs])

    def cell(self, row: int, column: int) -> CellImages:
        """The images behind `flip_rate[row, column]`: those made on the row's model (or the noise), judged by
        the column's; an image counts when the column's prediction changed from its clean one."""
        before, after = self.clean_probs[column], self.probs[row][column]
        flipped = after.argmax(dim=1) != before.argmax(dim=1)
        made = "Gaussian noise" if row == len(self.sources) - 1 else f"made on {self.sources[row]}"
        return CellImages(f"{made} · shown to {self.targets[column]}", "label flipped", self.names, self.clean,
                          self.shown[row], self.labels, before, after, flipped, self.class_names)


def transfer_matrix(models: Sequence[LoadedModel], images: ImageBatch, attack: str = "pgd",
                    params: Mapping[str, Any] | None = None, seed: int = 0, control: RunControl | None = None
                    ) -> Generator[ComparisonProgress, None, TransferMatrix]:
    """Adversarial images of `attack` made on each model, shown to every model; plus Gaussian noise scaled to
    the first model's mean L2 perturbation size (clipped to [0, 1])."""
    check_models(models, images)
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
    clean_probs = tuple(model.predict(clean)[0] for model in models)
    probs = tuple(tuple(model.predict(shown)[0] for model in models) for shown in rows)
    flips, errors = np.zeros((len(rows), len(models))), np.zeros((len(rows), len(models)))
    for r in range(len(rows)):
        for c in range(len(models)):
            predictions = probs[r][c].argmax(dim=1)
            flips[r, c] = float((predictions != clean_probs[c].argmax(dim=1)).float().mean())
            errors[r, c] = float((predictions != labels).float().mean())
    names = tuple(model.name for model in models)
    return TransferMatrix(names + ("noise",), names, flips, errors, attack, dict(used), noise_l2,
                          tuple(images.names[: len(clean)]), clean, labels, tuple(rows), clean_probs, probs,
                          tuple(models[0].class_names))


def gaussian_noise_like(images: torch.Tensor, l2: float, seed: int = 0) -> torch.Tensor:
    """`images` plus Gaussian noise scaled to L2 norm `l2` per image, clipped to [0, 1]."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    noise = noise * (l2 / noise.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, 1, 1, 1)
    return (images + noise).clamp(0, 1)


def export_transfer(matrix: TransferMatrix, directory: str | Path) -> list[Path]:
    """matrix.csv (header: the column models; one row per source model, then `noise`; label-flip rates),
    errors.csv (the same against true labels, then `clean`: each model's error on the clean images) and
    matrix.png (the flip rates, and the clean errors as the lecture's table gives them)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, values, extra in (("matrix.csv", matrix.flip_rate, []),
                                ("errors.csv", matrix.error, [["clean", *matrix.clean_error]])):
        table = [[source] + [f"{v:.4f}" for v in row] for source, row in zip(matrix.sources, values)]
        table += [[row[0]] + [f"{v:.4f}" for v in row[1:]] for row in extra]
        written.append(_write_csv(directory / name, ["source", *matrix.targets], table))
    body = [[source] + [f"{v:.1%}" for v in row] for source, row in zip(matrix.sources, matrix.flip_rate)]
    body.append(["clean error"] + [f"{v:.1%}" for v in matrix.clean_error])
    shades = [[None] + list(row) for row in matrix.flip_rate] + [[None] * (len(matrix.targets) + 1)]
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
