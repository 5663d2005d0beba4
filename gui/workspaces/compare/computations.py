"""The Compare workspace's jobs, run in the worker thread by its job slots: reading the images, the robustness
table, the transfer matrix, the cross-training-set run (two halves trained, then the matrix), the export, and how
far each has come (a fraction for the progress bar, a line for the status bar)."""
from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.attacks.base import RunControl
from engine.core.files import check_output_dir
from engine.data import ImageBatch
from engine.models import LoadedModel
from engine.training.comparisons import (ROBUSTNESS_ATTACKS, ComparisonProgress, RobustnessRow, TransferMatrix,
                                         check_models, export_robustness, export_transfer, labelled_folder,
                                         robustness_table, transfer_matrix)
from engine.training.halves import HalfProgress, check_fits_halves, train_halves

from ...session import FOLDER, DatasetSource

PROGRESS_STEPS = 1000  # the progress bar's maximum


@dataclass(frozen=True)
class HalvesTrained:
    """A step of the cross-training-set run: the two nets are trained (the GUI adds them to the list at once,
    so that a matrix that fails afterwards loses no training)."""

    models: list[LoadedModel]


def read_labelled(source: DatasetSource, model: LoadedModel) -> ImageBatch:
    """The held-out digits, or a folder of class subfolders, converted for `model`, with their true labels."""
    if source.kind != FOLDER:
        return source.read(model)
    batch = labelled_folder(source.folder, model)
    if source.count is not None and source.count < len(batch):
        first = batch.select(range(source.count))
        first.skipped = batch.skipped
        return first
    return batch


def robustness_run(models: Sequence[LoadedModel], source: DatasetSource, params: Mapping[str, Mapping],
                   control: RunControl) -> Generator[ComparisonProgress, None, list[RobustnessRow]]:
    check_models(models)
    images = read_labelled(source, models[0])
    return (yield from robustness_table(models, images, params, control))


def transfer_run(models: Sequence[LoadedModel], source: DatasetSource, attack: str, params: Mapping[str, Any],
                 seed: int, control: RunControl) -> Generator[ComparisonProgress, None, TransferMatrix]:
    check_models(models)
    images = read_labelled(source, models[0])
    return (yield from transfer_matrix(models, images, attack, params, seed, control))


def cross_halves_run(arch: str, training: Mapping[str, Any], arch_options: Mapping[str, Any],
                     models: Sequence[LoadedModel], source: DatasetSource, attack: str, params: Mapping[str, Any],
                     seed: int, device: str, control: RunControl) -> Generator[object, None, TransferMatrix | None]:
    """`arch` trained on each half of the training digits, then the transfer matrix over `models` and both
    halves; None when stopped during the training."""
    check_fits_halves(list(models))  # refused before the training, not after it
    if models:
        check_models(models)
    halves = yield from train_halves(arch, training, arch_options, device, control)
    yield HalvesTrained(halves)
    if control.stop_requested or len(halves) < 2:
        return None
    everyone = [*models, *halves]
    images = read_labelled(source, everyone[0])
    matrix = yield from transfer_matrix(everyone, images, attack, params, seed, control)
    return matrix


def export_run(directory: Path, rows: Sequence[RobustnessRow] | None,
               matrix: TransferMatrix | None) -> list[Path]:
    """robustness.csv / .png and matrix.csv, errors.csv, matrix.png for what was computed, in `directory`
    (checked before anything is written)."""
    check_output_dir(directory, "the export folder")
    files = []
    if rows:
        files += export_robustness(rows, directory)
    if matrix is not None:
        files += export_transfer(matrix, directory)
    return files


# --- how far a run has come -----------------------------------------------------------------------------------

def dataset_fraction(progress: ComparisonProgress) -> float:
    """How much of the current dataset run is done, in [0, 1]: whole chunks, plus the chunk under way by its
    iterations."""
    step = progress.step
    if step is None or step.total == 0:
        return 0.0
    within = 0.0
    if step.step is not None and step.step.total:
        chunk = len(step.step.fooled)
        within = chunk * min(1.0, step.step.iteration / step.step.total)
    return min(1.0, (step.done + within) / step.total)


def robustness_fraction(progress: ComparisonProgress) -> float:
    attacks = len(ROBUSTNESS_ATTACKS)
    index = ROBUSTNESS_ATTACKS.index(progress.attack) if progress.attack in ROBUSTNESS_ATTACKS else 0
    return (progress.done * attacks + index + dataset_fraction(progress)) / (max(1, progress.total) * attacks)


def transfer_fraction(progress: ComparisonProgress) -> float:
    return (progress.done + dataset_fraction(progress)) / max(1, progress.total)


def cross_fraction(step: object) -> float:
    """Training the halves is the first half of the bar, the matrix the second."""
    if isinstance(step, HalfProgress):
        return 0.5 * step.fraction
    if isinstance(step, ComparisonProgress):
        return 0.5 + 0.5 * transfer_fraction(step)
    return 0.5


def describe(step: object) -> str:
    """A line for the status bar."""
    if isinstance(step, HalfProgress):
        inner = step.step
        return (f"training half {step.half + 1} of 2: epoch {inner.epoch}/{inner.epochs} · batch "
                f"{inner.batch}/{inner.batches} · loss {inner.loss:.3f}")
    if isinstance(step, ComparisonProgress):
        images = "" if step.step is None else f" · {step.step.done}/{step.step.total} images"
        return f"{step.model} · {step.attack}{images}"
    if isinstance(step, HalvesTrained):
        return f"trained {', '.join(model.name for model in step.models)}; the transfer matrix…"
    return ""
