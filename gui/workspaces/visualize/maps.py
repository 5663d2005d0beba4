"""The Visualize outputs that read the network as it is: first-layer filters, maximally activating patches,
and saliency / deconvnet / guided backprop on the natural and the attacked image."""
from __future__ import annotations

import html
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QLabel

from engine.models import LoadedModel
from engine.visualize import (DECONVNET, GUIDED, METHODS, SALIENCY, GradientMaps, RunControl, TopPatches, VisStep,
                              all_gradient_maps, first_layer_filters, magnitude, map_picture,
                              max_activating_patches, never_fires, overlay, tile)

from ...widgets.number_box import TypedSpinBox
from ...session import FOLDER, HELDOUT, LOADED, DatasetSource
from ...widgets.dataset_box import DatasetBox
from ...widgets.image_view import ImageView
from ...widgets.imaging import display_array
from ...widgets.pixel_readout import GRADIENT_READOUT, SALIENCY_READOUT, class_note
from ...widgets.tabbed_workspace import WorkspaceTab

if TYPE_CHECKING:
    from .workspace import VisualizeWorkspace

PREDICTED = -1  # the class chooser's "predicted class"
METHOD_TITLES = {SALIENCY: "saliency", DECONVNET: "deconvnet", GUIDED: "guided backprop"}


# --- 1. filters ------------------------------------------------------------------------------------------------

class FiltersTab(WorkspaceTab):
    title = "Filters"
    runnable = False

    def __init__(self, workspace: VisualizeWorkspace):
        super().__init__(workspace)
        self.view = ImageView("first-layer filters")
        self.grid: np.ndarray | None = None
        self.finish_controls()
        self.body.addWidget(self.view.label, 0, 0)
        self.body.addWidget(self.view.widget, 1, 0)

    def show_model(self, model: LoadedModel) -> None:
        """Reading weights is instant: no worker needed."""
        try:
            filters = first_layer_filters(model)
        except Exception as exc:  # a model without a convolution: say so in place of the grid
            self.grid = None
            self.view.clear()
            self.view.set_title("no filters", str(exc))
            self.export_button.setEnabled(False)
            return
        self.grid = filters.grid.numpy()
        self.view.show(display_array(self.grid), (0.0, 1.0))
        self.view.plot.vb.autoRange()
        shape = "x".join(map(str, filters.tiles.shape[1:]))
        self.view.set_title(f"{filters.layer}: {len(filters.tiles)} filters of {shape}",
                            "each tile stretched to its own range")
        self.export_button.setEnabled(True)

    def pictures(self) -> dict[str, np.ndarray]:
        return {} if self.grid is None else {"filters": self.grid}


# --- 2. patches ------------------------------------------------------------------------------------------------

