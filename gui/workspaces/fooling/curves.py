"""The archive's mean and median confidence per generation (per step for gradient ascent) as two pyqtgraph
curves, with the 99% line the paper's results are read against. Points are added as steps come and drawn when
the workspace says so (on the frames), so a fast evolution is not slowed by redraws."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

MEAN_PEN = pg.mkPen((33, 102, 172), width=2)
MEDIAN_PEN = pg.mkPen((214, 96, 77), width=2)
TARGET_PEN = pg.mkPen((120, 120, 120), width=1, style=Qt.PenStyle.DashLine)
TARGET = 0.99


class WholeNumberAxis(pg.AxisItem):
    """Ticks at whole generations only: pyqtgraph would mark 0.5 generations on a short run."""

    def tickSpacing(self, minVal, maxVal, size):
        levels = [(max(spacing, 1.0), offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)]
        return list(dict.fromkeys(levels))


class ConfidenceCurves(pg.PlotWidget):
    """`add(x, mean, median)` per step, `redraw()` on frames, `show_history(xs, means, medians)` at once."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, axisItems={"bottom": WholeNumberAxis("bottom")})
        plot = self.getPlotItem()
        plot.setTitle("archive confidence", size="10pt")
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setLabel("bottom", "generation")
        plot.hideButtons()
        plot.setYRange(0.0, 1.0, padding=0.02)
        plot.setLimits(yMin=-0.05, yMax=1.05)
        plot.addLegend(offset=(-10, -10))  # bottom right: the curves climb towards the top
        self.mean = plot.plot([], [], pen=MEAN_PEN, name="mean")
        self.median = plot.plot([], [], pen=MEDIAN_PEN, name="median")
        plot.addItem(pg.InfiniteLine(TARGET, angle=0, pen=TARGET_PEN, label="99%",
                                     labelOpts={"position": 0.5, "color": (110, 110, 110)}))
        self.xs: list[float] = []
        self.means: list[float] = []
        self.medians: list[float] = []

    def set_unit(self, unit: str) -> None:
        """"generation" or "step" on the horizontal axis."""
        self.getPlotItem().setLabel("bottom", unit)

    def clear_points(self) -> None:
        self.xs, self.means, self.medians = [], [], []
        self.redraw()

    def add(self, x: float, mean: float, median: float) -> None:
        self.xs.append(float(x))
        self.means.append(float(mean))
        self.medians.append(float(median))

    def show_history(self, xs: Sequence[float], means: Sequence[float], medians: Sequence[float]) -> None:
        self.xs, self.means, self.medians = [float(x) for x in xs], list(means), list(medians)
        self.redraw()

    def redraw(self) -> None:
        xs = np.asarray(self.xs, dtype=float)
        self.mean.setData(xs, np.asarray(self.means, dtype=float))
        self.median.setData(xs, np.asarray(self.medians, dtype=float))
        self._fit_height()

    def _fit_height(self) -> None:
        """0-1 once the curves are high; a random-weight ImageNet model's 0.1% would be a flat line on the
        floor of that, so low curves get an axis up to a little above their peak."""
        peak = max(self.means + self.medians, default=1.0)
        top = 1.0 if peak >= 0.5 else max(1.25 * peak, 1e-4)
        self.getPlotItem().setYRange(0.0, top, padding=0.02)
