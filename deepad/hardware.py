"""The machine's accelerators, found without importing torch (so the dashboard can name the
device and suggest settings for it in a process that never loads torch)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs the driver lists (``CUDA_VISIBLE_DEVICES`` respected), from
    ``/proc/driver/nvidia/gpus``, else ``nvidia-smi -L``; empty without a driver."""
    names = []
    try:
        for folder in sorted(NVIDIA_GPUS.iterdir()):
            text = (folder / "information").read_text(errors="replace")
            model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                          if ln.startswith("Model:")), "NVIDIA GPU")  # fmt: skip
            names.append(model)
    except OSError:
        names = _nvidia_smi()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        names = [names[int(v)] for v in wanted if v.isdigit() and int(v) < len(names)]
    return names


def _nvidia_smi() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return []
    # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)"
    return [ln.split(":", 1)[1].split("(UUID")[0].strip() for ln in out.stdout.splitlines()
            if ln.startswith("GPU ")]  # fmt: skip


def device_type() -> str:
    """What ``device = auto`` will pick: ``cuda``, ``mps`` (Apple silicon) or ``cpu``."""
    if gpu_names():
        return "cuda"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def describe_device() -> str:
    """E.g. ``NVIDIA H200`` (``2 × …`` for several) or ``CPU, 2 cores``."""
    names = gpu_names()
    if names:
        return names[0] if len(names) == 1 else f"{len(names)} × {names[0]}"
    if device_type() == "mps":
        return "Apple GPU (MPS)"
    return f"CPU, {os.cpu_count() or 1} cores"
