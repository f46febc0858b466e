#!/usr/bin/env bash
# Training under Slurm: tools/slurm_train.sh PARTITION JOB_NAME CONFIG GPUS [train.py args]
# Env: GPUS_PER_NODE (default 8), CPUS_PER_TASK (default 5), SRUN_ARGS (extra srun options),
# PORT (rendezvous port, default 29500), SIGNAL_AHEAD (seconds before the time limit at which
# the tasks get SIGUSR1, default 120), TASK_END_WAIT (seconds srun waits for the other tasks
# once one has ended before it kills them, default 60), PYTHON (default: the project's
# .venv/bin/python when it exists, else python3).
# Preemption and time limits: SIGNAL_AHEAD seconds before the time limit (srun --signal), or
# when Slurm preempts the job (SIGTERM), every task finishes its iteration, they save an
# iteration checkpoint together and exit with 75. Inside a batch job (SLURM_JOB_ID set; submit
# it with --requeue) the job is then requeued (scontrol requeue) and runs this same command
# again: --resume continues from the newest checkpoint of the work dir, or starts fresh when
# there is none. Run from a login node, run the same command again to continue.
# A task that fails (or finds a frozen or dead peer) ends with an error naming the rank; srun
# kills the tasks still running TASK_END_WAIT seconds after the first one ended. (Not
# --kill-on-bad-exit: it would kill the tasks still exiting after a preemption save, and srun
# would then report 137 instead of 75.)
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=$4
shift 4
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PREEMPTED=75  # mmmoco.engine.runner.preemption.PREEMPTED_EXIT_CODE
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/tools/python_env.sh"
export MASTER_PORT=${PORT:-29500}
# Slurm's SIGTERM on preemption also reaches this shell: wait for the tasks to save
trap 'echo "slurm_train.sh: SIGTERM received: the tasks save a checkpoint and stop" >&2' TERM
status=0
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
  --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --wait="${TASK_END_WAIT:-60}" --signal=USR1@"${SIGNAL_AHEAD:-120}" $SRUN_ARGS \
  "$PYTHON" -u "$here/train.py" "$CONFIG" --launcher slurm --resume "$@" || status=$?
if [ "$status" -eq "$PREEMPTED" ]; then
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "slurm_train.sh: preempted, checkpoint saved; requeueing job $SLURM_JOB_ID" >&2
    scontrol requeue "$SLURM_JOB_ID" || echo "slurm_train.sh: scontrol requeue failed (was" \
      "the job submitted with --requeue?); submit it again to continue" >&2
  else
    echo "slurm_train.sh: preempted, checkpoint saved; run the same command to continue" >&2
  fi
fi
exit "$status"
