"""Reading torch.export archives (.pt2) without running their code. torch's loader unpickles some entries with
full pickle (which runs any code a file carries) and calls graph targets by name, so an archive is inspected
before torch sees it and refused, unless the user trusts it, when anything in it could run code."""
from __future__ import annotations

import io
import json
import os
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .core.errors import ModelError, UntrustedModelError, first_line


TRUST_HINT = ("load it only if you trust its source: --trust-model-code on the command line, or confirm in the "
              "GUI when asked")
_FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_force_lock = threading.Lock()


def load_exported(path: Path, trust_code: bool = False) -> nn.Module:
    try:
        data = path.read_bytes()  # inspect and load the same bytes, whatever happens to the file meanwhile
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}")
    try:
        zipfile.ZipFile(io.BytesIO(data)).close()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ModelError(f"{path.name} is not a loadable torch.export program: not a zip archive ({exc})")
    if not trust_code:
        risks = pt2_code_risks(data)
        if risks:
            more = f", and {len(risks) - 1} more" if len(risks) > 1 else ""
            raise UntrustedModelError(f"{path.name} holds pickled data or calls that could run code when loaded "
                                      f"({risks[0]}{more}); {TRUST_HINT}")
    try:
        if trust_code:
            program = torch.export.load(io.BytesIO(data))
        else:
            with _weights_only_loads():
                program = torch.export.load(io.BytesIO(data))
    except Exception as exc:
        raise ModelError(f"{path.name} is not a loadable torch.export program: {first_line(exc)}")
    return program.module()


class _weights_only_loads:
    """While torch reads an untrusted archive, every `torch.load` in it is forced to `weights_only=True` (torch's
    own switch), a second wall behind `pt2_code_risks`."""

    def __enter__(self):
        _force_lock.acquire()
        self.before = os.environ.get(_FORCE_WEIGHTS_ONLY)
        os.environ[_FORCE_WEIGHTS_ONLY] = "1"

    def __exit__(self, *exc_info):
        if self.before is None:
            os.environ.pop(_FORCE_WEIGHTS_ONLY, None)
        else:
            os.environ[_FORCE_WEIGHTS_ONLY] = self.before
        _force_lock.release()


# Parts of a .pt2 archive (below its root folder) that torch reads as JSON or as raw tensor bytes.
_PT2_JSON_OR_RAW = ("archive_format", "archive_version", ".data/version", ".data/serialization_id", "byteorder")


def pt2_code_risks(data: bytes) -> list[str]:
    """What in a torch.export archive torch would unpickle with full pickle (which can run any code) or load as
    compiled code; empty when the archive holds only JSON, raw tensor bytes and pickles that `weights_only`
    accepts. Follows torch 2.x's `torch.export.pt2_archive._package.load_pt2` and its legacy zip format."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        return [f"not a zip archive: {exc}"]
    risks: list[str] = []
    configs = {}
    for name in names:
        inner = name.split("/", 1)[1] if "/" in name else name
        if inner.startswith(("data/aotinductor/", "data/executorch/", "data/mtia", "data/xl_model_weights")):
            risks.append(f"{name} is compiled code or weights read by compiled code")
        elif inner.endswith(("_weights_config.json", "_constants_config.json")):
            configs[name] = inner
        elif inner.startswith("models/") and inner.endswith(".json") or inner == "serialized_exported_program.json":
            risks.extend(_graph_call_risks(archive, name))
        elif inner.endswith((".pt", ".pkl", ".pickle")) or _looks_pickled(archive, name):
            # torch reads these with torch.load, falling back to weights_only=False when weights_only fails
            if not _loads_weights_only(archive.read(name)):
                risks.append(f"{name} is a pickle that weights_only refuses")
    for name, inner in configs.items():
        try:
            config = json.loads(archive.read(name)).get("config", {})
            entries = list(config.items())
        except (ValueError, AttributeError, UnicodeDecodeError) as exc:
            risks.append(f"{name} is not a readable config: {exc}")
            continue
        for fqn, meta in entries:
            if not isinstance(meta, Mapping):
                risks.append(f"{name}: entry {fqn} is malformed")
                continue
            file = str(meta.get("path_name", ""))
            if meta.get("use_pickle"):
                folder = name.rsplit("/", 1)[0]
                entry = f"{folder}/{file}"
                if entry not in names or not _loads_weights_only(archive.read(entry)):
                    risks.append(f"{fqn} in {name} is marked as pickled")
            elif inner.endswith("_constants_config.json") and file.startswith(("custom_obj_", "opaque_obj_")):
                risks.append(f"constant {fqn} in {name} is a pickled object ({file})")
    return risks


# What a graph node may call: torch's operator libraries, and plain arithmetic. A target is resolved by name under
# `torch`, `_operator` or `math`, so `torch.os.system` would otherwise be a valid node.
_SAFE_TARGET_PREFIXES = ("torch.ops.aten.", "torch.ops.prims.", "torch.ops.higher_order.", "torch.ops.quantized.",
                         "torch.ops.quantized_decomposed.", "torch.sym_", "torch._sym_", "math.")
_SAFE_OPERATORS = {f"_operator.{n}" for n in (
    "getitem add sub mul truediv floordiv mod pow neg pos abs eq ne lt le gt ge and_ or_ xor not_ invert lshift "
    "rshift matmul".split())}


def _graph_call_risks(archive: zipfile.ZipFile, name: str) -> list[str]:
    try:
        program = json.loads(archive.read(name))
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{name} is not readable JSON: {exc}"]
    risks = []
    stack = [program]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            target = item.get("target")
            if isinstance(target, str) and not (target.startswith(_SAFE_TARGET_PREFIXES)
                                                or target in _SAFE_OPERATORS):
                risks.append(f"the program in {name} calls {target}, which is no tensor operation")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return risks


def _looks_pickled(archive: zipfile.ZipFile, name: str) -> bool:
    """Whether an entry outside the tensor folders starts like a pickle (protocol 2+) or a torch.save zip."""
    inner = name.split("/", 1)[1] if "/" in name else name
    if inner in _PT2_JSON_OR_RAW or inner.startswith(("data/weights/", "data/constants/")) or inner.endswith(
            ".json"):
        return False
    with archive.open(name) as f:
        head = f.read(4)
    return head[:1] == b"\x80" or head == b"PK\x03\x04"


def _loads_weights_only(blob: bytes) -> bool:
    try:
        torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception:
        return False
    return True
