"""Issue 17, item 1, in one process: a preemption signal makes the runner finish the iteration,
save ``iter_N.pth`` (recorded in ``last_checkpoint``, one line in the work-dir log) and stop
with :class:`TrainingPreempted` (exit code 75); the signal handlers are given back afterwards.
Bad settings are refused naming the key. (Several processes, the launchers and the resumed
run: tests/integration/test_preemption.py.)"""
import os
import os.path as osp
import signal

import pytest
from mmengine.hooks import Hook

from mmmoco.engine.runner.preemption import PreemptionSignals, TrainingPreempted
from tiny_run import build_runner, log_text, model_state, tiny_config, tiny_images  # noqa: F401


class SendSignal(Hook):
    """Sends this process a signal after iteration ``at``."""

    priority = 'LOWEST'

    def __init__(self, at: int, signum: int) -> None:
        self.at = at
        self.signum = signum

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), self.signum)


def test_a_signal_saves_an_iteration_checkpoint_and_stops(tiny_images, tmp_path):
    runner = build_runner(tiny_config(tiny_images, str(tmp_path)))
    runner.register_hook(SendSignal(at=3, signum=signal.SIGUSR1))
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(TrainingPreempted) as stop:
        runner.train()
    saved = str(tmp_path / 'iter_4.pth')
    assert (stop.value.code, stop.value.checkpoint) == (75, saved)
    assert model_state(saved) and not osp.exists(tmp_path / 'epoch_1.pth')
    with open(tmp_path / 'last_checkpoint', encoding='utf-8') as f:
        assert f.read() == saved
    assert (f'preempted (SIGUSR1): saved {saved} after iteration 4 (epoch 1, batch 4); '
            'continue with --resume') in log_text(str(tmp_path))
    assert signal.getsignal(signal.SIGUSR1) is before


@pytest.mark.parametrize('preemption,match', [
    (dict(signals=['SIGKILL']), r'signals: SIGKILL cannot be caught'),
    (dict(signals='SIGTERM'), r'signals must be a list of signal names'),
    (dict(signals=['SIGNOPE']), r"signals: 'SIGNOPE' is not a signal name"),
    (dict(exit_code=143), r'exit_code must be an int from 1 to 125'),
    (dict(signal=['SIGTERM']), r": unknown key\(s\) \['signal'\]"),
    (['SIGTERM'], r' must be a dict'),
])
def test_bad_preemption_settings_are_refused(tiny_images, tmp_path, preemption, match):
    cfg = tiny_config(tiny_images, str(tmp_path))
    cfg.train_cfg.preemption = preemption
    with pytest.raises(ValueError, match=rf'train_cfg\.preemption\S*{match}'):
        build_runner(cfg).train()


def test_no_signals_leaves_the_handlers_alone():
    before = signal.getsignal(signal.SIGTERM)
    stopper = PreemptionSignals(signals=[])
    stopper.install()
    assert signal.getsignal(signal.SIGTERM) is before
    assert stopper.ignored_in_workers(None) is None
