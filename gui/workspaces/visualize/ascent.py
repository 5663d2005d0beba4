"""The Visualize outputs raised by gradient ascent, each live with its score curve and its settings: the class
model (Simonyan et al.), the unit visualization (Yosinski et al.) and DeepDream."""
from __future__ import annotations

import html
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QGroupBox, QVBoxLayout

from engine.models import LoadedModel
from engine.visualize import (CLASS_MODEL, DEEPDREAM, UNIT, AscentResult, RunControl, VisStep, class_model,
                              ascent_params, deepdream, settings_domain, unit_visualization)

from ...widgets.image_view import ImageView
from ...widgets.imaging import display_array
from ...widgets.output_tab import ScoreCurve
from ...widgets.param_form import ParamForm
from ...widgets.tabbed_workspace import WorkspaceTab
from .maps import PREDICTED

if TYPE_CHECKING:
    from .workspace import VisualizeWorkspace


class AscentTab(WorkspaceTab):
    """An image raised by gradient ascent, live, with its score curve and the settings of `kind`."""

    kind = ""
    setting_names: tuple[str, ...] = ()
    curve_title = ""

    def __init__(self, workspace: VisualizeWorkspace):
        super().__init__(workspace)
        self.params = ascent_params(self.kind)
        self.form = ParamForm()  # the settings shown, from the engine's declarations (0 switches a regularizer off)
        self.form.build(self.params.only(self.setting_names), self.params.defaults(),
                        domain_defaults=self.params.domain_defaults)
        settings_box = QGroupBox("settings")
        QVBoxLayout(settings_box).addWidget(self.form)
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
        defaults = self.params.defaults(settings_domain(model))
        self.form.fill(defaults)
        self.form.set_defaults(defaults)  # the tooltips name the loaded model's defaults

    def settings(self) -> dict:
        return self.form.values()

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
    setting_names = ("start", "steps", "lr", "l2", "blur_sigma", "jitter")
    curve_title = "class score S_c (logit) per step"

    def steps(self, control: RunControl) -> Generator:
        target = self.workspace.target()
        if target == PREDICTED:
            session = self.workspace.session
            target = int(session.probs[session.selected].argmax()) if session.selected >= 0 else 0
        self.target = target
        return class_model(self.workspace.session.model, [target], control=control, **self.settings())

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
