"""The Universal workspace: one perturbation for many images. The image set on the left (loaded images,
held-out digits or a folder) is split in two fixed halves: perturbations are computed on one and measured on the
other. Four outputs in tabs: UAP (v growing, the fooling rate per pass, the images being flipped, the held-out
rate against random noise), the targeted universal image (delta learning, the held-out target rate, applied to the
selected image), the cross-model table, and the resumable gallery of one targeted image per class."""
from __future__ import annotations

import csv
import html
from collections.abc import Generator
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListView,
                               QListWidget, QListWidgetItem, QPushButton, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

import engine.universal  # noqa: F401  (registers the universal attacks)
from engine.attacks import get_attack
from engine.core import RunControl
from engine.export import perturbation_rgb
from engine.models import LoadedModel, load_model
from engine.universal.cross_model import CrossModelTable, cross_model_table, export_table
from engine.universal.gallery import (GalleryEntry, GalleryFolder, GalleryProgress, export_gallery, gallery_steps,
                                      parse_classes, split_heldout)
from engine.visualize import save_picture, tile

from ...session import FOLDER, HELDOUT, LOADED, DatasetSource, Session
from ...widgets.image_view import ImageView
from ...widgets.imaging import display_array, thumbnail
from ...widgets.output_tab import JobHost, OutputTab, ScoreCurve
from ...widgets.param_form import ParamForm
from ...widgets.style import hint_label

TILE_ICON = 96  # gallery tiles, pixels


def perturbation_picture(delta_chw: np.ndarray) -> np.ndarray:
    """A perturbation amplified to its full range (symmetric colours, white or grey = unchanged), HWC uint8."""
    return perturbation_rgb(np.asarray(delta_chw, dtype=np.float32))


def perturbation_view(name: str) -> ImageView:
    """A panel for `perturbation_picture`s: its levels are set before the first image, because pyqtgraph applies
    levels given to an empty item after that image and would undo the ones passed with it."""
    return ImageView(name, levels=(0, 255))


def show_perturbation(view: ImageView, delta_chw: np.ndarray) -> None:
    view.show(perturbation_picture(delta_chw), (0, 255))


def read_set(model: LoadedModel, source: DatasetSource, loaded: torch.Tensor | None) -> torch.Tensor:
    """Worker-thread part: the images of the chosen set for `model`."""
    if source.kind == LOADED:
        if loaded is None or not len(loaded):
            raise ValueError("load some images first")
        return loaded
    return source.read(model).images


def uap_steps(model: LoadedModel, source: DatasetSource, loaded, params: dict, control: RunControl) -> Generator:
    computed_on, measured_on = split_heldout(read_set(model, source, loaded), fraction=0.5)
    return (yield from get_attack("uap").fn(model, computed_on, control=control, heldout=measured_on, **params))


def targeted_steps(model: LoadedModel, source: DatasetSource, loaded, target: int, params: dict,
                   control: RunControl) -> Generator:
    computed_on, measured_on = split_heldout(read_set(model, source, loaded), fraction=0.5)
    return (yield from get_attack("targeted-universal").fn(model, computed_on, target=target, control=control,
                                                           heldout=measured_on, **params))


def cross_model_steps(current: LoadedModel, specs: list[str], source: DatasetSource, loaded, params: dict,
                      control: RunControl) -> Generator:
    models = [current] + [load_model(spec, current.device) for spec in specs]
    computed_on, measured_on = split_heldout(read_set(current, source, loaded), fraction=0.5)
    return (yield from cross_model_table(models, computed_on, measured_on, params, control))


def gallery_run(model: LoadedModel, source: DatasetSource, loaded, folder: str, classes, params: dict,
                control: RunControl) -> Generator:
    return (yield from gallery_steps(model, read_set(model, source, loaded), folder, classes, params, control))


class SpecForm(QGroupBox):
    """The declared parameters of an engine computation, with the model's domain defaults."""

    def __init__(self, title: str, attack: str):
        super().__init__(title)
        self.spec = get_attack(attack)
        self.form = ParamForm()
        QVBoxLayout(self).addWidget(self.form)
        self.form.build(self.spec, self.spec.defaults("imagenet"))

    def show_model(self, model: LoadedModel) -> None:
        self.form.build(self.spec, self.spec.defaults(model.domain))

    def values(self, model: LoadedModel) -> dict:
        return self.spec.resolve(self.form.values(), model.domain)


