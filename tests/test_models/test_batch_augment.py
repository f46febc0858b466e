"""On-device batched augmentation: equal to the per-image transforms for fixed parameters,
the same distribution of random draws, and exact resume of the draws."""
import glob
import os.path as osp
from itertools import permutations

import cv2
import numpy as np
import pytest
import torch

from mmmoco.datasets.transforms import ColorJitter, GaussianBlur, RandomGrayscale
from mmmoco.models import SelfSupDataPreprocessor
from mmmoco.models.augment import (BatchColorJitter, BatchGaussianBlur, BatchRandomGrayscale,
                                   BatchSolarize)
from mmmoco.models.data_preprocessor import step_seed
from mmmoco.utils import image_ops

from tiny_run import (assert_same_state, build_runner, model_state, tiny_config,  # noqa: E402
                      tiny_images)  # noqa: F401,E402


def _on_hwc(op):
    """The image_ops operation ``op`` on one HWC uint8 array, as the per-image transforms call
    it."""
    def run(img, *params):
        return op(torch.from_numpy(img).permute(2, 0, 1), *params).permute(1, 2, 0).numpy()
    run.__name__ = op.__name__
    return run


ADJUSTMENTS = [_on_hwc(op) for op in (image_ops.adjust_brightness, image_ops.adjust_contrast,
                                      image_ops.adjust_saturation, image_ops.adjust_hue)]
to_gray_rgb = _on_hwc(image_ops.grayscale)
MOCOV2_AUGMENTS = [
    dict(type='BatchColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
         prob=0.8),
    dict(type='BatchRandomGrayscale', prob=0.2),
    dict(type='BatchGaussianBlur', sigma=(0.1, 2.0), prob=0.5),
]


@pytest.fixture(scope='module')
def real_images(sample_imagenet):
    """Eight real ImageNet photos, resized to 40x48 RGB uint8."""
    files = sorted(glob.glob(osp.join(sample_imagenet, 'train', '*', '*')))[:8]
    return [cv2.resize(cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB), (48, 40),
                       interpolation=cv2.INTER_AREA) for f in files]


