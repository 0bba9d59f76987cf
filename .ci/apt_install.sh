#!/usr/bin/env bash
# Installs Debian packages for CI (as root, or through sudo): the one place the install
# scripts share. Usage: apt_install.sh WHAT-NEEDS-IT PACKAGE...
set -euo pipefail

who=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: no apt-get here; install $* by hand so that it is on PATH" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
