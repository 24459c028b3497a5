#!/bin/bash
# The guardian behind Executor.hold (src/lib/system/exec.ts), started in its own session as
#   bash guardian.sh BOUND_MS ENTER_COUNT ENTER... LEAVE...
# It runs ENTER, reports on stdout, then runs LEAVE once, and only after ENTER has returned:
# - when its stdin reaches end of file: cbs released it, or cbs died (even by SIGKILL, the
#   kernel closes the pipe cbs held);
# - when BOUND_MS have passed since it started, whatever cbs does;
# - when it is sent SIGTERM, SIGINT or SIGHUP.
# Reports, one line each: "entered MS" or "failed STATUS STDERR", then "left WHY STATUS STDERR"
# (WHY: released, bound or signal; STDERR: the last line the program printed there).
# bash rather than a second Node process: it starts in about a millisecond instead of 100.
set -u
export LC_ALL=C
# Should cbs be gone, a report fails quietly instead of ending the guardian before LEAVE.
trap '' PIPE

now_us() { echo "${EPOCHREALTIME/./}"; }
started=$(now_us)
bound_us=$(($1 * 1000))
enter=("${@:3:$2}")
leave=("${@:$(($2 + 3))}")

# Runs a command, output ignored: its status in $status, the last line of its stderr in $said.
run() {
  local err
  err=$("$@" 2>&1 >/dev/null) && status=0 || status=$?
  err=${err%$'\n'}
  said=${err##*$'\n'}
}

left=
finish() {
  [[ -n $left ]] && return
  left=1
  run "${leave[@]}"
  printf 'left %s %d %s\n' "$1" "$status" "$said" 2>/dev/null
  exit 0
}

# Signals that come while ENTER runs wait for it: bash runs traps between commands.
trap 'finish signal' TERM INT HUP
run "${enter[@]}"
if ((status != 0)); then
  printf 'failed %d %s\n' "$status" "$said"
  exit 1
fi
printf 'entered %d\n' $((($(now_us) - started) / 1000))

# cbs never writes to the pipe: read returns at its end (status 1) or at the bound (above 128).
while :; do
  remaining=$((bound_us - ($(now_us) - started)))
  ((remaining > 0)) || finish bound
  read -r -t "$((remaining / 1000000)).$(printf '%06d' $((remaining % 1000000)))" _ && continue
  (($? > 128)) && finish bound
  finish released
done
