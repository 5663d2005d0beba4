"""The window at the sizes it must work at (pytest-qt, offscreen): at 1024x640, 1123x700 and 1600x1000 every
control of every workspace, on every one of its tabs, is on screen and whole, or inside a scroll area that
brings it into view whole; the window keeps the size asked for once every workspace is open; the Attack
panel's Run button stays where it is whichever attack is chosen; the Linearity plot labels its decades and
keeps its labels apart; and `screenshot --size` renders that size."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QLabel, QLineEdit,
                               QPushButton, QScrollArea, QSlider, QTabBar, QTabWidget, QWidget)

from engine.attacks import ATTACKS
from engine.attacks.base import PER_IMAGE

SIZES = [(1024, 640), (1123, 700), (1600, 1000)]
WORKSPACE_TITLES = ["Attack", "Visualize", "Universal", "Playground", "Train", "Compare", "Fooling"]
CONTROL_TYPES = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QSlider)
PER_IMAGE_ATTACKS = [name for name, spec in ATTACKS.items() if spec.family == PER_IMAGE]


def settle() -> None:
    for _ in range(3):  # a StackOrTabs rearranges itself one event-loop turn after a resize
        QApplication.processEvents()


@pytest.fixture(scope="module", params=SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def sized_window(request, qapp):
    """One window per size, resized before it is shown, with the built-in model and its digits; the workspaces
    are opened by the tests, one after the other, in the tabs' order."""
    from gui.app import wait_until_idle
    from gui.shell import MainWindow

    window = MainWindow(sample_count=4)
    window.resize(*request.param)
    window.show()
    window.load_default()
    wait_until_idle(window, 60)
    yield window, request.param
    window.close()


def is_part_of_a_control(widget: QWidget) -> bool:
    """A spin box's or an editable combo box's line edit, a tab bar's scroll arrows: checked with their owner."""
    parent = widget.parentWidget()
    return isinstance(parent, (QAbstractSpinBox, QComboBox, QTabBar))


def controls_shown(root: QWidget) -> list[QWidget]:
    """The controls a user sees in `root` now (a table's empty corner button is none)."""
    return [widget for widget in root.findChildren(QWidget)
            if isinstance(widget, CONTROL_TYPES) and widget.isVisible() and not widget.rect().isEmpty()
            and not is_part_of_a_control(widget)]


def scroll_to(area: QScrollArea, widget: QWidget) -> None:
    """Scroll `area` so that the whole of `widget` shows (QScrollArea.ensureWidgetVisible only makes sure a
    text field's cursor does)."""
    where = QRect(widget.mapTo(area.widget(), QPoint(0, 0)), widget.size())
    for bar, start, length, room in ((area.verticalScrollBar(), where.top(), where.height(), area.viewport().height()),
                                     (area.horizontalScrollBar(), where.left(), where.width(),
                                      area.viewport().width())):
        if start < bar.value():
            bar.setValue(start)
        elif start + length > bar.value() + room:
            bar.setValue(start + length - room)
    QApplication.processEvents()


