"""One image panel with fixed levels, the building block of every side-by-side view."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from .style import MUTED, NOTE_SIZE, TITLE_SIZE, VIEW_BACKGROUND


class ImageView:
    """One image panel: a title above a PlotWidget without axes holding a row-major ImageItem with fixed
    levels. Separate widgets in a grid (rather than plots in one canvas) keep the three panels equally wide
    whatever their titles say, which the linked, aspect-locked views need to stay aligned."""

    def __init__(self, name: str, levels: tuple[float, float] = (0.0, 1.0)):
        self.name = name
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom)
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.widget = pg.PlotWidget()
        self.widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.plot = self.widget.getPlotItem()
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setLevels(levels)
        self.plot.addItem(self.item)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.vb.setBackgroundColor(VIEW_BACKGROUND)  # so that white (unchanged) pixels show their edge
        self.title = ""
        self.set_title("")

    def set_title(self, detail: str, note: str = "") -> None:
        """Three lines, in every panel so that they line up: the panel's name, what it shows (prediction,
        norms), and a smaller note."""
        self.title = f"<b>{self.name}</b><br>{detail or '&nbsp;'}"
        self.label.setText(f"<div style='font-size:{TITLE_SIZE}'>{self.title}<br><span style='font-size:"
                           f"{NOTE_SIZE}; color:{MUTED}'>{note or '&nbsp;'}</span></div>")

    def show(self, image: np.ndarray, levels: tuple[float, float]) -> None:
        # levels passed with the image: pyqtgraph would otherwise compute them from the data (auto-levels)
        self.item.setImage(image, autoLevels=False, levels=levels)

    def clear(self) -> None:
        self.item.clear()