# --- 1. UAP ----------------------------------------------------------------------------------------------------

class UapTab(OutputTab):
    title = "UAP"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.settings = SpecForm("UAP settings", "uap")
        self.finish_controls()
        self.v_view = perturbation_view("universal perturbation v")
        self.flipping_view = ImageView("images being worked on, with v")
        self.flipping_view.set_title("a few images of the current batch")
        self.curve = ScoreCurve("fooling rate on the computing half", x_label="pass", symbols=True)
        for column, view in enumerate((self.v_view, self.flipping_view)):
            self.body.addWidget(view.label, 0, column)
            self.body.addWidget(view.widget, 1, column)
            self.body.setColumnStretch(column, 2)
        self.body.addWidget(self.settings, 0, 2, 2, 1)
        self.body.addWidget(self.curve, 2, 0, 1, 3)
        self.body.setRowStretch(1, 3)
        self.body.setRowStretch(2, 2)
        self.result = None
        self.note.setText("v is shown amplified to its full range; the held-out half measures it at the end.")

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        model = workspace.session.model
        return uap_steps(model, workspace.source(), workspace.loaded_images(), self.settings.values(model),
                         control)

    def begin(self) -> None:
        self.curve.reset()
        self.export_button.setEnabled(False)

    def show_step(self, step) -> None:
        if "fooling_rate" in step.metrics:
            self.curve.add(step.metrics["fooling_rate"], redraw=True)
        if step.frame is not None:
            show_perturbation(self.v_view, step.frame.extras["perturbation"][0])
            self.flipping_view.show(display_array(tile(step.frame.images).numpy()), (0.0, 1.0))
            passes = len(self.curve.values)
            self.v_view.set_title(f"after {passes} pass{'es' if passes != 1 else ''}",
                                  f"chunk {step.iteration}/{step.total}")

    def show_result(self, result) -> None:
        self.result = result
        v = result.extras["perturbation"][0]
        show_perturbation(self.v_view, v)
        heldout, noise = float(result.extras["heldout_fooling_rate"]), float(result.extras["noise_fooling_rate"])
        ratio = f"{heldout / noise:.1f}x noise" if noise > 0 else "noise fools none"
        size = np.abs(v).max() if result.params["norm"] == "inf" else np.linalg.norm(v)
        stopped = " (stopped)" if result.stopped else ""
        self.v_view.set_title(f"held-out fooling rate {heldout:.1%}{stopped}",
                              f"random noise of the same norm: {noise:.1%} ({ratio}) · ‖v‖ {size:.3g}")
        self.workspace.show_status(f"UAP: held-out {heldout:.1%} vs random noise {noise:.1%} ({ratio})")
        self.export_button.setEnabled(True)

    def export_to(self, directory: str | Path) -> list[Path]:
        directory = Path(directory)
        files = save_picture(directory, "uap_v_amplified", perturbation_picture(
            self.result.extras["perturbation"][0]).transpose(2, 0, 1) / 255.0)
        np.save(directory / "uap_v.npy", self.result.extras["perturbation"])
        files.append(directory / "uap_v.npy")
        files.append(write_rows(directory / "uap_fooling_rates.csv", ["pass", "fooling_rate"],
                                enumerate(self.result.extras["fooling_rates"].tolist(), start=1)))
        self.workspace.show_status(f"Exported {len(files)} files to {directory}")
        return files


