"""A trained model as files that load anywhere, in the format its suffix names, each with a sidecar `MODEL.json`
(architecture, options, input, normalisation, classes, how it was trained):

- `MODEL.pt` (or .pth): the net's state dict under `state_dict` (read with weights_only; `load_model("MODEL.pt")`
  builds the same net again from the sidecar, without --arch) and, under `resume`, what continuing the run
  needs: the optimizer's state, the data order's generator, the epochs done, the curves, a stopped epoch's place.
- `MODEL.ts`: TorchScript of the whole classifier, normalisation included (traced in eval mode).
- `MODEL.pt2`: the whole classifier as a torch.export program with a free batch size; it holds no pickles, so
  the engine's own inspection (engine/exported.py) loads it without being told to trust it.

The programs carry their normalisation inside, so their sidecars give the loader mean 0 and std 1 (the real
values are recorded as `normalization_inside`). Only a `.pt` run can be continued (`continue_trainer`)."""
from __future__ import annotations

import copy
import dataclasses
import json
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.errors import ModelError, ParameterError, first_line
from ..core.files import atomic_path, write_atomically
from ..models import load_state_into
from .loop import TRAINING, EpochRecord, PartialEpoch, Trainer, TrainingData, new_trainer

# What each suffix of --out writes; a name without a suffix (a GUI save dialog may give one) is a state dict.
SAVE_FORMATS = {".pt": "state dict", ".pth": "state dict", "": "state dict", ".ts": "TorchScript",
                ".pt2": "torch.export"}
RESUME_FORMAT = 1


def save_format(path: str | Path) -> str:
    """The format `path`'s suffix asks for; ParameterError for any other suffix, or when another model file of
    the same name (MODEL.pt beside MODEL.pt2) would have its sidecar MODEL.json overwritten."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ParameterError(f"{path.name}: a trained model is saved as .pt (state dict + JSON, can be "
                             "continued), .ts (TorchScript) or .pt2 (torch.export), not as " + suffix)
    others = [path.with_suffix(other) for other in SAVE_FORMATS if other not in ("", suffix)]
    sharing = next((other for other in others if other.exists()), None)
    if sharing is not None:
        raise ParameterError(f"{path.name} would overwrite {path.with_suffix('.json').name}, the sidecar of "
                             f"{sharing.name}; choose another name, e.g. {path.stem}-{suffix.lstrip('.')}{suffix}")
    return SAVE_FORMATS[suffix]


def save_trained(trainer: Trainer, path: str | Path) -> tuple[Path, Path]:
    """`path` in the format of its suffix and its sidecar JSON, each written atomically."""
    path = Path(path)
    kind = save_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        if kind == "state dict":
            torch.save({"state_dict": _cpu(trainer.model.module.net.state_dict()), "resume": resume_state(trainer)},
                       temporary)
        else:
            _save_program(program_of(trainer, kind), kind, temporary)
    sidecar = path.with_suffix(".json")
    write_atomically(sidecar, json.dumps(sidecar_of(trainer, program=kind != "state dict"), indent=2))
    return path, sidecar


def check_savable(trainer: Trainer, path: str | Path) -> None:
    """Raise before a run, rather than after it, when `trainer`'s network cannot be written as `path` asks."""
    kind = save_format(path)
    if kind != "state dict":
        program_of(trainer, kind)


def sidecar_of(trainer: Trainer, program: bool = False) -> dict:
    module = trainer.model.module
    mean, std = module.normalize.mean.flatten().tolist(), module.normalize.std.flatten().tolist()
    channels = trainer.model.input_shape[0]
    meta = {"arch": trainer.arch, "arch_options": _plain(trainer.arch_options),
            "input_shape": list(trainer.model.input_shape), "mean": mean, "std": std,
            "class_names": list(trainer.model.class_names), "domain": trainer.model.domain,
            "training": {"defense": trainer.defense, "defense_options": _plain(trainer.defense_options),
                         "params": _plain(trainer.params), "epochs_done": trainer.epochs_done,
                         "stopped_after_batches": trainer.partial.batches_done if trainer.partial else 0,
                         "data": _plain(trainer.data_recipe),
                         "history": [asdict(record) for record in trainer.history]}}
    if program:  # the program normalises itself; the loader must not do it a second time
        meta.update(mean=[0.0] * channels, std=[1.0] * channels, normalization_inside={"mean": mean, "std": std})
    return meta


def resume_state(trainer: Trainer) -> dict[str, Any]:
    """What continuing needs besides the weights, as tensors and plain values (weights_only reads them)."""
    partial = trainer.partial
    return {"format": RESUME_FORMAT, "optimizer": trainer.optimizer.state_dict(),
            "data_generator": trainer.data_generator.get_state(), "global_rng": trainer.global_rng,
            "epochs_done": trainer.epochs_done, "history": [asdict(record) for record in trainer.history],
            "partial": None if partial is None else {"order": partial.order, "batches_done": partial.batches_done,
                                                     "losses": list(partial.losses), "seconds": partial.seconds}}


# --- programs --------------------------------------------------------------------------------------------------

