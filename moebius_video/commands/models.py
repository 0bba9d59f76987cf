"""`moebius-video models list|pull NAME|import PATH`: the Moebius checkpoints on this machine.

    moebius-video models list [--json]          known and imported checkpoints, present or not
    moebius-video models pull moebius-ft-places2  download it (and the VAE) into the HF cache
    moebius-video models import PATH [--name N]   register a checkpoint downloaded by hand

Machine-readable results go to stdout (a table, or JSON with --json; `pull`/`import` print the
local path); messages go to stderr. A thin shell over `moebius_video.model.registry`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UsageError
from ..model import registry


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 2) instead of exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="moebius-video models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="{list,pull,import}")
    commands.required = True

    cache = argparse.ArgumentParser(add_help=False)
    cache.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="Hugging Face hub cache (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)",
    )

    listing = commands.add_parser("list", parents=[cache], help="known checkpoints and where")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    pull = commands.add_parser("pull", parents=[cache], help="download a checkpoint")
    pull.add_argument("name", metavar="NAME", help="a name from `models list`")
    pull.add_argument("--no-vae", action="store_true", help="do not also fetch the VAE")

    imp = commands.add_parser("import", help="register a local checkpoint file or folder")
    imp.add_argument("path", type=Path, metavar="PATH", help=".bin/.safetensors, or a folder")
    imp.add_argument("--name", help="name to use with --model (default: from the path)")
    imp.add_argument(
        "--no-check",
        action="store_true",
        help="skip checking names and shapes against the network (faster)",
    )
    for sub in (listing, pull, imp):
        sub.error = parser.error  # type: ignore[method-assign]
    return parser


def _human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "-"


def _rows(cache_dir: Path | None) -> list[dict]:
    imported = registry.read_imports()
    rows = []
    for name in registry.known_names():
        known = next((c for c in (*registry.CHECKPOINTS, registry.VAE) if c.name == name), None)
        here = registry.locate(name, cache_dir)
        size = None
        if here.path is not None and here.path.is_file():
            size = here.path.stat().st_size
        rows.append(
            {
                "name": name,
                "present": here.path is not None,
                "source": here.source,
                "path": str(here.path) if here.path else None,
                "size": size,
                "published_size": known.size if known else None,
                "sha256": known.sha256 if known else imported[name].sha256,
                "licence": known.licence if known else "see its source",
                "hub": f"{known.repo_id}/{known.subfolder}" if known else None,
                "description": known.description if known else "imported",
            }
        )
    return rows


def _list(args: argparse.Namespace) -> int:
    rows = _rows(args.cache_dir)
    if args.json:
        print(
            json.dumps(
                {"cache_dir": str(args.cache_dir or registry.hub_cache_dir()), "checkpoints": rows},
                indent=2,
            )
        )
        return 0
    header = ("NAME", "PRESENT", "SIZE", "LICENCE", "WHERE")
    table = [header] + [
        (
            row["name"],
            "yes" if row["present"] else "no",
            _human_size(row["size"] or row["published_size"]),
            row["licence"],
            row["path"] or (f"hf://{row['hub']}" if row["hub"] else "-"),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]))
    print(f"cache: {args.cache_dir or registry.hub_cache_dir()}", file=sys.stderr)
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pull(args: argparse.Namespace) -> int:
    located = registry.pull(args.name, cache_dir=args.cache_dir, log=_log)
    print(located.path)
    if not args.no_vae and args.name != registry.VAE_NAME:
        vae = registry.pull(registry.VAE_NAME, cache_dir=args.cache_dir, log=_log)
        print(vae.path)
    return 0


def _check_denoiser(path: Path) -> None:
    # Loads the tensors (memory-mapped where possible) and checks them against the network
    # built on the meta device: costs no weight memory of its own.
    import torch

    from ..model import MoebiusConfig, build_moebius
    from ..model.weights import check_state_dict, find_weights_file, read_state_dict

    file = find_weights_file(path)
    with torch.device("meta"):
        network = build_moebius(MoebiusConfig())
    check_state_dict(network, read_state_dict(file), str(file))


def _import(args: argparse.Namespace) -> int:
    check = None
    if not args.no_check and not registry.is_vae_folder(args.path):
        check = _check_denoiser
    entry = registry.register_import(args.path, name=args.name, check=check)
    _log(f"{entry.name}: registered {entry.kind} {entry.path} in {registry.imports_file()}")
    print(entry.path)
    return 0


def main(argv: list[str]) -> int:
    from .guard import guarded

    def run() -> int:
        args = build_parser().parse_args(argv)
        return {"list": _list, "pull": _pull, "import": _import}[args.command](args)

    return guarded(run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
