"""Images made by gradient ascent on the input: class models (Simonyan et al. 2013), unit visualization with the
regularizers of Yosinski et al. (2015), and DeepDream (Mordvintsev et al. 2015).

One loop serves all three; only the objective and the start differ. Each step moves the image along the
gradient normalized by its mean absolute value, so `lr` is the mean change of a pixel per step in pixel units,
whatever the network's gradient scale. The papers work on 0..255 mean-subtracted images: DeepDream's step of
1.5 grey levels is `1.5 / 255` here, Yosinski's blur widths are in pixels either way, and Simonyan's penalty is
on the distance to the reference image (black or the dataset mean) in [0, 1] units. After every step the
regularizers that are switched on (strength > 0) act, and the image is clamped to [0, 1].
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from ..core import Declared, Param, ParamSet
from ..core.errors import ParameterError
from ..models import LoadedModel
from ..transforms import gaussian_blur, jitter, three_sigma_radius
from .gradients import check_images, class_indices
from .layers import THRESHOLD_ACTIVATIONS, activations, check_channel, find_layer, layer_info
from .steps import RunControl, VisStep, frame_due, stop_requested

CLASS_MODEL, UNIT, DEEPDREAM = "class-model", "unit", "deepdream"
ZERO, MEAN = "zero", "mean"


ASCENT_PARAMS = (
    Param("steps", int, 200, "ascent steps", 1, 100_000),
    Param("lr", float, 0.01, "mean change of a pixel per step", 0.0, 1.0, unit="pixel"),
    Param("l2", float, 0.0, "Simonyan's lambda: penalty on ||x - reference||^2 (0: off)", 0.0, 100.0),
    Param("decay", float, 0.0, "Yosinski's L2 decay towards the reference after each step (0: off)", 0.0, 1.0,
          below=True),
    Param("blur_sigma", float, 0.0, "Gaussian blur of this width every blur_every steps (0: off)", 0.0, 20.0,
          unit="px"),
    Param("blur_every", int, 4, "steps between two blurs", 1, 1000),
    Param("norm_percentile", float, 0.0, "pixels closer to the reference than this percentile are reset (0: off)",
          0.0, 100.0, below=True, unit="%"),
    Param("contribution_percentile", float, 0.0, "pixels contributing less than this percentile are reset "
          "(0: off)", 0.0, 100.0, below=True, unit="%"),
    Param("jitter", int, 0, "random shift (with wrap-around) before each forward pass", 0, 256, unit="px"),
    Param("start", str, ZERO, "the reference image: black, or the dataset mean", choices=(ZERO, MEAN)),
    Param("noise", float, 0.0, "uniform noise of this amplitude added to the start", 0.0, 1.0, unit="pixel"),
    Param("seed", int, 0, "seed of the start noise and the jitter", 0, 2**31 - 1),
)


@dataclass(frozen=True)
class AscentSettings(Declared):
    """Steps, step size and the regularizers (declared in `ASCENT_PARAMS`); a strength of 0 switches a
    regularizer off.

    l2: Simonyan's lambda, the objective is `score - l2 * ||x - reference||^2`.
    decay: Yosinski's L2 decay, `x <- reference + (1 - decay) (x - reference)` after each step.
    blur_sigma, blur_every: a Gaussian blur of this width (pixels) every so many steps.
    norm_percentile: pixels whose distance to the reference (over channels) is below this percentile of the
        image's are set to the reference.
    contribution_percentile: the same for each pixel's contribution `|sum_c (x - reference) * grad|`.
    jitter: the image is shifted by up to this many pixels (at random, with wrap-around) before each forward pass.
    """

    PARAMS: ClassVar[ParamSet] = ParamSet("ascent", ASCENT_PARAMS)

    steps: int = 200
    lr: float = 0.01
    l2: float = 0.0
    decay: float = 0.0
    blur_sigma: float = 0.0
    blur_every: int = 4
    norm_percentile: float = 0.0
    contribution_percentile: float = 0.0
    jitter: int = 0
    start: str = ZERO
    noise: float = 0.0
    seed: int = 0


def _per_kind(kind: str, summary: str, imagenet: dict, mnist: dict) -> ParamSet:
    """The ascent parameters with `kind`'s defaults: ImageNet's as the declared ones, MNIST's beside them."""
    params = tuple(dataclasses.replace(p, default=imagenet.get(p.name, p.default)) for p in ASCENT_PARAMS)
    return ParamSet(kind, params, {"mnist": mnist, "imagenet": imagenet}, summary=summary)


