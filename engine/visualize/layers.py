"""The layers of a loaded model: the module tree with each module's output size, activations of one layer
(stopping the forward pass there), other rules for some modules for a while, and receptive fields.

Layers are named as in the network's own `named_modules()` (`features.3`, `layer1.0.conv1`), without the
`Normalize` in front. Hooks act only in the thread that installed them and the module tree is never changed, so
an attack running on the same model in another thread sees the model unchanged.
"""
from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..core.errors import ModelError, ParameterError
from ..models import LoadedModel


@dataclass(frozen=True)
class LayerInfo:
    """One module of the network: its dotted name, type, depth in the tree, output shape for one image
    ((C, H, W) for feature maps, (units,) for vectors) and how often the forward pass calls it."""

    name: str
    kind: str
    depth: int
    output_shape: tuple[int, ...]
    calls: int

    @property
    def channels(self) -> int:
        """Channels of a feature map, units of a vector: what a `channel` index counts."""
        return self.output_shape[0] if self.output_shape else 0

    @property
    def spatial(self) -> bool:
        return len(self.output_shape) == 3


def network(model: LoadedModel) -> nn.Module:
    """The network behind the model's `Normalize`, whose module names the user sees."""
    return model.module.net


def find_layer(model: LoadedModel, name: str) -> nn.Module:
    name = (name or "").strip()
    if not name:
        raise ParameterError("no layer given; see the layer list (`layers` of the model)")
    try:
        return network(model).get_submodule(name)
    except AttributeError:
        known = [n for n, _ in network(model).named_modules() if n][:12]
        raise ParameterError(f"the model has no layer {name!r}; its layers include {', '.join(known)}") from None


def _input_for(model: LoadedModel, count: int = 1, value: float = 0.5) -> torch.Tensor:
    return torch.full((count, *model.input_shape), value, device=model.device)


