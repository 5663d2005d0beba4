"""Where the network looks: image-specific saliency (Simonyan et al. 2013), deconvnet (Zeiler & Fergus 2014) and
guided backpropagation (Springenberg et al. 2015), for the predicted class or a chosen one, batched.

All three send the class score `S_c` (a logit, before the softmax) back to the pixels; they differ only in what
a ReLU lets through on the way back:

    plain gradient   g * [input > 0]
    deconvnet        g * [g > 0]
    guided backprop  g * [input > 0] * [g > 0]

The last two give every ReLU module that rule for the duration of the call, in the calling thread only
(`relus_replaced`), which copes with torchvision's habits: one ReLU module called several times per block, and
in-place ReLUs. ReLUs called as functions inside a `forward` (F.relu) are not modules and keep their plain
gradient; `GradientMaps.swapped` says how many were given the rule, and a network without ReLU modules is
refused.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core.errors import ParameterError
from ..models import LoadedModel
from .layers import network, rules_in_this_thread

SALIENCY, DECONVNET, GUIDED = "saliency", "deconvnet", "guided-backprop"
METHODS = (SALIENCY, DECONVNET, GUIDED)


class _RuleReLU(torch.autograd.Function):
    """ReLU forward; backward by the deconvnet rule, or the guided one when `guided`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, guided: bool) -> torch.Tensor:
        ctx.guided = guided
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        passed = grad.clamp(min=0)
        if ctx.guided:
            passed = passed * (x > 0)
        return passed, None


@contextlib.contextmanager
def relus_replaced(module: nn.Module, method: str) -> Iterator[int]:
    """Every ReLU module of `module` computes its output with the backward of `method` (deconvnet or guided
    backprop), in this thread only and until exit; yields how many. The module tree is never changed."""
    if method not in (DECONVNET, GUIDED):
        raise ParameterError(f"ReLUs are replaced for {DECONVNET} or {GUIDED}, not {method!r}")
    guided = method == GUIDED

    def rule(child: nn.Module):
        return (lambda x, _output: _RuleReLU.apply(x, guided)) if isinstance(child, nn.ReLU) else None

    with rules_in_this_thread(module, rule) as count:
        yield count


@dataclass
class GradientMaps:
    """The input gradient of each image's class score, (N, C, H, W) on the CPU, by `method`."""

    method: str
    gradients: torch.Tensor
    classes: torch.Tensor  # (N,) the class whose score was sent back
    scores: torch.Tensor  # (N,) that class's logit
    swapped: int = 0  # ReLU modules replaced (deconvnet, guided backprop)
    notes: list[str] = field(default_factory=list)

    @property
    def saliency(self) -> torch.Tensor:
        """Simonyan's map (N, H, W): the largest absolute gradient over the colour channels."""
        return self.gradients.abs().amax(dim=1)


def class_indices(model: LoadedModel, images: torch.Tensor, target: int | Sequence[int] | None) -> torch.Tensor:
    """The class per image: the model's prediction when `target` is None, else the given one(s)."""
    if target is None:
        _, predicted = model.predict(images)
        return predicted
    classes = torch.as_tensor(target, dtype=torch.long).flatten()
    if classes.numel() == 1:
        classes = classes.expand(len(images))
    if classes.numel() != len(images):
        raise ParameterError(f"targets: expected 1 or {len(images)} classes, got {classes.numel()}")
    if classes.min() < 0 or classes.max() >= model.num_classes:
        raise ParameterError(f"target must be a class index in 0..{model.num_classes - 1}")
    return classes.clone()


def check_images(model: LoadedModel, images: torch.Tensor) -> torch.Tensor:
    """The images (one, or a batch) checked for `model` and on its device."""
    return model.pixel_batch(images, single_allowed=True).to(model.device)


def gradient_maps(model: LoadedModel, images: torch.Tensor, method: str = SALIENCY,
                  target: int | Sequence[int] | None = None) -> GradientMaps:
    """One forward and one backward pass for the whole batch: the scores are independent per image (eval
    mode), so the gradient of their sum holds each image's own gradient."""
    if method not in METHODS:
        raise ParameterError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    x = check_images(model, images).requires_grad_(True)
    classes = class_indices(model, x, target).to(model.device)
    replaced = relus_replaced(network(model), method) if method != SALIENCY else contextlib.nullcontext(0)
    with torch.enable_grad(), replaced as swapped:
        if method != SALIENCY and swapped == 0:
            raise ParameterError(f"{method} needs ReLU modules, and {model.name} has none")
        scores = model(x).gather(1, classes[:, None])[:, 0]
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return GradientMaps(method, grad.detach().cpu(), classes.cpu(), scores.detach().cpu(), swapped)


def all_gradient_maps(model: LoadedModel, images: torch.Tensor, target: int | Sequence[int] | None = None,
                      methods: Sequence[str] = METHODS):
    """Each method's maps in turn, as a computation with one step per method (for the front doors)."""
    results = {}
    for index, method in enumerate(methods):
        results[method] = gradient_maps(model, images, method, target)
        yield index + 1, len(methods)
    return results


# --- pictures of the maps --------------------------------------------------------------------------------------

def map_picture(maps: GradientMaps, index: int) -> np.ndarray:
    """A (C, H, W) picture in [0, 1] of image `index`'s map: the saliency as grey from 0 to its maximum; a
    deconvnet or guided gradient around mid-grey, each channel scaled by the largest absolute value."""
    if maps.method == SALIENCY:
        heat = maps.saliency[index].numpy()
        return (heat / max(float(heat.max()), 1e-12))[None].astype(np.float32)
    gradient = maps.gradients[index].numpy()
    peak = max(float(np.abs(gradient).max()), 1e-12)
    return (0.5 + 0.5 * gradient / peak).astype(np.float32)


def overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.7) -> np.ndarray:
    """The image in grey with `heat` (H, W in [0, 1]) laid over it in red-yellow: (3, H, W) in [0, 1]."""
    grey = image.mean(axis=0) if image.shape[0] > 1 else image[0]
    base = np.stack([grey] * 3) * (1 - strength * heat)
    hot = np.stack([np.ones_like(heat), heat, np.zeros_like(heat)])  # red rising to yellow
    return np.clip(base + strength * heat * hot, 0, 1).astype(np.float32)


def magnitude(picture: np.ndarray, method: str) -> np.ndarray:
    """(H, W) in [0, 1] of what a picture from `map_picture` shows, for `overlay`."""
    if method == SALIENCY:
        return picture[0]
    strength = np.abs(picture - 0.5).max(axis=0) * 2
    return strength / max(float(strength.max()), 1e-12)