def _batch(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_each_adjustment_equals_the_per_image_one(real_images):
    x = _batch(real_images)
    values = torch.tensor([1.3, 0.6, 1.4, 0.65, 1.0, 0.75, 1.2, 0.9])
    jitter = BatchColorJitter(0.4, 0.4, 0.4, 0.1)
    for index, adjust in enumerate(ADJUSTMENTS):
        order = torch.tensor([[index] + [k for k in range(4) if k != index]] * len(x))
        factors, shift = torch.ones(len(x), 3), torch.zeros(len(x))
        if index < 3:
            factors[:, index] = values
        else:
            shift = (values - 1) / 4  # within [-0.1, 0.1]
        out = jitter.apply(x.clone(), order, factors, shift)
        param = values if index < 3 else shift
        expected = _batch([adjust(img, float(p)) for img, p in zip(real_images, param)])
        assert (out - expected).abs().max() <= 1, adjust.__name__


def test_jitter_follows_each_samples_order_like_the_per_image_chain(real_images):
    x = _batch(real_images)
    rng = np.random.default_rng(0)
    orders = np.stack([rng.permutation(4) for _ in real_images])
    factors = rng.uniform(0.6, 1.4, (len(x), 3))
    shift = rng.uniform(-0.1, 0.1, len(x))
    out = BatchColorJitter(0.4, 0.4, 0.4, 0.1).apply(
        x.clone(), torch.from_numpy(orders), torch.tensor(factors, dtype=torch.float32),
        torch.tensor(shift, dtype=torch.float32))
    expected = []
    for img, order, factor, hue in zip(real_images, orders, factors, shift):
        for index in order:
            img = ADJUSTMENTS[index](img, hue if index == 3 else factor[index])
        expected.append(img)
    diff = (out - _batch(expected)).abs()
    # four chained rounded ops: the per-image uint8 code rounds differently in a few pixels
    assert diff.mean() < 0.05 and (diff > 1).float().mean() < 0.01
    # the order matters (hue does not commute with saturation): another order differs
    swapped = BatchColorJitter(0.4, 0.4, 0.4, 0.1).apply(
        x.clone(), torch.from_numpy(orders[:, ::-1].copy()),
        torch.tensor(factors, dtype=torch.float32), torch.tensor(shift, dtype=torch.float32))
    assert (swapped - out).abs().mean() > 0.1


def test_grayscale_blur_and_solarize_equal_the_per_image_ops(real_images):
    x = _batch(real_images)
    gray = BatchRandomGrayscale(prob=1.0)(x.clone(), _generator())
    assert (gray - _batch([to_gray_rgb(img) for img in real_images])).abs().max() <= 1
    sigma = torch.tensor([0.1, 0.3, 0.8, 1.5, 2.0, 0.5, 1.0, 1.9])
    blurred = torch.tensor([True] * 7 + [False])
    out = BatchGaussianBlur((0.1, 2.0), 1.0).apply(x.clone(), blurred, sigma)
    expected = []
    for img, s, b in zip(real_images, sigma.tolist(), blurred.tolist()):
        size = 2 * int(np.ceil(3 * s)) + 1
        expected.append(cv2.GaussianBlur(img, (size, size), sigmaX=s, sigmaY=s) if b else img)
    assert (out - _batch(expected)).abs().max() <= 1
    assert torch.equal(out[-1], x[-1])
    solarized = BatchSolarize(threshold=128, prob=1.0)(x.clone(), _generator())
    assert torch.equal(solarized, torch.where(x >= 128, 255 - x, x))


def _fraction_ok(fraction, prob, count):
    return abs(fraction - prob) < 4 * np.sqrt(prob * (1 - prob) / count) + 1e-9


def test_jitter_draws_have_the_per_image_distribution():
    count = 24000
    images = torch.zeros(count, 3, 1, 1)
    draws = BatchColorJitter(0.4, 0.3, 0.2, 0.1, prob=0.8).sample(images, _generator())
    factors, shift, order = draws['factors'], draws['shift'], draws['order']
    jittered = (factors != 1).any(1) | (shift != 0)
    assert _fraction_ok(jittered.float().mean().item(), 0.8, count)
    np.random.seed(0)
    reference = ColorJitter(0.4, 0.3, 0.2, 0.1)
    per_image = np.array([[f for _, f in reference.sample_adjustments()] for _ in range(4000)])
    for column, strength in enumerate((0.4, 0.3, 0.2, 0.1)):
        batched = (factors[jittered, column] if column < 3 else shift[jittered]).numpy()
        low, high = (-strength, strength) if column == 3 else (1 - strength, 1 + strength)
        assert low <= batched.min() and batched.max() <= high
        # uniform on the same range as the per-image draws: quartiles agree
        for q in (0.1, 0.25, 0.5, 0.75, 0.9):
            expected = low + q * (high - low)
            assert abs(np.quantile(batched, q) - expected) < 0.02 * (high - low)
            assert abs(np.quantile(per_image[:, column], q) - expected) < 0.04 * (high - low)
    # every one of the 24 orders of the four adjustments is equally likely
    counts = {perm: 0 for perm in permutations(range(4))}
    for row in order.tolist():
        counts[tuple(row)] += 1
    chi2 = sum((c - count / 24) ** 2 / (count / 24) for c in counts.values())
    assert chi2 < 60  # 23 degrees of freedom; p < 1e-4 beyond


def test_grayscale_and_blur_probabilities_and_sigma_range_match():
    count = 20000
    images = torch.full((count, 3, 1, 1), 100.)
    images[:, 0] = 200.
    gray = BatchRandomGrayscale(prob=0.2)(images, _generator(1))
    assert _fraction_ok((gray[:, 0] != 200).float().mean().item(), 0.2, count)
    np.random.seed(0)
    coloured = np.array([[[200, 100, 100]]], np.uint8)
    per_image = np.mean([RandomGrayscale(0.2)(dict(img=coloured))['img'][0, 0, 0] != 200
                         for _ in range(4000)])
    assert _fraction_ok(per_image, 0.2, 4000)
    draws = BatchGaussianBlur(sigma=(0.1, 2.0), prob=0.5).sample(images, _generator(2))
    assert _fraction_ok(draws['blurred'].float().mean().item(), 0.5, count)
    sigma = draws['sigma'].numpy()
    assert 0.1 <= sigma.min() and sigma.max() <= 2.0
    assert abs(np.median(sigma) - 1.05) < 0.03
    assert GaussianBlur(sigma=(0.1, 2.0), prob=0.5).sigma == (0.1, 2.0)


def _views(seed, count=3, size=12):
    rng = torch.Generator().manual_seed(seed)
    return [[torch.randint(0, 256, (4, 3, size, size), dtype=torch.uint8, generator=rng)
             for _ in range(2)] for _ in range(count)]


def test_preprocessor_augments_only_in_training_with_independent_views():
    pre = SelfSupDataPreprocessor(batch_augments=MOCOV2_AUGMENTS, seed=3)
    views = _views(0, count=1)[0]
    plain = SelfSupDataPreprocessor()(dict(inputs=views))['inputs']
    evaluated = pre(dict(inputs=views), False)['inputs']
    assert all(torch.equal(a, b) for a, b in zip(plain, evaluated))
    trained = pre(dict(inputs=[views[0], views[0]]), True)['inputs']
    assert not torch.equal(trained[0], trained[1])  # each view has its own draws


def test_per_view_augments_and_their_count_is_checked():
    pre = SelfSupDataPreprocessor(
        mean=(0, 0, 0), std=(1, 1, 1), seed=0,
        batch_augments=[[], [dict(type='BatchSolarize', threshold=0, prob=1.0)]])
    views = _views(0, count=1)[0]
    out = pre(dict(inputs=views), True)['inputs']
    assert torch.equal(out[0], views[0].float()) and torch.equal(out[1], 255 - views[1].float())
    with pytest.raises(ValueError, match='2 per-view lists but the batch has 3 views'):
        pre(dict(inputs=views + views[:1]), True)
    with pytest.raises(ValueError, match='prob'):
        SelfSupDataPreprocessor(batch_augments=[dict(type='BatchRandomGrayscale', prob=2)])
    for threshold in (127.5, 257, True):  # the per-image Solarize's int range [0, 256]
        with pytest.raises(ValueError, match='threshold'):
            BatchSolarize(threshold=threshold)
    with pytest.raises(TypeError, match='batch_augments entries'):
        SelfSupDataPreprocessor(batch_augments=['BatchSolarize'])


def test_resume_from_the_state_dict_continues_the_draws_exactly():
    batches = _views(1, count=3)
    uninterrupted = SelfSupDataPreprocessor(batch_augments=MOCOV2_AUGMENTS, seed=7)
    expected = [uninterrupted(dict(inputs=b), True)['inputs'] for b in batches]
    first = SelfSupDataPreprocessor(batch_augments=MOCOV2_AUGMENTS, seed=7)
    first(dict(inputs=batches[0]), True)
    state = first.state_dict()
    assert state['batch_augment_state'].tolist() == [7, 1]
    resumed = SelfSupDataPreprocessor(batch_augments=MOCOV2_AUGMENTS, seed=99)
    resumed.load_state_dict(state)
    for batch, want in zip(batches[1:], expected[1:]):
        got = resumed(dict(inputs=batch), True)['inputs']
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    # a fresh preprocessor with another seed draws differently; ranks draw differently
    other = SelfSupDataPreprocessor(batch_augments=MOCOV2_AUGMENTS, seed=99)
    assert not torch.equal(other(dict(inputs=batches[0]), True)['inputs'][0], expected[0][0])
    assert step_seed(7, 0, 1) != step_seed(7, 1, 1)
    # without batch augments there is no extra state (old checkpoints load unchanged)
    assert 'batch_augment_state' not in SelfSupDataPreprocessor().state_dict()
    SelfSupDataPreprocessor().load_state_dict(state)


@pytest.mark.parametrize('name', ['mocov2_r18w16-small_1xb128-coslr-80e_fashionmnist',
                                  'mocov2_r50_8xb32-coslr-200e_in1k'])
def test_batchaug_configs_move_the_base_recipes_photometric_steps(name):
    from mmengine.config import Config

    from conftest import ROOT

    def view_pipeline(cfg):
        return [dict(t) for t in cfg.train_dataloader.dataset.pipeline[1]['transforms']]

    base = Config.fromfile(osp.join(ROOT, 'configs', f'{name}.py'))
    batched = Config.fromfile(osp.join(ROOT, 'configs', f'{name}_batchaug.py'))
    on_loader = {'RandomResizedCrop', 'RandomFlip'}
    assert view_pipeline(batched) == [t for t in view_pipeline(base) if t['type'] in on_loader]
    moved = [dict(t, type='Batch' + t['type']) for t in view_pipeline(base)
             if t['type'] not in on_loader]
    assert [dict(t) for t in batched.model.data_preprocessor.batch_augments] == moved
    assert batched.env_cfg.cudnn_benchmark


def test_runner_resume_with_batch_augments_is_bit_identical(tiny_images, tmp_path):
    """Train 2 epochs (10 iterations) with on-device augmentation, resume from iteration 6:
    the same weights, queue and augmentation state as the uninterrupted run (without the
    checkpointed step count the resumed draws would restart and the weights differ)."""
    options = {'model.data_preprocessor': dict(type='SelfSupDataPreprocessor',
                                               batch_augments=MOCOV2_AUGMENTS)}

    def config(work_dir, **extra):
        cfg = tiny_config(tiny_images, str(work_dir), **options, **extra)
        cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False,
                                            interval=3)
        return cfg

    build_runner(config(tmp_path / 'full')).train()
    full = model_state(str(tmp_path / 'full' / 'iter_9.pth'))
    assert full['data_preprocessor.batch_augment_state'][1] == 9
    build_runner(config(tmp_path / 'resumed', resume=True,
                        load_from=str(tmp_path / 'full' / 'iter_6.pth'))).train()
    assert_same_state(full, model_state(str(tmp_path / 'resumed' / 'iter_9.pth')))


def test_augments_run_in_float32_inside_the_amp_context():
    # train_step runs the data preprocessor inside the AMP optim context (bf16 autocast on
    # CPU); the augmentations must give exactly their float32 result there
    views = _views(2, count=1)[0]
    expected = SelfSupDataPreprocessor(batch_augments=MOCOV2_AUGMENTS, seed=5)(
        dict(inputs=views), True)['inputs']
    pre = SelfSupDataPreprocessor(batch_augments=MOCOV2_AUGMENTS, seed=5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = pre(dict(inputs=views), True)['inputs']
    assert all(g.dtype == torch.float32 and torch.equal(g, e) for g, e in zip(got, expected))
