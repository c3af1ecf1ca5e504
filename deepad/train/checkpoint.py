"""Nested state (tensors, arrays, numbers, strings) as one safetensors file plus JSON.

Nothing is ever unpickled: tensors and arrays go into ``<stem>.safetensors``, everything else
into ``<stem>.json``, where each tensor is replaced by a ``{"__tensor__": key}`` reference.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

_TENSOR = "__tensor__"
_ARRAY = "__ndarray__"
_TUPLE = "__tuple__"


def _flatten(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: path}
    if isinstance(obj, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {_ARRAY: path}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _flatten(v, f"{path}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return {_TUPLE: [_flatten(v, f"{path}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{path}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {path!r} in a checkpoint")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        if _ARRAY in obj:
            return tensors[obj[_ARRAY]].numpy()
        if _TUPLE in obj:
            return tuple(_unflatten(v, tensors) for v in obj[_TUPLE])
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(stem: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` to ``<stem>.safetensors`` and ``<stem>.json`` atomically."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    tree = _flatten(state, "s", tensors)
    tmp_tensors = stem.with_name(stem.name + ".safetensors.tmp")
    tmp_json = stem.with_name(stem.name + ".json.tmp")
    save_file(tensors, str(tmp_tensors))
    tmp_json.write_text(json.dumps(tree, indent=1))
    os.replace(tmp_tensors, stem.with_name(stem.name + ".safetensors"))
    os.replace(tmp_json, stem.with_name(stem.name + ".json"))


def load_state(stem: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read what :func:`save_state` wrote; tensors are placed on ``device``."""
    stem = Path(stem)
    tree = json.loads(stem.with_name(stem.name + ".json").read_text())
    tensors = load_file(str(stem.with_name(stem.name + ".safetensors")), device=str(device))
    return _unflatten(tree, tensors)


def state_exists(stem: str | os.PathLike[str]) -> bool:
    stem = Path(stem)
    return (
        stem.with_name(stem.name + ".json").exists()
        and stem.with_name(stem.name + ".safetensors").exists()
    )
