"""What every method's inference graph is: one ``nn.Module`` from raw pixels to the score.

A method that can be exported gives its fitted detector an ``inference_graph()`` (in its own
folder's ``inference.py``), as anomalib's ``torch_model.py`` does: ``forward`` takes ``uint8``
images ``(n, c, s, s)`` — what :func:`deepad.data.transforms.stack_images` makes at the
detector's size — and returns ``score`` ``(n,)`` (the same number as
``decision_function``, higher = more anomalous) and, where the method explains with one,
``anomaly_map`` ``(n, s, s)``. The generic exporter (:mod:`deepad.export`) needs nothing else.
"""

from __future__ import annotations

from torch import nn

SCORE_AND_MAP = ("score", "anomaly_map")
SCORE_ONLY = ("score",)


class InferenceGraph(nn.Module):
    """Base of the methods' inference modules.

    ``input_shape`` is ``(channels, side, side)`` without the batch dimension; ``outputs``
    names what ``forward`` returns, in order: a tensor for one output, a tuple for two."""

    outputs: tuple[str, ...] = SCORE_AND_MAP

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
