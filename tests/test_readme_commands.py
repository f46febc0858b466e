"""The documentation's commands, walked as a newcomer would after ``bash tools/run_tests.sh``.

Every command of the fenced ``bash``/``shell`` blocks of README.md, docs/data.md and
docs/transfer.md is parsed and must be covered by exactly one rule below: either it is run, as
written, by ``bash -c`` in a scratch copy of the repository (tiny real data under ``data/``:
the 20 sample ImageNet JPEGs and a Fashion-MNIST slice), with the virtualenv *not* activated
(no ``.venv/bin`` on PATH, no PYTHON/PYTHONPATH/VIRTUAL_ENV: the shell tools must find
``.venv`` themselves), and only small overrides appended or placeholders filled in; or it is
skipped for a stated reason (another machine, a server, real datasets). A new or changed
command without a rule fails the test, as does a rule that matches nothing, a repository path
a command names that does not exist, or a command that fails.
"""
import glob
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import pytest
from mmengine.config import Config

from conftest import ROOT, free_port

DOCS = ('README.md', 'docs/data.md', 'docs/transfer.md')
#: Folders whose paths a command may name (checked to exist in the repository).
REPO_FOLDERS = ('configs/', 'tools/', 'docs/', 'requirements/')
#: Files the documented commands create before another command names them.
CREATED = ('configs/my_knn-monitor_tensorboard.py', )

#: Tiny MoCo pretraining: a width-16 ResNet-18 at 32 px, one epoch of 4-image batches.
PRETRAIN = ('model.backbone.depth=18', 'model.backbone.base_channels=16',
            'model.neck.in_channels=128', 'model.single_device_bn_splits=2',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.dataset.pipeline.1.transforms.0.size=32',
            'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1')
#: The matching classifier (linear evaluation, semi-supervised, test.py), 32 px crops.
CLASSIFIER = ('model.backbone.depth=18', 'model.backbone.base_channels=16',
              'model.in_channels=128', 'train_cfg.max_epochs=1',
              'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
              'val_dataloader.batch_size=8', 'val_dataloader.num_workers=0',
              'test_dataloader.num_workers=0', 'train_dataloader.dataset.pipeline.1.size=32',
              'val_dataloader.dataset.pipeline.1.size=36',
              'val_dataloader.dataset.pipeline.2.size=32', 'default_hooks.logger.interval=1')
#: kNN evaluation of that backbone.
KNN = ('model.backbone.depth=18', 'model.backbone.base_channels=16',
       'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
       'train_dataloader.batch_size=8', 'val_dataloader.batch_size=8')
#: The Fashion-MNIST recipe with the kNN monitor: one epoch, monitor after it.
MONITOR = ('train_cfg.max_epochs=1', 'train_dataloader.batch_size=10',
           'train_dataloader.num_workers=0', 'model.queue.queue_len=40',
           'default_hooks.logger.interval=1', 'custom_hooks.0.interval=1',
           'custom_hooks.0.bank_dataloader.num_workers=0',
           'custom_hooks.0.query_dataloader.num_workers=0')
#: The own-images recipe: one epoch of 4-image batches, RankMe on every step.
OWN_IMAGES = ('train_cfg.max_epochs=1', 'train_dataloader.batch_size=4',
              'train_dataloader.num_workers=0', 'model.queue.queue_len=16',
              'model.single_device_bn_splits=2', 'default_hooks.logger.interval=1',
              'custom_hooks.0.interval=1')
#: README placeholders of checkpoints -> the tiny runs' (one epoch).
CHECKPOINTS = ((r'epoch_(200|100)\.pth', 'epoch_1.pth'), )
#: 8 (or 16) devices -> 1 process, except where a rule keeps DDP.
ONE_PROCESS = ((r'(\.py|\.pth) (8|4)\b', r'\1 1'), ) + CHECKPOINTS
TRANSFER_TESTS = 'needs the real dataset; tests/test_transfer runs every config family shrunk'


class Rule(NamedTuple):
    """How the walkthrough treats the commands that ``pattern`` matches (``re.match``).

    Args:
        pattern: Regular expression over the command (continuation lines joined, comments and
            repeated blanks removed).
        skip: Why the command is not run; None runs it.
        options: ``--cfg-options`` appended to the command (the tiny-data overrides).
        args: Other arguments appended.
        subs: ``(regex, replacement)`` pairs applied to the command first (device counts,
            checkpoint placeholders).
        expect: Text the command's output must contain.
    """
    pattern: str
    skip: Optional[str] = None
    options: Sequence[str] = ()
    args: Sequence[str] = ()
    subs: Sequence[Tuple[str, str]] = ()
    expect: Optional[str] = None


