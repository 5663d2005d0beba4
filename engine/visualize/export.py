"""Visualizations as files: each picture as a lossless PNG (small ones enlarged without smoothing, so that a
28-pixel digit or a 3x3 filter stays visible) and as a .npy array in pixel space [0, 1]."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid

from ..export import save_npy, save_png, to_uint8

MIN_PNG_SIDE = 224  # smaller pictures are enlarged by a whole factor up to this size


def save_picture(directory: str | Path, stem: str, picture_chw) -> list[Path]:
    """`stem.png` and `stem.npy` of a (C, H, W) picture in [0, 1]; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    picture = np.asarray(picture_chw.numpy() if isinstance(picture_chw, torch.Tensor) else picture_chw,
                         dtype=np.float32)
    factor = max(1, MIN_PNG_SIDE // max(picture.shape[1:]))
    enlarged = picture.repeat(factor, axis=1).repeat(factor, axis=2)
    save_npy(directory / f"{stem}.npy", picture)
    return [save_png(directory / f"{stem}.png", to_uint8(enlarged)), directory / f"{stem}.npy"]


def tile(pictures: Sequence | torch.Tensor, columns: int | None = None, padding: int = 1) -> torch.Tensor:
    """Pictures of one size (N, C, H, W) in a grid with white gaps, one channel kept as one channel."""
    batch = torch.as_tensor(np.asarray(pictures, dtype=np.float32))
    columns = columns or int(np.ceil(np.sqrt(len(batch))))
    grid = make_grid(batch, nrow=columns, padding=padding, pad_value=1.0)
    return grid[:1] if batch.shape[1] == 1 else grid
