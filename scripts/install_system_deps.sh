#!/usr/bin/env bash
# Debian/Ubuntu packages the test suite needs: a virtual X server and the libraries of Qt's xcb
# platform (napari review plugin). The SLURM packages are installed by scripts/slurm_local.sh.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail
packages=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0
          libxcb-shape0 libxcb-xfixes0 libxcb-cursor0 libxkbcommon-x11-0 libgl1 libegl1 libdbus-1-3
          libfontconfig1)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