def bring_into_view(widget: QWidget) -> None:
    """Scroll every scroll area that holds `widget` so that it shows, innermost first."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea) and parent.widget() is not None and parent.widget().isAncestorOf(widget):
            scroll_to(parent, widget)
        parent = parent.parentWidget()


def describe(widget: QWidget) -> str:
    text = widget.text() if isinstance(widget, (QAbstractButton, QLineEdit)) else ""
    if isinstance(widget, QComboBox):
        text = widget.currentText()
    owner = widget.parentWidget()
    while owner is not None and not type(owner).__module__.startswith("gui."):
        owner = owner.parentWidget()
    return f"{type(widget).__name__} {text!r} in {type(owner).__name__ if owner else '?'}"


def clipped(window: QWidget, widget: QWidget) -> str | None:
    """None when `widget` is entirely on screen (after scrolling to it); else what is wrong."""
    bring_into_view(widget)
    where = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    if not window.rect().contains(where):
        return f"{describe(widget)} at {where.getRect()} lies outside the {window.width()}x{window.height()} window"
    seen = widget.visibleRegion().boundingRect()
    if seen != widget.rect():
        return f"{describe(widget)} shows {seen.getRect()} of its {widget.rect().getRect()}"
    return None


def clipped_controls(window: QWidget, root: QWidget) -> list[str]:
    return [problem for widget in controls_shown(root) if (problem := clipped(window, widget)) is not None]


def every_tab_shown(root: QWidget):
    """Each page of each tab widget in `root` in turn (nested ones included), as the current page."""
    for tabs in root.findChildren(QTabWidget):
        if not tabs.isVisible():
            continue
        for index in range(tabs.count()):
            tabs.setCurrentIndex(index)
            settle()
            yield f"{tabs.tabText(index)!r} tab"


@pytest.mark.parametrize("title", WORKSPACE_TITLES)
def test_every_control_of_every_workspace_is_whole_on_screen_or_scrolled_to(sized_window, title):
    window, size = sized_window
    page = window.show_workspace(title)
    settle()
    assert window.size().toTuple() == size, f"opening {title} made the window {window.size().toTuple()}"
    assert controls_shown(page), f"{title}: no control is shown at all"
    problems = clipped_controls(window, page)
    for tab in every_tab_shown(page):
        problems += [f"{tab}: {problem}" for problem in clipped_controls(window, page)]
    assert not problems, f"{title} at {size[0]}x{size[1]}:\n" + "\n".join(problems)


def test_the_window_keeps_its_size_with_every_workspace_open(sized_window):
    """Every workspace has been built by now: none of them asks for more than the window has."""
    window, size = sized_window
    for title in WORKSPACE_TITLES:
        window.show_workspace(title)
    settle()
    assert window.size().toTuple() == size
    minimum = window.minimumSizeHint()
    assert minimum.width() <= size[0] and minimum.height() <= size[1]


def test_the_run_button_stays_in_place_whichever_attack_is_chosen(sized_window):
    window, _size = sized_window
    panel = window.show_workspace("Attack").attack_panel
    buttons = (panel.run_button, panel.stop_button, panel.export_button, panel.dataset_button)
    places = {}
    for name in PER_IMAGE_ATTACKS:
        panel.choose_attack(name)
        settle()
        places[name] = [QRect(button.mapTo(window, QPoint(0, 0)), button.size()).getRect() for button in buttons]
        for button in buttons:
            assert clipped(window, button) is None, f"{name}: {clipped(window, button)}"
    assert len({tuple(place) for place in places.values()}) == 1, places
    # the longest form (ADef's) scrolls inside the panel: its last editor can be scrolled to, whole
    panel.choose_attack(max(PER_IMAGE_ATTACKS, key=lambda name: len(ATTACKS[name].params)))
    settle()
    last = list(panel.form.editors.values())[-1].widget
    assert clipped(window, last) is None


def test_the_attack_plots_are_tabs_on_a_short_window_and_stacked_on_a_tall_one(sized_window):
    window, size = sized_window
    attack = window.show_workspace("Attack")
    settle()
    tall = size[1] >= 1000
    assert attack.plots.tabbed is not tall
    for plot in (attack.bars, attack.curves):
        if tall:
            assert plot.isVisible() and plot.height() >= 150
        else:  # one at a time, each with the whole height of the tabs
            attack.plots.tabs.setCurrentWidget(plot)
            settle()
            assert plot.isVisible() and plot.height() >= 180


# --- the helpers in gui/widgets/layout.py ----------------------------------------------------------------------

def test_stack_or_tabs_moves_its_pages_between_a_splitter_and_tabs(qtbot):
    from gui.widgets.layout import StackOrTabs

    pages = [QLabel("one"), QLabel("two")]
    stack = StackOrTabs([(pages[0], "One"), (pages[1], "Two")], stacked_height=300)
    qtbot.addWidget(stack)
    stack.resize(200, 400)
    stack.show()
    qtbot.waitUntil(lambda: not stack.tabbed)
    assert all(page.isVisible() for page in pages)
    stack.resize(200, 200)
    qtbot.waitUntil(lambda: stack.tabbed)
    assert stack.tabs.count() == 2 and pages[0].isVisible() and not pages[1].isVisible()
    stack.resize(200, 500)
    qtbot.waitUntil(lambda: not stack.tabbed)
    assert stack.tabs.count() == 0 and all(page.isVisible() for page in pages)
    assert stack.stack.count() == 2


def test_a_kept_splitter_lays_out_its_sizes_again_until_a_border_is_dragged(qtbot):
    from gui.widgets.layout import HORIZONTAL, splitter

    left, right = QWidget(), QWidget()
    split = splitter(HORIZONTAL, (left, right), stretch=(1, 0), sizes=(600, 300), keep_sizes=True)
    qtbot.addWidget(split)
    split.resize(400, 100)  # first laid out small: a plain QSplitter would keep the right pane squeezed
    split.show()
    split.resize(1000, 100)
    qtbot.waitUntil(lambda: split.sizes()[1] == 300)
    split.moveSplitter(500, 1)  # the user's choice is kept from then on
    dragged = split.sizes()[1]
    assert dragged != 300
    split.resize(1200, 100)
    qtbot.waitUntil(lambda: split.width() == 1200)
    assert split.sizes()[1] == dragged


def test_a_flow_layout_wraps_instead_of_widening(qtbot):
    from gui.widgets.layout import FlowLayout

    row = QWidget()
    flow = FlowLayout(row)
    buttons = [QPushButton(f"button number {index}") for index in range(4)]
    for button in buttons:
        flow.addWidget(button)
    qtbot.addWidget(row)
    widest = max(button.sizeHint().width() for button in buttons)
    assert row.minimumSizeHint().width() <= widest + 1
    row.resize(widest + 20, flow.heightForWidth(widest + 20))
    row.show()
    qtbot.waitUntil(lambda: buttons[-1].y() > buttons[0].y())
    assert all(QRect(QPoint(0, 0), row.size()).contains(button.geometry()) for button in buttons)


# --- the Playground's Linearity plot ---------------------------------------------------------------------------

@pytest.fixture
def linearity(qtbot):
    from gui.workspaces.playground.linearity_view import LinearityPanel

    panel = LinearityPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 480)  # the panel at 1024x640
    panel.show()
    qtbot.waitUntil(lambda: panel.flips is not None, timeout=30_000)
    settle()
    yield panel
    panel.slot.shutdown()


def drawn_labels(axis) -> list[str]:
    """The tick labels the axis draws at its current size (pyqtgraph drops those that would not fit)."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _rect, _flags, text in texts]


