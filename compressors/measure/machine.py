"""Facts about the machine that int8 and threading speed-ups depend on."""

from __future__ import annotations

import os

from compressors.environment import cpu_model_and_flags, library_versions

# CPU flags (as /proc/cpuinfo spells them) that decide which int8 kernels run.
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


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
