"""The gradient-sign family: FGSM (Goodfellow 2014), BIM and iterative least-likely class (Kurakin 2016), PGD
(Madry 2017), in Linf and L2. One loop assembled from small parts: loss, ascent direction, projection, clip.
All distances are in pixel space [0, 1]."""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from ..core.errors import ParameterError
from ..models import LoadedModel
from .base import (GREY_LEVEL, AttackSpec, Param, RunControl, finish, make_step, prepare_inputs, register)
from .criteria import criterion_for
from .norms import NORM_NAMES, Norm, get_norm, project  # noqa: F401  (project: re-exported for its callers)

NORMS = NORM_NAMES  # re-exported: the playground offers the same norms


def kurakin_steps(eps: float) -> int:
    """Kurakin et al.'s iteration count for BIM: floor(min(255 eps + 4, 1.25 * 255 eps)), at least one."""
    return max(1, math.floor(min(255 * eps + 4, 1.25 * 255 * eps)))


# --- the loop --------------------------------------------------------------------------------------------------

def gradient_sign_loop(name: str, params: dict, model: LoadedModel, images: torch.Tensor, labels, target,
                       control: RunControl | None, *, eps: float, step: float, steps: int, norm: str,
                       start_random: bool, least_likely: bool = False, seed: int | None = 0):
    """Iterate `x <- clip01(x0 + P(x + step * dir(grad loss) - x0))`. The loss is the cross-entropy of the
    attacked label (ascended), of the target or of the least-likely class (descended)."""
    ball = _checked_ball(eps, step, steps, norm)
    started = time.perf_counter()
    x0, labels, target, probs0 = prepare_inputs(model, images, labels, target)
    if least_likely and target is not None:
        raise ParameterError("the least-likely attack chooses its own target; use PGD or BIM for a target class")
    criterion = criterion_for(labels, target)  # least likely: fooled once the label is left, whatever it reaches
    goal = target if target is not None else probs0.argmin(dim=1) if least_likely else labels
    descend = target is not None or least_likely
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    x = ball.random_start(x0, eps, generator) if start_random else x0.clone()
    history = {"loss": [], "goal_prob": []}
    stopped, done = False, 0
    with torch.enable_grad():  # grad mode is thread-local: set it here, not in the caller's thread
        for iteration in range(1, steps + 1):
            if control is not None and control.stop_requested:
                stopped = True
                break
            x.requires_grad_(True)
            logits = model(x)
            losses = F.cross_entropy(logits.float(), goal, reduction="none")
            (grad,) = torch.autograd.grad(losses.sum(), x)
            evaluated = x.detach()
            x = ball.project_around(evaluated + step * ball.direction(-grad if descend else grad), x0, eps)
            record = make_step(iteration, steps, logits, losses, criterion, evaluated, control)
            history["loss"].append(record.loss)
            history["goal_prob"].append(record.goal_prob)
            done = iteration
            yield record
    extras = {"least_likely": goal.cpu().numpy()} if least_likely else {}
    steps_used = torch.full((len(x0),), done, dtype=torch.long)
    return finish(name, params, model, x0, x, labels, criterion, probs0, steps_used, started, stopped, history,
                  extras)


def _checked_ball(eps: float, step: float, steps: int, norm: str) -> Norm:
    """The norm named `norm`, once the budget is known to be usable with it."""
    ball = get_norm(norm)
    ball.check_radius(eps)
    if eps < 0 or step <= 0 or steps < 1:
        raise ParameterError("eps must be >= 0, step > 0 and steps >= 1")
    return ball


# --- the attacks -----------------------------------------------------------------------------------------------

def _eps(default: float) -> Param:
    return Param("eps", float, default, "radius of the allowed perturbation (Linf: per pixel; L2: whole image)",
                 0.0, 1000.0, unit="pixel")


NORM_PARAM = Param("norm", str, "inf", "the norm bounding the perturbation", choices=NORMS)
RANDOM_START = Param("random_start", bool, False, "start from a uniform draw in the eps-ball")


