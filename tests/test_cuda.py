"""The CUDA subset (``pytest -m cuda``, run by ``deepad bench gpu`` on a GPU machine): the shared
loop with bf16 and channels_last on CUDA, and CUDA scores equal to CPU ones."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from deepad.models.ae import Autoencoder
from deepad.models.config import NetworkConfig, Precision
from deepad.models.fcdd import FCDD, FCDDConfig
from deepad.train.loop import DeviceResident, fit_network, fits_on_device

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

# bf16 keeps 8 bits of mantissa: scores agree to about 1 % of their spread
BF16_TOLERANCE = 0.02
FP32_TOLERANCE = 1e-4


def _images(n=48, side=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def test_loop_on_cuda_with_bf16_and_channels_last():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=2))
    x = torch.randn(64, 3, 16, 16)
    cfg = NetworkConfig(epochs=5, batch_size=16, lr=1e-2, device="cuda", checkpoint_every=0)
    seen = {}

    def loss_fn(m, batch):
        (xb,) = batch
        seen["dtype"] = m(xb).dtype
        seen["channels_last"] = xb.is_contiguous(memory_format=torch.channels_last)
        return ((m(xb).float() - xb) ** 2).mean()

    history = fit_network(module, loss_fn, TensorDataset(x), cfg)
    assert seen["dtype"] == torch.bfloat16  # precision auto = bf16 autocast on CUDA
    assert module[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.backends.cudnn.benchmark
    assert history[-1].loss < history[0].loss


def test_small_tensor_sets_stay_on_the_gpu():
    data = TensorDataset(torch.zeros(100, 3, 8, 8, dtype=torch.uint8))
    device = torch.device("cuda")
    assert fits_on_device(data, device)
    batches = DeviceResident(data, device, 32)(1, torch.Generator().manual_seed(0))
    assert [len(b[0]) for b in batches] == [32, 32, 32, 4]
    assert batches[0][0].is_cuda


@pytest.mark.parametrize("precision", [Precision.FP32, Precision.AUTO])
def test_fcdd_scores_on_cuda_equal_cpu(precision):
    images = _images()
    config = FCDDConfig(epochs=2, batch_size=16, device="cpu", checkpoint_every=0)
    detector = FCDD(config=config).fit(images)
    on_cpu = detector.decision_function(images)
    detector.set_params(device="cuda", precision=precision)
    on_cuda = detector.decision_function(images)
    tolerance = FP32_TOLERANCE if precision == Precision.FP32 else BF16_TOLERANCE
    spread = np.ptp(on_cpu) + 1e-12
    assert np.max(np.abs(on_cuda - on_cpu)) <= tolerance * max(spread, np.abs(on_cpu).max())


def test_autoencoder_scores_on_cuda_equal_cpu():
    images = _images(side=28)
    config = dataclasses.replace(
        Autoencoder.Config(), epochs=2, image_size=28, device="cpu", checkpoint_every=0
    )
    detector = Autoencoder(config=config).fit(images)
    on_cpu = detector.decision_function(images)
    detector.set_params(device="cuda")
    np.testing.assert_allclose(detector.decision_function(images), on_cpu, rtol=1e-3)
