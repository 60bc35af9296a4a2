# shellcheck shell=bash disable=SC2034  # settings are read by the scripts that source this
# cvfs-slurm-common.sh: what cvfs-prolog, cvfs-epilog and cvfs-reboot share: settings,
# which node this is, logging, running `cvfs` with a deadline, telling Slurm a reason.
# Sourced, never run. Every function returns instead of exiting, except die.

# Slurm starts Prolog and Epilog with no PATH at all, RebootProgram with slurmd's.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

CVFS_HOOK=${CVFS_HOOK:-$(basename "$0")}

# ---- settings: defaults, then the config file (shell KEY=VALUE), then nothing else.
load_settings() {
  CVFS_SLURM_HOOKS_CONF=${CVFS_SLURM_HOOKS_CONF:-/etc/cvfs/slurm-hooks.conf}
  CVFS_BIN=cvfs
  CVFSD_CONFIG=/etc/cvfs/cvfsd.toml
  CVFS_ETCD=""
  CVFS_CLUSTER=""
  CVFS_MUNGE_SOCKET=""
  CVFS_NODE=""
  CVFS_NODE_MAP=""
  CVFS_NODE_MAP_FILE=""
  CVFS_MOUNTS=""
  CVFS_CHECK_TIMEOUT_S=10
  CVFS_HOOK_LOG=/var/log/cvfs/slurm-hooks.log
  CVFS_HOOK_STATE_DIR=/var/lib/cvfs/slurm
  CVFS_RECORD_DAYS=7
  CVFS_DRAIN_ON_FAILURE=1
  CVFS_SCONTROL=scontrol
  CVFS_REBOOT_COMMAND=/sbin/reboot
  CVFS_REBOOT_WAIT_S=600
  CVFS_REBOOT_BOOT_S=300
  CVFS_REBOOT_DETACH=1
  CVFS_REBOOT_RETRIES=2
  CVFS_REBOOT_RETRY_DELAY_S=60
  if [ -e "$CVFS_SLURM_HOOKS_CONF" ]; then
    # shellcheck source=/dev/null
    . "$CVFS_SLURM_HOOKS_CONF" || {
      CVFS_CONF_ERROR="cannot read $CVFS_SLURM_HOOKS_CONF"
      return 1
    }
  elif [ "$CVFS_SLURM_HOOKS_CONF" != /etc/cvfs/slurm-hooks.conf ]; then
    # A config named explicitly must exist; the default one may be absent (defaults apply).
    CVFS_CONF_ERROR="config $CVFS_SLURM_HOOKS_CONF does not exist"
    return 1
  fi
  return 0
}

