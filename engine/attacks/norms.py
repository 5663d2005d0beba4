"""The norm-specific parts of the attacks, written once (foolbox 3's per-norm classes are the model): the
steepest-ascent step, the projection onto the eps-ball around the clean image, the random start, and the dual
norm that turns a linearised margin into a distance (DeepFool). All distances are in pixel space [0, 1]."""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..core.errors import ParameterError

NORM_NAMES = ("inf", "2")  # the names of the norms, in the order the forms offer them


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N,) values shaped to broadcast over the samples of `like` (N, ...)."""
    return values.view(-1, *[1] * (like.dim() - 1))


def _lengths(vectors: torch.Tensor) -> torch.Tensor:
    """The L2 length of each sample, never zero (a zero gradient or perturbation stays zero, not NaN)."""
    return vectors.flatten(1).norm(dim=1).clamp_min(1e-12)


class Norm(ABC):
    """What an attack bounded in one norm needs from it; subclasses fill in the norm-specific parts."""

    name = ""

    @abstractmethod
    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        """The steepest-ascent step of unit norm for each sample's gradient."""

    @abstractmethod
    def along(self, vectors: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """A step of norm `length` (N,) along the steepest direction of each sample's `vectors`."""

    @abstractmethod
    def project(self, delta: torch.Tensor, eps: float) -> torch.Tensor:
        """Onto the eps-ball of the norm; points already inside are left alone."""

    @abstractmethod
    def random_offset(self, x0: torch.Tensor, eps: float, generator: torch.Generator | None) -> torch.Tensor:
        """A uniform draw from the eps-ball, one per sample (drawn on the CPU: the same seed, the same start
        on every device)."""

    @abstractmethod
    def dual(self, flat: torch.Tensor) -> torch.Tensor:
        """The dual norm over the last dimension: the margin a unit step can change a linear function by."""

    def check_radius(self, eps: float) -> None:
        """Refuse radii the norm cannot use."""

    def project_around(self, x: torch.Tensor, x0: torch.Tensor, eps: float) -> torch.Tensor:
        """The closest point to `x` in the eps-ball around `x0`, clipped to the image range."""
        return (x0 + self.project(x - x0, eps)).clamp(0, 1)

    def random_start(self, x0: torch.Tensor, eps: float, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
        """A uniform draw from the eps-ball around x0, clipped to the image range."""
        return (x0 + self.random_offset(x0, eps, generator)).clamp(0, 1)


class Linf(Norm):
    name = "inf"

    def direction(self, grad):
        return grad.sign()

    def along(self, vectors, length):
        return _per_sample(length, vectors) * vectors.sign()

    def project(self, delta, eps):
        return delta.clamp(-eps, eps)

    def random_offset(self, x0, eps, generator):
        noise = torch.rand(x0.shape, generator=generator, device="cpu").to(x0.device) * 2 - 1
        return noise * eps

    def dual(self, flat):
        return flat.abs().sum(dim=-1)  # L1

    def check_radius(self, eps):
        if eps > 1:
            raise ParameterError(f"an Linf eps of {eps:g} exceeds the whole pixel range [0, 1]")


class L2(Norm):
    name = "2"

    def direction(self, grad):
        return grad / _per_sample(_lengths(grad), grad)

    def along(self, vectors, length):
        return _per_sample(length / _lengths(vectors), vectors) * vectors

    def project(self, delta, eps):
        factor = (eps / _lengths(delta)).clamp(max=1.0)
        return delta * _per_sample(factor, delta)

    def random_offset(self, x0, eps, generator):
        direction = self.direction(torch.randn(x0.shape, generator=generator, device="cpu").to(x0.device))
        radius = torch.rand(len(x0), generator=generator, device="cpu").to(x0.device) ** (1 / x0[0].numel()) * eps
        return direction * _per_sample(radius, x0)

    def dual(self, flat):
        return flat.norm(dim=-1)  # L2 is its own dual


NORMS: dict[str, Norm] = {norm.name: norm for norm in (Linf(), L2())}


def get_norm(name: str) -> Norm:
    try:
        return NORMS[name]
    except KeyError:
        raise ParameterError(f"norm must be one of {', '.join(NORM_NAMES)}, not {name!r}") from None


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Onto the eps-ball of the norm named `norm` ("inf" or "2")."""
    return get_norm(norm).project(delta, eps)
