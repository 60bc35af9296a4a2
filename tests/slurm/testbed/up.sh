#!/bin/bash
# up.sh: a real Slurm cluster on this one machine for ConvergeFS's tests: a private munged
# (its own key and socket), slurmctld and N slurmd daemons (nodes n1..nN, one port each),
# all under one scratch directory, no systemd. down.sh stops them by PID.
#
# Observed on Debian 12 (slurm-wlm 22.05.8, munge 0.5.15), as root:
#   - Debian's slurmd is built with multiple-slurmd support: `slurmd -N nI` runs node nI,
#     and every node may name the same host as long as each has its own Port.
#   - Daemons started here get a clean environment (PATH HOME LANG SLURM_CONF and the
#     marker below); Prolog/Epilog run with Slurm's own environment and no PATH at all.
#     RebootProgram inherits slurmd's environment.
#   - Bring-up takes about a second on an idle machine (up to ~10 s measured with the
#     machine loaded by other test clusters).
#
# Usage: [VAR=value ...] bash up.sh; then `source $CVFS_SLURM_DIR/env.sh` for SLURM_CONF.
# Settings (environment, all optional):
#   CVFS_SLURM_DIR            scratch directory, wiped and recreated     (/tmp/cvfs-slurm)
#   CVFS_SLURM_NODES          number of nodes n1..nN                      (2)
#   CVFS_SLURM_PORT           slurmctld port; node nI uses PORT+I         (27800)
#   CVFS_SLURM_PROLOG         Prolog program      (default: a stub that logs to hooks.log)
#   CVFS_SLURM_EPILOG         Epilog program      (default: a stub that logs to hooks.log)
#   CVFS_SLURM_REBOOT_PROGRAM RebootProgram       (default: $DIR/bin/fake-reboot)
#   CVFS_SLURM_RESUME_TIMEOUT ResumeTimeout in s  (60)
#   CVFS_SLURM_PROLOG_FLAGS   PrologFlags         (Alloc: the prolog runs at allocation)
#   CVFS_SLURM_CORE_SPEC      CoreSpecCount per node (unset: none)
#   CVFS_SLURM_MEM_SPEC_MB    MemSpecLimit per node in MiB (unset: none)
#   CVFS_SLURM_CGROUP=1       TaskPlugin=task/affinity,task/cgroup with a cgroup.conf that
#                             constrains cores and memory (default task/none)
#   CVFS_SLURM_PASSENV        names of variables passed on to the daemons
#
# fake-reboot (always written, $DIR/bin/fake-reboot [NODE]): never reboots the machine. It
# stops node NODE's slurmd (default: $SLURMD_NODENAME, else the slurmd it runs under), runs
# $DIR/etc/fake-reboot.hook NODE if that file is executable (a test takes the node's storage
# down and up there: a real reboot would), then starts the same slurmd again with `-b`
# ("report node rebooted now"), which is how slurmctld learns that the reboot happened.
# The work after the stop is detached: slurmd waits for its RebootProgram to return.
set -euo pipefail

DIR=${CVFS_SLURM_DIR:-/tmp/cvfs-slurm}
NODES=${CVFS_SLURM_NODES:-2}
PORT=${CVFS_SLURM_PORT:-27800}
CONF=$DIR/etc/slurm.conf
MUNGE_SOCKET=$DIR/munge/munge.socket
# Every daemon we start carries this in its environment: down.sh finds leftovers (slurmstepd,
# detached reboot helpers) by it, without matching process names.
MARKER="CVFS_SLURM_TESTBED=$DIR"
START_NS=$(date +%s%N)

