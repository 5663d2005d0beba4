"""Loading classifiers into one shape: `Normalize -> net -> logits`, pixel space [0, 1] NCHW in front.

Sources: the built-in MNIST CNN, the torchvision ImageNet zoo (weights from torch's cache, downloaded when
absent), TorchScript files, torch.export programs (.pt2) and state-dict files for a named architecture.
Untrusted checkpoints are read with `weights_only=True`, which refuses to run pickled code.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import builtin_mnist
from .core.errors import AdvLensError, ModelError, first_line
from .core.pixels import checked_pixels
from .checkpoints import read_state_dict
from .exported import load_exported
from .core.run import run_to_end

BUILTIN_MODELS = ("mnist-cnn",)
DEFAULT_MODEL = "mnist-cnn"
# The ImageNet networks offered by name; any other torchvision classification model name also works.
ZOO_MODELS = ("resnet18", "resnet50", "resnet101", "vgg16", "mobilenet_v3_large", "inception_v3")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_WEIGHTS_SUFFIX = ":random"


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class Normalize(nn.Module):
    """Per-channel standardisation, so that everything in front of the model is pixel space [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def logits_of(output) -> torch.Tensor:
    """The logits inside whatever a network returns: a tensor, a tuple (Inception's aux logits), a dict or an
    object with `.logits` (Hugging Face style)."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits") and isinstance(output.logits, torch.Tensor):
        return output.logits
    if isinstance(output, Mapping):
        if "logits" in output:
            return logits_of(output["logits"])
        if output:
            return logits_of(next(iter(output.values())))
    if isinstance(output, (tuple, list)) and output:
        return logits_of(output[0])
    raise ModelError(f"the model returned {type(output).__name__}, which holds no logits tensor")


class Classifier(nn.Module):
    """`Normalize -> net`, unwrapping tuple/dict outputs to a (N, classes) logits tensor."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = logits_of(self.net(self.normalize(x)))
        return logits.flatten(1) if logits.dim() > 2 else logits


@dataclass
class LoadedModel:
    """A classifier ready for the engine: pixel-space input of `input_shape` (C, H, W), logits out."""

    module: Classifier
    name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    source: str
    domain: str  # "mnist" or "imagenet" or "custom": picks attack defaults and sample images
    device: str = "cpu"
    resize_size: int | None = None  # shorter side before the centre crop, as torchvision's presets do
    notes: list[str] = field(default_factory=list)
    # Set for model files that are programs (TorchScript, torch.export): front doors show it when loading.
    warning: str | None = None
    training: dict | None = None  # how a model trained in AdvLens was trained (its defense, epochs, curves)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to(self, device: str) -> LoadedModel:
        device = check_device(device)
        self.module.to(device)
        self.device = device
        return self

    def pixel_batch(self, images, single_allowed: bool = False) -> torch.Tensor:
        """`images` checked as input for this model (see engine.core.pixels.checked_pixels)."""
        return checked_pixels(images, self.input_shape, single_allowed)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities (N, classes) and predicted labels (N,) on the CPU, batched to bound memory."""
        probs = [torch.softmax(self(chunk.to(self.device)).float(), dim=1).cpu()
                 for chunk in images.split(batch_size)]
        p = torch.cat(probs) if probs else torch.empty(0, self.num_classes)
        return p, p.argmax(dim=1)


def check_device(device: str) -> str:
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ModelError(f"unknown device {device!r}: use cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("CUDA was asked for but no CUDA device is available; choose the CPU")
    return device


# --- sources -------------------------------------------------------------------------------------------------

def load_model(spec: str, device: str | None = None, arch: str | None = None,
               on_progress: Callable[[DownloadProgress], None] | None = None, *,
               trust_code: bool = False) -> LoadedModel:
    """Load `spec`: a built-in name, a torchvision name (`resnet18`, or `resnet18:random` for untrained
    weights), or a path to a TorchScript / torch.export / state-dict file (`arch` names the network a state dict
    belongs to). `on_progress` follows a weights download. A torch.export file holding pickled data (which can
    run code when read) is refused unless `trust_code` says the user trusts it."""
    return run_to_end(load_model_steps(spec, device, arch, trust_code=trust_code), on_progress)


def load_model_steps(spec: str, device: str | None = None, arch: str | None = None, *,
                     trust_code: bool = False) -> Generator[DownloadProgress, None, LoadedModel]:
    """`load_model` as a step-yielding computation: yields download progress, returns the model."""
    if not isinstance(spec, (str, os.PathLike)):
        raise ModelError(f"a model is named by a string or a path, not {type(spec).__name__}")
    device = check_device(device or default_device())
    spec = os.fspath(spec).strip()
    if not spec:
        raise ModelError("no model given")
    try:
        if spec in BUILTIN_MODELS:
            model = _load_builtin()
        elif Path(spec).suffix in MODEL_FILE_SUFFIXES or Path(spec).exists():
            model = _load_file(Path(spec), arch, trust_code)
        else:
            name, random_weights = _split_random_suffix(spec)
            model = yield from _load_zoo(name, random_weights)
    except (AdvLensError, GeneratorExit):
        raise
    except Exception as exc:  # a library's bare "pop from empty list" or "101" says nothing of what failed
        raise ModelError(f"could not load the model {spec}: {type(exc).__name__}: {first_line(exc)}") from exc
    set_eval(model.module)
    for p in model.module.parameters():
        p.requires_grad_(False)  # attacks need gradients of inputs only
    check_model(model)
    return model.to(device)


def check_model(model: LoadedModel) -> None:
    """The checks made once at load: at least two classes, normalisation matching the channels, finite outputs
    on a grey probe image. A ModelError says what is wrong."""
    if model.num_classes < 2:
        raise ModelError(f"{model.name} has {model.num_classes} output class; a classifier needs at least 2")
    channels = model.input_shape[0]
    norm = model.module.normalize
    for what, values in (("mean", norm.mean), ("std", norm.std)):
        if values.numel() not in (1, channels):
            raise ModelError(f"the normalisation {what} of {model.name} has {values.numel()} values but its input "
                             f"has {channels} channel(s)")
    if not bool((norm.std != 0).all()):
        raise ModelError(f"the normalisation std of {model.name} contains 0")
    try:
        with torch.no_grad():
            out = model.module(torch.full((2, *model.input_shape), 0.5))  # the batch size probes use
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{model.name} fails on a {'x'.join(map(str, model.input_shape))} probe image: "
                         f"{first_line(exc)}")
    if out.dim() != 2 or tuple(out.shape) != (2, model.num_classes):
        raise ModelError(f"{model.name} returns outputs of shape {tuple(out.shape)} for two images; expected "
                         f"(2, {model.num_classes})")
    if not bool(torch.isfinite(out).all()):
        raise ModelError(f"{model.name} returns non-finite outputs (NaN or inf) on a grey probe image; its "
                         "weights or its normalisation are broken")


MODEL_FILE_SUFFIXES = (".pt", ".pth", ".pt2", ".ts", ".jit", ".bin", ".ckpt")


def set_eval(module: nn.Module) -> None:
    """Eval mode for dropout and batch norm; exported programs refuse `.eval()` and are traced in eval mode."""
    try:
        module.eval()
    except (NotImplementedError, RuntimeError):
        if isinstance(module, Classifier):
            module.normalize.eval()


def _split_random_suffix(spec: str) -> tuple[str, bool]:
    if spec.endswith(RANDOM_WEIGHTS_SUFFIX):
        return spec[: -len(RANDOM_WEIGHTS_SUFFIX)], True
    return spec, False


def _load_builtin() -> LoadedModel:
    try:
        net = builtin_mnist.load_builtin_net()
    except FileNotFoundError as exc:
        raise ModelError(f"the built-in weights are missing ({exc.filename}); run `python main.py train-default`")
    return LoadedModel(Classifier(net, builtin_mnist.MNIST_MEAN, builtin_mnist.MNIST_STD), "mnist-cnn",
                       (1, 28, 28), builtin_mnist.DIGIT_NAMES, "built-in MNIST CNN (resources/mnist_cnn.pt)",
                       "mnist", training={"defense": "none"})


def zoo_model_names() -> list[str]:
    import torchvision.models as tvm
    return sorted(tvm.list_models(module=tvm))


def _zoo_weights(name: str):
    import torchvision.models as tvm
    if name in BUILTIN_MODELS:
        raise ModelError(f"{name} is built in with its trained weights and has no ':random' variant; to compare "
                         f"with another one, train it (`main.py train --arch {name} --out net.pt`)")
    if name not in zoo_model_names():
        raise ModelError(f"unknown model {name!r}: use a built-in ({', '.join(BUILTIN_MODELS)}), a torchvision "
                         f"classification model such as {', '.join(ZOO_MODELS)}, or a path to a model file")
    return tvm.get_model_weights(name).DEFAULT


def _build_zoo_net(name: str, weights, num_classes: int = 1000) -> nn.Module:
    import torchvision.models as tvm
    # Google's Inception weights expect inputs scaled to [-1, 1]; torchvision converts inside the network
    # (transform_input) from the ImageNet normalisation that every torchvision preset applies.
    extra = ({"aux_logits": False, "init_weights": False, "transform_input": True}
             if name in ("inception_v3", "googlenet") else {})
    return tvm.get_model(name, weights=None, num_classes=num_classes, **extra)


def _zoo_model(name: str, net: nn.Module, weights, source: str, class_names=None) -> LoadedModel:
    preset = weights.transforms()
    crop, resize = int(preset.crop_size[0]), int(preset.resize_size[0])
    names = tuple(class_names or weights.meta["categories"])
    return LoadedModel(Classifier(net, preset.mean, preset.std), name, (3, crop, crop), names, source,
                       "imagenet", resize_size=resize)


def _load_zoo(name: str, random_weights: bool) -> Generator[DownloadProgress, None, LoadedModel]:
    weights = _zoo_weights(name)
    net = _build_zoo_net(name, weights)
    if random_weights:
        return _zoo_model(name + RANDOM_WEIGHTS_SUFFIX, net, weights, f"torchvision {name}, random weights")
    path = cached_weights_path(weights)
    if not path.exists():
        yield from download_steps(weights.url, path)
    state = read_state_dict(path)
    if name in ("inception_v3", "googlenet"):
        state = {k: v for k, v in state.items() if not k.startswith("AuxLogits") and not k.startswith("aux")}
    load_state_into(net, state, name)
    return _zoo_model(name, net, weights, f"torchvision {name}, {weights} ({path})")


def cached_weights_path(weights) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


@dataclass(frozen=True)
class DownloadProgress:
    url: str
    done: int  # bytes
    total: int  # bytes, 0 when the server does not say


def download_steps(url: str, path: Path, chunk: int = 1 << 20) -> Generator[DownloadProgress, None, None]:
    """Fetch `url` into torch's cache, yielding progress; a clear message when the network is unreachable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=15) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while block := response.read(chunk):
                out.write(block)
                done += len(block)
                yield DownloadProgress(url, done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise ModelError(f"weights are not in torch's cache ({path}) and could not be downloaded from {url}: "
                         f"{reason}. Copy the file there, or use a model name with ':random' for untrained weights")
    partial.replace(path)


def load_state_into(net: nn.Module, state: Mapping[str, torch.Tensor], arch: str) -> None:
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        parts = [f"{len(keys)} {what} (e.g. {keys[0]})" for what, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong_shape))
                 if keys]
        raise ModelError(f"the state dict does not fit {arch}: " + ", ".join(parts))
    net.load_state_dict(state)


