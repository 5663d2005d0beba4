"""Colours, sizes and small labels every workspace shares, so that one colour always means one thing."""
from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel

NATURAL_COLOUR = (70, 110, 170)
ADVERSARIAL_COLOUR = (200, 50, 50)
FOOLED_COLOUR = QColor(200, 50, 50)
HELD_COLOUR = QColor(40, 120, 60)
MUTED = "#777777"
TITLE_POINTS, NOTE_POINTS = 11, 9  # image titles and the notes under them
VIEW_BACKGROUND = "#e8e8e8"


def swatch(rgb) -> str:
    red, green, blue = (int(c) for c in rgb)
    return f"<span style='color:rgb({red}, {green}, {blue})'>■</span>"


def shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def percent(p: float) -> str:
    return f"{100 * p:.1f}%"


def hint_label(text: str = "") -> QLabel:
    """A wrapped, muted line of explanation under a control."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666;")
    return label
