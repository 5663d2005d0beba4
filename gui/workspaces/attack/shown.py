"""What the Attack workspace's views look at: one of the loaded images (the images column), or one image of a
run over a dataset that is not loaded (held-out digits, a folder), whose images the workspace holds here and
never puts in the session: the images column stays as the user left it, and a later model change converts
only the loaded images. The views and the run report read `batch`, `probs`, `selected` and the two signals as
they would the session's."""
from __future__ import annotations

import torch
from PySide6.QtCore import QObject, Signal, Slot

from engine.data import ImageBatch
from engine.models import LoadedModel

from ...session import LoadedImages, Session
from .run_model import RunModel


class ShownImages(QObject):
    selection_changed = Signal(int)  # index into the images shown now, -1 for none
    images_changed = Signal(bool)  # the session's: True when the loaded images were replaced

    def __init__(self, session: Session, run_model: RunModel, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.run_model = session, run_model
        self.dataset: LoadedImages | None = None  # the last dataset run's own images
        self.on_dataset = False  # whether the views show `dataset` rather than the loaded images
        self._dataset_selected = -1
        self._deselecting = False  # the session's selection is being cleared for a dataset image
        session.selection_changed.connect(self._on_session_selection)
        session.images_changed.connect(self.images_changed)
        run_model.cleared.connect(self.forget_dataset)

    # --- the session's queries, for the images shown ---------------------------------------------------------

    @property
    def model(self) -> LoadedModel | None:
        return self.session.model

    def class_name(self, index: int) -> str:
        return self.session.class_name(index)

    @property
    def batch(self) -> ImageBatch | None:
        return self.dataset.batch if self.on_dataset else self.session.batch

    @property
    def probs(self) -> torch.Tensor | None:
        return self.dataset.probs if self.on_dataset else self.session.probs

    @property
    def selected(self) -> int:
        return self._dataset_selected if self.on_dataset else self.session.selected

    # --- what the run's tables need --------------------------------------------------------------------------

    @property
    def run_probs(self) -> torch.Tensor | None:
        """The clean probabilities of the images the current run is over, by the run's indices."""
        request = self.run_model.request
        own = request is not None and request.own_images and self.dataset is not None
        return self.dataset.probs if own else self.session.probs

    @property
    def selected_in_run(self) -> int:
        """The selected image as the current run's tables know it; -1 when the views show other images."""
        return self.selected if self.run_model.shows_run_images() else -1

    @property
    def selected_in_stats(self) -> int:
        """The same for the statistics, which stay those of the last dataset run."""
        return self.selected if self.on_dataset == (self.dataset is not None) else -1

    # --- commands --------------------------------------------------------------------------------------------

    def hold_dataset(self, images: LoadedImages | None) -> None:
        """A run over a dataset starts: over these images of its own, or (None) over loaded images. The views
        keep showing the image they show, unless it belonged to the dataset held before."""
        self.dataset = images
        if self.on_dataset:
            self._show_loaded()

    @Slot()
    def forget_dataset(self, *_) -> None:
        """The run was forgotten (the loaded images were replaced): so are its images."""
        self.dataset = None
        if self.on_dataset:
            self._show_loaded()

    def open_run_row(self, index: int) -> None:
        """Show image `index` of the current run's (a row of its batch table)."""
        request = self.run_model.request
        self._open(index, in_dataset=request is not None and request.own_images)

    def open_stats_row(self, index: int) -> None:
        """Show image `index` of the last dataset run's (a row of its statistics)."""
        self._open(index, in_dataset=self.dataset is not None)

    # --- reactions -------------------------------------------------------------------------------------------

    def _open(self, index: int, in_dataset: bool) -> None:
        if not in_dataset or self.dataset is None:
            self.session.select(index)
            return
        self._deselecting = True
        try:
            self.session.select(-1)  # no thumbnail stays highlighted: the image shown is none of them
        finally:
            self._deselecting = False
        self.on_dataset, self._dataset_selected = True, index
        self.run_model.look_at(own_images=True)
        self.selection_changed.emit(index)

    def _show_loaded(self) -> None:
        self.on_dataset, self._dataset_selected = False, -1
        self.run_model.look_at(own_images=False)
        self.selection_changed.emit(self.session.selected)

    @Slot(int)
    def _on_session_selection(self, index: int) -> None:
        if self._deselecting:
            return
        if self.on_dataset:  # a thumbnail was chosen: back to the loaded images
            self._show_loaded()
        else:
            self.selection_changed.emit(index)
