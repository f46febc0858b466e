"""tools/model_converters and mmmoco.apis.converters: extracting the backbone, official MoCo
v1/v2/v3 checkpoints, detectron2 and timm exports."""
import os
import os.path as osp
import pickle
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from conftest import ROOT
from mmmoco.apis import converters
from mmmoco.registry import MODELS
from mmmoco.utils import load_checkpoint_file

sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
import extract_backbone as extract_tool  # noqa: E402
import from_official_moco as official_tool  # noqa: E402
import to_timm as timm_tool  # noqa: E402

QUEUE_LEN = 64


def build_moco(depth: int, queue_len: int = QUEUE_LEN) -> nn.Module:
    """A MoCo v2 model with a ResNet of the given depth and a 128-d MLP neck."""
    channels = 2048 if depth >= 50 else 512
    return MODELS.build(dict(
        type='MoCo', backbone=dict(type='ResNet', depth=depth),
        neck=dict(type='MLPNeck', in_channels=channels, hidden_channels=channels,
                  out_channels=128),
        queue=dict(type='KeyQueue', feat_dim=128, queue_len=queue_len),
        head=dict(type='ContrastiveHead', temperature=0.2)))


def save_fake_checkpoint(model: nn.Module, path: str) -> str:
    """Save a model as an mmengine-style checkpoint; return the path."""
    torch.save(dict(meta=dict(epoch=1, iter=5), state_dict=model.state_dict()), path)
    return path


def run_cli(tool: str, *args: str) -> str:
    """Run a converter script in a subprocess; fail with its output if it fails."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, osp.join('tools', 'model_converters', tool), *args],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def run_main(module, monkeypatch, *args: str) -> None:
    """Run a converter's main() in this process with the given command line."""
    monkeypatch.setattr(sys, 'argv', [module.__file__, *args])
    module.main()


def backbone_of(state_dict: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """The entries of a state dict under a prefix, with the prefix stripped."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def assert_same_tensors(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope='module')
def moco50(tmp_path_factory) -> Tuple[Dict[str, torch.Tensor], str]:
    """A MoCo v2 R50's state dict and its mmengine-style checkpoint file."""
    model = build_moco(50)
    path = str(tmp_path_factory.mktemp('moco50') / 'epoch_1.pth')
    return model.state_dict(), save_fake_checkpoint(model, path)


@pytest.fixture(scope='module')
def moco18_checkpoint(tmp_path_factory) -> str:
    """An mmengine-style checkpoint of a MoCo v2 R18."""
    return save_fake_checkpoint(build_moco(18), str(tmp_path_factory.mktemp('moco18') / 'e.pth'))


def official_moco_checkpoint(queue_len: int, dim: int = 128) -> dict:
    """A facebookresearch/moco v2 checkpoint of a ResNet-18, as its main_moco.py saves it."""
    state_dict = {}
    for encoder in ('encoder_q', 'encoder_k'):
        net = torchvision.models.resnet18(weights=None, num_classes=dim)
        net.fc = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), net.fc)
        state_dict.update({f'module.{encoder}.{k}': v for k, v in net.state_dict().items()})
    state_dict['module.queue'] = F.normalize(torch.randn(dim, queue_len), dim=0)
    state_dict['module.queue_ptr'] = torch.tensor([24], dtype=torch.long)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    return dict(epoch=200, arch='resnet18', state_dict=state_dict,
                optimizer=optimizer.state_dict())


def files_in(folder: str) -> List[str]:
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------- extract_backbone


def test_extracted_backbone_loads_into_torchvision_resnet50(moco50):
    state_dict, path = moco50
    weights = converters.extract_backbone(load_checkpoint_file(path))
    assert_same_tensors(weights, backbone_of(state_dict, 'backbone.'))
    result = torchvision.models.resnet50(weights=None).load_state_dict(weights, strict=False)
    assert sorted(result.missing_keys) == ['fc.bias', 'fc.weight']
    assert result.unexpected_keys == []


