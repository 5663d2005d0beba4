"""Layout helpers every workspace uses, so that the window works from 1024x640 up: a split view in one call
(optionally keeping its sizes whatever the window's history), a column of settings that scrolls without ever
cutting its right edge, plots stacked when there is room and in tabs when there is not, and a row of controls
that wraps instead of widening the window."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, QTimer
from PySide6.QtWidgets import (QFrame, QLayout, QLayoutItem, QScrollArea, QSizePolicy, QSplitter, QStackedWidget,
                               QTabWidget, QWidget)

HORIZONTAL, VERTICAL = Qt.Orientation.Horizontal, Qt.Orientation.Vertical


def splitter(orientation: Qt.Orientation, widgets: Sequence[QWidget], stretch: Sequence[int] = (),
             sizes: Sequence[int] = (), collapsible: bool = False, keep_sizes: bool = False) -> QSplitter:
    """`widgets` side by side (or one above the other) with movable borders: `stretch` per widget says who takes
    the extra room, `sizes` the first layout in pixels; panes cannot be collapsed to nothing unless asked. With
    `keep_sizes`, `sizes` is laid out again at every resize (see KeptSplitter)."""
    split = KeptSplitter(orientation, sizes) if keep_sizes else QSplitter(orientation)
    for widget in widgets:
        split.addWidget(widget)
    for index, factor in enumerate(stretch):
        split.setStretchFactor(index, factor)
    if sizes:
        split.setSizes(list(sizes))
    split.setChildrenCollapsible(collapsible)
    return split


class KeptSplitter(QSplitter):
    """A splitter that lays its panes out from the sizes it was given again at every resize, the stretch
    factors saying who takes the extra or gives up the missing room. A plain QSplitter works from its current
    sizes, so a first layout in a small window (or a workspace built while the window was small) leaves a
    side pane at its minimum for good. Once the user drags a border, the sizes they chose are the ones kept."""

    def __init__(self, orientation: Qt.Orientation, sizes: Sequence[int], parent: QWidget | None = None):
        super().__init__(orientation, parent)
        self.kept = list(sizes)
        self.splitterMoved.connect(self._remember)

    def _remember(self, *_) -> None:
        self.kept = self.sizes()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.kept:
            self.setSizes(self.kept)


class ScrollingPanel(QScrollArea):
    """`widget` scrolled up and down, never sideways: the panel is at least as wide as the widget's minimum plus
    the scroll bar, so a splitter or a small window can make it shorter (it scrolls, and the widget keeps the
    height it asks for) but never cut its right edge off, whatever the widget holds now (forms are rebuilt when
    an attack or a method changes)."""

    def __init__(self, widget: QWidget, framed: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        if not framed:
            self.setFrameShape(QFrame.Shape.NoFrame)
        # Squeezed to its minimum, a form gives its rows less than their fields' fixed height (spin boxes lose a
        # pixel or two): never below its size hint, it scrolls instead.
        policy = widget.sizePolicy()
        policy.setVerticalPolicy(QSizePolicy.Policy.Minimum)
        widget.setSizePolicy(policy)
        self.setWidget(widget)
        widget.installEventFilter(self)

    def _extra_width(self) -> int:
        """The scroll bar's width is always kept free: it appears when the panel gets short, and the widget must
        not have to shrink below its minimum then."""
        return self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(self.widget().minimumSizeHint().width() + self._extra_width(), hint.height())

    def sizeHint(self) -> QSize:
        inner = self.widget().sizeHint()
        return QSize(inner.width() + self._extra_width(), inner.height() + 2 * self.frameWidth())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the widget's minimum width may have changed: tell the layout above
        return False


class StackOrTabs(QStackedWidget):
    """Pages (widget, tab title) one above the other, a splitter between them, from `stacked_height` pixels of
    height; in tabs when the room is shorter: on a small screen one plot at a time at a readable size rather
    than all of them squeezed flat. The choice is made again whenever the height changes; `sizes` is the
    splitter's first layout."""

    def __init__(self, pages: Sequence[tuple[QWidget, str]], stacked_height: int, sizes: Sequence[int] = (),
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.pages, self.stacked_height, self.sizes = list(pages), stacked_height, list(sizes)
        self.stack = splitter(VERTICAL, [page for page, _ in self.pages], sizes=sizes)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.addWidget(self.stack)
        self.addWidget(self.tabs)
        self._rearrange = QTimer(self)  # goes with the widget: no call to a deleted one
        self._rearrange.setSingleShot(True)
        self._rearrange.setInterval(0)
        self._rearrange.timeout.connect(self._arrange_for_height)

    @property
    def tabbed(self) -> bool:
        return self.currentWidget() is self.tabs

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if (event.size().height() < self.stacked_height) != self.tabbed:
            self._rearrange.start()  # at the next turn of the event loop: not while Qt lays this widget out

    def _arrange_for_height(self) -> None:
        self._arrange(self.height() < self.stacked_height)

    def _arrange(self, tabbed: bool) -> None:
        if tabbed == self.tabbed:
            return
        if tabbed:
            for page, title in self.pages:
                self.tabs.addTab(page, title)  # takes the page out of the splitter
        else:
            while self.tabs.count():
                self.tabs.removeTab(0)  # the page stays, hidden, until the splitter takes it
            for page, _ in self.pages:
                self.stack.addWidget(page)
                page.show()  # the tabs hid the pages they did not show
            if self.sizes:
                self.stack.setSizes(self.sizes)
        self.setCurrentWidget(self.tabs if tabbed else self.stack)


class FlowLayout(QLayout):
    """Widgets in a row that wraps onto further rows when the room is too narrow for all of them (Qt's flow
    layout example). `addWidget(widget, stretch)` and `addStretch()` take the same arguments as a QHBoxLayout's,
    so a row can become a flow without changing its callers; stretch is ignored (every item keeps its size
    hint)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def addWidget(self, widget: QWidget, stretch: int = 0) -> None:  # noqa: ARG002 (QHBoxLayout's signature)
        super().addWidget(widget)

    def addStretch(self, stretch: int = 0) -> None:  # noqa: ARG002
        """Nothing to stretch in a flow: the items after it simply follow."""

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), place=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, place=True)

    def sizeHint(self) -> QSize:
        """All in one row."""
        widths = [item.sizeHint().width() for item in self._visible()]
        height = max((item.sizeHint().height() for item in self._visible()), default=0)
        margins = self.contentsMargins()
        return QSize(sum(widths) + self.spacing() * max(0, len(widths) - 1) + margins.left() + margins.right(),
                     height + margins.top() + margins.bottom())

    def minimumSize(self) -> QSize:
        """One item per row at the narrowest: as wide as the widest item."""
        size = QSize()
        for item in self._visible():
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _visible(self) -> list[QLayoutItem]:
        return [item for item in self._items if not item.isEmpty()]

    def _arrange(self, rect: QRect, place: bool) -> int:
        """Lay the items out left to right, wrapping at the right edge, each centred in its row's height;
        return the height used."""
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        rows: list[list[tuple[QLayoutItem, int]]] = [[]]  # (item, width) per row
        x = area.x()
        for item in self._visible():
            width = max(item.minimumSize().width(), min(item.sizeHint().width(), max(area.width(), 1)))
            if rows[-1] and x + width > area.right() + 1:
                rows.append([])
                x = area.x()
            rows[-1].append((item, width))
            x += width + self.spacing()
        y = area.y()
        for row in rows:
            height = max((item.sizeHint().height() for item, _ in row), default=0)
            x = area.x()
            for item, width in row:
                if place:
                    item_height = min(height, item.sizeHint().height())
                    item.setGeometry(QRect(QPoint(x, y + (height - item_height) // 2), QSize(width, item_height)))
                x += width + self.spacing()
            y += height + self.spacing()
        return max(0, y - self.spacing() - area.y()) + margins.top() + margins.bottom()
