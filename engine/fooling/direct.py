"""The direct encoding of fooling images (Nguyen et al. 2015; the authors' `gen/evo_float_image.hpp`): the genome
is the image itself, one gene per pixel value in [0, 1]. Variation as in Sferes2: each gene mutates with
probability `mutation_rate` by Deb's polynomial mutation (eta_m), clipped to [0, 1]; a parent pair is crossed
with probability `crossover_rate` by simulated binary crossover (SBX, eta_c), gene by gene. Every operator works
on whole batches: a batch of genomes is one (N, C, H, W) tensor."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import ParameterError

EPSILON = float(np.finfo(np.float32).eps)  # SBX leaves genes the parents share (Sferes' test, in float32)
CHUNK_GENES = 2 ** 20  # SBX works on this many genes at a time: temporaries the allocator reuses (4 MB each)


def bernoulli_positions(count: int, rate: float, generator: torch.Generator) -> torch.Tensor:
    """The increasing indices in [0, count) at which independent coins of probability `rate` come up. The gaps
    between successes of a Bernoulli process are independent geometric variables, so drawing about
    count * rate gaps gives the distribution of one coin per index with a fraction of the random draws."""
    if count == 0 or rate <= 0.0:
        return torch.empty(0, dtype=torch.int64)
    if rate >= 1.0:
        return torch.arange(count)
    expected = count * rate
    batch = int(expected + 5.0 * (expected * (1.0 - rate)) ** 0.5) + 16  # rarely does one batch not reach count
    gaps, reach = [], 0.0
    while reach < count:  # a gap is floor(log(U) / log(1 - rate)) + 1 for U uniform in (0, 1]: geometric
        uniform = torch.rand(batch, dtype=torch.float64, generator=generator)
        gap = uniform.neg_().log1p_().div_(math.log1p(-rate)).floor_().add_(1.0)
        gaps.append(gap.clamp_(max=count + 1.0))  # a gap past the end ends it (and tiny rates overflow no int)
        reach += float(gaps[-1].sum())
    positions = torch.cat(gaps).cumsum(0).to(torch.int64) - 1
    return positions[positions < count]


def polynomial_mutation(genes: torch.Tensor, rate: float, eta: float, generator: torch.Generator) -> torch.Tensor:
    """Deb's polynomial mutation (Deb 2001, p. 124) of each gene with probability `rate`, as Sferes does it: a
    shift delta in (-1, 1) whose spread is of the order 1/eta, the gene then clipped to [0, 1] (a new tensor;
    genes in [0, 1] that do not mutate are copied). Only the mutated genes draw their shifts."""
    mutated = genes.clone(memory_format=torch.contiguous_format)
    flat = mutated.view(-1)
    positions = bernoulli_positions(flat.numel(), rate, generator)
    r = torch.rand(len(positions), generator=generator)
    power = 1.0 / (eta + 1.0)
    delta = torch.where(r < 0.5, (2 * r) ** power - 1, 1 - (2 * (1 - r)) ** power)
    positions, delta = positions.to(genes.device), delta.to(genes.device, genes.dtype)
    flat[positions] = (flat[positions] + delta).clamp_(0.0, 1.0)
    return mutated


def _sbx_spread(r: torch.Tensor, beta: torch.Tensor, eta: float) -> torch.Tensor:
    """SBX's beta_q for the bound-aware spread `beta` (Deb & Agrawal 1995, as in Sferes); `beta` is used up."""
    alpha = 2.0 - beta.pow_(-(eta + 1.0))
    ra = r * alpha
    return torch.where(r <= alpha.reciprocal_(), ra, (2.0 - ra).reciprocal_()).pow_(1.0 / (eta + 1.0))


