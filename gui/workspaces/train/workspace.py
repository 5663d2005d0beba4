"""The Train workspace: choose an architecture, the training settings and a defense (forms built from the
engine's declarations), train live on the shipped training digits with the loss and the held-out accuracies
(clean and under PGD) drawn as they come, stop, continue, hand the model to the other workspaces, save it."""
from __future__ import annotations

import copy
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from engine.architectures import ARCHITECTURES
from engine.core import RunControl
from engine.core.errors import AdvLensError
from engine.training import DEFENSES, TRAINING, Trainer, TrainProgress, new_trainer, train_steps, training_digits
from engine.training.saving import save_trained

from ...jobs import JobSlot, steps_of
from ...widgets.layout import HORIZONTAL, splitter
from ...widgets.param_form import ParamForm
from .curves import TrainingCurves

CONTROLS_WIDTH = 330
REDRAW_EVERY = 8  # batches between redraws of the batch-loss curve


def training_run(settings: dict, trainer: Trainer | None, control: RunControl):
    """The job: read the training digits (in the worker thread), build a trainer or continue the given one."""
    data = training_digits()
    if trainer is None:
        trainer = new_trainer(settings["arch"], data, settings["training"], settings["arch_options"],
                              settings["defense"], settings["defense_options"])
    return (yield from train_steps(trainer, data, settings["training"]["epochs"], control))


