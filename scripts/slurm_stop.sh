#!/usr/bin/env bash
# Stop the SLURM daemons that scripts/slurm_local.sh started (and only those), by their recorded
# process ids. Daemons that were already running before slurm_local.sh are left alone.
set -euo pipefail

STATE_DIR="${MARROWFLOW_SLURM_STATE:-/run/marrowflow-slurm}"
[ -d "$STATE_DIR" ] || exit 0

# slurmd first (it talks to the controller), munged last (both slurm daemons use it)
for name in slurmd slurmctld munged; do
    pidfile="$STATE_DIR/$name.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # only a process that still is that daemon (a recycled pid belongs to someone else)
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        echo "slurm_stop.sh: stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
done
rmdir "$STATE_DIR" 2>/dev/null || true
