# shellcheck shell=bash
# .ci/containers.sh — make docker and podman usable by the cbs tests.
#
# Meant to be *sourced* by .ci/run (root, Debian 12, after `apt-get update`):
#
#     source .ci/containers.sh          # installs, starts dockerd, builds image
#     ...run tests...
#     cbs_ci_stop_containers            # stops the dockerd we started (if any)
#
# It can also be run directly (`bash .ci/containers.sh`); dockerd is then left
# running and its pid printed.
#
# Safe to source more than once: every step checks first and skips work that
# is already done. It does not touch the caller's shell options (set -e/-u,
# pipefail) and returns non-zero, with a message, if anything fails.
#
# What it leaves behind / exports:
#   CBS_CI_DOCKERD_PID   pid of the dockerd this script started (empty if one
#                        was already answering, e.g. started by someone else)
#   CBS_CI_DOCKERD_LOG   that dockerd's log file
#   CBS_CI_IMAGE         cbs-test-busybox:latest (in docker and in podman)
#   CONTAINERS_CONF      .ci/containers.conf (podman settings that work here)
#
# Working invocations (see .ci/containers.conf for why):
#   docker run --rm --network none cbs-test-busybox:latest sh -c '...'
#   CONTAINERS_CONF=.ci/containers.conf \
#     podman run --rm --network none cbs-test-busybox:latest sh -c '...'
# The image has no /data (or other mount-target) directory on purpose: when a
# named volume is mounted over a directory that exists in the image, docker and
# podman copy that directory's content and mode into the (empty) volume's host
# directory, and podman does it even when the host directory is not empty.

CBS_CI_IMAGE="${CBS_CI_IMAGE:-cbs-test-busybox:latest}"
CBS_CI_DOCKERD_PID="${CBS_CI_DOCKERD_PID:-}"
CBS_CI_DOCKERD_LOG="${CBS_CI_DOCKERD_LOG:-}"
CBS_CI_CONTAINERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="$CBS_CI_CONTAINERS_DIR/containers.conf"

_cbs_ci_log() { printf '[containers] %s\n' "$*"; }
_cbs_ci_err() { printf '[containers] ERROR: %s\n' "$*" >&2; }

# True if pid exists and is not a zombie.
_cbs_ci_alive() {
    local pid="$1" state
    [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
    state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ "$state" != Z && "$state" != X ]]
}

_cbs_ci_docker_answers() { timeout 15 docker info >/dev/null 2>&1; }

cbs_ci_install_container_packages() {
    local pkgs=(docker.io podman busybox-static docker-compose) missing=() p
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        _cbs_ci_log "packages already installed: ${pkgs[*]}"
        return 0
    fi
    _cbs_ci_log "apt-get install ${pkgs[*]} (missing: ${missing[*]})"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${pkgs[@]}" >/tmp/cbs-ci-apt-containers.log 2>&1; then
        tail -n 30 /tmp/cbs-ci-apt-containers.log >&2
        _cbs_ci_err "apt-get install ${pkgs[*]} failed (log: /tmp/cbs-ci-apt-containers.log)"
        return 1
    fi
}

cbs_ci_start_dockerd() {
    if _cbs_ci_docker_answers; then
        _cbs_ci_log "docker daemon already answers${CBS_CI_DOCKERD_PID:+ (pid $CBS_CI_DOCKERD_PID, ours)}"
        return 0
    fi
    local pid="" existing=""
    # A dockerd that is still starting (or hung) holds /var/run/docker.pid:
    # starting a second one would fail, so wait for that one instead.
    if [[ -r /var/run/docker.pid ]]; then
        existing="$(cat /var/run/docker.pid 2>/dev/null)"
        if _cbs_ci_alive "$existing" && [[ "$(cat "/proc/$existing/comm" 2>/dev/null)" == dockerd ]]; then
            pid="$existing"
            _cbs_ci_log "dockerd pid $pid exists but does not answer yet; waiting for it"
        fi
    fi
    if [[ -z "$pid" ]]; then
        local tmp
        tmp="$(mktemp -d /tmp/cbs-ci-dockerd.XXXXXX)" || return 1
        CBS_CI_DOCKERD_LOG="$tmp/dockerd.log"
        # No iptables rules, no docker0 bridge, no ip_forward sysctl change:
        # tests only use --network none.
        dockerd --iptables=false --ip6tables=false --bridge=none --ip-forward=false \
            </dev/null >"$CBS_CI_DOCKERD_LOG" 2>&1 &
        pid=$!
        CBS_CI_DOCKERD_PID="$pid"
        export CBS_CI_DOCKERD_PID CBS_CI_DOCKERD_LOG
        _cbs_ci_log "started dockerd pid $pid (log: $CBS_CI_DOCKERD_LOG)"
    fi
    local i
    for ((i = 0; i < 120; i++)); do
        if _cbs_ci_docker_answers; then
            _cbs_ci_log "docker daemon answers after ~$((i / 2))s"
            return 0
        fi
        if ! _cbs_ci_alive "$pid"; then
            [[ -n "$CBS_CI_DOCKERD_LOG" ]] && tail -n 30 "$CBS_CI_DOCKERD_LOG" >&2
            _cbs_ci_err "dockerd (pid $pid) exited before answering"
            [[ "$pid" == "$CBS_CI_DOCKERD_PID" ]] && CBS_CI_DOCKERD_PID=""
            return 1
        fi
        sleep 0.5
    done
    [[ -n "$CBS_CI_DOCKERD_LOG" ]] && tail -n 30 "$CBS_CI_DOCKERD_LOG" >&2
    _cbs_ci_err "docker daemon (pid $pid) did not answer within 60s"
    return 1
}

