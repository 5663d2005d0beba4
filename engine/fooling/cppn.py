"""The CPPN encoding of fooling images (Nguyen, Yosinski, Clune 2015; the authors' Sferes `HyperNn`/`DnnFF`
genotype): an image is a small feed-forward network of sine, sigmoid, Gaussian and linear units over the
inputs (x, y, distance to the centre, bias), evaluated at every pixel; a pixel is |output| in [0, 1].

A population is held as padded tensors so that rendering and mutation are tensor-level over all genomes:
unit slots 0..3 are the inputs, then `max_hidden_units` hidden slots, then one output per channel. A unit only
takes input from lower-numbered slots (`connected[n, target, source]` is strictly lower-triangular), so every
genome is acyclic by construction. A deleted unit leaves its slot free; an added one takes the first free slot
and is renumbered to sit after its source, keeping a topological order. Rendering evaluates only the units that
reach an output, a level (of equal longest path to an output) at a time.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.errors import ParameterError
from ..core.params import Param, ParamSet, Rule
from .picks import pick_for_chosen, pick_in_rows, true_positions, uniforms

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
    """N padded networks. `weight` and `connected` are (N, U, U) indexed [target, source] (weight 0 where not
    connected); `activation` (N, U) int64 ids; `alive` (N, U) bool (inputs and outputs always alive)."""

    weight: torch.Tensor
    connected: torch.Tensor
    activation: torch.Tensor
    alive: torch.Tensor

    def __len__(self) -> int:
        return self.weight.shape[0]

    def connection_counts(self) -> torch.Tensor:
        return self.connected.flatten(1).sum(1)


# Each unit's function, in place on its pre-activation (the authors' `AfCppn`; all in [-1, 1]).
_ACTIVATE_IN_PLACE = {
    SINE: torch.Tensor.sin_,
    SIGMOID: lambda p: p.sigmoid_().sub_(0.5).mul_(2.0),  # as the authors: (1 / (1 + e^-p) - 0.5) * 2
    # exp(-87) = 1.6e-38 is about the smallest normal float; below it exp returns subnormals, which the CPU
    # computes many times slower (a third of a render's time): such units give 1.6e-38 instead (invisible)
    GAUSSIAN: lambda p: p.square_().clamp_(max=87.0).neg_().exp_(),
    LINEAR: lambda p: p.clamp_(-3.0, 3.0).div_(3.0),
    TANH: lambda p: p.mul_(5.0).tanh_(),
}
FUNCTIONS = len(ACTIVATION_NAMES)  # a unit's sort key when rendering: level * FUNCTIONS + function
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
        self.palette = torch.tensor([SINE, SIGMOID, GAUSSIAN, LINEAR] + ([TANH] if self.values["activations"] ==
                                                                         "tanh" else []))
        slot = torch.arange(self.units)
        self.slot_order = slot.float()
        # which (target, source) pairs may ever be connected: forward, into a non-input, out of a non-output
        self.allowed = ((slot[None, :] < slot[:, None]) & (slot[:, None] >= INPUTS)
                        & (slot[None, :] < INPUTS + self.hidden))

    # --- creation and variation ---------------------------------------------------------------------------------

    def random(self, count: int, generator: torch.Generator) -> CPPNGenomes:
        """`count` networks as the authors start them: every input wired to every output with a uniform random
        weight, random activations, then `initial_hidden_units` unit and connection additions."""
        n, u = int(count), self.units
        connected = torch.zeros(n, u, u, dtype=torch.bool)
        connected[:, self.outputs[:, None], torch.arange(INPUTS)[None, :]] = True
        weight = torch.where(connected, self._random_weights((n, u, u), generator), torch.zeros(()))
        alive = torch.zeros(n, u, dtype=torch.bool)
        alive[:, :INPUTS] = True
        alive[:, self.outputs] = True
        genomes = CPPNGenomes(weight, connected, self._random_activations((n, u), generator), alive)
        everyone = torch.ones(n, dtype=torch.bool)
        for _ in range(self.values["initial_hidden_units"]):
            genomes = self._add_unit(genomes, everyone, generator)
            genomes = self._add_connection(genomes, everyone, generator)
        return genomes

    def crossover(self, a: CPPNGenomes, b: CPPNGenomes, generator: torch.Generator) -> tuple[CPPNGenomes, CPPNGenomes]:
        """The parents themselves: the authors' CPPN genotype (`DnnFF::cross`) has no crossover (and `mutate`
        copies before it changes anything)."""
        return a, b

    def mutate(self, genomes: CPPNGenomes, generator: torch.Generator) -> CPPNGenomes:
        """New genomes, each mutated as `DnnFF::mutate` does: every weight and activation may change, then with
        their rates one connection is added and deleted and one unit added and deleted; with
        change_connection_rate > 0 (not the authors' way) one connection is also moved first."""
        v, n = self.values, len(genomes)
        genomes = CPPNGenomes(*(getattr(genomes, key).clone() for key in _FIELDS))  # the one copy: every operator
        # below changes it in place

        def chance(rate: float) -> torch.Tensor:
            return torch.rand(n, generator=generator) < rate

        genomes = self._mutate_weights(genomes, generator)
        if v["change_connection_rate"] > 0:
            genomes = self._change_connection(genomes, chance(v["change_connection_rate"]), generator)
        genomes = self._mutate_activations(genomes, generator)
        genomes = self._add_connection(genomes, chance(v["add_connection_rate"]), generator)
        genomes = self._delete_connection(genomes, chance(v["delete_connection_rate"]), generator)
        genomes = self._add_unit(genomes, chance(v["add_unit_rate"]), generator)
        return self._delete_unit(genomes, chance(v["delete_unit_rate"]), generator)

    # --- rendering ----------------------------------------------------------------------------------------------

    def render(self, genomes: CPPNGenomes, shape: Sequence[int], budget: int = 2 ** 22) -> torch.Tensor:
        """The images (N, C, H, W) in [0, 1]: all genomes evaluated together, a level at a time, in chunks of
        genomes holding at most `budget` unit values (2**22 floats, 16 MB: small enough for the allocator to reuse
        the memory from one generation to the next instead of faulting fresh pages in)."""
        channels, height, width = (int(s) for s in shape)
        if channels != self.channels:
            raise ParameterError(f"these CPPNs draw {self.channels}-channel images, the model takes {channels}")
        n, inputs = len(genomes), self._input_grid(height, width)
        if n == 0:
            return torch.empty(0, channels, height, width)
        heights = self.heights(genomes)
        per_genome = int((heights >= 0).sum(1).max()) * height * width
        chunks = -(-n // max(1, budget // per_genome))
        if chunks == 1:
            return self._evaluate(genomes, heights, inputs).view(n, channels, height, width)
        chunk = -(-n // chunks)  # equal chunks: equal buffers, which the allocator hands out again
        images = torch.empty(n, channels, height * width)
        for start in range(0, n, chunk):
            rows = torch.arange(start, min(start + chunk, n))
            images[start:start + len(rows)] = self._evaluate(self.select(genomes, rows), heights[rows], inputs)
        return images.view(n, channels, height, width)

    def needed_units(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N, U) bool: the hidden units whose value reaches an output, and the outputs. Rendering evaluates only
        these: deleted connections leave many hidden units dangling (over half of them in genomes mutated 100
        times from random ones)."""
        return self.heights(genomes) >= 0

    def heights(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N, U) int64: for each unit whose value reaches an output, its longest path to one (0 for the
        outputs); negative for the others (inputs included). Every source of a unit lies higher than the unit,
        so units can be evaluated a height at a time: a handful of levels instead of a loop over all slots.

        Found with bit sets over the list of connections (NumPy): the units with a path of length k to an output
        are those feeding one with a path of length k - 1, and a unit's height is the last k it is found at;
        a step per level over (N, U) bytes instead of a step per slot."""
        n, u = genomes.alive.shape
        words = -(-u // 64)  # a set of units: a bit per slot in 64-bit words
        edge = np.flatnonzero(genomes.connected.numpy())  # genome * u * u + target * u + source
        target, source = edge // u % u, edge // (u * u) * u + edge % u  # source: genome * u + slot
        # each unit's targets as a bit set, built byte by byte (a byte's bits are distinct: their sum is their union)
        feeds = np.bincount(source * (8 * words) + target // 8, weights=np.exp2(target % 8),
                            minlength=n * u * 8 * words).astype(np.uint8).view(np.uint64).reshape(n, u, words)
        height = np.full((n, u), _UNREACHED, dtype=np.int64)
        height[:, self.outputs.numpy()] = 0
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
        return torch.from_numpy(height)

    def _evaluate(self, genomes: CPPNGenomes, heights: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """|outputs| (n, C, P) of `genomes` at the input values `inputs` (4, P).

        One tensor holds every value: the 4 input rows, then a block per level (the units of one height, highest
        first, the outputs last) of one row per (genome, unit), sorted by activation function so that each
        function runs once per level on a contiguous slice. A unit's pre-activation is the sum over its incoming
        connections of weight x source row, gathered and added (`index_add_`) in ascending source order: sparse
        work, and the same sums in the same order as evaluating each genome alone."""
        n, u, pixels = len(genomes), self.units, inputs.shape[1]
        evaluated = true_positions(heights >= 0)  # genome * u + slot
        genome, slot = evaluated // u, evaluated % u
        top = int(heights.max())
        # each unit's level (highest first) and function: its row's sort key
        key = (top - heights.view(-1)[evaluated]) * FUNCTIONS + genomes.activation.view(-1)[evaluated]
        order = key.argsort(stable=True)
        genome, slot, key = genome[order], slot[order], key[order]  # the evaluated units in row order
        row = torch.empty_like(heights)
        row[genome, slot] = torch.arange(INPUTS, INPUTS + len(order))
        functions = torch.bincount(key, minlength=(top + 1) * FUNCTIONS).view(top + 1, FUNCTIONS)
        sizes = functions.sum(1)  # units per level
        begins = INPUTS + sizes.cumsum(0) - sizes
        # the connections into each evaluated unit (its row of `connected`), in row order, ascending source
        connection = true_positions(genomes.connected.view(n * u, u)[genome * u + slot])  # unit * u + source
        unit, source = connection // u, connection % u
        weight = genomes.weight.view(-1)[(genome[unit] * u + slot[unit]) * u + source, None]
        source_row = torch.where(source < INPUTS, source, row[genome[unit], source])
        level = key // FUNCTIONS
        target_row = unit + INPUTS - begins[level[unit]]  # within its level's block
        values = torch.empty(INPUTS + len(order), pixels)
        values[:INPUTS] = inputs
        edges = torch.bincount(level[unit], minlength=top + 1).cumsum(0).tolist()
        for level, (begin, size, counts) in enumerate(zip(begins.tolist(), sizes.tolist(), functions.tolist())):
            block = values[begin:begin + size].zero_()
            into = slice(edges[level - 1] if level else 0, edges[level])
            block.index_add_(0, target_row[into], values.index_select(0, source_row[into]).mul_(weight[into]))
            for code, count in enumerate(counts):
                if count:
                    _ACTIVATE_IN_PLACE[code](block[:count])
                    block = block[count:]
        outputs = row[:, self.outputs].T  # (C, n): each output's row per genome
        return values.index_select(0, outputs.flatten()).view(self.channels, n, pixels).transpose(0, 1) \
            .abs_().clamp_(0.0, 1.0)

    def _input_grid(self, height: int, width: int) -> torch.Tensor:
        """(x, y, d, 1) per pixel (4, H*W), row-major; d is measured on the centred grid as the authors do."""
        def centred(size: int) -> torch.Tensor:
            return torch.zeros(1) if size == 1 else torch.linspace(-1.0, 1.0, size)

        y, x = torch.meshgrid(centred(height), centred(width), indexing="ij")
        distance = torch.sqrt(x * x + y * y)
        if self.values["coordinates"] == "pixel":
            y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                                  torch.arange(width, dtype=torch.float32), indexing="ij")
        return torch.stack([x.flatten(), y.flatten(), distance.flatten(), torch.ones(height * width)])

    # --- populations --------------------------------------------------------------------------------------------

    def select(self, genomes: CPPNGenomes, index: torch.Tensor) -> CPPNGenomes:
        index = torch.as_tensor(index, dtype=torch.long)
        return CPPNGenomes(genomes.weight[index], genomes.connected[index], genomes.activation[index],
                           genomes.alive[index])

    def join(self, batches: Sequence[CPPNGenomes]) -> CPPNGenomes:
        return CPPNGenomes(*(torch.cat([getattr(b, key) for b in batches]) for key in _FIELDS))

    def to_arrays(self, genomes: CPPNGenomes) -> dict[str, np.ndarray]:
        return {"weight": genomes.weight.numpy().astype(np.float32), "connected": genomes.connected.numpy(),
                "activation": genomes.activation.numpy().astype(np.int8), "alive": genomes.alive.numpy()}

    def from_arrays(self, arrays: Mapping[str, np.ndarray]) -> CPPNGenomes:
        """Genomes written by `to_arrays`, checked (ParameterError when they do not fit this encoding)."""
        missing = [key for key in _FIELDS if key not in arrays]
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
        genomes = CPPNGenomes(weight, connected,
                              torch.from_numpy(np.asarray(arrays["activation"]).astype(np.int64)),
                              torch.from_numpy(np.asarray(arrays["alive"], dtype=bool).copy()))
        self._check(genomes)
        return genomes

    def _check(self, genomes: CPPNGenomes):
        n = len(genomes)
        shapes_fit = (genomes.connected.shape == genomes.weight.shape and genomes.activation.shape == (n, self.units)
                      and genomes.alive.shape == (n, self.units))
        if not shapes_fit:
            raise ParameterError("saved CPPN genomes have arrays of mismatched shapes")
        if (genomes.connected & ~self.allowed).any():
            raise ParameterError("saved CPPN genomes have connections that are not feed-forward")
        if (genomes.connected & ~(genomes.alive[:, :, None] & genomes.alive[:, None, :])).any():
            raise ParameterError("saved CPPN genomes have connections to or from units that are not alive")
        if not torch.isfinite(genomes.weight).all() or genomes.activation.min() < 0 \
                or genomes.activation.max() >= len(ACTIVATION_NAMES):
            raise ParameterError("saved CPPN genomes have invalid weights or activation functions")

    # --- mutation operators (each on all genomes at once; `chosen` (N,) says which genomes it applies to) ------

    def _random_weights(self, shape, generator) -> torch.Tensor:
        limit = self.values["weight_limit"]
        return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * limit

    def _random_activations(self, shape, generator) -> torch.Tensor:
        return self.palette[torch.randint(len(self.palette), shape, generator=generator)]

    def _mutate_weights(self, genomes: CPPNGenomes, generator) -> CPPNGenomes:
        """Deb's polynomial mutation (sferes `evo_float`) of the gene (w + limit) / 2 limit in [0, 1], clipped;
        each connection's weight with probability weight_mutation_rate. Randoms are drawn per connection only."""
        v = self.values
        limit, exponent = v["weight_limit"], 1.0 / (v["weight_eta"] + 1.0)
        connections = true_positions(genomes.connected)
        at = connections[torch.rand(len(connections), generator=generator) < v["weight_mutation_rate"]]
        r = torch.rand(len(at), generator=generator)
        delta = torch.where(r < 0.5, (2.0 * r) ** exponent - 1.0, 1.0 - (2.0 * (1.0 - r)) ** exponent)
        weight = genomes.weight.view(-1)  # mutate() owns its copy: operators change it in place
        weight[at] = (weight[at] + delta * 2.0 * limit).clamp(-limit, limit)
        return genomes

    def _mutate_activations(self, genomes: CPPNGenomes, generator) -> CPPNGenomes:
        shape = genomes.activation.shape
        chosen = torch.rand(shape, generator=generator) < self.values["activation_mutation_rate"]
        chosen[:, :INPUTS] = False  # inputs pass their values through
        fresh = self._random_activations(shape, generator)
        return _with(genomes, activation=torch.where(chosen, fresh, genomes.activation))

    def _candidate_pairs(self, genomes: CPPNGenomes, rows: torch.Tensor) -> torch.Tensor:
        """(len(rows), U, U): the new connections the genomes at `rows` may get (forward, between living units,
        not present)."""
        alive = genomes.alive[rows].view(torch.uint8)
        both_alive = (alive[:, :, None] * alive[:, None, :]).view(torch.bool)  # bool & broadcast is 4x slower
        return both_alive.logical_and_(self.allowed).logical_and_(genomes.connected[rows].logical_not_())

    def _add_connection(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        rows, pair = pick_for_chosen(chosen, lambda rows: self._candidate_pairs(genomes, rows).flatten(1), generator)
        at = self._flat(rows, pair)
        genomes.connected.view(-1)[at] = True
        genomes.weight.view(-1)[at] = self._random_weights((len(rows),), generator)
        return genomes

    def _delete_connection(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        rows, pair = pick_for_chosen(chosen, lambda rows: genomes.connected[rows].flatten(1), generator)
        at = self._flat(rows, pair)
        genomes.connected.view(-1)[at] = False
        genomes.weight.view(-1)[at] = 0.0
        return genomes

    def _change_connection(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        """One connection gets a new source or (coin flip) a new target, keeping its weight (`Dnn::_change_conns`);
        it stays where it is when no other endpoint is free."""
        rows, pair = pick_for_chosen(chosen, lambda rows: genomes.connected[rows].flatten(1), generator)
        target, source = pair // self.units, pair % self.units
        move_source = torch.rand(len(rows), generator=generator) < 0.5
        free = self._candidate_pairs(genomes, rows)  # (k, U, U) [target, source]
        k = torch.arange(len(rows))
        sources_free = free[k, target]  # (k, U): other sources into this target
        targets_free = free[k, :, source]  # (k, U): other targets of this source
        has, new_end = pick_in_rows(torch.where(move_source[:, None], sources_free, targets_free),
                                    uniforms(len(rows), generator))
        rows, target, source, new_end = rows[has], target[has], source[has], new_end[has]
        new_pair = torch.where(move_source[has], target * self.units + new_end, new_end * self.units + source)
        self._move_connections(genomes, self._flat(rows, pair[has]), self._flat(rows, new_pair))
        return genomes

    def _add_unit(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        """A new unit splits a random connection s -> t into s -> new -> t, both with the old weight
        (`Dnn::_add_neuron_on_conn`); skipped at the cap. The new unit takes a free hidden slot and is renumbered
        to sit just after s (the living hidden units of these genomes then fill the first slots)."""
        hidden = genomes.alive[:, INPUTS:INPUTS + self.hidden]
        rows, pair = pick_for_chosen(chosen & ~hidden.all(1), lambda rows: genomes.connected[rows].flatten(1),
                                     generator)
        target, source = pair // self.units, pair % self.units
        slot = INPUTS + hidden[rows].view(torch.uint8).argmin(1)  # the first free hidden slot
        u = self.units
        split = self._flat(rows, pair)
        into_new, out_of_new = self._flat(rows, slot * u + source), self._flat(rows, target * u + slot)
        self._move_connections(genomes, split, into_new)
        genomes.connected.view(-1)[out_of_new] = True
        genomes.weight.view(-1)[out_of_new] = genomes.weight.view(-1)[into_new]
        unit = rows * u + slot
        genomes.alive.view(-1)[unit] = True
        genomes.activation.view(-1)[unit] = self._random_activations((len(rows),), generator)
        keys = self._order_keys(genomes.alive)
        keys.view(-1)[unit] = source.clamp(min=INPUTS - 1).float() + 0.5  # after its source, before its target
        return _reorder(genomes, keys, rows)

    def _delete_unit(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        """A random hidden unit and its connections go (`Dnn::_del_neuron`), leaving its slot free: the slots
        keep a topological order, and the next added unit fills the first free one."""
        def hidden_of(rows: torch.Tensor) -> torch.Tensor:
            hidden = genomes.alive[rows]
            hidden[:, :INPUTS] = False
            hidden[:, self.outputs] = False
            return hidden

        rows, unit = pick_for_chosen(chosen, hidden_of, generator)
        for field, cleared in ((genomes.connected, False), (genomes.weight, 0.0)):
            field[rows, unit, :] = cleared
            field[rows, :, unit] = cleared
        genomes.alive[rows, unit] = False
        return genomes

    def _move_connections(self, genomes: CPPNGenomes, old: torch.Tensor, new: torch.Tensor) -> None:
        """The connections at flat positions `old` move to `new`, keeping their weights."""
        connected, weight = genomes.connected.view(-1), genomes.weight.view(-1)
        kept = weight[old]
        connected[old] = False
        weight[old] = 0.0
        connected[new] = True
        weight[new] = kept

    def _order_keys(self, alive: torch.Tensor) -> torch.Tensor:
        """Sort keys per slot that keep the present order and move dead hidden slots behind the living ones."""
        return torch.where(alive, self.slot_order, INPUTS + self.hidden - 0.5)  # inputs and outputs never die

    def _flat(self, rows: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
        """Positions in a flattened (N, U, U) field of the flat (target, source) pairs `pair` of genomes `rows`."""
        return rows * (self.units * self.units) + pair

    def hidden_counts(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N,) living hidden units per genome."""
        return genomes.alive[:, INPUTS:INPUTS + self.hidden].sum(1)


_FIELDS = ("weight", "connected", "activation", "alive")


def _with(genomes: CPPNGenomes, **changes) -> CPPNGenomes:
    return CPPNGenomes(**{key: changes.get(key, getattr(genomes, key)) for key in _FIELDS})


def _reorder(genomes: CPPNGenomes, keys: torch.Tensor, rows: torch.Tensor | None = None) -> CPPNGenomes:
    """Renumber the slots of the genomes at `rows` (all when None) in the order of their `keys` (N, U) (a stable
    sort): a relabelling of units, which keeps every network the same function while restoring `connected` to
    strictly lower-triangular. The other genomes keep their numbering (and cost nothing)."""
    rows = torch.arange(len(genomes)) if rows is None else rows
    order = torch.sort(keys[rows], dim=1, stable=True).indices
    n, u = order.shape
    pairs = (order[:, :, None] * u + order[:, None, :]).view(n, u * u)  # [target, source] -> old flat position

    def renumbered(field: torch.Tensor) -> torch.Tensor:
        changed = field[rows].view(n, u * u).gather(1, pairs).view(n, u, u) if field.dim() == 3 \
            else field[rows].gather(1, order)
        field[rows] = changed  # in place: the genomes are a copy their caller owns
        return field

    return CPPNGenomes(*(renumbered(getattr(genomes, key)) for key in _FIELDS))


def describe(genomes: CPPNGenomes, index: int) -> str:
    """One genome as text (units with their activations, then connections), for debugging and reports."""
    g = genomes
    units = [f"{slot}:{ACTIVATION_NAMES[int(g.activation[index, slot])]}" for slot in
             g.alive[index].nonzero().squeeze(1).tolist() if slot >= INPUTS]
    edges = [f"{s}->{t} {float(g.weight[index, t, s]):+.2f}" for t, s in g.connected[index].nonzero().tolist()]
    return f"units {' '.join(units)}; connections {', '.join(edges)}"

