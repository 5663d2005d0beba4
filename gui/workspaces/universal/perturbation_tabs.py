"""The Universal tabs that learn one perturbation: UAP (v growing, the fooling rate per pass, the images being
worked on, the held-out rate against random noise) and the targeted universal image (delta learning, the held-out
target rate, delta applied to the selected image)."""
from __future__ import annotations

import html
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QComboBox, QLabel

from engine.core import RunControl
from engine.models import LoadedModel
from engine.visualize import tile

from ...jobs import steps_of
from ...widgets.image_view import ImageView
from ...widgets.imaging import display_array
from ...widgets.output_tab import ScoreCurve
from ...widgets.tabbed_workspace import LatestRequest, WorkspaceTab
from .common import SpecForm, perturbation_view, show_perturbation
from .computations import export_perturbation, export_uap, targeted_steps, uap_steps, verdicts

if TYPE_CHECKING:
    from .workspace import UniversalWorkspace


class UapTab(WorkspaceTab):
    title = "UAP"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.settings = SpecForm("UAP settings", "uap")
        self.finish_controls()
        self.v_view = perturbation_view("universal perturbation v")
        self.flipping_view = ImageView("images being worked on, with v", bar_row=True)  # level with v's bar
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

    def export_steps(self, directory: Path) -> Generator:
        if self.result is None:
            raise ValueError("run the UAP first")
        extras = self.result.extras
        return steps_of(export_uap, directory, extras["perturbation"], extras["fooling_rates"])


class TargetedTab(WorkspaceTab):
    title = "Targeted image"

    def __init__(self, workspace: UniversalWorkspace):
        super().__init__(workspace)
        self.target_box = QComboBox()
        self.controls.addWidget(QLabel("target class"))
        self.controls.addWidget(self.target_box, 1)
        self.settings = SpecForm("targeted image settings", "targeted-universal")
        self.finish_controls()
        self.delta_view = perturbation_view("delta (amplified)")
        self.natural_view = ImageView("selected image", bar_row=True)  # level with delta's colour bar
        self.applied_view = ImageView("with delta", bar_row=True)
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
        self.target: int | None = None  # the class `delta` was learned for
        self.previewed = -1
        self.previews = LatestRequest(self)  # the model's verdicts on the selected image, with and without delta
        workspace.watch(self.previews, shown_as_busy=False)
        self.note.setText("delta = eps·tanh(w), learned with Adam on the cross-entropy to the target; the rate is "
                          "the share of held-out images of other classes that the model then calls the target.")

    def show_model(self, model: LoadedModel) -> None:
        self.target_box.clear()
        for index, name in enumerate(model.class_names):
            self.target_box.addItem(f"{index}: {name}", index)
        self.settings.show_model(model)
        self.delta = None
        self.delta_view.clear()
        self.previews.forget()
        self.show_applied()

    def steps(self, control: RunControl) -> Generator:
        workspace = self.workspace
        model = workspace.session.model
        self.target = self.target_box.currentData()
        session = workspace.session
        self.previewed = session.selected  # the image the run shows with delta when it ends
        preview_of = session.batch.images[session.selected][None] if self.previewed >= 0 else None
        return targeted_steps(model, workspace.source(), workspace.loaded_images(), self.target,
                              self.settings.values(model), control, preview_of)

    def begin(self) -> None:
        self.curve.reset()
        self.export_button.setEnabled(False)

    def show_step(self, step) -> None:
        if "target_rate" in step.metrics:
            self.curve.add(step.metrics["target_rate"], redraw=True, x=step.iteration)
        if step.frame is not None:
            show_perturbation(self.delta_view, step.frame.extras["perturbation"][0])
            self.delta_view.set_title(f"step {step.iteration}/{step.total}",
                                      f"loss {step.metrics.get('loss', float('nan')):.3f}")

    def show_result(self, answer) -> None:
        result, preview = answer
        self.delta = result.extras["perturbation"][0]
        show_perturbation(self.delta_view, self.delta)
        rates = result.extras["target_rates"]
        rate = f"held-out target rate {rates[-1]:.1%}" if len(rates) else "no rate measured yet"
        stopped = " (stopped)" if result.stopped else ""
        self.delta_view.set_title(f"{rate}{stopped}", f"max |delta| {np.abs(self.delta).max():.3f}")
        if preview is not None and self.previewed == self.workspace.session.selected:
            self._draw_applied(preview, self.delta)
        else:  # another image was selected meanwhile
            self.show_applied()
        self.export_button.setEnabled(True)

    def show_applied(self) -> None:
        """Ask for the model's verdicts on the selected image and on it plus delta (computed in a job)."""
        session = self.workspace.session
        if session.batch is None or session.selected < 0 or session.model is None:
            return
        model, natural, delta = session.model, session.batch.images[session.selected][None], self.delta
        self.previews.request(lambda: steps_of(verdicts, model, natural, delta),
                              lambda answer: self._draw_applied(answer, delta))

    def _draw_applied(self, answer, delta: np.ndarray | None) -> None:
        if delta is not self.delta:
            return  # computed with a delta the tab no longer shows
        pictures, probs = answer
        session = self.workspace.session
        for view, picture, p in zip((self.natural_view, self.applied_view), pictures, probs):
            top = int(p.argmax())
            view.show(display_array(picture.numpy()), (0.0, 1.0))
            view.set_title(f"{html.escape(session.class_name(top))} {100 * float(p[top]):.1f}%")
        if len(pictures) == 1:
            self.applied_view.clear()
            self.applied_view.set_title("")

    def export_steps(self, directory: Path) -> Generator:
        if self.delta is None:
            raise ValueError("learn a targeted image first")
        return steps_of(export_perturbation, directory, f"targeted_{self.target}_delta", self.delta)