# Stop only the dockerd this script started (CBS_CI_DOCKERD_PID), and wait for it.
cbs_ci_stop_containers() {
    local pid="${CBS_CI_DOCKERD_PID:-}" i
    if [[ -z "$pid" ]]; then
        _cbs_ci_log "no dockerd started by .ci/containers.sh; nothing to stop"
        return 0
    fi
    if _cbs_ci_alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
        _cbs_ci_log "stopping dockerd pid $pid"
        kill -TERM "$pid" 2>/dev/null
        i=0
        while ((i < 60)) && _cbs_ci_alive "$pid"; do
            sleep 0.5
            i=$((i + 1))
        done
        if _cbs_ci_alive "$pid"; then
            _cbs_ci_err "dockerd pid $pid still running after 30s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            sleep 1
        fi
    fi
    # Reap it if it is our child (no-op otherwise).
    wait "$pid" 2>/dev/null
    CBS_CI_DOCKERD_PID=""
    return 0
}

cbs_ci_build_test_image() {
    if docker image inspect "$CBS_CI_IMAGE" >/dev/null 2>&1; then
        _cbs_ci_log "docker image $CBS_CI_IMAGE already present"
        return 0
    fi
    local busybox=/bin/busybox tmp rootfs applet rc
    if [[ ! -x "$busybox" ]] || ldd "$busybox" >/dev/null 2>&1; then
        _cbs_ci_err "$busybox missing or not static (need Debian package busybox-static)"
        return 1
    fi
    tmp="$(mktemp -d /tmp/cbs-ci-image.XXXXXX)" || return 1
    rootfs="$tmp/rootfs"
    mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,root,tmp,run} &&
        chmod 1777 "$rootfs/tmp" && chmod 700 "$rootfs/root" &&
        cp "$busybox" "$rootfs/bin/busybox" || { rm -rf "$tmp"; return 1; }
    # Every applet (sh cat dd sha256sum sleep ls mkdir rm echo df sync touch
    # head wc stat true false cp mv find grep sed awk truncate fallocate ...).
    for applet in $("$busybox" --list); do
        [[ "$applet" == busybox || -e "$rootfs/bin/$applet" ]] && continue
        ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    _cbs_ci_log "building docker image $CBS_CI_IMAGE from $busybox ($("$busybox" --list | wc -l) applets)"
    tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c . |
        docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$CBS_CI_IMAGE" >/dev/null
    rc=("${PIPESTATUS[@]}")
    rm -rf "$tmp"
    if [[ "${rc[0]}" != 0 || "${rc[1]}" != 0 ]]; then
        _cbs_ci_err "building $CBS_CI_IMAGE failed (tar ${rc[0]}, docker import ${rc[1]})"
        return 1
    fi
}