# --- files -----------------------------------------------------------------------------------------------------

def _load_file(path: Path, arch: str | None, trust_code: bool = False) -> LoadedModel:
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():  # a folder, FIFO or device: reading it would fail or never end
        raise ModelError(f"{path} is not a regular file; name a model file")
    if path.suffix == ".pt2":
        net, source = load_exported(path, trust_code), f"torch.export program {path}"
        kind = "a torch.export program"
    elif _is_torchscript(path):
        net, source = _load_torchscript(path), f"TorchScript {path}"
        kind = "a TorchScript program"
    else:
        return _load_state_dict_file(path, arch)
    set_eval(net)  # before the shape probe: in train mode it would move BatchNorm's running statistics
    model = _describe_file_model(net, path, source)
    model.warning = (f"{path.name} is {kind}: its code runs each time the model is called. Use only model files "
                     "from sources you trust")
    return model


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _load_torchscript(path: Path) -> nn.Module:
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript loudly; users' files still need loading
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelError(f"{path.name} is not a loadable TorchScript model: {first_line(exc)}")


def _load_state_dict_file(path: Path, arch: str | None) -> LoadedModel:
    state = read_state_dict(path)  # first: a file that is no checkpoint at all should say so
    sidecar = path.with_suffix(".json")
    if not arch and sidecar.exists() and "arch" in (meta := _read_sidecar(sidecar)):
        return _load_trained(path, state, meta)
    if not arch:
        raise ModelError(f"{path.name} is a state dict; name its architecture (the Architecture field, or --arch "
                         "on the command line: resnet18, mnist-cnn, ...)")
    if arch in BUILTIN_MODELS:
        model = _load_builtin()
        load_state_into(model.module.net, state, arch)
    else:
        name, _ = _split_random_suffix(arch)
        weights = _zoo_weights(name)
        num_classes = _classifier_width(state)
        net = _build_zoo_net(name, weights, num_classes)
        load_state_into(net, state, name)
        names = None if num_classes == 1000 else [f"class {i}" for i in range(num_classes)]
        model = _zoo_model(name, net, weights, "", names)
    model.source = f"state dict {path} for {arch}"
    model.name = path.stem
    return model


