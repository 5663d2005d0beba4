"""The Universal tab of the resumable gallery: one targeted universal image per class, saved to a folder as
each class finishes; a clicked class is shown enlarged and applied to the loaded images of that class."""
from __future__ import annotations

import html
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QLabel, QLineEdit, QListView, QListWidget, QListWidgetItem,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

from engine.core import RunControl
from engine.models import LoadedModel
from engine.core.classes import parse_classes
from engine.universal.gallery import GalleryEntry, GalleryProgress, export_gallery
from engine.visualize import tile

from ...jobs import steps_of
from ...widgets import dialogs
from ...widgets.image_view import ImageView
from ...widgets.imaging import display_array, thumbnail
from ...widgets.tabbed_workspace import LatestRequest, WorkspaceTab
from .common import perturbation_view, show_perturbation
from .computations import class_examples, gallery_run, perturbation_picture

if TYPE_CHECKING:
    from .workspace import UniversalWorkspace

TILE_ICON = 96  # gallery tiles, pixels
EXAMPLES = 8  # loaded images of the clicked class shown with its perturbation


class GalleryTab(WorkspaceTab):
    title = "Gallery"
    export_note = " (open index.html)"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.folder_edit = QLineEdit()
        choose = QPushButton("Folder…")
        choose.clicked.connect(self._choose_folder)
        self.classes_edit = QLineEdit("all")
        self.classes_edit.setToolTip("every class (all), a range (0-9) or a list (1,5,7)")
        self.classes_edit.setMaximumWidth(120)
        for widget in (QLabel("folder"), self.folder_edit, choose, QLabel("classes"), self.classes_edit):
            self.controls.addWidget(widget)
        self.finish_controls()
        self.grid = QListWidget()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(TILE_ICON, TILE_ICON))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setSpacing(6)
        self.grid.currentItemChanged.connect(self._enlarge)
        self.enlarged = perturbation_view("class perturbation (amplified)")
        self.examples = ImageView("real images of the class, with it", bar_row=True)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        for view in (self.enlarged, self.examples):
            side_layout.addWidget(view.label)
            side_layout.addWidget(view.widget, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.grid)
        splitter.addWidget(side)
        splitter.setSizes([700, 400])
        self.body.addWidget(splitter, 0, 0)
        self.entries: dict[int, GalleryEntry] = {}
        self.previews = LatestRequest(self)  # the model's verdicts on the clicked class's examples
        workspace.watch(self.previews, shown_as_busy=False)
        self.note.setText("Uses the Targeted image tab's settings; each class is saved to the folder as it "
                          "finishes, and Run on the same folder computes only the missing classes.")

    def show_model(self, model: LoadedModel) -> None:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model.name)
        self.folder_edit.setText(str(Path.home() / ".advlens" / "galleries" / safe))
        self.entries = {}
        self.grid.clear()
        self.previews.forget()

    def _choose_folder(self) -> None:
        folder = dialogs.choose_folder(self, "Gallery folder (finished classes are kept there)", dialogs.GALLERIES,
                                       self.folder_edit.text().strip() or None)
        if folder:
            self.folder_edit.setText(folder)

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        model = workspace.session.model
        classes = parse_classes(self.classes_edit.text(), model.num_classes)
        folder = self.folder_edit.text().strip()
        if not folder:
            raise ValueError("choose a folder for the gallery")
        params = workspace.targeted.settings.values(model)
        return gallery_run(model, workspace.source(), workspace.loaded_images(), folder, classes, params, control)

    def begin(self) -> None:
        """The run first hands over the classes already on disk, then adds the others."""
        self.entries = {}
        self.grid.clear()

    def show_step(self, progress: GalleryProgress) -> None:
        if progress.note:
            self.workspace.show_status(f"Gallery: {progress.note}")
        elif progress.finished is not None:
            self.add_entry(progress.finished)
        elif progress.step is not None and progress.step.frame is not None:
            name = self.workspace.session.class_name(progress.class_index)
            self.workspace.show_status(f"Gallery: {progress.done}/{progress.total} classes done; learning "
                                       f"{progress.class_index}: {name}, step {progress.step.iteration}/"
                                       f"{progress.step.total}")

    def show_result(self, entries: dict[int, GalleryEntry]) -> None:
        for entry in entries.values():
            self.add_entry(entry)
        self.export_button.setEnabled(bool(self.entries))

    def add_entry(self, entry: GalleryEntry) -> None:
        if entry.class_index in self.entries:
            return
        self.entries[entry.class_index] = entry
        icon = thumbnail(perturbation_picture(entry.perturbation).transpose(2, 0, 1) / 255.0, TILE_ICON)
        item = QListWidgetItem(QIcon(icon), f"{entry.class_index}: {entry.class_name[:18]}\n"
                                            f"{entry.target_rate:.0%}")
        item.setData(Qt.ItemDataRole.UserRole, entry.class_index)
        item.setToolTip(f"{entry.class_name}: target rate {entry.target_rate:.1%} on the held-out images")
        self.grid.addItem(item)
        self.export_button.setEnabled(True)

    @Slot()
    def _enlarge(self, item: QListWidgetItem | None, *_) -> None:
        """The clicked class's perturbation, and up to 8 loaded images of that class with it added (the
        model's verdicts on them come from a job)."""
        if item is None:
            return
        entry = self.entries[item.data(Qt.ItemDataRole.UserRole)]
        show_perturbation(self.enlarged, entry.perturbation)
        self.enlarged.set_title(f"{entry.class_index}: {html.escape(entry.class_name)}",
                                f"target rate {entry.target_rate:.1%}")
        session = self.workspace.session
        if session.batch is None:
            return
        labels = session.batch.labels if session.batch.labels is not None else session.probs.argmax(dim=1)
        members = torch.nonzero(labels == entry.class_index)[:, 0][:EXAMPLES]
        if not len(members):
            self.examples.clear()
            self.examples.set_title("no loaded image of this class")
            return
        model, images = session.model, session.batch.images[members]
        self.previews.request(lambda: steps_of(class_examples, model, images, entry.perturbation),
                              lambda answer: self._show_examples(entry.class_index, *answer))

    def _show_examples(self, class_index: int, applied: torch.Tensor, predicted: torch.Tensor) -> None:
        self.examples.show(display_array(tile(applied).numpy()), (0.0, 1.0))
        self.examples.set_title(f"{len(applied)} loaded images of the class",
                                f"still called it: {int((predicted == class_index).sum())}")

    def export_steps(self, directory: Path) -> Generator:
        if not self.entries:
            raise ValueError("the gallery is empty")
        session = self.workspace.session
        example = None
        if session.batch is not None and session.selected >= 0:
            example = session.batch.images[session.selected].numpy()
        return steps_of(export_gallery, dict(self.entries), directory, example)
