"""FCDD's fully convolutional networks and their receptive-field bookkeeping.

Every network maps an image to a one-channel, lower-resolution map using only convolutions and
pooling. The last 1×1 convolution's bias plays the role of Deep SVDD's centre. Each layer's
kernel, stride and padding are known, so the receptive field of every output pixel (size, step
between neighbours and centre of the first one) follows exactly from the layer list; the Gaussian
upsampling in :mod:`deepad.models.fcdd.upsample` relies on it.
"""

from __future__ import annotations

import torch
from torch import nn

from deepad.models.fcdd.config import Architecture, Backbone
from deepad.receptive_field import ReceptiveField

# Above this side the pretrained trunk is the default: its stride-8 stage has a receptive
# field of 67 pixels, more than a 64-pixel image. At 224 px (fcdd-defects-224-pretrained, 5
# epochs) it localised fabric, wood and round_part better than the from-scratch network but
# failed on one grid training set, so its mean there is lower (0.925 against 0.950).
PRETRAINED_ABOVE = 64


def choose_backbone(image_size: int) -> Backbone:
    return Backbone.EFFICIENTNET_LITE0 if image_size > PRETRAINED_ABOVE else Backbone.NONE


def _pair_first(value: int | tuple[int, ...]) -> int:
    return int(value[0] if isinstance(value, tuple) else value)


def receptive_field(layers: nn.Module, base: ReceptiveField | None = None) -> ReceptiveField:
    """Receptive field of the output pixels of a stack of convolutions and pools, on top of
    ``base``, the field of the stack's input cells (default: the input pixels themselves).

    Standard recurrence, layer by layer: the field grows by ``(k - 1) * jump``, the jump is
    multiplied by the stride, and the first centre moves by ``((k - 1) / 2 - padding) * jump``.
    Layers without spatial extent (normalisation, activations) leave it unchanged.
    """
    base = base or ReceptiveField(size=1, jump=1, start=0.0)
    size, jump, start = base.size, base.jump, base.start
    for layer in layers.modules():
        if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            k = _pair_first(layer.kernel_size)
            s = _pair_first(layer.stride) if layer.stride is not None else k
            p = _pair_first(layer.padding)
            d = _pair_first(getattr(layer, "dilation", 1))
            if isinstance(p, str):
                raise ValueError("string padding is not supported in receptive-field bookkeeping")
            k_eff = d * (k - 1) + 1
            start += ((k_eff - 1) / 2 - p) * jump
            size += (k_eff - 1) * jump
            jump *= s
        elif isinstance(layer, nn.Linear):
            raise ValueError("a fully connected layer has no local receptive field")
    return ReceptiveField(size=size, jump=jump, start=start)


