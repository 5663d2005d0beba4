"""DeepFool (Moosavi-Dezfooli, Fawzi, Frossard 2016), batched: the smallest step to the nearest linearised
decision boundary among the top-K candidate classes, repeated until the label changes.

One backward pass per candidate per iteration over the whole batch (the per-sample scalars are summed, so each
sample gets its own gradient); samples that are already fooled leave the batch."""
from __future__ import annotations

import time

import torch

from ..core.errors import ParameterError
from .base import (AttackSpec, Param, PerImageLoop, RunControl, finish, logit_margin, make_step, prepare_inputs,
                   register)

NORMS = ("2", "inf")


def candidate_classes(logits: torch.Tensor, labels: torch.Tensor, count: int) -> torch.Tensor:
    """(N, K): the attacked label first, then the K-1 other classes with the highest clean logits."""
    count = min(count, logits.shape[1])
    ranked = logits.argsort(dim=1, descending=True)
    others = ranked[ranked != labels[:, None]].view(len(labels), -1)[:, : count - 1]
    return torch.cat([labels[:, None], others], dim=1)


def boundary_normals(x: torch.Tensor, logits: torch.Tensor, classes: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each candidate k (after the label in column 0): d_k = f_k - f_l (K-1, N) and its gradient w_k
    (K-1, N, C, H, W), one backward pass per candidate over the whole batch."""
    picked = logits.gather(1, classes)
    d = picked[:, 1:] - picked[:, :1]
    count = d.shape[1]
    w = [torch.autograd.grad(d[:, k].sum(), x, retain_graph=k < count - 1)[0] for k in range(count)]
    return d.detach().T, torch.stack(w)


def minimal_step(d: torch.Tensor, w: torch.Tensor, norm: str) -> torch.Tensor:
    """The step onto the closest linearised boundary, per sample. Like the authors' code (and foolbox), 1e-4 is
    added to the distance |d| / ||w||, not to |d|: the crossing margin then does not grow when gradients are
    small, as they are in untrained networks."""
    flat = w.flatten(2)
    dual = flat.norm(dim=2) if norm == "2" else flat.abs().sum(dim=2)  # the dual norm of the attack's norm
    distance = d.abs() / dual.clamp_min(1e-12)
    best = distance.argmin(dim=0)  # (N,)
    samples = torch.arange(len(best), device=best.device)
    w_best, d_best, dual_best = w[best, samples], d[best, samples].abs(), dual[best, samples].clamp_min(1e-12)
    shape = (-1,) + (1,) * (w_best.dim() - 1)
    step_length = d_best / dual_best + 1e-4
    if norm == "2":
        return (step_length / dual_best).view(shape) * w_best
    return step_length.view(shape) * w_best.sign()


def deepfool(model, images, labels=None, *, target=None, control: RunControl | None = None, norm="2",
             overshoot=0.02, max_iter=50, candidates=10):
    """Untargeted DeepFool in L2 or Linf; every image stops as soon as its label changes."""
    if target is not None:
        raise ParameterError("DeepFool is untargeted; use PGD for a target class")
    if norm not in NORMS:
        raise ParameterError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")
    params = {"norm": norm, "overshoot": overshoot, "max_iter": max_iter, "candidates": candidates}
    started = time.perf_counter()
    x0, labels, _, probs0 = prepare_inputs(model, images, labels, None)
    with torch.no_grad():
        logits_now = model(x0).float()
    classes = candidate_classes(logits_now, labels, max(2, candidates))
    r_tot = torch.zeros_like(x0)
    steps_used = torch.zeros(len(x0), dtype=torch.long, device=x0.device)
    loop = PerImageLoop(max_iter, logits_now.argmax(dim=1).eq(labels), control)
    x = x0
    with torch.enable_grad():
        for iteration, index in loop:
            x_active = x[index].requires_grad_(True)
            d, w = boundary_normals(x_active, model(x_active).float(), classes[index])
            r_tot[index] += minimal_step(d, w, norm)
            steps_used[index] += 1
            x = (x0 + (1 + overshoot) * r_tot).clamp(0, 1)
            with torch.no_grad():  # the new iterate's labels: the samples that crossed leave the batch
                logits_now[index] = model(x[index]).float()
            loop.active[index] = logits_now[index].argmax(dim=1).eq(labels[index])
            yield loop.record(make_step(iteration, max_iter, logits_now, logit_margin(logits_now, labels), labels,
                                        None, x, control))
    return finish("deepfool", params, model, x0, x, labels, None, probs0, steps_used, started, loop.stopped,
                  loop.history)


register(AttackSpec(
    "deepfool", "DeepFool (minimal perturbation)", deepfool,
    (Param("norm", str, "2", "the norm in which the perturbation is minimal", choices=NORMS),
     Param("overshoot", float, 0.02, "push past the boundary by this fraction", 0.0, 10.0),
     Param("max_iter", int, 50, "iterations at most", 1, 10_000),
     Param("candidates", int, 10, "classes considered: the top ones of the clean image", 2, 100_000)),
    "steps to the nearest linearised decision boundary until the label changes", targeted=False,
    loss_name="logit margin to the nearest class"))
