"""The plane of two-pixel images: the model's probability as one shaded ImageItem, the p = 0.5 boundary (and the
one before a defense) as one curve each, the true regions' outlines, the training points (click to add, drag to
move, right-click to remove, or paint the true regions), and attacks as arrows with the eps-ball and the kind.
Items are created once and updated in place."""
from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QPainterPath, QTransform
from PySide6.QtWidgets import QGraphicsItem
from skimage import measure

from engine.playground import NEITHER, NOT_SUCCESSFUL, PlaneAttack, Points, Regions, kind_title

CLASS_COLOURS = ((214, 96, 77), (67, 147, 195))  # cat, dog: the ends of ColorBrewer's RdBu
NEITHER_COLOUR = (236, 236, 236)
KIND_COLOURS = {1: (118, 42, 131), 2: (191, 129, 45), 3: (27, 120, 55)}  # purple, ochre, green
BOUNDARY_COLOUR = (20, 20, 20)
BEFORE_COLOUR = (110, 110, 110)
ARROW_COLOUR = (30, 30, 30)
FAILED_COLOUR = (150, 150, 150)
TINT = 0.45  # how far the shading goes from white towards a class colour at p = 0 or 1
HIT_PIXELS = 9  # a click this close to a point picks it
HEAD_LENGTH = 0.016  # arrowheads, in plane units (the view always shows the whole plane)
EXPORT_WIDTH = 1000
LABEL_GAP = 0.02  # between an attack's end and its kind label, in plane units
PLANE = QRectF(0, 0, 1, 1)  # where a shading image goes, whatever its resolution (set with each image)


# --- pictures of the plane -------------------------------------------------------------------------------------

def probability_lut() -> np.ndarray:
    """(256, 3) uint8: the cat colour at p(dog) = 0 through white at 0.5 to the dog colour at 1, pale enough
    for points and arrows to stay readable on top."""
    p = np.linspace(0, 1, 256)[:, None]
    white = np.full(3, 255.0)
    towards = np.where(p < 0.5, np.asarray(CLASS_COLOURS[0]), np.asarray(CLASS_COLOURS[1]))
    weight = np.abs(p - 0.5) * 2 * TINT
    return np.rint(white * (1 - weight) + towards * weight).astype(np.uint8)


def region_image(regions: Regions) -> np.ndarray:
    """(R, R, 3) uint8: each cell in its true class's (pale) colour, meaningless images in light grey."""
    colours = np.array([NEITHER_COLOUR, *(np.rint(255 * (1 - TINT) + np.asarray(c) * TINT)
                                          for c in CLASS_COLOURS)], dtype=np.uint8)
    return colours[regions.codes.astype(np.int64) - NEITHER]


def level_lines(grid: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The `level` iso-lines of a row-major grid over [0, 1]^2 as one NaN-separated polyline (x, y). scikit-
    image's marching squares in C: pyqtgraph's IsocurveItem traces in Python, 26 ms per 200x200 frame here."""
    pieces = measure.find_contours(grid, level)
    if not pieces:
        return np.zeros(0), np.zeros(0)
    gap = np.full((1, 2), np.nan)
    joined = np.concatenate([part for piece in pieces for part in (piece, gap)])
    resolution = grid.shape[0]
    return (joined[:, 1] + 0.5) / resolution, (joined[:, 0] + 0.5) / resolution


def arrow_segments(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (as pairs) drawing an arrow from each start to its end: the shaft and two head strokes."""
    direction = end - start
    length = np.linalg.norm(direction, axis=1, keepdims=True)
    unit = np.divide(direction, length, out=np.zeros_like(direction), where=length > 0)
    head = np.minimum(HEAD_LENGTH, 0.6 * length)
    normal = unit[:, ::-1] * np.array([-1.0, 1.0])
    left = end - head * (unit * 0.85 + normal * 0.5)
    right = end - head * (unit * 0.85 - normal * 0.5)
    pairs = np.stack([start, end, end, left, end, right], axis=1).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def beyond(start: np.ndarray, end: np.ndarray, gap: float = 0.022) -> np.ndarray:
    """Just past each end along its arrow: where a kind's digit goes without hiding the arrowhead."""
    direction = end - start
    length = np.linalg.norm(direction, axis=1, keepdims=True)
    return end + gap * np.divide(direction, length, out=np.zeros_like(direction), where=length > 0)


def eps_ball(centre: np.ndarray, eps: float, norm: str) -> tuple[np.ndarray, np.ndarray]:
    """The outline of the allowed perturbations: a square for L-infinity, a circle for L2."""
    if norm == "inf":
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64)
        return centre[0] + eps * corners[:, 0], centre[1] + eps * corners[:, 1]
    angle = np.linspace(0, 2 * np.pi, 97)
    return centre[0] + eps * np.cos(angle), centre[1] + eps * np.sin(angle)


