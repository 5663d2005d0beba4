"""The CPPN encoding of fooling images: shapes and range, variety, mutation rates, acyclicity, saving, seeds, and
rendering checked against a plain per-genome evaluation."""
import numpy as np
import pytest
import torch

from engine.core.errors import ParameterError
from engine.fooling.cppn import CPPN, INPUTS, CPPNEncoding, CPPNGenomes
from engine.fooling.cppn_mutation import GenomeArrays
from engine.fooling.picks import pick_for_chosen, pick_in_rows, uniforms


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def evolved(encoding, count=64, generations=15, seed=0):
    generator = seeded(seed)
    genomes = encoding.random(count, generator)
    for _ in range(generations):
        genomes = encoding.mutate(genomes, generator)
    return genomes


def test_params_declare_the_authors_rates():
    defaults = CPPN.defaults()
    assert (defaults["add_connection_rate"], defaults["delete_connection_rate"], defaults["change_connection_rate"],
            defaults["add_unit_rate"], defaults["delete_unit_rate"]) == (0.5, 0.3, 0.0, 0.5, 0.2)  # moving: never
    assert (defaults["weight_mutation_rate"], defaults["weight_eta"], defaults["weight_limit"]) == (0.1, 15.0, 10.0)
    with pytest.raises(ParameterError):
        CPPNEncoding(1, {"initial_hidden_units": 5, "max_hidden_units": 2})


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 224, 224)])
def test_render_shape_and_range(shape):
    encoding = CPPNEncoding(shape[0])
    images = encoding.render(evolved(encoding, count=4, generations=10), shape)
    assert images.shape == (4, *shape) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1


def test_random_genomes_are_varied_patterns():
    encoding = CPPNEncoding(1)
    images = encoding.render(encoding.random(32, seeded()), (1, 28, 28)).flatten(1)
    not_flat = images.std(1) > 0.02
    assert not_flat.float().mean() > 0.7
    distinct = torch.cdist(images, images)[~torch.eye(32, dtype=torch.bool)]
    assert (distinct > 0.5).float().mean() > 0.9


def test_connections_stay_feed_forward_and_weights_in_range():
    encoding = CPPNEncoding(3, {"max_hidden_units": 8})
    genomes = encoding.padded(evolved(encoding, count=128, generations=40))
    source_first = genomes.rank[:, None, :] < genomes.rank[:, :, None]  # [target, source]
    assert not (genomes.connected & ~source_first).any()  # forward in each genome's order: acyclic
    for ranks, alive in zip(genomes.rank.tolist(), genomes.alive.tolist()):
        living = [rank for rank, lives in zip(ranks, alive) if lives]
        assert len(set(living)) == len(living) and sorted(living)[:INPUTS] == list(range(INPUTS))  # inputs first
    assert not genomes.connected[:, :, encoding.outputs].any()  # outputs feed nothing
    assert not genomes.connected[:, :INPUTS].any()  # inputs are fed by nothing
    assert int(encoding.hidden_counts(genomes).max()) <= 8
    assert genomes.weight.abs().max() <= 10
    assert not genomes.weight[~genomes.connected].any()
    both_alive = genomes.alive[:, :, None] & genomes.alive[:, None, :]
    assert not (genomes.connected & ~both_alive).any()  # a deleted unit's free slot keeps no connections


def test_mutation_rates_match_the_declared_ones():
    """One mutation of many genomes with room to grow: units and connections change at the declared rates."""
    encoding = CPPNEncoding(1, {"initial_hidden_units": 3, "delete_unit_rate": 0.0, "delete_connection_rate": 0.0,
                                "change_connection_rate": 0.0})
    generator = seeded(1)
    parents = encoding.random(4000, generator)
    children = encoding.mutate(parents, generator)
    added_units = (encoding.hidden_counts(children) - encoding.hidden_counts(parents)).float()
    assert added_units.mean() == pytest.approx(0.5, abs=0.04)
    added_connections = (children.connection_counts() - parents.connection_counts()).float()
    # each added unit adds one net connection, each add-connection one
    assert added_connections.mean() == pytest.approx(1.0, abs=0.06)

    deleting = CPPNEncoding(1, {"initial_hidden_units": 3, "add_unit_rate": 0.0, "add_connection_rate": 0.0,
                                "change_connection_rate": 0.0})
    children = deleting.mutate(parents, generator)
    lost_units = (deleting.hidden_counts(parents) - deleting.hidden_counts(children)).float()
    assert lost_units.mean() == pytest.approx(0.2, abs=0.03)
    only_connections = CPPNEncoding(1, {"initial_hidden_units": 3, "add_unit_rate": 0.0, "add_connection_rate": 0.0,
                                        "delete_unit_rate": 0.0, "change_connection_rate": 0.0})
    lost = (parents.connection_counts() - only_connections.mutate(parents, generator).connection_counts()).float()
    assert lost.mean() == pytest.approx(0.3, abs=0.04)


