"""The CPPN encoding of fooling images (Nguyen, Yosinski, Clune 2015; the authors' Sferes `HyperNn`/`DnnFF`
genotype): an image is a small feed-forward network of sine, sigmoid, Gaussian and linear units over the
inputs (x, y, distance to the centre, bias), evaluated at every pixel; a pixel is |output| in [0, 1].

A population is held as padded tensors so that rendering and mutation are tensor-level over all genomes:
unit slots 0..3 are the inputs, then `max_hidden_units` hidden slots, then one output per channel. A unit only
takes input from lower-numbered slots (`connected[n, target, source]` is strictly lower-triangular), so every
genome is acyclic by construction and is evaluated slot by slot. Living hidden units always occupy the first
hidden slots (mutation renumbers them, keeping a topological order), so rendering stops after the last one.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.errors import ParameterError
from ..core.params import Param, ParamSet, Rule

SINE, SIGMOID, GAUSSIAN, LINEAR, TANH = range(5)
ACTIVATION_NAMES = ("sine", "sigmoid", "gaussian", "linear", "tanh")
INPUTS = 4  # x, y, distance to the centre, bias
_RATE = dict(minimum=0.0, maximum=1.0)

CPPN = ParamSet("cppn", (
    Param("add_connection_rate", float, 0.5, "chance per child of one new connection", **_RATE),
    Param("delete_connection_rate", float, 0.3, "chance per child of losing one connection", **_RATE),
    Param("change_connection_rate", float, 0.5, "chance per child of moving one connection's source or target "
          "(declared in the authors' code; its feed-forward genotype never applies it: 0 reproduces that)",
          **_RATE),
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


def activate(pre: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Each row's activation function `ids[row]` applied to `pre[row]` (the authors' `AfCppn`; all in [-1, 1])."""
    codes = ids.unique()
    if len(codes) == 1:
        return _ACTIVATIONS[int(codes)](pre)
    out = torch.empty_like(pre)
    for code in codes.tolist():
        rows = (ids == code).nonzero().squeeze(1)
        out.index_copy_(0, rows, _ACTIVATIONS[code](pre.index_select(0, rows)))
    return out


