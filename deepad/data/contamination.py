"""Contaminated training sets: mix a chosen share of labeled anomalies into normal data.

Used by the benchmarks of methods meant for unlabeled, contaminated data, and by anyone who
wants to see how much a method's scores suffer when its training set is not clean.
"""

from __future__ import annotations

import numpy as np

from deepad.data.types import ANOMALOUS, NORMAL, Dataset


def contaminate(train: Dataset, anomalies: Dataset, share: float, seed: int = 0) -> Dataset:
    """``train`` plus a seeded random draw of ``anomalies`` that makes up ``share`` of the result.

    With ``n`` training items, ``round(share * n / (1 - share))`` anomalies are drawn without
    replacement (an error if ``anomalies`` has fewer). The result is shuffled and labeled
    (``NORMAL`` for the training items, ``ANOMALOUS`` for the drawn ones), so a detector can
    record how many anomalies it kept; detectors fitted on it never read the labels.
    """
    if train.kind != anomalies.kind:
        raise ValueError(
            f"cannot mix {anomalies.kind.value} anomalies into {train.kind.value} data"
        )
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share must be in [0, 1), got {share}")
    if train.columns and anomalies.columns and list(train.columns) != list(anomalies.columns):
        raise ValueError("the anomalies have other columns than the training set")
    wanted = round(share * len(train) / (1.0 - share))
    if wanted > len(anomalies):
        raise ValueError(
            f"a share of {share:.3g} needs {wanted} anomalies, only {len(anomalies)} are given"
        )
    rng = np.random.default_rng(seed)
    drawn = np.sort(rng.choice(len(anomalies), size=wanted, replace=False))
    order = rng.permutation(len(train) + wanted)
    if isinstance(train.items, np.ndarray):
        pool = np.concatenate([np.asarray(train.items), np.asarray(anomalies.items)[drawn]])
        items = pool[order]
    else:
        pool_list = list(train.items) + [anomalies.items[i] for i in drawn]
        items = [pool_list[i] for i in order]
    labels = np.r_[np.full(len(train), NORMAL), np.full(wanted, ANOMALOUS)][order]
    names = [*train.names, *(anomalies.names[i] for i in drawn)]
    classes = None
    if train.classes is not None and anomalies.classes is not None:
        merged = [*train.classes, *(anomalies.classes[i] for i in drawn)]
        classes = [merged[i] for i in order]
    return Dataset(
        kind=train.kind,
        items=items,
        names=[names[i] for i in order],
        labels=labels,
        classes=classes,
        columns=train.columns,
        name=f"{train.name or 'training set'} with {share:.0%} anomalies",
    )
