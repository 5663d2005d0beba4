"""What the Train workspace's jobs do in the worker thread (no Qt here): read the training data (the shipped digits
or an image folder, never on the GUI thread), build or continue a trainer and train it, or open a saved run. The
first step of a training job describes the data read, so the window shows its size and notes before any batch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.core import RunControl
from engine.core.errors import ImageError, ParameterError
from engine.training import Trainer, TrainingData, data_of_recipe, new_trainer, train_steps, training_data
from engine.training.saving import continue_trainer, saved_run

SAMPLES = "samples"  # the data source of the shipped training digits, as `training_data` names it


@dataclass(frozen=True)
class DataRead:
    """The first step of a job: the training data is read and the trainer built (so nothing failed on them)."""

    description: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """What a job hands back: the trainer and the data it trains on (kept, so Continue reads nothing again)."""

    trainer: Trainer
    data: TrainingData


def describe_data(data: TrainingData) -> str:
    shape = "x".join(map(str, data.input_shape))
    name = "the shipped digits" if data.recipe.get("data") == SAMPLES else f"folder {data.name}"
    return (f"{name}: {len(data.class_names)} classes, {len(data.images)} training and "
            f"{len(data.heldout_images)} held-out images of {shape}")


def training_run(settings: dict, kept: Run | None, control: RunControl):
    """The job of Train (`kept` None: a new network on the chosen data) and of Continue (`kept`: its trainer on
    its own data, up to the epochs set)."""
    if kept is None:
        data = training_data(settings["data"], settings["folder_options"])
        trainer = new_trainer(settings["arch"], data, settings["training"], settings["arch_options"],
                              settings["defense"], settings["defense_options"])
    else:
        trainer, data = kept.trainer, kept.data
    yield DataRead(describe_data(data), tuple(data.notes))
    return Run((yield from train_steps(trainer, data, settings["training"]["epochs"], control)), data)


def opened_run(path: str, chosen_folder: str | None):
    """The job of Open run: the `.pt` run saved at `path` where it stopped, on its data read again. When the
    folder it was trained on has moved, the folder chosen in the window (if any) is read in its place."""
    saved = saved_run(path)
    try:
        data = data_of_recipe(saved.data_recipe)
    except (ImageError, ParameterError):
        recorded = saved.data_recipe.get("data")
        if chosen_folder is None or recorded == SAMPLES or (recorded and Path(recorded).exists()):
            raise
        data = data_of_recipe(saved.data_recipe, chosen_folder)
    trainer = continue_trainer(saved, data)
    yield DataRead(describe_data(data), tuple(data.notes))
    return Run(trainer, data)
