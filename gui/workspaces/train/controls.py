"""The Train workspace's column of settings, each form built from the engine's declarations: the network (the
built-in architectures or any torchvision classifier, typed or picked), the data (the shipped digits or an image
folder with its options), the training settings, the defense, the buttons and the summary of the run."""
from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QComboBox, QCompleter, QFormLayout, QGridLayout, QGroupBox, QLabel,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from engine.architectures import ARCHITECTURES, Architecture, get_architecture, torchvision_names
from engine.training import DEFENSES, TRAINING, Trainer
from engine.training import FOLDER as FOLDER_OPTIONS

from ...session import FOLDER
from ...widgets.dataset_box import DatasetBox
from ...widgets.layout import ScrollingPanel
from ...widgets.param_form import ParamForm
from ...widgets.style import MUTED, hint_label
from .runs import SAMPLES, DataRead

TOOLTIP_ROLE = Qt.ItemDataRole.ToolTipRole
DIGITS_HINT = "the 4,000 shipped training digits; measured on the 1,000 held-out ones"
NOTES_SHOWN = 3  # notes of the data reader in the summary; all of them in its tooltip


def breakable(text: str) -> str:
    """`text` with break opportunities (zero-width spaces) after every slash and inside any run of 20
    characters without one, so that a long path or folder name wraps instead of widening the column (a
    word-wrapped QLabel breaks only between words)."""
    return re.sub(r"[^\s/]{20}(?=[^\s/])", lambda run: run.group() + "\u200b", text).replace("/", "/\u200b")


def known_architecture(name: str) -> Architecture | None:
    """The architecture called `name` (built-in or torchvision), None while it names none (half typed)."""
    if name in ARCHITECTURES or name in torchvision_names():
        return get_architecture(name)
    return None