# Defaults per kind and domain. MNIST's tiny images want little blur and jitter; ImageNet's take the papers'.
ASCENT_KINDS: dict[str, ParamSet] = {
    CLASS_MODEL: _per_kind(CLASS_MODEL, "an image raising one class's logit (Simonyan et al. 2013)",
                           imagenet=dict(steps=200, lr=2 / 255, l2=0.001, start=MEAN, jitter=8),
                           mnist=dict(steps=150, lr=0.01, l2=0.01, start=ZERO, jitter=0)),
    UNIT: _per_kind(UNIT, "an image raising one channel's mean activation (Yosinski et al. 2015)",
                    imagenet=dict(steps=200, lr=2 / 255, decay=0.0001, blur_sigma=1.0, blur_every=4, jitter=8,
                                  start=MEAN, noise=0.05),
                    mnist=dict(steps=200, lr=0.01, decay=0.001, blur_sigma=0.5, blur_every=8, jitter=1,
                               start=MEAN, noise=0.05)),
    DEEPDREAM: _per_kind(DEEPDREAM, "real images amplifying what a layer sees (Mordvintsev et al. 2015)",
                         imagenet=dict(steps=40, lr=1.5 / 255, jitter=16),
                         mnist=dict(steps=100, lr=0.01, jitter=1)),
}


def ascent_params(kind: str) -> ParamSet:
    if kind not in ASCENT_KINDS:
        raise ParameterError(f"unknown kind {kind!r}; use one of {', '.join(ASCENT_KINDS)}")
    return ASCENT_KINDS[kind]


def settings_domain(model: LoadedModel) -> str:
    return "mnist" if model.domain == "mnist" else "imagenet"


def default_settings(kind: str, model: LoadedModel) -> AscentSettings:
    return AscentSettings.from_values(domain=settings_domain(model), params=ascent_params(kind))


def resolve_settings(kind: str, model: LoadedModel, settings: AscentSettings | None, changes: dict) -> AscentSettings:
    base = settings if settings is not None else default_settings(kind, model)
    return AscentSettings(**ascent_params(kind).resolve(changes, base=base.values()))


@dataclass
class AscentResult:
    """The images made (N, C, H, W) in [0, 1] on the CPU, where they started, the score per step
    (steps, N), and the model's softmax on the final images."""

    kind: str
    images: torch.Tensor
    start: torch.Tensor
    scores: np.ndarray
    final_scores: np.ndarray
    probs: torch.Tensor
    settings: AscentSettings
    targets: torch.Tensor | None = None  # class models: the class per image
    seconds: float = 0.0
    stopped: bool = False
    notes: dict = field(default_factory=dict)


# --- the three objectives --------------------------------------------------------------------------------------

def class_model(model: LoadedModel, targets: int | Sequence[int], settings: AscentSettings | None = None,
                control: RunControl | None = None, **changes) -> Generator[VisStep, None, AscentResult]:
    """One image per target class, from the reference image, raising the class's logit `S_c`."""
    settings = resolve_settings(CLASS_MODEL, model, settings, changes)
    classes = torch.as_tensor(targets, dtype=torch.long).flatten()
    if classes.numel() == 0:
        raise ParameterError("no target class given")
    reference = _reference(model, settings, len(classes))
    classes = class_indices(model, reference, classes).to(model.device)

    def logit(x: torch.Tensor) -> torch.Tensor:
        return model(x).gather(1, classes[:, None])[:, 0]

    result = yield from _ascend(CLASS_MODEL, model, reference, reference, logit, settings, control)
    result.targets = classes.cpu()
    return result


