"""DeepFool (Moosavi-Dezfooli, Fawzi, Frossard 2016), batched: the smallest step to the nearest linearised
decision boundary among the top-K candidate classes, repeated until the label changes.

One backward pass per candidate per iteration over the active samples, `batch_size` at a time (the per-sample
scalars are summed, so each sample gets its own gradient); samples that are already fooled leave the batch."""
from __future__ import annotations

import time

import torch

from ..core.errors import ParameterError
from .base import (BATCH_SIZE, AttackSpec, Param, PerImageLoop, RunControl, finish, logit_margin,
                   logits_in_batches, make_step, prepare_inputs, register)
from .criteria import Misclassification
from .norms import Norm, get_norm

NORMS = ("2", "inf")  # L2 first: the paper's norm and the default


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


def minimal_step(d: torch.Tensor, w: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The step onto the closest linearised boundary, per sample. Like the authors' code (and foolbox), 1e-4 is
    added to the distance |d| / ||w||, not to |d|: the crossing margin then does not grow when gradients are
    small, as they are in untrained networks."""
    dual = norm.dual(w.flatten(2))  # the margin a unit step of the attack's norm moves
    distance = d.abs() / dual.clamp_min(1e-12)
    best = distance.argmin(dim=0)  # (N,)
    samples = torch.arange(len(best), device=best.device)
    w_best, d_best, dual_best = w[best, samples], d[best, samples].abs(), dual[best, samples].clamp_min(1e-12)
    return norm.along(w_best, d_best / dual_best + 1e-4)


def deepfool(model, images, labels=None, *, target=None, control: RunControl | None = None, norm="2",
             overshoot=0.02, max_iter=50, candidates=10, batch_size=BATCH_SIZE):
    """Untargeted DeepFool in L2 or Linf; every image stops as soon as its label changes. At most `batch_size`
    images go through the model at once (the results do not depend on it)."""
    if target is not None:
        raise ParameterError("DeepFool is untargeted; use PGD for a target class")
    ball = get_norm(norm)
    params = {"norm": norm, "overshoot": overshoot, "max_iter": max_iter, "candidates": candidates}
    started = time.perf_counter()
    x0, labels, _, probs0 = prepare_inputs(model, images, labels, None, batch_size)
    criterion = Misclassification(labels)
    logits_now = logits_in_batches(model, x0, batch_size)
    classes = candidate_classes(logits_now, labels, max(2, candidates))
    r_tot = torch.zeros_like(x0)
    steps_used = torch.zeros(len(x0), dtype=torch.long, device=x0.device)
    loop = PerImageLoop(max_iter, ~criterion.reached(logits_now.argmax(dim=1)), control)
    x = x0
    with torch.enable_grad():
        for iteration, index in loop:
            for part in index.split(batch_size):
                x_part = x[part].requires_grad_(True)
                d, w = boundary_normals(x_part, model(x_part).float(), classes[part])
                r_tot[part] += minimal_step(d, w, ball)
            steps_used[index] += 1
            x = (x0 + (1 + overshoot) * r_tot).clamp(0, 1)
            # the new iterate's labels: the samples that crossed leave the batch
            logits_now[index] = logits_in_batches(model, x[index], batch_size)
            loop.active[index] = ~criterion[index].reached(logits_now[index].argmax(dim=1))
            yield loop.record(make_step(iteration, max_iter, logits_now,
                                        logit_margin(logits_now, criterion.goal_sets()), criterion, x, control))
    return finish("deepfool", params, model, x0, x, labels, criterion, probs0, steps_used, started, loop.stopped,
                  loop.history, batch_size=batch_size)


register(AttackSpec(
    "deepfool", "DeepFool (minimal perturbation)", deepfool,
    (Param("norm", str, "2", "the norm in which the perturbation is minimal", choices=NORMS),
     Param("overshoot", float, 0.02, "push past the boundary by this fraction", 0.0, 10.0),
     Param("max_iter", int, 50, "iterations at most", 1, 10_000),
     Param("candidates", int, 10, "classes considered: the top ones of the clean image", 2, 100_000)),
    "steps to the nearest linearised decision boundary until the label changes", targeted=False,
    loss_name="logit margin to the nearest class"))
