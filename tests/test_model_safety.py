"""Model files that could run code, and the checks made once at load (issue 13)."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.core.errors import ModelError
from engine.exported import pt2_code_risks
from engine.models import load_model


class _CreatesFile:
    """Unpickling this creates `path`: the stand-in for a pickle that runs `os.system`."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 3))


def _export(path: Path, net: nn.Module | None = None) -> Path:
    program = torch.export.export((net or _tiny_net()).eval(), (torch.zeros(2, 3, 2, 2),))
    torch.export.save(program, str(path))
    (path.with_suffix(".json")).write_text(json.dumps({"input_shape": [3, 2, 2]}))
    return path


def _rewrite(src: Path, dst: Path, change) -> Path:
    """Copy the archive `src` to `dst`, passing each entry's (name, bytes) through `change`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for name in zin.namelist():
            data = change(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
    dst.with_suffix(".json").write_text(src.with_suffix(".json").read_text())
    return dst


def _pickled_weight_pt2(tmp_path: Path, marker: Path) -> Path:
    """A clean export whose first weight is marked as pickled and holds a pickle that creates `marker`."""
    clean = _export(tmp_path / "clean.pt2")
    buffer = io.BytesIO()
    torch.save(_CreatesFile(marker), buffer)
    evil = buffer.getvalue()

    def change(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            for meta in config["config"].values():
                if meta["path_name"] == "weight_0":
                    meta["use_pickle"] = True
            return json.dumps(config).encode()
        if name.endswith("data/weights/weight_0"):
            return evil
        return data

    return _rewrite(clean, tmp_path / "evil.pt2", change)


def test_pickled_weight_pt2_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = _pickled_weight_pt2(tmp_path, marker)
    with pytest.raises(ModelError) as info:
        load_model(str(evil), "cpu")
    message = str(info.value)
    assert "pickled" in message and "run code" in message and "--trust-model-code" in message
    assert not marker.exists()


def test_pickled_weight_pt2_loads_when_trusted(tmp_path):
    marker = tmp_path / "pwned"
    evil = _pickled_weight_pt2(tmp_path, marker)
    try:
        load_model(str(evil), "cpu", trust_code=True)
    except ModelError:
        pass  # torch read the pickle; what it made of the object is torch's business
    assert marker.exists()  # trusted: the pickle was handed to torch, which ran it


def test_pickled_sample_inputs_and_opaque_constants_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    clean = _export(tmp_path / "clean.pt2")
    buffer = io.BytesIO()
    torch.save((_CreatesFile(marker),), buffer)

    def evil_inputs(name, data):
        return buffer.getvalue() if name.endswith("data/sample_inputs/model.pt") else data

    bad = _rewrite(clean, tmp_path / "inputs.pt2", evil_inputs)
    with pytest.raises(ModelError, match="pickled"):
        load_model(str(bad), "cpu")
    assert not marker.exists()

    def compiled(name, data):
        return data

    with zipfile.ZipFile(clean) as z:
        root = z.namelist()[0].split("/")[0]
    aoti = _rewrite(clean, tmp_path / "aoti.pt2", compiled)
    with zipfile.ZipFile(aoti, "a") as z:
        z.writestr(f"{root}/data/aotinductor/model/model.so", b"\x7fELF")
    assert any("compiled" in r for r in pt2_code_risks(aoti.read_bytes()))


def test_clean_pt2_loads_without_trust_and_says_it_is_a_program(tmp_path):
    path = _export(tmp_path / "clean.pt2")
    assert pt2_code_risks(path.read_bytes()) == []
    model = load_model(str(path), "cpu")
    assert model.num_classes == 3 and model.input_shape == (3, 2, 2)
    assert model.warning and "program" in model.warning


def test_torchscript_carries_a_program_warning(tmp_path):
    path = tmp_path / "net.pt"
    torch.jit.script(_tiny_net().eval()).save(str(path))
    path.with_suffix(".json").write_text(json.dumps({"input_shape": [3, 2, 2]}))
    model = load_model(str(path), "cpu")
    assert model.warning and "TorchScript" in model.warning and "runs" in model.warning


class _NaNNet(nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 10), float("nan")) + x.flatten(1)[:, :1]


class _OneClass(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :1]


def _script(path: Path, net: nn.Module, meta: dict) -> Path:
    torch.jit.script(net).save(str(path))
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def test_nan_outputs_are_refused(tmp_path):
    path = _script(tmp_path / "nan.pt", _NaNNet(), {"input_shape": [1, 28, 28]})
    with pytest.raises(ModelError, match="non-finite"):
        load_model(str(path), "cpu")


def test_one_class_model_is_refused(tmp_path):
    path = _script(tmp_path / "one.pt", _OneClass(), {"input_shape": [1, 28, 28]})
    with pytest.raises(ModelError, match="at least 2"):
        load_model(str(path), "cpu")


def test_sidecar_mean_of_wrong_length_is_refused(tmp_path):
    path = _script(tmp_path / "net.pt", _tiny_net().eval(),
                   {"input_shape": [3, 2, 2], "mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]})
    with pytest.raises(ModelError, match="net.json.*mean.*3 channel"):
        load_model(str(path), "cpu")


def test_load_model_none_is_a_model_error():
    with pytest.raises(ModelError):
        load_model(None, "cpu")  # type: ignore[arg-type]


def test_graph_calling_something_other_than_tensor_ops_is_refused(tmp_path):
    clean = _export(tmp_path / "clean.pt2")

    def calls_os(name, data):
        if name.endswith("models/model.json"):
            return data.replace(b'"torch.ops.aten.linear.default"', b'"torch.os.system"')
        return data

    bad = _rewrite(clean, tmp_path / "calls.pt2", calls_os)
    assert any("torch.os.system" in r for r in pt2_code_risks(bad.read_bytes()))
    with pytest.raises(ModelError, match="torch.os.system"):
        load_model(str(bad), "cpu")


class NotAWeight:
    pass


@pytest.mark.parametrize("content, says", [
    (b"", "the file is empty"),
    (bytes(range(256)) * 4, "neither a PyTorch zip archive nor a pickle"),
    ("half", "cut short or damaged"),
    ("object", "holds Python objects (test_model_safety.NotAWeight) whose unpickling can run code"),
])
def test_unreadable_checkpoints_say_what_is_wrong_in_one_line(tmp_path, content, says):
    path = tmp_path / "net.pth"
    if content == "object":
        torch.save({"w": NotAWeight()}, path)
    elif content == "half":
        torch.save({"w": torch.zeros(3)}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(ModelError) as caught:
        load_model(str(path), "cpu", arch="mnist-cnn")
    message = str(caught.value)
    assert says in message and "\n" not in message and "weights_only` set to `False" not in message, message


def test_a_random_variant_of_the_built_in_model_is_explained():
    with pytest.raises(ModelError, match="mnist-cnn is built in .* no ':random' variant"):
        load_model("mnist-cnn:random", "cpu")
