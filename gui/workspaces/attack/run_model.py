"""One attack run as the GUI sees it: the request, the per-iteration curves, the latest frames and the result.
A run is either an attack on some loaded images, or an attack over loaded images taken as a dataset, which ends
with the statistics of the papers' tables as well. Views subscribe to its signals and never to the worker, which
knows nothing about views."""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from engine.attacks import AttackResult, AttackSpec, RunControl, Step
from engine.data import ImageBatch
from engine.experiments import DatasetProgress, DatasetStats, attack_dataset
from engine.models import LoadedModel

from ...jobs import JobSlot, describe_error

FRAME_INTERVAL = 0.04  # seconds between frames: the views redraw at most 25 times a second
FIELD = "field"  # the extras key under which deformation attacks hand over their displacement field


@dataclass(frozen=True)
class RunRequest:
    """What to attack: `images` are the loaded images at positions `indices` (the run's order), or, with
    `own_images`, the images of a dataset that is not loaded, which the run holds itself, at their positions
    in that dataset."""

    spec: AttackSpec
    model: LoadedModel
    images: torch.Tensor
    indices: tuple[int, ...]
    names: tuple[str, ...]
    params: dict[str, Any]
    target: int | None = None
    own_images: bool = False
    _run_index: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_run_index", {loaded: run for run, loaded in enumerate(self.indices)})

    def run_index(self, loaded_index: int) -> int | None:
        """The position of a loaded image in this run, None when it is not being attacked."""
        return self._run_index.get(loaded_index)


@dataclass(frozen=True)
class DatasetRequest(RunRequest):
    """An attack over loaded images taken as a dataset (`engine.experiments.attack_dataset`, in chunks of
    `batch_size`): when their true `labels` are known only the images the model classifies correctly are
    attacked, and the run ends with statistics. `source` says where the images came from, for titles."""

    labels: torch.Tensor | None = None
    batch_size: int = 256
    source: str = "loaded images"

    def dataset(self) -> ImageBatch:
        return ImageBatch(self.images, list(self.names), self.labels)

    def attacked(self, positions: Sequence[int], images: torch.Tensor) -> DatasetRequest:
        """The request narrowed to the images that were attacked (`positions` in this request's order, their
        `images` as the result holds them), so that run indices match the result's rows."""
        positions = [int(p) for p in positions]
        labels = None if self.labels is None else self.labels[torch.as_tensor(positions, dtype=torch.long)]
        return replace(self, images=images, indices=tuple(self.indices[p] for p in positions),
                       names=tuple(self.names[p] for p in positions), labels=labels)


@dataclass(frozen=True)
class Outcome:
    """Where one image stands in the run: fooled or not, after how many iterations (of `total` planned)."""

    fooled: bool
    iterations: int
    total: int
    running: bool
    stopped: bool


