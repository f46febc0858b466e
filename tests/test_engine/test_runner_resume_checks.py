"""Issue 17, item 3: resume checks what it resumes. A checkpoint records its position
(processes, batch size per process, dataset length, iterations per epoch) and its training
config; a resumed run continues by images seen or stops naming what changed, and never runs
an empty epoch or rotates out a trained checkpoint for one.

Before the fix (20 images, batch 4: 5 iterations an epoch), resuming ``epoch_1.pth`` with
batch 10 ran epoch 2 with 0 iterations and wrote ``epoch_2.pth``; with batch 2 it stopped with
``SampleSeedSampler: start must be an int >= 0``; on 12 images it trained 1 iteration of
epoch 2; a new learning rate was silently overridden by the optimizer state; a longer
``max_epochs`` kept the cosine's end; a finished run resumed with no word.
"""
import os
import os.path as osp
import shutil

import pytest
from mmengine.hooks import Hook

from mmmoco.engine.runner.resume_checks import (ResumeMismatchError, config_fingerprint,
                                                resume_iteration)
from mmmoco.utils import load_checkpoint_file
from tiny_run import build_runner, copied_run, log_text, tiny_config, tiny_images  # noqa: F401


class CountIterations(Hook):
    """Counts the iterations trained, per epoch."""

    def __init__(self) -> None:
        self.per_epoch = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.per_epoch[runner.epoch + 1] = self.per_epoch.get(runner.epoch + 1, 0) + 1


@pytest.fixture
def finished(tiny_images, tmp_path_factory, tmp_path) -> str:
    """A copy of a finished 2-epoch run (epoch_1.pth, epoch_2.pth, last_checkpoint)."""
    return copied_run(tiny_images, tmp_path_factory, str(tmp_path / 'work'))


def _files(work_dir: str) -> dict:
    return {name: os.stat(osp.join(work_dir, name)).st_mtime_ns for name in os.listdir(work_dir)
            if name.endswith('.pth') or name == 'last_checkpoint'}


def _resume(tiny_images, work_dir, checkpoint, **options):
    cfg = tiny_config(tiny_images, work_dir, resume=True, log_level='INFO',
                      load_from=osp.join(work_dir, checkpoint) if checkpoint else None, **options)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 2
    runner = build_runner(cfg)
    counter = CountIterations()
    runner.register_hook(counter)
    return runner, counter


@pytest.fixture
def twelve_images(tiny_images, tmp_path) -> str:
    """The first 12 of the 20 tiny images (3 iterations an epoch at batch 4)."""
    root = tmp_path / 'twelve'
    kept = 0
    for folder in sorted(os.listdir(osp.join(tiny_images, 'train'))):
        for name in sorted(os.listdir(osp.join(tiny_images, 'train', folder))):
            if kept < 12:
                (root / 'train' / folder).mkdir(parents=True, exist_ok=True)
                shutil.copy(osp.join(tiny_images, 'train', folder, name),
                            root / 'train' / folder / name)
                kept += 1
    return str(root)


@pytest.mark.parametrize('change,per_epoch', [('batch_10', 2), ('batch_2', 10),
                                              ('12_images', 3)])