@functools.cache  # built on first use: fonts need the QApplication, which may not exist at import
def text_symbol(text: str) -> QPainterPath:
    """A scatter symbol drawing `text` (a kind's digit), centred and scaled to the unit box as symbols are."""
    font = QFont()
    font.setBold(True)
    path = QPainterPath()
    path.addText(0, 0, font, text)
    box = path.boundingRect()
    path = QTransform().scale(1 / max(box.width(), box.height()), 1 / max(box.width(), box.height())).map(path)
    box = path.boundingRect()
    return QTransform().translate(-box.center().x(), -box.center().y()).map(path)


# --- mouse -----------------------------------------------------------------------------------------------------

class PassiveScatter(pg.ScatterPlotItem):
    """A scatter that lets clicks through: pyqtgraph's would accept a click on a spot, and the view box (which
    picks, adds and removes points) would never see it."""

    def mouseClickEvent(self, event) -> None:
        event.ignore()


class PlaneViewBox(pg.ViewBox):
    """A fixed view of the whole plane whose clicks and drags go to the plane view instead of panning."""

    def __init__(self, plane: PlaneView):
        super().__init__(enableMenu=False)
        self.plane = plane
        self.setMouseEnabled(False, False)

    def mouseClickEvent(self, event) -> None:
        event.accept()
        self.plane.on_click(self.mapSceneToView(event.scenePos()), event.button())

    def mouseDragEvent(self, event, axis=None) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        event.accept()
        where = self.mapSceneToView(event.scenePos())
        if event.isStart():
            self.plane.on_drag_start(self.mapSceneToView(event.buttonDownScenePos()))
        self.plane.on_drag(where, finished=event.isFinish())


POINTS, PAINT = "points", "paint"