RULES = [
    Rule(r'bash tools/demo\.sh', skip='the newcomer command itself (about 25 minutes)'),
    Rule(r'bash tools/run_tests\.sh', skip='the newcomer command that runs this test'),
    Rule(r'pip install ', skip='installs into the current environment; '
         'tests/integration/test_packaging.py installs a wheel and an editable copy into fresh '
         'virtualenvs'),
    Rule(r'mmmoco ', skip='the installed command: tests/integration/test_packaging.py trains '
         'with it from a wheel, tests/test_apis/test_entry_points.py runs list, train and '
         'dist-train from the checkout'),
    Rule(r'MMMOCO_DEMO_CONFIG=\S+ MMMOCO_DEMO_WORK_DIR=\S+ MMMOCO_DEMO_PROCS=1 bash tools/demo\.sh',
         skip='the v3 demo (25 minutes); tests/integration/test_mocov3_ddp.py trains its recipe '
              'on real Fashion-MNIST'),
    # ImageNet pretraining: DDP with two gloo processes, then resume, AMP (bf16 on CPU)
    Rule(r'tools/dist_train\.sh configs/mocov2_r50_8xb32-coslr-200e_in1k\.py 8$', options=PRETRAIN,
         subs=[(r' 8$', ' 2')], expect='Epoch(train) [1]'),
    Rule(r'tools/dist_train\.sh configs/mocov2_r50_8xb32-coslr-200e_in1k\.py 8 --resume',
         options=PRETRAIN + ('train_cfg.max_epochs=2', ), subs=[(r' 8 ', ' 2 ')],
         expect='resumed epoch: 1'),
    Rule(r'tools/dist_train\.sh configs/mocov2_r50_8xb32-coslr-200e_in1k\.py 8 --amp',
         options=PRETRAIN, subs=ONE_PROCESS, expect='Epoch(train) [1]'),
    Rule(r'NNODES=2 ', skip='needs a second machine'),
    Rule(r'tools/slurm_train\.sh ', skip='needs a Slurm cluster (srun)'),
    Rule(r'\.venv/bin/python tools/train\.py configs/mocov1_r50_8xb32-steplr-200e_in1k\.py',
         options=PRETRAIN, expect='Epoch(train) [1]'),
    Rule(r'\.venv/bin/python tools/dataset_converters/make_imagenet_lists\.py',
         expect='meta/val.txt: 20 images'),
    # MoCo v3
    Rule(r'tools/dist_train\.sh configs/mocov3_vit-s16_16xb256-amp-coslr-300e_in1k\.py 8$',
         skip='tests/integration/test_mocov3_ddp.py runs this config under 2-process gloo DDP, '
              'shrunk (2 blocks, 32 px)'),
    Rule(r'\.venv/bin/python tools/model_converters/to_timm\.py ',
         skip='needs a ViT pretraining checkpoint; tests/integration/test_mocov3_ddp.py exports '
              'the DDP run\'s and loads it strictly into timm'),
    # reading a training log
    Rule(r'\.venv/bin/python tools/dataset_converters/prepare_fashion_mnist\.py',
         args=('--train-per-class', '5', '--val-per-class', '3')),
    Rule(r'\.venv/bin/python tools/train\.py configs/mocov2_r18w16-small_1xb128-coslr-80e_'
         r'fashionmnist_knn-monitor\.py', options=MONITOR, expect='kNN after epoch 1'),
    Rule(r'\.venv/bin/python tools/analysis_tools/analyze_logs\.py plot_curve'),
    Rule(r'\.venv/bin/python tools/analysis_tools/analyze_logs\.py summary',
         expect='knn/top1_k20'),
    Rule(r'printf .* > configs/my_knn-monitor_tensorboard\.py'),
    Rule(r'\.venv/bin/python tools/train\.py configs/my_knn-monitor_tensorboard\.py',
         options=MONITOR, expect='kNN after epoch 1'),
    Rule(r'\.venv/bin/tensorboard ', skip='starts a server; the event files are checked below'),
    # evaluation
    Rule(r'\.venv/bin/python tools/model_converters/extract_backbone\.py', subs=CHECKPOINTS),
    Rule(r'\.venv/bin/python tools/model_converters/to_detectron2\.py'),
    Rule(r'\.venv/bin/python tools/model_converters/from_official_moco\.py',
         skip="needs facebookresearch/moco's released file (tests/test_tools/"
              'test_model_converters.py converts official-layout checkpoints)'),
    Rule(r'tools/benchmarks/linear_eval\.sh ', options=CLASSIFIER, subs=ONE_PROCESS,
         expect='Pretrained weights loaded'),
    Rule(r'tools/benchmarks/knn_eval\.sh ', options=KNN, subs=ONE_PROCESS,
         expect='knn_results.json'),
    Rule(r'\.venv/bin/python tools/dataset_converters/make_semi_supervised_subsets\.py',
         expect='train_1percent.txt'),
    Rule(r'tools/dist_train\.sh configs/benchmarks/semi_supervised/', options=CLASSIFIER,
         subs=ONE_PROCESS, expect='Pretrained weights loaded'),
    Rule(r'\.venv/bin/python tools/test\.py ', options=CLASSIFIER, subs=CHECKPOINTS,
         expect='accuracy/top1'),
    # your own images: a flat folder (5 Fashion-MNIST bags written by the command above)
    Rule(r'\.venv/bin/python tools/train\.py configs/mocov2_r18w16-small_1xb128-coslr-80e_'
         r'own-images\.py', options=OWN_IMAGES,
         subs=[('/path/to/images', 'data/fashion_mnist/train/Bag')],
         expect='AutoImageFolder: UnlabeledImageFolder reading every image'),
    # configs: naming and overriding (the README's override values stay)
    Rule(r'\.venv/bin/python tools/train\.py configs/mocov2_r50_8xb32-coslr-200e_in1k\.py '
         r'--work-dir',
         options=PRETRAIN[:4] + ('train_dataloader.batch_size=8', 'train_cfg.max_epochs=1',
                                 'train_dataloader.num_workers=0'),
         expect='Epoch(train) [1]'),
    # docs/transfer.md
    Rule(r'tools/benchmarks/downstream_train\.sh ', skip=TRANSFER_TESTS),
    Rule(r'bash tools/benchmarks/downstream_train\.sh ', skip=TRANSFER_TESTS),
    Rule(r'MM(DET|SEG)_TOOLS=', skip='locates the converters for the real datasets'),
    Rule(r'\.venv/bin/python \$MM(DET|SEG)_TOOLS/', skip='converts the real datasets'),
]


