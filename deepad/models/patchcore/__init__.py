"""PatchCore: nearest-neighbour scoring of pretrained patch features against a coreset."""

from deepad.models.lazy import lazy_exports
from deepad.models.patchcore.config import PatchCoreConfig

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AnomalyMapGenerator": "anomaly_map",
        "KCenterGreedy": "coreset",
        "greedy_k_centre": "coreset",
        "PatchCore": "detector",
        "MemoryBankModel": "torch_model",
        "PatchCoreResult": "torch_model",
        "patch_embeddings": "torch_model",
        "patch_grid": "torch_model",
    },
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
