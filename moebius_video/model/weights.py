"""Reading Moebius checkpoints safely, and refusing the wrong ones with a useful message.

The released checkpoints are `diffusion_pytorch_model.bin` files (a pickled state dict). Pickle
can run code, so `.bin`/`.pt` files are read with `torch.load(..., weights_only=True)` only,
which accepts tensors and plain containers and refuses anything else. `.safetensors` files are
read with safetensors. A folder is searched for `diffusion_pytorch_model.safetensors`, then
`diffusion_pytorch_model.bin`.

Every problem becomes a `ModelError` (exit code 3) that names the file and the first thing wrong:
a missing file, a truncated or corrupt file, a file that is not a state dict, or a state dict
that does not fit the network (first missing key, first unexpected key, first shape mismatch).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelError
from .moebius_unet import MoebiusConfig, MoebiusDenoiser, build_moebius

WEIGHT_FILENAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def find_weights_file(path: str | os.PathLike) -> Path:
    """The weights file at `path`: the file itself, or the known file name inside a folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in WEIGHT_FILENAMES:
            if (path / name).is_file():
                return path / name
        raise ModelError(f"{path}: no {' or '.join(WEIGHT_FILENAMES)} in this folder")
    if not path.exists():
        raise ModelError(f"{path}: no such checkpoint file")
    if path.suffix != ".safetensors" and path.suffix not in PICKLE_SUFFIXES:
        raise ModelError(
            f"{path}: unknown checkpoint type {path.suffix!r} "
            f"(expected .safetensors or {', '.join(PICKLE_SUFFIXES)})"
        )
    return path


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from a .safetensors or .bin file (or a folder holding one), on CPU."""
    file = find_weights_file(path)
    if file.suffix == ".safetensors":
        return _read_safetensors(file)
    return _read_pickle(file)


def _read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(file, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"{file}: not a readable safetensors file, probably truncated or corrupt ({exc}); "
            "download it again"
        ) from None


def _read_pickle(file: Path) -> dict[str, torch.Tensor]:
    # mmap avoids a second copy of 0.9 GB in memory; only zip-format files support it.
    mmap = zipfile.is_zipfile(file)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line), "")
        raise ModelError(
            f"{file}: refused: the file holds Python objects other than tensors, which could run "
            f"code when loaded ({reason or 'weights_only load failed'})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0].split(". ")[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"{file}: not a readable PyTorch checkpoint, probably truncated or corrupt "
            f"({reason}); download it again"
        ) from None
    if (
        isinstance(state, Mapping)
        and "state_dict" in state
        and isinstance(state["state_dict"], Mapping)
    ):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(f"{file}: not a state dict (expected a mapping of names to tensors)")
    return dict(state)


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise ModelError unless `state` has exactly the names and shapes of `model`'s state."""
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
        raise ModelError(
            f"{source}: does not fit the Moebius network: {', '.join(parts)} "
            f"of {len(expected)} expected tensors"
        )
    for name, shape in expected.items():
        got = tuple(state[name].shape)
        if got != shape:
            raise ModelError(
                f"{source}: {name} has shape {list(got)}, the network expects {list(shape)} "
                "(a checkpoint of another configuration?)"
            )


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a checkpoint into `model` after checking every name and shape (in place)."""
    file = find_weights_file(path)
    state = read_state_dict(file)
    check_state_dict(model, state, str(file))
    model.load_state_dict(state, strict=True)
    return model


def load_moebius(
    path: str | os.PathLike,
    config: Mapping | MoebiusConfig | None = None,
) -> MoebiusDenoiser:
    """Build the network (published configuration unless `config` is given) and load `path`.

    The module is built on the meta device and takes the checkpoint's tensors as they are, so
    loading does not allocate the weights twice. Returns a float32 CPU module in eval mode.
    """
    file = find_weights_file(path)
    state = read_state_dict(file)
    with torch.device("meta"):
        model = build_moebius(config if config is not None else MoebiusConfig())
    check_state_dict(model, state, str(file))
    state = {
        name: tensor.float() if tensor.is_floating_point() else tensor
        for name, tensor in state.items()
    }
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()
