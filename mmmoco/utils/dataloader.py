"""Dataloader config fixes that do not depend on the rest of mmmoco."""


def without_idle_persistent_workers(loader: dict) -> dict:
    """Turn off ``persistent_workers`` in a dataloader config that starts no workers.

    PyTorch refuses ``persistent_workers=True`` with ``num_workers=0`` (its default), which a
    config that sets the former gets as soon as a debug run overrides the latter.

    Args:
        loader: A dataloader config.

    Returns:
        ``loader`` itself if it is fine, else a copy with ``persistent_workers=False``.
    """
    if loader.get('persistent_workers') and not loader.get('num_workers'):
        return {**loader, 'persistent_workers': False}
    return loader
