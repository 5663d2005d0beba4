"""The mutation operators of the CPPN encoding (the authors' `DnnFF::mutate`), each applied to a whole population
at once, in place, on NumPy arrays of its padded fields (cut by the encoding to the slots the population uses).

The randoms come from the run's torch.Generator (one stream for the whole evolution, which an archive saves and
a resumed run restores); the index work is NumPy, whose small operations cost a fraction of torch's: a mutation
of 200 genomes is some 60 of them. `chosen` (N,) bool says which genomes an operator applies to.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from .picks import pick_for_chosen, pick_in_rows, uniforms


class GenomeArrays(NamedTuple):
    """A population's padded fields as NumPy arrays (see `CPPNGenomes`), U slots each."""

    weight: np.ndarray  # (N, U, U) float32, [target, source]
    connected: np.ndarray  # (N, U, U) bool
    activation: np.ndarray  # (N, U) int64
    alive: np.ndarray  # (N, U) bool
    rank: np.ndarray  # (N, U) int16: each slot's place in a topological order


class Mutator:
    """The operators for genomes of `units` slots: `inputs` input slots, then `hidden` hidden ones, then the
    outputs; `columns`: which slots of the full genomes these are (None: all). `allowed` (U, U) bool: the
    [target, source] pairs that may be connected when the source comes first in the genome's order (into a
    non-input, out of a non-output); `palette`: the activation codes new units and mutated activations draw from;
    `values`: the resolved CPPN parameters (rates and weight law).

    A genome stays acyclic because a connection only ever goes from a lower to a higher `rank`; a new unit is
    ranked just after the source of the connection it splits. Slots never move: a deleted unit leaves its slot
    free and the next added one takes the first free slot."""

    def __init__(self, inputs: int, hidden: int, units: int, allowed: np.ndarray, palette: np.ndarray,
                 values: Mapping[str, Any], columns: np.ndarray | None = None):
        self.inputs, self.hidden, self.units = inputs, hidden, units
        self.allowed, self.palette, self.values = allowed, palette, values
        # per-slot randoms are drawn for every slot of the full genomes: the children do not depend on how many
        # slots the encoding hands over
        self.columns = np.arange(units) if columns is None else columns
        self.drawn = int(self.columns[-1]) + 1

    def mutate(self, g: GenomeArrays, generator: torch.Generator) -> None:
        """Every weight and activation may change, then with their rates one connection is added and deleted and
        one unit added and deleted; with change_connection_rate > 0 (not the authors' way) one connection is also
        moved first."""
        v, n = self.values, len(g.weight)

        def chance(rate: float) -> np.ndarray:
            return torch.rand(n, generator=generator).numpy() < rate

        self.mutate_weights(g, generator)
        if v["change_connection_rate"] > 0:
            self.change_connection(g, chance(v["change_connection_rate"]), generator)
        self.mutate_activations(g, generator)
        self.add_connection(g, chance(v["add_connection_rate"]), generator)
        self.delete_connection(g, chance(v["delete_connection_rate"]), generator)
        self.add_unit(g, chance(v["add_unit_rate"]), generator)
        self.delete_unit(g, chance(v["delete_unit_rate"]), generator)

    def random_weights(self, shape, generator) -> torch.Tensor:
        limit = self.values["weight_limit"]
        return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * limit

    def random_activations(self, shape, generator) -> np.ndarray:
        return self.palette[torch.randint(len(self.palette), shape, generator=generator).numpy()]

    def mutate_weights(self, g: GenomeArrays, generator) -> None:
        """Deb's polynomial mutation (sferes `evo_float`) of the gene (w + limit) / 2 limit in [0, 1], clipped;
        each connection's weight with probability weight_mutation_rate. Randoms are drawn per connection only."""
        v = self.values
        limit, exponent = v["weight_limit"], 1.0 / (v["weight_eta"] + 1.0)
        connections = np.flatnonzero(g.connected)
        at = connections[torch.rand(len(connections), generator=generator).numpy() < v["weight_mutation_rate"]]
        r = torch.rand(len(at), generator=generator).numpy()
        delta = np.where(r < 0.5, (2.0 * r) ** exponent - 1.0, 1.0 - (2.0 * (1.0 - r)) ** exponent)
        weight = g.weight.reshape(-1)
        weight[at] = np.clip(weight[at] + delta * (2.0 * limit), -limit, limit)

    def mutate_activations(self, g: GenomeArrays, generator) -> None:
        drawn = (len(g.activation), self.drawn)
        chosen = (torch.rand(drawn, generator=generator).numpy() < self.values["activation_mutation_rate"])
        chosen = chosen[:, self.columns]
        chosen[:, :self.inputs] = False  # inputs pass their values through
        g.activation[chosen] = self.random_activations(drawn, generator)[:, self.columns][chosen]

    def add_connection(self, g: GenomeArrays, chosen: np.ndarray, generator) -> None:
        rows, pair = pick_for_chosen(chosen, lambda rows: self._pairs(self._candidate_pairs(g, rows)),
                                     generator)
        at = self._flat(rows, pair)
        g.connected.reshape(-1)[at] = True
        g.weight.reshape(-1)[at] = self.random_weights((len(rows),), generator).numpy()

    def delete_connection(self, g: GenomeArrays, chosen: np.ndarray, generator) -> None:
        rows, pair = pick_for_chosen(chosen, lambda rows: self._pairs(g.connected[rows]), generator)
        at = self._flat(rows, pair)
        g.connected.reshape(-1)[at] = False
        g.weight.reshape(-1)[at] = 0.0

    def change_connection(self, g: GenomeArrays, chosen: np.ndarray, generator) -> None:
        """One connection gets a new source or (coin flip) a new target, keeping its weight (`Dnn::_change_conns`);
        it stays where it is when no other endpoint is free."""
        u = self.units
        rows, pair = pick_for_chosen(chosen, lambda rows: self._pairs(g.connected[rows]), generator)
        target, source = np.divmod(pair, u)
        move_source = torch.rand(len(rows), generator=generator).numpy() < 0.5
        free = self._candidate_pairs(g, rows)  # (k, U, U) [target, source]
        k = np.arange(len(rows))
        ends_free = np.where(move_source[:, None], free[k, target], free[k, :, source])  # other sources / targets
        has, new_end = pick_in_rows(ends_free, uniforms(len(rows), generator))
        rows, target, source, new_end = rows[has], target[has], source[has], new_end[has]
        new_pair = np.where(move_source[has], target * u + new_end, new_end * u + source)
        self._move_connections(g, self._flat(rows, pair[has]), self._flat(rows, new_pair))

    def add_unit(self, g: GenomeArrays, chosen: np.ndarray, generator) -> None:
        """A new unit splits a random connection s -> t into s -> new -> t, both with the old weight
        (`Dnn::_add_neuron_on_conn`); skipped at the cap. The new unit takes the first free hidden slot."""
        u, hidden = self.units, g.alive[:, self.inputs:self.inputs + self.hidden]
        rows, pair = pick_for_chosen(chosen & ~hidden.all(1), lambda rows: self._pairs(g.connected[rows]),
                                     generator)
        target, source = np.divmod(pair, u)
        slot = self.inputs + hidden[rows].argmin(1)  # the first free hidden slot
        into_new, out_of_new = self._flat(rows, slot * u + source), self._flat(rows, target * u + slot)
        self._move_connections(g, self._flat(rows, pair), into_new)
        g.connected.reshape(-1)[out_of_new] = True
        g.weight.reshape(-1)[out_of_new] = g.weight.reshape(-1)[into_new]
        unit = rows * u + slot
        g.alive.reshape(-1)[unit] = True
        g.activation.reshape(-1)[unit] = self.random_activations((len(rows),), generator)
        # ranked right after its source (after the inputs, which keep ranks 0..3), before its target; the ranks
        # of the genome are then renumbered 0..U-1 in the same order
        keys, k = g.rank[rows].astype(np.float64), np.arange(len(rows))
        keys[k, slot] = np.maximum(keys[k, source], self.inputs - 1) + 0.5
        g.rank[rows] = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1)

    def delete_unit(self, g: GenomeArrays, chosen: np.ndarray, generator) -> None:
        """A random hidden unit and its connections go (`Dnn::_del_neuron`), leaving its slot free: the slots
        keep a topological order, and the next added unit fills the first free one."""
        def hidden_of(rows: np.ndarray) -> np.ndarray:
            hidden = g.alive[rows]
            hidden[:, :self.inputs] = False
            hidden[:, self.inputs + self.hidden:] = False
            return hidden

        rows, unit = pick_for_chosen(chosen, hidden_of, generator)
        for field, cleared in ((g.connected, False), (g.weight, 0.0)):
            field[rows, unit, :] = cleared
            field[rows, :, unit] = cleared
        g.alive[rows, unit] = False

    def _candidate_pairs(self, g: GenomeArrays, rows: np.ndarray) -> np.ndarray:
        """(len(rows), U, U): the new connections the genomes at `rows` may get (forward in their order, between
        living units, not present)."""
        alive, rank = g.alive[rows], g.rank[rows]
        forward = rank[:, None, :] < rank[:, :, None]  # [target, source]: the source ranks first
        return alive[:, :, None] & alive[:, None, :] & forward & self.allowed & ~g.connected[rows]

    def _move_connections(self, g: GenomeArrays, old: np.ndarray, new: np.ndarray) -> None:
        """The connections at flat positions `old` move to `new`, keeping their weights."""
        connected, weight = g.connected.reshape(-1), g.weight.reshape(-1)
        kept = weight[old]
        connected[old] = False
        weight[old] = 0.0
        connected[new] = True
        weight[new] = kept

    def _pairs(self, field: np.ndarray) -> np.ndarray:
        """(k, U, U) -> (k, U x U): a row of flat (target, source) pairs per genome."""
        return field.reshape(len(field), self.units * self.units)

    def _flat(self, rows: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """Positions in a flattened (N, U, U) field of the flat (target, source) pairs `pair` of genomes `rows`."""
        return rows * (self.units * self.units) + pair

