"""What the user has loaded: the model, the images with the model's clean predictions, and which image is
selected. Loading runs in a worker thread; views learn about changes through the signals."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from engine.data import ImageBatch, heldout_digits, load_images, sample_images
from engine.core import UntrustedModelError
from engine.models import DownloadProgress, LoadedModel, load_model_steps

from .jobs import JobSlot, steps_of

SAMPLES = "samples"  # the source standing for the built-in samples (digits or photographs, by model domain)
HELDOUT, FOLDER, LOADED = "heldout", "folder", "loaded"  # the kinds of dataset a statistics run can cover


@dataclass(frozen=True)
class DatasetSource:
    """The images of a run over a dataset: the held-out digits (with their labels), a folder, or the images
    already loaded; only the first `count` of them when `count` is given."""

    kind: str
    folder: str | None = None
    count: int | None = None

    def describe(self) -> str:
        what = {HELDOUT: "held-out digits", FOLDER: f"folder {Path(self.folder or '').name}",
                LOADED: "loaded images"}[self.kind]
        return what if self.count is None else f"the first {self.count} {what}"

    def read(self, model: LoadedModel) -> ImageBatch:
        """Worker-thread part: the images converted for `model` (not for LOADED, which are in the session)."""
        if self.kind == HELDOUT:
            return heldout_digits(model, self.count)
        if self.kind == FOLDER and self.folder:
            batch = load_images([self.folder], model)
            if self.count is None or self.count >= len(batch):
                return batch
            first = batch.select(range(self.count))
            first.skipped = batch.skipped
            return first
        raise ValueError(f"{self.kind} images are not read from anywhere")


AttackedProvider = Callable[[int], "tuple[np.ndarray, np.ndarray | None] | None"]


@dataclass(frozen=True)
class Verdict:
    """What an attack made of one loaded image: the class predicted after it, with what confidence, fooled."""

    predicted: int
    confidence: float
    fooled: bool


@dataclass(frozen=True)
class Untrusted:
    """A model file that would run code when loaded, refused until the user says they trust it."""

    reason: str
    spec: str
    device: str | None
    arch: str | None


def load_or_refuse(spec: str, device: str | None, arch: str | None, trust_code: bool):
    """Worker-thread part of loading a model: the model, or `Untrusted` when the file needs the user's trust
    (a refusal to ask about, not an error to report)."""
    try:
        return (yield from load_model_steps(spec, device, arch, trust_code=trust_code))
    except UntrustedModelError as refusal:
        return Untrusted(str(refusal), spec, device, arch)


@dataclass
class LoadedImages:
    batch: ImageBatch
    probs: torch.Tensor  # (N, classes) clean probabilities from the model


def read_images(model: LoadedModel, sources: Sequence[str | DatasetSource], sample_count: int) -> LoadedImages:
    """Worker-thread part of loading: read and convert the sources for `model`, then classify them once."""
    parts = []
    if SAMPLES in sources:
        parts.append(sample_images(model, sample_count))
    parts += [source.read(model) for source in sources if isinstance(source, DatasetSource)]
    paths = [source for source in sources if isinstance(source, str) and source != SAMPLES]
    if paths:
        parts.append(load_images(paths, model))
    batch = reduce(ImageBatch.extend, parts)
    probs, _ = model.predict(batch.images)
    return LoadedImages(batch, probs)


class Session(QObject):
    model_changed = Signal(object)  # LoadedModel
    images_changed = Signal(bool)  # True when the previous images were replaced, False when appended to
    selection_changed = Signal(int)  # index into the loaded images, -1 for none
    busy_changed = Signal(bool)
    progress = Signal(int, int)  # done, total; total 0 means "working, amount unknown"
    status = Signal(str)
    warned = Signal(str)  # the job succeeded, but something was left out
    failed = Signal(str)
    model_load_failed = Signal(str)  # after `failed`, when it was a model that did not load: `model` stays
    trust_requested = Signal(object)  # Untrusted: ask the user, then `load_model(..., trust_code=True)` if they agree
    attacked_changed = Signal()  # the Attack workspace's published images changed (a run started, ended, cleared)

    def __init__(self, sample_count: int = 16, parent: QObject | None = None):
        super().__init__(parent)
        self.sample_count = sample_count
        self.model: LoadedModel | None = None
        self.model_request: tuple[str, str | None, str | None] | None = None  # (spec, device, arch) of `model`
        self._requested: tuple[str, str | None, str | None] | None = None  # of the model being loaded
        self.batch: ImageBatch | None = None
        self.probs: torch.Tensor | None = None
        self.sources: list[str | DatasetSource] = []  # read again, converted, when the model changes
        self.selected = -1
        self.jobs = JobSlot(self)  # loading: one job at a time
        self.jobs.failed.connect(self._on_failed)
        self.jobs.busy_changed.connect(self.busy_changed)
        self._then = None  # what to start when the current job is done
        self._attacked: AttackedProvider | None = None
        self._verdicts: dict[int, Verdict] = {}

    # --- queries ---------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    @property
    def image_count(self) -> int:
        return 0 if self.batch is None else len(self.batch)

    def class_name(self, index: int) -> str:
        return self.model.class_names[index] if self.model else str(index)

    # --- the attacked images, published by the Attack workspace for the others (which never import it) ------

    def attacked(self, index: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(image CHW, probabilities or None) of the attacked version of loaded image `index`: the last result,
        or the latest frame of a run still going; None when that image was not attacked."""
        return None if self._attacked is None else self._attacked(index)

    @property
    def verdicts(self) -> dict[int, Verdict]:
        """The finished run's verdict per attacked loaded image (empty while a run goes or when none ran)."""
        return self._verdicts

    def publish_attacked(self, provider: AttackedProvider | None,
                         verdicts: dict[int, Verdict] | None = None) -> None:
        """The Attack workspace's answer to `attacked` and its verdicts, set again whenever they change."""
        self._attacked, self._verdicts = provider, dict(verdicts or {})
        self.attacked_changed.emit()

    # --- commands --------------------------------------------------------------------------------------------

    def load_model(self, spec: str, device: str | None = None, arch: str | None = None,
                   trust_code: bool = False) -> None:
        """Load a model, then reload the current images (or the samples) converted for it. A file that would run
        code when loaded is refused with `trust_requested` unless `trust_code` says the user trusts it."""
        self.status.emit(f"Loading model {spec}…")
        if self._start(load_or_refuse(spec, device, arch, trust_code), self._model_loaded):
            self._requested = (spec, device, arch)

    def use_model(self, model: LoadedModel) -> None:
        """A model made in the window (the Train workspace's) becomes the loaded one; the images are converted
        for it as after a load."""
        self.status.emit(f"Using {model.name}…")
        if self._start(steps_of(lambda: model), self._model_loaded):
            self._requested = (model.name, model.device, None)

    def load_samples(self) -> None:
        self._load_images([SAMPLES], replace=True)

    def add_images(self, paths: Sequence[str]) -> None:
        """Append image files, folders or arrays to the loaded images; unreadable ones are reported."""
        if paths:
            self._load_images([str(p) for p in paths], replace=False)

    def read_dataset(self, source: DatasetSource, then: Callable[[LoadedImages], None]) -> bool:
        """Read a dataset (held-out digits or a folder) for the loaded model and classify it, in the loading
        job, and hand it to `then` (unless that fails). The loaded images stay as they are: the run over the
        dataset holds its images itself, and a later model change converts only the loaded ones."""
        if self.model is None:
            self.failed.emit("Load a model first: images are converted to its input size.")
            return False
        self.status.emit(f"Reading {source.describe()}…")
        job = steps_of(read_images, self.model, [source], self.sample_count)
        return self._start(job, lambda loaded: self._dataset_read(loaded, then))

    def clear_images(self) -> None:
        self.batch, self.probs, self.sources, self.selected = None, None, [], -1
        self.images_changed.emit(True)
        self.selection_changed.emit(-1)

    def select(self, index: int) -> None:
        index = index if 0 <= index < self.image_count else -1
        if index != self.selected:
            self.selected = index
            self.selection_changed.emit(index)

    def cancel(self) -> None:
        """Abandon a running load at its next step (a download chunk); used when the window closes."""
        self._then = None
        self.jobs.cancel()

    def wait(self) -> None:
        if self.jobs.job is not None:
            self.jobs.job.wait()

    # --- jobs ------------------------------------------------------------------------------------------------

    def _load_images(self, sources: list[str | DatasetSource], replace: bool) -> bool:
        if self.model is None:
            self.failed.emit("Load a model first: images are converted to its input size.")
            return False
        self.status.emit("Loading images…")
        job = steps_of(read_images, self.model, sources, self.sample_count)
        return self._start(job, lambda loaded: self._images_loaded(loaded, sources, replace))

    def _start(self, steps, on_success) -> bool:
        if self.jobs.busy:  # refused here, so that the chained load (`_then`) is kept
            self.failed.emit("Still busy with the previous load; try again when it is done.")
            steps.close()
            return False
        started = self.jobs.run(steps, on_step=self._on_step, on_result=on_success, on_done=self._on_done,
                                what="the previous load")
        self.progress.emit(0, 0)
        return started

    @Slot(object)
    def _on_step(self, step) -> None:
        if isinstance(step, DownloadProgress):
            self.progress.emit(step.done, step.total)
            megabytes = f"{step.done / 1e6:.1f}" + (f" of {step.total / 1e6:.1f}" if step.total else "")
            self.status.emit(f"Downloading weights: {megabytes} MB")

    def _model_loaded(self, model: LoadedModel | Untrusted) -> None:
        requested, self._requested = self._requested, None
        if isinstance(model, Untrusted):
            self.status.emit(f"{Path(model.spec).name} was not loaded: it could run code")
            self.trust_requested.emit(model)
            return
        self.model, self.model_request = model, requested
        self.batch, self.probs, self.selected = None, None, -1
        self.model_changed.emit(model)
        self.images_changed.emit(True)
        self.selection_changed.emit(-1)
        shape = "x".join(map(str, model.input_shape))
        note = f"; {model.warning}" if model.warning else ""
        self.status.emit(f"Loaded {model.name} ({shape}, {model.num_classes} classes) on {model.device}{note}")
        sources = self.sources or [SAMPLES]
        self._then = lambda: self._load_images(sources, replace=True)

    def _dataset_read(self, loaded: LoadedImages, then: Callable[[LoadedImages], None]) -> None:
        self.status.emit(f"{len(loaded.batch)} image(s) read")
        self._then = lambda: then(loaded)

    def _images_loaded(self, loaded: LoadedImages, sources: list[str | DatasetSource], replace: bool) -> None:
        replaced = replace or self.batch is None
        if replaced:
            self.batch, self.probs, self.sources = loaded.batch, loaded.probs, list(sources)
            self.selected, first_new = -1, 0  # before images_changed: the old index may not exist any more
        else:
            first_new = len(self.batch)
            self.batch = self.batch.extend(loaded.batch)
            self.probs = torch.cat([self.probs, loaded.probs])
            self.sources += sources
        self.images_changed.emit(replaced)
        if self.selected < 0:
            self.select(first_new)
        self.status.emit(f"{len(loaded.batch)} image(s) loaded; {self.image_count} in all")
        if loaded.batch.skipped:
            shown = "\n".join(loaded.batch.skipped[:8])
            more = f"\n… and {len(loaded.batch.skipped) - 8} more" if len(loaded.batch.skipped) > 8 else ""
            self.warned.emit(f"Some inputs were skipped:\n{shown}{more}")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._then = None
        model_failed, self._requested = self._requested is not None, None
        self.failed.emit(message)
        if model_failed:
            self.model_load_failed.emit(message)

    @Slot()
    def _on_done(self) -> None:
        then, self._then, self._requested = self._then, None, None  # a cancelled load leaves nothing pending
        if then is not None:
            then()  # the slot stays busy (no busy_changed) when this starts the next load
