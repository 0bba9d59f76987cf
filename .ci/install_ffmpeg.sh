#!/usr/bin/env bash
# Installs the ffmpeg CLI for tests/io/test_colour_matrix.py, which checks our decoded RGB
# against `ffmpeg` told the matrix and range explicitly (Debian's package: a few MB on top
# of the FFmpeg libraries Blender already pulls in). Idempotent: does nothing when an
# `ffmpeg` is on PATH. Without it that test is skipped and says why.
set -euo pipefail

if command -v ffmpeg >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_ffmpeg.sh: no apt-get here; install FFmpeg so that 'ffmpeg' is on PATH" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
ffmpeg -version | head -n 1
