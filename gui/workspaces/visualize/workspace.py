"""The Visualize workspace: what the loaded model learned, beside the attacks. A layer browser and a class
chooser on the left; six outputs in tabs: first-layer filters, maximally activating patches, saliency /
deconvnet / guided backprop (on the natural and the attacked image), class models, unit visualization and
DeepDream. Long computations run through the one worker bridge (`gui.worker.Job`), stream their pictures live,
stop on request keeping what they reached, and export as PNG and .npy."""
from __future__ import annotations

import html
from collections.abc import Generator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QLabel,
                               QSpinBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from engine.models import LoadedModel
from engine.visualize import (CLASS_MODEL, DECONVNET, DEEPDREAM, GUIDED, METHODS, SALIENCY, UNIT, AscentResult,
                              LayerInfo, RunControl, TopPatches, VisStep, all_gradient_maps, class_model,
                              deepdream, default_settings, first_layer_filters, list_layers, magnitude,
                              map_picture, max_activating_patches, overlay, receptive_field, tile,
                              unit_visualization)

from ...session import FOLDER, HELDOUT, LOADED, DatasetSource, Session
from ...widgets.image_view import ImageView
from ...widgets.imaging import display_array
from ...widgets.output_tab import JobHost, OutputTab, ScoreCurve
from ...widgets.style import hint_label
from ...worker import Job, steps_of
from ..attack.run_model import RunModel

PREDICTED = -1  # the class chooser's "predicted class"
METHOD_TITLES = {SALIENCY: "saliency", DECONVNET: "deconvnet", GUIDED: "guided backprop"}


# --- 1. filters ------------------------------------------------------------------------------------------------

class FiltersTab(OutputTab):
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

class PatchesTab(OutputTab):
    title = "Patches"

    def __init__(self, workspace: VisualizeWorkspace):
        super().__init__(workspace)
        self.dataset = QComboBox()
        self.dataset.addItem("loaded images", LOADED)
        self.dataset.addItem("held-out digits", HELDOUT)
        self.dataset.addItem("folder…", FOLDER)
        self.folder: str | None = None
        self.count = QSpinBox()
        self.count.setRange(1, 100_000)
        self.count.setValue(1000)
        self.count.setPrefix("first ")
        self.k = QSpinBox()
        self.k.setRange(1, 64)
        self.k.setValue(9)
        self.k.setPrefix("top ")
        for widget in (QLabel("dataset"), self.dataset, self.count, self.k):
            self.controls.addWidget(widget)
        self.finish_controls()
        self.dataset.activated.connect(self._on_dataset_chosen)
        self.view = ImageView("maximally activating patches")
        self.body.addWidget(self.view.label, 0, 0)
        self.body.addWidget(self.view.widget, 1, 0)
        self.labels: list[pg.TextItem] = []
        self.found: TopPatches | None = None
        self.crops: np.ndarray | None = None

    def show_model(self, model: LoadedModel) -> None:
        """The held-out digits are the natural dataset of a digit model; other models use the loaded images."""
        self.dataset.setCurrentIndex(self.dataset.findData(HELDOUT if model.domain == "mnist" else LOADED))

    def _on_dataset_chosen(self, index: int) -> None:
        if self.dataset.itemData(index) == FOLDER:
            folder = QFileDialog.getExistingDirectory(self, "Images for the patches")
            if folder:
                self.folder = folder
                self.dataset.setItemText(index, f"folder {Path(folder).name}")

    def source(self) -> DatasetSource:
        return DatasetSource(self.dataset.currentData(), self.folder, self.count.value())

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        layer, channel = workspace.layer_and_channel()
        model = workspace.session.model
        source = self.source()
        loaded = workspace.session.batch.images[: self.count.value()] if workspace.session.batch else None
        self.view.set_title(f"{layer} channel {channel}: reading {source.describe()}…")
        return patches_steps(model, source, loaded, layer, channel, self.k.value(), control)

    def show_step(self, step: VisStep) -> None:
        if step.images is not None:
            self._show_crops(step.images, step.values)
            self.view.set_title(f"batch {step.iteration}/{step.total}", "filling in as the dataset streams")

    def show_result(self, found: TopPatches) -> None:
        self.found = found
        self._show_crops(found.crops.numpy(), found.values.numpy())
        field = found.field
        size = "the whole image" if field.whole_image else f"{field.size[0]}x{field.size[1]} px"
        stopped = " (stopped)" if found.stopped else ""
        self.view.set_title(f"{found.layer} channel {found.channel}: top {len(found.values)} of "
                            f"{found.images_seen} images{stopped}", f"receptive field {size}; value = activation")
        self.export_button.setEnabled(len(found.values) > 0)

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
        if self.found is None:
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

