#!/usr/bin/env bash
# `make test-slurm`: the demo's data, sr and score stages through workflow/profiles/slurm on a
# real single-node SLURM started here (Debian's slurm-wlm 22.05 + munge, as root, no systemd),
# then the same targets locally; every SLURM job must end COMPLETED and the score tables (and
# SR images) must equal the local run's. Everything started is stopped on exit.
#   KEEP=1 keeps the work folder; WORK=/path chooses it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY="$REPO/.venv/bin/python"
SNAKEMAKE="$REPO/.venv/bin/snakemake"
T0=$(date +%s)
say() { echo "[test-slurm $(($(date +%s) - T0))s] $*"; }
fail() { echo "[test-slurm] FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (installs packages, starts munged/slurmctld/slurmd)"
[ -x "$SNAKEMAKE" ] || fail "no $SNAKEMAKE: run make venv first"
"$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
  || fail "snakemake-executor-plugin-slurm missing: pip install -e '.[dev]'"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge
fi

WORK=${WORK:-$(mktemp -d /tmp/ranksrgan-slurm.XXXXXX)}
mkdir -p "$WORK"/{state,spool,log}
# The default path: the plugin's job step drops SLURM_* variables (SLURM_CONF too) before its
# `srun`, which then finds no configuration anywhere else.
export SLURM_CONF=/etc/slurm/slurm.conf
[ -e "$SLURM_CONF" ] && fail "$SLURM_CONF exists: this machine has a SLURM already; not touching it"
mkdir -p /etc/slurm
STARTED_MUNGE=""

MAIN_PID=$BASHPID
teardown() {
  local rc=$?
  [ "$BASHPID" = "$MAIN_PID" ] || return 0  # a command substitution's subshell exiting
  set +e
  if [ -f "$WORK/slurmctld.pid" ]; then
    scancel --user=root 2>/dev/null
    kill "$(cat "$WORK/slurmd.pid" 2>/dev/null)" 2>/dev/null
    kill "$(cat "$WORK/slurmctld.pid")" 2>/dev/null
    sleep 1
  fi
  [ -n "$STARTED_MUNGE" ] && kill "$STARTED_MUNGE" 2>/dev/null
  grep -qs "^ClusterName=ranksrgan-test" "$SLURM_CONF" && rm -f "$SLURM_CONF" /etc/slurm/gres.conf
  if [ "$rc" != 0 ]; then
    echo "--- slurmctld.log (tail)"; tail -n 20 "$WORK/log/slurmctld.log" 2>/dev/null
    echo "--- slurmd.log (tail)"; tail -n 20 "$WORK/log/slurmd.log" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
    echo "[test-slurm] work folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap teardown EXIT

# --- munge: the daemon runs as user munge on the key the package created -----------------
if ! munge -n </dev/null >/dev/null 2>&1; then
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  [ -s /etc/munge/munge.key ] || fail "/etc/munge/munge.key missing (munge package postinst)"
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  STARTED_MUNGE=$(cat /run/munge/munged.pid)
  munge -n </dev/null | unmunge >/dev/null || fail "munge credential round trip"
  say "munged started (pid $STARTED_MUNGE)"
fi

# --- slurm.conf: one node (its line from `slurmd -C`) in a cpu and a gpu partition ---------
HOST=$(hostname -s)
NODE=$(slurmd -C | head -n 1)
[[ "$NODE" == NodeName=* ]] || fail "slurmd -C printed no node line: $NODE"
: >"$WORK/fake_gpu0"  # gres/gpu needs a File=, or slurmd drops the GPU and the node is INVALID
cat >"$SLURM_CONF" <<EOF
ClusterName=ranksrgan-test
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MpiDefault=none
ReturnToService=2
# finished jobs stay visible to squeue (the profile's status command) for an hour
MinJobAge=3600
$NODE Gres=gpu:1 NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
echo "NodeName=$HOST Name=gpu File=$WORK/fake_gpu0" >/etc/slurm/gres.conf

slurmctld -i
slurmd
for _ in $(seq 60); do
  STATE=$(sinfo -h -n "$HOST" -o %T 2>/dev/null) || STATE=""
  [ "$STATE" = idle ] && break
  for d in slurmctld slurmd; do
    [ -s "$WORK/$d.pid" ] && ! kill -0 "$(cat "$WORK/$d.pid")" 2>/dev/null && fail "$d exited"
  done
  sleep 0.5
done
[ "${STATE:-}" = idle ] || fail "node not idle after 30 s (state: ${STATE:-none})"
say "SLURM up: $(sinfo -h -o '%P %D %T %G' | tr '\n' ';')"

# a probe: the fake GPU can be asked for and allocated (the score jobs need this below)
PROBE=$(sbatch --parsable --wait -p gpu --gpus=1 -t 1 --mem 100 -o /dev/null --wrap true) \
  || fail "a GPU probe job did not run (sbatch --gpus=1 -p gpu)"
grep -Eq "gres[/:]gpu" <<<"$(scontrol show job "$PROBE")" \
  || fail "the GPU probe job $PROBE holds no gres/gpu: $(scontrol show job "$PROBE")"
[ "${PROBE_ONLY:-0}" = 1 ] && { scontrol show job "$PROBE"; exit 0; }

# --- the demo's data, sr and score stages through the profile, then locally ---------------
mapfile -t TARGETS < <("$PY" "$REPO/tests/slurm/demo_run.py" config "$WORK/slurm_run" auto)
mapfile -t LOCAL_TARGETS < <("$PY" "$REPO/tests/slurm/demo_run.py" config "$WORK/local_run" auto)
export PATH="$REPO/.venv/bin:$PATH"
say "snakemake through workflow/profiles/slurm (${#TARGETS[@]} targets)"
# No slurmdbd here, so no accounts: an empty --default-resources drops the profile's
# placeholder account. Status polls start 5 s after a submission instead of 40 s.
"$SNAKEMAKE" "${TARGETS[@]}" -s "$REPO/workflow/Snakefile" \
  --workflow-profile "$REPO/workflow/profiles/slurm" --directory "$WORK/slurm_run" \
  --configfile "$WORK/slurm_run/config.yaml" --default-resources \
  --slurm-init-seconds-before-status-checks 5 --latency-wait 10 \
  >"$WORK/log/snakemake_slurm.log" 2>&1 \
  || { tail -n 60 "$WORK/log/snakemake_slurm.log"; fail "snakemake through SLURM"; }
T_SLURM=$(($(date +%s) - T0))
say "SLURM run done"

# --- every job submitted ended COMPLETED -----------------------------------------------------
SUBMITTED=$(grep -o "submitted with SLURM jobid [0-9]*" "$WORK/log/snakemake_slurm.log" \
  | awk '{print $NF}' | sort -n)
N=$(echo "$SUBMITTED" | grep -c . || true)
[ "$N" -gt 0 ] || fail "no job went through sbatch"
GPU_JOBS=0
for id in $SUBMITTED; do
  ST=$(squeue -h --states=all -j "$id" -o %T 2>/dev/null || true)
  [ "$ST" = COMPLETED ] || fail "job $id: squeue state '${ST:-gone}'"
  grep -q "JobId=$id .*JobState=COMPLETED" "$WORK/log/jobcomp.txt" \
    || fail "job $id: not COMPLETED in the jobcomp record"
  JOB=$(scontrol show job "$id")
  PART=$(grep -o "Partition=[^ ]*" <<<"$JOB" | cut -d= -f2)
  if grep -Eq "gres[/:]gpu" <<<"$JOB"; then
    GPU_JOBS=$((GPU_JOBS + 1))
    [ "$PART" = gpu ] || fail "job $id holds a GPU in partition $PART"
  else
    [ "$PART" = cpu ] || fail "job $id without a GPU in partition $PART"
  fi
done
say "$N jobs COMPLETED (squeue and jobcomp), $GPU_JOBS of them held the (fake) GPU"
[ "$GPU_JOBS" -gt 0 ] || fail "no job asked for a GPU (score jobs with device auto should)"

say "the same targets locally (--cores 2)"
"$SNAKEMAKE" "${LOCAL_TARGETS[@]}" -s "$REPO/workflow/Snakefile" --cores 2 --resources gpu=1 \
  --directory "$WORK/local_run" --configfile "$WORK/local_run/config.yaml" \
  >"$WORK/log/snakemake_local.log" 2>&1 \
  || { tail -n 40 "$WORK/log/snakemake_local.log"; fail "local snakemake"; }
"$PY" "$REPO/tests/slurm/demo_run.py" compare "$WORK/slurm_run/results" "$WORK/local_run/results"
say "PASSED: SLURM part ${T_SLURM}s, total $(($(date +%s) - T0))s"
