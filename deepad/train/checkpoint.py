"""Nested state (tensors, arrays, numbers, strings) as one safetensors file plus JSON.

Nothing is ever unpickled: tensors and arrays go into ``<stem>.safetensors``, everything else
into ``<stem>.json``, where each tensor is replaced by a ``{"__tensor__": key}`` reference
that also records its dtype and shape.

Loading checks the files before anything is built from them: a damaged, truncated or foreign
file (a pickle, a ``torch.save`` archive, a folder), JSON that is not an object or is nested
too deeply, a reference to a missing tensor, a tensor whose dtype or shape differs from the
recorded one, and a floating-point tensor holding NaN or infinity are each a
:class:`ModelFileError` naming the file and what is wrong, in one line.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from deepad.errors import ModelFileError
from deepad.models.checksum import check_regular, read_model_json

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 256 * 2**20

_TENSOR = "__tensor__"
_ARRAY = "__ndarray__"
_TUPLE = "__tuple__"
# A token written into both files of one save, so a .json and a .safetensors from two
# different saves (a process killed between the two renames) are told apart.
_PAIR = "__pair__"


def _flatten(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: path, **_described(tensors[path])}
    if isinstance(obj, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {_ARRAY: path, **_described(tensors[path])}
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


def _described(tensor: torch.Tensor) -> dict[str, Any]:
    return {"dtype": str(tensor.dtype).removeprefix("torch."), "shape": list(tensor.shape)}


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return _checked_tensor(obj, obj[_TENSOR], tensors)
        if _ARRAY in obj:
            return _checked_tensor(obj, obj[_ARRAY], tensors).numpy()
        if _TUPLE in obj:
            return tuple(_unflatten(v, tensors) for v in obj[_TUPLE])
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def _checked_tensor(
    ref: dict[str, Any], key: Any, tensors: dict[str, torch.Tensor]
) -> torch.Tensor:
    """The tensor a JSON reference names, checked against what the reference records."""
    if not isinstance(key, str) or key not in tensors:
        raise ValueError(f"the tensor {key!r} it refers to is missing")
    tensor = tensors[key]
    dtype, shape = ref.get("dtype"), ref.get("shape")
    if dtype is not None and _described(tensor)["dtype"] != dtype:
        raise ValueError(f"tensor {key!r} is {_described(tensor)['dtype']}, recorded as {dtype}")
    if shape is not None and list(tensor.shape) != shape:
        raise ValueError(f"tensor {key!r} has shape {list(tensor.shape)}, recorded as {shape}")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"tensor {key!r} holds NaN or infinite values")
    return tensor


def read_json(path: Path) -> Any:
    """A JSON file; anything that stops it being read is a :class:`ModelFileError`. Only a
    regular file is opened (a FIFO in its place would block), of at most
    :data:`MAX_JSON_BYTES`."""
    return read_model_json(path, MAX_JSON_BYTES)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def save_state(stem: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` to ``<stem>.safetensors`` and ``<stem>.json`` atomically."""
    stem = Path(stem)
    stem.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    tree = _flatten(state, "s", tensors)
    token = secrets.token_hex(8)
    tree[_PAIR] = token
    tmp_tensors = stem.with_name(stem.name + ".safetensors.tmp")
    tmp_json = stem.with_name(stem.name + ".json.tmp")
    save_file(tensors, str(tmp_tensors), metadata={"pair": token})
    tmp_json.write_text(json.dumps(tree, indent=1))
    for tmp in (tmp_tensors, tmp_json):  # model files are their owner's only
        os.chmod(tmp, 0o600)
    os.replace(tmp_tensors, stem.with_name(stem.name + ".safetensors"))
    os.replace(tmp_json, stem.with_name(stem.name + ".json"))


