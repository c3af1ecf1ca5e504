"""Fitted image detectors as ONNX models: the detector's inference graph, exported as it is.

Each method that can be exported gives its detector an ``inference_graph()`` in its own folder
(:mod:`deepad.models.inference`): a module from ``uint8`` images ``(n, c, s, s)`` — what
:func:`deepad.data.transforms.stack_images` makes at the detector's size — to

- ``score`` ``(n,)``: the same number as ``detector.decision_function`` (higher = more anomalous);
- ``anomaly_map`` ``(n, s, s)``: the full-resolution heatmap, where the method explains with one.

This module only traces that graph, whatever the method; it knows none of them by name.

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

from deepad.errors import ExportError
from deepad.models.inference import InferenceGraph

log = logging.getLogger(__name__)

OPSET = 17
# fp32 networks run with other kernels in ONNX Runtime: scores agree to this relative error
PARITY_TOLERANCE = 1e-4


def _has_graph(cls: type) -> bool:
    from deepad.models.base import Detector

    return cls.inference_graph is not Detector.inference_graph


def exportable_methods() -> list[str]:
    """The registered methods whose detectors give an inference graph (imports them)."""
    from deepad.models.registry import catalog, get_method

    return sorted(entry.name for entry in catalog() if _has_graph(get_method(entry.name)))


def scoring_module(detector: Any) -> InferenceGraph:
    """The detector's inference graph (its network and score head) as one CPU ``nn.Module``
    in eval mode."""
    detector._check_fitted()
    graph = detector.inference_graph()
    if graph is None:
        if _has_graph(type(detector)):
            raise ExportError(
                f"{detector.name} on this kind of data has no image network to export"
            )
        known = ", ".join(exportable_methods())
        raise ExportError(f"{detector.name} cannot be exported to ONNX; exportable: {known}")
    return graph.cpu().eval().to(memory_format=torch.contiguous_format)


def input_shape(detector: Any) -> tuple[int, ...]:
    """``(channels, side, side)`` the exported model takes."""
    return scoring_module(detector).input_shape


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
    shape = module.input_shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros((2, *shape), dtype=torch.uint8)
    outputs = list(module.outputs)
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
    None for a graph without one (a score-only graph)."""
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
