"""The statistics of a run over a dataset, the way the papers report them: success rate, clean accuracy, average
iterations, the histogram of the perturbation sizes with a movable threshold and the success rate under it, and
one row per attacked image (a click opens it in the workspace). The numbers all come from the engine's
`DatasetStats`; this module only draws them."""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QRectF, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.attacks import AttackResult
from engine.experiments import DatasetProgress, DatasetStats

from ...widgets.layout import HORIZONTAL, splitter
from ...widgets.style import ADVERSARIAL_COLOUR, FOOLED_COLOUR, HELD_COLOUR, MUTED
from .run_model import DatasetRequest, RunModel, RunRequest

LOADED_INDEX = Qt.ItemDataRole.UserRole  # on a row's first item: the loaded image it shows
SORT_KEY = Qt.ItemDataRole.UserRole + 1  # on number items: the value to sort by
UNDER_BRUSH = pg.mkBrush(*ADVERSARIAL_COLOUR, 220)  # bins at or under the threshold
OVER_BRUSH = pg.mkBrush(*ADVERSARIAL_COLOUR, 70)
LINE_COLOUR = (40, 40, 40)
EXPORT_WIDTH = 1200  # pixels of the saved histogram


def size_title(size_name: str, short: bool = False) -> str:
    """How a size is called in labels: ADef's ||tau||_T in pixels, else the attack's norm (pixel range 0..1)."""
    if short:
        return {"tau_T": "‖τ‖_T (px)", "L2": "L2", "Linf": "L∞"}.get(size_name, size_name)
    return {"tau_T": "‖τ‖_T (pixels)", "L2": "L2 norm", "Linf": "L∞ norm"}.get(size_name, size_name)


def format_size(value: float, size_name: str) -> str:
    if size_name == "tau_T":
        return f"{value:.2f} px"
    if size_name == "Linf":
        return f"{value:.4f} ({255 * value:.1f}/255)"
    return f"{value:.3f}"


def default_threshold(stats: DatasetStats) -> float:
    """Where the threshold line starts: the paper's (3 pixels for ADef), else the median successful size."""
    if stats.default_threshold is not None:
        return float(stats.default_threshold)
    sizes = stats.sizes[stats.fooled] if stats.fooled.any() else stats.sizes
    return float(np.median(sizes)) if len(sizes) else 0.0


def short_title(request: RunRequest) -> str:
    """The attack's title without its explanation in brackets: "ADef", "DeepFool"."""
    return request.spec.title.split(" (")[0]


def tile(value: str, caption: str) -> str:
    """A large number over a small caption."""
    return (f"<div style='font-size:15pt; font-weight:600'>{value}</div>"
            f"<div style='color:{MUTED}'>{caption}</div>")


class NumberItem(QTableWidgetItem):
    """A table cell shown as text but sorted by its number."""

    def __init__(self, text: str, value: float):
        super().__init__(text)
        self.setData(SORT_KEY, float(value))
        self.setTextAlignment(Qt.AlignmentFlag.AlignCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_KEY), other.data(SORT_KEY)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return mine < theirs