def write_rows(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- 2. targeted universal image -------------------------------------------------------------------------------

class TargetedTab(OutputTab):
    title = "Targeted image"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.target_box = QComboBox()
        self.controls.addWidget(QLabel("target class"))
        self.controls.addWidget(self.target_box, 1)
        self.settings = SpecForm("targeted image settings", "targeted-universal")
        self.finish_controls()
        self.delta_view = perturbation_view("delta (amplified)")
        self.natural_view = ImageView("selected image")
        self.applied_view = ImageView("with delta")
        for column, view in enumerate((self.delta_view, self.natural_view, self.applied_view)):
            self.body.addWidget(view.label, 0, column)
            self.body.addWidget(view.widget, 1, column)
            self.body.setColumnStretch(column, 2)
        self.curve = ScoreCurve("target rate on the held-out half", symbols=True)
        self.body.addWidget(self.settings, 0, 3, 2, 1)
        self.body.addWidget(self.curve, 2, 0, 1, 4)
        self.body.setRowStretch(1, 3)
        self.body.setRowStretch(2, 2)
        self.delta: np.ndarray | None = None
        self.frames_shown = 0
        self.note.setText("delta = eps·tanh(w), learned with Adam on the cross-entropy to the target; the rate is "
                          "the share of held-out images of other classes that the model then calls the target.")

    def show_model(self, model: LoadedModel) -> None:
        self.target_box.clear()
        for index, name in enumerate(model.class_names):
            self.target_box.addItem(f"{index}: {name}", index)
        self.settings.show_model(model)
        self.delta = None
        self.delta_view.clear()
        self.show_applied()

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        model = workspace.session.model
        return targeted_steps(model, workspace.source(), workspace.loaded_images(), self.target_box.currentData(),
                              self.settings.values(model), control)

    def begin(self) -> None:
        self.curve.reset()
        self.frames_shown = 0
        self.export_button.setEnabled(False)

    def show_step(self, step) -> None:
        if "target_rate" in step.metrics:
            self.curve.add(step.metrics["target_rate"], redraw=True, x=step.iteration)
        if step.frame is not None:
            self.frames_shown += 1
            show_perturbation(self.delta_view, step.frame.extras["perturbation"][0])
            self.delta_view.set_title(f"step {step.iteration}/{step.total}",
                                      f"loss {step.metrics.get('loss', float('nan')):.3f}")

    def show_result(self, result) -> None:
        self.delta = result.extras["perturbation"][0]
        show_perturbation(self.delta_view, self.delta)
        rates = result.extras["target_rates"]
        rate = f"held-out target rate {rates[-1]:.1%}" if len(rates) else "no rate measured yet"
        stopped = " (stopped)" if result.stopped else ""
        self.delta_view.set_title(f"{rate}{stopped}", f"max |delta| {np.abs(self.delta).max():.3f}")
        self.show_applied()
        self.export_button.setEnabled(True)

    def show_applied(self) -> None:
        """The selected image beside itself plus delta, each with the model's verdict."""
        session = self.workspace.session
        if session.batch is None or session.selected < 0 or session.model is None:
            return
        natural = session.batch.images[session.selected]
        pictures = [natural]
        if self.delta is not None:
            pictures.append((natural + torch.from_numpy(self.delta)).clamp(0, 1))
        probs, _ = session.model.predict(torch.stack(pictures))
        for view, picture, p in zip((self.natural_view, self.applied_view), pictures, probs):
            top = int(p.argmax())
            view.show(display_array(picture.numpy()), (0.0, 1.0))
            view.set_title(f"{html.escape(session.class_name(top))} {100 * float(p[top]):.1f}%")
        if self.delta is None:
            self.applied_view.clear()
            self.applied_view.set_title("")

    def export_to(self, directory: str | Path) -> list[Path]:
        directory = Path(directory)
        target = self.target_box.currentData()
        files = save_picture(directory, f"targeted_{target}_delta_amplified",
                             perturbation_picture(self.delta).transpose(2, 0, 1) / 255.0)
        np.save(directory / f"targeted_{target}_delta.npy", self.delta)
        files.append(directory / f"targeted_{target}_delta.npy")
        self.workspace.show_status(f"Exported {len(files)} files to {directory}")
        return files


# --- 3. cross-model table --------------------------------------------------------------------------------------

class CrossModelTab(OutputTab):
    title = "Cross-model"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.models = QListWidget()
        self.models.setMaximumHeight(110)
        self.spec_edit = QLineEdit()
        self.spec_edit.setPlaceholderText("another model: resnet50, vgg16:random, /path/net.pt …")
        add = QPushButton("Add")
        add.clicked.connect(self._add_model)
        self.spec_edit.returnPressed.connect(self._add_model)
        self.finish_controls()
        chooser = QGroupBox("models (the loaded one first; checked ones are compared)")
        chooser_layout = QVBoxLayout(chooser)
        row = QHBoxLayout()
        row.addWidget(self.spec_edit, 1)
        row.addWidget(add)
        chooser_layout.addWidget(self.models)
        chooser_layout.addLayout(row)
        self.table = QTableWidget()
        self.body.addWidget(chooser, 0, 0)
        self.body.addWidget(self.table, 1, 0)
        self.body.setRowStretch(1, 1)
        self.result: CrossModelTable | None = None
        self.note.setText("Rows: the model v was computed on (with the UAP tab's settings); columns: the model it "
                          "is tested on; cells: fooling rate on the held-out half.")

    def add_model(self, spec: str) -> None:
        item = QListWidgetItem(spec)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        self.models.addItem(item)

    def _add_model(self) -> None:
        if self.spec_edit.text().strip():
            self.add_model(self.spec_edit.text().strip())
            self.spec_edit.clear()

    def chosen_specs(self) -> list[str]:
        return [self.models.item(i).text() for i in range(self.models.count())
                if self.models.item(i).checkState() == Qt.CheckState.Checked]

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        model = workspace.session.model
        specs = self.chosen_specs()
        if not specs:
            raise ValueError("add at least one more model to compare with")
        return cross_model_steps(model, specs, workspace.source(), workspace.loaded_images(),
                                 workspace.uap.settings.values(model), control)

    def begin(self) -> None:
        self.table.clear()
        self.export_button.setEnabled(False)

    def show_step(self, step) -> None:
        if step.step.frame is not None:
            self.workspace.show_status(f"Cross-model: v of model {step.row + 1}/{step.rows}, "
                                       f"chunk {step.step.iteration}/{step.step.total}")

    def show_result(self, table: CrossModelTable) -> None:
        self.result = table
        count = len(table.names)
        self.table.setRowCount(count)
        self.table.setColumnCount(count)
        self.table.setHorizontalHeaderLabels([f"tested on {name}" for name in table.names])
        self.table.setVerticalHeaderLabels([f"computed on {name}" for name in table.names])
        for i in range(count):
            for j in range(count):
                rate = float(table.rates[i, j])
                self.table.setItem(i, j, QTableWidgetItem("-" if np.isnan(rate) else f"{rate:.1%}"))
        self.table.resizeColumnsToContents()
        self.export_button.setEnabled(True)

    def export_to(self, directory: str | Path) -> list[Path]:
        files = export_table(self.result, directory)
        self.workspace.show_status(f"Exported {len(files)} files to {directory}")
        return files


# --- 4. gallery ------------------------------------------------------------------------------------------------

class GalleryTab(OutputTab):
    title = "Gallery"

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
        self.examples = ImageView("real images of the class, with it")
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
        self.note.setText("Uses the Targeted image tab's settings; each class is saved to the folder as it "
                          "finishes, and Run on the same folder computes only the missing classes.")

    def show_model(self, model: LoadedModel) -> None:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model.name)
        self.folder_edit.setText(str(Path.home() / ".advlens" / "galleries" / safe))
        self.entries = {}
        self.grid.clear()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Gallery folder (finished classes are kept there)")
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
        """The classes already on disk appear at once; the run adds the others."""
        self.entries = {}
        self.grid.clear()
        if Path(self.folder_edit.text().strip(), "classes").is_dir():
            for entry in GalleryFolder(self.folder_edit.text().strip()).finished().values():
                self.add_entry(entry)

    def show_step(self, progress: GalleryProgress) -> None:
        if progress.finished is not None:
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
        """The clicked class's perturbation, and up to 8 loaded images of that class with it added."""
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
        members = torch.nonzero(labels == entry.class_index)[:, 0][:8]
        if not len(members):
            self.examples.clear()
            self.examples.set_title("no loaded image of this class")
            return
        applied = (session.batch.images[members] + torch.from_numpy(entry.perturbation)).clamp(0, 1)
        self.examples.show(display_array(tile(applied).numpy()), (0.0, 1.0))
        _, predicted = session.model.predict(applied)
        self.examples.set_title(f"{len(members)} loaded images of the class",
                                f"still called it: {int((predicted == entry.class_index).sum())}")

    def export_to(self, directory: str | Path) -> list[Path]:
        session = self.workspace.session
        example = None
        if session.batch is not None and session.selected >= 0:
            example = session.batch.images[session.selected].numpy()
        files = export_gallery(self.entries, directory, example)
        self.workspace.show_status(f"Exported {len(files)} files to {directory} (open index.html)")
        return files