class History:
    """Per-iteration values of every attacked image, in a buffer that doubles when full, so that appending a
    step and reading one image's curve stay cheap for runs of many thousands of steps."""

    def __init__(self, width: int):
        self._rows = np.zeros((64, width), dtype=np.float32)
        self._iterations = np.zeros(64, dtype=np.int64)
        self.count = 0

    def append(self, iteration: int, values: np.ndarray) -> None:
        if self.count == len(self._rows):
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
            self._iterations = np.concatenate([self._iterations, np.zeros_like(self._iterations)])
        self._rows[self.count] = values
        self._iterations[self.count] = iteration
        self.count += 1

    def curve(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        return self._iterations[: self.count], self._rows[: self.count, column]


class RunModel(QObject):
    started = Signal(object)  # RunRequest (a DatasetRequest for a run over a dataset)
    stepped = Signal(object)  # Step, after the model has recorded it
    framed = Signal()  # after a step that carried arrays: the views have something new to draw
    progressed = Signal(object)  # DatasetProgress of a dataset run: at most every FRAME_INTERVAL, and per chunk
    finished = Signal(object)  # AttackResult (partial when stopped), once the worker is done
    failed = Signal(str)
    busy_changed = Signal(bool)
    cleared = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.request: RunRequest | None = None
        self.result: AttackResult | None = None
        self.stats: DatasetStats | None = None  # the statistics of a finished dataset run
        self.progress: DatasetProgress | None = None  # where a dataset run is
        self.control: RunControl | None = None
        self.generator = None  # the engine computation of the last run (kept so tests can see it ended)
        self.last_step: Step | None = None
        self.jobs = JobSlot(self)  # the attack's worker: one run at a time
        self.jobs.failed.connect(self._on_failed)
        self._error: str | None = None
        self._loss: History | None = None
        self._goal: History | None = None
        self._frames: dict[int, np.ndarray] = {}  # run index -> latest image (CHW) from a frame
        self._frame_fields: dict[int, np.ndarray] = {}  # run index -> latest deformation field (2, H, W)
        self._frame_probs: np.ndarray | None = None  # (N, classes) from the latest frame
        self._last_progress = -math.inf  # when `progressed` was last emitted
        self.views_on_own_images = False  # whether the views show a dataset run's own images (`look_at`)

    # --- commands --------------------------------------------------------------------------------------------

    def start(self, request: RunRequest, watched_loaded_index: int | None = None) -> bool:
        """Start the attack in a worker thread; False (and `failed`) when it cannot start."""
        if self.busy:
            self.failed.emit("A run is still going; stop it first.")
            return False
        self._reset(request)
        over_dataset = isinstance(request, DatasetRequest)
        try:
            if over_dataset:
                # no frames: the chunks' images are not the loaded images' order, and a dataset run is watched
                # through its progress and its statistics
                self.control = RunControl(frame_interval=None)
                self.generator = attack_dataset(request.spec, request.model, request.dataset(), request.params,
                                                request.target, batch_size=request.batch_size,
                                                control=self.control)
            else:
                watched = request.run_index(watched_loaded_index) if watched_loaded_index is not None else None
                self.control = RunControl(frame_interval=FRAME_INTERVAL, watched=[0 if watched is None else watched])
                self.generator = request.spec.fn(request.model, request.images, labels=None,
                                                 target=request.target, control=self.control, **request.params)
        except Exception as exc:  # an attack that validates before its first step fails here, in this thread
            self.failed.emit(describe_error(exc))
            return False
        self.jobs.run(self.generator, on_step=self._on_progress if over_dataset else self._on_step,
                      on_result=self._on_result, control=self.control, on_done=self._on_done, what="the attack")
        self.busy_changed.emit(True)
        self.started.emit(request)
        return True

    def stop(self) -> None:
        """Ask the attack to end; it does so within one step and still returns a (partial) result."""
        self.jobs.stop()

    def shutdown(self) -> None:
        """Stop and block until the worker thread has let go (the window is closing)."""
        self.jobs.shutdown()

    def watch(self, loaded_index: int) -> None:
        """Attach frames of this image from now on (the one the user is looking at)."""
        run_index = self._run_index(loaded_index)
        if self.control is not None and run_index is not None:
            self.control.watched = [run_index]  # one assignment: the worker thread sees old or new, never half

    def clear(self) -> None:
        """Forget the last run (its images were replaced)."""
        if self.busy:
            return
        self.request = self.result = self.last_step = self.stats = self.progress = None
        self._loss = self._goal = None
        self._frames, self._frame_fields, self._frame_probs = {}, {}, None
        self.cleared.emit()

    # --- queries ---------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def look_at(self, own_images: bool) -> None:
        """Which images the views show: a dataset run's own images, or the loaded ones. The queries by index
        below answer for those, and for nothing when the run is over the others."""
        self.views_on_own_images = own_images

    def shows_run_images(self) -> bool:
        """Whether the views show the images this run is over."""
        return self.request is not None and self.request.own_images == self.views_on_own_images

    def _run_index(self, index: int) -> int | None:
        """The position in the run of image `index` of those the views show, None when it is not in the run."""
        return self.request.run_index(index) if self.shows_run_images() else None

    def adversarial_of(self, loaded_index: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(image CHW, probabilities or None) of the attacked version of a loaded image: the result when the
        run is over, else its latest frame; None when the image is not part of the run or has no frame yet."""
        return self._adversarial_at(self._run_index(loaded_index))

    def adversarial_of_loaded(self, loaded_index: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """`adversarial_of` a loaded image whatever the views show: what the other workspaces see."""
        own = self.request is None or self.request.own_images
        return None if own else self._adversarial_at(self.request.run_index(loaded_index))

    def _adversarial_at(self, run_index: int | None) -> tuple[np.ndarray, np.ndarray | None] | None:
        if run_index is None:
            return None
        if self.result is not None:
            return self.result.adversarial[run_index].numpy(), self.result.probs_after[run_index].numpy()
        image = self._frames.get(run_index)
        if image is None:
            return None
        return image, None if self._frame_probs is None else self._frame_probs[run_index]

    def field_of(self, loaded_index: int) -> np.ndarray | None:
        """The displacement field (2, H, W) in pixels of a deformation attack (ADef) on a loaded image: the
        result's, else the latest frame's; None for attacks that add a perturbation instead."""
        run_index = self._run_index(loaded_index)
        if run_index is None:
            return None
        if self.result is not None:
            fields = self.result.extras.get(FIELD)
            return None if fields is None else fields[run_index]
        return self._frame_fields.get(run_index)

    def outcome_of(self, loaded_index: int) -> Outcome | None:
        """The run's verdict on a loaded image so far (the engine's `fooled`: away from the label, or onto the
        target); None when the image is not in the run or no step has come yet."""
        run_index = self._run_index(loaded_index)
        if run_index is None:
            return None
        step = self.last_step
        if self.result is not None:  # a dataset run has no last step: its steps are per chunk
            iterations = int(self.result.steps_used[run_index])
            return Outcome(bool(self.result.fooled[run_index]), iterations,
                           step.total if step is not None else iterations, running=False, stopped=self.result.stopped)
        if step is None:
            return None
        return Outcome(bool(step.fooled[run_index]), step.iteration, step.total, running=True, stopped=False)

    def curves_of(self, loaded_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(iterations, loss, goal probability) so far for a loaded image, None when it is not in the run. Once
        the run is over, an image's curves end at its own last iteration (the engine's `steps_used`): the steps
        of a batch go on while other images are attacked (DeepFool, ADef), and a dataset run's curves are padded
        to the longest image of their chunk, but an image that stopped at 7 made 7 iterations."""
        run_index = self._run_index(loaded_index)
        if run_index is None:
            return None
        if self._loss is not None and self._loss.count:
            iterations, loss = self._loss.curve(run_index)
            _, goal = self._goal.curve(run_index)
        else:
            history = self.result.history if self.result is not None else {}  # a dataset run's, from its result
            if not (len(history.get("loss", ())) and len(history.get("goal_prob", ()))):
                return None
            loss, goal = history["loss"][:, run_index], history["goal_prob"][:, run_index]
            iterations = np.arange(1, len(loss) + 1)
        if self.result is not None:
            made = iterations <= int(self.result.steps_used[run_index])
            iterations, loss, goal = iterations[made], loss[made], goal[made]
        return iterations, loss, goal

    # --- worker signals --------------------------------------------------------------------------------------

    def _reset(self, request: RunRequest) -> None:
        self.request, self.result, self.last_step, self._error = request, None, None, None
        self.stats = self.progress = None
        if isinstance(request, DatasetRequest):  # its curves come with the result, padded per chunk
            self._loss = self._goal = None
        else:
            self._loss, self._goal = History(len(request.indices)), History(len(request.indices))
        self._frames, self._frame_fields, self._frame_probs = {}, {}, None
        self._last_progress = -math.inf

    @Slot(object)
    def _on_step(self, step: Step) -> None:
        self.last_step = step
        self._loss.append(step.iteration, step.loss)
        self._goal.append(step.iteration, step.goal_prob)
        if step.frame is not None:
            fields = step.frame.extras.get(FIELD)
            for k, run_index in enumerate(step.frame.indices):
                self._frames[run_index] = step.frame.images[k]
                if fields is not None:
                    self._frame_fields[run_index] = fields[k]
            self._frame_probs = step.probs
        self.stepped.emit(step)
        if step.frame is not None:
            self.framed.emit()

    @Slot(object)
    def _on_progress(self, progress: DatasetProgress) -> None:
        self.progress = progress
        now = time.perf_counter()
        if progress.step is None or now - self._last_progress >= FRAME_INTERVAL:
            self._last_progress = now
            self.progressed.emit(progress)

    @Slot(object)
    def _on_result(self, result: AttackResult | DatasetStats) -> None:
        if isinstance(result, DatasetStats):
            # from now on the run covers the attacked images only, in the result's order
            self.stats = result
            self.request = self.request.attacked(result.indices, result.result.original)
            result = result.result
        self.result = result

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._error = message

    @Slot()
    def _on_done(self) -> None:
        # finished/failed come after busy is over, so that whoever reacts may start the next run at once
        self.busy_changed.emit(False)
        if self.result is not None:
            self.finished.emit(self.result)
        else:
            self.failed.emit(self._error or "The attack ended without a result.")
