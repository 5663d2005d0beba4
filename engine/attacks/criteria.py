"""What counts as fooling the model, as small objects (foolbox 3's `Misclassification` and
`TargetedMisclassification` are the model): leave the attacked label, reach one class per image, or reach any of a
set of allowed classes per image (ADef's candidate ranks). Each holds one tensor of classes, one row per image,
so a criterion can be cut to the images still active, moved between devices and joined chunk by chunk."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors gives no single bool
class Criterion:
    """The base: `classes` has one row per image; what it means is up to the subclass."""

    classes: torch.Tensor
    targeted = True  # whether reaching `classes` (not leaving them) is the goal

    def reached(self, pred: torch.Tensor) -> torch.Tensor:
        """(N,) bool: whether the predictions `pred` (N,) fool the model."""
        return pred[:, None].eq(self.goal_sets()).any(dim=1)

    def goal_sets(self) -> torch.Tensor:
        """(N, K): the classes whose probability tells how close an image is to its goal (the targets, or the
        attacked label when untargeted)."""
        return self.classes[:, None] if self.classes.dim() == 1 else self.classes

    @property
    def target(self) -> torch.Tensor | None:
        """The per-image target as OUT.npz stores it: (N,) or (N, K) classes, None when untargeted."""
        return self.classes

    def describe(self, class_names: Sequence[str]) -> str:
        """A few words for titles: " towards 7", or "" when untargeted."""
        return f" towards {class_names[int(self.classes[0])]}"

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, index) -> Criterion:
        return replace(self, classes=self.classes[index])

    def to(self, device) -> Criterion:
        return replace(self, classes=self.classes.to(device))

    def cpu(self) -> Criterion:
        return self.to("cpu")


@dataclass(frozen=True, eq=False)
class Misclassification(Criterion):
    """Untargeted: fooled once the prediction leaves the attacked label `classes` (N,)."""

    targeted = False

    def reached(self, pred):
        return pred.ne(self.classes)

    @property
    def target(self):
        return None

    def describe(self, class_names):
        return ""


@dataclass(frozen=True, eq=False)
class TargetedMisclassification(Criterion):
    """Targeted: fooled once the prediction is the image's target `classes` (N,)."""

    def reached(self, pred):
        return pred.eq(self.classes)


@dataclass(frozen=True, eq=False)
class OneOfClasses(Criterion):
    """Fooled once the prediction is any of the image's allowed classes `classes` (N, K); when they are the
    clean image's ranks `first_rank`.., the description says so."""

    first_rank: int | None = None

    def describe(self, class_names):
        if self.first_rank is None:
            return f" towards one of {self.classes.shape[1]} classes"
        return f" towards ranks {self.first_rank}..{self.first_rank + self.classes.shape[1] - 1}"


def criterion_for(labels: torch.Tensor, target: torch.Tensor | None) -> Criterion:
    """Away from `labels`, or towards one `target` class per image when one is given."""
    return Misclassification(labels) if target is None else TargetedMisclassification(target)


def concat_criteria(parts: Sequence[Criterion]) -> Criterion:
    """One criterion for the images of several chunks, all judged the same way."""
    return replace(parts[0], classes=torch.cat([part.classes for part in parts]))