def list_layers(model: LoadedModel) -> list[LayerInfo]:
    """Every module that runs in a forward pass of one grey image, in tree order, with its output shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    calls: dict[str, int] = {}
    owner = threading.get_ident()

    def recorder(name: str):
        def hook(_module, _inputs, output):
            if threading.get_ident() == owner and isinstance(output, torch.Tensor):
                calls[name] = calls.get(name, 0) + 1
                shapes.setdefault(name, tuple(output.shape[1:]))
        return hook

    named = [(n, m) for n, m in network(model).named_modules() if n]
    try:
        handles = [module.register_forward_hook(recorder(name)) for name, module in named]
    except RuntimeError as exc:  # TorchScript modules accept no Python hooks
        raise ModelError(f"the layers of {model.name} cannot be inspected: {exc}") from None
    try:
        with torch.no_grad():
            model.module(_input_for(model))
    finally:
        for handle in handles:
            handle.remove()
    return [LayerInfo(name, type(module).__name__, name.count("."), shapes[name], calls[name])
            for name, module in named if name in shapes]


def layer_info(model: LoadedModel, name: str) -> LayerInfo:
    find_layer(model, name)
    for info in list_layers(model):
        if info.name == name:
            return info
    raise ParameterError(f"layer {name!r} does not output a tensor in a forward pass")


def check_channel(info: LayerInfo, channel: int) -> int:
    if not isinstance(channel, int) or isinstance(channel, bool):
        raise ParameterError(f"channel must be a whole number, not {channel!r}")
    if not 0 <= channel < info.channels:
        what = "channel" if info.spatial else "unit"
        raise ParameterError(f"{what} {channel} is out of range: {info.name} has {info.channels} "
                             f"{what}s (0..{info.channels - 1})")
    return channel


class _Reached(Exception):
    """Raised by the capture hook to end a forward pass once the wanted layer has run."""


def activations(model: LoadedModel, layer: nn.Module, images: torch.Tensor, layer_input: bool = False
                ) -> torch.Tensor:
    """The output of `layer` (its first call when the forward pass calls it several times) for `images`, or
    its input when `layer_input`, with the graph to the input kept when grad mode is on. The rest of the
    network is not evaluated."""
    captured: list[torch.Tensor] = []
    owner = threading.get_ident()

    def hook(_module, inputs, output):
        if threading.get_ident() == owner:
            captured.append(inputs[0] if layer_input else output)
            raise _Reached

    handle = layer.register_forward_hook(hook)
    try:
        model.module(images)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not captured or not isinstance(captured[0], torch.Tensor):
        raise ParameterError("the chosen layer did not output a tensor")
    return captured[0]


def channel_activation(output: torch.Tensor, channel: int) -> torch.Tensor:
    """(N, ...) one channel's map (N, H, W) of a feature map, or one unit's value (N,) of a vector."""
    return output[:, channel]


# --- other rules for some modules, in one thread ----------------------------------------------------------------

ModuleRule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (module input, module output) -> the output to use


@contextlib.contextmanager
def rules_in_this_thread(root: nn.Module, rule_for: Callable[[nn.Module], ModuleRule | None]) -> Iterator[int]:
    """While the context is open, in the thread that opened it, every module of `root` that `rule_for` gives a
    rule for has its output replaced by `rule(input, output)`; yields how many modules. Done by a pair of hooks
    per module that act only in this thread: the module tree is never changed, so other threads (an attack, the
    same rules in another computation) see every module's own forward, and two contexts in two threads cannot
    undo each other. An in-place module (ReLU(inplace=True)) runs on a copy of its input, so that the rule sees
    the input unchanged. Modules called as functions inside `forward` (F.relu) are not in the tree."""
    owner = threading.get_ident()
    modules = list({id(m): m for m in root.modules() if rule_for(m) is not None}.values())  # shared ones once
    handles = []
    try:
        for module in modules:
            try:
                handles += _install_rule(module, rule_for(module), owner)
            except RuntimeError as exc:  # TorchScript modules accept no Python hooks
                raise ModelError(f"the model's modules cannot be given other rules ({type(module).__name__}: "
                                 f"{exc}); this needs a Python (not TorchScript) model") from None
        yield len(modules)
    finally:
        for handle in handles:
            handle.remove()


def _install_rule(module: nn.Module, rule: ModuleRule, owner: int) -> list:
    inputs: list[torch.Tensor] = []  # the inputs of this thread's calls in progress (a stack: calls may nest)
    copies_input = bool(getattr(module, "inplace", False))

    def before(_module, args):
        if threading.get_ident() != owner:
            return None
        inputs.append(args[0])
        return (args[0].clone(), *args[1:]) if copies_input else None

    def after(_module, _args, output):
        if threading.get_ident() != owner:
            return None
        return rule(inputs.pop(), output)

    return [module.register_forward_pre_hook(before), module.register_forward_hook(after)]


# --- receptive fields ------------------------------------------------------------------------------------------

THRESHOLD_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid)


@dataclass(frozen=True)
class ReceptiveField:
    """Per axis (height, width): output position `i` sees input rows `start + i * jump` .. `+ size - 1`.
    A layer without spatial positions, or one whose field spans the whole image, has `whole_image` set."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]
    whole_image: bool = False

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the field of output position (row, col), possibly past the edges."""
        if self.whole_image:
            return 0, 0, self.size[0], self.size[1]
        return (self.start[0] + row * self.jump[0], self.start[1] + col * self.jump[1], self.size[0], self.size[1])


def _pass_gradient_through(module: nn.Module) -> ModuleRule | None:
    """For threshold activations and max pools, whose gradient is zero at some inputs: the same forward with a
    gradient that reaches every input the output depends on."""
    if isinstance(module, THRESHOLD_ACTIVATIONS):
        return lambda x, output: output.detach() + (x - x.detach())
    if isinstance(module, nn.MaxPool2d):
        def spread(x, output, pool=module):
            window = dict(kernel_size=pool.kernel_size, stride=pool.stride, padding=pool.padding,
                          ceil_mode=pool.ceil_mode)
            return output.detach() + F.avg_pool2d(x - x.detach(), **window)
        return spread
    return None


def receptive_field(model: LoadedModel, layer_name: str) -> ReceptiveField:
    """Measured, not derived from a module list (which would miss residual branches): a NaN gradient sent
    back from two neighbouring positions of the layer marks exactly the inputs each one depends on (NaN times
    any weight is NaN), with threshold activations and max pools made to pass gradients everywhere."""
    _, height, width = model.input_shape
    find_layer(model, layer_name)
    x = _input_for(model, 2).requires_grad_(True)
    with torch.enable_grad(), rules_in_this_thread(network(model), _pass_gradient_through):
        # the capture hook, installed after the rules' hooks, sees the output a rule gave
        out = activations(model, find_layer(model, layer_name), x)
        if out.dim() != 4 or out.shape[2] < 2 or out.shape[3] < 2:
            return ReceptiveField((height, width), (0, 0), (0, 0), whole_image=True)
        centre = ((out.shape[2] - 1) // 2, (out.shape[3] - 1) // 2)
        seed = torch.zeros_like(out)
        seed[0, :, centre[0], centre[1]] = math.nan
        seed[1, :, centre[0] + 1, centre[1] + 1] = math.nan
        (grad,) = torch.autograd.grad(out, x, seed)
    marked = grad.isnan().any(dim=1)  # (2, H, W)
    spans = [_span(marked[k].any(dim=1)) for k in range(2)], [_span(marked[k].any(dim=0)) for k in range(2)]
    axes = [_axis(axis_spans, index, extent) for axis_spans, index, extent in zip(spans, centre, (height, width))]
    if any(axis is None for axis in axes):
        return ReceptiveField((height, width), (0, 0), (0, 0), whole_image=True)
    (size_h, jump_h, start_h), (size_w, jump_w, start_w) = axes
    return ReceptiveField((size_h, size_w), (jump_h, jump_w), (start_h, start_w))


def _span(mask: torch.Tensor) -> tuple[int, int]:
    where = mask.nonzero()[:, 0]
    return (int(where[0]), int(where[-1])) if len(where) else (0, -1)


def _axis(spans: list[tuple[int, int]], index: int, extent: int) -> tuple[int, int, int] | None:
    """(size, jump, start) along one axis from the input spans of positions `index` and `index + 1`; a span
    that touches an image edge may be cut there, so the size comes from a span inside the image. None when both
    touch an edge: the field is then the whole image, as far as crops are concerned."""
    inside = [(first, last) for first, last in spans if first > 0 and last < extent - 1]
    if not inside:
        return None
    size = inside[0][1] - inside[0][0] + 1
    (first, last), (next_first, next_last) = spans
    jump = next_first - first if first > 0 else next_last - last
    first = first if first > 0 else last - size + 1
    return size, jump, first - index * jump
