"""The linearity panel: the lecture's dot product, whose sign flips when every input moves half a unit along its
weight's sign, and how the step that flips a score shrinks as the number of inputs grows."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.playground import FlipSteps, flip_steps, seed_example, sum_terms

from ...widgets.number_box import TypedDoubleSpinBox
from ...jobs import JobSlot, steps_of

IMAGE_INPUTS = {"MNIST 28x28": 28 * 28, "ImageNet 299x299x3": 299 * 299 * 3}
MUTED = "#666666"
STEP_BOX_WIDTH = 80  # pixels
N_DECADES = (0, 6)  # 1 to a million inputs: the curve's and both image sizes (268,203 for ImageNet)
STEP_DECADES = (-3, 0)  # the flipping steps before the curve is known
DECADE_PADDING = 0.05  # of the range, beyond the first and last decade: room for their labels
SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def decade_label(exponent: int) -> str:
    """10**exponent as a reader writes it: 1000 and 0.001 in full, 10⁴ and 10⁻⁴ beyond."""
    if abs(exponent) <= 3:
        return f"{10.0 ** exponent:g}" if exponent < 0 else str(10 ** exponent)
    return "10" + str(exponent).translate(SUPERSCRIPTS)


def decades_around(values: np.ndarray) -> tuple[int, int]:
    """The whole decades (log10 exponents) that enclose every positive value."""
    logs = np.log10(values)
    return int(np.floor(logs.min())), int(np.ceil(logs.max()))


class LinearityPanel(QWidget):
    """Top: the dot product before and after the step (the step is adjustable). Bottom: the median flipping
    step of random scores against the number of inputs, on log axes, with the 1/sqrt(n) law."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.step_spin = TypedDoubleSpinBox()
        self.step_spin.setRange(0.0, 5.0)
        self.step_spin.setSingleStep(0.05)
        self.step_spin.setDecimals(2)
        self.step_spin.setValue(0.5)
        self.step_spin.setToolTip("How far every input moves along the sign of its weight")
        self.step_spin.setMinimumWidth(STEP_BOX_WIDTH)  # its size hint fits a one-digit value ("0"), not 0.55
        self.example = QLabel()
        self.example.setTextFormat(Qt.TextFormat.RichText)
        self.example.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.flips: FlipSteps | None = None
        self.slot = JobSlot(self)  # the curve, computed once
        self._build_plot()
        row = QHBoxLayout()
        row.addWidget(QLabel("step per input"))
        row.addWidget(self.step_spin)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.example)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        self.step_spin.valueChanged.connect(self.show_example)
        self.show_example()

    def _build_plot(self) -> None:
        plot = self.plot.getPlotItem()
        plot.setLogMode(x=True, y=True)
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setLabel("bottom", "number of inputs n")
        plot.setLabel("left", "flipping step per input")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        # bottom left: the curve falls from the top left to the bottom right, and the image lines are at the right
        plot.addLegend(offset=(10, -10))
        self.measured = plot.plot([], [], pen=pg.mkPen((67, 147, 195), width=2), symbol="o", symbolSize=7,
                                  symbolBrush=(67, 147, 195), name="median over random w, x ~ N(0, 1)")
        self.law = plot.plot([], [], pen=pg.mkPen((120, 120, 120), width=1.5, style=Qt.PenStyle.DashLine),
                             name="1 / sqrt(n)")
        for name, count in IMAGE_INPUTS.items():
            # the name beside the top of its line, across: rotated along the line it ran out of a short plot
            plot.addItem(pg.InfiniteLine(np.log10(count), angle=90, pen=pg.mkPen((180, 180, 180)), label=name,
                                         labelOpts={"position": 0.96, "color": MUTED, "anchors": [(1, 0), (1, 0)]}))
        self._show_decades(N_DECADES, STEP_DECADES)

    def _show_decades(self, n_decades: tuple[int, int], step_decades: tuple[int, int]) -> None:
        """Whole decades on both log axes, each labelled (1, 10, 100, 1000, 10⁴ …; 1, 0.1, 0.01, 0.001), so that
        every curve point has a labelled power of ten above and below it."""
        plot = self.plot.getPlotItem()
        for axis, (low, high) in (("bottom", n_decades), ("left", step_decades)):
            plot.getAxis(axis).setTicks([[(k, decade_label(k)) for k in range(low, high + 1)], []])
        plot.setXRange(*n_decades, padding=DECADE_PADDING)
        plot.setYRange(*step_decades, padding=DECADE_PADDING)

    @Slot()
    def show_example(self, *_) -> None:
        example = seed_example(self.step_spin.value())
        step = example.step
        self.example.setText(
            "<div style='font-size:10pt'><b>Models are too linear.</b> A class score is a dot product "
            "w&#8901;x of many inputs. The lecture's ten:<br>"
            f"x = ({', '.join(f'{v:g}' for v in example.inputs)}), w = "
            f"({', '.join(f'{v:g}' for v in example.weights)})<br>"
            f"score before: {sum_terms(example.terms_before)} = <b>{example.score_before:g}</b><br>"
            f"every input moved by {step:g} along sign(w): {sum_terms(example.terms_after)} = "
            f"<b>{example.score_after:g}</b><br>"
            f"<span style='color:{MUTED}'>The score changes by step &times; ||w||&#8321; = {step:g} &times; "
            f"{np.abs(example.weights).sum():g}; any step above |score| / ||w||&#8321; = "
            f"{example.flip_step:g} flips its sign. With n inputs the score grows like &radic;n but ||w||&#8321; "
            "like n, so the step needed shrinks like 1/&radic;n (below).</span></div>")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.flips is None and not self.slot.busy:  # computed once, off the GUI thread, when first shown
            self.slot.run(steps_of(flip_steps), on_result=self.show_flips, what="the linearity curve")

    @Slot(object)
    def show_flips(self, flips: FlipSteps) -> None:
        self.flips = flips
        self.measured.setData(flips.dims, flips.median_step)
        self.law.setData(flips.dims, flips.sqrt_law)
        values = np.concatenate([flips.median_step, flips.sqrt_law])
        self._show_decades(N_DECADES, decades_around(values[values > 0]))
