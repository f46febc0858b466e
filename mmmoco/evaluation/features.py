"""Frozen-backbone features of a dataset, on one process or gathered across DDP ranks."""
from typing import Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from mmmoco.utils.distributed import all_gather_batches


@torch.no_grad()
def extract_features(backbone: nn.Module, data_preprocessor: nn.Module, loader: DataLoader,
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Global-average-pooled last-stage features and labels of every sample of a loader.

    Under DDP each rank processes its shard; the result is gathered on every rank, put back in
    dataset order by ``sample_idx`` and stripped of the sampler's padding duplicates.

    Args:
        backbone: The backbone, in eval mode.
        data_preprocessor: Turns a collated batch into normalised images on the device.
        loader: Loader of single-view samples with ``gt_label`` and ``sample_idx``.

    Returns:
        Features (N, C) and labels (N,), in dataset order, on the CPU.
    """
    feats, labels, indices = [], [], []
    for batch in loader:
        data = data_preprocessor(batch, False)
        feat = backbone(data['inputs'])[-1]
        feats.append(feat.mean(dim=(2, 3)).float())
        samples = data['data_samples']
        labels.append(torch.stack([s.gt_label for s in samples]).to(feat.device))
        indices.append(torch.tensor([s.sample_idx for s in samples], device=feat.device))
    feats_all, _ = all_gather_batches(torch.cat(feats))
    labels_all, _ = all_gather_batches(torch.cat(labels))
    indices_all, _ = all_gather_batches(torch.cat(indices))
    order = torch.full((int(indices_all.max()) + 1, ), -1, dtype=torch.long,
                       device=indices_all.device)
    order[indices_all] = torch.arange(indices_all.numel(), device=indices_all.device)
    order = order[order >= 0]
    return feats_all[order].cpu(), labels_all[order].cpu()
