"""Facts about the machine that int8 and threading speed-ups depend on."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# CPU flags (as /proc/cpuinfo spells them) that decide which int8 kernels run.
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
LIBRARIES = ("torch", "onnxruntime", "transformers", "onnx", "optuna", "numpy")


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


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose kernels are measured (None when absent)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_facts(threads: int) -> dict:
    """What the saved benchmark JSON records about this machine."""
    model, flags = cpu_model_and_flags()
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "int8_flags": {flag: flag in flags for flag in INT8_FLAGS},
        "threads": threads,
        "versions": library_versions(),
    }
