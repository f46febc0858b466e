"""Shared fixtures: real sample images, a registered mmmoco scope, captured log warnings."""
import logging
import os
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(scope='session', autouse=True)
def _register_mmmoco():
    """Fill mmmoco's registries and make 'mmmoco' the default scope for every test."""
    from mmmoco.apis import register_all_modules
    register_all_modules()


@pytest.fixture
def warnings_logged():
    """The messages of the WARNING records that mmengine's current logger emits."""
    from mmengine.logging import MMLogger
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture(scope='session')
def sample_imagenet(tmp_path_factory) -> str:
    """An ImageNet-style folder of the 20 real ImageNet JPEGs shipped in the foolbox wheel.

    Returns:
        The folder's root (with ``train/<class>/*.jpg`` and ``meta/train.txt``).
    """
    sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
    from prepare_sample_imagenet import write_sample_imagenet
    root = str(tmp_path_factory.mktemp('imagenet_samples'))
    assert write_sample_imagenet(root) == 20
    return root


def free_port() -> int:
    """A free TCP port on the loopback interface, for a test's process group."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


os.environ.setdefault('OMP_NUM_THREADS', '2')


def fashion_mnist_slice(folder: str, train_per_class: int, val_per_class: int) -> str:
    """Write a slice of the real Fashion-MNIST as an ImageNet-style folder, or skip the test.

    Args:
        folder: Where to write it (created).
        train_per_class: Train images per class (``meta/train.txt``).
        val_per_class: Test-split images per class (``meta/val.txt``).

    Returns:
        ``folder``.
    """
    import subprocess
    from mmmoco.datasets.sources.fashion_mnist import find_fashion_mnist
    try:
        find_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'dataset_converters',
                                             'prepare_fashion_mnist.py'), folder,
                    '--train-per-class', str(train_per_class),
                    '--val-per-class', str(val_per_class)],
                   cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), check=True,
                   capture_output=True, timeout=300)
    return folder
