"""The CPPN encoding of fooling images (Nguyen, Yosinski, Clune 2015; the authors' Sferes `HyperNn`/`DnnFF`
genotype): an image is a small feed-forward network of sine, sigmoid, Gaussian and linear units over the
inputs (x, y, distance to the centre, bias), evaluated at every pixel; a pixel is |output| in [0, 1].

A population is held as padded tensors so that rendering and mutation are tensor-level over all genomes:
unit slots 0..3 are the inputs, then hidden slots (as many of the `max_hidden_units` as the batch's genomes
use), then one output per channel. Each slot has a `rank` in a topological order of its genome, and a unit only
takes input from units of lower rank, so every genome is acyclic by construction. Slots never move: a deleted
unit leaves its slot free, an added one takes the first free slot and the rank just after its source (the
mutation operators are in `cppn_mutation`). Rendering evaluates only the units that reach an output, a level (of
equal longest path to an output) at a time.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import ParameterError
from ..core.params import Param, ParamSet, Rule
from .cppn_mutation import GenomeArrays, Mutator

SINE, SIGMOID, GAUSSIAN, LINEAR, TANH = range(5)
ACTIVATION_NAMES = ("sine", "sigmoid", "gaussian", "linear", "tanh")
INPUTS = 4  # x, y, distance to the centre, bias
_RATE = dict(minimum=0.0, maximum=1.0)

CPPN = ParamSet("cppn", (
    Param("add_connection_rate", float, 0.5, "chance per child of one new connection", **_RATE),
    Param("delete_connection_rate", float, 0.3, "chance per child of losing one connection", **_RATE),
    Param("change_connection_rate", float, 0.0, "chance per child of moving one connection's source or target "
          "(the authors' parameters declare 0.5, but their feed-forward genotype `DnnFF` never applies it: 0 "
          "reproduces their runs)", **_RATE),
    Param("add_unit_rate", float, 0.5, "chance per child of a new unit splitting a connection", **_RATE),
    Param("delete_unit_rate", float, 0.2, "chance per child of losing one hidden unit", **_RATE),
    Param("weight_mutation_rate", float, 0.1, "chance per connection of a polynomial weight mutation", **_RATE),
    Param("weight_eta", float, 15.0, "distribution index of the polynomial weight mutation (larger: smaller "
          "steps)", 0.0, 1000.0),
    Param("weight_limit", float, 10.0, "weights lie in [-limit, limit]", 0.0, 1000.0, above=True),
    Param("activation_mutation_rate", float, 0.1, "chance per unit of a new random activation function", **_RATE),
    Param("initial_hidden_units", int, 0, "hidden units of a random genome (the authors: 0, inputs wired "
          "straight to the outputs)", 0, 1000),
    Param("max_hidden_units", int, 30, "cap on hidden units per genome (memory and render time grow with it)",
          1, 1000),
    Param("activations", str, "paper", "the activation functions units draw from", choices=("paper", "tanh"),
          titles=("sine, sigmoid, Gaussian, linear", "these and tanh")),
    Param("coordinates", str, "centred", "x and y inputs: in [-1, 1] around the centre, or the pixel indices "
          "as the authors' released code passes them", choices=("centred", "pixel"),
          titles=("centred in [-1, 1]", "pixel indices")),
), rules=(Rule(lambda v: v["initial_hidden_units"] <= v["max_hidden_units"],
               "initial_hidden_units must be at most max_hidden_units"),),
    summary="compositional pattern-producing networks evolved by structural mutation")


@dataclass(frozen=True)
class CPPNGenomes:
    """N padded networks of U slots: the 4 inputs, the batch's first hidden slots (`CPPNEncoding.width_of`), the
    outputs. `weight` and `connected` are (N, U, U) indexed [target, source] (weight 0 where not connected);
    `activation` (N, U) int64 ids; `alive` (N, U) bool (inputs and outputs always alive); `rank` (N, U) int16:
    each slot's place in a topological order (every connection goes from a lower to a higher rank; the inputs
    rank first)."""

    weight: torch.Tensor
    connected: torch.Tensor
    activation: torch.Tensor
    alive: torch.Tensor
    rank: torch.Tensor

    def __len__(self) -> int:
        return self.weight.shape[0]

    def connection_counts(self) -> torch.Tensor:
        return self.connected.flatten(1).sum(1)


# Each unit's function, in place on its pre-activations (the authors' `AfCppn`; all in [-1, 1]). NumPy's float32
# sin, exp and tanh ran 2-8x faster than torch's on the machines measured here, and its small calls cost less.
_GAUSSIAN_REACH = np.float32(np.sqrt(87.0))


def _gaussian(p: np.ndarray):
    # exp(-87) = 1.6e-38 is about the smallest normal float; below it exp returns subnormals, which the CPU
    # computes many times slower: pre-activations beyond sqrt(87) give 1.6e-38 instead (invisible). Clipping
    # before squaring is a single fast pass (np.minimum with a scalar is several times slower than np.clip).
    np.exp(np.negative(np.square(np.clip(p, -_GAUSSIAN_REACH, _GAUSSIAN_REACH, out=p), out=p), out=p), out=p)


_ACTIVATE_IN_PLACE = {
    SINE: lambda p: np.sin(p, out=p),
    # the authors' (1 / (1 + e^-p) - 0.5) * 2, which is tanh(p / 2)
    SIGMOID: lambda p: np.tanh(np.multiply(p, 0.5, out=p), out=p),
    GAUSSIAN: _gaussian,
    LINEAR: lambda p: np.divide(np.clip(p, -3.0, 3.0, out=p), 3.0, out=p),
    TANH: lambda p: np.tanh(np.multiply(p, 5.0, out=p), out=p),
}
FUNCTIONS = len(ACTIVATION_NAMES)  # a unit's sort key when rendering: level * FUNCTIONS + function
_INVISIBLE = 1e-30
_UNREACHED = -(2 ** 40)  # the height of a unit that reaches no output (stays negative when a path adds to it)


class CPPNEncoding:
    """Genomes are `CPPNGenomes`; implements the evolution loop's encoding (random, crossover, mutate, render,
    select, join, to_arrays, from_arrays)."""

    name = "cppn"

    def __init__(self, channels: int, params: Mapping[str, Any] | None = None):
        if channels not in (1, 3):
            raise ParameterError(f"a CPPN draws grey (1 channel) or colour (3 channels) images, not {channels} "
                                 "channels")
        self.channels = int(channels)
        self.values = CPPN.resolve(params)
        self.hidden = self.values["max_hidden_units"]
        self.units = INPUTS + self.hidden + self.channels
        self.outputs = torch.arange(INPUTS + self.hidden, self.units)
        palette = [SINE, SIGMOID, GAUSSIAN, LINEAR] + ([TANH] if self.values["activations"] == "tanh" else [])
        slot = torch.arange(self.units)
        # which (target, source) pairs may be connected (where the source ranks first): into a non-input, out of
        # a non-output
        self.allowed = ((slot[None, :] != slot[:, None]) & (slot[:, None] >= INPUTS)
                        & (slot[None, :] < INPUTS + self.hidden))
        self._grids: dict[tuple[int, int], torch.Tensor] = {}
        self._palette = np.array(palette)
        self._mutators: dict[int, Mutator] = {}
        self.mutator = self._mutator(self.hidden)

    # --- creation and variation ---------------------------------------------------------------------------------

    def random(self, count: int, generator: torch.Generator) -> CPPNGenomes:
        """`count` networks as the authors start them: every input wired to every output with a uniform random
        weight, random activations, then `initial_hidden_units` unit and connection additions."""
        n, u = int(count), self.units
        connected = torch.zeros(n, u, u, dtype=torch.bool)
        connected[:, self.outputs[:, None], torch.arange(INPUTS)[None, :]] = True
        weight = torch.where(connected, self.mutator.random_weights((n, u, u), generator), torch.zeros(()))
        alive = torch.zeros(n, u, dtype=torch.bool)
        alive[:, :INPUTS] = True
        alive[:, self.outputs] = True
        activation = torch.from_numpy(self.mutator.random_activations((n, u), generator))
        rank = torch.arange(u, dtype=torch.int16).repeat(n, 1)
        genomes = CPPNGenomes(weight, connected, activation, alive, rank)
        arrays, everyone = _arrays(genomes), np.ones(n, dtype=bool)
        for _ in range(self.values["initial_hidden_units"]):
            self.mutator.add_unit(arrays, everyone, generator)
            self.mutator.add_connection(arrays, everyone, generator)
        return genomes

    def crossover(self, a: CPPNGenomes, b: CPPNGenomes, generator: torch.Generator) -> tuple[CPPNGenomes, CPPNGenomes]:
        """The parents themselves: the authors' CPPN genotype (`DnnFF::cross`) has no crossover (and `mutate`
        copies before it changes anything)."""
        return a, b

    def mutate(self, genomes: CPPNGenomes, generator: torch.Generator) -> CPPNGenomes:
        """New genomes, each mutated as `DnnFF::mutate` does (`Mutator.mutate`); the parents are left as they
        are."""
        width = self._width_in_use(genomes, spare=1)  # room for the one unit a mutation may add
        children = self._resized(genomes, width, copy=True)  # the one copy: the operators change it in place
        self._mutator(width).mutate(children, generator)
        return CPPNGenomes(*(torch.from_numpy(field) for field in children))

    # --- rendering ----------------------------------------------------------------------------------------------

    def render(self, genomes: CPPNGenomes, shape: Sequence[int], budget: int = 2 ** 22,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The images (N, C, H, W) in [0, 1]: all genomes evaluated together, a level at a time, in chunks of
        genomes holding at most `budget` unit values in all (2**22 floats, 16 MB: small enough for the allocator
        to reuse the memory from one generation to the next instead of faulting fresh pages in). With `dtype`
        float64 they are evaluated in double precision: a reference for the single-precision images of a run."""
        channels, height, width = (int(s) for s in shape)
        if channels != self.channels:
            raise ParameterError(f"these CPPNs draw {self.channels}-channel images, the model takes {channels}")
        n, inputs = len(genomes), self._input_grid(height, width).to(dtype)
        if n == 0:
            return torch.empty(0, channels, height, width, dtype=dtype)
        g = _arrays(genomes)
        heights = self._heights(g)
        sizes = (heights >= 0).sum(1) * (height * width)
        starts = [0] if sizes.sum() <= budget else _chunk_starts(sizes, budget)
        if len(starts) == 1:
            return self._evaluate(g, heights, inputs).view(n, channels, height, width)
        images = torch.empty(n, channels, height * width, dtype=dtype)
        for start, stop in zip(starts, [*starts[1:], n]):
            rows = GenomeArrays(*(field[start:stop] for field in g))
            images[start:stop] = self._evaluate(rows, heights[start:stop], inputs)
        return images.view(n, channels, height, width)

    def needed_units(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N, U) bool over all slots (as `padded`): the hidden units whose value reaches an output, and the
        outputs. Rendering evaluates only these: deleted connections leave many hidden units dangling (over half
        of them in genomes mutated 100 times from random ones)."""
        return self.heights(genomes) >= 0

    def heights(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N, U) int64 over all slots (as `padded`): for each unit whose value reaches an output, its longest path
        to one (0 for the outputs); negative for the others (inputs included). Every source of a unit lies higher
        than the unit, so units can be evaluated a height at a time: a handful of levels, not a step per slot.

        Found with bit sets over the list of connections (NumPy): the units with a path of length k to an output
        are those feeding one with a path of length k - 1, and a unit's height is the last k it is found at;
        a step per level over (N, U) bytes instead of a step per slot."""
        height = np.full((len(genomes), self.units), _UNREACHED, dtype=np.int64)
        height[:, self._slots(self.width_of(genomes))] = self._heights(_arrays(genomes))
        return torch.from_numpy(height)

    def _heights(self, g: GenomeArrays) -> np.ndarray:
        """`heights` of the genomes `g` (of any number of hidden slots; the outputs last), as NumPy."""
        n, u = g.alive.shape
        words = -(-u // 64)  # a set of units: a bit per slot in 64-bit words
        edge = np.flatnonzero(g.connected)  # genome * u * u + target * u + source
        target, source = edge // u % u, edge // (u * u) * u + edge % u  # source: genome * u + slot
        # each unit's targets as a bit set, built byte by byte (a byte's bits are distinct: their sum is their union)
        feeds = np.bincount(source * (8 * words) + target // 8, weights=np.exp2(target % 8),
                            minlength=n * u * 8 * words).astype(np.uint8).view(np.uint64).reshape(n, u, words)
        height = np.full((n, u), _UNREACHED, dtype=np.int64)
        height[:, u - self.channels:] = 0  # the outputs
        reached, frontier = height == 0, np.zeros((n, 8 * words), dtype=np.uint8)
        for length in range(1, u):
            packed = np.packbits(reached, axis=1, bitorder="little")
            frontier[:, :packed.shape[1]] = packed
            hits = (feeds & frontier.view(np.uint64)[:, None, :]) != 0
            reached = hits[:, :, 0] if words == 1 else hits.any(2)  # any() over a short axis is slow
            if not reached.any():
                break
            height[reached] = length
        height[:, :INPUTS] = _UNREACHED
        return height

    def _evaluate(self, g: GenomeArrays, heights: np.ndarray, inputs: torch.Tensor) -> torch.Tensor:
        """|outputs| (n, C, P) of the genomes `g` (of any number of hidden slots; the outputs last) at the input
        values `inputs` (4, P), given their `_heights`.

        One tensor holds every value: the 4 input rows, then a block per level (the units of one height, highest
        first, the outputs last) of one row per (genome, unit), sorted by activation function so that each
        function runs once per level on a contiguous slice. A level's pre-activations are one `embedding_bag`
        over the rows already computed: each unit's bag is its incoming connections (ascending source), summed
        with their weights; sparse work without a copy per connection. The bookkeeping is NumPy (its small
        operations cost a fraction of torch's)."""
        (n, u), pixels = g.alive.shape, inputs.shape[1]
        height = heights.ravel()
        evaluated = np.flatnonzero(height >= 0)  # genome * u + slot
        top = int(height.max())
        # each unit's level (highest first) and function: its row's sort key
        key = (top - height[evaluated]) * FUNCTIONS + g.activation.ravel()[evaluated]
        order = np.argsort(key, kind="stable")
        unit, key = evaluated[order], key[order]  # the evaluated units (genome * u + slot) in row order
        row = np.empty(n * u, dtype=np.int64)
        row[unit] = np.arange(INPUTS, INPUTS + len(unit))
        functions = np.bincount(key, minlength=(top + 1) * FUNCTIONS).reshape(top + 1, FUNCTIONS)
        ends = INPUTS + np.cumsum(functions.sum(1))  # each level's rows end here
        # the connections into each evaluated unit (its row of `connected`), in row order, ascending source
        connection = np.flatnonzero(g.connected.reshape(n * u, u)[unit])  # unit's row * u + source
        into, source = np.divmod(connection, u)
        weight = torch.from_numpy(g.weight.reshape(n * u, u)[unit[into], source]).to(inputs.dtype)
        source_row = torch.from_numpy(np.where(source < INPUTS, source, row[unit[into] - unit[into] % u + source]))
        bag_starts = np.searchsorted(into, np.arange(len(unit) + 1))  # unit's row r: connections r..r+1
        values = torch.empty(INPUTS + len(unit), pixels, dtype=inputs.dtype)
        values[:INPUTS] = inputs
        begin = INPUTS
        for end, counts in zip(ends.tolist(), functions.tolist()):
            first, last = bag_starts[begin - INPUTS], bag_starts[end - INPUTS]
            bags = torch.from_numpy(bag_starts[begin - INPUTS:end - INPUTS] - first)
            block = values[begin:end]
            block.copy_(F.embedding_bag(source_row[first:last], values, bags, mode="sum",
                                        per_sample_weights=weight[first:last]))
            block = block.numpy()
            for code, count in enumerate(counts):
                if count:
                    _ACTIVATE_IN_PLACE[code](block[:count])
                    block = block[count:]
            begin = end
        outputs = torch.from_numpy(row.reshape(n, u)[:, u - self.channels:].T.ravel())  # (C, n) rows
        images = values.index_select(0, outputs).view(self.channels, n, pixels).transpose(0, 1)
        images.abs_().clamp_(0.0, 1.0)
        # pixels of at most 1e-30 (a Gaussian unit far from its centre gives 1.6e-38) are invisible; as 0 they
        # spare the model subnormal products (4% of the built-in model's forward pass at one thread)
        return F.threshold_(images, _INVISIBLE, 0.0)

    def _input_grid(self, height: int, width: int) -> torch.Tensor:
        """(x, y, d, 1) per pixel (4, H*W), row-major; d is measured on the centred grid as the authors do. Made
        once per image size (every generation renders at the same size)."""
        if (height, width) not in self._grids:
            self._grids[height, width] = _input_grid(height, width, self.values["coordinates"])
        return self._grids[height, width]

    # --- populations --------------------------------------------------------------------------------------------

    def select(self, genomes: CPPNGenomes, index: torch.Tensor) -> CPPNGenomes:
        """Copies of the genomes at `index`, cut to the hidden slots they use (np.take: several times faster than
        torch's advanced indexing for the 100 parents a generation draws)."""
        index = np.asarray(index, dtype=np.int64)
        taken = CPPNGenomes(*(torch.from_numpy(np.take(getattr(genomes, key).numpy(), index, axis=0))
                              for key in _FIELDS))
        width = self._width_in_use(taken)
        if width == self.width_of(taken):
            return taken
        return CPPNGenomes(*(torch.from_numpy(field) for field in self._resized(taken, width)))

    def join(self, batches: Sequence[CPPNGenomes]) -> CPPNGenomes:
        """One batch of the given ones, in order, with as many hidden slots as the widest."""
        width = max(self.width_of(batch) for batch in batches)
        fields = [self._resized(batch, width) for batch in batches]
        return CPPNGenomes(*(torch.from_numpy(np.concatenate(arrays)) for arrays in zip(*fields)))

    def to_arrays(self, genomes: CPPNGenomes) -> dict[str, np.ndarray]:
        """The genomes with all `max_hidden_units` slots (a file's arrays do not depend on a batch's width)."""
        genomes = self.padded(genomes)
        return {"weight": genomes.weight.numpy().astype(np.float32), "connected": genomes.connected.numpy(),
                "activation": genomes.activation.numpy().astype(np.int8), "alive": genomes.alive.numpy(),
                "rank": genomes.rank.numpy()}

    def from_arrays(self, arrays: Mapping[str, np.ndarray]) -> CPPNGenomes:
        """Genomes written by `to_arrays`, checked (ParameterError when they do not fit this encoding). Files
        without `rank` (written before it existed) kept their slots in a topological order: rank = slot."""
        missing = [key for key in _FIELDS if key not in arrays and key != "rank"]
        if missing:
            raise ParameterError(f"saved CPPN genomes lack {', '.join(missing)}")
        weight = torch.from_numpy(np.asarray(arrays["weight"], dtype=np.float32).copy())
        expected = (self.units, self.units)
        if weight.dim() != 3 or tuple(weight.shape[1:]) != expected:
            saved = weight.shape[-1] - INPUTS - self.channels if weight.dim() == 3 else "?"
            raise ParameterError(f"saved CPPN genomes have {saved} hidden slots and {self.channels} outputs "
                                 f"expected; set max_hidden_units={saved} to use them")
        connected = torch.from_numpy(np.asarray(arrays["connected"], dtype=bool).copy())
        if connected.shape == weight.shape:
            weight = torch.where(connected, weight, torch.zeros(()))  # rendering relies on 0 where unconnected
        alive = torch.from_numpy(np.asarray(arrays["alive"], dtype=bool).copy())
        rank = np.asarray(arrays["rank"]) if "rank" in arrays else np.broadcast_to(np.arange(self.units), alive.shape)
        if rank.shape != alive.shape or not np.issubdtype(rank.dtype, np.integer) \
                or rank.min(initial=0) < 0 or rank.max(initial=0) >= self.units:
            raise ParameterError("saved CPPN genomes have an invalid order of units (rank)")
        genomes = CPPNGenomes(weight, connected,
                              torch.from_numpy(np.asarray(arrays["activation"]).astype(np.int64)), alive,
                              torch.from_numpy(rank.astype(np.int16)))
        self._check(genomes)
        return genomes

    def _check(self, genomes: CPPNGenomes):
        n = len(genomes)
        shapes_fit = (genomes.connected.shape == genomes.weight.shape and genomes.activation.shape == (n, self.units)
                      and genomes.alive.shape == (n, self.units))
        if not shapes_fit:
            raise ParameterError("saved CPPN genomes have arrays of mismatched shapes")
        if (genomes.connected & ~(genomes.alive[:, :, None] & genomes.alive[:, None, :])).any():
            raise ParameterError("saved CPPN genomes have connections to or from units that are not alive")
        forward = genomes.rank[:, None, :] < genomes.rank[:, :, None]  # [target, source]: the source first
        if (genomes.connected & ~(self.allowed & forward)).any():
            raise ParameterError("saved CPPN genomes have connections that are not feed-forward")
        if not torch.isfinite(genomes.weight).all() or genomes.activation.min() < 0 \
                or genomes.activation.max() >= len(ACTIVATION_NAMES):
            raise ParameterError("saved CPPN genomes have invalid weights or activation functions")

    # --- the slots a batch holds -------------------------------------------------------------------------------
    # Added units take the first free hidden slot, so a population uses the first few hidden slots only (a run's
    # elites on the built-in model have 2-3 hidden units of the 30 allowed): a batch holds the inputs, its first
    # `width_of` hidden slots and the outputs, and mutation cuts its children to the slots in use and one free
    # slot for the unit it may add. Files and `padded` have all slots.

    def width_of(self, genomes: CPPNGenomes) -> int:
        """The hidden slots a batch holds."""
        return genomes.alive.shape[1] - INPUTS - self.channels

    def _width_in_use(self, genomes: CPPNGenomes, spare: int = 0) -> int:
        """Hidden slots up to the highest living one of any genome, and `spare` more (at most all of them)."""
        hidden = genomes.alive.numpy()[:, INPUTS:INPUTS + self.width_of(genomes)]
        living = np.flatnonzero(hidden.any(0))
        return min((int(living[-1]) + 1 if len(living) else 0) + spare, self.hidden)

    def _slots(self, width: int) -> np.ndarray:
        """The slots of all-slot genomes that a batch of `width` hidden slots holds."""
        return np.r_[0:INPUTS + width, INPUTS + self.hidden:self.units]

    def _mutator(self, width: int) -> Mutator:
        """The operators for batches of `width` hidden slots (made once per width)."""
        if width not in self._mutators:
            slots = self._slots(width)
            self._mutators[width] = Mutator(INPUTS, width, len(slots), self.allowed.numpy()[np.ix_(slots, slots)],
                                            self._palette, self.values, columns=slots)
        return self._mutators[width]

    def padded(self, genomes: CPPNGenomes) -> CPPNGenomes:
        """The genomes with all `max_hidden_units` hidden slots (slot numbers as in files)."""
        if self.width_of(genomes) == self.hidden:
            return genomes
        return CPPNGenomes(*(torch.from_numpy(field) for field in self._resized(genomes, self.hidden)))

    def _resized(self, genomes: CPPNGenomes, width: int, copy: bool = False) -> GenomeArrays:
        """The genomes' fields with `width` hidden slots: their first ones (the slots cut must be free) and free
        ones added, as NumPy arrays (views of the genomes when the width is theirs, unless `copy`)."""
        have, fields = self.width_of(genomes), _arrays(genomes)
        if width == have:
            return GenomeArrays(*(field.copy() for field in fields)) if copy else fields
        n, kept = len(genomes), min(have, width)
        old = np.r_[0:INPUTS + kept, INPUTS + have:INPUTS + have + self.channels]
        new = np.r_[0:INPUTS + kept, INPUTS + width:INPUTS + width + self.channels]
        size = INPUTS + width + self.channels
        # free slots added rank after the inputs (by slot number), as the slots of new genomes do
        resized = GenomeArrays(np.zeros((n, size, size), np.float32), np.zeros((n, size, size), bool),
                               np.zeros((n, size), np.int64), np.zeros((n, size), bool),
                               np.tile(np.arange(size, dtype=np.int16), (n, 1)))
        old_pairs = (old[:, None] * (INPUTS + have + self.channels) + old[None, :]).ravel()
        new_pairs = (new[:, None] * size + new[None, :]).ravel()
        for target, source in zip(resized[:2], fields[:2]):
            target.reshape(n, size * size)[:, new_pairs] = np.take(source.reshape(n, source.shape[1] ** 2), old_pairs,
                                                                  axis=1)
        for target, source in zip(resized[2:], fields[2:]):
            target[:, new] = source[:, old]
        return resized

    def hidden_counts(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N,) living hidden units per genome."""
        return genomes.alive[:, INPUTS:INPUTS + self.width_of(genomes)].sum(1)


_FIELDS = ("weight", "connected", "activation", "alive", "rank")


def _input_grid(height: int, width: int, coordinates: str) -> torch.Tensor:
    def centred(size: int) -> torch.Tensor:
        return torch.zeros(1) if size == 1 else torch.linspace(-1.0, 1.0, size)

    y, x = torch.meshgrid(centred(height), centred(width), indexing="ij")
    distance = torch.sqrt(x * x + y * y)
    if coordinates == "pixel":
        y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                              indexing="ij")
    return torch.stack([x.flatten(), y.flatten(), distance.flatten(), torch.ones(height * width)])


def _chunk_starts(sizes: np.ndarray, budget: int) -> list[int]:
    """The first genome of each chunk when genomes of these `sizes` (values each) are rendered in consecutive
    chunks of at most `budget` values (a genome larger than the budget makes a chunk alone)."""
    starts, total = [0], 0
    for index, size in enumerate(sizes.tolist()):
        if total + size > budget and total > 0:
            starts.append(index)
            total = 0
        total += size
    return starts


def _arrays(genomes: CPPNGenomes) -> GenomeArrays:
    """NumPy views of the genomes' fields (no copy: the mutation operators change the genomes through them)."""
    return GenomeArrays(*(getattr(genomes, key).numpy() for key in _FIELDS))


def describe(genomes: CPPNGenomes, index: int) -> str:
    """One genome as text (units with their activations, then connections), for debugging and reports."""
    g = genomes
    units = [f"{slot}:{ACTIVATION_NAMES[int(g.activation[index, slot])]}" for slot in
             g.alive[index].nonzero().squeeze(1).tolist() if slot >= INPUTS]
    edges = [f"{s}->{t} {float(g.weight[index, t, s]):+.2f}" for t, s in g.connected[index].nonzero().tolist()]
    return f"units {' '.join(units)}; connections {', '.join(edges)}"

