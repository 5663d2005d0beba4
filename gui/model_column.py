"""The shell's left column: the model chooser and the strip of loaded images, shared by every workspace."""
from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.data import ARRAY_SUFFIXES, IMAGE_SUFFIXES, ImageBatch
from engine.models import BUILTIN_MODELS, MODEL_FILE_SUFFIXES, RANDOM_WEIGHTS_SUFFIX, LoadedModel, model_choices

from .session import Verdict
from .widgets import dialogs
from .widgets.imaging import thumbnail
from .widgets.style import FOOLED_COLOUR, HELD_COLOUR, hint_label

NATURAL_TOOLTIP = Qt.ItemDataRole.UserRole  # a thumbnail's tooltip before any run


def looks_like_file(spec: str) -> bool:
    return Path(spec).suffix in MODEL_FILE_SUFFIXES or "/" in spec or "\\" in spec


class ModelPanel(QGroupBox):
    """Built-in and zoo models by name, or a model file; the device; Load."""

    load_requested = Signal(str, str, object)  # spec, device, arch (None unless a state-dict file)

    def __init__(self, devices: list[str], default_device: str, parent: QWidget | None = None):
        super().__init__("Model", parent)
        self.name_combo = QComboBox()
        self.name_combo.setEditable(True)  # any torchvision classification model name works too
        self.name_combo.addItems(list(model_choices()))
        self.name_combo.setToolTip("A built-in model, a torchvision ImageNet model (weights from torch's cache), "
                                   "or a model file. Type any torchvision classification model name.")
        self.open_button = QPushButton("Open model file…")
        self.open_button.setToolTip("TorchScript, torch.export (.pt2) or a state dict (then pick its "
                                    "architecture). Files are read with weights_only=True: no pickled code runs.")
        self.arch_combo = QComboBox()
        self.arch_combo.addItems(list(model_choices()))
        self.arch_combo.setToolTip("The network a state-dict file belongs to")
        self.random_check = QCheckBox("random weights (no download)")
        self.random_check.setToolTip("Untrained weights: for trying the interface on ImageNet-sized models offline")
        self.device_combo = QComboBox()
        self.device_combo.addItems(devices)
        self.device_combo.setCurrentText(default_device)
        self.load_button = QPushButton("Load model")
        self.info = hint_label()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Model", self.name_combo)
        form.addRow("", self.open_button)
        form.addRow("Architecture", self.arch_combo)
        form.addRow("", self.random_check)
        form.addRow("Device", self.device_combo)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.load_button)
        layout.addWidget(self.info)

        self.open_button.clicked.connect(self.choose_file)
        self.load_button.clicked.connect(self.request_load)
        self.name_combo.currentTextChanged.connect(self._update_enabled)
        self._update_enabled(self.name_combo.currentText())

    def spec(self) -> str:
        name = self.name_combo.currentText().strip()
        random = self.random_check.isEnabled() and self.random_check.isChecked()
        return name + RANDOM_WEIGHTS_SUFFIX if random else name

    def set_spec(self, spec: str) -> None:
        self.name_combo.setCurrentText(spec.removesuffix(RANDOM_WEIGHTS_SUFFIX))
        self.random_check.setChecked(spec.endswith(RANDOM_WEIGHTS_SUFFIX))

    def show_model(self, model: LoadedModel) -> None:
        shape = "×".join(map(str, model.input_shape))
        notes = "".join(f"<br>{note}" for note in model.notes)
        self.info.setText(f"<b>{model.name}</b> · {shape} · {model.num_classes} classes"
                          f"<br>on {model.device} · {model.source}{notes}")
        self.info.setToolTip(model.source)

    @Slot(str)
    def _update_enabled(self, text: str) -> None:
        is_file = looks_like_file(text.strip())
        self.arch_combo.setEnabled(is_file)
        self.random_check.setEnabled(not is_file and text.strip() not in BUILTIN_MODELS)

    def choose_file(self) -> str:
        """Ask for a model file and put it in the model field; the path, or "" when cancelled."""
        suffixes = " ".join(f"*{s}" for s in MODEL_FILE_SUFFIXES)
        path = dialogs.choose_open_file(self, "Open a model file", dialogs.MODELS,
                                        f"PyTorch models ({suffixes});;All files (*)")
        if path:
            self.name_combo.setCurrentText(path)
        return path

    def request_load(self) -> None:
        spec = self.spec()
        arch = self.arch_combo.currentText() if looks_like_file(spec) else None
        self.load_requested.emit(spec, self.device_combo.currentText(), arch)


