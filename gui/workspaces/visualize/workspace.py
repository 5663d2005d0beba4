"""The Visualize workspace: what the loaded model learned, beside the attacks. A layer browser and a class
chooser on the left; six outputs in tabs: first-layer filters, maximally activating patches, saliency /
deconvnet / guided backprop (on the natural and the attacked image), class models, unit visualization and
DeepDream. Every computation (the layer list, receptive fields, the outputs, exports) runs through the job
bridge; the outputs stream their pictures live and stop on request keeping what they reached."""
from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QGroupBox, QVBoxLayout, QWidget

from engine.models import LoadedModel
from engine.visualize import LayerInfo, list_layers, receptive_field

from ...jobs import steps_of
from ...session import Session
from ...widgets.output_tab import OutputTab
from ...widgets.style import hint_label
from ...widgets.tabbed_workspace import LatestRequest, TabbedWorkspace
from .ascent import ClassModelTab, DeepDreamTab, UnitTab
from .browser import LayerBrowser
from .maps import PREDICTED, FiltersTab, PatchesTab, SaliencyTab


class VisualizeWorkspace(TabbedWorkspace):
    """Built on the session (model, images, selection, and the attacked images the Attack workspace
    publishes). One output computation at a time."""

    title = "Visualize"

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.browser = LayerBrowser()
        self.target_box = QComboBox()
        target_group = QGroupBox("Class")
        target_layout = QVBoxLayout(target_group)
        target_layout.addWidget(self.target_box)
        target_layout.addWidget(hint_label("for saliency and the class model"))
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.browser, 1)
        left_layout.addWidget(target_group)
        self.filters, self.patches, self.saliency = FiltersTab(self), PatchesTab(self), SaliencyTab(self)
        self.class_model, self.unit, self.deepdream = ClassModelTab(self), UnitTab(self), DeepDreamTab(self)
        self.lay_out(left, "Load a model to see what it learned.", left_width=300)
        self.layers = LatestRequest(self)  # the module tree of the newest loaded model
        self.watch(self.layers).failed.connect(self.show_status)
        self.fields = LatestRequest(self)  # the receptive field of the chosen layer (a backward pass)
        self.watch(self.fields, shown_as_busy=False)
        self.browser.tree.currentItemChanged.connect(self._measure_field)
        self.attach()

    @property
    def outputs(self) -> tuple[OutputTab, ...]:
        return self.filters, self.patches, self.saliency, self.class_model, self.unit, self.deepdream

    # --- queries ---------------------------------------------------------------------------------------------

    def target(self) -> int:
        return self.target_box.currentData()

    def layer_and_channel(self) -> tuple[str, int]:
        if self.browser.layer is None:
            raise ValueError("choose a layer first")
        return self.browser.layer, self.browser.channel.value()

    def can_run(self, tab: OutputTab) -> bool:
        has_model = self.session.model is not None and not self.layers.slot.busy
        if tab in (self.saliency, self.deepdream):
            return has_model and self.session.batch is not None and self.session.selected >= 0
        return has_model

    # --- commands --------------------------------------------------------------------------------------------

    def showcase(self):
        """Run saliency and co. on the selected image (the README picture); the job, or None if it cannot."""
        self.tabs.setCurrentWidget(self.saliency)
        return self.runs.job if self.run(self.saliency) else None

    # --- reactions -------------------------------------------------------------------------------------------

    @Slot(object)
    def show_model(self, model: LoadedModel) -> None:
        self.target_box.clear()
        self.target_box.addItem("predicted class", PREDICTED)
        for index, name in enumerate(model.class_names):
            self.target_box.addItem(f"{index}: {name}", index)
        for tab in (self.filters, self.patches, self.class_model, self.unit, self.deepdream):
            tab.show_model(model)
        self.fields.forget()
        self.browser.tree.clear()
        self.show_status(f"Reading the layers of {model.name}…")
        self.layers.request(lambda: steps_of(list_layers, model), self._on_layers)

    def _on_layers(self, layers: list[LayerInfo]) -> None:
        self.browser.show_layers(layers)
        self.show_status(f"{len(layers)} modules; choose a layer and a channel, then run an output.")

    @Slot()
    def _measure_field(self, *_) -> None:
        layer, model = self.browser.layer, self.session.model
        if layer is None or model is None:
            return
        self.fields.request(lambda: steps_of(receptive_field, model, layer),
                            lambda field: self.browser.show_field(layer, field))
