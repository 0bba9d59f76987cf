#!/usr/bin/env bash
# Installs a real Blender for tests/plugins/test_blender_addon.py: Debian's `blender` package
# (3.4 on bookworm; about 170 MB of packages, 650 MB on disk), which runs headless with
# `blender -b`. Idempotent: does nothing when a working Blender is already on PATH.
#
# Why not the `bpy` wheel from PyPI: it is 375 MB, pins one Python minor version and
# requires numpy<2, which would fight the project's own numpy in the same venv. The add-on
# test also runs against a bpy module when MOEBIUS_BPY_PYTHON names a Python that has it.
set -euo pipefail

check() {
    blender -b --factory-startup --python-expr \
        "import bpy, sys; print('blender', bpy.app.version_string, 'python', sys.version.split()[0])" \
        2>/dev/null | grep '^blender '
}

if command -v blender >/dev/null 2>&1 && check; then
    exit 0
fi

bash "$(dirname "$0")/apt_install.sh" install_blender.sh blender
check