log() {
  local ms=$((($(date +%s%N) - START_NS) / 1000000))
  printf 'slurm-testbed up [%d.%03d s] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"
}
die() {
  log "ERROR: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs jobs as their users)"
if ! [[ $NODES =~ ^[1-9][0-9]*$ ]]; then die "CVFS_SLURM_NODES must be a number >= 1"; fi
for tool in munged munge unmunge slurmctld slurmd scontrol sinfo setsid ss; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps installs slurm-wlm and munge)"
done
for pidfile in "$DIR"/run/*.pid; do
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "a testbed is already running in $DIR ($pidfile); run down.sh first"
  fi
done
# Ports: refuse to start on top of something else rather than fail later in a slurmd log.
for ((p = PORT; p <= PORT + NODES; p++)); do
  if ss -Htln "sport = :$p" | grep -q .; then die "port $p is in use; set CVFS_SLURM_PORT"; fi
done
# Hook paths must be absolute: the daemons run with the scratch directory as cwd.
for var in CVFS_SLURM_PROLOG CVFS_SLURM_EPILOG CVFS_SLURM_REBOOT_PROGRAM; do
  if [ -n "${!var:-}" ]; then
    [ -x "${!var}" ] || die "$var=${!var} is not an executable file"
    printf -v "$var" '%s' "$(realpath "${!var}")"
  fi
done

# munged refuses a socket below a directory that others cannot search (observed: "Socket is
# inaccessible: execute permissions for all required"), e.g. inside a test's mode-0700
# temporary directory: say so before anything starts.
parent=$(dirname "$(realpath -m "$DIR")")
while [ "$parent" != / ]; do
  if [ -d "$parent" ] && [ "$(($(stat -c '%#a' "$parent") & 1))" -eq 0 ]; then
    die "$parent is not searchable by others (munged needs that above its socket); choose another CVFS_SLURM_DIR"
  fi
  parent=$(dirname "$parent")
done
rm -rf "$DIR"
mkdir -p "$DIR"/{etc,state,log,run,bin,spool,tmp,hooks} "$DIR/munge"
# munged refuses a socket directory others cannot search, and a key others can read.
chmod 755 "$DIR" "$DIR/munge"
chmod 1777 "$DIR/hooks"
cd "$DIR"

daemon_env=(env -i "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "HOME=${HOME:-/root}" "LANG=C.UTF-8" "SLURM_CONF=$CONF" "$MARKER")
for var in ${CVFS_SLURM_PASSENV:-}; do
  if [ -n "${!var+set}" ]; then daemon_env+=("$var=${!var}"); fi
done

# ---- munged: a fresh key, a private socket
head -c 1024 /dev/urandom >"$DIR/munge/munge.key"
chmod 400 "$DIR/munge/munge.key"
"${daemon_env[@]}" munged --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
  --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
  --seed-file="$DIR/munge/munged.seed" --num-threads=2
for _ in $(seq 50); do
  if munge -S "$MUNGE_SOCKET" -n 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" >/dev/null || die "munge round trip failed ($DIR/log/munged.log)"
log "munged up (pid $(cat "$DIR/run/munged.pid"))"

# ---- hooks: logging stubs unless the caller gives its own
write_stub() { # write_stub NAME: a hook that appends one line per run to hooks/hooks.log
  cat >"$DIR/bin/$1" <<STUB
#!/bin/sh
# Testbed stub: Slurm gives hooks no PATH.
echo "\$(/bin/date +%s.%N) $1 job=\$SLURM_JOB_ID node=\$SLURMD_NODENAME user=\$SLURM_JOB_USER" >>$DIR/hooks/hooks.log
exit 0
STUB
  chmod 755 "$DIR/bin/$1"
}
if [ -z "${CVFS_SLURM_PROLOG:-}" ]; then
  write_stub prolog
  CVFS_SLURM_PROLOG=$DIR/bin/prolog
fi
if [ -z "${CVFS_SLURM_EPILOG:-}" ]; then
  write_stub epilog
  CVFS_SLURM_EPILOG=$DIR/bin/epilog
fi

cat >"$DIR/bin/fake-reboot" <<'FAKE'
#!/bin/bash
# fake-reboot [NODE]: the testbed's stand-in for /sbin/reboot (see up.sh).
set -uo pipefail
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DIR=@DIR@
LOG=$DIR/hooks/fake-reboot.log
note() { echo "$(date +%s.%N) fake-reboot $*" >>"$LOG"; }
node=${1:-${SLURMD_NODENAME:-}}
if [ -z "$node" ]; then
  # Run by slurmd itself: climb to the slurmd process and read its -N argument.
  p=$$
  while [ "$p" -gt 1 ] && ! grep -qxE 'slurmd(-wlm)?' "/proc/$p/comm" 2>/dev/null; do
    p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 1)
  done
  if [ "$p" -gt 1 ]; then
    mapfile -d '' args <"/proc/$p/cmdline"
    for ((i = 0; i < ${#args[@]} - 1; i++)); do [ "${args[$i]}" = -N ] && node=${args[$((i + 1))]}; done
  fi
fi
pidfile=$DIR/run/slurmd-$node.pid
[ -n "$node" ] && [ -f "$pidfile" ] || { note "node=${node:-?} error=no-slurmd-pid-file"; exit 1; }
pid=$(cat "$pidfile")
mapfile -d '' cmd <"/proc/$pid/cmdline" || { note "node=$node error=slurmd-$pid-gone"; exit 1; }
restart=()
for a in "${cmd[@]}"; do [ "$a" = -b ] || restart+=("$a"); done
restart+=(-b)
note "node=$node slurmd_pid=$pid event=reboot"
# Detached: the caller (slurmd, or a cvfs-reboot waiter) must not wait for this.
setsid bash -c '
  node=$1 pid=$2 dir=$3 log=$4; shift 4
  note() { echo "$(date +%s.%N) fake-reboot $*" >>"$log"; }
  kill -TERM "$pid"
  for _ in $(seq 300); do   # up to 30 s; a zombie counts as gone (init reaps slowly here)
    [ -e "/proc/$pid" ] && ! grep -qs "^State:[[:space:]]*Z" "/proc/$pid/status" || break
    sleep 0.1
  done
  note "node=$node event=slurmd-stopped"
  hook=$dir/etc/fake-reboot.hook
  if [ -x "$hook" ]; then
    timeout 300 "$hook" "$node" >>"$log" 2>&1
    note "node=$node event=hook-done rc=$?"
  else
    sleep "$(cat "$dir/etc/fake-reboot.delay" 2>/dev/null || echo 1)"
  fi
  "$@" >>"$dir/log/slurmd-$node.out" 2>&1 </dev/null &
  note "node=$node event=slurmd-started pid=$!"
' fake-reboot "$node" "$pid" "$DIR" "$LOG" "${restart[@]}" </dev/null >/dev/null 2>&1 &
exit 0
FAKE
sed -i "s|@DIR@|$DIR|" "$DIR/bin/fake-reboot"
chmod 755 "$DIR/bin/fake-reboot"
CVFS_SLURM_REBOOT_PROGRAM=${CVFS_SLURM_REBOOT_PROGRAM:-$DIR/bin/fake-reboot}

# ---- slurm.conf
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(($(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) / 2 / NODES))
task_plugin=task/none
proctrack=proctrack/linuxproc
if [ "${CVFS_SLURM_CGROUP:-0}" = 1 ]; then
  task_plugin=task/affinity,task/cgroup
  proctrack=proctrack/cgroup
  cat >"$DIR/etc/cgroup.conf" <<CGROUP
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=yes
ConstrainRAMSpace=yes
CGROUP
fi
cat >"$CONF" <<CONF
# Written by tests/slurm/testbed/up.sh for $DIR
ClusterName=cvfstest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
TmpFS=$DIR/tmp/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=$proctrack
TaskPlugin=$task_plugin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
# N nodes share this host: let each claim the CPUs and memory written below.
SlurmdParameters=config_overrides
# A DOWN node that registers again returns to service by itself.
ReturnToService=2
SlurmdTimeout=30
SlurmctldTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=30
Prolog=$CVFS_SLURM_PROLOG
Epilog=$CVFS_SLURM_EPILOG
PrologFlags=${CVFS_SLURM_PROLOG_FLAGS:-Alloc}
RebootProgram=$CVFS_SLURM_REBOOT_PROGRAM
ResumeTimeout=${CVFS_SLURM_RESUME_TIMEOUT:-60}
CONF
spec=""
[ -n "${CVFS_SLURM_CORE_SPEC:-}" ] && spec+=" CoreSpecCount=$CVFS_SLURM_CORE_SPEC"
[ -n "${CVFS_SLURM_MEM_SPEC_MB:-}" ] && spec+=" MemSpecLimit=$CVFS_SLURM_MEM_SPEC_MB"
for ((i = 1; i <= NODES; i++)); do
  echo "NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((PORT + i)) CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem_mb$spec State=UNKNOWN" >>"$CONF"
done
echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP" >>"$CONF"
printf 'export SLURM_CONF=%q\n' "$CONF" >"$DIR/env.sh"
export SLURM_CONF=$CONF

# ---- slurmctld, then the slurmd of every node
"${daemon_env[@]}" setsid slurmctld -D -f "$CONF" >"$DIR/log/slurmctld.out" 2>&1 </dev/null &
for _ in $(seq 100); do
  if scontrol ping 2>/dev/null | grep -q 'is UP'; then break; fi
  sleep 0.2
done
scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld did not come up: $(tail -5 "$DIR/log/slurmctld.out" "$DIR/log/slurmctld.log" 2>&1)"
log "slurmctld up (pid $(cat "$DIR/run/slurmctld.pid"), port $PORT)"
for ((i = 1; i <= NODES; i++)); do
  mkdir -p "$DIR/spool/n$i" "$DIR/tmp/n$i"
  chmod 1777 "$DIR/tmp/n$i"
  "${daemon_env[@]}" setsid slurmd -D -f "$CONF" -N "n$i" >"$DIR/log/slurmd-n$i.out" 2>&1 </dev/null &
done
not_idle() { sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2 != "idle"'; }
for _ in $(seq 150); do
  if [ "$(sinfo -h -N -o '%N' 2>/dev/null | wc -l)" -eq "$NODES" ] && [ -z "$(not_idle)" ]; then break; fi
  sleep 0.2
done
if [ -n "$(not_idle)" ]; then
  die "nodes not idle after 30 s: $(not_idle | tr '\n' ' '); see $DIR/log/slurmd-*.out"
fi
log "$NODES node(s) idle: n1..n$NODES; source $DIR/env.sh"