def test_extract_backbone_takes_bare_state_dicts_and_other_prefixes(moco50):
    state_dict, _ = moco50
    weights = converters.extract_backbone(state_dict, prefix='momentum_backbone')
    assert_same_tensors(weights, backbone_of(state_dict, 'momentum_backbone.'))


def test_extract_backbone_refuses_inputs_without_backbone_keys():
    official = official_moco_checkpoint(queue_len=8)
    with pytest.raises(ValueError, match='from_official_moco.py') as error:
        converters.extract_backbone(official, source='moco_v2_800ep.pth.tar')
    assert 'moco_v2_800ep.pth.tar' in str(error.value)
    assert "'module.encoder_q'" in str(error.value)
    with pytest.raises(ValueError, match=r"found the prefixes \['encoder', 'head'\]"):
        converters.extract_backbone({'encoder.conv1.weight': torch.zeros(1),
                                     'head.fc.weight': torch.zeros(1)})


def test_cli_refuses_to_overwrite_without_force(moco18_checkpoint, tmp_path, monkeypatch,
                                                capsys):
    output = tmp_path / 'r18.pth'
    output.write_bytes(b'earlier result')
    with pytest.raises(SystemExit, match='already exists; pass --force'):
        run_main(extract_tool, monkeypatch, moco18_checkpoint, str(output))
    assert output.read_bytes() == b'earlier result'
    assert files_in(str(tmp_path)) == ['r18.pth']

    run_main(extract_tool, monkeypatch, moco18_checkpoint, str(output), '--force')
    assert 'wrote 120 tensors' in capsys.readouterr().out
    saved = load_checkpoint_file(str(output))
    assert saved['meta'] == dict(source=moco18_checkpoint, prefix='backbone.', epoch=1, iter=5)
    assert files_in(str(tmp_path)) == ['r18.pth']


def test_a_failed_write_keeps_the_existing_file(tmp_path):
    output = tmp_path / 'out.pth'
    output.write_bytes(b'earlier result')

    def fail(file) -> None:
        file.write(b'partial')
        raise RuntimeError('disk full')

    with pytest.raises(RuntimeError, match='disk full'):
        converters.write_atomically(str(output), fail, force=True)
    assert output.read_bytes() == b'earlier result'
    assert files_in(str(tmp_path)) == ['out.pth']


# ---------------------------------------------------------------- from_official_moco


def test_official_moco_checkpoint_converts_to_a_loadable_moco(tmp_path):
    official = official_moco_checkpoint(QUEUE_LEN)
    source = str(tmp_path / 'checkpoint_0199.pth.tar')
    torch.save(official, source)
    output = str(tmp_path / 'converted.pth')
    assert 'wrote 250 tensors' in run_cli('from_official_moco.py', source, output)

    converted = load_checkpoint_file(output)
    assert converted['meta'] == dict(source=source, epoch=200, arch='resnet18')
    model = build_moco(18)
    model.load_state_dict(converted['state_dict'], strict=True)
    original = official['state_dict']
    assert torch.equal(model.queue.keys, original['module.queue'].t())
    assert model.queue.ptr.shape == () and int(model.queue.ptr) == 24
    for encoder, backbone, neck in (('encoder_q', model.backbone, model.neck),
                                    ('encoder_k', model.momentum_backbone, model.momentum_neck)):
        prefix = f'module.{encoder}.'
        assert_same_tensors(backbone.state_dict(),
                            {k: v for k, v in backbone_of(original, prefix).items()
                             if not k.startswith('fc.')})
        assert torch.equal(neck.mlp[2].weight, original[f'{prefix}fc.2.weight'])

    weights = converters.extract_backbone(converted)
    assert_same_tensors(weights, model.backbone.state_dict())


