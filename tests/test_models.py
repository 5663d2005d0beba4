"""Model sources and the model contract: Normalize -> net -> logits, clear errors for bad files. No downloads:
the cached-weights path is tested by writing a state dict where torch's cache would hold it."""
import urllib.error

import pytest
import torch
from torch import nn

from engine import models
from engine.core.errors import ModelError
from engine.models import Classifier, load_model


def test_builtin_model_contract(mnist_model):
    assert mnist_model.input_shape == (1, 28, 28)
    assert mnist_model.class_names == tuple("0123456789")
    assert mnist_model.domain == "mnist" and not mnist_model.module.training
    assert isinstance(mnist_model.module.normalize, models.Normalize)
    assert mnist_model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


class TupleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        logits = self.fc(x.flatten(1))
        return logits, logits * 0 + 1  # like Inception's (logits, aux)


class DictNet(TupleNet):
    def forward(self, x):
        return {"logits": self.fc(x.flatten(1)), "hidden": x}


@pytest.mark.parametrize("net_type", [TupleNet, DictNet])
def test_tuple_and_dict_outputs_are_unwrapped_to_logits(net_type):
    torch.manual_seed(0)
    net = net_type()
    classifier = Classifier(net, (0.0,) * 3, (1.0,) * 3)
    x = torch.rand(2, 3, 2, 2)
    assert torch.allclose(classifier(x), net.fc(x.flatten(1)))


def test_torchvision_random_weights_carry_the_imagenet_contract():
    model = load_model("resnet18:random", "cpu")
    assert model.input_shape == (3, 224, 224) and model.resize_size == 256
    assert model.num_classes == 1000 and model.class_names[1] == "goldfish"
    assert torch.allclose(model.module.normalize.mean.flatten(), torch.tensor(models.IMAGENET_MEAN))


def test_inception_v3_takes_299_pixels_and_returns_plain_logits():
    model = load_model("inception_v3:random", "cpu")
    assert model.input_shape == (3, 299, 299) and model.resize_size == 342
    assert model(torch.rand(2, 3, 299, 299)).shape == (2, 1000)


