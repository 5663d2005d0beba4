"""Every visualization by name, run to the end and written to a folder: what `main.py visualize KIND` does."""
from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core import Param, ParamSet
from ..core.errors import ParameterError
from ..core.run import run_to_end
from ..models import LoadedModel
from .ascent import (ASCENT_KINDS, CLASS_MODEL, DEEPDREAM, UNIT, class_model, deepdream, settings_domain,
                     unit_visualization)
from .export import save_picture, tile
from .filters import first_layer_filters
from .gradients import DECONVNET, GUIDED, METHODS, SALIENCY, gradient_maps, magnitude, map_picture, overlay
from .patches import PATCH_PARAMS, max_activating_patches
from .steps import VisStep

FILTERS, PATCHES = "filters", "patches"
KINDS = (FILTERS, PATCHES, *METHODS, CLASS_MODEL, UNIT, DEEPDREAM)
NEEDS_IMAGES = (PATCHES, *METHODS, DEEPDREAM)
NEEDS_LAYER = (PATCHES, UNIT, DEEPDREAM)
MAX_CLASS_MODELS = 16  # without --target, a class model for every class of models with at most this many
OVERLAY = Param("overlay", float, 0.7, "how strongly the map's heat is laid over the image", 0.0, 1.0)

# The options of every visualization, as `visualize --param` and the forms see them.
VISUALIZATION_PARAMS: dict[str, ParamSet] = {
    FILTERS: ParamSet(FILTERS, (), summary="the first convolution's filters"),
    PATCHES: PATCH_PARAMS,
    **{method: ParamSet(method, (OVERLAY,), summary=summary) for method, summary in (
        (SALIENCY, "the largest absolute gradient of the class score per pixel (Simonyan et al. 2013)"),
        (DECONVNET, "the class score sent back through ReLUs passing positive gradients (Zeiler & Fergus 2014)"),
        (GUIDED, "deconvnet and plain gradient at once (Springenberg et al. 2015)"))},
    **ASCENT_KINDS,
}


def visualization_params(kind: str) -> ParamSet:
    if kind not in VISUALIZATION_PARAMS:
        raise ParameterError(f"unknown visualization {kind!r}; use one of {', '.join(KINDS)}")
    return VISUALIZATION_PARAMS[kind]


@dataclass
class Request:
    kind: str
    model: LoadedModel
    out: Path
    images: torch.Tensor | None = None
    names: Sequence[str] = ()
    layer: str | None = None
    channel: int = 0
    target: int | None = None
    settings: dict = field(default_factory=dict)  # the kind's declared options (VISUALIZATION_PARAMS), text or typed


def check_request(kind: str, layer: str | None, has_images: bool, settings: dict) -> None:
    """What can be checked before a model is loaded (the options' defaults depend on its domain)."""
    params = visualization_params(kind)
    if kind in NEEDS_LAYER and not layer:
        raise ParameterError(f"{kind} needs --layer (and --channel); see the model's layers in the GUI")
    if kind in NEEDS_IMAGES and not has_images:
        raise ParameterError(f"{kind} needs --images")
    if settings and not params.params:
        raise ParameterError(f"{kind} takes no --param settings")
    params.resolve(settings)


def write_visualization(request: Request, on_step: Callable[[VisStep], None] | None = None
                        ) -> tuple[list[Path], str]:
    """Run the visualization, write its pictures (PNG and .npy), and return the files and a summary line."""
    check_request(request.kind, request.layer, request.images is not None, request.settings)
    options = visualization_params(request.kind).resolve(request.settings, settings_domain(request.model))
    request = dataclasses.replace(request, settings=options)  # typed, with the model's domain defaults
    writer = {FILTERS: _filters, PATCHES: _patches, CLASS_MODEL: _class_models, UNIT: _unit,
              DEEPDREAM: _deepdream}.get(request.kind, _gradients)
    return writer(request, on_step)


def _filters(request: Request, _on_step) -> tuple[list[Path], str]:
    grid = first_layer_filters(request.model)
    files = save_picture(request.out, "filters", grid.grid)
    return files, f"{len(grid.tiles)} filters of {grid.layer} ({'x'.join(map(str, grid.tiles.shape[1:]))})"


def _patches(request: Request, on_step) -> tuple[list[Path], str]:
    found = run_to_end(max_activating_patches(request.model, request.images, request.layer, request.channel,
                                              **request.settings), on_step)
    stem = f"patches_{request.layer}_{request.channel}"
    files = save_picture(request.out, stem, tile(found.crops))
    lines = [f"{rank + 1}. {request.names[int(i)] if request.names else int(i)} at {tuple(pos.tolist())}: "
             f"{float(value):.4g}" for rank, (value, i, pos)
             in enumerate(zip(found.values, found.image_indices, found.positions))]
    size = "whole image" if found.field.whole_image else "x".join(map(str, found.field.size))
    if found.never_fires:
        lines.append(f"{request.layer} channel {request.channel} never fires on these images (its largest "
                     f"activation is {float(found.values.max()):.4g}): these patches are arbitrary")
    return files, f"top {len(found.values)} of {found.images_seen} images, receptive field {size}:\n" + "\n".join(lines)


def _gradients(request: Request, _on_step) -> tuple[list[Path], str]:
    maps = gradient_maps(request.model, request.images, request.kind, request.target)
    files = []
    for index in range(len(maps.classes)):
        picture = map_picture(maps, index)
        stem = f"{index:03d}_{request.kind}"
        files += save_picture(request.out, stem, picture)
        image = request.images[index].numpy()
        heat = magnitude(picture, request.kind)
        files += save_picture(request.out, f"{stem}_overlay", overlay(image, heat, request.settings["overlay"]))
    classes = ", ".join(request.model.class_names[c] for c in maps.classes.tolist()[:8])
    return files, f"{request.kind} of {len(maps.classes)} image(s) for class(es) {classes}"


def _class_models(request: Request, on_step) -> tuple[list[Path], str]:
    model = request.model
    if request.target is None and model.num_classes > MAX_CLASS_MODELS:
        raise ParameterError(f"{model.name} has {model.num_classes} classes: choose one with --target")
    targets = list(range(model.num_classes)) if request.target is None else [request.target]
    result = run_to_end(class_model(model, targets, **request.settings), on_step)
    files = []
    for row, target in enumerate(targets):
        files += save_picture(request.out, f"class_{target:04d}", result.images[row])
    reached = ", ".join(f"{model.class_names[t]} {float(result.probs[row, t]):.4f}" for row, t in enumerate(targets))
    return files, f"class models after {len(result.scores)} steps, probability: {reached}"


def _unit(request: Request, on_step) -> tuple[list[Path], str]:
    result = run_to_end(unit_visualization(request.model, request.layer, request.channel, **request.settings),
                        on_step)
    files = save_picture(request.out, f"unit_{request.layer}_{request.channel}", result.images[0])
    first = result.scores[0, 0] if len(result.scores) else float("nan")
    return files, (f"{request.layer} channel {request.channel}: score {first:.4g} -> "
                   f"{result.final_scores[0]:.4g} in {len(result.scores)} steps")


def _deepdream(request: Request, on_step) -> tuple[list[Path], str]:
    result = run_to_end(deepdream(request.model, request.images, request.layer, **request.settings), on_step)
    files = []
    for index, image in enumerate(result.images):
        files += save_picture(request.out, f"{index:03d}_deepdream", image)
    return files, f"DeepDream on {request.layer} for {len(result.images)} image(s), {len(result.scores)} steps"
