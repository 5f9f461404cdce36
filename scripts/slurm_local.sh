#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, bound to loopback only (for tests and CI).
#
# Idempotent: installs Debian's packages only when missing, writes /etc/slurm/slurm.conf only
# when it is absent or was written by this script, starts munged, slurmctld and slurmd only when
# they are not running. Daemons it starts are recorded in $MARROWFLOW_SLURM_STATE (default
# /run/marrowflow-slurm) so that scripts/slurm_stop.sh stops exactly those and nothing else.
# Needs root (as in CI). No systemd and no cgroups: proctrack/linuxproc, task/none.
# Partitions: "main" (default) and "gpu" (the same node, with one pretend GPU as GRES gpu:1), for
# testing partition and GRES routing (workflow/profiles/slurm-gpu).
set -euo pipefail

STATE_DIR="${MARROWFLOW_SLURM_STATE:-/run/marrowflow-slurm}"
CONF=/etc/slurm/slurm.conf
MARKER="# written by marrowflow scripts/slurm_local.sh"

die() { echo "slurm_local.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons); run it with sudo"

# 1. packages, only if missing
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm_local.sh: installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

mkdir -p "$STATE_DIR"

# 2. munge key and daemon
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged did not start; see /var/log/munge/munged.log"
    cp /run/munge/munged.pid "$STATE_DIR/munged.pid"
fi

# 3. slurm.conf: CPUs and memory of this machine (90 % of RAM so that slurmd accepts the node).
# MessageTimeout 2 s (default 10): one node talks to itself, and once the cluster is stopped every
# Snakemake start waits that long, as its SLURM executor plugin asks the controller for its config
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
new_conf="$MARKER
ClusterName=marrowflow
SlurmctldHost=localhost(127.0.0.1)
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
MpiDefault=none
ReturnToService=2
MinJobAge=600
SlurmdTimeout=60
MessageTimeout=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost Default=NO MaxTime=INFINITE State=UP"
# one pretend GPU (/dev/null), so that --gres=gpu:1 requests are scheduled and can be tested
gres_conf="$MARKER
NodeName=localhost Name=gpu File=/dev/null"
conf_changed=0
if [ -e "$CONF" ] && ! grep -qxF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; this machine already has a SLURM
configuration, so use that cluster (or move $CONF away to let this script write its own)"
fi
if [ ! -e "$CONF" ] || [ "$(cat "$CONF")" != "$new_conf" ]; then
    mkdir -p /etc/slurm
    printf '%s\n' "$new_conf" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    conf_changed=1
fi
if [ ! -e /etc/slurm/gres.conf ] || [ "$(cat /etc/slurm/gres.conf)" != "$gres_conf" ]; then
    printf '%s\n' "$gres_conf" > /etc/slurm/gres.conf.tmp && mv /etc/slurm/gres.conf.tmp /etc/slurm/gres.conf
    conf_changed=1
fi
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# 4. daemons, only if not running
if alive /run/slurmctld.pid; then
    [ "$conf_changed" -eq 0 ] || scontrol reconfigure
else
    slurmctld -c   # -c: a fresh controller state (no stale jobs from an earlier, killed cluster)
    for _ in $(seq 100); do alive /run/slurmctld.pid && scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
    alive /run/slurmctld.pid || die "slurmctld did not start; see /var/log/slurm/slurmctld.log"
    cp /run/slurmctld.pid "$STATE_DIR/slurmctld.pid"
fi
if ! alive /run/slurmd.pid; then
    slurmd -N localhost
    for _ in $(seq 100); do alive /run/slurmd.pid && break; sleep 0.1; done
    alive /run/slurmd.pid || die "slurmd did not start; see /var/log/slurm/slurmd.log"
    cp /run/slurmd.pid "$STATE_DIR/slurmd.pid"
fi

# 5. wait until the node takes jobs
for _ in $(seq 300); do
    state=$(sinfo -h -N -n localhost -o %t 2>/dev/null | head -n1)
    case "$state" in
        idle|mix|alloc|comp) echo "slurm_local.sh: SLURM ready (node localhost: $state, $cpus CPUs, ${mem_mb} MB)"; exit 0 ;;
        down*|drain*|drng*|fail*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
done
die "node localhost did not become idle (state: ${state:-unknown}); see /var/log/slurm/slurmd.log and slurmctld.log"
