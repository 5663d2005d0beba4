"""Evolving fooling images with MAP-Elites, as the authors' `map_elite.hpp` runs it: generation 0 evaluates a
random initial population; every later generation draws `population / 2` parent pairs uniformly from the
current elites, crosses each pair, mutates both children, renders and evaluates all children in one batched
forward pass (chunked only to bound memory) and lets each child replace the elite of every class it scores
higher on.

The genome encoding is pluggable (`Encoding` below): the direct encoding (pixels) and the CPPN encoding share
this loop. The run is deterministic given the seed: all randomness is drawn from one torch.Generator whose
state the archive keeps, so a run continued from a saved archive reaches the archive an uninterrupted run does.
"""
from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import torch

from ..core.control import RunControl
from ..core.errors import ParameterError
from ..core.params import Param, ParamSet, Rule
from ..models import LoadedModel
from .archive import Archive, ChangedCells

Genomes = Any  # an encoding's batch of genomes: one tensor for the direct encoding, whatever the CPPN needs


class Encoding(Protocol):
    """How genomes are made, varied, turned into images and saved. Every method works on a whole batch; all
    randomness comes from the `generator` passed in (never torch's global one), so runs are reproducible.

    name: a short identifier ("direct", "cppn"), stored in the archive so a file is resumed by its own kind.
    random(count, generator): `count` fresh random genomes.
    crossover(a, b, generator): two batches of children of the parent pairs (a[i], b[i]), each as long as `a`;
        the encoding applies its own crossover rate (pairs not crossed pass on copies).
    mutate(genomes, generator): mutated copies (the input is not changed in place).
    render(genomes, shape): the images at `shape` (C, H, W), an (N, C, H, W) float32 tensor in [0, 1].
    select(genomes, index): the genomes at `index` (a 1-D int64 tensor, repeats allowed), as a new batch.
    join(batches): one batch of the given batches in order (the archive picks winners from elites + children).
    to_arrays(genomes): a dict of NumPy arrays (no objects: saved with allow_pickle=False) that
        from_arrays(arrays) turns back into equal genomes.
    """

    name: str

    def random(self, count: int, generator: torch.Generator) -> Genomes: ...
    def crossover(self, a: Genomes, b: Genomes, generator: torch.Generator) -> tuple[Genomes, Genomes]: ...
    def mutate(self, genomes: Genomes, generator: torch.Generator) -> Genomes: ...
    def render(self, genomes: Genomes, shape: Sequence[int]) -> torch.Tensor: ...
    def select(self, genomes: Genomes, index: torch.Tensor) -> Genomes: ...
    def join(self, batches: Sequence[Genomes]) -> Genomes: ...
    def to_arrays(self, genomes: Genomes) -> dict[str, np.ndarray]: ...
    def from_arrays(self, arrays: Mapping[str, np.ndarray]) -> Genomes: ...


FOOLING = ParamSet("fooling", (
    Param("initial_population", int, 200, "random genomes evaluated in generation 0", 1, 1_000_000),
    Param("population", int, 200, "children per generation (population / 2 parent pairs)", 2, 1_000_000),
    Param("generations", int, 200, "generations to run in all (a resumed run continues up to this)", 0, 10_000_000),
    Param("seed", int, 0, "seed of the initial population and of every variation", 0, 2**31 - 1),
    Param("mutation_rate", float, 0.1, "direct encoding: probability that a gene mutates", 0.0, 1.0),
    Param("eta_m", float, 15.0, "direct encoding: polynomial mutation's eta (larger: smaller changes)", 0.0,
          1000.0, above=True),
    Param("crossover_rate", float, 0.5, "direct encoding: probability that a parent pair is crossed (SBX)", 0.0,
          1.0),
    Param("eta_c", float, 10.0, "direct encoding: SBX's eta (larger: children closer to the parents)", 0.0,
          1000.0, above=True),
    Param("batch_size", int, 256, "images per forward pass (only bounds memory; results do not depend on it)",
          1, 65_536),
), domain_defaults={"imagenet": {"population": 400, "initial_population": 400, "generations": 5000,
                                 "batch_size": 64}},
   rules=(Rule(lambda v: v["population"] % 2 == 0, "population must be even (children come in pairs)"),),
   summary="MAP-Elites evolution of fooling images")


@dataclass(frozen=True)
class FoolingStep:
    """One generation done: the archive's confidence per class, its mean and median, generations per second
    (of this run so far), cells replaced in this generation, and a copy of the elites' images when a frame is
    due."""

    generation: int
    generations: int
    confidence: np.ndarray  # (K,) float32, EMPTY (-1) for cells not reached
    mean: float
    median: float
    per_second: float
    replaced: int
    images: np.ndarray | None = None  # (len(cells), C, H, W) float32: the images of `cells`, on frames only
    cells: np.ndarray | None = None  # the archive cells `images` belongs to: those changed since the last frame

    def absorbing(self, older: FoolingStep) -> FoolingStep:
        """This frame with the cells of an older frame that will not be shown added (their newer images win):
        a consumer that drops frames must not lose the changes they carried."""
        if older.images is None or older.cells is None or self.cells is None:
            return self
        missing = ~np.isin(older.cells, self.cells)
        cells = np.concatenate([self.cells, older.cells[missing]])
        images = np.concatenate([self.images, older.images[missing]])
        return replace(self, cells=cells, images=images)


