"""The whole image set never goes through the model, nor onto its device, at once: a folder of thousands of
ImageNet pictures would exhaust GPU memory. The images stay where they are (the CPU); the clean predictions, the
rates after each pass and the final scores are computed `EVAL_BATCH` images at a time, and the loops move only
their chunk to the device."""
from __future__ import annotations

import torch

from ..attacks.base import prepare_inputs
from ..core.errors import ParameterError

EVAL_BATCH = 256  # images per forward pass without gradients (clean predictions, rates, final scores)


def clean_inputs(model, images: torch.Tensor, labels, target
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """`prepare_inputs` one batch at a time: the images as float32 where they are, the labels to attack away
    from (the clean prediction unless given), the per-image target (or None) and the clean probabilities, all
    on the CPU."""
    images = model.pixel_batch(images)  # checked once, before it is cut into chunks
    labels, target = _per_image(labels, len(images), "label"), _per_image(target, len(images), "target")
    parts = [prepare_inputs(model, images[chunk], None if labels is None else labels[chunk],
                            None if target is None else target[chunk])
             for chunk in torch.arange(len(images)).split(EVAL_BATCH)]
    targets = None if target is None else torch.cat([part[2].cpu() for part in parts])
    return (images, torch.cat([part[1].cpu() for part in parts]), targets,
            torch.cat([part[3].cpu() for part in parts]))


def _per_image(value, count: int, what: str) -> torch.Tensor | None:
    """One value per image (a single one repeated), so that each batch takes its share."""
    if value is None:
        return None
    tensor = torch.as_tensor(value).flatten()
    if tensor.numel() == 1:
        return tensor.expand(count)
    if tensor.numel() != count:
        raise ParameterError(f"{what}s: expected 1 or {count} values, got {tensor.numel()}")
    return tensor