def fgsm(model, images, labels=None, *, target=None, control=None, eps=8 / 255, norm="inf"):
    """One step of size eps along the gradient sign (targeted: down the target's cross-entropy)."""
    params = {"eps": eps, "norm": norm}
    return (yield from gradient_sign_loop("fgsm", params, model, images, labels, target, control, eps=eps,
                                          step=max(eps, 1e-12), steps=1, norm=norm, start_random=False))


def bim(model, images, labels=None, *, target=None, control=None, eps=8 / 255, step=GREY_LEVEL, steps=None,
        norm="inf", random_start=False):
    """Basic iterative method: FGSM steps of `step`, clipped to the eps-ball after each."""
    steps = kurakin_steps(eps) if steps is None else steps
    params = {"eps": eps, "step": step, "steps": steps, "norm": norm, "random_start": random_start}
    return (yield from gradient_sign_loop("bim", params, model, images, labels, target, control, eps=eps,
                                          step=step, steps=steps, norm=norm, start_random=random_start))


def least_likely(model, images, labels=None, *, target=None, control=None, eps=8 / 255, step=GREY_LEVEL,
                 steps=None, norm="inf", random_start=False):
    """Iterative least-likely class: BIM stepping towards the class the clean image finds least likely."""
    steps = kurakin_steps(eps) if steps is None else steps
    params = {"eps": eps, "step": step, "steps": steps, "norm": norm, "random_start": random_start}
    return (yield from gradient_sign_loop("ll", params, model, images, labels, target, control, eps=eps,
                                          step=step, steps=steps, norm=norm, start_random=random_start,
                                          least_likely=True))


def pgd(model, images, labels=None, *, target=None, control=None, eps=8 / 255, step=2 / 255, steps=10,
        norm="inf", random_start=True, seed=0):
    """Projected gradient descent: BIM from a uniform random start in the eps-ball (Madry et al.). `seed` draws
    the start (adversarial training passes a new one per batch)."""
    params = {"eps": eps, "step": step, "steps": steps, "norm": norm, "random_start": random_start}
    return (yield from gradient_sign_loop("pgd", params, model, images, labels, target, control, eps=eps,
                                          step=step, steps=steps, norm=norm, start_random=random_start, seed=seed))


def _steps(default, auto: str = "") -> Param:
    return Param("steps", int, default, "number of iterations", 1, 100_000, auto=auto)


def _step(default: float) -> Param:
    return Param("step", float, default, "step size per iteration", 1e-6, 1000.0, unit="pixel")


MNIST_BUDGET = {"eps": 0.3, "step": 0.01}

register(AttackSpec("fgsm", "FGSM (fast gradient sign)", fgsm, (_eps(8 / 255), NORM_PARAM),
                    "one step of size eps along the sign of the loss gradient",
                    loss_name="cross-entropy", domain_defaults={"mnist": {"eps": 0.3}}))
register(AttackSpec("bim", "BIM (iterative FGSM)", bim,
                    (_eps(8 / 255), _step(GREY_LEVEL), _steps(None, "Kurakin: min(255 eps + 4, 1.25 * 255 eps)"),
                     NORM_PARAM, RANDOM_START),
                    "repeated small FGSM steps, clipped to the eps-ball (Kurakin et al. 2016)",
                    loss_name="cross-entropy", domain_defaults={"mnist": MNIST_BUDGET}))
register(AttackSpec("ll", "Iterative least-likely class", least_likely,
                    (_eps(8 / 255), _step(GREY_LEVEL), _steps(None, "Kurakin: min(255 eps + 4, 1.25 * 255 eps)"),
                     NORM_PARAM, RANDOM_START),
                    "BIM towards the class the clean image finds least likely", targeted=False,
                    loss_name="cross-entropy", domain_defaults={"mnist": MNIST_BUDGET}))
register(AttackSpec("pgd", "PGD (projected gradient descent)", pgd,
                    (_eps(8 / 255), _step(2 / 255), _steps(10), NORM_PARAM,
                     Param("random_start", bool, True, "start from a uniform draw in the eps-ball")),
                    "BIM from a random start in the eps-ball (Madry et al. 2017)",
                    loss_name="cross-entropy", domain_defaults={"mnist": {**MNIST_BUDGET, "steps": 40}}))
