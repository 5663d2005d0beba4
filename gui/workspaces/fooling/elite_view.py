"""A clicked cell of the archive: its elite enlarged next to real images of its class (held-out digits for a
digit model, else the loaded images labelled or predicted as that class), each with what the model says, so
that the rubbish and the real thing the model gives the same class are seen side by side."""
from __future__ import annotations

import html

import numpy as np
import torch
from PySide6.QtWidgets import QGridLayout, QWidget

from engine.visualize import tile

from ...widgets.image_view import ImageView
from ...widgets.imaging import display_array

REAL_SHOWN = 8  # real images of the class beside an elite


class EliteView(QWidget):
    """`show_elite(image, detail, note)`, then `show_real(images, probabilities, what)` or `show_no_real(text)`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.elite = ImageView("elite")
        self.real = ImageView("real images")
        self.real_count = 0  # how many real images are shown (read by tests)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        for column, view in enumerate((self.elite, self.real)):
            grid.addWidget(view.label, 0, column)
            grid.addWidget(view.widget, 1, column)
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(1, 1)
        self.clear()

    def clear(self) -> None:
        self.real_count = 0
        for view in (self.elite, self.real):
            view.clear()
        self.elite.set_title("click a cell of the archive", "its elite is shown here, enlarged")
        self.real.set_title("", "beside real images of its class")

    def show_elite(self, image_chw: np.ndarray, detail: str, note: str = "", fit: bool = True) -> None:
        """`fit`: zoom to the whole image (a new cell), else keep the user's zoom (the same cell, a new frame)."""
        self.elite.show(display_array(image_chw), (0.0, 1.0))
        self.elite.set_title(detail, note)
        if fit:
            self.elite.plot.vb.autoRange(padding=0.0)

    def show_real(self, images: torch.Tensor, probabilities: torch.Tensor, what: str, class_title: str) -> None:
        """Up to REAL_SHOWN real images of the class, tiled, with the model's mean probability of the class."""
        self.real_count = len(images)
        columns = int(np.ceil(np.sqrt(len(images))))
        self.real.show(display_array(tile(images, columns=columns, padding=2).numpy()), (0.0, 1.0))
        self.real.plot.vb.autoRange(padding=0.0)
        mean = float(probabilities.mean()) if len(probabilities) else 0.0
        self.real.set_title(f"{len(images)} {html.escape(what)} of {html.escape(class_title)}",
                            f"the model: {100 * mean:.1f}% on average")

    def show_no_real(self, text: str) -> None:
        self.real_count = 0
        self.real.clear()
        self.real.set_title(html.escape(text), "load some in the image column")
