"""The first convolution's weights as pictures: the only layer whose filters live in pixel space."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.utils import make_grid

from ..core.errors import ParameterError
from ..models import LoadedModel
from .layers import network


@dataclass
class FilterGrid:
    """`tiles` (out, C, kh, kw) each scaled to [0, 1] by its own range; `grid` (C, H, W) lays them out."""

    layer: str
    tiles: torch.Tensor
    grid: torch.Tensor
    columns: int


def first_conv(model: LoadedModel) -> tuple[str, nn.Conv2d]:
    for name, module in network(model).named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ParameterError(f"{model.name} has no 2-D convolution whose filters could be shown")


def first_layer_filters(model: LoadedModel, padding: int = 1) -> FilterGrid:
    """RGB tiles for a colour input, grey tiles otherwise (a first layer on other channel counts is shown as
    the mean over its input channels). Each tile is stretched to its own range, as in the CS231n figures."""
    name, conv = first_conv(model)
    weights = conv.weight.detach().float().cpu()
    if weights.shape[1] not in (1, 3):
        weights = weights.mean(dim=1, keepdim=True)
    low = weights.amin(dim=(1, 2, 3), keepdim=True)
    high = weights.amax(dim=(1, 2, 3), keepdim=True)
    tiles = (weights - low) / (high - low).clamp_min(1e-12)
    columns = math.ceil(math.sqrt(len(tiles)))
    grid = make_grid(tiles, nrow=columns, padding=padding, pad_value=1.0)
    if tiles.shape[1] == 1:
        grid = grid[:1]  # make_grid repeats one channel to three
    return FilterGrid(name, tiles, grid, columns)
