"""Safetensors files are the same bytes however often they are written (the lock compares checksums)."""

from __future__ import annotations

import hashlib

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save

from compressors.formats.safetensors_file import canonical_bytes, save_safetensors

TENSORS = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a": torch.ones(4, dtype=torch.int8)}
METADATA = {f"key{i}": f"value {i}" for i in range(6)} | {"format": "pt"}


def test_the_library_alone_orders_metadata_differently_from_one_write_to_the_next() -> None:
    # what this module exists for: without it, one of these writes would not match the others
    headers = {save(TENSORS, metadata=METADATA)[:200] for _ in range(20)}
    assert len(headers) > 1


def test_every_write_of_the_same_tensors_and_metadata_gives_the_same_file(tmp_path) -> None:
    digests = set()
    for i in range(20):
        path = tmp_path / f"{i}.safetensors"
        save_safetensors(TENSORS, path, METADATA)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=50, deadline=None)
@given(metadata=st.dictionaries(text, text, max_size=6))
def test_the_canonical_file_reads_back_the_same_tensors_and_metadata(tmp_path_factory, metadata) -> None:
    path = tmp_path_factory.mktemp("st") / "model.safetensors"
    save_safetensors(TENSORS, path, metadata)
    assert path.read_bytes() == canonical_bytes(save(TENSORS, metadata=metadata))
    with safe_open(str(path), framework="pt") as handle:
        assert (handle.metadata() or {}) == metadata
        assert {name: handle.get_tensor(name).tolist() for name in handle.keys()} == {
            name: tensor.tolist() for name, tensor in TENSORS.items()
        }