def test_change_connection_moves_one_connection():
    encoding = CPPNEncoding(1, {"initial_hidden_units": 3, "add_unit_rate": 0.0, "add_connection_rate": 0.0,
                                "delete_unit_rate": 0.0, "delete_connection_rate": 0.0, "change_connection_rate": 0.5,
                                "weight_mutation_rate": 0.0, "activation_mutation_rate": 0.0})
    generator = seeded(2)
    parents = encoding.random(2000, generator)
    children = encoding.padded(encoding.mutate(parents, generator))  # the slots of the parents
    assert torch.equal(children.connection_counts(), parents.connection_counts())
    moved = (children.connected != parents.connected).flatten(1).any(1).float().mean()
    assert 0.4 < moved <= 0.5


def test_weights_mutate_at_the_declared_rate():
    encoding = CPPNEncoding(1, {"add_unit_rate": 0.0, "add_connection_rate": 0.0, "delete_unit_rate": 0.0,
                                "delete_connection_rate": 0.0, "change_connection_rate": 0.0})
    generator = seeded(3)
    parents = encoding.random(2000, generator)
    children = encoding.padded(encoding.mutate(parents, generator))
    changed = (children.weight != parents.weight)[parents.connected].float().mean()
    assert changed == pytest.approx(0.1, abs=0.01)


def test_arrays_round_trip_renders_identically():
    encoding = CPPNEncoding(3)
    genomes = evolved(encoding, count=16, generations=20)
    arrays = encoding.to_arrays(genomes)
    assert all(isinstance(value, np.ndarray) and value.dtype != object for value in arrays.values())
    restored = encoding.from_arrays(arrays)
    assert torch.equal(encoding.render(restored, (3, 32, 32)), encoding.render(genomes, (3, 32, 32)))
    with pytest.raises(ParameterError):
        CPPNEncoding(3, {"max_hidden_units": 5}).from_arrays(arrays)
    cyclic = {key: value.copy() for key, value in arrays.items()}
    cyclic["connected"][0, INPUTS, INPUTS + 1] = True
    with pytest.raises(ParameterError):
        encoding.from_arrays(cyclic)


def test_files_without_an_order_keep_their_slot_order_and_backward_orders_are_refused():
    encoding = CPPNEncoding(1)
    genomes = evolved(encoding, count=8, generations=1)
    arrays = encoding.to_arrays(genomes)
    older = {key: value for key, value in arrays.items() if key != "rank"}  # written before ranks existed
    assert torch.equal(encoding.from_arrays(older).rank, torch.arange(encoding.units, dtype=torch.int16)
                       .repeat(8, 1))
    backward = {key: value.copy() for key, value in arrays.items()}
    fed = int(np.flatnonzero(arrays["connected"][0, encoding.units - 1])[0])  # a source of genome 0's output
    backward["rank"][0, [fed, encoding.units - 1]] = backward["rank"][0, [encoding.units - 1, fed]]
    with pytest.raises(ParameterError, match="not feed-forward"):
        encoding.from_arrays(backward)


def test_seeded_runs_repeat():
    encoding = CPPNEncoding(1)
    first, second = evolved(encoding, seed=7), evolved(encoding, seed=7)
    assert torch.equal(encoding.render(first, (1, 28, 28)), encoding.render(second, (1, 28, 28)))
    assert not torch.equal(encoding.padded(first).connected, encoding.padded(evolved(encoding, seed=8)).connected)