class ImagesPanel(QGroupBox):
    """Thumbnails of the loaded images, each captioned with the model's prediction (and, after a run, the
    prediction on the attacked image)."""

    samples_requested = Signal()
    files_requested = Signal(list)
    clear_requested = Signal()
    image_selected = Signal(int)

    ICON_SIDE = 64

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Images", parent)
        self.samples_button = QPushButton("Samples")
        self.samples_button.setToolTip("Held-out digits for digit models, packaged photographs for the others")
        self.files_button = QPushButton("Open images…")
        self.folder_button = QPushButton("Open folder…")
        self.clear_button = QPushButton("Clear")
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.ICON_SIDE, self.ICON_SIDE))
        self.list.setGridSize(QSize(self.ICON_SIDE + 16, self.ICON_SIDE + 40))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        buttons = QGridLayout()
        buttons.addWidget(self.samples_button, 0, 0)
        buttons.addWidget(self.clear_button, 0, 1)
        buttons.addWidget(self.files_button, 1, 0)
        buttons.addWidget(self.folder_button, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        layout.addWidget(hint_label("Drop image files or folders onto the window to add them."))
        self.samples_button.clicked.connect(self.samples_requested)
        self.clear_button.clicked.connect(self.clear_requested)
        self.files_button.clicked.connect(self.choose_files)
        self.folder_button.clicked.connect(self.choose_folder)
        self.list.currentRowChanged.connect(self._on_row_changed)

    def set_buttons_enabled(self, enabled: bool) -> None:
        for button in (self.samples_button, self.files_button, self.folder_button, self.clear_button):
            button.setEnabled(enabled)

    def show_images(self, batch: ImageBatch | None, probs: torch.Tensor | None, class_names) -> None:
        with QSignalBlocker(self.list):
            self.list.clear()
            if batch is None:
                return
            preds = probs.argmax(dim=1)
            for i, name in enumerate(batch.names):
                label = int(preds[i])
                item = QListWidgetItem(QIcon(thumbnail(batch.images[i], self.ICON_SIDE)),
                                       self._caption(class_names[label], f" {100 * float(probs[i, label]):.0f}%"))
                item.setToolTip(f"{name}\nprediction: {class_names[label]} ({100 * float(probs[i, label]):.1f}%)")
                item.setData(NATURAL_TOOLTIP, item.toolTip())
                item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                self.list.addItem(item)

    def show_outcomes(self, verdicts: dict[int, Verdict], class_names) -> None:
        """Append the attacked prediction to each attacked thumbnail: red when fooled."""
        for loaded_index, verdict in verdicts.items():
            item = self.list.item(loaded_index)
            if item is None:
                continue
            before = item.text().split("\n")[0]
            after = class_names[verdict.predicted]
            item.setText(f"{before}\n{self._caption('→ ' + after)}")
            item.setForeground(FOOLED_COLOUR if verdict.fooled else HELD_COLOUR)
            outcome = "fooled" if verdict.fooled else "not fooled"
            item.setToolTip(f"{item.data(NATURAL_TOOLTIP)}\nattacked: {after} ({100 * verdict.confidence:.1f}%), "
                            f"{outcome}")

    def _caption(self, name: str, suffix: str = "") -> str:
        """One line under a thumbnail: the class name shortened with … so that `suffix` still fits."""
        metrics = self.list.fontMetrics()
        room = self.list.gridSize().width() - 6 - metrics.horizontalAdvance(suffix)
        return metrics.elidedText(name, Qt.TextElideMode.ElideRight, room) + suffix

    def select(self, index: int) -> None:
        with QSignalBlocker(self.list):
            self.list.setCurrentRow(index)
        if index >= 0 and self.list.item(index) is not None:
            self.list.scrollToItem(self.list.item(index))

    @Slot(int)
    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.image_selected.emit(row)

    def choose_files(self) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES + ARRAY_SUFFIXES)
        paths = dialogs.choose_open_files(self, "Open images", dialogs.IMAGES,
                                          f"Images and arrays ({patterns});;All files (*)")
        if paths:
            self.files_requested.emit(paths)

    def choose_folder(self) -> None:
        folder = dialogs.choose_folder(self, "Open a folder of images", dialogs.IMAGES)
        if folder:
            self.files_requested.emit([folder])
