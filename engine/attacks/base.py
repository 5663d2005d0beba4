"""What every attack shares: declared parameters, the step record it yields, the result it returns, and the
control object through which a front door throttles frames and asks it to stop.

An attack is a generator function `attack(model, images, labels=None, *, target=None, control=None, **params)`
that yields `Step`s and returns an `AttackResult`; `run_to_end` drives one for callers that only want the result.
What counts as fooled is a criterion object (`criteria.py`); the norm-specific parts live in `norms.py`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..core import Frame, Param, ParameterError, RunControl, run_to_end  # noqa: F401  (re-exported for callers of attacks)
from ..models import LoadedModel
from .criteria import Criterion, concat_criteria

GREY_LEVEL = 1 / 255
BATCH_SIZE = 256  # images per forward pass over a set: bounds the activations' memory, not the results
PER_IMAGE, UNIVERSAL = "per-image", "universal"  # attack families: the Attack workspace lists only the first


# --- the attack registry ---------------------------------------------------------------------------------------

AttackFn = Callable[..., Generator["Step", None, "AttackResult"]]


@dataclass(frozen=True)
class AttackSpec:
    """An attack as the front doors see it: its function, declared parameters and per-domain defaults."""

    name: str
    title: str
    fn: AttackFn
    params: tuple[Param, ...]
    summary: str
    targeted: bool = True  # whether a target class may be given
    target_required: bool = False
    domain_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)  # chosen by a `preset` parameter
    loss_name: str = "loss"  # what `Step.loss` measures, for curve titles
    family: str = PER_IMAGE  # PER_IMAGE, or UNIVERSAL: one perturbation for all images, never split into chunks

    @property
    def universal(self) -> bool:
        return self.family == UNIVERSAL

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.params)
        raise ParameterError(f"{self.name} has no parameter {name!r}; its parameters are {known}")

    def defaults(self, domain: str = "imagenet") -> dict[str, Any]:
        values = {p.name: p.default for p in self.params}
        values.update(self.domain_defaults.get(domain, {}))
        return values

    def resolve(self, given: dict[str, Any], domain: str = "imagenet") -> dict[str, Any]:
        """Defaults for `domain`, overridden by `given` (strings or values), each validated."""
        values = self.defaults(domain)
        preset = str(given.get("preset", "auto")).strip()
        if preset != "auto":
            self.param("preset").parse(preset)
            values.update(self.presets[preset])
        for name, value in given.items():
            values[self.param(name).name] = value
        return {name: self.param(name).parse(value) if value is not None or not self.param(name).auto else None
                for name, value in values.items()}


ATTACKS: dict[str, AttackSpec] = {}


def register(spec: AttackSpec) -> AttackSpec:
    ATTACKS[spec.name] = spec
    return spec


def get_attack(name: str) -> AttackSpec:
    try:
        return ATTACKS[name.lower()]
    except KeyError:
        raise ParameterError(f"unknown attack {name!r}; available: {', '.join(ATTACKS)}") from None


# --- running ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One iteration: cheap numbers always, arrays (`frame`) only when the control says one is due."""

    iteration: int
    total: int
    loss: np.ndarray  # (N,) per-image loss being optimised
    probs: np.ndarray | None  # (N, classes) softmax at this iterate when a frame is attached
    fooled: np.ndarray  # (N,) bool
    goal_prob: np.ndarray  # (N,) probability of the target class, or of the attacked label when untargeted
    frame: Frame | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # set-level numbers for curves (fooling rates)