class SizeHistogram(pg.PlotWidget):
    """The sizes of the successful perturbations as one BarGraphItem, and a threshold line to drag: the bins
    at or under it are drawn strong, those above it faint."""

    threshold_moved = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)  # a drag moves the line, never the axes
        plot.showGrid(y=True, alpha=0.25)
        plot.setLabel("left", "images")
        plot.getAxis("left").setWidth(46)
        self.edges = np.zeros(1)
        self.counts = np.zeros(0)
        self.bars = pg.BarGraphItem(x0=np.zeros(0), x1=np.zeros(0), height=np.zeros(0), brush=OVER_BRUSH,
                                    pen=pg.mkPen(255, 255, 255, 160))
        plot.addItem(self.bars)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(LINE_COLOUR, width=2, style=Qt.DashLine),
                                    hoverPen=pg.mkPen(LINE_COLOUR, width=4), label="",
                                    labelOpts={"position": 0.9, "color": LINE_COLOUR, "movable": True,
                                               "fill": (255, 255, 255, 210)})
        self.line.setZValue(10)
        self.line.setVisible(False)
        plot.addItem(self.line)
        self.line.sigPositionChanged.connect(self._on_moved)
        self.setToolTip("Drag the dashed line to change the threshold")

    @property
    def threshold(self) -> float:
        return float(self.line.value())

    def show_stats(self, stats: DatasetStats, threshold: float) -> None:
        fooled = int(stats.fooled.sum())
        counts, edges = stats.histogram()  # the engine's bin rule, as histogram.png and summary.json
        self.counts, self.edges = counts, edges
        plot = self.getPlotItem()
        plot.setLabel("bottom", f"{size_title(stats.size_name)} of the {fooled} successful perturbations")
        right = max(float(edges[-1]), threshold) * 1.05 or 1.0
        self.line.setBounds((0.0, right))
        self.line.label.setFormat({"tau_T": "{value:.2f} px", "Linf": "{value:.4f}"}.get(stats.size_name,
                                                                                       "{value:.3f}"))
        plot.setXRange(0.0, right, padding=0.02)
        plot.setYRange(0.0, max(5.0, float(counts.max(initial=0))) * 1.12, padding=0)  # whole-number ticks
        self.bars.setOpts(x0=edges[:-1], x1=edges[1:], height=counts)
        self.line.setVisible(True)
        self.set_threshold(threshold)

    def set_threshold(self, threshold: float) -> None:
        if threshold != self.threshold:
            self.line.setValue(threshold)  # -> sigPositionChanged -> _on_moved (and the line's label)
        else:
            self._on_moved()  # the line signals real moves only; new statistics need redrawing all the same

    def reset(self) -> None:
        """No statistics. (Not `clear`: PlotWidget binds that name to PlotItem.clear, which removes every item.)"""
        self.counts, self.edges = np.zeros(0), np.zeros(1)
        self.bars.setOpts(x0=np.zeros(0), x1=np.zeros(0), height=np.zeros(0), brushes=None)
        self.line.setVisible(False)
        self.getPlotItem().setLabel("bottom", "")

    def render(self, title: str = "") -> QImage:
        """The plot as drawn, rendered EXPORT_WIDTH pixels wide on white, under a band with `title`."""
        exporter = pg.exporters.ImageExporter(self.getPlotItem())
        exporter.parameters()["width"] = EXPORT_WIDTH
        exporter.parameters()["background"] = pg.mkColor("w")
        plot: QImage = exporter.export(toBytes=True)
        band = 56 if title else 0
        image = QImage(plot.width(), plot.height() + band, QImage.Format.Format_RGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        try:
            painter.drawImage(0, band, plot)
            if title:
                font = QFont(painter.font())
                font.setPixelSize(26)
                painter.setFont(font)
                painter.setPen(QColor(*LINE_COLOUR))
                painter.drawText(QRectF(16, 0, image.width() - 32, band), Qt.AlignmentFlag.AlignCenter, title)
        finally:
            painter.end()
        return image

    @Slot()
    def _on_moved(self, *_) -> None:
        threshold = self.threshold
        if len(self.counts):
            self.bars.setOpts(brushes=[UNDER_BRUSH if right <= threshold else OVER_BRUSH
                                       for right in self.edges[1:]])
        self.threshold_moved.emit(threshold)


class StatisticsTable(QTableWidget):
    """One row per attacked image: name, fooled, iterations, size; sortable; a click selects the image."""

    image_selected = Signal(int)  # index into the loaded images

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["image", "fooled", "iter.", "size"])
        self.horizontalHeaderItem(2).setToolTip("iterations")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.currentCellChanged.connect(self._on_current_cell)
        self.cellClicked.connect(self._on_current_cell)  # a click on the row already current, too

    def show_stats(self, stats: DatasetStats, loaded_indices) -> None:
        self.setSortingEnabled(False)  # rows must stay where they are put while filling
        with QSignalBlocker(self):
            self.setRowCount(len(stats.names))
            self.setHorizontalHeaderItem(3, QTableWidgetItem(size_title(stats.size_name, short=True)))
            for row, (loaded, name, fooled, iterations, size) in enumerate(
                    zip(loaded_indices, stats.names, stats.fooled, stats.iterations, stats.sizes)):
                item = QTableWidgetItem(name)
                item.setToolTip(name)  # the column may cut long file names short
                item.setData(LOADED_INDEX, int(loaded))
                self.setItem(row, 0, item)
                verdict = NumberItem("yes" if fooled else "no", float(fooled))
                verdict.setForeground(FOOLED_COLOUR if fooled else HELD_COLOUR)
                self.setItem(row, 1, verdict)
                self.setItem(row, 2, NumberItem(str(int(iterations)), float(iterations)))
                self.setItem(row, 3, NumberItem(format_size(float(size), stats.size_name), float(size)))
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # no sort column: enabling
        self.setSortingEnabled(True)  # sorting keeps the dataset's order until a header is clicked

    def loaded_index(self, row: int) -> int | None:
        item = self.item(row, 0)
        return None if item is None else int(item.data(LOADED_INDEX))

    def select_loaded(self, loaded_index: int) -> None:
        with QSignalBlocker(self):
            for row in range(self.rowCount()):
                if self.loaded_index(row) == loaded_index:
                    self.selectRow(row)
                    return
            self.clearSelection()

    def _on_current_cell(self, row: int, *_) -> None:
        index = self.loaded_index(row) if row >= 0 else None
        if index is not None:
            self.image_selected.emit(index)