def load_state(stem: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read what :func:`save_state` wrote; tensors are placed on ``device``."""
    stem = Path(stem)
    json_path = stem.with_name(stem.name + ".json")
    return load_pair(json_path, stem.with_name(stem.name + ".safetensors"), device)


def pair_token(path: Path) -> str | None:
    """The token pairing a ``.json`` or ``.safetensors`` file with its other half; None when
    the file cannot be read or was written without one."""
    try:
        if path.suffix == ".json":
            tree = read_json(path)
            token = tree.get(_PAIR) if isinstance(tree, dict) else None
        else:
            check_regular(path)
            with safe_open(str(path), framework="pt") as opened:
                token = (opened.metadata() or {}).get("pair")
    except Exception:  # unreadable: it pairs with nothing
        return None
    return token if isinstance(token, str) else None


def load_pair(
    json_path: Path, tensor_path: Path, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The state written by one :func:`save_state` as ``json_path`` and ``tensor_path``."""
    tree = read_json(json_path)
    if not isinstance(tree, dict):
        raise ModelFileError(f"{json_path}: holds a JSON {type(tree).__name__}, not an object")
    check_regular(tensor_path)  # missing, a folder or a FIFO: refused before safetensors opens it
    try:
        tensors = load_file(str(tensor_path), device="cpu")
        with safe_open(str(tensor_path), framework="pt") as opened:
            pair = (opened.metadata() or {}).get("pair")
    except Exception as exc:  # safetensors raises its own SafetensorError, or OSError
        raise ModelFileError(
            f"{tensor_path}: not a readable safetensors file ({_first_line(exc)})"
        ) from None
    expected = tree.pop(_PAIR, None)
    if expected is not None and pair != expected:
        raise ModelFileError(f"{tensor_path}: does not belong to {json_path.name} (another save)")
    try:
        state = _unflatten(tree, tensors)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ModelFileError(f"{tensor_path}: {_first_line(exc)}") from None
    if str(device) != "cpu":
        state = _to_device(state, torch.device(device))
    return state


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def state_exists(stem: str | os.PathLike[str]) -> bool:
    stem = Path(stem)
    return (
        stem.with_name(stem.name + ".json").exists()
        and stem.with_name(stem.name + ".safetensors").exists()
    )


# --------------------------------------------------------------------------- training checkpoints
# A training checkpoint in the folder it is kept in (a run's folder): ``last`` is the newest,
# ``prev`` the one before it, ``resume`` one being written. Only the functions below spell these
# names; the training loop and the run workflow go through them.


def checkpoint_stem(directory: Path) -> Path:
    """The newest checkpoint's stem (its files: :func:`checkpoint_files`)."""
    return Path(directory) / "last"


def previous_stem(directory: Path) -> Path:
    """The checkpoint before the newest, kept until a new one is written whole."""
    return Path(directory) / "prev"


def checkpoint_files(stem: Path) -> list[Path]:
    return [stem.with_name(stem.name + suffix) for suffix in (".json", ".safetensors")]


def _resume_stem(directory: Path) -> Path:
    return Path(directory) / "resume"


def checkpoint_paths(directory: Path) -> list[Path]:
    """Every file a checkpoint in ``directory`` may have (present or not)."""
    stems = (checkpoint_stem(directory), previous_stem(directory), _resume_stem(directory))
    return [path for stem in stems for path in checkpoint_files(stem)]


def has_checkpoint(directory: Path) -> bool:
    """Whether ``directory`` holds any checkpoint file (usable or not)."""
    return any(path.exists() for path in checkpoint_paths(directory))


def remove_checkpoint(directory: Path) -> None:
    for path in checkpoint_paths(directory):
        path.unlink(missing_ok=True)


def load_checkpoint(
    directory: Path, device: str | torch.device = "cpu"
) -> tuple[list[Path], dict[str, Any]] | None:
    """The newest usable checkpoint in ``directory`` as ``(its two files, state)``, None
    when there is none; when every one there is damaged, a :class:`ModelFileError` says
    which files to delete.

    The halves of a checkpoint are matched by the token they share, not by name, so a
    process killed between renaming one file and the other loses nothing."""
    halves = [p for p in checkpoint_paths(directory) if p.exists()]
    if not halves:
        return None
    tokens = {p: pair_token(p) for p in halves}
    pairs = [
        (j, t)
        for j in halves
        if j.suffix == ".json"
        for t in halves
        if t.suffix == ".safetensors"
        and (tokens[j] == tokens[t] if tokens[j] else t.stem == j.stem)
    ]
    best: tuple[int, list[Path], dict[str, Any]] | None = None
    problems = []
    for json_path, tensor_path in pairs:
        try:
            saved = load_pair(json_path, tensor_path, device)
            epoch = int(saved["epoch"])
            list(saved["history"])
            saved["module"], saved["optimizer"]  # noqa: B018 - present, checked on use
        except (ModelFileError, KeyError, TypeError, ValueError) as exc:
            log.warning("checkpoint %s is not usable: %s", tensor_path, exc)
            problems.append(exc)
            continue
        if best is None or epoch > best[0]:
            best = (epoch, [json_path, tensor_path], saved)
    if best is not None:
        return best[1], best[2]
    names = " and ".join(sorted(p.name for p in halves))
    reason = problems[0] if problems else "no two files belong together"
    raise ModelFileError(
        f"{directory}: the checkpoint cannot be read ({reason}); delete {names} there to "
        "train from the start"
    )


def keep_only(directory: Path, files: list[Path]) -> None:
    """Make ``files`` (a checkpoint's two halves) the only checkpoint, as ``last``, so a
    damaged one is never rotated into ``prev``; at every step one matched pair exists."""
    resume = checkpoint_files(_resume_stem(directory))
    for path, target in zip(files, resume, strict=True):
        if path != target:
            os.replace(path, target)
    for stem in (checkpoint_stem(directory), previous_stem(directory)):
        for path in checkpoint_files(stem):
            path.unlink(missing_ok=True)
    for path, target in zip(resume, checkpoint_files(checkpoint_stem(directory)), strict=True):
        os.replace(path, target)


def rotate_and_save(stem: Path, state: dict[str, Any]) -> None:
    """Save ``state`` as the newest checkpoint, keeping the one before it as ``prev``. The
    new one is written whole before the oldest is removed, so a kill at any step leaves at
    least two whole checkpoints or one whole and one being written."""
    directory = stem.parent
    staged = _resume_stem(directory)
    save_state(staged, state)
    if state_exists(stem):
        for path in checkpoint_files(previous_stem(directory)):
            path.unlink(missing_ok=True)
        for old, new in zip(
            checkpoint_files(stem), checkpoint_files(previous_stem(directory)), strict=True
        ):
            os.replace(old, new)
    for old, new in zip(checkpoint_files(staged), checkpoint_files(stem), strict=True):
        os.replace(old, new)
