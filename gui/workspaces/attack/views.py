"""The workspace plots: natural | adversarial | perturbation with linked zoom, the class-probability bars and
the per-iteration curves. Each view subscribes to the session and the run model, and redraws only from the GUI
thread, with items created once and updated in place."""
from __future__ import annotations

import html
import textwrap

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QFont, QImage
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QWidget


from ...session import Session
from ...widgets.image_view import ImageView
from ...widgets.imaging import FieldArrows, display_array, field_segments
from ...widgets.pixel_readout import class_note
from ...widgets.style import ADVERSARIAL_COLOUR, MUTED, NATURAL_COLOUR, percent, shorten, swatch
from .run_model import RunModel, RunRequest

FIELD_COLOUR = (255, 150, 0)
FIELD_EXPORT_SCALE = 3  # a saved field view is this many times the size of the view on screen


def prediction_text(session: Session, probs: np.ndarray) -> tuple[int, str]:
    """(class index, "name 99.2%") of the most probable class."""
    index = int(np.argmax(probs))
    return index, f"{session.class_name(index)} &nbsp;{percent(float(probs[index]))}"


def follow_the_selected_image(session: Session, run_model: RunModel, refresh, on_frame=None) -> None:
    """Redraw with `refresh` when the selection, the images or the run change, and on each new frame (with
    `on_frame` when a view draws frames more cheaply than a full refresh)."""
    for signal in (session.selection_changed, session.images_changed, run_model.started, run_model.finished,
                   run_model.cleared):
        signal.connect(refresh)
    run_model.framed.connect(on_frame or refresh)


