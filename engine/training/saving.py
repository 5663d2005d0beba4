"""A trained model as files that load anywhere: the net's state dict (`MODEL.pt`, read with weights_only) and a
sidecar `MODEL.json` naming its architecture, options, input, normalisation, classes and how it was trained, so
`load_model("MODEL.pt")` (and `--model MODEL.pt`) builds the same net again without --arch."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from ..core.files import atomic_path, write_atomically
from .loop import Trainer


def sidecar_of(trainer: Trainer) -> dict:
    module = trainer.model.module
    return {"arch": trainer.arch, "arch_options": _plain(trainer.arch_options),
            "input_shape": list(trainer.model.input_shape),
            "mean": module.normalize.mean.flatten().tolist(), "std": module.normalize.std.flatten().tolist(),
            "class_names": list(trainer.model.class_names), "domain": trainer.model.domain,
            "training": {"defense": trainer.defense, "defense_options": _plain(trainer.defense_options),
                         "params": _plain(trainer.params), "epochs_done": trainer.epochs_done,
                         "history": [asdict(record) for record in trainer.history]}}


def save_trained(trainer: Trainer, path: str | Path) -> tuple[Path, Path]:
    """`path` (the state dict) and its sidecar JSON, each written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in trainer.model.module.net.state_dict().items()}
    with atomic_path(path) as temporary:
        torch.save(state, temporary)
    sidecar = path.with_suffix(".json")
    write_atomically(sidecar, json.dumps(sidecar_of(trainer), indent=2))
    return path, sidecar


def _plain(values: dict) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
