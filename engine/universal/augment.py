"""The differentiable augmentations of the targeted universal image (seed 000): a perturbation that must survive
random flips, blurs and crops cannot lean on one pixel grid and becomes a picture of the class.

All of it runs batched: flip, crop and the bilinear resize back to the input size are one per-image affine
`grid_sample`; the blur is one depthwise convolution applied to a random half of the batch."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF


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
        x = _random_blur(x, options.max_sigma, generator)
    if options.flip or options.crop:
        x = _random_flip_and_crop(x, options, generator)
    return x


def _uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def _random_blur(x: torch.Tensor, max_sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Half of the images (on average) blurred with one sigma drawn for this batch."""
    chosen = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    if not chosen.any():
        return x
    sigma = float(_uniform(1, 0.1, max(max_sigma, 0.1), generator))
    blurred = TF.gaussian_blur(x, kernel_size=[5, 5], sigma=[sigma, sigma])
    return torch.where(chosen.view(-1, 1, 1, 1), blurred, x)


def _random_flip_and_crop(x: torch.Tensor, options: Augmentations, generator: torch.Generator) -> torch.Tensor:
    """Per image: mirror with p 0.5 and/or take a square of side s in [min_crop, 1] at a random place, sampled
    bilinearly back onto the full input grid (the crop and the resize in one step)."""
    count = len(x)
    side = _uniform(count, options.min_crop, 1.0, generator) if options.crop else torch.ones(count)
    # the crop's centre, in the [-1, 1] coordinates of grid_sample, keeping the square inside the image
    centre = (torch.rand(2, count, generator=generator) * 2 - 1) * (1 - side)
    mirror = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0) if options.flip \
        else torch.ones(count)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = side * mirror
    theta[:, 1, 1] = side
    theta[:, 0, 2] = centre[0]
    theta[:, 1, 2] = centre[1]
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