class PlaneView(pg.PlotWidget):
    """The plane. In points mode a left click adds a point where nothing is or selects the point under it, a
    drag moves a point, a right click removes one; in paint mode a left drag paints the true region chosen by
    `paint_code`. It emits what the user asked for; the workspace owns the data and redraws."""

    point_added = Signal(float, float)
    point_selected = Signal(int)
    point_moved = Signal(int, float, float, bool)  # index, x, y, finished
    point_removed = Signal(int)
    painted = Signal(float, float, float, float, bool)  # a stroke from (x0, y0) to (x1, y1), finished

    def __init__(self, parent=None):
        self.view_box = PlaneViewBox(self)
        super().__init__(parent, viewBox=self.view_box)
        self.mode = POINTS
        self.xy = np.zeros((0, 2))
        self._dragged: int | None = None
        self._last_paint = (0.0, 0.0)
        self._build_plot()
        self._build_items()

    def _build_plot(self) -> None:
        plot = self.getPlotItem()
        plot.hideButtons()
        plot.setAspectLocked(True)
        plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.03)  # room for the last tick labels, 1.0
        plot.setLabel("bottom", "pixel 1")
        plot.setLabel("left", "pixel 2")
        plot.getAxis("left").setWidth(42)

    def _build_items(self) -> None:
        plot = self.getPlotItem()
        self.shading = pg.ImageItem(axisOrder="row-major")
        self.lut = probability_lut()
        self.region_outlines = [pg.PlotCurveItem(connect="finite", pen=pg.mkPen(colour, width=2,
                                                                                 style=Qt.PenStyle.DashLine))
                                for colour in CLASS_COLOURS]
        for outline in self.region_outlines:  # dashed lines are slow to draw and change only when painted
            outline.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.before_boundary = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(BEFORE_COLOUR, width=2,
                                                                               style=Qt.PenStyle.DotLine))
        self.boundary = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(BOUNDARY_COLOUR, width=2.5))
        self.ball = pg.PlotCurveItem(pen=pg.mkPen(ARROW_COLOUR, width=1.5, style=Qt.PenStyle.DashLine))
        self.arrows = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(ARROW_COLOUR, width=2))
        self.failed_arrows = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(FAILED_COLOUR, width=1.5))
        self.added = PassiveScatter(size=6, pxMode=True)  # points a defense added to the training set
        self.points = PassiveScatter(size=11, pxMode=True)
        self.kind_marks = PassiveScatter(size=15, pxMode=True, pen=pg.mkPen(255, 255, 255, 230, width=2))
        self.kind_label = pg.TextItem(anchor=(0, 1), fill=pg.mkBrush(255, 255, 255, 225),
                                      border=pg.mkPen(180, 180, 180))
        for item in (self.shading, *self.region_outlines, self.before_boundary, self.boundary, self.ball,
                     self.failed_arrows, self.arrows, self.added, self.points, self.kind_marks, self.kind_label):
            plot.addItem(item)
        self.kind_label.setZValue(20)
        self.kind_label.setVisible(False)
        self._label_ends: tuple[np.ndarray, np.ndarray] | None = None
        self.view_box.sigResized.connect(self._place_label_again)  # its size in plane units changed

    def _place_label_again(self) -> None:
        if self.kind_label.isVisible() and self._label_ends is not None:
            self.place_label(*self._label_ends)

    # --- what is shown ---------------------------------------------------------------------------------------

    def show_probability(self, grid: np.ndarray) -> None:
        """The model's p(second class) as shading and its 0.5 level as the boundary: one frame of training."""
        self.shading.setImage(grid, autoLevels=False, levels=(0.0, 1.0), lut=self.lut, rect=PLANE)
        self.boundary.setData(*level_lines(grid, 0.5))

    def show_regions_as_shading(self, regions: Regions) -> None:
        self.shading.setImage(region_image(regions), autoLevels=False, levels=(0, 255), lut=None, rect=PLANE)

    def show_region_outlines(self, regions: Regions) -> None:
        for code, outline in enumerate(self.region_outlines):
            outline.setData(*level_lines((regions.codes == code).astype(np.float32), 0.5))

    def show_boundary(self, grid: np.ndarray | None) -> None:
        self.boundary.setData(*(level_lines(grid, 0.5) if grid is not None else ([], [])))

    def show_before_boundary(self, grid: np.ndarray | None) -> None:
        self.before_boundary.setData(*(level_lines(grid, 0.5) if grid is not None else ([], [])))

    def show_points(self, points: Points, selected: int) -> None:
        self.xy = points.xy.astype(np.float64)
        brushes = [pg.mkBrush(*CLASS_COLOURS[label]) for label in points.labels]
        pens = [pg.mkPen(0, 0, 0, width=2.5) if i == selected else pg.mkPen(255, 255, 255, width=1.2)
                for i in range(len(points))]
        symbols = ["o" if label == 0 else "s" for label in points.labels]
        sizes = [15 if i == selected else 11 for i in range(len(points))]
        self.points.setData(pos=self.xy, brush=brushes, pen=pens, symbol=symbols, size=sizes)

    def show_added_points(self, points: Points) -> None:
        self.added.setData(pos=points.xy, symbol="o", brush=None,
                           pen=[pg.mkPen(*CLASS_COLOURS[label], width=1.3) for label in points.labels])

    def show_attack(self, attack: PlaneAttack | None, focus: int | None, class_names: tuple[str, str]) -> None:
        """Arrows for every attacked point (grey when it failed), the kind's digit at each successful end, and
        for the `focus` point its eps-ball and the kind in words."""
        if attack is None:
            for item in (self.arrows, self.failed_arrows, self.ball):
                item.setData([], [])
            self.kind_marks.setData([])
            self.kind_label.setVisible(False)
            return
        kinds = attack.kinds
        success = kinds != NOT_SUCCESSFUL
        moved = np.linalg.norm(attack.end - attack.start, axis=1) > 0
        self.arrows.setData(*arrow_segments(attack.start[success], attack.end[success]))
        self.failed_arrows.setData(*arrow_segments(attack.start[~success & moved], attack.end[~success & moved]))
        self.kind_marks.setData(pos=beyond(attack.start[success], attack.end[success]),
                                symbol=[text_symbol(str(k)) for k in kinds[success]],
                                brush=[pg.mkBrush(*KIND_COLOURS[k]) for k in kinds[success]])
        self._show_focus(attack, focus, class_names)

    def _show_focus(self, attack: PlaneAttack, focus: int | None, class_names: tuple[str, str]) -> None:
        if focus is None or not 0 <= focus < len(attack.start):
            self.ball.setData([], [])
            self.kind_label.setVisible(False)
            return
        self.ball.setData(*eps_ball(attack.start[focus], attack.settings.eps, attack.settings.norm))
        kind, label = int(attack.kinds[focus]), int(attack.labels[focus])
        if not attack.correct_before[focus]:
            text = f"already misclassified as a {class_names[attack.pred_before[focus]]}"
        else:
            text = kind_title(kind, class_names, label)
        colour = KIND_COLOURS.get(kind, FAILED_COLOUR)
        self.kind_label.setHtml(f"<span style='color:rgb{colour}; font-size:10pt; font-weight:600'>{text}</span>")
        self.place_label(attack.start[focus], attack.end[focus])
        self.kind_label.setVisible(True)

    def place_label(self, start: np.ndarray, end: np.ndarray) -> None:
        """Past the attack's end, where the arrow points (so that it hides neither the arrow nor its start),
        unless it would run off the plane that way."""
        self._label_ends = (start, end)
        pixel = self.view_box.viewPixelSize()
        box = self.kind_label.boundingRect()  # in screen pixels: a TextItem keeps its size whatever the zoom
        size = (box.width() * pixel[0], box.height() * pixel[1])
        ahead = [end[axis] >= start[axis] for axis in (0, 1)]
        fits = [end[axis] + LABEL_GAP + size[axis] <= 1 if ahead[axis] else end[axis] - LABEL_GAP - size[axis] >= 0
                for axis in (0, 1)]
        forwards = [ahead[axis] == fits[axis] for axis in (0, 1)]  # positive direction along each axis
        # a label wider than the room on either side is pushed back inside the plane rather than cut at its edge
        place = [min(end[axis] + LABEL_GAP, 1 - size[axis]) if forwards[axis]
                 else max(end[axis] - LABEL_GAP, size[axis]) for axis in (0, 1)]
        self.kind_label.setAnchor((0.0 if forwards[0] else 1.0, 1.0 if forwards[1] else 0.0))
        self.kind_label.setPos(*place)

    @property
    def kind_text(self) -> str:
        """The kind label as plain text, empty when hidden (read by tests)."""
        return self.kind_label.textItem.toPlainText() if self.kind_label.isVisible() else ""

    def png_bytes(self) -> bytes:
        """The plane as drawn, encoded as PNG (in the GUI thread: Qt draws it; a job may then write the bytes)."""
        exporter = pg.exporters.ImageExporter(self.getPlotItem())
        exporter.parameters()["width"] = EXPORT_WIDTH
        image = exporter.export(toBytes=True)
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        return bytes(data)

    # --- mouse -----------------------------------------------------------------------------------------------

    def point_under(self, where: QPointF) -> int | None:
        """The index of the point drawn under `where` (within a few screen pixels), if any."""
        if len(self.xy) == 0:
            return None
        pixel = self.view_box.viewPixelSize()
        offsets = (self.xy - np.array([where.x(), where.y()])) / np.array(pixel)
        distances = np.hypot(offsets[:, 0], offsets[:, 1])
        nearest = int(np.argmin(distances))
        return nearest if distances[nearest] <= HIT_PIXELS else None

    @staticmethod
    def in_plane(where: QPointF) -> bool:
        return 0 <= where.x() <= 1 and 0 <= where.y() <= 1

    def on_click(self, where: QPointF, button) -> None:
        if self.mode == PAINT:
            if button == Qt.MouseButton.LeftButton and self.in_plane(where):
                self.painted.emit(where.x(), where.y(), where.x(), where.y(), True)
            return
        hit = self.point_under(where)
        if button == Qt.MouseButton.RightButton:
            if hit is not None:
                self.point_removed.emit(hit)
        elif button == Qt.MouseButton.LeftButton:
            if hit is not None:
                self.point_selected.emit(hit)
            elif self.in_plane(where):
                self.point_added.emit(where.x(), where.y())

    def on_drag_start(self, where: QPointF) -> None:
        self._dragged = self.point_under(where) if self.mode == POINTS else None
        self._last_paint = (where.x(), where.y())

    def on_drag(self, where: QPointF, finished: bool) -> None:
        x, y = min(max(where.x(), 0.0), 1.0), min(max(where.y(), 0.0), 1.0)
        if self.mode == PAINT:
            self.painted.emit(*self._last_paint, x, y, finished)
            self._last_paint = (x, y)
        elif self._dragged is not None:
            self.point_moved.emit(self._dragged, x, y, finished)
        if finished:
            self._dragged = None