class TrainControls(QWidget):
    """The forms and buttons; `settings()` reads them as the engine's typed values (ParameterError if wrong)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.arch = QComboBox()
        for name, spec in ARCHITECTURES.items():
            self.arch.addItem(name)
            self.arch.setItemData(self.arch.count() - 1, spec.summary, 3)  # tooltip role
        self.arch_form, self.training_form, self.defense_form = ParamForm(), ParamForm(), ParamForm()
        self._recipe_shown = False  # the training form holds an architecture's recipe (see _arch_chosen)
        self.training_form.build(TRAINING, {})
        self.defense = QComboBox()
        self.defense.addItems(list(DEFENSES))
        self.train_button, self.continue_button = QPushButton("Train"), QPushButton("Continue")
        self.stop_button, self.use_button, self.save_button = (QPushButton("Stop"), QPushButton("Use this model"),
                                                               QPushButton("Save…"))
        self.continue_button.setToolTip("train the same network on from where it stopped, up to the epochs set "
                                        "above (its other settings stay those it was started with)")
        self.use_button.setToolTip("load the trained model into the window (a copy: training on changes nothing "
                                   "the other workspaces see)")
        self.summary = QLabel("Choose a network and press Train.")
        self.summary.setWordWrap(True)
        self._layout()
        self.arch.currentTextChanged.connect(self._arch_chosen)
        self.defense.currentTextChanged.connect(self._defense_chosen)
        self._arch_chosen(self.arch.currentText())
        self._defense_chosen(self.defense.currentText())

    def _layout(self) -> None:
        network = QGroupBox("Network")
        rows = QFormLayout(network)
        rows.addRow("architecture", self.arch)
        rows.addRow(self.arch_form)
        data = QLabel("the 4,000 shipped training digits; measured on the 1,000 held-out ones")
        data.setWordWrap(True)
        rows.addRow("data", data)
        training = QGroupBox("Training")
        QVBoxLayout(training).addWidget(self.training_form)
        defense = QGroupBox("Defense")
        column = QFormLayout(defense)
        column.addRow("defense", self.defense)
        column.addRow(self.defense_form)
        layout = QVBoxLayout(self)
        for group in (network, training, defense):
            layout.addWidget(group)
        for pair in ((self.train_button, self.continue_button, self.stop_button),
                     (self.use_button, self.save_button)):
            row = QHBoxLayout()
            for button in pair:
                row.addWidget(button)
            layout.addLayout(row)
        layout.addWidget(self.summary)
        layout.addStretch(1)

    @Slot(str)
    def _arch_chosen(self, name: str) -> None:
        spec = ARCHITECTURES[name]
        self.arch.setToolTip(spec.summary)
        self.arch_form.build(spec.options, {})
        if spec.training_defaults or self._recipe_shown:  # repu brings its recipe; leaving it restores the defaults
            self.training_form.build(TRAINING, dict(spec.training_defaults))
        self._recipe_shown = bool(spec.training_defaults)

    @Slot(str)
    def _defense_chosen(self, name: str) -> None:
        self.defense.setToolTip(DEFENSES[name].summary)
        self.defense_form.build(DEFENSES[name], {})

    def settings(self) -> dict:
        arch, defense = self.arch.currentText(), self.defense.currentText()
        return {"arch": arch, "defense": defense,
                "arch_options": ARCHITECTURES[arch].options.resolve(self.arch_form.values()),
                "training": TRAINING.resolve(self.training_form.values()),
                "defense_options": DEFENSES[defense].resolve(self.defense_form.values())}

    def set_running(self, running: bool, trained: bool) -> None:
        for button in (self.train_button, self.continue_button, self.use_button, self.save_button):
            button.setEnabled(not running)
        self.continue_button.setEnabled(not running and trained)
        self.use_button.setEnabled(not running and trained)
        self.save_button.setEnabled(not running and trained)
        self.stop_button.setEnabled(running)


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
        self.trainer: Trainer | None = None
        self.history: list = []  # the epoch records of the model being trained, as the steps brought them
        self.saved: list[Path] = []  # what the last save wrote (read by tests)
        self.slot, self.save_slot = JobSlot(self), JobSlot(self)
        self.controls, self.curves = TrainControls(), TrainingCurves()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.controls)
        scroll.setMinimumWidth(CONTROLS_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter(HORIZONTAL, (self.curves, scroll), stretch=(1,)))
        c = self.controls
        c.train_button.clicked.connect(lambda: self.start(fresh=True))
        c.continue_button.clicked.connect(lambda: self.start(fresh=False))
        c.stop_button.clicked.connect(self.stop)
        c.use_button.clicked.connect(self.use_model)
        c.save_button.clicked.connect(self._choose_save_path)
        for slot in (self.slot, self.save_slot):
            slot.busy_changed.connect(self._on_busy)
            slot.failed.connect(lambda text: self.message.emit(text, True, "Training"))
        c.set_running(False, False)

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

    def showcase(self):
        self.controls.training_form.fill({"epochs": 2, "robust_steps": 5})
        self.start(fresh=True)
        return self.slot.job

    # --- training --------------------------------------------------------------------------------------------

    def start(self, fresh: bool) -> None:
        try:
            settings = self.controls.settings()
        except AdvLensError as exc:
            self.message.emit(str(exc), True, "Training")
            return
        trainer = None if fresh else self.trainer
        if fresh:
            self.curves.clear()
            self.history = []
        control = RunControl(frame_interval=None)
        what = "Training" if fresh else "Continuing"
        if self.slot.run(training_run(settings, trainer, control), self._on_step, self._on_trained, control,
                         what="the training"):
            self.status.emit(f"{what} {settings['arch']} ({settings['defense']}) on the training digits…")

    @Slot(object)
    def _on_step(self, step: TrainProgress) -> None:
        """Draw what the worker reported: the records come with the steps, the trainer is never read here."""
        if step.record is None:
            self.curves.add_batch(step.epoch - 1 + step.batch / step.batches, step.loss)
        if step.record is not None:
            self.history.append(step.record)
            self.curves.show_history(self.history)
            self.controls.summary.setText(step.record.describe())
        elif step.batch % REDRAW_EVERY == 0:
            self.curves.redraw_batches()
        done = (step.epoch - 1) * step.batches + step.batch
        self.progress.emit(done, step.epochs * step.batches, f"epoch {step.epoch}/{step.epochs}")
        self.status.emit(f"epoch {step.epoch}/{step.epochs} · batch {step.batch}/{step.batches} · loss "
                         f"{step.loss:.4f}")

    @Slot(object)
    def _on_trained(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.curves.show_history(self.history)
        stopped = " (stopped; Continue trains on)" if trainer.stopped else ""
        last = f"; {self.history[-1].describe()}" if self.history else ""
        text = f"{trainer.model.name}: {trainer.epochs_done} epochs{stopped}{last}"
        self.controls.summary.setText(text)
        self.status.emit(text)

    @Slot(bool)
    def _on_busy(self, _busy: bool) -> None:
        self.controls.set_running(self.busy, self.trainer is not None)
        self.busy_changed.emit(self.busy)

    # --- the trained model -----------------------------------------------------------------------------------

    def use_model(self) -> None:
        if self.trainer is None or self.busy:
            return
        self.session.use_model(copy.deepcopy(self.trainer.model))  # a copy: continuing changes nothing shown

    @Slot()
    def _choose_save_path(self) -> None:
        if self.trainer is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the trained model", f"{self.trainer.arch}.pt",
                                              "PyTorch state dict + JSON (*.pt)")
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        """MODEL.pt and MODEL.json, written in a job; `--model MODEL.pt` loads them."""
        if self.trainer is None or self.slot.busy:
            return
        self.save_slot.run(steps_of(save_trained, self.trainer, path), on_result=self._on_saved,
                           what="the save")

    @Slot(object)
    def _on_saved(self, files) -> None:
        self.saved = list(files)
        self.status.emit(f"Saved {files[0]} and {Path(files[1]).name}; load it with --model {files[0]}")

