"""Fooling images by gradient ascent of a class's softmax probability (the authors' `find_fooling_image.py`),
for every chosen class at once: one image per class in one batch.

The authors work on mean-subtracted 0..255 images X = image - mean, start at X ~ N(0, 1) (noise of one grey
level around the mean image), clip image = X + mean into [0, 255] before each forward pass and decay
X *= 1 - decay after each step, which pulls the image towards the mean. Our models take pixels in [0, 1], so
the same thing is written around a reference image m (the model's per-channel normalisation mean, or black):
x starts at m + noise * N(0, 1) (noise 1/255 by default: the authors' one grey level), is clipped into [0, 1]
before every forward pass, steps along the gradient g of p = softmax(model(x))[class] by
min(0.03, 0.1 (1 - p)) / ||g||^2 * g (a first-order progress of that much probability; the ratio has the same
meaning in any pixel unit, so the authors' constants carry over), then decays x <- m + (1 - decay)(x - m) and,
optionally, is blurred every few steps. The first step at which p passes 99%, 99.9% and 99.99% is recorded.
"""
from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.control import RunControl
from ..core.params import Param, ParamSet
from ..models import LoadedModel
from ..transforms import gaussian_blur
from .archive import Archive, ChangedCells
from .evolution import FoolingStep, check_classes

MEAN, BLACK = "mean", "black"
THRESHOLDS = (0.99, 0.999, 0.9999)
# The authors' late_progress 0.1 (ImageNet) leaves the built-in digit model stalled just below 99.9% for one or two
# digits in some seeds: near the top, the decay's pull costs about as much probability as a step aims to gain.
# Measured, seeds 0-2, 300 steps: with 0.1, 28 of 30 digits reach 99.9% (the last at step 218); with 0.2, all 30
# do, by step 83.
MNIST_DEFAULTS = {"late_progress": 0.2}

FOOLING_ASCENT = ParamSet("fooling-ascent", (
    Param("steps", int, 300, "ascent steps", 1, 100_000),
    Param("decay", float, 0.01, "L2 decay towards the start image after each step (x -> m + (1 - decay)(x - m))",
          0.0, 1.0, below=True),
    Param("early_progress", float, 0.03, "the largest gain of probability a step aims for", 0.0, 1.0, above=True),
    Param("late_progress", float, 0.1, "near the top a step aims for this share of the probability still missing",
          0.0, 1.0, above=True),
    Param("start", str, MEAN, "the image the noise is added to and the decay pulls towards",
          choices=(MEAN, BLACK), titles=("the dataset mean", "black")),
    Param("noise", float, 1 / 255, "std of the Gaussian noise of the start image", 0.0, 1.0, unit="pixel"),
    Param("blur_sigma", float, 0.0, "Gaussian blur of this width every blur_every steps (0: off; the authors: "
          "0 or at least 0.3)", 0.0, 20.0, unit="px"),
    Param("blur_every", int, 1, "steps between two blurs", 1, 1000),
    Param("seed", int, 0, "seed of the start noise", 0, 2**31 - 1),
), domain_defaults={"mnist": MNIST_DEFAULTS}, summary="gradient ascent of a class's softmax probability")


@dataclass
class AscentResult:
    """The best image per class (an archive whose genomes are the images and `found` the step), and per
    threshold of THRESHOLDS the first step reaching it per class (-1: never)."""

    archive: Archive
    first_step: dict[float, np.ndarray]


def reference_image(model: LoadedModel, start: str) -> torch.Tensor:
    """(1, C, H, W): the model's per-channel normalisation mean (the mean of its data; mid-grey for a model
    that does not tell it), or black."""
    shape = (1, *model.input_shape)
    if start == BLACK:
        return torch.zeros(shape)
    mean = getattr(getattr(model.module, "normalize", None), "mean", None)
    if not isinstance(mean, torch.Tensor) or mean.numel() not in (1, shape[1]):
        return torch.full(shape, 0.5)
    return mean.detach().float().cpu().reshape(1, -1, 1, 1).expand(shape).clone()