def test_epoch_checkpoint_continues_by_images_seen(tiny_images, twelve_images, finished, tmp_path,
                                                   change, per_epoch):
    """epoch_1.pth (5 iterations of 4 images) resumed with another batch size or dataset:
    epoch 2 trains all its iterations, the counters and the cosine follow the new iterations
    per epoch, as in a run trained that way from the start."""
    options = {'batch_10': dict(batch_size=10), 'batch_2': dict(batch_size=2),
               '12_images': {'train_dataloader.dataset.data_root': twelve_images}}[change]
    runner, counter = _resume(tiny_images, finished, 'epoch_1.pth', **options)
    runner.train()
    assert counter.per_epoch == {2: per_epoch}
    assert runner.iter == 2 * per_epoch
    assert f'iterations per epoch 5 -> {per_epoch}' in log_text(finished)
    resumed = load_checkpoint_file(osp.join(finished, 'epoch_2.pth'))
    assert resumed['meta']['iter'] == 2 * per_epoch
    assert resumed['meta']['train_position']['iters_per_epoch'] == per_epoch

    reference = tiny_config(tiny_images, str(tmp_path / 'reference'), **options)
    build_runner(reference).train()
    expected = load_checkpoint_file(str(tmp_path / 'reference' / 'epoch_2.pth'))
    got, want = resumed['param_schedulers'][0], expected['param_schedulers'][0]
    for key in ('T_max', 'begin', 'end', 'last_step', '_global_step'):
        assert got[key] == want[key], key
    lr = [group['lr'] for group in resumed['optimizer']['param_groups']]
    assert lr == pytest.approx([group['lr'] for group in expected['optimizer']['param_groups']],
                               abs=1e-12)


def test_mid_epoch_checkpoint_with_another_batch_size_is_refused(tiny_images, tmp_path):
    """iter_3.pth (3 of 5 iterations of epoch 1) resumed with batch 2: the 12 images already
    seen cannot be mapped onto batches of 2 of another order; nothing is written."""
    work_dir = str(tmp_path)
    cfg = tiny_config(tiny_images, work_dir, epochs=1)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False, interval=3)
    build_runner(cfg).train()
    before = _files(work_dir)
    runner, counter = _resume(tiny_images, work_dir, 'iter_3.pth', epochs=1, batch_size=2)
    with pytest.raises(ResumeMismatchError, match=r'in the middle of epoch 1 \(3 of 5 iterations '
                                                  r'done\).*batch size per process 4 -> 2, '
                                                  r'iterations per epoch 5 -> 10'):
        runner.train()
    assert counter.per_epoch == {} and _files(work_dir) == before


def test_changed_learning_rate_is_refused_even_when_changes_are_allowed(tiny_images, finished):
    before = _files(finished)
    for allow in (False, True):
        runner, _ = _resume(tiny_images, finished, None, resume_allow_config_changes=allow,
                            **{'optim_wrapper.optimizer.lr': 0.6})
        with pytest.raises(ResumeMismatchError) as error:
            runner.train()
        assert 'optim_wrapper.optimizer.lr: 0.06 -> 0.6' in str(error.value)
        assert 'optimizer state in the checkpoint holds the optimizer settings' in str(error.value)
    assert _files(finished) == before


def test_longer_schedule_is_applied_and_logged(tiny_images, finished):
    """max_epochs 2 -> 3 (T_max and end with it, as tools/train.py's override does): epoch 3
    trains on a cosine that ends at epoch 3 (the checkpoint's cosine ended at epoch 2)."""
    runner, counter = _resume(tiny_images, finished, None, **{
        'train_cfg.max_epochs': 3, 'param_scheduler.0.T_max': 3, 'param_scheduler.0.end': 3})
    runner.train()
    assert counter.per_epoch == {3: 5}
    scheduler = load_checkpoint_file(osp.join(finished, 'epoch_3.pth'))['param_schedulers'][0]
    assert (scheduler['T_max'], scheduler['end'], scheduler['_global_step']) == (15, 15, 15)
    log = log_text(finished)
    assert 'with another length of training' in log and 'train_cfg.max_epochs: 2 -> 3' in log


def test_other_config_change_is_refused_unless_allowed(tiny_images, finished):
    before = _files(finished)
    runner, _ = _resume(tiny_images, finished, 'epoch_1.pth',
                        **{'model.head.temperature': 0.5})
    with pytest.raises(ResumeMismatchError, match=r'(?s)model\.head\.temperature: 0\.07 -> 0\.5'
                                                  r'.*resume_allow_config_changes=True'):
        runner.train()
    assert _files(finished) == before
    runner, counter = _resume(tiny_images, finished, 'epoch_1.pth',
                              resume_allow_config_changes=True,
                              **{'model.head.temperature': 0.5})
    runner.train()
    assert counter.per_epoch == {2: 5} and runner.model.head.temperature == 0.5
    assert 'model.head.temperature: 0.07 -> 0.5' in log_text(finished)


