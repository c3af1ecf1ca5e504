"""Isolation-forest trees as flat arrays, so a fitted forest saves without pickle.

Scoring follows Liu et al. (2008) as scikit-learn implements it: the path length to a leaf
plus c(n) for the n training points left in that leaf, averaged over trees and normalised
by c(max_samples); the anomaly score is 2 ** (-mean path / c(max_samples)).
"""

from __future__ import annotations

import numpy as np

EULER_GAMMA = 0.5772156649015329


def average_path_length(n: np.ndarray | float) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful binary-search-tree search over n points."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    two = n == 2
    big = n > 2
    out[two] = 1.0
    nb = n[big]
    out[big] = 2.0 * (np.log(nb - 1.0) + EULER_GAMMA) - 2.0 * (nb - 1.0) / nb
    return out


def forest_arrays(forest) -> dict[str, np.ndarray]:
    """Flatten a fitted ``sklearn.ensemble.IsolationForest`` into node arrays.

    Child indices are global (into the concatenated arrays); leaves have child -1; features
    are indices into the full input; ``leaf_value`` is depth + c(n_node_samples) - 1.
    """
    left, right, feature, threshold, value, roots = [], [], [], [], [], []
    offset = 0
    for est, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
        tree = est.tree_
        n = tree.node_count
        depth = np.zeros(n, dtype=np.float64)
        depth[0] = 1.0
        for node in range(n):  # sklearn numbers children after their parent
            for child in (tree.children_left[node], tree.children_right[node]):
                if child >= 0:
                    depth[child] = depth[node] + 1.0
        is_leaf = tree.children_left < 0
        roots.append(offset)
        left.append(np.where(is_leaf, -1, tree.children_left + offset))
        right.append(np.where(is_leaf, -1, tree.children_right + offset))
        feature.append(np.where(is_leaf, 0, np.asarray(features)[np.maximum(tree.feature, 0)]))
        threshold.append(tree.threshold)
        value.append(depth + average_path_length(tree.n_node_samples) - 1.0)
        offset += n
    return {
        "left": np.concatenate(left).astype(np.int64),
        "right": np.concatenate(right).astype(np.int64),
        "feature": np.concatenate(feature).astype(np.int64),
        "threshold": np.concatenate(threshold).astype(np.float64),
        "leaf_value": np.concatenate(value).astype(np.float64),
        "roots": np.asarray(roots, dtype=np.int64),
        "max_samples": np.asarray([forest.max_samples_], dtype=np.int64),
    }


def check_forest(arrays: dict[str, np.ndarray], features: int) -> None:
    """A forest's arrays as :func:`forest_arrays` makes them: equal lengths, child indices in
    range and each larger than its parent's (so every path ends at a leaf: no cycle), leaves
    on both sides together, split features in range. ``ValueError`` otherwise."""
    keys = ("left", "right", "feature", "threshold", "leaf_value")
    for key in (*keys, "roots", "max_samples"):
        if key not in arrays or np.asarray(arrays[key]).ndim != 1:
            raise ValueError(f"the forest's {key!r} is missing or not a vector")
    n = len(arrays["left"])
    if n == 0 or any(len(arrays[k]) != n for k in keys):
        raise ValueError("the forest's node arrays are empty or differ in length")
    for key in ("left", "right", "feature", "roots", "max_samples"):
        if arrays[key].dtype.kind not in "iu":
            raise ValueError(f"the forest's {key!r} does not hold integers")
    left, right, feature = arrays["left"], arrays["right"], arrays["feature"]
    nodes = np.arange(n)
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        raise ValueError("a tree node has one child")
    inner = ~leaf
    if np.any(left[inner] <= nodes[inner]) or np.any(right[inner] <= nodes[inner]):
        raise ValueError("a tree node points back at itself or an earlier node (a cycle)")
    if np.any(left[inner] >= n) or np.any(right[inner] >= n):
        raise ValueError("a tree node points past the last node")
    if np.any(feature[inner] < 0) or np.any(feature[inner] >= features):
        raise ValueError(f"a tree splits on a feature outside 0..{features - 1}")
    roots = arrays["roots"]
    if len(roots) == 0 or np.any(roots < 0) or np.any(roots >= n):
        raise ValueError("a tree's root is outside the node arrays")
    if len(arrays["max_samples"]) != 1 or arrays["max_samples"][0] < 1:
        raise ValueError("max_samples must be one positive count")


def forest_scores(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The anomaly score 2 ** (-E[h(x)] / c(max_samples)) in (0, 1]; higher = more anomalous."""
    x = np.asarray(x, dtype=np.float32)  # trees compare float32 inputs, as scikit-learn does
    left, right = arrays["left"], arrays["right"]
    feature, threshold = arrays["feature"], arrays["threshold"]
    rows = np.arange(len(x))
    depths = np.zeros(len(x), dtype=np.float64)
    for root in arrays["roots"]:
        node = np.full(len(x), root, dtype=np.int64)
        active = left[node] >= 0
        while active.any():
            idx = rows[active]
            cur = node[idx]
            go_left = x[idx, feature[cur]] <= threshold[cur]
            node[idx] = np.where(go_left, left[cur], right[cur])
            active[idx] = left[node[idx]] >= 0
        depths += arrays["leaf_value"][node]
    norm = len(arrays["roots"]) * float(average_path_length(arrays["max_samples"][0]))
    if norm == 0:
        return np.ones(len(x))
    return 2.0 ** (-depths / norm)
