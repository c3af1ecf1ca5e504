"""PatchCore: a memory bank of pretrained patch features, scored by nearest-neighbour distance.

Roth et al., "Towards Total Recall in Industrial Anomaly Detection" (CVPR 2022). There is no
training loop: the backbone is frozen, fitting extracts the normal images' patch embeddings
and keeps a greedy k-centre coreset of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from deepad.data.overlap import shared_regions
from deepad.data.tiling import TilePlan
from deepad.data.types import Dataset
from deepad.device import select_device
from deepad.errors import ExportError
from deepad.features import (
    StageGeometry,
    content_hash,
    extract_features,
    pretrained_backbone,
)
from deepad.features.detectors import (
    common_side,
    images_per_chunk,
    plan_from_meta,
    plan_meta,
    stage_list,
    tiled,
    training_images,
)
from deepad.features.neighbours import image_duplicates, leave_out_groups
from deepad.models.base import Detector
from deepad.models.patchcore.anomaly_map import AnomalyMapGenerator
from deepad.models.patchcore.config import MAX_PATCH, SMOOTHED_MAP, PatchCoreConfig
from deepad.models.patchcore.coreset import KCenterGreedy
from deepad.models.patchcore.inference import PatchCoreInference
from deepad.models.patchcore.torch_model import (
    MemoryBankModel,
    PatchCoreResult,
    patch_embeddings,
    patch_grid,
)
from deepad.models.registry import register
from deepad.results import ImageMaps, Scores
from deepad.train.progress import ProgressCallback, RunContext

log = logging.getLogger(__name__)

# Images whose features and patch embeddings are held at once (about 180 MB at 224 px).
IMAGES_PER_CHUNK = 256


@register
class PatchCore(Detector):
    """Nearest-neighbour distance of each patch to a coreset of normal patches."""

    name = "patchcore"
    _last_inference: tuple[str, PatchCoreResult] | None = None
    tiles_: TilePlan | None = None  # how large images are cut into tiles (None: resized whole)

    def _fit(
        self,
        train: Dataset,
        *,
        labeled: Dataset | None,
        validation: Dataset | None,
        progress: ProgressCallback | None,
        context: RunContext,
    ) -> None:
        del labeled, validation, progress  # no training loop
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        train, self.image_size_ = training_images(
            train, cfg, stage_list(cfg.stages), title=self.title, maps=True
        )
        self.tiles_ = cfg.tile_plan(common_side(train))
        if self.tiles_ is not None:
            self.image_size_ = self.tiles_.tile  # each tile goes through at its own size
        chunks = list(self._embeddings(train, context))
        grid = chunks[0][1]
        h, w = chunks[0][0].shape[-2:]
        patches = torch.cat([e.permute(0, 2, 3, 1).reshape(-1, e.shape[1]) for e, _ in chunks])
        del chunks
        per_image = self.tiles_.grid.count if self.tiles_ is not None else 1
        # image of each tile (of each image without tiling) and of each patch
        tile_owner = torch.arange(len(train)).repeat_interleave(per_image)
        owner = tile_owner.repeat_interleave(h * w)
        sampler = KCenterGreedy(
            share=cfg.coreset_share,
            projection_dim=cfg.projection_dim,
            block_size=cfg.coreset_block,
            seed=cfg.seed,
        )
        context.stage("selecting the coreset", 0, 1)
        chosen = sampler.select(patches)
        context.stage("selecting the coreset", 1, 1)
        model = MemoryBankModel(
            patches.shape[1],
            size=len(chosen),
            reweight=cfg.reweight,
            num_neighbors=cfg.num_neighbors,
        )
        model.load_state_dict({"memory_bank": patches[chosen]})
        self.model_ = model.eval()
        self.grid_ = grid
        self._last_inference = None
        context.stage("scoring the training images", 0, 1)
        shared = shared_regions(train.items) if cfg.duplicate_ratio > 0 else None
        self._loo_scores = self._leave_one_image_out(
            patches, owner[chosen], tile_owner, h, w, shared
        )
        context.stage("scoring the training images", 1, 1)
        log.info(
            "PatchCore bank: %d of %d patches (%d dims) from %d images at %d px%s",
            len(chosen),
            len(patches),
            patches.shape[1],
            len(train),
            self.image_size_,
            f" ({self.tiles_.describe()})" if self.tiles_ is not None else "",
        )

    def _leave_one_image_out(
        self,
        patches: torch.Tensor,
        bank_owner: torch.Tensor,
        tile_owner: torch.Tensor,
        h: int,
        w: int,
        shared: list[np.ndarray] | None,
    ) -> Scores:
        """Each training image scored against the bank without its own patches.

        Scored against the whole bank, a training image finds its own patches there (at
        distance 0 for every patch the coreset kept), so its score is far below what an
        unseen normal image gets and a threshold at a quantile of such scores flags most
        normal test images. Without its own entries the bank is what it is for an unseen
        image of the same kind. With one training image there are no others to score
        against, and it is scored against the whole bank. Tiled, ``tile_owner`` names each
        tile's image, and a tile is scored without any tile of its own image.

        An image's near-duplicates (:func:`image_duplicates`: images close by mean patch
        embedding, copies and burst shots; ``shared``, the images sharing a region with it,
        overlapping crops or tiles of one picture) are left out with it, as they would stand
        in for its own patches; where that would leave no bank entry, only its own are left
        out."""
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        n = len(tile_owner)
        embeddings = patches.view(n, h, w, -1).permute(0, 3, 1, 2)
        columns: list[torch.Tensor] | None = None
        self._without_duplicates = 0
        if bool(tile_owner.numel()) and int(tile_owner.max()) > 0:  # several images
            # each image's bank columns to leave out: its own entries, or with its near-
            # duplicates' where it has some (and the bank keeps entries of other images)
            images = int(tile_owner.max()) + 1
            order = torch.argsort(bank_owner)
            counts = torch.bincount(bank_owner, minlength=images)
            columns = list(torch.split(order, counts.tolist()))
            tile_means = patches.view(n, h * w, -1).mean(dim=1)
            means = (
                torch.zeros(images, tile_means.shape[1]).index_add_(0, tile_owner, tile_means)
                / torch.bincount(tile_owner, minlength=images)[:, None]
            )
            for image, groups in leave_out_groups(
                bank_owner, image_duplicates(means, shared, cfg.duplicate_ratio)
            ):
                if bool(groups.any()):
                    columns[image] = torch.nonzero(groups == 0)[:, 0]
                    self._without_duplicates += 1
        parts = []
        with torch.inference_mode():
            for first in range(0, n, cfg.batch_size):
                rows = torch.arange(first, min(first + cfg.batch_size, n))
                exclude = (tile_owner[rows], columns) if columns is not None else None
                parts.append(self.model_(embeddings[rows], exclude))
            fields = [torch.cat(field) for field in zip(*parts, strict=True)]
            result = self._stitched(PatchCoreResult(*fields))
        self._loo_maps = result.anomaly_map  # the training items' maps, as they were scored
        return self._image_scores(result)

    def _stitched(self, result: PatchCoreResult) -> PatchCoreResult:
        """Tiles' results as their images': the image score (and largest patch) is the
        largest of its tiles', the patch grid is the tiles' grids put back in place
        (overlaps blended by ``tile_blend``). Untiled results pass as they are."""
        plan = self.tiles_
        if plan is None:
            return result
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        per = plan.grid.count
        cells = result.anomaly_map.shape[-1]
        if len(result.pred_score) == 0:
            side = plan.canvas * cells // plan.tile
            empty = torch.zeros(0)
            return PatchCoreResult(empty, torch.zeros(0, side, side), empty)
        grid = plan.grid.scaled(plan.tile // cells)
        return PatchCoreResult(
            result.pred_score.view(-1, per).amax(dim=1),
            grid.untile(result.anomaly_map, cfg.tile_blend),
            result.max_patch.view(-1, per).amax(dim=1),
        )

    @property
    def _map_side(self) -> int:
        """Side of the full maps: the tiling's canvas, else the model's input."""
        return self.tiles_.canvas if self.tiles_ is not None else self.image_size_

    def _training_scores(self, train: Dataset) -> Scores:
        scores = self._loo_scores
        del self._loo_scores  # only the fit that computed them uses them
        return scores

    def _embeddings(
        self, data: Dataset, context: RunContext | None = None
    ) -> Iterator[tuple[torch.Tensor, StageGeometry]]:
        """Patch embeddings ``(n, d, h, w)`` of ``data``, ``IMAGES_PER_CHUNK`` images at a
        time (memory stays bounded however many images are scored), with the geometry of
        their grid; progress goes to ``context.stage`` over the whole set."""
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        stages = stage_list(cfg.stages)
        geometry = pretrained_backbone().geometry(self.image_size_)
        plan = self.tiles_
        step = images_per_chunk(plan, IMAGES_PER_CHUNK)
        per = plan.grid.count if plan is not None else 1
        for first in range(0, len(data), step):
            part = data.subset(np.arange(first, min(first + step, len(data))))
            if plan is not None:
                part = tiled(part, plan)
            report = None
            if context is not None:

                def report(what: str, done: int, total: int, first: int = first) -> None:
                    context.stage(what, first * per + done, len(data) * per)

            features = extract_features(
                part,
                stages=stages,
                image_size=self.image_size_,
                device=cfg.device,
                batch_size=cfg.batch_size,
                report=report,
            )
            yield patch_embeddings(
                features,
                geometry,
                stages,
                cfg.pool,
                border=cfg.pool_border,
                each_stage=cfg.pool_each_stage,
                align=cfg.stage_align,
            )

    def infer(self, data: Dataset, context: RunContext | None = None) -> PatchCoreResult:
        """Image scores and patch-score grids of already checked items.

        The last result is kept by the items' content hash: scoring and then explaining the
        same items (what a run does) searches the bank once."""
        key = content_hash(data, self.image_size_, plan_meta(self.tiles_))
        if self._last_inference is not None and self._last_inference[0] == key:
            return self._last_inference[1]
        result = self._infer(data, context)
        self._last_inference = (key, result)
        return result

    def _infer(self, data: Dataset, context: RunContext | None) -> PatchCoreResult:
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        device = select_device(cfg.device)
        model = self.model_.to(device)
        parts = []
        with torch.inference_mode():
            for embeddings, _ in self._embeddings(data, context):
                tiles = []
                for first in range(0, len(embeddings), cfg.batch_size):
                    part = model(embeddings[first : first + cfg.batch_size].to(device))
                    tiles.append(PatchCoreResult(*(t.float().cpu() for t in part)))
                chunk = PatchCoreResult(*(torch.cat(t) for t in zip(*tiles, strict=True)))
                parts.append(self._stitched(chunk))  # whole images in every chunk
        if not parts:
            side = self.grid_.cells(self._map_side)
            empty = torch.zeros(0)
            return PatchCoreResult(empty, torch.zeros(0, side, side), empty)
        return PatchCoreResult(*(torch.cat(t) for t in zip(*parts, strict=True)))

    def _prepare(self, data: Dataset, context: RunContext) -> None:
        self.infer(data, context)  # kept for the scoring and explaining that follow

    def _score(self, data: Dataset) -> Scores:
        return self._image_scores(self.infer(data))

    def _image_scores(self, result: PatchCoreResult) -> Scores:
        """The image score: the largest patch distance (``image_score="max_patch"``) or the
        peak of the smoothed map (``"smoothed_map"``: one stray patch counts less than a
        cluster of them), times the re-weighting's factor when it is on."""
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        score = result.pred_score
        if cfg.image_score == SMOOTHED_MAP:
            factor = result.pred_score / result.max_patch.clamp_min(1e-12)
            peak = smoothed_peak(
                result.anomaly_map, self.grid_, self._map_side, cfg.sigma, cfg.upsample
            )
            score = peak * factor if cfg.reweight else peak
        return Scores(
            score=score.numpy().astype(np.float64),
            components={MAX_PATCH: result.max_patch.numpy().astype(np.float64)},
        )

    def _explain(self, data: Dataset) -> ImageMaps:
        return self._maps(self.infer(data).anomaly_map)

    def training_explanation(self, positions: np.ndarray) -> ImageMaps | None:
        """The training images' leave-one-out maps (each without its own patches), kept
        from the fit in this process."""
        low = getattr(self, "_loo_maps", None)
        return None if low is None else self._maps(low[torch.as_tensor(positions)])

    def _maps(self, low: torch.Tensor) -> ImageMaps:
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        generator = AnomalyMapGenerator(sigma=cfg.sigma, upsample=cfg.upsample)
        full = generator(low, self.grid_, self._map_side)
        return ImageMaps(maps=full.numpy().astype(np.float32), low_res=low.numpy())

    def inference_graph(self) -> PatchCoreInference:
        self._check_fitted()
        if self.tiles_ is not None:
            raise ExportError(
                f"this PatchCore model scores tiles of large images ({self.tiles_.describe()}); "
                "the exported model would score one tile, not an image: refit with tiling off "
                "to export it"
            )
        return PatchCoreInference(self).cpu().eval()

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        return tensors, {"image_size": self.image_size_, "tiles": plan_meta(self.tiles_)}

    def _restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        cfg: PatchCoreConfig = self.config  # type: ignore[assignment]
        bank = torch.as_tensor(np.asarray(tensors["model.memory_bank"]), dtype=torch.float32)
        model = MemoryBankModel(
            bank.shape[1],
            size=len(bank),
            reweight=cfg.reweight,
            num_neighbors=cfg.num_neighbors,
        )
        model.load_state_dict({"memory_bank": bank})
        self.model_ = model.eval()
        self.image_size_ = int(meta["image_size"])
        self.tiles_ = plan_from_meta(meta.get("tiles"))
        geometry = pretrained_backbone().geometry(self.image_size_)
        self.grid_ = patch_grid(geometry, stage_list(cfg.stages), cfg.pool)
        self._last_inference = None


def smoothed_peak(
    low: torch.Tensor, grid: StageGeometry, side: int, sigma: float, upsample: str = "geometry"
):
    """The largest value of each image's full map (placed on the image and smoothed as
    :meth:`PatchCore.explain` does), computed in blocks of images."""
    generator = AnomalyMapGenerator(sigma=sigma, upsample=upsample)
    peaks = [
        generator(low[first : first + 64], grid, side).amax(dim=(1, 2))
        for first in range(0, len(low), 64)
    ]
    return torch.cat(peaks) if peaks else low.new_zeros(0)