def test_official_keys_of_moco_v1_and_unknown_keys():
    assert converters.encoder_key('module.encoder_k.fc.bias') == 'momentum_neck.fc.bias'
    assert converters.encoder_key('module.encoder_q.fc.0.weight') == 'neck.mlp.0.weight'
    assert (converters.encoder_key('module.encoder_q.layer1.0.bn1.running_var')
            == 'backbone.layer1.0.bn1.running_var')
    with pytest.raises(ValueError, match="'in.pth': unexpected projection head key 'fc.1"):
        converters.convert_official_moco(
            {'module.encoder_q.fc.1.weight': torch.zeros(1)}, source="'in.pth'")
    with pytest.raises(ValueError, match='unexpected key'):
        converters.convert_official_moco({'module.encoder_q.conv1.weight': torch.zeros(1),
                                          'module.predictor.weight': torch.zeros(1)})


def test_official_converter_refuses_other_checkpoints(moco50):
    state_dict, _ = moco50
    with pytest.raises(ValueError, match=r"mmmoco.pth has no module.encoder_q.\* \(MoCo v1/v2\) "
                       r"or module.base_encoder.\* \(MoCo v3\) keys; expected a "
                       r"facebookresearch/moco or moco-v3 checkpoint, found the prefixes "
                       r"\['backbone', 'momentum_backbone', 'momentum_neck', 'neck', 'queue'\]"):
        converters.convert_official_moco(state_dict, source='mmmoco.pth')


# ---------------------------------------------------------------- to_detectron2


def test_detectron2_keys_and_values(moco50):
    state_dict, _ = moco50
    weights = converters.resnet_weights(dict(state_dict=state_dict), 'moco.pth')
    converted = converters.convert_to_detectron2(weights)
    assert converted['__author__'] == 'MOCO' and converted['matching_heuristics'] is True
    model = converted['model']
    expected = {
        'stem.conv1.weight': 'backbone.conv1.weight',
        'stem.conv1.norm.running_var': 'backbone.bn1.running_var',
        'res2.0.conv1.norm.running_mean': 'backbone.layer1.0.bn1.running_mean',
        'res2.0.shortcut.weight': 'backbone.layer1.0.downsample.0.weight',
        'res2.0.shortcut.norm.weight': 'backbone.layer1.0.downsample.1.weight',
        'res5.2.conv3.weight': 'backbone.layer4.2.conv3.weight',
        'res5.2.conv3.norm.bias': 'backbone.layer4.2.bn3.bias',
    }
    for new, old in expected.items():
        assert torch.equal(torch.from_numpy(model[new]), state_dict[old]), new
    tensors = [k for k in weights if not k.endswith('num_batches_tracked')]
    assert len(model) == len(tensors) == 265
    assert not any('num_batches_tracked' in key for key in model)


def test_detectron2_converter_refuses_non_resnet_input():
    with pytest.raises(ValueError, match=r"x.pth holds no ResNet weights.*\['encoder'\]"):
        converters.resnet_weights({'encoder.conv1.weight': torch.zeros(1)}, 'x.pth')
    with pytest.raises(ValueError, match=r"x.pth lacks the ResNet keys \['layer4.0.conv1"):
        converters.resnet_weights(
            {'backbone.' + k: torch.zeros(1) for k in converters.RESNET_REQUIRED_KEYS[:-1]},
            'x.pth')
    with pytest.raises(ValueError, match=r"x.pth: 2 keys are not ResNet backbone keys, "
                       r"e.g. \['fc.weight', 'fc.bias'\]"):
        converters.convert_to_detectron2(torchvision.models.resnet18().state_dict(),
                                         'x.pth')


