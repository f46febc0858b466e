"""Issue 9, items 1 and 6 (files): a checkpoint is data. A config string stored in it is never
executed (``--resume``, ``load_from``, ``tools/test.py``), and an empty, truncated or foreign
file is refused with its name and the cause.

mmengine's ``Runner.resume`` passed ``checkpoint['meta']['config']`` to ``Config.fromstring``,
which executes it as Python: the payload below then created its marker file.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import ROOT
from mmmoco.registry import MODELS
from mmmoco.utils import load_checkpoint_file
from tiny_run import build_runner, log_text, tiny_config, tiny_images, trained_run  # noqa: F401

PAYLOAD = "x = __import__('os').system('touch {marker}')"
LINEAR = osp.join(ROOT, 'configs', 'benchmarks', 'linear_eval',
                  'resnet18w16-small_linear-1xb256-coslr-10e_fashionmnist.py')


@pytest.fixture
def crafted(tiny_images, tmp_path_factory, tmp_path):
    """A real training checkpoint whose meta['config'] runs ``touch MARKER`` if parsed."""
    source = osp.join(trained_run(tiny_images, tmp_path_factory), 'epoch_2.pth')
    checkpoint = load_checkpoint_file(source)
    marker = tmp_path / 'MARKER'
    checkpoint['meta']['config'] = PAYLOAD.format(marker=marker)
    path = str(tmp_path / 'crafted.pth')
    torch.save(checkpoint, path)
    return path, marker


def test_the_payload_is_live(tmp_path):
    """The payload does run when parsed as a config (so the tests below can fail)."""
    marker = tmp_path / 'LIVE'
    Config.fromstring(PAYLOAD.format(marker=marker), '.py')
    assert marker.exists()


@pytest.mark.parametrize('resume', [True, False], ids=['resume', 'load_from'])
def test_config_in_checkpoint_is_never_executed(crafted, tiny_images, tmp_path, resume):
    path, marker = crafted
    work_dir = str(tmp_path / 'work')
    runner = build_runner(tiny_config(tiny_images, work_dir, resume=resume, load_from=path))
    runner.load_or_resume()
    assert not marker.exists()
    assert runner.iter == (10 if resume else 0)
    log = log_text(work_dir)
    assert f"{path}: ignoring the field meta['config']" in log, log


def _linear_classifier_checkpoint(path: str, marker) -> None:
    """A checkpoint of the linear-evaluation classifier (20 classes) with the payload."""
    cfg = Config.fromfile(LINEAR)
    cfg.model.num_classes = 20
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(config=PAYLOAD.format(marker=marker))), path)


def _test_tool(checkpoint: str, data_root: str, work_dir: str, *options: str):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable, 'tools/test.py', LINEAR, checkpoint, '--work-dir', work_dir,
         '--cfg-options', 'model.num_classes=20', f'test_dataloader.dataset.data_root={data_root}',
         'test_dataloader.dataset.ann_file=', 'test_dataloader.dataset.data_prefix=train',
         'test_dataloader.num_workers=0', 'test_dataloader.batch_size=10', *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_test_tool_never_executes_the_config_and_is_strict(tiny_images, tmp_path_factory,
                                                           tmp_path):
    """tools/test.py: the payload is ignored (rc 0); a pretraining checkpoint given to the
    linear classifier is refused with the mismatching keys named (it used to report top-1 5.0
    from a random fc layer with rc 0), also with ``load_from_strict=False``."""
    marker = tmp_path / 'MARKER'
    classifier = str(tmp_path / 'classifier.pth')
    _linear_classifier_checkpoint(classifier, marker)
    result = _test_tool(classifier, tiny_images, str(tmp_path / 'ok'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not marker.exists()
    assert "ignoring the field meta['config']" in result.stdout + result.stderr

    pretraining = osp.join(trained_run(tiny_images, tmp_path_factory), 'epoch_2.pth')
    result = _test_tool(pretraining, tiny_images, str(tmp_path / 'bad'),
                        'load_from_strict=False')
    assert result.returncode != 0
    assert f"the weights in '{pretraining}' do not match the model" in result.stderr
    assert 'missing from the checkpoint: ' in result.stderr and 'fc.weight' in result.stderr


@pytest.fixture
def bad_files(tiny_images, tmp_path_factory, tmp_path):
    """An empty file, a truncated checkpoint, a text file and an image, by name."""
    source = osp.join(trained_run(tiny_images, tmp_path_factory), 'epoch_2.pth')
    with open(source, 'rb') as f:
        data = f.read()
    files = {'empty': b'', 'truncated': data[:len(data) // 2], 'text': b'not a checkpoint\n'}
    paths = {}
    for name, content in files.items():
        paths[name] = str(tmp_path / f'{name}.pth')
        with open(paths[name], 'wb') as f:
            f.write(content)
    paths['image'] = str(tmp_path / 'image.pth')
    shutil.copy(next(osp.join(root, name) for root, _, names in os.walk(tiny_images)
                     for name in names if name.endswith('.png')), paths['image'])
    return paths


@pytest.mark.parametrize('kind, cause', [
    ('empty', r'the file is empty \(0 bytes\)'),
    ('truncated', r'it is truncated'),
    ('text', r'it is not a torch checkpoint \(neither a zip archive nor a pickle\)'),
    ('image', r'it is not a torch checkpoint'),
])
@pytest.mark.parametrize('resume', [True, False], ids=['resume', 'load_from'])
def test_unreadable_checkpoint_names_the_file(bad_files, tiny_images, tmp_path, kind, cause,
                                              resume):
    path = bad_files[kind]
    work_dir = str(tmp_path / 'work')
    runner = build_runner(tiny_config(tiny_images, work_dir, resume=resume, load_from=path))
    with pytest.raises(ValueError, match=rf"cannot load checkpoint '{path}' \(\d+ bytes\): "
                                         + cause):
        runner.load_or_resume()
    assert f"cannot load checkpoint '{path}'" in log_text(work_dir)


def test_resume_from_a_weights_only_file_says_to_use_load_from(tiny_images, tmp_path_factory,
                                                               tmp_path):
    source = osp.join(trained_run(tiny_images, tmp_path_factory), 'epoch_2.pth')
    path = str(tmp_path / 'weights.pth')
    torch.save(dict(state_dict=load_checkpoint_file(source)['state_dict']), path)
    runner = build_runner(tiny_config(tiny_images, str(tmp_path / 'work'), resume=True,
                                      load_from=path))
    with pytest.raises(ValueError, match=rf"cannot resume from '{path}': it is not a training "
                                         r'checkpoint .* use load_from without --resume'):
        runner.load_or_resume()


def test_test_tool_checks_out_first_and_refuses_non_finite_weights(tiny_images, tmp_path):
    """Issue 17, item 5: ``--out`` into a missing folder used to fail after the whole
    evaluation; it is created first, and a path it cannot write stops before evaluating. A
    classifier with a NaN BN running_var used to give a top-1 written as a result."""
    classifier = str(tmp_path / 'classifier.pth')
    _linear_classifier_checkpoint(classifier, tmp_path / 'MARKER')
    out = tmp_path / 'new' / 'folder' / 'metrics.json'
    result = _test_tool(classifier, tiny_images, str(tmp_path / 'ok'), '--out', str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'accuracy/top1' in json.loads(out.read_text())

    blocked = tmp_path / 'a_file'
    blocked.write_text('')
    result = _test_tool(classifier, tiny_images, str(tmp_path / 'blocked'), '--out',
                        str(blocked / 'metrics.json'))
    assert result.returncode != 0
    assert f'cannot create {blocked} for --out {blocked}/metrics.json' in result.stderr
    assert not osp.exists(tmp_path / 'blocked')  # stopped before the runner was built

    data = torch.load(classifier)
    data['state_dict']['backbone.bn1.running_var'][:2] = float('nan')
    torch.save(data, classifier)
    result = _test_tool(classifier, tiny_images, str(tmp_path / 'nan'), '--out',
                        str(tmp_path / 'nan.json'))
    assert result.returncode != 0 and not osp.exists(tmp_path / 'nan.json')
    assert 'backbone.bn1.running_var (2 NaN, 0 Inf)' in result.stderr
