#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for volseg's tests and for trying
# `volseg segment --scheduler slurm.yaml` without a site cluster (docs/deployment.md).
#
#   scripts/slurm_local.sh install   apt-get install slurm-wlm and munge where missing (root)
#   scripts/slurm_local.sh start     write the config, start munged, slurmctld and slurmd,
#                                    wait until the node is idle; prints `export SLURM_CONF=...`
#   scripts/slurm_local.sh stop      cancel the jobs and stop the three daemons
#   scripts/slurm_local.sh status    the node (sinfo) and the jobs (squeue)
#   scripts/slurm_local.sh env       the line to eval so that sinfo/sbatch/squeue find it
#
# Everything lives in one folder, $VOLSEG_SLURM_DIR (default ${TMPDIR:-/tmp}/volseg-slurm):
# slurm.conf, the munge key and socket, state, spool and the daemons' logs. Nothing is
# written to /etc and no systemd is needed (containers): the daemons are started directly.
# One node, `localhost`, with this machine's CPUs and 90 % of its memory, in partition
# `debug`; select/cons_tres shares the node between jobs; jobs start on submission.
# Settings: VOLSEG_SLURM_PORT (slurmctld's port, slurmd uses the next; default 6817),
# VOLSEG_SLURM_TIMEOUT (seconds to wait for an idle node; default 60).
set -euo pipefail

DIR=${VOLSEG_SLURM_DIR:-${TMPDIR:-/tmp}/volseg-slurm}
PORT=${VOLSEG_SLURM_PORT:-6817}
TIMEOUT=${VOLSEG_SLURM_TIMEOUT:-60}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

die() { echo "slurm: $*" >&2; exit 1; }

tail_log() {  # the last lines of a daemon's log, indented, for an error message
  [ -s "$1" ] && { echo "--- tail of $1:"; tail -n "${2:-15}" "$1" | sed 's/^/    /'; }
  return 0
}

install() {
  local missing=()
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  for cmd in slurmctld slurmd sinfo; do
    command -v "$cmd" >/dev/null 2>&1 || { missing+=(slurm-wlm); break; }
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "${missing[*]} not installed, and only root can install them (apt-get install slurm-wlm munge)"
  command -v apt-get >/dev/null 2>&1 || die "${missing[*]} not installed and there is no apt-get to install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends slurm-wlm munge >"$DIR.apt.log" 2>&1 \
    || { apt-get update -q >>"$DIR.apt.log" 2>&1 \
         && apt-get install -y -q --no-install-recommends slurm-wlm munge >>"$DIR.apt.log" 2>&1; } \
    || die "apt-get install slurm-wlm munge failed: $(tail -n 1 "$DIR.apt.log")"
}

running() {  # our slurmctld runs and answers
  [ -f "$CONF" ] && [ -s "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null \
    && timeout 10 scontrol ping 2>/dev/null | grep -q "is UP"
}

node_state() { timeout 5 sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -n 1; }

write_conf() {
  local cpus mem user
  # nproc honours OMP_NUM_THREADS, which test runs and dask workers set to 1: not here
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
  mem=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  user=$(id -un)
  mkdir -p "$DIR"/{state,spool,munge}
  chmod 0755 "$DIR" "$DIR/munge"
  cat >"$CONF" <<EOF
# written by scripts/slurm_local.sh: a single-node cluster for volseg's tests
ClusterName=volseg
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups (containers): processes tracked by parent id, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# finished jobs are listed, one line each, in this file (no slurmdbd needed)
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
MpiDefault=none
# several jobs share the node; CPUs and memory are the consumable resources
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# jobs start the moment they are submitted; cancelled jobs die within seconds
SchedulerType=sched/builtin
SchedulerParameters=defer_batch=0
KillWait=2
MinJobAge=60
DefMemPerCPU=1024
InactiveLimit=0
ReturnToService=2
SlurmdTimeout=60
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  if running; then  # already up: use it
    case "$(node_state)" in
      idle | mixed | allocated) echo "export SLURM_CONF=$CONF"; return 0 ;;
    esac
  fi
  install
  stop >/dev/null 2>&1 || true
  trap 'stop >/dev/null 2>&1 || true' EXIT  # a start that fails leaves no daemon behind
  write_conf
  rm -f "$DIR"/slurmctld.log "$DIR"/slurmd.log
  if [ ! -s "$DIR/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
  fi
  chmod 0400 "$DIR/munge.key"
  munged --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge.key" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munged.seed" \
    >"$DIR/munged.out" 2>&1 || die "munged did not start: $(tail -n 1 "$DIR/munged.out")"
  slurmctld -c -f "$CONF" >"$DIR/slurmctld.out" 2>&1 \
    || die "slurmctld did not start: $(tail -n 1 "$DIR/slurmctld.out")"
  slurmd -N localhost -f "$CONF" >"$DIR/slurmd.out" 2>&1 \
    || die "slurmd did not start: $(tail -n 1 "$DIR/slurmd.out")"
  local deadline=$((SECONDS + TIMEOUT)) state="" daemon why
  while [ "$SECONDS" -lt "$deadline" ]; do
    for daemon in slurmctld slurmd; do  # a daemon that died says why in its log
      why=$(grep -h "fatal:" "$DIR/$daemon.log" 2>/dev/null | tail -n 1 \
        | sed 's/^\[[^]]*\] //' || true)
      [ -z "$why" ] || { tail_log "$DIR/$daemon.log" 5 >&2; die "$daemon did not start: $why"; }
    done
    state=$(node_state || true)
    [ "$state" = idle ] && { trap - EXIT; echo "export SLURM_CONF=$CONF"; return 0; }
    sleep 0.5
  done
  {
    echo "slurm: node localhost not idle after $TIMEOUT s (state: ${state:-no answer})"
    tail_log "$DIR/slurmctld.log"
    tail_log "$DIR/slurmd.log"
  } >&2
  exit 1
}

stop_pid() {  # stop the daemon of a pid file, waiting up to 10 s
  local file=$1 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop() {
  if running; then
    timeout 10 scancel --full --quiet --partition=debug 2>/dev/null || true
  fi
  stop_pid "$DIR/slurmd.pid"
  stop_pid "$DIR/slurmctld.pid"
  stop_pid "$DIR/munged.pid"
}

case "${1:-}" in
  install) mkdir -p "$(dirname "$DIR")"; install ;;
  start) mkdir -p "$DIR"; start ;;
  stop) stop ;;
  status) sinfo -N && squeue ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
