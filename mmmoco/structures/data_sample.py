"""The per-image record that travels beside the pixel tensors."""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement


class DataSample(BaseDataElement):
    """One image's annotations and meta information.

    Meta information (``img_path``, ``sample_idx``) lives in ``metainfo``; the class label, when
    the dataset has one, is the 0-d long tensor ``gt_label``.
    """

    def set_gt_label(self, label: Optional[int]) -> 'DataSample':
        """Store a class label (``None`` or a negative value means unlabeled).

        Args:
            label: The class index, or ``None`` / ``-1`` for an unlabeled image.

        Returns:
            This data sample, for chaining.
        """
        if label is not None and int(label) >= 0:
            self.gt_label = torch.tensor(int(label), dtype=torch.long)
        return self
