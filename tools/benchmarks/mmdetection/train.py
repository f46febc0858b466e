#!/usr/bin/env python
"""Fine-tune an mmdet detector from a pretrained backbone: see train.sh next to this file and
:mod:`mmmoco.apis.transfer`."""
import res5_extra_norm  # noqa: F401  (registers ResLayerExtraNorm, used by the C4 configs)
from mmmoco.apis.transfer import main

if __name__ == '__main__':
    main(scope='mmdet')