def test_cached_weights_are_loaded_without_a_network(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(models.urllib.request, "urlopen", _no_network)
    reference = load_model("resnet18:random", "cpu").module.net
    weights = models._zoo_weights("resnet18")
    path = models.cached_weights_path(weights)
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    model = load_model("resnet18", "cpu")
    assert model.name == "resnet18" and str(path) in model.source
    x = torch.rand(1, 3, 224, 224)
    assert torch.allclose(model.module.net(x), reference(x))


def _no_network(*args, **kwargs):
    raise urllib.error.URLError("network unreachable (test)")


def test_missing_weights_offline_give_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(models.urllib.request, "urlopen", _no_network)
    with pytest.raises(ModelError, match="not in torch's cache.*:random"):
        load_model("resnet50", "cpu")
    assert not any(tmp_path.rglob("*.partial"))


def test_a_download_reports_progress_into_the_cache(tmp_path, monkeypatch):
    import io

    class FakeResponse(io.BytesIO):
        headers = {"Content-Length": str(3 << 20)}

    monkeypatch.setattr(models.urllib.request, "urlopen", lambda *a, **k: FakeResponse(b"x" * (3 << 20)))
    target = tmp_path / "w.pth"
    progress = list(models.download_steps("https://example.invalid/w.pth", target))
    assert [p.done for p in progress] == [1 << 20, 2 << 20, 3 << 20]
    assert progress[-1].total == 3 << 20 and target.stat().st_size == 3 << 20


def test_torchscript_and_export_files_load_and_match(tmp_path, mnist_model):
    x = torch.rand(4, 1, 28, 28)
    scripted = tmp_path / "digits.pt"
    torch.jit.trace(mnist_model.module, x).save(str(scripted))
    exported = tmp_path / "digits.pt2"
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.export.save(torch.export.export(mnist_model.module, (x,), dynamic_shapes={"x": {0: batch}}), exported)
    for path in (scripted, exported):
        model = load_model(str(path), "cpu")
        assert model.input_shape == (1, 28, 28) and model.class_names == tuple("0123456789")
        assert torch.allclose(model(x), mnist_model(x), atol=1e-5)


def test_sidecar_json_describes_a_file_model(tmp_path, mnist_model):
    path = tmp_path / "net.pt"
    torch.jit.trace(mnist_model.module.net, torch.rand(2, 1, 28, 28)).save(str(path))  # without Normalize
    path.with_suffix(".json").write_text('{"input_shape": [1, 28, 28], "mean": [0.1307], "std": [0.3081], '
                                         '"class_names": ["zero","one","two","three","four","five","six",'
                                         '"seven","eight","nine"]}')
    model = load_model(str(path), "cpu")
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(model(x), mnist_model(x), atol=1e-5)
    assert model.class_names[7] == "seven" and not model.notes


def test_state_dict_for_a_named_architecture(tmp_path, mnist_model):
    path = tmp_path / "digits.pth"
    torch.save(mnist_model.module.net.state_dict(), path)
    model = load_model(str(path), "cpu", arch="mnist-cnn")
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(model(x), mnist_model(x))
    small = tmp_path / "resnet18_10.pth"
    torch.save(models._build_zoo_net("resnet18", None, num_classes=10).state_dict(), small)
    model = load_model(str(small), "cpu", arch="resnet18")
    assert model.num_classes == 10 and model.input_shape == (3, 224, 224)


def test_state_dict_for_the_wrong_architecture_is_refused(tmp_path, mnist_model):
    path = tmp_path / "digits.pth"
    torch.save(mnist_model.module.net.state_dict(), path)
    with pytest.raises(ModelError, match="does not fit resnet18.*missing keys"):
        load_model(str(path), "cpu", arch="resnet18")
    with pytest.raises(ModelError, match="--arch"):
        load_model(str(path), "cpu")


def test_files_that_are_not_models_are_refused(tmp_path):
    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"\x00not a model at all" * 10)
    with pytest.raises(ModelError, match="not a readable"):
        load_model(str(garbage), "cpu", arch="resnet18")
    broken = tmp_path / "model.pt2"
    broken.write_bytes(b"PK\x03\x04broken zip")
    with pytest.raises(ModelError, match="torch.export"):
        load_model(str(broken), "cpu")
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "absent.pt"), "cpu")


def test_pickled_code_is_not_executed(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"weight": Evil()}))
    with pytest.raises(ModelError):
        load_model(str(path), "cpu", arch="mnist-cnn")


def test_unknown_names_and_devices_are_refused():
    with pytest.raises(ModelError, match="unknown model"):
        load_model("resnet9000", "cpu")
    with pytest.raises(ModelError, match="unknown device"):
        load_model("mnist-cnn", "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            load_model("mnist-cnn", "cuda")


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.norm(self.conv(x))).flatten(1))


def test_loading_a_model_saved_in_train_mode_leaves_every_buffer_unchanged(tmp_path):
    """The input-shape probe runs after eval(): in train mode it would move BatchNorm's running statistics."""
    torch.manual_seed(0)
    net = BatchNormNet().train()
    net(torch.rand(8, 1, 28, 28) * 3 + 1)  # running statistics away from their initial values
    path = tmp_path / "train_mode.pt"
    torch.jit.script(net).save(str(path))  # without a sidecar: the input shape is found by probing
    saved = {name: buffer.clone() for name, buffer in torch.jit.load(str(path)).named_buffers()}
    model = load_model(str(path), "cpu")
    loaded = dict(model.module.net.named_buffers())
    assert model.input_shape == (1, 28, 28) and not model.module.training
    assert sorted(loaded) == sorted(saved)
    for name, buffer in saved.items():
        assert torch.equal(loaded[name], buffer), name


def test_a_library_error_while_loading_names_the_model_and_the_error(tmp_path, monkeypatch):
    """A bare IndexError("pop from empty list") or KeyError(101) from deep inside a library reaches the user as
    one line that says which model failed and how."""
    import engine.models as models

    def broken(*_args, **_kwargs):
        raise KeyError(101)

    monkeypatch.setattr(models, "_load_file", broken)
    path = tmp_path / "net.pt"
    path.write_bytes(b"irrelevant")
    with pytest.raises(ModelError, match=r"could not load the model .*net\.pt: KeyError: 101"):
        load_model(str(path), "cpu")
