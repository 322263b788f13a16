"""The sparse safetensors format: exact round trip, and a file that shrinks with sparsity."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from compressors.formats.sparse import BITMASK, VALUES, dense_nbytes, encode, load_sparse, save_sparse


def _sparse(shape: tuple[int, ...], sparsity: float, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tensor = torch.randn(shape, generator=generator).to(dtype)
    return tensor * (torch.rand(shape, generator=generator) >= sparsity)


@settings(deadline=None, max_examples=40)
@given(
    st.lists(st.integers(1, 30), min_size=1, max_size=3).map(tuple),
    st.floats(0.0, 1.0),
    st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
    st.integers(0, 1000),
)
def test_round_trip_is_exact(tmp_path_factory, shape, sparsity, dtype, seed) -> None:
    path = tmp_path_factory.mktemp("sparse") / "w.safetensors"
    tensors = {"a.weight": _sparse(shape, sparsity, seed, dtype), "a.bias": torch.randn(shape[-1]), "ids": torch.arange(5)}
    save_sparse(tensors, path)
    loaded = load_sparse(path)
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and loaded[name].shape == tensor.shape
        assert torch.equal(loaded[name], tensor), name


def test_mostly_zero_tensors_are_stored_as_bitmask_and_values_and_the_rest_dense() -> None:
    sparse, dense = encode(_sparse((64, 64), 0.8)), encode(torch.randn(64, 64))
    assert set(sparse) == {BITMASK, VALUES} and sparse[BITMASK].dtype == torch.uint8
    assert sparse[BITMASK].numel() == 64 * 64 // 8
    assert set(dense) == {""}
    assert set(encode(torch.zeros(3, 5, dtype=torch.long))) == {""}  # integers stay as they are


@pytest.mark.parametrize("sparsity", [0.5, 0.8, 0.9])
def test_file_size_is_one_bit_per_entry_plus_the_non_zeros(tmp_path, sparsity) -> None:
    weight = _sparse((384, 1536), sparsity)
    path = tmp_path / "w.safetensors"
    save_sparse({"w": weight}, path)
    nonzeros = int((weight != 0).sum())
    expected = weight.numel() / 8 + nonzeros * 4
    assert path.stat().st_size == pytest.approx(expected, rel=0.01)
    dense = dense_nbytes({"w": weight})
    assert dense == pytest.approx(weight.numel() * 4, rel=0.001)
    # 1 + 32 * density bits per entry, against 32
    assert path.stat().st_size / dense == pytest.approx((1 + 32 * (1 - sparsity)) / 32, abs=0.01)


def test_dense_nbytes_is_the_size_of_a_dense_file(tmp_path) -> None:
    tensors = {"w": _sparse((30, 20), 0.8), "b": torch.randn(20)}
    save_file(tensors, tmp_path / "dense.safetensors", metadata={"format": "pt"})
    assert dense_nbytes(tensors) == (tmp_path / "dense.safetensors").stat().st_size


def test_negative_zero_comes_back_as_zero(tmp_path) -> None:
    weight = torch.tensor([[-0.0, 1.0, 0.0, 0.0] * 8])
    save_sparse({"w": weight}, tmp_path / "w.safetensors")
    loaded = load_sparse(tmp_path / "w.safetensors")["w"]
    assert torch.equal(loaded, weight) and not torch.signbit(loaded).any()


def test_a_plain_safetensors_file_is_refused(tmp_path) -> None:
    save_file({"w": torch.zeros(2)}, tmp_path / "plain.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"plain.safetensors: not a sparse weights file of version 1"):
        load_sparse(tmp_path / "plain.safetensors")


def test_inconsistent_file_is_refused(tmp_path) -> None:
    path = tmp_path / "w.safetensors"
    bits = encode(_sparse((16, 16), 0.9))[BITMASK]
    metadata = {"format": "pt", "compressors.sparse": "1", "sparse_shapes": json.dumps({"w": [16, 16]})}
    save_file({"w" + BITMASK: bits, "w" + VALUES: torch.ones(3)}, path, metadata=metadata)
    with pytest.raises(ValueError, match=r"set bits but 3 values"):
        load_sparse(path)


def test_reserved_names_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="reserved suffix"):
        save_sparse({"w::values": torch.zeros(2)}, tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []
