"""The architecture's one hard rule: the engine never imports Qt (gui -> engine, never the reverse)."""
import subprocess
import sys

from conftest import ROOT

QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy")


def test_engine_imports_no_qt():
    code = ("import sys, engine, engine.models, engine.data, engine.attacks, engine.export, engine.core.run, engine.experiments;"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}];"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_engine_sources_do_not_mention_gui_packages():
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        for module in QT_MODULES + ("gui",):
            assert f"import {module}" not in text and f"from {module}" not in text, path
