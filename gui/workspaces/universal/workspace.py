"""The Universal workspace: one perturbation for many images. The image set on the left (loaded images,
held-out digits or a folder) is split in two fixed halves: perturbations are computed on one and measured on the
other. Four outputs in tabs: UAP, the targeted universal image, the cross-model table, and the resumable gallery
of one targeted image per class. Reading the set, the model's verdicts and exports all run in jobs."""
from __future__ import annotations

import torch
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from engine.models import LoadedModel

from ...session import FOLDER, HELDOUT, LOADED, DatasetSource, Session
from ...widgets.dataset_box import DatasetBox
from ...widgets.output_tab import OutputTab
from ...widgets.style import hint_label
from ...widgets.tabbed_workspace import TabbedWorkspace
from .cross_model_tab import CrossModelTab
from .gallery_tab import GalleryTab
from .perturbation_tabs import TargetedTab, UapTab


class UniversalWorkspace(TabbedWorkspace):
    """Built on the session (model, images, selection). One output computation at a time."""

    title = "Universal"

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.set_box = DatasetBox({LOADED: "the loaded images", HELDOUT: "the held-out digits (1000)",
                                   FOLDER: "a folder…"}, "Images to compute universal perturbations on")
        set_group = QGroupBox("Images")
        set_layout = QVBoxLayout(set_group)
        set_layout.addWidget(self.set_box)
        set_layout.addWidget(hint_label("split in two fixed halves: computed on one, measured on the other"))
        set_layout.addStretch(1)
        self.uap, self.targeted = UapTab(self), TargetedTab(self)
        self.cross_model, self.gallery = CrossModelTab(self), GalleryTab(self)
        self.lay_out(set_group, "Load a model to compute universal perturbations.", left_width=220)
        self.attach()

    @property
    def outputs(self) -> tuple[OutputTab, ...]:
        return self.uap, self.targeted, self.cross_model, self.gallery

    # --- queries ---------------------------------------------------------------------------------------------

    def source(self) -> DatasetSource:
        return self.set_box.source()

    def loaded_images(self) -> torch.Tensor | None:
        """Captured in the GUI thread when a run starts, so that loading other images mid-run changes nothing."""
        return None if self.session.batch is None else self.session.batch.images

    def loaded_labels(self) -> torch.Tensor | None:
        """The loaded images' true labels where their source knows them (the held-out digits), else None."""
        return None if self.session.batch is None else self.session.batch.labels

    # --- commands --------------------------------------------------------------------------------------------

    def showcase(self):
        """A short, visible run for the README picture: the targeted image of a class (the job, or None)."""
        self.tabs.setCurrentWidget(self.targeted)
        if self.session.model is not None and self.session.model.domain == "mnist":
            self.choose_set(HELDOUT)
            self.targeted.target_box.setCurrentIndex(2)  # the selected digit is a 3: watch it become a 2
        return self.runs.job if self.run(self.targeted) else None

    def choose_set(self, kind: str, folder: str | None = None) -> None:
        self.set_box.choose(kind, folder)

    # --- reactions -------------------------------------------------------------------------------------------

    @Slot(object)
    def show_model(self, model: LoadedModel) -> None:
        digits = model.domain == "mnist"
        self.set_box.offer((LOADED, HELDOUT, FOLDER) if digits else (LOADED, FOLDER), HELDOUT if digits else LOADED)
        self.uap.settings.show_model(model)
        self.targeted.show_model(model)
        self.gallery.show_model(model)
        self.cross_model.show_model(model)
        self.show_status(f"{model.name}: choose a tab and Run.")
        self.update_controls()

    @Slot(int)
    def show_selection(self, *_) -> None:
        self.targeted.show_applied()
        self.update_controls()
