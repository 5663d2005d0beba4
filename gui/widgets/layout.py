"""Layout helpers every workspace uses, so that a split view is one call instead of six lines."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget

HORIZONTAL, VERTICAL = Qt.Orientation.Horizontal, Qt.Orientation.Vertical


def splitter(orientation: Qt.Orientation, widgets: Sequence[QWidget], stretch: Sequence[int] = (),
             sizes: Sequence[int] = (), collapsible: bool = False) -> QSplitter:
    """`widgets` side by side (or one above the other) with movable borders: `stretch` per widget says who takes
    the extra room, `sizes` the first layout in pixels; panes cannot be collapsed to nothing unless asked."""
    split = QSplitter(orientation)
    for widget in widgets:
        split.addWidget(widget)
    for index, factor in enumerate(stretch):
        split.setStretchFactor(index, factor)
    if sizes:
        split.setSizes(list(sizes))
    split.setChildrenCollapsible(collapsible)
    return split
