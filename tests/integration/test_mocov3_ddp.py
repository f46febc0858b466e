"""End to end MoCo v3: the ViT-S recipe under 2-process gloo DDP through tools/dist_train.sh
(issue 8's "Done when" command, shrunk on the command line), its export to timm, and the
Fashion-MNIST demo recipe for a few iterations.
"""
import os.path as osp
import sys
from typing import List

import pytest
import torch

from conftest import ROOT, fashion_mnist_slice, free_port
from mmmoco.utils import load_checkpoint_file
from runs import run_command as run
from tiny_run import log_text

VIT_CONFIG = osp.join(ROOT, 'configs', 'mocov3_vit-s16_16xb256-amp-coslr-300e_in1k.py')
DEMO_CONFIG = osp.join(ROOT, 'configs', 'mocov3_r18w16-small_1xb128-coslr-40e_fashionmnist.py')

#: The tiny ViT the ViT-S recipe is shrunk to: 32-px images, 16-px patches (4 + 1 tokens).
TINY_VIT = dict(embed_dims=64, depth=2, num_heads=4, img_size=32, patch_size=16)


def tiny_vit_options(data_root: str) -> List[str]:
    """--cfg-options that shrink the ViT-S recipe to 2 images per rank and a 2-block ViT.

    The learning rate is set (not scaled by the tiny batch) so that one warm-up epoch moves
    the weights measurably.
    """
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.pin_memory=False', 'train_cfg.max_epochs=2',
            f"model.backbone.img_size={TINY_VIT['img_size']}",
            f"model.backbone.arch.embed_dims={TINY_VIT['embed_dims']}",
            f"model.backbone.arch.depth={TINY_VIT['depth']}",
            f"model.backbone.arch.num_heads={TINY_VIT['num_heads']}",
            f"model.neck.in_channels={TINY_VIT['embed_dims']}",
            'model.neck.hidden_channels=64', 'model.predictor.hidden_channels=64',
            f"train_dataloader.dataset.pipeline.1.transforms.0.0.size={TINY_VIT['img_size']}",
            f"train_dataloader.dataset.pipeline.1.transforms.1.0.size={TINY_VIT['img_size']}",
            'auto_scale_lr.enable=False', 'optim_wrapper.optimizer.lr=0.01',
            'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1']


@pytest.fixture(scope='module')
def vit_ddp_run(sample_imagenet, tmp_path_factory) -> dict:
    """Two epochs of the ViT-S recipe (tiny) on 2 gloo processes, a checkpoint per epoch."""
    work_dir = str(tmp_path_factory.mktemp('mocov3_ddp'))
    out = run(['bash', 'tools/dist_train.sh', VIT_CONFIG, '2', '--work-dir', work_dir,
               *tiny_vit_options(sample_imagenet)],
              port=free_port())
    return dict(out=out, work_dir=work_dir)


def test_vit_recipe_trains_under_two_process_gloo_ddp(vit_ddp_run):
    out = vit_ddp_run['out']
    log = log_text(vit_ddp_run['work_dir'])  # the environment dump goes to the log file only
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log
    # the recipe's SyncBN projector/predictor run as BN on CPU: 2 + 1 and 1 + 1 BN layers
    assert 'MoCoV3: CUDA is not available, so its 5 SyncBN layers run as plain BN' in out
    first = load_checkpoint_file(osp.join(vit_ddp_run['work_dir'], 'epoch_1.pth'))
    second = load_checkpoint_file(osp.join(vit_ddp_run['work_dir'], 'epoch_2.pth'))
    # 20 images / 2 ranks / 2 per rank = 5 steps per epoch
    assert first['meta']['iter'] == 5 and second['meta']['iter'] == 10
    loss = second['message_hub']['log_scalars']['train/loss'].current()
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    a, b = first['state_dict'], second['state_dict']
    assert not any(key.startswith('queue.') for key in b)  # v3 has no queue
    assert b['backbone.pos_embed'].shape == (1, 5, TINY_VIT['embed_dims'])
    for key in ('backbone.blocks.0.attn.qkv.weight', 'predictor.mlp.0.weight',
                'momentum_backbone.blocks.0.attn.qkv.weight'):
        assert not torch.equal(a[key], b[key]), key
    # the key encoder trails the query encoder
    assert not torch.equal(b['backbone.blocks.0.attn.qkv.weight'],
                           b['momentum_backbone.blocks.0.attn.qkv.weight'])
    # --stop-grad-conv1: the random patch projection and the sin-cos positions never move,
    # and the key encoder's copy of them stays identical
    for key in ('patch_embed.proj.weight', 'patch_embed.proj.bias', 'pos_embed'):
        assert torch.equal(a[f'backbone.{key}'], b[f'backbone.{key}']), key
        assert torch.equal(b[f'backbone.{key}'], b[f'momentum_backbone.{key}']), key


def test_vit_checkpoint_of_the_ddp_run_exports_to_timm(vit_ddp_run, tmp_path):
    timm = pytest.importorskip('timm')
    checkpoint = osp.join(vit_ddp_run['work_dir'], 'epoch_2.pth')
    output = str(tmp_path / 'vit_timm.pth')
    run([sys.executable, 'tools/model_converters/to_timm.py', checkpoint, output])
    reference = timm.models.vision_transformer.VisionTransformer(
        img_size=TINY_VIT['img_size'], patch_size=TINY_VIT['patch_size'],
        embed_dim=TINY_VIT['embed_dims'], depth=TINY_VIT['depth'],
        num_heads=TINY_VIT['num_heads'], num_classes=0)
    timm.models.load_checkpoint(reference, output, strict=True)
    state = load_checkpoint_file(checkpoint)['state_dict']
    torch.testing.assert_close(reference.blocks[1].mlp.fc2.weight,
                               state['backbone.blocks.1.mlp.fc2.weight'])


def test_mocov3_demo_recipe_trains_on_real_fashion_mnist(tmp_path):
    """The 2-core v3 recipe for 5 iterations on a slice of the real Fashion-MNIST."""
    data = fashion_mnist_slice(str(tmp_path / 'fmnist'), 8, 1)
    out = run([sys.executable, 'tools/train.py', DEMO_CONFIG, '--work-dir',
               str(tmp_path / 'work'), '--cfg-options',
               f'train_dataloader.dataset.data_root={data}', 'train_dataloader.batch_size=16',
               'train_dataloader.num_workers=0', 'train_cfg.max_epochs=1',
               'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1'])
    assert 'SyncBN layers run as plain BN' not in out  # a one-device recipe: plain BN
    ckpt = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_1.pth'))
    # 80 images / 16 per batch = 5 steps; the momentum rose along its half-cosine to 1
    assert ckpt['meta']['iter'] == 5
    assert ckpt['message_hub']['log_scalars']['train/momentum'].current() == pytest.approx(1.0)
    assert torch.isfinite(torch.tensor(
        ckpt['message_hub']['log_scalars']['train/loss'].current()))
    state = ckpt['state_dict']
    assert 'predictor.mlp.0.weight' in state and not any(k.startswith('queue.') for k in state)