def unit_objective(model: LoadedModel, layer: str, channel: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The mean activation of one channel of a feature map (or one unit of a vector), per image. For a ReLU
    layer, the mean of its input: the same quantity without the floor at zero, whose gradient does not vanish
    on a unit that is silent on the start image (raising it raises the ReLU's output too)."""
    check_channel(layer_info(model, layer), channel)
    module = find_layer(model, layer)
    before_floor = isinstance(module, THRESHOLD_ACTIVATIONS)

    def mean_activation(x: torch.Tensor) -> torch.Tensor:
        selected = activations(model, module, x, layer_input=before_floor)[:, channel]
        return selected.flatten(1).mean(dim=1) if selected.dim() > 1 else selected

    return mean_activation


def unit_visualization(model: LoadedModel, layer: str, channel: int, settings: AscentSettings | None = None,
                       control: RunControl | None = None, count: int = 1, **changes
                       ) -> Generator[VisStep, None, AscentResult]:
    """`count` images (different random starts) raising a channel's mean activation."""
    settings = resolve_settings(UNIT, model, settings, changes)
    objective = unit_objective(model, layer, channel)
    reference = _reference(model, settings, count)
    start = _noisy(reference, settings)
    result = yield from _ascend(UNIT, model, start, reference, objective, settings, control)
    result.notes.update(layer=layer, channel=channel)
    return result


def deepdream(model: LoadedModel, images: torch.Tensor, layer: str, settings: AscentSettings | None = None,
              control: RunControl | None = None, **changes) -> Generator[VisStep, None, AscentResult]:
    """Amplify whatever a layer sees in real images: ascend the mean square of its activation."""
    settings = resolve_settings(DEEPDREAM, model, settings, changes)
    images = check_images(model, images)
    layer_info(model, layer)
    module = find_layer(model, layer)

    def energy(x: torch.Tensor) -> torch.Tensor:
        return activations(model, module, x).flatten(1).pow(2).mean(dim=1)

    result = yield from _ascend(DEEPDREAM, model, images, images, energy, settings, control)
    result.notes.update(layer=layer)
    return result


# --- the loop ----------------------------------------------------------------------------------------------------

def _reference(model: LoadedModel, settings: AscentSettings, count: int) -> torch.Tensor:
    """Black, or the dataset mean that the model's `Normalize` subtracts (Simonyan's zero image)."""
    shape = (count, *model.input_shape)
    if settings.start == ZERO:
        return torch.zeros(shape, device=model.device)
    return model.module.normalize.mean.to(model.device).expand(shape).clone()


def _noisy(reference: torch.Tensor, settings: AscentSettings) -> torch.Tensor:
    generator = torch.Generator().manual_seed(settings.seed)
    noise = (torch.rand(reference.shape, generator=generator) - 0.5) * 2 * settings.noise
    return (reference + noise.to(reference.device)).clamp(0, 1)


def _ascend(kind: str, model: LoadedModel, start: torch.Tensor, reference: torch.Tensor,
            objective: Callable[[torch.Tensor], torch.Tensor], settings: AscentSettings,
            control: RunControl | None) -> Generator[VisStep, None, AscentResult]:
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(settings.seed)
    x = start.detach().clone()
    history, stopped = [], False
    for iteration in range(1, settings.steps + 1):
        if stop_requested(control):
            stopped = True
            break
        variable = x.clone().requires_grad_(True)
        with torch.enable_grad():
            score = objective(jitter(variable, settings.jitter, generator))
            (grad,) = torch.autograd.grad(score.sum(), variable)
        with torch.no_grad():
            x = _step(x, reference, grad, settings, iteration)
        history.append(score.detach().float().cpu().numpy().copy())
        frame = x.cpu().numpy().copy() if frame_due(control, final=iteration == settings.steps) else None
        yield VisStep(iteration, settings.steps, history[-1], frame)
    with torch.no_grad():
        final_scores = objective(x).float().cpu().numpy()
    probs, _ = model.predict(x)
    scores = np.stack(history) if history else np.zeros((0, len(x)), np.float32)
    return AscentResult(kind, x.cpu(), start.detach().cpu(), scores, final_scores, probs, settings,
                        seconds=time.perf_counter() - started, stopped=stopped)


def _step(x: torch.Tensor, reference: torch.Tensor, grad: torch.Tensor, settings: AscentSettings,
          iteration: int) -> torch.Tensor:
    """One normalized ascent step on `score - l2 ||x - reference||^2`, then the regularizers, then [0, 1]."""
    offset = x - reference
    ascent = grad - 2 * settings.l2 * offset
    scale = ascent.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    x = x + settings.lr * ascent / scale
    if settings.decay:
        x = reference + (1 - settings.decay) * (x - reference)
    if settings.blur_sigma and iteration % settings.blur_every == 0:
        x = gaussian_blur(x, settings.blur_sigma, radius=three_sigma_radius(settings.blur_sigma))
    if settings.norm_percentile:
        x = _reset_weakest(x, reference, (x - reference).norm(dim=1), settings.norm_percentile)
    if settings.contribution_percentile:
        contribution = ((x - reference) * grad).sum(dim=1).abs()
        x = _reset_weakest(x, reference, contribution, settings.contribution_percentile)
    return x.clamp(0, 1)


def _reset_weakest(x: torch.Tensor, reference: torch.Tensor, strength: torch.Tensor, percentile: float
                   ) -> torch.Tensor:
    """Pixels whose `strength` (N, H, W) is below the image's `percentile` go back to the reference."""
    threshold = torch.quantile(strength.flatten(1), percentile / 100, dim=1)
    weak = (strength < threshold[:, None, None])[:, None]
    return torch.where(weak, reference, x)