def test_finished_run_says_it_is_complete_and_writes_nothing(tiny_images, finished):
    before = _files(finished)
    runner, counter = _resume(tiny_images, finished, None)
    runner.train()
    assert counter.per_epoch == {} and _files(finished) == before
    assert 'is the end of training (epoch 2 of train_cfg.max_epochs=2): the run is already ' \
           'complete' in log_text(finished)


def test_checkpoint_beyond_max_epochs_is_an_error(tiny_images, finished):
    runner, _ = _resume(tiny_images, finished, None, **{'train_cfg.max_epochs': 1})
    with pytest.raises(ResumeMismatchError, match=r'trained for 2 epochs, more than this run\'s '
                                                  r'train_cfg\.max_epochs=1'):
        runner.train()


def _meta(epoch, iteration, **position):
    saved = dict(world_size=1, batch_size=8, dataset_length=40, iters_per_epoch=5)
    return dict(epoch=epoch, iter=iteration, train_position={**saved, **position})


def test_another_number_of_processes_continues_from_an_epoch_end_only():
    """1 -> 2 processes (the total batch doubles: 3 iterations an epoch): from the end of
    epoch 2 the run continues at iteration 6; in the middle of epoch 3 it is refused. Before
    the fix iteration 10 was kept: epochs 3-5 ran 0 iterations and rotated epoch_2.pth out."""
    now = dict(world_size=2, batch_size=8, dataset_length=40, iters_per_epoch=3)
    assert resume_iteration('epoch_2.pth', _meta(2, 10), now) == 6
    with pytest.raises(ResumeMismatchError, match=r'number of processes 1 -> 2, iterations per '
                                                  r'epoch 5 -> 3.*epoch_2\.pth'):
        resume_iteration('iter_12.pth', _meta(2, 12), now)
    same = dict(world_size=1, batch_size=8, dataset_length=40, iters_per_epoch=5)
    assert resume_iteration('iter_12.pth', _meta(2, 12), same) == 12


def test_checkpoint_without_a_position_record_must_fit_the_run():
    """An older checkpoint (no train_position): counters that cannot belong to this run's
    iterations per epoch are refused instead of running empty or negative epochs."""
    now = dict(world_size=1, batch_size=2, dataset_length=40, iters_per_epoch=20)
    with pytest.raises(ResumeMismatchError, match=r'do not fit 20 iterations per epoch of this '
                                                  r'run: the batch size'):
        resume_iteration('epoch_2.pth', dict(epoch=2, iter=10), now)
    assert resume_iteration('epoch_2.pth', dict(epoch=2, iter=40), now) == 40


def test_config_fingerprint_ignores_paths_logging_and_loader_speed(tiny_images, tmp_path):
    base = tiny_config(tiny_images, str(tmp_path / 'a'))
    moved = tiny_config(str(tmp_path / 'elsewhere'), str(tmp_path / 'b'), num_workers=2,
                        resume=True, load_from='x.pth', launcher='pytorch',
                        **{'default_hooks.logger.interval': 7,
                           'default_hooks.checkpoint.interval': 3,
                           'train_dataloader.persistent_workers': True})
    moved.custom_hooks = [dict(type='KNNEvalHook', interval=1)]
    assert config_fingerprint(base)['sha256'] == config_fingerprint(moved)['sha256']
    changed = tiny_config(tiny_images, str(tmp_path / 'a'), **{'model.head.temperature': 0.5})
    assert config_fingerprint(changed)['values']['model.head.temperature'] == '0.5'
    assert config_fingerprint(base)['sha256'] != config_fingerprint(changed)['sha256']
    assert all(isinstance(value, str) for value in config_fingerprint(base)['values'].values())
