#!/usr/bin/env bash
# Installs what cbs needs on a Debian/Ubuntu host (as root), then its npm packages, then builds.
set -euo pipefail
cd "$(dirname "$0")/.."
# fio: npm run bench; openssh-server: the export/import tests run their own sshd; systemd: its
# systemd-socket-activate serves the plugin test's socket; man-db, groff-base: the man page tests.
packages=(util-linux mount e2fsprogs xfsprogs btrfs-progs gcc libc6-dev fio tar zstd openssh-server openssh-client systemd man-db groff-base)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund
npm run build
