"""Facts of the running environment that results depend on: library versions, CPU model and flags."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

LIBRARIES = ("torch", "onnxruntime", "transformers", "onnx", "optuna", "numpy")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries whose kernels build and run the models (None when absent)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model_and_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The CPU model name and flag set (Linux); the platform's processor string elsewhere."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                model = value.strip()
            elif key == "flags":
                flags = set(value.split())
            if model and flags:
                break
    except OSError:
        pass
    return model, flags