def resolve_params(params: Mapping[str, Any] | None, model: LoadedModel) -> dict[str, Any]:
    return FOOLING.resolve(dict(params or {}), domain=model.domain)


def check_classes(model: LoadedModel, classes: Sequence[int]) -> torch.Tensor:
    classes = torch.as_tensor(list(classes), dtype=torch.int64)
    if len(classes) == 0:
        raise ParameterError("choose at least one class to fool")
    if classes.min() < 0 or classes.max() >= model.num_classes:
        raise ParameterError(f"classes must be between 0 and {model.num_classes - 1}")
    if len(torch.unique(classes)) != len(classes):
        raise ParameterError("each class may be chosen once")
    return classes


@torch.no_grad()
def class_probabilities(model: LoadedModel, images: torch.Tensor, classes: torch.Tensor,
                        batch_size: int) -> torch.Tensor:
    """(N, K) softmax probabilities (over all the model's classes) of `classes`, batch_size images at a time."""
    device = next(model.module.parameters()).device
    columns = classes.to(device)
    chunks = [torch.softmax(model(chunk.to(device)), dim=1)[:, columns].float().cpu()
              for chunk in images.split(batch_size)]
    return torch.cat(chunks)


def next_children(archive: Archive, encoding: Encoding, population: int, generator: torch.Generator) -> Genomes:
    """population / 2 parent pairs drawn uniformly (with replacement) from the filled cells, crossed, then all
    children mutated in one call (mutation is independent per child: one call over the batch is one per child,
    at a fraction of the operations)."""
    cells = archive.filled.nonzero().squeeze(1)
    picks = cells[torch.randint(len(cells), (2, population // 2), generator=generator)]
    first, second = encoding.crossover(encoding.select(archive.genomes, picks[0]),
                                       encoding.select(archive.genomes, picks[1]), generator)
    return encoding.mutate(encoding.join([first, second]), generator)


def evaluate(model: LoadedModel, encoding: Encoding, genomes: Genomes, archive: Archive, generation: int,
             batch_size: int) -> int:
    """Render and score the children and let them compete for the archive's cells; the cells replaced."""
    images = encoding.render(genomes, model.input_shape)
    probs = class_probabilities(model, images, archive.classes, batch_size)
    return int(archive.update(probs, genomes, images, encoding, generation).sum())


def start_archive(model: LoadedModel, encoding: Encoding, classes: torch.Tensor, params: Mapping[str, Any],
                  generator: torch.Generator) -> Archive:
    """Generation 0: a random initial population fills the archive."""
    archive = Archive.empty(classes, model.input_shape)
    evaluate(model, encoding, encoding.random(params["initial_population"], generator), archive, 0,
             params["batch_size"])
    archive.rng_state = generator.get_state()
    return archive


def resumed_generator(archive: Archive, classes: torch.Tensor) -> torch.Generator:
    if not torch.equal(archive.classes, classes):
        raise ParameterError("the archive was evolved for other classes; choose the same classes to resume it")
    if archive.genomes is None or archive.rng_state is None:
        raise ParameterError("the archive has no genomes or random state to continue from (not an evolution's)")
    generator = torch.Generator()
    generator.set_state(archive.rng_state)
    return generator


def evolve(model: LoadedModel, encoding: Encoding, classes: Sequence[int], params: Mapping[str, Any] | None = None,
           control: RunControl | None = None, archive: Archive | None = None
           ) -> Generator[FoolingStep, None, Archive]:
    """Run MAP-Elites up to `params["generations"]` generations, yielding a FoolingStep per generation (the
    first for generation 0) and returning the archive. With `archive` (from a stopped run or `Archive.load`),
    continue it: same classes and seed-derived random state, so the result equals an uninterrupted run's.
    A stop request through `control` ends the run after the current generation, keeping the archive."""
    params = resolve_params(params, model)
    classes = check_classes(model, classes)
    started, frames = time.perf_counter(), ChangedCells()
    if archive is None:
        generator = torch.Generator().manual_seed(params["seed"])
        archive = start_archive(model, encoding, classes, params, generator)
        yield _step(archive, params, 0, 0, started, control, frames)
    else:
        generator = resumed_generator(archive, classes)
    first = archive.generation
    while archive.generation < params["generations"]:
        if control is not None and control.stop_requested:
            break
        generation = archive.generation + 1
        children = next_children(archive, encoding, params["population"], generator)
        replaced = evaluate(model, encoding, children, archive, generation, params["batch_size"])
        archive.generation, archive.rng_state = generation, generator.get_state()
        yield _step(archive, params, replaced, generation - first, started, control, frames)
    return archive


def _step(archive: Archive, params: Mapping[str, Any], replaced: int, done: int, started: float,
          control: RunControl | None, frames: ChangedCells) -> FoolingStep:
    archive.history.append(archive.confidence.numpy().copy())
    mean, median = archive.summary()
    seconds = time.perf_counter() - started
    final = archive.generation >= params["generations"]
    cells, images = frames.take(archive) if control is not None and control.frame_due(final=final) else (None, None)
    return FoolingStep(archive.generation, params["generations"], archive.confidence.numpy().copy(), mean, median,
                       done / seconds if seconds > 0 and done else 0.0, replaced, images, cells)