# --- the workspace ---------------------------------------------------------------------------------------------

class UniversalWorkspace(JobHost, QWidget):
    """Built on the session (model, images, selection). One computation at a time; `shutdown()` stops it and
    waits for its thread (for the window's closeEvent)."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.job = self.control = self.running_tab = None
        self.set_box = QComboBox()
        self.folder: str | None = None
        set_group = QGroupBox("Images")
        set_layout = QVBoxLayout(set_group)
        set_layout.addWidget(self.set_box)
        set_layout.addWidget(hint_label("split in two fixed halves: computed on one, measured on the other"))
        set_layout.addStretch(1)
        self.set_box.activated.connect(self._on_set_chosen)
        self.uap, self.targeted = UapTab(self), TargetedTab(self)
        self.cross_model, self.gallery = CrossModelTab(self), GalleryTab(self)
        self.lay_out(set_group, "Load a model to compute universal perturbations.", left_width=220)
        session.model_changed.connect(self._on_model_changed)
        session.images_changed.connect(self._update_controls)
        session.selection_changed.connect(self._on_selection_changed)
        if session.model is not None:
            self._on_model_changed(session.model)
        self._update_controls()

    @property
    def outputs(self) -> tuple[OutputTab, ...]:
        return self.uap, self.targeted, self.cross_model, self.gallery

    # --- queries ---------------------------------------------------------------------------------------------

    def source(self) -> DatasetSource:
        return DatasetSource(self.set_box.currentData(), self.folder)

    def loaded_images(self) -> torch.Tensor | None:
        """Captured in the GUI thread when a run starts, so that loading other images mid-run changes nothing."""
        return None if self.session.batch is None else self.session.batch.images

    # --- commands --------------------------------------------------------------------------------------------

    def showcase(self):
        """A short, visible run for the README picture: the targeted image of a class (the job, or None)."""
        self.tabs.setCurrentWidget(self.targeted)
        if self.session.model is not None and self.session.model.domain == "mnist":
            self.choose_set(HELDOUT)
            self.targeted.target_box.setCurrentIndex(2)  # the selected digit is a 3: watch it become a 2
        return self.job if self.run(self.targeted) else None

    def choose_set(self, kind: str, folder: str | None = None) -> None:
        self.folder = folder if kind == FOLDER else self.folder
        self.set_box.setCurrentIndex(self.set_box.findData(kind))

    def shutdown(self) -> None:
        """Stop and wait for the worker thread (the window is closing)."""
        self.stop()
        if self.job is not None:
            self.job.cancel()
            self.job.wait()

    # --- reactions -------------------------------------------------------------------------------------------

    @Slot(object)
    def _on_model_changed(self, model: LoadedModel) -> None:
        self.set_box.clear()
        self.set_box.addItem("the loaded images", LOADED)
        if model.domain == "mnist":
            self.set_box.addItem("the held-out digits (1000)", HELDOUT)
            self.set_box.setCurrentIndex(1)
        self.set_box.addItem("a folder…", FOLDER)
        self.uap.settings.show_model(model)
        self.targeted.show_model(model)
        self.gallery.show_model(model)
        self.cross_model.models.clear()
        self.show_status(f"{model.name}: choose a tab and Run.")
        self._update_controls()

    def _on_set_chosen(self, index: int) -> None:
        if self.set_box.itemData(index) == FOLDER:
            folder = QFileDialog.getExistingDirectory(self, "Images to compute universal perturbations on")
            if folder:
                self.folder = folder
                self.set_box.setItemText(index, f"folder {Path(folder).name}")
            else:
                self.set_box.setCurrentIndex(0)

    @Slot(int)
    def _on_selection_changed(self, *_) -> None:
        self.targeted.show_applied()
        self._update_controls()

    @Slot()
    def _update_controls(self, *_) -> None:
        has_model = self.session.model is not None
        for tab in self.outputs:
            tab.run_button.setEnabled(has_model and not self.busy)
            tab.stop_button.setEnabled(tab is self.running_tab)