class StatisticsView(QWidget):
    """The last dataset run's statistics. They stay shown when a later, ordinary run takes over the workspace
    (with a note saying so), and go when the images are replaced."""

    image_selected = Signal(int)
    export_requested = Signal()

    def __init__(self, run_model: RunModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_model = run_model
        self.stats: DatasetStats | None = None
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.note = QLabel()
        self.note.setStyleSheet(f"color: {MUTED};")
        self.note.setWordWrap(True)
        self.export_button = QPushButton("Export statistics…")
        self.export_button.setToolTip("Write statistics.csv (one row per image), summary.json (the table row at "
                                      "the current threshold, the histogram) and histogram.png to a folder")
        self.success_label, self.accuracy_label = QLabel(), QLabel()
        self.iterations_label, self.threshold_label = QLabel(), QLabel()
        self.histogram = SizeHistogram()
        self.table = StatisticsTable()

        heading = QHBoxLayout()
        heading.addWidget(self.title, 1)
        heading.addWidget(self.export_button)
        tiles = QHBoxLayout()
        for label in self.tiles:
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)  # four tiles side by side fit the centre of a 1024-pixel window
            label.setStyleSheet("background: #f4f4f4; border: 1px solid #dddddd; border-radius: 4px; "
                                "padding: 3px 8px;")
            tiles.addWidget(label, 1)
        self.threshold_label.setToolTip("Drag the dashed line in the histogram to change the threshold")
        split = splitter(HORIZONTAL, (self.histogram, self.table), stretch=(1, 1), sizes=(440, 400))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(heading)
        layout.addWidget(self.note)
        layout.addLayout(tiles)
        layout.addWidget(split, 1)

        self.histogram.threshold_moved.connect(self._show_threshold)
        self.table.image_selected.connect(self.image_selected)
        self.export_button.clicked.connect(self.export_requested)
        reactions = ((run_model.started, self._on_started), (run_model.progressed, self._on_progress),
                     (run_model.finished, self._on_finished), (run_model.failed, self._on_failed),
                     (run_model.cleared, self.clear))
        for signal, reaction in reactions:
            signal.connect(reaction)
        self.clear()

    @property
    def tiles(self) -> tuple[QLabel, ...]:
        return self.success_label, self.accuracy_label, self.iterations_label, self.threshold_label

    @property
    def threshold(self) -> float:
        return self.histogram.threshold

    # --- showing ---------------------------------------------------------------------------------------------

    @Slot()
    def clear(self, *_) -> None:
        self.stats = None
        self.title.setText("<b>No statistics yet.</b> Choose a dataset in the Attack panel and click "
                           "<i>Run over dataset</i>.")
        self.note.setText("")
        self.note.setVisible(False)
        for label, caption in zip(self.tiles, ("success rate", "clean accuracy", "average iterations",
                                               "success under a threshold")):
            label.setText(tile("–", caption))
        self.histogram.reset()
        self.table.setRowCount(0)
        self.export_button.setEnabled(False)

    def show_stats(self, stats: DatasetStats, request: RunRequest) -> None:
        self.stats = stats
        result: AttackResult = stats.result
        source = request.source if isinstance(request, DatasetRequest) else "images"
        stopped = " · <span style='color:#c83232'>stopped early</span>" if result is not None and result.stopped \
            else ""
        seconds = f" · {result.seconds:.1f} s" if result is not None else ""
        self.title.setText(f"<b>{html.escape(short_title(request))}</b> on {html.escape(stats.model)} over "
                           f"{html.escape(source)}: {len(stats.fooled)} of {stats.dataset_size} attacked"
                           f"{seconds}{stopped}")
        self.note.setVisible(False)
        fooled = int(stats.fooled.sum())
        self.success_label.setText(tile(f"{100 * stats.success_rate:.1f}%",
                                        f"success rate · {fooled}/{len(stats.fooled)} fooled"))
        if stats.accuracy is None:
            self.accuracy_label.setText(tile("–", "clean accuracy (no labels: all attacked)"))
        else:
            self.accuracy_label.setText(tile(f"{100 * stats.accuracy:.1f}%",
                                             "clean accuracy · correct ones attacked"))
        self.iterations_label.setText(tile(f"{stats.mean_iterations:.2f}", "average iterations"))
        self.histogram.show_stats(stats, default_threshold(stats))  # -> _show_threshold
        self.table.show_stats(stats, request.indices)
        self.export_button.setEnabled(True)

    def select_loaded(self, loaded_index: int) -> None:
        self.table.select_loaded(loaded_index)

    def render_histogram(self) -> QImage:
        """The histogram as shown, titled with what it counts and the success rates."""
        title = ""
        if self.stats is not None:
            stats, threshold = self.stats, self.threshold
            title = (f"{stats.attack.upper()} on {stats.model}: success {100 * stats.success_rate:.1f}% of "
                     f"{len(stats.fooled)} attacked, {100 * stats.success_under(threshold):.1f}% with "
                     f"{size_title(stats.size_name, short=True).split(' ')[0]} ≤ "
                     f"{format_size(threshold, stats.size_name)}")
        return self.histogram.render(title)

    @Slot(float)
    def _show_threshold(self, threshold: float) -> None:
        if self.stats is None:
            return
        shown = format_size(threshold, self.stats.size_name)
        rate = self.stats.success_under(threshold)
        self.threshold_label.setText(tile(f"{100 * rate:.1f}%",
                                          f"success with {size_title(self.stats.size_name).split(' ')[0]} "
                                          f"≤ {shown}"))

    # --- the run model ---------------------------------------------------------------------------------------

    @Slot(object)
    def _on_started(self, request: RunRequest) -> None:
        if isinstance(request, DatasetRequest):
            self.clear()
            self.title.setText(f"<b>{html.escape(short_title(request))}</b> over {html.escape(request.source)} "
                               f"({len(request.indices)} images): starting…")
        elif self.stats is not None:
            self.note.setText("These statistics come from an earlier run: the workspace shows the newer run; a row "
                              "still selects its image.")
            self.note.setVisible(True)

    @Slot(object)
    def _on_progress(self, progress: DatasetProgress) -> None:
        request = self.run_model.request
        iteration = "" if progress.step is None else \
            f" · iteration {progress.step.iteration}/{progress.step.total} of this chunk"
        self.title.setText(f"<b>{html.escape(short_title(request))}</b> over {html.escape(request.source)}: "
                           f"{progress.done}/{progress.total} attacked, {progress.fooled} fooled{iteration}")

    @Slot(object)
    def _on_finished(self, _result: AttackResult) -> None:
        if self.run_model.stats is not None:
            self.show_stats(self.run_model.stats, self.run_model.request)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.stats is None and isinstance(self.run_model.request, DatasetRequest):
            self.title.setText(f"<b>The run over the dataset failed:</b> {html.escape(message)}")