_ACTIVATIONS = {
    SINE: torch.sin,
    SIGMOID: lambda p: torch.tanh(p * 0.5),  # (1 / (1 + e^-p) - 0.5) * 2
    GAUSSIAN: lambda p: torch.exp(-p * p),
    LINEAR: lambda p: p.clamp(-3.0, 3.0) / 3.0,
    TANH: lambda p: torch.tanh(p * 5.0),
}


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
        """Copies of the parents: the authors' CPPN genotype (`DnnFF::cross`) has no crossover."""
        return self.select(a, torch.arange(len(a))), self.select(b, torch.arange(len(b)))

    def mutate(self, genomes: CPPNGenomes, generator: torch.Generator) -> CPPNGenomes:
        """New genomes, each mutated as `DnnFF::mutate` does: every weight and activation may change, then with
        their rates one connection is moved, added and deleted and one unit added and deleted."""
        v, n = self.values, len(genomes)

        def chance(rate: float) -> torch.Tensor:
            return torch.rand(n, generator=generator) < rate

        genomes = self._mutate_weights(genomes, generator)
        genomes = self._change_connection(genomes, chance(v["change_connection_rate"]), generator)
        genomes = self._mutate_activations(genomes, generator)
        genomes = self._add_connection(genomes, chance(v["add_connection_rate"]), generator)
        genomes = self._delete_connection(genomes, chance(v["delete_connection_rate"]), generator)
        genomes = self._add_unit(genomes, chance(v["add_unit_rate"]), generator)
        return self._delete_unit(genomes, chance(v["delete_unit_rate"]), generator)

    # --- rendering ----------------------------------------------------------------------------------------------

    def render(self, genomes: CPPNGenomes, shape: Sequence[int], budget: int = 2 ** 25) -> torch.Tensor:
        """The images (N, C, H, W) in [0, 1]: all genomes evaluated together, one batched step per unit slot in
        use, in chunks of genomes holding at most `budget` unit values (memory at 224 x 224)."""
        channels, height, width = (int(s) for s in shape)
        if channels != self.channels:
            raise ParameterError(f"these CPPNs draw {self.channels}-channel images, the model takes {channels}")
        inputs = self._input_grid(height, width)
        used = int(self.hidden_counts(genomes).max()) if len(genomes) else 0
        per_genome = (INPUTS + used) * height * width
        chunk = max(1, budget // per_genome)
        images = torch.empty(len(genomes), channels, height * width)
        for start in range(0, len(genomes), chunk):
            part = self.select(genomes, torch.arange(start, min(start + chunk, len(genomes))))
            images[start:start + len(part)] = self._evaluate(part, inputs, used)
        return images.view(len(genomes), channels, height, width)

    def _evaluate(self, genomes: CPPNGenomes, inputs: torch.Tensor, used: int) -> torch.Tensor:
        """|outputs| (n, C, P) of `genomes` at the input values `inputs` (4, P); `used` hidden slots."""
        n, pixels = len(genomes), inputs.shape[1]
        values = torch.empty(n, INPUTS + used, pixels)
        values[:, :INPUTS] = inputs
        for unit in range(INPUTS, INPUTS + used):
            values[:, unit] = activate(self._weighted_inputs(genomes, values, unit), genomes.activation[:, unit])
        out = torch.empty(n, self.channels, pixels)
        for channel, unit in enumerate(self.outputs.tolist()):
            out[:, channel] = activate(self._weighted_inputs(genomes, values, unit), genomes.activation[:, unit])
        return out.abs_().clamp_(0.0, 1.0)

    @staticmethod
    def _weighted_inputs(genomes: CPPNGenomes, values: torch.Tensor, unit: int) -> torch.Tensor:
        """(n, P): each genome's weighted sum into `unit`. Networks are sparse, so this gathers each genome's
        few sources (as many passes as the largest in-degree) instead of a dense product over every slot."""
        n, sources, pixels = values.shape
        incoming = genomes.connected[:, unit, :sources]
        degree = int(incoming.sum(1).max()) if n else 0
        total = torch.zeros(n, pixels)
        if degree == 0:
            return total
        source = incoming.to(torch.int8).topk(degree, dim=1).indices  # connected sources first; others weigh 0
        weight = genomes.weight[:, unit, :sources].gather(1, source)
        for k in range(degree):
            picked = values.gather(1, source[:, k, None, None].expand(n, 1, pixels)).squeeze(1)
            total.addcmul_(picked, weight[:, k, None])
        return total

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
        return self._compact(genomes)

    def _check(self, genomes: CPPNGenomes):
        n = len(genomes)
        shapes_fit = (genomes.connected.shape == genomes.weight.shape and genomes.activation.shape == (n, self.units)
                      and genomes.alive.shape == (n, self.units))
        if not shapes_fit:
            raise ParameterError("saved CPPN genomes have arrays of mismatched shapes")
        if (genomes.connected & ~self.allowed).any():
            raise ParameterError("saved CPPN genomes have connections that are not feed-forward")
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
        """Deb's polynomial mutation (sferes `evo_float`) of the gene (w + limit) / 2 limit in [0, 1], clipped."""
        v = self.values
        limit, exponent = v["weight_limit"], 1.0 / (v["weight_eta"] + 1.0)
        shape = genomes.weight.shape
        chosen = (torch.rand(shape, generator=generator) < v["weight_mutation_rate"]) & genomes.connected
        r = torch.rand(shape, generator=generator)
        delta = torch.where(r < 0.5, (2.0 * r) ** exponent - 1.0, 1.0 - (2.0 * (1.0 - r)) ** exponent)
        moved = (genomes.weight + delta * 2.0 * limit).clamp(-limit, limit)
        return _with(genomes, weight=torch.where(chosen, moved, genomes.weight))

    def _mutate_activations(self, genomes: CPPNGenomes, generator) -> CPPNGenomes:
        shape = genomes.activation.shape
        chosen = torch.rand(shape, generator=generator) < self.values["activation_mutation_rate"]
        chosen[:, :INPUTS] = False  # inputs pass their values through
        fresh = self._random_activations(shape, generator)
        return _with(genomes, activation=torch.where(chosen, fresh, genomes.activation))

    def _candidate_pairs(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N, U, U): the new connections each genome may get (forward, between living units, not present)."""
        return self.allowed & genomes.alive[:, :, None] & genomes.alive[:, None, :] & ~genomes.connected

    def _add_connection(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        found, pair = _pick(self._candidate_pairs(genomes).flatten(1), generator)
        rows = (chosen & found).nonzero().squeeze(1)
        target, source = pair[rows] // self.units, pair[rows] % self.units
        connected, weight = genomes.connected.clone(), genomes.weight.clone()
        connected[rows, target, source] = True
        weight[rows, target, source] = self._random_weights((len(rows),), generator)
        return _with(genomes, connected=connected, weight=weight)

    def _delete_connection(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        found, pair = _pick(genomes.connected.flatten(1), generator)
        rows = (chosen & found).nonzero().squeeze(1)
        target, source = pair[rows] // self.units, pair[rows] % self.units
        connected, weight = genomes.connected.clone(), genomes.weight.clone()
        connected[rows, target, source] = False
        weight[rows, target, source] = 0.0
        return _with(genomes, connected=connected, weight=weight)

    def _change_connection(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        """One connection gets a new source or (coin flip) a new target, keeping its weight (`Dnn::_change_conns`);
        it stays where it is when no other endpoint is free."""
        found, pair = _pick(genomes.connected.flatten(1), generator)
        rows = (chosen & found).nonzero().squeeze(1)
        target, source = pair[rows] // self.units, pair[rows] % self.units
        move_source = torch.rand(len(rows), generator=generator) < 0.5
        free = self._candidate_pairs(self.select(genomes, rows))  # (k, U, U) [target, source]
        k = torch.arange(len(rows))
        sources_free = free[k, target]  # (k, U): other sources into this target
        targets_free = free[k, :, source]  # (k, U): other targets of this source
        has, new_end = _pick(torch.where(move_source[:, None], sources_free, targets_free), generator)
        rows, target, source, new_end = rows[has], target[has], source[has], new_end[has]
        move_source = move_source[has]
        new_target = torch.where(move_source, target, new_end)
        new_source = torch.where(move_source, new_end, source)
        connected, weight = genomes.connected.clone(), genomes.weight.clone()
        kept = weight[rows, target, source]
        connected[rows, target, source] = False
        weight[rows, target, source] = 0.0
        connected[rows, new_target, new_source] = True
        weight[rows, new_target, new_source] = kept
        return _with(genomes, connected=connected, weight=weight)

    def _add_unit(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        """A new unit splits a random connection s -> t into s -> new -> t, both with the old weight
        (`Dnn::_add_neuron_on_conn`); skipped at the cap. The new unit is renumbered to sit just after s."""
        found, pair = _pick(genomes.connected.flatten(1), generator)
        room = self.hidden_counts(genomes) < self.hidden
        rows = (chosen & found & room).nonzero().squeeze(1)
        target, source = pair[rows] // self.units, pair[rows] % self.units
        slot = INPUTS + self.hidden_counts(genomes)[rows]  # the first free hidden slot (living ones come first)
        connected, weight = genomes.connected.clone(), genomes.weight.clone()
        alive, activation = genomes.alive.clone(), genomes.activation.clone()
        kept = weight[rows, target, source]
        connected[rows, target, source] = False
        weight[rows, target, source] = 0.0
        connected[rows, slot, source] = True
        weight[rows, slot, source] = kept
        connected[rows, target, slot] = True
        weight[rows, target, slot] = kept
        alive[rows, slot] = True
        activation[rows, slot] = self._random_activations((len(rows),), generator)
        keys = self._order_keys(alive)
        keys[rows, slot] = source.clamp(min=INPUTS - 1).float() + 0.5  # after its source, before its target
        return _reorder(CPPNGenomes(weight, connected, activation, alive), keys)

    def _delete_unit(self, genomes: CPPNGenomes, chosen: torch.Tensor, generator) -> CPPNGenomes:
        """A random hidden unit and its connections go (`Dnn::_del_neuron`); the rest move up to fill its slot."""
        hidden = genomes.alive.clone()
        hidden[:, :INPUTS] = False
        hidden[:, self.outputs] = False
        found, unit = _pick(hidden, generator)
        rows = (chosen & found).nonzero().squeeze(1)
        unit = unit[rows]
        connected, weight, alive = genomes.connected.clone(), genomes.weight.clone(), genomes.alive.clone()
        connected[rows, unit, :] = False
        connected[rows, :, unit] = False
        weight[rows, unit, :] = 0.0
        weight[rows, :, unit] = 0.0
        alive[rows, unit] = False
        return self._compact(_with(genomes, connected=connected, weight=weight, alive=alive))

    def _order_keys(self, alive: torch.Tensor) -> torch.Tensor:
        """Sort keys per slot that keep the present order and move dead hidden slots behind the living ones."""
        keys = torch.arange(self.units, dtype=torch.float32).expand_as(alive).clone()
        dead_hidden = ~alive
        keys[dead_hidden] = INPUTS + self.hidden - 0.5
        return keys

    def hidden_counts(self, genomes: CPPNGenomes) -> torch.Tensor:
        """(N,) living hidden units per genome."""
        return genomes.alive[:, INPUTS:INPUTS + self.hidden].sum(1)

    def _compact(self, genomes: CPPNGenomes) -> CPPNGenomes:
        return _reorder(genomes, self._order_keys(genomes.alive))


_FIELDS = ("weight", "connected", "activation", "alive")


def _with(genomes: CPPNGenomes, **changes) -> CPPNGenomes:
    return CPPNGenomes(**{key: changes.get(key, getattr(genomes, key)) for key in _FIELDS})


def _pick(candidates: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of `candidates` (N, K) bool: whether it has any, and one of them drawn uniformly."""
    scores = torch.rand(candidates.shape, generator=generator).masked_fill_(~candidates, -1.0)
    return candidates.any(1), scores.argmax(1)


def _reorder(genomes: CPPNGenomes, keys: torch.Tensor) -> CPPNGenomes:
    """Renumber each genome's slots in the order of `keys` (N, U) (a stable sort): a relabelling of units, which
    keeps every network the same function while restoring `connected` to strictly lower-triangular."""
    order = torch.sort(keys, dim=1, stable=True).indices
    n, u = order.shape
    rows, cols = order[:, :, None].expand(n, u, u), order[:, None, :].expand(n, u, u)

    def square(matrix: torch.Tensor) -> torch.Tensor:
        return matrix.gather(1, rows).gather(2, cols)

    return CPPNGenomes(square(genomes.weight), square(genomes.connected), genomes.activation.gather(1, order),
                       genomes.alive.gather(1, order))


def describe(genomes: CPPNGenomes, index: int) -> str:
    """One genome as text (units with their activations, then connections), for debugging and reports."""
    g = genomes
    units = [f"{slot}:{ACTIVATION_NAMES[int(g.activation[index, slot])]}" for slot in
             g.alive[index].nonzero().squeeze(1).tolist() if slot >= INPUTS]
    edges = [f"{s}->{t} {float(g.weight[index, t, s]):+.2f}" for t, s in g.connected[index].nonzero().tolist()]
    return f"units {' '.join(units)}; connections {', '.join(edges)}"

