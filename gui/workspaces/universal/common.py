"""What the Universal tabs share: perturbation panels and the declared parameters of a universal attack."""
from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGroupBox, QVBoxLayout

from engine.attacks import get_attack
from engine.models import LoadedModel

from ...widgets.image_view import ImageView
from ...widgets.param_form import ParamForm
from .computations import perturbation_picture


def perturbation_view(name: str) -> ImageView:
    """A panel for `perturbation_picture`s: its levels are set before the first image, because pyqtgraph applies
    levels given to an empty item after that image and would undo the ones passed with it."""
    return ImageView(name, levels=(0, 255), bar_row=True)


def show_perturbation(view: ImageView, delta_chw: np.ndarray) -> None:
    view.show(perturbation_picture(delta_chw), (0, 255))
    view.explain_perturbation(delta_chw)  # the colour bar and the readout's signed values


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