class SaliencyTab(OutputTab):
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
                view = ImageView(f"{which}: {METHOD_TITLES.get(what, what)}")
                self.views[which, what] = view
                self.body.addWidget(view.label, 2 * row, column)
                self.body.addWidget(view.widget, 2 * row + 1, column)
                self.body.setColumnStretch(column, 1)
                if (which, what) != ("natural", "image"):
                    view.plot.setXLink(self.views["natural", "image"].plot)
                    view.plot.setYLink(self.views["natural", "image"].plot)
        self.images: dict[str, np.ndarray] = {}
        self.maps: dict[str, dict[str, np.ndarray]] = {}
        self.classes: dict[str, str] = {}

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        session, index = workspace.session, workspace.session.selected
        natural = session.batch.images[index]
        self.images = {"natural": natural.numpy()}
        attacked = workspace.run_model.adversarial_of(index)
        if attacked is not None:
            self.images["adversarial"] = np.asarray(attacked[0], dtype=np.float32)
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
                picture = self.images[which] if what == "image" else self.maps[which][what]
                view.show(display_array(picture), (0.0, 1.0))
                view.set_title(f"class {html.escape(self.classes[which])}" if what == "image" else "")
        self.views["natural", "image"].plot.vb.autoRange()
        self._redraw_overlays()
        self.export_button.setEnabled(True)

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


# --- 4-6. gradient ascent: class model, unit, DeepDream --------------------------------------------------------

class SettingRow:
    """One setting: a spin box, with a check box to switch a regularizer on and off (off = strength 0)."""

    def __init__(self, name: str, label: str, decimals: int, maximum: float, switchable: bool):
        self.name = name
        self.spin = QDoubleSpinBox() if decimals else QSpinBox()
        if decimals:
            self.spin.setDecimals(decimals)
            self.spin.setSingleStep(10 ** -(decimals - 1))
        self.spin.setRange(0, maximum)
        self.check = QCheckBox(label) if switchable else None
        self.label = label

    def set_value(self, value) -> None:
        if self.check is not None:
            self.check.setChecked(bool(value))
            if not value:
                return  # keep the last strength for when it is switched on again
        self.spin.setValue(value)

    def value(self):
        if self.check is not None and not self.check.isChecked():
            return 0
        return self.spin.value()


# name, label, decimals (0: whole number), maximum, switchable
SETTINGS = {
    "steps": ("steps", 0, 100_000, False),
    "lr": ("step size (pixels)", 4, 1.0, False),
    "l2": ("L2 penalty λ", 4, 100.0, True),
    "decay": ("L2 decay", 4, 0.99, True),
    "blur_sigma": ("blur σ (px)", 2, 10.0, True),
    "blur_every": ("blur every (steps)", 0, 1000, False),
    "norm_percentile": ("clip small norm (percentile)", 1, 99.9, True),
    "contribution_percentile": ("clip small contribution (percentile)", 1, 99.9, True),
    "jitter": ("jitter (px)", 0, 64, True),
}