def test_extract_then_detectron2_command_lines(moco50, tmp_path):
    state_dict, path = moco50
    backbone = str(tmp_path / 'r50.pth')
    assert f'wrote 318 tensors to {backbone}' in run_cli('extract_backbone.py', path, backbone)
    pkl = str(tmp_path / 'r50.pkl')
    assert f'wrote 265 arrays to {pkl}' in run_cli('to_detectron2.py', backbone, pkl)
    with open(pkl, 'rb') as file:
        converted = pickle.load(file)  # our own output: numpy arrays only
    assert torch.equal(torch.from_numpy(converted['model']['res4.5.conv2.norm.weight']),
                       state_dict['backbone.layer3.5.bn2.weight'])


# ---------------------------------------------------------------- mmdet


def test_extracted_backbone_loads_into_mmdet_resnet50(moco50):
    pytest.importorskip('mmdet')
    from mmdet.models.backbones import ResNet
    state_dict, _ = moco50
    weights = converters.extract_backbone(state_dict)
    result = ResNet(depth=50).load_state_dict(weights, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []


# ---------------------------------------------------------------- MoCo v3 (ResNet and ViT)

#: A tiny ViT: 32 px images, 8 px patches, 32 wide, 2 blocks, 4 heads.
TINY_VIT = dict(embed_dims=32, depth=2, num_heads=4)
#: Width of the tiny v3 MLPs' hidden layers, and of their output.
MLP_HIDDEN, MLP_OUT = 64, 16


def reference_v3_mlp(num_layers: int, in_dim: int, last_bn: bool) -> nn.Sequential:
    """An MLP laid out as moco-v3's builder lays it out: per layer Linear (no bias), then BN
    and ReLU between layers, and a BN without affine after the last if ``last_bn``."""
    layers: List[nn.Module] = []
    for index in range(num_layers):
        last = index == num_layers - 1
        out_dim = MLP_OUT if last else MLP_HIDDEN
        layers.append(nn.Linear(in_dim if index == 0 else MLP_HIDDEN, out_dim, bias=False))
        if not last:
            layers += [nn.BatchNorm1d(out_dim), nn.ReLU(inplace=True)]
        elif last_bn:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


def randomise(module: nn.Module) -> nn.Module:
    """Give every parameter and BN statistic a distinct random value (so a mix-up shows)."""
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return module


def official_v3_encoder(arch: str) -> nn.Module:
    """An encoder as moco-v3 builds it: a torchvision ResNet-18 whose ``fc`` is the 2-layer
    projector, or a timm ViT whose ``head`` is the 3-layer projector."""
    if arch == 'resnet':
        encoder = torchvision.models.resnet18(weights=None)
        encoder.fc = reference_v3_mlp(2, 512, last_bn=True)
    else:
        from timm.models.vision_transformer import VisionTransformer
        encoder = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2,
                                    num_heads=4, num_classes=0)
        encoder.head = reference_v3_mlp(3, 32, last_bn=True)
    return randomise(encoder)


def official_mocov3_checkpoint(arch: str) -> dict:
    """A facebookresearch/moco-v3 checkpoint of a tiny model, as its main_moco.py saves it."""
    torch.manual_seed(0)
    modules = {'base_encoder': official_v3_encoder(arch),
               'momentum_encoder': official_v3_encoder(arch),
               # MoCo_ResNet's predictor has no last BN, MoCo_ViT's has one
               'predictor': randomise(reference_v3_mlp(2, MLP_OUT, last_bn=arch == 'vit'))}
    state_dict = {f'module.{name}.{key}': value for name, module in modules.items()
                  for key, value in module.state_dict().items()}
    optimizer = torch.optim.AdamW(modules['predictor'].parameters(), lr=1.5e-4)
    return dict(epoch=300, arch=f'{arch}_tiny', state_dict=state_dict,
                optimizer=optimizer.state_dict(), scaler=dict(scale=65536.0, _growth_tracker=3))


