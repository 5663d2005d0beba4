"""One image panel with fixed levels, the building block of every side-by-side view: a readout of the pixel under
the mouse, and a colour bar for the views whose colours stand for numbers (perturbations, gradients)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QSizePolicy

from engine.export import NEGATIVE_RGB, POSITIVE_RGB

from .imaging import bar_ticks, display_array, diverging_colormap, grey_colormap, perturbation_peak
from .pixel_readout import IMAGE_READOUT, PERTURBATION_READOUT, Readout, ReadoutLabel, pixel_text
from .fitting_label import FittingLabel
from .style import MUTED, NOTE_POINTS, TITLE_POINTS, VIEW_BACKGROUND, swatch


# What the mouse does on every image view (pyqtgraph's wheel and drag, a double click here): its tooltip and Help
MOUSE_HINT = "Wheel: zoom · drag: pan · double-click: fit the whole image again · hover: the pixel's value"
BAR_THICKNESS = 9  # pixels of the colour gradient; its labelled values go under it
BAR_MARGIN = 26  # pixels left and right of the bar, for half of its end labels ("−0.0123")
SMALL_BAR_POINTS = 7.0  # the bar's labels in views too narrow for them in the usual type
BAR_ROW = 5  # the row of a PlotItem's layout under its (hidden) bottom axis, where pyqtgraph puts such a bar


@lru_cache(maxsize=1)
def diverging_lookup() -> np.ndarray:
    """The diverging map's 256 colours, for one-channel perturbations."""
    return diverging_colormap().getLookupTable(0.0, 1.0, 256)


def colour_bar_item() -> pg.ColorBarItem:
    """A horizontal bar that only shows (it never changes the image: the view sets its levels itself), with
    its end values labelled in full: they are what the bar is there to say."""
    bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=grey_colormap(), interactive=False, orientation="horizontal",
                          width=BAR_THICKNESS, colorMapMenu=False)
    # the end labels are centred on the ends: margins make room for them, and they may reach into them
    bar.axis.setStyle(hideOverlappingLabels=BAR_MARGIN, tickLength=4)
    bar.layout.setContentsMargins(BAR_MARGIN, 0, BAR_MARGIN, 0)
    return bar


