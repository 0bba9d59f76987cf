#!/usr/bin/env bash
# Installs the ffmpeg CLI for tests/io/test_colour_matrix.py, which checks our decoded RGB
# against `ffmpeg` told the matrix and range explicitly (Debian's package: a few MB on top
# of the FFmpeg libraries Blender already pulls in). Idempotent: does nothing when an
# `ffmpeg` is on PATH. Without it that test is skipped and says why.
set -euo pipefail

if command -v ffmpeg >/dev/null 2>&1; then
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" install_ffmpeg.sh ffmpeg
ffmpeg -version | head -n 1
