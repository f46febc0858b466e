"""Frozen-backbone features of a dataset, on one process or gathered across DDP ranks."""
import sys
from typing import Collection, Iterable, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from mmmoco.models.utils.pooling import pooled_features
from mmmoco.structures.data_sample import DataSample
from mmmoco.utils.distributed import all_gather_batches, get_rank


def with_progress(loader: Collection, description: Optional[str],
                  unit: str = 'batch') -> Iterable:
    """The loader's batches, behind a tqdm progress bar on rank 0 when a description is given.

    The bar goes to stderr and counts batches of this rank's shard. tqdm comes with
    ``requirements/optional.txt`` (installed by ``tools/install/setup_env.sh``); without it the
    batches are returned as they are.

    Args:
        loader: The data loader (or any sized collection of steps).
        description: Text before the bar (e.g. ``'kNN bank'``); None shows no bar.
        unit: What one step is, shown in the bar's rate.

    Returns:
        An iterable over the loader's batches.
    """
    if description is None or get_rank() != 0:
        return loader
    try:
        from tqdm import tqdm
    except ImportError:
        return loader
    return tqdm(loader, desc=description, total=len(loader), unit=unit, file=sys.stderr,
                dynamic_ncols=True, leave=True)


def sample_label(sample: DataSample, required: bool) -> int:
    """The class label of a packed sample.

    Args:
        sample: The sample's :class:`DataSample`.
        required: Whether an unlabeled sample is an error (kNN and linear evaluation need
            labels; plain feature extraction does not).

    Returns:
        The label, or -1 for an unlabeled sample when labels are not required.

    Raises:
        ValueError: If the sample has no label but one is required; names the image.
    """
    if 'gt_label' in sample:
        return int(sample.gt_label)
    if required:
        raise ValueError(f"image {sample.metainfo.get('img_path', '<no path>')!r} has no label, "
                         'but this evaluation needs labelled images (class folders, or a file '
                         'list whose lines give a label)')
    return -1


@torch.no_grad()
def extract_features(backbone: nn.Module, data_preprocessor: nn.Module, loader: DataLoader,
                     progress: Optional[str] = None,
                     require_labels: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Features and labels of every sample of a loader: the global-average-pooled last
    feature map of a ResNet, the class token of a ViT (``out_type='cls_token'``).

    Under DDP each rank processes its shard; the result is gathered on every rank, put back in
    dataset order by ``sample_idx`` and stripped of the sampler's padding duplicates.

    Args:
        backbone: The backbone, in eval mode.
        data_preprocessor: Turns a collated batch into normalised images on the device.
        loader: Loader of single-view samples with ``sample_idx`` (and ``gt_label``).
        progress: Description of a progress bar shown on rank 0 (see :func:`with_progress`);
            None shows none.
        require_labels: Refuse a sample without ``gt_label`` (see :func:`sample_label`);
            False gives such samples the label -1.

    Returns:
        Features (N, C) and labels (N,), in dataset order, on the CPU.
    """
    feats, labels, indices = [], [], []
    for batch in with_progress(loader, progress):
        data = data_preprocessor(batch, False)
        feat = pooled_features(backbone(data['inputs']))
        feats.append(feat.float())
        samples = data['data_samples']
        labels.append(torch.tensor([sample_label(s, require_labels) for s in samples],
                                   dtype=torch.long, device=feat.device))
        indices.append(torch.tensor([s.sample_idx for s in samples], device=feat.device))
    feats_all, _ = all_gather_batches(torch.cat(feats))
    labels_all, _ = all_gather_batches(torch.cat(labels))
    indices_all, _ = all_gather_batches(torch.cat(indices))
    order = torch.full((int(indices_all.max()) + 1, ), -1, dtype=torch.long,
                       device=indices_all.device)
    order[indices_all] = torch.arange(indices_all.numel(), device=indices_all.device)
    order = order[order >= 0]
    return feats_all[order].cpu(), labels_all[order].cpu()
