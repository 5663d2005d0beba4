"""Start-up: the window is on screen before PyTorch loads, then becomes the main window with the built-in model.
Run in a fresh interpreter (the test process has PyTorch loaded already)."""
import json
import os
import subprocess
import sys

from conftest import ROOT

PROBE = r"""
import json, sys
from PySide6.QtCore import QEventLoop, QTimer
from gui.launch import launch

imported_early = "torch" in sys.modules
app, window = launch()
visible = window.isVisible()
loop = QEventLoop()
window.ready.connect(loop.quit)
QTimer.singleShot(300_000, loop.quit)
loop.exec()
main = window.main
while main is not None and main.session.busy:
    waiting = QEventLoop()
    main.session.busy_changed.connect(waiting.quit)
    QTimer.singleShot(300_000, waiting.quit)
    waiting.exec()
print(json.dumps({"imported_early": imported_early, "visible": visible, "torch_at_show": window.torch_at_show,
                  "embedded": main is not None and window.centralWidget() is main,
                  "title": window.windowTitle(), "images": main.session.image_count if main else 0}))
window.close()
"""


def test_the_window_shows_before_torch_loads_then_opens_the_built_in_model():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"imported_early": False, "visible": True, "torch_at_show": False, "embedded": True,
                      "title": "AdvLens — mnist-cnn", "images": 16}, report


def test_main_py_reaches_the_launcher_before_torch_is_imported():
    """`main.py` (no command: the window) hands over to gui.launch with PyTorch not yet imported."""
    code = ("import sys, runpy, gui.launch\n"
            "def run(argv):\n"
            "    heavy = [m for m in ('torch', 'torchvision', 'pyqtgraph') if m in sys.modules]\n"
            "    print('heavy:', heavy); return 3 if heavy else 0\n"
            "gui.launch.run = run\n"
            "sys.argv = ['main.py']\n"
            "runpy.run_path('main.py', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "heavy: []" in done.stdout, (done.stdout, done.stderr)
