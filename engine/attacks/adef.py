"""ADef: adversarial deformations (Alaifari, Alberti, Gauksson, ICLR 2019).

Instead of adding a perturbation, move pixels: `x_tau(s) = x(s + tau(s))` for a smooth field `tau` of 2-vectors in
pixels (component 0 along the width, 1 along the height). Each iteration linearises the logit difference in the
field, `f(x_tau) ~ f + <alpha, tau>` with `alpha = grad f . grad x`, and takes the smallest smoothed step that
zeroes it, for every candidate class; the candidate with the smallest `||tau||_T = max_s |tau(s)|` wins. The image
is always warped from the original with the accumulated field."""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from ..core.errors import ParameterError
from ..transforms import ZEROS, gaussian_blur
from .base import (BATCH_SIZE, AttackSpec, Param, PerImageLoop, RunControl, finish, logit_margin,
                   logits_in_batches, make_step, prepare_inputs, register)
from .criteria import Criterion, OneOfClasses, criterion_for

PRESETS = {
    "mnist": {"candidates": 9, "sigma": 0.5, "overshoot": 1.2, "max_iter": 100},
    "imagenet": {"candidates": 1, "sigma": 1.0, "overshoot": 1.1, "max_iter": 100},
}


# --- parts -----------------------------------------------------------------------------------------------------