def test_the_linearity_axes_label_every_decade_the_curve_spans(linearity):
    plot = linearity.plot.getPlotItem()
    steps = np.concatenate([linearity.flips.median_step, linearity.flips.sqrt_law])
    low, high = int(np.floor(np.log10(steps.min()))), int(np.ceil(np.log10(steps.max())))
    shown = drawn_labels(plot.getAxis("left"))
    wanted = [f"{10.0 ** k:g}" if k < 0 else str(10 ** k) for k in range(low, high + 1)]
    assert low <= -2 and all(label in shown for label in wanted), shown  # 0.01 and 0.001 too, below 0.1
    inputs = drawn_labels(plot.getAxis("bottom"))
    assert inputs[:4] == ["1", "10", "100", "1000"] and "10⁵" in inputs, inputs


def test_the_linearity_legend_and_line_labels_do_not_overlap_or_leave_the_plot(linearity):
    import pyqtgraph as pg

    plot = linearity.plot.getPlotItem()
    view = plot.vb.sceneBoundingRect()
    lines = [item for item in plot.items if isinstance(item, pg.InfiniteLine)]
    assert len(lines) == 2
    labels = [line.label.sceneBoundingRect() for line in lines]
    legend = plot.legend.sceneBoundingRect()
    for label in labels:
        assert view.contains(label), (label, view)
        assert not label.intersects(legend), (label, legend)
    assert view.contains(legend)
    assert not labels[0].intersects(labels[1])


def test_the_step_box_shows_its_value(linearity):
    box = linearity.step_spin
    box.setValue(0.55)
    needed = box.fontMetrics().horizontalAdvance(box.text())
    assert box.lineEdit().width() >= needed


# --- screenshot --size -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", ["1024", "10x10", "1024x640x2", "axb", "-5x640"])
def test_screenshot_refuses_a_size_that_is_not_width_x_height(tmp_path, capsys, size):
    from cli import main

    assert main(["screenshot", str(tmp_path / "shot.png"), f"--size={size}"]) == 2
    error = capsys.readouterr().err
    assert "--size" in error and "WIDTHxHEIGHT" in error
    assert not (tmp_path / "shot.png").exists()


def test_screenshot_renders_the_window_at_the_size_asked(qapp, tmp_path):
    from gui.app import render_screenshot

    path = tmp_path / "attack.png"
    render_screenshot(path, attack="fgsm", size=(1024, 640), run_on_all=False)
    with Image.open(path) as picture:
        assert picture.size == (1024, 640)
