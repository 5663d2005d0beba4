"""The shell's left column: the model chooser and the strip of loaded images, shared by every workspace."""
from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal, Slot
from PySide6.QtGui import QFontMetrics, QIcon
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
PREDICTION = Qt.ItemDataRole.UserRole + 1  # (class name, " 97%"): the caption's first part
OUTCOME = Qt.ItemDataRole.UserRole + 2  # "→ class name" after a run, "" before
CAPTION_LINES = 2  # for the class name and its probability; an attack's outcome adds one more
CELL_MARGIN = 10  # pixels beside a thumbnail, at the least
BREAKS = " -"  # where a class name is best wrapped ("black-and-tan coonhound")


def looks_like_file(spec: str) -> bool:
    return Path(spec).suffix in MODEL_FILE_SUFFIXES or "/" in spec or "\\" in spec


def fitting_prefix(text: str, metrics: QFontMetrics, width: int) -> int:
    """How many characters of `text` fit in `width` pixels, cut after a space or a hyphen where one fits."""
    fit = 0
    while fit < len(text) and metrics.horizontalAdvance(text[: fit + 1]) <= width:
        fit += 1
    if fit == len(text):
        return fit
    breaks = [i + 1 for i in range(fit) if text[i] in BREAKS]
    return breaks[-1] if breaks else fit


def two_line_caption(name: str, suffix: str, metrics: QFontMetrics, width: int) -> str:
    """`name` then `suffix` (the probability) in at most two lines of `width` pixels: wrapped after a word, and
    what still does not fit shortened with … before the suffix, which always stays."""
    if metrics.horizontalAdvance(name + suffix) <= width:
        return name + suffix
    cut = fitting_prefix(name, metrics, width)
    first, rest = name[:cut].rstrip(), name[cut:].lstrip()
    room = max(0, width - metrics.horizontalAdvance(suffix))
    second = metrics.elidedText(rest, Qt.TextElideMode.ElideRight, room) + suffix
    return f"{first}\n{second.lstrip()}"


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
        form.addRow(self.random_check)  # under the architecture, the whole width: the column stays narrow
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

    def show_request(self, spec: str, device: str | None, arch: str | None) -> None:
        """Fill the fields as for the load that gave the model now loaded (after a load that failed)."""
        self.set_spec(spec)
        if device:
            self.device_combo.setCurrentText(device)
        if arch:
            self.arch_combo.setCurrentText(arch)

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


class ThumbnailList(QListWidget):
    """Thumbnails in as many columns as fit, the cells widened to share the width (a vertical scroll bar
    counted in, so that one appearing never changes the columns); `on_cell_width` captions them again."""

    def __init__(self, icon_side: int, on_cell_width, parent: QWidget | None = None):
        super().__init__(parent)
        self.min_cell, self.on_cell_width = icon_side + CELL_MARGIN, on_cell_width
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(icon_side, icon_side))
        lines = (CAPTION_LINES + 1) * self.fontMetrics().lineSpacing()
        self.setGridSize(QSize(self.min_cell, icon_side + lines + 10))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        room = self.contentsRect().width() - self.verticalScrollBar().sizeHint().width()
        width = max(self.min_cell, room // max(1, room // self.min_cell))
        if width != self.gridSize().width():
            self.setGridSize(QSize(width, self.gridSize().height()))
            self.on_cell_width()


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
        self.list = ThumbnailList(self.ICON_SIDE, self._caption_all)  # three across the column by default
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
                item = QListWidgetItem(QIcon(thumbnail(batch.images[i], self.ICON_SIDE)), "")
                item.setData(PREDICTION, [class_names[label], f" {100 * float(probs[i, label]):.0f}%"])
                item.setData(OUTCOME, "")
                item.setText(self._caption(item))
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
            after = class_names[verdict.predicted]
            item.setData(OUTCOME, f"→ {after}")
            item.setText(self._caption(item))
            item.setForeground(FOOLED_COLOUR if verdict.fooled else HELD_COLOUR)
            outcome = "fooled" if verdict.fooled else "not fooled"
            item.setToolTip(f"{item.data(NATURAL_TOOLTIP)}\nattacked: {after} ({100 * verdict.confidence:.1f}%), "
                            f"{outcome}")

    @property
    def caption_width(self) -> int:
        """The pixels of a caption line under a thumbnail."""
        return self.list.gridSize().width() - 6

    def _caption(self, item: QListWidgetItem) -> str:
        """The prediction in two lines at most (the full text is in the tooltip), then the outcome of a run."""
        metrics, width = self.list.fontMetrics(), self.caption_width
        name, suffix = item.data(PREDICTION)
        caption = two_line_caption(name, suffix, metrics, width)
        outcome = item.data(OUTCOME)
        return f"{caption}\n{metrics.elidedText(outcome, Qt.TextElideMode.ElideRight, width)}" if outcome else caption

    def _caption_all(self) -> None:
        for row in range(self.list.count()):
            self.list.item(row).setText(self._caption(self.list.item(row)))

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
