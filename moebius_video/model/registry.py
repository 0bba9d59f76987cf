"""The Moebius checkpoints we know, where they come from, and where they are on this machine.

One table (`CHECKPOINTS`) lists the released weights (hustvl/Moebius on the Hugging Face Hub,
Apache-2.0) and the VAE they need (hustvl/PixelHacker, folder `vae`). Downloads go through
huggingface_hub into its standard cache (`HF_HUB_CACHE`, by default ~/.cache/huggingface/hub),
so a file pulled once is found again offline, and other Hugging Face tools share it.

Checkpoints downloaded by hand are registered with `moebius-video models import PATH`, which
records them in a small JSON file in the user config folder (`MOEBIUS_VIDEO_CONFIG_DIR`
overrides it). An imported file of a known name takes precedence over the cache.

This module does not import torch: `moebius-video models list` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ModelError, RetryableError, UsageError

LICENCE = "Apache-2.0"
WEIGHT_FILENAME = "diffusion_pytorch_model.bin"
VAE_NAME = "pixelhacker-vae"
REGISTRY_SCHEMA = "moebius-video.models/1"


@dataclass(frozen=True)
class Checkpoint:
    """A released file on the Hugging Face Hub. size/sha256 are None where not published."""

    name: str
    description: str
    repo_id: str
    subfolder: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    licence: str = LICENCE
    revision: str | None = None

    @property
    def hub_path(self) -> str:
        return f"{self.subfolder}/{self.filename}" if self.subfolder else self.filename

    @property
    def url(self) -> str:
        return (
            f"https://huggingface.co/{self.repo_id}/tree/{self.revision or 'main'}/{self.subfolder}"
        )


# The Moebius denoisers (all four share the published 0.22B configuration) and the VAE.
CHECKPOINTS: tuple[Checkpoint, ...] = (
    Checkpoint(
        "moebius-ft-places2",
        "fine-tuned on Places2: natural scenes (the default for footage)",
        "hustvl/Moebius",
        "ft_places2",
        WEIGHT_FILENAME,
    ),
    Checkpoint(
        "moebius-pretrained",
        "distilled from PixelHacker, before fine-tuning",
        "hustvl/Moebius",
        "pretrained",
        WEIGHT_FILENAME,
    ),
    Checkpoint(
        "moebius-ft-celebahq",
        "fine-tuned on CelebA-HQ: faces",
        "hustvl/Moebius",
        "ft_celebahq",
        WEIGHT_FILENAME,
    ),
    Checkpoint(
        "moebius-ft-ffhq",
        "fine-tuned on FFHQ: faces",
        "hustvl/Moebius",
        "ft_ffhq",
        WEIGHT_FILENAME,
    ),
)
# The VAE: a diffusers AutoencoderKL folder (config.json + weights), 4 latent channels, x8.
VAE = Checkpoint(
    VAE_NAME,
    "the VAE every Moebius checkpoint works in (diffusers AutoencoderKL folder)",
    "hustvl/PixelHacker",
    "vae",
    "config.json",
    # Not verified here: the Moebius release points to it without stating its terms.
    licence="see the hustvl/PixelHacker model card",
)
DEFAULT_CHECKPOINT = "moebius-ft-places2"


def get_checkpoint(name: str) -> Checkpoint:
    for checkpoint in (*CHECKPOINTS, VAE):
        if checkpoint.name == name:
            return checkpoint
    choices = ", ".join(c.name for c in CHECKPOINTS)
    raise UsageError(f"unknown model {name!r}; known models: {choices}")


# --------------------------------------------------------------------------------------------
# Where things are
# --------------------------------------------------------------------------------------------


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def config_dir() -> Path:
    """The user config folder of moebius-video (MOEBIUS_VIDEO_CONFIG_DIR overrides it)."""
    if os.environ.get("MOEBIUS_VIDEO_CONFIG_DIR"):
        return Path(os.environ["MOEBIUS_VIDEO_CONFIG_DIR"]).expanduser()
    if sys.platform == "win32":
        return (
            Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "moebius-video"
        )
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "moebius-video"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".config") / "moebius-video"


def imports_file() -> Path:
    return config_dir() / "models.json"


@dataclass(frozen=True)
class ImportedCheckpoint:
    """A local file or folder registered with `models import`."""

    name: str
    path: str
    kind: str  # "denoiser" or "vae"
    size: int | None = None
    sha256: str | None = None


def read_imports() -> dict[str, ImportedCheckpoint]:
    path = imports_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        entries = data["checkpoints"]
        return {name: ImportedCheckpoint(name=name, **entry) for name, entry in entries.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable model registry ({exc}); fix or delete it") from None


def _write_imports(entries: dict[str, ImportedCheckpoint]) -> None:
    path = imports_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "schema": REGISTRY_SCHEMA,
        "checkpoints": {
            name: {k: v for k, v in asdict(entry).items() if k != "name"}
            for name, entry in sorted(entries.items())
        },
    }
    # Write then rename, so a crash never leaves half a registry.
    fd, tmp = tempfile.mkstemp(prefix=".models.", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


def _cached_hub_file(checkpoint: Checkpoint, cache_dir: Path | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        checkpoint.repo_id,
        checkpoint.hub_path,
        cache_dir=str(cache_dir or hub_cache_dir()),
        revision=checkpoint.revision,
    )
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def is_vae_folder(path: Path) -> bool:
    """A diffusers AutoencoderKL folder: config.json naming the class, plus a weights file."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    has_weights = any(
        (path / f"diffusion_pytorch_model.{ext}").is_file() for ext in ("safetensors", "bin")
    )
    return isinstance(config, dict) and config.get("_class_name") == "AutoencoderKL" and has_weights


