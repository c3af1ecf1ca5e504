"""PatchCore: nearest-neighbour scoring of pretrained patch features against a coreset."""

from deepad.models.patchcore.anomaly_map import AnomalyMapGenerator
from deepad.models.patchcore.coreset import KCenterGreedy, greedy_k_centre
from deepad.models.patchcore.detector import PatchCore, PatchCoreConfig
from deepad.models.patchcore.torch_model import (
    MemoryBankModel,
    PatchCoreResult,
    patch_embeddings,
    patch_grid,
)

__all__ = [
    "AnomalyMapGenerator",
    "KCenterGreedy",
    "MemoryBankModel",
    "PatchCore",
    "PatchCoreConfig",
    "PatchCoreResult",
    "greedy_k_centre",
    "patch_embeddings",
    "patch_grid",
]
