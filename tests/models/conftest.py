"""Tiny datasets per data kind, where the anomalies are obvious: every detector should rank
them above the normal items.

``tiny_split(kind)`` returns ``(train, test)``: a training set of normal items and a test set
with labels (0 normal, 1 anomalous). Built deterministically and cached per kind.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from deepad.data.types import DataKind, Dataset

N_TRAIN = 48
N_TEST_EACH = 12


def _blob(rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """A bright Gaussian blob near the centre on a dark background."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    cy, cx = size / 2 + rng.normal(0, 1.0, 2)
    sigma = rng.uniform(2.5, 3.5)
    image = 230.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def _noise(rng: np.random.Generator, size: int = 16) -> np.ndarray:
    return rng.integers(0, 256, (size, size), dtype=np.uint8)


def _images(rng: np.random.Generator) -> tuple[list, list]:
    train = [_blob(rng) for _ in range(N_TRAIN)]
    test = [_blob(rng) for _ in range(N_TEST_EACH)] + [_noise(rng) for _ in range(N_TEST_EACH)]
    return train, test


def _tables(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    train = rng.normal(0, 1, (N_TRAIN, 4)).astype(np.float32)
    normal = rng.normal(0, 1, (N_TEST_EACH, 4))
    far = rng.normal(0, 1, (N_TEST_EACH, 4)) + rng.choice([-6.0, 6.0], (N_TEST_EACH, 4))
    return train, np.vstack([normal, far]).astype(np.float32)


_SUBJECTS = ("the cat", "my dog", "a small kitten", "the puppy", "our old cat", "the young dog")
_ACTIONS = (
    "sleeps on the warm sofa",
    "chases a ball in the garden",
    "eats its food in the kitchen",
    "plays with a toy mouse",
    "naps in the afternoon sun",
    "purrs on the soft blanket",
    "barks at the neighbour's cat",
    "drinks water from a bowl",
)
_ANOMALIES = (
    "shares of the oil company fell sharply after quarterly earnings",
    "the central bank raised interest rates by half a point",
    "crude futures rose on supply concerns in the trading session",
    "the stock exchange index closed lower amid inflation fears",
    "investors sold government bonds as yields climbed",
    "the merger was approved by shareholders on tuesday",
    "quarterly profit beat analyst forecasts for the bank",
    "the currency weakened against the dollar in early trade",
    "wheat export prices dropped on a record harvest",
    "the firm issued new corporate debt worth two billion",
    "gold prices hit a six month high on the commodity market",
    "the company cut its dividend and annual revenue outlook",
)


def _texts(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    def sentence() -> str:
        return f"{rng.choice(_SUBJECTS)} {rng.choice(_ACTIONS)}"

    train = [sentence() for _ in range(N_TRAIN)]
    test = [sentence() for _ in range(N_TEST_EACH)] + list(_ANOMALIES[:N_TEST_EACH])
    return train, test


def _sine(rng: np.random.Generator, length: int = 32) -> np.ndarray:
    t = np.arange(length, dtype=np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * t / 16 + phase) + rng.normal(0, 0.05, length)
    return wave.astype(np.float32)[:, None]


def _sequences(rng: np.random.Generator) -> tuple[list, list]:
    train = [_sine(rng) for _ in range(N_TRAIN)]
    anomalies = [rng.normal(0, 1.5, (32, 1)).astype(np.float32) for _ in range(N_TEST_EACH)]
    return train, [_sine(rng) for _ in range(N_TEST_EACH)] + anomalies


_BUILDERS = {
    DataKind.IMAGE: _images,
    DataKind.TABLE: _tables,
    DataKind.TEXT: _texts,
    DataKind.SEQUENCE: _sequences,
}


def _wrap(kind: DataKind, items, labels: np.ndarray | None, prefix: str) -> Dataset:
    names = [f"{prefix}_{i}" for i in range(len(items))]
    columns = [f"x{j}" for j in range(items.shape[1])] if kind == DataKind.TABLE else None
    return Dataset(kind, items, names, labels=labels, columns=columns, name=f"tiny {kind}")


@cache
def tiny_split(kind: DataKind | str) -> tuple[Dataset, Dataset]:
    """(train of normal items, labeled test set: N_TEST_EACH normal then as many anomalies)."""
    kind = DataKind(kind)
    train, test = _BUILDERS[kind](np.random.default_rng(7))
    labels = np.r_[np.zeros(N_TEST_EACH), np.ones(N_TEST_EACH)].astype(np.int8)
    return _wrap(kind, train, None, "train"), _wrap(kind, test, labels, "test")


@pytest.fixture(params=list(DataKind), ids=lambda k: k.value)
def tiny_kind_split(request) -> tuple[Dataset, Dataset]:
    return tiny_split(request.param)