@dataclass(frozen=True)
class Located:
    """Where one checkpoint is on this machine (None: not present) and where that came from."""

    name: str
    path: Path | None
    source: str  # "imported", "hf-cache" or "missing"


def locate(name: str, cache_dir: Path | None = None) -> Located:
    """Find a known or imported checkpoint (or the VAE folder) without touching the network."""
    imported = read_imports().get(name)
    if imported is not None and Path(imported.path).exists():
        return Located(name, Path(imported.path), "imported")
    known = next((c for c in (*CHECKPOINTS, VAE) if c.name == name), None)
    if known is None:
        if imported is not None:
            return Located(name, None, "missing")
        get_checkpoint(name)  # raises UsageError with the choices
    cached = _cached_hub_file(known, cache_dir)
    if cached is not None and known is VAE:
        return (
            Located(name, cached.parent, "hf-cache")
            if is_vae_folder(cached.parent)
            else (Located(name, None, "missing"))
        )
    return Located(name, cached, "hf-cache" if cached else "missing")


def known_names() -> list[str]:
    names = [c.name for c in CHECKPOINTS] + [VAE.name]
    return names + sorted(set(read_imports()) - set(names))


# --------------------------------------------------------------------------------------------
# Pull and import
# --------------------------------------------------------------------------------------------


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(checkpoint: Checkpoint, path: Path) -> None:
    """Check a downloaded file against the published size and sha256, where known."""
    if checkpoint.size is not None and path.stat().st_size != checkpoint.size:
        raise ModelError(
            f"{path}: {path.stat().st_size} bytes, {checkpoint.name} has {checkpoint.size} "
            "(truncated download?); delete it and run `moebius-video models pull "
            f"{checkpoint.name}` again"
        )
    if checkpoint.sha256 is not None:
        got = file_sha256(path)
        if got != checkpoint.sha256:
            raise ModelError(
                f"{path}: sha256 {got} does not match {checkpoint.name}'s {checkpoint.sha256}; "
                f"delete it and run `moebius-video models pull {checkpoint.name}` again"
            )


