#!/bin/sh
# Usage (root): sh dockerd-private-plugins.sh DIR dockerd [ARG...]
#
# Runs dockerd in a mount namespace of its own in which DIR is bound over dockerd's plugin
# directories (/etc/docker/plugins for spec files, /run/docker/plugins for sockets): that dockerd
# finds only the plugins registered in DIR, and no other dockerd on the machine ever sees them
# (one that met a test's plugin would wait 15 s on it at every `docker volume ls` once it is gone).
# --propagation slave keeps these binds inside the namespace, while mounts the host makes later
# under a shared mount (the plugin's volumes: see test/support/plugin.ts) still reach this dockerd.
set -eu
if [ "${1:-}" != --in-namespace ]; then
  exec unshare --mount --propagation slave -- sh "$0" --in-namespace "$@"
fi
shift
dir=$1
shift
# The mountpoint must exist; an empty folder is all any other dockerd can see of it.
mkdir -p /etc/docker/plugins
mount --bind "$dir" /etc/docker/plugins
if [ -d /run/docker/plugins ]; then mount --bind "$dir" /run/docker/plugins; fi
exec "$@"