class ImageView:
    """One image panel: a title above a PlotWidget without axes holding a row-major ImageItem with fixed
    levels; the wheel zooms, a drag pans and a double click fits the image again. Separate widgets in a grid
    (rather than plots in one canvas) keep the three panels equally wide whatever their titles say, which the
    linked, aspect-locked views need to stay aligned. For the same reason a view beside one with a colour bar
    is made with `bar_row=True`: the row is kept (transparent) until a bar is shown in it."""

    def __init__(self, name: str, levels: tuple[float, float] = (0.0, 1.0), bar_row: bool = False):
        self.name = name
        self.label = FittingLabel()  # smaller type where a word would be cut off (narrow windows)
        self.label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom)
        self.widget = pg.PlotWidget()
        self.widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.plot = self.widget.getPlotItem()
        self.item = pg.ImageItem(axisOrder="row-major")
        # not item.setLevels(levels): pyqtgraph applies levels given to an empty item after the first image,
        # undoing the levels passed with that image; `levels` are the default of `show` instead
        self.levels = levels
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
        self.readout = ReadoutLabel(self.widget)
        self.readout_format: Readout = IMAGE_READOUT
        self.readout_note = ""  # said after the pixel's value: the image's class, when its owner knows it
        self.values: np.ndarray | None = None  # what the readout reads (HW or HWC), in the units shown
        self._mouse: QPointF | None = None  # where the mouse last was, in scene coordinates
        self.readout.moved.connect(self._on_mouse_moved)
        self.bar: pg.ColorBarItem | None = None
        self._bar_range: tuple[float, float, bool] | None = None  # the bar's levels and whether they are signed
        self.plot.vb.sigResized.connect(self._fit_bar_labels)
        if bar_row:
            self._add_bar()
        self.title = ""
        self.set_title("")

    def set_title(self, detail: str, note: str = "") -> None:
        """Three lines, in every panel so that they line up: the panel's name, what it shows (prediction,
        norms), and a smaller note."""
        self.title = f"<b>{self.name}</b><br>{detail or '&nbsp;'}"
        title = self.title
        self.label.set_html(lambda scale: f"<div style='font-size:{TITLE_POINTS * scale:.1f}pt'>{title}<br><span "
                            f"style='font-size:{NOTE_POINTS * scale:.1f}pt; color:{MUTED}'>{note or '&nbsp;'}"
                            "</span></div>")

    def show(self, image: np.ndarray, levels: tuple[float, float] | None = None, readout: Readout = IMAGE_READOUT,
             values: np.ndarray | None = None) -> None:
        """Draw `image` (HW or HWC) at fixed `levels` (the view's own by default); the readout reads `values`
        (the image itself unless given) the way `readout` says. A colour bar shown before goes: the methods
        that draw numbers (`show_values`, `explain_perturbation`) show theirs again."""
        # levels passed with the image: pyqtgraph would otherwise compute them from the data (auto-levels)
        self.item.setImage(image, autoLevels=False, levels=self.levels if levels is None else levels)
        self.values = image if values is None else values
        self.readout_format = readout
        self.hide_colour_bar()
        self._refresh_readout()

    def show_perturbation(self, delta_chw: np.ndarray) -> None:
        """A perturbation at symmetric levels of its largest change, so even a faint one fills the colour range:
        one channel through the diverging map (white = unchanged), colour channels around mid-grey; a colour
        bar from −peak to +peak; its L-inf and L2 sizes and the colour scale as the title."""
        peak = perturbation_peak(delta_chw)
        delta = display_array(delta_chw)
        lookup = diverging_lookup() if delta.ndim == 2 else None
        self.item.setLookupTable(lookup, update=False)
        self.show(delta, (-peak, peak), PERTURBATION_READOUT)
        self.explain_perturbation(delta_chw)
        linf = float(np.abs(delta_chw).max())
        l2 = float(np.sqrt(np.square(delta_chw, dtype=np.float64).sum()))
        scale = (f"{swatch(NEGATIVE_RGB)} −{peak:.3g} darker &nbsp;{swatch(POSITIVE_RGB)} +{peak:.3g} brighter"
                 if delta.ndim == 2 else f"per channel: grey unchanged, ±{peak:.3g}")
        self.set_title(f"L∞ {linf:.3f} ({linf * 255:.1f}/255) · L2 {l2:.3g}", scale)

    def explain_perturbation(self, delta_chw: np.ndarray) -> None:
        """The colour bar of a perturbation (−peak to +peak: the diverging map for one channel, grey per colour
        channel) and its signed values for the readout. `show_perturbation` calls it; a view that draws a
        perturbation as a picture of its own (engine.export.perturbation_rgb) calls it after drawing."""
        peak = perturbation_peak(delta_chw)
        self.values, self.readout_format = display_array(delta_chw), PERTURBATION_READOUT
        one_channel = np.shape(delta_chw)[0] == 1
        self.show_colour_bar((-peak, peak), diverging_colormap() if one_channel else grey_colormap(), signed=True)
        self._refresh_readout()

    def show_values(self, values_chw: np.ndarray, levels: tuple[float, float], readout: Readout) -> None:
        """Numbers that are no pixel values (a saliency, a gradient) in grey from levels[0] (black) to
        levels[1] (white), each colour channel alike, with the colour bar of that range: the readout and the bar
        give the numbers themselves, not a rescaled picture of them."""
        low, high = float(levels[0]), float(levels[1])
        high = high if high > low else low + 1.0  # a map of zeros still needs a range
        values = display_array(values_chw)
        self.item.setLookupTable(None, update=False)
        self.show(values, (low, high), readout)
        self.show_colour_bar((low, high), grey_colormap(), signed=readout.signed)

    def show_colour_bar(self, levels: tuple[float, float], colour_map: pg.ColorMap, signed: bool = False) -> None:
        """What the colours mean: `colour_map` from levels[0] to levels[1], under the image (added to the view
        on first use, unless it was made with `bar_row`)."""
        bar = self.bar or self._add_bar()
        if bar.colorMap().name != colour_map.name:  # re-rendering the gradient only when the map changes
            bar.setColorMap(colour_map)
        bar.setLevels(values=levels)
        self._bar_range = (float(levels[0]), float(levels[1]), signed)
        self._fit_bar_labels()
        bar.setOpacity(1.0)

    def _fit_bar_labels(self) -> None:
        """The bar's three labels where they fit; in narrower views both ends only, then in smaller type with
        two digits, then none (the readout still gives every value): labels drawn over each other say nothing."""
        if self.bar is None or self._bar_range is None:
            return
        for points, digits in ((None, 3), (SMALL_BAR_POINTS, 2)):
            font = QFont(self.widget.font())
            if points is not None:
                font.setPointSizeF(points)
            advance = QFontMetrics(font).horizontalAdvance
            full = bar_ticks(*self._bar_range, digits=digits)
            widest_end = max(advance(full[0][1]), advance(full[2][1]))
            margin = BAR_MARGIN if points is None else max(min(BAR_MARGIN, widest_end / 2 + 1), 4)
            length = self.widget.width() - 2 * margin  # the distance between the end labels' centres
            if widest_end / 2 > margin:
                continue
            if length >= widest_end + advance(full[1][1]) + 8:
                ticks = full
                break
            if length >= widest_end + 4:
                ticks = [full[0], full[2]]
                break
        else:
            ticks = []
        self.bar.axis.setStyle(tickFont=font, hideOverlappingLabels=int(margin) + 1)
        self.bar.layout.setContentsMargins(margin, 0, margin, 0)
        self.bar.axis.setTicks([ticks])

    def hide_colour_bar(self) -> None:
        """No bar to see, its row kept so that the image does not jump."""
        if self.bar is not None:
            self.bar.setOpacity(0.0)

    @property
    def colour_bar_shown(self) -> bool:
        return self.bar is not None and self.bar.opacity() > 0

    def set_readout_note(self, note: str) -> None:
        """Plain text said after the pixel's value, e.g. the image's top class and its probability."""
        self.readout_note = note

    def clear(self) -> None:
        self.item.clear()
        self.values = None
        self.readout_note = ""
        self.readout.hide()
        self.hide_colour_bar()

    def fit(self) -> None:
        """Frame the whole image again, after any zoom or pan (views linked to this one follow)."""
        self.plot.vb.autoRange()

    def _add_bar(self) -> pg.ColorBarItem:
        self.bar = colour_bar_item()
        self.bar.setOpacity(0.0)
        self.plot.layout.addItem(self.bar, BAR_ROW, 1)
        self.plot.layout.setRowFixedHeight(BAR_ROW - 1, 2)
        return self.bar

    def _refresh_readout(self) -> None:
        if self.readout.isVisible():  # a new frame under a resting mouse: read the new pixel
            self._read_pixel(self._mouse)

    def _on_click(self, event) -> None:
        if event.double():
            self.fit()

    def _on_mouse_moved(self, position: QPointF) -> None:
        self._mouse = self.widget.mapToScene(position.toPoint())
        self._read_pixel(self._mouse)

    def _read_pixel(self, scene_position: QPointF | None) -> None:
        """The readout of the pixel at `scene_position`, hidden when there is none (off the image, no image)."""
        values = self.values
        if scene_position is None or values is None or self.item.image is None:
            self.readout.hide()
            return
        # the view's coordinates are the image's (pixel (c, r) spans [c, c+1)); the view box maps with its
        # newest zoom even before it has been painted
        point = self.plot.vb.mapSceneToView(scene_position)
        col, row = int(np.floor(point.x())), int(np.floor(point.y()))
        if not (0 <= row < values.shape[0] and 0 <= col < values.shape[1]):
            self.readout.hide()
            return
        text = pixel_text(values, col, row, self.readout_format)
        if self.readout_note:
            text += f" · {self.readout_note}"
        area = self.widget.mapFromScene(self.plot.vb.sceneBoundingRect()).boundingRect()  # not over the bar
        self.readout.show_text(text, self.widget.mapFromScene(scene_position).y(), area)
