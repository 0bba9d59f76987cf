"""Reading checkpoints safely and naming what is wrong with a bad one."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

from moebius_video.errors import ModelError
from moebius_video.model import build_moebius
from moebius_video.model.weights import (
    find_weights_file,
    load_checkpoint,
    load_moebius,
    read_state_dict,
)


@pytest.fixture()
def tiny_bin(tmp_path, tiny_state_dict):
    path = tmp_path / "ft_tiny" / "diffusion_pytorch_model.bin"
    path.parent.mkdir()
    torch.save(tiny_state_dict, path)
    return path


def test_bin_and_safetensors_read_the_same(tiny_bin, tiny_weights_path):
    from_bin = read_state_dict(tiny_bin)
    from_st = read_state_dict(tiny_weights_path)
    assert from_bin.keys() == from_st.keys()
    assert all(torch.equal(from_bin[k], from_st[k]) for k in from_st)


def test_folder_is_searched_for_the_release_file_name(tiny_bin):
    assert find_weights_file(tiny_bin.parent) == tiny_bin
    with pytest.raises(ModelError, match="no diffusion_pytorch_model"):
        find_weights_file(tiny_bin.parent.parent)


def test_load_moebius_reproduces_the_release_output(tiny_bin, tiny_manifest, tiny_forward):
    model = load_moebius(tiny_bin, tiny_manifest["config"])
    with torch.inference_mode():
        eps = model(tiny_forward["input"], 999, tiny_forward["input_ids"])
    err = (eps - tiny_forward["output_t999"]).abs().max().item()
    assert err < 1e-5, f"max abs error {err:.3g}"


@pytest.mark.parametrize("name", ["diffusion_pytorch_model.bin", "w.safetensors"])
def test_truncated_checkpoint_is_named(tmp_path, tiny_state_dict, name):
    path = tmp_path / name
    if name.endswith(".bin"):
        torch.save(tiny_state_dict, path)
    else:
        save_file(tiny_state_dict, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ModelError, match=r"truncated or corrupt") as info:
        read_state_dict(path)
    assert str(path) in str(info.value)


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.bin"
    torch.save({"embedding_layer.weight": Payload()}, path)
    with pytest.raises(ModelError, match="refused"):
        read_state_dict(path)
    assert not marker.exists(), "loading a checkpoint ran code"


def test_missing_unexpected_and_misshaped_keys_are_named(tiny_manifest, tiny_state_dict, tmp_path):
    model = build_moebius(tiny_manifest["config"])
    name = "diff_model.up_blocks.1.attentions.2.transformer_blocks.0.attn1.pos_conv.weight"

    missing = dict(tiny_state_dict)
    del missing[name]
    save_file(missing, tmp_path / "missing.safetensors")
    with pytest.raises(ModelError, match=rf"1 missing \(first: {name}\)"):
        load_checkpoint(model, tmp_path / "missing.safetensors")

    extra = dict(tiny_state_dict, **{"diff_model.mid_block.conv.weight": torch.zeros(1)})
    save_file(extra, tmp_path / "extra.safetensors")
    with pytest.raises(ModelError, match=r"1 unexpected \(first: diff_model.mid_block.conv"):
        load_checkpoint(model, tmp_path / "extra.safetensors")

    misshaped = dict(tiny_state_dict)
    misshaped["embedding_layer.weight"] = torch.zeros(20, 64)
    save_file(misshaped, tmp_path / "shape.safetensors")
    with pytest.raises(
        ModelError, match=r"embedding_layer.weight has shape \[20, 64\], the network"
    ):
        load_checkpoint(model, tmp_path / "shape.safetensors")


def test_tiny_checkpoint_does_not_fit_the_published_network(tiny_weights_path):
    with pytest.raises(ModelError, match=r"has shape \[.*\], the network expects \["):
        load_moebius(tiny_weights_path)


def test_not_a_state_dict_and_unknown_types(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.bin")
    with pytest.raises(ModelError, match="not a state dict"):
        read_state_dict(tmp_path / "list.bin")
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown checkpoint type"):
        read_state_dict(tmp_path / "model.onnx")
    with pytest.raises(ModelError, match="no such checkpoint"):
        read_state_dict(tmp_path / "absent.bin")
