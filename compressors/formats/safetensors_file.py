"""Safetensors files written byte for byte the same for the same tensors and metadata.

`safetensors` keeps the metadata in a hash map whose order changes from one process to the next,
so a file with more than one metadata entry gets a different header (and checksum) every time it
is written. The lock of what was built compares checksums, so the formats write through here: the
header's metadata is sorted (same length, so the padding and offsets stay valid), and the file
replaces its destination only once it is complete.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from compressors.artifacts import write_atomic

if TYPE_CHECKING:
    import torch

METADATA = "__metadata__"


def canonical_bytes(data: bytes) -> bytes:
    """`data` (a safetensors file) with its header's metadata entries in sorted order."""
    (length,) = struct.unpack("<Q", data[:8])
    raw = data[8 : 8 + length]
    header = json.loads(raw)
    if METADATA not in header:
        return data
    ordered = {METADATA: dict(sorted(header[METADATA].items()))}
    ordered.update((name, entry) for name, entry in header.items() if name != METADATA)
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > length:
        raise ValueError(f"re-serialised safetensors header is longer than the original ({len(text)} > {length} bytes)")
    return data[:8] + text.ljust(length, b" ") + data[8 + length :]


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: Path, metadata: Mapping[str, str]) -> None:
    """Write `tensors` with `metadata` to `path`, reproducibly and atomically."""
    from safetensors.torch import save

    write_atomic(Path(path), canonical_bytes(save(dict(tensors), metadata=dict(metadata))))
