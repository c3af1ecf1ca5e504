"""Fitted image detectors as ONNX models: the network together with its score head.

:func:`scoring_module` wraps a detector's network with everything between raw pixels and its
score (input scaling, FCDD's map → score and Gaussian upsampling, the autoencoder's
reconstruction error), so the exported graph takes what :func:`deepad.data.transforms.stack_images`
makes — ``uint8`` images ``(n, c, s, s)`` at the detector's size — and returns:

- ``score`` ``(n,)``: the same number as ``detector.decision_function`` (higher = more anomalous);
- ``anomaly_map`` ``(n, s, s)``: the full-resolution heatmap the detector explains with
  (FCDD, the autoencoder, PatchCore; Deep SVDD's explanation is a gradient, so its graph
  returns the score only).

PatchCore's graph holds the frozen backbone, the patch embedding and the memory bank as a
constant; the nearest-neighbour distance is written as matrix products,
``|x|² − 2 x·yᵀ + |y|²`` and a ``min`` over the bank, which every runtime has.

:func:`check_parity` runs the exported file in ONNX Runtime next to PyTorch on the same images,
because exporters and runtimes can silently change results.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

OPSET = 17
# fp32 networks run with other kernels in ONNX Runtime: scores agree to this relative error
PARITY_TOLERANCE = 1e-4


class ExportError(ValueError):
    """The detector has no exportable image network."""


class FCDDScorer(nn.Module):
    """uint8 images → (mean of the low-resolution map, full-resolution heatmap)."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        from deepad.models.fcdd.loss import anomaly_map

        self.network = detector.network_
        self._anomaly_map = anomaly_map
        self.receptive_field = detector.receptive_field_
        self.sigma = float(detector.sigma_)
        self.size = int(detector.image_size_)
        self.register_buffer("mean", torch.as_tensor(detector.mean_).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(detector.std_).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from deepad.models.fcdd.upsample import receptive_field_upsample

        x = (images.float() / 255.0 - self.mean) / self.std
        low = self._anomaly_map(self.network(x))[:, 0]
        full = receptive_field_upsample(low, self.receptive_field, self.sigma, size=self.size)
        return low.flatten(1).mean(1), full


class AutoencoderScorer(nn.Module):
    """uint8 images → (mean squared reconstruction error, its per-pixel mean over channels)."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.reconstructor = detector.module_

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        errors = self.reconstructor(images)
        return errors.flatten(1).mean(1), errors.mean(1)


class PatchCoreScorer(nn.Module):
    """uint8 RGB images → (PatchCore's image score, its smoothed full-resolution map).

    The same steps as :meth:`deepad.models.patchcore.PatchCore.infer` and ``explain``: ImageNet
    normalisation, backbone stages, locally averaged patch embeddings, squared distances to
    every bank entry as matrix products, the ``min`` over the bank and the ``max`` over patches
    (with the paper's re-weighting when the detector uses it), the map placed on the image by
    the grid's geometry and Gaussian-smoothed (two constant matrices)."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        import copy

        from deepad.features import IMAGENET_MEAN, IMAGENET_STD, pretrained_backbone
        from deepad.features.detectors import stage_list
        from deepad.models.patchcore.anomaly_map import map_matrix

        cfg = detector.config
        self.size = int(detector.image_size_)
        self.stages = stage_list(cfg.stages)
        self.pool = int(cfg.pool)
        self.pool_border = str(cfg.pool_border)
        self.pool_each_stage = bool(cfg.pool_each_stage)
        self.smoothed_score = cfg.image_score == "smoothed_map"
        network = pretrained_backbone()
        self.network = copy.deepcopy(network).cpu().to(memory_format=torch.contiguous_format)
        self.geometry = network.geometry(self.size)
        self.bank_model = detector.model_
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        side = detector.grid_.cells(self.size)
        rows = map_matrix(self.size, side, detector.grid_, float(cfg.sigma), cfg.upsample)
        self.register_buffer("to_pixels", torch.tensor(rows))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from deepad.models.patchcore.torch_model import patch_embeddings

        x = (images.float() / 255.0 - self.mean) / self.std
        features = self.network(x, self.stages)
        embeddings, _ = patch_embeddings(
            features,
            self.geometry,
            self.stages,
            self.pool,
            border=self.pool_border,
            each_stage=self.pool_each_stage,
        )
        n, d, h, w = embeddings.shape
        patches = embeddings.flatten(2).transpose(1, 2)  # (n, h·w, d)
        bank = self.bank_model.memory_bank
        # one (n, h·w, bank) product rather than the detector's chunks: a traced loop over
        # chunks would keep the example's chunk count for every batch size. Its memory is
        # n · h·w · bank · 4 bytes (49 MB per 224-px image against a 15,680-entry bank), so
        # the exported model is best run on small batches.
        squared = patches.pow(2).sum(2, keepdim=True) - 2.0 * patches @ bank.T + bank.pow(2).sum(1)
        nearest_sq, nearest = squared.min(dim=2)
        distance = nearest_sq.clamp_min(0.0).sqrt()
        best, where = distance.max(dim=1)
        score = best
        if self.bank_model.reweight:
            worst = patches.gather(1, where[:, None, None].expand(-1, 1, d))[:, 0]
            entry = nearest.gather(1, where[:, None])[:, 0]
            score = best * self.bank_model._weights(worst, entry)
        low = distance.reshape(-1, h, w)
        full = self.to_pixels @ low @ self.to_pixels.T
        if self.smoothed_score:
            peak = full.amax(dim=(1, 2))
            score = peak * (score / best.clamp_min(1e-12)) if self.bank_model.reweight else peak
        return score, full


class HypersphereScorer(nn.Module):
    """uint8 images → Deep SVDD's (or Deep SAD's, HSC's) score ``Σ (φ(x) − c)²``."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.module = detector.module_

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images).sum(1)


def _scorers() -> dict[str, type[nn.Module]]:
    return {
        "fcdd": FCDDScorer,
        "ae": AutoencoderScorer,
        "patchcore": PatchCoreScorer,
        "deepsvdd": HypersphereScorer,
        "deepsad": HypersphereScorer,
        "hsc": HypersphereScorer,
    }


def output_names(method: str) -> list[str]:
    """The graph's outputs: ``score``, and ``anomaly_map`` where the method has one."""
    return ["score"] if _scorers().get(method) is HypersphereScorer else ["score", "anomaly_map"]


def exportable_methods() -> list[str]:
    return sorted(_scorers())


def input_shape(detector: Any) -> tuple[int, int, int]:
    """``(channels, side, side)`` the exported model takes."""
    if detector.name == "fcdd":
        return (int(detector.channels_), int(detector.image_size_), int(detector.image_size_))
    if detector.name == "patchcore":
        if getattr(detector, "tiles_", None) is not None:
            raise ExportError(
                f"this PatchCore model scores tiles of large images ({detector.tiles_.describe()});"
                " the exported model would score one tile, not an image: refit with tiling off "
                "to export it"
            )
        return (3, int(detector.image_size_), int(detector.image_size_))
    if detector.name in ("deepsvdd", "deepsad", "hsc") and detector.image_size_:
        side = int(detector.image_size_)
        return (int(detector.channels_), side, side)
    if detector.name == "ae" and len(detector.shape_) == 3:
        return tuple(int(s) for s in detector.shape_)  # type: ignore[return-value]
    raise ExportError(f"{detector.name} on this kind of data has no image network to export")


def scoring_module(detector: Any) -> nn.Module:
    """The detector's network and score head as one CPU ``nn.Module`` in eval mode."""
    detector._check_fitted()
    scorer = _scorers().get(detector.name)
    if scorer is None:
        known = ", ".join(exportable_methods())
        raise ExportError(f"{detector.name} cannot be exported to ONNX; exportable: {known}")
    input_shape(detector)  # image networks only
    module = scorer(detector).cpu().eval()
    return module.to(memory_format=torch.contiguous_format)


@dataclass
class Exported:
    path: Path
    method: str
    input_shape: tuple[int, ...]  # without the batch dimension
    outputs: tuple[str, ...] = ("score", "anomaly_map")
    max_score_error: float | None = None  # ONNX Runtime vs PyTorch on sample images


def export_onnx(detector: Any, path: str | Path, *, opset: int = OPSET) -> Exported:
    """Write ``detector`` as an ONNX model with a dynamic batch dimension."""
    module = scoring_module(detector)
    shape = input_shape(detector)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros((2, *shape), dtype=torch.uint8)
    outputs = output_names(detector.name)
    with torch.no_grad(), warnings.catch_warnings():
        # the upsampling matrices depend only on the map size: constants in the graph, as meant
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["images"],
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in ["images", *outputs]},
            opset_version=opset,
            dynamo=False,
        )
    log.info("exported %s to %s", detector.name, path)
    return Exported(path=path, method=detector.name, input_shape=shape, outputs=tuple(outputs))


def onnx_scores(path: str | Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(score, anomaly_map)`` of uint8 images ``(n, c, s, s)`` in ONNX Runtime; the map is
    None for a graph without one (Deep SVDD)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"images": np.ascontiguousarray(images, dtype=np.uint8)})
    return outputs[0], (outputs[1] if len(outputs) > 1 else None)


