"""Attacks on two-pixel images: the engine's own FGSM, PGD and DeepFool run on the playground MLP, and every
successful attack judged against the true regions as one of the post's three kinds of adversarial image."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..core import Declared, Param, ParamSet, RunControl
from ..attacks.deepfool import deepfool
from ..attacks.gradient_sign import NORMS, fgsm, pgd
from ..core.errors import ParameterError
from ..models import LoadedModel
from .mlp import as_images, as_points
from .regions import NEITHER, Points, Regions

NORM_TITLES = tuple({"inf": "L∞ (square ball)", "2": "L2 (round ball)"}[norm] for norm in NORMS)

METHODS = ("FGSM", "PGD", "DeepFool")
NOT_SUCCESSFUL, SAME_CLASS, NEITHER_CLASS, OTHER_CLASS = 0, 1, 2, 3
KIND_TITLES = {SAME_CLASS: "still a {own}, misclassified",
               NEITHER_CLASS: "a meaningless image, where the boundary is arbitrary",
               OTHER_CLASS: "now really a {other}: the meaning changed"}
BOUNDARY_SLACK = 1e-6  # float rounding when a perturbation is compared with eps
ATTACK_PARAMS = ParamSet("playground attack", (
    Param("method", str, "PGD", "DeepFool finds the smallest step; it succeeds only within eps", choices=METHODS),
    # no grey levels: the plane's two pixels are coordinates, not 8-bit intensities
    Param("eps", float, 0.08, "the attack's budget in the plane", 0.0, 1.0, above=True),
    Param("norm", str, "inf", "the norm of the eps-ball", choices=NORMS, titles=NORM_TITLES),
    Param("pgd_steps", int, 20, "PGD's iterations (step eps / 4)", 1, 10_000),
), summary="attack the points away from their true class")


@dataclass(frozen=True)
class AttackSettings(Declared):
    """The attack the user chose (declared in `ATTACK_PARAMS`): method, norm of the eps-ball, eps, and PGD's
    iterations (step eps / 4)."""

    PARAMS: ClassVar[ParamSet] = ATTACK_PARAMS

    method: str = "PGD"
    eps: float = 0.08
    norm: str = "inf"
    pgd_steps: int = 20


def kind_title(kind: int, class_names: tuple[str, str], label: int) -> str:
    """The kind's explanation for a point of class `label`: "still a cat, misclassified", ..."""
    if kind == NOT_SUCCESSFUL:
        return "not fooled within eps"
    return f"{kind}: " + KIND_TITLES[kind].format(own=class_names[label], other=class_names[1 - label])


def classify_kinds(end_regions: np.ndarray, labels: np.ndarray, successful: np.ndarray) -> np.ndarray:
    """The post's three kinds, judged by the true region where each successful attack ends: 1 it is still its
    own class (only the classifier changed its mind), 2 it is in no class's region (a meaningless image), 3 it is
    in the other class's region (the meaning really changed). 0 where the attack did not succeed."""
    kinds = np.where(end_regions == labels, SAME_CLASS, np.where(end_regions == NEITHER, NEITHER_CLASS, OTHER_CLASS))
    return np.where(successful, kinds, NOT_SUCCESSFUL).astype(np.int64)


@dataclass(frozen=True)
class KindCounts:
    """Attack-all in numbers: points attacked (those the model classified right), those it already got wrong,
    the failed attacks and the successful ones by kind."""

    attacked: int
    already_wrong: int
    failed: int
    same_class: int
    neither: int
    other_class: int

    @property
    def successful(self) -> int:
        return self.same_class + self.neither + self.other_class

    def as_dict(self) -> dict[str, int]:
        return {"attacked": self.attacked, "already_misclassified": self.already_wrong, "failed": self.failed,
                "successful": self.successful, "kind1_same_class": self.same_class,
                "kind2_neither": self.neither, "kind3_other_class": self.other_class}


@dataclass(frozen=True)
class PlaneAttack:
    """Attacks on points of the plane: where each started and ended, and what came of it."""

    settings: AttackSettings
    start: np.ndarray  # (N, 2)
    end: np.ndarray  # (N, 2)
    labels: np.ndarray  # (N,) true classes
    pred_before: np.ndarray
    pred_after: np.ndarray
    size: np.ndarray  # (N,) the perturbation's norm, in the attack's norm
    end_regions: np.ndarray  # (N,) the true region of each end point
    stopped: bool = False

    @property
    def correct_before(self) -> np.ndarray:
        return self.pred_before == self.labels

    @property
    def successful(self) -> np.ndarray:
        """Correctly classified before, misclassified after, within eps (DeepFool goes as far as it needs)."""
        within = self.size <= self.settings.eps + BOUNDARY_SLACK
        return self.correct_before & (self.pred_after != self.labels) & within

    @property
    def kinds(self) -> np.ndarray:
        return classify_kinds(self.end_regions, self.labels, self.successful)

    def counts(self) -> KindCounts:
        kinds, correct = self.kinds, self.correct_before
        return KindCounts(int(correct.sum()), int((~correct).sum()), int((correct & (kinds == 0)).sum()),
                          int((kinds == SAME_CLASS).sum()), int((kinds == NEITHER_CLASS).sum()),
                          int((kinds == OTHER_CLASS).sum()))


def _engine_attack(model: LoadedModel, images: torch.Tensor, labels: torch.Tensor, settings: AttackSettings,
                   control: RunControl | None):
    eps, norm = float(settings.eps), settings.norm
    if settings.method == "FGSM":
        return fgsm(model, images, labels, control=control, eps=eps, norm=norm)
    if settings.method == "PGD":
        return pgd(model, images, labels, control=control, eps=eps, step=eps / 4, steps=settings.pgd_steps,
                   norm=norm)
    return deepfool(model, images, labels, control=control, norm=norm)


def attack_points(model: LoadedModel, points: Points, regions: Regions, settings: AttackSettings,
                  control: RunControl | None = None):
    """Attack every point away from its true class with the engine's attack; yields the attack's steps and
    returns a `PlaneAttack`."""
    settings.check()
    if len(points) == 0:
        raise ParameterError("there are no points to attack")
    labels = torch.as_tensor(points.labels)
    result = yield from _engine_attack(model, as_images(points.xy), labels, settings, control)
    start, end = as_points(result.original), as_points(result.adversarial)
    delta = end - start
    size = np.abs(delta).max(axis=1) if settings.norm == "inf" else np.linalg.norm(delta, axis=1)
    return PlaneAttack(settings, start, end, points.labels.copy(), result.pred_before.numpy(),
                       result.pred_after.numpy(), size.astype(np.float32), regions.code_at(end), result.stopped)