def warp(images: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """x(s + tau(s)) by bilinear interpolation, border values outside the image. images (N,C,H,W), field
    (N,2,H,W) in pixels."""
    _, _, height, width = images.shape
    rows = torch.arange(height, dtype=images.dtype, device=images.device).view(1, height, 1)
    cols = torch.arange(width, dtype=images.dtype, device=images.device).view(1, 1, width)
    grid_x = 2 * (cols + field[:, 0]) / max(width - 1, 1) - 1
    grid_y = 2 * (rows + field[:, 1]) / max(height - 1, 1) - 1
    grid = torch.stack([grid_x, grid_y], dim=-1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def image_gradient(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(d/dwidth, d/dheight) per channel: central differences inside, one-sided on the first/last row and column."""
    d_height, d_width = torch.gradient(images, dim=(-2, -1))
    return d_width, d_height


def smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of each component separately, zero padding (a field vanishes outside the image); the
    identity for sigma 0."""
    return gaussian_blur(field, sigma, padding=ZEROS)


def field_norm(field: torch.Tensor) -> torch.Tensor:
    """||tau||_T: the largest displacement length over all pixels, per image."""
    # Written out: torch's norm over a dimension of size 2 is an order of magnitude slower on the CPU.
    return (field[:, 0].square() + field[:, 1].square()).sqrt().flatten(1).amax(dim=1)


def deformation_step(f: torch.Tensor, alpha: torch.Tensor, sigma: float) -> torch.Tensor:
    """The smoothed minimal step zeroing the linearised `f`: -f S(a) / ||a||^2 with a = S(alpha)."""
    a = smooth(alpha, sigma)
    energy = a.pow(2).flatten(1).sum(dim=1).clamp_min(1e-20)
    return (-f / energy).view(-1, 1, 1, 1) * smooth(a, sigma)


def candidate_ranks(logits: torch.Tensor, count: int, first_rank: int = 1) -> torch.Tensor:
    """(N, count): the classes ranked first_rank..first_rank+count-1 by the clean logits (rank 0 is the predicted
    label), cut at the last class."""
    if not 1 <= first_rank < logits.shape[1]:
        raise ParameterError(f"first_rank must be in 1..{logits.shape[1] - 1} for {logits.shape[1]} classes")
    return logits.argsort(dim=1, descending=True)[:, first_rank: first_rank + count]


# --- the attack ------------------------------------------------------------------------------------------------

def adef(model, images, labels=None, *, target=None, control: RunControl | None = None, candidates=1,
         first_rank=1, rank_targeted=False, sigma=1.0, overshoot=1.1, max_iter=100, max_norm=math.inf,
         preset=None, batch_size=BATCH_SIZE):
    """ADef over the candidate classes ranked first_rank.. first_rank+candidates-1 by the clean image: untargeted
    (any class but the label counts), targeted at those ranks (`rank_targeted`: only a candidate counts, and the
    result's `target` is the (N, K) set of them), or targeted at one class. Adds `field` (N,2,H,W pixels) and
    `field_norm` (N,) to the result. At most `batch_size` images go through the model at once."""
    if sigma < 0 or overshoot < 1 or max_norm <= 0:
        raise ParameterError("sigma must be >= 0, overshoot >= 1 and max_norm > 0")
    if rank_targeted and target is not None:
        raise ParameterError("give either a target class or rank_targeted, not both")
    params = {"candidates": candidates, "first_rank": first_rank, "rank_targeted": rank_targeted, "sigma": sigma,
              "overshoot": overshoot, "max_iter": max_iter, "max_norm": max_norm}
    started = time.perf_counter()
    x0, labels, target, probs0 = prepare_inputs(model, images, labels, target, batch_size)
    logits_now = logits_in_batches(model, x0, batch_size)
    classes = candidate_ranks(logits_now, candidates, first_rank) if target is None else target[:, None]
    criterion = OneOfClasses(classes, first_rank) if rank_targeted else criterion_for(labels, target)
    n, _, height, width = x0.shape
    tau = x0.new_zeros(n, 2, height, width)
    steps_used = torch.zeros(n, dtype=torch.long, device=x0.device)
    loop = PerImageLoop(max_iter, ~_reached(logits_now, criterion), control)
    x = x0
    with torch.enable_grad():
        for iteration, index in loop:
            for part in index.split(batch_size):
                tau[part] = _best_candidate_field(model, warp(x0[part], tau[part]), tau[part], labels[part],
                                                  classes[part], sigma, targeted=criterion.targeted)
            steps_used[index] += 1
            x = warp(x0, tau)
            logits_now[index] = logits_in_batches(model, x[index], batch_size)
            done = _reached(logits_now[index], criterion[index])
            loop.active[index] = ~done & (field_norm(tau[index]) <= max_norm)
            yield loop.record(make_step(iteration, max_iter, logits_now, field_norm(tau), criterion, x, control,
                                        lambda watched: {"field": tau[watched].cpu().numpy().copy()}))
    tau, x = _overshoot_unfooled(model, x0, tau, criterion, overshoot, batch_size)
    extras = {"field": tau.cpu().numpy().astype("float32"), "field_norm": field_norm(tau).cpu().numpy()}
    return finish("adef", params, model, x0, x, labels, criterion, probs0, steps_used, started, loop.stopped,
                  loop.history, extras, batch_size)


def _best_candidate_field(model, x_n: torch.Tensor, tau: torch.Tensor, labels: torch.Tensor,
                          classes: torch.Tensor, sigma: float, targeted: bool = False) -> torch.Tensor:
    """For each candidate class, the field after one step towards it; per image the one of smallest norm.
    Targeted, the step races the target against its strongest rival now, which need not be the label."""
    x_n = x_n.detach().requires_grad_(True)
    logits = model(x_n).float()
    d_width, d_height = image_gradient(x_n.detach())
    if targeted:  # the rival: the strongest class outside the targets
        labels = logits.detach().scatter(1, classes, float("-inf")).argmax(dim=1)
    own = logits.gather(1, labels[:, None])[:, 0]
    best, best_norm = tau, torch.full((len(tau),), math.inf, device=tau.device)
    for k in range(classes.shape[1]):
        f = logits.gather(1, classes[:, k: k + 1])[:, 0] - own
        (g,) = torch.autograd.grad(f.sum(), x_n, retain_graph=k < classes.shape[1] - 1)
        alpha = torch.stack([(g * d_width).sum(dim=1), (g * d_height).sum(dim=1)], dim=1)
        # Aim a hair past the boundary: a step that only reaches it leaves the label to rounding (which differs
        # between batch sizes) and, once the iterate sits there, no longer moves it.
        candidate = tau + deformation_step(f.detach() - CROSSING_MARGIN, alpha, sigma)
        norm = field_norm(candidate)
        better = norm < best_norm
        best = torch.where(better.view(-1, 1, 1, 1), candidate, best)
        best_norm = torch.where(better, norm, best_norm)
    return best


def _reached(logits: torch.Tensor, criterion: Criterion) -> torch.Tensor:
    return criterion.reached(logits.argmax(dim=1))


# Steps aim this far (in logits) past the linearised boundary. Within BOUNDARY_MARGIN of it after the loop an
# image counts as sitting on the boundary and gets the overshoot, as in the paper.
CROSSING_MARGIN = 1e-2
BOUNDARY_MARGIN = 1e-5


def _on_boundary(logits: torch.Tensor, criterion: Criterion) -> torch.Tensor:
    """Whether the classes that decide success (the targets, else the label) tie with their best rival."""
    return logit_margin(logits, criterion.goal_sets()).abs() < BOUNDARY_MARGIN


def _overshoot_unfooled(model, x0, tau, criterion: Criterion, overshoot, batch_size):
    """Images the last linear step left on the boundary, or short of it, get `tau *= overshoot`."""
    x = warp(x0, tau)
    logits = logits_in_batches(model, x, batch_size)
    missed = ~_reached(logits, criterion) | _on_boundary(logits, criterion)
    if overshoot > 1 and missed.any():
        tau = torch.where(missed.view(-1, 1, 1, 1), tau * overshoot, tau)
        x = warp(x0, tau)
    return tau, x


register(AttackSpec(
    "adef", "ADef (adversarial deformation)", adef,
    (Param("preset", str, "auto", "parameter set of the paper; auto follows the model", choices=("auto",) +
           tuple(PRESETS)),
     Param("candidates", int, 1, "try the K classes ranked next by the clean image (from first_rank on)", 1, 1000),
     Param("first_rank", int, 1, "rank of the first candidate: 1 is the runner-up of the clean image", 1, 100_000),
     Param("rank_targeted", bool, False, "succeed only when the new label is one of the candidates"),
     Param("sigma", float, 1.0, "std of the Gaussian smoothing of the field, in pixels (0: none)", 0.0, 50.0),
     Param("overshoot", float, 1.1, "factor applied to fields that end on the boundary", 1.0, 10.0),
     Param("max_iter", int, 100, "iterations at most", 1, 10_000),
     Param("max_norm", float, math.inf, "give up on an image once ||tau||_T exceeds this (pixels)", 1e-6,
           math.inf, finite=False)),
    "moves pixels along a smooth vector field until the label changes", targeted=True,
    domain_defaults=PRESETS, presets=PRESETS, loss_name="||tau||_T (pixels)"))
