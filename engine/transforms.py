"""Differentiable image transforms shared by every computation that needs them: Gaussian blur (ADef's smoothing
of its vector field, the regularizer of unit visualizations, an augmentation of targeted universal images),
jitter, and random flips and crops resized back to the input grid. All of them work on whole batches (N, C, H, W)
and let gradients through."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ZEROS, REFLECT = "zeros", "reflect"


def gaussian_kernel(sigma: float, radius: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """A normalised 1-D Gaussian of std `sigma` over -radius..radius."""
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int | None = None, padding: str = REFLECT) -> torch.Tensor:
    """Blur every channel of `x` separately with a Gaussian of std `sigma` pixels (the identity for sigma 0).

    `radius` defaults to int(4 sigma + 0.5). `padding`: REFLECT mirrors the border as torchvision's
    `gaussian_blur` does (for images); ZEROS treats the outside as 0 (for displacement fields, which vanish
    there), and allows kernels larger than the image."""
    if sigma <= 0:
        return x
    radius = int(4 * sigma + 0.5) if radius is None else radius
    kernel = gaussian_kernel(sigma, radius, x.dtype, x.device)
    n, c, h, w = x.shape
    flat = x.reshape(n * c, 1, h, w)
    if padding == REFLECT:
        flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
        flat = F.conv2d(flat, kernel.view(1, 1, 1, -1))
        flat = F.conv2d(flat, kernel.view(1, 1, -1, 1))
    elif padding == ZEROS:
        flat = F.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, radius))
        flat = F.conv2d(flat, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    else:
        raise ValueError(f"padding must be {ZEROS!r} or {REFLECT!r}, not {padding!r}")
    return flat.reshape(n, c, h, w)


def three_sigma_radius(sigma: float) -> int:
    """The kernel radius of Yosinski's blur regularizer: ceil(3 sigma), at least 1."""
    return max(1, math.ceil(3 * sigma))


def jitter(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """The batch shifted by one random offset of up to `max_shift` pixels each way, wrapping around."""
    if max_shift == 0:
        return x
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator)


def random_blur(x: torch.Tensor, max_sigma: float, generator: torch.Generator, radius: int = 2) -> torch.Tensor:
    """Half of the images (on average) blurred with one sigma in [0.1, max_sigma] drawn for this batch."""
    chosen = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    if not chosen.any():
        return x
    sigma = float(uniform(1, 0.1, max(max_sigma, 0.1), generator))
    blurred = gaussian_blur(x, sigma, radius=radius, padding=REFLECT)
    return torch.where(chosen.view(-1, 1, 1, 1), blurred, x)


def random_flip_and_crop(x: torch.Tensor, generator: torch.Generator, flip: bool = True,
                         min_crop: float | None = 0.8) -> torch.Tensor:
    """Per image: mirror with p 0.5 (when `flip`) and/or take a square of side s in [min_crop, 1] at a random
    place (None: no crop), sampled bilinearly back onto the full input grid: the crop and the resize are one
    per-image affine `grid_sample`."""
    count = len(x)
    side = uniform(count, min_crop, 1.0, generator) if min_crop is not None else torch.ones(count)
    # the crop's centre, in the [-1, 1] coordinates of grid_sample, keeping the square inside the image
    centre = (torch.rand(2, count, generator=generator) * 2 - 1) * (1 - side)
    mirror = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(count)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = side * mirror
    theta[:, 1, 1] = side
    theta[:, 0, 2] = centre[0]
    theta[:, 1, 2] = centre[1]
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
