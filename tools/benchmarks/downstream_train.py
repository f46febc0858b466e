#!/usr/bin/env python
"""Fine-tune an mmdet detector or an mmseg segmentor from a pretrained backbone: see
downstream_train.sh next to this file and :mod:`mmmoco.apis.transfer`."""
from mmmoco.apis.transfer import main

#: Modules imported before building a config of each default scope: ``res5_extra_norm`` (next
#: to this file) registers ResLayerExtraNorm, which the R50-C4 detection configs use.
SCOPE_MODULES = {'mmdet': ['res5_extra_norm']}

if __name__ == '__main__':
    main(SCOPE_MODULES)