def pull(
    name: str,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Located:
    """Make checkpoint `name` (or the VAE) present: from an import, the cache, or the Hub.

    Honours HF_HUB_OFFLINE (then only the cache is consulted). Returns where it is.
    """
    checkpoint = get_checkpoint(name)
    log = log or (lambda message: None)
    here = locate(name, cache_dir)
    if here.path is not None:
        log(f"{name}: already present ({here.source}): {here.path}")
        if here.source == "hf-cache" and checkpoint is not VAE:
            verify(checkpoint, here.path)
        return here

    cache = cache_dir or hub_cache_dir()
    if hub_offline():
        raise ModelError(
            f"{name}: not in the cache ({cache}) and downloads are off (HF_HUB_OFFLINE is set); "
            f"run `moebius-video models pull {name}` with network access, or download "
            f"{checkpoint.url} by hand and run `moebius-video models import PATH --name {name}`"
        )
    log(f"{name}: downloading {checkpoint.repo_id}/{checkpoint.subfolder} into {cache}")
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        if checkpoint is VAE:
            folder = snapshot_download(
                checkpoint.repo_id,
                allow_patterns=[f"{checkpoint.subfolder}/*"],
                revision=checkpoint.revision,
                cache_dir=str(cache),
            )
            path = Path(folder) / checkpoint.subfolder
            if not is_vae_folder(path):
                raise ModelError(f"{path}: downloaded, but not a diffusers AutoencoderKL folder")
        else:
            path = Path(
                hf_hub_download(
                    checkpoint.repo_id,
                    checkpoint.filename,
                    subfolder=checkpoint.subfolder,
                    revision=checkpoint.revision,
                    cache_dir=str(cache),
                )
            )
            verify(checkpoint, path)
    except LocalEntryNotFoundError:  # (a subclass of EntryNotFoundError: test it first)
        raise RetryableError(
            f"{name}: download failed: no connection to the Hub? (set HF_HUB_OFFLINE=1 to use "
            "only the cache)"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise ModelError(f"{name}: not found on the Hub ({type(exc).__name__}: {exc})") from None
    except (HfHubHTTPError, OSError) as exc:
        raise RetryableError(f"{name}: download failed ({type(exc).__name__}: {exc})") from None
    return Located(name, path, "hf-cache")


def register_import(
    path: str | os.PathLike,
    name: str | None = None,
    check: Callable[[Path], None] | None = None,
) -> ImportedCheckpoint:
    """Record a local checkpoint file/folder (or VAE folder) under `name` in the user registry.

    `check(path)` may validate the content first (the CLI checks names and shapes against the
    network). A diffusers AutoencoderKL folder is registered as the VAE.
    """
    source = Path(path).expanduser().resolve()
    if not source.exists():
        raise ModelError(f"{source}: no such file or folder")
    kind = "vae" if source.is_dir() and is_vae_folder(source) else "denoiser"
    if kind == "vae":
        name = name or VAE_NAME
        if name != VAE_NAME:
            raise UsageError(f"{source} is a VAE folder; it can only be imported as {VAE_NAME!r}")
    else:
        name = name or _default_import_name(source)
        if name == VAE_NAME:
            raise UsageError(f"{source}: not a diffusers AutoencoderKL folder, cannot be the VAE")
    if check is not None:
        check(source)
    size = sha = None
    if source.is_file():
        size, sha = source.stat().st_size, file_sha256(source)
    entry = ImportedCheckpoint(name=name, path=str(source), kind=kind, size=size, sha256=sha)
    entries = read_imports()
    entries[name] = entry
    _write_imports(entries)
    return entry


def _default_import_name(source: Path) -> str:
    # weight/Moebius/ft_places2/diffusion_pytorch_model.bin -> the known "moebius-ft-places2"
    folder = source if source.is_dir() else source.parent
    for checkpoint in CHECKPOINTS:
        if folder.name == checkpoint.subfolder:
            return checkpoint.name
    stem = source.name if source.is_dir() else source.stem
    if stem.startswith("diffusion_pytorch_model"):
        stem = folder.name
    return f"local-{stem}"