@dataclass
class AttackResult:
    """Everything a front door reports or exports about a finished (or stopped) run, on the CPU."""

    attack: str
    params: dict[str, Any]
    original: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    adversarial: torch.Tensor
    labels: torch.Tensor  # the label attacked away from, per image
    criterion: Criterion  # what counted as fooled
    probs_before: torch.Tensor  # (N, classes)
    probs_after: torch.Tensor
    steps_used: torch.Tensor  # (N,) int64
    seconds: float
    stopped: bool = False
    history: dict[str, np.ndarray] = field(default_factory=dict)  # per-iteration curves, (iterations, N)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # attack-specific arrays for OUT.npz

    @property
    def target(self) -> torch.Tensor | None:
        """The per-image target (N,), the allowed classes (N, K) (ADef's ranks), or None when untargeted."""
        return self.criterion.target

    @property
    def pred_before(self) -> torch.Tensor:
        return self.probs_before.argmax(dim=1)

    @property
    def pred_after(self) -> torch.Tensor:
        return self.probs_after.argmax(dim=1)

    @property
    def fooled(self) -> torch.Tensor:
        """Whether the attack made the model reach its goal; in a targeted run an image the model already gave
        the target class was not fooled by anything (it counts in `already_target` instead)."""
        reached = self.criterion.reached(self.pred_after)
        return reached & ~self.already_target if self.criterion.targeted else reached

    @property
    def already_target(self) -> torch.Tensor:
        """(N,) bool: targeted runs only, the images whose clean prediction already was the goal."""
        if not self.criterion.targeted:
            return torch.zeros(len(self.criterion), dtype=torch.bool)
        return self.criterion.reached(self.pred_before)

    @property
    def perturbation(self) -> torch.Tensor:
        return self.adversarial - self.original

    @property
    def linf(self) -> torch.Tensor:
        return self.perturbation.flatten(1).abs().amax(dim=1)

    @property
    def l2(self) -> torch.Tensor:
        return self.perturbation.flatten(1).norm(dim=1)

    def summary(self) -> dict[str, float]:
        fooled = self.fooled
        return {"images": len(fooled), "fooled": int(fooled.sum()),
                "already_target": int(self.already_target.sum()),
                "fooled_rate": float(fooled.float().mean()) if len(fooled) else 0.0,
                "mean_linf": float(self.linf.mean()) if len(fooled) else 0.0,
                "mean_l2": float(self.l2.mean()) if len(fooled) else 0.0,
                "seconds": self.seconds}

    def arrays(self) -> dict[str, np.ndarray]:
        """The OUT.npz contract: original, adversarial (N,C,H,W float32), pred_before, pred_after (int64),
        fooled (bool), stopped (a bool scalar), plus per-image norms, steps and anything the attack adds."""
        out = {"original": self.original.numpy().astype(np.float32),
               "adversarial": self.adversarial.numpy().astype(np.float32),
               "pred_before": self.pred_before.numpy().astype(np.int64),
               "pred_after": self.pred_after.numpy().astype(np.int64),
               "fooled": self.fooled.numpy().astype(bool),
               "labels": self.labels.numpy().astype(np.int64),
               "probs_before": self.probs_before.numpy().astype(np.float32),
               "probs_after": self.probs_after.numpy().astype(np.float32),
               "linf": self.linf.numpy().astype(np.float32),
               "l2": self.l2.numpy().astype(np.float32),
               "steps_used": self.steps_used.numpy().astype(np.int64),
               "stopped": np.asarray(self.stopped)}  # True: a stopped run, what it reached
        if self.target is not None:
            out["target"] = self.target.numpy().astype(np.int64)
        out.update(self.extras)
        return out