def _conv(c_in: int, c_out: int, k: int, *, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=(k - 1) // 2, bias=bias)


def _width(channels: int, width: float) -> int:
    return max(4, round(channels * width))


def fmnist28(in_channels: int = 1, width: float = 1.0) -> nn.Sequential:
    """Thesis App. B.2, Fashion-MNIST: 28×28 → 7×7, receptive field 16."""
    c = _width(128, width)
    return nn.Sequential(
        _conv(in_channels, c, 5),
        nn.BatchNorm2d(c),
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(2, 2),
        _conv(c, c, 5),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(c, 1, 1),
    )


def cifar32(in_channels: int = 3, width: float = 1.0) -> nn.Sequential:
    """Thesis App. B.2, CIFAR-10: 32×32 → 8×8, receptive field 22."""
    c1, c2 = _width(128, width), _width(256, width)
    return nn.Sequential(
        _conv(in_channels, c1, 3),
        nn.BatchNorm2d(c1),
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(2, 2),
        _conv(c1, c2, 3),
        nn.BatchNorm2d(c2),
        nn.LeakyReLU(0.01),
        _conv(c2, c2, 3),
        nn.BatchNorm2d(c2),
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(2, 2),
        _conv(c2, c1, 3),
        nn.Conv2d(c1, 1, 1),
    )


def vgg224(in_channels: int = 3, width: float = 1.0) -> nn.Sequential:
    """Thesis App. B.2, ImageNet/MVTec-AD: 224×224 → 28×28, receptive field 62."""
    plan: list[int | str] = [64, "M", 128, "M", 256, 256, "M", 512, 512]
    layers: list[nn.Module] = []
    c_in = in_channels
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        c_out = _width(int(item), width)
        layers += [_conv(c_in, c_out, 3), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        c_in = c_out
    layers.append(nn.Conv2d(c_in, 1, 1))
    return nn.Sequential(*layers)


def pretrained_head(in_channels: int, width: float = 1.0) -> nn.Sequential:
    """The trainable part on a pretrained trunk: two 3×3 convolutions and the 1×1 output."""
    c = _width(256, width)
    layers: list[nn.Module] = []
    for c_in in (in_channels, c):
        layers += [_conv(c_in, c, 3), nn.BatchNorm2d(c), nn.LeakyReLU(0.01)]
    return nn.Sequential(*layers, nn.Conv2d(c, 1, 1))


_BUILDERS = {
    Architecture.FMNIST28: fmnist28,
    Architecture.CIFAR32: cifar32,
    Architecture.VGG224: vgg224,
}


def choose_architecture(image_size: int) -> Architecture:
    """The published network meant for the nearest input size."""
    if image_size < 32:
        return Architecture.FMNIST28
    if image_size < 96:
        return Architecture.CIFAR32
    return Architecture.VGG224


class FCDDNet(nn.Module):
    """φ: image ``(n, c, h, w)`` → one-channel map ``(n, 1, u, v)`` (no fully connected layer).

    With a pretrained ``backbone`` the image goes through its frozen trunk up to
    ``backbone_stage`` and then through :func:`pretrained_head`, the only trained part; the
    receptive field is the trunk stage's geometry (for this ``image_size``: its "same"
    padding depends on the side) carried on through the head's layers.
    """

    def __init__(
        self,
        architecture: Architecture | str,
        in_channels: int,
        *,
        image_size: int,
        width: float = 1.0,
        backbone: Backbone | str = Backbone.NONE,
        backbone_stage: str = "s8",
    ) -> None:
        super().__init__()
        architecture = Architecture(architecture)
        backbone = Backbone(backbone)
        if backbone == Backbone.AUTO:
            backbone = choose_backbone(image_size)
        if architecture == Architecture.AUTO and backbone == Backbone.NONE:
            architecture = choose_architecture(image_size)
        self.architecture = architecture
        self.backbone_kind = backbone
        self.backbone_stage = backbone_stage
        self.in_channels = in_channels
        self.image_size = image_size
        self.width = width
        self.backbone: nn.Module | None = None
        if backbone == Backbone.NONE:
            self.features = _BUILDERS[architecture](in_channels, width)
            self.receptive_field = receptive_field(self.features)
            return
        if in_channels != 3:
            raise ValueError("the pretrained backbone takes RGB images (3 channels)")
        from deepad.features.backbone import pretrained_trunk

        trunk = pretrained_trunk(backbone_stage)
        self.backbone = trunk
        self.features = pretrained_head(trunk.channels, width)
        g = trunk.geometry(image_size)
        stage = ReceptiveField(size=g.field, jump=g.stride, start=g.offset)
        self.receptive_field = receptive_field(self.features, base=stage)

    @property
    def description(self) -> str:
        if self.backbone is None:
            return self.architecture.value
        return f"{self.backbone_kind.value} to {self.backbone_stage} (frozen) + head"

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backbone is not None:
            x = self.backbone(x)
        return self.features(x)

    def output_size(self, image_size: int | None = None) -> int:
        """Side of the output map for a square input (computed, not by running the net)."""
        size = image_size or self.image_size
        if self.backbone is not None:
            size = self.backbone.geometry(size).cells(size)
        for layer in self.features:
            if isinstance(layer, nn.Conv2d | nn.MaxPool2d):
                k = _pair_first(layer.kernel_size)
                s = _pair_first(layer.stride)
                p = _pair_first(layer.padding)
                size = (size + 2 * p - k) // s + 1
        return size
