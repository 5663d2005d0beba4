"""Shared fixtures: the shipped model and its held-out digits, loaded once per test session."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


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
