"""A rich-text title that fits its width: word-wrapped as usual, and set in smaller type when a single word
("adversarial", "deconvnet") is wider than the label, where a plain QLabel would cut the word off."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent, QTextDocument, QTextOption
from PySide6.QtWidgets import QLabel, QSizePolicy

SCALES = (1.0, 0.88, 0.76, 0.66, 0.58)  # font sizes tried, largest first; the last is used if nothing fits


class FittingLabel(QLabel):
    """Shows `html(scale)`: the largest scale of SCALES at which no line is wider than the label."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._html: Callable[[float], str] = lambda scale: ""
        self.scale = 1.0

    def set_html(self, html: Callable[[float], str]) -> None:
        self._html = html
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        width = max(self.contentsRect().width(), 1)
        document = QTextDocument()
        document.setDefaultFont(self.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap)  # as a QLabel wraps: a long word overflows
        document.setDefaultTextOption(option)
        for scale in SCALES:
            document.setHtml(self._html(scale))
            document.setTextWidth(width)
            if document.idealWidth() <= width:
                break
        self.scale = scale
        text = self._html(scale)
        if text != self.text():
            self.setText(text)
