"""Install the DaVinci Resolve script: the script and the shared hook client, side by side.

    python plugins/resolve/install.py               # into this machine's Scripts/Utility folder
    python plugins/resolve/install.py /path/to/Fusion/Scripts/Utility

The folder gets moebius_video_resolve.py and moebius_hook_client.py (the one copy kept in
plugins/common/); the script imports the client from its own folder. Standard library only:
any Python 3.7+ runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = [
    os.path.join(HERE, "moebius_video_resolve.py"),
    os.path.join(HERE, os.pardir, "common", "moebius_hook_client.py"),
]


def default_target() -> str:
    """Resolve's per-user Fusion/Scripts/Utility folder on this platform."""
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support", "Blackmagic Design")
        return os.path.join(base, "DaVinci Resolve", "Fusion", "Scripts", "Utility")
    if sys.platform.startswith("win"):
        base = os.path.join(os.environ.get("APPDATA", home), "Blackmagic Design")
        return os.path.join(base, "DaVinci Resolve", "Support", "Fusion", "Scripts", "Utility")
    return os.path.join(home, ".local", "share", "DaVinciResolve", "Fusion", "Scripts", "Utility")


def install(target: str) -> list:
    """Copy the script into `target` (created if needed); returns the installed paths."""
    os.makedirs(target, exist_ok=True)
    return [shutil.copy2(path, os.path.join(target, os.path.basename(path))) for path in FILES]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "target",
        nargs="?",
        default=default_target(),
        help=f"folder to install into (default: {default_target()})",
    )
    args = parser.parse_args(argv)
    for path in install(args.target):
        print(f"installed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
