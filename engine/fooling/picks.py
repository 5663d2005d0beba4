"""Drawing at random from boolean masks, tensor-level over many rows at once: the CPPN mutation operators pick one
candidate connection or unit per genome, and the weight mutation finds the connections its draws chose, with
small running counts instead of listing every True of an (N, U, U) mask (`nonzero` on it dominated mutation)."""
from __future__ import annotations

import math

import torch


def uniforms(count: int, generator) -> torch.Tensor:
    """`count` uniforms in [0, 1) in double precision (k = draw x count must reach every k of a large count)."""
    return torch.rand(count, dtype=torch.float64, generator=generator)


def pick_for_chosen(chosen: torch.Tensor, candidates_of, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The genomes among `chosen` (N,) bool that have a candidate, and the candidate `pick_in_rows` draws
    for each.
    One uniform is drawn per genome, chosen or not (the random stream of drawing for all), but the candidates
    (`candidates_of(rows)`, (len(rows), K) bool) are built and scanned for the chosen rows only."""
    draws = uniforms(len(chosen), generator)
    rows = chosen.nonzero().squeeze(1)
    found, picks = pick_in_rows(candidates_of(rows), draws[rows])
    kept = found.nonzero().squeeze(1)
    return rows[kept], picks[kept]


def pick_in_rows(candidates: torch.Tensor, draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of `candidates` (N, K) bool: whether it has any, and one of them drawn uniformly with the row's
    uniform in `draws` (N,): the k-th in row-major order, k = draw x the row's count (0 for a row without any).
    The k-th is found in two steps, first its block of sqrt(K) columns (a (target, source) mask's target row)
    from the running count of blocks, then its column within that block: small running counts instead of
    listing every candidate (half of the U x U pairs are candidates for a new connection)."""
    n, size = candidates.shape
    if size == 0:
        return torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.int64)
    block = math.isqrt(size) if math.isqrt(size) ** 2 == size else size
    blocks = candidates.view(n, size // block, block)
    per_block = blocks.view(torch.uint8).sum(2)  # (N, blocks); uint8: summing bools directly is slower
    running = per_block.cumsum(1)
    counts = running[:, -1]
    k = (draws * counts).to(torch.int64)
    k = torch.minimum(k, counts - 1).clamp_(min=0)  # should rounding ever reach the count
    chosen_block = first_exceeding(running, k).clamp_(max=size // block - 1)
    before = (running - per_block).gather(1, chosen_block[:, None]).squeeze(1)  # candidates in earlier blocks
    within = blocks[torch.arange(n), chosen_block].view(torch.uint8).cumsum(1)
    column = chosen_block * block + first_exceeding(within, k - before).clamp_(max=block - 1)
    return counts > 0, torch.where(counts > 0, column, 0)


def positions_of(mask: torch.Tensor, per_row: torch.Tensor, running: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Flat positions in `mask` (R, B) bool of its j-th True values (row-major, 0-based; `per_row` and `running`
    are its counts per row and their running sum): the row from the running count, then the column within it.
    The same as `mask.flatten().nonzero()[j]` without listing every True of a large mask."""
    rows = torch.searchsorted(running, j, right=True)
    before = running[rows] - per_row[rows]
    return rows * mask.shape[1] + first_exceeding(mask[rows].view(torch.uint8).cumsum(1), j - before)


def first_exceeding(running: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per row, the first column whose running count exceeds k."""
    return (running <= k[:, None]).sum(1)
