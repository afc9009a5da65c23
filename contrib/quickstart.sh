#!/usr/bin/env bash
# contrib/quickstart.sh — the main job on a fresh Debian machine: install the
# dependencies, build, create a default image and mount it.
#   SLATEFS_IMAGE  image file  (default: ./slatefs.slate)
#   SLATEFS_MOUNT  mountpoint  (default: ./mnt)
# Unmount with: fusermount3 -u "$SLATEFS_MOUNT"
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
image=${SLATEFS_IMAGE:-$top/slatefs.slate}
mnt=${SLATEFS_MOUNT:-$top/mnt}
contrib/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
if [ ! -e "$image" ]; then
  build/tools/mkfs.slatefs --label slatefs "$image"
fi
mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
  echo "$mnt is already a mountpoint"
  exit 1
fi
build/fs/slatefs "$image" "$mnt"
echo "slatefs: $image mounted on $mnt (unmount with: fusermount3 -u $mnt)"