class PatchesTab(WorkspaceTab):
    title = "Patches"

    def __init__(self, workspace: VisualizeWorkspace):
        super().__init__(workspace)
        self.dataset = DatasetBox({LOADED: "loaded images", HELDOUT: "held-out digits", FOLDER: "folder…"},
                                  "Images for the patches")
        self.dataset.offer((LOADED, HELDOUT, FOLDER), LOADED)
        self.count = TypedSpinBox()
        self.count.setRange(1, 100_000)
        self.count.setValue(1000)
        self.count.setPrefix("first ")
        self.k = TypedSpinBox()
        self.k.setRange(1, 64)
        self.k.setValue(9)
        self.k.setPrefix("top ")
        for widget in (QLabel("dataset"), self.dataset, self.count, self.k):
            self.controls.addWidget(widget)
        self.finish_controls()
        self.view = ImageView("maximally activating patches")
        self.body.addWidget(self.view.label, 0, 0)
        self.body.addWidget(self.view.widget, 1, 0)
        self.labels: list[pg.TextItem] = []
        self.found: TopPatches | None = None
        self.crops: np.ndarray | None = None

    def show_model(self, model: LoadedModel) -> None:
        """The held-out digits are the natural dataset of a digit model; other models use the loaded images."""
        self.dataset.choose(HELDOUT if model.domain == "mnist" else LOADED)

    def source(self) -> DatasetSource:
        return self.dataset.source(self.count.value())

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        layer, channel = workspace.layer_and_channel()
        model = workspace.session.model
        source = self.source()
        loaded = workspace.session.batch.images[: self.count.value()] if workspace.session.batch else None
        self.view.set_title(f"{layer} channel {channel}: reading {source.describe()}…")
        return patches_steps(model, source, loaded, layer, channel, self.k.value(), control)

    def show_step(self, step: VisStep) -> None:
        if step.images is None:
            return
        if never_fires(step.values):  # patches of ties at 0 would look like findings
            self._clear_crops()
            self.view.set_title(f"batch {step.iteration}/{step.total}", "no activation above 0 yet")
            return
        self._show_crops(step.images, step.values)
        self.view.set_title(f"batch {step.iteration}/{step.total}", "filling in as the dataset streams")

    def show_result(self, found: TopPatches) -> None:
        self.found = found
        stopped = " (stopped)" if found.stopped else ""
        if found.never_fires:
            self._clear_crops()
            self.view.set_title(f"{found.layer} channel {found.channel} never fires on these "
                                f"{found.images_seen} images{stopped}",
                                f"its largest activation is {float(found.values.max()):.3g}: any top "
                                f"{len(found.values)} would be arbitrary patches, so none are shown")
            self.export_button.setEnabled(False)
            return
        self._show_crops(found.crops.numpy(), found.values.numpy())
        field = found.field
        size = "the whole image" if field.whole_image else f"{field.size[0]}x{field.size[1]} px"
        self.view.set_title(f"{found.layer} channel {found.channel}: top {len(found.values)} of "
                            f"{found.images_seen} images{stopped}", f"receptive field {size}; value = activation")
        self.export_button.setEnabled(len(found.values) > 0)

    def _clear_crops(self) -> None:
        self.crops = None
        self.view.clear()
        for label in self.labels:
            self.view.plot.removeItem(label)
        self.labels = []

    def _show_crops(self, crops: np.ndarray, values: np.ndarray) -> None:
        if len(crops) == 0:
            return
        columns = int(np.ceil(np.sqrt(len(crops))))
        padding = max(1, crops.shape[-1] // 12)
        self.crops = tile(crops, columns, padding).numpy()
        self.view.show(display_array(self.crops), (0.0, 1.0))
        self.view.plot.vb.autoRange()
        for label in self.labels:
            self.view.plot.removeItem(label)
        self.labels = []
        step_y, step_x = crops.shape[2] + padding, crops.shape[3] + padding
        for rank, value in enumerate(values):
            label = pg.TextItem(f"{value:.3g}", color=(255, 220, 0), anchor=(0, 0), fill=(0, 0, 0, 150))
            label.setPos(padding + (rank % columns) * step_x, padding + (rank // columns) * step_y)
            self.view.plot.addItem(label)
            self.labels.append(label)

    def pictures(self) -> dict[str, np.ndarray]:
        if self.found is None or self.crops is None:
            return {}
        return {f"patches_{self.found.layer}_{self.found.channel}": self.crops}


def patches_steps(model: LoadedModel, source: DatasetSource, loaded: torch.Tensor | None, layer: str, channel: int,
                  k: int, control: RunControl) -> Generator:
    """Worker thread: read the dataset (held-out digits, a folder), then stream it through the layer."""
    images = loaded if source.kind == LOADED else source.read(model).images
    if images is None:
        raise ValueError("no images are loaded")
    return (yield from max_activating_patches(model, images, layer, channel, k=k, control=control))


# --- 3. saliency, deconvnet, guided backprop -------------------------------------------------------------------

class SaliencyTab(WorkspaceTab):
    title = "Saliency"

    def __init__(self, workspace: VisualizeWorkspace):
        super().__init__(workspace)
        self.overlay_method = QComboBox()
        for method in METHODS:
            self.overlay_method.addItem(METHOD_TITLES[method], method)
        self.overlay_method.setCurrentIndex(METHODS.index(GUIDED))
        self.overlay_method.currentIndexChanged.connect(self._redraw_overlays)
        self.controls.addWidget(QLabel("overlay of"))
        self.controls.addWidget(self.overlay_method)
        self.finish_controls()
        self.rows = ("natural", "adversarial")
        self.views: dict[tuple[str, str], ImageView] = {}
        columns = ("image", *METHODS, "overlay")
        for row, which in enumerate(self.rows):
            for column, what in enumerate(columns):
                # the maps' colour bars give the gradients' values; every panel keeps their row, to stay aligned
                view = ImageView(f"{which}: {METHOD_TITLES.get(what, what)}", bar_row=True)
                self.views[which, what] = view
                self.body.addWidget(view.label, 2 * row, column)
                self.body.addWidget(view.widget, 2 * row + 1, column)
                self.body.setColumnStretch(column, 1)
                if (which, what) != ("natural", "image"):
                    view.plot.setXLink(self.views["natural", "image"].plot)
                    view.plot.setYLink(self.views["natural", "image"].plot)
        self.images: dict[str, np.ndarray] = {}
        self.probs: dict[str, np.ndarray | None] = {}  # the model's probabilities for each image, as published
        self.maps: dict[str, dict[str, np.ndarray]] = {}
        self.classes: dict[str, str] = {}

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        session, index = workspace.session, workspace.session.selected
        natural = session.batch.images[index]
        self.images = {"natural": natural.numpy()}
        self.probs = {"natural": session.probs[index].numpy() if session.probs is not None else None}
        attacked = session.attacked(index)
        if attacked is not None:
            self.images["adversarial"] = np.asarray(attacked[0], dtype=np.float32)
            self.probs["adversarial"] = attacked[1]
        stack = torch.from_numpy(np.stack(list(self.images.values())))
        target = workspace.target()
        return all_gradient_maps(session.model, stack, None if target == PREDICTED else target)

    def show_step(self, step) -> None:
        done, total = step
        self.workspace.show_status(f"Saliency: {done} of {total} methods")

    def show_result(self, results) -> None:
        names = self.workspace.session.model.class_names
        self.maps = {which: {method: map_picture(maps, row) for method, maps in results.items()}
                     for row, which in enumerate(self.images)}
        self.classes = {which: names[int(results[SALIENCY].classes[row])] for row, which in enumerate(self.images)}
        for which in self.rows:
            for what in ("image", *METHODS):
                view = self.views[which, what]
                if which not in self.images:
                    view.clear()
                    view.set_title("" if what != "image" else "<span style='color:#777'>not attacked yet</span>")
                    continue
                if what == "image":
                    view.show(display_array(self.images[which]), (0.0, 1.0))
                    probs = self.probs.get(which)
                    view.set_readout_note("" if probs is None else class_note(names, probs))
                    view.set_title(f"class {html.escape(self.classes[which])}")
                else:
                    show_gradient(view, results[what], self.images_row(which))
                    view.set_title("", "|gradient|, largest over channels" if what == SALIENCY else
                                   "gradient: grey 0, lighter positive")
        self.views["natural", "image"].plot.vb.autoRange()
        self._redraw_overlays()
        self.export_button.setEnabled(True)

    def images_row(self, which: str) -> int:
        """The row of `which` ("natural", "adversarial") in the batch the maps were computed on."""
        return list(self.images).index(which)

    @Slot()
    def _redraw_overlays(self, *_) -> None:
        method = self.overlay_method.currentData()
        for which in self.rows:
            view = self.views[which, "overlay"]
            if which not in self.maps:
                view.clear()
                view.set_title("")
                continue
            view.show(display_array(self._overlay(which, method)), (0.0, 1.0))
            view.set_title(f"{METHOD_TITLES[method]} over the image")

    def _overlay(self, which: str, method: str) -> np.ndarray:
        return overlay(self.images[which], magnitude(self.maps[which][method], method))

    def pictures(self) -> dict[str, np.ndarray]:
        pictures = {}
        for which, maps in self.maps.items():
            pictures[f"{which}_image"] = self.images[which]
            for method, picture in maps.items():
                pictures[f"{which}_{method}"] = picture
                pictures[f"{which}_{method}_overlay"] = self._overlay(which, method)
        return pictures


def show_gradient(view: ImageView, maps: GradientMaps, row: int) -> None:
    """One image's map as the numbers it is, in grey with a colour bar: the saliency from 0 to its largest value,
    a deconvnet or guided gradient from −peak to +peak (each colour channel alike, grey = 0); the readout gives
    the value under the mouse."""
    if maps.method == SALIENCY:
        heat = maps.saliency[row].numpy()[None]
        view.show_values(heat, (0.0, max(float(heat.max()), 1e-12)), SALIENCY_READOUT)
        return
    gradient = maps.gradients[row].numpy()
    peak = max(float(np.abs(gradient).max()), 1e-12)  # a map of zeros keeps a symmetric range
    view.show_values(gradient, (-peak, peak), GRADIENT_READOUT)