class AscentTab(OutputTab):
    """An image raised by gradient ascent, live, with its score curve and the settings of `kind`."""

    kind = ""
    setting_names: tuple[str, ...] = ()
    curve_title = ""

    def __init__(self, workspace: VisualizeWorkspace):
        super().__init__(workspace)
        self.rows: dict[str, SettingRow] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        settings_box = QGroupBox("settings")
        settings_box.setLayout(form)
        for name in self.setting_names:
            row = SettingRow(name, *SETTINGS[name])
            self.rows[name] = row
            form.addRow(row.check if row.check is not None else QLabel(row.label), row.spin)
        self.finish_controls()
        self.views = [ImageView(title) for title in self.view_titles()]
        self.curve = ScoreCurve(self.curve_title)
        for column, view in enumerate(self.views):
            self.body.addWidget(view.label, 0, column)
            self.body.addWidget(view.widget, 1, column)
            self.body.setColumnStretch(column, 2)
        self.body.addWidget(settings_box, 0, len(self.views), 2, 1)
        self.body.addWidget(self.curve, 2, 0, 1, len(self.views) + 1)
        self.body.setRowStretch(1, 3)
        self.body.setRowStretch(2, 2)
        self.result: AscentResult | None = None

    def view_titles(self) -> tuple[str, ...]:
        return (self.title,)

    def show_model(self, model: LoadedModel) -> None:
        defaults = default_settings(self.kind, model)
        for name, row in self.rows.items():
            row.set_value(getattr(defaults, name))

    def settings(self) -> dict:
        return {name: row.value() for name, row in self.rows.items()}

    @property
    def output_view(self) -> ImageView:
        return self.views[-1]

    def show_step(self, step: VisStep) -> None:
        self.curve.add(float(step.score[0]), redraw=step.images is not None)
        if step.images is not None:
            first = self.curve.values[0] if self.curve.values else float("nan")
            self.output_view.show(display_array(step.images[0]), (0.0, 1.0))
            self.output_view.set_title(f"step {step.iteration}/{step.total}",
                                       f"score {first:.3g} → {float(step.score[0]):.3g}")

    def begin(self) -> None:
        self.curve.reset()

    def show_result(self, result: AscentResult) -> None:
        self.result = result
        self.curve.curve.setData(np.arange(1, len(result.scores) + 1), result.scores[:, 0])
        self.output_view.show(display_array(result.images[0].numpy()), (0.0, 1.0))
        self.output_view.plot.vb.autoRange()
        names = self.workspace.session.model.class_names
        top = int(result.probs[0].argmax())
        stopped = " (stopped)" if result.stopped else ""
        self.output_view.set_title(f"{self.describe(result)}{stopped}",
                                   f"score {float(result.final_scores[0]):.3g} after {len(result.scores)} steps · "
                                   f"model says {html.escape(names[top])} {100 * float(result.probs[0, top]):.1f}%")
        self.export_button.setEnabled(True)

    def describe(self, result: AscentResult) -> str:
        return self.title

    def pictures(self) -> dict[str, np.ndarray]:
        return {} if self.result is None else {self.stem(): self.result.images[0].numpy()}

    def stem(self) -> str:
        return self.kind


class ClassModelTab(AscentTab):
    title, kind = "Class model", CLASS_MODEL
    setting_names = ("steps", "lr", "l2", "blur_sigma", "jitter")
    curve_title = "class score S_c (logit) per step"

    def __init__(self, workspace: VisualizeWorkspace):
        super().__init__(workspace)
        self.start = QComboBox()
        self.start.addItem("from the zero image", "zero")
        self.start.addItem("from the mean image", "mean")
        self.controls.insertWidget(0, self.start)

    def show_model(self, model: LoadedModel) -> None:
        super().show_model(model)
        self.start.setCurrentIndex(self.start.findData(default_settings(self.kind, model).start))

    def steps(self, control: RunControl) -> Generator:
        target = self.workspace.target()
        if target == PREDICTED:
            session = self.workspace.session
            target = int(session.probs[session.selected].argmax()) if session.selected >= 0 else 0
        self.target = target
        return class_model(self.workspace.session.model, [target], control=control, start=self.start.currentData(),
                           **self.settings())

    def describe(self, result: AscentResult) -> str:
        names = self.workspace.session.model.class_names
        target = int(result.targets[0])
        return f"class {html.escape(names[target])}: p = {float(result.probs[0, target]):.4f}"

    def stem(self) -> str:
        return f"class_{self.target}"