def program_of(trainer: Trainer, kind: str):
    """The whole classifier (normalisation and net, on the CPU, in eval mode) traced as TorchScript or exported
    with torch.export, checked to give the same logits as the module on a batch of another size."""
    module = copy.deepcopy(trainer.model.module).cpu().eval()  # the live model is left as it is
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    shape = trainer.model.input_shape
    example = torch.rand(2, *shape, generator=torch.Generator().manual_seed(0))
    try:
        if kind == "TorchScript":
            with warnings.catch_warnings():  # torch deprecates TorchScript; the loaders people use still read it
                warnings.simplefilter("ignore", FutureWarning)
                program = torch.jit.trace(module, example, check_trace=False)
            run = program
        else:
            batch = torch.export.Dim("batch", min=1, max=1 << 16)
            program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},), strict=False)
            run = program.module()
        probe = torch.rand(3, *shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            same = torch.allclose(run(probe), module(probe), rtol=1e-4, atol=1e-5)
    except Exception as exc:
        raise ModelError(f"{trainer.arch} cannot be written as {kind}: {first_line(exc)}; save it as .pt") from None
    if not same:
        raise ModelError(f"the {kind} program of {trainer.arch} does not reproduce its logits; save it as .pt")
    return program


def _save_program(program, kind: str, path: Path) -> None:
    if kind == "TorchScript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(program, str(path))
    else:
        torch.export.save(program, str(path))


# --- continuing a saved run ------------------------------------------------------------------------------------

@dataclass
class SavedRun:
    """A `.pt` written by `save_trained`: its sidecar, its weights and its training state."""

    path: Path
    meta: dict
    weights: dict[str, torch.Tensor]
    state: dict

    @property
    def arch(self) -> str:
        return str(self.meta["arch"])

    @property
    def training(self) -> dict:
        return self.meta.get("training") or {}

    @property
    def defense(self) -> str:
        return str(self.training.get("defense", "none"))

    @property
    def data_recipe(self) -> dict:
        return dict(self.training.get("data") or {"data": "samples"})


def saved_run(path: str | Path) -> SavedRun:
    """The run saved in `path`, read with weights_only. ModelError (one line) for what cannot be continued: a
    TorchScript or torch.export program, a file without its sidecar, a state dict without the training state."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model file {path}" if not path.exists() else f"{path} is not a regular file")
    kind = _program_kind(path)
    if kind:
        raise ModelError(f"{kind} is not trainable here: {path.name} holds a traced program, not the weights and "
                         "optimizer state a run continues from; continue from the run's .pt file")
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise ModelError(f"{path.name} has no sidecar {sidecar.name}, so its architecture and training settings "
                         "are unknown; only a .pt saved by `main.py train` or the Train tab can be continued")
    try:
        meta = json.loads(sidecar.read_text())
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {sidecar.name}: {first_line(exc)}") from None
    except Exception as exc:  # pickle, zip and format errors all mean "not a checkpoint we can read"
        raise ModelError(f"{path.name} is not a readable PyTorch checkpoint: {first_line(exc)}") from None
    if not isinstance(meta, dict) or "arch" not in meta:
        raise ModelError(f"{sidecar.name} does not describe a trained model (it names no architecture)")
    if not isinstance(stored, dict) or not isinstance(stored.get("resume"), dict):
        raise ModelError(f"{path.name} holds weights without the training state (optimizer, data order) that a run "
                         "continues from; it can be loaded (--model) but not continued")
    if stored["resume"].get("format") != RESUME_FORMAT:
        raise ModelError(f"{path.name} holds a training state of another format ({stored['resume'].get('format')})")
    return SavedRun(path, meta, stored["state_dict"], stored["resume"])


def continue_trainer(saved: SavedRun, data: TrainingData, device: str = "cpu") -> Trainer:
    """A trainer where the saved run stopped: its weights, optimizer state, data order, epochs, curves and the
    place in a stopped epoch. `data` must be the run's data (the same classes and image size)."""
    meta, name = saved.meta, saved.path.name
    shape, names = tuple(meta.get("input_shape") or ()), tuple(meta.get("class_names") or ())
    if tuple(data.input_shape) != shape or tuple(data.class_names) != names:
        raise ParameterError(f"{name} was trained on {'x'.join(map(str, shape))} images of the classes "
                             f"{', '.join(names)}; the data given has {'x'.join(map(str, data.input_shape))} "
                             f"images of {', '.join(data.class_names)}")
    training = saved.training
    own = dataclasses.replace(data, mean=tuple(meta["mean"]), std=tuple(meta["std"]))  # the model's own
    trainer = new_trainer(saved.arch, own, TRAINING.resolve(training.get("params") or {}),
                          meta.get("arch_options") or {}, saved.defense, training.get("defense_options") or {},
                          device)
    load_state_into(trainer.model.module.net, saved.weights, saved.arch)
    state = saved.state
    try:
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.data_generator.set_state(state["data_generator"])
        trainer.epochs_done = int(state["epochs_done"])
        trainer.history = [EpochRecord(**record) for record in state["history"]]
        trainer.partial = None if state["partial"] is None else PartialEpoch(**state["partial"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{name}: its training state does not fit {saved.arch}: {first_line(exc)}") from None
    if state.get("global_rng") is not None:
        torch.set_rng_state(state["global_rng"])  # dropout continues as it would have
    trainer.data_recipe = dict(data.recipe)
    trainer.model.module.eval()
    return trainer


def _program_kind(path: Path) -> str | None:
    """"a TorchScript program" or "a torch.export program" for such archives, else None."""
    if path.suffix.lower() == ".pt2":
        return "a torch.export program"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "a TorchScript program"
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return "a torch.export program"
    return None


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu() for name, tensor in state.items()}


def _plain(values: dict) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

