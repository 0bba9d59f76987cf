"""Install the Nuke plug-in: this folder's scripts and the shared hook client, side by side.

    python plugins/nuke/install.py                  # into ~/.nuke/moebius_video
    python plugins/nuke/install.py /studio/nuke/moebius_video --no-init

The folder gets menu.py, moebius_video_nuke.py and moebius_hook_client.py (the one copy kept
in plugins/common/). Unless --no-init, a `nuke.pluginAddPath(...)` line for it is added to
~/.nuke/init.py (once), so Nuke runs its menu.py at start-up. With --no-init, put the folder on
NUKE_PATH or add that line yourself. Standard library only: any Python 3.7+ runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = [
    os.path.join(HERE, "menu.py"),
    os.path.join(HERE, "moebius_video_nuke.py"),
    os.path.join(HERE, os.pardir, "common", "moebius_hook_client.py"),
]


def install(target: str) -> list:
    """Copy the plug-in into `target` (created if needed); returns the installed paths."""
    os.makedirs(target, exist_ok=True)
    return [shutil.copy2(path, os.path.join(target, os.path.basename(path))) for path in FILES]


def register(target: str, init_py: str) -> bool:
    """Add `nuke.pluginAddPath(target)` to init_py unless it is there; True if it was added."""
    line = f"nuke.pluginAddPath({os.path.abspath(target)!r})  # moebius-video\n"
    text = ""
    if os.path.exists(init_py):
        with open(init_py, encoding="utf-8") as file:
            text = file.read()
    if line in text:
        return False
    os.makedirs(os.path.dirname(init_py), exist_ok=True)
    with open(init_py, "a", encoding="utf-8") as file:
        if text and not text.endswith("\n"):
            file.write("\n")
        if "import nuke" not in text:
            file.write("import nuke\n")
        file.write(line)
    return True


def main(argv=None) -> int:
    nuke_home = os.path.join(os.path.expanduser("~"), ".nuke")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "target",
        nargs="?",
        default=os.path.join(nuke_home, "moebius_video"),
        help="folder to install into (default: ~/.nuke/moebius_video)",
    )
    parser.add_argument(
        "--no-init", action="store_true", help="do not add the folder to ~/.nuke/init.py"
    )
    args = parser.parse_args(argv)
    for path in install(args.target):
        print(f"installed {path}")
    if not args.no_init:
        init_py = os.path.join(nuke_home, "init.py")
        added = register(args.target, init_py)
        print(f"{'added' if added else 'already in'} {init_py}: nuke.pluginAddPath(...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
