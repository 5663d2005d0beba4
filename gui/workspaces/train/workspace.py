"""The Train workspace: choose an architecture (built-in or torchvision), the data (the shipped digits or an image
folder), the training settings and a defense (forms built from the engine's declarations), train live with the
loss and the held-out accuracies (clean and under PGD) drawn as they come, stop, continue, open a saved run to
continue it, hand the model to the other workspaces, save it as .pt, .ts or .pt2. Every file and folder is read
and written in a job; the GUI thread only draws."""
from __future__ import annotations

import copy
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.training import Trainer, TrainProgress
from engine.training.saving import SAVE_FORMATS, save_trained

from ...jobs import JobSlot, steps_of
from ...widgets import dialogs
from ...widgets.layout import HORIZONTAL, splitter
from .controls import TrainControls
from .curves import TrainingCurves
from .runs import SAMPLES, DataRead, Run, opened_run, training_run

CONTROLS_WIDTH = 340
REDRAW_EVERY = 8  # batches between redraws of the batch-loss curve
# The save dialog's choices and the suffix each gives a name typed without one; a typed suffix wins.
SAVE_FILTERS = {"a run that can be continued: state dict + JSON (*.pt)": ".pt", "TorchScript (*.ts)": ".ts",
                "torch.export program (*.pt2)": ".pt2"}
RUN_FILTER = "runs saved by Train or `main.py train` (*.pt *.pth);;all files (*)"


def with_format_suffix(path: str, chosen_filter: str) -> str:
    """`path` as typed when its suffix names a save format, else with the suffix of the chosen filter."""
    suffix = Path(path).suffix.lower()
    return path if suffix and suffix in SAVE_FORMATS else path + SAVE_FILTERS.get(chosen_filter, ".pt")


def epochs_to_continue(trainer: Trainer) -> int:
    """The epochs an opened run trains up to: its own setting, or one more when it has done them all."""
    planned = int(trainer.params["epochs"])
    return planned if trainer.partial is not None or trainer.epochs_done < planned else trainer.epochs_done + 1