def _sbx_children(a: torch.Tensor, b: torch.Tensor, r: torch.Tensor, swap: torch.Tensor,
                  eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Both children of crossed pairs, gene by gene: the two SBX values within [0, 1] in random order (`swap`);
    genes the parents share are kept."""
    low, high = torch.minimum(a, b), torch.maximum(a, b)
    gap = high - low
    differ = gap > EPSILON
    gap.masked_fill_(~differ, 1.0)  # no division by 0 where nothing is crossed
    centre = low + high
    child_low = (centre - _sbx_spread(r, 1.0 + 2.0 * low / gap, eta).mul_(gap)).mul_(0.5)
    child_high = (centre + _sbx_spread(r, 1.0 + 2.0 * (1.0 - high) / gap, eta).mul_(gap)).mul_(0.5)
    child_low, child_high = child_low.clamp_(0.0, 1.0), child_high.clamp_(0.0, 1.0)
    first = torch.where(swap, child_high, child_low)
    second = torch.where(swap, child_low, child_high)
    return torch.where(differ, first, a), torch.where(differ, second, b)


def sbx_crossover(a: torch.Tensor, b: torch.Tensor, rate: float, eta: float,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two children per parent pair (a[i], b[i]). A pair is crossed with probability `rate`; its children are
    then, gene by gene, the two SBX values within [0, 1] in random order (genes the parents share are kept).
    Pairs not crossed pass on copies of the parents; only crossed pairs draw random numbers per gene."""
    first, second = a.clone(), b.clone()
    crossed = (torch.rand(len(a), generator=generator) < rate).nonzero().squeeze(1)
    genes = a[0].numel() if len(a) else 1
    for rows in crossed.split(max(1, CHUNK_GENES // genes)):
        shape = (len(rows), *a.shape[1:])
        r = torch.rand(shape, generator=generator).to(a.device, a.dtype)
        swap = (torch.rand(shape, generator=generator) < 0.5).to(a.device)
        rows = rows.to(a.device)
        first[rows], second[rows] = _sbx_children(a[rows], b[rows], r, swap, eta)
    return first, second


class DirectEncoding:
    """Genomes are images: one (N, C, H, W) float tensor in [0, 1]. Implements `evolution.Encoding`."""

    name = "direct"

    def __init__(self, shape: Sequence[int], mutation_rate: float = 0.1, eta_m: float = 15.0,
                 crossover_rate: float = 0.5, eta_c: float = 10.0):
        if len(shape) != 3:
            raise ParameterError(f"a direct genome has the shape (C, H, W) of the model's input, not {tuple(shape)}")
        self.shape = tuple(int(n) for n in shape)
        self.mutation_rate, self.eta_m = float(mutation_rate), float(eta_m)
        self.crossover_rate, self.eta_c = float(crossover_rate), float(eta_c)

    @classmethod
    def from_params(cls, shape: Sequence[int], params: Mapping[str, Any]) -> DirectEncoding:
        """The encoding with the variation settings of resolved FOOLING parameters."""
        return cls(shape, params["mutation_rate"], params["eta_m"], params["crossover_rate"], params["eta_c"])

    def random(self, count: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand((count, *self.shape), generator=generator)

    def crossover(self, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return sbx_crossover(a, b, self.crossover_rate, self.eta_c, generator)

    def mutate(self, genomes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return polynomial_mutation(genomes, self.mutation_rate, self.eta_m, generator)

    def render(self, genomes: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        """The images at `shape` (C, H, W): the genomes themselves, resized bilinearly if the grid differs."""
        channels, height, width = (int(n) for n in shape)
        if channels != genomes.shape[1]:
            raise ParameterError(f"direct genomes have {genomes.shape[1]} channels, the model takes {channels}")
        if tuple(genomes.shape[2:]) == (height, width):
            return genomes
        return F.interpolate(genomes, size=(height, width), mode="bilinear", align_corners=False).clamp_(0, 1)

    def select(self, genomes: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return genomes[index]

    def join(self, batches: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(batches))

    def to_arrays(self, genomes: torch.Tensor) -> dict[str, np.ndarray]:
        return {"genes": genomes.detach().cpu().numpy().astype(np.float32)}

    def from_arrays(self, arrays: Mapping[str, np.ndarray]) -> torch.Tensor:
        genes = np.asarray(arrays["genes"], dtype=np.float32)
        if genes.ndim != 4 or tuple(genes.shape[1:]) != self.shape:
            raise ParameterError(f"saved direct genomes have the shape {genes.shape[1:]}, this encoding "
                                 f"{self.shape}")
        return torch.from_numpy(genes.copy())
