"""One front door to the three ways of making fooling images, for the command line and the GUI: evolution with
the direct or the CPPN encoding, or gradient ascent. A run takes one flat dict of parameters (each name belongs
to the method's declared sets: FOOLING, CPPN, FOOLING_ASCENT), yields a FoolingStep per generation (per step for
gradient ascent) and returns a FoolingResult; an evolution continues from a saved archive."""
from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.control import RunControl
from ..core.errors import ParameterError
from ..core.params import ParamSet
from ..models import LoadedModel
from .archive import Archive
from .ascent import FOOLING_ASCENT, fooling_ascent
from .cppn import CPPN, CPPNEncoding
from .direct import DirectEncoding
from .evolution import FOOLING, Encoding, FoolingStep, evolve

DIRECT, CPPN_ENCODING, GRADIENT = "direct", "cppn", "gradient"
METHODS = (DIRECT, CPPN_ENCODING, GRADIENT)
METHOD_TITLES = {DIRECT: "evolution, direct encoding (pixels)", CPPN_ENCODING: "evolution, CPPN encoding",
                 GRADIENT: "gradient ascent"}
DIRECT_ONLY = ("mutation_rate", "eta_m", "crossover_rate", "eta_c")  # FOOLING's variation of pixel genomes


def parameter_sets(method: str) -> tuple[ParamSet, ...]:
    """The declared parameter sets a method reads, in the order the forms show them."""
    if method == DIRECT:
        return (FOOLING,)
    if method == CPPN_ENCODING:
        return FOOLING, CPPN
    if method == GRADIENT:
        return (FOOLING_ASCENT,)
    raise ParameterError(f"unknown fooling method {method!r}; choose one of {', '.join(METHODS)}")


def split_params(method: str, given: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """`given` routed to the method's parameter sets (one dict per set); an unknown name says which it may be."""
    sets = parameter_sets(method)
    routed: list[dict[str, Any]] = [{} for _ in sets]
    for name, value in (given or {}).items():
        owner = next((index for index, params in enumerate(sets) if name in params.names), None)
        if owner is None or (method == CPPN_ENCODING and name in DIRECT_ONLY):
            known = ", ".join(n for params in sets for n in params.names
                              if not (method == CPPN_ENCODING and n in DIRECT_ONLY))
            raise ParameterError(f"unknown parameter {name!r} for the {method} method; its parameters are {known}")
        routed[owner][name] = value
    return routed


def resolved_params(method: str, model: LoadedModel, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every parameter of the method typed and checked for this model's domain (before any work starts)."""
    values: dict[str, Any] = {}
    for params, part in zip(parameter_sets(method), split_params(method, given)):
        values.update(params.resolve(part, domain=model.domain))
    return values


def make_encoding(method: str, model: LoadedModel, params: Mapping[str, Any]) -> Encoding | None:
    """The genome encoding of an evolution (None for gradient ascent), from resolved parameters."""
    if method == DIRECT:
        return DirectEncoding.from_params(model.input_shape, params)
    if method == CPPN_ENCODING:
        return CPPNEncoding(model.input_shape[0], {name: params[name] for name in CPPN.names})
    parameter_sets(method)  # an unknown method says so
    return None


@dataclass
class FoolingResult:
    """The archive of elites (gradient ascent: the best image per class, its genomes being the images), the
    encoding that reads its genomes (None for gradient ascent), the resolved parameters and, for gradient
    ascent, the first step at which each threshold was passed per class."""

    method: str
    archive: Archive
    encoding: Encoding | None
    params: dict[str, Any]
    first_step: dict[float, np.ndarray] | None = None

    def save(self, path: str | Path) -> Path:
        return self.archive.save(path, self.encoding or _ImagesAsGenomes())


def load_archive(path: str | Path, method: str, model: LoadedModel, params: Mapping[str, Any] | None = None
                 ) -> Archive:
    """A saved evolution archive to continue with `method` on `model` (its image shape and the encoding's
    settings must fit); ParameterError with the reason otherwise."""
    if method == GRADIENT:
        raise ParameterError("gradient ascent starts from noise; only an evolution continues from an archive")
    encoding = make_encoding(method, model, resolved_params(method, model, params))
    archive = Archive.load(path, encoding)
    if tuple(archive.images.shape[1:]) != tuple(model.input_shape):
        raise ParameterError(f"{path} holds images of shape {tuple(archive.images.shape[1:])}; the model takes "
                             f"{tuple(model.input_shape)}")
    return archive


def fooling_run(model: LoadedModel, method: str, classes: Sequence[int], params: Mapping[str, Any] | None = None,
                control: RunControl | None = None, archive: Archive | None = None
                ) -> Generator[FoolingStep, None, FoolingResult]:
    """Run one method for `classes`; with `archive`, continue that evolution up to `generations`."""
    values = resolved_params(method, model, params)
    encoding = make_encoding(method, model, values)
    if method == GRADIENT:
        if archive is not None:
            raise ParameterError("gradient ascent starts from noise; only an evolution continues from an archive")
        ascent = yield from fooling_ascent(model, classes, _only(FOOLING_ASCENT, values), control)
        return FoolingResult(method, ascent.archive, None, values, ascent.first_step)
    final = yield from evolve(model, encoding, classes, _only(FOOLING, values), control, archive)
    return FoolingResult(method, final, encoding, values)


def _only(params: ParamSet, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in params.names}


class _ImagesAsGenomes:
    """Saves a gradient ascent's result like an evolution's archive: the genomes are the images."""

    name = GRADIENT

    @staticmethod
    def to_arrays(genomes: torch.Tensor) -> dict[str, np.ndarray]:
        return {"genes": genomes.detach().cpu().numpy().astype(np.float32)}
