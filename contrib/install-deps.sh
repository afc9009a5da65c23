#!/usr/bin/env bash
# contrib/install-deps.sh — install every Debian package slatefs needs to build,
# run, test and benchmark. Uses sudo when not root. Quick when all are present.
set -eu
PKGS=(
  # build
  gcc pkg-config meson ninja-build
  libfuse3-dev libxxhash-dev liblz4-dev
  # run
  fuse3
  # tests: peers for the store benchmark, fs tools, fuzzing
  liblmdb-dev libsqlite3-dev clang libclang-rt-dev
  attr acl util-linux procps psmisc e2fsprogs fuse2fs bindfs fio python3
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