# ---- which node: Slurm's name, then ConvergeFS's.
# Prolog/Epilog get SLURMD_NODENAME. RebootProgram gets no arguments and no SLURMD_NODENAME
# (observed with 22.05): then the -N of the slurmd we run under (several slurmd per host),
# else this host's short name, as slurmd itself defaults.
slurm_node_name() {
  if [ -n "${SLURMD_NODENAME:-}" ]; then
    echo "$SLURMD_NODENAME"
    return
  fi
  local p=$$ args i
  while [ "$p" -gt 1 ]; do
    if grep -qxE 'slurmd(-wlm)?' "/proc/$p/comm" 2>/dev/null; then
      mapfile -d '' args <"/proc/$p/cmdline"
      for ((i = 0; i < ${#args[@]} - 1; i++)); do
        if [ "${args[$i]}" = -N ]; then
          echo "${args[$((i + 1))]}"
          return
        fi
      done
      break
    fi
    p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 1)
  done
  hostname -s
}

# The ConvergeFS node id of Slurm node $1: CVFS_NODE when set (one node per config file),
# else CVFS_NODE_MAP ("slurm=cvfs" words), else CVFS_NODE_MAP_FILE (lines "slurm cvfs"),
# else the same name.
cvfs_node_of() {
  local slurm=$1 pair mapped=""
  if [ -n "$CVFS_NODE" ]; then
    echo "$CVFS_NODE"
    return
  fi
  for pair in $CVFS_NODE_MAP; do
    if [ "${pair%%=*}" = "$slurm" ]; then mapped=${pair#*=}; fi
  done
  if [ -z "$mapped" ] && [ -n "$CVFS_NODE_MAP_FILE" ] && [ -r "$CVFS_NODE_MAP_FILE" ]; then
    mapped=$(awk -v n="$slurm" '$1 == n && $0 !~ /^[[:space:]]*#/ {print $2; exit}' "$CVFS_NODE_MAP_FILE")
  fi
  echo "${mapped:-$slurm}"
}

# %n in a setting stands for the ConvergeFS node id (a testbed runs several nodes on one host).
expand_node() { echo "${1//%n/$NODE}"; }

# Fills SLURM_NODE, NODE (the ConvergeFS id), JOB and the cvfs environment. Returns 1 with
# CVFS_CONF_ERROR set when the settings are unusable.
init_hook() {
  CVFS_CONF_ERROR=""
  load_settings || return 1
  SLURM_NODE=$(slurm_node_name)
  NODE=$(cvfs_node_of "$SLURM_NODE")
  JOB=${SLURM_JOB_ID:-${SLURM_JOBID:--}}
  CVFSD_CONFIG=$(expand_node "$CVFSD_CONFIG")
  CVFS_HOOK_LOG=$(expand_node "$CVFS_HOOK_LOG")
  CVFS_HOOK_STATE_DIR=$(expand_node "$CVFS_HOOK_STATE_DIR")
  local m mounts=""
  for m in $CVFS_MOUNTS; do mounts+="${mounts:+ }$(expand_node "$m")"; done
  CVFS_MOUNTS=$mounts
  mkdir -p "$(dirname "$CVFS_HOOK_LOG")" "$CVFS_HOOK_STATE_DIR" 2>/dev/null || true
  # Where the cluster is: the settings, else this node's cvfsd config.
  if [ -r "$CVFSD_CONFIG" ]; then
    [ -n "$CVFS_CLUSTER" ] || CVFS_CLUSTER=$(toml_value "$CVFSD_CONFIG" "" cluster)
    [ -n "$CVFS_ETCD" ] || CVFS_ETCD=$(toml_value "$CVFSD_CONFIG" etcd endpoints)
    [ -n "$CVFS_MUNGE_SOCKET" ] || CVFS_MUNGE_SOCKET=$(toml_value "$CVFSD_CONFIG" auth munge_socket)
  fi
  [ -n "$CVFS_ETCD" ] && export CVFS_ETCD
  [ -n "$CVFS_CLUSTER" ] && export CVFS_CLUSTER
  [ -n "$CVFS_MUNGE_SOCKET" ] && export CVFS_MUNGE_SOCKET
  if ! command -v "$CVFS_BIN" >/dev/null 2>&1; then
    CVFS_CONF_ERROR="the cvfs tool ($CVFS_BIN) is not installed on this node"
    return 1
  fi
  return 0
}

# toml_value FILE SECTION KEY: a string, or a list of strings joined by commas, from the
# simple TOML cvfsd configs use (cvfsd.toml); "" when absent. SECTION "" = top level.
toml_value() {
  awk -v want_section="$2" -v key="$3" '
    /^[[:space:]]*\[/ { section = $0; gsub(/[][[:space:]]/, "", section); next }
    section == want_section && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
      sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]*#.*$/, "")
      gsub(/[][]/, ""); gsub(/"[[:space:]]*,[[:space:]]*"/, ","); gsub(/"/, "")
      gsub(/^[[:space:]]+|[[:space:]]+$/, ""); print; exit
    }' "$1"
}

# ---- logging: one line per event, to the log file and stderr (Slurm keeps the latter in
# slurmd's log for prolog/epilog output).
log() {
  local line
  line="$(date '+%Y-%m-%dT%H:%M:%S.%3N') $CVFS_HOOK node=${SLURM_NODE:-?} cvfs_node=${NODE:-?} job=${JOB:--} $*"
  echo "$line" >&2
  if [ -n "${CVFS_HOOK_LOG:-}" ]; then echo "$line" >>"$CVFS_HOOK_LOG" 2>/dev/null || true; fi
}
die() {
  log "event=error reason=\"$*\""
  exit 1
}

# cvfs_run SECONDS ARGS...: the cvfs tool with a deadline; its exit code (124: timed out).
cvfs_run() {
  local seconds=$1
  shift
  timeout --kill-after=5 "$seconds" "$CVFS_BIN" "$@"
}

# slurm_reason TEXT: sets this node's drain reason in Slurm ("cvfs: TEXT"), keeping any
# reboot flags. Slurm shows it in `sinfo -R` and `scontrol show node`.
slurm_drain() {
  local reason="cvfs: $1"
  if timeout 20 "$CVFS_SCONTROL" update nodename="$SLURM_NODE" state=drain reason="$reason" 2>/dev/null; then
    log "event=slurm_drain reason=\"$reason\""
  else
    log "event=slurm_drain_failed reason=\"$reason\""
  fi
}

# json_field JSON PATH: jq -r PATH of JSON, "" when not JSON or absent.
json_field() { jq -r "$2 // empty" <<<"$1" 2>/dev/null || true; }

# Per-job records (what each hook did for each job on each node), pruned after some days.
record() { # record KIND TEXT...
  local file=$CVFS_HOOK_STATE_DIR/jobs/$JOB.$SLURM_NODE.$1
  mkdir -p "$CVFS_HOOK_STATE_DIR/jobs" 2>/dev/null || return 0
  shift
  printf '%s\n' "$@" >"$file" 2>/dev/null || true
}
prune_records() {
  find "$CVFS_HOOK_STATE_DIR/jobs" -maxdepth 1 -type f -mtime "+$CVFS_RECORD_DAYS" -delete 2>/dev/null || true
}
