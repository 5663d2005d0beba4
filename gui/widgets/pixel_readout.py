"""The line an image view shows over its corner while the mouse is on the image: the pixel's position and value,
written in the units the view shows (a grey level or RGB in [0, 1], a signed perturbation also in grey levels,
a gradient), and what the view's owner adds (the image's top class and its probability)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRect, Qt, Signal
from PySide6.QtWidgets import QLabel, QWidget

MARGIN = 3  # pixels between the line and the view's edge


@dataclass(frozen=True)
class Readout:
    """How a value under the mouse is written: `label` before it, `signed` with its sign, `grey_levels` also in
    1/255 (a distance in pixel space), `digits` the format of each number."""

    label: str = ""
    signed: bool = False
    grey_levels: bool = False
    digits: str = ".3f"


IMAGE_READOUT = Readout()  # pixel values in [0, 1]
PERTURBATION_READOUT = Readout("δ", signed=True, grey_levels=True, digits=".4f")
SALIENCY_READOUT = Readout("saliency", digits=".3g")
GRADIENT_READOUT = Readout("gradient", signed=True, digits=".3g")


def _number(value, readout: Readout, digits: str | None = None) -> str:
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    signed = readout.signed and float(value) != 0  # no sign on an unchanged pixel
    text = format(float(value), ("+" if signed else "") + (digits or readout.digits))
    return text.replace("-", "−")  # the minus of the views' titles and colour bars


def pixel_text(values: np.ndarray, col: int, row: int, readout: Readout = IMAGE_READOUT) -> str:
    """"x 3, y 12 · grey 0.482", "x 3, y 12 · δ +0.0118 (+3.0/255)", "x 3, y 12 · RGB 0.120 0.450 0.800": the
    pixel at column `col`, row `row` of an HW or HWC array."""
    numbers = np.atleast_1d(values[row, col])
    channels = "grey" if len(numbers) == 1 else "RGB" if len(numbers) == 3 else f"{len(numbers)} channels"
    if readout.label:
        channels = readout.label if len(numbers) == 1 else f"{readout.label} {channels}"
    text = f"x {col}, y {row} · {channels} {' '.join(_number(v, readout) for v in numbers)}"
    if readout.grey_levels:
        levels = " ".join(_number(255 * float(v), readout, ".1f") for v in numbers)
        text += f" ({levels}/255)"
    return text


def class_note(class_names, probs: np.ndarray) -> str:
    """What the readout of a classified image adds: "top class 3: cat 99.2%", or "top class 7 99.2%" for a
    class named by its index (digits)."""
    index = int(np.argmax(probs))
    name = str(class_names[index])
    return f"top class {index if name == str(index) else f'{index}: {name}'} {100 * float(probs[index]):.1f}%"


class ReadoutLabel(QLabel):
    """A small line over a view (a child of it, so no layout makes room for it): shown in the bottom-left corner
    of the image's area, or the top-left one while the mouse is in the lower half; hidden when the mouse leaves
    the view. The mouse passes through it to the view.

    `moved` says where the mouse is on the view's viewport, at every move: pyqtgraph's scene.sigMouseMoved
    drops moves that come within 10 ms of the last one (its mouseRateLimit), the final one of a quick move too,
    which would leave the readout on a pixel the mouse has left."""

    moved = Signal(QPointF)  # the mouse's position on the viewport

    def __init__(self, view: QWidget):
        super().__init__(view)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setStyleSheet("background: rgba(255, 255, 255, 225); color: #222222; border: 1px solid #bbbbbb; "
                           "border-radius: 3px; padding: 1px 4px; font-size: 9pt;")
        self.hide()
        watched = getattr(view, "viewport", lambda: view)()  # a QGraphicsView's mouse events go to its viewport
        watched.installEventFilter(self)

    def show_text(self, text: str, mouse_y: float, area: QRect) -> None:
        """`text` in a corner of `area` (the image's part of the view, in the view's coordinates), away from
        the mouse at height `mouse_y`."""
        self.setMaximumWidth(max(40, area.width() - 2 * MARGIN))  # a narrow view wraps the line
        self.setText(text)
        self.adjustSize()
        lower_half = mouse_y > area.center().y()
        top = area.top() + MARGIN if lower_half else area.bottom() - self.height() - MARGIN
        self.move(area.left() + MARGIN, top)
        self.show()
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseMove:
            self.moved.emit(event.position())
        elif event.type() == QEvent.Type.Leave:
            self.hide()
        return False  # the view handles its events as ever
