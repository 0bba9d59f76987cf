"""Install the host plug-ins as a user does: run each host's install script or zip builder.

The plug-in folders in the repository hold no hook client; the install step copies the one in
plugins/common/ next to each plug-in, and the tests load the plug-ins from what it installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from plugin_helpers import PLUGINS

NUKE_INSTALL = PLUGINS / "nuke" / "install.py"
RESOLVE_INSTALL = PLUGINS / "resolve" / "install.py"
BLENDER_BUILD = PLUGINS / "blender" / "build_addon.py"


def run_script(script: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a plug-in install script with this Python; returns its stdout (fails on an error)."""
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, f"{script.name} {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def install_nuke(target: Path) -> Path:
    """plugins/nuke/install.py TARGET --no-init; returns TARGET (the folder for Nuke's path)."""
    run_script(NUKE_INSTALL, str(target), "--no-init")
    return target


def install_resolve(target: Path) -> Path:
    """plugins/resolve/install.py TARGET; returns TARGET (Resolve's Scripts/Utility folder)."""
    run_script(RESOLVE_INSTALL, str(target))
    return target


def build_blender_addon(folder: Path) -> Path:
    """plugins/blender/build_addon.py --output FOLDER; returns the zip's path."""
    return Path(run_script(BLENDER_BUILD, "--output", str(folder)).strip())
