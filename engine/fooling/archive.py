"""The MAP-Elites archive of fooling images (the authors' `map_elite.hpp`): one cell per chosen class, holding the
best genome found for that class, its image, its confidence (the softmax probability of the class) and the
generation it was found in. A child replaces the elite of *every* cell it scores higher on.

Saved as one .npz, written atomically: `images` (K, C, H, W) float32 in [0, 1], `classes` (K,) int64 and
`confidence` (K,) for anyone who reads the file, plus what resuming needs: `found` (K,), `generation`,
`rng_state` (the torch generator's state after that generation), `encoding` (its name), `history` (G, K): the
cells' confidences after each generation (for the curves and the CSV) and the genomes as the encoding's arrays,
each under `genome_<name>`."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import ParameterError
from ..core.files import atomic_path

GENOME_PREFIX = "genome_"
EMPTY = -1.0  # the confidence of a cell nobody has reached yet: any child beats it


@dataclass
class Archive:
    """One elite per class of `classes`; `genomes` is None until the first children arrive."""

    classes: torch.Tensor  # (K,) int64, indices into the model's classes
    images: torch.Tensor  # (K, C, H, W) float32 in [0, 1]
    confidence: torch.Tensor  # (K,) float32; EMPTY where no elite yet
    found: torch.Tensor  # (K,) int64: the generation each elite was found in; -1 where none
    genomes: Any = None  # the encoding's batch of K genomes
    generation: int = 0  # generations done (0: the initial population)
    rng_state: torch.Tensor | None = None  # torch.Generator state after `generation`
    history: list[np.ndarray] = field(default_factory=list)  # (K,) confidences per generation done, in order

    @classmethod
    def empty(cls, classes, image_shape) -> Archive:
        classes = torch.as_tensor(classes, dtype=torch.int64).reshape(-1)
        count = len(classes)
        return cls(classes, torch.zeros((count, *image_shape)), torch.full((count,), EMPTY),
                   torch.full((count,), -1, dtype=torch.int64))

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def filled(self) -> torch.Tensor:
        return self.confidence > EMPTY

    def update(self, children_probs: torch.Tensor, children: Any, images: torch.Tensor, encoding,
               generation: int) -> torch.Tensor:
        """Let children compete for every cell at once: `children_probs` (N, K) are their probabilities of the
        archive's classes, `images` (N, C, H, W) their renderings. For each cell the best child (the first of
        equals, as the authors' sequential loop keeps) replaces the elite if strictly better. Returns the mask of
        cells replaced."""
        if children_probs.shape != (len(images), len(self)):
            raise ValueError(f"children_probs is {tuple(children_probs.shape)}, expected ({len(images)}, {len(self)})")
        best, winner = children_probs.max(dim=0)  # max returns the first index of equal values
        replaced = best > self.confidence
        if not replaced.any():
            return replaced
        cells = replaced.nonzero().squeeze(1)
        self.confidence[cells] = best[cells].to(self.confidence.dtype)
        self.images[cells] = images[winner[cells]].to(self.images.dtype).cpu()
        self.found[cells] = generation
        self.genomes = self._new_genomes(children, winner, replaced, encoding)
        return replaced

    def _new_genomes(self, children, winner: torch.Tensor, replaced: torch.Tensor, encoding):
        """The elites' genomes: winners where replaced, else the old ones, as one selection from the old
        elites followed by each cell's best child (so only 2 K genomes are joined, however many children)."""
        winners = encoding.select(children, winner)
        if self.genomes is None:
            return winners
        pool = encoding.join([self.genomes, winners])
        cells = torch.arange(len(self))
        return encoding.select(pool, torch.where(replaced.cpu(), cells + len(self), cells))

    def summary(self) -> tuple[float, float]:
        """The mean and median confidence of the filled cells (0 when none)."""
        values = self.confidence[self.filled]
        if len(values) == 0:
            return 0.0, 0.0
        return float(values.mean()), float(values.median())

    # --- files --------------------------------------------------------------------------------------------------

    def save(self, path: str | Path, encoding) -> Path:
        """Write the archive as .npz atomically (see the module's description of the keys)."""
        path = Path(path)
        arrays = {"images": self.images.numpy().astype(np.float32), "classes": self.classes.numpy(),
                  "confidence": self.confidence.numpy().astype(np.float32), "found": self.found.numpy(),
                  "generation": np.int64(self.generation), "encoding": np.str_(encoding.name)}
        if self.history:
            arrays["history"] = np.stack(self.history).astype(np.float32)
        if self.rng_state is not None:
            arrays["rng_state"] = self.rng_state.numpy()
        if self.genomes is not None:
            arrays.update({GENOME_PREFIX + key: value for key, value in encoding.to_arrays(self.genomes).items()})
        with atomic_path(path) as temporary:
            np.savez_compressed(temporary, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path, encoding) -> Archive:
        """An archive written by `save` with the same kind of encoding; ParameterError if it cannot be used."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise ParameterError(f"{path} is not a readable fooling archive ({error})") from None
        missing = {"images", "classes", "confidence"} - set(arrays)
        if missing:
            raise ParameterError(f"{path} is not a fooling archive: it has no {', '.join(sorted(missing))}")
        saved_encoding = str(arrays.get("encoding", encoding.name))
        if saved_encoding != encoding.name:
            raise ParameterError(f"{path} holds a {saved_encoding} archive, not a {encoding.name} one")
        classes = torch.from_numpy(arrays["classes"].astype(np.int64))
        archive = cls(classes, torch.from_numpy(arrays["images"].astype(np.float32)),
                      torch.from_numpy(arrays["confidence"].astype(np.float32)),
                      torch.from_numpy(arrays.get("found", np.full(len(classes), -1)).astype(np.int64)),
                      generation=int(arrays.get("generation", 0)))
        history = arrays.get("history")
        if history is not None and history.ndim == 2 and history.shape[1] == len(classes):
            archive.history = list(history.astype(np.float32))
        if "rng_state" in arrays:
            archive.rng_state = torch.from_numpy(arrays["rng_state"].astype(np.uint8))
        genome_arrays = {key[len(GENOME_PREFIX):]: value for key, value in arrays.items()
                         if key.startswith(GENOME_PREFIX)}
        if genome_arrays:
            archive.genomes = encoding.from_arrays(genome_arrays)
        return archive


class ChangedCells:
    """What a frame of a running archive carries: the images of the cells whose elite changed since the last
    frame (every cell in the first), so that a thousand-class ImageNet archive is not copied to the window whole
    on every frame (3 x 224 x 224 floats are 600 KB a cell)."""

    def __init__(self):
        self.sent_after: int | None = None  # the archive's generation at the last frame taken

    def take(self, archive: Archive) -> tuple[np.ndarray, np.ndarray]:
        """(indices, images) of the cells to send now; copies, safe to hand to another thread."""
        if self.sent_after is None:
            cells = torch.arange(len(archive))
        else:
            cells = (archive.found > self.sent_after).nonzero().squeeze(1)
        self.sent_after = archive.generation
        return cells.numpy(), archive.images[cells].numpy().copy()