def torch_scores(detector: Any, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The same outputs from the wrapped PyTorch module."""
    with torch.no_grad():
        out = scoring_module(detector)(torch.from_numpy(np.asarray(images, np.uint8)))
    if isinstance(out, torch.Tensor):
        return out.numpy(), None
    return out[0].numpy(), out[1].numpy()


def check_parity(detector: Any, path: str | Path, images: np.ndarray) -> float:
    """The largest score difference between ONNX Runtime and the detector, relative to the
    largest score magnitude; :data:`PARITY_TOLERANCE` is what the tests hold it to."""
    ort_score, _ = onnx_scores(path, images)
    reference = detector.decision_function(_as_items(images))
    scale = max(float(np.abs(reference).max()), 1e-12)
    return float(np.abs(ort_score - reference).max() / scale)


def sample_images(detector: Any, n: int = 4, seed: int = 0) -> np.ndarray:
    """Random uint8 images of the exported input shape, for a parity check."""
    c, h, w = input_shape(detector)
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def _as_items(images: np.ndarray) -> list[np.ndarray]:
    """``(n, c, s, s)`` back to the detectors' ``(s, s[, c])`` images."""
    out = np.moveaxis(np.asarray(images), 1, -1)
    return [image[..., 0] if image.shape[-1] == 1 else image for image in out]
