"""Issue 17, item 8: the multi-node and Slurm paths, on one machine.

- Two "nodes": two tools/dist_train.sh launchers with NNODES=2, NODE_RANK 0/1 and
  MASTER_ADDR=127.0.0.1, one process each: the run finishes with the weights of the 2-process
  single-launcher run (same world size, batch and seeds), bit for bit.
- tools/slurm_train.sh with a stand-in ``srun`` (starts the tasks here with the SLURM_* variables
  mmengine's slurm launcher reads) and ``scontrol`` (``show hostname`` for that launcher,
  ``requeue`` recorded): a job preempted by SIGUSR1 (what slurm_train.sh asks srun to send
  before the time limit) saves, exits 75 and is requeued; its restart, the same command,
  resumes and ends with the weights of the uninterrupted run.
"""
import os
import os.path as osp
import stat
import subprocess

from conftest import ROOT, free_port
from runs import (command_env, run_command, tiny_options, uninterrupted_ddp_run,
                  write_config)
from tiny_run import assert_same_state, model_state, tiny_images  # noqa: F401

SRUN = """#!/usr/bin/env bash
# stand-in for Slurm's srun on one node: records its arguments, starts --ntasks tasks, returns
# the highest exit status (128 + N for a task killed by signal N); kills the tasks still
# running at once when one exits non-zero (--kill-on-bad-exit=1), or --wait seconds after the
# first one ended
echo "srun $*" >> "$SLURM_STANDIN_LOG"
ntasks=1 kill_on_bad_exit=0 wait_s=0
while [ $# -gt 0 ]; do
  case $1 in
    --ntasks=*) ntasks=${1#--ntasks=}; shift ;;
    --kill-on-bad-exit=*) kill_on_bad_exit=${1#--kill-on-bad-exit=}; shift ;;
    --wait=*) wait_s=${1#--wait=}; shift ;;
    -p) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
declare -A running
for ((i = 0; i < ntasks; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$ntasks SLURM_NNODES=1 \\
    SLURM_NODELIST=standin-node "$@" &
  running[$!]=1
done
status=0 killer=
while [ ${#running[@]} -gt 0 ]; do
  if wait -n -p ended "${!running[@]}"; then code=0; else code=$?; fi
  unset "running[$ended]"
  [ "$code" -gt "$status" ] && status=$code
  [ ${#running[@]} -eq 0 ] && break
  if [ "$code" -ne 0 ] && [ "$kill_on_bad_exit" = 1 ]; then kill -9 "${!running[@]}"; fi
  if [ "$wait_s" -gt 0 ] && [ -z "$killer" ]; then
    (sleep "$wait_s"; kill -9 "${!running[@]}") >/dev/null 2>&1 &
    killer=$!
  fi
done
[ -n "$killer" ] && kill "$killer" 2>/dev/null
exit "$status"
"""

SCONTROL = """#!/usr/bin/env bash
# stand-in for Slurm's scontrol: the node's address, and a record of requeues
echo "scontrol $*" >> "$SLURM_STANDIN_LOG"
if [ "$1" = show ]; then echo 127.0.0.1; fi
"""


def _standins(folder: str) -> str:
    """Write the stand-in srun and scontrol; return their folder."""
    bin_dir = osp.join(folder, 'bin')
    os.makedirs(bin_dir)
    for name, text in (('srun', SRUN), ('scontrol', SCONTROL)):
        path = osp.join(bin_dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return bin_dir


def test_two_nodes_on_loopback(tiny_images, tmp_path_factory, tmp_path):
    uninterrupted = uninterrupted_ddp_run(tiny_images, tmp_path_factory)
    config = write_config(str(tmp_path), 'ddp_tiny.py')
    work_dir = str(tmp_path / 'work')
    port = free_port()
    nodes = [subprocess.Popen(
        ['bash', 'tools/dist_train.sh', config, '1', '--work-dir', work_dir, '--cfg-options',
         *tiny_options(tiny_images)], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        env=command_env(port, NNODES='2', NODE_RANK=str(node), MASTER_ADDR='127.0.0.1'))
        for node in range(2)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, out in zip(nodes, outputs):
        assert node.returncode == 0, out[-3000:]
    assert 'MoCo: Shuffle BN across all ranks' in outputs[0]
    for name in ('iter_10.pth', 'epoch_2.pth'):
        assert_same_state(model_state(osp.join(uninterrupted, name)),
                          model_state(osp.join(work_dir, name)))


def test_slurm_job_preempted_requeued_and_resumed(tiny_images, tmp_path_factory, tmp_path):
    uninterrupted = uninterrupted_ddp_run(tiny_images, tmp_path_factory)
    bin_dir = _standins(str(tmp_path))
    log = str(tmp_path / 'slurm.log')
    config = write_config(str(tmp_path), 'slurm_tiny.py', (
        "custom_hooks = [dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, "
        "max_keep_ckpts=-1), dict(type='SignalAtIteration', iteration=3, signal='SIGUSR1', "
        "rank=1)]\n"))
    work_dir = str(tmp_path / 'work')
    env = command_env(SLURM_STANDIN_LOG=log, SLURM_JOB_ID='4242', CPUS_PER_TASK='1',
                      PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    cmd = ['bash', 'tools/slurm_train.sh', 'cpu', 'tiny', config, '2', '--work-dir', work_dir,
           '--cfg-options', *tiny_options(tiny_images)]
    out = run_command(cmd, timeout=600, expect=75, env=env)
    assert '--resume: no checkpoint in' in out  # the first start of the job
    assert 'requeueing job 4242' in out
    with open(log, encoding='utf-8') as f:
        calls = f.read().splitlines()
    assert '--signal=USR1@120' in calls[0].split() and '--ntasks=2' in calls[0].split()
    assert 'scontrol requeue 4242' in calls
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    out = run_command(cmd, timeout=600, env=env)  # the requeued job: the same command
    assert 'resumed in the middle of epoch 1: skipped the 4 batches' in out
    for name in ('iter_10.pth', 'epoch_2.pth'):
        assert_same_state(model_state(osp.join(uninterrupted, name)),
                          model_state(osp.join(work_dir, name)))