class Command(NamedTuple):
    """One documented command.

    Args:
        doc: The document, relative to the repository root.
        text: The command (continuation lines joined, comment removed).
    """
    doc: str
    text: str


def fenced_blocks(text: str, languages: Sequence[str]) -> List[str]:
    """The bodies of a Markdown document's fenced code blocks in the given languages.

    Args:
        text: The document.
        languages: Info strings to keep, e.g. ``('bash', 'shell')``.

    Returns:
        The blocks' text, in document order.
    """
    pattern = re.compile(r'^\s*```(\w*)\n(.*?)^\s*```', re.S | re.M)
    return [match.group(2) for match in pattern.finditer(text) if match.group(1) in languages]


def block_commands(block: str) -> List[str]:
    """The commands of a shell block: continuation lines joined, comments removed.

    Args:
        block: A fenced block's body.

    Returns:
        The commands, with repeated blanks collapsed.
    """
    joined = re.sub(r'\\\n\s*', ' ', block)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            without_comment = line.split(' #')[0] if '#' in line else line
            commands.append(' '.join(without_comment.split()))
    return commands


def documented_commands() -> List[Command]:
    """Every command of the shell blocks of :data:`DOCS`, in reading order, duplicates once.

    Returns:
        The commands.
    """
    found, seen = [], set()
    for doc in DOCS:
        with open(osp.join(ROOT, doc), encoding='utf-8') as f:
            text = f.read()
        for block in fenced_blocks(text, ('bash', 'shell')):
            for command in block_commands(block):
                if command not in seen:
                    seen.add(command)
                    found.append(Command(doc, command))
    return found


def rule_of(command: Command) -> Rule:
    """The single rule that matches a command.

    Args:
        command: A documented command.

    Returns:
        The rule.

    Raises:
        AssertionError: If no rule or several match.
    """
    matching = [rule for rule in RULES if re.match(rule.pattern, command.text)]
    assert len(matching) == 1, (
        f'{command.doc}: {command.text!r} matches {len(matching)} rules of '
        'tests/test_readme_commands.py; give it exactly one (run it on tiny data or say why not)')
    return matching[0]


def shell_line(command: Command, rule: Rule) -> str:
    """The command line the walkthrough runs: substitutions applied, overrides appended.

    Args:
        command: The documented command.
        rule: Its rule.

    Returns:
        A ``bash -c`` command line.
    """
    text = command.text
    for pattern, replacement in rule.subs:
        text = re.sub(pattern, replacement, text)
    extra = list(rule.args)
    if rule.options:
        extra += ['--cfg-options', *rule.options]
    return ' '.join([text, *map(shlex.quote, extra)])


