"""Shared fixtures: the shipped model and its held-out digits, loaded once per test session."""
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# as main.py does: OpenMP threads that spin while waiting slow every test down on a busy machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# the file dialogs remember their folders (gui/widgets/dialogs.py): the tests' go to a file of their own, never
# into the user's settings
os.environ.setdefault("ADVLENS_SETTINGS", str(Path(tempfile.mkdtemp(prefix="advlens-tests-")) / "settings.ini"))


@pytest.fixture(scope="session")
def mnist_model():
    from engine.models import load_model
    return load_model("mnist-cnn", "cpu")


@pytest.fixture(scope="session")
def heldout(mnist_model):
    from engine.data import heldout_digits
    return heldout_digits(mnist_model)


@pytest.fixture(scope="session")
def correct_digits(mnist_model, heldout):
    """The held-out digits the built-in model classifies correctly, with their labels."""
    _, predictions = mnist_model.predict(heldout.images)
    correct = predictions == heldout.labels
    return heldout.images[correct], heldout.labels[correct]


GUI_SAMPLE_COUNT = 4  # a few digits keep every GUI run short
GUI_LOAD_TIMEOUT_MS = 60_000


@pytest.fixture
def window(qtbot):
    """The main window with the built-in model and a few sample digits loaded (Qt imported only by GUI tests)."""
    from gui.shell import MainWindow

    window = MainWindow(sample_count=GUI_SAMPLE_COUNT)
    qtbot.addWidget(window)
    window.resize(1500, 900)
    window.show()
    window.load_default()
    qtbot.waitUntil(lambda: not window.session.busy and window.session.batch is not None,
                    timeout=GUI_LOAD_TIMEOUT_MS)
    yield window
    window.close()
