"""MNIST-C-style corruptions of gray images (after Mu & Gilmer, 2019), seeded, numpy/OpenCV.

Each corruption maps a ``(h, w)`` uint8 image to a corrupted one; the ground-truth anomaly map
of a corrupted image is ``|corrupted − original|`` (thesis §4.4.2). :func:`corrupt` applies one
corruption to a set of images and returns the corrupted images with those maps.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def stripe(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverts the pixels of a vertical stripe at the left and the right border."""
    out = image.copy()
    width = max(1, image.shape[1] // 7 + int(rng.integers(-1, 2)))
    out[:, :width] = 255 - out[:, :width]
    out[:, -width:] = 255 - out[:, -width:]
    return out


def dotted_line(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A straight line of separate white dots across the image."""
    out = image.copy()
    h, w = image.shape
    y0, y1 = rng.integers(0, h, 2)
    for x in range(0, w, 3):
        y = int(round(y0 + (x / max(w - 1, 1)) * (y1 - y0)))
        out[y, x] = 255
    return out


def zigzag(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A white zigzag polyline across the image."""
    out = image.copy()
    h, w = image.shape
    xs = np.linspace(0, w - 1, 6).astype(np.int32)
    ys = np.where(np.arange(6) % 2 == 0, rng.integers(0, h // 3), rng.integers(2 * h // 3, h))
    points = np.stack([xs, ys], axis=1).reshape(-1, 1, 2).astype(np.int32)
    cv2.polylines(out, [points], isClosed=False, color=255, thickness=1)
    return out


def impulse_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise on about 10 % of the pixels."""
    out = image.copy()
    hit = rng.random(image.shape) < 0.1
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)
    return out


def canny_edges(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Only the Canny edges of the image (the interior of the digit turns black)."""
    del rng
    return cv2.Canny(image, 50, 150)


def motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur along a random direction (a line kernel of length 7)."""
    kernel = np.zeros((7, 7), np.float32)
    kernel[3, :] = 1.0
    angle = float(rng.uniform(0, 180))
    rotation = cv2.getRotationMatrix2D((3, 3), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (7, 7))
    kernel /= max(kernel.sum(), 1e-6)
    return cv2.filter2D(image, -1, kernel)


def _affine(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = image.shape
    return cv2.warpAffine(image, matrix.astype(np.float32), (w, h), borderValue=0)


def shear(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Horizontal shear by a factor in ±[0.3, 0.5] about the centre."""
    s = float(rng.uniform(0.3, 0.5)) * (1 if rng.random() < 0.5 else -1)
    h = image.shape[0]
    return _affine(image, np.array([[1.0, s, -s * h / 2], [0.0, 1.0, 0.0]]))


def translate(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift by 3 to 5 pixels in each direction."""
    dx, dy = rng.integers(3, 6, 2) * np.where(rng.random(2) < 0.5, 1, -1)
    return _affine(image, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]))


def fog(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Adds smooth random haze (upsampled low-resolution noise)."""
    h, w = image.shape
    haze = cv2.resize(rng.random((4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    out = image.astype(np.float32) + 120.0 * np.clip(haze, 0, 1)
    return np.clip(out, 0, 255).astype(np.uint8)


def spatter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A few gray blots of random size."""
    out = image.copy()
    h, w = image.shape
    for _ in range(int(rng.integers(3, 7))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(out, centre, int(rng.integers(1, 3)), int(rng.integers(120, 200)), -1)
    return out


CORRUPTIONS: dict[str, Corruption] = {
    "stripe": stripe,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "impulse_noise": impulse_noise,
    "canny_edges": canny_edges,
    "motion_blur": motion_blur,
    "shear": shear,
    "translate": translate,
    "fog": fog,
    "spatter": spatter,
}


def corrupt(images: np.ndarray, name: str, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(corrupted, truth)`` for ``(n, h, w)`` uint8 images: ``truth = |corrupted − original|``
    as uint8, the ground-truth anomaly map of each image."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}")
    rng = np.random.default_rng(seed)
    images = np.asarray(images, np.uint8)
    corrupted = (
        np.stack([CORRUPTIONS[name](image, rng) for image in images]) if len(images) else images
    )
    truth = np.abs(corrupted.astype(np.int16) - images.astype(np.int16)).astype(np.uint8)
    return corrupted, truth
