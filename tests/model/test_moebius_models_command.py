"""`moebius-video models list|pull|import` against a Hugging Face cache laid out on disk.

Nothing here touches the network: downloads are switched off (HF_HUB_OFFLINE=1) and the cache
is a real huggingface_hub cache folder (models--owner--name/snapshots/<commit>/..., refs/main).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moebius_video.commands.models import main
from moebius_video.errors import ModelError
from moebius_video.model import registry

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def machine(tmp_path, monkeypatch):
    """An empty HF cache and config folder, downloads off."""
    env = {
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "MOEBIUS_VIDEO_CONFIG_DIR": str(tmp_path / "config"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def put_in_cache(cache: Path, repo_id: str, path: str, data: bytes) -> Path:
    """Write a file where huggingface_hub's cache keeps it."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    target = repo / "snapshots" / COMMIT / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def _list_json(capsys) -> dict:
    capsys.readouterr()
    assert main(["list", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)["checkpoints"]}


def test_list_on_an_empty_machine(machine, capsys):
    rows = _list_json(capsys)
    assert list(rows) == [
        "moebius-ft-places2",
        "moebius-pretrained",
        "moebius-ft-celebahq",
        "moebius-ft-ffhq",
        "pixelhacker-vae",
    ]
    assert not any(row["present"] for row in rows.values())
    assert rows["moebius-ft-ffhq"]["hub"] == "hustvl/Moebius/ft_ffhq"
    assert rows["moebius-pretrained"]["licence"] == "Apache-2.0"
    assert main(["list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "PRESENT", "SIZE", "LICENCE", "WHERE"]


def test_pull_finds_the_cache_offline(machine, capsys):
    weights = put_in_cache(
        machine / "hf", "hustvl/Moebius", "ft_places2/diffusion_pytorch_model.bin", b"w" * 1000
    )
    put_in_cache(
        machine / "hf",
        "hustvl/PixelHacker",
        "vae/config.json",
        json.dumps({"_class_name": "AutoencoderKL"}).encode(),
    )
    vae_weights = put_in_cache(
        machine / "hf", "hustvl/PixelHacker", "vae/diffusion_pytorch_model.bin", b"v"
    )
    assert main(["pull", "moebius-ft-places2"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(weights), str(vae_weights.parent)]
    rows = _list_json(capsys)
    assert rows["moebius-ft-places2"]["present"] and rows["moebius-ft-places2"]["size"] == 1000
    assert rows["moebius-ft-places2"]["source"] == "hf-cache"
    assert rows["pixelhacker-vae"]["present"] and not rows["moebius-ft-ffhq"]["present"]


def test_pull_offline_without_cache_says_how(machine, capsys):
    assert main(["pull", "moebius-ft-celebahq"]) == 3
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE" in err and "models import PATH --name moebius-ft-celebahq" in err
    assert main(["pull", "moebius-xl"]) == 2
    assert "known models: moebius-ft-places2" in capsys.readouterr().err


def test_published_size_and_sha256_are_checked(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"abc")
    good = registry.Checkpoint(
        "x", "", "r/x", "s", "w.bin", size=3, sha256=registry.file_sha256(path)
    )
    registry.verify(good, path)
    with pytest.raises(ModelError, match="3 bytes, x has 4"):
        registry.verify(registry.Checkpoint("x", "", "r/x", "s", "w.bin", size=4), path)
    with pytest.raises(ModelError, match="sha256 .* does not match"):
        registry.verify(registry.Checkpoint("x", "", "r/x", "s", "w.bin", sha256="0" * 64), path)


def test_import_checks_the_checkpoint_against_the_network(machine, tiny_weights_path, capsys):
    # The reduced model's weights do not fit the published network: refused, nothing recorded.
    assert main(["import", str(tiny_weights_path)]) == 3
    assert "the network expects" in capsys.readouterr().err
    assert not registry.imports_file().exists()


def test_import_registers_a_local_file_and_a_vae_folder(
    machine, tiny_weights_path, tiny_vae_folder, capsys
):
    folder = machine / "weight" / "Moebius" / "ft_places2"
    folder.mkdir(parents=True)
    local = folder / "diffusion_pytorch_model.safetensors"
    local.write_bytes(tiny_weights_path.read_bytes())
    assert main(["import", str(local), "--no-check"]) == 0
    assert capsys.readouterr().out.strip() == str(local)
    assert main(["import", str(tiny_vae_folder)]) == 0
    assert main(["import", str(tiny_weights_path), "--name", "mine", "--no-check"]) == 0

    rows = _list_json(capsys)
    # The folder name picked the known checkpoint; the import wins over the (empty) cache.
    assert rows["moebius-ft-places2"]["source"] == "imported"
    assert rows["moebius-ft-places2"]["path"] == str(local)
    assert rows["pixelhacker-vae"]["path"] == str(tiny_vae_folder)
    assert rows["mine"]["present"] and rows["mine"]["sha256"] == registry.file_sha256(
        tiny_weights_path
    )
    saved = json.loads(registry.imports_file().read_text())
    assert saved["schema"] == "moebius-video.models/1"
    assert saved["checkpoints"]["pixelhacker-vae"]["kind"] == "vae"


def test_import_of_nothing_is_an_error(machine, capsys):
    assert main(["import", str(machine / "nope.bin")]) == 3
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["import"]) == 2


def test_cli_dispatches_models(machine):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "moebius_video.cli", "models", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=machine,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["checkpoints"]) == 5
