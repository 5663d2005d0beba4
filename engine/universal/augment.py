"""The differentiable augmentations of the targeted universal image (seed 000): a perturbation that must survive
random flips, blurs and crops cannot lean on one pixel grid and becomes a picture of the class.

All of it runs batched: flip, crop and the bilinear resize back to the input size are one per-image affine
`grid_sample`; the blur is one depthwise convolution applied to a random half of the batch."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..transforms import random_blur, random_flip_and_crop


@dataclass(frozen=True)
class Augmentations:
    """Which augmentations are on, with the seed's ranges."""

    flip: bool = True  # random horizontal flip, p 0.5
    blur: bool = True  # Gaussian blur, p 0.5, kernel 5, sigma U[0.1, max_sigma]
    crop: bool = True  # a square of side U[min_crop, 1] of the image at a random place, resized back (bilinear)
    max_sigma: float = 3.0
    min_crop: float = 0.8

    @property
    def any(self) -> bool:
        return self.flip or self.blur or self.crop


def augment(x: torch.Tensor, options: Augmentations, generator: torch.Generator) -> torch.Tensor:
    """A randomly augmented copy of the batch `x` (N, C, H, W), differentiable with respect to `x`."""
    if options.blur:
        x = random_blur(x, options.max_sigma, generator)
    if options.flip or options.crop:
        x = random_flip_and_crop(x, generator, options.flip, options.min_crop if options.crop else None)
    return x