def test_select_and_join_copy_and_crossover_passes_the_parents():
    encoding = CPPNEncoding(1)
    genomes = evolved(encoding, count=8, generations=5)
    picked = encoding.select(genomes, torch.tensor([3, 1]))
    pool = encoding.join([genomes, picked])
    assert len(pool) == 10 and torch.equal(pool.weight[8], genomes.weight[3])
    child_a, child_b = encoding.crossover(genomes, picked, seeded())
    assert child_a is genomes and child_b is picked  # the authors' CPPN has no crossover; mutate copies
    picked.weight.add_(1.0)
    assert torch.equal(pool.weight[8], genomes.weight[3])  # select and join copy, they do not view


def test_render_in_chunks_matches_one_batch():
    encoding = CPPNEncoding(1)
    genomes = evolved(encoding, count=12, generations=20)
    whole = encoding.render(genomes, (1, 20, 20))
    assert torch.allclose(encoding.render(genomes, (1, 20, 20), budget=1), whole)  # a genome at a time
    evaluated = int(encoding.needed_units(genomes).sum()) * 400
    for parts in (2, 3, 5):  # chunks of several genomes, of unequal sizes
        assert torch.allclose(encoding.render(genomes, (1, 20, 20), budget=evaluated // parts), whole)
    assert torch.allclose(encoding.render(encoding.select(genomes, torch.tensor([5])), (1, 20, 20)), whole[5:6])


# --- rendering against a plain per-genome evaluation ----------------------------------------------------------

PLAIN_ACTIVATIONS = (torch.sin, lambda p: (torch.sigmoid(p) - 0.5) * 2.0, lambda p: torch.exp(-p * p),
                     lambda p: p.clamp(-3.0, 3.0) / 3.0, lambda p: torch.tanh(p * 5.0))  # the authors' AfCppn
DOUBLE = torch.float64


def plain_inputs(height, width, coordinates):
    """The inputs as the encoding makes them in single precision (the images' grid), then in double."""
    y, x = torch.meshgrid(torch.linspace(-1.0, 1.0, height), torch.linspace(-1.0, 1.0, width), indexing="ij")
    distance = torch.sqrt(x * x + y * y)  # from the centre, on the centred grid either way
    if coordinates == "pixel":
        y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                              indexing="ij")
    return [x.flatten().to(DOUBLE), y.flatten().to(DOUBLE), distance.flatten().to(DOUBLE), torch.ones(height * width,
                                                                                                 dtype=DOUBLE)]


def plain_render(encoding, genomes, shape, coordinates="centred"):
    """Each genome alone, in double precision: every living unit in the genome's order (rank) is its function of
    the sum of weight x source value over its connections; a pixel is |output| clipped to [0, 1]."""
    channels, height, width = shape
    images = []
    for g in range(len(genomes)):
        values = dict(enumerate(plain_inputs(height, width, coordinates)))
        for unit in genomes.rank[g].argsort().tolist():
            if unit >= INPUTS and genomes.alive[g, unit]:
                total = torch.zeros(height * width, dtype=DOUBLE)
                for source in genomes.connected[g, unit].nonzero().flatten().tolist():
                    total = total + float(genomes.weight[g, unit, source]) * values[source]
                values[unit] = PLAIN_ACTIVATIONS[int(genomes.activation[g, unit])](total)
        images.append(torch.stack([values[unit] for unit in encoding.outputs.tolist()]).abs().clamp(0.0, 1.0))
    return torch.stack(images).view(len(genomes), channels, height, width)


@pytest.mark.parametrize("channels, coordinates, generations, seed", [
    (1, "centred", 5, 0), (1, "centred", 60, 1), (3, "centred", 40, 2), (3, "pixel", 30, 3)])
def test_render_is_the_plain_per_genome_evaluation(channels, coordinates, generations, seed):
    encoding = CPPNEncoding(channels, {"coordinates": coordinates, "activations": "tanh", "max_hidden_units": 12})
    genomes = evolved(encoding, count=24, generations=generations, seed=seed)
    assert int(encoding.hidden_counts(genomes).max()) > 2  # networks with hidden layers, not just inputs->outputs
    shape = (channels, 19, 23)
    expected = plain_render(encoding, encoding.padded(genomes), shape, coordinates)
    assert (expected.flatten(1).std(1) > 1e-3).double().mean() > 0.3  # patterns (measured: 46-100%), not all flat
    # in double precision the same sums of the same functions, whatever the order of evaluation and summation
    for budget in (2 ** 22, 1):  # all genomes at once; a genome at a time
        double = encoding.render(genomes, shape, budget=budget, dtype=DOUBLE)
        assert torch.allclose(double, expected, rtol=0.0, atol=1e-9)
    # the single-precision images a run uses: rounding, amplified by chaotic units in some genomes
    single = encoding.render(genomes, shape)
    assert single.dtype == torch.float32
    assert ((single.double() - expected).abs() < 1e-4).double().mean() > 0.99


def test_needed_units_are_those_with_a_path_to_an_output():
    encoding = CPPNEncoding(3, {"max_hidden_units": 10})
    genomes = evolved(encoding, count=40, generations=40, seed=4)
    needed, genomes = encoding.needed_units(genomes), encoding.padded(genomes)  # both in all slots
    for g in range(len(genomes)):
        reached, frontier = set(encoding.outputs.tolist()), list(encoding.outputs.tolist())
        while frontier:  # walk the connections backwards from the outputs
            for source in genomes.connected[g, frontier.pop()].nonzero().flatten().tolist():
                if source >= INPUTS and source not in reached:
                    reached.add(source)
                    frontier.append(source)
        assert set(needed[g].nonzero().flatten().tolist()) == reached
    hidden = genomes.alive[:, INPUTS:INPUTS + 10]
    assert (hidden & ~needed[:, INPUTS:INPUTS + 10]).any()  # dangling units exist, and are left out


def test_render_of_no_genomes():
    encoding = CPPNEncoding(1)
    none = encoding.select(encoding.random(3, seeded()), torch.zeros(0, dtype=torch.long))
    assert encoding.render(none, (1, 8, 8)).shape == (0, 1, 8, 8)


def test_saved_connections_of_dead_units_are_refused():
    encoding = CPPNEncoding(1)
    arrays = encoding.to_arrays(evolved(encoding, count=4, generations=10))
    broken = {key: value.copy() for key, value in arrays.items()}
    dead = int(np.flatnonzero(~broken["alive"][0])[0])  # a free hidden slot
    broken["connected"][0, encoding.outputs[0], dead] = True
    with pytest.raises(ParameterError, match="not alive"):
        encoding.from_arrays(broken)


def test_pick_draws_each_candidate_uniformly():
    candidates = np.zeros((3, 12), dtype=bool)
    candidates[0, [1, 4, 5, 11]] = True
    candidates[2, 7] = True
    draws = 20000
    found, picked = pick_in_rows(np.tile(candidates, (draws, 1)), uniforms(3 * draws, seeded(5)))
    assert found.reshape(draws, 3)[0].tolist() == [True, False, True]
    first = picked.reshape(draws, 3)[:, 0]
    assert set(first.tolist()) == {1, 4, 5, 11}
    shares = np.bincount(first, minlength=12)[[1, 4, 5, 11]] / draws
    assert np.allclose(shares, 0.25, atol=0.015)  # the std of a share is 0.003
    assert (picked.reshape(draws, 3)[:, 2] == 7).all()


def test_pick_among_no_columns_finds_nothing():
    found, picked = pick_in_rows(np.zeros((3, 0), dtype=bool), uniforms(3, seeded(1)))
    assert not found.any() and picked.tolist() == [0, 0, 0]


def test_pick_for_chosen_rows_draws_what_picking_for_all_would():
    """Operators build candidates only for the genomes they apply to; the picks (and the random stream) must be
    those of picking for every genome and keeping the chosen ones."""
    candidates = torch.rand(50, 30, generator=seeded(1)).numpy() < 0.2
    candidates[7] = False  # a genome without any candidate
    chosen = torch.rand(50, generator=seeded(2)).numpy() < 0.5
    chosen[7] = True
    found, picked = pick_in_rows(candidates, uniforms(50, seeded(3)))
    expected_rows = np.flatnonzero(chosen & found)
    rows, picks = pick_for_chosen(chosen, lambda rows: candidates[rows], seeded(3))
    assert rows.tolist() == expected_rows.tolist() and 7 not in rows.tolist()
    assert picks.tolist() == picked[expected_rows].tolist()
    assert candidates[rows, picks].all()


def test_mutating_only_the_hidden_slots_in_use_is_mutating_them_all():
    """`mutate` cuts its children to the hidden slots in use (and one free): they must be those of the operators
    applied to every slot, with the same random stream, and join, render and files must not care."""
    encoding = CPPNEncoding(3, {"change_connection_rate": 0.3})
    genomes = encoding.padded(evolved(encoding, count=60, generations=6, seed=3))
    assert 0 < int(encoding.hidden_counts(genomes).max()) < 10  # of 30 slots
    padded = CPPNGenomes(*(getattr(genomes, key).clone() for key in GenomeArrays._fields))
    encoding.mutator.mutate(GenomeArrays(*(getattr(padded, key).numpy() for key in GenomeArrays._fields)), seeded(9))
    children = encoding.mutate(genomes, seeded(9))
    assert encoding.width_of(children) < 12 and encoding.width_of(padded) == 30
    full = encoding.padded(children)
    for key in ("weight", "connected", "alive"):
        assert torch.equal(getattr(full, key), getattr(padded, key))
    alive = full.alive
    assert torch.equal(full.activation[alive], padded.activation[alive])  # free slots' are never read
    for g in range(len(full)):  # the same order of the living units
        living = alive[g].nonzero().squeeze(1)
        assert torch.equal(living[full.rank[g, living].argsort()], living[padded.rank[g, living].argsort()])
    assert torch.equal(encoding.render(children, (3, 16, 16)), encoding.render(padded, (3, 16, 16)))
    assert torch.equal(encoding.heights(children), encoding.heights(padded))
    mixed = encoding.join([children, padded])  # batches of different widths
    assert torch.equal(encoding.render(mixed, (3, 16, 16)), encoding.render(encoding.join([padded, padded]),
                                                                            (3, 16, 16)))
    restored = encoding.from_arrays(encoding.to_arrays(children))
    assert torch.equal(encoding.render(restored, (3, 16, 16)), encoding.render(children, (3, 16, 16)))


def test_mutation_leaves_its_parents_untouched():
    """The operators change the one copy `mutate` makes in place: the archive's elites must not change."""
    encoding = CPPNEncoding(3, {"initial_hidden_units": 3})
    parents = encoding.random(32, torch.Generator().manual_seed(1))
    before = [getattr(parents, key).clone() for key in ("weight", "connected", "activation", "alive")]
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        encoding.mutate(parents, gen)
    after = [getattr(parents, key) for key in ("weight", "connected", "activation", "alive")]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_pick_is_the_kth_candidate_of_its_row():
    for seed, density in enumerate((0.01, 0.2, 0.9)):
        candidates = torch.rand(40, 1225, generator=seeded(seed)).numpy() < density
        draws = uniforms(40, seeded(20 + seed))
        found, picked = pick_in_rows(candidates, draws)
        for row in range(40):
            listed = np.flatnonzero(candidates[row])
            assert bool(found[row]) == (len(listed) > 0)
            if len(listed):
                assert int(picked[row]) == int(listed[int(draws[row] * len(listed))])


@pytest.mark.parametrize("hidden", [12, 70])  # 19 slots: one 64-bit word per set of units; 77 slots: two
def test_heights_are_the_longest_paths_to_an_output(hidden):
    encoding = CPPNEncoding(3, {"max_hidden_units": hidden, "initial_hidden_units": hidden // 4})
    genomes = evolved(encoding, count=30, generations=60, seed=5)
    heights, genomes = encoding.heights(genomes), encoding.padded(genomes)  # both in all slots
    for g in range(len(genomes)):
        longest = {unit: 0 for unit in encoding.outputs.tolist()}
        for unit in genomes.rank[g, INPUTS:].argsort(descending=True).add(INPUTS).tolist():  # targets first
            lengths = [longest[t] + 1 for t in genomes.connected[g, :, unit].nonzero().flatten().tolist()
                       if t in longest]
            if lengths:
                longest[unit] = max(lengths)
        expected = [longest.get(unit, -1) for unit in range(encoding.units)]
        assert [max(h, -1) for h in heights[g].tolist()] == expected
    assert int(heights.max()) >= 3  # deep networks, not only inputs wired to outputs
