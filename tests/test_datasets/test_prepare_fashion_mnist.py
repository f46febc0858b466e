"""Issue 20, item 3: ``prepare_fashion_mnist.py OUT`` writes the 300 / 200-per-class split the
Fashion-MNIST configs expect (``--all`` for everything), and a re-run with other sizes deletes
the images of the earlier run that the new lists no longer name: only the converter's own
files, never anything else. On real Fashion-MNIST images (the first 300 of each split)."""
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT
from mmmoco.datasets.sources import fashion_mnist

sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
import prepare_fashion_mnist as converter  # noqa: E402

SOURCE_IMAGES = 300


def run(monkeypatch, *args: str) -> None:
    """Run the converter's command line in this process."""
    monkeypatch.setattr(sys, 'argv', ['prepare_fashion_mnist.py', *args])
    converter.main()


@pytest.fixture
def small_source(monkeypatch):
    """The real idx files, cut to their first images (``--unlabeled`` then writes 300)."""
    try:
        fashion_mnist.find_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    monkeypatch.setattr(converter, 'load_split', lambda folder, split: tuple(
        array[:SOURCE_IMAGES] for array in fashion_mnist.load_split(folder, split)))


def pngs(root: str) -> set:
    """Every file below root, relative to it, except the lists."""
    return {osp.relpath(osp.join(folder, name), root) for folder, _, names in os.walk(root)
            for name in names if not folder.endswith('meta')}


def listed(root: str, name: str) -> set:
    """The paths a list names."""
    with open(osp.join(root, 'meta', f'{name}.txt')) as f:
        return {line.split()[0] for line in f}


@pytest.mark.parametrize('argv, sizes', [
    ([], (300, 200)),
    (['--all'], (0, 0)),
    (['--train-per-class', '7'], (7, 200)),
])
def test_defaults_are_the_configs_split(monkeypatch, argv, sizes):
    monkeypatch.setattr(sys, 'argv', ['prepare_fashion_mnist.py', 'out', *argv])
    args = converter.parse_args()
    assert (args.train_per_class, args.val_per_class) == sizes


@pytest.mark.parametrize('argv, message', [
    (['--all', '--val-per-class', '3'], '--all lists every image'),
    (['--train-per-class', '0'], "expected an int >= 1, got '0'"),
])
def test_bad_sizes_are_refused(monkeypatch, capsys, argv, message):
    monkeypatch.setattr(sys, 'argv', ['prepare_fashion_mnist.py', 'out', *argv])
    with pytest.raises(SystemExit):
        converter.parse_args()
    assert message in capsys.readouterr().err


def test_rerun_with_other_sizes_deletes_only_the_converters_stale_images(
        small_source, monkeypatch, tmp_path, capsys):
    root = str(tmp_path / 'fashion_mnist')
    run(monkeypatch, root, '--train-per-class', '5', '--val-per-class', '3', '--unlabeled')
    assert len(listed(root, 'unlabeled')) == SOURCE_IMAGES
    assert pngs(root) == listed(root, 'unlabeled') | listed(root, 'val')
    # what is not the converter's: a file of the user's, a renamed copy of a converter image, a
    # converter image the user edited, and a link at a converter path
    stale = sorted(listed(root, 'unlabeled') - listed(root, 'train'))
    own = [osp.join('train', 'Bag', 'mine.png'), osp.join('train', 'Coat', 'copy.png')]
    cv2.imwrite(osp.join(root, own[0]), np.full((5, 5), 7, np.uint8))
    os.link(osp.join(root, stale[0]), osp.join(root, own[1]))
    edited, linked = stale[1], stale[2]
    cv2.imwrite(osp.join(root, edited), 255 - cv2.imread(osp.join(root, edited), 0))
    outside = str(tmp_path / 'outside.png')
    os.replace(osp.join(root, linked), outside)
    os.symlink(outside, osp.join(root, linked))

    run(monkeypatch, root, '--train-per-class', '2', '--val-per-class', '1')
    out = capsys.readouterr().out
    assert not osp.exists(osp.join(root, 'meta', 'unlabeled.txt'))
    assert (len(listed(root, 'train')), len(listed(root, 'val'))) == (20, 10)
    assert pngs(root) == (listed(root, 'train') | listed(root, 'val')
                          | set(own) | {edited, linked})
    assert osp.isfile(outside)
    deleted_train = SOURCE_IMAGES - 20 - 2  # all but the edited image and the link
    assert f'train: deleted {deleted_train} images of an earlier run' in out
    assert 'val: deleted 20 images' in out
