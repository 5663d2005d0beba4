"""Engine arrays (CHW floats in [0, 1]) to what Qt and pyqtgraph draw: row-major HW / HWC float32 arrays,
thumbnails, and the perturbation colour map shared with the exported figures."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from engine.export import NEGATIVE_RGB, POSITIVE_RGB, WHITE_RGB, perturbation_scale


def as_numpy(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        return image.detach().cpu().numpy()
    return np.asarray(image)


def display_array(image_chw) -> np.ndarray:
    """CHW -> contiguous float32 HW (one channel) or HWC (colour), the row-major layout ImageItem expects."""
    chw = as_numpy(image_chw).astype(np.float32, copy=False)
    if chw.shape[0] == 1:
        return np.ascontiguousarray(chw[0])
    return np.ascontiguousarray(chw.transpose(1, 2, 0))


def perturbation_peak(delta: np.ndarray) -> float:
    """The half-width of the symmetric levels, so the largest change uses the full colour range: the scale of the
    exported perturbation pictures (1 for an all-zero perturbation)."""
    return perturbation_scale(np.asarray(delta))


def diverging_colormap() -> pg.ColorMap:
    """Blue (darker) - white (unchanged) - red (brighter): the map of the exported perturbation PNGs."""
    colours = np.stack([NEGATIVE_RGB, WHITE_RGB, POSITIVE_RGB]).astype(np.uint8)
    return pg.ColorMap(pos=[0.0, 0.5, 1.0], color=colours, name="advlens-diverging")


def grey_colormap() -> pg.ColorMap:
    """Black (the low level) to white (the high one): how a one-channel image without a lookup table is drawn."""
    return pg.ColorMap(pos=[0.0, 1.0], color=np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8), name="grey")


def bar_ticks(low: float, high: float, signed: bool = False, digits: int = 3) -> list[tuple[float, str]]:
    """A colour bar's three labelled values: both ends and 0 (a signed range) or the middle, to `digits`
    significant digits; a positive end gets its sign when the range is `signed`, a negative one the minus of the
    views' titles."""
    def text(value: float) -> str:
        if value == 0:
            return "0"
        return format(value, f"+.{digits}g" if signed else f".{digits}g").replace("-", "−")

    middle = 0.0 if low < 0 < high else (low + high) / 2
    return [(low, text(low)), (middle, text(middle)), (high, text(high))]


def thumbnail(image_chw, side: int) -> QPixmap:
    """A square icon; small images (digits) are enlarged without smoothing so their pixels stay visible."""
    pixels = np.clip(np.rint(display_array(image_chw) * 255), 0, 255).astype(np.uint8)
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        qimage = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        pixels = np.ascontiguousarray(pixels)
        qimage = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    smooth = max(height, width) > side
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    # copy(): QImage borrows the numpy buffer, which dies with this function
    scaled = qimage.copy().scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)
    return QPixmap.fromImage(scaled)


@dataclass(frozen=True)
class FieldArrows:
    """A displacement field drawn as arrows: x and y arrays in which each consecutive pair of points is a line
    segment (for ONE PlotCurveItem(connect="pairs")), the grid spacing in pixels and the length factor used."""

    xs: np.ndarray
    ys: np.ndarray
    stride: int
    scale: float


def field_segments(field: np.ndarray, arrows_across: int = 20,
                   region: tuple[float, float, float, float] | None = None) -> FieldArrows:
    """A displacement field (2, H, W) in pixels (component 0 along the width, 1 along the height) as arrow line
    segments from pixel centres to where each pixel samples from. The grid is thinned to about `arrows_across`
    arrows per side of the visible `region` (x_min, x_max, y_min, y_max in pixels; the whole image by default),
    so zooming in brings back every pixel's arrow while a whole large image stays at a few hundred. Arrows much
    shorter than the grid spacing are lengthened by a common factor (`scale`, 1 when they are drawn true to
    length, as usually at pixel zoom): most arrows of the grid then reach up to 0.8 of the spacing and none
    beyond 1.6 of it. Negligible arrows are left out so an undeformed region stays clean."""
    _, height, width = field.shape
    x_min, x_max, y_min, y_max = region if region is not None else (0.0, width, 0.0, height)
    x_min, x_max = max(0.0, x_min), min(float(width), x_max)
    y_min, y_max = max(0.0, y_min), min(float(height), y_max)
    extent = max(x_max - x_min, y_max - y_min, 1.0)
    stride = max(1, int(np.ceil(extent / arrows_across)))
    lengths = np.hypot(field[0], field[1])
    peak = float(lengths.max()) if lengths.size else 0.0
    # the factor from the whole image's grid at this spacing (not the visible part, so panning keeps it), from
    # its 95th percentile rather than its longest arrow alone, which would leave all the others as dots
    on_grid = lengths[stride // 2:: stride, stride // 2:: stride]
    on_grid = on_grid[on_grid > max(0.02 * peak, 1e-6)]
    reference = max(float(np.percentile(on_grid, 95)), 0.5 * float(on_grid.max())) if on_grid.size else 0.0
    scale = max(1.0, 0.8 * stride / reference) if reference > 0 else 1.0

    def grid(low: float, high: float, size: int) -> np.ndarray:
        # aligned on multiples of the stride, so that panning never shifts the arrows
        first = stride // 2 + stride * max(0, int(np.ceil((low - 0.5 - stride // 2) / stride)))
        return np.arange(first, min(size, int(np.ceil(high))), stride)

    rows, cols = np.meshgrid(grid(y_min, y_max, height), grid(x_min, x_max, width), indexing="ij")
    dx, dy = field[0, rows, cols].ravel(), field[1, rows, cols].ravel()
    length = lengths[rows, cols].ravel()
    keep = length > max(0.02 * peak, 1e-6)
    x0, y0 = cols.ravel()[keep] + 0.5, rows.ravel()[keep] + 0.5  # ImageItem pixel (c, r) spans [c, c+1)
    dx, dy, length = dx[keep] * scale, dy[keep] * scale, length[keep] * scale
    x1, y1 = x0 + dx, y0 + dy
    # arrowheads: two short strokes back from the tip, 25 degrees either side of the shaft
    head = np.minimum(0.35 * length, 0.6 * stride) / np.maximum(length, 1e-12)
    back_x, back_y = -dx * head, -dy * head
    cos, sin = np.cos(np.radians(25)), np.sin(np.radians(25))
    left = (x1 + cos * back_x - sin * back_y, y1 + sin * back_x + cos * back_y)
    right = (x1 + cos * back_x + sin * back_y, y1 - sin * back_x + cos * back_y)
    xs = np.stack([x0, x1, x1, left[0], x1, right[0]], axis=1).ravel()
    ys = np.stack([y0, y1, y1, left[1], y1, right[1]], axis=1).ravel()
    return FieldArrows(xs.astype(np.float32), ys.astype(np.float32), stride, scale)