class FieldBar(QWidget):
    """Under the workspace: whether to draw a deformation's field, how it is drawn, and saving the view."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.check = QCheckBox("show field")
        self.check.setChecked(True)
        self.check.setToolTip("Draw the displacement field of a deformation (ADef) over the deformed image: an arrow "
                              "from each pixel to where it samples from")
        self.note = QLabel()
        self.note.setStyleSheet(f"color: {MUTED};")
        self.note.setWordWrap(True)  # a narrow window wraps the note instead of widening the triptych
        self.save_button = QPushButton("Save field view…")
        self.save_button.setToolTip("Save the adversarial view with the field overlay, as shown, as a PNG")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        row.addWidget(self.check)
        row.addWidget(self.note)
        row.addWidget(self.save_button)
        row.addStretch(1)
        self.show_arrows(None)

    def show_arrows(self, arrows: FieldArrows | None) -> None:
        self.check.setEnabled(arrows is not None)
        self.save_button.setEnabled(arrows is not None)
        if arrows is None:
            self.note.setText("no field (deformation attacks only)")
            return
        spacing = "every pixel" if arrows.stride == 1 else f"every {arrows.stride} px"
        length = "true length" if arrows.scale == 1 else f"length ×{arrows.scale:.1f}"
        self.note.setText(f"arrows {spacing}, {length}")
        self.note.setToolTip("Zoom in for more arrows; at pixel zoom every pixel has its arrow, drawn true to length")


class ImageTriptych(QWidget):
    """natural | adversarial | perturbation of the selected image, zoomed and panned together; a double click
    fits the image again. A deformation's field is drawn over the adversarial image, thinned to the visible
    region so that zooming in shows more arrows."""

    save_field_requested = Signal()

    def __init__(self, session: Session, run_model: RunModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.run_model = session, run_model
        # every panel keeps a row for a colour bar, the perturbation's shows in it: equal panels stay aligned
        self.natural = ImageView("natural", bar_row=True)
        self.adversarial = ImageView("adversarial", bar_row=True)
        self.perturbation = ImageView("perturbation", levels=(-1.0, 1.0), bar_row=True)
        self.field_bar = FieldBar()
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        for column, view in enumerate(self.views):
            grid.addWidget(view.label, 0, column)
            grid.addWidget(view.widget, 1, column)
            grid.setColumnStretch(column, 1)
            view.widget.scene().sigMouseClicked.connect(self._on_click)
        grid.addWidget(self.field_bar, 2, 0, 1, 3)
        grid.setRowStretch(1, 1)
        for view in (self.adversarial, self.perturbation):
            view.plot.setXLink(self.natural.plot)
            view.plot.setYLink(self.natural.plot)
            view.plot.vb.disableAutoRange()  # they follow the natural view through the links
        # a deformation field over the deformed image: every arrow in ONE item, as pairs of points
        self.field_curve = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(FIELD_COLOUR, width=2))
        self.field_curve.setZValue(10)
        self.adversarial.plot.addItem(self.field_curve)
        self.field: np.ndarray | None = None  # the field drawn, (2, H, W) pixels
        self.arrows: FieldArrows | None = None
        self.field_bar.check.toggled.connect(self.field_curve.setVisible)
        self.field_bar.save_button.clicked.connect(self.save_field_requested)
        self.adversarial.plot.vb.sigRangeChanged.connect(self._draw_field)
        self._shape: tuple[int, ...] | None = None
        self.natural_class: int | None = None
        self.adversarial_class: int | None = None
        follow_the_selected_image(session, run_model, self.refresh, on_frame=self._on_frame)
        self.refresh()

    def fit(self) -> None:
        """Frame the whole image again (after a zoom, or for a new input size)."""
        self.natural.plot.vb.enableAutoRange()

    def _on_click(self, event) -> None:
        if event.double():
            self.fit()

    @property
    def views(self) -> tuple[ImageView, ImageView, ImageView]:
        return self.natural, self.adversarial, self.perturbation

    @Slot()
    def refresh(self, *_) -> None:
        index = self.session.selected
        if index < 0 or self.session.batch is None:
            for view in self.views:
                view.clear()
                view.set_title("")
            self.natural_class = self.adversarial_class = None
            self.field = None
            self._draw_field()
            return
        self._show_natural(index)
        self._show_attacked(index)

    @Slot()
    def _on_frame(self) -> None:
        if self.session.selected >= 0:
            self._show_attacked(self.session.selected)

    def _show_natural(self, index: int) -> None:
        image = display_array(self.session.batch.images[index])
        self.natural.show(image, (0.0, 1.0))
        if image.shape != self._shape:  # a new model's input size
            self._shape = image.shape
            self.fit()
        probs = self.session.probs[index].numpy()
        self.natural_class, text = prediction_text(self.session, probs)
        self.natural.set_title(text, html.escape(shorten(self.session.batch.names[index], 48)))
        self.natural.set_readout_note(class_note(self.session.model.class_names, probs))

    def _show_attacked(self, index: int) -> None:
        attacked = self.run_model.adversarial_of(index)
        self._show_field(index)
        if attacked is None:
            self.adversarial.clear()
            self.perturbation.clear()
            self.adversarial_class = None
            stats = self.run_model.stats
            in_run = self.run_model.shows_run_images()  # the views may show images the run is not over
            if self.run_model.busy and in_run and self.run_model.request.run_index(index) is not None:
                why = "running…"
            elif in_run and stats is not None and stats.accuracy is not None and index < stats.dataset_size:
                why = "not attacked: misclassified"  # a dataset run attacks the correctly classified ones
            else:
                why = "not attacked yet"
            self.adversarial.set_title(f"<span style='color:{MUTED}'>{why}</span>")
            self.perturbation.set_title("")
            return
        image, probs = attacked
        self.adversarial.show(display_array(image), (0.0, 1.0))
        self.adversarial.set_readout_note("" if probs is None else class_note(self.session.model.class_names, probs))
        if probs is not None:
            self.adversarial_class, text = prediction_text(self.session, probs)
            changed = self.adversarial_class != self.natural_class
            colour = "#c83232" if changed else "#222222"
            self.adversarial.set_title(f"<span style='color:{colour}'>{text}</span>", self._outcome_note(index))
        self._show_perturbation(image - self.session.batch.images[index].numpy())

    def _show_field(self, index: int) -> None:
        self.field = self.run_model.field_of(index)
        self._draw_field()

    @Slot()
    def _draw_field(self, *_) -> None:
        """The arrows of the visible region (called for new fields and whenever the view is zoomed or panned)."""
        if self.field is None:
            self.arrows = None
            self.field_curve.setData([], [])
        else:
            (x_min, x_max), (y_min, y_max) = self.adversarial.plot.vb.viewRange()
            self.arrows = field_segments(self.field, region=(x_min, x_max, y_min, y_max))
            self.field_curve.setData(self.arrows.xs, self.arrows.ys)
        self.field_bar.show_arrows(self.arrows)

    def render_field_view(self, scale: int = FIELD_EXPORT_SCALE) -> QImage:
        """The adversarial view with its field overlay as shown (zoom included), rendered `scale` times the size
        of the view on screen, image pixels enlarged without smoothing."""
        exporter = pg.exporters.ImageExporter(self.adversarial.plot)
        exporter.parameters()["width"] = scale * max(1, self.adversarial.widget.width())
        return exporter.export(toBytes=True)

    def _outcome_note(self, index: int) -> str:
        outcome = self.run_model.outcome_of(index)
        if outcome is None:
            return ""
        if outcome.running:
            state = "fooled" if outcome.fooled else "not fooled yet"
            note = f"{state} · iteration {outcome.iterations}/{outcome.total}"
        else:
            stopped = " (stopped)" if outcome.stopped else ""
            plural = "s" if outcome.iterations != 1 else ""
            note = f"{'fooled' if outcome.fooled else 'not fooled'} · {outcome.iterations} iteration{plural}{stopped}"
        field = self.run_model.field_of(index)
        if field is not None:  # ADef's size of a deformation: the longest displacement
            note += f" · ‖τ‖ {float(np.hypot(field[0], field[1]).max()):.2f} px"
        return note

    def _show_perturbation(self, delta_chw: np.ndarray) -> None:
        self.perturbation.show_perturbation(delta_chw)


class ProbabilityBars(pg.PlotWidget):
    """Top-k class probabilities, natural vs adversarial: one BarGraphItem per series, updated in place, on a
    fixed axis (0..1 plus headroom for the value labels). The classes shown are the k most probable in either
    image, so both predictions appear."""

    def __init__(self, session: Session, run_model: RunModel, k: int = 5, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.run_model, self.k = session, run_model, k
        self.classes: list[int] = []
        self._ticks: list | None = None
        plot = self.getPlotItem()
        plot.setTitle(f"class probabilities (top {k}): {swatch(NATURAL_COLOUR)} natural &nbsp; "
                      f"{swatch(ADVERSARIAL_COLOUR)} adversarial", size="10pt")
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setYRange(0, 1.16, padding=0)  # fixed, so bars of successive frames compare; room for the labels
        plot.setXRange(-0.6, k - 0.4, padding=0)
        plot.showGrid(y=True, alpha=0.25)
        plot.getAxis("left").setTicks([[(v, f"{v:.1f}") for v in np.linspace(0, 1, 6)]])
        plot.getAxis("bottom").setHeight(44)
        positions = np.arange(k, dtype=float)
        zeros = np.zeros(k)
        self.natural_bars = pg.BarGraphItem(x=positions - 0.2, height=zeros, width=0.38, name="natural",
                                            brush=pg.mkBrush(*NATURAL_COLOUR), pen=pg.mkPen(None))
        self.adversarial_bars = pg.BarGraphItem(x=positions + 0.2, height=zeros, width=0.38, name="adversarial",
                                                brush=pg.mkBrush(*ADVERSARIAL_COLOUR), pen=pg.mkPen(None))
        plot.addItem(self.natural_bars)
        plot.addItem(self.adversarial_bars)
        self.value_labels = []  # one per bar, placed once and re-texted in place
        for offset, colour in ((-0.2, NATURAL_COLOUR), (0.2, ADVERSARIAL_COLOUR)):
            for position in positions:
                label = pg.TextItem("", color=colour, anchor=(0.5, 1.0))
                label.setFont(QFont(label.textItem.font().family(), 8))
                label.setPos(position + offset, 0)
                plot.addItem(label)
                self.value_labels.append(label)
        follow_the_selected_image(session, run_model, self.refresh)

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """The heights currently drawn (natural, adversarial)."""
        return np.asarray(self.natural_bars.opts["height"]), np.asarray(self.adversarial_bars.opts["height"])

    @Slot()
    def refresh(self, *_) -> None:
        index = self.session.selected
        if index < 0 or self.session.probs is None:
            self._draw([], np.zeros(0), None)
            return
        natural = self.session.probs[index].numpy()
        attacked = self.run_model.adversarial_of(index)
        adversarial = attacked[1] if attacked is not None else None
        self._draw(self._classes_to_show(natural, adversarial), natural, adversarial)

    def _classes_to_show(self, natural: np.ndarray, adversarial: np.ndarray | None) -> list[int]:
        score = natural if adversarial is None else np.maximum(natural, adversarial)
        chosen = list(np.argsort(-score, kind="stable")[: self.k])
        request = self.run_model.request
        if request is not None and request.target is not None and request.target not in chosen:
            chosen[-1] = request.target  # a targeted run: always show how close the target is
        return sorted(chosen, key=lambda c: -natural[c])

    def _draw(self, classes: list[int], natural: np.ndarray, adversarial: np.ndarray | None) -> None:
        self.classes = classes
        natural_heights, adversarial_heights = np.zeros(self.k), np.zeros(self.k)
        if classes:
            natural_heights[: len(classes)] = natural[classes]
            if adversarial is not None:
                adversarial_heights[: len(classes)] = adversarial[classes]
        self.natural_bars.setOpts(height=natural_heights)
        self.adversarial_bars.setOpts(height=adversarial_heights)
        self._label_bars(np.concatenate([natural_heights, adversarial_heights]))
        names = [self.session.class_name(c) for c in classes]
        ticks = [(i, "\n".join(textwrap.wrap(name, 12)[:2]) or name) for i, name in enumerate(names)]
        if ticks != self._ticks:  # re-laying out the axis is the costly part of a redraw
            self._ticks = ticks
            self.getPlotItem().getAxis("bottom").setTicks([ticks])

    def _label_bars(self, heights: np.ndarray) -> None:
        for label, height in zip(self.value_labels, heights):
            label.setText(f"{100 * height:.0f}%" if height >= 0.01 else "")
            label.setPos(label.pos().x(), float(height))


class RunCurves(pg.GraphicsLayoutWidget):
    """Loss and goal probability per iteration of the selected image, redrawn on frames (at most 25 times a
    second) and at the end, whatever the step rate."""

    def __init__(self, session: Session, run_model: RunModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.run_model = session, run_model
        self.loss_plot = self.addPlot(row=0, col=0)
        self.goal_plot = self.addPlot(row=1, col=0)
        self.goal_plot.setXLink(self.loss_plot)
        self.goal_plot.setYRange(0, 1, padding=0.02)
        self.goal_plot.setLimits(yMin=-0.05, yMax=1.05)
        self.goal_plot.enableAutoRange(y=False)
        self.goal_plot.setLabel("bottom", "iteration")
        for plot in (self.loss_plot, self.goal_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.hideButtons()
            plot.getAxis("left").setWidth(42)
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen((90, 90, 90), width=2))
        self.goal_curve = self.goal_plot.plot(pen=pg.mkPen(ADVERSARIAL_COLOUR, width=2))
        for curve in (self.loss_curve, self.goal_curve):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self._set_titles(None)
        session.selection_changed.connect(self.refresh)
        run_model.started.connect(self._on_started)
        run_model.finished.connect(self.refresh)
        run_model.cleared.connect(self.refresh)
        run_model.framed.connect(self.refresh)

    def _set_titles(self, request: RunRequest | None) -> None:
        quantity = request.spec.loss_name if request is not None else "loss"
        self.loss_plot.setTitle(f"{quantity} per iteration", size="10pt")
        goal = "target" if request is not None and request.target is not None else "attacked label"
        self.goal_plot.setTitle(f"probability of the {goal}", size="10pt")

    @Slot(object)
    def _on_started(self, request: RunRequest) -> None:
        self._set_titles(request)
        self.refresh()

    @Slot()
    def refresh(self, *_) -> None:
        curves = self.run_model.curves_of(self.session.selected) if self.session.selected >= 0 else None
        if curves is None:
            self.loss_curve.setData([], [])
            self.goal_curve.setData([], [])
            return
        iterations, loss, goal = curves
        self.loss_curve.setData(iterations, loss)
        self.goal_curve.setData(iterations, goal)
        self._fit_ranges(np.asarray(iterations, dtype=float), np.asarray(goal, dtype=float))

    def _fit_ranges(self, iterations: np.ndarray, goal: np.ndarray) -> None:
        """Whole iterations across (one FGSM step would otherwise get an axis from -15 to 20), and a probability
        axis that shows a curve near 0.02 instead of leaving it flat on the floor of 0..1."""
        if len(iterations):
            first, last = float(iterations.min()), float(iterations.max())
            margin = 0.5 if last - first < 2 else 0.0
            self.loss_plot.setXRange(first - margin, last + margin, padding=0.02)
        finite = goal[np.isfinite(goal)]
        peak = float(finite.max()) if len(finite) else 1.0
        self.goal_plot.setYRange(0.0, 1.0 if peak >= 0.5 else max(1.25 * peak, 1e-3), padding=0.02)
