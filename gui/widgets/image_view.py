"""One image panel with fixed levels, the building block of every side-by-side view."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from engine.export import NEGATIVE_RGB, POSITIVE_RGB

from .imaging import diverging_colormap, display_array, perturbation_peak
from .style import MUTED, NOTE_SIZE, TITLE_SIZE, VIEW_BACKGROUND, swatch


# What the mouse does on every image view (pyqtgraph's wheel and drag, a double click here): its tooltip and Help
MOUSE_HINT = "Wheel: zoom · drag: pan · double-click: fit the whole image again"


@lru_cache(maxsize=1)
def diverging_lookup() -> np.ndarray:
    """The diverging map's 256 colours, for one-channel perturbations."""
    return diverging_colormap().getLookupTable(0.0, 1.0, 256)


class ImageView:
    """One image panel: a title above a PlotWidget without axes holding a row-major ImageItem with fixed
    levels; the wheel zooms, a drag pans and a double click fits the image again. Separate widgets in a grid
    (rather than plots in one canvas) keep the three panels equally wide whatever their titles say, which the
    linked, aspect-locked views need to stay aligned."""

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
        self.plot.vb.setToolTip(MOUSE_HINT)  # on the view box: a QGraphicsView shows its items' tooltips only
        self.widget.scene().sigMouseClicked.connect(self._on_click)
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

    def show_perturbation(self, delta_chw: np.ndarray) -> None:
        """A perturbation at symmetric levels of its largest change, so even a faint one fills the colour range:
        one channel through the diverging map (white = unchanged), colour channels around mid-grey; its L-inf
        and L2 sizes and the colour scale as the title."""
        peak = perturbation_peak(delta_chw)
        delta = display_array(delta_chw)
        lookup = diverging_lookup() if delta.ndim == 2 else None
        self.item.setLookupTable(lookup, update=False)
        self.show(delta, (-peak, peak))
        linf = float(np.abs(delta_chw).max())
        l2 = float(np.sqrt(np.square(delta_chw, dtype=np.float64).sum()))
        scale = (f"{swatch(NEGATIVE_RGB)} −{peak:.3g} darker &nbsp;{swatch(POSITIVE_RGB)} +{peak:.3g} brighter"
                 if delta.ndim == 2 else f"per channel: grey unchanged, ±{peak:.3g}")
        self.set_title(f"L∞ {linf:.3f} ({linf * 255:.1f}/255) · L2 {l2:.3g}", scale)

    def clear(self) -> None:
        self.item.clear()

    def fit(self) -> None:
        """Frame the whole image again, after any zoom or pan (views linked to this one follow)."""
        self.plot.vb.autoRange()

    def _on_click(self, event) -> None:
        if event.double():
            self.fit()
