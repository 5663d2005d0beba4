"""The one check of images handed to the engine from Python: shape, type and pixel range, with what to do."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .errors import ParameterError

PIXEL_TOLERANCE = 1e-5  # float noise of a resize or a sum is not a user's mistake


def checked_pixels(images, input_shape: Sequence[int], single_allowed: bool = False) -> torch.Tensor:
    """`images` as input for a model of `input_shape`: a tensor (or NumPy array) N x C x H x W, floating point,
    finite, in pixel space [0, 1]; ParameterError saying what is wrong otherwise. Returned detached, as float32,
    where it was. With `single_allowed` one C x H x W image is taken as a batch of one."""
    shape = "x".join(map(str, input_shape))
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise ParameterError(f"images must be a tensor N x {shape} in [0, 1], not {type(images).__name__} "
                             "(engine.data.load_images reads files)")
    if single_allowed and images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or tuple(images.shape[1:]) != tuple(input_shape):
        raise ParameterError(f"images must have shape N x {shape}, got {tuple(images.shape)}")
    if len(images) == 0:
        raise ParameterError("no images given")
    if not images.is_floating_point():
        raise ParameterError(f"images must be floating point in [0, 1], not {images.dtype} (divide 8-bit pixels "
                             "by 255)")
    images = images.detach().to(dtype=torch.float32)
    low, high = torch.aminmax(images)
    if not (torch.isfinite(low) and torch.isfinite(high)):
        raise ParameterError("images hold NaN or infinite values")
    if low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
        raise ParameterError(f"images must be pixels in [0, 1] (the model normalises them itself), found values "
                             f"in [{float(low):.3g}, {float(high):.3g}]")
    return images