class TrainWorkspace(QWidget):
    """Controls on the right, the curves on the left; the shell's `Workspace`."""

    title = "Train"
    status = Signal(str)
    busy_changed = Signal(bool)
    progress = Signal(int, int, str)
    message = Signal(str, bool, str)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.kept: Run | None = None  # the trainer shown and its data, as the last job handed them back
        self.history: list = []  # the epoch records of the model being trained, as the steps brought them
        self.saved: list[Path] = []  # what the last save wrote (read by tests)
        self._fresh = False  # the running job trains a new network (its curves replace the kept run's)
        self._replacing = False  # a new run has drawn over the kept run's curves and has not returned yet
        self._kept_read = DataRead("")  # what the summary said of the kept run's data, while _replacing
        self.slot, self.save_slot = JobSlot(self), JobSlot(self)
        self.controls, self.curves = TrainControls(), TrainingCurves()
        self.controls.setMinimumWidth(CONTROLS_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter(HORIZONTAL, (self.curves, self.controls), stretch=(1,)))
        self._connect()
        self.controls.set_running(False, False)

    def _connect(self) -> None:
        c = self.controls
        c.train_button.clicked.connect(lambda: self.start(fresh=True))
        c.continue_button.clicked.connect(lambda: self.start(fresh=False))
        c.stop_button.clicked.connect(self.stop)
        c.use_button.clicked.connect(self.use_model)
        c.save_button.clicked.connect(self._choose_save_path)
        c.open_button.clicked.connect(self._choose_run)
        for slot in (self.slot, self.save_slot):
            slot.busy_changed.connect(self._on_busy)
            slot.failed.connect(lambda text: self.message.emit(text, True, "Training"))

    @property
    def trainer(self) -> Trainer | None:
        return None if self.kept is None else self.kept.trainer

    # --- the protocol ----------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.slot.busy or self.save_slot.busy

    def stop(self) -> None:
        self.slot.stop()

    def shutdown(self) -> None:
        for slot in (self.slot, self.save_slot):
            slot.shutdown()

    def export_to(self, directory: str) -> None:
        if self.trainer is not None:
            self.save_to(str(Path(directory) / f"{self.trainer.arch}.pt"))

    def run(self) -> None:
        """What Train does (the menu's Run, Ctrl+R): a new network."""
        self.start(fresh=True)

    @property
    def can_start(self) -> bool:
        return self.controls.train_button.isEnabled()

    @property
    def can_export(self) -> bool:
        """Export saves the trained model, as Save does."""
        return self.controls.save_button.isEnabled()

    def showcase(self):
        self.controls.training_form.fill({"epochs": 2, "robust_steps": 5})
        self.start(fresh=True)
        return self.slot.job

    # --- training --------------------------------------------------------------------------------------------

    def start(self, fresh: bool) -> None:
        """Train a new network on the chosen data, or (not `fresh`) the kept one on its own data."""
        try:
            settings = self.controls.settings()
        except AdvLensError as exc:
            self.message.emit(str(exc), True, "Training")
            return
        if not fresh and not self._can_continue(settings["training"]["epochs"]):
            return
        control = RunControl(frame_interval=None)
        if self.slot.run(training_run(settings, None if fresh else self.kept, control), self._on_step,
                         on_result=self._on_trained, control=control, on_done=self._run_ended,
                         what="the training"):
            self._replacing = False
            self._fresh = fresh
            data = "the training digits" if settings["data"] == SAMPLES else f"folder {Path(settings['data']).name}"
            self.status.emit(f"Training {settings['arch']} ({settings['defense']}) on {data}…" if fresh else
                             f"Continuing {self.trainer.model.name}…")

    def _can_continue(self, epochs: int) -> bool:
        """Whether Continue has something to do; a busy slot refuses by itself, with its own message."""
        if self.kept is None:
            return False
        trainer = self.kept.trainer
        if not self.slot.busy and trainer.partial is None and epochs <= trainer.epochs_done:
            done = trainer.epochs_done
            self.message.emit(f"epochs: {trainer.model.name} has done {done} epoch{'s' * (done != 1)}; set epochs "
                              f"above {done} to train it on", True, "Training")
            return False
        return True

    @Slot(object)
    def _on_step(self, step: TrainProgress | DataRead) -> None:
        """Draw what the worker reported: the records come with the steps, the trainer is never read here."""
        if isinstance(step, DataRead):
            self._data_read(step)
            return
        if step.record is None:
            self.curves.add_batch(step.epoch - 1 + step.batch / step.batches, step.loss)
        if step.record is not None:
            self.history.append(step.record)
            self.curves.show_history(self.history)
            self.controls.show_run(step.record.describe())
        elif step.batch % REDRAW_EVERY == 0:
            self.curves.redraw_batches()
        done = (step.epoch - 1) * step.batches + step.batch
        self.progress.emit(done, step.epochs * step.batches, f"epoch {step.epoch}/{step.epochs}")
        self.status.emit(f"epoch {step.epoch}/{step.epochs} · batch {step.batch}/{step.batches} · loss "
                         f"{step.loss:.4f}")

    def _data_read(self, read: DataRead) -> None:
        """The data is read and the network built: a new run's curves replace the kept run's only now, so a bad
        folder or architecture leaves them (and the kept trainer) as they were."""
        if self._fresh and not self._replacing:
            self._replacing, self._kept_read = True, self.controls.data_read
            self.curves.clear()
            self.history = []
            self.controls.show_run("training…")
        self.controls.show_data(read)

    @Slot(object)
    def _on_trained(self, run: Run) -> None:
        self.kept, self._replacing = run, False
        trainer = run.trainer
        self.curves.show_history(self.history)
        stopped = " (stopped; Continue trains on)" if trainer.stopped else ""
        last = f"; {self.history[-1].describe()}" if self.history else ""
        text = f"{trainer.model.name}: {trainer.epochs_done} epochs{stopped}{last}"
        self.controls.show_run(text)
        self.status.emit(text)

    def _run_ended(self) -> None:
        """A new run that failed after drawing: the kept run's epoch curves come back (its batch losses are gone)."""
        if self._replacing:
            self._replacing = False
            self.history = [] if self.trainer is None else list(self.trainer.history)
            self.curves.clear()
            self.curves.show_history(self.history)
            self.controls.show_data(self._kept_read)
            self.controls.show_run("the run failed; the model shown before is kept")

    @Slot(bool)
    def _on_busy(self, _busy: bool) -> None:
        self.controls.set_running(self.busy, self.trainer is not None)
        self.busy_changed.emit(self.busy)

    # --- a saved run -----------------------------------------------------------------------------------------

    @Slot()
    def _choose_run(self) -> None:
        path = dialogs.choose_open_file(self, "Open a saved run to continue", dialogs.RUNS, RUN_FILTER)
        if path:
            self.open_run(path)

    def open_run(self, path: str) -> None:
        """Read the run saved at `path` (in a job), show its curves and make it the one Continue trains on."""
        self._fresh = False
        if self.slot.run(opened_run(path, self.controls.chosen_folder()), self._on_step, on_result=self._on_opened,
                         what="the training"):
            self.status.emit(f"Opening {Path(path).name}…")

    @Slot(object)
    def _on_opened(self, run: Run) -> None:
        self.kept = run
        trainer = run.trainer
        self.history = list(trainer.history)
        self.curves.clear()
        self.curves.show_history(self.history)
        epochs = epochs_to_continue(trainer)
        self.controls.show_settings(trainer, epochs)
        part = f" and {trainer.partial.batches_done} batches" if trainer.partial is not None else ""
        last = f"; {self.history[-1].describe()}" if self.history else ""
        text = (f"{trainer.model.name}: {trainer.epochs_done} epochs{part} done{last}. Continue trains it up to "
                f"{epochs} epochs")
        self.controls.show_run(text)
        self.status.emit(text)

    # --- the trained model -----------------------------------------------------------------------------------

    def use_model(self) -> None:
        if self.trainer is None or self.busy:
            return
        self.session.use_model(copy.deepcopy(self.trainer.model))  # a copy: continuing changes nothing shown

    @Slot()
    def _choose_save_path(self) -> None:
        if self.trainer is None:
            return
        path, chosen = dialogs.choose_save_file(self, "Save the trained model", dialogs.RUNS,
                                                f"{self.trainer.arch}.pt", ";;".join(SAVE_FILTERS))
        if path:
            self.save_to(with_format_suffix(path, chosen))

    def save_to(self, path: str) -> None:
        """MODEL.pt, .ts or .pt2 (by its suffix) and MODEL.json, written in a job; `--model MODEL` loads them."""
        if self.trainer is None or self.slot.busy:
            return
        self.save_slot.run(steps_of(save_trained, self.trainer, path), on_result=self._on_saved,
                           what="the save")

    @Slot(object)
    def _on_saved(self, files) -> None:
        self.saved = list(files)
        model, sidecar = Path(files[0]), Path(files[1])
        again = ", or Open run… to continue it" if model.suffix.lower() in (".pt", ".pth", "") else ""
        self.status.emit(f"Saved {model} ({SAVE_FORMATS[model.suffix.lower()]}) and {sidecar.name}; load it with "
                         f"--model {model}{again}")
