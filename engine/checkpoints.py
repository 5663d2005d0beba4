"""Reading a state-dict file with `torch.load(weights_only=True)`, and saying in one line what is wrong with a
file that cannot be read: torch's own messages are pages long, advise loading untrusted files with
weights_only=False, or are empty (an EOFError)."""
from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .core.errors import ModelError, first_line


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint (a bare state dict, or one under state_dict / model_state_dict / model),
    without a `module.` prefix (DataParallel); ModelError naming the file otherwise."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and format errors all mean "not a checkpoint we can read"
        raise ModelError(f"{path.name} is not a readable PyTorch checkpoint: {checkpoint_problem(path, exc)}")
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path.name} holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def checkpoint_problem(path: Path, error: BaseException) -> str:
    """What a person can act on, from the exception torch.load raised on `path`."""
    text = str(error)
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return "the file is empty"
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if refused:
        return (f"it holds Python objects ({refused.group(1)}) whose unpickling can run code; AdvLens reads "
                "weights only: save the model's state_dict() instead")
    if isinstance(error, EOFError) or "central directory" in text or "failed reading zip archive" in text:
        return "the file is cut short or damaged (its archive is incomplete); copy it again"
    if "Weights only load failed" in text and not zipfile.is_zipfile(path):
        return "its bytes are neither a PyTorch zip archive nor a pickle (a different format, or corrupt)"
    return first_line(error)
