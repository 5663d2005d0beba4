"""Number fields take what researchers type (0.001, 1e-3, 8/255, 1e3 for a count) and refuse the rest visibly,
instead of dropping letters (1e-3 became 13, 1e9 became 19)."""
import pytest
from PySide6.QtCore import Qt

from engine.attacks import get_attack
from gui.widgets.number_box import parse_typed_number
from gui.widgets.param_form import ParamForm


@pytest.fixture
def pgd_form(qtbot):
    form = ParamForm()
    qtbot.addWidget(form)
    spec = get_attack("pgd")
    form.build(spec, spec.resolve({}, "mnist"))
    form.show()
    return form


def type_into(qtbot, spin, text):
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


@pytest.mark.parametrize("text, value", [("0.001", 0.001), ("1e-3", 0.001), ("8/255", 8 / 255),
                                         ("2.5E-2", 0.025), (" .5 ", 0.5)])
def test_a_pixel_field_reads_decimals_scientific_numbers_and_fractions(qtbot, pgd_form, text, value):
    type_into(qtbot, pgd_form.editor("eps").spin, text)
    assert pgd_form.values()["eps"] == pytest.approx(value)
    assert pgd_form.editor("eps").grey.value() == pytest.approx(value * 255, abs=1e-6)


def test_a_count_field_reads_1e3_and_refuses_what_is_not_a_whole_number_in_range(qtbot, pgd_form):
    steps = pgd_form.editor("steps").spin
    type_into(qtbot, steps, "1e3")
    assert pgd_form.values()["steps"] == 1000
    steps.lineEdit().selectAll()
    qtbot.keyClicks(steps.lineEdit(), "1e9")  # above the maximum of 100000: shown as wrong, not read as 19
    assert "border" in steps.styleSheet() and "type a number" in steps.toolTip()
    qtbot.keyClick(steps.lineEdit(), Qt.Key.Key_Return)
    assert pgd_form.values()["steps"] == 1000 and steps.styleSheet() == ""  # the previous value is kept


def test_letters_are_not_silently_dropped(qtbot, pgd_form):
    eps = pgd_form.editor("eps").spin
    type_into(qtbot, eps, "0.1")
    eps.lineEdit().selectAll()
    qtbot.keyClicks(eps.lineEdit(), "1x3")  # 'x' cannot start any number: refused, the text stays "1"
    assert eps.lineEdit().text().startswith("1") and "x" not in eps.lineEdit().text()
    assert parse_typed_number("1e-3") == 0.001 and parse_typed_number("8/0") is None
    assert parse_typed_number("abc") is None and parse_typed_number("3/4/5") is None