def newcomer_env() -> Dict[str, str]:
    """The environment of a shell in which the virtualenv was never activated.

    Returns:
        os.environ without PYTHON, PYTHONPATH, VIRTUAL_ENV, MMMOCO_VENV and any virtualenv
        folder on PATH; one thread per process; a free port for DDP.
    """
    venv_bin = osp.realpath(osp.dirname(sys.executable))
    path = [entry for entry in os.environ.get('PATH', '/usr/bin:/bin').split(os.pathsep)
            if entry and osp.realpath(entry) != venv_bin and '.venv' not in entry]
    env = {key: value for key, value in os.environ.items()
           if key not in ('PYTHON', 'PYTHONPATH', 'VIRTUAL_ENV', 'MMMOCO_VENV', 'PYTHONHOME')}
    env.update(PATH=os.pathsep.join(path), OMP_NUM_THREADS='1', PORT=str(free_port()))
    return env


def scratch_checkout(folder: str, sample_imagenet: str) -> str:
    """A copy of the repository a newcomer works in, with tiny real data.

    ``tools`` and ``mmmoco`` are links to the repository, ``configs`` a copy (a documented
    command writes into it), ``.venv`` a link to the test interpreter's virtualenv, and
    ``data/imagenet`` the 20 sample ImageNet JPEGs as class folders (``val`` a copy of
    ``train``).

    Args:
        folder: An empty folder.
        sample_imagenet: The sample ImageNet root (``train/<class>/*.jpg``).

    Returns:
        The folder.
    """
    for name in ('tools', 'mmmoco'):
        os.symlink(osp.join(ROOT, name), osp.join(folder, name))
    os.symlink(sys.prefix, osp.join(folder, '.venv'))
    shutil.copytree(osp.join(ROOT, 'configs'), osp.join(folder, 'configs'))
    for split in ('train', 'val'):
        shutil.copytree(osp.join(sample_imagenet, 'train'),
                        osp.join(folder, 'data', 'imagenet', split))
    return folder


COMMANDS = documented_commands()


def test_every_command_has_exactly_one_rule_and_every_rule_is_used():
    used = {id(rule_of(command)) for command in COMMANDS}
    unused = [rule.pattern for rule in RULES if id(rule) not in used]
    assert not unused, f'rules that match no documented command (stale): {unused}'
    assert sum(rule_of(c).skip is None for c in COMMANDS) >= 20


def test_named_repository_paths_exist():
    for command in COMMANDS:
        for word in shlex.split(command.text, comments=True):
            path = word.split('=', 1)[-1]
            if path.startswith(REPO_FOLDERS) and path not in CREATED:
                assert osp.exists(osp.join(ROOT, path)), f'{command.doc}: {path} does not exist'


