"""Where PatchCore's map peaks relative to a small defect, per stage alignment.

Usage: ``python scripts/patchcore_localisation.py``. Eight 96-px noise textures train the
detector; test images get a 7-px bright square at 20 places (6 fixed, 14 drawn). Prints, per
``stage_align``, the mean signed and absolute (row, column) offset of the explained map's
largest value from the square's centre, and their range; then, for the s8 and s16 stages, the
stated centre of the middle cell's receptive field beside the centroid of the input gradient
of that cell's squared features (four random inputs).
"""

from __future__ import annotations

import numpy as np
import torch

from deepad.data.types import DataKind, Dataset
from deepad.models.patchcore import PatchCore

SIDE = 96


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)

    def noise() -> np.ndarray:
        return (128 + rng.normal(0, 12, (SIDE, SIDE))).clip(0, 255).astype(np.uint8)

    train = Dataset(DataKind.IMAGE, [noise() for _ in range(8)], [str(i) for i in range(8)])
    drawn = np.random.default_rng(5)
    centres = [(39, 55), (47, 31), (55, 63), (31, 39), (40, 56), (43, 43)]
    centres += [tuple(int(v) for v in drawn.integers(20, 76, 2)) for _ in range(14)]
    items = []
    for row, col in centres:
        image = noise()
        image[row - 3 : row + 4, col - 3 : col + 4] = 250
        items.append(image)
    test = Dataset(DataKind.IMAGE, items, [str(i) for i in range(len(items))])
    for align in ("geometry", "bilinear"):
        detector = PatchCore(image_size=SIDE, device="cpu", coreset_share=0.25, stage_align=align)
        maps = detector.fit(train).explain(test).maps
        offsets = np.array(
            [
                np.subtract(np.unravel_index(np.argmax(m), m.shape), centre)
                for m, centre in zip(maps, centres, strict=True)
            ]
        )
        print(
            f"{align:9s} mean {offsets.mean(0)} mean |.| {np.abs(offsets).mean(0)} "
            f"min {offsets.min(0)} max {offsets.max(0)}"
        )

    from deepad.features import pretrained_backbone

    network = pretrained_backbone()
    for stage in ("s8", "s16"):
        geometry, centroids = network.geometry(SIDE)[stage], []
        for seed in range(4):
            x = torch.randn(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(seed))
            x.requires_grad_(True)
            out = network(x, (stage,))[stage]
            cell = out.shape[-1] // 2
            out[0, :, cell, cell].pow(2).sum().backward()
            weight = x.grad.abs().sum(dim=(0, 1, 2)).numpy()
            centroids.append(float((weight * np.arange(SIDE)).sum() / weight.sum()))
        stated = geometry.offset + cell * geometry.stride
        print(f"{stage}: stated centre {stated}, gradient centroid {np.mean(centroids):.2f}")


if __name__ == "__main__":
    main()