class UnitTab(AscentTab):
    title, kind = "Unit", UNIT
    setting_names = ("steps", "lr", "decay", "blur_sigma", "blur_every", "norm_percentile",
                     "contribution_percentile", "jitter")
    curve_title = "mean activation of the channel per step"

    def steps(self, control: RunControl) -> Generator:
        self.layer, self.channel = self.workspace.layer_and_channel()
        return unit_visualization(self.workspace.session.model, self.layer, self.channel, control=control,
                                  **self.settings())

    def describe(self, result: AscentResult) -> str:
        return f"{self.layer} channel {self.channel}"

    def stem(self) -> str:
        return f"unit_{self.layer}_{self.channel}"


class DeepDreamTab(AscentTab):
    title, kind = "DeepDream", DEEPDREAM
    setting_names = ("steps", "lr", "blur_sigma", "jitter")
    curve_title = "mean square activation of the layer per step"

    def view_titles(self) -> tuple[str, ...]:
        return ("image", "dream")

    def steps(self, control: RunControl) -> Generator:
        session = self.workspace.session
        self.layer, _ = self.workspace.layer_and_channel()
        image = session.batch.images[session.selected]
        self.views[0].show(display_array(image), (0.0, 1.0))
        self.views[0].set_title(html.escape(session.batch.names[session.selected]))
        return deepdream(session.model, image[None], self.layer, control=control, **self.settings())

    def describe(self, result: AscentResult) -> str:
        return f"dreamt on {self.layer}"

    def stem(self) -> str:
        return f"deepdream_{self.layer}"


# --- the layer browser -----------------------------------------------------------------------------------------