@pytest.mark.parametrize('override,expected', [
    ({}, '{root}/.venv/bin/python'),
    ({'PYTHON': '/opt/other/python'}, '/opt/other/python'),
    ({'MMMOCO_VENV': '{root}/elsewhere'}, 'python3'),
])
def test_shell_tools_pick_the_project_venv(override, expected, tmp_path):
    """tools/python_env.sh: PYTHON wins, else MMMOCO_VENV or the checkout's .venv, else PATH."""
    os.symlink(osp.join(ROOT, 'tools'), tmp_path / 'tools')
    os.makedirs(tmp_path / '.venv' / 'bin')
    (tmp_path / '.venv' / 'bin' / 'python').write_text('#!/bin/sh\n')
    (tmp_path / '.venv' / 'bin' / 'python').chmod(0o755)
    env = dict(newcomer_env(), **{k: v.format(root=tmp_path) for k, v in override.items()})
    out = subprocess.run(['bash', '-c', f'root={tmp_path}; source tools/python_env.sh; '
                          'echo "$PYTHON"; echo "$PYTHONPATH"'], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout.split('\n')
    assert out[:2] == [expected.format(root=tmp_path), str(tmp_path)]


def config_and_options(command: Command) -> Tuple[Optional[str], List[str]]:
    """The config a command names and the keys of its ``--cfg-options``.

    Args:
        command: A documented command.

    Returns:
        The config path (or None) and the override keys.
    """
    words = shlex.split(command.text, comments=True)
    config = next((w for w in words if w.startswith('configs/') and w.endswith('.py')), None)
    keys = []
    if '--cfg-options' in words:
        for word in words[words.index('--cfg-options') + 1:]:
            if word.startswith('-'):
                break
            keys.append(word.split('=', 1)[0])
    return config, keys


def has_key(cfg: Config, key: str) -> bool:
    """Whether a dotted key (list items by index) exists in a config.

    Args:
        cfg: The config.
        key: E.g. ``model.backbone.norm_cfg.type``.

    Returns:
        Whether every part of the path exists.
    """
    node = cfg.to_dict()
    for part in key.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


@pytest.mark.parametrize('command', [c for c in COMMANDS if rule_of(c).skip is not None
                                     and config_and_options(c)[1]],
                         ids=lambda c: c.text[:60])
def test_overrides_of_commands_not_run_name_existing_keys(command):
    """The commands the walkthrough cannot run still name config keys that exist."""
    config, keys = config_and_options(command)
    base = open(osp.join(ROOT, config), encoding='utf-8').read()
    for scope in ('mmdet', 'mmseg'):
        if f"'{scope}::" in base:
            pytest.importorskip(scope)
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert [key for key in keys if not has_key(cfg, key)] == []


def test_readme_hook_list_matches_the_example_config():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        blocks = fenced_blocks(f.read(), ('python', ))
    [hook_block] = [block for block in blocks if 'custom_hooks' in block]
    example = Config.fromfile(osp.join(
        ROOT, 'configs', 'mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist_knn-monitor.py'))
    assert (re.findall(r"type='(\w+)'", hook_block)
            == [hook['type'] for hook in example.custom_hooks])


@pytest.fixture(scope='module')
def walkthrough(sample_imagenet, tmp_path_factory) -> Dict[str, Tuple[str, object]]:
    """Run every command with a run rule, in reading order, in a scratch checkout.

    Returns:
        ``{command text: (scratch folder, finished process)}``; the walk stops at the first
        failure (later commands build on earlier ones).
    """
    from mmmoco.datasets.sources.fashion_mnist import find_fashion_mnist
    try:
        find_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    if sys.prefix == sys.base_prefix:
        pytest.skip('the walkthrough needs the tests to run in the project virtualenv')
    root = scratch_checkout(str(tmp_path_factory.mktemp('newcomer')), sample_imagenet)
    env = newcomer_env()
    results = {}
    for command in COMMANDS:
        rule = rule_of(command)
        if rule.skip is not None:
            continue
        result = subprocess.run(['bash', '-c', shell_line(command, rule)], cwd=root, env=env,
                                capture_output=True, text=True, timeout=600)
        results[command.text] = (root, result)
        if result.returncode != 0:
            break
    return results


@pytest.mark.parametrize('command', [c for c in COMMANDS if rule_of(c).skip is None],
                         ids=lambda c: c.text[:60])
def test_documented_command_works(command, walkthrough):
    assert command.text in walkthrough, 'not reached: an earlier command failed'
    _, result = walkthrough[command.text]
    output = result.stdout + result.stderr
    assert result.returncode == 0, f'{command.doc}: {command.text}\n{output[-6000:]}'
    expected = rule_of(command).expect
    assert expected is None or expected in output, f'{expected!r} not in:\n{output[-4000:]}'
    assert 'Failed to search registry' not in output
    assert 'No module named' not in output


def test_tensorboard_and_plots_from_the_documented_runs(walkthrough):
    root, _ = next(iter(walkthrough.values()))
    events = glob.glob(osp.join(root, 'work_dirs', 'tb', '*', 'vis_data', 'events.out.*'))
    assert len(events) == 1
    for image in ('curves.png', 'knn.png'):
        with open(osp.join(root, image), 'rb') as f:
            assert f.read(4) == b'\x89PNG'


def test_torchvision_snippet_loads_an_extracted_resnet50(tmp_path):
    """The README's three lines, on a ResNet-50 backbone extracted with the README's tool."""
    import torch
    from mmmoco.registry import MODELS
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='ResNet', depth=50))
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()},
                'meta': dict(epoch=200)}, tmp_path / 'epoch_200.pth')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'model_converters',
                                             'extract_backbone.py'), 'epoch_200.pth',
                    'backbone.pth'], cwd=tmp_path, check=True, capture_output=True,
                   env=dict(os.environ, PYTHONPATH=ROOT))
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        [snippet] = [b for b in fenced_blocks(f.read(), ('python', )) if 'torchvision' in b]
    namespace = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(snippet, namespace)  # noqa: S102 - the README's own code
    finally:
        os.chdir(cwd)
    model = namespace['model']
    assert torch.equal(model.layer4[2].conv3.weight, backbone.layer4[2].conv3.weight)
