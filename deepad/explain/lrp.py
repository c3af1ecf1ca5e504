"""Layer-wise relevance propagation (LRP) on zennit, one path shared by every network detector.

A detector declares how its score is written as the last layers of its network
(:meth:`deepad.models.base.Detector.lrp_model`): a plain ``nn.Module`` mapping the items, as the
network sees them, to output neurons, and a function giving each output neuron its relevance,
so that the relevances of an item sum to its score. This module then propagates that
relevance back to the input:

- canonizer: BatchNorm is merged into the preceding linear or convolutional layer
  (:class:`MergeBatchNorm`, which also handles BatchNorm without affine parameters);
- composite, chosen by the input: images (a known value range ``low``/``high`` per input
  element) get ``EpsilonGammaBox`` — the z^B (box) rule on the first layer, the γ rule
  (γ = 0.25) on convolutions and the ε rule on fully connected layers; tables and sequences
  get ``EpsilonPlusFlat`` — the flat rule on the first layer, z⁺ on convolutions, ε on fully
  connected layers. Activations and pooling are passed (max pooling gives the relevance to
  the maximum);
- attribution is a context (``with Gradient(network, composite)``), so nothing in the model
  changes beyond it.

:func:`conservation` reports, per item, the relevance that reached the input, the relevance
absorbed on the way by biases (and the ε stabiliser) of the linear layers, and the score:
with exact bookkeeping the first two add up to the third. Terms of the score that belong to
single input elements (``LRPModel.direct``) go to those elements as they are.

Gradient baselines share the same declaration: ``gradient`` is ``|∂score/∂x|`` and
``gradient_x_input`` is ``x · ∂score/∂x``, both on the network's input scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from zennit.attribution import Gradient
from zennit.canonizers import MergeBatchNorm as _ZennitMergeBatchNorm
from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat
from zennit.core import collect_leaves
from zennit.rules import ZBox
from zennit.types import BatchNorm, Linear

from deepad.data.types import DataKind
from deepad.explain.declare import METHODS, LRPModel
from deepad.results import FeatureWeights, ImageMaps, TokenWeights

_CHUNK = 64


class MergeBatchNorm(_ZennitMergeBatchNorm):
    """Merges each BatchNorm into the linear layer before it, and restores both afterwards.

    Pairs come from ``batch_norm_pairs()`` of any submodule that defines it (networks whose
    layers are not registered in forward order), else from adjacent leaves as in zennit's
    ``SequentialMergeBatchNorm``. BatchNorm without affine parameters is merged too.
    """

    def apply(self, root_module: nn.Module) -> list[MergeBatchNorm]:
        pairs: list[tuple[nn.Module, nn.Module]] = []
        declared = [m for m in root_module.modules() if hasattr(m, "batch_norm_pairs")]
        for module in declared:
            pairs += module.batch_norm_pairs()
        covered = {id(m) for module in declared for m in module.modules()}
        last = None
        for leaf in collect_leaves(root_module):
            if id(leaf) in covered:
                continue
            if isinstance(leaf, BatchNorm) and isinstance(last, Linear):
                pairs.append((last, leaf))
            last = leaf
        instances = []
        for linear, batch_norm in pairs:
            instance = MergeBatchNorm()
            instance.register([linear], batch_norm)
            instances.append(instance)
        return instances

    def register(self, linears: list[nn.Module], batch_norm: nn.Module) -> None:
        self.linears = linears
        self.batch_norm = batch_norm
        self.linear_params = [(m.weight.data, getattr(m.bias, "data", None)) for m in linears]
        self.batch_norm_params = {
            key: getattr(batch_norm, key).data.clone()
            for key in ("weight", "bias", "running_mean", "running_var")
            if getattr(batch_norm, key) is not None
        }
        denominator = (batch_norm.running_var + batch_norm.eps) ** 0.5
        weight = batch_norm.weight if batch_norm.weight is not None else 1.0
        shift = batch_norm.bias if batch_norm.bias is not None else 0.0
        scale = (weight / denominator).detach()
        for module in linears:
            w = module.weight.data
            if module.bias is None:
                module.bias = nn.Parameter(torch.zeros(w.shape[1 if _transposed(module) else 0]))
            b = module.bias.data
            index = (None, slice(None)) if _transposed(module) else (slice(None),)
            index = (*index, *((None,) * (w.ndim - len(index))))
            module.weight.data = w * scale[index]
            module.bias.data = ((b - batch_norm.running_mean) * scale + shift).detach()
        # the batch norm becomes the identity: (x - 0) / sqrt((1 - eps) + eps)
        batch_norm.running_mean.data = torch.zeros_like(batch_norm.running_mean)
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var, 1.0 - batch_norm.eps)
        if batch_norm.weight is not None:
            batch_norm.weight.data = torch.ones_like(batch_norm.weight)
            batch_norm.bias.data = torch.zeros_like(batch_norm.bias)

    def remove(self) -> None:
        for module, (weight, bias) in zip(self.linears, self.linear_params, strict=True):
            module.weight.data = weight
            if bias is None:
                module.bias = None
            else:
                module.bias.data = bias
        for key, value in self.batch_norm_params.items():
            getattr(self.batch_norm, key).data = value


def _transposed(module: nn.Module) -> bool:
    return isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d)


def composite_for(model: LRPModel, n: int) -> Any:
    """The zennit composite documented above, for a batch of ``n`` items."""
    canonizers = [MergeBatchNorm()]
    if model.low is None:
        return EpsilonPlusFlat(canonizers=canonizers)
    shape = (n, *model.inputs.shape[1:])
    low = torch.as_tensor(model.low, dtype=torch.float32).expand(shape).contiguous()
    high = torch.as_tensor(model.high, dtype=torch.float32).expand(shape).contiguous()
    return EpsilonGammaBox(
        low=low,
        high=high,
        canonizers=canonizers,
        # dense networks on images see the flattened image
        first_map=[(nn.Linear, ZBox(low=low.flatten(1), high=high.flatten(1)))],
    )


@dataclass
class Attribution:
    """Relevance of every input element, with the bookkeeping of :func:`conservation`."""

    relevance: np.ndarray  # (n, *input shape)
    score: np.ndarray  # (n,), the score the relevance started from
    absorbed: np.ndarray  # (n,), taken up by biases and stabilisers on the way


class _Absorption:
    """Relevance entering and leaving every linear layer, from plain tensor hooks registered
    before the composite's (so they see the relevance zennit passes between layers)."""

    def __init__(self, network: nn.Module) -> None:
        self.totals: dict[int, list[torch.Tensor]] = {}
        self.handles: list[Any] = []
        for module in network.modules():
            if isinstance(module, Linear):
                self.handles.append(module.register_forward_pre_hook(self._pre))
                self.handles.append(module.register_forward_hook(self._post))

    def _store(self, key: int, sign: float) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            self.totals.setdefault(key, []).append(sign * grad.flatten(1).sum(1).detach())

        return hook

    def _pre(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if args[0].requires_grad:
            args[0].register_hook(self._store(id(module), -1.0))

    def _post(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if output.requires_grad:
            output.register_hook(self._store(id(module), 1.0))

    def absorbed(self, n: int) -> torch.Tensor:
        total = torch.zeros(n)
        for parts in self.totals.values():
            if len(parts) == 2:  # the first layer's input may not be tracked
                total += parts[0] + parts[1]
        return total

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def attribute(model: LRPModel, method: str = "lrp") -> Attribution:
    """Relevance (``lrp``) or a gradient baseline of every input element of every item."""
    if method not in METHODS:
        raise ValueError(f"unknown explanation method {method!r}; choose from {', '.join(METHODS)}")
    network = model.network.cpu().eval()
    relevances, scores, absorbed = [], [], []
    for x in model.inputs.float().split(_CHUNK):
        with torch.no_grad():
            start = model.relevance(network(x), x).detach()
            direct = torch.zeros_like(x) if model.direct is None else model.direct(x).detach()
        scores.append(start.flatten(1).sum(1) + direct.flatten(1).sum(1))
        if method == "lrp":
            rel, taken = _lrp(model, network, x, start)
            rel = rel + direct.view_as(rel)
        else:
            rel, taken = _gradient(model, network, x, times_input=method == "gradient_x_input")
        relevances.append(rel)
        absorbed.append(taken)
    if not relevances:
        empty = np.zeros((0, *model.inputs.shape[1:]), np.float32)
        return Attribution(empty, np.zeros(0), np.zeros(0))
    return Attribution(
        relevance=torch.cat(relevances).numpy().astype(np.float32),
        score=torch.cat(scores).double().numpy(),
        absorbed=torch.cat(absorbed).double().numpy(),
    )


def _lrp(
    model: LRPModel, network: nn.Module, x: torch.Tensor, start: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    skip = torch.zeros_like(x)
    if model.residual:
        with torch.no_grad():
            out = network(x)
        error = x - out.view_as(x)
        stabilised = error + 1e-6 * torch.where(error >= 0, 1.0, -1.0)
        skip = start.view_as(x) * x / stabilised
        start = (start.view_as(x) * -out.view_as(x) / stabilised).view_as(out)
    bookkeeping = _Absorption(network)
    try:
        with Gradient(model=network, composite=composite_for(model, len(x))) as attributor:
            _, relevance = attributor(x.clone().requires_grad_(True), start)
    finally:
        bookkeeping.close()
    return relevance.detach() + skip, bookkeeping.absorbed(len(x))


def _gradient(
    model: LRPModel, network: nn.Module, x: torch.Tensor, *, times_input: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    score = model.relevance(network(x), x).flatten(1).sum(1)
    if model.direct is not None:
        score = score + model.direct(x).flatten(1).sum(1)
    (grad,) = torch.autograd.grad(score.sum(), x)
    values = grad * x if times_input else grad.abs()
    return values.detach(), torch.zeros(len(x))


def conservation(detector: Any, items: Any) -> dict[str, np.ndarray]:
    """Per item: ``relevance`` (Σ input relevance), ``absorbed`` (by biases and the ε
    stabiliser on the way), ``score`` (the detector's score) and ``error`` =
    ``|relevance + absorbed − score| / |score|``. CVDD propagates through its attention
    itself (:mod:`deepad.explain.attention`; nothing is absorbed there)."""
    return lrp_with_report(detector, items, maps=False)[1]


def lrp_with_report(
    detector: Any, items: Any, *, maps: bool = True
) -> tuple[ImageMaps | FeatureWeights | TokenWeights | None, dict[str, np.ndarray]]:
    """LRP as the detector's explanation type (None unless ``maps``) and the
    :func:`conservation` report of the same items, from one propagation."""
    if hasattr(detector, "word_relevance"):  # CVDD
        explanation = detector.explain(items, method="lrp") if maps else None
        words, score = detector.word_relevance(items)
        relevance = np.array([float(np.sum(r, dtype=np.float64)) for r in words])
        absorbed = np.zeros(len(words))
    else:
        data = detector._checked(items)
        model = detector.lrp_model(data)
        result = attribute(model, "lrp")
        explanation = _as_explanation(detector, model, result) if maps else None
        relevance = result.relevance.reshape(len(result.relevance), -1).sum(1).astype(np.float64)
        absorbed, score = result.absorbed, result.score
    error = np.abs(relevance + absorbed - score) / np.maximum(np.abs(score), 1e-12)
    report = {"relevance": relevance, "absorbed": absorbed, "score": score, "error": error}
    return explanation, report


def explain_network(detector: Any, data: Any, method: str = "lrp") -> ImageMaps | FeatureWeights:
    """LRP or a gradient baseline as the detector's explanation type: an image map (summed
    over channels, gradient magnitudes summed as they are) or per-feature weights."""
    model = detector.lrp_model(data)
    if model is None:
        raise NotImplementedError(f"{detector.title} declares no network for LRP")
    return _as_explanation(detector, model, attribute(model, method))


def _as_explanation(
    detector: Any, model: LRPModel, result: Attribution
) -> ImageMaps | FeatureWeights:
    rel = result.relevance
    if model.kind == DataKind.IMAGE:
        maps = rel.sum(1) if rel.ndim == 4 else rel.reshape(len(rel), *_image_side(rel))
        return ImageMaps(maps=maps.astype(np.float32))
    columns = getattr(detector, "columns_", None)
    return FeatureWeights(weights=list(rel.reshape(len(rel), -1)), feature_names=columns)


def _image_side(rel: np.ndarray) -> tuple[int, int]:
    side = int(round(np.sqrt(rel[0].size)))
    return side, rel[0].size // side
