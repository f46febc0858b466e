"""Label checks of the evaluation tools: a labelled protocol (kNN, linear probe) refuses a
dataset without class labels before any feature is extracted."""
from typing import Any


def dataset_source(dataset: Any) -> str:
    """Where a dataset's samples are listed, for messages.

    Args:
        dataset: A dataset (mmengine ``BaseDataset`` or similar).

    Returns:
        Its ``ann_file`` if set, else its image folder, else its class name.
    """
    if getattr(dataset, 'ann_file', ''):
        return dataset.ann_file
    prefix = getattr(dataset, 'data_prefix', None)
    folder = prefix.get('img_path') if isinstance(prefix, dict) else None
    return folder or type(dataset).__name__


def require_labels(dataset: Any, protocol: str, role: str) -> None:
    """Stop unless every sample of a dataset has a class label (``gt_label`` >= 0).

    Only the sample list is read (no image is loaded).

    Args:
        dataset: The dataset.
        protocol: What needs the labels, e.g. ``'kNN'``.
        role: The dataset's role, e.g. ``'train_dataloader: the bank'``.

    Raises:
        ValueError: ``'<protocol> needs labels: <file> has none'`` (or how many samples lack
            one, naming the first), with the role.
    """
    missing = [index for index in range(len(dataset))
               if int(dataset.get_data_info(index).get('gt_label', -1)) < 0]
    if not missing:
        return
    source = dataset_source(dataset)
    if len(missing) == len(dataset):
        detail = 'has none'
    else:
        first = dataset.get_data_info(missing[0]).get('img_path', f'sample {missing[0]}')
        detail = f'has {len(missing)} of {len(dataset)} samples without one (first: {first})'
    raise ValueError(f'{protocol} needs labels: {source} ({role}) {detail}. Give a file list '
                     'with a label on every line ("path label") or class sub-folders')
