"""Training ingredients beyond cross-entropy with Adam or SGD: Krotov & Hopfield's optimizer (momentum, each
memory's step normalised by its largest component, weights clipped) and random affine augmentation of a batch."""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


class KrotovSteps(torch.optim.Optimizer):
    """Krotov's update (Dense Associative Memory code): velocity = momentum * velocity - grad; each weight row
    moves by lr * velocity / max |velocity| of its row, then every weight is clipped to [-clip, clip]. The step
    is independent of the gradient's scale, which for max(x, 0)^30 spans tens of orders of magnitude."""

    def __init__(self, params, lr: float = 0.04, momentum: float = 0.6, clip: float = 1.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "clip": clip})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for weight in group["params"]:
                if weight.grad is None:
                    continue
                velocity = self.state[weight].setdefault("velocity", torch.zeros_like(weight))
                velocity.mul_(group["momentum"]).sub_(weight.grad)
                rows = velocity.reshape(len(velocity), -1) if velocity.dim() > 1 else velocity.reshape(1, -1)
                largest = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-30)
                weight.add_((rows / largest).reshape(weight.shape), alpha=group["lr"])
                weight.clamp_(-group["clip"], group["clip"])
        return loss


def random_affine(images: torch.Tensor, generator: torch.Generator, shift: float = 2.0, degrees: float = 10.0,
                  scale: float = 0.1) -> torch.Tensor:
    """Each image shifted by up to `shift` pixels, rotated by up to `degrees` and scaled by up to `scale`, drawn
    independently (torchvision's RandomAffine draws one transform per call, i.e. per batch). Zero padding."""
    count, (height, width) = len(images), images.shape[-2:]
    draw = lambda *shape: torch.rand(*shape, generator=generator) * 2 - 1  # noqa: E731 (uniform in [-1, 1])
    angle, zoom = draw(count) * math.radians(degrees), 1 + draw(count) * scale
    offset = draw(count, 2) * shift * 2 / torch.tensor([width, height])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