class ArchitectureBox(QComboBox):
    """The built-in architectures, then torchvision's classification networks; editable, so a name can be typed
    (completed from the list). `name()` is the text; a wrong one is the engine's error when the run starts."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)  # Enter must not add what was typed to the list
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)  # torchvision's long names must not widen the column
        for name, spec in ARCHITECTURES.items():
            self.addItem(name)
            self.setItemData(self.count() - 1, spec.summary, TOOLTIP_ROLE)
        self.insertSeparator(self.count())
        for name in torchvision_names():
            self.addItem(name)
            self.setItemData(self.count() - 1, f"torchvision's {name} (RGB image folders; random initial weights)",
                             TOOLTIP_ROLE)
        self.setMaxVisibleItems(20)
        completer = QCompleter([self.itemText(i) for i in range(self.count()) if self.itemText(i)], self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.setCompleter(completer)
        self.lineEdit().setPlaceholderText("mlp, resnet18, …")

    def name(self) -> str:
        return self.currentText().strip()


class TrainControls(QWidget):
    """The forms and buttons; `settings()` reads them as the engine's typed values (ParameterError if wrong)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.arch = ArchitectureBox()
        self.arch_form, self.training_form, self.defense_form = ParamForm(), ParamForm(), ParamForm()
        self._recipe_shown = False  # the training form holds an architecture's recipe (see _arch_chosen)
        self.training_form.build(TRAINING, {})
        self.data = DatasetBox({SAMPLES: "the shipped training digits", FOLDER: "an image folder…"},
                               "A folder with one subfolder of images per class")
        self.data.offer((SAMPLES, FOLDER), SAMPLES)
        self.data.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.data.setMinimumContentsLength(12)  # a long folder name must not widen the column
        self.data.setToolTip("the digits that ship with the app, or a folder in ImageFolder layout: "
                             "FOLDER/<class>/<images>")
        self.data_hint = hint_label(DIGITS_HINT)
        self.data_hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        self.folder_form = ParamForm()
        self.folder_form.build(FOLDER_OPTIONS, {})
        self.defense = QComboBox()
        self.defense.addItems(list(DEFENSES))
        self._make_buttons()
        self.summary = QLabel("Choose a network and press Train.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        self._run_text, self._data_read = self.summary.text(), DataRead("")
        self._layout()
        self.arch.currentTextChanged.connect(self._arch_chosen)
        self.defense.currentTextChanged.connect(self._defense_chosen)
        self.data.currentIndexChanged.connect(self._data_chosen)
        self._arch_chosen(self.arch.name())
        self._defense_chosen(self.defense.currentText())
        self._data_chosen()

    def _make_buttons(self) -> None:
        self.train_button, self.continue_button = QPushButton("Train"), QPushButton("Continue")
        self.stop_button, self.use_button = QPushButton("Stop"), QPushButton("Use this model")
        self.save_button, self.open_button = QPushButton("Save…"), QPushButton("Open run…")
        self.continue_button.setToolTip("train the same network on from where it stopped, up to the epochs set "
                                        "above (its other settings stay those it was started with)")
        self.use_button.setToolTip("load the trained model into the window (a copy: training on changes nothing "
                                   "the other workspaces see)")
        self.save_button.setToolTip("as .pt (weights and training state: can be opened and continued), .ts "
                                    "(TorchScript) or .pt2 (torch.export); the suffix chooses")
        self.open_button.setToolTip("open a run saved as .pt to see its curves and continue it")

    def _layout(self) -> None:
        network = QGroupBox("Network")
        rows = QFormLayout(network)
        rows.addRow("architecture", self.arch)
        rows.addRow(self.arch_form)
        data = QGroupBox("Data")
        column = QFormLayout(data)
        column.addRow("images", self.data)
        column.addRow(self.data_hint)
        column.addRow(self.folder_form)
        training = QGroupBox("Training")
        QVBoxLayout(training).addWidget(self.training_form)
        defense = QGroupBox("Defense")
        column = QFormLayout(defense)
        column.addRow("defense", self.defense)
        column.addRow(self.defense_form)
        forms = QWidget()
        column = QVBoxLayout(forms)
        column.setContentsMargins(0, 0, 0, 0)
        for group in (network, data, training, defense):
            column.addWidget(group)
        column.addStretch(1)
        self.scroll = ScrollingPanel(forms)  # the forms scroll; the buttons and the summary below them stay in view
        buttons = QGridLayout()
        for index, button in enumerate((self.train_button, self.continue_button, self.stop_button,
                                        self.use_button, self.save_button, self.open_button)):
            buttons.addWidget(button, index // 3, index % 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)

    @Slot(str)
    def _arch_chosen(self, name: str) -> None:
        spec = known_architecture(name.strip())
        if spec is None:  # being typed, or wrong: Train will say which names there are
            self.arch.setToolTip("type or choose an architecture: the built-in ones or a torchvision network")
            self.arch_form.build((), {})
            return
        self.arch.setToolTip(spec.summary)
        self.arch_form.build(spec.options, {})
        if spec.training_defaults or self._recipe_shown:  # repu brings its recipe; leaving it restores the defaults
            self.training_form.build(TRAINING, dict(spec.training_defaults))
        self._recipe_shown = bool(spec.training_defaults)

    @Slot(str)
    def _defense_chosen(self, name: str) -> None:
        self.defense.setToolTip(DEFENSES[name].summary)
        self.defense_form.build(DEFENSES[name], {})

    @Slot()
    def _data_chosen(self) -> None:
        folder = self.chosen_folder()
        self.folder_form.setVisible(folder is not None)
        self.data_hint.setText(DIGITS_HINT if folder is None else breakable(folder))
        self.data.setToolTip(folder or DIGITS_HINT)

    def chosen_folder(self) -> str | None:
        return self.data.folder if self.data.currentData() == FOLDER else None

    def settings(self) -> dict:
        arch, defense, folder = self.arch.name(), self.defense.currentText(), self.chosen_folder()
        return {"arch": arch, "defense": defense, "data": folder or SAMPLES,
                "folder_options": FOLDER_OPTIONS.resolve(self.folder_form.values()) if folder else {},
                "arch_options": get_architecture(arch).options.resolve(self.arch_form.values()),
                "training": TRAINING.resolve(self.training_form.values()),
                "defense_options": DEFENSES[defense].resolve(self.defense_form.values())}

    def show_settings(self, trainer: Trainer, epochs: int) -> None:
        """Show the settings an opened run was trained with (Continue keeps them), training up to `epochs`."""
        self.arch.setCurrentText(trainer.arch)
        self.arch_form.fill(trainer.arch_options)
        self.defense.setCurrentText(trainer.defense)
        self.defense_form.fill(trainer.defense_options)
        self.training_form.fill({**trainer.params, "epochs": epochs})
        recipe = trainer.data_recipe
        if recipe.get("data", SAMPLES) == SAMPLES:
            self.data.choose(SAMPLES)
        else:
            self.data.choose(FOLDER, str(recipe["data"]))
            self.folder_form.fill(recipe)
        self._data_chosen()

    # --- the summary: the run's last words, then what the data reader said -----------------------------------

    def show_run(self, text: str) -> None:
        self._run_text = text
        self._show_summary()

    @property
    def data_read(self) -> DataRead:
        """What the summary shows of the data, as the last job's first step said."""
        return self._data_read

    def show_data(self, read: DataRead) -> None:
        self._data_read = read
        self._show_summary()

    def _show_summary(self) -> None:
        """The run's line, then (muted) the data's description and the reader's first notes, all in the tooltip."""
        notes = list(self._data_read.notes)
        shown = notes[:NOTES_SHOWN] + ([f"… and {len(notes) - NOTES_SHOWN} more notes"]
                                       if len(notes) > NOTES_SHOWN else [])
        data = "<br>".join(html.escape(breakable(line)) for line in (self._data_read.description, *shown) if line)
        run = html.escape(breakable(self._run_text))
        self.summary.setText(run + (f"<br><span style='color:{MUTED}'>{data}</span>" if data else ""))
        self.summary.setToolTip("\n".join(notes))

    def set_running(self, running: bool, trained: bool) -> None:
        for button in (self.train_button, self.open_button):
            button.setEnabled(not running)
        for button in (self.continue_button, self.use_button, self.save_button):
            button.setEnabled(not running and trained)
        self.stop_button.setEnabled(running)
