"""DSEBM (Zhai et al., 2016): energies, denoising score matching and the detector."""

from deepad.models.dsebm.config import DSEBMConfig
from deepad.models.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DSEBM": "detector",
        "SequenceSteps": "detector",
        "ConvolutionalEnergy": "energy",
        "FullyConnectedEnergy": "energy",
        "RecurrentEnergy": "energy",
        "denoising_score_matching_loss": "loss",
        "energy_and_gradient": "loss",
        "reconstruct": "loss",
    },
)

__all__ = [
    "DSEBM",
    "ConvolutionalEnergy",
    "DSEBMConfig",
    "FullyConnectedEnergy",
    "RecurrentEnergy",
    "SequenceSteps",
    "denoising_score_matching_loss",
    "energy_and_gradient",
    "reconstruct",
]
