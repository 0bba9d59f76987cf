"""Build the Blender add-on zip: the add-on folder with the shared hook client inside it.

    python plugins/blender/build_addon.py                 # ./moebius_video_vse.zip
    python plugins/blender/build_addon.py --output dist/  # dist/moebius_video_vse.zip

The zip holds one folder, moebius_video_vse/, with __init__.py, blender_manifest.toml and
moebius_hook_client.py (the one copy kept in plugins/common/), which the add-on imports as a
sibling module. Install it in Blender: Edit > Preferences > Add-ons > Install... (3.4 - 4.1),
Get Extensions > Install from Disk... (4.2+), or from a script
`bpy.ops.preferences.addon_install(filepath=...)`. The same sources give the same bytes.
Standard library only: any Python 3.7+ runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ADDON = "moebius_video_vse"
FILES = [
    os.path.join(HERE, ADDON, "__init__.py"),
    os.path.join(HERE, ADDON, "blender_manifest.toml"),
    os.path.join(HERE, os.pardir, "common", "moebius_hook_client.py"),
]
# A fixed time stamp for every entry, so the zip depends on the sources only.
EPOCH = (1980, 1, 1, 0, 0, 0)


def build(output: str) -> str:
    """Write the add-on zip to `output` (a .zip path, or a folder); returns the zip's path."""
    if not output.endswith(".zip"):
        output = os.path.join(output, f"{ADDON}.zip")
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    # Written under a temporary name and renamed: an interrupted build leaves no half zip.
    handle, temp = tempfile.mkstemp(prefix=f".{ADDON}.", suffix=".tmp-zip", dir=folder)
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for path in FILES:
                entry = zipfile.ZipInfo(f"{ADDON}/{os.path.basename(path)}", EPOCH)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o644 << 16
                with open(path, "rb") as source:
                    archive.writestr(entry, source.read())
        os.replace(temp, output)
    except BaseException:
        os.unlink(temp)
        raise
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output",
        default=os.getcwd(),
        help=f"zip path or folder (default: ./{ADDON}.zip)",
    )
    args = parser.parse_args(argv)
    print(build(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