cbs_ci_load_podman_image() {
    local did pid
    did="$(docker image inspect --format '{{.Id}}' "$CBS_CI_IMAGE" 2>/dev/null)"
    did="${did#sha256:}"
    pid="$(podman image inspect --format '{{.Id}}' "$CBS_CI_IMAGE" 2>/dev/null)"
    if [[ -n "$pid" && "$pid" == "$did" ]]; then
        _cbs_ci_log "podman image $CBS_CI_IMAGE already present (same id as docker's)"
        return 0
    fi
    _cbs_ci_log "loading $CBS_CI_IMAGE into podman (docker save | podman load)"
    local rc
    docker save "$CBS_CI_IMAGE" | podman load -q >/dev/null
    rc=("${PIPESTATUS[@]}")
    if [[ "${rc[0]}" != 0 || "${rc[1]}" != 0 ]]; then
        _cbs_ci_err "docker save | podman load failed (${rc[0]}, ${rc[1]})"
        return 1
    fi
    # podman stores it as localhost/cbs-test-busybox:latest; the short name
    # resolves to it.
}

# $1 = docker|podman. Checks run, bind mount and a bind-backed named volume.
cbs_ci_smoke_test_engine() {
    local eng="$1" out dir vol ok=0
    out="$("$eng" run --rm --network none "$CBS_CI_IMAGE" sh -c 'echo ok' 2>&1)"
    if [[ "$out" != ok ]]; then
        _cbs_ci_err "$eng run failed: $out"
        [[ "$eng" == podman ]] && _cbs_ci_err "(CONTAINERS_CONF=$CONTAINERS_CONF; see comments there)"
        return 1
    fi
    dir="$(mktemp -d /tmp/cbs-ci-smoke.XXXXXX)" || return 1
    mkdir -p "$dir/bind" "$dir/vol" && echo pre >"$dir/vol/pre" && chmod 700 "$dir/vol"
    vol="cbs-ci-smoke-$eng-$$"
    "$eng" volume rm -f "$vol" >/dev/null 2>&1
    if ! out="$("$eng" run --rm --network none --mount "type=bind,source=$dir/bind,target=/data" \
            "$CBS_CI_IMAGE" sh -c 'echo bind >/data/f && cat /data/f' 2>&1)" ||
            [[ "$out" != bind || "$(cat "$dir/bind/f" 2>/dev/null)" != bind ]]; then
        _cbs_ci_err "$eng bind mount failed: $out"
        ok=1
    elif ! "$eng" volume create --driver local --opt type=none --opt o=bind \
            --opt "device=$dir/vol" --label cbs.managed=true "$vol" >/dev/null; then
        _cbs_ci_err "$eng volume create failed"
        ok=1
    elif ! out="$("$eng" run --rm --network none -v "$vol:/data" "$CBS_CI_IMAGE" \
            sh -c 'echo hi >/data/f && cat /data/pre' 2>&1)" ||
            [[ "$out" != pre || "$(cat "$dir/vol/f" 2>/dev/null)" != hi ]]; then
        _cbs_ci_err "$eng named volume (bind to $dir/vol) failed: $out"
        ok=1
    elif ! "$eng" volume rm "$vol" >/dev/null; then
        _cbs_ci_err "$eng volume rm failed"
        ok=1
    elif [[ "$(cat "$dir/vol/f" 2>/dev/null)" != hi || ! -e "$dir/vol/pre" ]]; then
        _cbs_ci_err "$eng volume rm removed the bound directory's content"
        ok=1
    elif [[ "$(stat -c %a "$dir/vol")" != 700 ]]; then
        _cbs_ci_log "warning: $eng changed mode of the volume's host dir to $(stat -c %a "$dir/vol")"
    fi
    "$eng" volume rm -f "$vol" >/dev/null 2>&1
    rm -rf "$dir"
    ((ok == 0)) && _cbs_ci_log "$eng ok: run, bind mount, bind-backed named volume (content kept after volume rm)"
    return "$ok"
}

cbs_ci_setup_containers() {
    local t0
    t0="$(date +%s)"
    cbs_ci_install_container_packages &&
        cbs_ci_start_dockerd &&
        cbs_ci_build_test_image &&
        cbs_ci_smoke_test_engine docker &&
        cbs_ci_load_podman_image &&
        cbs_ci_smoke_test_engine podman || {
        _cbs_ci_err "container setup failed"
        return 1
    }
    export CBS_CI_IMAGE
    _cbs_ci_log "ready in $(($(date +%s) - t0))s: image $CBS_CI_IMAGE; dockerd pid ${CBS_CI_DOCKERD_PID:-not ours}; CONTAINERS_CONF=$CONTAINERS_CONF"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    cbs_ci_setup_containers
    exit $?
else
    cbs_ci_setup_containers
fi
