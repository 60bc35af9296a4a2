#!/bin/bash
# down.sh: stops the testbed that up.sh started in $CVFS_SLURM_DIR, by PID only: cancels the
# jobs, stops every slurmd, slurmctld and munged through their pid files, then whatever is
# left that carries the testbed's marker in its environment (slurmstepd, detached reboot
# helpers, a slurmd restarted by fake-reboot) or is a job process of this testbed.
# Usage: [CVFS_SLURM_DIR=/tmp/cvfs-slurm] [CVFS_SLURM_KEEP=1] bash down.sh
#   CVFS_SLURM_KEEP=1 keeps the scratch directory (logs) for a post-mortem.
# Observed here: PID 1 reaps orphans only every second or two, so a process that exited
# can still answer kill -0: a zombie counts as stopped.
set -uo pipefail

DIR=${CVFS_SLURM_DIR:-/tmp/cvfs-slurm}
CONF=$DIR/etc/slurm.conf
MARKER="CVFS_SLURM_TESTBED=$DIR"
export SLURM_CONF=$CONF
START_NS=$(date +%s%N)

log() {
  local ms=$((($(date +%s%N) - START_NS) / 1000000))
  printf 'slurm-testbed down [%d.%03d s] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"
}
running() { # running PID: exists and is not a zombie
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"
}
read_pid() { [ -f "$1" ] && cat "$1" 2>/dev/null; }
# stop LABEL:PID ...: SIGTERM to all, up to 10 s for them to go, then SIGKILL.
stop() {
  local item pending=() still
  for item in "$@"; do
    if running "${item##*:}"; then
      kill -TERM "${item##*:}" 2>/dev/null
      pending+=("$item")
    fi
  done
  for _ in $(seq 100); do
    [ ${#pending[@]} -eq 0 ] && return 0
    still=()
    for item in "${pending[@]}"; do
      if running "${item##*:}"; then still+=("$item"); else log "stopped ${item%:*} (pid ${item##*:})"; fi
    done
    pending=("${still[@]+"${still[@]}"}")
    sleep 0.1
  done
  for item in "${pending[@]}"; do
    kill -KILL "${item##*:}" 2>/dev/null
    log "killed ${item%:*} (pid ${item##*:}) after 10 s"
  done
}
# Processes of this testbed: the marker (daemons and their children), or a job's processes
# (Slurm gives them SLURM_CONF=$CONF and SLURMD_NODENAME).
leftovers() {
  local pid jobs
  {
    grep -lzxF "$MARKER" /proc/[0-9]*/environ 2>/dev/null
    mapfile -t jobs < <(grep -lzxF "SLURM_CONF=$CONF" /proc/[0-9]*/environ 2>/dev/null)
    [ ${#jobs[@]} -gt 0 ] && grep -lz '^SLURMD_NODENAME=' "${jobs[@]}" 2>/dev/null
  } | while read -r pid; do
    pid=${pid#/proc/}
    pid=${pid%/environ}
    [ "$pid" != $$ ] && running "$pid" && echo "$pid"
  done | sort -u
}

ctld=$(read_pid "$DIR/run/slurmctld.pid")
if running "$ctld"; then
  mapfile -t jobs < <(squeue -h -o %i 2>/dev/null)
  if [ ${#jobs[@]} -gt 0 ]; then
    scancel "${jobs[@]}" 2>/dev/null
    for _ in $(seq 100); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
    log "cancelled jobs ${jobs[*]}"
  fi
fi
daemons=()
for f in "$DIR"/run/slurmd-*.pid; do
  [ -f "$f" ] && daemons+=("$(basename "$f" .pid):$(read_pid "$f")")
done
[ -n "$ctld" ] && daemons+=("slurmctld:$ctld")
munged=$(read_pid "$DIR/run/munged.pid")
[ -n "$munged" ] && daemons+=("munged:$munged")
stop "${daemons[@]+"${daemons[@]}"}"
# Helpers may start children (fake-reboot restarts a slurmd): a few rounds.
for _ in 1 2 3 4 5; do
  mapfile -t pids < <(leftovers)
  [ ${#pids[@]} -eq 0 ] && break
  items=()
  for pid in "${pids[@]}"; do items+=("$(tr -cd '[:alnum:]_.-' <"/proc/$pid/comm" 2>/dev/null):$pid"); done
  stop "${items[@]}"
  sleep 0.2
done
mapfile -t pids < <(leftovers)
if [ ${#pids[@]} -gt 0 ]; then
  log "still running:"
  ps -o pid=,args= -p "$(
    IFS=,
    echo "${pids[*]}"
  )"
  exit 1
fi
# With CVFS_SLURM_CGROUP=1 slurmd made cgroups slurm_nI (its "system" cgroup stays after
# it stops): remove the empty ones; one still in use (another testbed) stays.
nodes=$(awk -F'[= ]' '/^NodeName=/ {print $2}' "$CONF" 2>/dev/null)
for n in $nodes; do
  for d in /sys/fs/cgroup/*/slurm_"$n"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
done
if [ "${CVFS_SLURM_KEEP:-0}" = 1 ]; then
  log "testbed $DIR is down (kept)"
else
  rm -rf "$DIR"
  log "testbed $DIR is down"
fi