def _load_trained(path: Path, state: Mapping[str, torch.Tensor], meta: Mapping) -> LoadedModel:
    """A state dict saved by the Train workspace or `main.py train`: its sidecar names the architecture."""
    from .architectures import get_architecture

    try:
        shape = tuple(int(v) for v in meta["input_shape"])
        names = tuple(str(name) for name in meta["class_names"])
        net = get_architecture(str(meta["arch"])).create(shape, len(names), meta.get("arch_options") or {})
        mean, std = tuple(meta["mean"]), tuple(meta["std"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path.with_suffix('.json').name} does not describe a trained model: {first_line(exc)}")
    load_state_into(net, state, str(meta["arch"]))
    set_eval(net)
    training = meta.get("training") or {}
    return LoadedModel(Classifier(net, mean, std), path.stem, shape, names,
                       f"trained {meta['arch']} ({training.get('defense', 'none')}) {path}",
                       str(meta.get("domain") or "custom"), training=training)


def _classifier_width(state: Mapping[str, torch.Tensor]) -> int:
    """The number of classes: the output size of the last 2-D weight (the final linear layer)."""
    matrices = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    return int(matrices[-1].shape[0]) if matrices else 1000


# Shapes tried, in order, when a model file comes without a sidecar JSON describing its input.
PROBE_SHAPES = ((3, 224, 224), (3, 299, 299), (1, 28, 28), (3, 32, 32))


def _describe_file_model(net: nn.Module, path: Path, source: str) -> LoadedModel:
    """Input shape, normalisation and class names from `<file>.json` when present, else probed."""
    sidecar = path.with_suffix(".json")
    meta = _read_sidecar(sidecar) if sidecar.exists() else {}
    notes = []
    if "input_shape" in meta:
        shape = tuple(int(v) for v in meta["input_shape"])
        num_classes = _probe(net, shape)
        if num_classes is None:
            raise ModelError(f"{path.name} does not accept input of shape {shape} given in {sidecar.name}")
    else:
        shape, num_classes = _probe_shape(net, path)
        notes.append(f"input shape {shape} found by probing; give it in {sidecar.name} to be sure")
    channels = shape[0]
    imagenet_like = channels == 3 and shape[1] >= 160
    mean = meta.get("mean", IMAGENET_MEAN if imagenet_like else (0.0,) * channels)
    std = meta.get("std", IMAGENET_STD if imagenet_like else (1.0,) * channels)
    for what, values in (("mean", mean), ("std", std)):
        if (not isinstance(values, (list, tuple)) or not all(isinstance(v, (int, float)) for v in values)
                or len(values) != channels):
            raise ModelError(f"{sidecar.name} gives a {what} of {values!r}, but the model's input has {channels} "
                             f"channel(s): give {channels} number(s)")
        if what == "std" and any(v <= 0 for v in values):
            raise ModelError(f"{sidecar.name} gives a std of {values!r}; every value must be above 0")
    names = tuple(meta.get("class_names") or _default_names(num_classes))
    if len(names) != num_classes:
        raise ModelError(f"{sidecar.name} lists {len(names)} class names but the model has {num_classes} outputs")
    domain = meta.get("domain") or ("imagenet" if imagenet_like else "mnist" if shape == (1, 28, 28) else "custom")
    resize = int(round(shape[1] * 256 / 224)) if imagenet_like else None
    model = LoadedModel(Classifier(net, mean, std), path.stem, shape, names, source, domain, resize_size=resize,
                        notes=notes)
    return model


def _read_sidecar(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path.name}: {exc}")


def _default_names(num_classes: int) -> Sequence[str]:
    if num_classes == 1000:
        import torchvision.models as tvm
        return tvm.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    if num_classes == 10:
        return builtin_mnist.DIGIT_NAMES
    return [f"class {i}" for i in range(num_classes)]


def _probe(net: nn.Module, shape: tuple[int, ...]) -> int | None:
    """The number of classes the net outputs for a zero batch of `shape`, or None when it refuses it."""
    try:
        with torch.no_grad():
            out = logits_of(net(torch.zeros(2, *shape)))
    except ModelError:
        raise
    except Exception:
        return None
    if out.dim() < 2 or out.shape[0] != 2:
        return None
    return int(out.flatten(1).shape[1])


def _probe_shape(net: nn.Module, path: Path) -> tuple[tuple[int, int, int], int]:
    for shape in PROBE_SHAPES:
        num_classes = _probe(net, shape)
        if num_classes:
            return shape, num_classes
    tried = ", ".join("x".join(map(str, s)) for s in PROBE_SHAPES)
    raise ModelError(f"{path.name} accepts none of the input shapes {tried} with a batch of 2; describe it in "
                     f"{path.with_suffix('.json').name} as {{\"input_shape\": [C, H, W]}}")


def model_choices() -> Iterator[str]:
    """What the model picker and `main.py list` offer by name."""
    yield from BUILTIN_MODELS
    yield from ZOO_MODELS