def probability_and_gradient(model: LoadedModel, x: torch.Tensor, classes: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's softmax probability of its class, and its gradient with respect to that image."""
    with torch.enable_grad():  # grad mode is thread-local: set here, not by the caller
        x = x.detach().requires_grad_(True)
        probs = torch.softmax(model(x), dim=1).gather(1, classes.view(-1, 1)).squeeze(1)
        gradient, = torch.autograd.grad(probs.sum(), x)  # images do not interact: one backward for all
    return probs.detach(), gradient


def progress_step(probs: torch.Tensor, gradient: torch.Tensor, params: Mapping[str, Any]) -> torch.Tensor:
    """The authors' progress-based step: aim for min(early, late (1 - p)) more probability, lr = aim / ||g||^2."""
    aim = torch.minimum(torch.full_like(probs, params["early_progress"]), params["late_progress"] * (1 - probs))
    squared = gradient.flatten(1).pow(2).sum(1)
    lr = torch.where(squared > 0, aim / squared.clamp_min(torch.finfo(squared.dtype).tiny), torch.zeros_like(aim))
    return lr.view(-1, 1, 1, 1) * gradient


def fooling_ascent(model: LoadedModel, classes: Sequence[int], params: Mapping[str, Any] | None = None,
                   control: RunControl | None = None) -> Generator[FoolingStep, None, AscentResult]:
    """Ascend the probability of each of `classes` on its own image; yields a FoolingStep per step (its
    `generation` is the step) and returns the best image found per class with the steps each threshold was first
    reached. Stops after the current step when `control` asks."""
    params = FOOLING_ASCENT.resolve(dict(params or {}), domain=model.domain)
    classes = check_classes(model, classes)
    device = next(model.module.parameters()).device
    generator = torch.Generator().manual_seed(params["seed"])
    reference = reference_image(model, params["start"])
    x = reference + params["noise"] * torch.randn((len(classes), *model.input_shape), generator=generator)
    archive = Archive.empty(classes, model.input_shape)
    first = {threshold: torch.full((len(classes),), -1, dtype=torch.int64) for threshold in THRESHOLDS}
    targets, reference = classes.to(device), reference.to(device)
    x = x.to(device)
    started, frames = time.perf_counter(), ChangedCells()
    for step in range(params["steps"]):
        if control is not None and control.stop_requested:
            break
        x = x.clamp(0.0, 1.0)  # the models take pixels in [0, 1], as the authors crop to [0, 255]
        probs, gradient = probability_and_gradient(model, x, targets)
        improved = _record(archive, first, probs.cpu(), x.cpu(), step)
        x = reference + (1 - params["decay"]) * (x + progress_step(probs, gradient, params) - reference)
        if params["blur_sigma"] > 0 and step % params["blur_every"] == 0:
            x = gaussian_blur(x, params["blur_sigma"])
        yield _step(archive, probs, improved, step + 1, params["steps"], started, control, frames)
    archive.genomes = archive.images.clone()
    return AscentResult(archive, {threshold: steps.numpy() for threshold, steps in first.items()})


def _record(archive: Archive, first: dict[float, torch.Tensor], probs: torch.Tensor, x: torch.Tensor,
            step: int) -> int:
    """Keep each class's best image so far and the first step of each threshold; the classes improved."""
    better = probs > archive.confidence
    archive.confidence[better] = probs[better]
    archive.images[better] = x[better]
    archive.found[better] = step
    archive.generation = step
    for threshold, steps in first.items():
        steps[(steps < 0) & (probs > threshold)] = step
    archive.history.append(probs.numpy().astype(np.float32))
    return int(better.sum())


def _step(archive: Archive, probs: torch.Tensor, improved: int, done: int, steps: int, started: float,
          control: RunControl | None, frames: ChangedCells) -> FoolingStep:
    seconds = time.perf_counter() - started
    values = probs.cpu()
    due = control is not None and control.frame_due(final=done == steps)
    cells, images = frames.take(archive) if due else (None, None)
    return FoolingStep(done, steps, values.numpy().copy(), float(values.mean()), float(values.median()),
                       done / seconds if seconds > 0 else 0.0, improved, images, cells)