class LayerBrowser(QGroupBox):
    """The network's modules as a tree with their output shapes; the chosen layer and channel (or unit)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Layer", parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["module", "type", "output"])
        self.tree.setColumnWidth(0, 120)
        self.tree.setColumnWidth(1, 80)
        self.channel = QSpinBox()
        self.channel.setPrefix("channel ")
        self.field_note = hint_label()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.channel)
        layout.addWidget(self.field_note)
        self.layers: dict[str, LayerInfo] = {}
        self.tree.currentItemChanged.connect(self._on_layer_chosen)

    def show_layers(self, layers: list[LayerInfo]) -> None:
        self.tree.clear()
        self.layers = {info.name: info for info in layers}
        items: dict[str, QTreeWidgetItem] = {}
        for info in layers:
            parent_name = info.name.rpartition(".")[0]
            parent = items.get(parent_name)
            shape = "x".join(map(str, info.output_shape))
            calls = f" (called {info.calls}×; first call)" if info.calls > 1 else ""
            item = QTreeWidgetItem([info.name.rpartition(".")[2], info.kind, shape + calls])
            item.setData(0, Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(0, info.name)
            (parent.addChild(item) if parent is not None else self.tree.addTopLevelItem(item))
            items[info.name] = item
        self.tree.expandAll()
        spatial = [info.name for info in layers if info.spatial and "." in info.name]
        if spatial:
            self.choose(spatial[len(spatial) // 2])

    def choose(self, name: str) -> None:
        found = self.tree.findItems(name.rpartition(".")[2], Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        for item in found:
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                self.tree.setCurrentItem(item)
                return
        raise KeyError(name)

    @property
    def layer(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    @Slot()
    def _on_layer_chosen(self, *_) -> None:
        info = self.layers.get(self.layer or "")
        if info is None:
            return
        self.channel.setRange(0, max(0, info.channels - 1))
        self.channel.setPrefix("channel " if info.spatial else "unit ")
        self.channel.setSuffix(f" of {info.channels}")
        self.field_note.setText("")


# --- the workspace ---------------------------------------------------------------------------------------------

class VisualizeWorkspace(JobHost, QWidget):
    """Built on the session (model, images, selection) and the run model (the attacked images). One
    computation at a time; `shutdown()` stops it and waits for its thread (for the window's closeEvent)."""

    def __init__(self, session: Session, run_model: RunModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.run_model = session, run_model
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
        self.job: Job | None = None
        self.control: RunControl | None = None
        self.running_tab: OutputTab | None = None
        self._layers_job: Job | None = None
        self.browser.tree.currentItemChanged.connect(self._describe_field)
        session.model_changed.connect(self._on_model_changed)
        session.images_changed.connect(self._update_controls)
        session.selection_changed.connect(self._update_controls)
        if session.model is not None:
            self._on_model_changed(session.model)
        self._update_controls()

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

    # --- commands --------------------------------------------------------------------------------------------

    def showcase(self) -> Job | None:
        """Run saliency and co. on the selected image (the README picture); the job, or None if it cannot."""
        self.tabs.setCurrentWidget(self.saliency)
        return self.job if self.run(self.saliency) else None

    def shutdown(self) -> None:
        """Stop and wait for the worker threads (the window is closing)."""
        self.stop()
        for job in (self.job, self._layers_job):
            if job is not None:
                job.cancel()
                job.wait()

    # --- reactions -------------------------------------------------------------------------------------------

    @Slot(object)
    def _on_model_changed(self, model: LoadedModel) -> None:
        self.target_box.clear()
        self.target_box.addItem("predicted class", PREDICTED)
        for index, name in enumerate(model.class_names):
            self.target_box.addItem(f"{index}: {name}", index)
        for tab in (self.filters, self.patches, self.class_model, self.unit, self.deepdream):
            tab.show_model(model)
        self.browser.tree.clear()
        self.show_status(f"Reading the layers of {model.name}…")
        self._layers_job = Job(steps_of(list_layers, model), self)
        self._layers_job.succeeded.connect(self._on_layers)
        self._layers_job.failed.connect(self.show_status)
        self._layers_job.done.connect(self._on_layers_done)
        self._layers_job.start()

    @Slot(object)
    def _on_layers(self, layers: list[LayerInfo]) -> None:
        self.browser.show_layers(layers)
        self.show_status(f"{len(layers)} modules; choose a layer and a channel, then run an output.")

    @Slot()
    def _on_layers_done(self) -> None:
        self._layers_job = None
        self._update_controls()

    @Slot()
    def _describe_field(self, *_) -> None:
        """The receptive field of the chosen layer, measured in a worker thread (a backward pass)."""
        layer, model = self.browser.layer, self.session.model
        if layer is None or model is None:
            return
        job = Job(steps_of(receptive_field, model, layer), self)
        job.succeeded.connect(lambda field: self._show_field(layer, field))
        job.start()

    def _show_field(self, layer: str, field) -> None:
        if layer != self.browser.layer:
            return  # the user has moved on
        size = "the whole image" if field.whole_image else f"{field.size[0]}x{field.size[1]} px, stride {field.jump[0]}"
        self.browser.field_note.setText(f"receptive field: {size}")

    @Slot()
    def _update_controls(self, *_) -> None:
        has_model = self.session.model is not None and self._layers_job is None
        has_image = has_model and self.session.batch is not None and self.session.selected >= 0
        needs_image = (self.saliency, self.deepdream)
        for tab in self.outputs:
            can_run = (has_image if tab in needs_image else has_model) and not self.busy
            tab.run_button.setEnabled(can_run)
            tab.stop_button.setEnabled(tab is self.running_tab)
