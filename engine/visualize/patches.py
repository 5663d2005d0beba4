"""Maximally activating patches (Zeiler & Fergus 2014; Girshick et al. 2014): run a dataset through the network,
keep the k images on which one channel of a layer responds most, each with the position of its strongest
response, and crop that position's receptive field from the image.

Each image contributes at most one patch, at its strongest position, so that the k patches show k different
images rather than neighbouring positions of one. The top k is kept while the dataset streams through
(`torch.topk` over the running best and each new batch), so memory does not grow with the dataset.
"""
from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core import Param, ParamSet
from ..models import LoadedModel
from .gradients import check_images
from .layers import ReceptiveField, activations, check_channel, find_layer, layer_info, receptive_field
from .steps import RunControl, VisStep, frame_due, stop_requested

PATCH_PARAMS = ParamSet("patches", (
    Param("k", int, 9, "how many patches", 1, 1000),
    Param("batch_size", int, 64, "images per forward pass", 1, 4096),
), summary="the image patches that raise a channel most (receptive-field crops)")


@dataclass
class TopPatches:
    """The k strongest images, best first: activation `values`, `image_indices` into the dataset, the
    `positions` (row, col) in the layer's map ((0, 0) for a layer without positions), and the `crops`
    (k, C, size_h, size_w) of the receptive field, zero where the field reaches past the image."""

    layer: str
    channel: int
    values: torch.Tensor
    image_indices: torch.Tensor
    positions: torch.Tensor
    crops: torch.Tensor
    field: ReceptiveField
    images_seen: int
    seconds: float = 0.0
    stopped: bool = False

    @property
    def never_fires(self) -> bool:
        """The channel's strongest response over every image seen is at most 0 (a ReLU's output is 0 everywhere,
        or the activation before it is negative everywhere). The top k are then ties at 0 or the least
        negative responses, and their patches show nothing the channel responds to."""
        return never_fires(self.values)


def never_fires(values) -> bool:
    """Whether the best activations found so far (a tensor or an array, best first) are all at most 0."""
    return len(values) > 0 and float(values.max()) <= 0


def crop_field(image: torch.Tensor, field: ReceptiveField, row: int, col: int) -> torch.Tensor:
    """The (C, size_h, size_w) receptive field of position (row, col) in `image`, padded with zeros."""
    top, left, height, width = field.box(row, col)
    _, image_h, image_w = image.shape
    padded = F.pad(image, (max(0, -left), max(0, left + width - image_w), max(0, -top), max(0, top + height - image_h)))
    top, left = max(0, top), max(0, left)
    return padded[:, top: top + height, left: left + width]


def _strongest_positions(channel_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the largest value of a (B, H, W) map (or a (B,) unit) and its (row, col)."""
    if channel_map.dim() == 1:
        return channel_map, torch.zeros(len(channel_map), 2, dtype=torch.long, device=channel_map.device)
    flat = channel_map.flatten(1)
    values, where = flat.max(dim=1)
    width = channel_map.shape[2]
    return values, torch.stack([where // width, where % width], dim=1)


def max_activating_patches(model: LoadedModel, images: torch.Tensor, layer: str, channel: int, k: int = 9,
                           batch_size: int = 64, control: RunControl | None = None
                           ) -> Generator[VisStep, None, TopPatches]:
    """Yields after every batch (with the crops found so far when a frame is due); returns the top k."""
    PATCH_PARAMS.resolve({"k": k, "batch_size": batch_size})
    images = check_images(model, images).cpu()
    info = layer_info(model, layer)
    check_channel(info, channel)
    module = find_layer(model, layer)
    field = receptive_field(model, layer)
    started = time.perf_counter()
    best_values = torch.empty(0)
    best_indices = torch.empty(0, dtype=torch.long)
    best_positions = torch.empty(0, 2, dtype=torch.long)
    total = (len(images) + batch_size - 1) // batch_size
    stopped, seen = False, 0
    for number, first in enumerate(range(0, len(images), batch_size), start=1):
        if stop_requested(control):
            stopped = True
            break
        with torch.no_grad():
            batch = images[first: first + batch_size].to(model.device)
            values, positions = _strongest_positions(activations(model, module, batch)[:, channel].float())
        values = torch.cat([best_values, values.cpu()])
        indices = torch.cat([best_indices, torch.arange(first, first + len(batch))])
        positions = torch.cat([best_positions, positions.cpu()])
        best_values, keep = torch.topk(values, min(k, len(values)))
        best_indices, best_positions = indices[keep], positions[keep]
        seen += len(batch)
        crops = None
        if frame_due(control, final=number == total):
            crops = _crops(images, best_indices, best_positions, field).numpy().copy()
        yield VisStep(number, total, best_values.numpy().copy(), crops,
                      best_values.numpy().copy() if crops is not None else None)
    return TopPatches(layer, channel, best_values, best_indices, best_positions,
                      _crops(images, best_indices, best_positions, field), field, seen,
                      time.perf_counter() - started, stopped)


def _crops(images: torch.Tensor, indices: torch.Tensor, positions: torch.Tensor, field: ReceptiveField
           ) -> torch.Tensor:
    crops = [crop_field(images[i], field, int(row), int(col)) for i, (row, col) in zip(indices.tolist(), positions)]
    if not crops:
        return torch.empty(0, images.shape[1], *field.size)
    return torch.stack(crops)
