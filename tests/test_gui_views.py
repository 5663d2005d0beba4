"""What people expect of the views (issue 16), driven through the real widgets (pytest-qt, offscreen): the pixel
under the mouse read out (with the image's top class), colour bars on perturbation and gradient views, DeepFool's
curve ending at the iteration its header names, channels that never fire said so instead of shown as patches,
ADef's ||tau||_T in the batch table, and parameter tooltips naming the loaded model's defaults."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from engine.attacks import ATTACKS
from gui.session import LOADED

from workspace_helpers import RUN_TIMEOUT_MS, run_and_wait, shown_visualize_workspace

LOAD_TIMEOUT_MS = 120_000
DEAD_LAYER, DEAD_CHANNEL = "features.6", 0  # a ReLU channel of the built-in model that stays 0 on every digit


def run_attack(qtbot, window, name: str, run_on_all: bool = False, row: int = 0):
    panel = window.attack_panel
    panel.choose_attack(name)
    window.images_panel.list.setCurrentRow(row)
    (panel.all_radio if run_on_all else panel.selected_radio).setChecked(True)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.run_model.busy, timeout=RUN_TIMEOUT_MS)
    return finished.args[0]


def hover(qtbot, view, col: float, row: float) -> str:
    """Move the mouse over image pixel (col, row) of `view` (a point off the image when outside it) and return
    the readout shown, "" when it is hidden."""
    scene = view.plot.vb.mapViewToScene(QPointF(col + 0.5, row + 0.5))  # with the newest zoom
    qtbot.mouseMove(view.widget.viewport(), view.widget.mapFromScene(scene))
    return view.readout.text() if view.readout.isVisible() else ""


def levels_of(view) -> tuple[float, float]:
    low, high = view.bar.levels()
    return float(low), float(high)


# --- 1. the pixel readout --------------------------------------------------------------------------------------

def test_the_pixel_under_the_mouse_is_read_out_with_the_class(qtbot, window):
    result = run_attack(qtbot, window, "pgd", row=1)
    triptych = window.attack.triptych
    natural = window.session.batch.images[1].numpy()
    probs = window.session.probs[1].numpy()

    text = hover(qtbot, triptych.natural, 14, 9)
    assert text.startswith("x 14, y 9 · grey ") and f"{natural[0, 9, 14]:.3f}" in text
    top = int(probs.argmax())
    assert f"top class {top} {100 * probs[top]:.1f}%" in text

    adversarial = result.adversarial[0].numpy()
    after = result.probs_after[0].numpy()
    text = hover(qtbot, triptych.adversarial, 3, 20)
    assert f"grey {adversarial[0, 20, 3]:.3f}" in text and f"top class {int(after.argmax())} " in text

    delta = float(adversarial[0, 20, 3] - natural[0, 20, 3])
    text = hover(qtbot, triptych.perturbation, 3, 20)
    expected = f"δ {delta:+.4f} ({255 * delta:+.1f}/255)".replace("-", "−")
    assert text == f"x 3, y 20 · {expected}", text

    triptych.natural.plot.vb.scaleBy((2, 2))  # zoomed out (the views follow): room beside the image
    assert hover(qtbot, triptych.perturbation, -3, 20) == ""  # beside the image: nothing to read
    assert hover(qtbot, triptych.perturbation, 3, 20) == f"x 3, y 20 · {expected}"


def test_a_colour_image_reads_rgb_and_a_new_frame_under_the_mouse_is_read_again(qtbot):
    from gui.widgets.image_view import ImageView

    view = ImageView("colour")
    qtbot.addWidget(view.widget)
    view.widget.resize(300, 300)
    view.widget.show()
    qtbot.waitExposed(view.widget)
    image = np.zeros((8, 10, 3), np.float32)
    image[2, 5] = (0.1, 0.5, 0.9)
    view.show(image, (0.0, 1.0))
    view.fit()
    assert hover(qtbot, view, 5, 2) == "x 5, y 2 · RGB 0.100 0.500 0.900"
    image = image.copy()
    image[2, 5] = (1.0, 0.0, 0.25)
    view.show(image, (0.0, 1.0))  # as a live run draws its frames: the mouse rests, the pixel changes
    assert view.readout.text() == "x 5, y 2 · RGB 1.000 0.000 0.250"


# --- 2. colour bars --------------------------------------------------------------------------------------------

def test_the_perturbation_view_has_a_colour_bar_of_its_signed_range(qtbot, window):
    result = run_attack(qtbot, window, "pgd", row=2)
    triptych = window.attack.triptych
    delta = result.adversarial[0].numpy() - result.original[0].numpy()
    peak = float(np.abs(delta).max())
    assert triptych.perturbation.colour_bar_shown
    assert levels_of(triptych.perturbation) == pytest.approx((-peak, peak), rel=1e-5)
    assert triptych.perturbation.bar.colorMap().name == "advlens-diverging"
    # the images beside it have no bar but keep its row, so the three panels stay the same size
    assert not triptych.natural.colour_bar_shown and not triptych.adversarial.colour_bar_shown
    heights = {view.plot.vb.height() for view in triptych.views}
    assert len(heights) == 1, heights
    # and the first frame shown in a new view has its own levels (pyqtgraph used to apply the view's initial
    # levels after it)
    low, high = np.ravel(triptych.perturbation.item.levels)[:2]
    assert (low, high) == pytest.approx((-peak, peak), rel=1e-5)


@pytest.fixture
def visualize(qtbot):
    page = shown_visualize_workspace(qtbot)
    yield page
    page.shutdown()


def test_saliency_and_gradient_maps_show_their_values_with_colour_bars(qtbot, visualize):
    from engine.visualize import GUIDED, SALIENCY, gradient_maps

    run_and_wait(qtbot, visualize, visualize.saliency)
    tab, session = visualize.saliency, visualize.session
    image = session.batch.images[session.selected][None]
    saliency = gradient_maps(session.model, image, SALIENCY).saliency[0].numpy()
    guided = gradient_maps(session.model, image, GUIDED).gradients[0, 0].numpy()

    view = tab.views["natural", SALIENCY]
    assert view.colour_bar_shown and levels_of(view) == pytest.approx((0.0, float(saliency.max())), rel=1e-5)
    assert hover(qtbot, view, 12, 14) == f"x 12, y 14 · saliency {saliency[14, 12]:.3g}"
    view = tab.views["natural", GUIDED]
    peak = float(np.abs(guided).max())
    assert view.colour_bar_shown and levels_of(view) == pytest.approx((-peak, peak), rel=1e-5)
    assert hover(qtbot, view, 12, 14) == f"x 12, y 14 · gradient {guided[14, 12]:+.3g}".replace("-", "−")
    assert not tab.views["natural", "image"].colour_bar_shown
    assert "top class" in hover(qtbot, tab.views["natural", "image"], 12, 14)


# --- 3. DeepFool's iterations ----------------------------------------------------------------------------------

def curve_and_header(window, index: int) -> tuple[np.ndarray, str]:
    window.session.select(index)
    return window.attack.curves.loss_curve.getData()[0], window.attack.triptych.adversarial.label.text()


def test_deepfools_curve_ends_at_the_iteration_its_header_names(qtbot, window):
    result = run_attack(qtbot, window, "deepfool", run_on_all=True)
    used = result.steps_used.numpy()
    assert used.min() < len(result.history["loss"])  # some digit stopped while others went on
    for index in range(len(used)):
        iterations, header = curve_and_header(window, index)
        assert len(iterations) == used[index] and (used[index] == 0 or iterations[-1] == used[index])
        assert f"{used[index]} iteration{'s' if used[index] != 1 else ''}" in header

    # a run over the loaded images as a dataset: its curves come padded per chunk from the result
    window.attack_panel.choose_dataset(LOADED)
    with qtbot.waitSignal(window.run_model.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(window.attack_panel.dataset_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.run_model.busy, timeout=RUN_TIMEOUT_MS)
    stats = window.run_model.stats
    for run_index, loaded in enumerate(window.run_model.request.indices):
        iterations, _ = curve_and_header(window, loaded)
        assert len(iterations) == int(stats.result.steps_used[run_index])


# --- 4. channels that never fire -------------------------------------------------------------------------------

def test_a_channel_that_never_fires_is_said_so_instead_of_shown_as_patches(qtbot, visualize):
    tab = visualize.patches
    tab.dataset.choose(LOADED)
    visualize.browser.choose(DEAD_LAYER)
    visualize.browser.channel.setValue(DEAD_CHANNEL)
    run_and_wait(qtbot, visualize, tab)
    assert tab.found.never_fires
    assert tab.view.item.image is None and tab.labels == [] and tab.pictures() == {}
    assert f"{DEAD_LAYER} channel {DEAD_CHANNEL} never fires" in tab.view.label.text()
    assert not tab.export_button.isEnabled()

    visualize.browser.channel.setValue(3)  # a channel that fires: its patches are shown again
    run_and_wait(qtbot, visualize, tab)
    assert not tab.found.never_fires and tab.view.item.image is not None
    assert len(tab.labels) == len(tab.found.values) and "never fires" not in tab.view.label.text()


# --- 5. ADef's ||tau||_T ---------------------------------------------------------------------------------------

def test_the_batch_table_has_adefs_tau_column_for_adef_runs_only(qtbot, window):
    table = window.attack.batch_table.table
    result = run_attack(qtbot, window, "adef", run_on_all=True)
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[-1] == "‖τ‖_T (px)"
    column = len(headers) - 1
    norms = result.extras["field_norm"]
    assert [table.item(row, column).text() for row in range(table.rowCount())] == [f"{v:.2f}" for v in norms]
    assert np.all(norms > 0)

    run_attack(qtbot, window, "fgsm")
    assert "‖τ‖_T (px)" not in [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]


# --- 6. tooltips with the loaded model's defaults --------------------------------------------------------------

def test_parameter_tooltips_name_the_loaded_models_defaults(qtbot, window):
    form = window.attack_panel.form
    window.attack_panel.choose_attack("pgd")
    eps = form.editor("eps")
    assert "default for the loaded model: 0.3 (= 76.5/255)" in eps.spin.toolTip()
    assert "default for the loaded model: 40" in form.labels["steps"].toolTip()
    assert "default: " in form.editor("norm").widget.toolTip()  # the same for every model: said plainly

    window.model_panel.set_spec("resnet18:random")
    qtbot.mouseClick(window.model_panel.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.session.busy and window.session.model.name == "resnet18:random"
                    and window.session.batch is not None, timeout=LOAD_TIMEOUT_MS)
    eps, imagenet = form.editor("eps"), ATTACKS["pgd"].defaults("imagenet")
    assert eps.value() == pytest.approx(imagenet["eps"])
    assert "default for the loaded model: 0.0313725 (= 8/255)" in eps.spin.toolTip()
    assert "other models: 0.3 (= 76.5/255)" in eps.spin.toolTip()
    assert f"default for the loaded model: {imagenet['steps']}" in form.labels["steps"].toolTip()


def test_the_ascent_settings_tooltips_follow_the_loaded_model(qtbot, visualize):
    from engine.visualize import CLASS_MODEL, ascent_params

    mnist = ascent_params(CLASS_MODEL).defaults("mnist")
    steps = visualize.class_model.form.editor("steps")
    assert steps.value() == mnist["steps"]
    assert f"default for the loaded model: {mnist['steps']}" in steps.spin.toolTip()


# --- narrow windows (1024 x 640): titles, colour-bar labels and number fields stay readable ----------------------

def test_a_title_word_wider_than_its_view_is_set_smaller_not_cut(qtbot):
    from PySide6.QtGui import QTextDocument, QTextOption

    from gui.widgets.image_view import ImageView

    view = ImageView("adversarial: deconvnet")
    view.set_title("class 7", "gradient: grey 0, lighter positive")
    qtbot.addWidget(view.label)
    view.label.resize(70, 200)
    view.label.show()
    qtbot.waitUntil(lambda: view.label.scale < 1.0)
    document = QTextDocument()
    document.setDefaultFont(view.label.font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)
    document.setDefaultTextOption(option)
    document.setHtml(view.label.text())
    document.setTextWidth(view.label.contentsRect().width())
    assert document.idealWidth() <= view.label.contentsRect().width()  # every word whole
    view.label.resize(600, 200)
    qtbot.waitUntil(lambda: view.label.scale == 1.0)  # full size again where there is room


@pytest.mark.parametrize("width", [72, 110, 300])
def test_colour_bar_labels_never_overlap(qtbot, width):
    from PySide6.QtGui import QFontMetrics

    from gui.widgets.image_view import ImageView
    from gui.widgets.pixel_readout import PERTURBATION_READOUT

    view = ImageView("delta", bar_row=True)
    qtbot.addWidget(view.widget)
    view.widget.resize(width, 160)
    view.widget.show()
    view.show_values(np.linspace(-0.961, 0.961, 28 * 28, dtype=np.float32).reshape(1, 28, 28), (-0.961, 0.961),
                     PERTURBATION_READOUT)
    qtbot.waitUntil(lambda: view.widget.width() == width)
    view._fit_bar_labels()
    axis = view.bar.axis
    ticks = axis._tickLevels[0]
    assert width < 100 or len(ticks) >= 2  # the ends are labelled wherever the view has room
    metrics = QFontMetrics(axis.style["tickFont"])
    margin = view.bar.layout.getContentsMargins()[0]
    length = width - 2 * margin

    def centre(value):
        return margin + (value + 0.961) / (2 * 0.961) * length

    spans = sorted((centre(v) - metrics.horizontalAdvance(t) / 2, centre(v) + metrics.horizontalAdvance(t) / 2)
                   for v, t in ticks)
    assert all(left[1] <= right[0] for left, right in zip(spans, spans[1:]))  # no two labels overlap
    assert all(lo >= -1 and hi <= width + 1 for lo, hi in spans)  # and each is within the view


def test_decimal_fields_have_room_for_a_small_value(qtbot):
    from gui.widgets.number_box import TypedDoubleSpinBox

    spin = TypedDoubleSpinBox()
    qtbot.addWidget(spin)
    spin.setRange(0.0, 1.0)
    spin.setValue(8 / 255)
    spin.resize(spin.minimumSizeHint())
    spin.show()
    qtbot.waitUntil(spin.isVisible)
    shown = spin.lineEdit().cursorRect()  # laid out: the line edit's width is what the text gets
    assert spin.lineEdit().width() >= spin.fontMetrics().horizontalAdvance("0.03137") and shown is not None


def test_a_long_choice_in_a_narrow_combo_ends_in_an_ellipsis_not_cut_off(qtbot):
    from gui.widgets.combo import ElidingComboBox

    combo = ElidingComboBox()
    qtbot.addWidget(combo)
    combo.addItem("sine, sigmoid, Gaussian, linear")
    combo.resize(110, combo.sizeHint().height())
    combo.show()
    qtbot.waitUntil(combo.isVisible)
    shown = combo.shown_text(80)
    assert shown.endswith("…") and combo.fontMetrics().horizontalAdvance(shown) <= 80
    assert combo.itemText(0) == "sine, sigmoid, Gaussian, linear"  # the list keeps it whole
    assert combo.shown_text(1000) == "sine, sigmoid, Gaussian, linear"