def build_mocov3(arch: str) -> nn.Module:
    """The mmmoco MoCoV3 matching :func:`official_mocov3_checkpoint`."""
    if arch == 'resnet':
        backbone, channels, projector_layers = dict(type='ResNet', depth=18), 512, 2
    else:
        backbone = dict(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8)
        channels, projector_layers = 32, 3
    bn, bn_no_affine = dict(type='BN'), dict(type='BN', affine=False)
    return MODELS.build(dict(
        type='MoCoV3', backbone=backbone,
        neck=dict(type='MLPNeck', in_channels=channels, hidden_channels=MLP_HIDDEN,
                  out_channels=MLP_OUT, num_layers=projector_layers, norm_cfg=bn,
                  last_norm_cfg=bn_no_affine),
        predictor=dict(type='MLPNeck', in_channels=MLP_OUT, hidden_channels=MLP_HIDDEN,
                       out_channels=MLP_OUT, num_layers=2, norm_cfg=bn,
                       last_norm_cfg=bn_no_affine if arch == 'vit' else None),
        head=dict(type='ContrastiveHead', temperature=0.2)))


def timm_tiny_vit() -> nn.Module:
    """timm's own ViT with the tiny architecture and no head."""
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4,
                             num_classes=0).eval()


@pytest.mark.parametrize('arch', ['resnet', 'vit'])
def test_official_mocov3_checkpoint_converts_to_a_loadable_mocov3(arch, tmp_path, monkeypatch,
                                                                   capsys):
    if arch == 'vit':
        pytest.importorskip('timm')
    official = official_mocov3_checkpoint(arch)
    source = str(tmp_path / 'checkpoint_0299.pth.tar')
    torch.save(official, source)
    output = str(tmp_path / 'converted.pth')
    run_main(official_tool, monkeypatch, source, output)
    original = official['state_dict']
    assert f'wrote {len(original)} tensors' in capsys.readouterr().out

    converted = load_checkpoint_file(output)
    assert converted['meta'] == dict(source=source, epoch=300, arch=f'{arch}_tiny')
    model = build_mocov3(arch)
    model.load_state_dict(converted['state_dict'], strict=True)
    projector = 'fc' if arch == 'resnet' else 'head'
    for encoder, backbone, neck in (
            ('base_encoder', model.backbone, model.neck),
            ('momentum_encoder', model.momentum_backbone, model.momentum_neck)):
        prefix = f'module.{encoder}.'
        assert_same_tensors(backbone.state_dict(),
                            {k: v for k, v in backbone_of(original, prefix).items()
                             if not k.startswith(projector + '.')})
        assert_same_tensors(neck.mlp.state_dict(), backbone_of(original, f'{prefix}{projector}.'))
    assert_same_tensors(model.predictor.mlp.state_dict(),
                        backbone_of(original, 'module.predictor.'))

    weights = converters.extract_backbone(converted)
    assert_same_tensors(weights, model.backbone.state_dict())


def test_mocov3_keys_and_unknown_keys():
    assert converters.mocov3_key('module.base_encoder.head.7.running_var') == \
        'neck.mlp.7.running_var'
    assert converters.mocov3_key('module.momentum_encoder.fc.4.num_batches_tracked') == \
        'momentum_neck.mlp.4.num_batches_tracked'
    assert converters.mocov3_key('module.predictor.3.weight') == 'predictor.mlp.3.weight'
    assert converters.mocov3_key('module.base_encoder.blocks.1.mlp.fc1.bias') == \
        'backbone.blocks.1.mlp.fc1.bias'
    assert converters.mocov3_key('module.momentum_encoder.layer4.1.bn2.weight') == \
        'momentum_backbone.layer4.1.bn2.weight'
    with pytest.raises(ValueError, match="v3.pth: unexpected predictor key 'weight'"):
        converters.convert_official_moco({'module.base_encoder.cls_token': torch.zeros(1),
                                          'module.predictor.weight': torch.zeros(1)},
                                         source='v3.pth')
    with pytest.raises(ValueError, match="unexpected projector \\(fc/head\\) key '0.scale'"):
        converters.mocov3_key('module.base_encoder.head.0.scale')
    with pytest.raises(ValueError, match="unexpected key 'module.encoder_k.conv1.weight'"):
        converters.convert_official_moco({'module.base_encoder.conv1.weight': torch.zeros(1),
                                          'module.encoder_k.conv1.weight': torch.zeros(1)})


