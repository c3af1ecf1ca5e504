"""DSEBM (Zhai et al., 2016): energies, denoising score matching and the detector."""

from deepad.models.dsebm.detector import DSEBM, DSEBMConfig, SequenceSteps
from deepad.models.dsebm.energy import ConvolutionalEnergy, FullyConnectedEnergy, RecurrentEnergy
from deepad.models.dsebm.loss import (
    denoising_score_matching_loss,
    energy_and_gradient,
    reconstruct,
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
