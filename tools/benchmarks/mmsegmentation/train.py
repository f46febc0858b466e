#!/usr/bin/env python
"""Fine-tune an mmseg segmentor from a pretrained backbone: see train.sh next to this file and
:mod:`mmmoco.utils.transfer`."""
from mmmoco.utils.transfer import main

if __name__ == '__main__':
    main(scope='mmseg')
