"""Pretrained features shared by the detectors that build on them: a frozen backbone with
named stages and their geometry, a frozen trunk for a trainable head, cached feature extraction (in memory and on disk), and nearest-neighbour distances."""

from deepad.features.backbone import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    STAGE_CHANNELS,
    STAGES,
    BackboneTrunk,
    EfficientNetLite0,
    StageGeometry,
    pretrained_backbone,
    pretrained_trunk,
)
from deepad.features.extract import (
    FEATURE_CACHE,
    FeatureCache,
    content_hash,
    extract_features,
    input_side,
    using_disk_cache,
)
from deepad.features.neighbours import nearest_distances, squared_distances

__all__ = [
    "FEATURE_CACHE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "STAGES",
    "STAGE_CHANNELS",
    "BackboneTrunk",
    "EfficientNetLite0",
    "FeatureCache",
    "StageGeometry",
    "content_hash",
    "extract_features",
    "input_side",
    "using_disk_cache",
    "nearest_distances",
    "pretrained_backbone",
    "pretrained_trunk",
    "squared_distances",
]