def test_extract_backbone_points_official_v3_checkpoints_to_the_converter():
    with pytest.raises(ValueError, match='module.base_encoder keys mark a '
                       'facebookresearch/moco-v3 checkpoint: convert it first with '
                       'tools/model_converters/from_official_moco.py'):
        converters.extract_backbone(official_mocov3_checkpoint('resnet'), source='r-50.pth')


def test_vit_round_trip_to_timm_from_every_input_kind(tmp_path, monkeypatch, capsys):
    pytest.importorskip('timm')
    import timm
    official = official_mocov3_checkpoint('vit')
    model = build_mocov3('vit')
    converted = dict(state_dict=converters.convert_official_moco(official['state_dict']),
                     meta=dict(epoch=300))
    model.load_state_dict(converted['state_dict'], strict=True)
    expected = model.backbone.state_dict()
    extracted = converters.extract_backbone(converted)
    for checkpoint in (converted, dict(state_dict=extracted), official):
        assert_same_tensors(converters.vit_weights(checkpoint), expected)
    momentum = converters.vit_weights(converted, prefix='momentum_backbone')
    assert_same_tensors(momentum, model.momentum_backbone.state_dict())

    source = str(tmp_path / 'mocov3_vit.pth')
    torch.save(converted, source)
    output = str(tmp_path / 'vit_timm.pth')
    run_main(timm_tool, monkeypatch, source, output)
    assert f'wrote {len(expected)} tensors to {output}' in capsys.readouterr().out
    exported = load_checkpoint_file(output)
    assert exported['meta'] == dict(source=source, epoch=300)
    reference = timm_tiny_vit()
    timm.models.load_checkpoint(reference, output, strict=True)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(reference(images), model.backbone.eval()(images)[0])


def test_vit_small_and_base_exports_load_strictly_into_timm(tmp_path):
    timm = pytest.importorskip('timm')
    from mmmoco.models.backbones import VisionTransformer
    for arch, timm_name in (('small', 'vit_small_patch16_224'),
                            ('base', 'vit_base_patch16_224')):
        backbone = VisionTransformer(arch=arch).state_dict()
        checkpoint = dict(state_dict={**{f'backbone.{k}': v for k, v in backbone.items()},
                                      'neck.mlp.0.weight': torch.zeros(2, 2)})
        weights = converters.vit_weights(checkpoint, source=f'vit-{arch}.pth')
        headless = timm.create_model(timm_name, pretrained=False, num_classes=0)
        headless.load_state_dict(weights, strict=True)
        if arch == 'small':
            classifier = timm.create_model(timm_name, pretrained=False)
            result = classifier.load_state_dict(weights, strict=False)
            assert sorted(result.missing_keys) == ['head.bias', 'head.weight']
            assert result.unexpected_keys == []


def test_timm_export_refuses_non_vit_inputs(moco18_checkpoint):
    with pytest.raises(ValueError, match=r"r18.pth is not a ViT backbone with timm key names: "
                       r"missing \['cls_token', 'pos_embed'"):
        converters.vit_weights(load_checkpoint_file(moco18_checkpoint), source='r18.pth')
    with pytest.raises(ValueError, match=r"x.pth holds no ViT weights.*\['encoder'\]"):
        converters.vit_weights({'encoder.cls_token': torch.zeros(1)}, source='x.pth')
    with pytest.raises(ValueError, match=r"1 other keys \['head.weight'\]"):
        converters.vit_weights({**{k: torch.zeros(1) for k in converters.VIT_REQUIRED_KEYS},
                                'head.weight': torch.zeros(1)})
