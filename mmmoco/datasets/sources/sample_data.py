"""Real sample images available offline, for demos and tests.

The PyPI wheel of foolbox 3.3.4 ships 20 real ImageNet validation JPEGs (512x512), named
``imagenet_<index>_<class id>.jpg``. We fetch the wheel with pip (no import of foolbox, no
dependencies) and unpack only those files.
"""
import os
import os.path as osp
import subprocess
import sys
import zipfile
from typing import List, Tuple

FOOLBOX_WHEEL = 'foolbox==3.3.4'


def default_cache_dir() -> str:
    """Where downloaded sample data is kept (``$MMMOCO_CACHE`` or ``~/.cache/mmmoco``).

    Returns:
        The cache directory path.
    """
    return os.environ.get('MMMOCO_CACHE', osp.join(osp.expanduser('~'), '.cache', 'mmmoco'))


def imagenet_sample_images(cache_dir: str = '') -> List[Tuple[str, int]]:
    """The 20 real ImageNet JPEGs of the foolbox wheel, downloading the wheel once if needed.

    Args:
        cache_dir: Cache directory; defaults to :func:`default_cache_dir`.

    Returns:
        ``(path, imagenet class id)`` pairs, sorted by path.

    Raises:
        RuntimeError: If the wheel cannot be downloaded (the message says how to get it).
    """
    out_dir = osp.join(cache_dir or default_cache_dir(), 'imagenet_samples')
    if not osp.isdir(out_dir) or len(os.listdir(out_dir)) < 20:
        wheel_dir = osp.join(cache_dir or default_cache_dir(), 'wheels')
        os.makedirs(wheel_dir, exist_ok=True)
        wheels = [f for f in os.listdir(wheel_dir) if f.startswith('foolbox-')]
        if not wheels:
            result = subprocess.run(
                [sys.executable, '-m', 'pip', 'download', '--no-deps', '-q', '-d', wheel_dir,
                 FOOLBOX_WHEEL], capture_output=True, text=True)
            wheels = [f for f in os.listdir(wheel_dir) if f.startswith('foolbox-')]
            if result.returncode != 0 or not wheels:
                raise RuntimeError(
                    f'could not download the {FOOLBOX_WHEEL} wheel that holds the sample '
                    f'ImageNet images (pip said: {result.stderr.strip()[-500:]}); put the wheel '
                    f'into {wheel_dir} by hand')
        os.makedirs(out_dir, exist_ok=True)
        with zipfile.ZipFile(osp.join(wheel_dir, wheels[0])) as wheel:
            for name in wheel.namelist():
                base = osp.basename(name)
                if name.startswith('foolbox/data/imagenet_') and base.endswith('.jpg'):
                    with open(osp.join(out_dir, base), 'wb') as f:
                        f.write(wheel.read(name))
    images = sorted(f for f in os.listdir(out_dir) if f.endswith('.jpg'))
    return [(osp.join(out_dir, f), int(osp.splitext(f)[0].split('_')[-1])) for f in images]
