"""Safe checkpoint loading: mmengine checkpoints load, anything else outside the list is refused."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from mmmoco.utils import load_checkpoint_file
from mmmoco.utils.checkpoint import history_buffer_statistic


class _Exploit:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null', ))


def test_loads_mmengine_style_checkpoint_with_weights_only(tmp_path):
    buffer = HistoryBuffer()
    buffer.update(np.float64(1.5))
    buffer.update(2.5)
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict={'w': torch.ones(2)}, meta=dict(epoch=1, seed=np.int64(3)),
                    message_hub=dict(log_scalars={'train/loss': buffer})), path)
    # torch's own default refuses it ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    # ... ours loads it, numpy arrays and statistic methods included
    ckpt = load_checkpoint_file(str(path))
    assert ckpt['message_hub']['log_scalars']['train/loss'].statistics('mean') == 2.0
    assert int(ckpt['meta']['seed']) == 3 and torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_refuses_code_execution_and_names_the_file(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Exploit()}, path)
    with pytest.raises(ValueError, match='evil.pth'):
        load_checkpoint_file(str(path))


def test_refuses_non_dict_and_non_checkpoint_files(tmp_path):
    torch.save([torch.ones(1)], tmp_path / 'list.pth')
    with pytest.raises(ValueError, match='expected a dict'):
        load_checkpoint_file(str(tmp_path / 'list.pth'))
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    with pytest.raises(ValueError, match='text.pth'):
        load_checkpoint_file(str(tmp_path / 'text.pth'))
    with pytest.raises(FileNotFoundError):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_restricted_getattr_only_reaches_history_buffer_statistics():
    assert history_buffer_statistic(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_statistic(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_statistic(os, 'system')