def logits_in_batches(model: LoadedModel, images: torch.Tensor, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """The float logits of `images` (on the model's device), `batch_size` images per forward pass."""
    with torch.no_grad():
        return torch.cat([model(chunk).float() for chunk in images.split(batch_size)])


def prepare_inputs(model: LoadedModel, images: torch.Tensor, labels, target, batch_size: int = BATCH_SIZE
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Images on the model's device, the labels to attack away from (the clean prediction unless given), the
    per-image target (or None) and the clean probabilities, classified `batch_size` images at a time."""
    x0 = model.pixel_batch(images).to(model.device)
    probs = torch.softmax(logits_in_batches(model, x0, batch_size), dim=1)
    labels = probs.argmax(dim=1) if labels is None else _class_tensor(labels, len(x0), model, "label")
    target = None if target is None else _class_tensor(target, len(x0), model, "target")
    return x0, labels.to(model.device), None if target is None else target.to(model.device), probs


def _class_tensor(value, count: int, model: LoadedModel, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.long).flatten()
    if tensor.numel() == 1:
        tensor = tensor.expand(count)
    if tensor.numel() != count:
        raise ParameterError(f"{what}s: expected 1 or {count} values, got {tensor.numel()}")
    if tensor.min() < 0 or tensor.max() >= model.num_classes:
        raise ParameterError(f"{what} must be a class index in 0..{model.num_classes - 1}")
    return tensor.clone()


def make_step(iteration: int, total: int, logits: torch.Tensor, loss: torch.Tensor, criterion: Criterion,
              x: torch.Tensor, control: RunControl | None,
              extras: Callable[[list[int]], dict[str, np.ndarray]] | None = None) -> Step:
    """The record of one iteration, evaluated at iterate `x` whose logits are `logits`; arrays are copied only
    when the control says a frame is due."""
    with torch.no_grad():
        probs = torch.softmax(logits.detach().float(), dim=1)
        fooled = criterion.reached(probs.argmax(dim=1))
        goal_prob = probs.gather(1, criterion.goal_sets()).amax(dim=1)
        frame = None
        if control is not None and control.frame_due(final=iteration == total):
            watched = control.watched_indices(len(x))
            frame = Frame(tuple(watched), x.detach()[watched].cpu().numpy().copy(),
                          extras(watched) if extras else {})
        return Step(iteration, total, loss.detach().cpu().numpy().copy(),
                    probs.cpu().numpy().copy() if frame is not None else None,
                    fooled.cpu().numpy().copy(), goal_prob.cpu().numpy().copy(), frame)


def logit_margin(logits: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
    """Per image, the best logit of its classes `sets` (N, K) minus the best logit outside them: > 0 while one
    of them wins."""
    own = logits.gather(1, sets).amax(dim=1)
    return own - logits.scatter(1, sets, float("-inf")).amax(dim=1)


class PerImageLoop:
    """The loop of attacks that let every image stop on its own (DeepFool, ADef): yields (iteration, indices of
    the images still active) until none is, `max_iter` is reached or the control asks to stop. The body updates
    `active` in place; `history` collects the curves of the steps passed to `record`."""

    def __init__(self, max_iter: int, active: torch.Tensor, control: RunControl | None):
        self.max_iter, self.active, self.control = max_iter, active, control
        self.stopped = False
        self.history: dict[str, list] = {"loss": [], "goal_prob": []}

    def __iter__(self):
        for iteration in range(1, self.max_iter + 1):
            if self.control is not None and self.control.stop_requested:
                self.stopped = True
                return
            if not self.active.any():
                return
            yield iteration, self.active.nonzero()[:, 0]

    def record(self, step: Step) -> Step:
        self.history["loss"].append(step.loss)
        self.history["goal_prob"].append(step.goal_prob)
        return step


def finish(name: str, params: dict[str, Any], model: LoadedModel, x0: torch.Tensor, x_adv: torch.Tensor,
           labels: torch.Tensor, criterion: Criterion, probs_before: torch.Tensor,
           steps_used: torch.Tensor, started: float, stopped: bool, history: dict[str, list] | None = None,
           extras: dict[str, np.ndarray] | None = None, batch_size: int = BATCH_SIZE) -> AttackResult:
    """Classify the final iterate once (`batch_size` images per pass) and package the result on the CPU."""
    probs_after, _ = model.predict(x_adv.detach(), batch_size)
    curves = {k: np.stack(v) if v else np.zeros((0, len(x0)), np.float32) for k, v in (history or {}).items()}
    return AttackResult(name, dict(params), x0.detach().cpu(), x_adv.detach().cpu(), labels.cpu(),
                        criterion.cpu(), probs_before.cpu(), probs_after,
                        steps_used.cpu(), time.perf_counter() - started, stopped, curves, extras or {})


def concat_results(parts: Sequence[AttackResult]) -> AttackResult:
    """One result for a run made chunk by chunk (the CLI bounds memory this way)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]

    def cat(name):
        return torch.cat([getattr(p, name) for p in parts])

    length = max(len(p.history.get("loss", ())) for p in parts)
    history = {key: np.concatenate([_pad_rows(p.history[key], length) for p in parts], axis=1)
               for key in first.history}
    extras = {key: np.concatenate([p.extras[key] for p in parts]) for key in first.extras}
    return AttackResult(first.attack, first.params, cat("original"), cat("adversarial"), cat("labels"),
                        concat_criteria([p.criterion for p in parts]), cat("probs_before"), cat("probs_after"),
                        cat("steps_used"), sum(p.seconds for p in parts), any(p.stopped for p in parts), history,
                        extras)


def _pad_rows(curve: np.ndarray, length: int) -> np.ndarray:
    """Repeat a curve's last row so chunks that stopped early line up with the others."""
    if len(curve) >= length or len(curve) == 0:
        return curve if len(curve) else np.full((length, curve.shape[1] if curve.ndim == 2 else 0), np.nan)
    return np.concatenate([curve, np.repeat(curve[-1:], length - len(curve), axis=0)])
