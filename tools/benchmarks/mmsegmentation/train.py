#!/usr/bin/env python
"""Fine-tune an mmseg segmentor from a pretrained backbone: see train.sh next to this file and
:mod:`mmmoco.apis.transfer`."""
from mmmoco.apis.transfer import main

if __name__ == '__main__':
    main(scope='mmseg')
